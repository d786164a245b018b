/* store_sqlite_registry_search.c - search for registered models and model
 * versions in the SQLite backend: the filter AST (track/filter.h) and order
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
 * name ASC; model versions by name ASC, version DESC (MLflow's SQL store);
 * the default order is also the tie-break after the keys asked for, so
 * pages never overlap. Page tokens are base64 {"offset": N} (LIMIT n+1
 * OFFSET k: deep pages cost O(offset), fine for registries, which are small
 * next to runs).
 *
 * The query builder is a small copy of the one in store_sqlite_search.c,
 * which keeps its own static; sharing one through store_sqlite.h would be
 * the better option once both files change together. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "store/store_sqlite.h"

/* ---------------- a query with its bindings ---------------- */

enum bind_kind { B_INT, B_DBL, B_TEXT };

struct bind {
    enum bind_kind kind;
    int64_t i;
    double d;
    const char *s;
};

struct rq {
    struct cap_buf sql;
    struct bind *b;
    size_t n, cap;
};

static void rq_push(struct rq *q, struct bind b)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 16;
        q->b = cap_xrealloc(q->b, q->cap * sizeof *q->b);
    }
    q->b[q->n++] = b;
    cap_buf_putc(&q->sql, '?');
}

static void rq_text(struct rq *q, const char *s)
{
    rq_push(q, (struct bind){.kind = B_TEXT, .s = s});
}

static void rq_int(struct rq *q, int64_t i)
{
    rq_push(q, (struct bind){.kind = B_INT, .i = i});
}

static void rq_num(struct rq *q, double d)
{
    if (d == floor(d) && fabs(d) < 9e18)
        rq_int(q, (int64_t)d);
    else
        rq_push(q, (struct bind){.kind = B_DBL, .d = d});
}

static void rq_sql(struct rq *q, const char *s)
{
    cap_buf_puts(&q->sql, s);
}

static sqlite3_stmt *rq_prepare(struct sq_conn *c, struct rq *q, struct cap_error *err)
{
    sqlite3_stmt *st = store_sq_prepare(c, q->sql.data, err);
    if (!st)
        return NULL;
    for (size_t i = 0; i < q->n; i++) {
        const struct bind *b = &q->b[i];
        int idx = (int)i + 1;
        if (b->kind == B_INT)
            sqlite3_bind_int64(st, idx, b->i);
        else if (b->kind == B_DBL)
            sqlite3_bind_double(st, idx, b->d);
        else
            store_sq_bind_text(st, idx, b->s);
    }
    return st;
}

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

static const char *op_name(enum filter_op op)
{
    static const char *const names[] = {"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN",
                                        "NOT IN"};
    return (unsigned)op < sizeof names / sizeof *names ? names[op] : "?";
}

/* One value of a condition: a number for numeric columns, text else. */
static int bind_value(struct rq *q, const char *s, double num, bool is_num, bool numeric,
                      const char *key, char *numbuf, size_t numlen, struct cap_error *err)
{
    if (numeric) {
        double d = num;
        char *end = NULL;
        if (!is_num && (!s || !*s || (d = strtod(s, &end), *end != '\0')))
            return cap_err(err, CAP_EINVAL,
                           "Invalid filter: '%s' must be compared with a number, got '%s'", key,
                           s ? s : "");
        rq_num(q, d);
        return 0;
    }
    if (is_num) {
        /* a number compared with a text column: compare its decimal form */
        snprintf(numbuf, numlen, "%.17g", num);
        rq_text(q, numbuf);
    } else {
        rq_text(q, s);
    }
    return 0;
}

/* Appends "<col> <op> <value(s)>"; numbuf holds a printed number until the
 * query has run. */
