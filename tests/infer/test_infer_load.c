/* test_infer_load.c - cmocka tests of libcapstan-infer's public API on
 * models built byte by byte here: a valid graph runs and gives the right
 * numbers; hostile ones (truncated, wrong wire types, huge lengths,
 * negative dims, cycles, dangling inputs, bad tree node ids, external data
 * leaving the directory, unsupported operators) fail with a clean error.
 * Runs under ASan/UBSan, so a crash or leak fails the suite. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <cmocka.h>

#include "capstan/infer.h"

/* ---- a tiny protobuf writer ---- */

typedef struct pbw {
    uint8_t *p;
    size_t n, cap;
} pbw;

static void put(pbw *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        assert_non_null(w->p);
    }
    memcpy(w->p + w->n, d, n);
    w->n += n;
}

static void varint(pbw *w, uint64_t v)
{
    uint8_t b[10];
    int k = 0;
    do {
        b[k] = v & 0x7f;
        v >>= 7;
        if (v)
            b[k] |= 0x80;
        k++;
    } while (v);
    put(w, b, (size_t)k);
}

static void tag(pbw *w, uint32_t f, int wt) { varint(w, ((uint64_t)f << 3) | (uint64_t)wt); }
static void fint(pbw *w, uint32_t f, int64_t v) { tag(w, f, 0); varint(w, (uint64_t)v); }
static void fbytes(pbw *w, uint32_t f, const void *d, size_t n) { tag(w, f, 2); varint(w, n); put(w, d, n); }
static void fstr(pbw *w, uint32_t f, const char *s) { fbytes(w, f, s, strlen(s)); }
static void fmsg(pbw *w, uint32_t f, pbw *sub) { fbytes(w, f, sub->p, sub->n); free(sub->p); memset(sub, 0, sizeof *sub); }
static void ffloat(pbw *w, uint32_t f, float v) { tag(w, f, 5); put(w, &v, 4); }

/* ValueInfoProto: name, float tensor with dims (-1 = symbolic "N") */
static void value_info(pbw *g, uint32_t field, const char *name, int elem, int ndim, const int64_t *dims)
{
    pbw vi = {0}, tp = {0}, tt = {0}, sh = {0};
    fint(&tt, 1, elem);
    for (int i = 0; i < ndim; i++) {
        pbw dm = {0};
        if (dims[i] < 0)
            fstr(&dm, 2, "N");
        else
            fint(&dm, 1, dims[i]);
        fmsg(&sh, 1, &dm);
    }
    fmsg(&tt, 2, &sh);
    fmsg(&tp, 1, &tt);
    fstr(&vi, 1, name);
    fmsg(&vi, 2, &tp);
    fmsg(g, field, &vi);
}

static void node(pbw *g, const char *op, const char *dom, int nin, const char **in, int nout, const char **out, pbw *attrs)
{
    pbw n = {0};
    for (int i = 0; i < nin; i++)
        fstr(&n, 1, in[i]);
    for (int i = 0; i < nout; i++)
        fstr(&n, 2, out[i]);
    fstr(&n, 4, op);
    if (dom)
        fstr(&n, 7, dom);
    if (attrs && attrs->n) {
        put(&n, attrs->p, attrs->n);
        free(attrs->p);
        memset(attrs, 0, sizeof *attrs);
    }
    fmsg(g, 1, &n);
}

static void model(pbw *m, pbw *g, int ml)
{
    pbw op = {0};
    fint(m, 1, 8);
    fstr(m, 2, "test");
    fmsg(m, 7, g);
    fint(&op, 2, 17);
    fmsg(m, 8, &op);
    if (ml) {
        fstr(&op, 1, "ai.onnx.ml");
        fint(&op, 2, 3);
        fmsg(m, 8, &op);
    }
}

