/* json.c - the parts both inference protocols share: datatype
 * names, one tensor element to and from JSON (or CSV text), JSON written
 * straight into a cap_buf (tensor data is the hot path, so no cJSON tree
 * is built for it), shape checks against the model, model metadata, and
 * the request's tensors' memory. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"
#include "payload/internal.h"

/* ---- datatype names ---- */

static const struct {
    int type;
    const char *name;
} datatypes[] = {
    {INFER_BOOL, "BOOL"},     {INFER_UINT8, "UINT8"},   {INFER_UINT16, "UINT16"},
    {INFER_UINT32, "UINT32"}, {INFER_UINT64, "UINT64"}, {INFER_INT8, "INT8"},
    {INFER_INT16, "INT16"},   {INFER_INT32, "INT32"},   {INFER_INT64, "INT64"},
    {INFER_FLOAT16, "FP16"},  {INFER_FLOAT, "FP32"},    {INFER_DOUBLE, "FP64"},
    {INFER_STRING, "BYTES"},
};

const char *payload_oip_datatype(int infer_type)
{
    for (size_t i = 0; i < sizeof datatypes / sizeof datatypes[0]; i++)
        if (datatypes[i].type == infer_type)
            return datatypes[i].name;
    return NULL;
}

int payload_infer_type(const char *oip_datatype)
{
    if (!oip_datatype)
        return -1;
    for (size_t i = 0; i < sizeof datatypes / sizeof datatypes[0]; i++)
        if (strcmp(datatypes[i].name, oip_datatype) == 0)
            return datatypes[i].type;
    return -1;
}

/* ---- FP16 ---- */

uint16_t payload_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    if (exp == 0xff) /* Inf, or NaN kept quiet */
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) { /* half subnormal (or zero): value = man24 * 2^(e-14) units of 2^-24 */
        if (e < -10)
            return sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* a carry into the exponent is still right (up to Inf) */
    return (uint16_t)(sign | h);
}

float payload_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, x;
    if (exp == 0) {
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31)
        x = sign | 0x7f800000 | (man << 13);
    else
        x = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- JSON writing ---- */

static const char hexd[] = "0123456789abcdef";

/* Length of a valid UTF-8 sequence at s (n bytes left), 0 when invalid:
 * overlong forms, surrogates and code points past U+10FFFF are refused so
 * that what we echo is always valid JSON text. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    uint32_t cp;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0) {
        k = 2;
        cp = c & 0x1f;
    } else if (c < 0xf0) {
        k = 3;
        cp = c & 0x0f;
    } else if (c < 0xf5) {
        k = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k;
}

void payload_put_strn(struct cap_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    cap_buf_reserve(b, n + 2);
    cap_buf_putc(b, '"');
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            run++;
            i++;
            continue;
        }
        size_t k = c >= 0x80 ? utf8_len(p + i, n - i) : 0;
        if (k) {
            run += k;
            i += k;
            continue;
        }
        cap_buf_append(b, p + i - run, run);
        run = 0;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            cap_buf_append(b, esc, 2);
        } else if (c == '\n') {
            cap_buf_append(b, "\\n", 2);
        } else if (c == '\t') {
            cap_buf_append(b, "\\t", 2);
        } else if (c == '\r') {
            cap_buf_append(b, "\\r", 2);
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hexd[c >> 4];
            esc[5] = hexd[c & 15];
            cap_buf_append(b, esc, 6);
        } else {
            cap_buf_append(b, "\\ufffd", 6); /* a byte that is not UTF-8 */
        }
        i++;
    }
    cap_buf_append(b, p + n - run, run);
    cap_buf_putc(b, '"');
}

void payload_put_str(struct cap_buf *b, const char *s)
{
    payload_put_strn(b, s ? s : "", s ? strlen(s) : 0);
}

void payload_put_u64(struct cap_buf *b, uint64_t v)
{
    char tmp[24];
    int k = 24;
    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    cap_buf_append(b, tmp + k, (size_t)(24 - k));
}

