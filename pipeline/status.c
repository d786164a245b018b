/* status.c - a stage against its dvc.lock entry, with `dvc status`'s words
 * (dvc 3.67.1, checked by running it on the same trees):
 * - a dependency that does not exist is "deleted"; one whose md5 differs
 *   from the entry's, or that the entry lacks, "modified";
 * - a parameter file with no entry at all is "new" as a whole; else per
 *   key: "new" (not in the entry), "deleted" (not in the file), "modified";
 * - an output whose recorded object is not in the cache is "not in
 *   cache" (cached outputs only, checked first); a missing one "deleted";
 *   one that differs or was never recorded "modified";
 * - "changed command" when an entry exists and its cmd differs;
 * - "always changed" for always_changed; a frozen stage's dependencies
 *   are not looked at. */
#include "pipeline/runner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "base/json.h"
#include "data/data.h"

static const cJSON *lock_entry(const struct pipe_ws *ws, const char *name)
{
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(ws->lock, "stages");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(stages, name);
    return cJSON_IsObject(e) ? e : NULL;
}

static const cJSON *find_item(const cJSON *entry, const char *list, const char *path)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(entry, list))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
        if (cJSON_IsString(p) && strcmp(p->valuestring, path) == 0)
            return it;
    }
    return NULL;
}

static bool same_meta(const cJSON *recorded, const struct data_dvc_meta *now)
{
    struct data_dvc_meta m;
    return recorded && pipe_lock_item_meta(recorded, &m) && m.is_dir == now->is_dir &&
           data_hash_eq(&m.md5, &now->md5);
}

/* Inserts it into the array a keeping a's items sorted by "path". */
static void add_sorted(cJSON *a, cJSON *it)
{
    const char *p = cJSON_GetObjectItemCaseSensitive(it, "path")->valuestring;
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, a)
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(c, "path")->valuestring, p) > 0)
            break;
        i++;
    }
    cJSON_InsertItemInArray(a, i, it);
}

