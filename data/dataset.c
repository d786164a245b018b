/* dataset.c - datasets and their versions: add, show, list, log, rm, and
 * the rules of names and references. get, diff and gc are in dataset_io.c. */
#include "data/data.h"
#include "data/intern.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "blob/blob.h"
#include "store/store.h"

/* A manifest object is read whole: 64 MiB is ~700,000 files. */
#define MAX_MANIFEST (64u << 20)

int data_open_objects(const char *data_dir, const char *destination, const char *s3_endpoint,
                      struct blob **out, struct cap_error *err)
{
    if (destination && *destination)
        return blob_open_in(destination, data_dir, s3_endpoint, out, err);
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/datasets", data_dir);
    int rc = blob_open(p.data, out, err);
    cap_buf_free(&p);
    return rc;
}

bool data_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 128 || name[0] == '.' || name[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int bad_name(const char *name, struct cap_error *err)
{
    return cap_err(err, CAP_EINVAL,
                   "Invalid dataset name '%.200s': expected 1-128 characters of letters, digits, "
                   "'.', '_' and '-', not starting with '.' or '-'",
                   name ? name : "");
}

int data_ref_parse(const char *ref, char name[129], int64_t *version, const char **tag,
                   struct cap_error *err)
{
    *version = 0;
    *tag = NULL;
    const char *at = ref ? strchr(ref, '@') : NULL;
    size_t n = at ? (size_t)(at - ref) : ref ? strlen(ref) : 0;
    if (n == 0 || n > 128)
        return bad_name(ref, err);
    memcpy(name, ref, n);
    name[n] = '\0';
    if (!data_name_ok(name))
        return bad_name(name, err);
    if (!at)
        return 0;
    const char *v = at + 1;
    if (strchr(v, '=')) {
        if (v[0] == '=')
            return cap_err(err, CAP_EINVAL, "Invalid reference '%.200s': a tag needs a key (K=V)",
                           ref);
        *tag = v;
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < 1)
        return cap_err(err, CAP_EINVAL,
                       "Invalid reference '%.200s': expected NAME, NAME@N (N a version number "
                       "from 1) or NAME@KEY=VALUE (a tag)",
                       ref);
    *version = x;
    return 0;
}

static int get_version(const struct data_ctx *c, const char *ref, cJSON **out,
                       struct cap_error *err)
{
    char name[129];
    int64_t version;
    const char *tag;
    int rc = data_ref_parse(ref, name, &version, &tag, err);
    if (rc < 0)
        return rc;
    return store_data_version_get(c->st, name, version, tag, out, err);
}

int data_show(const struct data_ctx *c, const char *ref, cJSON **out, struct cap_error *err)
{
    return get_version(c, ref, out, err);
}

int data_list(const struct data_ctx *c, cJSON **out, struct cap_error *err)
{
    return store_data_list(c->st, out, err);
}

int data_log(const struct data_ctx *c, const char *name, cJSON **out, struct cap_error *err)
{
    if (!data_name_ok(name))
        return bad_name(name, err);
    return store_data_log(c->st, name, out, err);
}

/* The manifest a version object names. */
static int load_manifest(const struct data_ctx *c, const cJSON *v, struct data_manifest *m,
                         struct cap_error *err)
{
    struct data_hash h;
    int rc = data_hash_parse(cJSON_GetStringValue(cJSON_GetObjectItem(v, "hash")), &h, err);
    if (rc < 0)
        return rc;
    char *text;
    size_t len;
    if ((rc = data_read_object(c->objects, &h, MAX_MANIFEST, &text, &len, err)) < 0)
        return rc;
    rc = data_manifest_parse(text, len, m, err);
    free(text);
    return rc;
}

int data_manifest_of(const struct data_ctx *c, const char *ref, struct data_manifest *out,
                     cJSON **version, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    cJSON *v = NULL;
    int rc = get_version(c, ref, &v, err);
    if (rc == 0)
        rc = load_manifest(c, v, out, err);
    if (rc == 0 && version)
        *version = v;
    else
        cJSON_Delete(v);
    return rc;
}

int data_rm(const struct data_ctx *c, const char *ref, cJSON **out, struct cap_error *err)
{
    char name[129];
    int64_t version, removed;
    const char *tag;
    int rc = data_ref_parse(ref, name, &version, &tag, err);
    if (rc < 0)
        return rc;
    if (tag) {
        cJSON *v;
        if ((rc = store_data_version_get(c->st, name, 0, tag, &v, err)) < 0)
            return rc;
        version = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "version"));
        cJSON_Delete(v);
    }
    if ((rc = store_data_version_delete(c->st, name, version, &removed, err)) < 0)
        return rc;
    *out = cJSON_CreateObject();
    cJSON_AddStringToObject(*out, "name", name);
    cap_json_add_i64(*out, "removed", removed);
    return 0;
}

