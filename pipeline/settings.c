/* settings.c - capstan.yaml beside dvc.yaml: Capstan's run settings, which
 * dvc.yaml cannot hold (DVC refuses unknown keys there):
 *   stages: {NAME: {retries: int >= 0, backoff: seconds > 0,
 *                   timeout: seconds >= 0, env: {K: V}, resources: {cpu, memory}}}
 * NAME is a stage or a foreach/matrix group; a group's entry applies to
 * all its stages, then the stage's own entry overrides it key by key. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data.h"
#include "pipeline/intern.h"

static const char *const SETTING_KEYS[] = {"retries", "backoff", "timeout", "env",
                                           "resources", NULL};

static int fail_type(struct cap_error *err, const char *file, const struct pval *v,
                     const char *name, const char *key, const char *expected)
{
    return pv_fail(err, file, v, "stages.%s.%s is %s, expected %s", name, key,
                   v->t == PV_STR ? v->s : pv_type_name(v), expected);
}

static bool number(const struct pval *v, double *out)
{
    if (v->t != PV_INT && v->t != PV_FLOAT)
        return false;
    *out = v->t == PV_INT ? (double)v->i : v->f;
    return isfinite(*out);
}

/* A scalar's text, for env values and Kubernetes quantities. */
static char *scalar_text(const struct pval *v)
{
    struct cap_buf b;
    cap_buf_init(&b);
    if (v->t == PV_BOOL)
        cap_buf_puts(&b, v->b ? "true" : "false");
    else
        pv_python_str(v, &b);
    return cap_buf_steal(&b);
}

static int apply_env(const char *file, const char *name, const struct pval *env,
                     struct pipe_stage *st, struct cap_error *err)
{
    if (env->t != PV_MAP)
        return fail_type(err, file, env, name, "env", "a mapping of NAME: value");
    for (size_t i = 0; i < env->n; i++) {
        const struct pval *v = env->v[i];
        const char *k = env->k[i];
        if (!*k || strchr(k, '=') || v->t == PV_LIST || v->t == PV_MAP || v->t == PV_NULL)
            return pv_fail(err, file, v, "stages.%s.env.%s is not a variable, expected NAME "
                           "(no '=') with a string or number value", name, k);
        char *val = scalar_text(v);
        struct cap_buf kv;
        cap_buf_init(&kv);
        cap_buf_printf(&kv, "%s=", k);
        size_t klen = kv.len;
        cap_buf_puts(&kv, val);
        free(val);
        size_t j = 0;
        while (j < st->nenv && strncmp(st->env[j], kv.data, klen))
            j++;
        if (j == st->nenv)
            st->env = cap_xrealloc(st->env, ++st->nenv * sizeof *st->env);
        else
            free(st->env[j]);
        st->env[j] = cap_buf_steal(&kv);
    }
    return 0;
}

static int apply_resources(const char *file, const char *name, const struct pval *r,
                           struct pipe_stage *st, struct cap_error *err)
{
    if (r->t != PV_MAP)
        return fail_type(err, file, r, name, "resources", "a mapping with cpu and memory");
    for (size_t i = 0; i < r->n; i++) {
        const struct pval *v = r->v[i];
        bool cpu = !strcmp(r->k[i], "cpu");
        if (!cpu && strcmp(r->k[i], "memory"))
            return pv_fail(err, file, v, "stages.%s.resources: unknown field '%s', expected "
                           "cpu or memory", name, r->k[i]);
        if (v->t != PV_STR && v->t != PV_INT && v->t != PV_FLOAT)
            return fail_type(err, file, v, name, r->k[i], "a Kubernetes quantity ('500m', "
                             "'2Gi')");
        char **dst = cpu ? &st->cpu : &st->memory;
        free(*dst);
        *dst = scalar_text(v);
    }
    return 0;
}

