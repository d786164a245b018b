/* exec.c - per-thread contexts and graph execution: binds the caller's
 * inputs, runs the sorted nodes over the context's scratch arena and copies
 * (or hands out) the requested outputs. */
#include <stdlib.h>

#include "infer/internal.h"

#define ARGPAD 8

static const opdef *const op_tables[] = {infi_ops_ml, infi_ops_tree, infi_ops_math, infi_ops_shape, infi_ops_nn};

const opdef *infi_find_op(const char *domain, const char *name)
{
    for (size_t t = 0; t < sizeof op_tables / sizeof op_tables[0]; t++)
        for (const opdef *o = op_tables[t]; o->name; o++)
            if (!strcmp(o->domain, domain) && !strcmp(o->name, name))
                return o;
    return NULL;
}

infer_ctx *infer_ctx_new(const infer_model *m, infer_error *err)
{
    if (!m) {
        infi_ierr(err, INFER_EINVAL, "no model");
        return NULL;
    }
    infer_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        infi_ierr(err, INFER_ENOMEM, "out of memory");
        return NULL;
    }
    c->m = m;
    /* operators may look at up to ARGPAD inputs and outputs whatever a
     * (possibly hostile) node declares: missing inputs read as NULL and
     * missing outputs go to scratch values */
    int maxargs = 2 * ARGPAD;
    for (int i = 0; i < m->nnodes; i++) {
        int a = (m->nodes[i].nin > ARGPAD ? m->nodes[i].nin : ARGPAD) + (m->nodes[i].nout > ARGPAD ? m->nodes[i].nout : ARGPAD);
        if (a > maxargs)
            maxargs = a;
    }
    c->argmax = maxargs;
    c->vals = calloc((size_t)(m->nvalues ? m->nvalues : 1), sizeof(tval));
    c->argv = calloc((size_t)maxargs, sizeof(tval *));
    c->bindmap = malloc((size_t)(m->nvalues ? m->nvalues : 1) * sizeof(int));
    if (!c->vals || !c->argv || !c->bindmap) {
        infer_ctx_free(c);
        infi_ierr(err, INFER_ENOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < m->nvalues; i++)
        c->bindmap[i] = -1;
    return c;
}

void infer_ctx_free(infer_ctx *c)
{
    if (!c)
        return;
    infi_ar_free(&c->ar);
    free(c->vals);
    free(c->argv);
    free(c->bindmap);
    free(c);
}

void infer_tensor_release(infer_tensor *t)
{
    if (t && t->owned) {
        free(t->data);
        t->data = NULL;
        t->owned = 0;
        t->nbytes = 0;
    }
}

