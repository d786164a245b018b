/* cmd_tracking.c - `capstan experiments` and `capstan runs`: read tracking
 * data without Python, from a tracking server's MLflow REST API when
 * --tracking-uri or $MLFLOW_TRACKING_URI names one, else straight from the
 * local store (SQLite's WAL lets this run beside a live server). Both ways
 * print the same: tables for people, --json for scripts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/json.h"
#include "cli/cli.h"
#include "store/store.h"
#include "track/filter.h"
#include "track/validate.h"

#define API "/api/2.0/mlflow/"

#define STORE_OPTS                                                                          \
    CLI_TRACKING_URI_OPT,                                                                   \
    {"--data", "CAPSTAN_DATA", false, "./capstan-data", "the server's data directory"},    \
    {"--backend-store-uri", "CAPSTAN_BACKEND_STORE_URI", false, NULL,                       \
     "metadata store (default: <data>/capstan.db)"},                                        \
    {"--json", NULL, true, NULL, "print JSON instead of a table"},                         \
    {"--help", NULL, true, NULL, "show this help"}

/* Every experiment the options select, all pages, from the store. */
static int experiments_local(struct store *st, const struct cli_opt *opts, cJSON **out)
{
    struct cap_error err = {0};
    struct filter *filter = NULL;
    if (cli_get(opts, "--filter") &&
        filter_parse(cli_get(opts, "--filter"), FILTER_TARGET_EXPERIMENTS, &filter, &err) < 0)
        return cli_fail(&err);
    struct store_query q = {.view = cli_get(opts, "--all") ? STORE_VIEW_ALL : STORE_VIEW_ACTIVE,
                            .filter = filter, .max_results = VALIDATE_MAX_RESULTS_EXPERIMENTS};
    *out = cJSON_CreateArray();
    char *token = NULL;
    int rc = 0;
    do {
        cJSON *page = NULL;
        char *next = NULL;
        q.page_token = token;
        rc = store_experiment_search(st, &q, &page, &next, &err);
        free(token);
        token = next;
        cli_append_items(*out, page);
    } while (rc == 0 && token);
    free(token);
    filter_free(filter);
    return rc < 0 ? cli_fail(&err) : 0;
}

/* The same through POST experiments/search. */
static int experiments_remote(const char *url, const struct cli_opt *opts, cJSON **out)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "view_type", cli_get(opts, "--all") ? "ALL" : "ACTIVE_ONLY");
    if (cli_get(opts, "--filter"))
        cJSON_AddStringToObject(body, "filter", cli_get(opts, "--filter"));
    int rc = cli_call_pages(url, "POST", API "experiments/search", body, "experiments", 1000, 0,
                            out, NULL);
    cJSON_Delete(body);
    return rc;
}

