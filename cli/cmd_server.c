/* cmd_server.c - `capstan server`: opens the store and the artifact root,
 * serves until SIGTERM or SIGINT, then stops gracefully (in-flight requests
 * finish, queued writes commit, the database closes clean). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alert/alert.h"
#include "api/api.h"
#include "auth/auth.h"
#include "base/buf.h"
#include "base/metrics.h"
#include "base/util.h"
#include "blob/blob.h"
#include "cli/cli.h"
#include "data/data.h"
#include "lease/lease.h"
#include "monitor/monitor.h"
#include "monitor/predlog.h"
#include "pipeline/pipeline.h"
#include "serve/serve.h"
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

/* --http-threads: unset (NULL) gives 0, the server's one-per-CPU default. */
static bool parse_threads(const char *s, unsigned long long *out)
{
    *out = 0;
    return !s || (parse_u64(s, 1024, out) && *out > 0);
}

/* The live monitor's options; false with a message on stderr. */
static int monitor_options(struct cli_opt *opts, struct mon_live_config *c, int64_t widths[8],
                           bool *on)
{
    const char *w = cli_get(opts, "--monitor-windows");
    unsigned long long grace, exact, poll;
    if (!parse_u64(cli_get(opts, "--monitor-grace-ms"), 86400000, &grace) ||
        !parse_u64(cli_get(opts, "--monitor-exact-rows"), 100000000, &exact) || exact == 0 ||
        !parse_u64(cli_get(opts, "--monitor-poll-ms"), 60000, &poll) || poll < 10) {
        fprintf(stderr, "capstan: --monitor-grace-ms must be milliseconds (up to a day), "
                        "--monitor-exact-rows a positive count and --monitor-poll-ms 10 to "
                        "60000\n");
        return -1;
    }
    *on = strcmp(w, "off") != 0;
    size_t n = 0;
    for (const char *p = w; *on && *p; n++) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (n == 8 || end == p || (*end && *end != ',') || v <= 0) {
            fprintf(stderr, "capstan: --monitor-windows must be up to 8 widths in seconds, "
                            "comma-separated (e.g. 300,3600,86400), or off; got '%s'\n", w);
            return -1;
        }
        widths[n] = v;
        p = *end ? end + 1 : end;
    }
    *c = (struct mon_live_config){.widths_s = widths, .nwidths = n, .grace_ms = (int64_t)grace,
                                  .exact_rows = (size_t)exact, .poll_ms = (int)poll};
    /* the widths' other rules are the monitor's own: checked when it starts */
    return 0;
}

static sigset_t stop_signals;

/* Signals are taken by sigwait in the main thread only. */
static void block_signals(void)
{
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void wait_and_stop(struct server *srv)
{
    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "capstan: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server_stop(srv);
}

static void set_log_level(const char *lvl)
{
    cap_log_set_level(strcmp(lvl, "debug") == 0  ? CAP_LOG_DEBUG
                      : strcmp(lvl, "warn") == 0  ? CAP_LOG_WARN
                      : strcmp(lvl, "error") == 0 ? CAP_LOG_ERROR
                                                  : CAP_LOG_INFO);
}

/* The URL the server answers on, for the start-up line: an IPv6 address
 * goes in brackets; https when it serves TLS. */
static void listen_url(const struct server_config *cfg, const char *host, unsigned port,
                       char *out, size_t n)
{
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, n, "%s://%s%s%s:%u", cfg->tls_cert ? "https" : "http", v6 ? "[" : "", host,
             v6 ? "]" : "", port);
}

