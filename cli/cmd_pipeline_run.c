/* cmd_pipeline_run.c - `capstan pipeline run` and `capstan pipeline status`.
 *   run [TARGET...] [-j N] [--force] [--dry] [--keep-going] [--no-run-cache] [--repo DIR]
 *       [--tracking-uri URL] [--experiment NAME] [--lineage-url URL] [--lineage-namespace NS]
 *   status [TARGET...] [--json] [--repo DIR]
 * run prints each stage's state as it changes (running and why, skipped,
 * restored from the run cache, done, failed, cancelled, with times) and a
 * summary; with a tracking server (--tracking-uri, CAPSTAN_TRACKING_URI or
 * MLFLOW_TRACKING_URI) the run and each stage are MLflow runs
 * (cmd_pipeline_track.c); OpenLineage events go to --lineage-url (else
 * OPENLINEAGE_URL, else the tracking server, which keeps them). status prints what `dvc status` prints.
 * Exit 0 on success, 1 when a stage failed or the run was refused, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "cli/cmd_pipeline.h"
#include "pipeline/pipeline.h"

#define RUN_SYNOPSIS                                                                       \
    "capstan pipeline run [TARGET...] [-j N] [--force] [--dry] [--keep-going] "           \
    "[--no-run-cache] [--repo DIR] [--tracking-uri URL] [--experiment NAME] "             \
    "[--lineage-url URL] [--lineage-namespace NS]"
#define STATUS_SYNOPSIS "capstan pipeline status [TARGET...] [--json] [--repo DIR]"

enum { MAX_TARGETS = 256 };

struct progress {
    double t0;
    struct cli_track *track; /* NULL: not tracked */
    struct pipe_ol_emitter *lineage; /* NULL: no lineage events */
};

static void on_event(void *ctx, const struct pipe_event *ev)
{
    struct progress *p = ctx;
    const char *name = ev->stage->name;
    double at = cap_mono_s() - p->t0;
    switch (ev->state) {
    case PIPE_RUNNING:
        printf("[%7.2fs] Running stage '%s'%s%s%s:\n", at, name,
               ev->reason ? " (" : "", ev->reason ? ev->reason : "", ev->reason ? ")" : "");
        for (size_t i = 0; i < ev->stage->ncmd; i++)
            printf("> %s\n", ev->stage->cmd[i]);
        break;
    case PIPE_RETRYING:
        printf("[%7.2fs] Stage '%s' failed (%s), retrying (attempt %d of %d)\n", at, name,
               ev->reason, ev->attempt + 1, ev->stage->retries + 1);
        break;
    case PIPE_SKIPPED:
        printf("[%7.2fs] Stage '%s' %s, skipping\n", at, name,
               ev->stage->frozen ? "is frozen" : "didn't change");
        break;
    case PIPE_CACHED:
        printf("[%7.2fs] Stage '%s' is cached: outputs restored from the run cache (%.2fs)\n",
               at, name, ev->seconds);
        break;
    case PIPE_DONE:
        printf("[%7.2fs] Stage '%s' %s in %.2fs\n", at, name, ev->lock ? "done" : "would run",
               ev->seconds);
        break;
    case PIPE_FAILED:
        printf("[%7.2fs] Stage '%s' failed after %.2fs: %s\n", at, name, ev->seconds,
               ev->reason ? ev->reason : "");
        break;
    case PIPE_CANCELLED:
        printf("[%7.2fs] Stage '%s' cancelled: %s\n", at, name, ev->reason ? ev->reason : "");
        break;
    case PIPE_WAITING:
        break;
    }
    fflush(stdout);
    if (p->track)
        cli_track_event(p->track, ev);
    if (p->lineage)
        pipe_ol_emitter_event(p->lineage, ev);
}

static char **stage_env(void *ctx, const struct pipe_stage *st, size_t index, size_t *n)
{
    struct progress *p = ctx;
    return p->track ? cli_track_env(p->track, st, index, n) : (*n = 0, NULL);
}

static int load(const char *repo, struct pipe_spec *s)
{
    struct cap_error err = {0};
    if (pipe_spec_load(repo, s, &err) < 0)
        return cli_fail(&err);
    return 0;
}

static int parse_jobs(const char *v, int *jobs)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 4096) {
        fprintf(stderr, "capstan: -j '%s' is not a number of stages at once, expected 1 to "
                        "4096\n", v);
        return -1;
    }
    *jobs = (int)n;
    return 0;
}

