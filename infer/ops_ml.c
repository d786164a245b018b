/* ops_ml.c - ai.onnx.ml operators other than the tree ensembles: linear
 * models, scalers, encoders, ZipMap, feature plumbing and SVMs. Semantics
 * follow the ONNX-ML operator documentation; where it is silent we match
 * what ONNX Runtime observably does (noted at each place). */
#include <math.h>
#include <stdlib.h>

#include "infer/internal.h"

/* rows x cols view of a 1-D or 2-D input (1-D is one row) */
static int rows_cols(exec *r, const tval *X, int64_t *N, int64_t *F)
{
    *N = *F = 0;
    if (!X || X->kind != INFER_KIND_TENSOR)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    if (X->ndim == 2) {
        *N = X->dims[0];
        *F = X->dims[1];
    } else if (X->ndim == 1) {
        *N = 1;
        *F = X->dims[0];
    } else if (X->ndim == 0) {
        *N = 1;
        *F = 1;
    } else {
        return infi_exec_fail(r, INFER_ESHAPE, "expected a 1-D or 2-D input, got rank %d", X->ndim);
    }
    return 0;
}

static const attr *list_attr(const node *nd, const char *name, int type)
{
    const attr *a = infi_get_attr(nd, name);
    return a && a->type == type ? a : NULL;
}

/* ---- labels (shared by LinearClassifier, SVMClassifier, ZipMap) ---- */

typedef struct labels {
    int64_t n;
    int64_t *i;
    char **s;
} labels;

static int get_labels(const node *nd, const char *ints_name, const char *str_name, labels *L)
{
    const attr *li = list_attr(nd, ints_name, AT_INTS), *ls = list_attr(nd, str_name, AT_STRINGS);
    memset(L, 0, sizeof *L);
    if (li && li->n) {
        L->n = li->n;
        L->i = li->ints;
        return 0;
    }
    if (ls && ls->n) {
        L->n = ls->n;
        L->s = ls->strings;
        return 0;
    }
    return -1;
}

static int make_labels(exec *r, tval *out, const labels *L, int64_t N)
{
    int64_t d[1] = {N};
    return infi_tv_make(r, out, L->s ? INFER_STRING : INFER_INT64, 1, d);
}

static void set_label(tval *out, const labels *L, int64_t row, int64_t k)
{
    if (L->s)
        ((char **)out->data)[row] = L->s[k];
    else
        ((int64_t *)out->data)[row] = L->i[k];
}

static void post_row(int post, float *z, int64_t n)
{
    switch (post) {
    case PT_LOGISTIC: infi_pt_logistic_n(z, n); break;
    case PT_SOFTMAX: infi_pt_softmax(z, n); break;
    case PT_SOFTMAX_ZERO: infi_pt_softmax_zero(z, n); break;
    case PT_PROBIT: for (int64_t k = 0; k < n; k++) z[k] = infi_pt_probit(z[k]); break;
    default: break;
    }
}

/* ---- LinearClassifier / LinearRegressor ---- */

typedef struct linear {
    int64_t C;          /* rows of coefficients */
    float *W;           /* C x F */
    int64_t F;
    float *b;           /* C or NULL */
    int post;
    labels L;
    int mirror;         /* two classes whose rows are exact negatives: score one */
} linear;

static int init_linear(infer_model *m, node *nd, int clf, infer_error *e)
{
    linear *s = infi_ar_calloc(&m->ar, 1, sizeof *s);
    if (!s)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    const attr *co = list_attr(nd, "coefficients", AT_FLOATS), *ic = list_attr(nd, "intercepts", AT_FLOATS);
    if (!co)
        return infi_ierr(e, INFER_EFORMAT, "coefficients missing");
    s->post = infi_parse_post_transform(infi_attr_s(nd, "post_transform", "NONE"));
    if (s->post < 0)
        return infi_ierr(e, INFER_EFORMAT, "unknown post_transform");
    if (clf) {
        if (get_labels(nd, "classlabels_ints", "classlabels_strings", &s->L) < 0)
            return infi_ierr(e, INFER_EFORMAT, "class labels missing");
        s->C = ic && ic->n ? ic->n : s->L.n;
    } else {
        s->C = infi_attr_i(nd, "targets", 1);
    }
    if (s->C <= 0 || co->n % s->C)
        return infi_ierr(e, INFER_EFORMAT, "coefficients (%lld) do not divide into %lld rows", (long long)co->n,
                    (long long)s->C);
    if (ic && ic->n && ic->n != s->C)
        return infi_ierr(e, INFER_EFORMAT, "intercepts has %lld entries, expected %lld", (long long)ic->n, (long long)s->C);
    s->F = co->n / s->C;
    s->W = co->floats;
    s->b = ic && ic->n ? ic->floats : NULL;
    /* scikit-learn's binary LogisticRegression exports the rows (-w, w)
     * and intercepts (-b, b); the first score is then exactly minus the
     * second (rounding is symmetric), so one dot product per row is enough */
    if (clf && s->C == 2 && s->L.n == 2 && s->F > 0) {
        s->mirror = 1;
        for (int64_t k = 0; k < s->F && s->mirror; k++)
            s->mirror = s->W[k] == -s->W[s->F + k];
        if (s->b && s->b[0] != -s->b[1])
            s->mirror = 0;
    }
    nd->state = s;
    return 0;
}

static int init_linclf(infer_model *m, node *nd, infer_error *e) { return init_linear(m, nd, 1, e); }
static int init_linreg(infer_model *m, node *nd, infer_error *e) { return init_linear(m, nd, 0, e); }

/* scores[N x C] = X W^T + b, in float like ONNX Runtime; into dst when
 * given (an output tensor), else into scratch */
static float *linear_scores(exec *r, const linear *s, const tval *X, int64_t *Nout, float *dst)
{
    int64_t N = 0, F = 0;
    if (rows_cols(r, X, &N, &F) < 0)
        return NULL;
    if (F != s->F) {
        infi_exec_fail(r, INFER_ESHAPE, "X has %lld columns, model expects %lld", (long long)F, (long long)s->F);
        return NULL;
    }
    const float *x = infi_tv_as_float(r, X);
    float *z = !x ? NULL : dst ? dst : infi_exec_alloc(r, (size_t)(N * s->C + 1) * sizeof(float));
    if (!z)
        return NULL;
    /* start from the intercepts (a plain loop: C is small, memcpy per row costs more) */
    int64_t C = s->C;
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < C; k++)
            z[i * C + k] = s->b ? s->b[k] : 0.0f;
    infi_gemm_f32(0, 1, N, s->C, F, 1.0f, x, F, s->W, F, z, s->C);
    *Nout = N;
    return z;
}

