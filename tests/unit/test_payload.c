/* test_payload.c - the inference protocols' bodies (payload/)
 * against small ONNX models written byte by byte here: OIP v2 JSON and
 * binary requests for every datatype, flat and nested data, each class of
 * bad request with its message, the OIP answer (JSON and binary, ZipMap,
 * strings, non-finite floats), MLflow's scoring formats (dataframe_split,
 * dataframe_records, instances, inputs, CSV, Content-Type rules) and its
 * {"predictions"} answer, model metadata and FP16 conversion. Several
 * cases run the real runtime between parse and write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload/payload.h"
#include "payload/internal.h"

#include "tests/unit/onnx_fixture.h"

static const int64_t N_[] = {-1};

/* X float [N, F] -> Identity -> Y float [N, F] */
static infer_model *dense_model(int64_t F)
{
    struct pb g = {0};
    int64_t d[2] = {-1, F};
    node(&g, "Identity", NULL, "X", "Y", NULL, NULL);
    value_info(&g, 11, "X", INFER_FLOAT, 2, d);
    value_info(&g, 12, "Y", INFER_FLOAT, 2, d);
    return finish(&g);
}

/* X float [1, 3] (fixed), and Z with no declared shape */
static infer_model *fixed_model(void)
{
    struct pb g = {0};
    int64_t d[2] = {1, 3};
    node(&g, "Identity", NULL, "X", "Y", NULL, NULL);
    node(&g, "Identity", NULL, "Z", "W", NULL, NULL);
    value_info(&g, 11, "X", INFER_FLOAT, 2, d);
    value_info(&g, 11, "Z", INFER_FLOAT, -1, NULL);
    value_info(&g, 12, "Y", INFER_FLOAT, 2, d);
    value_info(&g, 12, "W", INFER_FLOAT, -1, NULL);
    return finish(&g);
}

/* one input per datatype, each [N] (f is [N, 3]), each passed through */
static const struct {
    const char *name, *out;
    int type;
} all_types[] = {
    {"b", "o_b", INFER_BOOL},       {"u8", "o_u8", INFER_UINT8},   {"u16", "o_u16", INFER_UINT16},
    {"u32", "o_u32", INFER_UINT32}, {"u64", "o_u64", INFER_UINT64}, {"i8", "o_i8", INFER_INT8},
    {"i16", "o_i16", INFER_INT16},  {"i32", "o_i32", INFER_INT32}, {"i64", "o_i64", INFER_INT64},
    {"h", "o_h", INFER_FLOAT16},    {"f", "o_f", INFER_FLOAT},     {"d", "o_d", INFER_DOUBLE},
    {"s", "o_s", INFER_STRING},
};
#define N_TYPES ((int)(sizeof all_types / sizeof all_types[0]))

static infer_model *all_types_model(void)
{
    struct pb g = {0};
    int64_t f[2] = {-1, 3};
    for (int i = 0; i < N_TYPES; i++)
        node(&g, "Identity", NULL, all_types[i].name, all_types[i].out, NULL, NULL);
    for (int i = 0; i < N_TYPES; i++)
        value_info(&g, 11, all_types[i].name, all_types[i].type, i == 10 ? 2 : 1, i == 10 ? f : N_);
    for (int i = 0; i < N_TYPES; i++)
        value_info(&g, 12, all_types[i].out, all_types[i].type, i == 10 ? 2 : 1, i == 10 ? f : N_);
    return finish(&g);
}

/* sklearn's LogisticRegression as skl2onnx writes it: X float [N, 2] ->
 * LinearClassifier -> output_label [N] (strings or ints), probabilities ->
 * ZipMap -> output_probability seq(map). Class k's score is x_k. */
static infer_model *clf_model(bool string_labels)
{
    struct pb g = {0}, a = {0}, z = {0};
    static const float W[4] = {1, 0, 0, 1}, b[2] = {0, 0};
    static const char *const labels[2] = {"cat", "dog"};
    static const int64_t ilabels[2] = {0, 1};
    int64_t x[2] = {-1, 2};
    attr_floats(&a, "coefficients", W, 4);
    attr_floats(&a, "intercepts", b, 2);
    attr_str(&a, "post_transform", "SOFTMAX");
    if (string_labels) {
        attr_strings(&a, "classlabels_strings", labels, 2);
        attr_strings(&z, "classlabels_strings", labels, 2);
    } else {
        attr_ints(&a, "classlabels_ints", ilabels, 2);
        attr_ints(&z, "classlabels_int64s", ilabels, 2);
    }
    node(&g, "LinearClassifier", "ai.onnx.ml", "X", "output_label", "probabilities", &a);
    node(&g, "ZipMap", "ai.onnx.ml", "probabilities", "output_probability", NULL, &z);
    value_info(&g, 11, "X", INFER_FLOAT, 2, x);
    value_info(&g, 12, "output_label", string_labels ? INFER_STRING : INFER_INT64, 1, N_);
    value_info_seqmap(&g, "output_probability", string_labels ? INFER_STRING : INFER_INT64);
    return finish(&g);
}

/* ---------------- helpers ---------------- */

struct fx {
    infer_model *dense, *fixed, *all, *clf, *clf_int;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dense = dense_model(28);
    f->fixed = fixed_model();
    f->all = all_types_model();
    f->clf = clf_model(true);
    f->clf_int = clf_model(false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    infer_model_free(f->dense);
    infer_model_free(f->fixed);
    infer_model_free(f->all);
    infer_model_free(f->clf);
    infer_model_free(f->clf_int);
    free(f);
    return 0;
}

static int oip(const infer_model *m, const char *json, struct payload_request *r,
               struct cap_error *err)
{
    memset(err, 0, sizeof *err);
    return payload_parse_oip(m, json, strlen(json), 0, r, err);
}

/* asserts the request fails with 400 and exactly this message */
static void oip_fails(const infer_model *m, const char *json, const char *msg)
{
    struct payload_request r;
    struct cap_error err;
    int rc = oip(m, json, &r, &err);
    if (rc != -CAP_EINVAL || err.code != CAP_EINVAL || strcmp(err.msg, msg) != 0)
        fail_msg("request %s\n  rc %d code %d\n  got      \"%s\"\n  expected \"%s\"", json, rc,
                 err.code, err.msg, msg);
    assert_null(r.inputs);
    assert_int_equal(r.n_inputs, 0);
}

static int scoring(const infer_model *m, const char *ct, const char *body,
                   struct payload_request *r, struct cap_error *err)
{
    memset(err, 0, sizeof *err);
    return payload_parse_scoring(m, ct, body, strlen(body), r, err);
}

static void scoring_fails(const infer_model *m, const char *ct, const char *body, int code,
                          const char *msg)
{
    struct payload_request r;
    struct cap_error err;
    int rc = scoring(m, ct, body, &r, &err);
    if (rc != -code || err.code != code || strcmp(err.msg, msg) != 0)
        fail_msg("body %s\n  rc %d code %d\n  got      \"%s\"\n  expected \"%s\"", body, rc,
                 err.code, err.msg, msg);
    assert_null(r.inputs);
}

static const float *fdata(const struct payload_request *r, int i)
{
    return r->inputs[i].data;
}

/* runs the model on a parsed request; outs must hold every output */
static void run_model(const infer_model *m, const struct payload_request *r, infer_tensor *outs)
{
    infer_error e = {0};
    infer_ctx *c = infer_ctx_new(m, &e);
    assert_non_null(c);
    int n_out = infer_output_count(m);
    memset(outs, 0, (size_t)n_out * sizeof *outs);
    if (infer_run(c, r->inputs, r->n_inputs, outs, n_out, &e) != 0)
        fail_msg("infer_run: %s", e.msg);
    infer_ctx_free(c);
}

static void release(infer_tensor *outs, int n)
{
    for (int i = 0; i < n; i++)
        infer_tensor_release(&outs[i]);
}

/* ---------------- OIP requests ---------------- */

static char *dense_request(int rows, int values, bool nested, const char *extra)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "{\"id\":\"req-1\",\"inputs\":[{\"name\":\"X\",\"shape\":[%d,28],"
                       "\"datatype\":\"FP32\",\"data\":[",
                   rows);
    for (int i = 0; i < values; i++) {
        if (nested && i % 28 == 0)
            cap_buf_printf(&b, "%s[", i ? "]," : "");
        else if (i)
            cap_buf_putc(&b, ',');
        cap_buf_printf(&b, "%d.5", i);
    }
    cap_buf_printf(&b, "%s]}]%s}", nested && values ? "]" : "", extra ? extra : "");
    return cap_buf_steal(&b);
}

static void oip_flat_and_nested(void **state)
{
    struct fx *f = *state;
    for (int nested = 0; nested < 2; nested++) {
        char *json = dense_request(2, 56, nested, NULL);
        struct payload_request r;
        struct cap_error err;
        assert_int_equal(oip(f->dense, json, &r, &err), 0);
        assert_int_equal(r.format, PAYLOAD_OIP);
        assert_string_equal(r.id, "req-1");
        assert_int_equal(r.n_inputs, 1);
        assert_int_equal(r.rows, 2);
        assert_int_equal(r.inputs[0].type, INFER_FLOAT);
        assert_int_equal(r.inputs[0].ndim, 2);
        assert_int_equal(r.inputs[0].dims[0], 2);
        assert_int_equal(r.inputs[0].dims[1], 28);
        assert_int_equal(r.inputs[0].nbytes, 56 * sizeof(float));
        for (int i = 0; i < 56; i++)
            assert_true(fdata(&r, 0)[i] == (float)i + 0.5f);
        assert_int_equal(r.n_outputs, 0);
        assert_false(r.binary_all);
        payload_request_free(&r);
        free(json);
    }
}

static void oip_count_and_nesting_errors(void **state)
{
    struct fx *f = *state;
    char *json = dense_request(2, 55, false, NULL);
    oip_fails(f->dense, json, "input 'X': shape [2,28] needs 56 values, got 55");
    free(json);
    json = dense_request(2, 57, false, NULL);
    oip_fails(f->dense, json, "input 'X': shape [2,28] needs 56 values, got 57");
    free(json);
    json = dense_request(2, 55, true, NULL);
    oip_fails(f->dense, json,
              "input 'X': nested data does not match shape [2,28]: an array at depth 1 has 27 "
              "values, the shape says 28");
    free(json);
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,28],\"datatype\":\"FP32\",\"data\":[[[1]]]}]}",
              "input 'X': nested data does not match shape [1,28]: an array at depth 1 has 1 "
              "values, the shape says 28");
}

