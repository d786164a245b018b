/* ops_shape.c - ai.onnx operators that move data without arithmetic:
 * Identity, Constant, Reshape, Flatten, Squeeze, Unsqueeze, Shape,
 * ConstantOfShape, Concat, Gather, Transpose, Slice, Split. Reshape-like
 * operators alias their input (operators never write inputs in place). */
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

/* integer list from an optional int64/int32 input */
static int int_list(exec *r, const tval *t, const int64_t **v, int64_t *n)
{
    *v = NULL;
    *n = 0;
    if (!t) {
        *v = NULL;
        *n = 0;
        return 0;
    }
    if (t->type != INFER_INT64 && t->type != INFER_INT32)
        return infi_exec_fail(r, INFER_ESHAPE, "expected an int64 tensor, got %s", infer_type_name(t->type));
    *v = infi_tv_as_int64(r, t);
    *n = t->n;
    return *v ? 0 : r->err->code;
}

static int alias(exec *r, const tval *X, tval *out, int ndim, const int64_t *dims)
{
    if (ndim < 0 || ndim > INFER_MAX_DIMS)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "rank %d exceeds %d", ndim, INFER_MAX_DIMS);
    int64_t n = infi_dims_count(ndim, dims);
    if (n != X->n)
        return infi_exec_fail(r, INFER_ESHAPE, "cannot reshape %lld elements into %lld", (long long)X->n, (long long)n);
    *out = *X;
    out->ndim = ndim;
    memcpy(out->dims, dims, sizeof(int64_t) * (size_t)ndim);
    return 0;
}

static int run_identity(exec *r, const node *nd, tval **in, tval **out)
{
    if (!in[0])
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    *out[0] = *in[0];
    return 0;
}

/* ---- Constant: evaluated once at load ---- */

static int init_constant(infer_model *m, node *nd, infer_error *e)
{
    if (nd->nout != 1 || nd->out[0] < 0)
        return infi_ierr(e, INFER_EFORMAT, "Constant needs one output");
    tval *v = &m->consts[nd->out[0]];
    memset(v, 0, sizeof *v);
    v->kind = INFER_KIND_TENSOR;
    v->set = 1;
    const attr *a = nd->nattr ? &nd->attrs[0] : NULL;
    if (!a || nd->nattr != 1)
        return infi_ierr(e, INFER_EFORMAT, "Constant needs exactly one attribute");
    arena *ar = &m->ar;
    if (!strcmp(a->name, "value") && a->type == AT_TENSOR && a->t) {
        *v = *a->t;
        return 0;
    }
    if (!strcmp(a->name, "value_float") && a->type == AT_FLOAT) {
        v->type = INFER_FLOAT, v->ndim = 0, v->n = 1;
        v->data = infi_ar_alloc(ar, 4);
        if (!v->data)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        *(float *)v->data = a->f;
        return 0;
    }
    if (!strcmp(a->name, "value_int") && a->type == AT_INT) {
        v->type = INFER_INT64, v->ndim = 0, v->n = 1;
        v->data = infi_ar_alloc(ar, 8);
        if (!v->data)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        *(int64_t *)v->data = a->i;
        return 0;
    }
    if (!strcmp(a->name, "value_floats") && a->type == AT_FLOATS) {
        v->type = INFER_FLOAT, v->ndim = 1, v->dims[0] = v->n = a->n;
        v->data = a->floats;
        return 0;
    }
    if (!strcmp(a->name, "value_ints") && a->type == AT_INTS) {
        v->type = INFER_INT64, v->ndim = 1, v->dims[0] = v->n = a->n;
        v->data = a->ints;
        return 0;
    }
    if (!strcmp(a->name, "value_string") && a->type == AT_STRING) {
        v->type = INFER_STRING, v->ndim = 0, v->n = 1;
        char **p = infi_ar_alloc(ar, sizeof(char *));
        if (!p)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        p[0] = (char *)a->s;
        v->data = p;
        return 0;
    }
    if (!strcmp(a->name, "value_strings") && a->type == AT_STRINGS) {
        v->type = INFER_STRING, v->ndim = 1, v->dims[0] = v->n = a->n;
        v->data = a->strings;
        return 0;
    }
    return infi_ierr(e, INFER_EUNSUPPORTED, "Constant attribute '%s' is not supported", a->name);
}