static int run_linclf(exec *r, const node *nd, tval **in, tval **out)
{
    const linear *s = nd->state;
    int64_t N = 0, F = 0;
    if (rows_cols(r, in[0], &N, &F) < 0)
        return r->err->code;
    int64_t C = s->C;
    int binary = C == 1 && s->L.n == 2;
    int64_t ZC = binary ? 2 : C;
    int64_t sd[2] = {N, ZC};
    tval tmp = {0}, *Z = nd->nout > 1 ? out[1] : &tmp;
    if (make_labels(r, out[0], &s->L, N) < 0 || infi_tv_make(r, Z, INFER_FLOAT, 2, sd) < 0)
        return r->err->code;
    linear half;
    if (s->mirror) {
        /* score the second row only, then proceed as a binary model: the
         * label rule (second score > first) is then "score > 0" */
        half = *s;
        half.C = 1;
        half.W = s->W + s->F;
        half.b = s->b ? s->b + 1 : NULL;
        s = &half;
        C = 1;
        binary = 1;
    }
    /* multi-class scores are computed straight into the output */
    float *z = linear_scores(r, s, in[0], &N, binary ? NULL : (float *)Z->data);
    if (!z)
        return r->err->code;
    float *zo = Z->data;
    if (binary && !s->L.s && (s->post == PT_LOGISTIC || s->post == PT_NONE)) {
        /* the common binary case in three flat loops */
        int64_t *lab = out[0]->data, l0 = s->L.i[0], l1 = s->L.i[1];
        for (int64_t i = 0; i < N; i++)
            lab[i] = z[i] > 0 ? l1 : l0;
        if (s->post == PT_LOGISTIC) {
            infi_pt_logistic_pairs(z, N, zo);
        } else {
            for (int64_t i = 0; i < N; i++) {
                zo[2 * i] = -z[i];
                zo[2 * i + 1] = z[i];
            }
        }
        return 0;
    }
    for (int64_t i = 0; i < N; i++) {
        float *zi = zo + i * ZC;
        if (binary) {
            /* one score row for two labels: [-s, s], label by the sign;
             * LOGISTIC runs over the whole array after the loop */
            float v = z[i];
            set_label(out[0], &s->L, i, v > 0 ? 1 : 0);
            zi[0] = -v;
            zi[1] = v;
            if (s->post != PT_NONE && s->post != PT_LOGISTIC)
                post_row(s->post, zi, 2);
            continue;
        }
        int64_t best = 0;
        for (int64_t k = 1; k < C; k++)
            if (zi[k] > zi[best])
                best = k;
        if (C == 1) {
            best = zi[0] > 0 ? 1 : 0;
            if (best >= s->L.n)
                best = 0;
        }
        if (best >= s->L.n)
            return infi_exec_fail(r, INFER_ERUNTIME, "more score columns than class labels");
        set_label(out[0], &s->L, i, best);
        if (s->post != PT_LOGISTIC)
            post_row(s->post, zi, C);
    }
    if (s->post == PT_LOGISTIC)
        infi_pt_logistic_n(zo, N * ZC);
    return 0;
}

static int run_linreg(exec *r, const node *nd, tval **in, tval **out)
{
    const linear *s = nd->state;
    int64_t N;
    float *z = linear_scores(r, s, in[0], &N, NULL);
    if (!z)
        return r->err->code;
    int64_t d[2] = {N, s->C};
    if (infi_tv_make(r, out[0], INFER_FLOAT, 2, d) < 0)
        return r->err->code;
    float *y = out[0]->data;
    memcpy(y, z, (size_t)(N * s->C) * sizeof(float));
    if (s->post != PT_NONE)
        for (int64_t i = 0; i < N; i++)
            post_row(s->post, y + i * s->C, s->C);
    return 0;
}

/* ---- Scaler ---- */

static int run_scaler(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    const attr *off = list_attr(nd, "offset", AT_FLOATS), *sc = list_attr(nd, "scale", AT_FLOATS);
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    int64_t C = X->ndim ? X->dims[X->ndim - 1] : 1;
    int64_t no = off ? off->n : 0, ns = sc ? sc->n : 0;
    if ((no != 0 && no != 1 && no != C) || (ns != 0 && ns != 1 && ns != C))
        return infi_exec_fail(r, INFER_ESHAPE, "offset/scale length does not match %lld columns", (long long)C);
    const float *x = infi_tv_as_float(r, X);
    if (!x || infi_tv_make(r, out[0], INFER_FLOAT, X->ndim, X->dims) < 0)
        return r->err->code;
    float *y = out[0]->data;
    for (int64_t i = 0; i < X->n; i++) {
        int64_t c = C ? i % C : 0;
        float o = no == 0 ? 0 : no == 1 ? off->floats[0] : off->floats[c];
        float s = ns == 0 ? 1 : ns == 1 ? sc->floats[0] : sc->floats[c];
        y[i] = (x[i] - o) * s;
    }
    return 0;
}

/* ---- Normalizer ---- */

static int run_normalizer(exec *r, const node *nd, tval **in, tval **out)
{
    int64_t N = 0, F = 0;
    if (rows_cols(r, in[0], &N, &F) < 0)
        return r->err->code;
    const char *norm = infi_attr_s(nd, "norm", "MAX");
    int kind = !strcmp(norm, "MAX") ? 0 : !strcmp(norm, "L1") ? 1 : !strcmp(norm, "L2") ? 2 : -1;
    if (kind < 0)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "unknown norm '%s'", norm);
    const float *x = infi_tv_as_float(r, in[0]);
    if (!x || infi_tv_make(r, out[0], INFER_FLOAT, in[0]->ndim, in[0]->dims) < 0)
        return r->err->code;
    float *y = out[0]->data;
    if (in[0]->n == 0)
        N = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * F;
        float *yi = y + i * F;
        float d = 0;
        if (kind == 0) {
            d = F ? xi[0] : 0;
            for (int64_t k = 1; k < F; k++)
                if (xi[k] > d)
                    d = xi[k];
        } else if (kind == 1) {
            for (int64_t k = 0; k < F; k++)
                d += fabsf(xi[k]);
        } else {
            for (int64_t k = 0; k < F; k++)
                d += xi[k] * xi[k];
            d = sqrtf(d);
        }
        for (int64_t k = 0; k < F; k++)
            yi[k] = d != 0 ? xi[k] / d : xi[k];
    }
    return 0;
}

