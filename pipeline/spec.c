/* spec.c - dvc.yaml read as DVC 3 reads it (dvc 3.67.1: dvc/schema.py's
 * MULTI_STAGE_SCHEMA, dvc/parsing, dvc/stage/loader.py,
 * dvc/dependency/__init__.py's _merge_params, dvc/output.py's _merge_data),
 * expanded into stages; capstan.yaml's run settings; then the DAG
 * (dag.c). Fields are checked on the file as written (so an unknown one is
 * named at its line), values after templating (template.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data.h"
#include "pipeline/intern.h"

static const char *const TOP_KEYS[] = {"stages", "vars", "params", "metrics", "plots",
                                       "artifacts", "datasets", NULL};
static const char *const STAGE_KEYS[] = {"cmd", "wdir", "deps", "params", "outs", "metrics",
                                         "plots", "frozen", "always_changed", "desc", "meta",
                                         "vars", NULL};
static const char *const OUT_KEYS[] = {"cache", "persist", "remote", "push", "desc", "type",
                                       "labels", "meta", NULL};
static const char *const PLOT_KEYS[] = {"template", "x", "y", "x_label", "y_label", "title",
                                        "header", NULL};
static const char *const RESERVED[] = {"item", "key", NULL};

struct loader {
    const char *file;          /* dvc.yaml as named in messages */
    struct pipe_spec *spec;
    char **groups;             /* per stage: its foreach/matrix group, or NULL */
    size_t cap;
    struct cap_error *err;
};

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

static void join_list(const char *const *list, struct cap_buf *b)
{
    for (size_t i = 0; list[i]; i++)
        cap_buf_printf(b, "%s%s", i ? ", " : "", list[i]);
}

/* Every key of m must be in known (or in more, may be NULL). */
static int known_keys(const struct loader *l, const struct pval *m, const char *where,
                      const char *const *known, const char *const *more)
{
    for (size_t i = 0; i < m->n; i++) {
        if (in_list(known, m->k[i]) || (more && in_list(more, m->k[i])))
            continue;
        struct cap_buf b;
        cap_buf_init(&b);
        join_list(known, &b);
        if (more) {
            cap_buf_puts(&b, ", ");
            join_list(more, &b);
        }
        int rc = pv_fail(l->err, l->file, m->v[i], "%s: unknown field '%.100s', which Capstan "
                         "does not support, expected one of %s", where, m->k[i], b.data);
        cap_buf_free(&b);
        return rc;
    }
    return 0;
}

static int want_type(const struct loader *l, const struct pval *v, const char *where,
                     enum pval_type t, const char *expected)
{
    if (v->t == t)
        return 0;
    return pv_fail(l->err, l->file, v, "%s is a %s, expected %s", where, pv_type_name(v),
                   expected);
}

/* A list field that may also be null (absent). */
static int want_list(const struct loader *l, const struct pval *v, const char *where)
{
    return v->t == PV_NULL ? 0 : want_type(l, v, where, PV_LIST, "a list");
}

static char **strdup_into(char **arr, size_t *n, const char *s)
{
    arr = cap_xrealloc(arr, (*n + 1) * sizeof *arr);
    arr[(*n)++] = cap_xstrdup(s);
    return arr;
}

/* ---- one stage's fields, after templating ---- */

static int read_cmd(const struct loader *l, const struct pval *v, struct pipe_stage *st)
{
    if (v->t == PV_STR && *v->s) {
        st->cmd = strdup_into(st->cmd, &st->ncmd, v->s);
        return 0;
    }
    if (v->t == PV_LIST && v->n) {
        for (size_t i = 0; i < v->n; i++) {
            if (v->v[i]->t != PV_STR)
                return pv_fail(l->err, l->file, v->v[i], "stages.%s.cmd[%zu] is a %s, expected "
                               "a command string", st->name, i, pv_type_name(v->v[i]));
            st->cmd = strdup_into(st->cmd, &st->ncmd, v->v[i]->s);
        }
        return 0;
    }
    return pv_fail(l->err, l->file, v, "stages.%s.cmd is %s, expected a command or a list of "
                   "commands", st->name, v->t == PV_STR || v->t == PV_LIST ? "empty"
                   : pv_type_name(v));
}

