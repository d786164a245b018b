/* cmd_pipeline.c - `capstan pipeline ...`: DVC pipelines (dvc.yaml) run by
 * Capstan (pipeline/pipeline.h).
 *   dag [TARGET...] [--dot] [--repo DIR]   the stage graph: "name <- deps" lines, or dot
 *   show [--repo DIR] [--json]             the stages after templating and capstan.yaml
 * and, each in its own file: run, status (cmd_pipeline_run.c), export
 * (cmd_pipeline_export.c), schedule (cmd_pipeline_schedule.c).
 * --repo: the directory holding dvc.yaml (default: the current one).
 * Exit 0 on success, 1 when refused (the message says why), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipeline.h"

#define SYNOPSIS                                                                          \
    "capstan pipeline run|status|dag|show|export|schedule ... (each with --help); "       \
    "dag [TARGET...] [--dot] [--repo DIR] | show [--repo DIR] [--json]"

enum { MAX_TARGETS = 64 };

static const char *const KIND[] = {"outs", "metrics", "plots"};

static cJSON *str_array(char **v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static cJSON *outs_json(const struct pipe_stage *st)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < st->nouts; i++) {
        const struct pipe_out *o = &st->outs[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "path", o->path);
        cJSON_AddStringToObject(j, "kind", KIND[o->kind]);
        cJSON_AddBoolToObject(j, "cache", o->cache);
        cJSON_AddBoolToObject(j, "persist", o->persist);
        if (o->extra)
            cJSON_AddItemToObject(j, "extra", cJSON_Duplicate(o->extra, 1));
        cJSON_AddItemToArray(a, j);
    }
    return a;
}

static cJSON *stage_json(const struct pipe_spec *s, const struct pipe_stage *st)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "name", st->name);
    cJSON_AddItemToObject(j, "cmd", str_array(st->cmd, st->ncmd));
    cJSON_AddStringToObject(j, "wdir", st->wdir);
    cJSON_AddItemToObject(j, "deps", str_array(st->deps, st->ndeps));
    cJSON *params = cJSON_AddArrayToObject(j, "params");
    for (size_t i = 0; i < st->nparams; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "file", st->params[i].file);
        cJSON_AddItemToObject(p, "key", st->params[i].key ? cJSON_CreateString(st->params[i].key)
                                                          : cJSON_CreateNull());
        cJSON_AddItemToArray(params, p);
    }
    cJSON_AddItemToObject(j, "outs", outs_json(st));
    cJSON_AddBoolToObject(j, "frozen", st->frozen);
    cJSON_AddBoolToObject(j, "always_changed", st->always_changed);
    cJSON_AddItemToObject(j, "desc", st->desc ? cJSON_CreateString(st->desc) : cJSON_CreateNull());
    cJSON_AddNumberToObject(j, "retries", st->retries);
    cJSON_AddNumberToObject(j, "backoff", st->backoff_s);
    cJSON_AddNumberToObject(j, "timeout", st->timeout_s);
    cJSON_AddItemToObject(j, "env", str_array(st->env, st->nenv));
    cJSON_AddItemToObject(j, "cpu", st->cpu ? cJSON_CreateString(st->cpu) : cJSON_CreateNull());
    cJSON_AddItemToObject(j, "memory",
                          st->memory ? cJSON_CreateString(st->memory) : cJSON_CreateNull());
    cJSON *after = cJSON_AddArrayToObject(j, "after");
    for (size_t i = 0; i < st->nafter; i++)
        cJSON_AddItemToArray(after, cJSON_CreateString(s->stages[st->after[i]].name));
    return j;
}

static void print_list(const char *label, char **v, size_t n)
{
    if (!n)
        return;
    printf("  %s:", label);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? ", " : " ", v[i]);
    putchar('\n');
}

static void print_stage(const struct pipe_spec *s, const struct pipe_stage *st)
{
    printf("%s%s%s\n", st->name, st->frozen ? " (frozen)" : "",
           st->always_changed ? " (always changed)" : "");
    if (st->desc)
        printf("  desc: %s\n", st->desc);
    for (size_t i = 0; i < st->ncmd; i++)
        printf("  cmd: %s\n", st->cmd[i]);
    if (strcmp(st->wdir, "."))
        printf("  wdir: %s\n", st->wdir);
    print_list("deps", st->deps, st->ndeps);
    for (size_t i = 0; i < st->nparams; i++)
        printf("  param: %s%s%s\n", st->params[i].file, st->params[i].key ? ":" : " (all)",
               st->params[i].key ? st->params[i].key : "");
    for (size_t i = 0; i < st->nouts; i++)
        printf("  %s: %s%s%s\n", KIND[st->outs[i].kind], st->outs[i].path,
               st->outs[i].cache ? "" : " (cache: false)",
               st->outs[i].persist ? " (persist)" : "");
    printf("  retries: %d, backoff: %gs, timeout: %s", st->retries, st->backoff_s,
           st->timeout_s > 0 ? "" : "none\n");
    if (st->timeout_s > 0)
        printf("%gs\n", st->timeout_s);
    print_list("env", st->env, st->nenv);
    if (st->cpu || st->memory)
        printf("  resources: cpu %s, memory %s\n", st->cpu ? st->cpu : "-",
               st->memory ? st->memory : "-");
    if (st->nafter) {
        printf("  after:");
        for (size_t i = 0; i < st->nafter; i++)
            printf("%s%s", i ? ", " : " ", s->stages[st->after[i]].name);
        putchar('\n');
    }
}

static int show(const struct pipe_spec *s, bool json)
{
    if (!json) {
        for (size_t i = 0; i < s->n; i++)
            print_stage(s, &s->stages[i]);
        return 0;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "root", s->root);
    cJSON_AddStringToObject(j, "file", s->file);
    cJSON *stages = cJSON_AddArrayToObject(j, "stages");
    for (size_t i = 0; i < s->n; i++)
        cJSON_AddItemToArray(stages, stage_json(s, &s->stages[i]));
    cJSON_AddItemToObject(j, "top", s->top ? cJSON_Duplicate(s->top, 1) : cJSON_CreateObject());
    cli_print_json(j);
    cJSON_Delete(j);
    return 0;
}

int cmd_pipeline(int argc, char **argv)
{
    if (argc > 2 && (!strcmp(argv[2], "run") || !strcmp(argv[2], "status")))
        return cmd_pipeline_run(argc, argv);
    if (argc > 2 && !strcmp(argv[2], "export"))
        return cmd_pipeline_export(argc, argv);
    if (argc > 2 && !strcmp(argv[2], "schedule"))
        return cmd_pipeline_schedule(argc, argv);
    struct cli_opt opts[] = {
        {"--repo", NULL, false, ".", "the directory holding dvc.yaml"},
        {"--dot", NULL, true, NULL, "dag: print Graphviz dot"},
        {"--json", NULL, true, NULL, "show: print JSON"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL}};
    const char *pos[MAX_TARGETS + 1];
    int npos;
    if (cli_parse(argc, argv, 2, opts, pos, MAX_TARGETS + 1, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help") || npos == 0) {
        cli_usage(SYNOPSIS, opts);
        return npos == 0 && !cli_get(opts, "--help") ? 2 : 0;
    }
    bool dag = !strcmp(pos[0], "dag");
    if ((!dag && strcmp(pos[0], "show")) || (!dag && npos > 1)) {
        fprintf(stderr, "capstan: %s '%s', expected: %s\n",
                dag || !strcmp(pos[0], "show") ? "unexpected argument after" : "unknown sub-command",
                pos[0], SYNOPSIS);
        return 2;
    }
    struct pipe_spec s;
    struct cap_error err = {0};
    if (pipe_spec_load(cli_get(opts, "--repo"), &s, &err) < 0)
        return cli_fail(&err);
    int rc = 0;
    if (dag) {
        char *text;
        if (pipe_dag_format(&s, pos + 1, (size_t)npos - 1, cli_get(opts, "--dot") != NULL,
                            &text, &err) < 0) {
            rc = cli_fail(&err);
        } else {
            fputs(text, stdout);
            free(text);
        }
    } else {
        rc = show(&s, cli_get(opts, "--json") != NULL);
    }
    pipe_spec_free(&s);
    return rc;
}
