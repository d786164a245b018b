/* ops_nn.c - ai.onnx operators for small neural networks and reductions:
 * MatMul, Gemm, Softmax, LogSoftmax, ArgMax, ReduceSum/Mean/Max, TopK,
 * BatchNormalization, LayerNormalization. Float matrix products go through
 * infi_gemm_f32; other element types use straightforward loops. */
#include <math.h>
#include <stdlib.h>

#include "infer/internal.h"

static int norm_axis(int64_t a, int rank, int64_t *out)
{
    if (a < -rank || a >= rank)
        return -1;
    *out = a < 0 ? a + rank : a;
    return 0;
}

/* ---- MatMul ---- */

/* Set by infi_fuse_nodes: a following Add of a constant bias row and/or Relu
 * are folded into the product (their nodes become pass-throughs). */
typedef struct epilogue {
    const float *bias;   /* N values or NULL */
    int64_t nbias;
    int relu;
    const float *Bp;     /* constant B in panels (infi_gemm_pack_b), or NULL */
} epilogue;

static void apply_relu(float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = y[i] < 0 ? 0.0f : y[i];   /* NaN stays NaN, as in Relu */
}

static int run_matmul(exec *r, const node *nd, tval **in, tval **out)
{
    const epilogue *ep = nd->state;
    const tval *A = in[0], *B = nd->nin > 1 ? in[1] : NULL;
    if (!A || !B)
        return infi_exec_fail(r, INFER_ESHAPE, "MatMul needs 2 inputs");
    if (A->type != B->type || !infi_is_numeric(A->type) || A->type == INFER_BOOL)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "MatMul of %s and %s", infer_type_name(A->type), infer_type_name(B->type));
    if (A->ndim < 1 || B->ndim < 1)
        return infi_exec_fail(r, INFER_ESHAPE, "MatMul inputs must have rank >= 1");
    /* numpy rules: 1-D operands get a dimension added then removed */
    int64_t M = A->ndim >= 2 ? A->dims[A->ndim - 2] : 1, K = A->dims[A->ndim - 1];
    int64_t K2 = B->ndim >= 2 ? B->dims[B->ndim - 2] : B->dims[0], N = B->ndim >= 2 ? B->dims[B->ndim - 1] : 1;
    if (K != K2)
        return infi_exec_fail(r, INFER_ESHAPE, "MatMul inner dimensions differ (%lld vs %lld)", (long long)K, (long long)K2);
    int ba = A->ndim > 2 ? A->ndim - 2 : 0, bb = B->ndim > 2 ? B->ndim - 2 : 0, nb = ba > bb ? ba : bb;
    int64_t bdims[INFER_MAX_DIMS], sa[INFER_MAX_DIMS], sb[INFER_MAX_DIMS];
    int64_t sA = M * K, sB = K * N;
    for (int d = nb - 1; d >= 0; d--) {
        int da = d - (nb - ba), db = d - (nb - bb);
        int64_t xa = da >= 0 ? A->dims[da] : 1, xb = db >= 0 ? B->dims[db] : 1;
        if (xa != xb && xa != 1 && xb != 1)
            return infi_exec_fail(r, INFER_ESHAPE, "MatMul batch dimensions cannot be broadcast");
        bdims[d] = xa > xb ? xa : xb;
        sa[d] = xa == 1 ? 0 : sA;
        sb[d] = xb == 1 ? 0 : sB;
        sA *= xa;
        sB *= xb;
    }
    int64_t odims[INFER_MAX_DIMS];
    int on = 0;
    for (int d = 0; d < nb; d++)
        odims[on++] = bdims[d];
    if (A->ndim >= 2)
        odims[on++] = M;
    if (B->ndim >= 2)
        odims[on++] = N;
    if (infi_tv_make(r, out[0], A->type, on, odims) < 0)
        return r->err->code;
    int64_t batches = 1;
    for (int d = 0; d < nb; d++)
        batches *= bdims[d];
    int biased = ep && A->type == INFER_FLOAT && ep->bias && ep->nbias == N;
    if (out[0]->n == 0)
        return 0;
    if (A->type == INFER_FLOAT && ep && ep->Bp && B->ndim == 2 && batches == 1) {
        /* bias and Relu applied as each tile of the product is stored */
        gemm_epi ge = {biased ? ep->bias : NULL, ep->relu};
        if (infi_gemm_f32_packed_ep(M, N, K, A->data, K, ep->Bp, B->data, out[0]->data, N, &ge))
            return 0;
    }
    if (!biased)
        memset(out[0]->data, 0, (size_t)out[0]->n * infi_elem_size(A->type));
    if (biased) {
        /* start from the bias instead of zero: the Add pass disappears */
        float *y = out[0]->data;
        for (int64_t i = 0; i < out[0]->n / N; i++)
            for (int64_t j = 0; j < N; j++)
                y[i * N + j] = ep->bias[j];
    }
    int64_t idx[INFER_MAX_DIMS] = {0}, oa = 0, ob = 0;
    for (int64_t bi = 0; bi < batches; bi++) {
        if (A->type == INFER_FLOAT && ep && ep->Bp && B->ndim == 2) {
            infi_gemm_f32_packed(M, N, K, (const float *)A->data + oa, K, ep->Bp, B->data, (float *)out[0]->data + bi * M * N, N);
        } else if (A->type == INFER_FLOAT) {
            infi_gemm_f32(0, 0, M, N, K, 1.0f, (const float *)A->data + oa, K, (const float *)B->data + ob, N,
                     (float *)out[0]->data + bi * M * N, N);
        } else {
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0;
                    uint64_t si = 0;
                    for (int64_t k = 0; k < K; k++) {
                        int64_t ia = oa + i * K + k, ib = ob + k * N + j;
                        switch (A->type) {
                        case INFER_DOUBLE: s += ((double *)A->data)[ia] * ((double *)B->data)[ib]; break;
                        case INFER_INT32: si += (uint64_t)((int64_t)((int32_t *)A->data)[ia] * ((int32_t *)B->data)[ib]); break;
                        case INFER_INT64: si += (uint64_t)((int64_t *)A->data)[ia] * (uint64_t)((int64_t *)B->data)[ib]; break;
                        case INFER_UINT32: si += (uint64_t)((uint32_t *)A->data)[ia] * ((uint32_t *)B->data)[ib]; break;
                        case INFER_UINT64: si += ((uint64_t *)A->data)[ia] * ((uint64_t *)B->data)[ib]; break;
                        default: return infi_exec_fail(r, INFER_EUNSUPPORTED, "MatMul of %s", infer_type_name(A->type));
                        }
                    }
                    int64_t o = bi * M * N + i * N + j;
                    switch (A->type) {
                    case INFER_DOUBLE: ((double *)out[0]->data)[o] = s; break;
                    case INFER_INT32: ((int32_t *)out[0]->data)[o] = (int32_t)(uint32_t)si; break;
                    case INFER_INT64: ((int64_t *)out[0]->data)[o] = (int64_t)si; break;
                    case INFER_UINT32: ((uint32_t *)out[0]->data)[o] = (uint32_t)si; break;
                    default: ((uint64_t *)out[0]->data)[o] = si; break;
                    }
                }
        }
        for (int d = nb - 1; d >= 0; d--) {
            oa += sa[d];
            ob += sb[d];
            if (++idx[d] < bdims[d])
                break;
            oa -= sa[d] * bdims[d];
            ob -= sb[d] * bdims[d];
            idx[d] = 0;
        }
    }
    if (ep && ep->relu && A->type == INFER_FLOAT)
        apply_relu(out[0]->data, out[0]->n);
    return 0;
}

