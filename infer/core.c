/* core.c - small shared pieces: arena allocator, error formatting, the
 * protobuf wire reader, runtime value helpers and post transforms. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "infer/internal.h"

/* ---- arena ---- */

#define AR_MIN_BLOCK (64 * 1024)

void *infi_ar_alloc(arena *a, size_t n)
{
    size_t need = (n + 63) & ~(size_t)63;
    if (need < n)
        return NULL;
    ar_block *b = a->head;
    if (b && b->cap - b->used >= need) {
        void *p = b->data + b->used;
        b->used += need;
        return p;
    }
    /* Grow geometrically so that a run's scratch settles into few blocks. */
    size_t cap = a->total > AR_MIN_BLOCK ? a->total : AR_MIN_BLOCK;
    if (cap < need)
        cap = need;
    if (cap > SIZE_MAX - sizeof(ar_block) - 64)
        return NULL;
    ar_block *nb = aligned_alloc(64, (sizeof(ar_block) + cap + 63) & ~(size_t)63);
    if (!nb)
        return NULL;
    nb->cap = cap;
    nb->used = need;
    nb->next = a->head;
    a->head = nb;
    a->total += cap;
    return nb->data;
}

void *infi_ar_calloc(arena *a, size_t count, size_t size)
{
    size_t n;
    if (!mul_ok(count, size, &n))
        return NULL;
    void *p = infi_ar_alloc(a, n ? n : 1);
    if (p)
        memset(p, 0, n);
    return p;
}

char *infi_ar_strndup(arena *a, const char *s, size_t n)
{
    char *p = infi_ar_alloc(a, n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

void infi_ar_reset(arena *a)
{
    /* Several blocks mean the last run outgrew the first: merge them into
     * one block of the total size so later runs allocate nothing. */
    if (a->head && a->head->next) {
        size_t total = a->total;
        infi_ar_free(a);
        ar_block *nb = aligned_alloc(64, (sizeof(ar_block) + total + 63) & ~(size_t)63);
        if (nb) {
            nb->cap = total;
            nb->used = 0;
            nb->next = NULL;
            a->head = nb;
            a->total = total;
        }
        return;
    }
    if (a->head)
        a->head->used = 0;
}

void infi_ar_free(arena *a)
{
    ar_block *b = a->head;
    while (b) {
        ar_block *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- errors ---- */

int infi_ierr(infer_error *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void infi_err_prefix(infer_error *e, const char *op, const char *name)
{
    if (!e)
        return;
    char tmp[sizeof e->msg];
    size_t n = 0;
    const char *parts[] = {op, " node '", name, "': ", e->msg};
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++)
        for (const char *c = parts[p]; *c && n + 1 < sizeof tmp; c++)
            tmp[n++] = *c;
    tmp[n] = 0;
    memcpy(e->msg, tmp, n + 1);
}

int infi_exec_fail(exec *r, int code, const char *fmt, ...)
{
    if (r->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err->msg, sizeof r->err->msg, fmt, ap);
        va_end(ap);
        r->err->code = code;
    }
    return code;
}

/* ---- values ---- */

size_t infi_elem_size(int type)
{
    switch (type) {
    case INFER_FLOAT: case INFER_INT32: case INFER_UINT32: return 4;
    case INFER_DOUBLE: case INFER_INT64: case INFER_UINT64: return 8;
    case INFER_INT16: case INFER_UINT16: case INFER_FLOAT16: return 2;
    case INFER_INT8: case INFER_UINT8: case INFER_BOOL: return 1;
    case INFER_STRING: return sizeof(char *);
    default: return 0;
    }
}

int64_t infi_dims_count(int ndim, const int64_t *dims)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0)
            return -1;
        if (dims[i] && n > INT64_MAX / dims[i])
            return -1;
        n *= dims[i];
    }
    return n;
}