static void oip_datatype_and_shape_errors(void **state)
{
    struct fx *f = *state;
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,28],\"datatype\":\"INT64\",\"data\":[]}]}",
              "input 'X' has datatype INT64, the model expects FP32");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,28],\"datatype\":\"FP8\",\"data\":[]}]}",
              "input 'X': unknown datatype 'FP8'; the model expects FP32");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[28],\"datatype\":\"FP32\",\"data\":[]}]}",
              "input 'X' has shape [28] (rank 1); the model expects rank 2, [-1,28]");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,27],\"datatype\":\"FP32\",\"data\":[]}]}",
              "input 'X' has shape [1,27]; the model expects [-1,28] (dimension 1 must be 28)");
    oip_fails(f->fixed,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[2,3],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5,6]},"
              "{\"name\":\"Z\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
              "input 'X' has shape [2,3]; the model expects [1,3] (dimension 0 must be 1)");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"Q\",\"shape\":[1,28],\"datatype\":\"FP32\",\"data\":[]}]}",
              "unknown input 'Q'; the model's inputs are 'X'");
    oip_fails(f->fixed,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
              "input 'Z' is missing; the model's inputs are 'X', 'Z'");
    oip_fails(f->fixed,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]},"
              "{\"name\":\"X\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
              "input 'X' is given twice");
    /* rank is free when the model declares no shape */
    struct payload_request r;
    struct cap_error err;
    assert_int_equal(oip(f->fixed,
                         "{\"inputs\":[{\"name\":\"Z\",\"shape\":[1,2,2],\"datatype\":\"FP32\","
                         "\"data\":[[[1,2],[3,4]]]},{\"name\":\"X\",\"shape\":[1,3],\"datatype\":"
                         "\"FP32\",\"data\":[1,2,3]}]}",
                         &r, &err),
                     0);
    assert_int_equal(r.inputs[1].ndim, 3);
    assert_true(fdata(&r, 1)[3] == 4.0f);
    payload_request_free(&r);
    /* the batch (dim 0) must agree */
    oip_fails(f->all,
              "{\"inputs\":[{\"name\":\"b\",\"shape\":[2],\"datatype\":\"BOOL\",\"data\":[true,false]},"
              "{\"name\":\"u8\",\"shape\":[1],\"datatype\":\"UINT8\",\"data\":[1]},"
              "{\"name\":\"u16\",\"shape\":[1],\"datatype\":\"UINT16\",\"data\":[1]},"
              "{\"name\":\"u32\",\"shape\":[1],\"datatype\":\"UINT32\",\"data\":[1]},"
              "{\"name\":\"u64\",\"shape\":[1],\"datatype\":\"UINT64\",\"data\":[1]},"
              "{\"name\":\"i8\",\"shape\":[1],\"datatype\":\"INT8\",\"data\":[1]},"
              "{\"name\":\"i16\",\"shape\":[1],\"datatype\":\"INT16\",\"data\":[1]},"
              "{\"name\":\"i32\",\"shape\":[1],\"datatype\":\"INT32\",\"data\":[1]},"
              "{\"name\":\"i64\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[1]},"
              "{\"name\":\"h\",\"shape\":[1],\"datatype\":\"FP16\",\"data\":[1]},"
              "{\"name\":\"f\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]},"
              "{\"name\":\"d\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
              "{\"name\":\"s\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"x\"]}]}",
              "input 'u8' has 1 rows (dimension 0) but input 'b' has 2; every input must have "
              "the same batch size");
}

/* one row of every datatype: JSON text of the 13 inputs, values per type */
static char *all_types_json(const char *vals[N_TYPES], const char *extra)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, "{\"inputs\":[");
    for (int i = 0; i < N_TYPES; i++)
        cap_buf_printf(&b, "%s{\"name\":\"%s\",\"shape\":[1%s],\"datatype\":\"%s\",\"data\":[%s]}",
                       i ? "," : "", all_types[i].name, i == 10 ? ",3" : "",
                       payload_oip_datatype(all_types[i].type), vals[i]);
    cap_buf_printf(&b, "]%s}", extra ? extra : "");
    return cap_buf_steal(&b);
}

static const char *good_vals[N_TYPES] = {
    "true", "255", "65535", "4294967295", "9007199254740991", "-128", "-32768", "-2147483648",
    "-9007199254740991", "1.5", "0.1, \"NaN\", \"-Infinity\"", "1e300", "\"h\\u00e9llo\""};

static void oip_every_datatype_json(void **state)
{
    struct fx *f = *state;
    char *json = all_types_json(good_vals, NULL);
    struct payload_request r;
    struct cap_error err;
    assert_int_equal(oip(f->all, json, &r, &err), 0);
    free(json);
    assert_int_equal(r.n_inputs, N_TYPES);
    for (int i = 0; i < N_TYPES; i++)
        assert_int_equal(r.inputs[i].type, all_types[i].type);
    assert_int_equal(*(uint8_t *)r.inputs[0].data, 1);
    assert_int_equal(*(uint8_t *)r.inputs[1].data, 255);
    assert_int_equal(*(uint16_t *)r.inputs[2].data, 65535);
    assert_int_equal(*(uint32_t *)r.inputs[3].data, 4294967295u);
    assert_true(*(uint64_t *)r.inputs[4].data == 9007199254740991ull);
    assert_int_equal(*(int8_t *)r.inputs[5].data, -128);
    assert_int_equal(*(int16_t *)r.inputs[6].data, -32768);
    assert_int_equal(*(int32_t *)r.inputs[7].data, INT32_MIN);
    assert_true(*(int64_t *)r.inputs[8].data == -9007199254740991ll);
    assert_int_equal(*(uint16_t *)r.inputs[9].data, 0x3e00); /* 1.5 in FP16 */
    const float *fl = r.inputs[10].data;
    assert_true(fl[0] == 0.1f && isnan(fl[1]) && isinf(fl[2]) && fl[2] < 0);
    assert_true(*(double *)r.inputs[11].data == 1e300);
    assert_string_equal(*(char **)r.inputs[12].data, "h\xc3\xa9llo");
    assert_int_equal(r.inputs[12].nbytes, sizeof(char *));
    payload_request_free(&r);
}

static void oip_element_errors(void **state)
{
    struct fx *f = *state;
    static const struct {
        int input;
        const char *value, *msg;
    } cases[] = {
        {1, "256", "input 'u8': element 0 (256) is out of range; the datatype is UINT8"},
        {5, "-129", "input 'i8': element 0 (-129) is out of range; the datatype is INT8"},
        {2, "-1", "input 'u16': element 0 (-1) is out of range; the datatype is UINT16"},
        {7, "1.5", "input 'i32': element 0 (1.5) is not an integer; the datatype is INT32"},
        {8, "9007199254740993",
         "input 'i64': element 0 (9007199254740992) is beyond 2^53, which a JSON number cannot "
         "carry exactly (send it as binary data); the datatype is INT64"},
        {8, "\"7\"", "input 'i64': element 0 (\"7\") is not a number; the datatype is INT64"},
        {10, "1, true, 3", "input 'f': element 1 (true) is not a number; the datatype is FP32"},
        {10, "1, 2, 1e39", "input 'f': element 2 (1e+39) is out of range; the datatype is FP32"},
        {10, "1, 2, \"nan\"", "input 'f': element 2 (\"nan\") is not a number; the datatype is FP32"},
        {9, "70000", "input 'h': element 0 (70000) is out of range; the datatype is FP16"},
        {0, "1", "input 'b': element 0 (1) is not a boolean; the datatype is BOOL"},
        {12, "5", "input 's': element 0 (5) is not a string; the datatype is BYTES"},
        {11, "null", "input 'd': element 0 (null) is not a number; the datatype is FP64"},
        {11, "{}", "input 'd': element 0 ({}) is not a value; data is either flat or nested "
                   "exactly as the shape"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *vals[N_TYPES];
        memcpy(vals, good_vals, sizeof vals);
        vals[cases[k].input] = cases[k].value;
        char *json = all_types_json(vals, NULL);
        oip_fails(f->all, json, cases[k].msg);
        free(json);
    }
}

static void oip_malformed(void **state)
{
    struct fx *f = *state;
    oip_fails(f->dense, "{\"inputs\": [", "the request is not valid JSON (error at byte 11)");
    oip_fails(f->dense, "[1,2]", "the request must be a JSON object {\"inputs\": [...]}");
    oip_fails(f->dense, "{} {}", "the request is not valid JSON (error at byte 3)");
    oip_fails(f->dense, "", "the request is not valid JSON (error at byte 0)");
    oip_fails(f->dense, "{\"inputs\": []}",
              "\"inputs\" must be a non-empty array; the model's inputs are 'X'");
    oip_fails(f->dense, "{\"id\": 5, \"inputs\": []}", "\"id\" must be a string");
    oip_fails(f->dense, "{\"inputs\": [5]}",
              "inputs[0] must be an object {\"name\", \"shape\", \"datatype\", \"data\"}");
    oip_fails(f->dense, "{\"inputs\": [{\"shape\":[1,28]}]}", "inputs[0] needs a \"name\" string");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,-28],\"datatype\":\"FP32\",\"data\":[]}]}",
              "input 'X': shape must hold non-negative integers");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,2.5],\"datatype\":\"FP32\",\"data\":[]}]}",
              "input 'X': shape must hold non-negative integers");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,28],\"datatype\":\"FP32\"}]}",
              "input 'X' needs \"data\" (or parameters.binary_data_size)");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,28],\"datatype\":\"FP32\",\"data\":5}]}",
              "input 'X': \"data\" must be an array");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"datatype\":\"FP32\",\"data\":[]}]}",
              "input 'X' needs a \"shape\" array");
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,1,1,1,1,1,1,1,1],\"datatype\":\"FP32\","
              "\"data\":[]}]}",
              "input 'X': shape has more than 8 dimensions");
    oip_fails(f->fixed,
              "{\"inputs\":[{\"name\":\"Z\",\"shape\":[9007199254740992,9007199254740992],"
              "\"datatype\":\"FP32\",\"data\":[]}]}",
              "input 'Z': shape [9007199254740992,9007199254740992] is too large");
    oip_fails(f->dense,
              "{\"parameters\":{\"binary_data_output\":1},\"inputs\":[]}",
              "parameters.binary_data_output must be true or false");
    /* a huge shape with little data allocates nothing */
    oip_fails(f->fixed,
              "{\"inputs\":[{\"name\":\"Z\",\"shape\":[4000000000000],\"datatype\":\"FP32\","
              "\"data\":[1]}]}",
              "input 'Z': shape [4000000000000] needs 4000000000000 values, got 1");
    /* nested data must be nested exactly as the shape */
    oip_fails(f->dense,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,28],\"datatype\":\"FP32\",\"data\":[[1,2],3]}]}",
              "input 'X': nested data does not match shape [1,28]: an array at depth 0 has 2 "
              "values, the shape says 1");
}

static void oip_outputs_requested(void **state)
{
    struct fx *f = *state;
    const char *in = "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]";
    char json[512];
    struct payload_request r;
    struct cap_error err;
    snprintf(json, sizeof json,
             "%s,\"parameters\":{\"binary_data_output\":true},\"outputs\":[{\"name\":"
             "\"output_probability\",\"parameters\":{\"binary_data\":false}},{\"name\":\"output_label\"}]}",
             in);
    assert_int_equal(oip(f->clf, json, &r, &err), 0);
    assert_true(r.binary_all);
    assert_int_equal(r.n_outputs, 2);
    assert_int_equal(r.outputs[0], 1);
    assert_int_equal(r.outputs[1], 0);
    assert_false(r.binary[0]); /* its own parameter wins */
    assert_true(r.binary[1]);  /* the request's default */
    payload_request_free(&r);
    snprintf(json, sizeof json, "%s,\"outputs\":[{\"name\":\"proba\"}]}", in);
    oip_fails(f->clf, json,
              "unknown output 'proba'; the model's outputs are 'output_label', 'output_probability'");
    snprintf(json, sizeof json, "%s,\"outputs\":[{\"name\":\"output_label\"},{\"name\":\"output_label\"}]}", in);
    oip_fails(f->clf, json, "output 'output_label' is asked for twice");
    snprintf(json, sizeof json,
             "%s,\"outputs\":[{\"name\":\"output_label\",\"parameters\":{\"classification\":2}}]}", in);
    oip_fails(f->clf, json, "output 'output_label': the classification extension is not supported");
    snprintf(json, sizeof json, "%s,\"outputs\":[{\"name\":\"output_label\",\"parameters\":{\"binary_data\":\"yes\"}}]}", in);
    oip_fails(f->clf, json, "output 'output_label': binary_data must be true or false");
}

/* ---------------- OIP binary tensors ---------------- */

struct body {
    struct cap_buf b;
    size_t json_len;
};

static void le32(struct cap_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    cap_buf_append(b, x, 4);
}