static int run_noop(exec *r, const node *nd, tval **in, tval **out) { return 0; }

/* ---- Reshape ---- */

static int run_reshape(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    const int64_t *shape = NULL;
    int64_t ns = 0;
    if (nd->opset < 5) {
        const attr *a = infi_get_attr(nd, "shape");
        if (!a || a->type != AT_INTS)
            return infi_exec_fail(r, INFER_EFORMAT, "shape attribute missing");
        shape = a->ints;
        ns = a->n;
    } else if (int_list(r, nd->nin > 1 ? in[1] : NULL, &shape, &ns) < 0 || (nd->nin < 2 || !in[1])) {
        return infi_exec_fail(r, INFER_ESHAPE, "shape input missing");
    }
    if (ns > INFER_MAX_DIMS)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "rank %lld exceeds %d", (long long)ns, INFER_MAX_DIMS);
    int allowzero = (int)infi_attr_i(nd, "allowzero", 0);
    int64_t dims[INFER_MAX_DIMS], known = 1;
    int infer_at = -1;
    for (int64_t i = 0; i < ns; i++) {
        int64_t d = shape[i];
        if (d == 0 && !allowzero) {
            if (i >= X->ndim)
                return infi_exec_fail(r, INFER_ESHAPE, "shape copies dimension %lld the input lacks", (long long)i);
            d = X->dims[i];
        }
        if (d == -1) {
            if (infer_at >= 0)
                return infi_exec_fail(r, INFER_ESHAPE, "more than one -1 in shape");
            infer_at = (int)i;
            dims[i] = 1;
            continue;
        }
        if (d < 0)
            return infi_exec_fail(r, INFER_ESHAPE, "negative dimension %lld", (long long)d);
        dims[i] = d;
        if (d && known > INT64_MAX / d)
            return infi_exec_fail(r, INFER_ESHAPE, "shape overflows");
        known *= d;
    }
    if (infer_at >= 0) {
        if (known == 0 || X->n % known)
            return infi_exec_fail(r, INFER_ESHAPE, "cannot infer -1 in shape");
        dims[infer_at] = X->n / known;
    }
    return alias(r, X, out[0], (int)ns, dims);
}

static int run_flatten(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    int64_t axis = infi_attr_i(nd, "axis", 1);
    if (axis < 0)
        axis += X->ndim;
    if (axis < 0 || axis > X->ndim)
        return infi_exec_fail(r, INFER_ESHAPE, "axis out of range");
    int64_t a = 1;
    for (int64_t i = 0; i < axis; i++)
        a *= X->dims[i];
    int64_t dims[2] = {a, a ? X->n / a : 0};
    if (!a) {
        dims[1] = 1;
        for (int i = (int)axis; i < X->ndim; i++)
            dims[1] *= X->dims[i];
    }
    return alias(r, X, out[0], 2, dims);
}

static int run_squeeze(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    const int64_t *axes = NULL;
    int64_t na = 0;
    if (nd->opset < 13) {
        const attr *a = infi_get_attr(nd, "axes");
        if (a && a->type == AT_INTS)
            axes = a->ints, na = a->n;
    } else if (int_list(r, nd->nin > 1 ? in[1] : NULL, &axes, &na) < 0) {
        return r->err->code;
    }
    int drop[INFER_MAX_DIMS] = {0};
    for (int64_t i = 0; i < na; i++) {
        int64_t a;
        if (norm_axis(axes[i], X->ndim, &a) < 0 || X->dims[a] != 1)
            return infi_exec_fail(r, INFER_ESHAPE, "cannot squeeze axis %lld", (long long)axes[i]);
        drop[a] = 1;
    }
    int64_t dims[INFER_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < X->ndim; i++)
        if (!(na ? drop[i] : X->dims[i] == 1))
            dims[k++] = X->dims[i];
    return alias(r, X, out[0], k, dims);
}

