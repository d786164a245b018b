/* test_live.c - the live monitor over a real store, driven by a test clock:
 * windows cut by the rows' timestamps and closed after the grace, exact
 * tests up to exact_rows and profiles beyond, late rows, shadow rows left
 * out, a deployment without a baseline, roll-ups from stored profiles, the
 * gauges, and a restart that neither loses nor recounts a row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "blob/blob.h"
#include "monitor/monitor.h"
#include "payload/payload.h"
#include "store/store.h"
#include "tests/unit/fixture.h"
#include "tests/unit/onnx_fixture.h"

static int64_t clock_ms;

static int64_t test_now(void)
{
    return clock_ms;
}

struct fx {
    char dir[256];
    struct store *st;
    struct blob *bl;
    infer_model *m;
    struct metrics *metrics;
    int hooks;
    int64_t last_hook_id;
};

/* X float [N, 2] -> Identity -> Y float [N, 2]: the outputs are the inputs,
 * so prediction drift follows input drift. */
static infer_model *identity2(void)
{
    struct pb g = {0};
    int64_t d[2] = {-1, 2};
    node(&g, "Identity", NULL, "X", "Y", NULL, NULL);
    value_info(&g, 11, "X", INFER_FLOAT, 2, d);
    value_info(&g, 12, "Y", INFER_FLOAT, 2, d);
    return finish(&g);
}

/* 400 reference rows: f0 and f1 on a grid over [0, 10). */
static void reference(struct mon_frame *f)
{
    size_t n = 400;
    *f = (struct mon_frame){.path = strdup("ref"), .nrows = n, .ncols = 2};
    f->cols = calloc(2, sizeof *f->cols);
    for (int c = 0; c < 2; c++) {
        f->cols[c].name = strdup(c ? "f1" : "f0");
        f->cols[c].dtype = MON_FLOAT;
        f->cols[c].num = malloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++)
            f->cols[c].num[i] = ((double)((i * (c ? 7 : 1)) % n) + 0.5) / (double)n * 10;
    }
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!fixture_tmpdir(f->dir, sizeof f->dir, "live"))
        return -1;
    char path[300];
    snprintf(path, sizeof path, "%s/capstan.db", f->dir);
    f->st = fixture_store_open(path);
    snprintf(path, sizeof path, "%s/artifacts", f->dir);
    struct cap_error err = {0};
    if (blob_open(path, &f->bl, &err) < 0)
        return -1;
    f->m = identity2();
    f->metrics = metrics_new();
    struct mon_frame ref;
    reference(&ref);
    struct mon_baseline_in in = {.target = "deployment:d", .model_name = "m",
                                 .model_version = "1", .model = f->m, .data = &ref};
    cJSON *meta = NULL;
    int rc = mon_baseline_create(f->st, f->bl, &in, &meta, &err);
    if (rc < 0)
        fail_msg("baseline: %s", err.msg);
    cJSON_Delete(meta);
    mon_frame_free(&ref);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    blob_close(f->bl);
    infer_model_free(f->m);
    metrics_free(f->metrics);
    fixture_rm_rf(f->dir);
    free(f);
    return 0;
}

/* Logs one request of n rows at ts: row i is (base + i * step, same). */
static void log_request(struct fx *f, const char *dep, const char *role, int64_t ts, int n,
                        double base, double step)
{
    float *x = malloc((size_t)n * 2 * sizeof *x);
    for (int i = 0; i < n; i++)
        x[2 * i] = x[2 * i + 1] = (float)(base + i * step);
    infer_tensor t = {.type = INFER_FLOAT, .ndim = 2, .dims = {n, 2}, .data = x};
    struct cap_buf in, out;
    cap_buf_init(&in);
    cap_buf_init(&out);
    payload_log_pack(f->m, true, &t, 1, &in);
    payload_log_pack(f->m, false, &t, 1, &out);
    struct store_prediction p = {.timestamp_ms = ts, .deployment = dep, .model_name = "m",
                                 .model_version = "1", .role = role, .inputs = in.data,
                                 .inputs_len = in.len, .outputs = out.data,
                                 .outputs_len = out.len, .agree = -1};
    struct cap_error err = {0};
    assert_int_equal(store_predictions_log(f->st, &p, 1, &err), 0);
    cap_buf_free(&in);
    cap_buf_free(&out);
    free(x);
}