/* Both commands answer browsers: the same two options (server/guard.h). */
#define GUARD_OPTS                                                                          \
    {"--allowed-hosts", "CAPSTAN_ALLOWED_HOSTS", false, NULL,                               \
     "Host header names answered besides localhost, IP addresses and --host, comma-"        \
     "separated, * as a wildcard (*.example.com); * alone answers any (a guard against "    \
     "DNS rebinding)"},                                                                     \
        {"--cors-allowed-origins", "CAPSTAN_CORS_ALLOWED_ORIGINS", false, NULL,             \
         "origins whose pages may call the API (https://app.example.com, comma-separated, "  \
         "* as a wildcard); others may not change anything and get no CORS headers"},      \
        {"--tls-cert", "CAPSTAN_TLS_CERT", false, NULL,                                     \
         "PEM certificate (chain) to serve HTTPS with, for setups without a TLS proxy"},     \
        {"--tls-key", "CAPSTAN_TLS_KEY", false, NULL, "PEM private key of --tls-cert"}

/* Without --auth, a server reachable from other machines lets anyone who
 * reaches it read and change everything: say so at start. */
static void warn_if_exposed(const char *host)
{
    struct in6_addr a6;
    struct in_addr a4;
    bool loopback = strcmp(host, "localhost") == 0 ||
                    (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
                    (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
    if (!loopback)
        cap_log(CAP_LOG_WARN,
                "listening on %s without authentication: anyone who can reach this port can "
                "read and change every experiment, model and deployment; start it with --auth, "
                "or keep it behind a firewall or an authenticating proxy",
                host);
}

/* --auth is a flag; CAPSTAN_AUTH=0 or false leaves it off. */
static bool auth_wanted(const char *v)
{
    return v && strcmp(v, "0") != 0 && strcasecmp(v, "false") != 0 && strcasecmp(v, "no") != 0;
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
         "artifact root: a directory, file:///dir or s3://bucket/prefix (credentials from "
         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) (default: <data>/artifacts)"},
        {"--s3-endpoint-url", "CAPSTAN_S3_ENDPOINT_URL", false, NULL,
         "an S3-compatible server for s3:// destinations, e.g. http://127.0.0.1:8333 (default: "
         "$MLFLOW_S3_ENDPOINT_URL, $AWS_ENDPOINT_URL_S3, else AWS in $AWS_REGION)"},
        {"--default-artifact-root", "CAPSTAN_DEFAULT_ARTIFACT_ROOT", false, NULL,
         "where an experiment that names no artifact_location keeps its artifacts, e.g. "
         "s3://bucket/path or file:///dir: clients write there themselves, as with mlflow server "
         "--default-artifact-root (default: mlflow-artifacts:, through this server)"},
        {"--datasets-destination", "CAPSTAN_DATASETS_DESTINATION", false, NULL,
         "the datasets' object store: a directory or s3://bucket/prefix (default: "
         "<data>/datasets)"},
        {"--http-threads", "CAPSTAN_HTTP_THREADS", false, NULL,
         "threads that read requests and answer inference (default: one per CPU, 2 to 16)"},
        {"--threads", "CAPSTAN_THREADS", false, "16",
         "worker threads for requests that may wait (store, disk) and heavy inference"},
        {"--max-request-bytes", "CAPSTAN_MAX_REQUEST_BYTES", false, "16777216",
         "largest JSON request body"},
        {"--max-upload-bytes", "CAPSTAN_MAX_UPLOAD_BYTES", false, "68719476736",
         "largest artifact upload"},
        GUARD_OPTS,
        {"--auth", "CAPSTAN_AUTH", true, NULL,
         "require HTTP basic authentication and MLflow's per-experiment and per-model "
         "permissions (the admin comes from $CAPSTAN_ADMIN_USERNAME and "
         "$CAPSTAN_ADMIN_PASSWORD, created when missing)"},
        {"--auth-default-permission", "CAPSTAN_AUTH_DEFAULT_PERMISSION", false, "READ",
         "with --auth, a user's permission where none was granted: READ, USE, EDIT, MANAGE "
         "or NO_PERMISSIONS"},
        {"--log-level", "CAPSTAN_LOG_LEVEL", false, "info", "debug, info, warn or error"},
        {"--serve-poll-ms", "CAPSTAN_SERVE_POLL_MS", false, "250",
         "how often deployments are re-read (alias moves are seen within this)"},
        {"--default-deployment", "CAPSTAN_DEFAULT_DEPLOYMENT", false, NULL,
         "deployment that answers /invocations when there are several"},
        {"--prediction-log-queue", "CAPSTAN_PREDICTION_LOG_QUEUE", false, "65536",
         "prediction log entries waiting to be written before new ones are dropped"},
        {"--prediction-log-max-rows", "CAPSTAN_PREDICTION_LOG_MAX_ROWS", false, "10000000",
         "rows the prediction log keeps; the oldest go first (0: keep all)"},
        {"--alert-allow-private-webhooks", "CAPSTAN_ALERT_ALLOW_PRIVATE_WEBHOOKS", true, NULL,
         "let alert webhooks point at loopback, private or link-local addresses"},
        {"--monitor-windows", "CAPSTAN_MONITOR_WINDOWS", false, "300,3600,86400",
         "live monitoring window widths in seconds, increasing, each a multiple of the first "
         "(off: no live monitoring)"},
        {"--monitor-grace-ms", "CAPSTAN_MONITOR_GRACE_MS", false, "2000",
         "how long after its end a window waits for late rows before it is computed"},
        {"--monitor-exact-rows", "CAPSTAN_MONITOR_EXACT_ROWS", false, "50000",
         "rows a window holds for exact drift tests; beyond them it is tested from profiles"},
        {"--monitor-poll-ms", "CAPSTAN_MONITOR_POLL_MS", false, "1000",
         "how often the live monitor reads the prediction log"},
        {"--pipeline-runner", "CAPSTAN_PIPELINE_RUNNER", false, NULL,
         "the program a pipeline schedule runs, as PROGRAM pipeline run --repo DIR "
         "(default: this capstan binary)"},
        {"--pipeline-poll-ms", "CAPSTAN_PIPELINE_POLL_MS", false, "1000",
         "how often new dataset versions are looked for, for schedules run on a new version"},
        {"--lease-ttl-ms", "CAPSTAN_LEASE_TTL_MS", false, "10000",
         "servers sharing one database: how long the one running the scheduler, alert "
         "delivery and the live monitor holds its lease; another takes over within this after "
         "it dies"},
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
    unsigned long long poll_ms, logq, logmax, pipe_poll, lease_ttl;
    if (!parse_u64(cli_get(opts, "--pipeline-poll-ms"), 3600000, &pipe_poll) || pipe_poll < 10) {
        fprintf(stderr, "capstan: --pipeline-poll-ms must be 10 to 3600000 milliseconds\n");
        return 2;
    }
    if (!parse_u64(cli_get(opts, "--lease-ttl-ms"), 3600000, &lease_ttl) || lease_ttl < 300) {
        fprintf(stderr, "capstan: --lease-ttl-ms must be 300 to 3600000 milliseconds\n");
        return 2;
    }
    if (!parse_u64(cli_get(opts, "--serve-poll-ms"), 60000, &poll_ms) || poll_ms < 10 ||
        !parse_u64(cli_get(opts, "--prediction-log-queue"), 1ULL << 24, &logq) || logq == 0 ||
        !parse_u64(cli_get(opts, "--prediction-log-max-rows"), 1ULL << 50, &logmax)) {
        fprintf(stderr, "capstan: --serve-poll-ms must be 10 to 60000, --prediction-log-queue a "
                        "positive count and --prediction-log-max-rows a count\n");
        return 2;
    }
    unsigned long long port, threads, http_threads, max_json, max_upload;
    if (!parse_u64(cli_get(opts, "--port"), 65535, &port)) {
        fprintf(stderr, "capstan: --port must be a number from 0 to 65535\n");
        return 2;
    }
    if (!parse_u64(cli_get(opts, "--threads"), 1024, &threads) || threads == 0 ||
        !parse_threads(cli_get(opts, "--http-threads"), &http_threads)) {
        fprintf(stderr, "capstan: --threads and --http-threads must be numbers from 1 to 1024\n");
        return 2;
    }
    if (!parse_u64(cli_get(opts, "--max-request-bytes"), 1ULL << 40, &max_json) ||
        !parse_u64(cli_get(opts, "--max-upload-bytes"), 1ULL << 50, &max_upload)) {
        fprintf(stderr, "capstan: --max-request-bytes and --max-upload-bytes must be byte counts\n");
        return 2;
    }
    struct mon_live_config mcfg = {0};
    int64_t widths[8];
    bool monitor = false;
    if (monitor_options(opts, &mcfg, widths, &monitor) < 0)
        return 2;
    set_log_level(cli_get(opts, "--log-level"));

    block_signals();

    struct cap_error err = {0};
    const char *data = cli_get(opts, "--data");
    struct cap_buf artifacts;
    cap_buf_init(&artifacts);
    if (cli_get(opts, "--artifacts-destination"))
        cap_buf_puts(&artifacts, cli_get(opts, "--artifacts-destination"));
    else
        cap_buf_printf(&artifacts, "%s/artifacts", data);

    struct blob *blob = NULL, *datasets = NULL;
    struct store *store = NULL;
    struct server *srv = NULL;
    struct metrics *metrics = metrics_new();
    struct predlog *plog = NULL;
    struct serve *serve = NULL;
    struct serve_store_source src = {0};
    struct predlog_store logsink = {0};
    struct alert *alert = NULL;
    struct mon_live *live = NULL;
    struct pipe_sched *sched = NULL;
    struct lease *lease = NULL;
    struct auth *auth = NULL;
    int status = 1;
    if (blob_open_in(artifacts.data, data, cli_get(opts, "--s3-endpoint-url"), &blob, &err) < 0) {
        fprintf(stderr, "capstan: cannot open the artifact root %s: %s\n", artifacts.data, err.msg);
        goto done;
    }
    if (data_open_objects(data, cli_get(opts, "--datasets-destination"),
                          cli_get(opts, "--s3-endpoint-url"), &datasets, &err) < 0) {
        fprintf(stderr, "capstan: cannot open the dataset store: %s\n", err.msg);
        goto done;
    }
    if (cli_open_store(opts, &store) < 0)
        goto done;
    if (auth_wanted(cli_get(opts, "--auth"))) {
        /* the admin's password from the environment only: a flag would show
         * it to every user of ps */
        struct auth_config aucfg = {.admin_username = getenv("CAPSTAN_ADMIN_USERNAME"),
                                    .admin_password = getenv("CAPSTAN_ADMIN_PASSWORD"),
                                    .default_permission =
                                        cli_get(opts, "--auth-default-permission")};
        if (auth_open(store, &aucfg, &auth, &err) < 0) {
            fprintf(stderr, "capstan: %s\n", err.msg);
            goto done;
        }
    }
    /* Servers sharing the database: the pipeline scheduler, alert delivery
     * and the live monitor run on the holder of this lease only. */
    struct lease_config lcfg = {.store = store, .name = "background", .ttl_ms = (int64_t)lease_ttl};
    if (lease_start(&lcfg, &lease, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    struct pipe_sched_config pcfg = {.store = store, .runner = cli_get(opts, "--pipeline-runner"),
                                     .poll_ms = (int)pipe_poll, .lease = lease};
    if (pipe_sched_new(&pcfg, &sched, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    /* The live monitor reports each stored window to alert_window_hook;
     * rules without a "window" watch its base width. */
    struct alert_config acfg = {
        .store = store, .allow_private_webhooks = cli_get(opts, "--alert-allow-private-webhooks"),
        .default_window_s = monitor ? mcfg.widths_s[0] : 0,
        .on_fire = pipe_sched_alert_hook, .on_fire_cls = sched, .lease = lease};
    if (alert_start(&acfg, &alert, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    mcfg.store = store;
    mcfg.blob = blob;
    mcfg.metrics = metrics;
    mcfg.on_window = alert_window_hook;
    mcfg.on_window_cls = alert;
    mcfg.lease = lease;
    if (monitor && mon_live_start(&mcfg, &live, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    logsink.store = store;
    logsink.keep_rows = (int64_t)logmax;
    if (live) { /* trimming keeps the rows the monitor has not read */
        logsink.reader_from = mon_live_log_from;
        logsink.reader_cls = live;
    }
    plog = predlog_start((size_t)logq, predlog_store_sink, &logsink);
    src.store = store;
    src.blob = blob;
    struct serve_config vcfg = {.poll_ms = (int)poll_ms,
                                .default_deployment = cli_get(opts, "--default-deployment"),
                                .metrics = metrics,
                                .log = plog};
    if (serve_start(&vcfg, &serve_store_ops, &src, &serve, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    struct api_env env = {.store = store, .blob = blob, .datasets = datasets,
                          .version = CAPSTAN_VERSION, .serve = serve, .metrics = metrics, .log = plog, .alert = alert,
                          .live = live, .sched = sched, .auth = auth};
    struct server_config scfg = {
        .host = cli_get(opts, "--host"),
        .port = (uint16_t)port,
        .http_threads = (unsigned)http_threads,
        .threads = (unsigned)threads,
        .max_json_bytes = max_json,
        .max_upload_bytes = max_upload,
        .allowed_hosts = cli_get(opts, "--allowed-hosts"),
        .cors_allowed_origins = cli_get(opts, "--cors-allowed-origins"),
        .tls_cert = cli_get(opts, "--tls-cert"),
        .tls_key = cli_get(opts, "--tls-key"),
    };
    if (server_start(&scfg, &env, &srv, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    if (!auth)
        warn_if_exposed(scfg.host);
    char *raw_uri = cli_store_uri(opts);
    char *uri = cap_uri_redact(raw_uri); /* a PostgreSQL URI may carry a password */
    free(raw_uri);
    char url[300];
    listen_url(&scfg, scfg.host, server_port(srv), url, sizeof url);
    fprintf(stderr, "capstan %s listening on %s (store %s, artifacts %s)\n", CAPSTAN_VERSION,
            url, uri, artifacts.data);
    free(uri);
    char self[300]; /* what children reach us at: 0.0.0.0 and :: listen on loopback too */
    listen_url(&scfg, strcmp(scfg.host, "0.0.0.0") == 0 ? "127.0.0.1"
               : strcmp(scfg.host, "::") == 0    ? "::1"
                                                 : scfg.host,
               server_port(srv), self, sizeof self);
    /* with --auth, scheduled pipelines call back with the server's own token */
    char *token = auth ? auth_internal_token(auth) : NULL;
    int started = pipe_sched_run(sched, self, token, &err);
    if (token)
        explicit_bzero(token, strlen(token));
    free(token);
    if (started < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        server_stop(srv);
        goto done;
    }
    wait_and_stop(srv);
    status = 0;
done:
    /* Requests are over: stop the watcher and the shadow, let the prediction
     * log write what is queued (its trims ask the monitor what it still
     * needs), stop the monitor (its open windows are read again after a
     * restart), then close the store. */
    serve_stop(serve);
    predlog_stop(plog);
    mon_live_stop(live);
    alert_stop(alert);
    pipe_sched_stop(sched); /* after the alerts: their hook queues runs */
    lease_stop(lease);      /* after its work: another server takes over at once */
    metrics_free(metrics);
    auth_close(auth);
    if (store)
        store_close(store);
    if (blob)
        blob_close(blob);
    if (datasets)
        blob_close(datasets);
    cap_buf_free(&artifacts);
    return status;
}

/* `capstan serve --registry URL`: serving only. Deployments, aliases and
 * model files come from the registry server's API; no database, so any
 * number of these can run behind a load balancer. */
int cmd_serve(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--registry", "CAPSTAN_REGISTRY", false, NULL,
         "URL of the capstan server that holds the registry and the deployments"},
        {"--host", "CAPSTAN_HOST", false, "127.0.0.1", "address to listen on"},
        {"--port", "CAPSTAN_PORT", false, "8080", "port to listen on (0: any free port)"},
        {"--http-threads", "CAPSTAN_HTTP_THREADS", false, NULL,
         "threads that read requests and answer inference (default: one per CPU, 2 to 16)"},
        {"--threads", "CAPSTAN_THREADS", false, "16",
         "worker threads for requests that may wait (store, disk) and heavy inference"},
        {"--max-request-bytes", "CAPSTAN_MAX_REQUEST_BYTES", false, "16777216",
         "largest request body"},
        GUARD_OPTS,
        {"--serve-poll-ms", "CAPSTAN_SERVE_POLL_MS", false, "500",
         "how often deployments are re-read from the registry"},
        {"--default-deployment", "CAPSTAN_DEFAULT_DEPLOYMENT", false, NULL,
         "deployment that answers /invocations when there are several"},
        {"--log-level", "CAPSTAN_LOG_LEVEL", false, "info", "debug, info, warn or error"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cli_parse(argc, argv, 2, opts, pos, 0, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help")) {
        cli_usage("capstan serve --registry URL [options]", opts);
        return 0;
    }
    unsigned long long port, threads, http_threads, max_json, poll_ms;
    if (!cli_get(opts, "--registry")) {
        fprintf(stderr, "capstan: serve needs --registry URL (or CAPSTAN_REGISTRY)\n");
        return 2;
    }
    if (!parse_u64(cli_get(opts, "--port"), 65535, &port) ||
        !parse_u64(cli_get(opts, "--threads"), 1024, &threads) || threads == 0 ||
        !parse_threads(cli_get(opts, "--http-threads"), &http_threads) ||
        !parse_u64(cli_get(opts, "--max-request-bytes"), 1ULL << 40, &max_json) ||
        !parse_u64(cli_get(opts, "--serve-poll-ms"), 60000, &poll_ms) || poll_ms < 10) {
        fprintf(stderr, "capstan: --port 0-65535, --threads and --http-threads 1-1024, "
                        "--max-request-bytes a byte count and --serve-poll-ms 10-60000 "
                        "expected\n");
        return 2;
    }
    set_log_level(cli_get(opts, "--log-level"));
    block_signals();
    struct cap_error err = {0};
    struct serve_http_source *src = NULL;
    struct metrics *metrics = metrics_new();
    struct predlog *plog = NULL;
    struct serve *serve = NULL;
    struct server *srv = NULL;
    int status = 1;
    if (serve_http_source_new(cli_get(opts, "--registry"), &src, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    /* a separate client for the log, so that a slow write never holds up
     * the watcher's requests */
    struct serve_http_source *logsrc = NULL;
    if (serve_http_source_new(cli_get(opts, "--registry"), &logsrc, &err) == 0)
        plog = predlog_start(65536, serve_http_log_sink, logsrc);
    struct serve_config vcfg = {.poll_ms = (int)poll_ms,
                                .default_deployment = cli_get(opts, "--default-deployment"),
                                .metrics = metrics,
                                .log = plog};
    if (serve_start(&vcfg, &serve_http_ops, src, &serve, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    struct api_env env = {.version = CAPSTAN_VERSION, .serve = serve, .metrics = metrics,
                          .log = plog};
    struct server_config scfg = {
        .host = cli_get(opts, "--host"),
        .port = (uint16_t)port,
        .http_threads = (unsigned)http_threads,
        .threads = (unsigned)threads,
        .max_json_bytes = max_json,
        .max_upload_bytes = max_json,
        .allowed_hosts = cli_get(opts, "--allowed-hosts"),
        .cors_allowed_origins = cli_get(opts, "--cors-allowed-origins"),
        .tls_cert = cli_get(opts, "--tls-cert"),
        .tls_key = cli_get(opts, "--tls-key"),
    };
    if (server_start(&scfg, &env, &srv, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        goto done;
    }
    char url[300];
    listen_url(&scfg, scfg.host, server_port(srv), url, sizeof url);
    fprintf(stderr, "capstan %s serving on %s (registry %s)\n", CAPSTAN_VERSION, url,
            cli_get(opts, "--registry"));
    wait_and_stop(srv);
    status = 0;
done:
    serve_stop(serve);
    predlog_stop(plog);
    serve_http_source_free(logsrc);
    serve_http_source_free(src);
    metrics_free(metrics);
    return status;
}