static int read_deps(const struct loader *l, const struct pval *v, struct pipe_stage *st)
{
    char where[200];
    snprintf(where, sizeof where, "stages.%s.deps", st->name);
    int rc = want_list(l, v, where);
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        snprintf(where, sizeof where, "stages.%s.deps[%zu]", st->name, i);
        if ((rc = want_type(l, v->v[i], where, PV_STR, "a path")) == 0)
            st->deps = strdup_into(st->deps, &st->ndeps, v->v[i]->s);
    }
    return rc;
}

static void add_param(struct pipe_stage *st, const char *file, const char *key)
{
    st->params = cap_xrealloc(st->params, (st->nparams + 1) * sizeof *st->params);
    st->params[st->nparams++] = (struct pipe_param){cap_xstrdup(file),
                                                    key ? cap_xstrdup(key) : NULL};
}

/* The files tracked whole ({file: null} or {file: []}) in a params list. */
static bool wholly(const struct pval *list, const char *file)
{
    for (size_t i = 0; i < list->n; i++) {
        const struct pval *e = pv_get(list->v[i], file);
        if (e && (e->t == PV_NULL || (e->t == PV_LIST && e->n == 0)))
            return true;
    }
    return false;
}

/* The keys of file, in DVC's order: files by first mention, then keys. */
static void params_of(const struct pval *v, const char *file, struct pipe_stage *st)
{
    if (wholly(v, file)) {
        add_param(st, file, NULL);
        return;
    }
    for (size_t i = 0; i < v->n; i++) {
        const struct pval *e = v->v[i];
        if (e->t == PV_STR && !strcmp(file, "params.yaml"))
            add_param(st, file, e->s);
        const struct pval *keys = pv_get(e, file);
        for (size_t k = 0; keys && k < keys->n; k++)
            add_param(st, file, keys->v[k]->s);
    }
}

static int check_params(const struct loader *l, const struct pval *v, const char *name,
                        struct pval *files)
{
    char where[200];
    snprintf(where, sizeof where, "stages.%s.params", name);
    int rc = want_list(l, v, where);
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        const struct pval *e = v->v[i];
        snprintf(where, sizeof where, "stages.%s.params[%zu]", name, i);
        if (e->t == PV_STR) {
            pv_set(files, "params.yaml", pv_new(PV_NULL, 0, 0));
            continue;
        }
        if ((rc = want_type(l, e, where, PV_MAP, "a key or {file: [keys]}")) != 0)
            break;
        for (size_t k = 0; k < e->n && rc == 0; k++) {
            const struct pval *keys = e->v[k];
            size_t fl = strlen(e->k[k]);
            if (fl >= 5 && !strcmp(e->k[k] + fl - 5, ".toml"))
                rc = pv_fail(l->err, l->file, keys, "%s: '%s' is a TOML file, which Capstan "
                             "cannot read (Debian ships no C TOML reader), expected a YAML or "
                             "JSON params file", where, e->k[k]);
            else if (keys->t != PV_NULL && keys->t != PV_LIST)
                rc = pv_fail(l->err, l->file, keys, "%s: the keys of '%s' are a %s, expected a "
                             "list of keys, or null for the whole file", where, e->k[k],
                             pv_type_name(keys));
            for (size_t j = 0; rc == 0 && keys->t == PV_LIST && j < keys->n; j++)
                rc = want_type(l, keys->v[j], where, PV_STR, "a list of keys");
            if (rc == 0 && !pv_get(files, e->k[k]))
                pv_set(files, e->k[k], pv_new(PV_NULL, 0, 0));
        }
    }
    return rc;
}