/* Y = (A + B) * C where C is a 3-element initializer */
static pbw add_mul_model(void)
{
    pbw g = {0}, m = {0}, t = {0};
    const char *i1[] = {"A", "B"}, *o1[] = {"S"}, *i2[] = {"S", "C"}, *o2[] = {"Y"};
    node(&g, "Add", NULL, 2, i1, 1, o1, NULL);
    node(&g, "Mul", NULL, 2, i2, 1, o2, NULL);
    fint(&t, 1, 3);
    fint(&t, 2, 1);
    float c[3] = {1, 2, 3};
    fbytes(&t, 9, c, sizeof c);
    fstr(&t, 8, "C");
    fmsg(&g, 5, &t);
    int64_t d[2] = {-1, 3};
    value_info(&g, 11, "A", 1, 2, d);
    value_info(&g, 11, "B", 1, 2, d);
    value_info(&g, 12, "Y", 1, 2, d);
    model(&m, &g, 0);
    return m;
}

static void test_valid_model_runs(void **state)
{
    pbw m = add_mul_model();
    infer_model *md = NULL;
    infer_error e;
    assert_int_equal(infer_load_buffer(m.p, m.n, NULL, &md, &e), 0);
    assert_int_equal(infer_input_count(md), 2);
    assert_int_equal(infer_output_count(md), 1);
    infer_value_info vi;
    assert_int_equal(infer_input_info(md, 0, &vi), 0);
    assert_string_equal(vi.name, "A");
    assert_int_equal(vi.ndim, 2);
    assert_int_equal(vi.dims[0], -1);
    assert_string_equal(vi.dim_names[0], "N");
    assert_int_equal(vi.dims[1], 3);
    infer_ctx *c = infer_ctx_new(md, &e);
    assert_non_null(c);
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 1, 1, 2, 2, 2};
    infer_tensor in[2] = {{.type = INFER_FLOAT, .ndim = 2, .dims = {2, 3}, .data = a},
                          {.type = INFER_FLOAT, .ndim = 2, .dims = {2, 3}, .data = b}};
    /* library-allocated output */
    infer_tensor out = {0};
    assert_int_equal(infer_run(c, in, 2, &out, 1, &e), 0);
    assert_int_equal(out.ndim, 2);
    assert_int_equal(out.dims[0], 2);
    float want[6] = {2, 6, 12, 6, 14, 24};
    for (int i = 0; i < 6; i++)
        assert_true(((float *)out.data)[i] == want[i]);
    infer_tensor_release(&out);
    /* caller buffer: too small, then right */
    float buf[6];
    infer_tensor o2 = {.data = buf, .nbytes = 8};
    assert_int_equal(infer_run(c, in, 2, &o2, 1, &e), INFER_ESPACE);
    o2.nbytes = sizeof buf;
    assert_int_equal(infer_run(c, in, 2, &o2, 1, &e), 0);
    assert_true(buf[5] == 24);
    assert_int_equal(o2.owned, 0);
    /* wrong input type / shape: clean errors */
    in[1].type = INFER_DOUBLE;
    assert_int_equal(infer_run(c, in, 2, &o2, 1, &e), INFER_ESHAPE);
    assert_non_null(strstr(e.msg, "B"));
    in[1].type = INFER_FLOAT;
    in[1].dims[1] = 4;
    assert_int_equal(infer_run(c, in, 2, &o2, 1, &e), INFER_ESHAPE);
    assert_int_equal(infer_run(c, in, 1, &o2, 1, &e), INFER_EINVAL);
    infer_ctx_free(c);
    infer_model_free(md);
    free(m.p);
}

/* every prefix of a valid model is refused (or, rarely, parses as a
 * smaller valid model) without crashing */
static void test_truncated(void **state)
{
    pbw m = add_mul_model();
    int refused = 0;
    for (size_t n = 0; n < m.n; n++) {
        infer_model *md = NULL;
        infer_error e;
        int rc = infer_load_buffer(m.p, n, NULL, &md, &e);
        if (rc < 0) {
            refused++;
            assert_null(md);
            assert_true(e.msg[0] != 0);
        }
        infer_model_free(md);
    }
    assert_true(refused > (int)m.n / 2);
    free(m.p);
}

static void expect_load_error(pbw *m, int code, const char *needle)
{
    infer_model *md = NULL;
    infer_error e;
    int rc = infer_load_buffer(m->p, m->n, NULL, &md, &e);
    if (rc != code)
        print_message("rc=%d msg=%s\n", rc, e.msg);
    assert_int_equal(rc, code);
    assert_null(md);
    if (needle && !strstr(e.msg, needle))
        fail_msg("message '%s' lacks '%s'", e.msg, needle);
    free(m->p);
    memset(m, 0, sizeof *m);
}

