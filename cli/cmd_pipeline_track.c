/* cmd_pipeline_track.c - a pipeline run as MLflow runs, through the
 * tracking server's REST API (the same calls the mlflow client makes): the
 * pipeline is a run, each stage a nested run (tag mlflow.parentRunId) that
 * its commands can log to (MLFLOW_RUN_ID in their environment), so a model
 * a stage logs and registers is linked to the stage's run, and through it
 * to the pipeline's, in the lineage graph. A tracking call that fails is
 * reported and the pipeline goes on: tracking never fails a run. */
#include "cli/cmd_pipeline.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "cli/cli.h"
#include "track/validate.h"

struct stage_run {
    char *run_id;
    char *artifacts;         /* "<exp>/<run>/artifacts" of its mlflow-artifacts: uri, or NULL */
    char *env[3];
};

struct cli_track {
    char *uri, *experiment_id, *parent;
    const struct pipe_spec *s;
    struct stage_run *stages;
};

static char *experiment_id(const char *uri, const char *name)
{
    cJSON *q = cJSON_CreateObject(), *res = NULL;
    struct cap_buf f;
    cap_buf_init(&f);
    cap_buf_printf(&f, "name = '%s'", name);
    cJSON_AddStringToObject(q, "filter", f.data);
    cJSON_AddNumberToObject(q, "max_results", 1);
    char *id = NULL;
    if (cli_call(uri, "POST", "/api/2.0/mlflow/experiments/search", q, &res) == 0) {
        const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "experiments"), 0);
        if (e)
            id = cap_xstrdup(cli_str(e, "experiment_id"));
    }
    cJSON_Delete(res);
    res = NULL;
    if (!id) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", name);
        if (cli_call(uri, "POST", "/api/2.0/mlflow/experiments/create", c, &res) == 0)
            id = cap_xstrdup(cli_str(res, "experiment_id"));
        cJSON_Delete(c);
        cJSON_Delete(res);
    }
    cJSON_Delete(q);
    cap_buf_free(&f);
    return id;
}

static void add_tag(cJSON *tags, const char *k, const char *v)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "key", k);
    cJSON_AddStringToObject(t, "value", v);
    cJSON_AddItemToArray(tags, t);
}

/* runs/create; the new run's id or NULL; *artifacts (may be NULL) gets
 * where the artifact proxy keeps its artifacts. */
static char *create_run(struct cli_track *t, const char *name, cJSON *tags, char **artifacts)
{
    cJSON *b = cJSON_CreateObject(), *res = NULL;
    cJSON_AddStringToObject(b, "experiment_id", t->experiment_id);
    cJSON_AddStringToObject(b, "run_name", name);
    cap_json_add_i64(b, "start_time", cap_now_ms());
    cJSON_AddItemToObject(b, "tags", tags);
    char *id = NULL;
    if (cli_call(t->uri, "POST", "/api/2.0/mlflow/runs/create", b, &res) == 0) {
        const cJSON *info = cJSON_GetObjectItem(cJSON_GetObjectItem(res, "run"), "info");
        id = cap_xstrdup(cli_str(info, "run_id"));
        const char *uri = cli_str(info, "artifact_uri");
        if (artifacts && cap_str_has_prefix(uri, "mlflow-artifacts:/"))
            *artifacts = cap_xstrdup(uri + strlen("mlflow-artifacts:/"));
    }
    cJSON_Delete(b);
    cJSON_Delete(res);
    return id && *id ? id : (free(id), NULL);
}

static void end_run(struct cli_track *t, const char *run_id, const char *status)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "run_id", run_id);
    cJSON_AddStringToObject(b, "status", status);
    cap_json_add_i64(b, "end_time", cap_now_ms());
    cli_call(t->uri, "POST", "/api/2.0/mlflow/runs/update", b, NULL);
    cJSON_Delete(b);
}

/* The names of the stages st runs after, as a JSON list: the DAG's edges,
 * drawn by the UI's pipeline page. */
static cJSON *after_names(const struct pipe_spec *s, const struct pipe_stage *st)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < st->nafter; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(s->stages[st->after[i]].name));
    return a;
}

/* The whole DAG on the pipeline run ({"stages": [{name, after}]}), so the
 * UI can draw stages that never ran (not targeted, or a run still going).
 * Past MLflow's tag value limit (8000 chars, ~150 stages) it is left out,
 * rather than fail the run's creation: the stages' own after tags remain. */