/* ---- Gemm ---- */

typedef struct gemm_state {
    const float *Bn;   /* constant B already in K x N layout, or NULL */
    const float *Bp;   /* Bn in panels */
    int relu;          /* a following Relu folded in by infi_fuse_nodes */
} gemm_state;

static int init_gemm(infer_model *m, node *nd, infer_error *e)
{
    gemm_state *s = infi_ar_calloc(&m->ar, 1, sizeof *s);
    if (!s)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    nd->state = s;
    /* torch exports Linear as Gemm(transB=1) with constant weights: lay
     * them out once here instead of on every run */
    if (nd->nin > 1 && nd->in[1] >= 0 && infi_attr_i(nd, "transB", 0)) {
        const tval *B = &m->consts[nd->in[1]];
        if (B->set && B->type == INFER_FLOAT && B->ndim == 2) {
            int64_t N = B->dims[0], K = B->dims[1];
            float *t = infi_ar_alloc(&m->ar, (size_t)(N * K + 1) * sizeof(float));
            if (!t)
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
            for (int64_t j = 0; j < N; j++)
                for (int64_t k = 0; k < K; k++)
                    t[k * N + j] = ((const float *)B->data)[j * K + k];
            s->Bn = t;
            if (N >= 32 && !(s->Bp = infi_gemm_pack_b(&m->ar, t, K, N)))
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int run_gemm(exec *r, const node *nd, tval **in, tval **out)
{
    const gemm_state *s = nd->state;
    const tval *A = in[0], *B = nd->nin > 1 ? in[1] : NULL, *C = nd->nin > 2 ? in[2] : NULL;
    if (!A || !B)
        return infi_exec_fail(r, INFER_ESHAPE, "Gemm needs A and B");
    if (A->ndim != 2 || B->ndim != 2)
        return infi_exec_fail(r, INFER_ESHAPE, "Gemm inputs must be 2-D");
    if (A->type != B->type || (A->type != INFER_FLOAT && A->type != INFER_DOUBLE))
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "Gemm of %s", infer_type_name(A->type));
    int ta = (int)infi_attr_i(nd, "transA", 0), tb = (int)infi_attr_i(nd, "transB", 0);
    float alpha = infi_attr_f(nd, "alpha", 1.0f), beta = infi_attr_f(nd, "beta", 1.0f);
    int64_t M = ta ? A->dims[1] : A->dims[0], K = ta ? A->dims[0] : A->dims[1];
    int64_t K2 = tb ? B->dims[1] : B->dims[0], N = tb ? B->dims[0] : B->dims[1];
    if (K != K2)
        return infi_exec_fail(r, INFER_ESHAPE, "Gemm inner dimensions differ (%lld vs %lld)", (long long)K, (long long)K2);
    int64_t d[2] = {M, N};
    if (infi_tv_make(r, out[0], A->type, 2, d) < 0)
        return r->err->code;
    if (out[0]->n == 0)
        return 0;
    /* C broadcasts to M x N */
    int64_t cr = 0, cc = 0;
    if (C) {
        if (C->type != A->type)
            return infi_exec_fail(r, INFER_ESHAPE, "C has a different type");
        int64_t c0 = C->ndim == 2 ? C->dims[0] : 1, c1 = C->ndim >= 1 ? C->dims[C->ndim - 1] : 1;
        if (C->ndim > 2 || (c0 != 1 && c0 != M) || (c1 != 1 && c1 != N))
            return infi_exec_fail(r, INFER_ESHAPE, "C cannot be broadcast to %lldx%lld", (long long)M, (long long)N);
        cr = c0 == 1 ? 0 : c1;
        cc = c1 == 1 ? 0 : 1;
    }
    if (A->type == INFER_FLOAT) {
        float *y = out[0]->data;
        if (s && s->Bp && !ta && alpha == 1.0f && (!C || (cr == 0 && cc == 1 && beta == 1.0f))) {
            /* C (if any) is one row: it is the bias of the epilogue */
            gemm_epi ge = {C ? (const float *)C->data : NULL, s->relu};
            if (infi_gemm_f32_packed_ep(M, N, K, A->data, A->dims[1], s->Bp, s->Bn, y, N, &ge))
                return 0;
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                y[i * N + j] = C ? beta * ((const float *)C->data)[i * cr + j * cc] : 0.0f;
        if (s && s->Bp && !ta && alpha == 1.0f)
            infi_gemm_f32_packed(M, N, K, A->data, A->dims[1], s->Bp, s->Bn, y, N);
        else if (s && s->Bn)
            infi_gemm_f32(ta, 0, M, N, K, alpha, A->data, A->dims[1], s->Bn, N, y, N);
        else
            infi_gemm_f32(ta, tb, M, N, K, alpha, A->data, A->dims[1], B->data, B->dims[1], y, N);
        if (s && s->relu)
            apply_relu(y, M * N);
        return 0;
    }
    const double *a = A->data, *b = B->data;
    double *y = out[0]->data;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
            y[i * N + j] = alpha * acc + (C ? beta * ((const double *)C->data)[i * cr + j * cc] : 0.0);
            if (s && s->relu && y[i * N + j] < 0)
                y[i * N + j] = 0;
        }
    return 0;
}

/* ---- Softmax / LogSoftmax ---- */

static int softmax_common(exec *r, const node *nd, tval **in, tval **out, int logv)
{
    const tval *X = in[0];
    if (!X || (X->type != INFER_FLOAT && X->type != INFER_DOUBLE))
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "Softmax takes float or double");
    int rank = X->ndim;
    int64_t axis;
    if (norm_axis(infi_attr_i(nd, "axis", nd->opset < 13 ? 1 : -1), rank ? rank : 1, &axis) < 0)
        return infi_exec_fail(r, INFER_ESHAPE, "axis out of range");
    if (infi_tv_make(r, out[0], X->type, X->ndim, X->dims) < 0)
        return r->err->code;
    if (X->n == 0)
        return 0;   /* loop bounds below could be huge with a zero dimension */
    int64_t outer = 1, D = 1, inner = 1;
    if (nd->opset < 13) {
        /* coerced to 2-D at axis */
        for (int d = 0; d < axis; d++)
            outer *= X->dims[d];
        for (int d = (int)axis; d < rank; d++)
            D *= X->dims[d];
    } else {
        for (int d = 0; d < axis; d++)
            outer *= X->dims[d];
        D = rank ? X->dims[axis] : 1;
        for (int d = (int)axis + 1; d < rank; d++)
            inner *= X->dims[d];
    }
    int dbl = X->type == INFER_DOUBLE;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in_ = 0; in_ < inner; in_++) {
            int64_t base = o * D * inner + in_;
#define AT(P, k) ((P)[base + (k) * inner])
            if (!dbl) {
                const float *x = X->data;
                float *y = out[0]->data;
                float mx = -INFINITY;
                for (int64_t k = 0; k < D; k++)
                    if (AT(x, k) > mx)
                        mx = AT(x, k);
                float sum = 0;
                for (int64_t k = 0; k < D; k++) {
                    float v = expf(AT(x, k) - mx);
                    AT(y, k) = v;
                    sum += v;
                }
                for (int64_t k = 0; k < D; k++)
                    AT(y, k) = logv ? AT(x, k) - mx - logf(sum) : AT(y, k) / sum;
            } else {
                const double *x = X->data;
                double *y = out[0]->data;
                double mx = -INFINITY;
                for (int64_t k = 0; k < D; k++)
                    if (AT(x, k) > mx)
                        mx = AT(x, k);
                double sum = 0;
                for (int64_t k = 0; k < D; k++) {
                    double v = exp(AT(x, k) - mx);
                    AT(y, k) = v;
                    sum += v;
                }
                for (int64_t k = 0; k < D; k++)
                    AT(y, k) = logv ? AT(x, k) - mx - log(sum) : AT(y, k) / sum;
            }
#undef AT
        }
    return 0;
}

