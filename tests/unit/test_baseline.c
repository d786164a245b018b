/* test_baseline.c - reference baselines (monitor/baseline.c): the naming
 * rule of tensors' columns, the sample's columnar file (round trip, and
 * refusal of every truncation and of each corrupt length), and create/load
 * against a small ONNX classifier written here, with the refused inputs
 * each leaving nothing stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "base/buf.h"
#include "blob/blob.h"
#include "monitor/colfile.h"
#include "monitor/monitor.h"
#include "monitor/profile.h"
#include "registry/registry.h"
#include "store/store.h"
#include "tests/unit/fixture.h"
#include "tests/unit/onnx_fixture.h"

/* ---------------- mon_tensor_columns ---------------- */

static void expect_cols(const char *tensor, int ndim, const int64_t *dims, bool single,
                        const char *const *names, size_t nnames, const char *want)
{
    char **cols;
    size_t n;
    struct cap_error err = {0};
    assert_int_equal(
        mon_tensor_columns(tensor, ndim, dims, single, names, nnames, &cols, &n, &err), 0);
    struct cap_buf b;
    cap_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        cap_buf_printf(&b, "%s%s", i ? "," : "", cols[i]);
        free(cols[i]);
    }
    free(cols);
    assert_string_equal(b.data ? b.data : "", want);
    cap_buf_free(&b);
}

static void tensorcols_naming(void **state)
{
    static const int64_t n[] = {-1}, n1[] = {-1, 1}, n3[] = {-1, 3}, nq[] = {-1, -1};
    static const char *const abc[] = {"a", "b", "c"}, *const ab[] = {"a", "b"};
    expect_cols("x", 1, n, true, NULL, 0, "x");
    expect_cols("x", 2, n1, true, abc, 3, "x");      /* [N, 1] is the tensor's one column */
    expect_cols("x", -1, NULL, false, NULL, 0, "x"); /* no declared shape: one column */
    expect_cols("x", 2, n3, true, NULL, 0, "f0,f1,f2");
    expect_cols("x", 2, n3, true, abc, 3, "a,b,c");
    expect_cols("x", 2, n3, true, ab, 2, "f0,f1,f2"); /* names that do not fit are not used */
    expect_cols("x", 2, n3, false, NULL, 0, "x_0,x_1,x_2");
    expect_cols("x", 2, n3, false, abc, 3, "a,b,c");
    expect_cols("x", 2, nq, true, ab, 2, "a,b"); /* [N, ?]: as many as named */
}

static void tensorcols_refused(void **state)
{
    static const int64_t d3[] = {-1, 2, 2}, nq[] = {-1, -1};
    char **cols = (char **)1;
    size_t n = 9;
    struct cap_error err = {0};
    assert_int_equal(mon_tensor_columns("img", 3, d3, true, NULL, 0, &cols, &n, &err),
                     -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "'img' has 3 dimensions"));
    assert_null(cols);
    assert_int_equal(n, 0);
    assert_int_equal(mon_tensor_columns("x", 2, nq, true, NULL, 0, &cols, &n, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "[N, ?]"));
}

/* ---------------- the column file ---------------- */

static void parse_csv(const char *csv, struct mon_frame *f)
{
    struct cap_error err = {0};
    if (mon_frame_parse("test.csv", MON_FORMAT_CSV, csv, strlen(csv), NULL, 0, f, &err) != 0)
        fail_msg("parse: %s", err.msg);
}

static void assert_frames_equal(const struct mon_frame *a, const struct mon_frame *b)
{
    assert_int_equal(a->ncols, b->ncols);
    assert_int_equal(a->nrows, b->nrows);
    for (size_t c = 0; c < a->ncols; c++) {
        const struct mon_column *x = &a->cols[c], *y = &b->cols[c];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->dtype, y->dtype);
        for (size_t r = 0; r < a->nrows; r++) {
            if (x->dtype != MON_TEXT) {
                /* bit for bit, NaN included */
                assert_memory_equal(&x->num[r], &y->num[r], sizeof(double));
            } else if (!x->text[r] || !y->text[r]) {
                assert_ptr_equal(x->text[r], y->text[r]);
            } else {
                assert_string_equal(x->text[r], y->text[r]);
            }
        }
    }
}