static void add_dag_tag(cJSON *tags, const struct pipe_spec *s)
{
    cJSON *dag = cJSON_CreateObject(), *stages = cJSON_AddArrayToObject(dag, "stages");
    for (size_t i = 0; i < s->n; i++) {
        cJSON *st = cJSON_CreateObject();
        cJSON_AddStringToObject(st, "name", s->stages[i].name);
        cJSON_AddItemToObject(st, "after", after_names(s, &s->stages[i]));
        cJSON_AddItemToArray(stages, st);
    }
    char *text = cJSON_PrintUnformatted(dag);
    if (strlen(text) <= VALIDATE_MAX_TAG_VALUE)
        add_tag(tags, "capstan.pipeline.dag", text);
    free(text);
    cJSON_Delete(dag);
}

int cli_track_start(const char *uri, const char *experiment, const struct pipe_spec *s,
                    struct cli_track **out, struct cap_error *err)
{
    struct cli_track *t = cap_xcalloc(1, sizeof *t);
    t->uri = cap_xstrdup(uri);
    t->s = s;
    t->stages = cap_xcalloc(s->n ? s->n : 1, sizeof *t->stages);
    t->experiment_id = experiment_id(uri, experiment);
    cJSON *tags = cJSON_CreateArray();
    add_tag(tags, "capstan.pipeline", s->file);
    add_tag(tags, "mlflow.source.name", s->file);
    add_dag_tag(tags, s);
    const char *schedule = getenv("CAPSTAN_SCHEDULE"), *tick = getenv("CAPSTAN_TICK");
    if (schedule)
        add_tag(tags, "capstan.schedule", schedule);
    if (tick)
        add_tag(tags, "capstan.tick", tick);
    const char *base = strrchr(s->root, '/');
    if (t->experiment_id)
        t->parent = create_run(t, base && base[1] ? base + 1 : s->root, tags, NULL);
    else
        cJSON_Delete(tags);
    if (!t->parent) {
        *out = NULL;
        cli_track_finish(t, false);
        return cap_err(err, CAP_EUNAVAIL, "Cannot record the pipeline run on the tracking "
                       "server %.300s (its message is above): drop --tracking-uri to run "
                       "untracked", uri);
    }
    printf("Tracking as run %s (experiment %s) on %s\n", t->parent, t->experiment_id, uri);
    *out = t;
    return 0;
}

static struct stage_run *stage_run(struct cli_track *t, const struct pipe_stage *st, size_t i)
{
    struct stage_run *r = &t->stages[i];
    if (r->run_id)
        return r;
    cJSON *tags = cJSON_CreateArray();
    add_tag(tags, "mlflow.parentRunId", t->parent);
    add_tag(tags, "capstan.stage", st->name);
    cJSON *after = after_names(t->s, st);
    char *text = cJSON_PrintUnformatted(after);
    add_tag(tags, "capstan.stage.after", text);
    free(text);
    cJSON_Delete(after);
    r->run_id = create_run(t, st->name, tags, &r->artifacts);
    return r->run_id ? r : NULL;
}

char **cli_track_env(struct cli_track *t, const struct pipe_stage *st, size_t index, size_t *n)
{
    struct stage_run *r = stage_run(t, st, index);
    *n = 0;
    if (!r)
        return NULL;
    const char *k[3] = {"MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"};
    const char *v[3] = {t->uri, r->run_id, t->experiment_id};
    for (int i = 0; i < 3; i++) {
        struct cap_buf b;
        cap_buf_init(&b);
        cap_buf_printf(&b, "%s=%s", k[i], v[i]);
        free(r->env[i]);
        r->env[i] = cap_buf_steal(&b);
    }
    *n = 3;
    return r->env;
}

/* A stage's output on disk: <root>/<wdir>/<path>. */
static void out_path(struct cap_buf *b, const struct pipe_spec *s, const struct pipe_stage *st,
                     size_t i)
{
    cap_buf_init(b);
    cap_buf_printf(b, "%s/%s/%s", s->root, st->wdir ? st->wdir : ".", st->outs[i].path);
}

/* A value as an MLflow parameter's text: strings as they are, the rest as JSON. */
static char *value_text(const cJSON *v)
{
    if (cJSON_IsString(v))
        return cap_xstrdup(v->valuestring);
    return cJSON_PrintUnformatted(v);
}