static int read_params(const struct loader *l, const struct pval *v, struct pipe_stage *st)
{
    struct pval *files = pv_new(PV_MAP, 0, 0);
    int rc = check_params(l, v, st->name, files);
    for (size_t f = 0; f < files->n && rc == 0; f++)
        params_of(v, files->k[f], st);
    pv_free(files);
    return rc;
}

static struct pipe_out *find_out(struct pipe_stage *st, size_t from, const char *path)
{
    for (size_t i = from; i < st->nouts; i++)
        if (!strcmp(st->outs[i].path, path))
            return &st->outs[i];
    return NULL;
}

static int out_flags(const struct loader *l, const struct pval *flags, const char *where,
                     struct pipe_out *o)
{
    for (size_t i = 0; i < flags->n; i++) {
        const char *k = flags->k[i];
        const struct pval *v = flags->v[i];
        if (!strcmp(k, "cache") || !strcmp(k, "persist")) {
            char w[300];
            snprintf(w, sizeof w, "%.200s.%.60s", where, k);
            int rc = want_type(l, v, w, PV_BOOL, "true or false");
            if (rc)
                return rc;
            *(!strcmp(k, "cache") ? &o->cache : &o->persist) = v->b;
            continue;
        }
        if (!o->extra)
            o->extra = cJSON_CreateObject();
        cJSON_DeleteItemFromObject(o->extra, k);
        cJSON_AddItemToObject(o->extra, k, pv_to_json(v));
    }
    return 0;
}

static int read_outs(const struct loader *l, const struct pval *v, const char *field,
                     enum pipe_out_kind kind, struct pipe_stage *st)
{
    char where[300];
    snprintf(where, sizeof where, "stages.%s.%s", st->name, field);
    int rc = want_list(l, v, where);
    size_t first = st->nouts;
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        const struct pval *e = v->v[i];
        snprintf(where, sizeof where, "stages.%s.%s[%zu]", st->name, field, i);
        if (e->t != PV_STR && e->t != PV_MAP) {
            rc = want_type(l, e, where, PV_STR, "a path or {path: {cache: ..., persist: ...}}");
            break;
        }
        for (size_t k = 0; k < (e->t == PV_MAP ? e->n : 1) && rc == 0; k++) {
            const char *path = e->t == PV_STR ? e->s : e->k[k];
            struct pipe_out *o = find_out(st, first, path);
            if (!o) {
                st->outs = cap_xrealloc(st->outs, (st->nouts + 1) * sizeof *st->outs);
                o = &st->outs[st->nouts++];
                *o = (struct pipe_out){cap_xstrdup(path), kind, true, false, NULL};
            }
            if (e->t == PV_STR)
                continue;
            const struct pval *flags = e->v[k];
            if ((rc = want_type(l, flags, where, PV_MAP, "a mapping of flags")) == 0 &&
                (rc = known_keys(l, flags, where, OUT_KEYS,
                                 kind == PIPE_PLOT ? PLOT_KEYS : NULL)) == 0)
                rc = out_flags(l, flags, where, o);
        }
    }
    return rc;
}

static int read_bool(const struct loader *l, const struct pval *v, const char *name,
                     const char *field, bool *out)
{
    char where[300];
    snprintf(where, sizeof where, "stages.%s.%s", name, field);
    int rc = want_type(l, v, where, PV_BOOL, "true or false");
    if (rc == 0)
        *out = v->b;
    return rc;
}