static int run_softmax(exec *r, const node *nd, tval **in, tval **out) { return softmax_common(r, nd, in, out, 0); }
static int run_logsoftmax(exec *r, const node *nd, tval **in, tval **out) { return softmax_common(r, nd, in, out, 1); }

/* ---- reductions ---- */

enum { R_SUM, R_MEAN, R_MAX, R_ARGMAX };

static double rd(const tval *t, int64_t i)
{
    switch (t->type) {
    case INFER_FLOAT: return ((float *)t->data)[i];
    case INFER_DOUBLE: return ((double *)t->data)[i];
    case INFER_INT32: return ((int32_t *)t->data)[i];
    case INFER_INT64: return (double)((int64_t *)t->data)[i];
    case INFER_UINT8: case INFER_BOOL: return ((uint8_t *)t->data)[i];
    case INFER_INT8: return ((int8_t *)t->data)[i];
    case INFER_UINT32: return ((uint32_t *)t->data)[i];
    case INFER_UINT64: return (double)((uint64_t *)t->data)[i];
    case INFER_INT16: return ((int16_t *)t->data)[i];
    case INFER_UINT16: return ((uint16_t *)t->data)[i];
    default: return 0;
    }
}

static void wr(tval *t, int64_t i, double v)
{
    switch (t->type) {
    case INFER_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case INFER_DOUBLE: ((double *)t->data)[i] = v; break;
    case INFER_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case INFER_INT64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case INFER_UINT8: case INFER_BOOL: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    case INFER_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case INFER_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)v; break;
    case INFER_UINT64: ((uint64_t *)t->data)[i] = (uint64_t)v; break;
    case INFER_INT16: ((int16_t *)t->data)[i] = (int16_t)v; break;
    case INFER_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
    default: break;
    }
}

