/* tables_add.c - what `data add` learns of the tables among a version's
 * files (table.h): each table's summary and its monitoring profile (stored
 * as an object, kept by gc through the version's meta.objects), and the
 * check against --schema: violations refuse the add, or with --warn-only
 * are recorded as warnings. A table whose bytes are those of the same path
 * in the latest version keeps that version's summary (an unchanged re-add
 * reads no table). At most MAX_TABLES tables are profiled per version. */
#include "data/data.h"
#include "data/intern.h"
#include "data/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

#define MAX_TABLES 64

/* The latest version's summary of path, when its bytes did not change. */
static const cJSON *kept(const cJSON *latest, const struct data_manifest *parent,
                         const struct data_entry *e)
{
    const struct data_entry *pe = parent ? data_manifest_find(parent, e->path) : NULL;
    if (!pe || !data_hash_eq(&pe->hash, &e->hash))
        return NULL;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(latest, "tables"))
    {
        const char *p = cJSON_GetStringValue(cJSON_GetObjectItem(t, "path"));
        if (p && strcmp(p, e->path) == 0)
            return t;
    }
    return NULL;
}

/* Profiles one table; its summary joins tables, its profile the objects. */
static int profile_one(const struct data_ctx *c, const char *root, const struct data_entry *e,
                       const struct data_schema *schema, cJSON *tables, cJSON *objects,
                       cJSON *violations, struct cap_error *err)
{
    struct cap_buf path;
    cap_buf_init(&path);
    cap_buf_printf(&path, "%s/%s", root, e->path);
    struct data_table t = {0};
    int rc = data_table_profile(path.data, schema, 0, &t, err);
    cap_buf_free(&path);
    if (rc < 0)
        return rc;
    cJSON *s = t.summary;
    t.summary = NULL;
    cJSON_AddStringToObject(s, "path", e->path);
    if (t.profile.len) {
        struct data_hash h;
        if ((rc = data_store_bytes(c->objects, DATA_XXH128, t.profile.data, t.profile.len, &h,
                                   err)) == 0) {
            char hs[DATA_HASH_STR];
            data_hash_format(&h, hs);
            cJSON_AddStringToObject(s, "profile", hs);
            cJSON_AddItemToArray(objects, cJSON_CreateString(hs));
        }
    }
    cJSON_AddItemToArray(tables, s);
    const cJSON *v;
    cJSON_ArrayForEach(v, t.violations)
        cJSON_AddItemToArray(violations, cJSON_Duplicate(cJSON_GetObjectItem(v, "message"), 1));
    data_table_free(&t);
    return rc;
}

/* "N rule violations: first; second; ..." for a refusal. */
static int refuse(const cJSON *violations, struct cap_error *err)
{
    struct cap_buf b;
    cap_buf_init(&b);
    int n = cJSON_GetArraySize(violations), shown = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, violations)
    {
        if (shown++ == 5)
            break;
        cap_buf_printf(&b, "%s%s", shown > 1 ? "; " : "", cJSON_GetStringValue(v));
    }
    int rc = cap_err(err, CAP_EINVAL,
                     "The data breaks its schema (%d violation%s; nothing was stored, --warn-only "
                     "records them instead): %.400s%s",
                     n, n == 1 ? "" : "s", b.data ? b.data : "", n > 5 ? "; ..." : "");
    cap_buf_free(&b);
    return rc;
}

int data_tables_add(const struct data_ctx *c, const struct data_add_in *in, const char *root,
                    const struct data_manifest *m, const cJSON *latest,
                    const struct data_manifest *parent, cJSON *meta, struct cap_error *err)
{
    struct data_schema *schema = NULL;
    int rc = in->schema ? data_schema_load(in->schema, &schema, err) : 0;
    cJSON *tables = cJSON_CreateArray(), *violations = cJSON_CreateArray();
    cJSON *objects = cJSON_CreateArray();
    size_t n = 0;
    for (size_t i = 0; rc == 0 && i < m->n && n < MAX_TABLES; i++) {
        const struct data_entry *e = &m->e[i];
        if (!data_table_is_table(e->path))
            continue;
        n++;
        const cJSON *old = schema ? NULL : kept(latest, parent, e);
        if (old) {
            cJSON_AddItemToArray(tables, cJSON_Duplicate(old, 1));
            const cJSON *p = cJSON_GetObjectItem(old, "profile");
            if (cJSON_IsString(p))
                cJSON_AddItemToArray(objects, cJSON_CreateString(p->valuestring));
        } else {
            rc = profile_one(c, root, e, schema, tables, objects, violations, err);
        }
    }
    if (rc == 0 && schema && n == 0)
        rc = cap_err(err, CAP_EINVAL, "--schema: '%.300s' holds no table (.csv, .jsonl, .ndjson "
                                      "or .npy) to check",
                     in->path);
    if (rc == 0 && cJSON_GetArraySize(violations) > 0 && !in->warn_only)
        rc = refuse(violations, err);
    if (rc == 0 && n > 0) {
        cJSON_AddItemToObject(meta, "tables", tables);
        cJSON_AddItemToObject(meta, "objects", objects);
        tables = objects = NULL;
        if (cJSON_GetArraySize(violations) > 0) {
            cJSON *val = cJSON_AddObjectToObject(meta, "validation");
            cJSON_AddItemToObject(val, "warnings", violations);
            violations = NULL;
        }
    }
    cJSON_Delete(tables);
    cJSON_Delete(objects);
    cJSON_Delete(violations);
    data_schema_free(schema);
    return rc;
}
