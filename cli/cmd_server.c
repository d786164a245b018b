/* cmd_server.c - `capstan server`: opens the store and the artifact root,
 * serves until SIGTERM or SIGINT, then stops gracefully (in-flight requests
 * finish, queued writes commit, the database closes clean). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "base/buf.h"
#include "base/util.h"
#include "blob/blob.h"
#include "cli/cli.h"
#include "server/server.h"
#include "store/store.h"

static bool parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v > max || s[0] == '-')
        return false;
    *out = v;
    return true;
}

int cmd_server(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--host", "CAPSTAN_HOST", false, "127.0.0.1", "address to listen on"},
        {"--port", "CAPSTAN_PORT", false, "5000", "port to listen on (0: any free port)"},
        {"--data", "CAPSTAN_DATA", false, "./capstan-data", "directory for the database and artifacts"},
        {"--backend-store-uri", "CAPSTAN_BACKEND_STORE_URI", false, NULL,
         "metadata store, e.g. sqlite:///path/capstan.db (default: <data>/capstan.db)"},
        {"--artifacts-destination", "CAPSTAN_ARTIFACTS_DESTINATION", false, NULL,
         "artifact root directory (default: <data>/artifacts)"},
        {"--threads", "CAPSTAN_THREADS", false, "16", "HTTP worker threads"},
        {"--max-request-bytes", "CAPSTAN_MAX_REQUEST_BYTES", false, "16777216",
         "largest JSON request body"},
        {"--max-upload-bytes", "CAPSTAN_MAX_UPLOAD_BYTES", false, "68719476736",
         "largest artifact upload"},
        {"--log-level", "CAPSTAN_LOG_LEVEL", false, "info", "debug, info, warn or error"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cli_parse(argc, argv, 2, opts, pos, 0, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help")) {
        cli_usage("capstan server [options]", opts);
        return 0;
    }
    unsigned long long port, threads, max_json, max_upload;
    if (!parse_u64(cli_get(opts, "--port"), 65535, &port)) {
        fprintf(stderr, "capstan: --port must be a number from 0 to 65535\n");
        return 2;
    }
    if (!parse_u64(cli_get(opts, "--threads"), 1024, &threads) || threads == 0) {
        fprintf(stderr, "capstan: --threads must be a number from 1 to 1024\n");
        return 2;
    }
    if (!parse_u64(cli_get(opts, "--max-request-bytes"), 1ULL << 40, &max_json) ||
        !parse_u64(cli_get(opts, "--max-upload-bytes"), 1ULL << 50, &max_upload)) {
        fprintf(stderr, "capstan: --max-request-bytes and --max-upload-bytes must be byte counts\n");
        return 2;
    }
    const char *lvl = cli_get(opts, "--log-level");
    cap_log_set_level(strcmp(lvl, "debug") == 0  ? CAP_LOG_DEBUG
                      : strcmp(lvl, "warn") == 0  ? CAP_LOG_WARN
                      : strcmp(lvl, "error") == 0 ? CAP_LOG_ERROR
                                                  : CAP_LOG_INFO);

    /* Signals are taken by sigwait in this thread only. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct cap_error err = {0};
    const char *data = cli_get(opts, "--data");
    struct cap_buf artifacts;
    cap_buf_init(&artifacts);
    if (cli_get(opts, "--artifacts-destination"))
        cap_buf_puts(&artifacts, cli_get(opts, "--artifacts-destination"));
    else
        cap_buf_printf(&artifacts, "%s/artifacts", data);

    struct blob *blob = NULL;
    struct store *store = NULL;
    struct server *srv = NULL;
    int status = 1;
    if (blob_open(artifacts.data, &blob, &err) < 0) {
        fprintf(stderr, "capstan: cannot open the artifact root %s: %s\n", artifacts.data, err.msg);
        goto done;
    }
    if (cli_open_store(opts, &store) < 0)
        goto done;
    struct api_env env = {.store = store, .blob = blob, .version = CAPSTAN_VERSION};
    struct server_config scfg = {
        .host = cli_get(opts, "--host"),
        .port = (uint16_t)port,
        .threads = (unsigned)threads,
        .max_json_bytes = max_json,
        .max_upload_bytes = max_upload,
    };
    if (server_start(&scfg, &env, &srv, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    char *uri = cli_store_uri(opts);
    fprintf(stderr, "capstan %s listening on http://%s:%u (store %s, artifacts %s)\n",
            CAPSTAN_VERSION, scfg.host, server_port(srv), uri, artifacts.data);
    free(uri);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "capstan: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(srv);
    status = 0;
done:
    if (store)
        store_close(store);
    if (blob)
        blob_close(blob);
    cap_buf_free(&artifacts);
    return status;
}
