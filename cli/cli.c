/* cli.c - option parsing and store opening shared by the sub-commands. */
#include "cli/cli.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/numfmt.h"
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

int cli_open_store(const struct cli_opt *opts, struct store **out)
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
    char *uri = cli_store_uri(opts);
    struct store_config cfg = {.uri = uri, .artifact_prefix = root ? root : "mlflow-artifacts:"};
    int rc = store_open(&cfg, out, &err);
    free(uri);
    free(root);
    if (rc < 0) {
        fprintf(stderr, "capstan: cannot open the store: %s\n", err.msg);
        return -1;
    }
    return 0;
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

/* One request: a JSON body, or a file streamed as the body (upload). */
static int request(const char *server, const char *method, const char *path, const cJSON *body,
                   FILE *upload, long long upload_size, cJSON **out)
{
    struct cap_buf url, resp;
    cap_buf_init(&url);
    cap_buf_init(&resp);
    cap_buf_printf(&url, "%s%s", server, path);
    char *payload = body ? cJSON_PrintUnformatted(body) : NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(
        NULL, upload ? "Content-Type: application/octet-stream" : "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    /* a server started with --auth: the credentials the mlflow client
     * reads too, so one pair of variables serves both */
    const char *user = getenv("MLFLOW_TRACKING_USERNAME"), *pw = getenv("MLFLOW_TRACKING_PASSWORD");
    if (user && *user && pw) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pw);
    } else if (getenv("MLFLOW_TRACKING_TOKEN") && *getenv("MLFLOW_TRACKING_TOKEN")) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, getenv("MLFLOW_TRACKING_TOKEN"));
    }
    if (upload) { /* no overall timeout: a large file takes what it takes */
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, upload);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)upload_size);
        if (strcmp(method, "POST") != 0) /* the same streamed body under another method */
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    }
    if (payload)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
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
        fprintf(stderr, "capstan: cannot reach %s: %s (is `capstan server` running? set --server)\n",
                server, curl_easy_strerror(rc));
        ret = 1;
    } else if (status != 200) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error_code");
        fprintf(stderr, "capstan: %s (%ld %s)\n", cJSON_IsString(m) ? m->valuestring : "request failed",
                status, cJSON_IsString(code) ? code->valuestring : "");
        ret = 1;
    }
    if (ret == 0 && out) {
        *out = j;
        j = NULL;
    }
    cJSON_Delete(j);
    cap_buf_free(&url);
    cap_buf_free(&resp);
    return ret;
}

int cli_call(const char *server, const char *method, const char *path, const cJSON *body,
             cJSON **out)
{
    return request(server, method, path, body, NULL, 0, out);
}

int cli_upload(const char *server, const char *method, const char *path, FILE *f,
               long long size, cJSON **out)
{
    return request(server, method, path, NULL, f, size, out);
}
