/* params.c - the values dvc.yaml, vars files and params files hold (pvals,
 * intern.h), read as DVC reads them: YAML with ruamel.yaml's YAML 1.2
 * typing of plain scalars (libyaml parses, we type), JSON with cJSON; and
 * pipe_param_read. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "data/data.h"
#include "pipeline/intern.h"

int pv_fail(struct cap_error *err, const char *file, const struct pval *v, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (v && v->line > 0)
        return cap_err(err, CAP_EINVAL, "%.200s:%d:%d: %s", file, v->line, v->col, msg);
    return cap_err(err, CAP_EINVAL, "%.200s: %s", file, msg);
}

struct pval *pv_new(enum pval_type t, int line, int col)
{
    struct pval *v = cap_xcalloc(1, sizeof *v);
    v->t = t;
    v->line = line;
    v->col = col;
    return v;
}

struct pval *pv_str_new(const char *s, int line, int col)
{
    struct pval *v = pv_new(PV_STR, line, col);
    v->s = cap_xstrdup(s);
    return v;
}

void pv_free(struct pval *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        pv_free(v->v[i]);
        if (v->k)
            free(v->k[i]);
    }
    free(v->v);
    free(v->k);
    free(v->s);
    free(v);
}

struct pval *pv_dup(const struct pval *v)
{
    if (!v)
        return NULL;
    struct pval *d = pv_new(v->t, v->line, v->col);
    d->b = v->b;
    d->i = v->i;
    d->f = v->f;
    d->s = v->s ? cap_xstrdup(v->s) : NULL;
    for (size_t i = 0; i < v->n; i++) {
        if (v->t == PV_MAP)
            pv_set(d, v->k[i], pv_dup(v->v[i]));
        else
            pv_push(d, pv_dup(v->v[i]));
    }
    return d;
}

struct pval *pv_get(const struct pval *m, const char *key)
{
    if (!m || m->t != PV_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->k[i], key) == 0)
            return m->v[i];
    return NULL;
}

static void grow(struct pval *c)
{
    if (c->n < c->cap)
        return;
    c->cap = c->cap ? 2 * c->cap : 4;
    c->v = cap_xrealloc(c->v, c->cap * sizeof *c->v);
    if (c->t == PV_MAP)
        c->k = cap_xrealloc(c->k, c->cap * sizeof *c->k);
}

void pv_push(struct pval *list, struct pval *val)
{
    grow(list);
    list->v[list->n++] = val;
}

void pv_set(struct pval *map, const char *key, struct pval *val)
{
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->k[i], key) == 0) {
            pv_free(map->v[i]);
            map->v[i] = val;
            return;
        }
    grow(map);
    map->k[map->n] = cap_xstrdup(key);
    map->v[map->n++] = val;
}

const char *pv_type_name(const struct pval *v)
{
    static const char *names[] = {"NoneType", "bool", "int", "float", "str", "list", "dict"};
    return v ? names[v->t] : "NoneType";
}

/* Python's repr of a double: the shortest digits that read back the same,
 * fixed notation for exponents -4..15 (with ".0" when whole), else d.ddde±XX. */
static void python_float(double f, struct cap_buf *b)
{
    if (isnan(f)) {
        cap_buf_puts(b, "nan");
        return;
    }
    if (isinf(f)) {
        cap_buf_puts(b, f < 0 ? "-inf" : "inf");
        return;
    }
    char e[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, f);
        if (strtod(e, NULL) == f)
            break;
    }
    char *ep = strchr(e, 'e');
    int exp = atoi(ep + 1);
    *ep = '\0';
    char digits[24];
    size_t nd = 0;
    bool neg = e[0] == '-';
    for (const char *p = e; *p; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    if (neg)
        cap_buf_putc(b, '-');
    if (exp < -4 || exp >= 16) {
        cap_buf_putc(b, digits[0]);
        if (nd > 1)
            cap_buf_printf(b, ".%s", digits + 1);
        cap_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        cap_buf_puts(b, "0.");
        for (int i = -1; i > exp; i--)
            cap_buf_putc(b, '0');
        cap_buf_puts(b, digits);
    } else {
        for (int i = 0; i <= exp; i++)
            cap_buf_putc(b, (size_t)i < nd ? digits[i] : '0');
        cap_buf_putc(b, '.');
        cap_buf_puts(b, (size_t)exp + 1 < nd ? digits + exp + 1 : "0");
    }
}