/* ---- add ---- */

static int check_tags(const struct data_add_in *in, cJSON **tags, struct cap_error *err)
{
    *tags = cJSON_CreateObject();
    for (size_t i = 0; i < in->ntags; i++) {
        const char *t = in->tags[i], *eq = strchr(t, '=');
        if (!eq || eq == t || eq - t > 250 || strlen(eq + 1) > 5000) {
            cJSON_Delete(*tags);
            *tags = NULL;
            return cap_err(err, CAP_EINVAL,
                           "Invalid tag '%.200s': expected KEY=VALUE (a key of 1-250 "
                           "characters, a value of at most 5000)",
                           t);
        }
        char key[251];
        snprintf(key, sizeof key, "%.*s", (int)(eq - t), t);
        cJSON_DeleteItemFromObjectCaseSensitive(*tags, key);
        cJSON_AddStringToObject(*tags, key, eq + 1);
    }
    return 0;
}

static char *author_of(const char *given)
{
    if (given && *given)
        return cap_xstrdup(given);
    const char *u = getenv("USER");
    if (u && *u)
        return cap_xstrdup(u);
    struct passwd *pw = getpwuid(getuid());
    return cap_xstrdup(pw ? pw->pw_name : "unknown");
}

/* ---- recording a version ---- */

int data_latest(const struct data_ctx *c, const char *name, cJSON **latest,
                struct data_manifest *parent, struct cap_error *err)
{
    *latest = NULL;
    if (parent)
        memset(parent, 0, sizeof *parent);
    int rc = store_data_version_get(c->st, name, 0, NULL, latest, err);
    if (rc == -CAP_ENOTFOUND)
        return 0;
    if (rc == 0 && parent && load_manifest(c, *latest, parent, err) < 0)
        data_manifest_free(parent); /* then every object is looked for */
    return rc;
}

int data_record(const struct data_ctx *c, struct data_record_in *in, cJSON **out,
                struct cap_error *err)
{
    size_t len;
    char *text = data_manifest_text(in->m, &len);
    struct data_hash h;
    int rc = data_store_bytes(c->objects, DATA_XXH128, text, len, &h, err);
    free(text);
    if (rc < 0)
        return rc;
    char hs[DATA_HASH_STR];
    data_hash_format(&h, hs);
    const char *latest_hash = cJSON_GetStringValue(cJSON_GetObjectItem(in->latest, "hash"));
    if (latest_hash && strcmp(latest_hash, hs) == 0) {
        *out = cJSON_Duplicate(in->latest, 1);
        cJSON_AddTrueToObject(*out, "unchanged");
        return 0;
    }
    /* every object durable before the row */
    if (in->need_sync && (rc = blob_sync(c->objects, err)) < 0)
        return rc;
    int64_t bytes = 0;
    for (size_t i = 0; i < in->m->n; i++)
        bytes += (int64_t)in->m->e[i].size;
    char *meta_json = cap_json_print(in->meta);
    char *author = author_of(in->author);
    struct store_data_version v = {
        .name = in->name, .hash = hs, .size = bytes, .files = (int64_t)in->m->n,
        .author = author, .message = in->message ? in->message : "",
        .parent = in->latest ? (int64_t)cJSON_GetNumberValue(
                                   cJSON_GetObjectItem(in->latest, "version"))
                             : 0,
        .meta_json = meta_json};
    int64_t version;
    rc = store_data_version_add(c->st, &v, &version, err);
    if (rc == 0)
        rc = store_data_version_get(c->st, in->name, version, NULL, out, err);
    free(author);
    free(meta_json);
    return rc;
}

/* ---- add ---- */

struct add_job {
    const struct data_ctx *c;
    const struct data_add_in *in;
    struct data_scan scan;
    struct data_manifest parent, m;
    cJSON *latest, *meta;
    struct data_statcache *sc;
    struct data_store_stats stats;
};