void payload_put_i64(struct cap_buf *b, int64_t v)
{
    if (v < 0) {
        cap_buf_putc(b, '-');
        payload_put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        payload_put_u64(b, (uint64_t)v);
    }
}

void payload_put_dims(struct cap_buf *b, const int64_t *dims, int ndim)
{
    cap_buf_putc(b, '[');
    for (int d = 0; d < ndim; d++) {
        if (d)
            cap_buf_putc(b, ',');
        payload_put_i64(b, dims[d]);
    }
    cap_buf_putc(b, ']');
}

/* Floats: integral values take the integer path (labels, counts: the common
 * case, and far cheaper than printf); others "%.9g" (FP32, by
 * cap_fmt_float9 where it can) or "%.17g" (FP64), enough digits to read
 * back the same value. */
static void put_float(struct cap_buf *b, double v, int digits, enum payload_nonfinite nf)
{
    if (!isfinite(v)) {
        const char *s = isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
        if (nf == PAYLOAD_NF_STRING) {
            cap_buf_putc(b, '"');
            cap_buf_puts(b, s);
            cap_buf_putc(b, '"');
        } else {
            cap_buf_puts(b, s);
        }
        return;
    }
    if (fabs(v) < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v))) {
        payload_put_i64(b, (int64_t)v);
        return;
    }
    cap_buf_reserve(b, 32);
    size_t n = digits == 9 ? cap_fmt_float9((float)v, b->data + b->len) : 0;
    if (n == 0)
        n = (size_t)snprintf(b->data + b->len, 32, "%.*g", digits, v);
    b->len += n;
}

void payload_put_elem(struct cap_buf *b, int type, const void *data, int64_t i,
                      enum payload_nonfinite nf)
{
    switch (type) {
    case INFER_FLOAT: put_float(b, ((const float *)data)[i], 9, nf); break;
    case INFER_DOUBLE: put_float(b, ((const double *)data)[i], 17, nf); break;
    case INFER_FLOAT16:
        put_float(b, payload_f16_to_f32(((const uint16_t *)data)[i]), 9, nf);
        break;
    case INFER_INT64: payload_put_i64(b, ((const int64_t *)data)[i]); break;
    case INFER_INT32: payload_put_i64(b, ((const int32_t *)data)[i]); break;
    case INFER_INT16: payload_put_i64(b, ((const int16_t *)data)[i]); break;
    case INFER_INT8: payload_put_i64(b, ((const int8_t *)data)[i]); break;
    case INFER_UINT64: payload_put_u64(b, ((const uint64_t *)data)[i]); break;
    case INFER_UINT32: payload_put_u64(b, ((const uint32_t *)data)[i]); break;
    case INFER_UINT16: payload_put_u64(b, ((const uint16_t *)data)[i]); break;
    case INFER_UINT8: payload_put_u64(b, ((const uint8_t *)data)[i]); break;
    case INFER_BOOL: cap_buf_puts(b, ((const uint8_t *)data)[i] ? "true" : "false"); break;
    case INFER_STRING: payload_put_str(b, ((char *const *)data)[i]); break;
    default: cap_buf_puts(b, "null"); break;
    }
}

void payload_put_nested(struct cap_buf *b, int type, const void *data, const int64_t *dims,
                        int ndim, int64_t *i, enum payload_nonfinite nf)
{
    if (ndim == 0) {
        payload_put_elem(b, type, data, (*i)++, nf);
        return;
    }
    cap_buf_putc(b, '[');
    for (int64_t k = 0; k < dims[0]; k++) {
        if (k)
            cap_buf_putc(b, ',');
        if (ndim == 1)
            payload_put_elem(b, type, data, (*i)++, nf);
        else
            payload_put_nested(b, type, data, dims + 1, ndim - 1, i, nf);
    }
    cap_buf_putc(b, ']');
}