static void oip_binary_every_datatype(void **state)
{
    struct fx *f = *state;
    /* two rows of everything, all binary; f is [2,3] */
    struct cap_buf js, bin;
    cap_buf_init(&js);
    cap_buf_init(&bin);
    uint8_t b[2] = {1, 7}; /* 7 reads as true */
    uint8_t u8[2] = {0, 255};
    uint16_t u16[2] = {1, 65535};
    uint32_t u32[2] = {2, 4000000000u};
    uint64_t u64[2] = {3, 18446744073709551615ull};
    int8_t i8[2] = {-1, 127};
    int16_t i16[2] = {-2, 300};
    int32_t i32[2] = {-3, 70000};
    int64_t i64[2] = {-4, 9007199254740993ll}; /* past 2^53: fine in binary */
    uint16_t h[2] = {0x3c00, 0xc000};
    float fl[6] = {1, 2, 3, 4, 5, 6};
    double d[2] = {0.25, -1e-300};
    const void *raw[12] = {b, u8, u16, u32, u64, i8, i16, i32, i64, h, fl, d};
    size_t sz[12] = {2, 2, 4, 8, 16, 2, 4, 8, 16, 4, 24, 16};
    cap_buf_puts(&js, "{\"inputs\":[");
    for (int i = 0; i < 12; i++) {
        cap_buf_printf(&js, "{\"name\":\"%s\",\"shape\":[2%s],\"datatype\":\"%s\","
                            "\"parameters\":{\"binary_data_size\":%zu}},",
                       all_types[i].name, i == 10 ? ",3" : "", payload_oip_datatype(all_types[i].type),
                       sz[i]);
        cap_buf_append(&bin, raw[i], sz[i]);
    }
    size_t s0 = bin.len;
    le32(&bin, 3);
    cap_buf_append(&bin, "abc", 3);
    le32(&bin, 0);
    cap_buf_printf(&js, "{\"name\":\"s\",\"shape\":[2],\"datatype\":\"BYTES\",\"parameters\":"
                        "{\"binary_data_size\":%zu}}]}",
                   bin.len - s0);
    size_t jl = js.len;
    cap_buf_append(&js, bin.data, bin.len);
    struct payload_request r;
    struct cap_error err = {0};
    if (payload_parse_oip(f->all, js.data, js.len, jl, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.rows, 2);
    for (int i = 0; i < 12; i++) {
        if (i == 0) {
            assert_memory_equal(r.inputs[0].data, "\1\1", 2);
            continue;
        }
        assert_int_equal(r.inputs[i].nbytes, sz[i]);
        assert_memory_equal(r.inputs[i].data, raw[i], sz[i]);
    }
    char **s = r.inputs[12].data;
    assert_string_equal(s[0], "abc");
    assert_string_equal(s[1], "");

    /* the runtime passes them through, and the answer in binary gives the
     * same bytes back */
    infer_tensor outs[N_TYPES];
    run_model(f->all, &r, outs);
    r.binary_all = true;
    struct cap_buf out;
    cap_buf_init(&out);
    size_t json_len = 0;
    assert_int_equal(payload_write_oip(f->all, &r, "all", NULL, outs, N_TYPES, &out, &json_len, &err), 0);
    assert_true(json_len > 0 && json_len < out.len);
    assert_int_equal(out.len - json_len, bin.len - 2 + 2); /* BOOL normalised, same size */
    assert_memory_equal(out.data + json_len + 2, bin.data + 2, bin.len - 2);
    assert_memory_equal(out.data + json_len, "\1\1", 2);
    assert_non_null(strstr(out.data, "{\"name\":\"o_s\",\"datatype\":\"BYTES\",\"shape\":[2],"
                                     "\"parameters\":{\"binary_data_size\":11}}"));
    assert_non_null(strstr(out.data, "{\"name\":\"o_h\",\"datatype\":\"FP16\",\"shape\":[2],"
                                     "\"parameters\":{\"binary_data_size\":4}}"));
    /* and in JSON */
    cap_buf_reset(&out);
    r.binary_all = false;
    assert_int_equal(payload_write_oip(f->all, &r, "all", "3", outs, N_TYPES, &out, &json_len, &err), 0);
    assert_int_equal(json_len, 0);
    assert_int_equal(out.len, strlen(out.data));
    static const char *const want[] = {
        "{\"name\":\"o_b\",\"datatype\":\"BOOL\",\"shape\":[2],\"data\":[true,true]}",
        "{\"name\":\"o_u64\",\"datatype\":\"UINT64\",\"shape\":[2],\"data\":[3,18446744073709551615]}",
        "{\"name\":\"o_i64\",\"datatype\":\"INT64\",\"shape\":[2],\"data\":[-4,9007199254740993]}",
        "{\"name\":\"o_h\",\"datatype\":\"FP16\",\"shape\":[2],\"data\":[1,-2]}",
        "{\"name\":\"o_f\",\"datatype\":\"FP32\",\"shape\":[2,3],\"data\":[1,2,3,4,5,6]}",
        "{\"name\":\"o_d\",\"datatype\":\"FP64\",\"shape\":[2],\"data\":[0.25,-1e-300]}",
        "{\"name\":\"o_s\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"abc\",\"\"]}",
        "{\"model_name\":\"all\",\"model_version\":\"3\",\"outputs\":[{\"name\":\"o_b\"",
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if (!strstr(out.data, want[k]))
            fail_msg("%s\nlacks %s", out.data, want[k]);
    cap_buf_free(&out);
    release(outs, N_TYPES);
    payload_request_free(&r);
    cap_buf_free(&js);
    cap_buf_free(&bin);
}

static int oip_bin(const infer_model *m, const char *json, const void *bin, size_t n,
                   struct payload_request *r, struct cap_error *err)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, json);
    cap_buf_append(&b, bin, n);
    memset(err, 0, sizeof *err);
    int rc = payload_parse_oip(m, b.data, b.len, strlen(json), r, err);
    cap_buf_free(&b);
    return rc;
}

static void oip_bin_fails(const infer_model *m, const char *json, const void *bin, size_t n,
                          const char *msg)
{
    struct payload_request r;
    struct cap_error err;
    int rc = oip_bin(m, json, bin, n, &r, &err);
    if (rc != -CAP_EINVAL || strcmp(err.msg, msg) != 0)
        fail_msg("request %s\n  rc %d\n  got      \"%s\"\n  expected \"%s\"", json, rc, err.msg, msg);
    assert_null(r.inputs);
}

static void oip_binary_errors(void **state)
{
    struct fx *f = *state;
    float x[3] = {1, 2, 3};
    const char *j12 = "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,3],\"datatype\":\"FP32\","
                      "\"parameters\":{\"binary_data_size\":12}},{\"name\":\"Z\",\"shape\":[1],"
                      "\"datatype\":\"FP32\",\"data\":[0]}]}";
    struct payload_request r;
    struct cap_error err;
    /* JSON and binary inputs mix */
    assert_int_equal(oip_bin(f->fixed, j12, x, 12, &r, &err), 0);
    assert_memory_equal(r.inputs[0].data, x, 12);
    payload_request_free(&r);
    oip_bin_fails(f->fixed, j12, x, 8,
                  "input 'X': binary_data_size 12 goes past the end of the body (8 bytes of "
                  "binary data left)");
    uint8_t more[16] = {0};
    oip_bin_fails(f->fixed, j12, more, 16,
                  "the body has 16 bytes of binary data after the JSON, but the inputs' "
                  "binary_data_size add up to 12");
    oip_bin_fails(f->fixed,
                  "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,3],\"datatype\":\"FP32\","
                  "\"parameters\":{\"binary_data_size\":8}}]}",
                  x, 8, "input 'X': shape [1,3] of FP32 needs 12 bytes of binary data, binary_data_size is 8");
    oip_bin_fails(f->fixed,
                  "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,3],\"datatype\":\"FP32\","
                  "\"parameters\":{\"binary_data_size\":12},\"data\":[1,2,3]}]}",
                  x, 12, "input 'X' has both \"data\" and binary_data_size");
    oip_bin_fails(f->fixed,
                  "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,3],\"datatype\":\"FP32\","
                  "\"parameters\":{\"binary_data_size\":-1}}]}",
                  x, 12, "input 'X': binary_data_size must be a non-negative integer");
    /* no header: the whole body is JSON, so binary sizes mean nothing */
    oip_fails(f->fixed,
              "{\"inputs\":[{\"name\":\"X\",\"shape\":[1,3],\"datatype\":\"FP32\","
              "\"parameters\":{\"binary_data_size\":12}}]}",
              "input 'X' has binary_data_size but the request has no "
              "Inference-Header-Content-Length header saying where the JSON ends");
    /* the header longer than the body */
    memset(&err, 0, sizeof err);
    assert_int_equal(payload_parse_oip(f->fixed, "{}", 2, 3, &r, &err), -CAP_EINVAL);
    assert_string_equal(err.msg, "Inference-Header-Content-Length is 3 but the body has only 2 bytes");
    /* BYTES elements */
    const char *js = "{\"inputs\":[{\"name\":\"s\",\"shape\":[2],\"datatype\":\"BYTES\","
                     "\"parameters\":{\"binary_data_size\":%d}}]}";
    char json[256];
    uint8_t cut[] = {3, 0, 0, 0, 'a', 'b', 'c', 2, 0};
    snprintf(json, sizeof json, js, (int)sizeof cut);
    struct payload_request r2;
    /* the other 12 inputs are missing, but the BYTES error comes first */
    assert_int_equal(oip_bin(f->all, json, cut, sizeof cut, &r2, &err), -CAP_EINVAL);
    assert_string_equal(err.msg, "input 's': BYTES element 1 is cut off: its length needs 4 bytes, 2 are left");
    uint8_t longer[] = {3, 0, 0, 0, 'a', 'b', 'c', 200, 0, 0, 0, 'x'};
    snprintf(json, sizeof json, js, (int)sizeof longer);
    oip_bin_fails(f->all, json, longer, sizeof longer,
                  "input 's': BYTES element 1 says 200 bytes, 1 are left");
    uint8_t extra[] = {1, 0, 0, 0, 'a', 1, 0, 0, 0, 'b', 'z'};
    snprintf(json, sizeof json, js, (int)sizeof extra);
    oip_bin_fails(f->all, json, extra, sizeof extra,
                  "input 's': 1 bytes of binary data are left after its 2 BYTES elements "
                  "(binary_data_size 11)");
    uint8_t nul[] = {1, 0, 0, 0, 'a', 2, 0, 0, 0, 'b', 0};
    snprintf(json, sizeof json, js, (int)sizeof nul);
    oip_bin_fails(f->all, json, nul, sizeof nul,
                  "input 's': BYTES element 1 contains a NUL byte, which this model's string "
                  "input cannot hold");
    uint8_t few[] = {1, 0, 0};
    snprintf(json, sizeof json, js, (int)sizeof few);
    oip_bin_fails(f->all, json, few, sizeof few,
                  "input 's': shape [2] needs 2 BYTES elements, binary_data_size 3 cannot hold them");
}

/* ---------------- OIP answers ---------------- */