/* The manifest of what was stored. */
static int build_manifest(struct add_job *j, struct cap_error *err)
{
    for (size_t i = 0; i < j->scan.n; i++) {
        struct data_file *f = &j->scan.f[i];
        data_manifest_push(&j->m, cap_xstrdup(f->rel), (uint64_t)f->st.st_size, &f->xxh,
                           f->md5.algo ? &f->md5 : NULL);
        data_statcache_put(j->sc, &f->st, &f->xxh, &f->md5);
    }
    return data_manifest_sort(&j->m, err);
}

static cJSON *stats_json(const struct add_job *j)
{
    cJSON *s = cJSON_CreateObject();
    cap_json_add_i64(s, "files_read", (int64_t)j->stats.files_read);
    cap_json_add_i64(s, "bytes_read", (int64_t)j->stats.bytes_read);
    cap_json_add_i64(s, "files_cached", (int64_t)j->stats.cached);
    cap_json_add_i64(s, "objects_written", (int64_t)j->stats.objects_written);
    cap_json_add_i64(s, "bytes_written", (int64_t)j->stats.bytes_written);
    return s;
}

static int add_locked(struct add_job *j, cJSON **out, struct cap_error *err)
{
    const struct data_ctx *c = j->c;
    char *dvc_repo = NULL;
    int rc = j->in->dvc ? data_dvc_repo_of(j->in->path, &dvc_repo, err) : 0;
    if (rc == 0)
        rc = data_scan_tree(j->in->path, &j->scan, err);
    if (rc == 0 && j->scan.n == 0)
        rc = cap_err(err, CAP_EINVAL, "'%.300s' holds no files: expected at least one",
                     j->scan.root);
    if (rc == 0)
        rc = data_latest(c, j->in->name, &j->latest, &j->parent, err);
    if (rc == 0) {
        j->sc = data_statcache_load(c->stat_cache);
        rc = data_store_files(c->objects, &j->scan, j->sc, j->parent.n ? &j->parent : NULL,
                              j->in->dvc, c->threads, &j->stats, err);
    }
    if (rc == 0)
        rc = build_manifest(j, err);
    if (rc == 0)
        rc = data_tables_add(c, j->in, j->scan.root, &j->m, j->latest,
                             j->parent.n ? &j->parent : NULL, j->meta, err);
    if (rc == 0 && dvc_repo) /* before the version: a refusal stores nothing */
        rc = data_dvc_write_out(dvc_repo, j->in->path, &j->scan, &j->m, j->meta, err);
    free(dvc_repo);
    struct data_record_in rin = {.name = j->in->name, .message = j->in->message,
                                 .author = j->in->author, .m = &j->m, .latest = j->latest,
                                 .meta = j->meta, .need_sync = j->stats.need_sync};
    if (rc == 0)
        rc = data_record(c, &rin, out, err);
    if (rc < 0)
        return rc;
    cJSON_AddItemToObject(*out, "stats", stats_json(j));
    struct cap_error ignored;
    if (c->stat_cache) /* a cache: failing to save it costs speed, not data */
        data_statcache_save(j->sc, c->stat_cache, &ignored);
    return 0;
}

int data_add(const struct data_ctx *c, const struct data_add_in *in, cJSON **out,
             struct cap_error *err)
{
    *out = NULL;
    if (!data_name_ok(in->name))
        return bad_name(in->name, err);
    struct add_job j = {.c = c, .in = in};
    j.scan.rootfd = -1;
    cJSON *tags;
    int rc = check_tags(in, &tags, err);
    if (rc < 0)
        return rc;
    j.meta = cJSON_CreateObject();
    cJSON_AddItemToObject(j.meta, "tags", tags);
    int lock;
    if ((rc = blob_lock(c->objects, false, &lock, err)) == 0) {
        rc = add_locked(&j, out, err);
        blob_unlock(lock);
    }
    if (rc < 0) {
        cJSON_Delete(*out);
        *out = NULL;
    }
    data_scan_free(&j.scan);
    data_manifest_free(&j.parent);
    data_manifest_free(&j.m);
    data_statcache_free(j.sc);
    cJSON_Delete(j.latest);
    cJSON_Delete(j.meta);
    return rc;
}
