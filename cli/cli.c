/* cli.c - option parsing, store opening and the HTTP client shared by the
 * sub-commands; where the tracking commands read (cli_target_open). */
#include "cli/cli.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "base/numfmt.h"
#include "base/util.h"
#include "track/validate.h"

int cli_parse(int argc, char **argv, int start, struct cli_opt *opts, const char **pos,
              int maxpos, int *npos)
{
    *npos = 0;
    bool given[64] = {0};
    for (int i = start; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            if (*npos >= maxpos) {
                fprintf(stderr, "capstan: unexpected argument '%s'\n", a);
                return -1;
            }
            pos[(*npos)++] = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        struct cli_opt *o = NULL;
        int k = 0;
        for (; opts[k].name; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, a, nlen) == 0) {
                o = &opts[k];
                break;
            }
        if (!o) {
            fprintf(stderr, "capstan: unknown option '%.*s' (try --help)\n", (int)nlen, a);
            return -1;
        }
        given[k] = true;
        o->given = true;
        if (o->flag) {
            o->value = "1";
            continue;
        }
        if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "capstan: option %s needs a value\n", o->name);
            return -1;
        }
        if (o->repeat) {
            if (o->nvalues >= CLI_MAX_REPEAT) {
                fprintf(stderr, "capstan: option %s given more than %d times\n", o->name,
                        CLI_MAX_REPEAT);
                return -1;
            }
            o->values[o->nvalues++] = o->value;
        }
    }
    for (int k = 0; opts[k].name; k++) {
        if (given[k] || !opts[k].env)
            continue;
        const char *e = getenv(opts[k].env);
        if (e && *e)
            opts[k].value = e;
    }
    return 0;
}

int cli_parse_sub(int argc, char **argv, const char *sub, const char *synopsis,
                  struct cli_opt *opts, const char **pos, int maxpos, int *npos)
{
    *npos = 0;
    if (argc < 3 || strcmp(argv[2], sub) != 0) {
        fprintf(stderr, "usage: %s\n", synopsis);
        return -1;
    }
    if (cli_parse(argc, argv, 3, opts, pos, maxpos, npos) < 0)
        return -1;
    if (cli_get(opts, "--help")) {
        cli_usage(synopsis, opts);
        return 1;
    }
    return 0;
}

const char *cli_get(const struct cli_opt *opts, const char *name)
{
    for (int k = 0; opts[k].name; k++)
        if (strcmp(opts[k].name, name) == 0)
            return opts[k].value;
    return NULL;
}

void cli_usage(const char *synopsis, const struct cli_opt *opts)
{
    printf("usage: %s\n\noptions:\n", synopsis);
    for (int k = 0; opts[k].name; k++) {
        printf("  %-26s %s", opts[k].name, opts[k].help ? opts[k].help : "");
        if (opts[k].value && !opts[k].flag)
            printf(" (default: %s)", opts[k].value);
        if (opts[k].env)
            printf(" [$%s]", opts[k].env);
        printf("\n");
    }
}

char *cli_store_uri(const struct cli_opt *opts)
{
    const char *uri = cli_get(opts, "--backend-store-uri");
    if (uri && *uri)
        return cap_xstrdup(uri);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "%s/capstan.db", cli_get(opts, "--data"));
    return cap_buf_steal(&b);
}

