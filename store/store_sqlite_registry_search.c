/* store_sqlite_registry_search.c - search for registered models and model
 * versions in the SQL store: the filter AST (track/filter.h) and order
 * keys become one SQL query with bound parameters (no user text is spliced
 * into SQL), filtering, ordering and paging happen in the database, and only
 * the page's rows become JSON.
 *
 * Semantics (MLflow's): a tag condition is an inner JOIN, so an object
 * without the tag never matches it, except for '!=': there a missing tag
 * matches (a LEFT JOIN), because the mlflow client hides prompts from model
 * searches with tags.`mlflow.prompt.is_prompt` != 'true' and expects every
 * untagged model back. A comparison with an
 * unset attribute (a version without run_id) never matches either. LIKE is
 * case-sensitive (the read connections run with case_sensitive_like) and
 * ILIKE compares LOWER() of both sides. Default order: registered models by
 * name ASC; model versions by last_updated_timestamp DESC, name ASC, version
 * DESC (MLflow's SQL store); name ASC (, version DESC) is also the tie-break
 * after the keys asked for, so
 * pages never overlap. Page tokens are base64 {"offset": N} (LIMIT n+1
 * OFFSET k: deep pages cost O(offset), fine for registries, which are small
 * next to runs).
 *
 * The query builder (store_sq_query_*) is shared with the run searches.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "store/store_sqlite.h"

/* ---------------- comparisons ---------------- */

struct attr {
    const char *name;     /* canonical name from track/filter.h */
    const char *col;
    bool numeric;
};

static const struct attr rm_attrs[] = {
    {"name", "rm.name", false},
    {"creation_timestamp", "rm.creation_time", true},
    {"last_updated_timestamp", "rm.last_updated_time", true},
    {NULL, NULL, false},
};

static const struct attr mv_attrs[] = {
    {"name", "rm.name", false},
    {"version_number", "mv.version", true},
    {"run_id", "mv.run_id", false},
    {"source", "mv.source", false},
    {"creation_timestamp", "mv.creation_time", true},
    {"last_updated_timestamp", "mv.last_updated_time", true},
    {NULL, NULL, false},
};

static const struct attr *find_attr(const struct attr *t, const char *key, const char *what,
                                    struct cap_error *err)
{
    for (; t->name; t++)
        if (strcmp(t->name, key) == 0)
            return t;
    cap_err(err, CAP_EINVAL, "Invalid attribute key '%s' in the %s", key, what);
    return NULL;
}

/* ---------------- the query ---------------- */

enum target { T_MODELS, T_VERSIONS };