static void on_window(void *cls, const char *dep, int64_t id, const cJSON *w)
{
    struct fx *f = cls;
    assert_true(id > 0);
    assert_int_equal((int64_t)cJSON_GetObjectItem(w, "id")->valuedouble, id);
    f->hooks++;
    f->last_hook_id = id;
}

static struct mon_live *start(struct fx *f, size_t exact_rows)
{
    static const int64_t widths[] = {10, 20};
    struct mon_live_config c = {.store = f->st, .blob = f->bl, .metrics = f->metrics,
                                .widths_s = widths, .nwidths = 2, .grace_ms = 1000,
                                .exact_rows = exact_rows, .on_window = on_window,
                                .on_window_cls = f, .now_ms = test_now};
    struct mon_live *l = NULL;
    struct cap_error err = {0};
    assert_int_equal(mon_live_start(&c, &l, &err), 0);
    return l;
}

static void poll_at(struct mon_live *l, int64_t now)
{
    clock_ms = now;
    struct cap_error err = {0};
    int rc = mon_live_poll(l, &err);
    if (rc < 0)
        fail_msg("poll: %s", err.msg);
}

static cJSON *windows(struct fx *f, const char *dep, int64_t width)
{
    cJSON *out = NULL;
    struct cap_error err = {0};
    assert_int_equal(store_monitor_windows_search(f->st, dep, width, 0, INT64_MAX, 100, false, &out,
                                                  &err),
                     0);
    return out;
}

static const cJSON *result(const cJSON *list, int i)
{
    return cJSON_GetObjectItem(cJSON_GetArrayItem(list, i), "result");
}

static bool flag(const cJSON *w, const char *report, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(w, report), key));
}

static double num(const cJSON *w, const char *key)
{
    return cJSON_GetObjectItem(w, key)->valuedouble;
}

static void test_windows_close_restart_rollup(void **state)
{
    struct fx *f = *state;
    /* window [0, 10 s): five shifted requests of 20 rows, and a shadow one */
    for (int k = 0; k < 5; k++)
        log_request(f, "d", "primary", 1000 + k * 1000, 20, 100, 0.5);
    log_request(f, "d", "shadow", 2500, 20, 100, 0.5);
    struct mon_live *l = start(f, 1000);
    poll_at(l, 9000); /* open: nothing stored */
    cJSON *w = windows(f, "d", 0);
    assert_int_equal(cJSON_GetArraySize(w), 0);
    cJSON_Delete(w);
    poll_at(l, 10999); /* inside the grace */
    w = windows(f, "d", 0);
    assert_int_equal(cJSON_GetArraySize(w), 0);
    cJSON_Delete(w);
    poll_at(l, 11000);
    w = windows(f, "d", 10);
    assert_int_equal(cJSON_GetArraySize(w), 1);
    const cJSON *a = result(w, 0);
    assert_int_equal(num(a, "rows"), 100); /* the shadow's 20 are left out */
    assert_string_equal(cJSON_GetObjectItem(a, "method")->valuestring, "exact");
    assert_true(flag(a, "drift", "dataset_drift"));
    assert_true(flag(a, "prediction_drift", "dataset_drift"));
    assert_int_equal(num(cJSON_GetObjectItem(a, "model_versions"), "m/1"), 100);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(a, "reference"), "target")->valuestring,
        "deployment:d");
    assert_int_equal(f->hooks, 1);
    cJSON_Delete(w);
    struct cap_buf lb;
    cap_buf_init(&lb);
    metrics_label(&lb, "deployment", "d");
    assert_true(metrics_value(metrics_series(f->metrics, "capstan_dataset_drift", lb.data)) == 1);
    /* the exposition Prometheus reads: label lists well formed */
    struct cap_buf text;
    cap_buf_init(&text);
    metrics_render(f->metrics, &text);
    assert_non_null(strstr(text.data, "capstan_feature_drift_score{deployment=\"d\",feature=\"f0\","
                                      "stattest=\"ks\"} "));
    assert_null(strstr(text.data, ",,"));
    assert_null(strstr(text.data, "{,"));
    cap_buf_free(&text);

    /* window [10 s, 20 s): normal rows, and a late shifted request (ts 3 s) */
    for (int k = 0; k < 5; k++)
        log_request(f, "d", "primary", 12000 + k * 1000, 20, 0.25 + k * 0.05, 0.5);
    poll_at(l, 17000);
    log_request(f, "d", "primary", 3000, 2, 100, 0);
    poll_at(l, 18000);
    /* a restart before it closes: its rows are read again, none twice */
    mon_live_stop(l);
    l = start(f, 1000);
    poll_at(l, 19000);
    poll_at(l, 21000);
    w = windows(f, "d", 10);
    assert_int_equal(cJSON_GetArraySize(w), 2);
    const cJSON *b = result(w, 1);
    assert_int_equal(num(b, "start_ms"), 10000);
    assert_int_equal(num(b, "rows"), 102);
    assert_int_equal(num(b, "late_rows"), 2);
    cJSON_Delete(w);

    /* the 20 s window rolls up from the two base windows' profiles */
    w = windows(f, "d", 20);
    assert_int_equal(cJSON_GetArraySize(w), 1);
    const cJSON *r = result(w, 0);
    assert_int_equal(num(r, "rows"), 202);
    assert_string_equal(cJSON_GetObjectItem(r, "method")->valuestring, "profile");
    assert_true(flag(r, "drift", "dataset_drift"));
    assert_int_equal(num(cJSON_GetObjectItem(r, "model_versions"), "m/1"), 202);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(r, "approximation")));
    cJSON_Delete(w);
    assert_int_equal(f->hooks, 3);

    /* a restart after the close: nothing is read twice, nothing stored again */
    mon_live_stop(l);
    l = start(f, 1000);
    int before = f->hooks;
    poll_at(l, 40000);
    assert_int_equal(f->hooks, before);
    w = windows(f, "d", 0);
    assert_int_equal(cJSON_GetArraySize(w), 3);
    cJSON_Delete(w);
    mon_live_stop(l);
    cap_buf_free(&lb);
}

