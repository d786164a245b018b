/* cmd_pipeline_schedule.c - `capstan pipeline schedule ...`: pipeline
 * schedules, through a running server's /api/2.0/capstan/pipelines/schedules
 * (the server runs them), and `next`, which computes fire times here:
 *   add NAME --repo DIR (--cron EXPR | --on-alert RULE | --on-dataset NAME)
 *       [--timezone TZ] [--catch-up skip|latest|all] [--overlap forbid|allow|replace|queue]
 *       [--start ISO]
 *   ls | pause NAME | resume NAME | rm NAME | trigger NAME | runs NAME
 *   next --cron EXPR [--timezone TZ] [--after ISO] [--count N]   (JSON)
 * argv is main's: argv[1] "pipeline", argv[2] "schedule", argv[3] the verb.
 * Exit 0 on success, 1 when the server refused (its message), 2 on bad usage. */
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "cli/cli.h"
#include "pipeline/pipeline.h"

#define API "/api/2.0/capstan/pipelines/schedules"
#define SYNOPSIS                                                                             \
    "capstan pipeline schedule add NAME --repo DIR (--cron EXPR | --on-alert RULE | "        \
    "--on-dataset NAME) [--timezone TZ] [--catch-up skip|latest|all] "                       \
    "[--overlap forbid|allow|replace|queue] [--start ISO] | ls | pause NAME | resume NAME | " \
    "rm NAME | trigger NAME | runs NAME | next --cron EXPR [--timezone TZ] [--after ISO] "    \
    "[--count N]"

static void print_schedule(const cJSON *s)
{
    const cJSON *t = cJSON_GetObjectItem(s, "trigger");
    char when[300];
    if (strcmp(cli_str(t, "kind"), "cron") == 0)
        snprintf(when, sizeof when, "cron \"%s\" %s", cli_str(s, "cron"), cli_str(s, "timezone"));
    else
        snprintf(when, sizeof when, "on %s %s", cli_str(t, "kind"), cli_str(t, "filter"));
    char last[32];
    cli_time(s, "last_tick", last, sizeof last);
    printf("%-24s %-7s %s  catch-up %s, overlap %s, last tick %s  %s\n", cli_str(s, "name"),
           cJSON_IsTrue(cJSON_GetObjectItem(s, "paused")) ? "paused" : "active", when,
           cli_str(s, "catch_up"), cli_str(s, "overlap"), last, cli_str(s, "repo"));
}

static void print_runs(const cJSON *runs)
{
    printf("%-6s %-19s %-9s %-10s %-6s %s\n", "ID", "TICK (UTC)", "CAUSE", "STATE", "EXIT",
           "REASON");
    const cJSON *r;
    cJSON_ArrayForEach(r, runs)
    {
        char tick[32], code[16] = "-";
        cli_time(r, "tick", tick, sizeof tick);
        const cJSON *x = cJSON_GetObjectItem(r, "exit_status");
        if (cJSON_IsNumber(x))
            snprintf(code, sizeof code, "%d", x->valueint);
        printf("%-6d %-19s %-9s %-10s %-6s %s\n", cJSON_GetObjectItem(r, "id")->valueint, tick,
               cli_str(r, "cause"), cli_str(r, "state"), code, cli_str(r, "reason"));
    }
}

/* `next`: fire times computed here, as JSON. */
static int next_times(const struct cli_opt *opts)
{
    const char *expr = cli_get(opts, "--cron"), *tzname = cli_get(opts, "--timezone");
    const char *after = cli_get(opts, "--after"), *count = cli_get(opts, "--count");
    char *end;
    long n = strtol(count, &end, 10);
    if (!expr || *end || n < 1 || n > 10000) {
        fprintf(stderr, "capstan: next needs --cron EXPR, and --count must be 1 to 10000\n");
        return 2;
    }
    struct cap_error err = {0};
    struct pipe_cron c;
    struct pipe_tz *tz = NULL;
    int64_t t = cap_now_ms();
    if (pipe_cron_parse(expr, &c, &err) < 0 || pipe_tz_load(tzname, &tz, &err) < 0 ||
        (after && pipe_iso_parse(after, &t, &err) < 0)) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        pipe_tz_free(tz);
        return 2;
    }
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(out, "cron", expr);
    cJSON_AddStringToObject(out, "timezone", tzname);
    t = t / 1000 - (t % 1000 < 0);
    int rc = 0;
    for (long i = 0; i < n && rc == 0; i++) {
        char iso[32];
        if ((rc = pipe_cron_next(&c, tz, t, &t, &err)) == 0) {
            pipe_iso_utc(t * 1000, iso);
            cJSON_AddItemToArray(arr, cJSON_CreateString(iso));
        }
    }
    cJSON_AddItemToObject(out, "next", arr);
    if (rc < 0)
        fprintf(stderr, "capstan: %s\n", err.msg);
    else
        cli_print_json(out);
    cJSON_Delete(out);
    pipe_tz_free(tz);
    return rc < 0 ? 1 : 0;
}

/* The add body from the options; 2 (printed) on a bad one. */
static int add_body(const struct cli_opt *opts, const char *name, cJSON *body)
{
    const char *repo = cli_get(opts, "--repo");
    if (!repo) {
        fprintf(stderr, "capstan: schedule add needs --repo DIR (the directory holding dvc.yaml)\n");
        return 2;
    }
    char abs[PATH_MAX];
    if (!realpath(repo, abs)) {
        fprintf(stderr, "capstan: --repo %s: no such directory\n", repo);
        return 2;
    }
    cJSON_AddStringToObject(body, "name", name);
    cJSON_AddStringToObject(body, "repo", abs);
    static const char *const map[][2] = {
        {"--cron", "cron"},         {"--on-alert", "on_alert"}, {"--on-dataset", "on_dataset"},
        {"--timezone", "timezone"}, {"--catch-up", "catch_up"}, {"--overlap", "overlap"},
        {"--start", "start"}};
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (cli_get(opts, map[i][0]))
            cJSON_AddStringToObject(body, map[i][1], cli_get(opts, map[i][0]));
    return 0;
}