/* Hashes one dependency into entry's deps and notes its status. */
static int check_dep(struct pipe_ws *ws, const struct pipe_stage *st, const char *dep,
                     const cJSON *old, struct pipe_check *c, cJSON *changed,
                     struct cap_error *err)
{
    char *abs = pipe_stage_abspath(ws->spec, st, dep);
    if (!abs)
        return cap_err(err, CAP_EINVAL, "Stage '%.200s': the dependency '%.300s' is outside "
                       "the pipeline's directory, expected a path below it", st->name, dep);
    struct data_dvc_meta m;
    int rc = data_dvc_hash(abs, ws->sc, &m, err);
    free(abs);
    if (rc == -CAP_ENOTFOUND) {
        if (!c->missing_dep)
            c->missing = cap_xstrdup(dep);
        c->missing_dep = true;
        cJSON_AddStringToObject(changed, dep, "deleted");
        return 0;
    }
    if (rc < 0)
        return rc;
    if (!same_meta(find_item(old, "deps", dep), &m))
        cJSON_AddStringToObject(changed, dep, "modified");
    add_sorted(cJSON_GetObjectItemCaseSensitive(c->entry, "deps"), pipe_lock_item(dep, &m));
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

/* Orders o's members by key (bytewise, as Python sorts str keys of ASCII). */
static void sort_members(cJSON *o)
{
    size_t n = (size_t)cJSON_GetArraySize(o), i = 0;
    if (n < 2)
        return;
    cJSON **v = cap_xmalloc(n * sizeof *v);
    for (cJSON *c = o->child; c; c = c->next)
        v[i++] = c;
    qsort(v, n, sizeof *v, key_cmp);
    for (i = 0; i < n; i++) {
        v[i]->prev = i ? v[i - 1] : v[n - 1]; /* cJSON: the head's prev is the tail */
        v[i]->next = i + 1 < n ? v[i + 1] : NULL;
    }
    o->child = v[0];
    free(v);
}

/* The current values of the stage's parameters: {file: {key: value}}, in
 * sorted order; a whole-file dependency takes each of the file's keys. */
static int read_params(struct pipe_ws *ws, const struct pipe_stage *st, cJSON *params,
                       cJSON *missing, struct cap_error *err)
{
    for (size_t i = 0; i < st->nparams; i++) {
        const struct pipe_param *p = &st->params[i];
        char *abs = pipe_stage_abspath(ws->spec, st, p->file);
        if (!abs)
            return cap_err(err, CAP_EINVAL, "Stage '%.200s': the parameters file '%.300s' is "
                           "outside the pipeline's directory", st->name, p->file);
        cJSON *v = NULL;
        struct cap_error e = {0};
        int rc = pipe_param_read(abs, p->key, &v, &e);
        free(abs);
        cJSON *file = cJSON_GetObjectItemCaseSensitive(params, p->file);
        if (!file)
            file = cJSON_AddObjectToObject(params, p->file);
        if (rc == -CAP_ENOTFOUND) {
            cJSON_AddItemToArray(missing, cJSON_CreateString(p->key ? p->key : p->file));
            continue;
        }
        if (rc < 0) {
            *err = e;
            return rc;
        }
        if (!p->key) { /* every key of the file */
            for (cJSON *k = v->child; k; k = k->next)
                if (!cJSON_GetObjectItemCaseSensitive(file, k->string))
                    cJSON_AddItemToObject(file, k->string, cJSON_Duplicate(k, true));
            cJSON_Delete(v);
        } else if (!cJSON_GetObjectItemCaseSensitive(file, p->key)) {
            cJSON_AddItemToObject(file, p->key, v);
        } else {
            cJSON_Delete(v);
        }
    }
    sort_members(params);
    for (cJSON *f = params->child; f; f = f->next)
        sort_members(f);
    return 0;
}

/* Compares the values now with the entry's; adds {file: "new" | {key:
 * status}} to changed. */
static void diff_params(const cJSON *now, const cJSON *old_entry, const cJSON *missing,
                        cJSON *changed)
{
    const cJSON *old = cJSON_GetObjectItemCaseSensitive(old_entry, "params");
    for (const cJSON *f = now->child; f; f = f->next) {
        const cJSON *of = cJSON_GetObjectItemCaseSensitive(old, f->string);
        if (!old_entry) {
            cJSON_AddStringToObject(changed, f->string, "new");
            continue;
        }
        cJSON *keys = cJSON_CreateObject();
        for (const cJSON *k = f->child; k; k = k->next) {
            const cJSON *ov = cJSON_GetObjectItemCaseSensitive(of, k->string);
            if (!ov)
                cJSON_AddStringToObject(keys, k->string, "new");
            else if (!cJSON_Compare(ov, k, true))
                cJSON_AddStringToObject(keys, k->string, "modified");
        }
        const cJSON *m;
        cJSON_ArrayForEach(m, missing)
        {
            if (cJSON_GetObjectItemCaseSensitive(of, m->valuestring))
                cJSON_AddStringToObject(keys, m->valuestring, "deleted");
        }
        if (keys->child)
            cJSON_AddItemToObject(changed, f->string, keys);
        else
            cJSON_Delete(keys);
    }
}

/* Each output's status against the entry's record of it. */
static int check_outs(struct pipe_ws *ws, const struct pipe_stage *st, const cJSON *old,
                      cJSON *changed, struct cap_error *err)
{
    for (size_t i = 0; i < st->nouts; i++) {
        const struct pipe_out *o = &st->outs[i];
        const cJSON *rec = find_item(old, "outs", o->path);
        struct data_dvc_meta was;
        bool recorded = rec && pipe_lock_item_meta(rec, &was);
        if (recorded && o->cache) {
            int r = data_dvc_cached(ws->cache_dir, &was, err);
            if (r < 0)
                return r;
            if (r == 0) {
                cJSON_AddStringToObject(changed, o->path, "not in cache");
                continue;
            }
        }
        char *abs = pipe_stage_abspath(ws->spec, st, o->path);
        if (!abs)
            return cap_err(err, CAP_EINVAL, "Stage '%.200s': the output '%.300s' is outside "
                           "the pipeline's directory", st->name, o->path);
        struct data_dvc_meta m;
        int rc = data_dvc_hash(abs, ws->sc, &m, err);
        free(abs);
        if (rc == -CAP_ENOTFOUND)
            cJSON_AddStringToObject(changed, o->path, "deleted");
        else if (rc < 0)
            return rc;
        else if (!recorded || !same_meta(rec, &m))
            cJSON_AddStringToObject(changed, o->path, "modified");
    }
    return 0;
}

static void add_changed(cJSON *reasons, const char *what, cJSON *changed)
{
    if (!changed->child) {
        cJSON_Delete(changed);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, what, changed);
    cJSON_AddItemToArray(reasons, o);
}

static int check_deps(struct pipe_ws *ws, const struct pipe_stage *st, const cJSON *old,
                      struct pipe_check *c, struct cap_error *err)
{
    cJSON *changed = cJSON_CreateObject(), *missing = cJSON_CreateArray();
    cJSON *params = cJSON_CreateObject();
    int rc = 0;
    for (size_t i = 0; i < st->ndeps && rc == 0; i++)
        rc = check_dep(ws, st, st->deps[i], old, c, changed, err);
    if (rc == 0)
        rc = read_params(ws, st, params, missing, err);
    if (rc == 0 && cJSON_GetArraySize(missing)) {
        c->missing_dep = true;
        c->missing = cap_xstrdup(cJSON_GetArrayItem(missing, 0)->valuestring);
    }
    if (rc == 0) {
        diff_params(params, old, missing, changed);
        if (params->child)
            cJSON_AddItemToObject(c->entry, "params", params);
        else
            cJSON_Delete(params);
        params = NULL;
        if (!st->frozen)
            add_changed(c->reasons, "changed deps", changed);
        else
            cJSON_Delete(changed);
        changed = NULL;
    }
    cJSON_Delete(params);
    cJSON_Delete(changed);
    cJSON_Delete(missing);
    return rc;
}

int pipe_check_stage(struct pipe_ws *ws, size_t i, struct pipe_check *c, struct cap_error *err)
{
    const struct pipe_stage *st = &ws->spec->stages[i];
    const cJSON *old = lock_entry(ws, st->name);
    *c = (struct pipe_check){.reasons = cJSON_CreateArray(), .entry = cJSON_CreateObject()};
    cJSON_AddItemToObject(c->entry, "cmd", pipe_lock_cmd(st));
    cJSON_AddArrayToObject(c->entry, "deps");
    int rc = check_deps(ws, st, old, c, err);
    cJSON *changed = cJSON_CreateObject();
    if (rc == 0 && (rc = check_outs(ws, st, old, changed, err)) == 0) {
        add_changed(c->reasons, "changed outs", changed);
        changed = NULL;
    }
    cJSON_Delete(changed);
    if (rc == 0 && old &&
        !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(old, "cmd"),
                       cJSON_GetObjectItemCaseSensitive(c->entry, "cmd"), true))
        cJSON_AddItemToArray(c->reasons, cJSON_CreateString("changed command"));
    if (rc == 0 && st->always_changed)
        cJSON_AddItemToArray(c->reasons, cJSON_CreateString("always changed"));
    if (!cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(c->entry, "deps")))
        cJSON_DeleteItemFromObjectCaseSensitive(c->entry, "deps");
    if (rc < 0)
        pipe_check_free(c);
    return rc;
}

