/* cli.h - shared pieces of the capstan sub-commands: option parsing with
 * CAPSTAN_* environment fallbacks, and opening the local store. */
#ifndef CAP_CLI_H
#define CAP_CLI_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>

#include "capstan/infer.h"
#include "store/store.h"

/* Capstan and its inference library are released together: one version. */
#define CAPSTAN_VERSION INFER_VERSION

#define CLI_MAX_REPEAT 64

struct cli_opt {
    const char *name;     /* "--port" */
    const char *env;      /* "CAPSTAN_PORT" or NULL */
    bool flag;            /* takes no value */
    const char *value;    /* default in, result out ("1" for a set flag) */
    const char *help;
    /* An option that may be given more than once (flag false): each value
     * is kept, in order, in values[0..nvalues-1]; value is the last one. */
    bool repeat;
    const char *values[CLI_MAX_REPEAT];
    int nvalues;
};

/* Parses argv[start..] against opts; positional arguments are collected into
 * pos (at most maxpos). Environment variables fill options not given.
 * Prints a message and returns -1 on an unknown option or missing value. */
int cli_parse(int argc, char **argv, int start, struct cli_opt *opts, const char **pos,
              int maxpos, int *npos);
const char *cli_get(const struct cli_opt *opts, const char *name);
/* `capstan COMMAND SUB [options]` with one sub-command: checks that
 * argv[2] is sub and parses argv[3..]. 0: go on; 1: --help was printed
 * (exit 0); -1: a usage error was printed (exit 2). */
int cli_parse_sub(int argc, char **argv, const char *sub, const char *synopsis,
                  struct cli_opt *opts, const char **pos, int maxpos, int *npos);

void cli_usage(const char *synopsis, const struct cli_opt *opts);

/* Opens the store that --backend-store-uri or --data name (read commands
 * share the server's defaults). Prints the error and returns -1 on failure. */
int cli_open_store(const struct cli_opt *opts, struct store **out);
/* The store URI that the options name: --backend-store-uri, else <data>/capstan.db. */
char *cli_store_uri(const struct cli_opt *opts);

/* Output helpers for the table-printing commands. */
const char *cli_str(const cJSON *o, const char *key);        /* "" when absent */
/* A millisecond timestamp field as "YYYY-MM-DD HH:MM:SS" UTC, or "-". */
void cli_time(const cJSON *o, const char *key, char *out, size_t n);
void cli_print_json(const cJSON *o);
/* One JSON request to a running server (server: its base URL, path from
 * /api/...; body may be NULL); the answer's JSON in *out (may be NULL: not
 * wanted). On failure prints the server's message and returns 1. */
int cli_call(const char *server, const char *method, const char *path, const cJSON *body,
             cJSON **out);
/* The same, sending size bytes of f as the body (application/octet-stream)
 * with method (POST, PUT). */
int cli_upload(const char *server, const char *method, const char *path, FILE *f,
               long long size, cJSON **out);
/* --max-memory in bytes: a positive number of MiB (fractions too, for
 * tests of the column-group reads on small files); prints and returns -1
 * when it is not one. */
int cli_max_memory(const char *s, size_t *out);
int cli_fail(const struct cap_error *err);                   /* prints it, returns 1 */

int cmd_server(int argc, char **argv);
int cmd_experiments(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_deploy(int argc, char **argv);
int cmd_monitor(int argc, char **argv);
int cmd_monitor_baseline(int argc, char **argv); /* cmd_monitor_baseline.c */
int cmd_feedback(int argc, char **argv);
int cmd_review(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_pipeline(int argc, char **argv);  /* cmd_pipeline.c */
int cmd_pipeline_run(int argc, char **argv); /* cmd_pipeline_run.c: run and status */
int cmd_pipeline_export(int argc, char **argv); /* cmd_pipeline_export.c */
int cmd_data_table(int argc, char **argv); /* cmd_data_table.c: `data profile` */
/* `capstan pipeline schedule ...` (cmd_pipeline_schedule.c); argv as
 * main's, the verb at argv[3]. */
int cmd_pipeline_schedule(int argc, char **argv);

#endif