int infi_is_numeric(int t)
{
    switch (t) {
    case INFER_FLOAT: case INFER_DOUBLE: case INFER_INT8: case INFER_INT16: case INFER_INT32:
    case INFER_INT64: case INFER_UINT8: case INFER_UINT16: case INFER_UINT32: case INFER_UINT64:
    case INFER_BOOL:
        return 1;
    default:
        return 0;
    }
}

int infi_is_float_type(int t) { return t == INFER_FLOAT || t == INFER_DOUBLE; }

void *infi_exec_alloc(exec *r, size_t n)
{
    if (n > INFER_MAX_TENSOR_BYTES) {
        infi_exec_fail(r, INFER_ENOMEM, "scratch of %zu bytes exceeds the %llu-byte limit", n,
                 (unsigned long long)INFER_MAX_TENSOR_BYTES);
        return NULL;
    }
    void *p = infi_ar_alloc(r->ar, n ? n : 1);
    if (!p)
        infi_exec_fail(r, INFER_ENOMEM, "out of memory (%zu bytes)", n);
    return p;
}

int infi_tv_make(exec *r, tval *out, int type, int ndim, const int64_t *dims)
{
    if (ndim < 0 || ndim > INFER_MAX_DIMS)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "rank %d exceeds %d", ndim, INFER_MAX_DIMS);
    int64_t n = infi_dims_count(ndim, dims);
    size_t es = infi_elem_size(type), bytes;
    if (n < 0 || !es || !mul_ok((size_t)n, es, &bytes))
        return infi_exec_fail(r, INFER_ESHAPE, "invalid output shape");
    if (bytes > INFER_MAX_TENSOR_BYTES)
        return infi_exec_fail(r, INFER_ENOMEM, "a tensor of %zu bytes exceeds the %llu-byte limit", bytes,
                        (unsigned long long)INFER_MAX_TENSOR_BYTES);
    void *bind = out->bind;
    size_t cap = out->bind_cap;
    memset(out, 0, sizeof *out);
    out->kind = INFER_KIND_TENSOR;
    out->type = type;
    out->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        out->dims[i] = dims[i];
    out->n = n;
    /* a graph output whose caller buffer fits is written in place */
    if (bind && type != INFER_STRING && bytes <= cap)
        out->data = bind;
    else
        out->data = infi_exec_alloc(r, bytes);
    if (!out->data)
        return INFER_ENOMEM;
    if (type == INFER_STRING)
        memset(out->data, 0, bytes);
    out->set = 1;
    return 0;
}

#define CONVERT_LOOP(DST, src, n, type)                                        \
    do {                                                                       \
        switch (type) {                                                        \
        case INFER_FLOAT: for (int64_t i = 0; i < n; i++) DST[i] = ((const float *)src)[i]; break;   \
        case INFER_DOUBLE: for (int64_t i = 0; i < n; i++) DST[i] = ((const double *)src)[i]; break; \
        case INFER_INT8: for (int64_t i = 0; i < n; i++) DST[i] = ((const int8_t *)src)[i]; break;   \
        case INFER_INT16: for (int64_t i = 0; i < n; i++) DST[i] = ((const int16_t *)src)[i]; break; \
        case INFER_INT32: for (int64_t i = 0; i < n; i++) DST[i] = ((const int32_t *)src)[i]; break; \
        case INFER_INT64: for (int64_t i = 0; i < n; i++) DST[i] = ((const int64_t *)src)[i]; break; \
        case INFER_UINT8: case INFER_BOOL: for (int64_t i = 0; i < n; i++) DST[i] = ((const uint8_t *)src)[i]; break; \
        case INFER_UINT16: for (int64_t i = 0; i < n; i++) DST[i] = ((const uint16_t *)src)[i]; break; \
        case INFER_UINT32: for (int64_t i = 0; i < n; i++) DST[i] = ((const uint32_t *)src)[i]; break; \
        case INFER_UINT64: for (int64_t i = 0; i < n; i++) DST[i] = ((const uint64_t *)src)[i]; break; \
        default: return NULL;                                                  \
        }                                                                      \
    } while (0)

