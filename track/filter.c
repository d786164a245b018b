/* filter.c - MLflow's search grammar: filter strings and order_by clauses.
 *
 * A hand-written recursive-descent parser over the raw text (no tokenizer
 * pass, no SQL): each comparison is  identifier operator value , joined by
 * AND.  After a comparison is read it is checked against the rules of the
 * search target (which entities, keys, operators and value types are legal)
 * so that the store only ever sees well-typed conditions.
 *
 * Quoting: keys may be written in "double quotes" or `backticks`; string
 * values in 'single' or "double" quotes.  Inside a quoted string or key the
 * quote character is escaped by doubling it (SQL style: 'it''s'); backslashes
 * are literal.  Every error is CAP_EINVAL with a message of the form
 *     Invalid filter '<text>': <what was found and what was expected>
 * The parser must survive arbitrary input (it is fuzzed): every read checks
 * for the terminating NUL before looking further. */
#include "track/filter.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

/* ---- operator sets ------------------------------------------------------ */

#define OP(x) (1u << (x))
#define OPS_NUM                                                                                   \
    (OP(FILTER_EQ) | OP(FILTER_NE) | OP(FILTER_LT) | OP(FILTER_LE) | OP(FILTER_GT) | OP(FILTER_GE))
#define OPS_STR (OP(FILTER_EQ) | OP(FILTER_NE) | OP(FILTER_LIKE) | OP(FILTER_ILIKE))
#define OPS_LIST (OP(FILTER_IN) | OP(FILTER_NOT_IN))
#define OPS_EQNE (OP(FILTER_EQ) | OP(FILTER_NE))

static const char *const op_names[] = {
    [FILTER_EQ] = "=",       [FILTER_NE] = "!=",     [FILTER_LT] = "<",
    [FILTER_LE] = "<=",      [FILTER_GT] = ">",      [FILTER_GE] = ">=",
    [FILTER_LIKE] = "LIKE",  [FILTER_ILIKE] = "ILIKE", [FILTER_IN] = "IN",
    [FILTER_NOT_IN] = "NOT IN",
};

const char *filter_op_name(enum filter_op op)
{
    if ((unsigned)op >= sizeof op_names / sizeof op_names[0])
        return "?";
    return op_names[op];
}

/* ---- what each target accepts ------------------------------------------ */

enum vtype {
    VT_STR,   /* quoted strings (lists for IN / NOT IN) */
    VT_NUM,   /* numbers */
    VT_ID,    /* a decimal id: a quoted string or an integer, stored as a string */
};

struct attr_def {
    const char *name;     /* as written by the user */
    const char *canon;    /* what the AST carries */
    unsigned ops;         /* 0: not filterable (order_by only) */
    enum vtype type;
    bool orderable;
};

static const struct attr_def run_attrs[] = {
    {"run_id", "run_id", OPS_STR | OPS_LIST, VT_STR, true},
    {"run_name", "run_name", OPS_STR, VT_STR, true},
    {"status", "status", OPS_STR, VT_STR, true},
    {"user_id", "user_id", OPS_STR, VT_STR, true},
    {"artifact_uri", "artifact_uri", OPS_STR, VT_STR, true},
    {"lifecycle_stage", "lifecycle_stage", OPS_EQNE, VT_STR, false},
    {"start_time", "start_time", OPS_NUM, VT_NUM, true},
    {"end_time", "end_time", OPS_NUM, VT_NUM, true},
    {"created", "start_time", OPS_NUM, VT_NUM, true},
    {NULL, NULL, 0, VT_STR, false},
};

static const struct attr_def dataset_attrs[] = {
    {"name", "name", OPS_STR | OPS_LIST, VT_STR, false},
    {"digest", "digest", OPS_STR | OPS_LIST, VT_STR, false},
    {"context", "context", OPS_STR | OPS_LIST, VT_STR, false},
    {NULL, NULL, 0, VT_STR, false},
};