int cmd_experiments(int argc, char **argv)
{
    struct cli_opt opts[] = {
        STORE_OPTS,
        {"--all", NULL, true, NULL, "include deleted experiments"},
        {"--filter", NULL, false, NULL, "MLflow filter, e.g. \"name LIKE 'fraud%'\""},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cli_parse(argc, argv, 2, opts, pos, 1, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help") || npos != 1 || strcmp(pos[0], "list") != 0) {
        cli_usage("capstan experiments list [options]", opts);
        return cli_get(opts, "--help") ? 0 : 2;
    }
    struct cli_target t;
    int status = cli_target_open(opts, &t);
    if (status)
        return status;
    cJSON *list = NULL;
    status = t.url ? experiments_remote(t.url, opts, &list) : experiments_local(t.st, opts, &list);
    if (status == 0 && cli_get(opts, "--json")) {
        cli_print_json(list);
    } else if (status == 0) {
        printf("%-6s %-40s %-8s %-19s %s\n", "ID", "NAME", "STAGE", "CREATED", "ARTIFACTS");
        const cJSON *e;
        cJSON_ArrayForEach(e, list)
        {
            char tm[32];
            cli_time(e, "creation_time", tm, sizeof tm);
            printf("%-6s %-40s %-8s %-19s %s\n", cli_str(e, "experiment_id"), cli_str(e, "name"),
                   cli_str(e, "lifecycle_stage"), tm, cli_str(e, "artifact_location"));
        }
    }
    cJSON_Delete(list);
    cli_target_close(&t);
    return status;
}

/* One experiment by name, else by ID, as the store or the server has it.
 * 0, or 1 when it was not found or the server failed (printed). */
static int experiment_lookup(const struct cli_target *t, const char *tok, cJSON **exp)
{
    bool is_id = validate_experiment_id(tok, NULL) == 0;
    int rc;
    if (!t->url) {
        struct cap_error err = {0};
        rc = store_experiment_get_by_name(t->st, tok, exp, &err);
        if (rc < 0 && is_id)
            rc = store_experiment_get(t->st, tok, exp, &err);
        rc = rc < 0 ? 2 : 0;
    } else {
        cJSON *q = cJSON_CreateObject(), *res = NULL;
        cJSON_AddStringToObject(q, "experiment_name", tok);
        rc = cli_lookup(t->url, "GET", API "experiments/get-by-name", q, &res);
        cJSON_Delete(q);
        if (rc == 2 && is_id) {
            q = cJSON_CreateObject();
            cJSON_AddStringToObject(q, "experiment_id", tok);
            rc = cli_lookup(t->url, "GET", API "experiments/get", q, &res);
            cJSON_Delete(q);
        }
        if (rc == 0 && !(*exp = cJSON_DetachItemFromObjectCaseSensitive(res, "experiment")))
            rc = 2;
        cJSON_Delete(res);
    }
    if (rc == 2)
        fprintf(stderr, "capstan: No experiment named or numbered '%s'\n", tok);
    return rc ? 1 : 0;
}

/* Experiment names or IDs, comma-separated, to IDs; 1 when one is unknown. */
static int resolve_experiments(const struct cli_target *t, const char *spec, char ***ids,
                               size_t *n)
{
    *ids = NULL;
    *n = 0;
    char *copy = cap_xstrdup(spec), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        cJSON *exp = NULL;
        if ((rc = experiment_lookup(t, tok, &exp)) == 0) {
            *ids = cap_xrealloc(*ids, (*n + 1) * sizeof **ids);
            (*ids)[(*n)++] = cap_xstrdup(cli_str(exp, "experiment_id"));
        }
        cJSON_Delete(exp);
    }
    free(copy);
    return rc;
}

static void print_kv_section(const char *title, const cJSON *list, bool metric)
{
    if (!cJSON_GetArraySize(list))
        return;
    printf("\n%s:\n", title);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, list)
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(kv, "value");
        if (metric && cJSON_IsNumber(v))
            printf("  %-32s %.10g (step %g)\n", cli_str(kv, "key"), v->valuedouble,
                   cJSON_GetObjectItemCaseSensitive(kv, "step")
                       ? cJSON_GetObjectItemCaseSensitive(kv, "step")->valuedouble
                       : 0.0);
        else
            printf("  %-32s %s\n", cli_str(kv, "key"), cJSON_IsString(v) ? v->valuestring : "");
    }
}

