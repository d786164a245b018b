/* payload_fuzz.c - the inference protocols' request parsers (and, for what
 * they accept, the runtime and the answer writers) must never crash, leak or
 * allocate without bound on any body.
 *
 * The fast path (payload/fast.c) is checked differentially: whenever it
 * handles a body, the general path must accept the same body and produce
 * the same request, bit for bit, or the target aborts.
 *
 * Input layout: byte 0 picks the model (bits 0 and 3: a classifier with one
 * [N, 2] input and ZipMap output; a model with float, string and bool
 * inputs; a model with INT64, INT32, FP64, FP16 and UINT8 inputs; one FP64
 * input of any shape) and the parser (bits 1-2: OIP, scoring JSON, scoring
 * CSV, scoring with the Content-Type taken from the body's first line); for
 * OIP bytes 1-2 are Inference-Header-Content-Length (little-endian, 0:
 * absent). The rest is the body. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payload/payload.h"
#include "payload/internal.h"

/* ---- two small models, written as ONNX protobuf ---- */

struct pb {
    uint8_t *p;
    size_t n, cap;
};

static void raw(struct pb *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        if (!w->p)
            abort();
    }
    if (n)
        memcpy(w->p + w->n, d, n);
    w->n += n;
}

static void varint(struct pb *w, uint64_t v)
{
    uint8_t b[10];
    int k = 0;
    for (; v >= 0x80; v >>= 7)
        b[k++] = (uint8_t)(v | 0x80);
    b[k++] = (uint8_t)v;
    raw(w, b, (size_t)k);
}

static void key(struct pb *w, unsigned f, unsigned wt) { varint(w, (uint64_t)f << 3 | wt); }
static void num(struct pb *w, unsigned f, int64_t v) { key(w, f, 0); varint(w, (uint64_t)v); }
static void bytes(struct pb *w, unsigned f, const void *d, size_t n)
{
    key(w, f, 2);
    varint(w, n);
    raw(w, d, n);
}
static void str(struct pb *w, unsigned f, const char *s) { bytes(w, f, s, strlen(s)); }
static void sub(struct pb *w, unsigned f, struct pb *s)
{
    bytes(w, f, s->p, s->n);
    free(s->p);
    memset(s, 0, sizeof *s);
}

static void tensor_type(struct pb *tp, int elem, int ndim, const int64_t *dims)
{
    struct pb tt = {0}, sh = {0};
    num(&tt, 1, elem);
    for (int i = 0; i < ndim; i++) {
        struct pb dm = {0};
        if (dims[i] < 0)
            str(&dm, 2, "N");
        else
            num(&dm, 1, dims[i]);
        sub(&sh, 1, &dm);
    }
    if (ndim >= 0)
        sub(&tt, 2, &sh);
    sub(tp, 1, &tt);
}

static void vinfo(struct pb *g, unsigned f, const char *name, int elem, int ndim, const int64_t *dims)
{
    struct pb vi = {0}, tp = {0};
    tensor_type(&tp, elem, ndim, dims);
    str(&vi, 1, name);
    sub(&vi, 2, &tp);
    sub(g, f, &vi);
}

static void node(struct pb *g, const char *op, const char *dom, const char *in, const char *o1,
                 const char *o2, struct pb *attrs)
{
    struct pb n = {0};
    str(&n, 1, in);
    str(&n, 2, o1);
    if (o2)
        str(&n, 2, o2);
    str(&n, 4, op);
    if (dom)
        str(&n, 7, dom);
    if (attrs) {
        raw(&n, attrs->p, attrs->n);
        free(attrs->p);
        memset(attrs, 0, sizeof *attrs);
    }
    sub(g, 1, &n);
}

static void attr(struct pb *a, const char *name, int type, const float *f, int nf,
                 const char *const *s, int ns, const char *one)
{
    struct pb at = {0};
    str(&at, 1, name);
    for (int i = 0; i < nf; i++) {
        key(&at, 7, 5);
        raw(&at, &f[i], 4);
    }
    for (int i = 0; i < ns; i++)
        str(&at, 9, s[i]);
    if (one)
        str(&at, 4, one);
    num(&at, 20, type);
    sub(a, 5, &at);
}