void pv_python_str(const struct pval *v, struct cap_buf *b)
{
    switch (v ? v->t : PV_NULL) {
    case PV_NULL: cap_buf_puts(b, "None"); break;
    case PV_BOOL: cap_buf_puts(b, v->b ? "True" : "False"); break;
    case PV_INT: cap_buf_printf(b, "%lld", (long long)v->i); break;
    case PV_FLOAT: python_float(v->f, b); break;
    case PV_STR: cap_buf_puts(b, v->s); break;
    default: cap_buf_puts(b, pv_type_name(v)); break; /* callers refuse these first */
    }
}

cJSON *pv_to_json(const struct pval *v)
{
    switch (v ? v->t : PV_NULL) {
    case PV_NULL: return cJSON_CreateNull();
    case PV_BOOL: return cJSON_CreateBool(v->b);
    case PV_INT: return cJSON_CreateNumber((double)v->i);
    case PV_FLOAT: return cJSON_CreateNumber(v->f);
    case PV_STR: return cJSON_CreateString(v->s);
    case PV_LIST: {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < v->n; i++)
            cJSON_AddItemToArray(a, pv_to_json(v->v[i]));
        return a;
    }
    default: {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; i < v->n; i++)
            cJSON_AddItemToObject(o, v->k[i], pv_to_json(v->v[i]));
        return o;
    }
    }
}

/* JSON numbers: cJSON keeps no text, so a whole number within 2^53 is an
 * int (JSON's 1.0 becomes 1: the one place we differ from Python). */
struct pval *pv_from_json(const cJSON *j)
{
    struct pval *v;
    if (cJSON_IsObject(j)) {
        v = pv_new(PV_MAP, 0, 0);
        for (const cJSON *c = j->child; c; c = c->next)
            pv_set(v, c->string, pv_from_json(c));
    } else if (cJSON_IsArray(j)) {
        v = pv_new(PV_LIST, 0, 0);
        for (const cJSON *c = j->child; c; c = c->next)
            pv_push(v, pv_from_json(c));
    } else if (cJSON_IsString(j)) {
        v = pv_str_new(j->valuestring, 0, 0);
    } else if (cJSON_IsBool(j)) {
        v = pv_new(PV_BOOL, 0, 0);
        v->b = cJSON_IsTrue(j);
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        bool whole = d == floor(d) && fabs(d) < 9007199254740992.0;
        v = pv_new(whole ? PV_INT : PV_FLOAT, 0, 0);
        v->i = whole ? (int64_t)d : 0;
        v->f = d;
    } else {
        v = pv_new(PV_NULL, 0, 0);
    }
    return v;
}

/* ---- YAML 1.2 core schema typing of a plain scalar (ruamel.yaml's) ---- */

/* s[0..] is [-+]? then at least one of set (underscores allowed). */
static bool digits_of(const char *s, const char *set)
{
    size_t n = strspn(s, set);
    return n > 0 && s[n] == '\0' && strspn(s, "_") != n;
}

static bool is_yaml_int(const char *s, int64_t *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    int base = 10;
    const char *set = "0123456789_";
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'o' || p[1] == 'b')) {
        base = p[1] == 'x' ? 16 : p[1] == 'o' ? 8 : 2;
        set = base == 16 ? "0123456789abcdefABCDEF_" : base == 8 ? "01234567_" : "01_";
        p += 2;
    }
    if (!digits_of(p, set))
        return false;
    char clean[72];
    size_t n = 0;
    for (; *p && n < sizeof clean - 1; p++)
        if (*p != '_')
            clean[n++] = *p;
    clean[n] = '\0';
    errno = 0;
    unsigned long long u = strtoull(clean, NULL, base);
    if (errno || u > (unsigned long long)INT64_MAX)
        return false; /* Python's big ints: kept as the text */
    *out = s[0] == '-' ? -(int64_t)u : (int64_t)u;
    return true;
}