/* ---- ZipMap ---- */

static int run_zipmap(exec *r, const node *nd, tval **in, tval **out)
{
    labels L;
    if (get_labels(nd, "classlabels_int64s", "classlabels_strings", &L) < 0)
        return infi_exec_fail(r, INFER_EFORMAT, "class labels missing");
    int64_t N = 0, C = 0;
    if (rows_cols(r, in[0], &N, &C) < 0)
        return r->err->code;
    if (C != L.n)
        return infi_exec_fail(r, INFER_ESHAPE, "input has %lld columns for %lld labels", (long long)C, (long long)L.n);
    const float *x = infi_tv_as_float(r, in[0]);
    int64_t d[2] = {N, C};
    if (!x || infi_tv_make(r, out[0], INFER_FLOAT, 2, d) < 0)
        return r->err->code;
    memcpy(out[0]->data, x, (size_t)(N * C) * sizeof(float));
    out[0]->kind = INFER_KIND_SEQ_MAP;
    out[0]->key_type = L.s ? INFER_STRING : INFER_INT64;
    out[0]->nkeys = L.n;
    out[0]->keys = L.s ? (const void *)L.s : (const void *)L.i;
    return 0;
}

/* ---- ArrayFeatureExtractor ---- */

static int run_afe(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0], *Y = in[1];
    if (!X || !Y)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    if (X->ndim < 1)
        return infi_exec_fail(r, INFER_ESHAPE, "X must have rank >= 1");
    const int64_t *idx = infi_tv_as_int64(r, Y);
    if (!idx)
        return r->err->code;
    int64_t D = X->dims[X->ndim - 1], K = Y->n;
    for (int64_t k = 0; k < K; k++)
        if (idx[k] < 0 || idx[k] >= D)
            return infi_exec_fail(r, INFER_ERUNTIME, "index %lld out of range [0, %lld)", (long long)idx[k], (long long)D);
    int64_t dims[INFER_MAX_DIMS];
    int nd2 = X->ndim;
    memcpy(dims, X->dims, sizeof(int64_t) * (size_t)nd2);
    dims[nd2 - 1] = K;
    if (nd2 == 1) {
        /* ONNX Runtime returns [1, K] for a 1-D input */
        dims[0] = 1;
        dims[1] = K;
        nd2 = 2;
    }
    if (infi_tv_make(r, out[0], X->type, nd2, dims) < 0)
        return r->err->code;
    int64_t rows = D ? X->n / D : 0;
    size_t es = infi_elem_size(X->type);
    const char *xs = X->data;
    char *ys = out[0]->data;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t k = 0; k < K; k++)
            memcpy(ys + (size_t)(i * K + k) * es, xs + (size_t)(i * D + idx[k]) * es, es);
    return 0;
}

/* ---- Imputer ---- */

static int run_imputer(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    int64_t C = X->ndim ? X->dims[X->ndim - 1] : 1;
    if (infi_tv_make(r, out[0], X->type, X->ndim, X->dims) < 0)
        return r->err->code;
    if (X->type == INFER_FLOAT || X->type == INFER_DOUBLE) {
        const attr *iv = list_attr(nd, "imputed_value_floats", AT_FLOATS);
        float rep = infi_attr_f(nd, "replaced_value_float", NAN);
        if (!iv || !iv->n || (iv->n != 1 && iv->n != C))
            return infi_exec_fail(r, INFER_EFORMAT, "imputed_value_floats must have 1 or %lld values", (long long)C);
        for (int64_t i = 0; i < X->n; i++) {
            double v = X->type == INFER_FLOAT ? ((float *)X->data)[i] : ((double *)X->data)[i];
            int miss = isnan(rep) ? isnan(v) : v == rep;
            double o = miss ? iv->floats[iv->n == 1 ? 0 : i % C] : v;
            if (X->type == INFER_FLOAT)
                ((float *)out[0]->data)[i] = (float)o;
            else
                ((double *)out[0]->data)[i] = o;
        }
        return 0;
    }
    if (X->type == INFER_INT64 || X->type == INFER_INT32) {
        const attr *iv = list_attr(nd, "imputed_value_int64s", AT_INTS);
        int64_t rep = infi_attr_i(nd, "replaced_value_int64", 0);
        if (!iv || !iv->n || (iv->n != 1 && iv->n != C))
            return infi_exec_fail(r, INFER_EFORMAT, "imputed_value_int64s must have 1 or %lld values", (long long)C);
        for (int64_t i = 0; i < X->n; i++) {
            int64_t v = X->type == INFER_INT64 ? ((int64_t *)X->data)[i] : ((int32_t *)X->data)[i];
            int64_t o = v == rep ? iv->ints[iv->n == 1 ? 0 : i % C] : v;
            if (X->type == INFER_INT64)
                ((int64_t *)out[0]->data)[i] = o;
            else
                ((int32_t *)out[0]->data)[i] = (int32_t)o;
        }
        return 0;
    }
    return infi_exec_fail(r, INFER_EUNSUPPORTED, "Imputer does not take %s", infer_type_name(X->type));
}

/* ---- sorted key index (OneHotEncoder, LabelEncoder) ---- */

typedef struct keyidx {
    int is_str;
    int64_t n;
    double *num;        /* sorted numeric keys */
    const char **str;   /* sorted string keys */
    int64_t *pos;       /* original position of each sorted key */
} keyidx;

/* Builds the index at load time. qsort takes no context argument in C17
 * and a global would race between threads loading models, so a small merge
 * sort takes the keys as a parameter. */
static void msort_idx(int64_t *v, int64_t *tmp, int64_t n, const keyidx *k)
{
    if (n < 2)
        return;
    int64_t h = n / 2;
    msort_idx(v, tmp, h, k);
    msort_idx(v + h, tmp, n - h, k);
    int64_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        int c;
        if (k->is_str) {
            c = strcmp(k->str[v[i]], k->str[v[j]]);
        } else {
            double x = k->num[v[i]], y = k->num[v[j]];
            int xn = isnan(x), yn = isnan(y);
            c = (xn || yn) ? xn - yn : (x < y ? -1 : x > y);
        }
        tmp[o++] = c <= 0 ? v[i++] : v[j++];
    }
    while (i < h)
        tmp[o++] = v[i++];
    while (j < n)
        tmp[o++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof(int64_t));
}