static int reduce(exec *r, const node *nd, tval **in, tval **out, int kind, int axes_input_from)
{
    const tval *X = in[0];
    if (!X || !infi_is_numeric(X->type))
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "reduction of a non-numeric tensor");
    int rank = X->ndim;
    int red[INFER_MAX_DIMS] = {0}, any = 0;
    int keep = (int)infi_attr_i(nd, "keepdims", 1);
    if (kind == R_ARGMAX) {
        int64_t a;
        if (norm_axis(infi_attr_i(nd, "axis", 0), rank, &a) < 0)
            return infi_exec_fail(r, INFER_ESHAPE, "axis out of range");
        red[a] = 1;
        any = 1;
    } else {
        const int64_t *axes = NULL;
        int64_t na = 0;
        if (nd->opset >= axes_input_from) {
            const tval *A = nd->nin > 1 ? in[1] : NULL;
            if (A) {
                if (A->type != INFER_INT64)
                    return infi_exec_fail(r, INFER_ESHAPE, "axes must be int64");
                axes = A->data;
                na = A->n;
            }
        } else {
            const attr *a = infi_get_attr(nd, "axes");
            if (a && a->type == AT_INTS)
                axes = a->ints, na = a->n;
        }
        if (na == 0 && infi_attr_i(nd, "noop_with_empty_axes", 0)) {
            *out[0] = *X;
            return 0;
        }
        for (int64_t i = 0; i < na; i++) {
            int64_t a;
            if (norm_axis(axes[i], rank, &a) < 0)
                return infi_exec_fail(r, INFER_ESHAPE, "axis %lld out of range", (long long)axes[i]);
            red[a] = 1;
            any = 1;
        }
        if (!any)
            for (int d = 0; d < rank; d++)
                red[d] = 1;
    }
    int64_t odims[INFER_MAX_DIMS], ostr[INFER_MAX_DIMS];
    int on = 0;
    for (int d = 0; d < rank; d++) {
        if (red[d]) {
            if (keep)
                odims[on++] = 1;
        } else {
            odims[on++] = X->dims[d];
        }
    }
    /* output stride per input dim (0 for reduced dims) */
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        ostr[d] = red[d] ? 0 : s;
        if (!red[d])
            s *= X->dims[d];
    }
    int otype = kind == R_ARGMAX ? INFER_INT64 : X->type;
    if (infi_tv_make(r, out[0], otype, on, odims) < 0)
        return r->err->code;
    int64_t no = out[0]->n;
    double *acc = infi_exec_alloc(r, (size_t)(no + 1) * sizeof(double));
    int64_t *cnt = infi_exec_alloc(r, (size_t)(no + 1) * sizeof(int64_t));
    int64_t *arg = infi_exec_alloc(r, (size_t)(no + 1) * sizeof(int64_t));
    if (!acc || !cnt || !arg)
        return r->err->code;
    for (int64_t i = 0; i < no; i++) {
        acc[i] = kind == R_MAX || kind == R_ARGMAX ? -INFINITY : 0;
        cnt[i] = 0;
        arg[i] = 0;
    }
    int last = (int)infi_attr_i(nd, "select_last_index", 0);
    int64_t idx[INFER_MAX_DIMS] = {0}, o = 0;
    int64_t axis_pos = 0;
    int argaxis = -1;
    for (int d = 0; d < rank; d++)
        if (red[d] && kind == R_ARGMAX)
            argaxis = d;
    for (int64_t i = 0; i < X->n; i++) {
        double v = rd(X, i);
        if (argaxis >= 0)
            axis_pos = idx[argaxis];
        switch (kind) {
        case R_SUM: case R_MEAN: acc[o] += v; break;
        case R_MAX:
            if (v > acc[o] || cnt[o] == 0 || v != v)
                acc[o] = (acc[o] != acc[o]) ? acc[o] : v;
            break;
        case R_ARGMAX:
            if (cnt[o] == 0 || (last ? v >= acc[o] : v > acc[o])) {
                acc[o] = v;
                arg[o] = axis_pos;
            }
            break;
        }
        cnt[o]++;
        for (int d = rank - 1; d >= 0; d--) {
            o += ostr[d];
            if (++idx[d] < X->dims[d])
                break;
            o -= ostr[d] * X->dims[d];
            idx[d] = 0;
        }
    }
    for (int64_t i = 0; i < no; i++) {
        if (kind == R_ARGMAX)
            ((int64_t *)out[0]->data)[i] = arg[i];
        else if (kind == R_MEAN)
            wr(out[0], i, cnt[i] ? acc[i] / (double)cnt[i] : NAN);
        else
            wr(out[0], i, acc[i]);
    }
    return 0;
}