static bool is_yaml_float(const char *s, double *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) {
        *out = *s == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (p == s && (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN"))) {
        *out = NAN;
        return true;
    }
    size_t a = strspn(p, "0123456789_");
    if (a > 0 && p[0] == '_')
        return false;
    const char *q = p + a;
    bool dot = *q == '.';
    if (dot)
        q += 1 + strspn(q + 1, "0123456789_");
    if (a == 0 && (!dot || q == p + 1))
        return false; /* ".5" has digits after the dot; "." has none */
    if (*q == 'e' || *q == 'E') {
        q++;
        q += (*q == '-' || *q == '+');
        size_t d = strspn(q, "0123456789");
        if (d == 0)
            return false;
        q += d;
    } else if (!dot) {
        return false; /* a plain integer */
    }
    if (*q)
        return false;
    char clean[128];
    size_t n = 0;
    for (const char *c = s; *c && n < sizeof clean - 1; c++)
        if (*c != '_')
            clean[n++] = *c;
    clean[n] = '\0';
    *out = strtod(clean, NULL);
    return true;
}

static struct pval *typed_scalar(const yaml_node_t *n, int line, int col)
{
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return pv_str_new(s, line, col);
    struct pval *v;
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
        !strcmp(s, "NULL"))
        return pv_new(PV_NULL, line, col);
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE") ||
        !strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        v = pv_new(PV_BOOL, line, col);
        v->b = s[0] == 't' || s[0] == 'T';
        return v;
    }
    int64_t i;
    double f;
    if (is_yaml_int(s, &i)) {
        v = pv_new(PV_INT, line, col);
        v->i = i;
        v->f = (double)i;
        return v;
    }
    if (is_yaml_float(s, &f)) {
        v = pv_new(PV_FLOAT, line, col);
        v->f = f;
        return v;
    }
    return pv_str_new(s, line, col);
}

struct yload {
    const char *name;
    yaml_document_t *doc;
    struct cap_error *err;
    int depth;
};

static int from_node(struct yload *y, const yaml_node_t *n, struct pval **out);

/* "<<: *anchor" (or a list of them): the keys not given in m itself. */
static int merge_key(struct yload *y, struct pval *m, const yaml_node_t *src)
{
    struct pval *v;
    int rc = from_node(y, src, &v);
    if (rc)
        return rc;
    size_t nsrc = v->t == PV_LIST ? v->n : 1;
    for (size_t j = 0; j < nsrc && rc == 0; j++) {
        struct pval *one = v->t == PV_LIST ? v->v[j] : v;
        if (one->t != PV_MAP) {
            rc = pv_fail(y->err, y->name, one, "'<<' merges %s, expected a mapping",
                         pv_type_name(one));
            break;
        }
        for (size_t i = 0; i < one->n; i++)
            if (!pv_get(m, one->k[i]))
                pv_set(m, one->k[i], pv_dup(one->v[i]));
    }
    pv_free(v);
    return rc;
}

static int from_mapping(struct yload *y, const yaml_node_t *n, struct pval *m)
{
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(y->doc, p->value);
        struct pval *kv;
        int rc = from_node(y, k, &kv);
        if (rc)
            return rc;
        if (kv->t == PV_LIST || kv->t == PV_MAP) {
            rc = pv_fail(y->err, y->name, kv, "a key is a %s, expected a name",
                         pv_type_name(kv));
            pv_free(kv);
            return rc;
        }
        struct cap_buf ks;
        cap_buf_init(&ks);
        if (kv->t == PV_BOOL)
            cap_buf_puts(&ks, kv->b ? "true" : "false");
        else
            pv_python_str(kv, &ks);
        bool merge = kv->t == PV_STR && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                     !strcmp(kv->s, "<<");
        if (merge)
            rc = merge_key(y, m, val);
        else if (pv_get(m, ks.data))
            rc = pv_fail(y->err, y->name, kv, "'%.100s' is given twice, expected it once",
                         ks.data);
        struct pval *vv = NULL;
        if (rc == 0 && !merge && (rc = from_node(y, val, &vv)) == 0)
            pv_set(m, ks.data, vv);
        cap_buf_free(&ks);
        pv_free(kv);
        if (rc)
            return rc;
    }
    return 0;
}