float *infi_tv_as_float(exec *r, const tval *t)
{
    if (t->type == INFER_FLOAT)
        return t->data;
    if (!infi_is_numeric(t->type)) {
        infi_exec_fail(r, INFER_EUNSUPPORTED, "expected a numeric tensor, got %s", infer_type_name(t->type));
        return NULL;
    }
    float *d = infi_exec_alloc(r, (size_t)t->n * sizeof(float));
    if (!d)
        return NULL;
    CONVERT_LOOP(d, t->data, t->n, t->type);
    return d;
}

double *infi_tv_as_double(exec *r, const tval *t)
{
    if (t->type == INFER_DOUBLE)
        return t->data;
    if (!infi_is_numeric(t->type)) {
        infi_exec_fail(r, INFER_EUNSUPPORTED, "expected a numeric tensor, got %s", infer_type_name(t->type));
        return NULL;
    }
    double *d = infi_exec_alloc(r, (size_t)t->n * sizeof(double));
    if (!d)
        return NULL;
    CONVERT_LOOP(d, t->data, t->n, t->type);
    return d;
}

int64_t *infi_tv_as_int64(exec *r, const tval *t)
{
    if (t->type == INFER_INT64)
        return t->data;
    if (!infi_is_numeric(t->type)) {
        infi_exec_fail(r, INFER_EUNSUPPORTED, "expected a numeric tensor, got %s", infer_type_name(t->type));
        return NULL;
    }
    int64_t *d = infi_exec_alloc(r, (size_t)t->n * sizeof(int64_t));
    if (!d)
        return NULL;
    if (t->type == INFER_FLOAT || t->type == INFER_DOUBLE) {
        for (int64_t i = 0; i < t->n; i++) {
            double v = t->type == INFER_FLOAT ? ((const float *)t->data)[i] : ((const double *)t->data)[i];
            /* out-of-range float to int is UB in C; saturate instead */
            d[i] = v != v ? 0 : v >= 9.2233720368547758e18 ? INT64_MAX : v <= -9.2233720368547758e18 ? INT64_MIN : (int64_t)v;
        }
        return d;
    }
    CONVERT_LOOP(d, t->data, t->n, t->type);
    return d;
}

/* ---- attributes ---- */

const attr *infi_get_attr(const node *nd, const char *name)
{
    for (int i = 0; i < nd->nattr; i++)
        if (!strcmp(nd->attrs[i].name, name))
            return &nd->attrs[i];
    return NULL;
}

int64_t infi_attr_i(const node *nd, const char *name, int64_t dflt)
{
    const attr *a = infi_get_attr(nd, name);
    return a && a->type == AT_INT ? a->i : dflt;
}

float infi_attr_f(const node *nd, const char *name, float dflt)
{
    const attr *a = infi_get_attr(nd, name);
    return a && a->type == AT_FLOAT ? a->f : dflt;
}

const char *infi_attr_s(const node *nd, const char *name, const char *dflt)
{
    const attr *a = infi_get_attr(nd, name);
    return a && a->type == AT_STRING ? a->s : dflt;
}

/* ---- post transforms ---- */

int infi_parse_post_transform(const char *s)
{
    if (!s || !strcmp(s, "NONE")) return PT_NONE;
    if (!strcmp(s, "LOGISTIC")) return PT_LOGISTIC;
    if (!strcmp(s, "SOFTMAX")) return PT_SOFTMAX;
    if (!strcmp(s, "SOFTMAX_ZERO")) return PT_SOFTMAX_ZERO;
    if (!strcmp(s, "PROBIT")) return PT_PROBIT;
    return -1;
}

float infi_pt_logistic(float x)
{
    /* exp of a non-positive argument only: no overflow for large |x| */
    float v = 1.0f / (1.0f + expf(-fabsf(x)));
    return x < 0 ? 1.0f - v : v;
}

/* exp(x) for float arrays in a form the compiler vectorises: Cody-Waite
 * range reduction x = n ln2 + r and a degree-6 polynomial for e^r (the
 * classic Cephes minimax coefficients), then 2^n through the exponent
 * bits. Within 2 ulp of expf over the clamped range. */