static int run_reducesum(exec *r, const node *nd, tval **in, tval **out) { return reduce(r, nd, in, out, R_SUM, 13); }
static int run_reducemean(exec *r, const node *nd, tval **in, tval **out) { return reduce(r, nd, in, out, R_MEAN, 18); }
static int run_reducemax(exec *r, const node *nd, tval **in, tval **out) { return reduce(r, nd, in, out, R_MAX, 18); }
static int run_argmax(exec *r, const node *nd, tval **in, tval **out) { return reduce(r, nd, in, out, R_ARGMAX, 99); }

/* ---- TopK ---- */

static int run_topk(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X || !infi_is_numeric(X->type))
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "TopK takes a numeric tensor");
    int64_t k;
    if (nd->opset < 10) {
        k = infi_attr_i(nd, "k", -1);
    } else {
        const tval *K = nd->nin > 1 ? in[1] : NULL;
        if (!K || K->type != INFER_INT64 || K->n != 1)
            return infi_exec_fail(r, INFER_ESHAPE, "K must be a 1-element int64 tensor");
        k = *(int64_t *)K->data;
    }
    int64_t axis;
    if (norm_axis(infi_attr_i(nd, "axis", -1), X->ndim, &axis) < 0)
        return infi_exec_fail(r, INFER_ESHAPE, "axis out of range");
    int64_t D = X->dims[axis];
    if (k < 0 || k > D)
        return infi_exec_fail(r, INFER_ESHAPE, "k=%lld out of range", (long long)k);
    int largest = (int)infi_attr_i(nd, "largest", 1);
    int64_t dims[INFER_MAX_DIMS];
    memcpy(dims, X->dims, sizeof(int64_t) * (size_t)X->ndim);
    dims[axis] = k;
    tval tmp = {0}, *I = nd->nout > 1 ? out[1] : &tmp;
    if (infi_tv_make(r, out[0], X->type, X->ndim, dims) < 0 || infi_tv_make(r, I, INFER_INT64, X->ndim, dims) < 0)
        return r->err->code;
    if (X->n == 0)
        return 0;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= X->dims[d];
    for (int d = (int)axis + 1; d < X->ndim; d++)
        inner *= X->dims[d];
    int64_t *ord = infi_exec_alloc(r, (size_t)(D + 1) * sizeof(int64_t));
    if (!ord)
        return r->err->code;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in_ = 0; in_ < inner; in_++) {
            int64_t base = o * D * inner + in_;
            /* selection by insertion into a sorted prefix of k; ties keep
             * the lower index first */
            int64_t n = 0;
            for (int64_t j = 0; j < D; j++) {
                double v = rd(X, base + j * inner);
                int64_t p = n;
                while (p > 0) {
                    double u = rd(X, base + ord[p - 1] * inner);
                    int better = largest ? (v > u || (u != u ? 0 : v != v)) : (v < u);
                    if (!better)
                        break;
                    p--;
                }
                if (p >= k)
                    continue;
                int64_t end = n < k ? n : k - 1;
                for (int64_t q = end; q > p; q--)
                    ord[q] = ord[q - 1];
                ord[p] = j;
                if (n < k)
                    n++;
            }
            for (int64_t q = 0; q < k; q++) {
                wr(out[0], o * k * inner + q * inner + in_, rd(X, base + ord[q] * inner));
                ((int64_t *)I->data)[o * k * inner + q * inner + in_] = ord[q];
            }
        }
    if (X->type == INFER_INT64 || X->type == INFER_UINT64) {
        /* doubles lose large 64-bit integers: copy the exact values */
        for (int64_t i = 0; i < out[0]->n; i++) {
            int64_t q = i / inner % (k ? k : 1), o = i / inner / (k ? k : 1), in_ = i % inner;
            int64_t src = o * D * inner + ((int64_t *)I->data)[i] * inner + in_;
            (void)q;
            ((int64_t *)out[0]->data)[i] = ((int64_t *)X->data)[src];
        }
    }
    return 0;
}