static const struct attr_def experiment_attrs[] = {
    {"name", "name", OPS_STR, VT_STR, true},
    {"creation_time", "creation_time", OPS_NUM, VT_NUM, true},
    {"last_update_time", "last_update_time", OPS_NUM, VT_NUM, true},
    {"experiment_id", "experiment_id", OPS_EQNE, VT_ID, true},
    {NULL, NULL, 0, VT_STR, false},
};

static const struct attr_def logged_model_attrs[] = {
    {"name", "name", OPS_STR | OPS_LIST, VT_STR, true},
    {"model_id", "model_id", OPS_STR | OPS_LIST, VT_STR, true},
    {"model_type", "model_type", OPS_STR | OPS_LIST, VT_STR, false},
    {"status", "status", OPS_STR | OPS_LIST, VT_STR, false},
    {"source_run_id", "source_run_id", OPS_STR | OPS_LIST, VT_STR, false},
    {"creation_timestamp", "creation_timestamp", OPS_NUM, VT_NUM, true},
    {"creation_time", "creation_timestamp", OPS_NUM, VT_NUM, true},
    {"last_updated_timestamp", "last_updated_timestamp", OPS_NUM, VT_NUM, true},
    {NULL, NULL, 0, VT_STR, false},
};

static const struct attr_def registered_model_attrs[] = {
    {"name", "name", OPS_STR, VT_STR, true},
    {"timestamp", "creation_timestamp", 0, VT_NUM, true},
    {"creation_timestamp", "creation_timestamp", 0, VT_NUM, true},
    {"last_updated_timestamp", "last_updated_timestamp", 0, VT_NUM, true},
    {NULL, NULL, 0, VT_STR, false},
};

static const struct attr_def model_version_attrs[] = {
    {"name", "name", OPS_STR, VT_STR, true},
    {"version_number", "version_number", OPS_NUM, VT_NUM, true},
    {"run_id", "run_id", OPS_EQNE | OPS_LIST, VT_STR, false},
    {"source_path", "source", OPS_STR, VT_STR, false},
    {"source", "source", OPS_STR, VT_STR, false},
    {"creation_timestamp", "creation_timestamp", 0, VT_NUM, true},
    {"last_updated_timestamp", "last_updated_timestamp", 0, VT_NUM, true},
    {NULL, NULL, 0, VT_STR, false},
};

struct target_def {
    const char *what;                  /* "runs", for messages */
    const struct attr_def *attrs;
    unsigned filter_entities;          /* bit per enum filter_entity */
    unsigned order_entities;
};

#define ENT(x) (1u << (x))

static const struct target_def targets[] = {
    [FILTER_TARGET_RUNS] = {"runs", run_attrs,
                            ENT(FILTER_ATTR) | ENT(FILTER_METRIC) | ENT(FILTER_PARAM) |
                                ENT(FILTER_TAG) | ENT(FILTER_DATASET),
                            ENT(FILTER_ATTR) | ENT(FILTER_METRIC) | ENT(FILTER_PARAM) |
                                ENT(FILTER_TAG)},
    [FILTER_TARGET_EXPERIMENTS] = {"experiments", experiment_attrs,
                                   ENT(FILTER_ATTR) | ENT(FILTER_TAG), ENT(FILTER_ATTR)},
    [FILTER_TARGET_LOGGED_MODELS] = {"logged models", logged_model_attrs,
                                     ENT(FILTER_ATTR) | ENT(FILTER_METRIC) |
                                         ENT(FILTER_PARAM) | ENT(FILTER_TAG),
                                     ENT(FILTER_ATTR) | ENT(FILTER_METRIC)},
    [FILTER_TARGET_REGISTERED_MODELS] = {"registered models", registered_model_attrs,
                                         ENT(FILTER_ATTR) | ENT(FILTER_TAG), ENT(FILTER_ATTR)},
    [FILTER_TARGET_MODEL_VERSIONS] = {"model versions", model_version_attrs,
                                      ENT(FILTER_ATTR) | ENT(FILTER_TAG), ENT(FILTER_ATTR)},
};

static const char *const entity_names[] = {
    [FILTER_ATTR] = "attributes", [FILTER_METRIC] = "metrics", [FILTER_PARAM] = "params",
    [FILTER_TAG] = "tags",        [FILTER_DATASET] = "datasets",
};