/* One verb against the server; out: the answer. */
static int call(const char *server, const char *verb, const char *name,
                const struct cli_opt *opts, cJSON **out)
{
    struct cap_buf path;
    cap_buf_init(&path);
    char *ename = curl_escape(name ? name : "", 0);
    cJSON *body = cJSON_CreateObject();
    int rc = 2;
    if (strcmp(verb, "add") == 0) {
        cap_buf_puts(&path, API "/create");
        if ((rc = add_body(opts, name, body)) == 0)
            rc = cli_call(server, "POST", path.data, body, out);
    } else if (strcmp(verb, "pause") == 0 || strcmp(verb, "resume") == 0 ||
               strcmp(verb, "trigger") == 0) {
        cap_buf_printf(&path, API "/%s", verb);
        cJSON_AddStringToObject(body, "name", name);
        rc = cli_call(server, "POST", path.data, body, out);
    } else if (strcmp(verb, "rm") == 0) {
        cap_buf_printf(&path, API "/delete?name=%s", ename);
        rc = cli_call(server, "DELETE", path.data, NULL, out);
    } else if (strcmp(verb, "runs") == 0) {
        cap_buf_printf(&path, API "/runs?name=%s", ename);
        rc = cli_call(server, "GET", path.data, NULL, out);
    } else {
        fprintf(stderr, "capstan: unknown schedule command '%s'\nusage: %s\n", verb, SYNOPSIS);
    }
    curl_free(ename);
    cJSON_Delete(body);
    cap_buf_free(&path);
    return rc;
}

static void print_answer(const char *verb, const char *name, const cJSON *out)
{
    if (strcmp(verb, "runs") == 0)
        print_runs(cJSON_GetObjectItem(out, "runs"));
    else if (strcmp(verb, "trigger") == 0) {
        char tick[32];
        cli_time(cJSON_GetObjectItem(out, "run"), "tick", tick, sizeof tick);
        printf("triggered %s: run %d at %s\n", name,
               cJSON_GetObjectItem(cJSON_GetObjectItem(out, "run"), "id")->valueint, tick);
    } else if (strcmp(verb, "rm") == 0)
        printf("removed %s\n", name);
    else
        print_schedule(cJSON_GetObjectItem(out, "schedule"));
}

int cmd_pipeline_schedule(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--server", "CAPSTAN_SERVER", false, "http://127.0.0.1:5000", "the capstan server"},
        {"--repo", NULL, false, NULL, "the directory holding dvc.yaml"},
        {"--cron", NULL, false, NULL, "five-field cron expression or @daily-style preset"},
        {"--on-alert", NULL, false, NULL, "run when this alert rule fires (RULE or DEPLOYMENT/RULE)"},
        {"--on-dataset", NULL, false, NULL, "run when this dataset gets a new version"},
        {"--timezone", NULL, false, "UTC", "IANA time zone of the cron expression"},
        {"--catch-up", NULL, false, NULL, "missed ticks after a restart: skip, latest, all"},
        {"--overlap", NULL, false, NULL, "a tick while a run goes on: forbid, allow, replace, queue"},
        {"--start", NULL, false, NULL, "count cron ticks from this ISO-8601 instant"},
        {"--after", NULL, false, NULL, "next: the instant to start from (default now)"},
        {"--count", NULL, false, "1", "next: how many fire times"},
        {"--json", NULL, true, NULL, "print the API's JSON"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[2];
    int npos = 0;
    if (cli_parse(argc, argv, 3, opts, pos, 2, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help") || npos == 0) {
        cli_usage(SYNOPSIS, opts);
        return npos == 0 && !cli_get(opts, "--help") ? 2 : 0;
    }
    const char *verb = pos[0], *name = npos > 1 ? pos[1] : NULL;
    if (strcmp(verb, "next") == 0)
        return next_times(opts);
    const char *server = cli_get(opts, "--server");
    cJSON *out = NULL;
    int rc;
    if (strcmp(verb, "ls") == 0) {
        if ((rc = cli_call(server, "GET", API "/list", NULL, &out)) == 0) {
            const cJSON *s;
            if (cli_get(opts, "--json"))
                cli_print_json(out);
            else
                cJSON_ArrayForEach(s, cJSON_GetObjectItem(out, "schedules")) print_schedule(s);
        }
        cJSON_Delete(out);
        return rc;
    }
    if (!name && strcmp(verb, "add") != 0 && strcmp(verb, "pause") != 0 &&
        strcmp(verb, "resume") != 0 && strcmp(verb, "rm") != 0 && strcmp(verb, "trigger") != 0 &&
        strcmp(verb, "runs") != 0) {
        fprintf(stderr, "capstan: unknown schedule command '%s'\nusage: %s\n", verb, SYNOPSIS);
        return 2;
    }
    if (!name) {
        fprintf(stderr, "capstan: schedule %s needs a schedule NAME\n", verb);
        return 2;
    }
    if ((rc = call(server, verb, name, opts, &out)) == 0) {
        if (cli_get(opts, "--json"))
            cli_print_json(out);
        else
            print_answer(verb, name, out);
    }
    cJSON_Delete(out);
    return rc;
}