void payload_put_map_row(struct cap_buf *b, const infer_tensor *t, int64_t row,
                         enum payload_nonfinite nf)
{
    cap_buf_putc(b, '{');
    for (int64_t k = 0; k < t->nkeys; k++) {
        if (k)
            cap_buf_putc(b, ',');
        if (t->key_type == INFER_STRING) {
            payload_put_str(b, ((const char *const *)t->keys)[k]);
        } else { /* JSON keys are strings: {"0": p0, "1": p1} as MLflow writes */
            cap_buf_putc(b, '"');
            payload_put_i64(b, ((const int64_t *)t->keys)[k]);
            cap_buf_putc(b, '"');
        }
        cap_buf_putc(b, ':');
        payload_put_elem(b, t->type, t->data, row * t->nkeys + k, nf);
    }
    cap_buf_putc(b, '}');
}

void payload_write_json_data(struct cap_buf *b, const infer_tensor *t)
{
    int64_t i = 0;
    if (!t->data && infer_tensor_count(t) > 0) {
        cap_buf_puts(b, "null");
        return;
    }
    payload_put_nested(b, t->type, t->data, t->dims, t->ndim, &i, PAYLOAD_NF_STRING);
}

/* ---- element conversion ---- */

static int special_float(const char *s, double *out)
{
    if (strcmp(s, "NaN") == 0)
        *out = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *out = -INFINITY;
    else
        return 0;
    return 1;
}

#define EXACT_INT 9007199254740992.0 /* 2^53: JSON numbers arrive as doubles */

static const char *store_float(int type, double d, void *data, int64_t i)
{
    if (type == INFER_DOUBLE) {
        ((double *)data)[i] = d;
    } else if (type == INFER_FLOAT) {
        float f = (float)d;
        if (isinf(f) && isfinite(d))
            return "is out of range";
        ((float *)data)[i] = f;
    } else {
        uint16_t h = payload_f32_to_f16((float)d);
        if ((h & 0x7fff) == 0x7c00 && isfinite(d))
            return "is out of range";
        ((uint16_t *)data)[i] = h;
    }
    return NULL;
}

static const char *store_int(int type, double d, void *data, int64_t i)
{
    if (!isfinite(d) || d != floor(d))
        return "is not an integer";
    double lo, hi;
    switch (type) {
    case INFER_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
    case INFER_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
    case INFER_INT32: lo = INT32_MIN; hi = INT32_MAX; break;
    case INFER_UINT8: lo = 0; hi = UINT8_MAX; break;
    case INFER_UINT16: lo = 0; hi = UINT16_MAX; break;
    case INFER_UINT32: lo = 0; hi = UINT32_MAX; break;
    /* a double at or past 2^53 may stand for several integers of the text */
    case INFER_UINT64: lo = 0; hi = EXACT_INT - 1; break;
    default: lo = -(EXACT_INT - 1); hi = EXACT_INT - 1; break;
    }
    if (d < lo || d > hi) {
        if ((type == INFER_INT64 || type == INFER_UINT64) && fabs(d) >= EXACT_INT && d > lo)
            return "is beyond 2^53, which a JSON number cannot carry exactly (send it as "
                   "binary data)";
        return "is out of range";
    }
    switch (type) {
    case INFER_INT8: ((int8_t *)data)[i] = (int8_t)d; break;
    case INFER_INT16: ((int16_t *)data)[i] = (int16_t)d; break;
    case INFER_INT32: ((int32_t *)data)[i] = (int32_t)d; break;
    case INFER_UINT8: ((uint8_t *)data)[i] = (uint8_t)d; break;
    case INFER_UINT16: ((uint16_t *)data)[i] = (uint16_t)d; break;
    case INFER_UINT32: ((uint32_t *)data)[i] = (uint32_t)d; break;
    case INFER_UINT64: ((uint64_t *)data)[i] = (uint64_t)d; break;
    default: ((int64_t *)data)[i] = (int64_t)d; break;
    }
    return NULL;
}

static bool is_float_type(int type)
{
    return type == INFER_FLOAT || type == INFER_DOUBLE || type == INFER_FLOAT16;
}

static bool is_int_type(int type)
{
    switch (type) {
    case INFER_INT8: case INFER_INT16: case INFER_INT32: case INFER_INT64:
    case INFER_UINT8: case INFER_UINT16: case INFER_UINT32: case INFER_UINT64:
        return true;
    default:
        return false;
    }
}

