/* template.c - dvc.yaml's vars and ${...} as DVC 3 resolves them (read in
 * dvc 3.67.1's dvc/parsing/{__init__,context,interpolate}.py):
 * - ${expr} is found by the regex (?<!\\)\$\{(.*?)\}: the first '}' ends
 *   it, "\${" is no expression and is written as "${";
 * - expr is word(.word|[word])*, a word any text without . [ ]; each word
 *   is stripped of spaces, selects a key of a mapping or an index (Python
 *   int(), negative from the end) of a list;
 * - a string that is exactly one ${x} becomes x's value with its type;
 *   elsewhere values become text: bools true/false, numbers as Python's
 *   str(), None as "None", and in cmd a mapping as "--key value" arguments
 *   (DVC's defaults: store_true bools, nargs lists; strings shell-quoted);
 *   lists and mappings elsewhere are refused, as DVC refuses them;
 * - vars merge without overwriting: a key defined twice is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/intern.h"

void tpl_ctx_init(struct tpl_ctx *c, const char *file, const char *root)
{
    memset(c, 0, sizeof *c);
    c->vars = pv_new(PV_MAP, 0, 0);
    c->file = file;
    c->root = root;
}

static void free_import(struct tpl_import *im)
{
    free(im->path);
    for (size_t j = 0; j < im->nkeys; j++)
        free(im->keys[j]);
    free(im->keys);
}

void tpl_ctx_free(struct tpl_ctx *c)
{
    pv_free(c->vars);
    for (size_t i = 0; i < c->nimports; i++)
        free_import(&c->imports[i]);
    free(c->imports);
    memset(c, 0, sizeof *c);
}

void tpl_ctx_copy(struct tpl_ctx *dst, const struct tpl_ctx *src)
{
    tpl_ctx_init(dst, src->file, src->root);
    pv_free(dst->vars);
    dst->vars = pv_dup(src->vars);
    dst->imports = cap_xcalloc(src->nimports + 1, sizeof *dst->imports);
    for (size_t i = 0; i < src->nimports; i++) {
        const struct tpl_import *s = &src->imports[i];
        struct tpl_import *d = &dst->imports[dst->nimports++];
        d->path = cap_xstrdup(s->path);
        if (s->keys) {
            d->keys = cap_xcalloc(s->nkeys + 1, sizeof *d->keys);
            for (size_t j = 0; j < s->nkeys; j++)
                d->keys[d->nkeys++] = cap_xstrdup(s->keys[j]);
        }
    }
}

/* ---- vars ---- */

/* Merges src's keys into into (both maps); path is the dotted place so far. */
static int merge(const struct tpl_ctx *c, struct pval *into, const struct pval *src,
                 const char *path, const char *from, struct cap_error *err)
{
    for (size_t i = 0; i < src->n; i++) {
        struct pval *have = pv_get(into, src->k[i]);
        char sub[300];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", src->k[i]);
        int rc = 0;
        if (have && have->t == PV_MAP && src->v[i]->t == PV_MAP)
            rc = merge(c, have, src->v[i], sub, from, err);
        else if (have)
            rc = pv_fail(err, c->file, src->v[i], "cannot redefine '%s' from '%s': it is "
                         "already defined, expected each variable defined once", sub, from);
        else
            pv_set(into, src->k[i], pv_dup(src->v[i]));
        if (rc)
            return rc;
    }
    return 0;
}

static int check_reserved(const struct tpl_ctx *c, const struct pval *m, const char *from,
                          const char *const *reserved, struct cap_error *err)
{
    for (size_t i = 0; reserved && reserved[i]; i++)
        if (pv_get(m, reserved[i]))
            return pv_fail(err, c->file, pv_get(m, reserved[i]), "'%s' sets '%s', which "
                           "foreach/matrix reserves, expected another name", from,
                           reserved[i]);
    return 0;
}

static struct tpl_import *find_import(struct tpl_ctx *c, const char *path)
{
    for (size_t i = 0; i < c->nimports; i++)
        if (strcmp(c->imports[i].path, path) == 0)
            return &c->imports[i];
    return NULL;
}

/* DVC's check_loaded: a file loaded whole may not be loaded in part, and
 * no key of it twice. */