static void test_wire_errors(void **state)
{
    pbw m = {0};
    fint(&m, 7, 5);            /* graph as a varint */
    expect_load_error(&m, INFER_EFORMAT, "graph");
    tag(&m, 7, 2);
    varint(&m, 1u << 30);      /* huge length */
    expect_load_error(&m, INFER_EFORMAT, NULL);
    tag(&m, 7, 3);             /* group wire type */
    expect_load_error(&m, INFER_EFORMAT, NULL);
    uint8_t overlong[12];
    memset(overlong, 0xff, sizeof overlong);
    put(&m, overlong, sizeof overlong);
    expect_load_error(&m, INFER_EFORMAT, NULL);
    fint(&m, 1, 8);            /* no graph */
    expect_load_error(&m, INFER_EFORMAT, "no graph");
}

static void test_bad_tensors(void **state)
{
    const char *ids[] = {"X"}, *ido[] = {"Y"};
    int64_t d[1] = {2};
    /* negative dim */
    pbw g = {0}, m = {0}, t = {0};
    fint(&t, 1, -2);
    fint(&t, 2, 1);
    fstr(&t, 8, "W");
    fmsg(&g, 5, &t);
    node(&g, "Identity", NULL, 1, ids, 1, ido, NULL);
    value_info(&g, 11, "X", 1, 1, d);
    value_info(&g, 12, "Y", 1, 1, d);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, "negative");
    /* raw_data of the wrong size */
    fint(&t, 1, 4);
    fint(&t, 2, 1);
    fbytes(&t, 9, "abc", 3);
    fstr(&t, 8, "W");
    fmsg(&g, 5, &t);
    node(&g, "Identity", NULL, 1, ids, 1, ido, NULL);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, "raw_data");
    /* dims whose product overflows */
    for (int i = 0; i < 4; i++)
        fint(&t, 1, INT64_C(1) << 40);
    fint(&t, 2, 1);
    fstr(&t, 8, "W");
    fmsg(&g, 5, &t);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, NULL);
    /* typed data count mismatch: 3 floats for 4 elements (packed) */
    fint(&t, 1, 4);
    fint(&t, 2, 1);
    float f[3] = {1, 2, 3};
    fbytes(&t, 4, f, sizeof f);
    fstr(&t, 8, "W");
    fmsg(&g, 5, &t);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, "values for");
    /* packed floats whose length is not a multiple of 4 */
    fint(&t, 1, 1);
    fint(&t, 2, 1);
    fbytes(&t, 4, f, 5);
    fstr(&t, 8, "W");
    fmsg(&g, 5, &t);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, NULL);
}

static void test_graph_errors(void **state)
{
    int64_t d[1] = {2};
    /* cycle: P = Relu(Q), Q = Relu(P), Y = Identity(P) */
    pbw g = {0}, m = {0};
    const char *q[] = {"Q"}, *p[] = {"P"}, *y[] = {"Y"};
    node(&g, "Relu", NULL, 1, q, 1, p, NULL);
    node(&g, "Relu", NULL, 1, p, 1, q, NULL);
    node(&g, "Identity", NULL, 1, p, 1, y, NULL);
    value_info(&g, 12, "Y", 1, 1, d);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, "cycle");
    /* dangling input */
    const char *x[] = {"X"}, *z[] = {"nowhere"};
    node(&g, "Add", NULL, 1, z, 1, y, NULL);
    value_info(&g, 11, "X", 1, 1, d);
    value_info(&g, 12, "Y", 1, 1, d);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, "nowhere");
    /* output nobody produces */
    node(&g, "Relu", NULL, 1, x, 1, p, NULL);
    value_info(&g, 11, "X", 1, 1, d);
    value_info(&g, 12, "Y", 1, 1, d);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, "never produced");
    /* value produced twice */
    node(&g, "Relu", NULL, 1, x, 1, y, NULL);
    node(&g, "Neg", NULL, 1, x, 1, y, NULL);
    value_info(&g, 11, "X", 1, 1, d);
    value_info(&g, 12, "Y", 1, 1, d);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EFORMAT, "twice");
    /* unsupported operator: message names domain, op and opset */
    node(&g, "Conv", NULL, 1, x, 1, y, NULL);
    value_info(&g, 11, "X", 1, 1, d);
    value_info(&g, 12, "Y", 1, 1, d);
    model(&m, &g, 0);
    expect_load_error(&m, INFER_EUNSUPPORTED, "ai.onnx.Conv (opset 17)");
    node(&g, "DictVectorizer", "ai.onnx.ml", 1, x, 1, y, NULL);
    value_info(&g, 11, "X", 1, 1, d);
    value_info(&g, 12, "Y", 1, 1, d);
    model(&m, &g, 1);
    expect_load_error(&m, INFER_EUNSUPPORTED, "ai.onnx.ml.DictVectorizer (opset 3)");
}