static int bind_input(infer_ctx *c, int i, const infer_tensor *t, infer_error *err)
{
    const infer_value_info *vi = &c->m->in_info[i];
    tval *v = &c->vals[c->m->in_idx[i]];
    if (t->kind != INFER_KIND_TENSOR)
        return infi_ierr(err, INFER_ESHAPE, "input '%s' must be a tensor", vi->name);
    if (vi->type && t->type != vi->type)
        return infi_ierr(err, INFER_ESHAPE, "input '%s' must be %s, got %s", vi->name, infer_type_name(vi->type),
                    infer_type_name(t->type));
    if (!infi_elem_size(t->type))
        return infi_ierr(err, INFER_ESHAPE, "input '%s': unknown element type %d", vi->name, t->type);
    if (t->ndim < 0 || t->ndim > INFER_MAX_DIMS)
        return infi_ierr(err, INFER_ESHAPE, "input '%s': bad rank %d", vi->name, t->ndim);
    if (vi->ndim >= 0) {
        if (t->ndim != vi->ndim)
            return infi_ierr(err, INFER_ESHAPE, "input '%s' must have rank %d, got %d", vi->name, vi->ndim, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            if (vi->dims[d] >= 0 && t->dims[d] != vi->dims[d])
                return infi_ierr(err, INFER_ESHAPE, "input '%s' dimension %d must be %lld, got %lld", vi->name, d,
                            (long long)vi->dims[d], (long long)t->dims[d]);
    }
    int64_t n = infi_dims_count(t->ndim, t->dims);
    if (n < 0)
        return infi_ierr(err, INFER_ESHAPE, "input '%s' has a negative dimension", vi->name);
    if (n > 0 && !t->data)
        return infi_ierr(err, INFER_EINVAL, "input '%s' has no data", vi->name);
    if (t->nbytes && t->nbytes < (size_t)n * infi_elem_size(t->type))
        return infi_ierr(err, INFER_EINVAL, "input '%s': nbytes too small for its shape", vi->name);
    memset(v, 0, sizeof *v);
    v->kind = INFER_KIND_TENSOR;
    v->type = t->type;
    v->ndim = t->ndim;
    memcpy(v->dims, t->dims, sizeof(int64_t) * (size_t)t->ndim);
    v->n = n;
    v->data = t->data;   /* operators never write their inputs */
    v->set = 1;
    if (t->type == INFER_STRING) {
        char **s = (char **)t->data;
        for (int64_t k = 0; k < n; k++)
            if (!s[k])
                return infi_ierr(err, INFER_EINVAL, "input '%s': NULL string at %lld", vi->name, (long long)k);
    }
    return 0;
}

static int emit_output(const tval *v, const char *name, infer_tensor *o, infer_error *err)
{
    size_t es = infi_elem_size(v->type), need = (size_t)v->n * es;
    size_t strbytes = 0;
    if (v->type == INFER_STRING) {
        for (int64_t k = 0; k < v->n; k++)
            strbytes += strlen(((char **)v->data)[k] ? ((char **)v->data)[k] : "") + 1;
        need += strbytes;
    }
    void *dst = o->data;
    if (dst) {
        if (o->nbytes < need)
            return infi_ierr(err, INFER_ESPACE, "output '%s' needs %zu bytes, buffer has %zu", name, need, o->nbytes);
        o->owned = 0;
    } else {
        dst = malloc(need ? need : 1);
        if (!dst)
            return infi_ierr(err, INFER_ENOMEM, "out of memory");
        o->owned = 1;
    }
    o->data = dst;
    o->nbytes = need;
    o->kind = v->kind;
    o->type = v->type;
    o->ndim = v->ndim;
    memset(o->dims, 0, sizeof o->dims);
    memcpy(o->dims, v->dims, sizeof(int64_t) * (size_t)v->ndim);
    o->key_type = v->key_type;
    o->nkeys = v->nkeys;
    o->keys = v->keys;
    if (v->type == INFER_STRING) {
        char **ptrs = dst;
        char *chars = (char *)dst + (size_t)v->n * sizeof(char *);
        for (int64_t k = 0; k < v->n; k++) {
            const char *s = ((char **)v->data)[k] ? ((char **)v->data)[k] : "";
            size_t l = strlen(s) + 1;
            memcpy(chars, s, l);
            ptrs[k] = chars;
            chars += l;
        }
    } else if (need && dst != v->data) {
        memcpy(dst, v->data, need);
    }
    return 0;
}

int infer_run(infer_ctx *c, const infer_tensor *inputs, int n_in, infer_tensor *outputs, int n_out,
              infer_error *err)
{
    infer_error dummy;
    if (!err)
        err = &dummy;
    err->code = 0;
    err->msg[0] = 0;
    if (!c || (n_in && !inputs) || (n_out && !outputs))
        return infi_ierr(err, INFER_EINVAL, "invalid arguments");
    const infer_model *m = c->m;
    if (n_in != m->nin)
        return infi_ierr(err, INFER_EINVAL, "model has %d inputs, %d given", m->nin, n_in);
    if (n_out < 0 || n_out > m->nout)
        return infi_ierr(err, INFER_EINVAL, "model has %d outputs, %d requested", m->nout, n_out);
    infi_ar_reset(&c->ar);
    memcpy(c->vals, m->consts, sizeof(tval) * (size_t)m->nvalues);
    for (int i = 0; i < n_in; i++) {
        int rc = bind_input(c, i, &inputs[i], err);
        if (rc < 0)
            return rc;
    }
    /* caller buffers of the requested outputs, for operators to write into */
    for (int i = 0; i < m->nout; i++)
        c->bindmap[m->out_idx[i]] = -1;
    for (int i = 0; i < n_out; i++)
        if (outputs[i].data && outputs[i].nbytes)
            c->bindmap[m->out_idx[i]] = i;
    exec r = {&c->ar, err, m};
    tval dummy_out[ARGPAD] = {{0}};
    for (int i = 0; i < m->nnodes; i++) {
        const node *nd = &m->nodes[i];
        int nin = nd->nin > ARGPAD ? nd->nin : ARGPAD, nout = nd->nout > ARGPAD ? nd->nout : ARGPAD;
        tval **in = c->argv, **out = c->argv + nin;
        for (int k = 0; k < nin; k++)
            in[k] = k < nd->nin && nd->in[k] >= 0 && c->vals[nd->in[k]].set ? &c->vals[nd->in[k]] : NULL;
        for (int k = 0; k < nout; k++) {
            out[k] = k < nd->nout && nd->out[k] >= 0 ? &c->vals[nd->out[k]] : &dummy_out[k % ARGPAD];
            if (k >= nd->nout || nd->out[k] < 0) {
                memset(out[k], 0, sizeof(tval));
                continue;
            }
            if (out[k]->set && nd->out[k] >= 0 && m->consts[nd->out[k]].set)
                continue;
            memset(out[k], 0, sizeof(tval));
            int b = c->bindmap[nd->out[k]];
            if (b >= 0) {
                out[k]->bind = outputs[b].data;
                out[k]->bind_cap = outputs[b].nbytes;
            }
        }
        int rc = nd->op->run(&r, nd, in, out);
        if (rc < 0) {
            if (!err->code)
                infi_ierr(err, rc, "failed");
            infi_err_prefix(err, nd->op_type, nd->name);
            return err->code;
        }
    }
    for (int i = 0; i < n_out; i++) {
        const tval *v = &c->vals[m->out_idx[i]];
        if (!v->set)
            return infi_ierr(err, INFER_ERUNTIME, "output '%s' was not computed", m->out_info[i].name);
        int rc = emit_output(v, m->out_info[i].name, &outputs[i], err);
        if (rc < 0) {
            for (int k = 0; k < i; k++)
                infer_tensor_release(&outputs[k]);
            return rc;
        }
    }
    return 0;
}
