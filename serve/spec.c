/* spec.c - deployment specs: what a client may ask for, checked once at the
 * API (and again by the watcher, for specs written by hand). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "registry/registry.h"
#include "serve/serve.h"

int serve_parse_ref(const char *ref, char **name, char **alias, char **version,
                    struct cap_error *err)
{
    *name = *alias = *version = NULL;
    if (!ref || !*ref)
        return cap_err(err, CAP_EINVAL,
                       "A model reference is empty: expected NAME@ALIAS or NAME/VERSION");
    const char *at = strrchr(ref, '@'), *slash = strrchr(ref, '/');
    const char *sep = at && (!slash || at > slash) ? at : slash;
    if (!sep || sep == ref || !sep[1])
        return cap_err(err, CAP_EINVAL,
                       "Invalid model reference '%.200s': expected NAME@ALIAS or NAME/VERSION "
                       "(e.g. fraud@champion or fraud/7)",
                       ref);
    char *n = cap_xstrndup(ref, (size_t)(sep - ref));
    int rc = registry_check_model_name(n, err);
    if (rc == 0 && *sep == '/' && strcmp(sep + 1, "latest") != 0)
        rc = registry_check_version(sep + 1, err);
    if (rc < 0) {
        free(n);
        return cap_err(err, CAP_EINVAL, "Invalid model reference '%.200s': %s", ref, err->msg);
    }
    *name = n;
    if (*sep == '@')
        *alias = cap_xstrdup(sep + 1);
    else
        *version = cap_xstrdup(sep + 1);
    return 0;
}

bool serve_ref_is_latest(const char *alias, const char *version)
{
    return (alias && strcmp(alias, "latest") == 0) || (version && strcmp(version, "latest") == 0);
}

/* The highest-numbered version in a list (NULL when empty). */
static const cJSON *highest_version(const cJSON *list)
{
    const cJSON *best = NULL, *v;
    long top = 0;
    cJSON_ArrayForEach(v, list)
    {
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(v, "version");
        long k = cJSON_IsString(num) ? strtol(num->valuestring, NULL, 10) : 0;
        if (k > top) {
            top = k;
            best = v;
        }
    }
    return best;
}

int serve_ref_pick(const char *name, bool latest, const cJSON *found, char **out_version,
                   struct cap_error *err)
{
    *out_version = NULL;
    const cJSON *mv = latest ? highest_version(found) : found;
    const cJSON *num = cJSON_GetObjectItemCaseSensitive(mv, "version");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(mv, "status");
    if (!cJSON_IsString(num))
        return cap_err(err, CAP_ENOTFOUND, "Registered model '%s' has no READY version", name);
    if (cJSON_IsString(status) && strcmp(status->valuestring, "READY") != 0)
        return cap_err(err, CAP_EINVAL, "Model version %s/%s is %s, not READY", name,
                       num->valuestring, status->valuestring);
    *out_version = cap_xstrdup(num->valuestring);
    return 0;
}

static int check_ref(const cJSON *v, const char *field, struct cap_error *err)
{
    if (!cJSON_IsString(v))
        return cap_err(err, CAP_EINVAL,
                       "Field '%s' must be a model reference string (NAME@ALIAS or NAME/VERSION)",
                       field);
    char *n, *a, *ver;
    int rc = serve_parse_ref(v->valuestring, &n, &a, &ver, err);
    free(n);
    free(a);
    free(ver);
    if (rc < 0)
        return cap_err(err, CAP_EINVAL, "Field '%s': %s", field, err->msg);
    return 0;
}

static int int_field(const cJSON *o, const char *field, const char *parent, long lo, long hi,
                     bool required, long dflt, long *out, struct cap_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, field);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return cap_err(err, CAP_EINVAL, "Field '%s.%s' is required", parent, field);
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return cap_err(err, CAP_EINVAL, "Field '%s.%s' must be an integer from %ld to %ld",
                       parent, field, lo, hi);
    *out = (long)v->valuedouble;
    return 0;
}

static int only_keys(const cJSON *o, const char *what, const char *const *keys,
                     struct cap_error *err)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, o)
    {
        bool ok = false;
        for (const char *const *k = keys; *k; k++)
            ok = ok || strcmp(*k, c->string) == 0;
        if (!ok) {
            struct cap_buf b;
            cap_buf_init(&b);
            for (const char *const *k = keys; *k; k++)
                cap_buf_printf(&b, "%s%s", k == keys ? "" : ", ", *k);
            int rc = cap_err(err, CAP_EINVAL, "Unknown field '%.100s' in %s; expected one of: %s",
                             c->string, what, b.data);
            cap_buf_free(&b);
            return rc;
        }
    }
    return 0;
}