static void oip_write_json(void **state)
{
    struct fx *f = *state;
    struct payload_request r;
    struct cap_error err;
    assert_int_equal(oip(f->dense, "{\"id\":\"a\\\"b\\u0001\",\"inputs\":[{\"name\":\"X\",\"shape\":[1,28],"
                                   "\"datatype\":\"FP32\",\"data\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]}",
                         &r, &err),
                     0);
    float y[4] = {0.1f, NAN, -INFINITY, 16777216.0f};
    infer_tensor out = {.kind = INFER_KIND_TENSOR, .type = INFER_FLOAT, .ndim = 2, .dims = {2, 2},
                        .data = y, .nbytes = sizeof y};
    struct cap_buf b;
    cap_buf_init(&b);
    size_t jl = 99;
    assert_int_equal(payload_write_oip(f->dense, &r, "dense", "1", &out, 1, &b, &jl, &err), 0);
    assert_int_equal(jl, 0);
    assert_string_equal(b.data,
                        "{\"model_name\":\"dense\",\"model_version\":\"1\",\"id\":\"a\\\"b\\u0001\","
                        "\"outputs\":[{\"name\":\"Y\",\"datatype\":\"FP32\",\"shape\":[2,2],"
                        "\"data\":[0.100000001,\"NaN\",\"-Infinity\",16777216]}]}");
    /* the printed value reads back as the same float */
    assert_true(strtof("0.100000001", NULL) == 0.1f);
    /* a binary answer */
    cap_buf_reset(&b);
    r.binary_all = true;
    assert_int_equal(payload_write_oip(f->dense, &r, "dense", NULL, &out, 1, &b, &jl, &err), 0);
    const char *hdr = "{\"model_name\":\"dense\",\"id\":\"a\\\"b\\u0001\",\"outputs\":[{\"name\":\"Y\","
                      "\"datatype\":\"FP32\",\"shape\":[2,2],\"parameters\":{\"binary_data_size\":16}}]}";
    assert_int_equal(jl, strlen(hdr));
    assert_memory_equal(b.data, hdr, jl);
    assert_int_equal(b.len, jl + 16);
    assert_memory_equal(b.data + jl, y, 16);
    cap_buf_free(&b);
    payload_request_free(&r);
}

static void oip_classifier_end_to_end(void **state)
{
    struct fx *f = *state;
    struct payload_request r;
    struct cap_error err;
    /* softmax([0, ln 3]) = [0.25, 0.75] */
    assert_int_equal(oip(f->clf, "{\"inputs\":[{\"name\":\"X\",\"shape\":[2,2],\"datatype\":\"FP32\","
                                 "\"data\":[[0,1.0986123],[2,0]]}],\"outputs\":[{\"name\":"
                                 "\"output_probability\"},{\"name\":\"output_label\"}]}",
                         &r, &err),
                     0);
    infer_tensor outs[2];
    run_model(f->clf, &r, outs);
    assert_int_equal(outs[1].kind, INFER_KIND_SEQ_MAP);
    struct cap_buf b;
    cap_buf_init(&b);
    size_t jl;
    assert_int_equal(payload_write_oip(f->clf, &r, "iris", "2", outs, 2, &b, &jl, &err), 0);
    /* ZipMap goes out as its FP32 [rows, classes] view; asked order kept */
    char want[512];
    snprintf(want, sizeof want,
             "{\"model_name\":\"iris\",\"model_version\":\"2\",\"outputs\":[{\"name\":"
             "\"output_probability\",\"datatype\":\"FP32\",\"shape\":[2,2],\"data\":[%.9g,%.9g,%.9g,%.9g]},"
             "{\"name\":\"output_label\",\"datatype\":\"BYTES\",\"shape\":[2],\"data\":[\"dog\",\"cat\"]}]}",
             ((float *)outs[1].data)[0], ((float *)outs[1].data)[1], ((float *)outs[1].data)[2],
             ((float *)outs[1].data)[3]);
    assert_string_equal(b.data, want);
    assert_true(fabsf(((float *)outs[1].data)[1] - 0.75f) < 1e-5f);
    cap_buf_free(&b);
    release(outs, 2);
    payload_request_free(&r);
}

/* ---------------- MLflow scoring ---------------- */

static void scoring_content_types(void **state)
{
    struct fx *f = *state;
    const char *body = "{\"inputs\": [[1, 2]]}";
    static const char *const ok[] = {"application/json", "application/json; charset=utf-8",
                                     "Application/JSON;charset=UTF-8", "application/json;",
                                     "application/json; charset=\"utf-8\""};
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        struct payload_request r;
        struct cap_error err;
        if (scoring(f->clf, ok[k], body, &r, &err) != 0)
            fail_msg("%s: %s", ok[k], err.msg);
        assert_int_equal(r.format, PAYLOAD_INPUTS);
        payload_request_free(&r);
    }
    scoring_fails(f->clf, NULL, body, CAP_EMEDIA,
                  "the request has no Content-Type; send application/json or text/csv");
    scoring_fails(f->clf, "text/plain", body, CAP_EMEDIA,
                  "Content-Type 'text/plain' is not supported; send application/json or text/csv");
    scoring_fails(f->clf, "application/vnd.apache.parquet", body, CAP_EMEDIA,
                  "Content-Type 'application/vnd.apache.parquet' is not supported; send "
                  "application/json or text/csv");
    scoring_fails(f->clf, "application/json; charset=latin-1", body, CAP_EMEDIA,
                  "charset 'latin-1' is not supported; only utf-8");
    scoring_fails(f->clf, "application/json; format=pandas-split", body, CAP_EMEDIA,
                  "Content-Type parameter 'format' is not supported; the only parameter allowed "
                  "is charset=utf-8");
    scoring_fails(f->clf, "text/csv; header=present", "a,b\n1,2\n", CAP_EMEDIA,
                  "Content-Type parameter 'header' is not supported; the only parameter allowed "
                  "is charset=utf-8");
}

static void assert_floats(const struct payload_request *r, int i, const float *want, int n)
{
    assert_int_equal(r->inputs[i].type, INFER_FLOAT);
    assert_int_equal(r->inputs[i].nbytes, (size_t)n * sizeof(float));
    for (int k = 0; k < n; k++)
        if (!(fdata(r, i)[k] == want[k] || (isnan(want[k]) && isnan(fdata(r, i)[k]))))
            fail_msg("element %d: %g, expected %g", k, fdata(r, i)[k], want[k]);
}

static void scoring_frames_single_input(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *ct, *body;
        enum payload_format fmt;
    } cases[] = {
        {"application/json", "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, 2.5], [3, null]], \"index\": [7, 8]}}", PAYLOAD_SPLIT},
        {"application/json", "{\"dataframe_split\": {\"data\": [[1, 2.5], [3, null]]}}", PAYLOAD_SPLIT},
        {"application/json", "{\"dataframe_records\": [{\"a\": 1, \"b\": 2.5}, {\"a\": 3}]}", PAYLOAD_RECORDS},
        {"application/json", "{\"dataframe_records\": [{\"a\": 1, \"b\": 2.5}, {\"b\": null, \"a\": 3}]}", PAYLOAD_RECORDS},
        {"text/csv", "a,b\n1,2.5\n3,\n", PAYLOAD_CSV},
        {"text/csv; charset=utf-8", "\xef\xbb\xbf\"a\",\"b\"\r\n1,\" 2.5\"\r\n\r\n3,NaN", PAYLOAD_CSV},
        {"application/json", "{\"instances\": [[1, 2.5], [3, null]]}", PAYLOAD_INSTANCES},
        {"application/json", "{\"inputs\": [[1, 2.5], [3, \"NaN\"]], \"params\": {}}", PAYLOAD_INPUTS},
        {"application/json", "{\"inputs\": {\"X\": [[1, 2.5], [3, null]]}}", PAYLOAD_INPUTS},
        {"application/json", "{\"instances\": [{\"X\": [1, 2.5]}, {\"X\": [3, null]}]}", PAYLOAD_INSTANCES},
        {"application/json", "{\"instances\": {\"X\": [[1, 2.5], [3, null]]}, \"params\": null}", PAYLOAD_INSTANCES},
    };
    const float want[4] = {1, 2.5f, 3, NAN};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct payload_request r;
        struct cap_error err;
        if (scoring(f->clf, cases[k].ct, cases[k].body, &r, &err) != 0)
            fail_msg("%s: %s", cases[k].body, err.msg);
        assert_int_equal(r.format, cases[k].fmt);
        assert_int_equal(r.rows, 2);
        assert_int_equal(r.n_inputs, 1);
        assert_int_equal(r.inputs[0].ndim, 2);
        assert_int_equal(r.inputs[0].dims[0], 2);
        assert_int_equal(r.inputs[0].dims[1], 2);
        assert_floats(&r, 0, want, 4);
        payload_request_free(&r);
    }
}

static void scoring_errors(void **state)
{
    struct fx *f = *state;
    const char *J = "application/json";
    const int E = CAP_EBADREQ;
    scoring_fails(f->clf, J, "{\"dataframe_split\": {\"columns\": [\"a\", \"b\", \"c\"], \"data\": [[1, 2, 3]]}}", E,
                  "the frame has 3 columns; the model's input 'X' has shape [-1,2] and takes 2");
    scoring_fails(f->clf, "text/csv", ",a,b\n0,1,2\n", E,
                  "the frame has 3 columns; the model's input 'X' has shape [-1,2] and takes 2 "
                  "(the first column has no name: is it the index? write the CSV with index=False)");
    scoring_fails(f->clf, J, "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, 2], [3]]}}", E,
                  "dataframe_split data[1] has 1 values for 2 columns");
    scoring_fails(f->clf, J, "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, \"x\"]]}}", E,
                  "row 0, column 'b': \"x\" is not a number; the model's input 'X' is FP32");
    scoring_fails(f->clf, J, "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"]}}", E,
                  "dataframe_split needs \"data\": an array of rows");
    scoring_fails(f->clf, J, "{\"dataframe_records\": [{\"a\": 1, \"b\": 2}, {\"a\": 1, \"c\": 2}]}", E,
                  "the frame has 3 columns; the model's input 'X' has shape [-1,2] and takes 2");
    scoring_fails(f->clf, J, "{\"dataframe_records\": [5]}", E,
                  "dataframe_records[0] must be an object {column: value}");
    scoring_fails(f->clf, "text/csv", "a,b\n1,2\n3\n", E, "CSV row 1 has 1 fields; the header has 2");
    scoring_fails(f->clf, "text/csv", "a,b\n1,2x\n", E,
                  "row 0, column 'b': \"2x\" is not a number; the model's input 'X' is FP32");
    scoring_fails(f->clf, "text/csv", "a,b\n1,\"2\n", E, "CSV row 0 has an unterminated or misplaced quote");
    scoring_fails(f->clf, "text/csv", "a,b\n1,0x10\n", E,
                  "row 0, column 'b': \"0x10\" is not a number; the model's input 'X' is FP32");
    scoring_fails(f->clf, "text/csv", "\n\n", E, "the CSV is empty; it needs a header row and data rows");
    scoring_fails(f->clf, J, "{\"inputs\": [[1, 2, 3]]}", E,
                  "input 'X' has shape [1,3]; the model expects [-1,2] (dimension 1 must be 2)");
    scoring_fails(f->clf, J, "{\"inputs\": [1, 2]}", E,
                  "input 'X' has shape [2] (rank 1); the model expects rank 2, [-1,2]");
    scoring_fails(f->clf, J, "{\"inputs\": [[1, 2], [3]]}", E,
                  "input 'X': the nested arrays are not rectangular (an array at depth 1 has 1 "
                  "values, the first has 2)");
    scoring_fails(f->clf, J, "{\"inputs\": [[1, 2], [3, \"a\"]]}", E,
                  "input 'X': element 3 (\"a\") is not a number; the model's input is FP32");
    scoring_fails(f->clf, J, "{\"inputs\": {\"Y\": [[1, 2]]}}", E,
                  "inputs has 'Y', which is not an input of the model; its inputs are 'X'");
    scoring_fails(f->clf, J, "{\"inputs\": 5}", E,
                  "\"inputs\" must be an array (one input) or an object {input: values}");
    scoring_fails(f->clf, J, "{\"instances\": [{\"X\": [1, 2]}, {\"Z\": [1, 2]}]}", E,
                  "instances[1] has 'Z', which is not an input of the model; its inputs are 'X'");
    scoring_fails(f->clf, J, "{\"inputs\": [[1, 2]], \"instances\": [[1, 2]]}", E,
                  "the input must be a JSON object with exactly one of the fields dataframe_split, "
                  "dataframe_records, instances, inputs; received the fields ['inputs', 'instances']");
    scoring_fails(f->clf, J, "{\"data\": [[1, 2]]}", E,
                  "the input must be a JSON object with exactly one of the fields dataframe_split, "
                  "dataframe_records, instances, inputs; received the fields ['data']");
    scoring_fails(f->clf, J, "[[1, 2]]", E,
                  "the input must be a JSON object with exactly one of the fields dataframe_split, "
                  "dataframe_records, instances, inputs; received a list");
    scoring_fails(f->clf, J, "{\"inputs\": [[1, 2]], \"params\": {\"temperature\": 0.5}}", E,
                  "params are not supported: an ONNX model takes no inference parameters (got "
                  "'temperature')");
    scoring_fails(f->clf, J, "{\"inputs\": [[1, 2]], \"params\": 3}", E, "\"params\" must be an object");
    scoring_fails(f->clf, J, "{\"inputs\": [[1, 2]", E, "the request is not valid JSON (error at byte 17)");
    scoring_fails(f->clf, J, "{\"inputs\": [[1, 2]]}\n,", E, "the request is not valid JSON (error at byte 21)");
    scoring_fails(f->dense, J, "{\"dataframe_split\": {\"columns\": [], \"data\": [[]]}}", E,
                  "the frame has no columns; the model's input 'X' needs [-1,28]");
}

