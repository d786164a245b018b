/* logkeys.c - what the prediction log's id index (prediction_keys, schema 7)
 * costs the log writer: N one-row requests logged through
 * store_predictions_log in writer-sized batches, once without request ids
 * (no keys written) and once with them, alternating rounds in one run,
 * each into a fresh store. Prints µs per request and the ratio.
 *   bench/feedback/logkeys.sh [requests] [rounds]                          */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "store/store.h"

#define BATCH 512

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds to log n requests into a new store under dir. */
static double run(const char *dir, int round, long n, int with_ids)
{
    char db[512];
    snprintf(db, sizeof db, "%s/r%d-%d.db", dir, round, with_ids);
    struct store_config cfg = {.uri = db, .artifact_prefix = "mlflow-artifacts:"};
    struct store *st = NULL;
    struct cap_error err = {0};
    if (store_open(&cfg, &st, &err) != 0) {
        fprintf(stderr, "logkeys: %s\n", err.msg);
        exit(1);
    }
    static char ids[BATCH][40];
    static const char out[64] = "CPK1";
    struct store_prediction rows[BATCH];
    double t0 = now_s();
    for (long b = 0; b < n; b += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            if (with_ids)
                cap_random_hex(ids[i], 16);
            rows[i] = (struct store_prediction){
                .timestamp_ms = 1000 + b + i, .deployment = "bench", .model_name = "m",
                .model_version = "1", .role = "primary", .request_id = with_ids ? ids[i] : NULL,
                .latency_us = 50, .inputs = out, .inputs_len = sizeof out, .outputs = out,
                .outputs_len = sizeof out, .agree = -1};
        }
        if (store_predictions_log(st, rows, BATCH, &err) != 0) {
            fprintf(stderr, "logkeys: %s\n", err.msg);
            exit(1);
        }
    }
    double dt = now_s() - t0;
    store_close(st);
    return dt;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    char dir[] = "/tmp/capstan-logkeys-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < 2; k++) {
            double t = run(dir, r, n, k);
            if (t < best[k])
                best[k] = t;
        }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "logkeys: could not remove %s\n", dir);
    /* the random ids cost is inside "with ids": measured apart below */
    char id[40];
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        cap_random_hex(id, 16);
    double gen = now_s() - t0;
    printf("requests %ld, best of %d rounds\n", n, rounds);
    printf("  without ids (no keys): %.3f us/request\n", best[0] / n * 1e6);
    printf("  with ids (keys):       %.3f us/request (of which %.3f making the bench's ids)\n",
           best[1] / n * 1e6, gen / n * 1e6);
    printf("  index cost: %.3f us/request; ratio with/without %.2fx\n",
           (best[1] - gen - best[0]) / n * 1e6, (best[1] - gen) / best[0]);
    return 0;
}