static void show_run(const cJSON *run)
{
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(run, "info");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(run, "data");
    char st[32], en[32];
    cli_time(info, "start_time", st, sizeof st);
    cli_time(info, "end_time", en, sizeof en);
    printf("run        %s\nname       %s\nexperiment %s\nstatus     %s (%s)\nuser       %s\n"
           "started    %s\nended      %s\nartifacts  %s\n",
           cli_str(info, "run_id"), cli_str(info, "run_name"), cli_str(info, "experiment_id"),
           cli_str(info, "status"), cli_str(info, "lifecycle_stage"), cli_str(info, "user_id"), st,
           en, cli_str(info, "artifact_uri"));
    print_kv_section("params", cJSON_GetObjectItemCaseSensitive(data, "params"), false);
    print_kv_section("metrics", cJSON_GetObjectItemCaseSensitive(data, "metrics"), true);
    print_kv_section("tags", cJSON_GetObjectItemCaseSensitive(data, "tags"), false);
    const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(run, "inputs"), "dataset_inputs");
    if (cJSON_GetArraySize(inputs)) {
        printf("\ndatasets:\n");
        const cJSON *in;
        cJSON_ArrayForEach(in, inputs)
        {
            const cJSON *ds = cJSON_GetObjectItemCaseSensitive(in, "dataset");
            printf("  %-24s digest %s  source %s\n", cli_str(ds, "name"), cli_str(ds, "digest"),
                   cli_str(ds, "source"));
        }
    }
}

static int runs_show(const struct cli_target *t, const char *run_id, bool json)
{
    cJSON *run = NULL;
    if (t->url) {
        cJSON *q = cJSON_CreateObject(), *res = NULL;
        cJSON_AddStringToObject(q, "run_id", run_id);
        int rc = cli_call(t->url, "GET", API "runs/get", q, &res);
        cJSON_Delete(q);
        run = rc ? NULL : cJSON_DetachItemFromObjectCaseSensitive(res, "run");
        cJSON_Delete(res);
        if (!run)
            return 1;
    } else {
        struct cap_error err = {0};
        if (store_run_get(t->st, run_id, &run, &err) < 0)
            return cli_fail(&err);
    }
    if (json)
        cli_print_json(run);
    else
        show_run(run);
    cJSON_Delete(run);
    return 0;
}

static const char *metric_of(const cJSON *run, const char *key, char *buf, size_t n)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(run, "data"), "metrics"))
    {
        if (strcmp(cli_str(m, "key"), key) == 0) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "value");
            if (cJSON_IsNumber(v))
                snprintf(buf, n, "%.6g", v->valuedouble);
            else
                snprintf(buf, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
            return buf;
        }
    }
    return "-";
}

/* One search: the first max runs of the experiments ids that the options
 * select; *more when there are more. */
static int search_local(struct store *st, const struct cli_opt *opts, char **ids, size_t nids,
                        const struct order_key *order, long max, cJSON **list, bool *more)
{
    struct cap_error err = {0};
    struct filter *filter = NULL;
    char *token = NULL;
    if (cli_get(opts, "--filter") &&
        filter_parse(cli_get(opts, "--filter"), FILTER_TARGET_RUNS, &filter, &err) < 0)
        return cli_fail(&err);
    struct store_run_query rq = {
        .experiment_ids = (const char *const *)ids,
        .nexperiments = nids,
        .q = {.view = STORE_VIEW_ACTIVE, .filter = filter, .order = order,
              .norder = order ? 1 : 0, .max_results = (int)max},
    };
    int rc = store_run_search(st, &rq, list, &token, &err);
    *more = token != NULL;
    free(token);
    filter_free(filter);
    return rc < 0 ? cli_fail(&err) : 0;
}

/* The same through POST runs/search, page after page up to max. */
static int search_remote(const char *url, const struct cli_opt *opts, char **ids, size_t nids,
                         long max, cJSON **list, bool *more)
{
    cJSON *body = cJSON_CreateObject();
    cJSON *idv = cJSON_AddArrayToObject(body, "experiment_ids");
    for (size_t i = 0; i < nids; i++)
        cJSON_AddItemToArray(idv, cJSON_CreateString(ids[i]));
    if (cli_get(opts, "--filter"))
        cJSON_AddStringToObject(body, "filter", cli_get(opts, "--filter"));
    if (cli_get(opts, "--order-by"))
        cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "order_by"),
                             cJSON_CreateString(cli_get(opts, "--order-by")));
    cJSON_AddStringToObject(body, "run_view_type", "ACTIVE_ONLY");
    int rc = cli_call_pages(url, "POST", API "runs/search", body, "runs",
                            VALIDATE_MAX_RESULTS_RUNS, max, list, more);
    cJSON_Delete(body);
    return rc;
}