static int read_field(const struct loader *l, const char *k, const struct pval *v,
                      struct pipe_stage *st)
{
    if (!strcmp(k, "cmd"))
        return read_cmd(l, v, st);
    if (!strcmp(k, "deps"))
        return read_deps(l, v, st);
    if (!strcmp(k, "params"))
        return read_params(l, v, st);
    if (!strcmp(k, "outs"))
        return read_outs(l, v, k, PIPE_OUT, st);
    if (!strcmp(k, "metrics"))
        return read_outs(l, v, k, PIPE_METRIC, st);
    if (!strcmp(k, "plots"))
        return read_outs(l, v, k, PIPE_PLOT, st);
    if (!strcmp(k, "frozen"))
        return read_bool(l, v, st->name, k, &st->frozen);
    if (!strcmp(k, "always_changed"))
        return read_bool(l, v, st->name, k, &st->always_changed);
    if (!strcmp(k, "desc")) {
        char where[300];
        snprintf(where, sizeof where, "stages.%s.desc", st->name);
        int rc = want_type(l, v, where, PV_STR, "a string");
        if (rc == 0)
            st->desc = cap_xstrdup(v->s);
        return rc;
    }
    return 0; /* wdir and vars were read first; meta is DVC's free-form field */
}

/* ---- expanding stages ---- */

static struct pipe_stage *new_stage(struct loader *l, const char *name, const char *group)
{
    struct pipe_spec *s = l->spec;
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->stages[i].name, name))
            return NULL;
    if (s->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        s->stages = cap_xrealloc(s->stages, l->cap * sizeof *s->stages);
        l->groups = cap_xrealloc(l->groups, l->cap * sizeof *l->groups);
    }
    struct pipe_stage *st = &s->stages[s->n];
    memset(st, 0, sizeof *st);
    st->name = cap_xstrdup(name);
    st->backoff_s = 1.0;
    l->groups[s->n++] = group ? cap_xstrdup(group) : NULL;
    return st;
}

static int stage_wdir(const struct loader *l, const struct tpl_ctx *c, const struct pval *def,
                      struct pipe_stage *st)
{
    const struct pval *w = pv_get(def, "wdir");
    struct pval *r = NULL;
    char where[300];
    snprintf(where, sizeof where, "stages.%s.wdir", st->name);
    int rc = w ? tpl_resolve(c, w, where, "wdir", &r, l->err) : 0;
    if (rc == 0 && r && r->t != PV_NULL && !(r->t == PV_STR && *r->s))
        rc = want_type(l, r, where, PV_STR, "a directory");
    st->wdir = pipe_path_join(".", rc == 0 && r && r->t == PV_STR ? r->s : ".");
    pv_free(r);
    return rc;
}

/* One stage from its definition def (its foreach item/key already in c). */
static int build_stage(struct loader *l, const struct tpl_ctx *base, const char *name,
                       const char *group, const struct pval *def)
{
    struct pipe_stage *st = new_stage(l, name, group);
    if (!st)
        return 0; /* a repeated generated name: DVC keeps one (a dict) */
    st->line = def->line;
    struct tpl_ctx own;
    tpl_ctx_copy(&own, base);
    int rc = stage_wdir(l, &own, def, st);
    const struct pval *vars = pv_get(def, "vars");
    char where[300];
    snprintf(where, sizeof where, "stages.%s.vars", name);
    if (rc == 0 && vars && (rc = want_list(l, vars, where)) == 0)
        rc = tpl_load_vars(&own, vars, st->wdir, NULL, where, group ? RESERVED : NULL, l->err);
    if (rc == 0 && !pv_get(def, "cmd"))
        rc = pv_fail(l->err, l->file, def, "stages.%s has no 'cmd', expected the command to "
                     "run", name);
    for (size_t i = 0; i < def->n && rc == 0; i++) {
        if (!strcmp(def->k[i], "vars") || !strcmp(def->k[i], "wdir"))
            continue;
        struct pval *r;
        snprintf(where, sizeof where, "stages.%s.%s", name, def->k[i]);
        if ((rc = tpl_resolve(&own, def->v[i], where, def->k[i], &r, l->err)) == 0) {
            rc = read_field(l, def->k[i], r, st);
            pv_free(r);
        }
    }
    tpl_ctx_free(&own);
    return rc;
}

