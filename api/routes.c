/* routes.c - the route table and the matcher. Patterns are '/'-separated;
 * "{name}" matches one segment (percent-decoded once), a final "*" matches
 * the rest of the path (left encoded for the handler to decode and check).
 * MLflow mounts its API under /ajax-api/ too, for its UI: both prefixes
 * reach the same handlers. */
#include "api/api.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "blob/blob.h"

/* The inference routes first: they are the hot path, and matching is a
 * linear walk. */
static const struct api_route *const tables[] = {
    api_oip_routes,      api_invocations_routes, api_tracking_routes, api_artifact_routes,
    api_registry_routes, api_capstan_routes,     api_serving_routes, api_monitor_routes,
    api_alert_routes, api_monitor_baseline_routes, api_feedback_routes, api_review_routes,
    api_dataset_routes, api_pipeline_routes, api_lineage_routes, api_auth_routes};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *api_percent_decode(const char *s, size_t n)
{
    char *out = cap_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
        int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        /* A decoded NUL would silently cut the string short: refuse it. */
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* Matches path against pattern; on success fills params (decoded copies) and
 * tail (pointer into path). Captures are decoded only once the whole pattern
 * matched: a request is tried against dozens of patterns and most fail after
 * a capture. */
static bool match_one(const char *pattern, const char *path, struct api_request *req)
{
    const char *p = pattern, *s = path;
    int np = 0;
    const char *cap_at[API_MAX_PATH_PARAMS];
    size_t cap_len[API_MAX_PATH_PARAMS];
    const char *tail = NULL;
    while (*p) {
        if (p[0] == '*' && p[1] == '\0') {
            tail = s;
            p++;
            s += strlen(s);
            break;
        }
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t seg = strcspn(s, "/");
            if (!close || seg == 0 || np >= API_MAX_PATH_PARAMS)
                return false;
            cap_at[np] = s;
            cap_len[np++] = seg;
            s += seg;
            p = close + 1;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    if (*s != '\0')
        return false;
    char *caps[API_MAX_PATH_PARAMS] = {0};
    for (int i = 0; i < np; i++) {
        if (!(caps[i] = api_percent_decode(cap_at[i], cap_len[i]))) {
            for (int k = 0; k < i; k++)
                free(caps[k]);
            return false;
        }
    }
    for (int i = 0; i < API_MAX_PATH_PARAMS; i++) {
        free((char *)req->params[i]);
        req->params[i] = caps[i];
    }
    req->tail = tail;
    return true;
}

const struct api_route *api_match(const char *method, const char *path,
                                  struct api_request *req, struct cap_error *err)
{
    static const char ajax[] = "/ajax-api/";
    struct cap_buf alt;
    cap_buf_init(&alt);
    const char *target = path;
    if (strncmp(path, ajax, sizeof ajax - 1) == 0) {
        cap_buf_puts(&alt, "/api/");
        cap_buf_puts(&alt, path + sizeof ajax - 1);
        target = alt.data;
    }
    bool path_known = false;
    const struct api_route *found = NULL;
    for (size_t t = 0; t < sizeof tables / sizeof tables[0] && !found; t++) {
        for (const struct api_route *r = tables[t]; r->pattern; r++) {
            if (!match_one(r->pattern, target, req))
                continue;
            path_known = true;
            if (strcmp(r->method, method) == 0) {
                found = r;
                break;
            }
        }
    }
    /* The tail must point into the caller's path, not the rewritten copy. */
    if (found && req->tail)
        req->tail = path + (req->tail - target) + (target == path ? 0 : strlen(path) - strlen(target));
    if (!found) {
        for (int i = 0; i < API_MAX_PATH_PARAMS; i++) {
            free((char *)req->params[i]);
            req->params[i] = NULL;
        }
        req->tail = NULL;
        if (path_known)
            cap_err(err, CAP_EMETHOD, "Method %s is not allowed for %s", method, path);
        else
            cap_err(err, CAP_ENOENDPOINT, "No API endpoint at %s %s", method, path);
    }
    cap_buf_free(&alt);
    return found;
}

void api_response_header(struct api_response *resp, const char *name, const char *value)
{
    if (resp->nheaders >= API_MAX_HEADERS)
        return;
    resp->header_names[resp->nheaders] = name;
    resp->header_values[resp->nheaders] = cap_xstrdup(value);
    resp->nheaders++;
}

void api_response_free(struct api_response *resp)
{
    if (resp->stream) {
        blob_stream_close(resp->stream);
        resp->stream = NULL;
    }
    free(resp->raw);
    resp->raw = NULL;
    for (int i = 0; i < resp->nheaders; i++)
        free(resp->header_values[i]);
    resp->nheaders = 0;
    if (resp->json)
        cJSON_Delete(resp->json);
    free(resp->text);
    resp->json = NULL;
    resp->text = NULL;
}