static int run_unsqueeze(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    const int64_t *axes = NULL;
    int64_t na = 0;
    if (nd->opset < 13) {
        const attr *a = infi_get_attr(nd, "axes");
        if (a && a->type == AT_INTS)
            axes = a->ints, na = a->n;
    } else if (int_list(r, nd->nin > 1 ? in[1] : NULL, &axes, &na) < 0) {
        return r->err->code;
    }
    int64_t rank = X->ndim + na;
    if (rank > INFER_MAX_DIMS || !axes)
        return infi_exec_fail(r, INFER_ESHAPE, "bad axes");
    int ins[INFER_MAX_DIMS] = {0};
    for (int64_t i = 0; i < na; i++) {
        int64_t a;
        if (norm_axis(axes[i], (int)rank, &a) < 0 || ins[a])
            return infi_exec_fail(r, INFER_ESHAPE, "bad axis %lld", (long long)axes[i]);
        ins[a] = 1;
    }
    int64_t dims[INFER_MAX_DIMS];
    for (int i = 0, k = 0; i < rank; i++)
        dims[i] = ins[i] ? 1 : X->dims[k++];
    return alias(r, X, out[0], (int)rank, dims);
}

static int run_shape(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    int64_t rank = X->ndim, s = infi_attr_i(nd, "start", 0), e = infi_attr_i(nd, "end", rank);
    if (s < 0) s += rank;
    if (e < 0) e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    int64_t n = e > s ? e - s : 0, d[1] = {n};
    if (infi_tv_make(r, out[0], INFER_INT64, 1, d) < 0)
        return r->err->code;
    for (int64_t i = 0; i < n; i++)
        ((int64_t *)out[0]->data)[i] = X->dims[s + i];
    return 0;
}

static int run_cos(exec *r, const node *nd, tval **in, tval **out)
{
    const int64_t *shape = NULL;
    int64_t ns = 0;
    if (!in[0] || int_list(r, in[0], &shape, &ns) < 0)
        return infi_exec_fail(r, INFER_ESHAPE, "shape input missing");
    if (ns > INFER_MAX_DIMS)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "rank too large");
    const attr *a = infi_get_attr(nd, "value");
    const tval *v = a && a->type == AT_TENSOR ? a->t : NULL;
    if (v && v->n != 1)
        return infi_exec_fail(r, INFER_EFORMAT, "value must have one element");
    int type = v ? v->type : INFER_FLOAT;
    if (infi_tv_make(r, out[0], type, (int)ns, shape) < 0)
        return r->err->code;
    size_t es = infi_elem_size(type);
    for (int64_t i = 0; i < out[0]->n; i++) {
        if (v)
            memcpy((char *)out[0]->data + (size_t)i * es, v->data, es);
        else
            ((float *)out[0]->data)[i] = 0;
    }
    return 0;
}

/* ---- Concat ---- */

static int run_concat(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *first = NULL;
    for (int i = 0; i < nd->nin; i++)
        if (in[i]) {
            first = in[i];
            break;
        }
    if (!first)
        return infi_exec_fail(r, INFER_ESHAPE, "Concat needs inputs");
    int rank = first->ndim;
    int64_t axis;
    if (norm_axis(infi_attr_i(nd, "axis", 0), rank, &axis) < 0)
        return infi_exec_fail(r, INFER_ESHAPE, "axis out of range");
    int64_t dims[INFER_MAX_DIMS];
    memcpy(dims, first->dims, sizeof(int64_t) * (size_t)rank);
    dims[axis] = 0;
    for (int i = 0; i < nd->nin; i++) {
        const tval *t = in[i];
        if (!t)
            continue;
        if (t->type != first->type || t->ndim != rank)
            return infi_exec_fail(r, INFER_ESHAPE, "inputs differ in type or rank");
        for (int d = 0; d < rank; d++)
            if (d != axis && t->dims[d] != first->dims[d])
                return infi_exec_fail(r, INFER_ESHAPE, "inputs differ in dimension %d", d);
        dims[axis] += t->dims[axis];
    }
    if (infi_tv_make(r, out[0], first->type, rank, dims) < 0)
        return r->err->code;
    if (out[0]->n == 0)
        return 0;
    size_t es = infi_elem_size(first->type);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= dims[d];
    for (int d = (int)axis + 1; d < rank; d++)
        inner *= dims[d];
    char *o = out[0]->data;
    size_t orow = (size_t)(dims[axis] * inner) * es, off = 0;
    for (int i = 0; i < nd->nin; i++) {
        const tval *t = in[i];
        if (!t)
            continue;
        size_t chunk = (size_t)(t->dims[axis] * inner) * es;
        for (int64_t k = 0; k < outer; k++)
            memcpy(o + (size_t)k * orow + off, (const char *)t->data + (size_t)k * chunk, chunk);
        off += chunk;
    }
    return 0;
}