/* Python's to_str of a foreach/matrix value, for generated names. */
static void name_text(const struct pval *v, struct cap_buf *b)
{
    if (v->t == PV_BOOL)
        cap_buf_puts(b, v->b ? "true" : "false");
    else
        pv_python_str(v, b);
}

static int one_item(struct loader *l, const struct tpl_ctx *c, const char *name,
                    const char *key, const struct pval *item, bool set_key,
                    const struct pval *def)
{
    struct tpl_ctx it;
    tpl_ctx_copy(&it, c);
    pv_set(it.vars, "item", pv_dup(item));
    if (set_key)
        pv_set(it.vars, "key", pv_str_new(key, 0, 0));
    struct cap_buf gen;
    cap_buf_init(&gen);
    cap_buf_printf(&gen, "%s@%s", name, key);
    int rc = build_stage(l, &it, gen.data, name, def);
    cap_buf_free(&gen);
    tpl_ctx_free(&it);
    return rc;
}

static int build_foreach(struct loader *l, const struct tpl_ctx *c, const char *name,
                         const struct pval *def)
{
    const struct pval *data = pv_get(def, "foreach"), *doo = pv_get(def, "do");
    char where[300];
    snprintf(where, sizeof where, "stages.%s", name);
    int rc = known_keys(l, def, where, (const char *const[]){"foreach", "do", NULL}, NULL);
    if (rc == 0 && !doo)
        rc = pv_fail(l->err, l->file, def, "stages.%s has 'foreach' but no 'do', expected the "
                     "stage to repeat in 'do'", name);
    snprintf(where, sizeof where, "stages.%s.do", name);
    if (rc == 0 && (rc = want_type(l, doo, where, PV_MAP, "a stage")) == 0)
        rc = known_keys(l, doo, where, STAGE_KEYS, NULL);
    struct pval *items = NULL;
    snprintf(where, sizeof where, "stages.%s.foreach", name);
    if (rc == 0 && (rc = tpl_resolve(c, data, where, NULL, &items, l->err)) == 0 &&
        items->t != PV_LIST && items->t != PV_MAP)
        rc = pv_fail(l->err, l->file, data, "%s is a %s, expected a list or a mapping", where,
                     pv_type_name(items));
    bool composite = false;
    for (size_t i = 0; rc == 0 && items->t == PV_LIST && i < items->n; i++)
        composite |= items->v[i]->t == PV_LIST || items->v[i]->t == PV_MAP;
    for (size_t i = 0; rc == 0 && i < items->n; i++) {
        struct cap_buf key;
        cap_buf_init(&key);
        if (items->t == PV_MAP)
            cap_buf_puts(&key, items->k[i]);
        else if (composite)
            cap_buf_printf(&key, "%zu", i);
        else
            name_text(items->v[i], &key);
        /* A list's repeated value names one stage, with its last value. */
        const struct pval *item = items->v[i];
        for (size_t j = i + 1; items->t == PV_LIST && !composite && j < items->n; j++) {
            struct cap_buf other;
            cap_buf_init(&other);
            name_text(items->v[j], &other);
            if (!strcmp(other.data, key.data))
                item = items->v[j];
            cap_buf_free(&other);
        }
        rc = one_item(l, c, name, key.data, item, items->t == PV_MAP, doo);
        cap_buf_free(&key);
    }
    pv_free(items);
    return rc;
}