static const char CSV[] = "id,x,colour,note\n"
                          "1,0.5,red,\"a, b\"\n"
                          "2,,green,\n"
                          "3,-1e300,,caf\xc3\xa9\n"
                          "4,2.25,red,x\n";

static void colfile_round_trip(void **state)
{
    struct mon_frame f, g;
    parse_csv(CSV, &f);
    assert_int_equal(f.cols[0].dtype, MON_INT);
    assert_int_equal(f.cols[1].dtype, MON_FLOAT);
    assert_int_equal(f.cols[2].dtype, MON_TEXT);
    struct cap_buf b;
    cap_buf_init(&b);
    mon_colfile_encode(&f, &b);
    struct cap_error err = {0};
    assert_int_equal(mon_colfile_decode("s", b.data, b.len, &g, &err), 0);
    assert_frames_equal(&f, &g);
    assert_true(isnan(g.cols[1].num[1]));
    assert_null(g.cols[2].text[2]);
    mon_frame_free(&g);
    /* no rows at all */
    struct mon_frame e = f;
    e.nrows = 0;
    cap_buf_reset(&b);
    mon_colfile_encode(&e, &b);
    assert_int_equal(mon_colfile_decode("s", b.data, b.len, &g, &err), 0);
    assert_int_equal(g.ncols, 4);
    assert_int_equal(g.nrows, 0);
    mon_frame_free(&g);
    mon_frame_free(&f);
    cap_buf_free(&b);
}

static void expect_corrupt(const void *data, size_t len, const char *msg)
{
    struct mon_frame g;
    struct cap_error err = {0};
    assert_int_equal(mon_colfile_decode("s.cmz", data, len, &g, &err), -CAP_EINVAL);
    if (!strstr(err.msg, msg))
        fail_msg("got \"%s\", expected \"%s\"", err.msg, msg);
    assert_int_equal(g.ncols, 0);
    assert_null(g.cols);
}

/* A file of these raw (uncompressed) bytes. */
static void expect_raw_corrupt(const void *raw, size_t n, const char *msg)
{
    size_t bound = ZSTD_compressBound(n);
    unsigned char *file = malloc(5 + bound);
    memcpy(file, "CCOL\1", 5);
    size_t z = ZSTD_compress(file + 5, bound, raw, n, 1);
    assert_false(ZSTD_isError(z));
    expect_corrupt(file, 5 + z, msg);
    free(file);
}

static void colfile_refuses_corrupt(void **state)
{
    struct mon_frame f;
    parse_csv(CSV, &f);
    struct cap_buf b;
    cap_buf_init(&b);
    mon_colfile_encode(&f, &b);
    mon_frame_free(&f);
    /* every truncation */
    for (size_t n = 0; n < b.len; n++) {
        struct mon_frame g;
        struct cap_error err = {0};
        assert_int_equal(mon_colfile_decode("s", b.data, n, &g, &err), -CAP_EINVAL);
    }
    expect_corrupt("XCOL\1", 5, "does not begin with CCOL");
    char *v2 = malloc(b.len);
    memcpy(v2, b.data, b.len);
    v2[4] = 2;
    expect_corrupt(v2, b.len, "column file version 2, this build reads 1");
    free(v2);
    cap_buf_free(&b);
    /* ncols, nrows; then name length, name, dtype, cells */
    static const unsigned char many_cols[] = {0xff, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    expect_raw_corrupt(many_cols, sizeof many_cols, "column or row count");
    static const unsigned char long_name[] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                                              200, 0, 0, 0, 'x', 1, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_raw_corrupt(long_name, sizeof long_name, "column name is cut short");
    static const unsigned char nul_name[] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0,   0, 0, 2,
                                             0, 0, 0, 'x', 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_raw_corrupt(nul_name, sizeof nul_name, "holds a NUL byte");
    static const unsigned char bad_type[] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
                                             0, 0, 0, 'x', 7, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_raw_corrupt(bad_type, sizeof bad_type, "type is missing or unknown");
    static const unsigned char short_num[] = {1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1,
                                              0, 0, 0, 'x', 1, 0, 0, 0, 0, 0, 0, 0, 0};
    expect_raw_corrupt(short_num, sizeof short_num, "values are cut short");
    static const unsigned char long_cell[] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1,
                                              0, 0, 0, 'x', 2, 9, 0, 0, 0, 'a', 'b'};
    expect_raw_corrupt(long_cell, sizeof long_cell, "text cell is cut short");
    static const unsigned char trailing[] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
                                             0, 'x', 2, 0xff, 0xff, 0xff, 0xff, 'z'};
    expect_raw_corrupt(trailing, sizeof trailing, "bytes after the last column");
    static const unsigned char rows_no_cols[] = {0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0};
    expect_raw_corrupt(rows_no_cols, sizeof rows_no_cols, "column or row count");
}