const char *payload_elem_json(int type, const cJSON *v, void *data, int64_t i, bool null_nan)
{
    double d;
    switch (type) {
    case INFER_BOOL:
        if (!cJSON_IsBool(v))
            return "is not a boolean";
        ((uint8_t *)data)[i] = cJSON_IsTrue(v) ? 1 : 0;
        return NULL;
    case INFER_STRING:
        if (!cJSON_IsString(v) || !v->valuestring)
            return "is not a string";
        ((char **)data)[i] = cap_xstrdup(v->valuestring);
        return NULL;
    case INFER_FLOAT:
    case INFER_DOUBLE:
    case INFER_FLOAT16:
        if (cJSON_IsNumber(v))
            d = v->valuedouble;
        else if (cJSON_IsString(v) && v->valuestring && special_float(v->valuestring, &d))
            ;
        else if (null_nan && cJSON_IsNull(v))
            d = NAN;
        else
            return "is not a number";
        return store_float(type, d, data, i);
    default:
        if (!is_int_type(type))
            return "has a datatype this server cannot read";
        if (!cJSON_IsNumber(v))
            return "is not a number";
        return store_int(type, v->valuedouble, data, i);
    }
}

const char *payload_elem_number(int type, double d, void *data, int64_t i)
{
    switch (type) {
    case INFER_FLOAT:
    case INFER_DOUBLE:
    case INFER_FLOAT16:
        return store_float(type, d, data, i);
    default:
        return is_int_type(type) ? store_int(type, d, data, i) : "is not a number";
    }
}

const char *payload_elem_text(int type, const char *s, size_t n, void *data, int64_t i)
{
    if (type == INFER_STRING) {
        if (memchr(s, '\0', n))
            return "contains a NUL byte";
        ((char **)data)[i] = cap_xstrndup(s, n);
        return NULL;
    }
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    char tmp[64];
    if (n >= sizeof tmp || memchr(s, '\0', n))
        return is_float_type(type) || type == INFER_BOOL ? "is not a number" : "is not an integer";
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (type == INFER_BOOL) {
        if (!strcmp(tmp, "true") || !strcmp(tmp, "True") || !strcmp(tmp, "TRUE") ||
            !strcmp(tmp, "1"))
            ((uint8_t *)data)[i] = 1;
        else if (!strcmp(tmp, "false") || !strcmp(tmp, "False") || !strcmp(tmp, "FALSE") ||
                 !strcmp(tmp, "0"))
            ((uint8_t *)data)[i] = 0;
        else
            return "is not a boolean";
        return NULL;
    }
    if (is_float_type(type)) {
        double d;
        if (!cap_text_to_double(tmp, n, &d))
            return "is not a number";
        return store_float(type, d, data, i);
    }
    /* integers: exact text, no double in between */
    const char *p = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if (!*p)
        return "is not an integer";
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return "is not an integer";
    errno = 0;
    if (type == INFER_UINT64) {
        if (tmp[0] == '-')
            return "is out of range";
        unsigned long long u = strtoull(tmp, NULL, 10);
        if (errno)
            return "is out of range";
        ((uint64_t *)data)[i] = u;
        return NULL;
    }
    long long v = strtoll(tmp, NULL, 10);
    if (errno)
        return "is out of range";
    if (type == INFER_INT64) {
        ((int64_t *)data)[i] = v;
        return NULL;
    }
    return store_int(type, (double)v, data, i); /* |v| < 2^32 here: exact */
}

/* ---- tensors ---- */

int64_t payload_count(const int64_t *dims, int ndim)
{
    int64_t n = 1, nz = 1;
    bool zero = false;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0)
            return -1;
        if (dims[d] == 0) {
            zero = true;
            continue;
        }
        if (dims[d] > (int64_t)EXACT_INT / nz)
            return -1;
        nz *= dims[d];
    }
    n = zero ? 0 : nz;
    return n;
}

