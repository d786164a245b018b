/* cmd_tracking.c - `capstan experiments` and `capstan runs`: read tracking
 * data without Python, straight from the store (SQLite's WAL lets this run
 * beside a live server). Tables for people, --json for scripts. */
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

#define STORE_OPTS                                                                          \
    {"--data", "CAPSTAN_DATA", false, "./capstan-data", "the server's data directory"},    \
    {"--backend-store-uri", "CAPSTAN_BACKEND_STORE_URI", false, NULL,                       \
     "metadata store (default: <data>/capstan.db)"},                                        \
    {"--json", NULL, true, NULL, "print JSON instead of a table"},                         \
    {"--help", NULL, true, NULL, "show this help"}

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
    struct store *st;
    if (cli_open_store(opts, &st) < 0)
        return 1;
    struct cap_error err = {0};
    struct filter *filter = NULL;
    int status = 1;
    cJSON *list = NULL;
    char *token = NULL;
    if (cli_get(opts, "--filter") &&
        filter_parse(cli_get(opts, "--filter"), FILTER_TARGET_EXPERIMENTS, &filter, &err) < 0) {
        status = cli_fail(&err);
        goto done;
    }
    struct store_query q = {.view = cli_get(opts, "--all") ? STORE_VIEW_ALL : STORE_VIEW_ACTIVE,
                            .filter = filter, .max_results = 50000};
    if (store_experiment_search(st, &q, &list, &token, &err) < 0) {
        status = cli_fail(&err);
        goto done;
    }
    if (cli_get(opts, "--json")) {
        cli_print_json(list);
    } else {
        printf("%-6s %-40s %-8s %-19s %s\n", "ID", "NAME", "STAGE", "CREATED", "ARTIFACTS");
        const cJSON *e;
        cJSON_ArrayForEach(e, list)
        {
            char t[32];
            cli_time(e, "creation_time", t, sizeof t);
            printf("%-6s %-40s %-8s %-19s %s\n", cli_str(e, "experiment_id"), cli_str(e, "name"),
                   cli_str(e, "lifecycle_stage"), t, cli_str(e, "artifact_location"));
        }
    }
    status = 0;
done:
    free(token);
    cJSON_Delete(list);
    filter_free(filter);
    store_close(st);
    return status;
}

/* Experiment names or IDs, comma-separated, to IDs. */
static int resolve_experiments(struct store *st, const char *spec, char ***ids, size_t *n,
                               struct cap_error *err)
{
    *ids = NULL;
    *n = 0;
    char *copy = cap_xstrdup(spec), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        cJSON *exp = NULL;
        int rc = store_experiment_get_by_name(st, tok, &exp, err);
        if (rc < 0 && validate_experiment_id(tok, NULL) == 0)
            rc = store_experiment_get(st, tok, &exp, err);
        if (rc < 0) {
            cap_err(err, CAP_ENOTFOUND, "No experiment named or numbered '%s'", tok);
            free(copy);
            return rc;
        }
        *ids = cap_xrealloc(*ids, (*n + 1) * sizeof **ids);
        (*ids)[(*n)++] = cap_xstrdup(cli_str(exp, "experiment_id"));
        cJSON_Delete(exp);
    }
    free(copy);
    return 0;
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

static int runs_show(struct store *st, const char *run_id, bool json)
{
    struct cap_error err = {0};
    cJSON *run = NULL;
    if (store_run_get(st, run_id, &run, &err) < 0)
        return cli_fail(&err);
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

static int runs_search(struct store *st, const struct cli_opt *opts)
{
    struct cap_error err = {0};
    const char *exp = cli_get(opts, "--experiment");
    char **ids = NULL;
    size_t nids = 0;
    struct filter *filter = NULL;
    struct order_key order = {0};
    bool have_order = false;
    cJSON *list = NULL;
    char *token = NULL;
    int status = 1;
    if (resolve_experiments(st, exp ? exp : "0", &ids, &nids, &err) < 0)
        goto fail;
    if (cli_get(opts, "--filter") &&
        filter_parse(cli_get(opts, "--filter"), FILTER_TARGET_RUNS, &filter, &err) < 0)
        goto fail;
    if (cli_get(opts, "--order-by")) {
        if (order_key_parse(cli_get(opts, "--order-by"), FILTER_TARGET_RUNS, &order, &err) < 0)
            goto fail;
        have_order = true;
    }
    char *end;
    long max = strtol(cli_get(opts, "--max-results"), &end, 10);
    if (*end || max <= 0 || max > VALIDATE_MAX_RESULTS_RUNS) {
        cap_err(&err, CAP_EINVAL, "--max-results must be a number from 1 to %d",
                VALIDATE_MAX_RESULTS_RUNS);
        goto fail;
    }
    struct store_run_query rq = {
        .experiment_ids = (const char *const *)ids,
        .nexperiments = nids,
        .q = {.view = STORE_VIEW_ACTIVE, .filter = filter, .order = have_order ? &order : NULL,
              .norder = have_order ? 1 : 0, .max_results = (int)max},
    };
    if (store_run_search(st, &rq, &list, &token, &err) < 0)
        goto fail;
    if (cli_get(opts, "--json")) {
        cli_print_json(list);
    } else {
        const char *mkey = have_order && order.entity == FILTER_METRIC ? order.key : NULL;
        printf("%-32s %-24s %-9s %-19s%s%s\n", "RUN ID", "NAME", "STATUS", "STARTED",
               mkey ? " " : "", mkey ? mkey : "");
        const cJSON *r;
        cJSON_ArrayForEach(r, list)
        {
            const cJSON *info = cJSON_GetObjectItemCaseSensitive(r, "info");
            char t[32], mv[64];
            cli_time(info, "start_time", t, sizeof t);
            printf("%-32s %-24s %-9s %-19s%s%s\n", cli_str(info, "run_id"),
                   cli_str(info, "run_name"), cli_str(info, "status"), t, mkey ? " " : "",
                   mkey ? metric_of(r, mkey, mv, sizeof mv) : "");
        }
        if (token)
            printf("(more runs: raise --max-results)\n");
    }
    status = 0;
    goto done;
fail:
    cli_fail(&err);
done:
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    free(token);
    cJSON_Delete(list);
    filter_free(filter);
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
    struct store *st;
    if (cli_open_store(opts, &st) < 0)
        return 1;
    int rc = show ? runs_show(st, pos[1], cli_get(opts, "--json") != NULL) : runs_search(st, opts);
    store_close(st);
    return rc;
}