/* ---------------- create and load ---------------- */

/* skl2onnx's LinearClassifier without ZipMap: X float [N, 2] -> label
 * (strings: "cat" when x0 > x1, else "dog") and prob float [N, 2]. */
static infer_model *classifier(void)
{
    struct pb g = {0}, a = {0};
    static const float W[4] = {1, 0, 0, 1}, b[2] = {0, 0};
    static const char *const labels[2] = {"cat", "dog"};
    int64_t x[2] = {-1, 2};
    attr_floats(&a, "coefficients", W, 4);
    attr_floats(&a, "intercepts", b, 2);
    attr_str(&a, "post_transform", "SOFTMAX");
    attr_strings(&a, "classlabels_strings", labels, 2);
    node(&g, "LinearClassifier", "ai.onnx.ml", "X", "label", "prob", &a);
    value_info(&g, 11, "X", INFER_FLOAT, 2, x);
    static const int64_t n[] = {-1};
    value_info(&g, 12, "label", INFER_STRING, 1, n);
    value_info(&g, 12, "prob", INFER_FLOAT, 2, x);
    return finish(&g);
}

struct fx {
    char tmp[256];
    struct store *st;
    struct blob *bl;
    infer_model *m;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_true(fixture_tmpdir(f->tmp, sizeof f->tmp, "baseline"));
    char path[512];
    snprintf(path, sizeof path, "%s/capstan.db", f->tmp);
    f->st = fixture_store_open(path);
    snprintf(path, sizeof path, "%s/artifacts", f->tmp);
    struct cap_error err = {0};
    assert_int_equal(blob_open(path, &f->bl, &err), 0);
    f->m = classifier();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    infer_model_free(f->m);
    blob_close(f->bl);
    store_close(f->st);
    fixture_rm_rf(f->tmp);
    free(f);
    return 0;
}

static const char *const SIG[] = {"a", "b"};

/* 20 rows in the columns b, a (not the model's order): a > b on even rows. */
static void reference(struct mon_frame *f)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, "b,a\n");
    for (int i = 0; i < 20; i++)
        cap_buf_printf(&b, "%d.5,%d\n", i, i % 2 ? i - 1 : i + 1);
    parse_csv(b.data, f);
    cap_buf_free(&b);
}

static struct mon_baseline_in input(struct fx *f, const struct mon_frame *data, size_t max_rows)
{
    return (struct mon_baseline_in){.target = "model:clf/1", .model_name = "clf",
                                    .model_version = "1", .model = f->m,
                                    .signature_cols = SIG, .n_signature_cols = 2,
                                    .data = data, .max_rows = max_rows};
}

static int baseline_folders(struct fx *f)
{
    cJSON *l = NULL;
    struct cap_error err = {0};
    assert_int_equal(blob_list(f->bl, "monitor/baselines", &l, &err), 0);
    int n = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, l)
    {
        cJSON *in = NULL;
        char p[512];
        snprintf(p, sizeof p, "monitor/baselines/%s",
                 cJSON_GetObjectItemCaseSensitive(t, "path")->valuestring);
        assert_int_equal(blob_list(f->bl, p, &in, &err), 0);
        n += cJSON_GetArraySize(in);
        cJSON_Delete(in);
    }
    cJSON_Delete(l);
    return n;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void check_meta(const cJSON *m)
{
    assert_string_equal(jstr(m, "target"), "model:clf/1");
    assert_string_equal(jstr(m, "model_name"), "clf");
    assert_int_equal((int)jnum(m, "rows"), 20);
    assert_int_equal((int)jnum(m, "sample_rows"), 5);
    static const char *const want[][4] = {{"a", "input", "X", "num"},
                                          {"b", "input", "X", "num"},
                                          {"label", "output", "label", "cat"},
                                          {"prob_0", "output", "prob", "num"},
                                          {"prob_1", "output", "prob", "num"}};
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(m, "columns");
    assert_int_equal(cJSON_GetArraySize(cols), 5);
    for (int i = 0; i < 5; i++) {
        const cJSON *c = cJSON_GetArrayItem(cols, i);
        assert_string_equal(jstr(c, "name"), want[i][0]);
        assert_string_equal(jstr(c, "role"), want[i][1]);
        assert_string_equal(jstr(c, "tensor"), want[i][2]);
        assert_string_equal(jstr(c, "kind"), want[i][3]);
        assert_int_equal((int)jnum(c, "index"), i == 1 || i == 4 ? 1 : 0);
    }
}

