/* lineage.c - datasets in runs and model versions: the one reading of a
 * capstan-dataset source, recording a run's use of a version as an MLflow
 * dataset input, who used a version, and the dataset nodes of a model
 * version's lineage graph. */
#include "data/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "store/store.h"

int data_source_ref(const char *source, char ref[160])
{
    const char *p = source ? strstr(source, DATA_SOURCE_PREFIX) : NULL;
    if (!p)
        return -1;
    p += strlen(DATA_SOURCE_PREFIX);
    size_t n = strcspn(p, "\"' \t\r\n,}");
    if (n == 0 || n >= 160)
        return -1;
    memcpy(ref, p, n);
    ref[n] = '\0';
    return 0;
}

/* The version a reference names, and its "NAME@N" and digest. */
static int resolve(const struct data_ctx *c, const char *ref, cJSON **v, char at[160],
                   char digest[33], struct cap_error *err)
{
    int rc = data_show(c, ref, v, err);
    if (rc < 0)
        return rc;
    snprintf(at, 160, "%s@%.0f", cJSON_GetStringValue(cJSON_GetObjectItem(*v, "name")),
             cJSON_GetNumberValue(cJSON_GetObjectItem(*v, "version")));
    const char *h = cJSON_GetStringValue(cJSON_GetObjectItem(*v, "hash"));
    const char *hex = h ? strchr(h, ':') : NULL;
    snprintf(digest, 33, "%s", hex ? hex + 1 : "");
    return 0;
}

int data_log_input(const struct data_ctx *c, const char *ref, const char *run_id,
                   const char *context, cJSON **out, struct cap_error *err)
{
    *out = NULL;
    cJSON *v = NULL;
    char at[160], digest[33], source[200];
    int rc = resolve(c, ref, &v, at, digest, err);
    if (rc < 0)
        return rc;
    snprintf(source, sizeof source, DATA_SOURCE_PREFIX "%s", at);
    struct cap_kv tag = {.key = "mlflow.data.context", .value = context};
    struct store_dataset_input in = {
        .name = cJSON_GetStringValue(cJSON_GetObjectItem(v, "name")), .digest = digest,
        .source_type = "capstan-dataset", .source = source, .tags = context ? &tag : NULL,
        .ntags = context ? 1 : 0};
    rc = store_run_log_inputs(c->st, run_id, &in, 1, NULL, 0, err);
    if (rc == 0) {
        *out = cJSON_CreateObject();
        cJSON_AddStringToObject(*out, "run_id", run_id);
        cJSON_AddStringToObject(*out, "name", in.name);
        cJSON_AddStringToObject(*out, "digest", digest);
        cJSON_AddStringToObject(*out, "source_type", in.source_type);
        cJSON_AddStringToObject(*out, "source", source);
        if (context)
            cJSON_AddStringToObject(*out, "context", context);
    }
    cJSON_Delete(v);
    return rc;
}

int data_usage(const struct data_ctx *c, const char *ref, cJSON **out, struct cap_error *err)
{
    *out = NULL;
    cJSON *v = NULL;
    char at[160], digest[33];
    int rc = resolve(c, ref, &v, at, digest, err);
    if (rc == 0)
        rc = store_data_usage(c->st, at, digest, out, err);
    if (rc == 0)
        cJSON_AddItemToObject(*out, "version", v);
    else
        cJSON_Delete(v);
    return rc;
}

void data_lineage_enrich(const struct data_ctx *c, cJSON *graph)
{
    cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItem(graph, "nodes"))
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(n, "type"));
        char ref[160];
        if (!type || strcmp(type, "dataset") != 0 ||
            data_source_ref(cJSON_GetStringValue(cJSON_GetObjectItem(n, "source")), ref) < 0)
            continue;
        cJSON *v = NULL;
        struct cap_error err;
        if (data_show(c, ref, &v, &err) < 0) {
            v = cJSON_CreateObject();
            cJSON_AddStringToObject(v, "ref", ref);
            cJSON_AddBoolToObject(v, "removed", err.code == CAP_ENOTFOUND);
            if (err.code != CAP_ENOTFOUND)
                cJSON_AddStringToObject(v, "error", err.msg);
        }
        cJSON_AddItemToObject(n, "capstan_dataset", v);
    }
}