static int emit_cmp(struct rq *q, const char *col, const struct filter_cond *c, bool numeric,
                    char *numbuf, size_t numlen, struct cap_error *err)
{
    const struct filter_value *v = &c->value;
    static const char *const ops[] = {[FILTER_EQ] = " = ",  [FILTER_NE] = " != ",
                                      [FILTER_LT] = " < ",  [FILTER_LE] = " <= ",
                                      [FILTER_GT] = " > ",  [FILTER_GE] = " >= "};
    bool is_num = v->kind == FILTER_VALUE_NUMBER;
    switch (c->op) {
    case FILTER_EQ:
    case FILTER_NE:
    case FILTER_LT:
    case FILTER_LE:
    case FILTER_GT:
    case FILTER_GE:
        if (v->kind == FILTER_VALUE_LIST)
            break;
        rq_sql(q, col);
        rq_sql(q, ops[c->op]);
        return bind_value(q, v->str, v->num, is_num, numeric, c->key, numbuf, numlen, err);
    case FILTER_LIKE:
    case FILTER_ILIKE:
        if (numeric || v->kind != FILTER_VALUE_STRING)
            break;
        if (c->op == FILTER_LIKE) {
            rq_sql(q, col);
            rq_sql(q, " LIKE ");
            rq_text(q, v->str);
        } else {
            cap_buf_printf(&q->sql, "LOWER(%s) LIKE LOWER(", col);
            rq_text(q, v->str);
            rq_sql(q, ")");
        }
        return 0;
    case FILTER_IN:
    case FILTER_NOT_IN:
        if (v->kind != FILTER_VALUE_LIST || v->nlist == 0)
            break;
        rq_sql(q, col);
        rq_sql(q, c->op == FILTER_IN ? " IN (" : " NOT IN (");
        for (size_t i = 0; i < v->nlist; i++) {
            if (i)
                rq_sql(q, ", ");
            int rc = bind_value(q, v->list[i], 0, false, numeric, c->key, NULL, 0, err);
            if (rc < 0)
                return rc;
        }
        rq_sql(q, ")");
        return 0;
    }
    return cap_err(err, CAP_EINVAL, "Invalid comparator '%s' for '%s' in the search filter",
                   op_name(c->op), c->key);
}

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

/* Buffers for numbers printed as text, one per condition. */
#define NUMBUF 32

static int build(struct rq *q, enum target t, const struct store_query *sq, char (*numbufs)[NUMBUF],
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
        rq_sql(q, "SELECT " SQ_RM_COLUMNS " FROM registered_models rm");
    else
        rq_sql(q, "SELECT " SQ_MV_COLUMNS " FROM model_versions mv JOIN registered_models rm "
                  "ON rm.model_key = mv.model_key");
    for (size_t i = 0; f && i < f->n; i++) {
        if (f->conds[i].entity != FILTER_TAG)
            continue;
        cap_buf_printf(&q->sql, tag_join, f->conds[i].op == FILTER_NE ? "LEFT " : "", i, i, i);
        rq_text(q, f->conds[i].key);
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
        rq_sql(q, i ? " AND " : " WHERE ");
        bool missing_matches = c->entity == FILTER_TAG && c->op == FILTER_NE;
        if (missing_matches)
            cap_buf_printf(&q->sql, "(%s IS NULL OR ", colp);
        int rc = emit_cmp(q, colp, c, numeric, numbufs[i], NUMBUF, err);
        if (rc < 0)
            return rc;
        if (missing_matches)
            rq_sql(q, ")");
    }
    rq_sql(q, " ORDER BY ");
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
    rq_sql(q, t == T_MODELS ? "rm.name ASC" : "rm.name ASC, mv.version DESC");
    rq_sql(q, " LIMIT ");
    rq_int(q, limit);
    rq_sql(q, " OFFSET ");
    rq_int(q, offset);
    return 0;
}

static int search(struct sq *s, enum target t, const struct store_query *sq, cJSON **out,
                  char **next_token, struct cap_error *err)
{
    int64_t offset = 0;
    int rc = store_sq_page_offset(sq->page_token, &offset, err);
    if (rc < 0)
        return rc;
    size_t nconds = sq->filter ? sq->filter->n : 0;
    char (*numbufs)[NUMBUF] = cap_xcalloc(nconds + 1, sizeof *numbufs);
    struct rq q = {0};
    cap_buf_init(&q.sql);
    cJSON *list = cJSON_CreateArray();
    sqlite3_stmt *st = NULL;
    struct sq_conn *c = store_sq_reader(s);
    if ((rc = store_sq_read_begin(c, err)) < 0)
        goto release;
    if ((rc = build(&q, t, sq, numbufs, (int64_t)sq->max_results + 1, offset, err)) < 0)
        goto end;
    if (!(st = rq_prepare(c, &q, err))) {
        rc = -CAP_EINTERNAL;
        goto end;
    }
    int n = 0, src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == sq->max_results) {
            *next_token = store_sq_page_token(offset + n);
            break;
        }
        cJSON *item = NULL;
        rc = t == T_MODELS ? store_sq_registered_model_json(c, st, &item, err)
                           : store_sq_model_version_json(c, st, &item, err);
        if (rc < 0)
            goto end;
        cJSON_AddItemToArray(list, item);
        n++;
    }
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = store_sq_dberr(c, err, t == T_MODELS ? "searching registered models"
                                                  : "searching model versions");
end:
    sqlite3_finalize(st);
    store_sq_read_end(c);
release:
    store_sq_reader_done(s, c);
    cap_buf_free(&q.sql);
    free(q.b);
    free(numbufs);
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
