/* schema.c - a table's schema file (table.h says its shape): parsed once,
 * strictly (an unknown member or a value of the wrong type is an error
 * naming it), then checked against the table's columns as table.c reads
 * them; the violations name the rows and their lines. */
#include "data/table.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"
#include "base/util.h"
#include "monitor/monitor.h"

enum col_type { T_ANY, T_INTEGER, T_FLOAT, T_STRING };

static const char *const type_names[] = {"any", "integer", "float", "string"};

struct scol {
    char *name;
    enum col_type type;
    bool not_null;
    bool has_min, has_max;
    double min, max;
    char **atext;  /* the allowed strings, sorted */
    size_t natext;
    double *anum;  /* the allowed numbers (and strings that read as one), sorted */
    size_t nanum;
    char *adesc;   /* the list as given, shortened, for messages */
};

struct skey {
    char **names;
    size_t n;
};

struct data_schema {
    struct scol *cols;
    size_t ncols;
    struct skey *keys;
    size_t nkeys;
    bool has_rows_min, has_rows_max;
    double rows_min, rows_max;
};

void data_schema_free(struct data_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ncols; i++) {
        struct scol *c = &s->cols[i];
        free(c->name);
        for (size_t j = 0; j < c->natext; j++)
            free(c->atext[j]);
        free(c->atext);
        free(c->anum);
        free(c->adesc);
    }
    free(s->cols);
    for (size_t i = 0; i < s->nkeys; i++) {
        for (size_t j = 0; j < s->keys[i].n; j++)
            free(s->keys[i].names[j]);
        free(s->keys[i].names);
    }
    free(s->keys);
    free(s);
}

/* ---- parsing ---- */

/* The first member name that appears twice in an object, or NULL (cJSON
 * keeps both; the second would silently win or lose). */
static const char *dup_member(const cJSON *o)
{
    for (const cJSON *a = o->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return a->string;
    return NULL;
}

/* o must be an object with no member given twice; where names it in
 * messages ("" for the document itself), expect says what it should be. */
static int check_object(const char *label, const char *where, const cJSON *o, const char *expect,
                        struct cap_error *err)
{
    const char *sep = *where ? ": " : "";
    if (!cJSON_IsObject(o))
        return cap_err(err, CAP_EINVAL, "%s: %s%sexpected %s", label, where, sep, expect);
    const char *dup = dup_member(o);
    if (dup)
        return cap_err(err, CAP_EINVAL, "%s: %s%s\"%s\" is given twice", label, where, sep, dup);
    return 0;
}

static int cmp_num(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* "allowed": a non-empty list of strings and numbers. */
static int parse_allowed(const char *label, struct scol *c, const cJSON *v, struct cap_error *err)
{
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n == 0)
        return cap_err(err, CAP_EINVAL, "%s: column '%s': \"allowed\" must be a non-empty list "
                       "of strings and numbers", label, c->name);
    c->atext = cap_xcalloc(n, sizeof *c->atext);
    c->anum = cap_xcalloc(n, sizeof *c->anum);
    struct cap_buf d;
    cap_buf_init(&d);
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        double x;
        if (cJSON_IsString(it)) {
            c->atext[c->natext++] = cap_xstrdup(it->valuestring);
            if (cap_text_to_double(it->valuestring, strlen(it->valuestring), &x) && !isnan(x))
                c->anum[c->nanum++] = x;
        } else if (cJSON_IsNumber(it)) {
            c->anum[c->nanum++] = it->valuedouble;
        } else {
            cap_buf_free(&d);
            return cap_err(err, CAP_EINVAL, "%s: column '%s': \"allowed\" holds %s (expected "
                           "strings and numbers)", label, c->name,
                           cJSON_IsNull(it) ? "null" : cJSON_IsBool(it) ? "a boolean"
                                                                         : "a list or object");
        }
        if (d.len < 120) {
            if (d.len)
                cap_buf_puts(&d, ", ");
            if (cJSON_IsString(it))
                cap_buf_puts(&d, it->valuestring);
            else
                cap_buf_printf(&d, "%.15g", it->valuedouble);
        } else if (!strstr(d.data, ", ...")) {
            cap_buf_puts(&d, ", ...");
        }
    }
    qsort(c->atext, c->natext, sizeof *c->atext, cap_strp_cmp);
    qsort(c->anum, c->nanum, sizeof *c->anum, cmp_num);
    c->adesc = cap_buf_steal(&d);
    return 0;
}

