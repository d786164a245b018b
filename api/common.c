/* common.c - helpers shared by the api/ surfaces: request readers, and
 * where an artifact URI lies in the store. */
#include "api/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "track/validate.h"

int api_run_id(const cJSON *msg, const char **out, struct cap_error *err)
{
    int rc = cap_json_get_str(msg, "run_id", false, out, err);
    if (rc < 0)
        return rc;
    if (rc == 1 || !**out) {
        rc = cap_json_get_str(msg, "run_uuid", false, out, err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            return cap_json_get_str(msg, "run_id", true, out, err);
    }
    return validate_run_id(*out, err);
}

int api_experiment_id(const cJSON *msg, const char *field, bool required, const char **out,
                      struct cap_error *err)
{
    int rc = cap_json_get_str(msg, field, required, out, err);
    if (rc != 0)
        return rc;
    return validate_experiment_id(*out, err);
}

/* Written by hand: log-batch names each of its up to 1,000 items, and
 * snprintf cost ~900 instructions a call, this ~60. */
void api_item_name(char *buf, size_t n, const char *field, const cJSON *arr, int i)
{
    char digits[16];
    int nd = 0;
    for (unsigned u = i < 0 ? 0u : (unsigned)i; nd == 0 || u; u /= 10)
        digits[nd++] = (char)('0' + u % 10);
    size_t len = strlen(field), need = len + (cJSON_IsArray(arr) ? (size_t)nd + 2 : 0);
    if (need >= n) { /* not for any caller's buffer today: truncate as snprintf does */
        snprintf(buf, n, cJSON_IsArray(arr) ? "%s[%d]" : "%s", field, i);
        return;
    }
    memcpy(buf, field, len);
    if (need > len) {
        buf[len] = '[';
        for (int k = 0; k < nd; k++)
            buf[len + 1 + (size_t)k] = digits[nd - 1 - k];
        buf[need - 1] = ']';
    }
    buf[need] = '\0';
}

int api_kv_one(const cJSON *item, const char *field, const char *kind, struct cap_kv *out,
               struct cap_error *err)
{
    if (!cJSON_IsObject(item))
        return cap_json_invalid(err, field, item,
                                "expected a list of {\"key\": ..., \"value\": ...} objects");
    /* a list element ("tags[0]") names its fields too: 'tags[0].key' */
    const char *at = strchr(field, '[') ? field : NULL;
    int rc = cap_json_get_str_at(item, at, "key", true, &out->key, err);
    if (rc < 0)
        return rc;
    if ((rc = validate_key(kind, out->key, err)) < 0)
        return rc;
    rc = cap_json_get_str_at(item, at, "value", false, &out->value, err);
    if (rc < 0)
        return rc;
    if (rc == 1)
        out->value = "";
    if (strcmp(kind, "param") == 0)
        return validate_param_value(out->key, out->value, err);
    return validate_tag_value(out->key, out->value, err);
}

int api_kv_list(const cJSON *msg, const char *field, const char *kind, struct cap_kv **out,
                size_t *n, struct cap_error *err)
{
    const cJSON *arr = NULL;
    *out = NULL;
    *n = 0;
    int rc = cap_json_get_array(msg, field, false, &arr, err);
    if (rc < 0)
        return rc;
    int count = cap_json_array_size(arr);
    *out = cap_xcalloc((size_t)count + 1, sizeof **out);
    int i = 0;
    char at[64];
    for (const cJSON *it = cap_json_array_first(arr); it; it = cap_json_array_next(arr, it), i++) {
        api_item_name(at, sizeof at, field, arr, i);
        if ((rc = api_kv_one(it, at, kind, &(*out)[i], err)) < 0) {
            free(*out);
            *out = NULL;
            return rc;
        }
    }
    *n = (size_t)count;
    return 0;
}

int api_view_type(const cJSON *msg, const char *field, enum store_view *out,
                  struct cap_error *err)
{
    *out = STORE_VIEW_ACTIVE;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, field);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 3 &&
        v->valuedouble == (int)v->valuedouble) {
        *out = (enum store_view)(int)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (strcasecmp(s, "ACTIVE_ONLY") == 0 || strcmp(s, "1") == 0)
            return *out = STORE_VIEW_ACTIVE, 0;
        if (strcasecmp(s, "DELETED_ONLY") == 0 || strcmp(s, "2") == 0)
            return *out = STORE_VIEW_DELETED, 0;
        if (strcasecmp(s, "ALL") == 0 || strcmp(s, "3") == 0)
            return *out = STORE_VIEW_ALL, 0;
    }
    return cap_json_invalid(err, field, v, "expected ACTIVE_ONLY, DELETED_ONLY or ALL");
}

int api_max_results(const cJSON *msg, int dflt, int max, int *out, struct cap_error *err)
{
    int64_t v;
    int rc = cap_json_get_i64(msg, "max_results", false, &v, err);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        *out = dflt;
        return 0;
    }
    if (v <= 0 || v > max) {
        char why[64];
        snprintf(why, sizeof why, "It must be a positive integer at most %d", max);
        cJSON *shown = cJSON_CreateNumber((double)v);
        rc = cap_json_invalid(err, "max_results", shown, why);
        cJSON_Delete(shown);
        return rc;
    }
    *out = (int)v;
    return 0;
}