static int open_store_uri(const struct cli_opt *opts, const char *uri, struct store **out)
{
    struct cap_error err = {0};
    /* where experiments that name no location keep artifacts: through this
     * server's proxy unless the server was given --default-artifact-root */
    const char *root_opt = cli_get(opts, "--default-artifact-root");
    char *root = root_opt ? resolve_artifact_root(root_opt, &err) : NULL;
    if (root_opt && !root) {
        fprintf(stderr, "capstan: --default-artifact-root: %s\n", err.msg);
        return -1;
    }
    struct store_config cfg = {.uri = uri, .artifact_prefix = root ? root : "mlflow-artifacts:"};
    int rc = store_open(&cfg, out, &err);
    free(root);
    if (rc < 0) {
        fprintf(stderr, "capstan: cannot open the store: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int cli_open_store(const struct cli_opt *opts, struct store **out)
{
    char *uri = cli_store_uri(opts);
    int rc = open_store_uri(opts, uri, out);
    free(uri);
    return rc;
}

static bool opt_given(const struct cli_opt *opts, const char *name)
{
    for (int k = 0; opts[k].name; k++)
        if (strcmp(opts[k].name, name) == 0)
            return opts[k].given;
    return false;
}

/* A URI's scheme ("http" in http://x), or 0 when it has none (a path). */
static size_t uri_scheme_len(const char *uri)
{
    size_t n = 0;
    if (!isalpha((unsigned char)uri[0]))
        return 0;
    while (isalnum((unsigned char)uri[n]) || uri[n] == '+' || uri[n] == '-' || uri[n] == '.')
        n++;
    return uri[n] == ':' && n > 1 ? n : 0; /* one letter: a drive, not a scheme */
}

/* The local store that a file:, database or path URI names (see cli.h). */
static int open_local(const struct cli_opt *opts, const char *uri, struct store **out)
{
    if (cap_str_has_prefix(uri, "sqlite:") || cap_str_has_prefix(uri, "postgresql:") ||
        cap_str_has_prefix(uri, "postgres:"))
        return open_store_uri(opts, uri, out) < 0 ? 1 : 0;
    const char *dir = uri;
    if (cap_str_has_prefix(uri, "file://")) {
        dir = uri + 7;
        if (cap_str_has_prefix(dir, "localhost/"))
            dir += 9;
        if (dir[0] != '/') {
            fprintf(stderr, "capstan: tracking URI '%s': expected file:///absolute/dir or "
                    "file:relative/dir\n", uri);
            return 2;
        }
    } else if (cap_str_has_prefix(uri, "file:")) {
        dir = uri + 5;
    }
    if (!*dir) {
        fprintf(stderr, "capstan: tracking URI '%s' names no directory\n", uri);
        return 2;
    }
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "%s/capstan.db", dir);
    int rc = open_store_uri(opts, b.data, out);
    cap_buf_free(&b);
    return rc < 0 ? 1 : 0;
}

int cli_target_open(const struct cli_opt *opts, struct cli_target *t)
{
    t->url = NULL;
    t->st = NULL;
    const char *uri = cli_get(opts, "--tracking-uri");
    bool local_given = opt_given(opts, "--data") || opt_given(opts, "--backend-store-uri");
    if (!uri || !*uri || (!opt_given(opts, "--tracking-uri") && local_given))
        return cli_open_store(opts, &t->st) < 0 ? 1 : 0;
    size_t n = uri_scheme_len(uri);
    if ((n == 4 && strncmp(uri, "http", 4) == 0) || (n == 5 && strncmp(uri, "https", 5) == 0)) {
        if (strncmp(uri + n, "://", 3) != 0 || !uri[n + 3]) {
            fprintf(stderr, "capstan: tracking URI '%s': expected %.*s://HOST[:PORT]\n", uri,
                    (int)n, uri);
            return 2;
        }
        size_t len = strlen(uri);
        while (len > n + 3 && uri[len - 1] == '/')
            len--;
        t->url = cap_xstrndup(uri, len);
        return 0;
    }
    if (n && strncmp(uri, "file:", 5) != 0 && strncmp(uri, "sqlite:", 7) != 0 &&
        strncmp(uri, "postgresql:", 11) != 0 && strncmp(uri, "postgres:", 9) != 0) {
        fprintf(stderr, "capstan: unsupported tracking URI scheme '%.*s' in '%s': expected "
                "http://, https://, file:, sqlite:/// or a directory path\n", (int)n, uri, uri);
        return 2;
    }
    return open_local(opts, uri, &t->st);
}

void cli_target_close(struct cli_target *t)
{
    free(t->url);
    if (t->st)
        store_close(t->st);
    t->url = NULL;
    t->st = NULL;
}

const char *cli_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

void cli_time(const cJSON *o, const char *key, char *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) {
        snprintf(out, n, "-");
        return;
    }
    time_t t = (time_t)(v->valuedouble / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

void cli_print_json(const cJSON *o)
{
    char *s = cJSON_Print(o);
    puts(s);
    free(s);
}

void cli_append_items(cJSON *dst, cJSON *src)
{
    cJSON *it;
    while (src && (it = cJSON_DetachItemFromArray(src, 0)))
        cJSON_AddItemToArray(dst, it);
    cJSON_Delete(src);
}

int cli_max_memory(const char *s, size_t *out)
{
    double v;
    if (!cap_text_to_double(s, strlen(s), &v) || !(v > 0 && v < 1e12)) {
        fprintf(stderr, "capstan: --max-memory '%s' is not a positive number of MiB\n", s);
        return -1;
    }
    *out = (size_t)(v * 1024 * 1024);
    return 0;
}

int cli_fail(const struct cap_error *err)
{
    fprintf(stderr, "capstan: %s\n", err->msg);
    return 1;
}

static size_t on_data(char *p, size_t size, size_t n, void *cls)
{
    cap_buf_append(cls, p, size * n);
    return size * n;
}

/* A GET's body as its query string: ?k=v&... with both sides escaped. */
static void append_query(struct cap_buf *url, CURL *c, const cJSON *body)
{
    const cJSON *v;
    char sep = strchr(url->data, '?') ? '&' : '?';
    cJSON_ArrayForEach(v, body)
    {
        char num[64];
        const char *text = cJSON_IsString(v)  ? v->valuestring
                           : cJSON_IsBool(v)  ? (cJSON_IsTrue(v) ? "true" : "false")
                           : cJSON_IsNumber(v) ? (snprintf(num, sizeof num, "%.17g", v->valuedouble), num)
                                               : NULL;
        if (!text)
            continue;
        char *k = curl_easy_escape(c, v->string, 0), *e = curl_easy_escape(c, text, 0);
        cap_buf_printf(url, "%c%s=%s", sep, k, e);
        sep = '&';
        curl_free(k);
        curl_free(e);
    }
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* mlflow's credentials and TLS settings (see cli.h); the header list grows. */
static struct curl_slist *add_auth(CURL *c, struct curl_slist *hdr, struct cap_buf *bearer)
{
    const char *user = getenv("MLFLOW_TRACKING_USERNAME"), *pass = getenv("MLFLOW_TRACKING_PASSWORD");
    const char *token = getenv("MLFLOW_TRACKING_TOKEN"), *ca = getenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
    if (user && *user && pass && *pass) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
    } else if (token && *token) {
        cap_buf_printf(bearer, "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, bearer->data);
    }
    if (env_true("MLFLOW_TRACKING_INSECURE_TLS")) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (ca && *ca) {
        curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    }
    return hdr;
}

/* One line for a failed answer: MLflow's {"error_code", "message"}, else
 * the start of whatever came back (a proxy's HTML, an auth challenge). */
static void print_http_error(long status, const cJSON *j, const struct cap_buf *resp)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error_code");
    if (cJSON_IsString(m)) {
        fprintf(stderr, "capstan: %s (%ld %s)\n", m->valuestring, status,
                cJSON_IsString(code) ? code->valuestring : "");
        return;
    }
    size_t n = resp->data ? strcspn(resp->data, "\r\n") : 0;
    fprintf(stderr, "capstan: the server answered HTTP %ld%s%.*s\n", status, n ? ": " : "",
            (int)(n > 200 ? 200 : n), n ? resp->data : "");
}

struct req {
    const char *server, *method, *path;
    const cJSON *body;
    FILE *upload;
    long long upload_size;
    bool quiet_404;
};

static void set_body(CURL *c, const struct req *r, char **payload)
{
    if (r->upload) { /* no overall timeout: a large file takes what it takes */
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, r->upload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->upload_size);
        if (strcmp(r->method, "POST") != 0) /* the same streamed body under another method */
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
        return;
    }
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    if (r->body && strcmp(r->method, "GET") != 0) {
        *payload = cJSON_PrintUnformatted(r->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, *payload);
    }
}

/* One request: a JSON body, or a file streamed as the body (upload).
 * 0: done; 2: a 404 that quiet_404 kept quiet; 1: failed (printed). */
static int request(const struct req *r, cJSON **out)
{
    struct cap_buf url, resp, bearer;
    cap_buf_init(&url);
    cap_buf_init(&resp);
    cap_buf_init(&bearer);
    char *payload = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    cap_buf_printf(&url, "%s%s", r->server, r->path);
    if (r->body && !r->upload && strcmp(r->method, "GET") == 0)
        append_query(&url, c, r->body);
    struct curl_slist *hdr = curl_slist_append(NULL, r->upload ? "Content-Type: application/octet-stream"
                                                               : "Content-Type: application/json");
    hdr = add_auth(c, hdr, &bearer);
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    set_body(c, r, &payload);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    free(payload);
    int ret = 0;
    cJSON *j = resp.data ? cJSON_ParseWithLength(resp.data, resp.len) : NULL;
    if (rc != CURLE_OK) {
        fprintf(stderr, "capstan: cannot reach %s: %s (is the server running there?)\n", r->server,
                curl_easy_strerror(rc));
        ret = 1;
    } else if (status == 404 && r->quiet_404) {
        ret = 2;
    } else if (status != 200) {
        print_http_error(status, j, &resp);
        ret = 1;
    } else if (!j && out) {
        fprintf(stderr, "capstan: %s%s did not answer with JSON\n", r->server, r->path);
        ret = 1;
    }
    if (ret == 0 && out) {
        *out = j;
        j = NULL;
    }
    cJSON_Delete(j);
    cap_buf_free(&url);
    cap_buf_free(&resp);
    cap_buf_free(&bearer);
    return ret;
}

int cli_call(const char *server, const char *method, const char *path, const cJSON *body,
             cJSON **out)
{
    return request(&(struct req){server, method, path, body, NULL, 0, false}, out);
}

int cli_lookup(const char *server, const char *method, const char *path, const cJSON *body,
               cJSON **out)
{
    return request(&(struct req){server, method, path, body, NULL, 0, true}, out);
}

int cli_upload(const char *server, const char *method, const char *path, FILE *f,
               long long size, cJSON **out)
{
    return request(&(struct req){server, method, path, NULL, f, size, false}, out);
}

int cli_call_pages(const char *server, const char *method, const char *path, cJSON *body,
                   const char *key, int page, long limit, cJSON **items, bool *more)
{
    const char *env = getenv("CAPSTAN_CLI_PAGE_SIZE");
    long asked = env ? strtol(env, NULL, 10) : 0;
    if (asked > 0 && asked < page)
        page = (int)asked;
    *items = cJSON_CreateArray();
    if (more)
        *more = false;
    cJSON_DeleteItemFromObjectCaseSensitive(body, "page_token");
    for (;;) {
        long want = page;
        if (limit > 0 && limit - cJSON_GetArraySize(*items) < want)
            want = limit - cJSON_GetArraySize(*items);
        cJSON_DeleteItemFromObjectCaseSensitive(body, "max_results");
        cJSON_AddNumberToObject(body, "max_results", (double)want);
        cJSON *res = NULL;
        if (cli_call(server, method, path, body, &res)) {
            cJSON_Delete(*items);
            *items = NULL;
            return 1;
        }
        cli_append_items(*items, cJSON_DetachItemFromObjectCaseSensitive(res, key));
        const cJSON *next = cJSON_GetObjectItemCaseSensitive(res, "next_page_token");
        bool has_next = cJSON_IsString(next) && *next->valuestring;
        const cJSON *prev = cJSON_GetObjectItemCaseSensitive(body, "page_token");
        if (has_next && cJSON_IsString(prev) && strcmp(prev->valuestring, next->valuestring) == 0) {
            fprintf(stderr, "capstan: %s%s gave the same next_page_token twice\n", server, path);
            cJSON_Delete(res);
            cJSON_Delete(*items);
            *items = NULL;
            return 1;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(body, "page_token");
        if (has_next)
            cJSON_AddStringToObject(body, "page_token", next->valuestring);
        cJSON_Delete(res);
        if (!has_next)
            return 0;
        if (limit > 0 && cJSON_GetArraySize(*items) >= limit) {
            if (more)
                *more = true;
            return 0;
        }
    }
}