static int parse_type(const char *label, struct scol *c, const cJSON *v, struct cap_error *err)
{
    for (int t = T_INTEGER; t <= T_STRING; t++)
        if (cJSON_IsString(v) && strcmp(v->valuestring, type_names[t]) == 0) {
            c->type = (enum col_type)t;
            return 0;
        }
    return cap_err(err, CAP_EINVAL, "%s: column '%s': \"type\" is %s%s%s (expected \"integer\", "
                   "\"float\" or \"string\")", label, c->name, cJSON_IsString(v) ? "'" : "",
                   cJSON_IsString(v) ? v->valuestring : "not a string",
                   cJSON_IsString(v) ? "'" : "");
}

static int parse_bound(const char *label, const char *col, const cJSON *v, bool *has, double *out,
                       struct cap_error *err)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return cap_err(err, CAP_EINVAL, "%s: column '%s': \"%s\" must be a number", label, col,
                       v->string);
    *has = true;
    *out = v->valuedouble;
    return 0;
}

/* Adds a unique key of n names (copied); a key naming a column twice is
 * an error. */
static int add_key(const char *label, struct data_schema *s, const char *const *names, size_t n,
                   struct cap_error *err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0)
                return cap_err(err, CAP_EINVAL, "%s: \"unique\": column '%s' is named twice in "
                               "one key", label, names[i]);
    s->keys = cap_xrealloc(s->keys, (s->nkeys + 1) * sizeof *s->keys);
    struct skey *k = &s->keys[s->nkeys++];
    k->n = n;
    k->names = cap_xmalloc(n * sizeof *k->names);
    for (size_t i = 0; i < n; i++)
        k->names[i] = cap_xstrdup(names[i]);
    return 0;
}

static int parse_rule(const char *label, struct data_schema *s, struct scol *c, const cJSON *v,
                      struct cap_error *err)
{
    const char *r = v->string;
    if (strcmp(r, "type") == 0)
        return parse_type(label, c, v, err);
    if (strcmp(r, "min") == 0)
        return parse_bound(label, c->name, v, &c->has_min, &c->min, err);
    if (strcmp(r, "max") == 0)
        return parse_bound(label, c->name, v, &c->has_max, &c->max, err);
    if (strcmp(r, "allowed") == 0)
        return parse_allowed(label, c, v, err);
    if ((strcmp(r, "nullable") == 0 || strcmp(r, "unique") == 0) && !cJSON_IsBool(v))
        return cap_err(err, CAP_EINVAL, "%s: column '%s': \"%s\" must be true or false", label,
                       c->name, r);
    if (strcmp(r, "nullable") == 0) {
        c->not_null = cJSON_IsFalse(v);
        return 0;
    }
    if (strcmp(r, "unique") == 0) {
        const char *one[1] = {c->name};
        return cJSON_IsTrue(v) ? add_key(label, s, one, 1, err) : 0;
    }
    return cap_err(err, CAP_EINVAL, "%s: column '%s': unknown rule \"%s\" (expected type, "
                   "nullable, min, max, allowed or unique)", label, c->name, r);
}

static int parse_column(const char *label, struct data_schema *s, const cJSON *o,
                        struct cap_error *err)
{
    struct scol *c = &s->cols[s->ncols++];
    c->name = cap_xstrdup(o->string);
    char where[300];
    snprintf(where, sizeof where, "column '%.280s'", c->name);
    int rc = check_object(label, where, o, "an object of rules (type, nullable, min, max, "
                          "allowed, unique)", err);
    for (const cJSON *v = rc == 0 ? o->child : NULL; v && rc == 0; v = v->next)
        rc = parse_rule(label, s, c, v, err);
    if (rc == 0 && c->has_min && c->has_max && c->min > c->max)
        rc = cap_err(err, CAP_EINVAL, "%s: column '%s': min %.15g is above max %.15g", label,
                     c->name, c->min, c->max);
    return rc;
}

static int parse_columns(const char *label, struct data_schema *s, const cJSON *o,
                         struct cap_error *err)
{
    int rc = check_object(label, "\"columns\"", o, "an object of column names to their rules",
                          err);
    if (rc < 0)
        return rc;
    s->cols = cap_xcalloc((size_t)cJSON_GetArraySize(o) + 1, sizeof *s->cols);
    for (const cJSON *c = o->child; c && rc == 0; c = c->next)
        rc = parse_column(label, s, c, err);
    return rc;
}