static int check_loaded(const struct tpl_ctx *c, const struct pval *at, const char *item,
                        const struct tpl_import *im, const struct pval *keys,
                        struct cap_error *err)
{
    bool clash = !keys ? im->keys != NULL : im->keys == NULL;
    for (size_t i = 0; keys && im->keys && i < keys->n && !clash; i++)
        for (size_t j = 0; j < im->nkeys && !clash; j++)
            clash = strcmp(keys->v[i]->s, im->keys[j]) == 0;
    if (!clash)
        return 0;
    return pv_fail(err, c->file, at, "cannot load '%s': '%s' is already loaded %s, expected "
                   "each file (or key of it) loaded once", item, im->path,
                   im->keys ? "in part" : "whole");
}

static void record_import(struct tpl_ctx *c, const char *path, const struct pval *keys)
{
    struct tpl_import *im = find_import(c, path);
    if (!im) {
        c->imports = cap_xrealloc(c->imports, (c->nimports + 1) * sizeof *c->imports);
        im = &c->imports[c->nimports++];
        memset(im, 0, sizeof *im);
        im->path = cap_xstrdup(path);
    }
    if (!keys)
        return;
    im->keys = cap_xrealloc(im->keys, (im->nkeys + keys->n + 1) * sizeof *im->keys);
    for (size_t i = 0; i < keys->n; i++)
        im->keys[im->nkeys++] = cap_xstrdup(keys->v[i]->s);
}

/* "file" or "file:key1,key2", relative to wdir. */
static int merge_file(struct tpl_ctx *c, const struct pval *at, const char *item,
                      const char *wdir, const char *const *reserved, struct cap_error *err)
{
    const char *colon = strchr(item, ':');
    char *rel = colon ? cap_xstrndup(item, (size_t)(colon - item)) : cap_xstrdup(item);
    char *path = pipe_path_join(wdir, rel);
    free(rel);
    struct pval *keys = NULL;
    if (colon && colon[1]) {
        keys = pv_new(PV_LIST, 0, 0);
        char *copy = cap_xstrdup(colon + 1), *save = NULL;
        for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save))
            pv_push(keys, pv_str_new(k, 0, 0));
        free(copy);
    }
    struct tpl_import *im = find_import(c, path);
    int rc = 0;
    struct pval *data = NULL, *sel = NULL;
    if (im && !keys && !im->keys)
        goto done; /* the same whole file named twice: allowed */
    if (im && (rc = check_loaded(c, at, item, im, keys, err)) != 0)
        goto done;
    char *full = pipe_path_join(c->root, path);
    struct cap_error e2 = {0};
    rc = pv_load_file(full, &data, &e2);
    free(full);
    if (rc) {
        rc = pv_fail(err, c->file, at, "cannot load vars '%s': %s", item, e2.msg);
        goto done;
    }
    if (data->t != PV_MAP) {
        rc = pv_fail(err, c->file, at, "vars file '%s' holds a %s, expected a mapping", path,
                     pv_type_name(data));
        goto done;
    }
    sel = keys ? pv_new(PV_MAP, 0, 0) : pv_dup(data);
    for (size_t i = 0; keys && i < keys->n && rc == 0; i++) {
        struct pval *v = pv_get(data, keys->v[i]->s);
        if (!v)
            rc = pv_fail(err, c->file, at, "cannot load vars '%s': '%s' is not in '%s', "
                         "expected one of its top-level keys", item, keys->v[i]->s, path);
        else
            pv_set(sel, keys->v[i]->s, pv_dup(v));
    }
    if (rc == 0 && (rc = check_reserved(c, sel, item, reserved, err)) == 0 &&
        (rc = merge(c, c->vars, sel, "", path, err)) == 0)
        record_import(c, path, keys);
done:
    pv_free(sel);
    pv_free(data);
    pv_free(keys);
    free(path);
    return rc;
}

