/* argo.c - a pipeline as an Argo Workflows Workflow or CronWorkflow
 * (argoproj.io/v1alpha1): the DAG as one "main" DAG template, each stage a
 * container template, outputs passed between tasks as S3 artifacts through
 * the workflow's artifactRepository. Built as a cJSON tree, written as YAML
 * by data/'s writer (data_dvc_yaml). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "data/data.h"
#include "pipeline/intern.h"
#include "pipeline/pipeline.h"

/* Kubernetes object and Argo template names: DNS-1123 labels (63). A
 * generateName prefix gets 5 random characters appended: 57 leaves room. */
#define NAME_MAX_LEN 57

/* What a stage became in the export. */
struct xstage {
    char name[NAME_MAX_LEN + 16]; /* task and template name */
    char **arts;                 /* one artifact name per out */
    char **paths;                /* each out's path from the spec's root */
};

/* A name of lowercase letters, digits and '-', neither first nor last
 * ("build@us" -> "build-us"); "x" when nothing is left. */
static void dns_name(const char *in, char *out, size_t max)
{
    size_t o = 0;
    for (const char *p = in; *p && o < max; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (ok)
            out[o++] = c;
        else if (o > 0 && out[o - 1] != '-')
            out[o++] = '-';
    }
    while (o > 0 && out[o - 1] == '-')
        o--;
    if (o == 0)
        out[o++] = 'x';
    out[o] = '\0';
}

/* An artifact name: Argo allows letters, digits, '-' and '_'. */
static char *art_name(const char *path)
{
    struct cap_buf b;
    cap_buf_init(&b);
    for (const char *p = path; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        if (ok || (b.len > 0 && b.data[b.len - 1] != '-'))
            cap_buf_putc(&b, ok ? c : '-');
    }
    while (b.len > 0 && b.data[b.len - 1] == '-')
        b.data[--b.len] = '\0';
    if (b.len == 0)
        cap_buf_puts(&b, "out");
    return cap_buf_steal(&b);
}

static bool taken(const struct xstage *x, size_t n, const char *name)
{
    if (strcmp(name, "main") == 0) /* the DAG template's */
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(x[i].name, name) == 0)
            return true;
    return false;
}

/* Names every stage and its outs, distinct ("-2", "-3"... on a clash). */
static struct xstage *name_stages(const struct pipe_spec *s)
{
    struct xstage *x = cap_xcalloc(s->n ? s->n : 1, sizeof *x);
    for (size_t i = 0; i < s->n; i++) {
        const struct pipe_stage *st = &s->stages[i];
        char base[NAME_MAX_LEN + 1];
        dns_name(st->name, base, NAME_MAX_LEN - 4);
        snprintf(x[i].name, sizeof x[i].name, "%s", base);
        for (int k = 2; taken(x, i, x[i].name); k++)
            snprintf(x[i].name, sizeof x[i].name, "%s-%d", base, k);
        x[i].arts = cap_xcalloc(st->nouts + 1, sizeof *x[i].arts);
        x[i].paths = cap_xcalloc(st->nouts + 1, sizeof *x[i].paths);
        for (size_t j = 0; j < st->nouts; j++) {
            x[i].paths[j] = pipe_path_join(st->wdir, st->outs[j].path);
            char *a = art_name(x[i].paths[j]);
            struct cap_buf b;
            cap_buf_init(&b);
            cap_buf_puts(&b, a);
            for (int k = 2;; k++) {
                size_t m = 0;
                while (m < j && strcmp(x[i].arts[m], b.data) != 0)
                    m++;
                if (m == j)
                    break;
                cap_buf_free(&b);
                cap_buf_init(&b);
                cap_buf_printf(&b, "%s-%d", a, k);
            }
            free(a);
            x[i].arts[j] = cap_buf_steal(&b);
        }
    }
    return x;
}

static void free_stages(const struct pipe_spec *s, struct xstage *x)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->stages[i].nouts; j++) {
            free(x[i].arts[j]);
            free(x[i].paths[j]);
        }
        free(x[i].arts);
        free(x[i].paths);
    }
    free(x);
}

/* ---- templates ---- */

static void sh_quote(struct cap_buf *b, const char *s)
{
    cap_buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            cap_buf_puts(b, "'\\''");
        else
            cap_buf_putc(b, *s);
    }
    cap_buf_putc(b, '\'');
}

static cJSON *artifact(const char *name, const char *workdir, const char *path)
{
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "name", name);
    char *full = pipe_path_join(workdir, path);
    cJSON_AddStringToObject(a, "path", full);
    free(full);
    return a;
}

static void add_num_str(cJSON *o, const char *key, double v, const char *unit)
{
    char s[40];
    snprintf(s, sizeof s, "%g%s", v, unit);
    cJSON_AddStringToObject(o, key, s);
}