/* A window with more rows than exact_rows is tested from profiles and says
 * which columns are approximate; the same rows in an exact window agree. */
static void test_overflow_uses_profiles(void **state)
{
    struct fx *f = *state;
    for (int k = 0; k < 6; k++)
        log_request(f, "d", "primary", 1000 + k, 50, 0.1 + k * 0.01, 0.19);
    struct mon_live *l = start(f, 120);
    poll_at(l, 11000);
    cJSON *w = windows(f, "d", 10);
    assert_int_equal(cJSON_GetArraySize(w), 1);
    const cJSON *a = result(w, 0);
    assert_int_equal(num(a, "rows"), 300);
    assert_string_equal(cJSON_GetObjectItem(a, "method")->valuestring, "profile");
    assert_false(flag(a, "drift", "dataset_drift"));
    const cJSON *approx = cJSON_GetObjectItem(a, "approximation");
    assert_true(cJSON_GetArraySize(approx) >= 2); /* f0 and f1 at least: K-S from sketches */
    const cJSON *c = cJSON_GetArrayItem(approx, 0);
    assert_string_equal(cJSON_GetObjectItem(c, "method")->valuestring, "sketch");
    cJSON_Delete(w);
    mon_live_stop(l);
}

/* Without a baseline a window still counts its rows and says why it has
 * no tests; it gets one as soon as a baseline exists. */
static void test_without_baseline(void **state)
{
    struct fx *f = *state;
    log_request(f, "nob", "primary", 1000, 7, 1, 1);
    struct mon_live *l = start(f, 1000);
    poll_at(l, 11000);
    cJSON *w = windows(f, "nob", 10);
    assert_int_equal(cJSON_GetArraySize(w), 1);
    const cJSON *a = result(w, 0);
    assert_int_equal(num(a, "rows"), 7);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "reference")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(a, "drift")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(a, "errors")), 1);
    cJSON_Delete(w);
    mon_live_stop(l);
}

static void test_bad_widths(void **state)
{
    struct fx *f = *state;
    struct cap_error err = {0};
    struct mon_live *l = NULL;
    static const int64_t not_multiple[] = {10, 15}, decreasing[] = {20, 10}, zero[] = {0};
    const int64_t *bad[] = {not_multiple, decreasing, zero};
    size_t n[] = {2, 2, 1};
    for (int i = 0; i < 3; i++) {
        struct mon_live_config c = {.store = f->st, .widths_s = bad[i], .nwidths = n[i]};
        assert_int_equal(mon_live_start(&c, &l, &err), -CAP_EINVAL);
        assert_null(l);
        assert_non_null(strstr(err.msg, "widths"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_windows_close_restart_rollup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_uses_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_baseline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_widths, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