/* ---- Gather ---- */

static int run_gather(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0], *I = nd->nin > 1 ? in[1] : NULL;
    if (!X || !I)
        return infi_exec_fail(r, INFER_ESHAPE, "Gather needs 2 inputs");
    if (X->ndim < 1)
        return infi_exec_fail(r, INFER_ESHAPE, "data must have rank >= 1");
    int64_t axis;
    if (norm_axis(infi_attr_i(nd, "axis", 0), X->ndim, &axis) < 0)
        return infi_exec_fail(r, INFER_ESHAPE, "axis out of range");
    if (X->ndim - 1 + I->ndim > INFER_MAX_DIMS)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "rank too large");
    const int64_t *idx = NULL;
    int64_t ni = 0;
    if (int_list(r, I, &idx, &ni) < 0)
        return r->err->code;
    int64_t dims[INFER_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < axis; d++)
        dims[k++] = X->dims[d];
    for (int d = 0; d < I->ndim; d++)
        dims[k++] = I->dims[d];
    for (int d = (int)axis + 1; d < X->ndim; d++)
        dims[k++] = X->dims[d];
    if (infi_tv_make(r, out[0], X->type, k, dims) < 0)
        return r->err->code;
    if (out[0]->n == 0)
        return 0;
    int64_t outer = 1, inner = 1, A = X->dims[axis];
    for (int d = 0; d < axis; d++)
        outer *= X->dims[d];
    for (int d = (int)axis + 1; d < X->ndim; d++)
        inner *= X->dims[d];
    size_t es = infi_elem_size(X->type), chunk = (size_t)inner * es;
    char *o = out[0]->data;
    for (int64_t j = 0; j < ni; j++)
        if (idx[j] < -A || idx[j] >= A)
            return infi_exec_fail(r, INFER_ERUNTIME, "index %lld out of range [%lld, %lld)", (long long)idx[j], (long long)-A,
                            (long long)A);
    for (int64_t p = 0; p < outer; p++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t v = idx[j] < 0 ? idx[j] + A : idx[j];
            memcpy(o, (const char *)X->data + ((size_t)(p * A + v)) * chunk, chunk);
            o += chunk;
        }
    return 0;
}

/* ---- Transpose ---- */