static int from_node(struct yload *y, const yaml_node_t *n, struct pval **out)
{
    int line = (int)n->start_mark.line + 1, col = (int)n->start_mark.column + 1;
    *out = NULL;
    if (++y->depth > 200) {
        y->depth--;
        return cap_err(y->err, CAP_EINVAL, "%.200s:%d:%d: nested over 200 levels deep, "
                       "expected less", y->name, line, col);
    }
    int rc = 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
            rc = cap_err(y->err, CAP_EINVAL, "%.200s:%d:%d: a string holds a NUL character, "
                         "expected text", y->name, line, col);
        else
            *out = typed_scalar(n, line, col);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        *out = pv_new(PV_LIST, line, col);
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top && rc == 0; it++) {
            struct pval *v;
            if ((rc = from_node(y, yaml_document_get_node(y->doc, *it), &v)) == 0)
                pv_push(*out, v);
        }
    } else {
        *out = pv_new(PV_MAP, line, col);
        rc = from_mapping(y, n, *out);
    }
    y->depth--;
    if (rc) {
        pv_free(*out);
        *out = NULL;
    }
    return rc;
}

int pv_parse_yaml(const char *name, const char *text, size_t len, struct pval **out,
                  struct cap_error *err)
{
    *out = NULL;
    yaml_document_t doc;
    int rc = data_yaml_load(name, text, len, &doc, err);
    if (rc)
        return rc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    struct yload y = {name, &doc, err, 0};
    rc = root ? from_node(&y, root, out) : 0;
    if (rc == 0 && (!*out || (*out)->t == PV_NULL)) {
        pv_free(*out);
        *out = pv_new(PV_MAP, 1, 1);
    }
    yaml_document_delete(&doc);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int pv_load_file(const char *path, struct pval **out, struct cap_error *err)
{
    *out = NULL;
    if (ends_with(path, ".toml"))
        return cap_err(err, CAP_EINVAL, "'%.300s' is a TOML file, which Capstan cannot read "
                       "(Debian ships no C TOML reader), expected a YAML or JSON file", path);
    if (ends_with(path, ".py"))
        return cap_err(err, CAP_EINVAL, "'%.300s' is a Python file, which Capstan does not "
                       "read parameters from, expected a YAML or JSON file", path);
    char *text;
    size_t len;
    /* Params files are small; 64 MiB bounds what a wrong path makes us read. */
    int rc = data_read_file(path, (size_t)64 << 20, &text, &len, err);
    if (rc == -CAP_ENOTFOUND)
        return cap_err(err, CAP_ENOTFOUND, "'%.300s' does not exist", path);
    if (rc)
        return rc;
    if (ends_with(path, ".json")) {
        cJSON *j = cJSON_ParseWithLength(text, len);
        if (!j)
            rc = cap_err(err, CAP_EINVAL, "'%.300s' is not valid JSON near byte %td", path,
                         cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text : (ptrdiff_t)0);
        else
            *out = pv_from_json(j);
        cJSON_Delete(j);
    } else {
        rc = pv_parse_yaml(path, text, len, out, err);
    }
    free(text);
    return rc;
}

int pipe_param_read(const char *file, const char *key, cJSON **out, struct cap_error *err)
{
    *out = NULL;
    struct pval *all;
    int rc = pv_load_file(file, &all, err);
    if (rc)
        return rc;
    if (all->t != PV_MAP) {
        rc = cap_err(err, CAP_EINVAL, "'%.300s' holds a %s, expected a mapping of parameters",
                     file, pv_type_name(all));
        pv_free(all);
        return rc;
    }
    const struct pval *v = all;
    if (key) {
        char *copy = cap_xstrdup(key), *save = NULL;
        for (char *part = strtok_r(copy, ".", &save); part && v;
             part = strtok_r(NULL, ".", &save))
            v = pv_get(v, part);
        free(copy);
        if (!v || !*key)
            rc = cap_err(err, CAP_ENOTFOUND, "the parameter '%.200s' is not in '%.300s'", key,
                         file);
    }
    if (rc == 0)
        *out = pv_to_json(v);
    pv_free(all);
    return rc;
}