/* itertools.product over the matrix's lists, the last varying fastest. */
static int build_matrix(struct loader *l, const struct tpl_ctx *c, const char *name,
                        const struct pval *def)
{
    char where[300];
    snprintf(where, sizeof where, "stages.%s.matrix", name);
    const struct pval *m = pv_get(def, "matrix");
    struct pval *res = NULL;
    int rc = want_type(l, m, where, PV_MAP, "a mapping of lists");
    if (rc == 0)
        rc = tpl_resolve(c, m, where, NULL, &res, l->err);
    for (size_t k = 0; rc == 0 && k < res->n; k++)
        if (res->v[k]->t != PV_LIST || res->v[k]->n == 0)
            rc = pv_fail(l->err, l->file, res->v[k], "%s.%s is %s, expected a non-empty list",
                         where, res->k[k], res->v[k]->t == PV_LIST ? "empty"
                         : pv_type_name(res->v[k]));
    struct pval *tmpl = pv_dup(def);
    for (size_t i = 0; i < tmpl->n; i++)
        if (!strcmp(tmpl->k[i], "matrix")) {
            pv_free(tmpl->v[i]);
            free(tmpl->k[i]);
            memmove(&tmpl->v[i], &tmpl->v[i + 1], (tmpl->n - i - 1) * sizeof *tmpl->v);
            memmove(&tmpl->k[i], &tmpl->k[i + 1], (tmpl->n - i - 1) * sizeof *tmpl->k);
            tmpl->n--;
            break;
        }
    size_t nk = rc == 0 ? res->n : 0;
    size_t *idx = cap_xcalloc(nk + 1, sizeof *idx);
    for (bool more = rc == 0 && nk > 0; more && rc == 0;) {
        struct pval *item = pv_new(PV_MAP, 0, 0);
        struct cap_buf key;
        cap_buf_init(&key);
        for (size_t k = 0; k < nk; k++) {
            const struct pval *v = res->v[k]->v[idx[k]];
            pv_set(item, res->k[k], pv_dup(v));
            if (k)
                cap_buf_putc(&key, '-');
            if (v->t == PV_LIST || v->t == PV_MAP)
                cap_buf_printf(&key, "%s%zu", res->k[k], idx[k]);
            else
                name_text(v, &key);
        }
        rc = one_item(l, c, name, key.data, item, true, tmpl);
        cap_buf_free(&key);
        pv_free(item);
        more = false;
        for (size_t k = nk; k-- > 0 && !more;) {
            more = ++idx[k] < res->v[k]->n;
            if (!more)
                idx[k] = 0;
        }
    }
    free(idx);
    pv_free(tmpl);
    pv_free(res);
    return rc;
}

static int build_stages(struct loader *l, const struct tpl_ctx *c, const struct pval *stages)
{
    if (!stages || stages->t == PV_NULL)
        return 0;
    int rc = want_type(l, stages, "stages", PV_MAP, "a mapping of stage names to stages");
    for (size_t i = 0; i < stages->n && rc == 0; i++) {
        const char *name = stages->k[i];
        const struct pval *def = stages->v[i];
        char where[300];
        snprintf(where, sizeof where, "stages.%s", name);
        if (!*name || strchr(name, '@'))
            rc = pv_fail(l->err, l->file, def, "the stage name '%s' is %s, expected a name "
                         "without '@' (DVC keeps it for foreach/matrix stages)", name,
                         *name ? "not allowed" : "empty");
        else if ((rc = want_type(l, def, where, PV_MAP, "a stage")) != 0)
            break;
        else if (pv_get(def, "matrix") && pv_get(def, "foreach"))
            rc = pv_fail(l->err, l->file, def, "%s has both 'matrix' and 'foreach', expected "
                         "one of them", where);
        else if (pv_get(def, "matrix"))
            rc = known_keys(l, def, where, STAGE_KEYS, (const char *const[]){"matrix", NULL});
        else if (!pv_get(def, "foreach"))
            rc = known_keys(l, def, where, STAGE_KEYS, NULL);
        if (rc)
            break;
        if (pv_get(def, "matrix"))
            rc = build_matrix(l, c, name, def);
        else if (pv_get(def, "foreach"))
            rc = build_foreach(l, c, name, def);
        else
            rc = build_stage(l, c, name, NULL, def);
    }
    return rc;
}

/* ---- the whole file ---- */