static void create_and_load(void **state)
{
    struct fx *f = *state;
    struct mon_frame data;
    reference(&data);
    struct mon_baseline_in in = input(f, &data, 5);
    cJSON *meta = NULL;
    struct cap_error err = {0};
    if (mon_baseline_create(f->st, f->bl, &in, &meta, &err) != 0)
        fail_msg("create: %s", err.msg);
    check_meta(meta);
    struct mon_baseline b;
    assert_int_equal(mon_baseline_load(f->st, f->bl, "model:clf/1", &b, &err), 0);
    char *a = cJSON_PrintUnformatted(meta), *c = cJSON_PrintUnformatted(b.meta);
    assert_string_equal(a, c);
    free(a);
    free(c);
    assert_int_equal(b.n_inputs, 2);
    assert_int_equal(b.sample.nrows, 5);
    assert_int_equal(b.sample.ncols, 5);
    assert_int_equal(b.sample.cols[2].dtype, MON_TEXT);
    assert_int_equal(b.sample.cols[3].dtype, MON_FLOAT);
    for (size_t r = 0; r < 5; r++) {
        double x0 = b.sample.cols[0].num[r], x1 = b.sample.cols[1].num[r];
        /* row i of the data has b = i + 0.5, a = i +- 1 */
        double i = x1 - 0.5;
        assert_true(r == 0 || i > b.sample.cols[1].num[r - 1] - 0.5); /* in file order */
        assert_true(x0 == ((int)i % 2 ? i - 1 : i + 1));
        assert_string_equal(b.sample.cols[2].text[r], x0 > x1 ? "cat" : "dog");
        double p0 = b.sample.cols[3].num[r], p1 = b.sample.cols[4].num[r];
        assert_true(fabs(p0 + p1 - 1) < 1e-6);
        assert_true(fabs(p0 - 1 / (1 + exp(x1 - x0))) < 1e-5);
    }
    assert_int_equal(b.profile->ncols, 5);
    assert_int_equal(b.profile->rows, 20); /* the profile is of every row */
    assert_string_equal(b.profile->cols[2].name, "label");
    assert_int_equal(b.profile->cols[0].n_finite, 20);
    assert_int_equal(b.profile->cols[2].ncat, 2); /* cat on 10 rows, dog on 10 */
    assert_int_equal(b.profile->cols[2].cat_count[0] + b.profile->cols[2].cat_count[1], 20);
    assert_int_equal(b.profile->cols[2].cat_count[0], 10);
    mon_baseline_free(&b);
    /* a second baseline replaces the first, files included */
    cJSON *meta2 = NULL;
    in.max_rows = 0; /* the default cap: every row */
    assert_int_equal(mon_baseline_create(f->st, f->bl, &in, &meta2, &err), 0);
    assert_int_equal((int)jnum(meta2, "sample_rows"), 20);
    assert_int_equal(baseline_folders(f), 1);
    cJSON *list = NULL;
    assert_int_equal(store_baseline_list(f->st, &list, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 0), "sample"), jstr(meta2, "sample"));
    cJSON_Delete(list);
    char *path = NULL;
    assert_int_equal(store_baseline_delete(f->st, "model:clf/1", &path, &err), 0);
    assert_non_null(strstr(jstr(meta2, "sample"), path));
    free(path);
    assert_int_equal(mon_baseline_load(f->st, f->bl, "model:clf/1", &b, &err), -CAP_ENOTFOUND);
    assert_string_equal(err.msg, "No baseline for 'model:clf/1'");
    assert_null(b.meta);
    cJSON_Delete(meta);
    cJSON_Delete(meta2);
    mon_frame_free(&data);
}

