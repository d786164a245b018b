/* cmd_pipeline_export.c - `capstan pipeline export --format argo`: the
 * pipeline in dvc.yaml as an Argo Workflows Workflow, or with --cron a
 * CronWorkflow (pipeline/argo.c), on stdout or into -o FILE (written whole
 * or not at all). Exit 0 on success, 1 when refused, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/data.h"
#include "pipeline/pipeline.h"

#define SYNOPSIS                                                                          \
    "capstan pipeline export --format argo [--image IMG] [--repo DIR] [--name NAME] "    \
    "[--workdir DIR] [--cron EXPR --timezone TZ --overlap forbid|allow|replace "          \
    "--starting-deadline S] [--artifact-prefix P] [-o FILE]"

static int deadline(const char *s, int64_t *out)
{
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (s && (*s == '\0' || *end != '\0' || v < 0 || v > 86400 * 366)) {
        fprintf(stderr, "capstan: --starting-deadline '%s' is not a number of seconds "
                "(0 to 31622400)\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int write_out(const char *file, const char *yaml)
{
    if (!file || strcmp(file, "-") == 0) {
        fputs(yaml, stdout);
        return 0;
    }
    struct cap_error err = {0};
    return data_write_file(file, yaml, strlen(yaml), true, &err) < 0 ? cli_fail(&err) : 0;
}

int cmd_pipeline_export(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--format", NULL, false, "argo", "the export's format: argo"},
        {"--image", "CAPSTAN_PIPELINE_IMAGE", false, NULL, "the stages' container image"},
        {"--repo", NULL, false, ".", "the directory holding dvc.yaml"},
        {"--name", NULL, false, NULL, "the pipeline's name (default: --repo's directory name)"},
        {"--workdir", NULL, false, "/repo", "where the dvc.yaml directory is in the image"},
        {"--cron", NULL, false, NULL, "a schedule: a CronWorkflow (';' between several)"},
        {"--timezone", NULL, false, NULL, "the schedule's IANA time zone"},
        {"--overlap", NULL, false, NULL, "forbid, allow or replace a run still going"},
        {"--starting-deadline", NULL, false, NULL, "seconds a missed tick may still start"},
        {"--artifact-prefix", NULL, false, "capstan", "S3 key prefix of the artifacts"},
        {"-o", NULL, false, NULL, "the file to write (default: stdout)"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL}};
    const char *pos[1];
    int npos, rc = cli_parse_sub(argc, argv, "export", SYNOPSIS, opts, pos, 1, &npos);
    if (rc)
        return rc < 0 ? 2 : 0;
    if (npos > 0) {
        fprintf(stderr, "capstan: unexpected argument '%s', expected: %s\n", pos[0], SYNOPSIS);
        return 2;
    }
    if (strcmp(cli_get(opts, "--format"), "argo") != 0) {
        fprintf(stderr, "capstan: unknown --format '%s': supported: argo\n",
                cli_get(opts, "--format"));
        return 2;
    }
    struct pipe_export_opts o = {
        .image = cli_get(opts, "--image"), .name = cli_get(opts, "--name"),
        .workdir = cli_get(opts, "--workdir"), .artifact_prefix = cli_get(opts, "--artifact-prefix"),
        .cron = cli_get(opts, "--cron"), .timezone = cli_get(opts, "--timezone"),
        .overlap = cli_get(opts, "--overlap")};
    if (deadline(cli_get(opts, "--starting-deadline"), &o.starting_deadline_s) < 0)
        return 2;
    struct pipe_spec s;
    struct cap_error err = {0};
    if (pipe_spec_load(cli_get(opts, "--repo"), &s, &err) < 0)
        return cli_fail(&err);
    char *yaml = NULL;
    rc = pipe_export_argo(&s, &o, &yaml, &err) < 0 ? cli_fail(&err)
                                                    : write_out(cli_get(opts, "-o"), yaml);
    free(yaml);
    pipe_spec_free(&s);
    return rc;
}