static int find_file(const char *path, struct pipe_spec *s, char **shown, struct cap_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cap_err(err, CAP_ENOTFOUND, "'%.300s' does not exist, expected dvc.yaml or the "
                       "directory holding it", path);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, path);
    if (S_ISDIR(st.st_mode))
        cap_buf_printf(&b, "%sdvc.yaml", b.len && b.data[b.len - 1] == '/' ? "" : "/");
    *shown = cap_buf_steal(&b);
    char *real = realpath(*shown, NULL);
    if (!real)
        return cap_err(err, CAP_ENOTFOUND, "'%.300s' does not exist, expected a dvc.yaml",
                       *shown);
    s->file = real;
    char *slash = strrchr(real, '/');
    s->root = slash == real ? cap_xstrdup("/") : cap_xstrndup(real, (size_t)(slash - real));
    return 0;
}

static int load_doc(struct loader *l, const struct pval *doc)
{
    struct pipe_spec *s = l->spec;
    int rc = want_type(l, doc, "the file", PV_MAP, "a mapping with 'stages'");
    if (rc == 0)
        rc = known_keys(l, doc, "dvc.yaml", TOP_KEYS, NULL);
    for (size_t i = 0; i < doc->n && rc == 0; i++) {
        if (!strcmp(doc->k[i], "stages"))
            continue;
        if (!s->top)
            s->top = cJSON_CreateObject();
        cJSON_AddItemToObject(s->top, doc->k[i], pv_to_json(doc->v[i]));
    }
    const struct pval *vars = pv_get(doc, "vars");
    if (rc == 0 && vars)
        rc = want_list(l, vars, "vars");
    struct tpl_ctx c;
    tpl_ctx_init(&c, l->file, s->root);
    if (rc == 0)
        rc = tpl_load_vars(&c, vars, ".", "params.yaml", "vars", NULL, l->err);
    if (rc == 0)
        rc = build_stages(l, &c, pv_get(doc, "stages"));
    tpl_ctx_free(&c);
    return rc;
}

int pipe_spec_load(const char *path, struct pipe_spec *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    char *shown = NULL, *text = NULL;
    size_t len;
    struct pval *doc = NULL;
    struct loader l = {.spec = out, .err = err};
    int rc = find_file(path, out, &shown, err);
    l.file = shown;
    /* dvc.yaml files are kilobytes; 16 MiB bounds a wrong path. */
    if (rc == 0)
        rc = data_read_file(out->file, (size_t)16 << 20, &text, &len, err);
    if (rc == 0)
        rc = pv_parse_yaml(shown, text, len, &doc, err);
    if (rc == 0)
        rc = load_doc(&l, doc);
    if (rc == 0)
        rc = pipe_settings_load(out, l.groups, err);
    if (rc == 0)
        rc = pipe_dag_build(out, err);
    for (size_t i = 0; i < out->n; i++)
        free(l.groups[i]);
    free(l.groups);
    pv_free(doc);
    free(text);
    free(shown);
    if (rc)
        pipe_spec_free(out);
    return rc;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void pipe_spec_free(struct pipe_spec *s)
{
    for (size_t i = 0; i < s->n; i++) {
        struct pipe_stage *st = &s->stages[i];
        free(st->name);
        free_list(st->cmd, st->ncmd);
        free(st->wdir);
        free_list(st->deps, st->ndeps);
        for (size_t j = 0; j < st->nparams; j++) {
            free(st->params[j].file);
            free(st->params[j].key);
        }
        free(st->params);
        for (size_t j = 0; j < st->nouts; j++) {
            free(st->outs[j].path);
            cJSON_Delete(st->outs[j].extra);
        }
        free(st->outs);
        free(st->desc);
        free_list(st->env, st->nenv);
        free(st->cpu);
        free(st->memory);
        free(st->after);
    }
    free(s->stages);
    free(s->root);
    free(s->file);
    cJSON_Delete(s->top);
    memset(s, 0, sizeof *s);
}

const struct pipe_stage *pipe_spec_find(const struct pipe_spec *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->stages[i].name, name))
            return &s->stages[i];
    return NULL;
}