/* A list of column names, into names (room for the list's size). */
static bool names_of(const cJSON *a, const char **names, size_t *n)
{
    const cJSON *it;
    *n = 0;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsString(it))
            return false;
        names[(*n)++] = it->valuestring;
    }
    return *n > 0;
}

/* "unique": ["a", "b"] (one key) or [["a"], ["b", "c"]] (several). */
static int parse_keys(const char *label, struct data_schema *s, const cJSON *v,
                      struct cap_error *err)
{
    const char *expect = "a non-empty list of column names, or a list of such lists";
    size_t n = (size_t)cJSON_GetArraySize(v), k;
    if (!cJSON_IsArray(v) || n == 0)
        return cap_err(err, CAP_EINVAL, "%s: \"unique\" must be %s", label, expect);
    if (!cJSON_IsArray(v->child)) {
        const char **names = cap_xmalloc(n * sizeof *names);
        int rc = names_of(v, names, &k) ? add_key(label, s, names, k, err)
                                        : cap_err(err, CAP_EINVAL, "%s: \"unique\" must be %s",
                                                  label, expect);
        free(names);
        return rc;
    }
    const cJSON *key;
    cJSON_ArrayForEach(key, v)
    {
        size_t m = (size_t)cJSON_GetArraySize(key);
        const char **names = cap_xmalloc((m + 1) * sizeof *names);
        int rc = cJSON_IsArray(key) && names_of(key, names, &k)
                     ? add_key(label, s, names, k, err)
                     : cap_err(err, CAP_EINVAL, "%s: \"unique\" must be %s", label, expect);
        free(names);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* "rows": {"min": n, "max": n}, whole numbers >= 0. */
static int parse_rows(const char *label, struct data_schema *s, const cJSON *o,
                      struct cap_error *err)
{
    int rc = check_object(label, "\"rows\"", o, "an object {\"min\": n, \"max\": n}", err);
    if (rc < 0)
        return rc;
    for (const cJSON *v = o->child; v; v = v->next) {
        bool lo = strcmp(v->string, "min") == 0;
        if (!lo && strcmp(v->string, "max") != 0)
            return cap_err(err, CAP_EINVAL, "%s: \"rows\": unknown member \"%s\" (expected "
                           "\"min\" and \"max\")", label, v->string);
        double x = v->valuedouble;
        if (!cJSON_IsNumber(v) || !(x >= 0 && x <= 9007199254740992.0) || x != floor(x))
            return cap_err(err, CAP_EINVAL, "%s: \"rows\": \"%s\" must be a whole number of "
                           "rows, 0 or more", label, v->string);
        *(lo ? &s->has_rows_min : &s->has_rows_max) = true;
        *(lo ? &s->rows_min : &s->rows_max) = x;
    }
    if (s->has_rows_min && s->has_rows_max && s->rows_min > s->rows_max)
        return cap_err(err, CAP_EINVAL, "%s: \"rows\": min %.0f is above max %.0f", label,
                       s->rows_min, s->rows_max);
    return 0;
}

/* The line of a parse error, for the message. */
static size_t line_at(const char *text, const char *at)
{
    size_t line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    return line;
}

static int parse_doc(const char *label, struct data_schema *s, const cJSON *j,
                     struct cap_error *err)
{
    int rc = check_object(label, "", j, "a JSON object with \"columns\", \"unique\" and "
                          "\"rows\"", err);
    for (const cJSON *v = j->child; v && rc == 0; v = v->next) {
        if (strcmp(v->string, "columns") == 0)
            rc = parse_columns(label, s, v, err);
        else if (strcmp(v->string, "unique") == 0)
            rc = parse_keys(label, s, v, err);
        else if (strcmp(v->string, "rows") == 0)
            rc = parse_rows(label, s, v, err);
        else
            rc = cap_err(err, CAP_EINVAL, "%s: unknown member \"%s\" (expected \"columns\", "
                         "\"unique\" and \"rows\")", label, v->string);
    }
    return rc;
}

int data_schema_parse(const char *label, const char *text, size_t len, struct data_schema **out,
                      struct cap_error *err)
{
    *out = NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!j)
        return cap_err(err, CAP_EINVAL, "%s: line %zu: not valid JSON", label,
                       line_at(text, end && end >= text && end <= text + len ? end : text));
    struct data_schema *s = cap_xcalloc(1, sizeof *s);
    int rc = parse_doc(label, s, j, err);
    cJSON_Delete(j);
    if (rc < 0)
        data_schema_free(s);
    else
        *out = s;
    return rc;
}

#define SCHEMA_MAX_BYTES (16u << 20)

int data_schema_load(const char *path, struct data_schema **out, struct cap_error *err)
{
    *out = NULL;
    struct cap_buf b;
    cap_buf_init(&b);
    int rc = cap_buf_read_file(&b, path, SCHEMA_MAX_BYTES, err);
    if (rc == -CAP_ETOOLARGE)
        rc = cap_err(err, CAP_EINVAL, "%s: larger than %u MiB: no schema file is", path,
                     SCHEMA_MAX_BYTES >> 20);
    if (rc == 0)
        rc = data_schema_parse(path, b.data ? b.data : "", b.len, out, err);
    cap_buf_free(&b);
    return rc;
}

/* ---- checking a table ---- */

struct viol {
    const char *rule;
    cJSON *columns;  /* the names */
    char *where;     /* "column 'age'", "columns 'a', 'b'", NULL for the row count */
    char *what;      /* "above max 150", or the whole tail for "rows" and "column" */
    size_t count;
    size_t shown[DATA_TABLE_ROWS_SHOWN]; /* 0-based rows, ascending */
    size_t nshown;
    bool has_rows;   /* a rule on rows: shows them */
};

struct data_schema_check {
    const struct data_schema *s;
    char *path;
    size_t nrows, ncols;
    const struct scol **rules; /* per shell column: its rules, or NULL */
    bool **key_cols;           /* per key: flags over the shell's columns, NULL: lacking one */
    struct viol *v;
    size_t n, cap;
};

static struct viol *viol_add(struct data_schema_check *c, const char *rule)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 8;
        c->v = cap_xrealloc(c->v, c->cap * sizeof *c->v);
    }
    struct viol *v = &c->v[c->n++];
    memset(v, 0, sizeof *v);
    v->rule = rule;
    v->columns = cJSON_CreateArray();
    return v;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0)
        abort(); /* out of memory, as cap_xmalloc */
    va_end(ap);
    return s;
}