/* env, resources, retryStrategy and activeDeadlineSeconds from the
 * stage's Capstan settings. */
static void run_settings(cJSON *t, cJSON *c, const struct pipe_stage *st)
{
    if (st->nenv) {
        cJSON *env = cJSON_AddArrayToObject(c, "env");
        for (size_t i = 0; i < st->nenv; i++) {
            const char *eq = strchr(st->env[i], '=');
            cJSON *e = cJSON_CreateObject();
            char *k = strndup(st->env[i], eq ? (size_t)(eq - st->env[i]) : strlen(st->env[i]));
            cJSON_AddStringToObject(e, "name", k);
            cJSON_AddStringToObject(e, "value", eq ? eq + 1 : "");
            free(k);
            cJSON_AddItemToArray(env, e);
        }
    }
    if (st->cpu || st->memory) {
        cJSON *req = cJSON_AddObjectToObject(cJSON_AddObjectToObject(c, "resources"), "requests");
        if (st->cpu)
            cJSON_AddStringToObject(req, "cpu", st->cpu);
        if (st->memory)
            cJSON_AddStringToObject(req, "memory", st->memory);
    }
    if (st->retries > 0) {
        cJSON *r = cJSON_AddObjectToObject(t, "retryStrategy");
        cJSON_AddNumberToObject(r, "limit", st->retries);
        cJSON_AddStringToObject(r, "retryPolicy", "Always"); /* Capstan retries any failure */
        cJSON *b = cJSON_AddObjectToObject(r, "backoff");
        add_num_str(b, "duration", st->backoff_s > 0 ? st->backoff_s : 1, "s");
        cJSON_AddNumberToObject(b, "factor", 2);
    }
    if (st->timeout_s > 0) /* Argo's is whole seconds: a fraction rounds up */
        cJSON_AddNumberToObject(t, "activeDeadlineSeconds", (double)(int64_t)(st->timeout_s + 0.999));
}

static cJSON *container_template(const struct pipe_stage *st, const struct xstage *x,
                                 const struct pipe_export_opts *o, const char *workdir,
                                 const char *prefix, cJSON *inputs)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "name", x->name);
    if (cJSON_GetArraySize(inputs) > 0)
        cJSON_AddItemToObject(cJSON_AddObjectToObject(t, "inputs"), "artifacts", inputs);
    else
        cJSON_Delete(inputs);
    if (st->nouts) {
        cJSON *outs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(t, "outputs"), "artifacts");
        for (size_t j = 0; j < st->nouts; j++) {
            cJSON *a = artifact(x->arts[j], workdir, x->paths[j]);
            struct cap_buf key;
            cap_buf_init(&key);
            cap_buf_printf(&key, "%s/{{workflow.name}}/%s/%s.tgz", prefix, x->name, x->arts[j]);
            cJSON_AddStringToObject(cJSON_AddObjectToObject(a, "s3"), "key", key.data);
            cap_buf_free(&key);
            cJSON_AddItemToArray(outs, a);
        }
    }
    cJSON *c = cJSON_AddObjectToObject(t, "container");
    cJSON_AddStringToObject(c, "image", o->image);
    cJSON *cmd = cJSON_AddArrayToObject(c, "command");
    cJSON_AddItemToArray(cmd, cJSON_CreateString("sh"));
    cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
    struct cap_buf sh;
    cap_buf_init(&sh);
    char *dir = pipe_path_join(workdir, st->wdir ? st->wdir : ".");
    cap_buf_puts(&sh, "cd ");
    sh_quote(&sh, dir);
    free(dir);
    /* Each command in a shell of its own, as DVC runs them: one holding
     * ';', '||' or a newline stays whole, and the first failure stops. */
    for (size_t k = 0; k < st->ncmd; k++) {
        cap_buf_puts(&sh, " && sh -c ");
        sh_quote(&sh, st->cmd[k]);
    }
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "args"), cJSON_CreateString(sh.data));
    cap_buf_free(&sh);
    run_settings(t, c, st);
    return t;
}

/* ---- the DAG ---- */

/* The input artifacts of stage i (the outs of the stages it comes after
 * that its deps name, contain or lie in), into tmpl_in (name, path) and
 * args (name, from). */
