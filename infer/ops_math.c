/* ops_math.c - element-wise ai.onnx operators: arithmetic and comparisons
 * with numpy-style broadcasting, Where, Sum, unary math and activations,
 * Clip, Cast and CastLike.
 *
 * Broadcasting collapses the shapes into runs that are contiguous (stride
 * 1) or constant (stride 0) for every input, so the inner loops are plain
 * array loops that the compiler vectorises. Signed integer arithmetic wraps
 * (computed in unsigned) instead of invoking undefined behaviour. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "infer/internal.h"

/* ---- broadcasting ---- */

typedef struct bc {
    int ndim;                      /* after collapsing */
    int64_t dims[INFER_MAX_DIMS];
    int64_t st[3][INFER_MAX_DIMS]; /* element strides per input */
    int nin;
    int out_ndim;
    int64_t out_dims[INFER_MAX_DIMS];
} bc;

static int bc_plan(exec *r, bc *b, int nin, const tval *const *ins)
{
    int nd = 0;
    for (int k = 0; k < nin; k++)
        if (ins[k]->ndim > nd)
            nd = ins[k]->ndim;
    int64_t dims[INFER_MAX_DIMS], st[3][INFER_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        int64_t v = 1;
        for (int k = 0; k < nin; k++) {
            int kd = d - (nd - ins[k]->ndim);
            int64_t x = kd >= 0 ? ins[k]->dims[kd] : 1;
            if (x == v || x == 1)
                continue;
            if (v == 1)
                v = x;
            else
                return infi_exec_fail(r, INFER_ESHAPE, "shapes cannot be broadcast (dimension %d: %lld vs %lld)", d,
                                (long long)v, (long long)x);
        }
        dims[d] = v;
    }
    for (int k = 0; k < nin; k++) {
        int64_t s = 1;
        for (int d = nd - 1; d >= 0; d--) {
            int kd = d - (nd - ins[k]->ndim);
            int64_t x = kd >= 0 ? ins[k]->dims[kd] : 1;
            st[k][d] = x == 1 && dims[d] != 1 ? 0 : s;
            if (x == 1)
                st[k][d] = 0;
            s *= x;
        }
    }
    b->nin = nin;
    b->out_ndim = nd;
    memcpy(b->out_dims, dims, sizeof(int64_t) * (size_t)nd);
    /* collapse adjacent dims that stay contiguous (or constant) for all inputs */
    int m = 0;
    for (int d = 0; d < nd; d++) {
        if (dims[d] == 1)
            continue;
        if (m > 0) {
            int ok = 1;
            for (int k = 0; k < nin; k++)
                if (b->st[k][m - 1] != st[k][d] * dims[d])
                    ok = 0;
            if (ok) {
                b->dims[m - 1] *= dims[d];
                for (int k = 0; k < nin; k++)
                    b->st[k][m - 1] = st[k][d];
                continue;
            }
        }
        b->dims[m] = dims[d];
        for (int k = 0; k < nin; k++)
            b->st[k][m] = st[k][d];
        m++;
    }
    b->ndim = m;
    return 0;
}

typedef void (*bin_fn)(void *o, const void *a, int64_t sa, const void *b, int64_t sb, int64_t n);

/* Walks the broadcast plan calling fn on each inner run. */
static void bc_run2(const bc *b, bin_fn fn, char *o, size_t eo, const char *a, size_t ea, const char *bb, size_t eb)
{
    if (b->ndim == 0) {
        fn(o, a, 0, bb, 0, 1);
        return;
    }
    int last = b->ndim - 1;
    int64_t inner = b->dims[last], outer = 1;
    for (int d = 0; d < last; d++)
        outer *= b->dims[d];
    int64_t idx[INFER_MAX_DIMS] = {0}, oa = 0, ob = 0;
    for (int64_t i = 0; i < outer; i++) {
        fn(o + (size_t)(i * inner) * eo, a + (size_t)oa * ea, b->st[0][last], bb + (size_t)ob * eb, b->st[1][last], inner);
        for (int d = last - 1; d >= 0; d--) {
            oa += b->st[0][d];
            ob += b->st[1][d];
            if (++idx[d] < b->dims[d])
                break;
            oa -= b->st[0][d] * b->dims[d];
            ob -= b->st[1][d] * b->dims[d];
            idx[d] = 0;
        }
    }
}