/* a TreeEnsembleRegressor with the given true/false ids */
static pbw tree_model(int n, const int64_t *tn, const int64_t *fn, const char **modes, int64_t leaf_node)
{
    pbw g = {0}, m = {0}, a = {0};
    const char *x[] = {"X"}, *y[] = {"Y"};
#define INTS(NAME, V)                         \
    {                                         \
        pbw at = {0};                         \
        fstr(&at, 1, NAME);                   \
        for (int i = 0; i < n; i++)           \
            fint(&at, 8, (V));                \
        fint(&at, 20, 7);                     \
        fmsg(&a, 5, &at);                     \
    }
    INTS("nodes_treeids", 0)
    INTS("nodes_nodeids", i)
    INTS("nodes_featureids", 0)
    INTS("nodes_truenodeids", tn[i])
    INTS("nodes_falsenodeids", fn[i])
    pbw at = {0};
    fstr(&at, 1, "nodes_modes");
    for (int i = 0; i < n; i++)
        fstr(&at, 9, modes[i]);
    fint(&at, 20, 8);
    fmsg(&a, 5, &at);
    fstr(&at, 1, "nodes_values");
    for (int i = 0; i < n; i++)
        ffloat(&at, 7, 0.5f);
    fint(&at, 20, 6);
    fmsg(&a, 5, &at);
    fstr(&at, 1, "target_treeids");
    fint(&at, 8, 0);
    fmsg(&a, 5, &at);
    fstr(&at, 1, "target_nodeids");
    fint(&at, 8, leaf_node);
    fmsg(&a, 5, &at);
    fstr(&at, 1, "target_ids");
    fint(&at, 8, 0);
    fmsg(&a, 5, &at);
    fstr(&at, 1, "target_weights");
    ffloat(&at, 7, 2.0f);
    fmsg(&a, 5, &at);
    node(&g, "TreeEnsembleRegressor", "ai.onnx.ml", 1, x, 1, y, &a);
    int64_t d[2] = {-1, 2};
    value_info(&g, 11, "X", 1, 2, d);
    value_info(&g, 12, "Y", 1, 2, d);
    model(&m, &g, 1);
    return m;
}