/* ---- BatchNormalization (inference) ---- */

static int run_batchnorm(exec *r, const node *nd, tval **in, tval **out)
{
    if (nd->nin < 5)
        return infi_exec_fail(r, INFER_ESHAPE, "BatchNormalization needs 5 inputs");
    const tval *X = in[0];
    if (!X || X->ndim < 1 || !in[1] || !in[2] || !in[3] || !in[4])
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    if (infi_attr_i(nd, "training_mode", 0))
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "training_mode is not supported");
    if (X->type != INFER_FLOAT && X->type != INFER_DOUBLE)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "BatchNormalization takes float or double");
    double eps = infi_attr_f(nd, "epsilon", 1e-5f);
    int64_t C = X->ndim > 1 ? X->dims[1] : 1, inner = 1;
    for (int d = 2; d < X->ndim; d++)
        inner *= X->dims[d];
    for (int k = 1; k < 5; k++)
        if (in[k]->n != C)
            return infi_exec_fail(r, INFER_ESHAPE, "parameter %d must have %lld values", k, (long long)C);
    const double *sc = infi_tv_as_double(r, in[1]), *b = infi_tv_as_double(r, in[2]), *mean = infi_tv_as_double(r, in[3]),
                 *var = infi_tv_as_double(r, in[4]);
    if (!sc || !b || !mean || !var || infi_tv_make(r, out[0], X->type, X->ndim, X->dims) < 0)
        return r->err->code;
    int64_t N = X->n ? X->dims[0] : 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            double mul = sc[c] / sqrt(var[c] + eps), add = b[c] - mean[c] * mul;
            int64_t base = (n * C + c) * inner;
            if (X->type == INFER_FLOAT) {
                float fm = (float)mul, fa = (float)add;
                for (int64_t i = 0; i < inner; i++)
                    ((float *)out[0]->data)[base + i] = ((float *)X->data)[base + i] * fm + fa;
            } else {
                for (int64_t i = 0; i < inner; i++)
                    ((double *)out[0]->data)[base + i] = ((double *)X->data)[base + i] * mul + add;
            }
        }
    return 0;
}