static const struct {
    const char *name;
    enum filter_entity entity;
} prefixes[] = {
    {"metric", FILTER_METRIC},     {"metrics", FILTER_METRIC},   {"param", FILTER_PARAM},
    {"params", FILTER_PARAM},      {"parameter", FILTER_PARAM},  {"parameters", FILTER_PARAM},
    {"tag", FILTER_TAG},           {"tags", FILTER_TAG},         {"attribute", FILTER_ATTR},
    {"attributes", FILTER_ATTR},   {"attr", FILTER_ATTR},        {"run", FILTER_ATTR},
    {"dataset", FILTER_DATASET},   {"datasets", FILTER_DATASET},
};

/* ---- the parser --------------------------------------------------------- */

struct parser {
    const char *text;        /* the whole input, quoted in messages */
    const char *p;           /* cursor */
    const char *what;        /* "filter" or "order_by clause" */
    enum filter_target target;
    struct cap_error *err;
};

/* One identifier as read: its entity, its key (unquoted, owned) and the raw
 * span it came from (for messages). */
struct ident {
    enum filter_entity entity;
    char *key;
    const char *raw;
    int rawlen;
};

/* "%.*s" arguments quoting an identifier as written. */
#define ID_ARG(id) toklen((size_t)(id)->rawlen), (id)->raw

#define SHOW_MAX 160   /* how much of the input a message quotes */
#define TOK_MAX 60     /* how much of one token a message quotes */

static int perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int perr(struct parser *ps, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    size_t n = strlen(ps->text);
    int shown = n > SHOW_MAX ? SHOW_MAX : (int)n;
    return cap_err(ps->err, CAP_EINVAL, "Invalid %s '%.*s%s': %s", ps->what, shown, ps->text,
                   n > SHOW_MAX ? "..." : "", detail);
}

