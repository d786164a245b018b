/* store_sqlite_query.c - SQL text with its bound values, built piece by
 * piece from the search filter AST: user strings are always bound, never
 * spliced into SQL. Shared by the run/experiment/logged-model searches and
 * the registry searches. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_sqlite.h"

void store_sq_query_init(struct sq_query *q)
{
    memset(q, 0, sizeof *q);
    cap_buf_init(&q->sql);
}

void store_sq_query_free(struct sq_query *q)
{
    cap_buf_free(&q->sql);
    free(q->b);
    for (size_t i = 0; i < q->nowned; i++)
        free(q->owned[i]);
    free(q->owned);
}

static void query_push(struct sq_query *q, struct sq_bind b)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 16;
        q->b = cap_xrealloc(q->b, q->cap * sizeof *q->b);
    }
    q->b[q->n++] = b;
    cap_buf_putc(&q->sql, '?');
}

void store_sq_query_text(struct sq_query *q, const char *s)
{
    query_push(q, (struct sq_bind){.kind = SQ_B_TEXT, .s = s});
}

void store_sq_query_int(struct sq_query *q, int64_t i)
{
    query_push(q, (struct sq_bind){.kind = SQ_B_INT, .i = i});
}

void store_sq_query_num(struct sq_query *q, double d)
{
    if (d == floor(d) && fabs(d) < 9e18)
        store_sq_query_int(q, (int64_t)d);
    else
        query_push(q, (struct sq_bind){.kind = SQ_B_DBL, .d = d});
}

const char *store_sq_query_own(struct sq_query *q, char *s)
{
    q->owned = cap_xrealloc(q->owned, (q->nowned + 1) * sizeof *q->owned);
    q->owned[q->nowned++] = s;
    return s;
}

void store_sq_query_sql(struct sq_query *q, const char *s)
{
    cap_buf_puts(&q->sql, s);
}

struct sq_stmt *store_sq_query_prepare(struct sq_conn *c, struct sq_query *q, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_prepare(c, q->sql.data, err);
    if (!st)
        return NULL;
    store_sq_bind(st, q->b, q->n);
    return st;
}

/* ---------------- comparisons ---------------- */

static bool parse_number(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return false;
    *out = strtod(s, &end);
    return *end == '\0';
}

/* Binds one value of a condition: numbers for numeric columns, text else. */
static int bind_value(struct sq_query *q, const char *s, double num, bool is_num, bool numeric_col,
                      const char *key, struct cap_error *err)
{
    if (numeric_col) {
        double d = num;
        if (!is_num && !parse_number(s, &d))
            return cap_err(err, CAP_EINVAL,
                           "Invalid filter: '%s' must be compared with a number, got '%s'", key,
                           s);
        store_sq_query_num(q, d);
        return 0;
    }
    if (is_num) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", num);
        store_sq_query_text(q, store_sq_query_own(q, cap_xstrdup(buf)));
    } else {
        store_sq_query_text(q, s);
    }
    return 0;
}

/* Our own copy of the operator names: the store links without track/. */
static const char *op_name(enum filter_op op)
{
    static const char *const names[] = {"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN",
                                        "NOT IN"};
    return (unsigned)op < sizeof names / sizeof *names ? names[op] : "?";
}

/* Appends "<col> <op> <value(s)>" for one condition. */
int store_sq_query_cmp(struct sq_query *q, const char *col, const struct filter_cond *c, bool numeric,
                    struct cap_error *err)
{
    const struct filter_value *v = &c->value;
    static const char *const ops[] = {[FILTER_EQ] = " = ",  [FILTER_NE] = " != ",
                                      [FILTER_LT] = " < ",  [FILTER_LE] = " <= ",
                                      [FILTER_GT] = " > ",  [FILTER_GE] = " >= "};
    switch (c->op) {
    case FILTER_EQ:
    case FILTER_NE:
    case FILTER_LT:
    case FILTER_LE:
    case FILTER_GT:
    case FILTER_GE:
        if (v->kind == FILTER_VALUE_LIST)
            break;
        store_sq_query_sql(q, col);
        store_sq_query_sql(q, ops[c->op]);
        return bind_value(q, v->str, v->num, v->kind == FILTER_VALUE_NUMBER, numeric, c->key,
                          err);
    case FILTER_LIKE:
    case FILTER_ILIKE:
        if (numeric || v->kind != FILTER_VALUE_STRING)
            break;
        if (c->op == FILTER_LIKE) {
            store_sq_query_sql(q, col);
            store_sq_query_sql(q, " LIKE ");
            store_sq_query_text(q, v->str);
        } else {
            cap_buf_printf(&q->sql, "LOWER(%s) LIKE LOWER(", col);
            store_sq_query_text(q, v->str);
            store_sq_query_sql(q, ")");
        }
        return 0;
    case FILTER_IN:
    case FILTER_NOT_IN:
        store_sq_query_sql(q, col);
        store_sq_query_sql(q, c->op == FILTER_IN ? " IN (" : " NOT IN (");
        if (v->kind == FILTER_VALUE_LIST) {
            for (size_t i = 0; i < v->nlist; i++) {
                if (i)
                    store_sq_query_sql(q, ", ");
                int rc = bind_value(q, v->list[i], 0, false, numeric, c->key, err);
                if (rc < 0)
                    return rc;
            }
        } else {
            int rc = bind_value(q, v->str, v->num, v->kind == FILTER_VALUE_NUMBER, numeric,
                                c->key, err);
            if (rc < 0)
                return rc;
        }
        store_sq_query_sql(q, ")");
        return 0;
    }
    return cap_err(err, CAP_EINVAL, "Invalid comparator '%s' for '%s' in the search filter",
                   op_name(c->op), c->key);
}


int store_sq_query_page(struct sq_conn *c, struct sq_stmt *st, int max, int64_t offset,
                        sq_row_json row_json, cJSON *list, char **next_token, const char *what,
                        struct cap_error *err)
{
    int n = 0, src;
    while ((src = sq_step(st)) == SQ_ROW) {
        if (n == max) {
            *next_token = store_sq_page_token(offset + n);
            return 0;
        }
        cJSON *item = NULL;
        int rc = row_json(c, st, &item, err);
        if (rc < 0)
            return rc;
        cJSON_AddItemToArray(list, item);
        n++;
    }
    return src == SQ_DONE ? 0 : store_sq_dberr(c, err, what);
}