static int run_transpose(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    int rank = X->ndim;
    int64_t perm[INFER_MAX_DIMS];
    const attr *p = infi_get_attr(nd, "perm");
    if (p && p->type == AT_INTS) {
        if (p->n != rank)
            return infi_exec_fail(r, INFER_ESHAPE, "perm has %lld entries for rank %d", (long long)p->n, rank);
        int seen[INFER_MAX_DIMS] = {0};
        for (int i = 0; i < rank; i++) {
            if (norm_axis(p->ints[i], rank, &perm[i]) < 0 || seen[perm[i]]++)
                return infi_exec_fail(r, INFER_ESHAPE, "bad perm");
        }
    } else {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
    }
    int64_t dims[INFER_MAX_DIMS], ist[INFER_MAX_DIMS], s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        ist[i] = s;
        s *= X->dims[i];
    }
    for (int i = 0; i < rank; i++)
        dims[i] = X->dims[perm[i]];
    if (infi_tv_make(r, out[0], X->type, rank, dims) < 0)
        return r->err->code;
    size_t es = infi_elem_size(X->type);
    int64_t idx[INFER_MAX_DIMS] = {0}, off = 0;
    for (int64_t i = 0; i < out[0]->n; i++) {
        memcpy((char *)out[0]->data + (size_t)i * es, (const char *)X->data + (size_t)off * es, es);
        for (int d = rank - 1; d >= 0; d--) {
            off += ist[perm[d]];
            if (++idx[d] < dims[d])
                break;
            off -= ist[perm[d]] * dims[d];
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- Slice ---- */

static int run_slice(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    const int64_t *st = NULL, *en = NULL, *ax = NULL, *sp = NULL;
    int64_t ns = 0, ne = 0, na = 0, nsp = 0;
    if (nd->opset < 10) {
        const attr *a = infi_get_attr(nd, "starts"), *b = infi_get_attr(nd, "ends"), *c = infi_get_attr(nd, "axes");
        if (!a || !b || a->type != AT_INTS || b->type != AT_INTS)
            return infi_exec_fail(r, INFER_EFORMAT, "starts/ends missing");
        st = a->ints, ns = a->n, en = b->ints, ne = b->n;
        if (c && c->type == AT_INTS)
            ax = c->ints, na = c->n;
    } else {
        if (nd->nin < 3 || !in[1] || !in[2])
            return infi_exec_fail(r, INFER_ESHAPE, "starts/ends inputs missing");
        if (int_list(r, in[1], &st, &ns) < 0 || int_list(r, in[2], &en, &ne) < 0 ||
            int_list(r, nd->nin > 3 ? in[3] : NULL, &ax, &na) < 0 || int_list(r, nd->nin > 4 ? in[4] : NULL, &sp, &nsp) < 0)
            return r->err->code;
    }
    if (ns != ne || (ax && na != ns) || (sp && nsp != ns))
        return infi_exec_fail(r, INFER_ESHAPE, "starts/ends/axes/steps lengths differ");
    int rank = X->ndim;
    int64_t start[INFER_MAX_DIMS], step[INFER_MAX_DIMS], dims[INFER_MAX_DIMS];
    int used[INFER_MAX_DIMS] = {0};
    for (int d = 0; d < rank; d++) {
        start[d] = 0;
        step[d] = 1;
        dims[d] = X->dims[d];
    }
    for (int64_t i = 0; i < ns; i++) {
        int64_t a;
        if (norm_axis(ax ? ax[i] : i, rank, &a) < 0 || used[a]++)
            return infi_exec_fail(r, INFER_ESHAPE, "bad axes");
        int64_t D = X->dims[a], s = st[i], e = en[i], k = sp ? sp[i] : 1;
        if (k == 0)
            return infi_exec_fail(r, INFER_ESHAPE, "step 0");
        if (s < 0) s += D;
        if (e < 0) e += D;
        if (k > 0) {
            s = s < 0 ? 0 : s > D ? D : s;
            e = e < 0 ? 0 : e > D ? D : e;
            dims[a] = e > s ? (e - s + k - 1) / k : 0;
        } else {
            s = s < 0 ? -1 : s > D - 1 ? D - 1 : s;
            e = e < -1 ? -1 : e > D - 1 ? D - 1 : e;
            dims[a] = s > e ? (s - e + (-k) - 1) / (-k) : 0;
        }
        start[a] = s;
        step[a] = k;
    }
    if (infi_tv_make(r, out[0], X->type, rank, dims) < 0)
        return r->err->code;
    size_t es = infi_elem_size(X->type);
    int64_t ist[INFER_MAX_DIMS], s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        ist[d] = s;
        s *= X->dims[d];
    }
    if (out[0]->n == 0)
        return 0;
    int64_t idx[INFER_MAX_DIMS] = {0}, off = 0;
    for (int d = 0; d < rank; d++)
        off += start[d] * ist[d];
    for (int64_t i = 0; i < out[0]->n; i++) {
        memcpy((char *)out[0]->data + (size_t)i * es, (const char *)X->data + (size_t)off * es, es);
        for (int d = rank - 1; d >= 0; d--) {
            off += step[d] * ist[d];
            if (++idx[d] < dims[d])
                break;
            off -= step[d] * ist[d] * dims[d];
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- Split ---- */

static int run_split(exec *r, const node *nd, tval **in, tval **out)
{
    const tval *X = in[0];
    if (!X)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input");
    int64_t axis;
    if (norm_axis(infi_attr_i(nd, "axis", 0), X->ndim, &axis) < 0)
        return infi_exec_fail(r, INFER_ESHAPE, "axis out of range");
    const int64_t *sp = NULL;
    int64_t nsp = 0;
    if (nd->opset < 13) {
        const attr *a = infi_get_attr(nd, "split");
        if (a && a->type == AT_INTS)
            sp = a->ints, nsp = a->n;
    } else if (int_list(r, nd->nin > 1 ? in[1] : NULL, &sp, &nsp) < 0) {
        return r->err->code;
    }
    int64_t D = X->dims[axis], nout = nd->nout, sizes[256];
    if (nout > 256)
        return infi_exec_fail(r, INFER_EUNSUPPORTED, "too many outputs");
    if (sp) {
        if (nsp != nout)
            return infi_exec_fail(r, INFER_ESHAPE, "split has %lld entries for %lld outputs", (long long)nsp, (long long)nout);
        int64_t tot = 0;
        for (int64_t i = 0; i < nout; i++) {
            if (sp[i] < 0)
                return infi_exec_fail(r, INFER_ESHAPE, "negative split");
            sizes[i] = sp[i];
            tot += sp[i];
        }
        if (tot != D)
            return infi_exec_fail(r, INFER_ESHAPE, "split sizes sum to %lld, axis has %lld", (long long)tot, (long long)D);
    } else {
        /* equal parts; the last may be smaller (opset 18 num_outputs) */
        int64_t part = (D + nout - 1) / nout;
        for (int64_t i = 0; i < nout; i++) {
            int64_t left = D - part * i;
            sizes[i] = left < 0 ? 0 : left < part ? left : part;
        }
        if (nd->opset < 18 && D % nout)
            return infi_exec_fail(r, INFER_ESHAPE, "axis of %lld does not split into %lld equal parts", (long long)D, (long long)nout);
    }
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= X->dims[d];
    for (int d = (int)axis + 1; d < X->ndim; d++)
        inner *= X->dims[d];
    size_t es = infi_elem_size(X->type);
    int64_t off = 0;
    for (int64_t i = 0; i < nout; i++) {
        int64_t dims[INFER_MAX_DIMS];
        memcpy(dims, X->dims, sizeof(int64_t) * (size_t)X->ndim);
        dims[axis] = sizes[i];
        if (infi_tv_make(r, out[i], X->type, X->ndim, dims) < 0)
            return r->err->code;
        size_t chunk = (size_t)(sizes[i] * inner) * es;
        for (int64_t p = 0; p < outer && X->n; p++)
            memcpy((char *)out[i]->data + (size_t)p * chunk, (const char *)X->data + ((size_t)(p * D + off) * (size_t)inner) * es, chunk);
        off += sizes[i];
    }
    return 0;
}

const opdef infi_ops_shape[] = {
    {"", "Identity", 1, NULL, run_identity},
    {"", "Constant", 1, init_constant, run_noop},
    {"", "Reshape", 1, NULL, run_reshape},
    {"", "Flatten", 1, NULL, run_flatten},
    {"", "Squeeze", 1, NULL, run_squeeze},
    {"", "Unsqueeze", 1, NULL, run_unsqueeze},
    {"", "Shape", 1, NULL, run_shape},
    {"", "ConstantOfShape", 9, NULL, run_cos},
    {"", "Concat", 1, NULL, run_concat},
    {"", "Gather", 1, NULL, run_gather},
    {"", "Transpose", 1, NULL, run_transpose},
    {"", "Slice", 1, NULL, run_slice},
    {"", "Split", 1, NULL, run_split},
    {NULL, NULL, 0, NULL, NULL},
};