static int keyidx_build(arena *a, keyidx *k, int is_str, int64_t n, const double *num, char **str)
{
    k->is_str = is_str;
    k->n = n;
    int64_t *order = infi_ar_alloc(a, (size_t)(n + 1) * sizeof(int64_t)), *tmp = infi_ar_alloc(a, (size_t)(n + 1) * sizeof(int64_t));
    if (!order || !tmp)
        return -1;
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    keyidx src = {is_str, n, (double *)num, (const char **)str, NULL};
    msort_idx(order, tmp, n, &src);
    k->pos = order;
    if (is_str) {
        k->str = infi_ar_alloc(a, (size_t)(n + 1) * sizeof(char *));
        if (!k->str)
            return -1;
        for (int64_t i = 0; i < n; i++)
            k->str[i] = str[order[i]];
    } else {
        k->num = infi_ar_alloc(a, (size_t)(n + 1) * sizeof(double));
        if (!k->num)
            return -1;
        for (int64_t i = 0; i < n; i++)
            k->num[i] = num[order[i]];
    }
    return 0;
}

/* original position of the key, or -1; first occurrence wins for duplicates */
static int64_t keyidx_find_num(const keyidx *k, double v)
{
    int64_t lo = 0, hi = k->n;
    int vn = isnan(v);
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        double x = k->num[mid];
        int xn = isnan(x);
        int less = vn ? !xn : (xn ? 0 : x < v);
        if (xn && !vn)
            less = 0;
        if (less)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < k->n && (vn ? isnan(k->num[lo]) : k->num[lo] == v))
        return k->pos[lo];
    return -1;
}