void payload_tensor_alloc(infer_tensor *t, int type, int ndim, const int64_t *dims, int64_t count)
{
    size_t es = type == INFER_STRING ? sizeof(char *) : infer_type_size(type);
    memset(t, 0, sizeof *t);
    t->kind = INFER_KIND_TENSOR;
    t->type = type;
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof dims[0]);
    t->nbytes = (size_t)count * es;
    /* callers bound count by the body's size before they get here */
    t->data = cap_xcalloc(count ? (size_t)count : 1, es);
}

void payload_tensor_free(infer_tensor *t)
{
    if (t->type == INFER_STRING && t->data) {
        char **s = t->data;
        for (size_t k = 0; k < t->nbytes / sizeof(char *); k++)
            free(s[k]);
    }
    free(t->data);
    t->data = NULL;
}

void payload_request_free(struct payload_request *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_inputs; i++)
        if (r->inputs)
            payload_tensor_free(&r->inputs[i]);
    free(r->inputs);
    free(r->id);
    free(r->outputs);
    free(r->binary);
    memset(r, 0, sizeof *r);
}

cJSON *payload_parse_json(const void *body, size_t len, size_t *at)
{
    const char *s = body, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, &end, false);
    size_t pos = end && end >= s ? (size_t)(end - s) : 0;
    if (root) {
        /* cJSON stops after the value; trailing garbage is an error */
        while (pos < len && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r'))
            pos++;
        if (pos == len)
            return root;
        cJSON_Delete(root);
    }
    *at = pos;
    return NULL;
}

/* ---- messages ---- */

int payload_ql(const char *s)
{
    size_t n = strlen(s);
    if (n <= 64)
        return (int)n;
    n = 64;
    while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return (int)n;
}

const char *payload_dims_str(char *buf, size_t n, const int64_t *dims, int ndim)
{
    size_t k = 0;
    buf[0] = '\0';
    k += (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? "," : "", (long long)dims[d]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

const char *payload_preview(char *buf, size_t n, const cJSON *v)
{
    if (cJSON_IsNumber(v)) { /* cJSON's own printing keeps 15 digits only */
        snprintf(buf, n, "%.15g", v->valuedouble);
        if (strtod(buf, NULL) != v->valuedouble)
            snprintf(buf, n, "%.17g", v->valuedouble);
        return buf;
    }
    char *s = cJSON_PrintUnformatted(v);
    if (!s) {
        snprintf(buf, n, "?");
        return buf;
    }
    size_t len = strlen(s);
    if (len > 40) {
        len = 40;
        while (len && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
        snprintf(buf, n, "%.*s...", (int)len, s);
    } else {
        snprintf(buf, n, "%s", s);
    }
    free(s);
    return buf;
}

const char *payload_names(char *buf, size_t n, const infer_model *m, bool outputs)
{
    int count = outputs ? infer_output_count(m) : infer_input_count(m);
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && k < n; i++) {
        infer_value_info vi;
        if ((outputs ? infer_output_info(m, i, &vi) : infer_input_info(m, i, &vi)) < 0)
            continue;
        if (k + 80 > n && i + 1 < count) {
            snprintf(buf + k, n - k, "%s...", i ? ", " : "");
            break;
        }
        k += (size_t)snprintf(buf + k, n - k, "%s'%.*s'", i ? ", " : "", payload_ql(vi.name),
                              vi.name);
    }
    return buf;
}

/* ---- checks against the model ---- */

int payload_check_shape(const infer_value_info *vi, const int64_t *dims, int ndim,
                        struct cap_error *err, int code)
{
    char got[160], want[160];
    if (vi->ndim < 0)
        return 0; /* the model declares no shape */
    if (ndim != vi->ndim)
        return cap_err(err, code, "input '%.*s' has shape %s (rank %d); the model expects rank %d, %s",
                       payload_ql(vi->name), vi->name, payload_dims_str(got, sizeof got, dims, ndim),
                       ndim, vi->ndim, payload_dims_str(want, sizeof want, vi->dims, vi->ndim));
    for (int d = 0; d < ndim; d++)
        if (vi->dims[d] >= 0 && dims[d] != vi->dims[d])
            return cap_err(err, code,
                           "input '%.*s' has shape %s; the model expects %s (dimension %d must be "
                           "%lld)",
                           payload_ql(vi->name), vi->name,
                           payload_dims_str(got, sizeof got, dims, ndim),
                           payload_dims_str(want, sizeof want, vi->dims, vi->ndim), d,
                           (long long)vi->dims[d]);
    return 0;
}

int payload_check_rows(const infer_model *m, struct payload_request *req, struct cap_error *err,
                       int code)
{
    int first = -1;
    req->rows = 1;
    for (int i = 0; i < req->n_inputs; i++) {
        const infer_tensor *t = &req->inputs[i];
        if (t->ndim < 1)
            continue;
        if (first < 0) {
            first = i;
            req->rows = t->dims[0];
        } else if (t->dims[0] != req->rows) {
            infer_value_info a, b;
            infer_input_info(m, i, &a);
            infer_input_info(m, first, &b);
            return cap_err(err, code,
                           "input '%.*s' has %lld rows (dimension 0) but input '%.*s' has %lld; "
                           "every input must have the same batch size",
                           payload_ql(a.name), a.name, (long long)t->dims[0], payload_ql(b.name),
                           b.name, (long long)req->rows);
        }
    }
    return 0;
}

/* ---- metadata ---- */

static cJSON *metadata_tensor(const infer_value_info *vi)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", vi->name);
    const char *dt = payload_oip_datatype(vi->type);
    cJSON_AddStringToObject(o, "datatype", dt ? dt : "UNKNOWN");
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    if (vi->kind == INFER_KIND_SEQ_MAP) {
        /* sent as its FP32 [rows, classes] view */
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(-1));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(-1));
    } else if (vi->ndim < 0) {
        /* no declared shape: OIP has no way to say "any rank"; one free dim */
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(-1));
    } else {
        for (int d = 0; d < vi->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)(vi->dims[d] < 0 ? -1 : vi->dims[d])));
    }
    return o;
}

