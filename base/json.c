/* json.c - typed access to request fields and protobuf-style output. */
#include "base/json.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

static const cJSON *field_of(const cJSON *obj, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (v && cJSON_IsNull(v))
        return NULL;
    return v;
}

/* The name a message shows: "field", or "path.field" inside a list item
 * (MLflow's 'metrics[0].timestamp'). */
static const char *shown_name(char *buf, size_t n, const char *path, const char *field)
{
    if (!path)
        return field;
    snprintf(buf, n, "%s.%s", path, field);
    return buf;
}

static int missing(const char *name, bool required, struct cap_error *err)
{
    if (required)
        return cap_err(err, CAP_EINVAL,
                       "Missing value for required parameter '%s'. See the API docs for more "
                       "information about request parameters.",
                       name);
    return 1;
}

int cap_json_missing(const char *name, struct cap_error *err)
{
    return missing(name, true, err);
}

/* ---- the value as JSON, as MLflow shows it ----
 * MLflow renders a rejected value with Python's json.dumps(sort_keys=True,
 * separators=(",", ":")): compact, keys sorted, non-ASCII escaped. */

static void render(struct cap_buf *b, const cJSON *v, int depth);

/* Decodes one UTF-8 sequence at s; returns its length, or 1 with U+FFFD. */
static int utf8_next(const unsigned char *s, unsigned *cp)
{
    int len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (len == 0 || s[0] >= 0xF8) {
        *cp = 0xFFFD;
        return 1;
    }
    unsigned c = s[0] & (0x3F >> (len - 1));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c;
    return len;
}

static void render_string(struct cap_buf *b, const char *str)
{
    static const char short_esc[] = "\"\"\\\\\bb\ff\nn\rr\tt";
    cap_buf_putc(b, '"');
    /* only the start is shown: see SHOWN_VALUE */
    for (const unsigned char *p = (const unsigned char *)str; *p && b->len <= 256;) {
        const char *e = *p ? strchr(short_esc, *p) : NULL;
        if (e && (e - short_esc) % 2 == 0) {
            cap_buf_putc(b, '\\');
            cap_buf_putc(b, e[1]);
            p++;
        } else if (*p >= 0x20 && *p < 0x7F) {
            cap_buf_putc(b, (char)*p++);
        } else {
            unsigned cp = *p;
            p += *p < 0x80 ? 1 : utf8_next(p, &cp);
            if (cp > 0xFFFF) {
                cp -= 0x10000;
                cap_buf_printf(b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                cap_buf_printf(b, "\\u%04x", cp);
            }
        }
    }
    cap_buf_putc(b, '"');
}

/* ---- where a number came from: see cap_json_set_source ---- */

static _Thread_local struct {
    const cJSON *root;
    const char *text, *end;
} source;

void cap_json_set_source(const cJSON *root, const char *text, size_t len)
{
    source.root = root;
    source.text = root ? text : NULL;
    source.end = root ? text + len : NULL;
}

struct number_hunt {
    const char *end;
    const cJSON *target;
    bool found, is_float;
};

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= 32) /* cJSON's notion of whitespace */
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Walks node's text from p in step with the parsed tree (cJSON keeps
 * members in the text's order); returns the end of node's text, or NULL
 * when the two disagree or the target was found. */
static const char *hunt(struct number_hunt *h, const cJSON *node, const char *p, int depth)
{
    const char *end = h->end;
    p = skip_ws(p, end);
    if (!p || p >= end || depth > 64)
        return NULL;
    if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
        bool obj = cJSON_IsObject(node);
        if (*p != (obj ? '{' : '['))
            return NULL;
        p++;
        for (const cJSON *c = node->child; c; c = c->next) {
            if (obj) {
                if (!(p = skip_string(skip_ws(p, end), end)))
                    return NULL;
                if ((p = skip_ws(p, end)) >= end || *p++ != ':')
                    return NULL;
            }
            if (!(p = hunt(h, c, p, depth + 1)))
                return NULL;
            if ((p = skip_ws(p, end)) < end && *p == ',')
                p++;
        }
        p = skip_ws(p, end);
        return p < end ? p + 1 : NULL;
    }
    if (cJSON_IsString(node))
        return skip_string(p, end);
    const char *tok = p;
    while (p < end && (isalnum((unsigned char)*p) || *p == '-' || *p == '+' || *p == '.'))
        p++;
    if (node == h->target) {
        h->found = true;
        h->is_float = memchr(tok, '.', (size_t)(p - tok)) || memchr(tok, 'e', (size_t)(p - tok)) ||
                      memchr(tok, 'E', (size_t)(p - tok));
        return NULL;
    }
    return p;
}

