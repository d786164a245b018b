/* mlflow_body_fuzz.c - MLflow's REST bodies as the tracking and registry
 * handlers read them, page tokens and search filters included: on any body,
 * no crash, leak or undefined behaviour; an answer that comes whole, with
 * JSON in UTF-8; never a 500 (a client's bytes are never the server's
 * fault: other 5xx, such as a full disk's 507, are the server's state);
 * and the server answers /health afterwards.
 *
 * The server runs in this process with a SQLite store and an artifact
 * directory in a scratch directory of its own, holding one experiment with
 * one run (whose id the fuzzer cannot guess: most run ids it sends name
 * nothing, which is an answer too) and one registered model "m". Byte 0
 * picks the route (mod the table's size); the rest is the body, sent with
 * Content-Length, as JSON. */
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "blob/blob.h"
#include "server/server.h"
#include "store/store.h"
#include "tests/fuzz/fuzz_http.h"

static const char *const routes[][2] = {
    {"POST", "/api/2.0/mlflow/experiments/create"},
    {"POST", "/api/2.0/mlflow/experiments/search"},
    {"POST", "/api/2.0/mlflow/experiments/update"},
    {"POST", "/api/2.0/mlflow/experiments/set-experiment-tag"},
    {"POST", "/api/2.0/mlflow/runs/create"},
    {"POST", "/api/2.0/mlflow/runs/update"},
    {"POST", "/api/2.0/mlflow/runs/log-metric"},
    {"POST", "/api/2.0/mlflow/runs/log-parameter"},
    {"POST", "/api/2.0/mlflow/runs/log-batch"},
    {"POST", "/api/2.0/mlflow/runs/log-inputs"},
    {"POST", "/api/2.0/mlflow/runs/set-tag"},
    {"POST", "/api/2.0/mlflow/runs/search"},
    {"POST", "/api/2.0/mlflow/logged-models"},
    {"POST", "/api/2.0/mlflow/logged-models/search"},
    {"POST", "/api/2.0/mlflow/experiments/search-datasets"},
    {"POST", "/api/2.0/mlflow/registered-models/create"},
    {"POST", "/api/2.0/mlflow/registered-models/search"},
    {"PATCH", "/api/2.0/mlflow/registered-models/update"},
    {"POST", "/api/2.0/mlflow/registered-models/rename"},
    {"POST", "/api/2.0/mlflow/registered-models/set-tag"},
    {"POST", "/api/2.0/mlflow/registered-models/alias"},
    {"POST", "/api/2.0/mlflow/registered-models/get-latest-versions"},
    {"POST", "/api/2.0/mlflow/model-versions/create"},
    {"POST", "/api/2.0/mlflow/model-versions/search"},
    {"POST", "/api/2.0/mlflow/model-versions/transition-stage"},
    {"POST", "/api/2.0/mlflow/model-versions/set-tag"},
    {"PATCH", "/api/2.0/mlflow/model-versions/update"},
    {"GET", "/api/2.0/mlflow/metrics/get-history"},
    {"GET", "/api/2.0/mlflow/experiments/get-by-name"},
    {"GET", "/api/2.0/mlflow/registered-models/get"},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static uint16_t port;

static void die(const char *what, const struct cap_error *err)
{
    fprintf(stderr, "mlflow_body_fuzz: %s: %s\n", what, err->msg);
    abort();
}

static char dir[] = "/tmp/capstan-mlflow-body-fuzz-XXXXXX";

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* At exit (libFuzzer and the replay driver both end by exiting, the server
 * still running): the scratch directory goes; the open files stay valid. */
static void remove_dir(void)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void start_server(void)
{
    static char db[sizeof dir + 16], arts[sizeof dir + 16];
    static struct api_env env = {.version = "fuzz"};
    static struct server *srv;
    struct cap_error err = {0};
    if (!mkdtemp(dir))
        abort();
    atexit(remove_dir);
    snprintf(db, sizeof db, "%s/capstan.db", dir);
    snprintf(arts, sizeof arts, "%s/artifacts", dir);
    struct store_config sc = {.uri = db, .artifact_prefix = "mlflow-artifacts:"};
    if (store_open(&sc, &env.store, &err) < 0)
        die("store", &err);
    if (blob_open(arts, &env.blob, &err) < 0)
        die("artifacts", &err);
    cJSON *run = NULL, *model = NULL;
    struct store_run_create rc = {.experiment_id = "0", .start_time = 1, .run_name = "fuzz"};
    if (store_run_create(env.store, &rc, &run, &err) < 0)
        die("a run", &err);
    if (store_registered_model_create(env.store, "m", NULL, NULL, 0, &model, &err) < 0)
        die("a registered model", &err);
    cJSON_Delete(run);
    cJSON_Delete(model);
    struct server_config cfg = {.host = "127.0.0.1", .http_threads = 1, .threads = 2,
                                .max_json_bytes = 1 << 20, .max_upload_bytes = 1 << 20};
    if (server_start(&cfg, &env, &srv, &err) < 0)
        die("server", &err);
    port = server_port(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!port)
        start_server();
    const char *const *r = routes[data[0] % NROUTES];
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      r[0], r[1], size - 1);
    int fd = fuzz_http_connect(port);
    fuzz_http_send(fd, head, (size_t)hn);
    fuzz_http_send(fd, data + 1, size - 1);
    shutdown(fd, SHUT_WR);
    char *buf;
    size_t n = fuzz_http_read(fd, &buf);
    close(fd);
    fuzz_http_check("mlflow_body_fuzz", buf, n);
    if (fuzz_http_status(buf, n) == 500) {
        fprintf(stderr, "mlflow_body_fuzz: %s %s answered a client's body with %.300s\n", r[0],
                r[1], buf);
        abort();
    }
    free(buf);
    fuzz_http_health("mlflow_body_fuzz", port);
    return 0;
}