static void wire_inputs(const struct pipe_spec *s, const struct xstage *x, size_t i,
                        const char *workdir, cJSON *tmpl_in, cJSON *args)
{
    const struct pipe_stage *st = &s->stages[i];
    for (size_t a = 0; a < st->nafter; a++) {
        size_t j = st->after[a];
        for (size_t k = 0; k < s->stages[j].nouts; k++) {
            bool used = false;
            for (size_t d = 0; d < st->ndeps && !used; d++) {
                char *dep = pipe_path_join(st->wdir, st->deps[d]);
                used = pipe_path_overlaps(dep, x[j].paths[k]);
                free(dep);
            }
            if (!used)
                continue;
            /* the producing task's name keeps two stages' "model" apart */
            struct cap_buf name, from;
            cap_buf_init(&name);
            cap_buf_init(&from);
            cap_buf_printf(&name, "%s-%s", x[j].name, x[j].arts[k]);
            cap_buf_printf(&from, "{{tasks.%s.outputs.artifacts.%s}}", x[j].name, x[j].arts[k]);
            cJSON_AddItemToArray(tmpl_in, artifact(name.data, workdir, x[j].paths[k]));
            cJSON *arg = cJSON_CreateObject();
            cJSON_AddStringToObject(arg, "name", name.data);
            cJSON_AddStringToObject(arg, "from", from.data);
            cJSON_AddItemToArray(args, arg);
            cap_buf_free(&name);
            cap_buf_free(&from);
        }
    }
}

static cJSON *dag_task(const struct pipe_spec *s, const struct xstage *x, size_t i, cJSON *args)
{
    const struct pipe_stage *st = &s->stages[i];
    cJSON *task = cJSON_CreateObject();
    cJSON_AddStringToObject(task, "name", x[i].name);
    cJSON_AddStringToObject(task, "template", x[i].name);
    if (st->nafter) {
        cJSON *deps = cJSON_AddArrayToObject(task, "dependencies");
        for (size_t a = 0; a < st->nafter; a++)
            cJSON_AddItemToArray(deps, cJSON_CreateString(x[st->after[a]].name));
    }
    if (cJSON_GetArraySize(args) > 0)
        cJSON_AddItemToObject(cJSON_AddObjectToObject(task, "arguments"), "artifacts", args);
    else
        cJSON_Delete(args);
    return task;
}

/* {entrypoint, templates}: the DAG first, then a container per stage. */
static cJSON *workflow_spec(const struct pipe_spec *s, const struct pipe_export_opts *o)
{
    const char *workdir = o->workdir && *o->workdir ? o->workdir : "/repo";
    const char *prefix = o->artifact_prefix && *o->artifact_prefix ? o->artifact_prefix : "capstan";
    struct xstage *x = name_stages(s);
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddStringToObject(spec, "entrypoint", "main");
    cJSON *templates = cJSON_AddArrayToObject(spec, "templates");
    cJSON *main = cJSON_CreateObject();
    cJSON_AddStringToObject(main, "name", "main");
    cJSON *tasks = cJSON_AddArrayToObject(cJSON_AddObjectToObject(main, "dag"), "tasks");
    cJSON_AddItemToArray(templates, main);
    for (size_t i = 0; i < s->n; i++) {
        cJSON *tmpl_in = cJSON_CreateArray(), *args = cJSON_CreateArray();
        wire_inputs(s, x, i, workdir, tmpl_in, args);
        cJSON_AddItemToArray(tasks, dag_task(s, x, i, args));
        cJSON_AddItemToArray(templates,
                             container_template(&s->stages[i], &x[i], o, workdir, prefix, tmpl_in));
    }
    free_stages(s, x);
    return spec;
}

/* ---- the document ---- */

/* Argo's concurrencyPolicy for an overlap policy; NULL (err set) for one
 * Argo lacks. */
static const char *concurrency(const char *overlap, struct cap_error *err)
{
    static const char *const map[][2] = {{"allow", "Allow"}, {"forbid", "Forbid"},
                                         {"replace", "Replace"}};
    if (!overlap)
        return "Allow";
    for (size_t i = 0; i < 3; i++)
        if (strcmp(overlap, map[i][0]) == 0)
            return map[i][1];
    if (strcmp(overlap, "queue") == 0)
        cap_err(err, CAP_EINVAL, "--overlap queue has no Argo equivalent (a CronWorkflow's "
                "concurrencyPolicy is Allow, Forbid or Replace): use forbid, allow or replace");
    else
        cap_err(err, CAP_EINVAL, "Unknown overlap policy '%.40s': expected forbid, allow or "
                "replace", overlap);
    return NULL;
}

/* Five fields of cron characters, or an @-preset; the full rules are the
 * scheduler's, and Argo checks again when the CronWorkflow is created. */
static int check_cron(const char *cron, struct cap_error *err)
{
    if (cron[0] == '@')
        return strspn(cron + 1, "abcdefghijklmnopqrstuvwxyz0123456789 ") == strlen(cron + 1) &&
                       cron[1]
                   ? 0
                   : cap_err(err, CAP_EINVAL, "Invalid cron expression '%.80s': expected "
                             "@hourly, @daily, @weekly, @monthly or @yearly", cron);
    int fields = 0;
    for (const char *p = cron; *p;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, " \t");
        if (n == 0)
            break;
        if (strspn(p, "0123456789*,-/?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") < n)
            return cap_err(err, CAP_EINVAL, "Invalid cron expression '%.80s': field %d has a "
                           "character cron does not use", cron, fields + 1);
        fields++;
        p += n;
    }
    return fields == 5 ? 0
                       : cap_err(err, CAP_EINVAL, "Invalid cron expression '%.80s': %d fields, "
                                 "expected 5 (minute hour day-of-month month day-of-week)",
                                 cron, fields);
}