/* several inputs: one column per input, by name, every datatype */
static void scoring_frames_multi_input(void **state)
{
    struct fx *f = *state;
    const char *cols = "\"b\",\"u8\",\"u16\",\"u32\",\"u64\",\"i8\",\"i16\",\"i32\",\"i64\",\"h\",\"f\",\"d\",\"s\",\"extra\"";
    const char *row0 = "true,1,2,3,4,-5,-6,-7,-8,0.5,[1,2,3],0.25,\"x\",\"ignored\"";
    const char *row1 = "false,255,65535,4294967295,9007199254740991,127,32767,2147483647,9007199254740991,-2,[4,5,6],1e300,\"\",7";
    char body[1024];
    snprintf(body, sizeof body, "{\"dataframe_split\": {\"columns\": [%s], \"data\": [[%s], [%s]]}}", cols, row0, row1);
    struct payload_request r;
    struct cap_error err;
    if (scoring(f->all, "application/json", body, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.format, PAYLOAD_SPLIT);
    assert_int_equal(r.n_inputs, N_TYPES);
    assert_int_equal(r.rows, 2);
    assert_memory_equal(r.inputs[0].data, "\1\0", 2);
    assert_int_equal(((uint8_t *)r.inputs[1].data)[1], 255);
    assert_true(((uint64_t *)r.inputs[4].data)[1] == 9007199254740991ull);
    assert_int_equal(((int8_t *)r.inputs[5].data)[0], -5);
    assert_int_equal(((int32_t *)r.inputs[7].data)[1], INT32_MAX);
    assert_int_equal(((uint16_t *)r.inputs[9].data)[0], 0x3800);
    assert_int_equal(((uint16_t *)r.inputs[9].data)[1], 0xc000);
    assert_int_equal(r.inputs[10].ndim, 2);
    assert_int_equal(r.inputs[10].dims[1], 3);
    const float fw[6] = {1, 2, 3, 4, 5, 6};
    assert_floats(&r, 10, fw, 6);
    assert_string_equal(((char **)r.inputs[12].data)[0], "x");
    assert_string_equal(((char **)r.inputs[12].data)[1], "");
    payload_request_free(&r);

    /* the same through CSV (no list cells there: f is left out, so it fails) */
    assert_int_equal(scoring(f->all, "text/csv",
                             "s,b,u8,u16,u32,u64,i8,i16,i32,i64,h,d\n\"a,\"\"b\"\"\",True,1,2,3,"
                             "18446744073709551615,-5,-6,-7,-9223372036854775808,0.5,1e-300\n",
                             &r, &err),
                     -CAP_EBADREQ);
    assert_string_equal(err.msg, "column 'f' is missing: the model has several inputs ('b', 'u8', "
                                 "'u16', 'u32', 'u64', 'i8', 'i16', 'i32', 'i64', 'h', 'f', 'd', "
                                 "'s') and takes one column for each, by name");
    /* records with a missing float value get NaN; a missing string is an error */
    snprintf(body, sizeof body,
             "{\"dataframe_records\": [{\"b\":true,\"u8\":1,\"u16\":1,\"u32\":1,\"u64\":1,\"i8\":1,"
             "\"i16\":1,\"i32\":1,\"i64\":1,\"h\":1,\"f\":[1,2,3],\"s\":\"q\"},"
             "{\"s\":\"t\",\"f\":[4,5,6],\"h\":2,\"i64\":2,\"i32\":2,\"i16\":2,\"i8\":2,\"u64\":2,"
             "\"u32\":2,\"u16\":2,\"u8\":2,\"b\":false,\"d\":0.5}]}");
    if (scoring(f->all, "application/json", body, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.format, PAYLOAD_RECORDS);
    assert_true(isnan(((double *)r.inputs[11].data)[0]));
    assert_true(((double *)r.inputs[11].data)[1] == 0.5);
    assert_string_equal(((char **)r.inputs[12].data)[1], "t");
    assert_floats(&r, 10, fw, 6);
    payload_request_free(&r);
    /* no record has the column at all: it is missing, not NaN */
    snprintf(body, sizeof body,
             "{\"dataframe_records\": [{\"b\":true,\"u8\":1,\"u16\":1,\"u32\":1,\"u64\":1,\"i8\":1,"
             "\"i16\":1,\"i32\":1,\"i64\":1,\"h\":1,\"f\":[1,2,3],\"s\":\"q\"}]}");
    assert_int_equal(scoring(f->all, "application/json", body, &r, &err), -CAP_EBADREQ);
    assert_true(strncmp(err.msg, "column 'd' is missing", 21) == 0);
    snprintf(body, sizeof body,
             "{\"dataframe_records\": [{\"b\":true,\"u8\":1,\"u16\":1,\"u32\":1,\"u64\":1,\"i8\":1,"
             "\"i16\":1,\"i32\":1,\"i64\":1,\"h\":1,\"f\":[1,2,3],\"d\":1,\"s\":\"q\"}, {\"s\":\"r\"}]}");
    scoring_fails(f->all, "application/json", body, CAP_EBADREQ,
                  "dataframe_records[1] has no value for column 'b'");
    snprintf(body, sizeof body,
             "{\"dataframe_records\": [{\"b\":true,\"u8\":1,\"u16\":1,\"u32\":1,\"u64\":1,\"i8\":1,"
             "\"i16\":1,\"i32\":1,\"i64\":1,\"h\":1,\"f\":[1,2],\"d\":1,\"s\":\"q\"}]}");
    scoring_fails(f->all, "application/json", body, CAP_EBADREQ,
                  "row 0, column 'f': [1,2] has 2 values, the input takes 3 per row; the model's "
                  "input 'f' is FP32");
    snprintf(body, sizeof body,
             "{\"dataframe_records\": [{\"b\":1,\"u8\":1,\"u16\":1,\"u32\":1,\"u64\":1,\"i8\":1,"
             "\"i16\":1,\"i32\":1,\"i64\":1,\"h\":1,\"f\":[1,2,3],\"d\":1,\"s\":\"q\"}]}");
    scoring_fails(f->all, "application/json", body, CAP_EBADREQ,
                  "row 0, column 'b': 1 is not a boolean; the model's input 'b' is BOOL");
}

static void scoring_csv_every_type(void **state)
{
    (void)state;
    /* a model with only rank-1 inputs of each CSV-able type */
    struct pb g = {0};
    for (int i = 0; i < N_TYPES; i++) {
        if (i == 10)
            continue;
        node(&g, "Identity", NULL, all_types[i].name, all_types[i].out, NULL, NULL);
        value_info(&g, 11, all_types[i].name, all_types[i].type, 1, N_);
    }
    for (int i = 0; i < N_TYPES; i++)
        if (i != 10)
            value_info(&g, 12, all_types[i].out, all_types[i].type, 1, N_);
    infer_model *m = finish(&g);
    struct payload_request r;
    struct cap_error err;
    const char *csv = "s,b,u8,u16,u32,u64,i8,i16,i32,i64,h,d\n"
                      "\"a,\"\"b\"\"\",True,1,2,3,18446744073709551615,-5,-6,-7,-9223372036854775808,0.5,1e-300\n"
                      "plain,0,255,65535,4294967295,0,127,32767,2147483647,9223372036854775807,-inf,\n";
    if (scoring(m, "text/csv", csv, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.rows, 2);
    assert_string_equal(((char **)r.inputs[11].data)[0], "a,\"b\"");
    assert_string_equal(((char **)r.inputs[11].data)[1], "plain");
    assert_memory_equal(r.inputs[0].data, "\1\0", 2);
    assert_true(((uint64_t *)r.inputs[4].data)[0] == UINT64_MAX); /* exact: no double between */
    assert_true(((int64_t *)r.inputs[8].data)[0] == INT64_MIN);
    assert_true(((int64_t *)r.inputs[8].data)[1] == INT64_MAX);
    assert_int_equal(((uint16_t *)r.inputs[9].data)[1], 0xfc00);
    assert_true(((double *)r.inputs[10].data)[0] == 1e-300);
    assert_true(isnan(((double *)r.inputs[10].data)[1]));
    payload_request_free(&r);
    scoring_fails(m, "text/csv",
                  "s,b,u8,u16,u32,u64,i8,i16,i32,i64,h,d\nx,1,256,0,0,0,0,0,0,0,0,0\n", CAP_EBADREQ,
                  "row 0, column 'u8': \"256\" is out of range; the model's input 'u8' is UINT8");
    scoring_fails(m, "text/csv",
                  "s,b,u8,u16,u32,u64,i8,i16,i32,i64,h,d\nx,1,0,0,0,0,0,0,0,1.0,0,0\n", CAP_EBADREQ,
                  "row 0, column 'i64': \"1.0\" is not an integer; the model's input 'i64' is INT64");
    scoring_fails(m, "text/csv",
                  "s,b,u8,u16,u32,u64,i8,i16,i32,i64,h,d\nx,yes,0,0,0,0,0,0,0,0,0,0\n", CAP_EBADREQ,
                  "row 0, column 'b': \"yes\" is not a boolean; the model's input 'b' is BOOL");
    scoring_fails(m, "text/csv",
                  "s,b,u8,u16,u32,u64,i8,i16,i32,i64,h,d\nx,1,0,0,0,18446744073709551616,0,0,0,0,0,0\n",
                  CAP_EBADREQ,
                  "row 0, column 'u64': \"18446744073709551616\" is out of range; the model's input "
                  "'u64' is UINT64");
    infer_model_free(m);
}

static void scoring_answers(void **state)
{
    struct fx *f = *state;
    struct payload_request r;
    struct cap_error err;
    struct cap_buf b;
    cap_buf_init(&b);
    infer_tensor outs[2];
    char want[600];
    /* a frame: one record per row, the ZipMap row as {label: p} */
    assert_int_equal(scoring(f->clf, "application/json",
                             "{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[0, 1.0986123], [2, 0]]}}",
                             &r, &err),
                     0);
    run_model(f->clf, &r, outs);
    assert_int_equal(payload_write_scoring(f->clf, &r, outs, 2, &b, &err), 0);
    const float *p = outs[1].data;
    snprintf(want, sizeof want,
             "{\"predictions\":[{\"output_label\":\"dog\",\"output_probability\":{\"cat\":%.9g,\"dog\":%.9g}},"
             "{\"output_label\":\"cat\",\"output_probability\":{\"cat\":%.9g,\"dog\":%.9g}}]}",
             p[0], p[1], p[2], p[3]);
    assert_string_equal(b.data, want);
    release(outs, 2);
    payload_request_free(&r);

    /* tensor input: a dict of outputs (MLflow's onnx flavor), maps as a list */
    cap_buf_reset(&b);
    assert_int_equal(scoring(f->clf_int, "application/json", "{\"inputs\": [[0, 1.0986123]]}", &r, &err), 0);
    run_model(f->clf_int, &r, outs);
    assert_int_equal(payload_write_scoring(f->clf_int, &r, outs, 2, &b, &err), 0);
    p = outs[1].data;
    snprintf(want, sizeof want,
             "{\"predictions\":{\"output_label\":[1],\"output_probability\":[{\"0\":%.9g,\"1\":%.9g}]}}",
             p[0], p[1]);
    assert_string_equal(b.data, want);
    release(outs, 2);
    payload_request_free(&r);

    /* [rows, 1] is a scalar per record, [rows, k] a list; NaN as MLflow writes it */
    cap_buf_reset(&b);
    assert_int_equal(scoring(f->dense, "text/csv", "a\n1\n", &r, &err), -CAP_EBADREQ);
    r.format = PAYLOAD_RECORDS;
    r.rows = 2;
    float y1[2] = {0.5f, NAN}, y2[4] = {1, 2, INFINITY, 4};
    infer_tensor o1 = {.type = INFER_FLOAT, .ndim = 2, .dims = {2, 1}, .data = y1};
    infer_tensor o2 = {.type = INFER_FLOAT, .ndim = 2, .dims = {2, 2}, .data = y2};
    assert_int_equal(payload_write_scoring(f->dense, &r, &o1, 1, &b, &err), 0);
    assert_string_equal(b.data, "{\"predictions\":[{\"Y\":0.5},{\"Y\":NaN}]}");
    cap_buf_reset(&b);
    assert_int_equal(payload_write_scoring(f->dense, &r, &o2, 1, &b, &err), 0);
    assert_string_equal(b.data, "{\"predictions\":[{\"Y\":[1,2]},{\"Y\":[Infinity,4]}]}");
    cap_buf_reset(&b);
    r.format = PAYLOAD_INSTANCES;
    assert_int_equal(payload_write_scoring(f->dense, &r, &o2, 1, &b, &err), 0);
    assert_string_equal(b.data, "{\"predictions\":{\"Y\":[[1,2],[Infinity,4]]}}");
    /* a frame answer needs one row per input row */
    cap_buf_reset(&b);
    r.format = PAYLOAD_CSV;
    r.rows = 3;
    assert_int_equal(payload_write_scoring(f->dense, &r, &o2, 1, &b, &err), -CAP_EBADREQ);
    assert_string_equal(err.msg, "output 'Y' has shape [2,2], not one row per input row (3), so "
                                 "it cannot be a column of the answer; send {\"inputs\": ...} instead");
    cap_buf_free(&b);
}

/* ---------------- shared pieces ---------------- */

static void json_data_and_metadata(void **state)
{
    struct fx *f = *state;
    struct cap_buf b;
    cap_buf_init(&b);
    int64_t v[6] = {1, -2, 3, 4, 5, INT64_MIN};
    infer_tensor t = {.type = INFER_INT64, .ndim = 3, .dims = {1, 2, 3}, .data = v};
    payload_write_json_data(&b, &t);
    assert_string_equal(b.data, "[[[1,-2,3],[4,5,-9223372036854775808]]]");
    cap_buf_reset(&b);
    double d[2] = {NAN, -0.0};
    infer_tensor td = {.type = INFER_DOUBLE, .ndim = 1, .dims = {2}, .data = d};
    payload_write_json_data(&b, &td);
    assert_string_equal(b.data, "[\"NaN\",-0]");
    cap_buf_reset(&b);
    const char *s[2] = {"\xff\xfe", "\xe2\x82\xac\n"}; /* not UTF-8; a euro sign */
    infer_tensor ts = {.type = INFER_STRING, .ndim = 1, .dims = {2}, .data = s};
    payload_write_json_data(&b, &ts);
    assert_string_equal(b.data, "[\"\\ufffd\\ufffd\",\"\xe2\x82\xac\\n\"]");
    cap_buf_free(&b);

    const char *versions[2] = {"1", "2"};
    cJSON *md = payload_oip_metadata(f->clf, "iris", versions, 2);
    char *txt = cJSON_PrintUnformatted(md);
    assert_string_equal(txt, "{\"name\":\"iris\",\"versions\":[\"1\",\"2\"],\"platform\":\"onnx\","
                             "\"inputs\":[{\"name\":\"X\",\"datatype\":\"FP32\",\"shape\":[-1,2]}],"
                             "\"outputs\":[{\"name\":\"output_label\",\"datatype\":\"BYTES\",\"shape\":[-1]},"
                             "{\"name\":\"output_probability\",\"datatype\":\"FP32\",\"shape\":[-1,-1]}]}");
    free(txt);
    cJSON_Delete(md);

    for (int i = 0; i < N_TYPES; i++)
        assert_int_equal(payload_infer_type(payload_oip_datatype(all_types[i].type)), all_types[i].type);
    assert_null(payload_oip_datatype(INFER_UNDEFINED));
    assert_int_equal(payload_infer_type("BF16"), -1);
    assert_int_equal(payload_infer_type("fp32"), -1);
    assert_int_equal(payload_infer_type(NULL), -1);
}

static void fp16_conversion(void **state)
{
    (void)state;
    struct pb g = {0};
    node(&g, "Identity", NULL, "H", "O", NULL, NULL);
    value_info(&g, 11, "H", INFER_FLOAT16, 1, N_);
    value_info(&g, 12, "O", INFER_FLOAT16, 1, N_);
    infer_model *m = finish(&g);
    /* every non-NaN half, written as JSON and read back: the same bits */
    static uint16_t all[0x10000];
    int64_t n = 0;
    for (uint32_t h = 0; h < 0x10000; h++)
        if (!((h & 0x7c00) == 0x7c00 && (h & 0x3ff)))
            all[n++] = (uint16_t)h;
    infer_tensor t = {.type = INFER_FLOAT16, .ndim = 1, .dims = {n}, .data = all};
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "{\"inputs\":[{\"name\":\"H\",\"shape\":[%lld],\"datatype\":\"FP16\",\"data\":",
                   (long long)n);
    payload_write_json_data(&b, &t);
    cap_buf_puts(&b, "}]}");
    struct payload_request r;
    struct cap_error err;
    if (oip(m, b.data, &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_memory_equal(r.inputs[0].data, all, (size_t)n * 2);
    payload_request_free(&r);
    cap_buf_free(&b);
    /* FP32 values rounding to FP16: nearest, ties to even, subnormals */
    const char *json = "{\"inputs\":[{\"name\":\"H\",\"shape\":[10],\"datatype\":\"FP16\",\"data\":"
                       "[1, -2, 65504, 65519, 5.9604644775390625e-08, 2.98e-08, 3.0e-08, 0.1, -0, "
                       "1.00048828125]}]}";
    const uint16_t want[10] = {0x3c00, 0xc000, 0x7bff, 0x7bff, 0x0001, 0x0000, 0x0001, 0x2e66,
                               0x8000, 0x3c00};
    assert_int_equal(oip(m, json, &r, &err), 0);
    assert_memory_equal(r.inputs[0].data, want, sizeof want);
    payload_request_free(&r);
    oip_fails(m, "{\"inputs\":[{\"name\":\"H\",\"shape\":[1],\"datatype\":\"FP16\",\"data\":[65520]}]}",
              "input 'H': element 0 (65520) is out of range; the datatype is FP16");
    infer_model_free(m);
}

/* ---------------- the fast path (payload/fast.c) ---------------- */

/* one input "x" of the type, shape dims (ndim -1: none declared), passed
 * through as "y" */
static infer_model *single_model(int type, int ndim, const int64_t *dims)
{
    struct pb g = {0};
    node(&g, "Identity", NULL, "x", "y", NULL, NULL);
    value_info(&g, 11, "x", type, ndim, dims);
    value_info(&g, 12, "y", type, ndim, dims);
    return finish(&g);
}

/* i64 INT64 [N], i32 INT32 [N, 2], d FP64 [N, 3], h FP16 [N], u8 UINT8 [N] */
static infer_model *numeric_model(void)
{
    static const struct {
        const char *in, *out;
        int type, ndim;
        int64_t dims[2];
    } io[] = {{"i64", "o_i64", INFER_INT64, 1, {-1}},   {"i32", "o_i32", INFER_INT32, 2, {-1, 2}},
              {"d", "o_d", INFER_DOUBLE, 2, {-1, 3}},   {"h", "o_h", INFER_FLOAT16, 1, {-1}},
              {"u8", "o_u8", INFER_UINT8, 1, {-1}}};
    struct pb g = {0};
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++)
        node(&g, "Identity", NULL, io[i].in, io[i].out, NULL, NULL);
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++)
        value_info(&g, 11, io[i].in, io[i].type, io[i].ndim, io[i].dims);
    for (size_t i = 0; i < sizeof io / sizeof io[0]; i++)
        value_info(&g, 12, io[i].out, io[i].type, io[i].ndim, io[i].dims);
    return finish(&g);
}

/* everything a parse fills in, bit for bit (NaN payloads and -0 included) */
static void assert_same_request(const struct payload_request *a, const struct payload_request *b,
                                const char *body)
{
    bool same = a->format == b->format && a->n_inputs == b->n_inputs && a->rows == b->rows &&
                a->n_outputs == b->n_outputs && a->binary_all == b->binary_all &&
                !a->id == !b->id && (!a->id || strcmp(a->id, b->id) == 0);
    for (int i = 0; same && i < a->n_inputs; i++) {
        const infer_tensor *x = &a->inputs[i], *y = &b->inputs[i];
        same = x->kind == y->kind && x->type == y->type && x->ndim == y->ndim &&
               x->nbytes == y->nbytes && x->owned == y->owned &&
               memcmp(x->dims, y->dims, sizeof x->dims) == 0;
        if (same && x->type == INFER_STRING) {
            char *const *sx = x->data, *const *sy = y->data;
            for (size_t k = 0; same && k < x->nbytes / sizeof(char *); k++)
                same = !sx[k] == !sy[k] && (!sx[k] || strcmp(sx[k], sy[k]) == 0);
        } else if (same && x->nbytes) {
            same = memcmp(x->data, y->data, x->nbytes) == 0;
        }
    }
    for (int k = 0; same && k < a->n_outputs; k++)
        same = a->outputs[k] == b->outputs[k] && a->binary[k] == b->binary[k];
    if (!same)
        fail_msg("the fast path and the general path differ on %s", body);
}

enum { DECLINES = 0, HANDLES = 1, EITHER = 2 };

/* Runs the fast path, the general path and payload_parse_oip on an exact
 * copy of body (no NUL after it, so ASan sees any read past the end): the
 * fast path must do what `expect` says, agree with the general path when it
 * handles the body, and payload_parse_oip must answer as the general path
 * does (the same error message, or the same request). */
static void check_fast(const infer_model *m, bool is_oip, const char *body, int expect)
{
    size_t len = strlen(body);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, body, len);
    struct payload_request rf, rg, rp;
    struct cap_error eg = {0}, ep = {0};
    int fast, rcg, rcp;
    if (is_oip) {
        fast = payload_fast_oip(m, copy, len, &rf);
        rcg = payload_parse_oip_general(m, copy, len, 0, &rg, &eg);
        rcp = payload_parse_oip(m, copy, len, 0, &rp, &ep);
    } else {
        fast = payload_fast_scoring(m, copy, len, &rf);
        rcg = payload_parse_scoring_general(m, "application/json", copy, len, &rg, &eg);
        rcp = payload_parse_scoring(m, "application/json", copy, len, &rp, &ep);
    }
    if (expect != EITHER && fast != expect)
        fail_msg("the fast path %s %s (the general path: %s)", fast ? "handled" : "declined",
                 body, rcg ? eg.msg : "ok");
    if (fast == 1) {
        if (rcg != 0)
            fail_msg("the fast path handled %s, which the general path refuses: %s", body, eg.msg);
        assert_same_request(&rf, &rg, body);
    } else {
        assert_int_equal(fast, 0);
        assert_null(rf.inputs);
        assert_null(rf.id);
        assert_null(rf.outputs);
        assert_int_equal(rf.n_inputs, 0);
    }
    if (rcp != rcg || ep.code != eg.code || strcmp(ep.msg, eg.msg) != 0)
        fail_msg("%s: payload_parse gives %d \"%s\", the general path %d \"%s\"", body, rcp,
                 ep.msg, rcg, eg.msg);
    if (rcg == 0)
        assert_same_request(&rp, &rg, body);
    payload_request_free(&rf);
    payload_request_free(&rg);
    payload_request_free(&rp);
    free(copy);
}

#define OIP_X(data) "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":" data "}]}"

/* the body profiled in production, flat and nested, and MLflow's */
static void fast_handles_common_bodies(void **state)
{
    struct fx *f = *state;
    static const char *const v =
        "1.000615, -0.1074021, 0.3318923, -1.2010377, 0.0153881, 2.4413019, -0.7777441, "
        "0.4452113, -0.0005533, 1.8844120, -2.0011734, 0.9932215, 0.1199942, -0.6654129, "
        "0.2221093, -1.4441287, 0.5553312, 0.0000719, -0.3322114, 1.1112233, -0.9988776, "
        "0.7766554, -0.4433221, 0.3344556, -0.1122334, 0.6677889, -0.8899001, 0.0123456";
    char body[1024];
    snprintf(body, sizeof body,
             "{\"inputs\": [{\"name\": \"X\", \"shape\": [1, 28], \"datatype\": \"FP32\", "
             "\"data\": [%s]}]}", v);
    check_fast(f->dense, true, body, HANDLES);
    snprintf(body, sizeof body,
             "{\"id\": \"42\", \"inputs\": [{\"name\": \"X\", \"shape\": [1, 28], \"datatype\": "
             "\"FP32\", \"data\": [[%s]]}], \"outputs\": [{\"name\": \"Y\"}]}", v);
    check_fast(f->dense, true, body, HANDLES);
    snprintf(body, sizeof body, "{\"inputs\": [[%s]]}", v);
    check_fast(f->dense, false, body, HANDLES);
    snprintf(body, sizeof body, "{\"instances\": [[%s]]}", v);
    check_fast(f->dense, false, body, HANDLES);
    /* and through the public entry points: the same tensors */
    struct payload_request r;
    struct cap_error err;
    assert_int_equal(scoring(f->dense, "application/json", body, &r, &err), 0);
    assert_int_equal(r.format, PAYLOAD_INSTANCES);
    assert_int_equal(r.rows, 1);
    assert_true(fdata(&r, 0)[0] == 1.000615f && fdata(&r, 0)[27] == 0.0123456f);
    payload_request_free(&r);
    /* several rows past the first pass's buffer: read twice */
    char *json = dense_request(40, 40 * 28, true, NULL);
    check_fast(f->dense, true, json, HANDLES);
    free(json);
    json = dense_request(40, 40 * 28, false, ",\"outputs\":[]");
    check_fast(f->dense, true, json, HANDLES);
    free(json);
}

#define SPACED                                                                                   \
    " \t\r\n{ \"id\" : \"a\" , \"inputs\" : [ { \"name\" : \"x\" , \"shape\" : [ 1 , 3 ] , "             \
    "\"datatype\" : \"FP32\" , \"data\" : [ [ 1 , 2 , 3 ] ] } ] , \"outputs\" : [ ] } \n"

static void fast_oip_agrees(void **state)
{
    (void)state;
    int64_t d3[2] = {-1, 3};
    infer_model *m = single_model(INFER_FLOAT, 2, d3);
    static const char *const handled[] = {
        OIP_X("[1,2,3]"),
        OIP_X("[[1,2,3]]"),
        OIP_X("[0.1,-0.0,1e-45]"),
        OIP_X("[1e400,-1e400,1e-400]"),            /* strtod: +-inf, 0 */
        OIP_X("[123456789012345678901,9007199254740993,3.4028234663852886e38]"),
        OIP_X("[3.4028235e38,-3.4028234663852886e38,1.4e-45]"),
        OIP_X("[1E5,2.5e-3,0e10]"),
        OIP_X("[1e+2,-0,0.30000000000000004]"),
        OIP_X("[1e22,1e23,12345678901234567890]"),
        OIP_X("[0.000000000000000000000000000001,1234567890123456789,0.1e1]"),
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP32\",\"data\":[[1,2,3],[4,5,6]]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[2,3],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5,6]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[0,3],\"datatype\":\"FP32\",\"data\":[]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[0,3],\"datatype\":\"FP32\",\"data\":[]}],\"id\":null}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1.0,3e0],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"id\":\"\",\"inputs\":[{\"data\":[1,2,3],\"datatype\":\"FP32\",\"shape\":[1,3],\"name\":\"x\"}]}",
        "{\"id\":\"h\xc3\xa9 \xff\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        SPACED,
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}],"
        "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}],"
        "\"outputs\":[{\"parameters\":null,\"name\":\"y\"}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}],"
        "\"outputs\":null}",
    };
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        check_fast(m, true, handled[i], HANDLES);
    /* the general path takes these; the fast path leaves them to it */
    static const char *const general_only[] = {
        OIP_X("[01,2,3]"), OIP_X("[1.,2,3]"), OIP_X("[-.5,2,3]"), OIP_X("[\"NaN\",2,3]"),
        OIP_X("[1,2,1234567890123456789012345678901234567890123456789012345678901234567890]"),
        OIP_X("[1,2,3\x01]"), "\xef\xbb\xbf" OIP_X("[1,2,3]"),
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}],\"foo\":1}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3],\"parameters\":{}}]}",
        "{\"parameters\":{},\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"id\":\"a\\nb\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"id\":\"a\",\"id\":\"b\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"inputs\":[{\"name\":\"\\u0078\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}],"
        "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"foo\":1}}]}",
    };
    for (size_t i = 0; i < sizeof general_only / sizeof general_only[0]; i++)
        check_fast(m, true, general_only[i], DECLINES);
    /* errors: declined, and the general path's message is unchanged */
    static const char *const bad[] = {
        OIP_X("[.5,2,3]"), OIP_X("[+1,2,3]"), OIP_X("[-,2,3]"), OIP_X("[1e,2,3]"),
        OIP_X("[1e+,2,3]"), OIP_X("[NaN,2,3]"), OIP_X("[Infinity,2,3]"), OIP_X("[1,2,3,]"),
        OIP_X("[1,2]"), OIP_X("[1,2,3,4]"), OIP_X("[[1,2],[3]]"), OIP_X("[[1,2,3],4]"),
        OIP_X("[1,2,3e39]"), OIP_X("[1,2,null]"), OIP_X("[1,2,true]"), OIP_X("[[[1,2,3]]]"),
        OIP_X("[1 2 3]"), OIP_X("[1,,2,3]"), OIP_X("{}"), OIP_X("[1,2,[3]]"),
        OIP_X("[1,2,3]") "x", OIP_X("[1,2,3]") "}", "", " ", "{", "[]", "{}", "{\"inputs\":[]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP64\",\"data\":[1,2,3]}]}",
        "{\"inputs\":[{\"name\":\"z\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[-1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1.5,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\"}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]},"
        "{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"id\":5,\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}],"
        "\"outputs\":[{\"name\":\"q\"}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}],"
        "\"outputs\":[{\"name\":\"y\"},{\"name\":\"y\"}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2,3]}],"
        "\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":1}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_fast(m, true, bad[i], DECLINES);
    /* every prefix of a good body is refused, and read no further than its end */
    const char *good = SPACED;
    for (size_t n = 0; n < strlen(good) - 2; n++) {
        char *cut = strndup(good, n);
        check_fast(m, true, cut, DECLINES);
        free(cut);
    }
    /* a bad value past the first pass's buffer (element 599 of 600) */
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, "{\"inputs\":[{\"name\":\"x\",\"shape\":[200,3],\"datatype\":\"FP32\",\"data\":[");
    for (int i = 0; i < 599; i++)
        cap_buf_printf(&b, "%d.25,", i);
    cap_buf_puts(&b, "1e39]}]}");
    check_fast(m, true, b.data, DECLINES);
    cap_buf_free(&b);
    infer_model_free(m);

    /* other element types, several inputs */
    m = numeric_model();
    static const char *const num_fmt =
        "{\"inputs\":[{\"name\":\"i64\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[%s]},"
        "{\"name\":\"i32\",\"shape\":[2,2],\"datatype\":\"INT32\",\"data\":[%s]},"
        "{\"name\":\"d\",\"shape\":[2,3],\"datatype\":\"FP64\",\"data\":[%s]},"
        "{\"name\":\"h\",\"shape\":[2],\"datatype\":\"FP16\",\"data\":[%s]},"
        "{\"name\":\"u8\",\"shape\":[2],\"datatype\":\"UINT8\",\"data\":[%s]}]}";
    static const struct {
        const char *i64, *i32, *d, *h, *u8;
        int expect;
    } nums[] = {
        {"1,-5", "[1,2],[3,4]", "0.1,-0.0,1e-320,4.9e-324,2.2250738585072014e-308,1e308", "1,0.5", "0,255", HANDLES},
        {"9007199254740991,-9007199254740991", "2147483647,-2147483648,1.0,1e3", "[1,2,3],[4,5,6]", "65504,-0", "1e2,2", HANDLES},
        {"1e15,-0", "0,0,0,0", "123456789012345678901,9007199254740993,1e400,-1e400,1e-400,0.30000000000000004", "1e-8,3e-8", "0,0", HANDLES},
        {"9007199254740992,1", "0,0,0,0", "1,2,3,4,5,6", "1,1", "1,1", DECLINES},   /* beyond 2^53 */
        {"1.5,1", "0,0,0,0", "1,2,3,4,5,6", "1,1", "1,1", DECLINES},                 /* not an integer */
        {"1,1", "2147483648,0,0,0", "1,2,3,4,5,6", "1,1", "1,1", DECLINES},          /* out of range */
        {"1,1", "0,0,0,0", "1,2,3,4,5,6", "65520,1", "1,1", DECLINES},               /* FP16 range */
        {"1,1", "0,0,0,0", "1,2,3,4,5,6", "1,1", "256,1", DECLINES},
        {"1e400,1", "0,0,0,0", "1,2,3,4,5,6", "1,1", "-1,1", DECLINES},
        {"1,1", "0,0,0", "1,2,3,4,5,6", "1,1", "1,1", DECLINES},
    };
    char body[1024];
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        snprintf(body, sizeof body, num_fmt, nums[i].i64, nums[i].i32, nums[i].d, nums[i].h,
                 nums[i].u8);
        check_fast(m, true, body, nums[i].expect);
    }
    /* rows must agree across inputs */
    check_fast(m, true,
               "{\"inputs\":[{\"name\":\"i64\",\"shape\":[2],\"datatype\":\"INT64\",\"data\":[1,1]},"
               "{\"name\":\"i32\",\"shape\":[2,2],\"datatype\":\"INT32\",\"data\":[0,0,0,0]},"
               "{\"name\":\"d\",\"shape\":[2,3],\"datatype\":\"FP64\",\"data\":[1,2,3,4,5,6]},"
               "{\"name\":\"h\",\"shape\":[2],\"datatype\":\"FP16\",\"data\":[1,1]},"
               "{\"name\":\"u8\",\"shape\":[1],\"datatype\":\"UINT8\",\"data\":[1]}]}",
               DECLINES);
    infer_model_free(m);

    /* BOOL and BYTES inputs are the general path's */
    struct fx *f = *state;
    char *json = all_types_json(good_vals, NULL);
    check_fast(f->all, true, json, DECLINES);
    free(json);
}