static ssize_t shell_col(const struct mon_frame *shell, const char *name)
{
    for (size_t i = 0; i < shell->ncols; i++)
        if (strcmp(shell->cols[i].name, name) == 0)
            return (ssize_t)i;
    return -1;
}

/* The row count, and the columns the schema names that the table lacks. */
static void check_shell(struct data_schema_check *c, const struct mon_frame *shell)
{
    const struct data_schema *s = c->s;
    double rows = (double)shell->nrows;
    if ((s->has_rows_min && rows < s->rows_min) || (s->has_rows_max && rows > s->rows_max)) {
        struct viol *v = viol_add(c, "rows");
        v->count = shell->nrows;
        bool few = s->has_rows_min && rows < s->rows_min;
        v->what = fmt("%zu rows, %s than the schema's %s %.0f", shell->nrows,
                      few ? "fewer" : "more", few ? "min" : "max",
                      few ? s->rows_min : s->rows_max);
    }
    for (size_t i = 0; i < s->ncols; i++) {
        ssize_t at = shell_col(shell, s->cols[i].name);
        if (at >= 0) {
            c->rules[at] = &s->cols[i];
            continue;
        }
        struct viol *v = viol_add(c, "column");
        cJSON_AddItemToArray(v->columns, cJSON_CreateString(s->cols[i].name));
        v->what = fmt("column '%s' is missing (the schema has rules for it)", s->cols[i].name);
    }
}

/* Each key's columns over the shell; a key naming a column the table
 * lacks is a violation of its own when no column rule named it. */
