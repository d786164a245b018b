/* onnx_fixture.h - a minimal protobuf / ONNX writer for the unit tests:
 * small models written byte by byte (value infos, nodes, attributes) and
 * loaded with libcapstan-infer. Header-only, included after cmocka.h. */
#ifndef CAP_TESTS_ONNX_FIXTURE_H
#define CAP_TESTS_ONNX_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capstan/infer.h"


struct pb {
    uint8_t *p;
    size_t n, cap;
};

static inline void pb_raw(struct pb *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        assert_non_null(w->p);
    }
    if (n)
        memcpy(w->p + w->n, d, n);
    w->n += n;
}

static inline void pb_varint(struct pb *w, uint64_t v)
{
    uint8_t b[10];
    int k = 0;
    for (; v >= 0x80; v >>= 7)
        b[k++] = (uint8_t)(v | 0x80);
    b[k++] = (uint8_t)v;
    pb_raw(w, b, (size_t)k);
}

static inline void pb_key(struct pb *w, unsigned f, unsigned wt) { pb_varint(w, (uint64_t)f << 3 | wt); }
static inline void pb_int(struct pb *w, unsigned f, int64_t v) { pb_key(w, f, 0); pb_varint(w, (uint64_t)v); }
static inline void pb_bytes(struct pb *w, unsigned f, const void *d, size_t n)
{
    pb_key(w, f, 2);
    pb_varint(w, n);
    pb_raw(w, d, n);
}
static inline void pb_str(struct pb *w, unsigned f, const char *s) { pb_bytes(w, f, s, strlen(s)); }
static inline void pb_sub(struct pb *w, unsigned f, struct pb *sub)
{
    pb_bytes(w, f, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

/* TypeProto.tensor_type; dims -1 are the symbolic "N"; ndim -1: no shape */
static inline void type_tensor(struct pb *tp, int elem, int ndim, const int64_t *dims)
{
    struct pb tt = {0}, sh = {0};
    pb_int(&tt, 1, elem);
    if (ndim >= 0) {
        for (int i = 0; i < ndim; i++) {
            struct pb dm = {0};
            if (dims[i] < 0)
                pb_str(&dm, 2, "N");
            else
                pb_int(&dm, 1, dims[i]);
            pb_sub(&sh, 1, &dm);
        }
        if (ndim == 0)
            pb_raw(&sh, "", 0);
        pb_sub(&tt, 2, &sh);
    }
    pb_sub(tp, 1, &tt);
}

static inline void value_info(struct pb *g, unsigned field, const char *name, int elem, int ndim,
                       const int64_t *dims)
{
    struct pb vi = {0}, tp = {0};
    type_tensor(&tp, elem, ndim, dims);
    pb_str(&vi, 1, name);
    pb_sub(&vi, 2, &tp);
    pb_sub(g, field, &vi);
}

/* seq(map(key_type, float)): ZipMap's output */
static inline void value_info_seqmap(struct pb *g, const char *name, int key_type)
{
    struct pb vi = {0}, seq = {0}, el = {0}, map = {0}, val = {0}, top = {0};
    type_tensor(&val, 1, 0, NULL);
    pb_int(&map, 1, key_type);
    pb_sub(&map, 2, &val);
    pb_sub(&el, 5, &map);
    pb_sub(&seq, 1, &el);
    pb_sub(&top, 4, &seq);
    pb_str(&vi, 1, name);
    pb_sub(&vi, 2, &top);
    pb_sub(g, 12, &vi);
}

static inline void node(struct pb *g, const char *op, const char *domain, const char *in,
                 const char *out1, const char *out2, struct pb *attrs)
{
    struct pb n = {0};
    pb_str(&n, 1, in);
    pb_str(&n, 2, out1);
    if (out2)
        pb_str(&n, 2, out2);
    pb_str(&n, 4, op);
    if (domain)
        pb_str(&n, 7, domain);
    if (attrs) {
        pb_raw(&n, attrs->p, attrs->n);
        free(attrs->p);
        memset(attrs, 0, sizeof *attrs);
    }
    pb_sub(g, 1, &n);
}

static inline void attr_floats(struct pb *a, const char *name, const float *v, int n)
{
    struct pb at = {0};
    pb_str(&at, 1, name);
    for (int i = 0; i < n; i++) {
        pb_key(&at, 7, 5);
        pb_raw(&at, &v[i], 4);
    }
    pb_int(&at, 20, 6);
    pb_sub(a, 5, &at);
}

static inline void attr_strings(struct pb *a, const char *name, const char *const *v, int n)
{
    struct pb at = {0};
    pb_str(&at, 1, name);
    for (int i = 0; i < n; i++)
        pb_str(&at, 9, v[i]);
    pb_int(&at, 20, 8);
    pb_sub(a, 5, &at);
}

static inline void attr_ints(struct pb *a, const char *name, const int64_t *v, int n)
{
    struct pb at = {0};
    pb_str(&at, 1, name);
    for (int i = 0; i < n; i++)
        pb_int(&at, 8, v[i]);
    pb_int(&at, 20, 7);
    pb_sub(a, 5, &at);
}

static inline void attr_str(struct pb *a, const char *name, const char *v)
{
    struct pb at = {0};
    pb_str(&at, 1, name);
    pb_str(&at, 4, v);
    pb_int(&at, 20, 3);
    pb_sub(a, 5, &at);
}

static inline infer_model *finish(struct pb *g)
{
    struct pb m = {0}, op = {0};
    pb_int(&m, 1, 8);
    pb_str(&m, 2, "capstan-test");
    pb_str(g, 2, "g");
    pb_sub(&m, 7, g);
    pb_int(&op, 2, 17);
    pb_sub(&m, 8, &op);
    pb_str(&op, 1, "ai.onnx.ml");
    pb_int(&op, 2, 3);
    pb_sub(&m, 8, &op);
    infer_model *model = NULL;
    infer_error e = {0};
    int rc = infer_load_buffer(m.p, m.n, NULL, &model, &e);
    free(m.p);
    if (rc != 0)
        fail_msg("model: %s", e.msg);
    return model;
}

#endif