static int toklen(size_t n)
{
    return n > TOK_MAX ? TOK_MAX : (int)n;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void skip_ws(struct parser *ps)
{
    while (is_space(*ps->p))
        ps->p++;
}

static bool is_word_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Characters allowed in an unquoted key after a prefix: word characters,
 * '.', '-', '/' and UTF-8 bytes (MLflow's key pattern allows Unicode). */
static bool is_key_char(char c)
{
    return is_word_char(c) || c == '.' || c == '-' || c == '/' || (unsigned char)c >= 0x80;
}

/* Length of the word at p (0 if none). */
static size_t word_len(const char *p)
{
    size_t n = 0;
    if (!is_word_start(p[0]))
        return 0;
    while (is_word_char(p[n]))
        n++;
    return n;
}

static bool word_is(const char *p, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

/* The span of "something" at p for an "unexpected ..." message: a word, a
 * quoted string start, or up to the next space. */
static size_t token_span(const char *p)
{
    size_t n = word_len(p);
    if (n)
        return n;
    while (p[n] && !is_space(p[n]))
        n++;
    return n;
}

/* Reads a quoted run starting at ps->p (which is on the quote); the quote is
 * escaped by doubling it. On success *out is malloc'ed. */
static int read_quoted(struct parser *ps, char **out, const char *what)
{
    const char *start = ps->p;
    char q = *ps->p++;
    struct cap_buf b;
    cap_buf_init(&b);
    for (;;) {
        char c = *ps->p;
        if (c == '\0') {
            cap_buf_free(&b);
            return perr(ps, "unterminated %s starting at %.*s", what, toklen(strlen(start)),
                        start);
        }
        if (c == q) {
            if (ps->p[1] == q) {
                cap_buf_putc(&b, q);
                ps->p += 2;
                continue;
            }
            ps->p++;
            break;
        }
        cap_buf_putc(&b, c);
        ps->p++;
    }
    *out = cap_buf_steal(&b);
    return 0;
}

static int parse_ident(struct parser *ps, struct ident *id)
{
    memset(id, 0, sizeof *id);
    id->entity = FILTER_ATTR;
    id->raw = ps->p;
    char c = *ps->p;
    int rc;

    if (c == '\0')
        return perr(ps, "expected an identifier (such as metrics.<key>, params.<key>, "
                        "tags.<key> or an attribute) at the end of the input");
    if (c == '"' || c == '`') {
        if ((rc = read_quoted(ps, &id->key, "quoted identifier")) < 0)
            return rc;
        goto done;
    }
    size_t n = word_len(ps->p);
    if (n == 0)
        return perr(ps, "expected an identifier (such as metrics.<key>, params.<key>, "
                        "tags.<key> or an attribute), got '%.*s'",
                    toklen(token_span(ps->p)), ps->p);
    if (ps->p[n] != '.') {
        if (word_is(ps->p, n, "AND") || word_is(ps->p, n, "OR"))
            return perr(ps, "expected an identifier before '%.*s'", (int)n, ps->p);
        id->key = cap_xstrndup(ps->p, n);
        ps->p += n;
        goto done;
    }
    /* prefix.key */
    size_t i;
    for (i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (word_is(ps->p, n, prefixes[i].name))
            break;
    if (i == sizeof prefixes / sizeof prefixes[0])
        return perr(ps, "invalid entity type '%.*s'; expected one of metrics, params, tags, "
                        "attributes, datasets (or their singular forms)",
                    toklen(n), ps->p);
    id->entity = prefixes[i].entity;
    ps->p += n + 1;
    c = *ps->p;
    if (c == '"' || c == '`') {
        if ((rc = read_quoted(ps, &id->key, "quoted identifier")) < 0)
            return rc;
    } else {
        size_t k = 0;
        while (is_key_char(ps->p[k]))
            k++;
        if (k == 0)
            return perr(ps, "expected a key after '%.*s'", toklen((size_t)(ps->p - id->raw)),
                        id->raw);
        id->key = cap_xstrndup(ps->p, k);
        ps->p += k;
    }
done:
    id->rawlen = (int)(ps->p - id->raw);
    if (id->key[0] == '\0') {
        free(id->key);
        id->key = NULL;
        return perr(ps, "empty key in '%.*s'", ID_ARG(id));
    }
    return 0;
}

/* Reads an operator; *opstart is where it began (for messages). */
static int parse_op(struct parser *ps, const struct ident *id, enum filter_op *op)
{
    static const char expected[] =
        "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN)";
    const char *p = ps->p;
    size_t n = 0;
    while (p[n] == '=' || p[n] == '!' || p[n] == '<' || p[n] == '>')
        n++;
    if (n) {
        static const struct {
            const char *s;
            enum filter_op op;
        } sym[] = {{"=", FILTER_EQ}, {"!=", FILTER_NE}, {"<>", FILTER_NE}, {"<", FILTER_LT},
                   {"<=", FILTER_LE}, {">", FILTER_GT}, {">=", FILTER_GE}};
        for (size_t i = 0; i < sizeof sym / sizeof sym[0]; i++) {
            if (strlen(sym[i].s) == n && strncmp(p, sym[i].s, n) == 0) {
                *op = sym[i].op;
                ps->p += n;
                return 0;
            }
        }
        return perr(ps, "%s after '%.*s', got '%.*s'", expected, ID_ARG(id),
                    toklen(n), p);
    }
    n = word_len(p);
    if (n && !(p[n] == '\0' || is_space(p[n]) || p[n] == '(' || p[n] == '\'' || p[n] == '"'))
        n = 0; /* e.g. "LIKE5": not a keyword */
    if (word_is(p, n, "LIKE")) {
        *op = FILTER_LIKE;
    } else if (word_is(p, n, "ILIKE")) {
        *op = FILTER_ILIKE;
    } else if (word_is(p, n, "IN")) {
        *op = FILTER_IN;
    } else if (word_is(p, n, "NOT")) {
        const char *q = p + n;
        while (is_space(*q))
            q++;
        size_t m = word_len(q);
        if (!(word_is(q, m, "IN") && (q[m] == '\0' || is_space(q[m]) || q[m] == '(')))
            return perr(ps, "%s after '%.*s': NOT must be followed by IN", expected,
                        ID_ARG(id));
        *op = FILTER_NOT_IN;
        ps->p = q + m;
        return 0;
    } else {
        if (*p == '\0')
            return perr(ps, "%s after '%.*s', got the end of the input", expected,
                        ID_ARG(id));
        return perr(ps, "%s after '%.*s', got '%.*s'", expected, ID_ARG(id),
                    toklen(token_span(p)), p);
    }
    ps->p += n;
    return 0;
}

static bool at_value_end(char c)
{
    return c == '\0' || is_space(c) || c == ')' || c == ',';
}

/* A number: [+-] digits [. digits] [(e|E) [+-] digits], at least one digit
 * in the mantissa. No inf, nan or hex (strtod alone would take those). */
static int parse_number(struct parser *ps, double *out, const char **start, size_t *len)
{
    const char *p = ps->p;
    size_t i = 0, digits = 0;
    if (p[i] == '+' || p[i] == '-')
        i++;
    while (isdigit((unsigned char)p[i]))
        i++, digits++;
    if (p[i] == '.') {
        i++;
        while (isdigit((unsigned char)p[i]))
            i++, digits++;
    }
    if (digits && (p[i] == 'e' || p[i] == 'E')) {
        size_t j = i + 1;
        if (p[j] == '+' || p[j] == '-')
            j++;
        size_t e = 0;
        while (isdigit((unsigned char)p[j + e]))
            e++;
        if (e == 0)
            digits = 0; /* "1e" */
        else
            i = j + e;
    }
    if (digits == 0 || !at_value_end(p[i])) {
        size_t n = 0;
        while (!at_value_end(p[n]))
            n++;
        return perr(ps, "invalid number '%.*s'", toklen(n), p);
    }
    char *copy = cap_xstrndup(p, i);
    double v = strtod(copy, NULL);
    free(copy);
    if (!isfinite(v))
        return perr(ps, "number '%.*s' is out of range", toklen(i), p);
    *out = v;
    *start = p;
    *len = i;
    ps->p += i;
    return 0;
}

static void value_clear(struct filter_value *v)
{
    free(v->str);
    for (size_t i = 0; i < v->nlist; i++)
        free(v->list[i]);
    free(v->list);
    memset(v, 0, sizeof *v);
}

static int parse_list(struct parser *ps, enum filter_op op, struct filter_value *v)
{
    if (*ps->p != '(')
        return perr(ps, "expected a parenthesised list of quoted strings after '%s', got %s%.*s%s",
                    filter_op_name(op), *ps->p ? "'" : "the end of the input",
                    toklen(token_span(ps->p)), ps->p, *ps->p ? "'" : "");
    ps->p++;
    v->kind = FILTER_VALUE_LIST;
    size_t cap = 0;
    int rc;
    for (;;) {
        skip_ws(ps);
        char c = *ps->p;
        if (c == ')' && v->nlist == 0)
            return perr(ps, "the list after '%s' is empty", filter_op_name(op));
        if (c != '\'' && c != '"') {
            if (c == '\0')
                return perr(ps, "unterminated list after '%s'", filter_op_name(op));
            return perr(ps, "expected a quoted string in the list after '%s', got '%.*s'",
                        filter_op_name(op), toklen(token_span(ps->p)), ps->p);
        }
        char *s;
        if ((rc = read_quoted(ps, &s, "string")) < 0)
            return rc;
        if (v->nlist == cap) {
            cap = cap ? cap * 2 : 4;
            v->list = cap_xrealloc(v->list, cap * sizeof *v->list);
        }
        v->list[v->nlist++] = s;
        skip_ws(ps);
        c = *ps->p;
        if (c == ',') {
            ps->p++;
            continue;
        }
        if (c == ')') {
            ps->p++;
            return 0;
        }
        if (c == '\0')
            return perr(ps, "unterminated list after '%s': expected ',' or ')'",
                        filter_op_name(op));
        return perr(ps, "expected ',' or ')' in the list after '%s', got '%.*s'",
                    filter_op_name(op), toklen(token_span(ps->p)), ps->p);
    }
}

/* Raw text of a numeric value, kept for VT_ID conversion. */
struct rawnum {
    const char *p;
    size_t n;
};

static int parse_value(struct parser *ps, enum filter_op op, struct filter_value *v,
                       struct rawnum *raw)
{
    if (op == FILTER_IN || op == FILTER_NOT_IN)
        return parse_list(ps, op, v);
    char c = *ps->p;
    if (c == '\'' || c == '"') {
        v->kind = FILTER_VALUE_STRING;
        return read_quoted(ps, &v->str, "string");
    }
    if (c == '\0')
        return perr(ps, "expected a value (a number or a quoted string) after '%s', got the "
                        "end of the input",
                    filter_op_name(op));
    if (isdigit((unsigned char)c) || c == '-' || c == '+' || c == '.') {
        v->kind = FILTER_VALUE_NUMBER;
        return parse_number(ps, &v->num, &raw->p, &raw->n);
    }
    if (c == '(')
        return perr(ps, "a parenthesised list is only allowed after IN or NOT IN, not after '%s'",
                    filter_op_name(op));
    return perr(ps, "expected a value (a number or a quoted string) after '%s', got '%.*s'",
                filter_op_name(op), toklen(token_span(ps->p)), ps->p);
}

static const struct attr_def *find_attr(const struct attr_def *defs, const char *key)
{
    for (; defs->name; defs++)
        if (strcmp(defs->name, key) == 0)
            return defs;
    return NULL;
}

static void list_attrs(struct cap_buf *b, const struct attr_def *defs, bool for_order)
{
    bool first = true;
    for (; defs->name; defs++) {
        if (for_order ? !defs->orderable : defs->ops == 0)
            continue;
        cap_buf_printf(b, "%s%s", first ? "" : ", ", defs->name);
        first = false;
    }
}

static void list_ops(struct cap_buf *b, unsigned ops)
{
    bool first = true;
    for (int op = FILTER_EQ; op <= FILTER_NOT_IN; op++) {
        if (!(ops & OP(op)))
            continue;
        cap_buf_printf(b, "%s%s", first ? "" : ", ", op_names[op]);
        first = false;
    }
}

static void list_entities(struct cap_buf *b, unsigned ents)
{
    bool first = true;
    for (int e = FILTER_ATTR; e <= FILTER_DATASET; e++) {
        if (!(ents & ENT(e)))
            continue;
        cap_buf_printf(b, "%s%s", first ? "" : ", ", entity_names[e]);
        first = false;
    }
}

/* The entity is allowed for the target?  Reports an error when not. */
static int check_entity(struct parser *ps, const struct ident *id, bool for_order)
{
    const struct target_def *t = &targets[ps->target];
    unsigned ents = for_order ? t->order_entities : t->filter_entities;
    if (ents & ENT(id->entity))
        return 0;
    struct cap_buf b;
    cap_buf_init(&b);
    list_entities(&b, ents);
    int rc = perr(ps, "%s cannot be used %s %s ('%.*s'); expected one of: %s",
                  entity_names[id->entity], for_order ? "to order" : "to filter", t->what,
                  ID_ARG(id), b.data);
    cap_buf_free(&b);
    return rc;
}

static int unknown_attr(struct parser *ps, const struct ident *id,
                        const struct attr_def *defs, const char *kind, bool for_order)
{
    struct cap_buf b;
    cap_buf_init(&b);
    list_attrs(&b, defs, for_order);
    int rc = perr(ps, "invalid %s key '%.*s'%s; valid %s keys are: %s", kind,
                  toklen(strlen(id->key)), id->key, for_order ? " for ordering" : "", kind,
                  b.data);
    cap_buf_free(&b);
    return rc;
}

/* Checks one parsed comparison against the target's rules and canonicalises
 * the key. Takes ownership of nothing; may replace c->key and c->value. */
static int check_cond(struct parser *ps, const struct ident *id, struct filter_cond *c,
                      const struct rawnum *raw)
{
    int rc;
    if ((rc = check_entity(ps, id, false)) < 0)
        return rc;

    unsigned ops;
    enum vtype type;
    const char *canon = NULL;
    switch (id->entity) {
    case FILTER_METRIC:
        ops = OPS_NUM;
        type = VT_NUM;
        break;
    case FILTER_PARAM:
    case FILTER_TAG:
        ops = OPS_STR;
        type = VT_STR;
        break;
    case FILTER_ATTR:
    case FILTER_DATASET: {
        const struct attr_def *defs =
            id->entity == FILTER_ATTR ? targets[ps->target].attrs : dataset_attrs;
        const struct attr_def *d = find_attr(defs, id->key);
        if (!d || d->ops == 0)
            return unknown_attr(ps, id, defs,
                                id->entity == FILTER_ATTR ? "attribute" : "dataset", false);
        ops = d->ops;
        type = d->type;
        canon = d->canon;
        break;
    }
    default:
        return perr(ps, "internal error: unknown entity");
    }

    if (!(ops & OP(c->op))) {
        struct cap_buf b;
        cap_buf_init(&b);
        list_ops(&b, ops);
        rc = perr(ps, "operator '%s' is not supported for '%.*s'; expected one of: %s",
                  filter_op_name(c->op), ID_ARG(id), b.data);
        cap_buf_free(&b);
        return rc;
    }
    if (c->value.kind != FILTER_VALUE_LIST) {
        if (type == VT_NUM && c->value.kind != FILTER_VALUE_NUMBER)
            return perr(ps, "expected a numeric value for '%.*s', got the string '%.*s'",
                        ID_ARG(id), toklen(strlen(c->value.str)), c->value.str);
        if (type == VT_STR && c->value.kind != FILTER_VALUE_STRING)
            return perr(ps, "expected a quoted string value for '%.*s', got the number %.*s",
                        ID_ARG(id), toklen(raw->n), raw->p);
        if (type == VT_ID && c->value.kind == FILTER_VALUE_NUMBER) {
            for (size_t i = 0; i < raw->n; i++)
                if (!isdigit((unsigned char)raw->p[i]))
                    return perr(ps, "expected an id (a quoted string or an integer) for "
                                    "'%.*s', got %.*s",
                                ID_ARG(id), toklen(raw->n), raw->p);
            c->value.kind = FILTER_VALUE_STRING;
            c->value.str = cap_xstrndup(raw->p, raw->n);
            c->value.num = 0;
        }
    }
    if (canon && strcmp(canon, c->key) != 0) {
        free(c->key);
        c->key = cap_xstrdup(canon);
    }
    return 0;
}

/* After a comparison: end of input, or AND followed by another comparison.
 * Returns 1 at the end, 0 when another comparison follows. */
static int parse_conjunction(struct parser *ps, const struct ident *id)
{
    skip_ws(ps);
    if (*ps->p == '\0')
        return 1;
    size_t n = word_len(ps->p);
    char nx = ps->p[n];
    bool boundary = n && (nx == '\0' || !is_key_char(nx));
    if (boundary && word_is(ps->p, n, "AND")) {
        ps->p += n;
        skip_ws(ps);
        if (*ps->p == '\0')
            return perr(ps, "expected a comparison after 'AND', got the end of the input");
        return 0;
    }
    if (boundary && word_is(ps->p, n, "OR"))
        return perr(ps, "OR is not supported; join comparisons with AND");
    if (*ps->p == '(' || *ps->p == ')')
        return perr(ps, "parentheses are only allowed around the list after IN or NOT IN");
    return perr(ps, "unexpected '%.*s' after the comparison on '%.*s'; expected AND or the "
                    "end of the filter",
                toklen(token_span(ps->p)), ps->p, ID_ARG(id));
}

void filter_free(struct filter *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->conds[i].key);
        value_clear(&f->conds[i].value);
    }
    free(f->conds);
    free(f);
}

static bool valid_target(enum filter_target t)
{
    return (unsigned)t < sizeof targets / sizeof targets[0];
}

int filter_parse(const char *text, enum filter_target target, struct filter **out,
                 struct cap_error *err)
{
    *out = NULL;
    if (!text)
        text = "";
    struct parser ps = {.text = text, .p = text, .what = "filter", .target = target, .err = err};
    if (!valid_target(target))
        return perr(&ps, "unknown search target");
    struct filter *f = cap_xcalloc(1, sizeof *f);
    size_t cap = 0;
    int rc = 0;

    skip_ws(&ps);
    if (*ps.p == '\0')
        goto done;
    for (;;) {
        struct ident id;
        struct filter_cond c;
        struct rawnum raw = {NULL, 0};
        memset(&c, 0, sizeof c);
        if (*ps.p == '(') {
            rc = perr(&ps, "parentheses are only allowed around the list after IN or NOT IN");
            goto fail;
        }
        if ((rc = parse_ident(&ps, &id)) < 0)
            goto fail;
        c.entity = id.entity;
        c.key = id.key;
        skip_ws(&ps);
        if ((rc = parse_op(&ps, &id, &c.op)) < 0)
            goto fail_cond;
        skip_ws(&ps);
        if ((rc = parse_value(&ps, c.op, &c.value, &raw)) < 0)
            goto fail_cond;
        if ((rc = check_cond(&ps, &id, &c, &raw)) < 0)
            goto fail_cond;
        if (f->n == cap) {
            cap = cap ? cap * 2 : 4;
            f->conds = cap_xrealloc(f->conds, cap * sizeof *f->conds);
        }
        f->conds[f->n++] = c;
        rc = parse_conjunction(&ps, &id);
        if (rc < 0)
            goto fail;
        if (rc == 1)
            break;
        continue;
    fail_cond:
        free(c.key);
        value_clear(&c.value);
        goto fail;
    }
done:
    *out = f;
    return 0;
fail:
    filter_free(f);
    return rc;
}

/* ---- order_by ----------------------------------------------------------- */

void order_key_clear(struct order_key *k)
{
    if (!k)
        return;
    free(k->key);
    k->key = NULL;
}

int order_key_parse(const char *text, enum filter_target target, struct order_key *out,
                    struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    if (!text)
        text = "";
    struct parser ps = {
        .text = text, .p = text, .what = "order_by clause", .target = target, .err = err};
    if (!valid_target(target))
        return perr(&ps, "unknown search target");
    struct ident id;
    int rc;
    skip_ws(&ps);
    if (*ps.p == '\0')
        return perr(&ps, "expected an identifier, optionally followed by ASC or DESC");
    if ((rc = parse_ident(&ps, &id)) < 0)
        return rc;
    bool asc = true;
    skip_ws(&ps);
    if (*ps.p) {
        size_t n = word_len(ps.p);
        bool boundary = n && (ps.p[n] == '\0' || is_space(ps.p[n]));
        if (boundary && word_is(ps.p, n, "ASC")) {
            asc = true;
        } else if (boundary && word_is(ps.p, n, "DESC")) {
            asc = false;
        } else {
            rc = perr(&ps, "unexpected '%.*s' after '%.*s'; expected ASC or DESC",
                      toklen(token_span(ps.p)), ps.p, ID_ARG(&id));
            goto fail;
        }
        ps.p += n;
        skip_ws(&ps);
        if (*ps.p) {
            rc = perr(&ps, "unexpected '%.*s' after the sort direction",
                      toklen(token_span(ps.p)), ps.p);
            goto fail;
        }
    }
    if ((rc = check_entity(&ps, &id, true)) < 0)
        goto fail;
    if (id.entity == FILTER_ATTR) {
        const struct attr_def *defs = targets[target].attrs;
        const struct attr_def *d = find_attr(defs, id.key);
        if (!d || !d->orderable) {
            rc = unknown_attr(&ps, &id, defs, "attribute", true);
            goto fail;
        }
        if (strcmp(d->canon, id.key) != 0) {
            free(id.key);
            id.key = cap_xstrdup(d->canon);
        }
    }
    out->entity = id.entity;
    out->key = id.key;
    out->ascending = asc;
    return 0;
fail:
    free(id.key);
    return rc;
}