/* ---- binary kernels ---- */

#define KLOOP(OT, T, EXPR)                                                      \
    OT *o = o_;                                                                 \
    const T *a = a_, *b = b_;                                                   \
    if (sa && sb)                                                               \
        for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (OT)(EXPR); } \
    else if (sa) {                                                              \
        T y = b[0];                                                             \
        for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (OT)(EXPR); }      \
    } else if (sb) {                                                            \
        T x = a[0];                                                             \
        for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (OT)(EXPR); }      \
    } else {                                                                    \
        T x = a[0], y = b[0];                                                   \
        for (int64_t i = 0; i < n; i++) o[i] = (OT)(EXPR);                      \
    }

#define DEF_K(NAME, OT, T, EXPR) \
    static void NAME(void *o_, const void *a_, int64_t sa, const void *b_, int64_t sb, int64_t n) { KLOOP(OT, T, EXPR) }

/* integer division: x / 0 gives 0 and MIN / -1 wraps, instead of trapping */
#define SDIV(T, x, y) ((y) == 0 ? (T)0 : (y) == -1 ? (T)(0 - (uint64_t)(x)) : (T)((x) / (y)))
#define UDIV(T, x, y) ((y) == 0 ? (T)0 : (T)((x) / (y)))

#define DEF_ARITH_INT(SUF, T, DIV)                                                 \
    DEF_K(add_##SUF, T, T, (T)((uint64_t)x + (uint64_t)y))                      \
    DEF_K(sub_##SUF, T, T, (T)((uint64_t)x - (uint64_t)y))                      \
    DEF_K(mul_##SUF, T, T, (T)((uint64_t)x * (uint64_t)y))                      \
    DEF_K(div_##SUF, T, T, DIV(T, x, y))                                        \
    DEF_K(eq_##SUF, uint8_t, T, x == y)                                         \
    DEF_K(gt_##SUF, uint8_t, T, x > y)                                          \
    DEF_K(lt_##SUF, uint8_t, T, x < y)                                          \
    DEF_K(ge_##SUF, uint8_t, T, x >= y)                                         \
    DEF_K(le_##SUF, uint8_t, T, x <= y)

#define DEF_ARITH_FLT(SUF, T)                                                   \
    DEF_K(add_##SUF, T, T, x + y)                                               \
    DEF_K(sub_##SUF, T, T, x - y)                                               \
    DEF_K(mul_##SUF, T, T, x * y)                                               \
    DEF_K(div_##SUF, T, T, x / y)                                               \
    DEF_K(eq_##SUF, uint8_t, T, x == y)                                         \
    DEF_K(gt_##SUF, uint8_t, T, x > y)                                          \
    DEF_K(lt_##SUF, uint8_t, T, x < y)                                          \
    DEF_K(ge_##SUF, uint8_t, T, x >= y)                                         \
    DEF_K(le_##SUF, uint8_t, T, x <= y)

DEF_ARITH_FLT(f32, float)
DEF_ARITH_FLT(f64, double)
DEF_ARITH_INT(i8, int8_t, SDIV)
DEF_ARITH_INT(i16, int16_t, SDIV)
DEF_ARITH_INT(i32, int32_t, SDIV)
DEF_ARITH_INT(i64, int64_t, SDIV)
DEF_ARITH_INT(u8, uint8_t, UDIV)
DEF_ARITH_INT(u16, uint16_t, UDIV)
DEF_ARITH_INT(u32, uint32_t, UDIV)
DEF_ARITH_INT(u64, uint64_t, UDIV)

static void eq_str(void *o_, const void *a_, int64_t sa, const void *b_, int64_t sb, int64_t n)
{
    uint8_t *o = o_;
    char *const *a = a_, *const *b = b_;
    for (int64_t i = 0; i < n; i++)
        o[i] = !strcmp(a[sa ? i : 0], b[sb ? i : 0]);
}

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_EQ, B_GT, B_LT, B_GE, B_LE, B_COUNT };

#define ROW(SUF) {add_##SUF, sub_##SUF, mul_##SUF, div_##SUF, eq_##SUF, gt_##SUF, lt_##SUF, ge_##SUF, le_##SUF}

static const bin_fn *kernels_for(int type)
{
    static const bin_fn f32[] = ROW(f32), f64[] = ROW(f64), i8[] = ROW(i8), i16[] = ROW(i16), i32[] = ROW(i32),
                        i64[] = ROW(i64), u8[] = ROW(u8), u16[] = ROW(u16), u32[] = ROW(u32), u64[] = ROW(u64);
    switch (type) {
    case INFER_FLOAT: return f32;
    case INFER_DOUBLE: return f64;
    case INFER_INT8: return i8;
    case INFER_INT16: return i16;
    case INFER_INT32: return i32;
    case INFER_INT64: return i64;
    case INFER_UINT8: case INFER_BOOL: return u8;
    case INFER_UINT16: return u16;
    case INFER_UINT32: return u32;
    case INFER_UINT64: return u64;
    default: return NULL;
    }
}

static int binary(exec *r, int op, const tval *A, const tval *B, tval *out)
{
    if (!A || !B)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    if (A->type != B->type)
        return infi_exec_fail(r, INFER_ESHAPE, "input types differ (%s vs %s)", infer_type_name(A->type), infer_type_name(B->type));
    bin_fn fn;
    if (A->type == INFER_STRING) {
        if (op != B_EQ)
            return infi_exec_fail(r, INFER_EUNSUPPORTED, "strings only support Equal");
        fn = eq_str;
    } else {
        const bin_fn *k = kernels_for(A->type);
        if (!k || (A->type == INFER_BOOL && op < B_EQ))
            return infi_exec_fail(r, INFER_EUNSUPPORTED, "type %s is not supported", infer_type_name(A->type));
        fn = k[op];
    }
    bc b;
    const tval *ins[2] = {A, B};
    if (bc_plan(r, &b, 2, ins) < 0)
        return r->err->code;
    int otype = op >= B_EQ ? INFER_BOOL : A->type;
    if (infi_tv_make(r, out, otype, b.out_ndim, b.out_dims) < 0)
        return r->err->code;
    if (out->n == 0)
        return 0;
    bc_run2(&b, fn, out->data, infi_elem_size(otype), A->data, infi_elem_size(A->type), B->data, infi_elem_size(B->type));
    return 0;
}

#define BIN_OP(NAME, OP) \
    static int NAME(exec *r, const node *nd, tval **in, tval **out) { return binary(r, OP, in[0], nd->nin > 1 ? in[1] : NULL, out[0]); }
BIN_OP(run_add, B_ADD)
BIN_OP(run_sub, B_SUB)
BIN_OP(run_mul, B_MUL)
BIN_OP(run_div, B_DIV)
BIN_OP(run_equal, B_EQ)
BIN_OP(run_greater, B_GT)
BIN_OP(run_less, B_LT)
BIN_OP(run_ge, B_GE)
BIN_OP(run_le, B_LE)

static int run_sum(exec *r, const node *nd, tval **in, tval **out)
{
    if (nd->nin < 1 || !in[0])
        return infi_exec_fail(r, INFER_ESHAPE, "Sum needs an input");
    if (nd->nin == 1) {
        *out[0] = *in[0];
        return 0;
    }
    tval acc = *in[0];
    for (int k = 1; k < nd->nin; k++) {
        tval t = {0};
        if (binary(r, B_ADD, &acc, in[k], k == nd->nin - 1 ? out[0] : &t) < 0)
            return r->err->code;
        if (k < nd->nin - 1)
            acc = t;
    }
    return 0;
}

static int run_where(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *C = in[0], *X = nd->nin > 1 ? in[1] : NULL, *Y = nd->nin > 2 ? in[2] : NULL;
    if (!C || !X || !Y)
        return infi_exec_fail(r, INFER_ESHAPE, "Where needs 3 inputs");
    if (C->type != INFER_BOOL || X->type != Y->type)
        return infi_exec_fail(r, INFER_ESHAPE, "Where: bad input types");
    bc b;
    const tval *ins[3] = {C, X, Y};
    if (bc_plan(r, &b, 3, ins) < 0 || infi_tv_make(r, out[0], X->type, b.out_ndim, b.out_dims) < 0)
        return r->err->code;
    size_t es = infi_elem_size(X->type);
    int64_t n = out[0]->n;
    int64_t idx[INFER_MAX_DIMS] = {0}, off[3] = {0, 0, 0};
    const uint8_t *c = C->data;
    for (int64_t i = 0; i < n; i++) {
        const char *src = c[off[0]] ? (const char *)X->data + (size_t)off[1] * es : (const char *)Y->data + (size_t)off[2] * es;
        memcpy((char *)out[0]->data + (size_t)i * es, src, es);
        for (int d = b.ndim - 1; d >= 0; d--) {
            for (int k = 0; k < 3; k++)
                off[k] += b.st[k][d];
            if (++idx[d] < b.dims[d])
                break;
            for (int k = 0; k < 3; k++)
                off[k] -= b.st[k][d] * b.dims[d];
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- unary ---- */

enum { U_RELU, U_SIGMOID, U_TANH, U_EXP, U_LOG, U_SQRT, U_NEG, U_RECIP, U_ERF, U_LEAKY, U_ABS };

static inline float sigmoidf_(float x)
{
    /* stable for large |x| */
    return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

static inline double sigmoidd_(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

static int unary(exec *r, int op, const node *nd, const tval *X, tval *out)
{
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    if (infi_tv_make(r, out, X->type, X->ndim, X->dims) < 0)
        return r->err->code;
    int64_t n = X->n;
    float alpha = op == U_LEAKY ? infi_attr_f(nd, "alpha", 0.01f) : 0;
    if (X->type == INFER_FLOAT) {
        const float *x = X->data;
        float *y = out->data;
        switch (op) {
        case U_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0.0f : x[i]; break;   /* NaN stays NaN */
        case U_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = sigmoidf_(x[i]); break;
        case U_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
        case U_EXP: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
        case U_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
        case U_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
        case U_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
        case U_RECIP: for (int64_t i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
        case U_ERF: for (int64_t i = 0; i < n; i++) y[i] = erff(x[i]); break;
        case U_LEAKY: for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0 ? x[i] : alpha * x[i]; break;
        case U_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
        }
        return 0;
    }
    if (X->type == INFER_DOUBLE) {
        const double *x = X->data;
        double *y = out->data;
        switch (op) {
        case U_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0.0 : x[i]; break;
        case U_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = sigmoidd_(x[i]); break;
        case U_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanh(x[i]); break;
        case U_EXP: for (int64_t i = 0; i < n; i++) y[i] = exp(x[i]); break;
        case U_LOG: for (int64_t i = 0; i < n; i++) y[i] = log(x[i]); break;
        case U_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrt(x[i]); break;
        case U_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
        case U_RECIP: for (int64_t i = 0; i < n; i++) y[i] = 1.0 / x[i]; break;
        case U_ERF: for (int64_t i = 0; i < n; i++) y[i] = erf(x[i]); break;
        case U_LEAKY: for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0 ? x[i] : (double)alpha * x[i]; break;
        case U_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabs(x[i]); break;
        }
        return 0;
    }
    if (op == U_NEG || op == U_RELU || op == U_ABS) {
#define INT_UNARY(T)                                                                      \
    {                                                                                     \
        const T *x = X->data;                                                             \
        T *y = out->data;                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                 \
            T v = x[i];                                                                   \
            y[i] = op == U_NEG ? (T)(0 - (uint64_t)v) : op == U_RELU ? (v > 0 ? v : 0)     \
                 : (v < 0 ? (T)(0 - (uint64_t)v) : v);                                    \
        }                                                                                 \
        return 0;                                                                         \
    }
        switch (X->type) {
        case INFER_INT8: INT_UNARY(int8_t)
        case INFER_INT16: INT_UNARY(int16_t)
        case INFER_INT32: INT_UNARY(int32_t)
        case INFER_INT64: INT_UNARY(int64_t)
        default: break;
        }
    }
    return infi_exec_fail(r, INFER_EUNSUPPORTED, "type %s is not supported", infer_type_name(X->type));
}

#define UN_OP(NAME, OP) \
    static int NAME(exec *r, const node *nd, tval **in, tval **out) { return unary(r, OP, nd, in[0], out[0]); }
UN_OP(run_relu, U_RELU)
UN_OP(run_sigmoid, U_SIGMOID)
UN_OP(run_tanh, U_TANH)
UN_OP(run_exp, U_EXP)
UN_OP(run_log, U_LOG)
UN_OP(run_sqrt, U_SQRT)
UN_OP(run_neg, U_NEG)
UN_OP(run_recip, U_RECIP)
UN_OP(run_erf, U_ERF)
UN_OP(run_leaky, U_LEAKY)
UN_OP(run_abs, U_ABS)

static int run_isnan(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X || (X->type != INFER_FLOAT && X->type != INFER_DOUBLE))
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "IsNaN takes float or double");
    if (infi_tv_make(r, out[0], INFER_BOOL, X->ndim, X->dims) < 0)
        return r->err->code;
    uint8_t *y = out[0]->data;
    for (int64_t i = 0; i < X->n; i++)
        y[i] = X->type == INFER_FLOAT ? isnan(((float *)X->data)[i]) : isnan(((double *)X->data)[i]);
    return 0;
}

static int run_not(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X || X->type != INFER_BOOL)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "Not takes bool");
    if (infi_tv_make(r, out[0], INFER_BOOL, X->ndim, X->dims) < 0)
        return r->err->code;
    for (int64_t i = 0; i < X->n; i++)
        ((uint8_t *)out[0]->data)[i] = !((uint8_t *)X->data)[i];
    return 0;
}

/* ---- Clip ---- */

static int run_clip(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    const tval *mn = nd->nin > 1 ? in[1] : NULL, *mx = nd->nin > 2 ? in[2] : NULL;
    if ((mn && (mn->n != 1 || mn->type != X->type)) || (mx && (mx->n != 1 || mx->type != X->type)))
        return infi_exec_fail(r, INFER_ESHAPE, "min/max must be scalars of the input type");
    if (infi_tv_make(r, out[0], X->type, X->ndim, X->dims) < 0)
        return r->err->code;
    int64_t n = X->n;
    if (X->type == INFER_FLOAT || X->type == INFER_DOUBLE) {
        double lo = -INFINITY, hi = INFINITY;
        if (nd->opset < 11) {
            lo = infi_attr_f(nd, "min", -3.4028234663852886e38f);
            hi = infi_attr_f(nd, "max", 3.4028234663852886e38f);
        }
        if (mn)
            lo = X->type == INFER_FLOAT ? *(float *)mn->data : *(double *)mn->data;
        if (mx)
            hi = X->type == INFER_FLOAT ? *(float *)mx->data : *(double *)mx->data;
        if (X->type == INFER_FLOAT) {
            float l = (float)lo, h = (float)hi;
            const float *x = X->data;
            float *y = out[0]->data;
            for (int64_t i = 0; i < n; i++) {
                float v = x[i] < l ? l : x[i];
                y[i] = v > h ? h : v;
            }
        } else {
            const double *x = X->data;
            double *y = out[0]->data;
            for (int64_t i = 0; i < n; i++) {
                double v = x[i] < lo ? lo : x[i];
                y[i] = v > hi ? hi : v;
            }
        }
        return 0;
    }
#define CLIP_INT(T, MINV, MAXV)                                                          \
    {                                                                                    \
        T l = mn ? *(const T *)mn->data : MINV, h = mx ? *(const T *)mx->data : MAXV;     \
        const T *x = X->data;                                                            \
        T *y = out[0]->data;                                                             \
        for (int64_t i = 0; i < n; i++) {                                                \
            T v = x[i] < l ? l : x[i];                                                   \
            y[i] = v > h ? h : v;                                                        \
        }                                                                                \
        return 0;                                                                        \
    }
    switch (X->type) {
    case INFER_INT8: CLIP_INT(int8_t, INT8_MIN, INT8_MAX)
    case INFER_UINT8: CLIP_INT(uint8_t, 0, UINT8_MAX)
    case INFER_INT16: CLIP_INT(int16_t, INT16_MIN, INT16_MAX)
    case INFER_INT32: CLIP_INT(int32_t, INT32_MIN, INT32_MAX)
    case INFER_INT64: CLIP_INT(int64_t, INT64_MIN, INT64_MAX)
    case INFER_UINT32: CLIP_INT(uint32_t, 0, UINT32_MAX)
    case INFER_UINT64: CLIP_INT(uint64_t, 0, UINT64_MAX)
    default: break;
    }
    return infi_exec_fail(r, INFER_EUNSUPPORTED, "type %s is not supported", infer_type_name(X->type));
}

/* ---- Cast ---- */

/* Float to integer without undefined behaviour: NaN and out-of-range values
 * give what x86's truncating conversion gives (the minimum of the type). */
static int64_t f2i64(double v)
{
    if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
        return INT64_MIN;
    return (int64_t)v;
}

static uint64_t f2u64(double v)
{
    if (!(v > -1.0 && v < 18446744073709551616.0)) {
        if (v <= -1.0 && v >= -9223372036854775808.0)
            return (uint64_t)(int64_t)v;   /* wraps like a signed conversion */
        return 0x8000000000000000ull;
    }
    return (uint64_t)v;
}

static int32_t f2i32(double v)
{
    if (!(v > -2147483649.0 && v < 2147483648.0))
        return INT32_MIN;
    return (int32_t)v;
}

static double get_num(const tval *t, int64_t i)
{
    switch (t->type) {
    case INFER_FLOAT: return ((float *)t->data)[i];
    case INFER_DOUBLE: return ((double *)t->data)[i];
    case INFER_INT8: return ((int8_t *)t->data)[i];
    case INFER_INT16: return ((int16_t *)t->data)[i];
    case INFER_INT32: return ((int32_t *)t->data)[i];
    case INFER_INT64: return (double)((int64_t *)t->data)[i];
    case INFER_UINT8: case INFER_BOOL: return ((uint8_t *)t->data)[i];
    case INFER_UINT16: return ((uint16_t *)t->data)[i];
    case INFER_UINT32: return ((uint32_t *)t->data)[i];
    case INFER_UINT64: return (double)((uint64_t *)t->data)[i];
    default: return 0;
    }
}

static int is_int_type(int t)
{
    return t == INFER_INT8 || t == INFER_INT16 || t == INFER_INT32 || t == INFER_INT64 || t == INFER_UINT8 ||
           t == INFER_UINT16 || t == INFER_UINT32 || t == INFER_UINT64 || t == INFER_BOOL;
}

/* integer source values as 64-bit two's complement bits (exact) */
static uint64_t get_bits(const tval *t, int64_t i)
{
    switch (t->type) {
    case INFER_INT8: return (uint64_t)(int64_t)((int8_t *)t->data)[i];
    case INFER_INT16: return (uint64_t)(int64_t)((int16_t *)t->data)[i];
    case INFER_INT32: return (uint64_t)(int64_t)((int32_t *)t->data)[i];
    case INFER_INT64: return (uint64_t)((int64_t *)t->data)[i];
    case INFER_UINT8: case INFER_BOOL: return ((uint8_t *)t->data)[i];
    case INFER_UINT16: return ((uint16_t *)t->data)[i];
    case INFER_UINT32: return ((uint32_t *)t->data)[i];
    case INFER_UINT64: return ((uint64_t *)t->data)[i];
    default: return 0;
    }
}

static int cast_to(exec *r, const tval *X, int to, tval *out)
{
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    if (!infi_elem_size(to) || to == INFER_FLOAT16 || X->type == INFER_FLOAT16)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "Cast to or from type %d is not supported", X->type == INFER_FLOAT16 ? X->type : to);
    if (X->type == to) {
        *out = *X;
        return 0;
    }
    if (infi_tv_make(r, out, to, X->ndim, X->dims) < 0)
        return r->err->code;
    int64_t n = X->n;
    if (to == INFER_STRING) {
        char **y = out->data;
        for (int64_t i = 0; i < n; i++) {
            char buf[64];
            if (X->type == INFER_FLOAT || X->type == INFER_DOUBLE) {
                double v = get_num(X, i);
                if (isnan(v))
                    snprintf(buf, sizeof buf, "NaN");
                else if (isinf(v))
                    snprintf(buf, sizeof buf, v > 0 ? "INF" : "-INF");
                else
                    snprintf(buf, sizeof buf, X->type == INFER_FLOAT ? "%.9g" : "%.17g", v);
            } else if (X->type == INFER_UINT64 || X->type == INFER_UINT32 || X->type == INFER_UINT16 || X->type == INFER_UINT8) {
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)get_bits(X, i));
            } else if (X->type == INFER_BOOL) {
                snprintf(buf, sizeof buf, "%d", ((uint8_t *)X->data)[i] ? 1 : 0);
            } else {
                snprintf(buf, sizeof buf, "%lld", (long long)(int64_t)get_bits(X, i));
            }
            y[i] = infi_ar_strndup(r->ar, buf, strlen(buf));
            if (!y[i])
                return infi_exec_fail(r, INFER_ENOMEM, "out of memory");
        }
        return 0;
    }
    tval src = *X;
    if (X->type == INFER_STRING) {
        /* parse to double first */
        double *d = infi_exec_alloc(r, (size_t)(n + 1) * sizeof(double));
        if (!d)
            return r->err->code;
        for (int64_t i = 0; i < n; i++) {
            const char *s = ((char **)X->data)[i];
            char *end;
            d[i] = strtod(s, &end);
            if (end == s)
                d[i] = NAN;
        }
        src.type = INFER_DOUBLE;
        src.data = d;
    }
    int from_int = is_int_type(src.type);
    for (int64_t i = 0; i < n; i++) {
        double v = from_int ? 0 : get_num(&src, i);
        uint64_t bits = from_int ? get_bits(&src, i) : 0;
        switch (to) {
        case INFER_FLOAT:
            ((float *)out->data)[i] = from_int ? (src.type == INFER_UINT64 ? (float)bits : (float)(int64_t)bits) : (float)v;
            break;
        case INFER_DOUBLE:
            ((double *)out->data)[i] = from_int ? (src.type == INFER_UINT64 ? (double)bits : (double)(int64_t)bits) : v;
            break;
        case INFER_BOOL:
            ((uint8_t *)out->data)[i] = from_int ? bits != 0 : v != 0;
            break;
        case INFER_INT64: ((int64_t *)out->data)[i] = from_int ? (int64_t)bits : f2i64(v); break;
        case INFER_UINT64: ((uint64_t *)out->data)[i] = from_int ? bits : f2u64(v); break;
        case INFER_INT32: ((int32_t *)out->data)[i] = from_int ? (int32_t)(uint32_t)bits : f2i32(v); break;
        case INFER_UINT32: ((uint32_t *)out->data)[i] = from_int ? (uint32_t)bits : (uint32_t)f2i64(v); break;
        case INFER_INT16: ((int16_t *)out->data)[i] = (int16_t)(uint16_t)(from_int ? bits : (uint64_t)(int64_t)f2i32(v)); break;
        case INFER_UINT16: ((uint16_t *)out->data)[i] = (uint16_t)(from_int ? bits : (uint64_t)(int64_t)f2i32(v)); break;
        case INFER_INT8: ((int8_t *)out->data)[i] = (int8_t)(uint8_t)(from_int ? bits : (uint64_t)(int64_t)f2i32(v)); break;
        case INFER_UINT8: ((uint8_t *)out->data)[i] = (uint8_t)(from_int ? bits : (uint64_t)(int64_t)f2i32(v)); break;
        default: return infi_exec_fail(r, INFER_EUNSUPPORTED, "Cast to %s is not supported", infer_type_name(to));
        }
    }
    return 0;
}

static int init_cast(infer_model *m, node *nd, infer_error *e)
{
    const attr *a = infi_get_attr(nd, "to");
    if (!a || a->type != AT_INT)
        return infi_ierr(e, INFER_EFORMAT, "attribute 'to' missing");
    if (!infi_elem_size((int)a->i) || a->i == INFER_FLOAT16)
        return infi_ierr(e, INFER_EUNSUPPORTED, "Cast to type %lld is not supported", (long long)a->i);
    return 0;
}

static int run_cast(exec *r, const node *nd, tval **in, tval **out)
{
    return cast_to(r, in[0], (int)infi_attr_i(nd, "to", 1), out[0]);
}

static int run_castlike(exec *r, const node *nd, tval **in, tval **out)
{
    if (nd->nin < 2 || !in[1])
        return infi_exec_fail(r, INFER_ESHAPE, "CastLike needs 2 inputs");
    return cast_to(r, in[0], in[1]->type, out[0]);
}

const opdef infi_ops_math[] = {
    {"", "Add", 1, NULL, run_add},
    {"", "Sub", 1, NULL, run_sub},
    {"", "Mul", 1, NULL, run_mul},
    {"", "Div", 1, NULL, run_div},
    {"", "Equal", 1, NULL, run_equal},
    {"", "Greater", 1, NULL, run_greater},
    {"", "Less", 1, NULL, run_less},
    {"", "GreaterOrEqual", 12, NULL, run_ge},
    {"", "LessOrEqual", 12, NULL, run_le},
    {"", "Sum", 1, NULL, run_sum},
    {"", "Where", 9, NULL, run_where},
    {"", "Relu", 1, NULL, run_relu},
    {"", "Sigmoid", 1, NULL, run_sigmoid},
    {"", "Tanh", 1, NULL, run_tanh},
    {"", "Exp", 1, NULL, run_exp},
    {"", "Log", 1, NULL, run_log},
    {"", "Sqrt", 1, NULL, run_sqrt},
    {"", "Neg", 1, NULL, run_neg},
    {"", "Abs", 1, NULL, run_abs},
    {"", "Reciprocal", 1, NULL, run_recip},
    {"", "Erf", 9, NULL, run_erf},
    {"", "LeakyRelu", 1, NULL, run_leaky},
    {"", "IsNaN", 9, NULL, run_isnan},
    {"", "Not", 1, NULL, run_not},
    {"", "Clip", 1, NULL, run_clip},
    {"", "Cast", 1, init_cast, run_cast},
    {"", "CastLike", 15, NULL, run_castlike},
    {NULL, NULL, 0, NULL, NULL},
};