/* ---- LayerNormalization ---- */

static int run_layernorm(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0], *S = nd->nin > 1 ? in[1] : NULL, *B = nd->nin > 2 ? in[2] : NULL;
    if (!X || !S)
        return infi_exec_fail(r, INFER_ESHAPE, "LayerNormalization needs X and Scale");
    if (X->type != INFER_FLOAT && X->type != INFER_DOUBLE)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "LayerNormalization takes float or double");
    int64_t axis;
    if (norm_axis(infi_attr_i(nd, "axis", -1), X->ndim, &axis) < 0)
        return infi_exec_fail(r, INFER_ESHAPE, "axis out of range");
    double eps = infi_attr_f(nd, "epsilon", 1e-5f);
    int64_t outer = 1, D = 1;
    for (int d = 0; d < axis; d++)
        outer *= X->dims[d];
    for (int d = (int)axis; d < X->ndim; d++)
        D *= X->dims[d];
    /* Scale and B broadcast over the normalised block */
    if (S->n != D && S->n != 1)
        return infi_exec_fail(r, INFER_ESHAPE, "Scale must have %lld elements", (long long)D);
    if (B && B->n != D && B->n != 1)
        return infi_exec_fail(r, INFER_ESHAPE, "B must have %lld elements", (long long)D);
    const double *x = infi_tv_as_double(r, X), *s = infi_tv_as_double(r, S), *b = B ? infi_tv_as_double(r, B) : NULL;
    if (!x || !s || (B && !b) || infi_tv_make(r, out[0], X->type, X->ndim, X->dims) < 0)
        return r->err->code;
    int64_t sd[INFER_MAX_DIMS];
    memcpy(sd, X->dims, sizeof(int64_t) * (size_t)X->ndim);
    for (int d = (int)axis; d < X->ndim; d++)
        sd[d] = 1;
    tval *M = nd->nout > 1 && nd->out[1] >= 0 ? out[1] : NULL, *I = nd->nout > 2 && nd->out[2] >= 0 ? out[2] : NULL;
    int stype = (int)infi_attr_i(nd, "stash_type", 1) == 11 ? INFER_DOUBLE : INFER_FLOAT;
    if (M && infi_tv_make(r, M, stype == INFER_DOUBLE ? INFER_DOUBLE : X->type == INFER_DOUBLE ? INFER_DOUBLE : INFER_FLOAT, X->ndim, sd) < 0)
        return r->err->code;
    if (I && infi_tv_make(r, I, M ? M->type : (X->type == INFER_DOUBLE ? INFER_DOUBLE : INFER_FLOAT), X->ndim, sd) < 0)
        return r->err->code;
    if (X->n == 0)
        outer = 0;
    for (int64_t o = 0; o < outer; o++) {
        const double *xo = x + o * D;
        double mean = 0, var = 0;
        for (int64_t k = 0; k < D; k++)
            mean += xo[k];
        mean /= (double)(D ? D : 1);
        for (int64_t k = 0; k < D; k++)
            var += (xo[k] - mean) * (xo[k] - mean);
        var /= (double)(D ? D : 1);
        double inv = 1.0 / sqrt(var + eps);
        for (int64_t k = 0; k < D; k++) {
            double v = (xo[k] - mean) * inv * s[S->n == 1 ? 0 : k] + (b ? b[B->n == 1 ? 0 : k] : 0);
            wr(out[0], o * D + k, v);
        }
        if (M)
            wr(M, o, mean);
        if (I)
            wr(I, o, inv);
    }
    return 0;
}

/* ---- load-time fusion ---- */

static int run_pass0(exec *r, const node *nd, tval **in, tval **out)
{
    *out[0] = *in[0];
    return 0;
}

static int run_pass1(exec *r, const node *nd, tval **in, tval **out)
{
    *out[0] = *in[1];
    return 0;
}

static const opdef pass_ops[2] = {
    {"", "(fused)", 1, NULL, run_pass0},
    {"", "(fused)", 1, NULL, run_pass1},
};

/* Folds MatMul -> Add(constant bias row) -> Relu and Gemm -> Relu chains
 * into the matrix product, the way torch and skl2onnx export MLP layers.
 * A link is fused only when the intermediate value has exactly one
 * consumer and is not a graph output. */