static int build(struct sq_query *q, enum target t, const struct store_query *sq,
                 int64_t limit, int64_t offset, struct cap_error *err)
{
    const struct attr *attrs = t == T_MODELS ? rm_attrs : mv_attrs;
    const char *tag_join = t == T_MODELS
                               ? " %sJOIN registered_model_tags f%zu ON f%zu.model_key = "
                                 "rm.model_key AND f%zu.key = "
                               : " %sJOIN model_version_tags f%zu ON f%zu.mv_id = mv.mv_id AND "
                                 "f%zu.key = ";
    const struct filter *f = sq->filter;
    if (t == T_MODELS)
        store_sq_query_sql(q, "SELECT " SQ_RM_COLUMNS " FROM registered_models rm");
    else
        store_sq_query_sql(q, "SELECT " SQ_MV_COLUMNS " FROM model_versions mv JOIN registered_models rm "
                  "ON rm.model_key = mv.model_key");
    for (size_t i = 0; f && i < f->n; i++) {
        if (f->conds[i].entity != FILTER_TAG)
            continue;
        cap_buf_printf(&q->sql, tag_join, f->conds[i].op == FILTER_NE ? "LEFT " : "", i, i, i);
        store_sq_query_text(q, f->conds[i].key);
    }
    for (size_t i = 0; f && i < f->n; i++) {
        const struct filter_cond *c = &f->conds[i];
        char col[32];
        const char *colp = col;
        bool numeric = false;
        if (c->entity == FILTER_TAG) {
            snprintf(col, sizeof col, "f%zu.value", i);
        } else if (c->entity == FILTER_ATTR) {
            const struct attr *a = find_attr(attrs, c->key, "search filter", err);
            if (!a)
                return -CAP_EINVAL;
            colp = a->col;
            numeric = a->numeric;
        } else {
            return cap_err(err, CAP_EINVAL, "Invalid search filter key '%s' for %s", c->key,
                           t == T_MODELS ? "registered models" : "model versions");
        }
        store_sq_query_sql(q, i ? " AND " : " WHERE ");
        bool missing_matches = c->entity == FILTER_TAG && c->op == FILTER_NE;
        if (missing_matches)
            cap_buf_printf(&q->sql, "(%s IS NULL OR ", colp);
        int rc = store_sq_query_cmp(q, colp, c, numeric, err);
        if (rc < 0)
            return rc;
        if (missing_matches)
            store_sq_query_sql(q, ")");
    }
    store_sq_query_sql(q, " ORDER BY ");
    for (size_t j = 0; j < sq->norder; j++) {
        const struct order_key *k = &sq->order[j];
        const struct attr *a =
            k->entity == FILTER_ATTR ? find_attr(attrs, k->key, "order_by clause", err) : NULL;
        if (!a)
            return k->entity == FILTER_ATTR
                       ? -CAP_EINVAL
                       : cap_err(err, CAP_EINVAL, "Invalid order_by key '%s'", k->key);
        cap_buf_printf(&q->sql, "%s%s, ", a->col, k->ascending ? " ASC" : " DESC");
    }
    if (t == T_VERSIONS && sq->norder == 0) /* MLflow's default: the latest change first */
        store_sq_query_sql(q, "mv.last_updated_time DESC, ");
    store_sq_query_sql(q, t == T_MODELS ? "rm.name ASC" : "rm.name ASC, mv.version DESC");
    store_sq_query_sql(q, " LIMIT ");
    store_sq_query_int(q, limit);
    store_sq_query_sql(q, " OFFSET ");
    store_sq_query_int(q, offset);
    return 0;
}

static int search(struct sq *s, enum target t, const struct store_query *sq, cJSON **out,
                  char **next_token, struct cap_error *err)
{
    int64_t offset = 0;
    int rc = store_sq_page_offset(sq->page_token, &offset, err);
    if (rc < 0)
        return rc;
    struct sq_query q;
    store_sq_query_init(&q);
    cJSON *list = cJSON_CreateArray();
    struct sq_stmt *st = NULL;
    struct sq_conn *c = store_sq_reader(s);
    if ((rc = store_sq_read_begin(c, err)) < 0)
        goto release;
    if ((rc = build(&q, t, sq, (int64_t)sq->max_results + 1, offset, err)) < 0)
        goto end;
    if (!(st = store_sq_query_prepare(c, &q, err))) {
        rc = -CAP_EINTERNAL;
        goto end;
    }
    rc = store_sq_query_page(
        c, st, sq->max_results, offset,
        t == T_MODELS ? store_sq_registered_model_json : store_sq_model_version_json, list,
        next_token, t == T_MODELS ? "searching registered models" : "searching model versions",
        err);
end:
    sq_finalize(st);
    store_sq_read_end(c);
release:
    store_sq_reader_done(s, c);
    store_sq_query_free(&q);
    if (rc < 0) {
        cJSON_Delete(list);
        free(*next_token);
        *next_token = NULL;
        return rc;
    }
    *out = list;
    return 0;
}

int store_sq_registered_model_search(void *impl, const struct store_query *q, cJSON **out,
                                     char **next_token, struct cap_error *err)
{
    return search(impl, T_MODELS, q, out, next_token, err);
}

int store_sq_model_version_search(void *impl, const struct store_query *q, cJSON **out,
                                  char **next_token, struct cap_error *err)
{
    return search(impl, T_VERSIONS, q, out, next_token, err);
}