static int64_t keyidx_find_str(const keyidx *k, const char *v)
{
    int64_t lo = 0, hi = k->n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (strcmp(k->str[mid], v) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < k->n && !strcmp(k->str[lo], v) ? k->pos[lo] : -1;
}

/* ---- OneHotEncoder ---- */

typedef struct ohe {
    keyidx k;
    int64_t C;
    int zeros;
} ohe;

static int init_ohe(infer_model *m, node *nd, infer_error *e)
{
    ohe *s = infi_ar_calloc(&m->ar, 1, sizeof *s);
    if (!s)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    const attr *ci = list_attr(nd, "cats_int64s", AT_INTS), *cs = list_attr(nd, "cats_strings", AT_STRINGS);
    s->zeros = (int)infi_attr_i(nd, "zeros", 1);
    if (ci && ci->n) {
        double *d = infi_ar_alloc(&m->ar, (size_t)ci->n * sizeof(double));
        if (!d)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        for (int64_t i = 0; i < ci->n; i++)
            d[i] = (double)ci->ints[i];
        s->C = ci->n;
        if (keyidx_build(&m->ar, &s->k, 0, ci->n, d, NULL) < 0)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
    } else if (cs && cs->n) {
        s->C = cs->n;
        if (keyidx_build(&m->ar, &s->k, 1, cs->n, NULL, cs->strings) < 0)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
    } else {
        return infi_ierr(e, INFER_EFORMAT, "cats_int64s or cats_strings required");
    }
    nd->state = s;
    return 0;
}

static int run_ohe(exec *r, const node *nd, tval **in, tval **out)
{
    const ohe *s = nd->state;
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    if (X->ndim >= INFER_MAX_DIMS)
        return infi_exec_fail(r, INFER_ESHAPE, "rank too large");
    int64_t dims[INFER_MAX_DIMS];
    memcpy(dims, X->dims, sizeof(int64_t) * (size_t)X->ndim);
    dims[X->ndim] = s->C;
    if ((X->type == INFER_STRING) != s->k.is_str)
        return infi_exec_fail(r, INFER_ESHAPE, "input type %s does not match the categories", infer_type_name(X->type));
    const double *xd = NULL;
    if (!s->k.is_str && !(xd = infi_tv_as_double(r, X)))
        return r->err->code;
    if (infi_tv_make(r, out[0], INFER_FLOAT, X->ndim + 1, dims) < 0)
        return r->err->code;
    float *y = out[0]->data;
    memset(y, 0, (size_t)out[0]->n * sizeof(float));
    for (int64_t i = 0; i < X->n; i++) {
        int64_t p;
        if (s->k.is_str) {
            p = keyidx_find_str(&s->k, ((char **)X->data)[i]);
        } else {
            /* float inputs are compared as integers, as ONNX Runtime does */
            double v = xd[i];
            p = isnan(v) ? -1 : keyidx_find_num(&s->k, (double)(int64_t)v);
        }
        if (p >= 0)
            y[i * s->C + p] = 1.0f;
        else if (!s->zeros)
            return infi_exec_fail(r, INFER_ERUNTIME, "unknown category at element %lld", (long long)i);
    }
    return 0;
}

/* ---- LabelEncoder ---- */

typedef struct lenc {
    keyidx k;
    int key_type, val_type;    /* INFER_INT64 / INFER_STRING / INFER_FLOAT / INFER_DOUBLE ... */
    int64_t n;
    int64_t *vi;
    double *vf;
    char **vs;
    int64_t di;
    double df;
    const char *ds;
    int v1;             /* opset 1: string <-> index in classes_strings */
} lenc;

static int tensor_list(arena *a, const tval *t, int *type, int64_t *n, int64_t **vi, double **vf, char ***vs)
{
    *type = t->type;
    *n = t->n;
    *vi = NULL;
    *vf = NULL;
    *vs = NULL;
    if (t->type == INFER_STRING) {
        *vs = t->data;
        return 0;
    }
    exec r = {a, NULL, NULL};
    if (t->type == INFER_FLOAT || t->type == INFER_DOUBLE)
        *vf = infi_tv_as_double(&r, t);
    else
        *vi = infi_tv_as_int64(&r, t);
    return *vf || *vi ? 0 : -1;
}

static int init_lenc(infer_model *m, node *nd, infer_error *e)
{
    lenc *s = infi_ar_calloc(&m->ar, 1, sizeof *s);
    if (!s)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    int64_t nk = -1, nv = -1;
    int64_t *ki = NULL;
    double *kf = NULL;
    char **ks = NULL;
    const attr *a;
    s->ds = "_Unused";
    s->di = -1;
    s->df = -0.0;
    if (nd->opset < 2) {
        /* v1: classes_strings[i] <-> i; the input type picks the direction,
         * so both maps are built and run_lenc chooses */
        a = list_attr(nd, "classes_strings", AT_STRINGS);
        if (!a)
            return infi_ierr(e, INFER_EFORMAT, "classes_strings missing");
        s->v1 = 1;
        s->n = a->n;
        s->vs = a->strings;
        s->di = infi_attr_i(nd, "default_int64", -1);
        s->ds = infi_attr_s(nd, "default_string", "_Unused");
        s->key_type = INFER_STRING;
        s->val_type = INFER_INT64;
        if (keyidx_build(&m->ar, &s->k, 1, a->n, NULL, a->strings) < 0)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        nd->state = s;
        return 0;
    }
    if ((a = infi_get_attr(nd, "keys_tensor")) && a->t) {
        if (tensor_list(&m->ar, a->t, &s->key_type, &nk, &ki, &kf, &ks) < 0)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
    } else if ((a = list_attr(nd, "keys_strings", AT_STRINGS))) {
        s->key_type = INFER_STRING, nk = a->n, ks = a->strings;
    } else if ((a = list_attr(nd, "keys_int64s", AT_INTS))) {
        s->key_type = INFER_INT64, nk = a->n, ki = a->ints;
    } else if ((a = list_attr(nd, "keys_floats", AT_FLOATS))) {
        s->key_type = INFER_FLOAT, nk = a->n;
        kf = infi_ar_alloc(&m->ar, (size_t)(nk + 1) * sizeof(double));
        if (!kf)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        for (int64_t i = 0; i < nk; i++)
            kf[i] = a->floats[i];
    }
    if ((a = infi_get_attr(nd, "values_tensor")) && a->t) {
        if (tensor_list(&m->ar, a->t, &s->val_type, &nv, &s->vi, &s->vf, &s->vs) < 0)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
    } else if ((a = list_attr(nd, "values_strings", AT_STRINGS))) {
        s->val_type = INFER_STRING, nv = a->n, s->vs = a->strings;
    } else if ((a = list_attr(nd, "values_int64s", AT_INTS))) {
        s->val_type = INFER_INT64, nv = a->n, s->vi = a->ints;
    } else if ((a = list_attr(nd, "values_floats", AT_FLOATS))) {
        s->val_type = INFER_FLOAT, nv = a->n;
        s->vf = infi_ar_alloc(&m->ar, (size_t)(nv + 1) * sizeof(double));
        if (!s->vf)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        for (int64_t i = 0; i < nv; i++)
            s->vf[i] = a->floats[i];
    }
    if (nk < 0 || nv < 0 || nk != nv)
        return infi_ierr(e, INFER_EFORMAT, "keys and values missing or of different lengths");
    s->n = nk;
    if ((a = infi_get_attr(nd, "default_tensor")) && a->t && a->t->n >= 1) {
        if (a->t->type == INFER_STRING)
            s->ds = ((char **)a->t->data)[0];
        else {
            exec rr = {&m->ar, e, NULL};
            double *d = infi_tv_as_double(&rr, a->t);
            int64_t *iv = infi_tv_as_int64(&rr, a->t);
            if (!d || !iv)
                return e->code;
            s->df = d[0];
            s->di = iv[0];
        }
    }
    s->ds = infi_attr_s(nd, "default_string", s->ds);
    s->di = infi_attr_i(nd, "default_int64", s->di);
    s->df = infi_get_attr(nd, "default_float") ? infi_attr_f(nd, "default_float", 0) : s->df;
    if (s->key_type == INFER_STRING) {
        if (keyidx_build(&m->ar, &s->k, 1, nk, NULL, ks) < 0)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
    } else {
        double *d = kf;
        if (!d) {
            d = infi_ar_alloc(&m->ar, (size_t)(nk + 1) * sizeof(double));
            if (!d)
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
            for (int64_t i = 0; i < nk; i++)
                d[i] = (double)ki[i];
        }
        if (keyidx_build(&m->ar, &s->k, 0, nk, d, NULL) < 0)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
    }
    nd->state = s;
    return 0;
}

static int run_lenc(exec *r, const node *nd, tval **in, tval **out)
{
    const lenc *s = nd->state;
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    if (s->v1) {
        if (X->type == INFER_STRING) {
            if (infi_tv_make(r, out[0], INFER_INT64, X->ndim, X->dims) < 0)
                return r->err->code;
            for (int64_t i = 0; i < X->n; i++) {
                int64_t p = keyidx_find_str(&s->k, ((char **)X->data)[i]);
                ((int64_t *)out[0]->data)[i] = p >= 0 ? p : s->di;
            }
            return 0;
        }
        const int64_t *xi = infi_tv_as_int64(r, X);
        if (!xi || infi_tv_make(r, out[0], INFER_STRING, X->ndim, X->dims) < 0)
            return r->err->code;
        for (int64_t i = 0; i < X->n; i++)
            ((const char **)out[0]->data)[i] = xi[i] >= 0 && xi[i] < s->n ? s->vs[xi[i]] : s->ds;
        return 0;
    }
    if ((X->type == INFER_STRING) != (s->key_type == INFER_STRING))
        return infi_exec_fail(r, INFER_ESHAPE, "input type %s does not match the keys", infer_type_name(X->type));
    const double *xd = NULL;
    if (X->type != INFER_STRING && !(xd = infi_tv_as_double(r, X)))
        return r->err->code;
    if (infi_tv_make(r, out[0], s->val_type, X->ndim, X->dims) < 0)
        return r->err->code;
    for (int64_t i = 0; i < X->n; i++) {
        int64_t p = X->type == INFER_STRING ? keyidx_find_str(&s->k, ((char **)X->data)[i]) : keyidx_find_num(&s->k, xd[i]);
        switch (s->val_type) {
        case INFER_STRING: ((const char **)out[0]->data)[i] = p >= 0 ? s->vs[p] : s->ds; break;
        case INFER_FLOAT: ((float *)out[0]->data)[i] = (float)(p >= 0 ? s->vf[p] : s->df); break;
        case INFER_DOUBLE: ((double *)out[0]->data)[i] = p >= 0 ? s->vf[p] : s->df; break;
        case INFER_INT64: ((int64_t *)out[0]->data)[i] = p >= 0 ? s->vi[p] : s->di; break;
        case INFER_INT32: ((int32_t *)out[0]->data)[i] = (int32_t)(p >= 0 ? s->vi[p] : s->di); break;
        case INFER_INT16: ((int16_t *)out[0]->data)[i] = (int16_t)(p >= 0 ? s->vi[p] : s->di); break;
        default: return infi_exec_fail(r, INFER_EUNSUPPORTED, "LabelEncoder values of type %s", infer_type_name(s->val_type));
        }
    }
    return 0;
}

/* ---- FeatureVectorizer ---- */

static int run_fvec(exec *r, const node *nd, tval **in, tval **out)
{
    const attr *dimsA = list_attr(nd, "inputdimensions", AT_INTS);
    if (!dimsA || dimsA->n != nd->nin)
        return infi_exec_fail(r, INFER_EFORMAT, "inputdimensions must list every input");
    int64_t total = 0, N = -1;
    for (int i = 0; i < nd->nin; i++) {
        if (!in[i])
            return infi_exec_fail(r, INFER_ESHAPE, "missing input %d", i);
        if (dimsA->ints[i] < 0)
            return infi_exec_fail(r, INFER_EFORMAT, "negative input dimension");
        total += dimsA->ints[i];
        int64_t n = in[i]->ndim >= 2 ? in[i]->dims[0] : 1;
        if (N >= 0 && n != N)
            return infi_exec_fail(r, INFER_ESHAPE, "inputs have different row counts");
        N = n;
    }
    if (N < 0)
        N = 0;
    int64_t d[2] = {N, total};
    if (infi_tv_make(r, out[0], INFER_FLOAT, 2, d) < 0)
        return r->err->code;
    float *y = out[0]->data;
    memset(y, 0, (size_t)(N * total) * sizeof(float));
    if (out[0]->n == 0)
        return 0;
    int64_t off = 0;
    for (int i = 0; i < nd->nin; i++) {
        const float *x = infi_tv_as_float(r, in[i]);
        if (!x)
            return r->err->code;
        int64_t w = N ? in[i]->n / N : 0, want = dimsA->ints[i], c = w < want ? w : want;
        for (int64_t k = 0; k < N; k++)
            memcpy(y + k * total + off, x + k * w, (size_t)c * sizeof(float));
        off += want;
    }
    return 0;
}

/* ---- Binarizer ---- */

static int run_binarizer(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    float th = infi_attr_f(nd, "threshold", 0);
    if (!X || (X->type != INFER_FLOAT && X->type != INFER_DOUBLE && X->type != INFER_INT64 && X->type != INFER_INT32))
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "Binarizer takes float, double, int64 or int32");
    if (infi_tv_make(r, out[0], X->type, X->ndim, X->dims) < 0)
        return r->err->code;
    for (int64_t i = 0; i < X->n; i++) {
        switch (X->type) {
        case INFER_FLOAT: { float v = ((float *)X->data)[i]; ((float *)out[0]->data)[i] = v > th ? 1.0f : (v != v ? v : 0.0f); break; }
        case INFER_DOUBLE: { double v = ((double *)X->data)[i]; ((double *)out[0]->data)[i] = v > th ? 1.0 : (v != v ? v : 0.0); break; }
        case INFER_INT64: ((int64_t *)out[0]->data)[i] = ((int64_t *)X->data)[i] > th; break;
        default: ((int32_t *)out[0]->data)[i] = ((int32_t *)X->data)[i] > th; break;
        }
    }
    return 0;
}