static void resolve_keys(struct data_schema_check *c, const struct mon_frame *shell)
{
    const struct data_schema *s = c->s;
    c->key_cols = cap_xcalloc(s->nkeys + 1, sizeof *c->key_cols);
    for (size_t k = 0; k < s->nkeys; k++) {
        bool *cols = cap_xcalloc(shell->ncols + 1, sizeof *cols);
        for (size_t i = 0; cols && i < s->keys[k].n; i++) {
            const char *name = s->keys[k].names[i];
            ssize_t at = shell_col(shell, name);
            if (at >= 0) {
                cols[at] = true;
                continue;
            }
            free(cols);
            cols = NULL;
            bool named = false;
            for (size_t j = 0; j < s->ncols; j++)
                named = named || strcmp(s->cols[j].name, name) == 0;
            for (size_t j = 0; j < c->n && !named; j++)
                named = strcmp(c->v[j].rule, "column") == 0 &&
                        strcmp(cJSON_GetArrayItem(c->v[j].columns, 0)->valuestring, name) == 0;
            if (!named) {
                struct viol *v = viol_add(c, "column");
                cJSON_AddItemToArray(v->columns, cJSON_CreateString(name));
                v->what = fmt("column '%s' is missing (a unique key of the schema names it)",
                              name);
            }
        }
        c->key_cols[k] = cols;
    }
}

struct data_schema_check *data_schema_check_new(const struct data_schema *s, const char *path,
                                                const struct mon_frame *shell)
{
    struct data_schema_check *c = cap_xcalloc(1, sizeof *c);
    c->s = s;
    c->path = cap_xstrdup(path);
    c->nrows = shell->nrows;
    c->ncols = shell->ncols;
    c->rules = cap_xcalloc(shell->ncols + 1, sizeof *c->rules);
    check_shell(c, shell);
    resolve_keys(c, shell);
    return c;
}

size_t data_schema_check_nkeys(const struct data_schema_check *c)
{
    return c->s->nkeys;
}

const bool *data_schema_check_key_cols(const struct data_schema_check *c, size_t k)
{
    return c->key_cols[k];
}

/* ---- the rules of one column ---- */

static bool cell_missing(const struct mon_column *k, size_t r)
{
    return k->dtype == MON_TEXT ? k->text[r] == NULL : isnan(k->num[r]);
}

/* A cell read as a number (a text cell by cap_text_to_double's rule);
 * false for a missing cell and for text that is no number. */
static bool cell_number(const struct mon_column *k, size_t r, double *v)
{
    if (k->dtype != MON_TEXT) {
        *v = k->num[r];
        return !isnan(*v);
    }
    const char *t = k->text[r];
    return t && cap_text_to_double(t, strlen(t), v) && !isnan(*v);
}

static bool in_sorted_num(const double *a, size_t n, double x)
{
    return bsearch(&x, a, n, sizeof *a, cmp_num) != NULL;
}

static bool cell_allowed(const struct scol *sc, const struct mon_column *k, size_t r)
{
    double x;
    if (cell_number(k, r, &x) && in_sorted_num(sc->anum, sc->nanum, x))
        return true;
    const char *t = k->dtype == MON_TEXT ? k->text[r] : NULL;
    return t && bsearch(&t, sc->atext, sc->natext, sizeof *sc->atext, cap_strp_cmp) != NULL;
}

enum rule { R_TYPE, R_NULLABLE, R_MIN, R_MAX, R_ALLOWED };

static bool bad_cell(enum rule rule, const struct scol *sc, const struct mon_column *k, size_t r)
{
    double x = 0;
    switch (rule) {
    case R_TYPE:
        if (cell_missing(k, r) || sc->type == T_STRING)
            return false;
        if (!cell_number(k, r, &x))
            return true;
        return sc->type == T_INTEGER && !(isfinite(x) && x == floor(x));
    case R_NULLABLE: return cell_missing(k, r);
    case R_MIN: return cell_number(k, r, &x) && x < sc->min;
    case R_MAX: return cell_number(k, r, &x) && x > sc->max;
    default: return !cell_missing(k, r) && !cell_allowed(sc, k, r);
    }
}

static const char *const rule_names[] = {"type", "nullable", "min", "max", "allowed"};

/* One rule over every row of k; a violation when a row breaks it. */
static void check_rule(struct data_schema_check *c, enum rule rule, const struct scol *sc,
                       const struct mon_column *k, size_t nrows)
{
    size_t count = 0, shown[DATA_TABLE_ROWS_SHOWN], nshown = 0;
    for (size_t r = 0; r < nrows; r++)
        if (bad_cell(rule, sc, k, r)) {
            if (nshown < DATA_TABLE_ROWS_SHOWN)
                shown[nshown++] = r;
            count++;
        }
    if (!count)
        return;
    struct viol *v = viol_add(c, rule_names[rule]);
    cJSON_AddItemToArray(v->columns, cJSON_CreateString(k->name));
    v->where = fmt("column '%s'", k->name);
    v->count = count;
    v->has_rows = true;
    memcpy(v->shown, shown, nshown * sizeof *shown);
    v->nshown = nshown;
    switch (rule) {
    case R_TYPE: v->what = fmt("not of type %s", type_names[sc->type]); break;
    case R_NULLABLE: v->what = fmt("missing though nullable is false"); break;
    case R_MIN: v->what = fmt("below min %.15g", sc->min); break;
    case R_MAX: v->what = fmt("above max %.15g", sc->max); break;
    default: v->what = fmt("not among the allowed values [%s]", sc->adesc); break;
    }
}