cJSON *payload_oip_metadata(const infer_model *m, const char *name, const char *const *versions,
                            int n_versions)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name ? name : "");
    if (n_versions > 0) {
        cJSON *v = cJSON_AddArrayToObject(o, "versions");
        for (int i = 0; i < n_versions; i++)
            cJSON_AddItemToArray(v, cJSON_CreateString(versions[i]));
    }
    cJSON_AddStringToObject(o, "platform", "onnx");
    cJSON *in = cJSON_AddArrayToObject(o, "inputs");
    for (int i = 0; i < infer_input_count(m); i++) {
        infer_value_info vi;
        if (infer_input_info(m, i, &vi) == 0)
            cJSON_AddItemToArray(in, metadata_tensor(&vi));
    }
    cJSON *out = cJSON_AddArrayToObject(o, "outputs");
    for (int i = 0; i < infer_output_count(m); i++) {
        infer_value_info vi;
        if (infer_output_info(m, i, &vi) == 0)
            cJSON_AddItemToArray(out, metadata_tensor(&vi));
    }
    return o;
}

double payload_elem_double(int type, const void *data, int64_t i)
{
    switch (type) {
    case INFER_FLOAT: return ((const float *)data)[i];
    case INFER_DOUBLE: return ((const double *)data)[i];
    case INFER_FLOAT16: return payload_f16_to_f32(((const uint16_t *)data)[i]);
    case INFER_INT8: return ((const int8_t *)data)[i];
    case INFER_UINT8: return ((const uint8_t *)data)[i];
    case INFER_INT16: return ((const int16_t *)data)[i];
    case INFER_UINT16: return ((const uint16_t *)data)[i];
    case INFER_INT32: return ((const int32_t *)data)[i];
    case INFER_UINT32: return ((const uint32_t *)data)[i];
    case INFER_INT64: return (double)((const int64_t *)data)[i];
    case INFER_UINT64: return (double)((const uint64_t *)data)[i];
    case INFER_BOOL: return ((const uint8_t *)data)[i] != 0;
    default: return NAN;
    }
}