static void test_tree_errors(void **state)
{
    const char *modes[] = {"BRANCH_LEQ", "LEAF", "LEAF"};
    int64_t tn[] = {1, 0, 0}, fn[] = {2, 0, 0};
    /* valid tree first */
    pbw m = tree_model(3, tn, fn, modes, 1);
    infer_model *md = NULL;
    infer_error e;
    assert_int_equal(infer_load_buffer(m.p, m.n, NULL, &md, &e), 0);
    infer_ctx *c = infer_ctx_new(md, &e);
    float x[4] = {0.25f, 0, 0.75f, 0};
    infer_tensor in = {.type = INFER_FLOAT, .ndim = 2, .dims = {2, 2}, .data = x}, out = {0};
    assert_int_equal(infer_run(c, &in, 1, &out, 1, &e), 0);
    assert_true(((float *)out.data)[0] == 2.0f && ((float *)out.data)[1] == 0.0f);
    infer_tensor_release(&out);
    /* too few columns for the features the trees use: clean run error */
    in.dims[1] = 0;
    assert_int_equal(infer_run(c, &in, 1, &out, 1, &e), INFER_ESHAPE);
    assert_non_null(strstr(e.msg, "dimension 1"));
    infer_ctx_free(c);
    infer_model_free(md);
    free(m.p);
    /* child id that does not exist */
    int64_t fn_bad[] = {7, 0, 0};
    m = tree_model(3, tn, fn_bad, modes, 1);
    expect_load_error(&m, INFER_EFORMAT, "missing node");
    /* weight on an interior node */
    m = tree_model(3, tn, fn, modes, 0);
    expect_load_error(&m, INFER_EFORMAT, "not a leaf");
    /* cycle inside a tree: 0 -> 1 -> 0 */
    const char *cm[] = {"BRANCH_LEQ", "BRANCH_LEQ", "LEAF"};
    int64_t ctn[] = {1, 0, 0}, cfn[] = {2, 2, 0};
    m = tree_model(3, ctn, cfn, cm, 2);
    expect_load_error(&m, INFER_EFORMAT, "cycle");
    /* unknown mode */
    const char *um[] = {"BRANCH_XX", "LEAF", "LEAF"};
    m = tree_model(3, tn, fn, um, 1);
    expect_load_error(&m, INFER_EFORMAT, "mode");
}

static void test_external_data(void **state)
{
    char dir[] = "/tmp/infer_ext_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512], sub[512];
    snprintf(path, sizeof path, "%s/w.bin", dir);
    FILE *f = fopen(path, "wb");
    float w[2] = {3, 4};
    fwrite(w, sizeof w, 1, f);
    fclose(f);
    snprintf(sub, sizeof sub, "%s/link.bin", dir);
    assert_int_equal(symlink(path, sub), 0);
    const char *locs[] = {"w.bin", "../w.bin", "/etc/passwd", "link.bin", "sub/../w.bin", "missing.bin"};
    int want[] = {0, INFER_EFORMAT, INFER_EFORMAT, INFER_EFORMAT, INFER_EFORMAT, INFER_EIO};
    for (size_t k = 0; k < sizeof locs / sizeof locs[0]; k++) {
        pbw g = {0}, m = {0}, t = {0}, kv = {0};
        const char *i1[] = {"X", "W"}, *o1[] = {"Y"};
        node(&g, "Add", NULL, 2, i1, 1, o1, NULL);
        fint(&t, 1, 2);
        fint(&t, 2, 1);
        fstr(&t, 8, "W");
        fstr(&kv, 1, "location");
        fstr(&kv, 2, locs[k]);
        fmsg(&t, 13, &kv);
        fint(&t, 14, 1);
        fmsg(&g, 5, &t);
        int64_t d[1] = {2};
        value_info(&g, 11, "X", 1, 1, d);
        value_info(&g, 12, "Y", 1, 1, d);
        model(&m, &g, 0);
        infer_model *md = NULL;
        infer_error e;
        int rc = infer_load_buffer(m.p, m.n, dir, &md, &e);
        if (rc != want[k])
            fail_msg("%s: rc=%d (%s)", locs[k], rc, e.msg);
        if (rc == 0) {
            infer_ctx *c = infer_ctx_new(md, &e);
            float x[2] = {1, 1};
            infer_tensor in = {.type = INFER_FLOAT, .ndim = 1, .dims = {2}, .data = x}, out = {0};
            assert_int_equal(infer_run(c, &in, 1, &out, 1, &e), 0);
            assert_true(((float *)out.data)[1] == 5.0f);
            infer_tensor_release(&out);
            infer_ctx_free(c);
        }
        /* without a directory external data is refused */
        infer_model *m2 = NULL;
        assert_true(infer_load_buffer(m.p, m.n, NULL, &m2, &e) < 0);
        infer_model_free(md);
        free(m.p);
    }
    unlink(sub);
    unlink(path);
    rmdir(dir);
}

/* one model, several threads, one context each */
static infer_model *g_shared;