int api_order_by(const cJSON *msg, enum filter_target target, struct order_key **out,
                 size_t *n, struct cap_error *err)
{
    const cJSON *arr = NULL;
    *out = NULL;
    *n = 0;
    int rc = cap_json_get_array(msg, "order_by", false, &arr, err);
    if (rc < 0)
        return rc;
    int count = cap_json_array_size(arr);
    *out = cap_xcalloc((size_t)count + 1, sizeof **out);
    int i = 0;
    for (const cJSON *item = cap_json_array_first(arr); item;
         item = cap_json_array_next(arr, item), i++) {
        if (!cJSON_IsString(item)) {
            api_order_free(*out, (size_t)i);
            *out = NULL;
            return cap_json_invalid(err, "order_by", item, "expected a list of strings");
        }
        if ((rc = order_key_parse(item->valuestring, target, &(*out)[i], err)) < 0) {
            api_order_free(*out, (size_t)i);
            *out = NULL;
            return rc;
        }
    }
    *n = (size_t)count;
    return 0;
}

void api_order_free(struct order_key *keys, size_t n)
{
    if (!keys)
        return;
    for (size_t i = 0; i < n; i++)
        order_key_clear(&keys[i]);
    free(keys);
}

cJSON *api_wrap(const char *key, cJSON *value)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, key, value);
    return o;
}

int api_artifact_source(const struct api_env *env, const struct registry_source *src,
                        const char *what, const char *source, char **uri, char **relpath,
                        char **source_run, struct cap_error *err)
{
    char *base = NULL;
    int rc = 0;
    cJSON *obj = NULL;
    if (src->kind == REGISTRY_SOURCE_ARTIFACTS) {
        base = cap_xstrdup("");
    } else {
        const char *field = "artifact_uri";
        if (src->kind == REGISTRY_SOURCE_RUN)
            rc = store_run_get(env->store, src->id, &obj, err);
        else
            rc = store_logged_model_get(env->store, src->id, &obj, err);
        if (rc < 0) {
            if (rc != -CAP_ENOTFOUND)
                return rc;
            /* copied first: err->msg is also where the new message goes */
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            return cap_err(err, CAP_EINVAL, "Invalid %s '%.300s': %s", what, source, why);
        }
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(obj, "info"), field);
        static const char scheme[] = "mlflow-artifacts:";
        if (!cJSON_IsString(u) || strncmp(u->valuestring, scheme, sizeof scheme - 1) != 0) {
            cJSON_Delete(obj);
            return cap_err(err, CAP_EINVAL,
                           "Invalid %s '%.300s': its artifacts are not in Capstan's artifact "
                           "store",
                           what, source);
        }
        const char *p = u->valuestring + sizeof scheme - 1;
        while (*p == '/')
            p++;
        base = cap_xstrdup(p);
        /* a logged model knows the run that produced it */
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(obj, "info"), "source_run_id");
        if (src->kind == REGISTRY_SOURCE_LOGGED_MODEL && cJSON_IsString(r) && *r->valuestring)
            *source_run = cap_xstrdup(r->valuestring);
        cJSON_Delete(obj);
    }
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, base);
    if (*base && *src->path)
        cap_buf_putc(&b, '/');
    cap_buf_puts(&b, src->path);
    free(base);
    *relpath = cap_buf_steal(&b);
    cap_buf_init(&b);
    cap_buf_printf(&b, "mlflow-artifacts:/%s", *relpath);
    *uri = cap_buf_steal(&b);
    return 0;
}

int api_deployment(const struct api_env *env, const cJSON *msg, const char **dep,
                   struct cap_error *err)
{
    if (!env->store)
        return cap_err(err, CAP_ENOTIMPL, "This is kept by the registry server, not by a "
                                          "serving-only process");
    int rc = cap_json_get_str(msg, "deployment", true, dep, err);
    if (rc < 0)
        return rc;
    cJSON *d = NULL;
    rc = store_deployment_get(env->store, *dep, &d, err);
    cJSON_Delete(d);
    return rc;
}

struct fb_sink api_fb_sink(const struct api_env *env, const char *source)
{
    return (struct fb_sink){.store = env->store, .log = env->log, .source = source,
                            .now_ms = cap_now_ms(), .alert = env->alert,
                            .metrics = env->metrics};
}

int api_version_location(const struct api_env *env, const char *name, const char *version,
                         char **uri, struct cap_error *err)
{
    cJSON *mv = NULL, *meta = NULL;
    int rc = store_model_version_get(env->store, name, version, &mv, err);
    if (rc < 0 || (rc = store_model_version_metadata(env->store, name, version, &meta, err)) < 0) {
        cJSON_Delete(mv);
        return rc;
    }
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(meta, "storage_location");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(mv, "source");
    *uri = cap_xstrdup(cJSON_IsString(loc)   ? loc->valuestring
                       : cJSON_IsString(src) ? src->valuestring
                                             : "");
    cJSON_Delete(mv);
    cJSON_Delete(meta);
    return 0;
}