static int no_expr(const struct tpl_ctx *c, const struct pval *v, const char *where,
                   struct cap_error *err)
{
    if (v->t == PV_STR && tpl_has_expr(v->s))
        return pv_fail(err, c->file, v, "'%s' holds '%.100s': interpolating is not allowed in "
                       "vars, expected plain values", where, v->s);
    for (size_t i = 0; i < v->n; i++) {
        if (v->k && tpl_has_expr(v->k[i]))
            return pv_fail(err, c->file, v, "'%s' holds the key '%.100s': interpolating is not "
                           "allowed in vars, expected plain values", where, v->k[i]);
        int rc = no_expr(c, v->v[i], where, err);
        if (rc)
            return rc;
    }
    return 0;
}

int tpl_load_vars(struct tpl_ctx *c, const struct pval *vars, const char *wdir,
                  const char *dflt, const char *where, const char *const *reserved,
                  struct cap_error *err)
{
    if (dflt) {
        char *path = pipe_path_join(wdir, dflt), *full = pipe_path_join(c->root, path);
        struct stat st;
        bool exists = stat(full, &st) == 0;
        free(full);
        free(path);
        if (exists) {
            struct pval at = {.line = 0};
            int rc = merge_file(c, &at, dflt, wdir, reserved, err);
            if (rc)
                return rc;
        }
    }
    if (!vars)
        return 0;
    int rc = no_expr(c, vars, where, err);
    for (size_t i = 0; i < vars->n && rc == 0; i++) {
        const struct pval *it = vars->v[i];
        char from[300];
        snprintf(from, sizeof from, "%s[%zu]", where, i);
        if (it->t == PV_STR)
            rc = merge_file(c, it, it->s, wdir, reserved, err);
        else if (it->t == PV_MAP && (rc = check_reserved(c, it, from, reserved, err)) == 0)
            rc = merge(c, c->vars, it, "", from, err);
        else if (it->t != PV_MAP)
            rc = pv_fail(err, c->file, it, "'%s' is a %s, expected a file name or a mapping",
                         from, pv_type_name(it));
    }
    return rc;
}

/* ---- expressions ---- */

/* The next unescaped "${...}" at or after from: start and end (one past
 * the '}'); false when there is none. */
static bool next_expr(const char *s, size_t from, size_t *start, size_t *end)
{
    for (const char *p = strstr(s + from, "${"); p; p = strstr(p + 1, "${")) {
        if (p > s && p[-1] == '\\')
            continue;
        const char *close = strchr(p + 2, '}');
        if (!close)
            return false;
        *start = (size_t)(p - s);
        *end = (size_t)(close - s) + 1;
        return true;
    }
    return false;
}

bool tpl_has_expr(const char *s)
{
    size_t a, b;
    return next_expr(s, 0, &a, &b);
}

static char *strip(const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return cap_xstrndup(s, n);
}

/* Python's int() of an index word, negative counting from the end. */
static bool list_index(const char *w, size_t n, size_t *out)
{
    const char *p = w + (*w == '-' || *w == '+');
    if (!*p || strspn(p, "0123456789_") != strlen(p) || *p == '_' || strstr(p, "__"))
        return false;
    long long i = 0;
    for (; *p; p++)
        if (*p != '_')
            i = i * 10 + (*p - '0');
    if (*w == '-')
        i = -i;
    if (i < 0)
        i += (long long)n;
    if (i < 0 || (size_t)i >= n)
        return false;
    *out = (size_t)i;
    return true;
}

/* Splits expr into its words (DVC's grammar); NULL when it does not parse. */
static char **split_expr(const char *expr, size_t *nwords)
{
    size_t cap = 4, n = 0;
    char **w = cap_xmalloc(cap * sizeof *w);
    const char *p = expr;
    bool ok = true;
    for (bool first = true; *p && ok; first = false) {
        char close = 0;
        if (!first) {
            if (*p == '[')
                close = ']';
            else if (*p != '.')
                ok = false;
            p++;
        }
        size_t len = strcspn(p, ".[]");
        ok = ok && len > 0 && (!close || p[len] == close);
        if (!ok)
            break;
        if (n == cap)
            w = cap_xrealloc(w, (cap *= 2) * sizeof *w);
        w[n++] = strip(p, len);
        p += len + (close ? 1 : 0);
    }
    if (!*expr || !ok) {
        while (n)
            free(w[--n]);
        free(w);
        return NULL;
    }
    *nwords = n;
    return w;
}