static void *worker(void *arg)
{
    infer_error e;
    infer_ctx *c = infer_ctx_new(g_shared, &e);
    float a[3], b[3] = {1, 1, 1};
    long id = (long)(intptr_t)arg;
    int ok = 1;
    for (int it = 0; it < 200; it++) {
        for (int i = 0; i < 3; i++)
            a[i] = (float)(id + it + i);
        infer_tensor in[2] = {{.type = INFER_FLOAT, .ndim = 2, .dims = {1, 3}, .data = a},
                              {.type = INFER_FLOAT, .ndim = 2, .dims = {1, 3}, .data = b}};
        float y[3];
        infer_tensor out = {.data = y, .nbytes = sizeof y};
        if (infer_run(c, in, 2, &out, 1, &e) != 0)
            ok = 0;
        for (int i = 0; i < 3; i++)
            if (y[i] != (a[i] + 1) * (float)(i + 1))
                ok = 0;
    }
    infer_ctx_free(c);
    return (void *)(intptr_t)ok;
}

static void test_threads_share_model(void **state)
{
    pbw m = add_mul_model();
    infer_error e;
    assert_int_equal(infer_load_buffer(m.p, m.n, NULL, &g_shared, &e), 0);
    pthread_t th[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++) {
        void *ok;
        pthread_join(th[i], &ok);
        assert_true(ok != NULL);
    }
    infer_model_free(g_shared);
    free(m.p);
}

static void test_load_file_errors(void **state)
{
    infer_model *md = NULL;
    infer_error e;
    assert_int_equal(infer_load_file("/nonexistent/model.onnx", &md, &e), INFER_EIO);
    assert_int_equal(infer_load_file("/tmp", &md, &e), INFER_EIO);
    assert_int_equal(infer_load_buffer(NULL, 5, NULL, &md, &e), INFER_EINVAL);
    assert_null(infer_ctx_new(NULL, &e));
    assert_string_equal(infer_type_name(INFER_INT64), "int64");
    assert_int_equal(infer_type_size(INFER_DOUBLE), 8);
}

/* a zero-sized tensor with a huge other dimension must not make an
 * operator loop over the huge dimension (found by fuzzing: Softmax hung) */
static void test_zero_sized_dims(void **state)
{
    pbw g = {0}, m = {0}, t = {0}, a = {0};
    const char *i1[] = {"X", "shape"}, *o1[] = {"R"}, *i2[] = {"R"}, *o2[] = {"Y"};
    pbw at = {0};
    fstr(&at, 1, "allowzero");
    fint(&at, 3, 1);
    fint(&at, 20, 2);
    fmsg(&a, 5, &at);
    node(&g, "Reshape", NULL, 2, i1, 1, o1, &a);
    node(&g, "Softmax", NULL, 1, i2, 1, o2, NULL);
    fint(&t, 1, 2);
    fint(&t, 2, 7);
    int64_t shp[2] = {INT64_C(1) << 40, 0};
    fbytes(&t, 9, shp, sizeof shp);
    fstr(&t, 8, "shape");
    fmsg(&g, 5, &t);
    int64_t d[2] = {-1, 3};
    value_info(&g, 11, "X", 1, 2, d);
    value_info(&g, 12, "Y", 1, 2, d);
    model(&m, &g, 0);
    infer_model *md = NULL;
    infer_error e;
    assert_int_equal(infer_load_buffer(m.p, m.n, NULL, &md, &e), 0);
    infer_ctx *c = infer_ctx_new(md, &e);
    float x[1];
    infer_tensor in = {.type = INFER_FLOAT, .ndim = 2, .dims = {0, 3}, .data = x}, out = {0};
    assert_int_equal(infer_run(c, &in, 1, &out, 1, &e), 0);
    assert_int_equal(out.dims[0], INT64_C(1) << 40);
    assert_int_equal(out.dims[1], 0);
    infer_tensor_release(&out);
    infer_ctx_free(c);
    infer_model_free(md);
    free(m.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_model_runs),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_wire_errors),
        cmocka_unit_test(test_bad_tensors),
        cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_tree_errors),
        cmocka_unit_test(test_external_data),
        cmocka_unit_test(test_threads_share_model),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_zero_sized_dims),
    };
    return cmocka_run_group_tests_name("infer_load", tests, NULL, NULL);
}