/* ---- SVMs ---- */

enum { K_LINEAR, K_POLY, K_RBF, K_SIGMOID };

typedef struct svm {
    int kernel;
    float gamma, coef0, degree;
    int64_t nsv, F;
    const float *sv;         /* nsv x F */
    const float *coef;       /* classifier: (C-1) x nsv ; regressor: nsv */
    int64_t ncoef;
    const float *rho;
    int64_t nrho;
    const float *proba, *probb;
    int64_t nprob;
    int64_t *vectors_per_class;
    int64_t *starts;
    int64_t C;               /* classes */
    int post;
    labels L;
    int one_class;
    int linear_mode;         /* no support vectors: coefficients are C x F weights */
} svm;

static int init_svm(infer_model *m, node *nd, int clf, infer_error *e)
{
    svm *s = infi_ar_calloc(&m->ar, 1, sizeof *s);
    if (!s)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    const char *k = infi_attr_s(nd, "kernel_type", "LINEAR");
    s->kernel = !strcmp(k, "LINEAR") ? K_LINEAR : !strcmp(k, "POLY") ? K_POLY : !strcmp(k, "RBF") ? K_RBF
              : !strcmp(k, "SIGMOID") ? K_SIGMOID : -1;
    if (s->kernel < 0)
        return infi_ierr(e, INFER_EFORMAT, "unknown kernel_type '%s'", k);
    const attr *kp = list_attr(nd, "kernel_params", AT_FLOATS);
    s->gamma = kp && kp->n > 0 ? kp->floats[0] : 0;
    s->coef0 = kp && kp->n > 1 ? kp->floats[1] : 0;
    s->degree = kp && kp->n > 2 ? kp->floats[2] : 0;
    const attr *sv = list_attr(nd, "support_vectors", AT_FLOATS), *co = list_attr(nd, "coefficients", AT_FLOATS),
               *rho = list_attr(nd, "rho", AT_FLOATS), *pa = list_attr(nd, "prob_a", AT_FLOATS),
               *pb = list_attr(nd, "prob_b", AT_FLOATS);
    s->post = infi_parse_post_transform(infi_attr_s(nd, "post_transform", "NONE"));
    if (s->post < 0)
        return infi_ierr(e, INFER_EFORMAT, "unknown post_transform");
    if (!co)
        return infi_ierr(e, INFER_EFORMAT, "coefficients missing");
    s->coef = co->floats;
    s->ncoef = co->n;
    s->rho = rho ? rho->floats : NULL;
    s->nrho = rho ? rho->n : 0;
    if (clf) {
        if (get_labels(nd, "classlabels_ints", "classlabels_strings", &s->L) < 0)
            return infi_ierr(e, INFER_EFORMAT, "class labels missing");
        s->C = s->L.n;
        const attr *vpc = list_attr(nd, "vectors_per_class", AT_INTS);
        if (vpc && vpc->n) {
            if (vpc->n != s->C)
                return infi_ierr(e, INFER_EFORMAT, "vectors_per_class must have one entry per class");
            s->vectors_per_class = vpc->ints;
            s->starts = infi_ar_alloc(&m->ar, (size_t)(s->C + 1) * sizeof(int64_t));
            if (!s->starts)
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
            s->starts[0] = 0;
            for (int64_t c = 0; c < s->C; c++) {
                if (vpc->ints[c] < 0 || vpc->ints[c] > INT32_MAX)
                    return infi_ierr(e, INFER_EFORMAT, "bad vectors_per_class");
                s->starts[c + 1] = s->starts[c] + vpc->ints[c];
            }
            s->nsv = s->starts[s->C];
        } else {
            s->linear_mode = 1;
        }
        if (pa && pa->n) {
            if (!pb || pb->n != pa->n)
                return infi_ierr(e, INFER_EFORMAT, "prob_a and prob_b differ in length");
            s->proba = pa->floats;
            s->probb = pb->floats;
            s->nprob = pa->n;
        }
    } else {
        s->nsv = infi_attr_i(nd, "n_supports", 0);
        s->one_class = (int)infi_attr_i(nd, "one_class", 0);
        if (s->nsv <= 0)
            s->linear_mode = 1;
    }
    if (!s->linear_mode) {
        if (!sv || s->nsv <= 0 || sv->n % s->nsv)
            return infi_ierr(e, INFER_EFORMAT, "support_vectors does not divide into %lld vectors", (long long)s->nsv);
        s->F = sv->n / s->nsv;
        s->sv = sv->floats;
        int64_t need = clf ? (s->C - 1) * s->nsv : s->nsv;
        if (co->n != need)
            return infi_ierr(e, INFER_EFORMAT, "coefficients has %lld values, expected %lld", (long long)co->n, (long long)need);
        if (clf && s->nrho != s->C * (s->C - 1) / 2)
            return infi_ierr(e, INFER_EFORMAT, "rho must have one entry per class pair");
        if (clf && s->nprob && s->nprob != s->C * (s->C - 1) / 2)
            return infi_ierr(e, INFER_EFORMAT, "prob_a must have one entry per class pair");
    } else {
        int64_t rows = clf ? s->C : 1;
        if (co->n % rows)
            return infi_ierr(e, INFER_EFORMAT, "coefficients do not divide into %lld rows", (long long)rows);
        s->F = co->n / rows;
    }
    if (!clf && s->nrho < 1)
        return infi_ierr(e, INFER_EFORMAT, "rho missing");
    nd->state = s;
    return 0;
}