static inline float exp_vec(float x)
{
    x = x > 88.3762626647949f ? 88.3762626647949f : x;
    x = x < -87.3365447504019f ? -87.3365447504019f : x;
    float fx = x * 1.44269504088896341f + 0.5f;
    int n = (int)fx;
    n -= (float)n > fx;   /* floor */
    float fn = (float)n;
    float r = x - fn * 0.693359375f + fn * 2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    union { uint32_t u; float f; } b = {(uint32_t)(n + 127) << 23};
    return y * b.f;
}

/* out[2i] = logistic(-z[i]), out[2i+1] = logistic(z[i]): the two columns
 * of a binary linear classifier, bit for bit what infi_pt_logistic_n gives for
 * the pair (-z, z), with one exp per row */
void infi_pt_logistic_pairs(const float *z, int64_t n, float *out)
{
    for (int64_t i = 0; i < n; i++) {
        float x = z[i], a = x < 0 ? -x : x;
        float s = 1.0f / (1.0f + exp_vec(-a));
        out[2 * i] = -x < 0 ? 1.0f - s : s;
        out[2 * i + 1] = x < 0 ? 1.0f - s : s;
    }
}

void infi_pt_logistic_n(float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = v[i], a = x < 0 ? -x : x;
        float s = 1.0f / (1.0f + exp_vec(-a));
        v[i] = x < 0 ? 1.0f - s : s;
    }
}

float infi_pt_probit(float x)
{
    /* sqrt(2) * erfinv(2x - 1) with Winitzki's closed-form erfinv
     * approximation (a = 0.147), which is what ONNX Runtime evaluates; an
     * exact erfinv would differ from it in the third decimal. */
    float y = 2.0f * x - 1.0f;
    float sgn = y < 0 ? -1.0f : 1.0f;
    float w = (1.0f - y) * (1.0f + y);
    float lg = logf(w);
    float v = 2.0f / (3.14159f * 0.147f) + 0.5f * lg;
    float v2 = 1.0f / 0.147f * lg;
    float v3 = -v + sqrtf(v * v - v2);
    return 1.41421356f * sgn * sqrtf(v3);
}

void infi_pt_softmax(float *v, int64_t n)
{
    if (n <= 0)
        return;
    float mx = v[0];
    for (int64_t i = 1; i < n; i++)
        if (v[i] > mx)
            mx = v[i];
    float s = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i] = expf(v[i] - mx);
        s += v[i];
    }
    for (int64_t i = 0; i < n; i++)
        v[i] /= s;
}

void infi_pt_softmax_zero(float *v, int64_t n)
{
    if (n <= 0)
        return;
    float mx = v[0];
    for (int64_t i = 1; i < n; i++)
        if (v[i] > mx)
            mx = v[i];
    float s = 0;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] > 1e-7f || v[i] < -1e-7f) {
            v[i] = expf(v[i] - mx);
            s += v[i];
        } else {
            v[i] = 0;
        }
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = s > 0 ? v[i] / s : 0;
}

/* ---- public helpers ---- */

size_t infer_type_size(int type) { return infi_elem_size(type); }

const char *infer_type_name(int type)
{
    switch (type) {
    case INFER_FLOAT: return "float";
    case INFER_UINT8: return "uint8";
    case INFER_INT8: return "int8";
    case INFER_UINT16: return "uint16";
    case INFER_INT16: return "int16";
    case INFER_INT32: return "int32";
    case INFER_INT64: return "int64";
    case INFER_STRING: return "string";
    case INFER_BOOL: return "bool";
    case INFER_FLOAT16: return "float16";
    case INFER_DOUBLE: return "double";
    case INFER_UINT32: return "uint32";
    case INFER_UINT64: return "uint64";
    default: return "unknown";
    }
}

int64_t infer_tensor_count(const infer_tensor *t)
{
    if (!t || t->ndim < 0 || t->ndim > INFER_MAX_DIMS)
        return -1;
    return infi_dims_count(t->ndim, t->dims);
}