/* The lock entry's parameters, "key" (params.yaml) or "file:key". */
static void add_params(cJSON *params, const cJSON *entry)
{
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(entry, "params");
    for (const cJSON *f = files ? files->child : NULL; f; f = f->next)
        for (const cJSON *k = f->child; k; k = k->next) {
            struct cap_buf key;
            cap_buf_init(&key);
            if (strcmp(f->string, "params.yaml") == 0)
                cap_buf_printf(&key, "%s", k->string);
            else
                cap_buf_printf(&key, "%s:%s", f->string, k->string);
            char *v = value_text(k);
            cJSON *p = cJSON_CreateObject();
            cJSON_AddStringToObject(p, "key", key.data);
            cJSON_AddStringToObject(p, "value", v);
            cJSON_AddItemToArray(params, p);
            free(v);
            cap_buf_free(&key);
        }
}

/* Numbers of a metrics file, nested keys joined with '.'. */
static void add_metric_values(cJSON *metrics, const cJSON *v, const char *prefix, int depth)
{
    for (const cJSON *c = v->child; c && depth < 8; c = c->next) {
        struct cap_buf key;
        cap_buf_init(&key);
        cap_buf_printf(&key, "%s%s%s", prefix, *prefix ? "." : "", c->string ? c->string : "");
        if (cJSON_IsNumber(c) && c->string) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "key", key.data);
            cJSON_AddNumberToObject(m, "value", c->valuedouble);
            cap_json_add_i64(m, "timestamp", cap_now_ms());
            cJSON_AddNumberToObject(m, "step", 0);
            cJSON_AddItemToArray(metrics, m);
        } else if (cJSON_IsObject(c)) {
            add_metric_values(metrics, c, key.data, depth + 1);
        }
        cap_buf_free(&key);
    }
}

static void add_metrics(cJSON *metrics, const struct pipe_spec *s, const struct pipe_stage *st)
{
    for (size_t i = 0; i < st->nouts; i++) {
        if (st->outs[i].kind != PIPE_METRIC)
            continue;
        struct cap_buf p;
        out_path(&p, s, st, i);
        cJSON *v = NULL;
        struct cap_error ignored;
        if (pipe_param_read(p.data, NULL, &v, &ignored) == 0)
            add_metric_values(metrics, v, "", 0);
        cJSON_Delete(v);
        cap_buf_free(&p);
    }
}

/* The stage's dependencies as dataset inputs: name = path, digest = md5. */
static void log_inputs(struct cli_track *t, const char *run_id, const cJSON *entry)
{
    cJSON *b = cJSON_CreateObject(), *ds = cJSON_AddArrayToObject(b, "datasets");
    cJSON_AddStringToObject(b, "run_id", run_id);
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(entry, "deps"))
    {
        cJSON *in = cJSON_CreateObject(), *dataset = cJSON_AddObjectToObject(in, "dataset");
        cJSON_AddStringToObject(dataset, "name", cli_str(d, "path"));
        cJSON_AddStringToObject(dataset, "digest", cli_str(d, "md5"));
        cJSON_AddStringToObject(dataset, "source_type", "local");
        cJSON *src = cJSON_CreateObject();
        cJSON_AddStringToObject(src, "uri", cli_str(d, "path"));
        char *text = cJSON_PrintUnformatted(src);
        cJSON_AddStringToObject(dataset, "source", text);
        free(text);
        cJSON_Delete(src);
        cJSON *tags = cJSON_AddArrayToObject(in, "tags");
        add_tag(tags, "mlflow.data.context", "pipeline-dependency");
        cJSON_AddItemToArray(ds, in);
    }
    if (cJSON_GetArraySize(ds))
        cli_call(t->uri, "POST", "/api/2.0/mlflow/runs/log-inputs", b, NULL);
    cJSON_Delete(b);
}