static int run(const struct pipe_spec *s, const struct cli_opt *opts, const char **pos, int npos)
{
    struct pipe_run_opts o = {.targets = pos, .ntargets = (size_t)npos,
                              .force = cli_get(opts, "--force") != NULL,
                              .dry = cli_get(opts, "--dry") != NULL,
                              .keep_going = cli_get(opts, "--keep-going") != NULL,
                              .no_run_cache = cli_get(opts, "--no-run-cache") != NULL,
                              .on_event = on_event, .stage_env = stage_env};
    if (cli_get(opts, "-j") && parse_jobs(cli_get(opts, "-j"), &o.jobs) < 0)
        return 2;
    struct progress p = {.t0 = cap_mono_s()};
    o.ctx = &p;
    const char *uri = cli_get(opts, "--tracking-uri");
    if (!uri || !*uri)
        uri = getenv("MLFLOW_TRACKING_URI");
    struct cap_error err = {0};
    if (uri && *uri && !o.dry &&
        cli_track_start(uri, cli_get(opts, "--experiment"), s, &p.track, &err) < 0)
        return cli_fail(&err);
    const char *lineage = cli_get(opts, "--lineage-url");
    if (!lineage || !*lineage)
        lineage = getenv("OPENLINEAGE_URL");
    if ((!lineage || !*lineage) && p.track)
        lineage = uri;
    int64_t tick = 0;
    struct cap_error ignored;
    if (getenv("CAPSTAN_TICK"))
        pipe_iso_parse(getenv("CAPSTAN_TICK"), &tick, &ignored);
    if (lineage && *lineage && !o.dry)
        p.lineage = pipe_ol_emitter_new(lineage, cli_get(opts, "--lineage-namespace"), s, tick);
    struct pipe_run_result res;
    int rc = pipe_run(s, &o, &res, &err);
    if (p.lineage)
        pipe_ol_emitter_end(p.lineage, rc == 0, rc < 0 ? err.msg : NULL);
    if (p.track)
        cli_track_finish(p.track, rc == 0);
    printf("%zu ran, %zu skipped, %zu restored from the run cache, %zu failed, %zu cancelled "
           "in %.2fs\n", res.ran, res.skipped, res.cached, res.failed, res.cancelled,
           cap_mono_s() - p.t0);
    return rc < 0 ? cli_fail(&err) : 0;
}

static void print_status(const cJSON *st)
{
    if (!st->child) {
        printf("Data and pipelines are up to date.\n");
        return;
    }
    for (const cJSON *s = st->child; s; s = s->next) {
        printf("%s:\n", s->string);
        const cJSON *r;
        cJSON_ArrayForEach(r, s)
        {
            if (cJSON_IsString(r)) {
                printf("\t%s\n", r->valuestring);
                continue;
            }
            printf("\t%s:\n", r->child->string);
            for (const cJSON *it = r->child->child; it; it = it->next) {
                if (cJSON_IsString(it)) {
                    printf("\t\t%-20s%s\n", it->valuestring, it->string);
                    continue;
                }
                for (const cJSON *k = it->child; k; k = k->next)
                    printf("\t\t%-20s%s:%s\n", k->valuestring, it->string, k->string);
            }
        }
    }
}

int cmd_pipeline_run(int argc, char **argv)
{
    bool is_run = strcmp(argv[2], "run") == 0;
    struct cli_opt opts[] = {
        {"--repo", NULL, false, ".", "the directory holding dvc.yaml"},
        {"-j", NULL, false, NULL, "run: stages at once (default: the CPUs)"},
        {"--force", NULL, true, NULL, "run: run the stages even when up to date"},
        {"--dry", NULL, true, NULL, "run: say what would run, run nothing"},
        {"--keep-going", NULL, true, NULL, "run: a failure stops only what depends on it"},
        {"--no-run-cache", NULL, true, NULL, "run: never restore outputs of earlier runs"},
        {"--tracking-uri", "CAPSTAN_TRACKING_URI", false, NULL,
         "run: record the run on this tracking server (else MLFLOW_TRACKING_URI)"},
        {"--experiment", NULL, false, "pipelines", "run: the experiment of the tracked run"},
        {"--lineage-url", "CAPSTAN_LINEAGE_URL", false, NULL,
         "run: send OpenLineage events to URL/api/v1/lineage (else OPENLINEAGE_URL, else the "
         "tracking server)"},
        {"--lineage-namespace", NULL, false, "capstan", "run: the jobs' OpenLineage namespace"},
        {"--json", NULL, true, NULL, "status: print dvc status --json's JSON"},
        {NULL}};
    const char *pos[MAX_TARGETS];
    int npos;
    int r = cli_parse_sub(argc, argv, argv[2], is_run ? RUN_SYNOPSIS : STATUS_SYNOPSIS, opts,
                          pos, MAX_TARGETS, &npos);
    if (r)
        return r > 0 ? 0 : 2;
    struct pipe_spec s;
    if (load(cli_get(opts, "--repo"), &s))
        return 1;
    if (is_run) {
        r = run(&s, opts, pos, npos);
    } else {
        cJSON *st = NULL;
        struct cap_error err = {0};
        r = pipe_status(&s, pos, (size_t)npos, &st, &err) < 0 ? cli_fail(&err) : 0;
        if (st && cli_get(opts, "--json"))
            cli_print_json(st);
        else if (st)
            print_status(st);
        cJSON_Delete(st);
    }
    pipe_spec_free(&s);
    return r;
}