static int check_batching(const cJSON *b, cJSON *out, struct cap_error *err)
{
    static const char *const keys[] = {"max_batch_size", "max_queue_delay_us",
                                       "preferred_batch_sizes", "max_queue_size", NULL};
    if (!cJSON_IsObject(b))
        return cap_err(err, CAP_EINVAL, "Field 'batching' must be an object");
    int rc = only_keys(b, "'batching'", keys, err);
    long mbs, delay, qs;
    if (rc < 0 || (rc = int_field(b, "max_batch_size", "batching", 1, 65536, true, 0, &mbs, err)) < 0 ||
        (rc = int_field(b, "max_queue_delay_us", "batching", 0, 10000000, false, 100, &delay,
                        err)) < 0 ||
        (rc = int_field(b, "max_queue_size", "batching", 1, 1000000, false, 4096, &qs, err)) < 0)
        return rc;
    cJSON *o = cJSON_AddObjectToObject(out, "batching");
    cJSON_AddNumberToObject(o, "max_batch_size", (double)mbs);
    cJSON_AddNumberToObject(o, "max_queue_delay_us", (double)delay);
    cJSON_AddNumberToObject(o, "max_queue_size", (double)qs);
    cJSON *pref = cJSON_AddArrayToObject(o, "preferred_batch_sizes");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "preferred_batch_sizes");
    if (p && !cJSON_IsNull(p)) {
        if (!cJSON_IsArray(p))
            return cap_err(err, CAP_EINVAL,
                           "Field 'batching.preferred_batch_sizes' must be a list of integers");
        const cJSON *e;
        double last = 0;
        cJSON_ArrayForEach(e, p)
        {
            if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
                e->valuedouble < 1 || e->valuedouble > (double)mbs || e->valuedouble <= last)
                return cap_err(err, CAP_EINVAL,
                               "Field 'batching.preferred_batch_sizes' must hold increasing "
                               "integers from 1 to max_batch_size (%ld)",
                               mbs);
            last = e->valuedouble;
            cJSON_AddItemToArray(pref, cJSON_CreateNumber(e->valuedouble));
        }
    }
    return 0;
}

int serve_spec_check(const cJSON *spec, cJSON **out, struct cap_error *err)
{
    static const char *const keys[] = {"model", "canary", "canary_weight", "shadow",
                                       "sticky_header", "batching", "cache", "log",
                                       "pinned_from", NULL};
    *out = NULL;
    if (!cJSON_IsObject(spec))
        return cap_err(err, CAP_EINVAL, "A deployment spec must be a JSON object");
    int rc = only_keys(spec, "the deployment", keys, err);
    if (rc < 0)
        return rc;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(spec, "model");
    if (!model)
        return cap_err(err, CAP_EINVAL,
                       "Field 'model' is required: the model to serve, NAME@ALIAS or NAME/VERSION");
    if ((rc = check_ref(model, "model", err)) < 0)
        return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model->valuestring);
    const cJSON *canary = cJSON_GetObjectItemCaseSensitive(spec, "canary");
    const cJSON *weight = cJSON_GetObjectItemCaseSensitive(spec, "canary_weight");
    if (canary && !cJSON_IsNull(canary)) {
        if ((rc = check_ref(canary, "canary", err)) < 0)
            goto fail;
        long w;
        if ((rc = int_field(spec, "canary_weight", "deployment", 0, 100, false, 10, &w, err)) < 0)
            goto fail;
        cJSON_AddStringToObject(o, "canary", canary->valuestring);
        cJSON_AddNumberToObject(o, "canary_weight", (double)w);
    } else if (weight && !cJSON_IsNull(weight)) {
        rc = cap_err(err, CAP_EINVAL, "Field 'canary_weight' needs a 'canary' model");
        goto fail;
    }
    const cJSON *shadow = cJSON_GetObjectItemCaseSensitive(spec, "shadow");
    if (shadow && !cJSON_IsNull(shadow)) {
        if ((rc = check_ref(shadow, "shadow", err)) < 0)
            goto fail;
        cJSON_AddStringToObject(o, "shadow", shadow->valuestring);
    }
    const cJSON *sticky = cJSON_GetObjectItemCaseSensitive(spec, "sticky_header");
    if (sticky && !cJSON_IsNull(sticky)) {
        bool ok = cJSON_IsString(sticky) && *sticky->valuestring &&
                  strlen(sticky->valuestring) <= 128;
        for (const char *p = ok ? sticky->valuestring : ""; *p; p++)
            ok = ok && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                        (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
        if (!ok) {
            rc = cap_err(err, CAP_EINVAL,
                         "Field 'sticky_header' must be an HTTP header name (letters, digits, "
                         "'-', '_')");
            goto fail;
        }
        cJSON_AddStringToObject(o, "sticky_header", sticky->valuestring);
    }
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(spec, "batching");
    if (b && !cJSON_IsNull(b) && (rc = check_batching(b, o, err)) < 0)
        goto fail;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, "cache");
    if (c && !cJSON_IsNull(c)) {
        static const char *const ckeys[] = {"max_entries", NULL};
        long n;
        if (!cJSON_IsObject(c)) {
            rc = cap_err(err, CAP_EINVAL, "Field 'cache' must be an object {\"max_entries\": N}");
            goto fail;
        }
        if ((rc = only_keys(c, "'cache'", ckeys, err)) < 0 ||
            (rc = int_field(c, "max_entries", "cache", 1, 10000000, true, 0, &n, err)) < 0)
            goto fail;
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "cache"), "max_entries", (double)n);
    }
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(spec, "log");
    double sample = 1.0;
    if (l && !cJSON_IsNull(l)) {
        static const char *const lkeys[] = {"sample", NULL};
        const cJSON *sv = cJSON_GetObjectItemCaseSensitive(l, "sample");
        if (!cJSON_IsObject(l) || (rc = only_keys(l, "'log'", lkeys, err)) < 0 ||
            !cJSON_IsNumber(sv) || sv->valuedouble < 0 || sv->valuedouble > 1) {
            rc = cap_err(err, CAP_EINVAL,
                         "Field 'log' must be {\"sample\": S} with S from 0 (off) to 1 (every "
                         "request)");
            goto fail;
        }
        sample = sv->valuedouble;
    }
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(o, "log"), "sample", sample);
    const cJSON *pin = cJSON_GetObjectItemCaseSensitive(spec, "pinned_from");
    if (pin && !cJSON_IsNull(pin)) {
        if ((rc = check_ref(pin, "pinned_from", err)) < 0)
            goto fail;
        cJSON_AddStringToObject(o, "pinned_from", pin->valuestring);
    }
    *out = o;
    return 0;
fail:
    cJSON_Delete(o);
    return rc;
}