/* Whether v, a number of this thread's request, was written as a float. */
static bool written_as_float(const cJSON *v)
{
    if (!source.root)
        return false;
    struct number_hunt h = {.end = source.end, .target = v};
    const char *p = source.text;
    if (source.end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3; /* cJSON skips a byte-order mark */
    hunt(&h, source.root, p, 0);
    return h.found && h.is_float;
}

/* As Python shows the number MLflow parsed: an integer as digits, a float
 * (written with '.', 'e' or 'E') in repr's shortest form, "9.0" when whole. */
static void render_number(struct cap_buf *b, const cJSON *v)
{
    double d = v->valuedouble;
    bool is_float = written_as_float(v);
    if (d == floor(d) && fabs(d) < 1e16) {
        cap_buf_printf(b, is_float ? "%.0f.0" : "%.0f", d);
        return;
    }
    char s[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, d);
        if (strtod(s, NULL) == d)
            break;
    }
    cap_buf_puts(b, s);
}

static int key_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static void render_object(struct cap_buf *b, const cJSON *v, int depth)
{
    int n = cJSON_GetArraySize(v), i = 0;
    const cJSON **kids = cap_xcalloc((size_t)n + 1, sizeof *kids);
    for (const cJSON *c = v->child; c; c = c->next)
        kids[i++] = c;
    qsort(kids, (size_t)n, sizeof *kids, key_cmp);
    cap_buf_putc(b, '{');
    for (i = 0; i < n; i++) {
        if (i)
            cap_buf_putc(b, ',');
        render_string(b, kids[i]->string);
        cap_buf_putc(b, ':');
        render(b, kids[i], depth + 1);
    }
    cap_buf_putc(b, '}');
    free(kids);
}

static void render(struct cap_buf *b, const cJSON *v, int depth)
{
    if (b->len > 256 || depth > 32) /* only the start is shown anyway */
        return;
    if (!v || cJSON_IsNull(v))
        cap_buf_puts(b, "null");
    else if (cJSON_IsBool(v))
        cap_buf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    else if (cJSON_IsNumber(v))
        render_number(b, v);
    else if (cJSON_IsString(v))
        render_string(b, v->valuestring);
    else if (cJSON_IsObject(v))
        render_object(b, v, depth);
    else {
        cap_buf_putc(b, '[');
        for (const cJSON *c = v->child; c; c = c->next) {
            render(b, c, depth + 1);
            if (c->next)
                cap_buf_putc(b, ',');
        }
        cap_buf_putc(b, ']');
    }
}

#define SHOWN_VALUE 200 /* bytes of a rejected value quoted in a message */

static int invalid_rendered(struct cap_error *err, const char *name, struct cap_buf *shown,
                            const char *detail)
{
    bool cut = shown->len > SHOWN_VALUE;
    bool has_detail = detail && *detail;
    int rc = cap_err(err, CAP_EINVAL, "Invalid value %.*s%s for parameter '%s' supplied%s%s",
                     SHOWN_VALUE, shown->data ? shown->data : "", cut ? "..." : "", name,
                     has_detail ? ": " : ".", has_detail ? detail : "");
    cap_buf_free(shown);
    return rc;
}

int cap_json_invalid(struct cap_error *err, const char *name, const cJSON *value,
                     const char *detail)
{
    struct cap_buf shown;
    cap_buf_init(&shown);
    render(&shown, value, 0);
    return invalid_rendered(err, name, &shown, detail);
}

int cap_json_invalid_str(struct cap_error *err, const char *name, const char *value,
                         const char *detail)
{
    struct cap_buf shown;
    cap_buf_init(&shown);
    render_string(&shown, value ? value : "");
    return invalid_rendered(err, name, &shown, detail);
}

/* The name is built only for a message: log-batch reads 700 fields per
 * request, and building each name up front (snprintf) was 17% of the
 * server's instructions for such a request. */
#define NAME_BUF char name_[160]
#define NAME() shown_name(name_, sizeof name_, path, field)
#define ABSENT(required, err) ((required) ? missing(NAME(), true, err) : 1)

int cap_json_get_str_at(const cJSON *obj, const char *path, const char *field, bool required,
                        const char **out, struct cap_error *err)
{
    NAME_BUF;
    const cJSON *v = field_of(obj, field);
    if (!v)
        return ABSENT(required, err);
    if (!cJSON_IsString(v))
        return cap_json_invalid(err, NAME(), v, "expected a string");
    *out = v->valuestring;
    return 0;
}

int cap_json_get_str(const cJSON *obj, const char *field, bool required,
                     const char **out, struct cap_error *err)
{
    return cap_json_get_str_at(obj, NULL, field, required, out, err);
}