#define IN_X(data) "{\"inputs\": " data "}"

static void fast_scoring_agrees(void **state)
{
    (void)state;
    int64_t d3[2] = {-1, 3};
    infer_model *m = single_model(INFER_FLOAT, 2, d3);
    static const char *const handled[] = {
        IN_X("[[1,2,3]]"), IN_X("[[1,2,3],[4,5,6]]"), IN_X("[[null,0.1,-0.0]]"),
        IN_X("[[1e400,1e-400,123456789012345678901]]"), IN_X("{\"x\": [[1,2,3]]}"),
        "{\"instances\": [[1,2,3]]}", "{\"instances\": {\"x\": [[1,2,3]]}}",
        "{\"inputs\": [[1,2,3]], \"params\": {}}", "{\"params\": null, \"inputs\": [[1,2,3]]}",
        " {\"inputs\":[ [ 1 , 2 , 3 ] ] }\n",
    };
    for (size_t i = 0; i < sizeof handled / sizeof handled[0]; i++)
        check_fast(m, false, handled[i], HANDLES);
    static const char *const general_only[] = {
        IN_X("[[1,2,\"NaN\"]]"), IN_X("[[01,2,3]]"), "{\"inputs\": [[1,2,3]], \"foo\": 1}",
        "{\"dataframe_split\": {\"columns\": [\"a\",\"b\",\"c\"], \"data\": [[1,2,3]]}}",
        "{\"dataframe_records\": [{\"a\": 1, \"b\": 2, \"c\": 3}]}",
        "{\"instances\": [{\"x\": [1,2,3]}]}", IN_X("{\"\\u0078\": [[1,2,3]]}"),
    };
    for (size_t i = 0; i < sizeof general_only / sizeof general_only[0]; i++)
        check_fast(m, false, general_only[i], DECLINES);
    static const char *const bad[] = {
        IN_X("[[1,2]]"), IN_X("[1,2,3]"), IN_X("[[1,2,3],[4,5]]"), IN_X("[[1,2,3],4]"),
        IN_X("[[[1,2,3]]]"), IN_X("[]"), IN_X("[[]]"), IN_X("[[1,2,3e39]]"), IN_X("[[1,2,3],]"),
        IN_X("[[1,2,true]]"), IN_X("{\"z\": [[1,2,3]]}"), IN_X("5"), IN_X("[[1,2,3]]") "x",
        "{\"inputs\": [[1,2,3]], \"instances\": [[1,2,3]]}", "{\"inputs\": [[1,2,3]], \"params\": 1}",
        "{\"inputs\": [[1,2,3]], \"params\": {\"a\": 1}}",
        "[[1,2,3]]", "{}", "", IN_X("[[[[[[[[[1]]]]]]]]]"),
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_fast(m, false, bad[i], DECLINES);
    infer_model_free(m);

    /* no declared shape: any rank, empty arrays */
    m = single_model(INFER_DOUBLE, -1, NULL);
    static const char *const free_rank[] = {
        IN_X("[]"), IN_X("[[]]"), IN_X("[[], []]"), IN_X("[1]"), IN_X("[[[1,2],[3,4]],[[5,6],[7,8]]]"),
        IN_X("[[[[[[[[1]]]]]]]]"), IN_X("[[0.1, null, 1e-320]]"),
    };
    for (size_t i = 0; i < sizeof free_rank / sizeof free_rank[0]; i++)
        check_fast(m, false, free_rank[i], HANDLES);
    static const char *const free_bad[] = {
        IN_X("[[], [1]]"), IN_X("[[1], []]"), IN_X("[[], 1]"), IN_X("[1, []]"),
        IN_X("[[[[[[[[[1]]]]]]]]]"), IN_X("[[1,2],[3,[4]]]"),
    };
    for (size_t i = 0; i < sizeof free_bad / sizeof free_bad[0]; i++)
        check_fast(m, false, free_bad[i], DECLINES);
    infer_model_free(m);

    /* integers: null is not a number */
    int64_t dn[1] = {-1};
    m = single_model(INFER_INT64, 1, dn);
    check_fast(m, false, IN_X("[1, -2, 3.0, 1e3]"), HANDLES);
    check_fast(m, false, IN_X("[1, null]"), DECLINES);
    check_fast(m, false, IN_X("[1, 0.5]"), DECLINES);
    check_fast(m, false, IN_X("[9007199254740993]"), DECLINES);
    infer_model_free(m);
}

/* xorshift64: the same numbers every run */
static uint64_t next_random(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* a JSON number: 1 to 22 significant digits (past the 19 the fast
 * conversion takes), the point anywhere, leading zeros after "0.",
 * exponents in [-30, 30] written every way JSON allows */
static void random_number(uint64_t *x, char *num)
{
    uint64_t r = next_random(x);
    int digits = 1 + (int)(r % 22), int_digits = (int)((r >> 8) % (uint64_t)(digits + 1));
    size_t k = 0;
    if ((r >> 16) & 1)
        num[k++] = '-';
    if (int_digits == 0) {
        num[k++] = '0';
        num[k++] = '.';
        for (int z = (int)((r >> 40) % 8); z > 0; z--)
            num[k++] = '0';
    }
    for (int d = 0; d < digits; d++) {
        if (d == int_digits && d > 0)
            num[k++] = '.';
        int dig = (int)(next_random(x) % 10);
        num[k++] = (char)('0' + (d == 0 && int_digits > 0 && dig == 0 ? 7 : dig));
    }
    if ((r >> 20) % 3 == 0) {
        static const char *const forms[] = {"e", "E", "e+", "E-", "e-"};
        const char *f = forms[(r >> 24) % 5];
        k += (size_t)sprintf(num + k, "%s%d", f, (int)((r >> 32) % 31));
    }
    num[k] = '\0';
}

/* Many decimal numbers into FP64, where no rounding to float hides a
 * last-bit difference: the fast path's doubles must be strtod's (the
 * general path's), from both passes. */
static void fast_numbers_exact(void **state)
{
    (void)state;
    infer_model *m = single_model(INFER_DOUBLE, -1, NULL);
    uint64_t x = 88172645463325252u;
    for (int body = 0; body < 6; body++) {
        int n = body < 5 ? 400 : 2000; /* the last one is past the first pass's buffer */
        struct cap_buf b, sc;
        cap_buf_init(&b);
        cap_buf_init(&sc);
        cap_buf_printf(&b, "{\"inputs\":[{\"name\":\"x\",\"shape\":[%d],\"datatype\":\"FP64\",\"data\":[", n);
        cap_buf_puts(&sc, "{\"inputs\":[");
        for (int i = 0; i < n; i++) {
            char num[64];
            random_number(&x, num);
            cap_buf_printf(&b, "%s%s", i ? "," : "", num);
            cap_buf_printf(&sc, "%s%s", i ? "," : "", num);
        }
        cap_buf_puts(&b, "]}]}");
        cap_buf_puts(&sc, "]}");
        check_fast(m, true, b.data, HANDLES);
        check_fast(m, false, sc.data, HANDLES);
        cap_buf_free(&b);
        cap_buf_free(&sc);
    }
    infer_model_free(m);
}

/* ---- the prediction log's pack, read back tensor by tensor ---- */

static void put_raw(struct cap_buf *b, const void *p, size_t n)
{
    cap_buf_append(b, p, n);
}

/* A pack of a float [2, 2] tensor "x" and a string [2] tensor "s", written
 * byte by byte after logpack.c's layout comment. */
static void hand_pack(struct cap_buf *b)
{
    uint32_t n = 2, nl = 1;
    int32_t type = INFER_FLOAT, ndim = 2;
    int64_t dims[2] = {2, 2};
    float v[4] = {1.5f, -2, 3, 4};
    uint64_t len = sizeof v;
    put_raw(b, "CPK1", 4);
    put_raw(b, &n, 4);
    put_raw(b, &nl, 4);
    put_raw(b, "x", 1);
    put_raw(b, &type, 4);
    put_raw(b, &ndim, 4);
    put_raw(b, dims, sizeof dims);
    put_raw(b, &len, 8);
    put_raw(b, v, sizeof v);
    type = INFER_STRING;
    ndim = 1;
    len = 4 + 2 + 4 + 0;
    put_raw(b, &nl, 4);
    put_raw(b, "s", 1);
    put_raw(b, &type, 4);
    put_raw(b, &ndim, 4);
    put_raw(b, dims, 8);
    put_raw(b, &len, 8);
    uint32_t l2 = 2, l0 = 0;
    put_raw(b, &l2, 4);
    put_raw(b, "ab", 2);
    put_raw(b, &l0, 4);
}

static int walk_check(void *cls, const char *name, const infer_tensor *t)
{
    int *seen = cls;
    if (*seen == 0) {
        assert_string_equal(name, "x");
        assert_int_equal(t->type, INFER_FLOAT);
        assert_int_equal(t->dims[1], 2);
        assert_true(((const float *)t->data)[0] == 1.5f && ((const float *)t->data)[3] == 4);
    } else {
        assert_string_equal(name, "s");
        assert_string_equal(((char *const *)t->data)[0], "ab");
        assert_string_equal(((char *const *)t->data)[1], "");
    }
    (*seen)++;
    return 0;
}

static int walk_ignore(void *cls, const char *name, const infer_tensor *t)
{
    return 0;
}

static void log_pack_walk(void **state)
{
    struct cap_buf b;
    cap_buf_init(&b);
    hand_pack(&b);
    int seen = 0;
    assert_int_equal(payload_log_walk(b.data, b.len, walk_check, &seen), 0);
    assert_int_equal(seen, 2);
    char *js = payload_log_unpack_json(b.data, b.len);
    assert_string_equal(js, "{\"x\":[[1.5,-2],[3,4]],\"s\":[\"ab\",\"\"]}");
    free(js);
    /* every truncation is refused, none is read past its end */
    for (size_t cut = 0; cut < b.len; cut++) {
        char *copy = cap_xmalloc(cut + 1);
        memcpy(copy, b.data, cut);
        assert_int_equal(payload_log_walk(copy, cut, walk_ignore, NULL), -1);
        free(copy);
    }
    cap_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oip_flat_and_nested),
        cmocka_unit_test(oip_count_and_nesting_errors),
        cmocka_unit_test(oip_datatype_and_shape_errors),
        cmocka_unit_test(oip_every_datatype_json),
        cmocka_unit_test(oip_element_errors),
        cmocka_unit_test(oip_malformed),
        cmocka_unit_test(oip_outputs_requested),
        cmocka_unit_test(oip_binary_every_datatype),
        cmocka_unit_test(oip_binary_errors),
        cmocka_unit_test(oip_write_json),
        cmocka_unit_test(oip_classifier_end_to_end),
        cmocka_unit_test(scoring_content_types),
        cmocka_unit_test(scoring_frames_single_input),
        cmocka_unit_test(scoring_errors),
        cmocka_unit_test(scoring_frames_multi_input),
        cmocka_unit_test(scoring_csv_every_type),
        cmocka_unit_test(scoring_answers),
        cmocka_unit_test(json_data_and_metadata),
        cmocka_unit_test(fp16_conversion),
        cmocka_unit_test(fast_handles_common_bodies),
        cmocka_unit_test(fast_oip_agrees),
        cmocka_unit_test(fast_scoring_agrees),
        cmocka_unit_test(fast_numbers_exact),
        cmocka_unit_test(log_pack_walk),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