static void log_end(struct cli_track *t, const char *run_id, const struct pipe_event *ev)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "run_id", run_id);
    cJSON *params = cJSON_AddArrayToObject(b, "params");
    cJSON *metrics = cJSON_AddArrayToObject(b, "metrics");
    cJSON *tags = cJSON_AddArrayToObject(b, "tags");
    if (ev->lock)
        add_params(params, ev->lock);
    if (ev->state == PIPE_DONE || ev->state == PIPE_CACHED || ev->state == PIPE_SKIPPED)
        add_metrics(metrics, t->s, ev->stage);
    char num[64];
    add_tag(tags, "capstan.stage.state", pipe_state_name(ev->state));
    char *cmd = ev->stage->ncmd ? value_text(cJSON_GetObjectItem(ev->lock, "cmd")) : NULL;
    add_tag(tags, "capstan.stage.cmd", cmd && strcmp(cmd, "null") ? cmd : ev->stage->cmd[0]);
    free(cmd);
    snprintf(num, sizeof num, "%.3f", ev->seconds);
    add_tag(tags, "capstan.stage.seconds", num);
    if (ev->state == PIPE_FAILED || ev->state == PIPE_CANCELLED) {
        snprintf(num, sizeof num, "%d", ev->exit_code);
        add_tag(tags, "capstan.stage.exit_code", num);
    }
    if (ev->reason)
        add_tag(tags, "capstan.stage.reason", ev->reason);
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(ev->lock, "outs");
    if (outs) { /* left out past the tag limit: it would refuse the whole batch */
        char *text = cJSON_PrintUnformatted(outs);
        if (strlen(text) <= VALIDATE_MAX_TAG_VALUE)
            add_tag(tags, "capstan.stage.outs", text);
        free(text);
    }
    cli_call(t->uri, "POST", "/api/2.0/mlflow/runs/log-batch", b, NULL);
    cJSON_Delete(b);
}

/* Appends s to b with every byte outside [A-Za-z0-9._~/-] percent-encoded. */
static void url_path(struct cap_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("._~/-", *p))
            cap_buf_printf(b, "%c", *p);
        else
            cap_buf_printf(b, "%%%02X", *p);
    }
}

/* The stage's file outputs up to TRACK_ARTIFACT_MAX bytes as the run's
 * artifacts under outputs/ (directories and larger files are named by
 * their md5 in the capstan.stage.outs tag; their bytes stay in the DVC
 * cache). */
#define TRACK_ARTIFACT_MAX (16u << 20)
static void log_outputs(struct cli_track *t, const struct stage_run *r,
                        const struct pipe_stage *st)
{
    for (size_t i = 0; r->artifacts && i < st->nouts; i++) {
        struct cap_buf file, url;
        out_path(&file, t->s, st, i);
        struct stat sb;
        FILE *f = NULL;
        if (stat(file.data, &sb) == 0 && S_ISREG(sb.st_mode) &&
            (uint64_t)sb.st_size <= TRACK_ARTIFACT_MAX)
            f = fopen(file.data, "rb");
        if (f) {
            cap_buf_init(&url);
            cap_buf_printf(&url, "/api/2.0/mlflow-artifacts/artifacts/");
            url_path(&url, r->artifacts);
            cap_buf_printf(&url, "/outputs/");
            url_path(&url, st->outs[i].path);
            cli_upload(t->uri, "PUT", url.data, f, (long long)sb.st_size, NULL);
            fclose(f);
            cap_buf_free(&url);
        }
        cap_buf_free(&file);
    }
}

void cli_track_event(struct cli_track *t, const struct pipe_event *ev)
{
    if (ev->state == PIPE_WAITING || ev->state == PIPE_RUNNING || ev->state == PIPE_RETRYING)
        return;
    struct stage_run *r = stage_run(t, ev->stage, ev->index);
    if (!r)
        return;
    log_end(t, r->run_id, ev);
    if (ev->lock)
        log_inputs(t, r->run_id, ev->lock);
    if (ev->state == PIPE_DONE || ev->state == PIPE_CACHED)
        log_outputs(t, r, ev->stage);
    end_run(t, r->run_id, ev->state == PIPE_FAILED      ? "FAILED"
                          : ev->state == PIPE_CANCELLED ? "KILLED"
                                                        : "FINISHED");
}

void cli_track_finish(struct cli_track *t, bool ok)
{
    if (t->parent)
        end_run(t, t->parent, ok ? "FINISHED" : "FAILED");
    for (size_t i = 0; i < t->s->n; i++) {
        free(t->stages[i].run_id);
        free(t->stages[i].artifacts);
        for (int k = 0; k < 3; k++)
            free(t->stages[i].env[k]);
    }
    free(t->stages);
    free(t->uri);
    free(t->experiment_id);
    free(t->parent);
    free(t);
}
