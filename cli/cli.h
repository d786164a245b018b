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
    bool given;           /* out: set on the command line (not from the environment) */
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

/* Where `experiments`, `runs` and `models` read and write: a tracking
 * server's REST API when url is set, else the local store st. */
struct cli_target {
    char *url; /* base URL without a trailing '/' */
    struct store *st;
};
#define CLI_TRACKING_URI_OPT                                                               \
    {"--tracking-uri", "MLFLOW_TRACKING_URI", false, NULL,                                 \
     "a server, http(s)://HOST[:PORT]; file:DIR, sqlite:///DB or a path: the local store"}
/* Picks and opens the target as mlflow's client does: --tracking-uri, else
 * $MLFLOW_TRACKING_URI unless --data or --backend-store-uri was given on the
 * command line, else the local store. http:// and https:// mean the server;
 * sqlite:/// (and postgresql://) name a database as --backend-store-uri does;
 * file:///dir, file:dir and a plain path name a directory as --data does
 * (mlflow's file store keeps mlruns/ there, Capstan keeps capstan.db).
 * Returns 0, or prints one line and returns the exit status: 2 for a URI
 * of another scheme, 1 when the store cannot be opened. */
int cli_target_open(const struct cli_opt *opts, struct cli_target *t);
void cli_target_close(struct cli_target *t);

/* Output helpers for the table-printing commands. */
const char *cli_str(const cJSON *o, const char *key);        /* "" when absent */
/* A millisecond timestamp field as "YYYY-MM-DD HH:MM:SS" UTC, or "-". */
void cli_time(const cJSON *o, const char *key, char *out, size_t n);
void cli_print_json(const cJSON *o);
/* Moves every item of the array src to the end of dst and deletes src
 * (NULL: nothing): one list from pages of a search. */
void cli_append_items(cJSON *dst, cJSON *src);
/* One JSON request to a running server (server: its base URL, path from
 * /api/...; body may be NULL; a GET sends body's strings, numbers and
 * booleans as the query string instead); the answer's JSON in *out (may be
 * NULL: not wanted). On failure prints one line (the server's MLflow
 * message, or why it could not be reached) and returns 1. Every request
 * carries mlflow's credentials when they are set: HTTP basic auth from
 * $MLFLOW_TRACKING_USERNAME and $MLFLOW_TRACKING_PASSWORD, else
 * "Authorization: Bearer $MLFLOW_TRACKING_TOKEN"; $MLFLOW_TRACKING_INSECURE_TLS
 * (true) skips TLS verification and $MLFLOW_TRACKING_SERVER_CERT_PATH names
 * the CA bundle, as for mlflow. */
int cli_call(const char *server, const char *method, const char *path, const cJSON *body,
             cJSON **out);
/* The same, but a 404 answer is not printed: returns 2, so that the caller
 * can look another way (an experiment by name, then by ID). */
int cli_lookup(const char *server, const char *method, const char *path, const cJSON *body,
               cJSON **out);
/* A search through every page: sends body (its page_token and max_results
 * are set here) until the answer has no next_page_token or limit items (0:
 * no limit) were collected; the answers' `key` arrays end up in *items, one
 * array. *more (may be NULL) tells whether the server had more past limit.
 * page is the largest page asked for; $CAPSTAN_CLI_PAGE_SIZE may ask for
 * smaller ones (the tests use it to cross page boundaries). */
int cli_call_pages(const char *server, const char *method, const char *path, cJSON *body,
                   const char *key, int page, long limit, cJSON **items, bool *more);
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
int cmd_token(int argc, char **argv);
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