static int apply(const char *file, const char *name, const struct pval *set,
                 struct pipe_stage *st, struct cap_error *err)
{
    for (size_t i = 0; i < set->n; i++) {
        const char *k = set->k[i];
        const struct pval *v = set->v[i];
        double d = 0;
        int rc = 0;
        if (!strcmp(k, "retries")) {
            if (v->t != PV_INT || v->i < 0 || v->i > 1000)
                return fail_type(err, file, v, name, k, "a whole number from 0 to 1000");
            st->retries = (int)v->i;
        } else if (!strcmp(k, "backoff")) {
            if (!number(v, &d) || d <= 0)
                return fail_type(err, file, v, name, k, "seconds above 0");
            st->backoff_s = d;
        } else if (!strcmp(k, "timeout")) {
            if (!number(v, &d) || d < 0)
                return fail_type(err, file, v, name, k, "seconds, 0 or more (0: none)");
            st->timeout_s = d;
        } else if (!strcmp(k, "env")) {
            rc = apply_env(file, name, v, st, err);
        } else {
            rc = apply_resources(file, name, v, st, err);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int check_entry(const char *file, const char *name, const struct pval *set,
                       struct cap_error *err)
{
    if (set->t != PV_MAP)
        return pv_fail(err, file, set, "stages.%s is a %s, expected a mapping of settings",
                       name, pv_type_name(set));
    for (size_t i = 0; i < set->n; i++) {
        bool known = false;
        for (size_t j = 0; SETTING_KEYS[j]; j++)
            known |= !strcmp(SETTING_KEYS[j], set->k[i]);
        if (!known)
            return pv_fail(err, file, set->v[i], "stages.%s: unknown field '%s', expected one "
                           "of retries, backoff, timeout, env, resources", name, set->k[i]);
    }
    return 0;
}

static int apply_all(const struct pipe_spec *s, char **groups, const char *file,
                     const struct pval *stages, struct cap_error *err)
{
    for (size_t e = 0; e < stages->n; e++) {
        const char *name = stages->k[e];
        bool hit = false;
        int rc = check_entry(file, name, stages->v[e], err);
        for (size_t i = 0; i < s->n && rc == 0; i++)
            hit |= !strcmp(s->stages[i].name, name) || (groups[i] && !strcmp(groups[i], name));
        if (rc == 0 && !hit)
            rc = pv_fail(err, file, stages->v[e], "stages.%s names no stage of dvc.yaml, "
                         "expected a stage or a foreach/matrix group", name);
        if (rc)
            return rc;
    }
    /* Groups first, then exact names, so that a stage's own entry wins. */
    for (int exact = 0; exact < 2; exact++)
        for (size_t i = 0; i < s->n; i++) {
            const char *want = exact ? s->stages[i].name : groups[i];
            const struct pval *set = want ? pv_get(stages, want) : NULL;
            int rc = set ? apply(file, want, set, &s->stages[i], err) : 0;
            if (rc)
                return rc;
        }
    return 0;
}

int pipe_settings_load(struct pipe_spec *s, char **groups, struct cap_error *err)
{
    char *file = pipe_path_join(s->root, "capstan.yaml"), *text = NULL;
    size_t len;
    struct pval *doc = NULL;
    struct stat st;
    int rc = 0;
    if (stat(file, &st) != 0)
        goto done; /* optional */
    if ((rc = data_read_file(file, 1 << 20, &text, &len, err)) != 0 ||
        (rc = pv_parse_yaml(file, text, len, &doc, err)) != 0)
        goto done;
    if (doc->t != PV_MAP) {
        rc = pv_fail(err, file, doc, "the file holds a %s, expected a mapping with 'stages'",
                     pv_type_name(doc));
        goto done;
    }
    for (size_t i = 0; i < doc->n && rc == 0; i++)
        if (strcmp(doc->k[i], "stages"))
            rc = pv_fail(err, file, doc->v[i], "unknown field '%s', expected 'stages'",
                         doc->k[i]);
    const struct pval *stages = pv_get(doc, "stages");
    if (rc == 0 && stages && stages->t != PV_NULL) {
        if (stages->t != PV_MAP)
            rc = pv_fail(err, file, stages, "'stages' is a %s, expected a mapping of stage "
                         "names to settings", pv_type_name(stages));
        else
            rc = apply_all(s, groups, file, stages, err);
    }
done:
    pv_free(doc);
    free(text);
    free(file);
    return rc;
}
