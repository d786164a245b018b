/* cmd_monitor_baseline.c - `capstan monitor baseline TARGET --data FILE`
 * (or --dataset NAME@N [--path P]: a file of a dataset version, read by the
 * server from its dataset store):
 * stores the reference baseline of a deployment (TARGET without '/') or a
 * model version (NAME/VERSION) through a running server's
 * /api/2.0/capstan/monitor/baselines, which has the model and the artifact
 * store; the file is streamed as the request body. Prints the baseline's
 * meta as JSON. Exit 0 on success, 1 when the server refused or could not
 * be reached (its message on stderr), 2 on bad usage. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "monitor/monitor.h"

#define SYNOPSIS                                                                              \
    "capstan monitor baseline DEPLOYMENT|MODEL/VERSION --data FILE|--dataset NAME@N "        \
    "[--path P] [--max-rows N] [--categorical a,b] [--numerical c,d]"

/* &key=value, escaped, when value is given. */
static void query_opt(struct cap_buf *url, const char *key, const char *value)
{
    if (!value)
        return;
    char *e = curl_escape(value, 0);
    cap_buf_printf(url, "&%s=%s", key, e);
    curl_free(e);
}

/* The request's path: the target, the file's format and the options in the query. */
static char *url_for(const char *target, const char *format, const struct cli_opt *opts)
{
    bool model = strchr(target, '/') != NULL;
    struct cap_buf t, url;
    cap_buf_init(&t);
    cap_buf_init(&url);
    cap_buf_printf(&t, "%s%s", model ? "model:" : "deployment:", target);
    char *et = curl_escape(t.data, 0);
    cap_buf_printf(&url, "/api/2.0/capstan/monitor/baselines?target=%s", et);
    query_opt(&url, "format", format);
    query_opt(&url, "dataset", cli_get(opts, "--dataset"));
    query_opt(&url, "path", cli_get(opts, "--path"));
    query_opt(&url, "max_rows", cli_get(opts, "--max-rows"));
    query_opt(&url, "categorical", cli_get(opts, "--categorical"));
    query_opt(&url, "numerical", cli_get(opts, "--numerical"));
    curl_free(et);
    cap_buf_free(&t);
    return cap_buf_steal(&url);
}

/* The reference is a dataset version's file on the server: an empty body. */
static int run_dataset(const char *server, const char *target, const struct cli_opt *opts)
{
    char *url = url_for(target, NULL, opts);
    cJSON *meta = NULL;
    int rc = cli_call(server, "POST", url, NULL, &meta);
    free(url);
    if (rc == 0)
        cli_print_json(meta);
    cJSON_Delete(meta);
    return rc;
}

static int run(const char *server, const char *target, const char *path,
               const struct cli_opt *opts)
{
    struct cap_error err = {0};
    enum mon_format fmt;
    if (mon_frame_format(path, &fmt, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        return 2;
    }
    static const char *const formats[] = {"csv", "jsonl", "npy"};
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) {
        fprintf(stderr, "capstan: cannot read %s\n", path);
        if (f)
            fclose(f);
        return 2;
    }
    char *url = url_for(target, formats[fmt], opts);
    cJSON *meta = NULL;
    int rc = cli_upload(server, "POST", url, f, (long long)st.st_size, &meta);
    fclose(f);
    free(url);
    if (rc == 0)
        cli_print_json(meta);
    cJSON_Delete(meta);
    return rc;
}

int cmd_monitor_baseline(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--server", "CAPSTAN_SERVER", false, "http://127.0.0.1:5000", "the capstan server"},
        {"--data", NULL, false, NULL, "the reference data: .csv (with header), .jsonl or .npy"},
        {"--dataset", NULL, false, NULL, "or the reference is a dataset version's file: NAME@N"},
        {"--path", NULL, false, NULL, "with --dataset: which file, when the version has several"},
        {"--max-rows", NULL, false, NULL, "rows kept in the reference sample (default 100000)"},
        {"--categorical", NULL, false, NULL,
         "columns to monitor as categories, a,b,... (free text, numeric codes)"},
        {"--numerical", NULL, false, NULL, "columns to monitor as numbers, c,d,..."},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    if (cli_parse(argc, argv, 3, opts, pos, 1, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help")) {
        cli_usage(SYNOPSIS, opts);
        return 0;
    }
    if (npos != 1 || !cli_get(opts, "--data") == !cli_get(opts, "--dataset")) {
        fprintf(stderr, "usage: %s   (capstan monitor baseline --help)\n", SYNOPSIS);
        return 2;
    }
    if (cli_get(opts, "--dataset"))
        return run_dataset(cli_get(opts, "--server"), pos[0], opts);
    return run(cli_get(opts, "--server"), pos[0], cli_get(opts, "--data"), opts);
}