static infer_model *load(struct pb *g)
{
    struct pb m = {0}, op = {0};
    num(&m, 1, 8);
    sub(&m, 7, g);
    num(&op, 2, 17);
    sub(&m, 8, &op);
    str(&op, 1, "ai.onnx.ml");
    num(&op, 2, 3);
    sub(&m, 8, &op);
    infer_model *model = NULL;
    infer_error e;
    if (infer_load_buffer(m.p, m.n, NULL, &model, &e) != 0)
        abort();
    free(m.p);
    return model;
}

static infer_model *classifier(void)
{
    struct pb g = {0}, a = {0}, z = {0}, seq = {0}, el = {0}, map = {0}, val = {0}, top = {0},
              vi = {0};
    static const float W[4] = {1, 0, 0, 1}, b[2] = {0, 0};
    static const char *const labels[2] = {"cat", "dog"};
    int64_t x[2] = {-1, 2}, n[1] = {-1};
    attr(&a, "coefficients", 6, W, 4, NULL, 0, NULL);
    attr(&a, "intercepts", 6, b, 2, NULL, 0, NULL);
    attr(&a, "post_transform", 3, NULL, 0, NULL, 0, "SOFTMAX");
    attr(&a, "classlabels_strings", 8, NULL, 0, labels, 2, NULL);
    attr(&z, "classlabels_strings", 8, NULL, 0, labels, 2, NULL);
    node(&g, "LinearClassifier", "ai.onnx.ml", "X", "label", "probabilities", &a);
    node(&g, "ZipMap", "ai.onnx.ml", "probabilities", "probability", NULL, &z);
    vinfo(&g, 11, "X", INFER_FLOAT, 2, x);
    vinfo(&g, 12, "label", INFER_STRING, 1, n);
    tensor_type(&val, INFER_FLOAT, 0, NULL);
    num(&map, 1, INFER_STRING);
    sub(&map, 2, &val);
    sub(&el, 5, &map);
    sub(&seq, 1, &el);
    sub(&top, 4, &seq);
    str(&vi, 1, "probability");
    sub(&vi, 2, &top);
    sub(&g, 12, &vi);
    return load(&g);
}

static infer_model *mixed(void)
{
    struct pb g = {0};
    int64_t x[2] = {-1, 2}, n[1] = {-1};
    node(&g, "Identity", NULL, "x", "y", NULL, NULL);
    node(&g, "Identity", NULL, "s", "t", NULL, NULL);
    node(&g, "Identity", NULL, "b", "c", NULL, NULL);
    vinfo(&g, 11, "x", INFER_FLOAT, 2, x);
    vinfo(&g, 11, "s", INFER_STRING, 1, n);
    vinfo(&g, 11, "b", INFER_BOOL, 1, n);
    vinfo(&g, 12, "y", INFER_FLOAT, 2, x);
    vinfo(&g, 12, "t", INFER_STRING, 1, n);
    vinfo(&g, 12, "c", INFER_BOOL, 1, n);
    return load(&g);
}

static infer_model *numeric(void)
{
    struct pb g = {0};
    static const char *const in[] = {"i64", "i32", "d", "h", "u8"};
    static const char *const out[] = {"o_i64", "o_i32", "o_d", "o_h", "o_u8"};
    static const int type[] = {INFER_INT64, INFER_INT32, INFER_DOUBLE, INFER_FLOAT16, INFER_UINT8};
    int64_t n[1] = {-1}, x2[2] = {-1, 2}, x3[2] = {-1, 3};
    for (int i = 0; i < 5; i++)
        node(&g, "Identity", NULL, in[i], out[i], NULL, NULL);
    for (int f = 11; f <= 12; f++)
        for (int i = 0; i < 5; i++)
            vinfo(&g, (unsigned)f, f == 11 ? in[i] : out[i], type[i], i == 1 || i == 2 ? 2 : 1,
                  i == 1 ? x2 : i == 2 ? x3 : n);
    return load(&g);
}

static infer_model *any_shape(void)
{
    struct pb g = {0};
    node(&g, "Identity", NULL, "x", "y", NULL, NULL);
    vinfo(&g, 11, "x", INFER_DOUBLE, -1, NULL);
    vinfo(&g, 12, "y", INFER_DOUBLE, -1, NULL);
    return load(&g);
}

/* ---- the fast path against the general one ---- */