void data_schema_check_columns(struct data_schema_check *c, const struct mon_frame *f,
                               const bool *keep)
{
    for (size_t i = 0; i < f->ncols; i++) {
        const struct scol *sc = c->rules[i];
        if ((keep && !keep[i]) || !sc)
            continue;
        const struct mon_column *k = &f->cols[i];
        if (sc->type != T_ANY)
            check_rule(c, R_TYPE, sc, k, f->nrows);
        if (sc->not_null)
            check_rule(c, R_NULLABLE, sc, k, f->nrows);
        if (sc->has_min)
            check_rule(c, R_MIN, sc, k, f->nrows);
        if (sc->has_max)
            check_rule(c, R_MAX, sc, k, f->nrows);
        if (sc->adesc)
            check_rule(c, R_ALLOWED, sc, k, f->nrows);
    }
}

/* ---- unique keys ---- */

struct key_cols {
    const struct mon_column **k;
    size_t n;
};

/* Missing sorts last and equals missing, as pandas' duplicated() has it. */
static int cmp_cell(const struct mon_column *k, size_t a, size_t b)
{
    if (k->dtype == MON_TEXT) {
        const char *x = k->text[a], *y = k->text[b];
        return x && y ? strcmp(x, y) : (x == NULL) - (y == NULL);
    }
    double x = k->num[a], y = k->num[b];
    if (isnan(x) || isnan(y))
        return (int)!!isnan(x) - (int)!!isnan(y);
    return (x > y) - (x < y);
}

static int cmp_key(const struct key_cols *kc, size_t a, size_t b)
{
    for (size_t i = 0; i < kc->n; i++) {
        int d = cmp_cell(kc->k[i], a, b);
        if (d)
            return d;
    }
    return 0;
}

/* By key, then by row: the first row of each run of equal keys is the
 * earliest, and the others repeat it. */
static int cmp_rows(const void *pa, const void *pb, void *ctx)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int d = cmp_key(ctx, a, b);
    return d ? d : (a > b) - (a < b);
}

/* Keeps the DATA_TABLE_ROWS_SHOWN smallest rows seen, ascending. */
static void keep_smallest(struct viol *v, size_t r)
{
    size_t i = v->nshown;
    if (i == DATA_TABLE_ROWS_SHOWN) {
        if (r > v->shown[i - 1])
            return;
        i--;
    } else {
        v->nshown++;
    }
    for (; i > 0 && v->shown[i - 1] > r; i--)
        v->shown[i] = v->shown[i - 1];
    v->shown[i] = r;
}

void data_schema_check_key(struct data_schema_check *c, size_t key, const struct mon_frame *f)
{
    const struct skey *sk = &c->s->keys[key];
    struct key_cols kc = {cap_xmalloc(sk->n * sizeof *kc.k), sk->n};
    for (size_t i = 0; i < sk->n; i++)
        kc.k[i] = &f->cols[shell_col(f, sk->names[i])];
    size_t *idx = cap_xmalloc((f->nrows ? f->nrows : 1) * sizeof *idx);
    for (size_t r = 0; r < f->nrows; r++)
        idx[r] = r;
    qsort_r(idx, f->nrows, sizeof *idx, cmp_rows, &kc);
    struct viol *v = NULL;
    for (size_t i = 1; i < f->nrows; i++) {
        if (cmp_key(&kc, idx[i - 1], idx[i]) != 0)
            continue;
        if (!v) {
            v = viol_add(c, "unique");
            v->has_rows = true;
        }
        v->count++;
        keep_smallest(v, idx[i]);
    }
    if (v) {
        struct cap_buf w;
        cap_buf_init(&w);
        cap_buf_puts(&w, sk->n == 1 ? "column " : "columns ");
        for (size_t i = 0; i < sk->n; i++) {
            cap_buf_printf(&w, "%s'%s'", i ? ", " : "", sk->names[i]);
            cJSON_AddItemToArray(v->columns, cJSON_CreateString(sk->names[i]));
        }
        v->where = cap_buf_steal(&w);
        v->what = fmt("repeating an earlier row's %s", sk->n == 1 ? "value" : "key");
    }
    free(idx);
    free(kc.k);
}