static int select_expr(const struct tpl_ctx *c, const struct pval *at, const char *where,
                       const char *expr, const struct pval **out, struct cap_error *err)
{
    size_t nw;
    char **w = split_expr(expr, &nw);
    if (!w)
        return pv_fail(err, c->file, at, "%s: '${%.100s}' is not a valid expression, expected "
                       "names joined by '.' or '[index]'", where, expr);
    const struct pval *v = c->vars;
    for (size_t i = 0; i < nw && v; i++) {
        size_t idx;
        if (v->t == PV_MAP)
            v = pv_get(v, w[i]);
        else if (v->t == PV_LIST && list_index(w[i], v->n, &idx))
            v = v->v[idx];
        else
            v = NULL;
    }
    for (size_t i = 0; i < nw; i++)
        free(w[i]);
    free(w);
    *out = v;
    if (!v)
        return pv_fail(err, c->file, at, "%s: '${%.100s}' is not defined, expected a key of "
                       "params.yaml, vars, or foreach's item/key", where, expr);
    return 0;
}

/* ---- turning values into text ---- */

/* Python's shlex.quote. */
static void shell_quote(const char *s, struct cap_buf *b)
{
    bool safe = *s != '\0';
    for (const char *p = s; *p && safe; p++)
        safe = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               (*p >= '0' && *p <= '9') || strchr("_@%+=:,./-", *p);
    if (safe) {
        cap_buf_puts(b, s);
        return;
    }
    cap_buf_putc(b, '\'');
    for (const char *p = s; *p; p++)
        cap_buf_puts(b, *p == '\'' ? "'\"'\"'" : (char[]){*p, 0});
    cap_buf_putc(b, '\'');
}

static void scalar_text(const struct pval *v, struct cap_buf *b)
{
    if (v && v->t == PV_BOOL)
        cap_buf_puts(b, v->b ? "true" : "false");
    else
        pv_python_str(v, b);
}

/* One flattened "key: value" of a mapping in cmd, as DVC's to_str(dict). */
static int dict_arg(const struct tpl_ctx *c, const struct pval *at, const char *k,
                    const struct pval *v, struct cap_buf *b, struct cap_error *err)
{
    if (v->t == PV_BOOL) {
        if (v->b)
            cap_buf_printf(b, "--%s ", k);
    } else if (v->t == PV_STR) {
        cap_buf_printf(b, "--%s ", k);
        shell_quote(v->s, b);
        cap_buf_putc(b, ' ');
    } else if (v->t == PV_LIST) {
        for (size_t i = 0; i < v->n; i++) {
            const struct pval *it = v->v[i];
            if (it->t == PV_LIST || it->t == PV_MAP)
                return pv_fail(err, c->file, at, "cannot interpolate a nested list or mapping "
                               "in '%s', expected scalars", k);
            if (i == 0)
                cap_buf_printf(b, "--%s ", k);
            if (it->t == PV_STR)
                shell_quote(it->s, b);
            else
                pv_python_str(it, b);
            cap_buf_putc(b, ' ');
        }
    } else {
        cap_buf_printf(b, "--%s ", k);
        pv_python_str(v, b);
        cap_buf_putc(b, ' ');
    }
    return 0;
}

static int dict_text(const struct tpl_ctx *c, const struct pval *at, const struct pval *m,
                     const char *prefix, struct cap_buf *b, struct cap_error *err)
{
    for (size_t i = 0; i < m->n; i++) {
        struct cap_buf k;
        cap_buf_init(&k);
        cap_buf_printf(&k, "%s%s%s", prefix, *prefix ? "." : "", m->k[i]);
        int rc = m->v[i]->t == PV_MAP ? dict_text(c, at, m->v[i], k.data, b, err)
                                      : dict_arg(c, at, k.data, m->v[i], b, err);
        cap_buf_free(&k);
        if (rc)
            return rc;
    }
    return 0;
}

/* DVC's validate_value: lists and mappings only as whole values of
 * foreach/matrix data, or a mapping in cmd. */