static int init_svmc(infer_model *m, node *nd, infer_error *e) { return init_svm(m, nd, 1, e); }
static int init_svmr(infer_model *m, node *nd, infer_error *e) { return init_svm(m, nd, 0, e); }

static double kernel(const svm *s, const float *a, const float *b, int64_t F)
{
    double sum = 0;
    switch (s->kernel) {
    case K_RBF:
        for (int64_t k = 0; k < F; k++) {
            double d = (double)a[k] - b[k];
            sum += d * d;
        }
        return exp(-(double)s->gamma * sum);
    case K_POLY: {
        for (int64_t k = 0; k < F; k++)
            sum += (double)a[k] * b[k];
        double v = s->gamma * sum + s->coef0;
        return pow(v, s->degree);
    }
    case K_SIGMOID:
        for (int64_t k = 0; k < F; k++)
            sum += (double)a[k] * b[k];
        return tanh(s->gamma * sum + s->coef0);
    default:
        for (int64_t k = 0; k < F; k++)
            sum += (double)a[k] * b[k];
        return sum;
    }
}

/* pairwise coupling of one-vs-one probabilities (Wu, Lin and Weng 2004,
 * method 2, the iteration libsvm uses) */
static void couple(int64_t k, const double *r, double *p, double *Q, double *Qp)
{
    for (int64_t t = 0; t < k; t++) {
        p[t] = 1.0 / (double)k;
        Q[t * k + t] = 0;
        for (int64_t j = 0; j < t; j++) {
            Q[t * k + t] += r[j * k + t] * r[j * k + t];
            Q[t * k + j] = Q[j * k + t];
        }
        for (int64_t j = t + 1; j < k; j++) {
            Q[t * k + t] += r[j * k + t] * r[j * k + t];
            Q[t * k + j] = -r[j * k + t] * r[t * k + j];
        }
    }
    int max_iter = k > 100 ? (int)k : 100;
    double eps = 0.005 / (double)k;
    for (int it = 0; it < max_iter; it++) {
        double pQp = 0;
        for (int64_t t = 0; t < k; t++) {
            Qp[t] = 0;
            for (int64_t j = 0; j < k; j++)
                Qp[t] += Q[t * k + j] * p[j];
            pQp += p[t] * Qp[t];
        }
        double maxerr = 0;
        for (int64_t t = 0; t < k; t++) {
            double er = fabs(Qp[t] - pQp);
            if (er > maxerr)
                maxerr = er;
        }
        if (maxerr < eps)
            break;
        for (int64_t t = 0; t < k; t++) {
            double diff = (-Qp[t] + pQp) / Q[t * k + t];
            p[t] += diff;
            pQp = (pQp + diff * (diff * Q[t * k + t] + 2 * Qp[t])) / (1 + diff) / (1 + diff);
            for (int64_t j = 0; j < k; j++) {
                Qp[j] = (Qp[j] + diff * Q[t * k + j]) / (1 + diff);
                p[j] /= (1 + diff);
            }
        }
    }
}

static double sigmoid_prob(double dec, double a, double b)
{
    double f = dec * a + b;
    return f >= 0 ? exp(-f) / (1.0 + exp(-f)) : 1.0 / (1 + exp(f));
}