/* The data is refused with msg, and nothing is stored. */
static void expect_refused(struct fx *f, const char *csv, const char *msg)
{
    struct mon_frame data;
    parse_csv(csv, &data);
    struct mon_baseline_in in = input(f, &data, 0);
    cJSON *meta = NULL;
    struct cap_error err = {0};
    assert_int_equal(mon_baseline_create(f->st, f->bl, &in, &meta, &err), -CAP_EINVAL);
    if (!strstr(err.msg, msg))
        fail_msg("got \"%s\", expected \"%s\"", err.msg, msg);
    assert_null(meta);
    cJSON *got = NULL;
    assert_int_equal(store_baseline_get(f->st, "model:clf/1", &got, &err), -CAP_ENOTFOUND);
    cJSON *l = NULL;
    assert_int_equal(blob_list(f->bl, "monitor/baselines", &l, &err), 0);
    assert_int_equal(cJSON_GetArraySize(l), 0);
    cJSON_Delete(l);
    mon_frame_free(&data);
}

static void refused_inputs(void **state)
{
    struct fx *f = *state;
    expect_refused(f, "a,c\n1,2\n", "has no column 'b' (for the model's input 'X'); expected "
                                    "the columns a, b");
    expect_refused(f, "a,b\n1,2\n3,x\n",
                   "Column 'b' holds text (line 3) but the model's input 'X' takes float");
    expect_refused(f, "a,b,z,y\n1,2,3,4\n",
                   "columns the model does not take: 'z', 'y'; expected exactly the columns a, b");
    expect_refused(f, "a,b\n", "The reference data has no rows");
}

/* ---------------- the signature's column names ---------------- */

static void put_file(struct blob *bl, const char *path, const char *text)
{
    struct blob_writer *w = NULL;
    struct cap_error err = {0};
    assert_int_equal(blob_write_open(bl, path, &w, &err), 0);
    assert_int_equal(blob_write(w, text, strlen(text), &err), 0);
    assert_int_equal(blob_write_commit(w, &err), 0);
}

static void expect_signature(struct fx *f, const char *mlmodel, const char *want)
{
    put_file(f->bl, "m/MLmodel", mlmodel);
    char **names;
    size_t n;
    assert_int_equal(registry_signature_columns(f->bl, "m/model.onnx", &names, &n), 0);
    struct cap_buf b;
    cap_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        cap_buf_printf(&b, "%s%s", i ? "|" : "", names[i]);
        free(names[i]);
    }
    free(names);
    assert_string_equal(b.data ? b.data : "", want);
    cap_buf_free(&b);
}

static void signature_columns(void **state)
{
    struct fx *f = *state;
    char **names = (char **)1;
    size_t n = 3;
    /* no MLmodel at all */
    assert_int_equal(registry_signature_columns(f->bl, "none/model.onnx", &names, &n), 0);
    assert_null(names);
    assert_int_equal(n, 0);
    /* PyYAML folds a long scalar over more-indented lines; '' is a quote */
    expect_signature(f,
                     "artifact_path: model\nflavors:\n  onnx:\n    data: model.onnx\n"
                     "signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"sepal\n"
                     "    length\", \"required\": true}, {\"type\": \"string\", \"name\":\n"
                     "    \"it''s\", \"required\": true}]'\n  outputs: '[]'\n",
                     "sepal length|it's");
    /* a tensor signature names nothing */
    expect_signature(f,
                     "signature:\n  inputs: '[{\"type\": \"tensor\", \"tensor-spec\": "
                     "{\"dtype\": \"float32\", \"shape\": [-1, 4]}}]'\n",
                     "");
    /* inputs outside the signature block are not its inputs */
    expect_signature(f, "signature:\n  outputs: '[]'\nother:\n  inputs: '[{\"name\": \"x\"}]'\n",
                     "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tensorcols_naming),
        cmocka_unit_test(tensorcols_refused),
        cmocka_unit_test(colfile_round_trip),
        cmocka_unit_test(colfile_refuses_corrupt),
        cmocka_unit_test_setup_teardown(create_and_load, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(signature_columns, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