static int check_type(const struct tpl_ctx *c, const struct pval *at, const char *where,
                      const char *field, const char *expr, const struct pval *v,
                      struct cap_error *err)
{
    if (!field || (v->t != PV_LIST && v->t != PV_MAP))
        return 0;
    if (v->t == PV_MAP && strcmp(field, "cmd") == 0)
        return 0;
    return pv_fail(err, c->file, at, "%s: cannot interpolate '${%.100s}', a %s, expected a "
                   "string, number, bool or null", where, expr, pv_type_name(v));
}

static void unescape_into(const char *s, size_t n, struct cap_buf *b)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 2 < n && s[i + 1] == '$' && s[i + 2] == '{')
            continue;
        cap_buf_putc(b, s[i]);
    }
}

static int resolve_str(const struct tpl_ctx *c, const struct pval *src, const char *where,
                       const char *field, struct pval **out, struct cap_error *err)
{
    const char *s = src->s;
    size_t a, e, pos = 0;
    if (next_expr(s, 0, &a, &e) && a == 0 && s[e] == '\0') {
        char *expr = cap_xstrndup(s + 2, e - 3);
        const struct pval *v;
        int rc = select_expr(c, src, where, expr, &v, err);
        rc = rc ? rc : check_type(c, src, where, field, expr, v, err);
        free(expr);
        if (rc)
            return rc;
        *out = pv_dup(v);
        (*out)->line = src->line;
        (*out)->col = src->col;
        return 0;
    }
    struct cap_buf b;
    cap_buf_init(&b);
    int rc = 0;
    while (rc == 0 && next_expr(s, pos, &a, &e)) {
        unescape_into(s + pos, a - pos, &b);
        char *expr = cap_xstrndup(s + a + 2, e - a - 3);
        const struct pval *v;
        rc = select_expr(c, src, where, expr, &v, err);
        if (rc == 0 && (v->t == PV_LIST || (v->t == PV_MAP && (!field || strcmp(field, "cmd")))))
            rc = pv_fail(err, c->file, src, "%s: cannot interpolate '${%.100s}', a %s, inside "
                         "a string, expected a string, number, bool or null", where, expr,
                         pv_type_name(v));
        else if (rc == 0 && v->t == PV_MAP) {
            struct cap_buf d;
            cap_buf_init(&d);
            rc = dict_text(c, src, v, "", &d, err);
            while (d.len && d.data[d.len - 1] == ' ')
                d.data[--d.len] = '\0';
            cap_buf_puts(&b, d.data ? d.data : "");
            cap_buf_free(&d);
        } else if (rc == 0) {
            scalar_text(v, &b);
        }
        free(expr);
        pos = e;
    }
    unescape_into(s + pos, strlen(s + pos), &b);
    if (rc == 0) {
        *out = pv_str_new(b.data ? b.data : "", src->line, src->col);
    }
    cap_buf_free(&b);
    return rc;
}

int tpl_resolve(const struct tpl_ctx *c, const struct pval *src, const char *where,
                const char *field, struct pval **out, struct cap_error *err)
{
    *out = NULL;
    if (src->t == PV_STR)
        return resolve_str(c, src, where, field, out, err);
    if (src->t != PV_LIST && src->t != PV_MAP) {
        *out = pv_dup(src);
        return 0;
    }
    struct pval *r = pv_new(src->t, src->line, src->col);
    int rc = 0;
    for (size_t i = 0; i < src->n && rc == 0; i++) {
        struct pval *v, *k = NULL;
        if ((rc = tpl_resolve(c, src->v[i], where, field, &v, err)) != 0)
            break;
        if (src->t == PV_LIST) {
            pv_push(r, v);
            continue;
        }
        struct pval ksrc = {.t = PV_STR, .s = src->k[i], .line = src->v[i]->line,
                            .col = src->v[i]->col};
        if ((rc = resolve_str(c, &ksrc, where, field, &k, err)) == 0) {
            struct cap_buf kb;
            cap_buf_init(&kb);
            scalar_text(k, &kb);
            pv_set(r, kb.data ? kb.data : "", v);
            cap_buf_free(&kb);
        } else {
            pv_free(v);
        }
        pv_free(k);
    }
    if (rc)
        pv_free(r);
    else
        *out = r;
    return rc;
}
