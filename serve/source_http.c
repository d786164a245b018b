/* source_http.c - deployments and models from a registry server over HTTP,
 * for `capstan serve --registry URL`: a serving-only process that holds no
 * database, so any number of them can run behind a load balancer. It reads
 * only the registry's public API: the deployment list, MLflow's alias and
 * version calls, and the ONNX file the registry validated at registration. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "serve/serve.h"
#include "store/store.h"

struct serve_http_source {
    char *base;                  /* without a trailing '/' */
    CURL *curl;                  /* reused for keep-alive; under mu */
    pthread_mutex_t mu;
};

static size_t on_data(char *p, size_t size, size_t n, void *cls)
{
    cap_buf_append(cls, p, size * n);
    return size * n;
}

/* GET base + path, or POST a JSON body when post is not NULL; the answer
 * goes to body and *status is its HTTP status. */
static int http_call(struct serve_http_source *src, const char *path, const struct cap_buf *post,
                     struct cap_buf *body, long *status, struct cap_error *err)
{
    struct cap_buf url;
    cap_buf_init(&url);
    cap_buf_printf(&url, "%s%s", src->base, path);
    struct curl_slist *hdr = NULL;
    pthread_mutex_lock(&src->mu);
    curl_easy_reset(src->curl);
    curl_easy_setopt(src->curl, CURLOPT_URL, url.data);
    curl_easy_setopt(src->curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(src->curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(src->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(src->curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(src->curl, CURLOPT_NOSIGNAL, 1L);
    /* a registry started with --auth: the mlflow client's variables, as
     * the CLI's requests use */
    const char *user = getenv("MLFLOW_TRACKING_USERNAME"), *pw = getenv("MLFLOW_TRACKING_PASSWORD");
    if (user && *user && pw) {
        curl_easy_setopt(src->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(src->curl, CURLOPT_USERNAME, user);
        curl_easy_setopt(src->curl, CURLOPT_PASSWORD, pw);
    } else if (getenv("MLFLOW_TRACKING_TOKEN") && *getenv("MLFLOW_TRACKING_TOKEN")) {
        curl_easy_setopt(src->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(src->curl, CURLOPT_XOAUTH2_BEARER, getenv("MLFLOW_TRACKING_TOKEN"));
    }
    if (post) {
        hdr = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(src->curl, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(src->curl, CURLOPT_POSTFIELDS, post->data ? post->data : "");
        curl_easy_setopt(src->curl, CURLOPT_POSTFIELDSIZE, (long)post->len);
    }
    CURLcode rc = curl_easy_perform(src->curl);
    *status = 0;
    curl_easy_getinfo(src->curl, CURLINFO_RESPONSE_CODE, status);
    pthread_mutex_unlock(&src->mu);
    curl_slist_free_all(hdr);
    int out = 0;
    if (rc != CURLE_OK)
        out = cap_err(err, CAP_EUNAVAIL, "Registry %s unreachable: %s", url.data,
                      curl_easy_strerror(rc));
    cap_buf_free(&url);
    return out;
}

/* GET returning JSON; a non-200 becomes an error carrying the registry's
 * own message. */
static int get_json(struct serve_http_source *src, const char *path, cJSON **out,
                    struct cap_error *err)
{
    struct cap_buf body;
    cap_buf_init(&body);
    long status = 0;
    *out = NULL;
    int rc = http_call(src, path, NULL, &body, &status, err);
    if (rc == 0) {
        cJSON *j = body.data ? cJSON_ParseWithLength(body.data, body.len) : NULL;
        if (status != 200) {
            const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
            rc = cap_err(err, status == 404 ? CAP_ENOTFOUND : CAP_EUNAVAIL,
                         "Registry answered %ld: %s", status,
                         cJSON_IsString(m) ? m->valuestring : "(no message)");
            cJSON_Delete(j);
        } else if (!j) {
            rc = cap_err(err, CAP_EUNAVAIL, "Registry sent a body that is not JSON for %s", path);
        } else {
            *out = j;
        }
    }
    cap_buf_free(&body);
    return rc;
}

static char *esc(struct serve_http_source *src, const char *s)
{
    pthread_mutex_lock(&src->mu);
    char *e = curl_easy_escape(src->curl, s, 0);
    pthread_mutex_unlock(&src->mu);
    char *out = cap_xstrdup(e ? e : "");
    curl_free(e);
    return out;
}

int serve_http_source_new(const char *url, struct serve_http_source **out, struct cap_error *err)
{
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
        return cap_err(err, CAP_EINVAL,
                       "--registry must be an http:// or https:// URL of a capstan server, got "
                       "'%s'",
                       url ? url : "");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct serve_http_source *src = cap_xcalloc(1, sizeof *src);
    src->base = cap_xstrdup(url);
    size_t n = strlen(src->base);
    while (n > 0 && src->base[n - 1] == '/')
        src->base[--n] = '\0';
    src->curl = curl_easy_init();
    pthread_mutex_init(&src->mu, NULL);
    if (!src->curl) {
        serve_http_source_free(src);
        return cap_err(err, CAP_EINTERNAL, "Cannot start an HTTP client");
    }
    *out = src;
    return 0;
}

void serve_http_source_free(struct serve_http_source *src)
{
    if (!src)
        return;
    if (src->curl)
        curl_easy_cleanup(src->curl);
    pthread_mutex_destroy(&src->mu);
    free(src->base);
    free(src);
    curl_global_cleanup();
}

static int h_list(void *cls, cJSON **out, struct cap_error *err)
{
    cJSON *j = NULL;
    int rc = get_json(cls, "/api/2.0/capstan/deployments", &j, err);
    if (rc < 0)
        return rc;
    cJSON *list = cJSON_CreateArray();
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(j, "deployments"))
    {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "name",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d, "name"), 1));
        cJSON_AddItemToObject(o, "spec",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(d, "spec"), 1));
        cJSON_AddItemToArray(list, o);
    }
    cJSON_Delete(j);
    *out = list;
    return 0;
}

static int h_resolve(void *cls, const char *name, const char *alias, const char *version,
                     char **out_version, struct cap_error *err)
{
    struct serve_http_source *src = cls;
    *out_version = NULL;
    char *n = esc(src, name);
    struct cap_buf path;
    cap_buf_init(&path);
    bool latest = serve_ref_is_latest(alias, version);
    if (latest) {
        cap_buf_printf(&path, "/api/2.0/mlflow/registered-models/get-latest-versions?name=%s", n);
    } else if (alias) {
        char *a = esc(src, alias);
        cap_buf_printf(&path, "/api/2.0/mlflow/registered-models/alias?name=%s&alias=%s", n, a);
        free(a);
    } else {
        char *v = esc(src, version);
        cap_buf_printf(&path, "/api/2.0/mlflow/model-versions/get?name=%s&version=%s", n, v);
        free(v);
    }
    free(n);
    cJSON *j = NULL;
    int rc = get_json(src, path.data, &j, err);
    cap_buf_free(&path);
    if (rc < 0)
        return rc;
    rc = serve_ref_pick(name, latest,
                        cJSON_GetObjectItemCaseSensitive(j, latest ? "model_versions"
                                                                   : "model_version"),
                        out_version, err);
    cJSON_Delete(j);
    return rc;
}

static int h_load(void *cls, const char *name, const char *version, infer_model **out,
                  struct cap_error *err)
{
    struct serve_http_source *src = cls;
    char *n = esc(src, name), *v = esc(src, version);
    struct cap_buf path, body;
    cap_buf_init(&path);
    cap_buf_init(&body);
    cap_buf_printf(&path, "/api/2.0/capstan/model-versions/model-file?name=%s&version=%s", n, v);
    free(n);
    free(v);
    long status = 0;
    int rc = http_call(src, path.data, NULL, &body, &status, err);
    cap_buf_free(&path);
    if (rc == 0 && status != 200) {
        cJSON *j = body.data ? cJSON_ParseWithLength(body.data, body.len) : NULL;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        rc = cap_err(err, CAP_EINVAL, "Model file of %s/%s: registry answered %ld: %s", name,
                     version, status, cJSON_IsString(m) ? m->valuestring : "(no message)");
        cJSON_Delete(j);
    }
    if (rc == 0) {
        infer_error ierr = {0};
        /* No directory: a model with external data is refused here. */
        if (infer_load_buffer(body.data, body.len, NULL, out, &ierr) < 0)
            rc = cap_err(err, CAP_EINVAL, "Model version %s/%s failed to load: %s", name,
                         version, ierr.msg);
    }
    cap_buf_free(&body);
    return rc;
}

const struct serve_source_ops serve_http_ops = {
    .list = h_list,
    .resolve = h_resolve,
    .load = h_load,
};

static void put_json_string(struct cap_buf *b, const char *s)
{
    cJSON *j = cJSON_CreateString(s ? s : "");
    char *t = cJSON_PrintUnformatted(j);
    cap_buf_puts(b, t);
    free(t);
    cJSON_Delete(j);
}

int serve_http_log_sink(void *cls, const struct store_prediction *rows, size_t n,
                        struct cap_error *err)
{
    struct serve_http_source *src = cls;
    struct cap_buf body, resp;
    cap_buf_init(&body);
    cap_buf_init(&resp);
    cap_buf_puts(&body, "{\"predictions\":[");
    for (size_t i = 0; i < n; i++) {
        const struct store_prediction *r = &rows[i];
        cap_buf_printf(&body, "%s{\"timestamp\":%lld,\"latency_us\":%lld,\"deployment\":",
                       i ? "," : "", (long long)r->timestamp_ms, (long long)r->latency_us);
        put_json_string(&body, r->deployment);
        cap_buf_puts(&body, ",\"model_name\":");
        put_json_string(&body, r->model_name);
        cap_buf_puts(&body, ",\"model_version\":");
        put_json_string(&body, r->model_version);
        cap_buf_puts(&body, ",\"role\":");
        put_json_string(&body, r->role);
        if (r->request_id) {
            cap_buf_puts(&body, ",\"request_id\":");
            put_json_string(&body, r->request_id);
        }
        if (r->agree >= 0)
            cap_buf_puts(&body, r->agree ? ",\"agree\":true" : ",\"agree\":false");
        char *in64 = cap_base64_encode(r->inputs ? r->inputs : "", r->inputs_len);
        char *out64 = cap_base64_encode(r->outputs ? r->outputs : "", r->outputs_len);
        cap_buf_printf(&body, ",\"inputs_pack\":\"%s\",\"outputs_pack\":\"%s\"}", in64, out64);
        free(in64);
        free(out64);
    }
    cap_buf_puts(&body, "]}");
    long status = 0;
    int out = http_call(src, "/api/2.0/capstan/predictions/log-batch", &body, &resp, &status, err);
    if (out == 0 && status != 200)
        out = cap_err(err, CAP_EUNAVAIL, "registry answered %ld: %.200s", status,
                      resp.data ? resp.data : "");
    cap_buf_free(&body);
    cap_buf_free(&resp);
    return out;
}