static int run_svmc(exec *r, const node *nd, tval **in, tval **out)
{
    const svm *s = nd->state;
    int64_t N = 0, F = 0;
    if (rows_cols(r, in[0], &N, &F) < 0)
        return r->err->code;
    if (F != s->F)
        return infi_exec_fail(r, INFER_ESHAPE, "X has %lld columns, model expects %lld", (long long)F, (long long)s->F);
    const float *x = infi_tv_as_float(r, in[0]);
    if (!x)
        return r->err->code;
    int64_t C = s->C;
    int64_t npair = C * (C - 1) / 2;
    /* output columns: probabilities for every class when prob_a is given;
     * otherwise one decision value per pair, or one score for 2 classes */
    int64_t ZC;
    if (s->linear_mode)
        ZC = C;
    else if (s->nprob)
        ZC = C;
    else
        ZC = C == 2 ? 1 : npair;
    if (!s->linear_mode && !s->nprob && C == 2)
        ZC = 2;
    int64_t sd[2] = {N, ZC};
    tval tmp = {0}, *Z = nd->nout > 1 ? out[1] : &tmp;
    if (make_labels(r, out[0], &s->L, N) < 0 || infi_tv_make(r, Z, INFER_FLOAT, 2, sd) < 0)
        return r->err->code;
    double *kv = infi_exec_alloc(r, (size_t)(s->nsv + 1) * sizeof(double));
    double *dec = infi_exec_alloc(r, (size_t)(npair + C + 1) * sizeof(double));
    int64_t *votes = infi_exec_alloc(r, (size_t)(C + 1) * sizeof(int64_t));
    double *R = infi_exec_alloc(r, (size_t)(C * C + 1) * sizeof(double)), *P = infi_exec_alloc(r, (size_t)(C + 1) * sizeof(double));
    double *Q = infi_exec_alloc(r, (size_t)(C * C + 1) * sizeof(double)), *Qp = infi_exec_alloc(r, (size_t)(C + 1) * sizeof(double));
    if (!kv || !dec || !votes || !R || !P || !Q || !Qp)
        return r->err->code;
    float *z = Z->data;
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * F;
        float *zi = z + i * ZC;
        if (s->linear_mode) {
            int64_t best = 0;
            for (int64_t c = 0; c < C; c++) {
                double v = kernel(s, xi, s->coef + c * F, F);
                if (c < s->nrho)
                    v += s->rho[c];
                zi[c] = (float)v;
                if (zi[c] > zi[best])
                    best = c;
            }
            post_row(s->post, zi, C);
            set_label(out[0], &s->L, i, best);
            continue;
        }
        for (int64_t v = 0; v < s->nsv; v++)
            kv[v] = kernel(s, xi, s->sv + v * F, F);
        for (int64_t c = 0; c < C; c++)
            votes[c] = 0;
        int64_t p = 0;
        for (int64_t a = 0; a < C; a++) {
            for (int64_t b = a + 1; b < C; b++, p++) {
                /* libsvm's one-vs-one layout: coefficients row b-1 holds the
                 * duals of class a's vectors, row a those of class b */
                double sum = 0;
                const float *ca = s->coef + (b - 1) * s->nsv, *cb = s->coef + a * s->nsv;
                for (int64_t v = s->starts[a]; v < s->starts[a + 1]; v++)
                    sum += ca[v] * kv[v];
                for (int64_t v = s->starts[b]; v < s->starts[b + 1]; v++)
                    sum += cb[v] * kv[v];
                sum += s->rho[p];
                dec[p] = sum;
                votes[sum > 0 ? a : b]++;
            }
        }
        int64_t best = 0;
        if (s->nprob) {
            /* Platt scaling per pair, then pairwise coupling */
            p = 0;
            for (int64_t a = 0; a < C; a++)
                for (int64_t b = a + 1; b < C; b++, p++) {
                    double pr = sigmoid_prob(dec[p], s->proba[p], s->probb[p]);
                    if (pr < 1e-7) pr = 1e-7;
                    if (pr > 1 - 1e-7) pr = 1 - 1e-7;
                    R[a * C + b] = pr;
                    R[b * C + a] = 1 - pr;
                }
            couple(C, R, P, Q, Qp);
            for (int64_t c = 0; c < C; c++)
                zi[c] = (float)P[c];
            post_row(s->post, zi, C);
            /* the label still comes from the one-vs-one votes, as in
             * ONNX Runtime (and libsvm), not from the coupled probabilities */
            for (int64_t c = 1; c < C; c++)
                if (votes[c] > votes[best])
                    best = c;
        } else {
            for (int64_t c = 1; c < C; c++)
                if (votes[c] > votes[best])
                    best = c;
            if (C == 2) {
                /* ONNX Runtime reports [-d, d] for a binary decision */
                zi[0] = (float)-dec[0];
                zi[1] = (float)dec[0];
                best = dec[0] > 0 ? 0 : 1;
                post_row(s->post, zi, 2);
            } else {
                for (int64_t q = 0; q < npair; q++)
                    zi[q] = (float)dec[q];
                post_row(s->post, zi, npair);
            }
        }
        set_label(out[0], &s->L, i, best);
    }
    return 0;
}

static int run_svmr(exec *r, const node *nd, tval **in, tval **out)
{
    const svm *s = nd->state;
    int64_t N = 0, F = 0;
    if (rows_cols(r, in[0], &N, &F) < 0)
        return r->err->code;
    if (F != s->F)
        return infi_exec_fail(r, INFER_ESHAPE, "X has %lld columns, model expects %lld", (long long)F, (long long)s->F);
    const float *x = infi_tv_as_float(r, in[0]);
    int64_t d[2] = {N, 1};
    if (!x || infi_tv_make(r, out[0], INFER_FLOAT, 2, d) < 0)
        return r->err->code;
    float *y = out[0]->data;
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * F;
        double sum = 0;
        if (s->linear_mode) {
            sum = kernel(s, xi, s->coef, F);
        } else {
            for (int64_t v = 0; v < s->nsv; v++)
                sum += s->coef[v] * kernel(s, xi, s->sv + v * F, F);
        }
        sum += s->rho[0];
        if (s->one_class)
            sum = sum > 0 ? 1 : -1;
        y[i] = (float)sum;
        post_row(s->post, y + i, 1);
    }
    return 0;
}

const opdef infi_ops_ml[] = {
    {"ai.onnx.ml", "LinearClassifier", 1, init_linclf, run_linclf},
    {"ai.onnx.ml", "LinearRegressor", 1, init_linreg, run_linreg},
    {"ai.onnx.ml", "Scaler", 1, NULL, run_scaler},
    {"ai.onnx.ml", "Normalizer", 1, NULL, run_normalizer},
    {"ai.onnx.ml", "ZipMap", 1, NULL, run_zipmap},
    {"ai.onnx.ml", "ArrayFeatureExtractor", 1, NULL, run_afe},
    {"ai.onnx.ml", "Imputer", 1, NULL, run_imputer},
    {"ai.onnx.ml", "OneHotEncoder", 1, init_ohe, run_ohe},
    {"ai.onnx.ml", "LabelEncoder", 1, init_lenc, run_lenc},
    {"ai.onnx.ml", "FeatureVectorizer", 1, NULL, run_fvec},
    {"ai.onnx.ml", "Binarizer", 1, NULL, run_binarizer},
    {"ai.onnx.ml", "SVMClassifier", 1, init_svmc, run_svmc},
    {"ai.onnx.ml", "SVMRegressor", 1, init_svmr, run_svmr},
    {NULL, NULL, 0, NULL, NULL},
};