int infi_fuse_nodes(infer_model *m, infer_error *e)
{
    int *uses = infi_ar_calloc(&m->ar, (size_t)(m->nvalues ? m->nvalues : 1), sizeof(int));
    int *prod = infi_ar_alloc(&m->ar, (size_t)(m->nvalues ? m->nvalues : 1) * sizeof(int));
    if (!uses || !prod)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    for (int v = 0; v < m->nvalues; v++)
        prod[v] = -1;
    for (int i = 0; i < m->nnodes; i++) {
        for (int k = 0; k < m->nodes[i].nin; k++)
            if (m->nodes[i].in[k] >= 0)
                uses[m->nodes[i].in[k]]++;
        for (int k = 0; k < m->nodes[i].nout; k++)
            if (m->nodes[i].out[k] >= 0)
                prod[m->nodes[i].out[k]] = i;
    }
    for (int i = 0; i < m->nout; i++)
        uses[m->out_idx[i]] += 2;   /* graph outputs are never fused away */
    /* the single consumer of value v, or NULL */
    for (int i = 0; i < m->nnodes; i++) {
        node *nd = &m->nodes[i];
        int is_mm = !strcmp(nd->op_type, "MatMul") && !*nd->domain, is_gemm = !strcmp(nd->op_type, "Gemm") && !*nd->domain;
        if ((!is_mm && !is_gemm) || nd->nout != 1 || nd->out[0] < 0 || nd->nin < 2 || nd->in[1] < 0)
            continue;
        const tval *B = &m->consts[nd->in[1]];
        if (!B->set || B->type != INFER_FLOAT || B->ndim != 2)
            continue;
        int64_t N = is_gemm && infi_attr_i(nd, "transB", 0) ? B->dims[0] : B->dims[1];
        int v = nd->out[0];
        node *next = NULL;
        epilogue *ep = NULL;
        if (is_mm && N >= 32) {
            if (!(ep = infi_ar_calloc(&m->ar, 1, sizeof *ep)) || !(ep->Bp = infi_gemm_pack_b(&m->ar, B->data, B->dims[0], N)))
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
            nd->state = ep;
        }
        for (int j = i + 1; j < m->nnodes && uses[v] == 1; j++)
            for (int k = 0; k < m->nodes[j].nin; k++)
                if (m->nodes[j].in[k] == v)
                    next = &m->nodes[j];
        if (is_mm && next && !strcmp(next->op_type, "Add") && !*next->domain && next->nin == 2 && next->nout == 1 &&
            next->out[0] >= 0) {
            int other = next->in[0] == v ? 1 : 0;
            const tval *bias = next->in[other] >= 0 ? &m->consts[next->in[other]] : NULL;
            if (bias && bias->set && bias->type == INFER_FLOAT && bias->n == N &&
                (bias->ndim == 1 || (bias->ndim == 2 && bias->dims[0] == 1)) && next->in[1 - other] == v) {
                if (!ep && !(ep = infi_ar_calloc(&m->ar, 1, sizeof *ep)))
                    return infi_ierr(e, INFER_ENOMEM, "out of memory");
                ep->bias = bias->data;
                ep->nbias = N;
                nd->state = ep;
                next->op = &pass_ops[1 - other];
                v = next->out[0];
                next = NULL;
                for (int j = i + 1; j < m->nnodes && uses[v] == 1; j++)
                    for (int k = 0; k < m->nodes[j].nin; k++)
                        if (m->nodes[j].in[k] == v)
                            next = &m->nodes[j];
            } else {
                next = NULL;
            }
        }
        if (next && !strcmp(next->op_type, "Relu") && !*next->domain && next->nin == 1 && next->in[0] == v) {
            if (is_gemm && nd->state) {
                ((gemm_state *)nd->state)->relu = 1;
                next->op = &pass_ops[0];
            } else if (is_mm) {
                if (!ep && !(ep = infi_ar_calloc(&m->ar, 1, sizeof *ep)))
                    return infi_ierr(e, INFER_ENOMEM, "out of memory");
                ep->relu = 1;
                nd->state = ep;
                next->op = &pass_ops[0];
            }
        }
    }
    return 0;
}

const opdef infi_ops_nn[] = {
    {"", "MatMul", 1, NULL, run_matmul},
    {"", "Gemm", 1, init_gemm, run_gemm},
    {"", "Softmax", 1, NULL, run_softmax},
    {"", "LogSoftmax", 1, NULL, run_logsoftmax},
    {"", "ArgMax", 1, NULL, run_argmax},
    {"", "ReduceSum", 1, NULL, run_reducesum},
    {"", "ReduceMean", 1, NULL, run_reducemean},
    {"", "ReduceMax", 1, NULL, run_reducemax},
    {"", "TopK", 1, NULL, run_topk},
    {"", "BatchNormalization", 1, NULL, run_batchnorm},
    {"", "LayerNormalization", 17, NULL, run_layernorm},
    {NULL, NULL, 0, NULL, NULL},
};