/* ---- the violations as JSON ---- */

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* "(rows 4, 17, 88, ... at lines 5, 18, 89, ...)", lines omitted when the
 * format has none. */
static void rows_text(struct cap_buf *b, const struct viol *v, const size_t *lines)
{
    bool more = v->count > v->nshown, plural = v->nshown > 1 || more;
    cap_buf_printf(b, " (row%s ", plural ? "s" : "");
    for (size_t i = 0; i < v->nshown; i++)
        cap_buf_printf(b, "%s%zu", i ? ", " : "", v->shown[i] + 1);
    if (more)
        cap_buf_puts(b, ", ...");
    if (v->nshown && lines[0]) {
        cap_buf_printf(b, " at line%s ", plural ? "s" : "");
        for (size_t i = 0; i < v->nshown; i++)
            cap_buf_printf(b, "%s%zu", i ? ", " : "", lines[i]);
        if (more)
            cap_buf_puts(b, ", ...");
    }
    cap_buf_putc(b, ')');
}

static cJSON *viol_json(const char *path, struct viol *v, const size_t *lines)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "rule", v->rule);
    cJSON_AddItemToObject(o, "columns", v->columns);
    v->columns = NULL;
    cJSON_AddNumberToObject(o, "count", (double)v->count);
    cJSON *rows = cJSON_AddArrayToObject(o, "rows"), *ls = cJSON_AddArrayToObject(o, "lines");
    for (size_t i = 0; i < v->nshown; i++) {
        cJSON_AddItemToArray(rows, cJSON_CreateNumber((double)(v->shown[i] + 1)));
        if (lines[i])
            cJSON_AddItemToArray(ls, cJSON_CreateNumber((double)lines[i]));
    }
    struct cap_buf m;
    cap_buf_init(&m);
    cap_buf_printf(&m, "%s: ", path);
    if (v->where)
        cap_buf_printf(&m, "%s: %zu row%s ", v->where, v->count, v->count == 1 ? "" : "s");
    cap_buf_puts(&m, v->what);
    if (v->has_rows)
        rows_text(&m, v, lines);
    cJSON_AddStringToObject(o, "message", m.data);
    cap_buf_free(&m);
    return o;
}

static void check_free(struct data_schema_check *c)
{
    for (size_t i = 0; i < c->n; i++) {
        cJSON_Delete(c->v[i].columns);
        free(c->v[i].where);
        free(c->v[i].what);
    }
    for (size_t k = 0; k < c->s->nkeys; k++)
        free(c->key_cols[k]);
    free(c->key_cols);
    free(c->rules);
    free(c->v);
    free(c->path);
    free(c);
}

int data_schema_check_finish(struct data_schema_check *c, cJSON **out, struct cap_error *err)
{
    if (!out) {
        check_free(c);
        return 0;
    }
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->v[i].nshown;
    size_t *rows = cap_xmalloc((n + 1) * sizeof *rows), *lines = cap_xmalloc((n + 1) * sizeof *lines);
    n = 0;
    for (size_t i = 0; i < c->n; i++)
        for (size_t j = 0; j < c->v[i].nshown; j++)
            rows[n++] = c->v[i].shown[j];
    qsort(rows, n, sizeof *rows, cmp_size);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || rows[i] != rows[u - 1])
            rows[u++] = rows[i];
    int rc = mon_frame_row_lines(c->path, rows, u, lines, err);
    if (rc == 0) {
        *out = cJSON_CreateArray();
        for (size_t i = 0; i < c->n; i++) {
            size_t vl[DATA_TABLE_ROWS_SHOWN] = {0};
            for (size_t j = 0; j < c->v[i].nshown; j++) {
                size_t *at = bsearch(&c->v[i].shown[j], rows, u, sizeof *rows, cmp_size);
                vl[j] = lines[at - rows];
            }
            cJSON_AddItemToArray(*out, viol_json(c->path, &c->v[i], vl));
        }
    }
    free(rows);
    free(lines);
    check_free(c);
    return rc;
}