static bool same_request(const struct payload_request *a, const struct payload_request *b)
{
    if (a->format != b->format || a->n_inputs != b->n_inputs || a->rows != b->rows ||
        a->n_outputs != b->n_outputs || a->binary_all != b->binary_all || !a->id != !b->id ||
        (a->id && strcmp(a->id, b->id) != 0))
        return false;
    for (int i = 0; i < a->n_inputs; i++) {
        const infer_tensor *x = &a->inputs[i], *y = &b->inputs[i];
        /* the fast path takes numeric inputs only: their bytes compare */
        if (x->kind != y->kind || x->type != y->type || x->ndim != y->ndim ||
            x->nbytes != y->nbytes || x->type == INFER_STRING ||
            memcmp(x->dims, y->dims, sizeof x->dims) != 0 ||
            (x->nbytes && memcmp(x->data, y->data, x->nbytes) != 0))
            return false;
    }
    for (int k = 0; k < a->n_outputs; k++)
        if (a->outputs[k] != b->outputs[k] || a->binary[k] != b->binary[k])
            return false;
    return true;
}

static void differential(const infer_model *m, bool is_oip, const uint8_t *body, size_t len)
{
    struct payload_request rf, rg;
    struct cap_error err;
    int fast = is_oip ? payload_fast_oip(m, body, len, &rf) : payload_fast_scoring(m, body, len, &rf);
    if (fast == 0) {
        if (rf.inputs || rf.id || rf.outputs || rf.binary || rf.n_inputs)
            abort(); /* a declined body leaves nothing behind */
        return;
    }
    int rc = is_oip ? payload_parse_oip_general(m, body, len, 0, &rg, &err)
                    : payload_parse_scoring_general(m, "application/json", body, len, &rg, &err);
    if (fast != 1 || rc != 0 || !same_request(&rf, &rg))
        abort();
    payload_request_free(&rf);
    payload_request_free(&rg);
}

/* ---- the target ---- */

static void answer(const infer_model *m, struct payload_request *r)
{
    infer_error e;
    infer_ctx *c = infer_ctx_new(m, &e);
    if (!c)
        return;
    infer_tensor outs[5];
    int n_out = infer_output_count(m);
    memset(outs, 0, sizeof outs);
    if (infer_run(c, r->inputs, r->n_inputs, outs, n_out, &e) == 0) {
        struct cap_buf b;
        struct cap_error err;
        size_t jl;
        cap_buf_init(&b);
        if (r->format == PAYLOAD_OIP)
            payload_write_oip(m, r, "m", "1", outs, n_out, &b, &jl, &err);
        else
            payload_write_scoring(m, r, outs, n_out, &b, &err);
        for (int i = 0; i < n_out; i++)
            payload_write_json_data(&b, &outs[i]);
        cap_buf_free(&b);
        for (int i = 0; i < n_out; i++)
            infer_tensor_release(&outs[i]);
    }
    infer_ctx_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static infer_model *models[4];
    if (!models[0]) {
        models[0] = classifier();
        models[1] = mixed();
        models[2] = numeric();
        models[3] = any_shape();
    }
    if (size < 1)
        return 0;
    const infer_model *m = models[(data[0] & 1) | ((data[0] >> 2) & 2)];
    int mode = (data[0] >> 1) & 3;
    struct payload_request r;
    struct cap_error err;
    int rc;
    if (mode == 0) {
        if (size < 3)
            return 0;
        size_t jl = (size_t)data[1] | (size_t)data[2] << 8;
        if (jl == 0)
            differential(m, true, data + 3, size - 3);
        rc = payload_parse_oip(m, data + 3, size - 3, jl, &r, &err);
    } else if (mode == 3) {
        const uint8_t *nl = memchr(data + 1, '\n', size - 1);
        size_t n = nl ? (size_t)(nl - data - 1) : size - 1;
        char *ct = malloc(n + 1);
        memcpy(ct, data + 1, n);
        ct[n] = '\0';
        size_t off = 1 + n + (nl ? 1 : 0);
        rc = payload_parse_scoring(m, ct, data + off, size - off, &r, &err);
        free(ct);
    } else {
        if (mode == 1)
            differential(m, false, data + 1, size - 1);
        rc = payload_parse_scoring(m, mode == 1 ? "application/json" : "text/csv", data + 1,
                                   size - 1, &r, &err);
    }
    if (rc == 0) {
        answer(m, &r);
        payload_request_free(&r);
    }
    return 0;
}