void pipe_check_free(struct pipe_check *c)
{
    cJSON_Delete(c->reasons);
    cJSON_Delete(c->entry);
    free(c->missing);
    memset(c, 0, sizeof *c);
}

int pipe_record_outs(struct pipe_ws *ws, const struct pipe_stage *st, cJSON *entry,
                     struct cap_error *err)
{
    cJSON *outs = cJSON_CreateArray();
    int rc = 0;
    for (size_t i = 0; i < st->nouts && rc == 0; i++) {
        const struct pipe_out *o = &st->outs[i];
        char *abs = pipe_stage_abspath(ws->spec, st, o->path);
        struct data_dvc_meta m;
        rc = o->cache ? data_dvc_commit(ws->cache_dir, abs, ws->sc, &m, err)
                      : data_dvc_hash(abs, ws->sc, &m, err);
        if (rc == -CAP_ENOTFOUND)
            rc = cap_err(err, CAP_EINVAL, "Stage '%.200s' did not write its output '%.300s', "
                         "expected the command to create it", st->name, o->path);
        if (rc == 0)
            add_sorted(outs, pipe_lock_item(o->path, &m));
        free(abs);
    }
    if (rc < 0) {
        cJSON_Delete(outs);
        return rc;
    }
    if (cJSON_GetArraySize(outs))
        cJSON_AddItemToObject(entry, "outs", outs);
    else
        cJSON_Delete(outs);
    return 0;
}

int pipe_status(const struct pipe_spec *s, const char *const *targets, size_t ntargets,
                cJSON **out, struct cap_error *err)
{
    *out = NULL;
    bool *sel = cap_xcalloc(s->n ? s->n : 1, sizeof *sel);
    struct pipe_ws ws;
    int rc = pipe_select(s, targets, ntargets, sel, err);
    if (rc == 0 && (rc = pipe_ws_open(s, &ws, err)) == 0) {
        cJSON *res = cJSON_CreateObject();
        for (size_t i = 0; i < s->n && rc == 0; i++) {
            struct pipe_check c;
            if (!sel[i] || (rc = pipe_check_stage(&ws, i, &c, err)) < 0)
                continue;
            if (cJSON_GetArraySize(c.reasons)) {
                cJSON_AddItemToObject(res, s->stages[i].name, c.reasons);
                c.reasons = NULL;
            }
            pipe_check_free(&c);
        }
        pipe_ws_close(&ws);
        if (rc == 0)
            *out = res;
        else
            cJSON_Delete(res);
    }
    free(sel);
    return rc;
}