static int check_input(const struct pipe_spec *s, const struct pipe_export_opts *o,
                       struct cap_error *err)
{
    if (!o->image || !*o->image)
        return cap_err(err, CAP_EINVAL, "An Argo export needs the stages' container image "
                       "(--image IMAGE): Argo runs each stage in a container");
    if (s->n == 0)
        return cap_err(err, CAP_EINVAL, "The pipeline has no stages to export");
    for (size_t i = 0; i < s->n; i++)
        if (s->stages[i].ncmd == 0)
            return cap_err(err, CAP_EINVAL, "Stage '%s' has no command to run", s->stages[i].name);
    if (!o->cron)
        return (o->timezone || o->overlap || o->starting_deadline_s)
                   ? cap_err(err, CAP_EINVAL, "--timezone, --overlap and --starting-deadline "
                             "describe a schedule: give --cron too")
                   : 0;
    if (!concurrency(o->overlap, err))
        return -CAP_EINVAL;
    if (o->starting_deadline_s < 0)
        return cap_err(err, CAP_EINVAL, "The starting deadline must be 0 or more seconds");
    char *copy = cap_xstrdup(o->cron), *save = NULL;
    int rc = 0;
    for (char *c = strtok_r(copy, ";", &save); c && rc == 0; c = strtok_r(NULL, ";", &save))
        rc = check_cron(c + strspn(c, " "), err);
    free(copy);
    return rc;
}

/* The pipeline's name: the option, or the directory holding dvc.yaml. */
static void pipeline_name(const struct pipe_spec *s, const struct pipe_export_opts *o,
                          char out[NAME_MAX_LEN + 1])
{
    const char *name = o->name;
    if (!name || !*name) {
        const char *root = s->root ? s->root : "pipeline";
        const char *slash = strrchr(root, '/');
        name = slash && slash[1] ? slash + 1 : root;
    }
    dns_name(name, out, NAME_MAX_LEN - 1);
}

static cJSON *cron_workflow(const struct pipe_export_opts *o, const char *name, cJSON *wspec)
{
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "apiVersion", "argoproj.io/v1alpha1");
    cJSON_AddStringToObject(doc, "kind", "CronWorkflow");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(doc, "metadata"), "name", name);
    cJSON *spec = cJSON_AddObjectToObject(doc, "spec");
    cJSON *sched = cJSON_AddArrayToObject(spec, "schedules");
    char *copy = cap_xstrdup(o->cron), *save = NULL;
    for (char *c = strtok_r(copy, ";", &save); c; c = strtok_r(NULL, ";", &save))
        cJSON_AddItemToArray(sched, cJSON_CreateString(c + strspn(c, " ")));
    free(copy);
    if (o->timezone && *o->timezone)
        cJSON_AddStringToObject(spec, "timezone", o->timezone);
    cJSON_AddStringToObject(spec, "concurrencyPolicy", concurrency(o->overlap, NULL));
    if (o->starting_deadline_s > 0)
        cJSON_AddNumberToObject(spec, "startingDeadlineSeconds", (double)o->starting_deadline_s);
    cJSON_AddItemToObject(spec, "workflowSpec", wspec);
    return doc;
}

int pipe_export_argo_doc(const struct pipe_spec *s, const struct pipe_export_opts *o, cJSON **doc,
                         struct cap_error *err)
{
    *doc = NULL;
    int rc = check_input(s, o, err);
    if (rc < 0)
        return rc;
    char name[NAME_MAX_LEN + 1];
    pipeline_name(s, o, name);
    if (o->cron) {
        *doc = cron_workflow(o, name, workflow_spec(s, o));
        return 0;
    }
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "apiVersion", "argoproj.io/v1alpha1");
    cJSON_AddStringToObject(d, "kind", "Workflow");
    char gen[NAME_MAX_LEN + 2];
    snprintf(gen, sizeof gen, "%s-", name);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(d, "metadata"), "generateName", gen);
    cJSON_AddItemToObject(d, "spec", workflow_spec(s, o));
    *doc = d;
    return 0;
}

int pipe_export_argo(const struct pipe_spec *s, const struct pipe_export_opts *o, char **yaml,
                     struct cap_error *err)
{
    *yaml = NULL;
    cJSON *doc = NULL;
    int rc = pipe_export_argo_doc(s, o, &doc, err);
    if (rc < 0)
        return rc;
    size_t len;
    rc = data_dvc_yaml(doc, yaml, &len, err);
    cJSON_Delete(doc);
    return rc;
}