static void print_runs(const cJSON *list, const char *mkey, bool more)
{
    printf("%-32s %-24s %-9s %-19s%s%s\n", "RUN ID", "NAME", "STATUS", "STARTED",
           mkey ? " " : "", mkey ? mkey : "");
    const cJSON *r;
    cJSON_ArrayForEach(r, list)
    {
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(r, "info");
        char t[32], mv[64];
        cli_time(info, "start_time", t, sizeof t);
        printf("%-32s %-24s %-9s %-19s%s%s\n", cli_str(info, "run_id"), cli_str(info, "run_name"),
               cli_str(info, "status"), t, mkey ? " " : "",
               mkey ? metric_of(r, mkey, mv, sizeof mv) : "");
    }
    if (more)
        printf("(more runs: raise --max-results)\n");
}

static int runs_search(const struct cli_target *t, const struct cli_opt *opts)
{
    struct cap_error err = {0};
    const char *exp = cli_get(opts, "--experiment");
    char **ids = NULL;
    size_t nids = 0;
    struct order_key order = {0};
    bool have_order = false, more = false;
    cJSON *list = NULL;
    int status = 1;
    /* parsed here both ways: the table shows the metric it orders by */
    if (cli_get(opts, "--order-by")) {
        if (order_key_parse(cli_get(opts, "--order-by"), FILTER_TARGET_RUNS, &order, &err) < 0)
            return cli_fail(&err);
        have_order = true;
    }
    char *end;
    long max = strtol(cli_get(opts, "--max-results"), &end, 10);
    if (*end || max <= 0 || max > VALIDATE_MAX_RESULTS_RUNS) {
        cap_err(&err, CAP_EINVAL, "--max-results must be a number from 1 to %d",
                VALIDATE_MAX_RESULTS_RUNS);
        status = cli_fail(&err);
        goto done;
    }
    if (resolve_experiments(t, exp ? exp : "0", &ids, &nids))
        goto done;
    status = t->url ? search_remote(t->url, opts, ids, nids, max, &list, &more)
                    : search_local(t->st, opts, ids, nids, have_order ? &order : NULL, max, &list,
                                   &more);
    if (status == 0 && cli_get(opts, "--json"))
        cli_print_json(list);
    else if (status == 0)
        print_runs(list, have_order && order.entity == FILTER_METRIC ? order.key : NULL, more);
done:
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    cJSON_Delete(list);
    if (have_order)
        order_key_clear(&order);
    return status;
}

int cmd_runs(int argc, char **argv)
{
    struct cli_opt opts[] = {
        STORE_OPTS,
        {"--experiment", NULL, false, NULL, "experiment names or IDs, comma-separated (default: 0)"},
        {"--filter", NULL, false, NULL, "MLflow filter, e.g. \"metrics.acc > 0.9\""},
        {"--order-by", NULL, false, NULL, "e.g. \"metrics.acc DESC\""},
        {"--max-results", NULL, false, "100", "how many runs"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[2];
    int npos;
    if (cli_parse(argc, argv, 2, opts, pos, 2, &npos) < 0)
        return 2;
    bool search = npos == 1 && strcmp(pos[0], "search") == 0;
    bool show = npos == 2 && strcmp(pos[0], "show") == 0;
    if (cli_get(opts, "--help") || (!search && !show)) {
        cli_usage("capstan runs search [--experiment NAME] [--filter F] [--order-by O] [--json]\n"
                  "       capstan runs show RUN_ID [--json]",
                  opts);
        return cli_get(opts, "--help") ? 0 : 2;
    }
    struct cli_target t;
    int rc = cli_target_open(opts, &t);
    if (rc)
        return rc;
    rc = show ? runs_show(&t, pos[1], cli_get(opts, "--json") != NULL) : runs_search(&t, opts);
    cli_target_close(&t);
    return rc;
}