static bool parse_i64(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    errno = 0;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

int cap_json_get_i64_at(const cJSON *obj, const char *path, const char *field, bool required,
                        int64_t *out, struct cap_error *err)
{
    NAME_BUF;
    const cJSON *v = field_of(obj, field);
    if (!v)
        return ABSENT(required, err);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18)
            return cap_json_invalid(err, NAME(), v, "expected an integer");
        *out = (int64_t)d;
        return 0;
    }
    if (cJSON_IsString(v) && parse_i64(v->valuestring, out))
        return 0;
    return cap_json_invalid(err, NAME(), v, "expected an integer");
}

int cap_json_get_i64(const cJSON *obj, const char *field, bool required,
                     int64_t *out, struct cap_error *err)
{
    return cap_json_get_i64_at(obj, NULL, field, required, out, err);
}

bool cap_json_value_double(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return true;
    }
    if (!cJSON_IsString(v))
        return false;
    const char *s = v->valuestring;
    if (strcmp(s, "NaN") == 0 || strcasecmp(s, "nan") == 0) {
        *out = NAN;
        return true;
    }
    if (strcmp(s, "Infinity") == 0 || strcasecmp(s, "inf") == 0) {
        *out = INFINITY;
        return true;
    }
    if (strcmp(s, "-Infinity") == 0 || strcasecmp(s, "-inf") == 0) {
        *out = -INFINITY;
        return true;
    }
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno == ERANGE)
        return false;
    *out = d;
    return true;
}

int cap_json_get_double_at(const cJSON *obj, const char *path, const char *field,
                           bool required, double *out, struct cap_error *err)
{
    NAME_BUF;
    const cJSON *v = field_of(obj, field);
    if (!v)
        return ABSENT(required, err);
    if (cap_json_value_double(v, out))
        return 0;
    return cap_json_invalid(err, NAME(), v, "expected a number");
}

int cap_json_get_double(const cJSON *obj, const char *field, bool required,
                        double *out, struct cap_error *err)
{
    return cap_json_get_double_at(obj, NULL, field, required, out, err);
}

int cap_json_get_bool(const cJSON *obj, const char *field, bool required,
                      bool *out, struct cap_error *err)
{
    const cJSON *v = field_of(obj, field);
    if (!v)
        return missing(field, required, err);
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return 0;
    }
    if (cJSON_IsString(v)) {
        if (strcasecmp(v->valuestring, "true") == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v->valuestring, "false") == 0) {
            *out = false;
            return 0;
        }
    }
    return cap_json_invalid(err, field, v, "expected a boolean");
}

int cap_json_get_array(const cJSON *obj, const char *field, bool required,
                       const cJSON **out, struct cap_error *err)
{
    const cJSON *v = field_of(obj, field);
    if (!v)
        return missing(field, required, err);
    if (cJSON_IsObject(v))
        return cap_json_invalid(err, field, v, "expected a list");
    *out = v;
    return 0;
}

int cap_json_array_size(const cJSON *arr)
{
    if (!arr)
        return 0;
    if (cJSON_IsArray(arr))
        return cJSON_GetArraySize(arr);
    return 1;
}

int cap_json_strings(const cJSON *arr, const char *name, const char *detail, const char ***out,
                     struct cap_error *err)
{
    int n = cap_json_array_size(arr), i = 0;
    const char **list = cap_xcalloc((size_t)n + 1, sizeof *list);
    *out = NULL;
    for (const cJSON *v = cap_json_array_first(arr); v; v = cap_json_array_next(arr, v)) {
        if (!cJSON_IsString(v)) {
            free(list);
            return cap_json_invalid(err, name, v, detail);
        }
        list[i++] = v->valuestring;
    }
    *out = list;
    return i;
}

const cJSON *cap_json_array_first(const cJSON *arr)
{
    if (cJSON_IsArray(arr))
        return arr->child;
    return arr;
}

const cJSON *cap_json_array_next(const cJSON *arr, const cJSON *item)
{
    return cJSON_IsArray(arr) && item ? item->next : NULL;
}

void cap_json_add_double(cJSON *obj, const char *key, double v)
{
    if (isnan(v))
        cJSON_AddStringToObject(obj, key, "NaN");
    else if (isinf(v))
        cJSON_AddStringToObject(obj, key, v > 0 ? "Infinity" : "-Infinity");
    else
        cJSON_AddNumberToObject(obj, key, v);
}

void cap_json_add_i64(cJSON *obj, const char *key, int64_t v)
{
    cJSON_AddNumberToObject(obj, key, (double)v);
}

void cap_json_add_str(cJSON *obj, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(obj, key, s);
}

char *cap_json_print(const cJSON *obj)
{
    char *s = cJSON_PrintUnformatted(obj);
    if (!s)
        return cap_xstrdup("{}");
    return s;
}
