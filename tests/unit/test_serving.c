/* test_serving.c - unit tests for serving's own pieces below HTTP: the
 * deployments and prediction-log tables (store/), deployment specs and
 * model references (serve/spec.c), Prometheus exposition (base/metrics.c)
 * and the prediction log's bounded queue (monitor/predlog.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "monitor/predlog.h"
#include "serve/serve.h"
#include "store/store.h"
#include "tests/unit/fixture.h"

static int setup(void **state)
{
    return fixture_store_setup(state, "serving", "capstan.db", false);
}

static int teardown(void **state)
{
    return fixture_store_teardown(state);
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_deployment_crud(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    cJSON *d = NULL;
    assert_int_equal(store_deployment_create(f->st, "fraud", "{\"model\":\"fraud@champion\"}", &d,
                                             &err),
                     0);
    assert_string_equal(jstr(d, "name"), "fraud");
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(d, "spec"), "model"),
                        "fraud@champion");
    cJSON_Delete(d);
    assert_int_equal(store_deployment_create(f->st, "fraud", "{}", NULL, &err), -CAP_EEXISTS);
    assert_non_null(strstr(err.msg, "already exists"));
    assert_int_equal(store_deployment_create(f->st, "bad name", "{}", NULL, &err), -CAP_EINVAL);
    assert_int_equal(store_deployment_create(f->st, "", "{}", NULL, &err), -CAP_EINVAL);
    assert_int_equal(store_deployment_update(f->st, "fraud", "{\"model\":\"fraud/3\"}", &d, &err),
                     0);
    assert_string_equal(jstr(cJSON_GetObjectItemCaseSensitive(d, "spec"), "model"), "fraud/3");
    cJSON_Delete(d);
    assert_int_equal(store_deployment_update(f->st, "nope", "{}", NULL, &err), -CAP_ENOTFOUND);
    assert_int_equal(store_deployment_create(f->st, "churn", "{\"model\":\"c/1\"}", NULL, &err),
                     0);
    cJSON *list = NULL;
    assert_int_equal(store_deployment_list(f->st, &list, &err), 0);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(jstr(cJSON_GetArrayItem(list, 0), "name"), "churn"); /* by name */
    cJSON_Delete(list);
    assert_int_equal(store_deployment_delete(f->st, "churn", &err), 0);
    assert_int_equal(store_deployment_delete(f->st, "churn", &err), -CAP_ENOTFOUND);
    assert_int_equal(store_deployment_get(f->st, "churn", &d, &err), -CAP_ENOTFOUND);
    assert_null(d);
}

static cJSON *decode(const void *pack, size_t len)
{
    char *s = cap_xstrndup(pack, len);
    cJSON *j = cJSON_CreateString(s);
    free(s);
    return j;
}

static void test_predictions_paging(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    struct store_prediction rows[25];
    for (int i = 0; i < 25; i++)
        rows[i] = (struct store_prediction){
            .timestamp_ms = 1000 + i / 5, /* five rows share each timestamp */
            .deployment = i % 5 == 4 ? "other" : "fraud",
            .model_name = "fraud",
            .model_version = "1",
            .role = "primary",
            .latency_us = i,
            .inputs = "in",
            .inputs_len = 2,
            .outputs = "out",
            .outputs_len = 3,
            .agree = -1,
        };
    assert_int_equal(store_predictions_log(f->st, rows, 25, &err), 0);
    /* 20 rows of fraud, read 7 at a time across equal timestamps */
    char *token = NULL;
    int seen = 0;
    int64_t last = -1;
    do {
        cJSON *out = NULL;
        char *next = NULL;
        assert_int_equal(
            store_predictions_search(f->st, "fraud", 0, -1, 7, token, decode, &out, &next, &err), 0);
        const cJSON *r;
        cJSON_ArrayForEach(r, out)
        {
            int64_t id = (int64_t)cJSON_GetObjectItemCaseSensitive(r, "id")->valuedouble;
            assert_true(id > last);
            last = id;
            assert_string_equal(jstr(r, "deployment"), "fraud");
            /* the store hands the stored bytes to the decoder */
            assert_string_equal(jstr(r, "outputs"), "out");
            assert_string_equal(jstr(r, "inputs"), "in");
            seen++;
        }
        cJSON_Delete(out);
        free(token);
        token = next;
    } while (token);
    assert_int_equal(seen, 20);
    /* a cursor: the rows after an id a reader has seen, in order */
    cJSON *out = NULL;
    assert_int_equal(
        store_predictions_search(f->st, "fraud", 0, last - 3, 100, NULL, decode, &out, NULL, &err),
        0);
    assert_int_equal(cJSON_GetArraySize(out), 3);
    assert_int_equal((int64_t)cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(out, 2), "id")
                         ->valuedouble,
                     last);
    cJSON_Delete(out);
    assert_int_equal(
        store_predictions_search(f->st, "fraud", 0, last, 100, NULL, decode, &out, NULL, &err), 0);
    assert_int_equal(cJSON_GetArraySize(out), 0);
    cJSON_Delete(out);
    assert_int_equal(
        store_predictions_search(f->st, NULL, 1004, -1, 100, NULL, decode, &out, NULL, &err), 0);
    assert_int_equal(cJSON_GetArraySize(out), 5); /* since: only the last timestamp */
    cJSON_Delete(out);
    assert_int_equal(
        store_predictions_search(f->st, NULL, 0, -1, 10, "garbage", decode, &out, NULL, &err),
        -CAP_EINVAL);
    assert_int_equal(store_predictions_search(f->st, NULL, 0, -1, 0, NULL, decode, &out, NULL, &err),
                     -CAP_EINVAL);
    cJSON_Delete(out);
}

struct scan_seen {
    int n;
    int64_t last_id;
    int64_t ts_sum;
};

static int scan_count(void *cls, int64_t id, const struct store_prediction *r,
                      struct cap_error *err)
{
    struct scan_seen *s = cls;
    assert_true(id > s->last_id);
    assert_string_equal(r->model_name, "m");
    assert_int_equal(r->inputs_len, 2);
    assert_memory_equal(r->inputs, "in", 2);
    s->last_id = id;
    s->ts_sum += r->timestamp_ms;
    s->n++;
    return 0;
}

static int scan_fail(void *cls, int64_t id, const struct store_prediction *r,
                     struct cap_error *err)
{
    return cap_err(err, CAP_EINVAL, "stop here");
}

/* The scanning cursor: every row once, in id order, in bounded steps, and
 * a consumer's error stops the scan with that error. */
static void test_predictions_scan(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    struct store_prediction rows[30];
    for (int i = 0; i < 30; i++)
        rows[i] = (struct store_prediction){
            .timestamp_ms = 5000 + i, .deployment = i % 3 ? "a" : "b", .model_name = "m",
            .model_version = "1", .role = "primary", .inputs = "in", .inputs_len = 2,
            .agree = -1};
    assert_int_equal(store_predictions_log(f->st, rows, 20, &err), 0);
    assert_int_equal(store_predictions_log(f->st, rows + 20, 10, &err), 0);
    struct scan_seen s = {.last_id = -1};
    int64_t cursor = -1, prev;
    int steps = 0;
    do {
        prev = cursor;
        assert_int_equal(store_predictions_scan(f->st, NULL, cursor, 7, scan_count, &s, &cursor,
                                                &err),
                         0);
        steps++;
    } while (cursor != prev);
    assert_int_equal(s.n, 30);
    assert_int_equal(steps, 6); /* 7+7+7+7+2, then one that finds nothing */
    assert_int_equal(s.ts_sum, 30 * 5000 + 29 * 30 / 2);
    struct scan_seen b = {.last_id = -1};
    assert_int_equal(store_predictions_scan(f->st, "b", -1, 100, scan_count, &b, &cursor, &err),
                     0);
    assert_int_equal(b.n, 10);
    assert_int_equal(store_predictions_scan(f->st, NULL, -1, 100, scan_fail, NULL, &cursor, &err),
                     -CAP_EINVAL);
    assert_string_equal(err.msg, "stop here");
    assert_int_equal(store_predictions_scan(f->st, NULL, -1, 0, scan_count, &b, &cursor, &err),
                     -CAP_EINVAL);
}

static int profile_sum(void *cls, int64_t start_ms, const void *p, size_t len,
                       struct cap_error *err)
{
    int64_t *sum = cls;
    assert_int_equal(len, 1);
    *sum += start_ms + *(const char *)p;
    return 0;
}

/* Windows and the monitor's state are written together; a window of the
 * same deployment, width and start replaces the earlier one. */
static void test_monitor_windows(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    struct store_window w[3] = {
        {.deployment = "d", .width_s = 60, .start_ms = 0, .end_ms = 60000, .nrows = 5,
         .result_json = "{\"k\":1}", .profile = "\x01", .profile_len = 1},
        {.deployment = "d", .width_s = 60, .start_ms = 60000, .end_ms = 120000, .nrows = 6,
         .result_json = "{\"k\":2}", .profile = "\x02", .profile_len = 1},
        {.deployment = "d", .width_s = 3600, .start_ms = 0, .end_ms = 3600000, .nrows = 11,
         .result_json = "{\"k\":3}"},
    };
    struct store_state_int st[1] = {{"live.cursor", 41}};
    int64_t ids[3];
    assert_int_equal(store_monitor_windows_put(f->st, w, 3, st, 1, ids, &err), 0);
    assert_true(ids[0] < ids[1] && ids[1] < ids[2]);
    int64_t v = 0;
    bool found = false;
    assert_int_equal(store_monitor_state_get(f->st, "live.cursor", &v, &found, &err), 0);
    assert_true(found);
    assert_int_equal(v, 41);
    assert_int_equal(store_monitor_state_get(f->st, "nope", &v, &found, &err), 0);
    assert_false(found);

    w[1].result_json = "{\"k\":4}";
    st[0].value = 42;
    assert_int_equal(store_monitor_windows_put(f->st, w + 1, 1, st, 1, NULL, &err), 0);
    cJSON *out = NULL;
    assert_int_equal(store_monitor_windows_search(f->st, "d", 60, 0, 1000000, 100, false, &out, &err), 0);
    assert_int_equal(cJSON_GetArraySize(out), 2);
    const cJSON *second = cJSON_GetArrayItem(out, 1);
    assert_int_equal(cJSON_GetObjectItem(second, "rows")->valueint, 6);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(second, "result"), "k")->valueint, 4);
    cJSON_Delete(out);
    assert_int_equal(store_monitor_windows_search(f->st, "d", 0, 0, 60000, 100, false, &out, &err), 0);
    assert_int_equal(cJSON_GetArraySize(out), 2); /* both widths starting at 0 */
    cJSON_Delete(out);
    int64_t sum = 0;
    assert_int_equal(
        store_monitor_window_profiles(f->st, "d", 60, 0, 120000, profile_sum, &sum, &err), 0);
    assert_int_equal(sum, 60000 + 1 + 2);
    sum = 0;
    assert_int_equal(
        store_monitor_window_profiles(f->st, "d", 3600, 0, 1e9, profile_sum, &sum, &err), 0);
    assert_int_equal(sum, 0); /* no profile stored */

    struct store_window bad = {.deployment = "d", .width_s = 0, .start_ms = 0, .end_ms = 1,
                               .result_json = "{}"};
    assert_int_equal(store_monitor_windows_put(f->st, &bad, 1, NULL, 0, NULL, &err), -CAP_EINVAL);
    bad.width_s = 60;
    bad.deployment = "no spaces";
    assert_int_equal(store_monitor_windows_put(f->st, &bad, 1, NULL, 0, NULL, &err), -CAP_EINVAL);
    assert_int_equal(store_monitor_windows_search(f->st, "d", 0, 0, 1, 0, false, &out, &err), -CAP_EINVAL);
}

static void log_segments(struct store *st, int n)
{
    struct cap_error err = {0};
    for (int b = 0; b < n; b++) {
        struct store_prediction rows[4];
        for (int i = 0; i < 4; i++)
            rows[i] = (struct store_prediction){.timestamp_ms = 1000 + i, .deployment = "d",
                                                .model_name = "m", .model_version = "1",
                                                .role = "primary", .inputs = "in",
                                                .inputs_len = 2, .agree = -1};
        assert_int_equal(store_predictions_log(st, rows, 4, &err), 0);
    }
}

static int64_t rows_left(struct store *st)
{
    struct cap_error err = {0};
    struct scan_seen s = {.last_id = -1};
    int64_t cursor = -1;
    assert_int_equal(store_predictions_scan(st, NULL, -1, 1000, scan_count, &s, &cursor, &err), 0);
    return s.n;
}

/* A reader's unread rows outlive keep_rows, up to STORE_TRIM_READER_CAP x
 * keep_rows; past that the oldest go and are counted (segments of 4 rows,
 * ids segment << 10 | row). */
static void test_predictions_trim_keeps_unread(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    int64_t lost = -1;
    log_segments(f->st, 10); /* segments 1..10 */
    /* keep 8 rows = segments 9, 10; the reader needs segment 6 on */
    assert_int_equal(store_predictions_trim(f->st, 8, (6 << 10) | 2, &lost, &err), 0);
    assert_int_equal(lost, 0);
    assert_int_equal(rows_left(f->st), 20); /* segments 6..10 */
    log_segments(f->st, 10); /* 11..20 */
    /* the reader read one row of segment 7; the cap (32 rows) keeps 13..20 */
    assert_int_equal(store_predictions_trim(f->st, 8, (7 << 10) | 1, &lost, &err), 0);
    assert_int_equal(lost, 6 * 4 - 1);
    assert_int_equal(rows_left(f->st), 32);
    /* without a reader, keep_rows alone */
    assert_int_equal(store_predictions_trim(f->st, 8, -1, &lost, &err), 0);
    assert_int_equal(lost, 0);
    assert_int_equal(rows_left(f->st), 8);
}

/* Each log call below is one segment of 4 rows; trimming drops whole
 * segments from the oldest and keeps at least the rows asked for. */
static void test_predictions_trim(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    for (int batch = 0; batch < 5; batch++) {
        struct store_prediction rows[4];
        for (int i = 0; i < 4; i++)
            rows[i] = (struct store_prediction){.timestamp_ms = 2000 + batch * 4 + i,
                                                .deployment = "fraud", .model_name = "fraud",
                                                .model_version = "1", .role = "primary",
                                                .agree = -1};
        assert_int_equal(store_predictions_log(f->st, rows, 4, &err), 0);
    }
    assert_int_equal(store_predictions_trim(f->st, 10, -1, NULL, &err), 0);
    cJSON *out = NULL;
    char *next = NULL;
    assert_int_equal(
        store_predictions_search(f->st, NULL, 0, -1, 100, NULL, decode, &out, &next, &err), 0);
    assert_null(next);
    assert_int_equal(cJSON_GetArraySize(out), 12); /* three newest segments: 12 >= 10 rows */
    assert_int_equal(
        (int)cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(out, 0), "timestamp")->valuedouble,
        2008);
    /* absent packs come back as null */
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(out, 0),
                                                              "inputs")));
    cJSON_Delete(out);
    assert_int_equal(store_predictions_trim(f->st, 1, -1, NULL, &err), 0);
    assert_int_equal(
        store_predictions_search(f->st, "fraud", 0, -1, 100, NULL, decode, &out, NULL, &err), 0);
    assert_int_equal(cJSON_GetArraySize(out), 4);
    cJSON_Delete(out);
}

/* Requests with large tensors are cut into more segments before one grows
 * past ~16 MiB (SQLite refuses blobs over 1 GB). */
static void test_predictions_large(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    size_t big = 6u << 20;
    char *in[5];
    struct store_prediction rows[5];
    for (int i = 0; i < 5; i++) {
        in[i] = cap_xmalloc(big);
        memset(in[i], 'a' + i, big); /* no prefix shared with the row before */
        rows[i] = (struct store_prediction){.timestamp_ms = 3000 + i, .deployment = "img",
                                            .model_name = "img", .model_version = "1",
                                            .role = "primary", .inputs = in[i],
                                            .inputs_len = big, .latency_us = i, .agree = -1};
    }
    assert_int_equal(store_predictions_log(f->st, rows, 5, &err), 0);
    for (int i = 0; i < 5; i++)
        free(in[i]);
    cJSON *out = NULL;
    assert_int_equal(
        store_predictions_search(f->st, "img", 0, -1, 10, NULL, NULL, &out, NULL, &err), 0);
    assert_int_equal(cJSON_GetArraySize(out), 5);
    /* three rows (18 MiB) fill the first segment; the other two start a second */
    int64_t seg0 = (int64_t)cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(out, 0), "id")
                       ->valuedouble >> 10;
    for (int i = 0; i < 5; i++) {
        const cJSON *r = cJSON_GetArrayItem(out, i);
        int64_t id = (int64_t)cJSON_GetObjectItemCaseSensitive(r, "id")->valuedouble;
        assert_int_equal(id >> 10, seg0 + (i >= 3));
        assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(r, "latency_us")->valuedouble, i);
    }
    cJSON_Delete(out);
}

/* A database of schema 4 kept its log one row per request: migration 5
 * rewrites those rows as segments, and the API reads them back unchanged. */
/* store_predictions_find's callback: counts the answering rows of "req". */
static int count_found(void *cls, size_t i, const struct store_prediction *row,
                       struct cap_error *err)
{
    assert_int_equal((int)i, 0);
    assert_string_equal(row->request_id, "req");
    assert_string_not_equal(row->role, "shadow");
    (*(int *)cls)++;
    return 0;
}

static void test_predictions_upgrade(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    store_close(f->st);
    f->st = NULL;
    char db[300], sql[2000];
    snprintf(db, sizeof db, "%s/capstan.db", f->dir);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    snprintf(sql, sizeof sql, "%s",
             "DROP TABLE prediction_segments;"
             "DROP TABLE monitor_baselines; DROP TABLE monitor_windows;"
             "DROP TABLE monitor_state; DROP TABLE alert_rules; DROP TABLE alert_events;"
             "DROP TABLE prediction_keys; DROP TABLE feedback_labels;"
             "DROP TABLE feedback_detectors; DROP TABLE feedback_detections;"
             "DROP TABLE review_rules; DROP TABLE review_items;"
             "DROP TABLE data_versions; DROP TABLE data_names; DROP TABLE lineage_events;"
             "DROP TABLE pipeline_schedule_runs; DROP TABLE pipeline_schedules;"
             "DROP TABLE auth_permissions; DROP TABLE auth_users; DROP TABLE auth_tokens;"
             "DROP TABLE leases;"
             "DELETE FROM schema_version WHERE version >= 5;"
             "CREATE TABLE predictions (id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT "
             "NULL, deployment TEXT NOT NULL, model_name TEXT NOT NULL, model_version TEXT NOT "
             "NULL, role TEXT NOT NULL, request_id TEXT, latency_us INTEGER NOT NULL, inputs "
             "BLOB, outputs BLOB, agree INTEGER);"
             "CREATE INDEX predictions_by_deployment_ts ON predictions(deployment, ts, id);"
             "CREATE INDEX predictions_by_ts ON predictions(ts, id);");
    assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    /* 1100 rows: more than one conversion batch and more than a segment */
    assert_int_equal(sqlite3_exec(h, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 0; i < 1100; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO predictions(ts, deployment, model_name, model_version, role, "
                 "request_id, latency_us, inputs, outputs, agree) VALUES (%d, '%s', 'm', '%d', "
                 "'%s', %s, %d, X'696e', %s, %s)",
                 5000 + i, i % 3 ? "a" : "b", 1 + i % 2, i % 7 ? "primary" : "shadow",
                 i % 2 ? "'req'" : "NULL", i, i % 5 ? "X'6f7574'" : "NULL",
                 i % 7 ? "NULL" : i % 2 ? "1" : "0");
        assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
    }
    assert_int_equal(sqlite3_exec(h, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);

    struct store_config cfg = {.uri = db, .artifact_prefix = "mlflow-artifacts:"};
    assert_int_equal(store_open(&cfg, &f->st, &err), 0);
    int seen = 0;
    char *token = NULL;
    do {
        cJSON *out = NULL;
        char *next = NULL;
        assert_int_equal(
            store_predictions_search(f->st, NULL, 0, -1, 300, token, decode, &out, &next, &err), 0);
        const cJSON *r;
        cJSON_ArrayForEach(r, out)
        {
            /* rows come back grouped by deployment per batch: check each by its latency,
             * which was its original position */
            int i = (int)cJSON_GetObjectItemCaseSensitive(r, "latency_us")->valuedouble;
            assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(r, "timestamp")->valuedouble,
                             5000 + i);
            assert_string_equal(jstr(r, "deployment"), i % 3 ? "a" : "b");
            assert_string_equal(jstr(r, "model_version"), i % 2 ? "2" : "1");
            assert_string_equal(jstr(r, "role"), i % 7 ? "primary" : "shadow");
            const cJSON *rid = cJSON_GetObjectItemCaseSensitive(r, "request_id");
            if (i % 2)
                assert_string_equal(rid->valuestring, "req");
            else
                assert_null(rid);
            assert_string_equal(jstr(r, "inputs"), "in");
            if (i % 5)
                assert_string_equal(jstr(r, "outputs"), "out");
            else
                assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "outputs")));
            const cJSON *agree = cJSON_GetObjectItemCaseSensitive(r, "agree");
            if (i % 7)
                assert_null(agree);
            else
                assert_int_equal(cJSON_IsTrue(agree), i % 2);
            seen++;
        }
        cJSON_Delete(out);
        free(token);
        token = next;
    } while (token);
    assert_int_equal(seen, 1100);
    /* migration 7 indexed the converted rows by id: the answering ones with
     * an id (odd i, not a shadow) of deployment b are found, a shadow's not */
    int want_b = 0, found_b = 0;
    for (int i = 0; i < 1100; i++)
        want_b += i % 3 == 0 && i % 2 && i % 7;
    const char *ids[] = {"req", "nope"};
    assert_int_equal(store_predictions_find(f->st, "b", ids, 2, count_found, &found_b, &err), 0);
    assert_int_equal(found_b, want_b);
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_master WHERE name = "
                                           "'predictions_v4'", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
}

static void expect_spec_error(const char *json, const char *fragment)
{
    cJSON *in = cJSON_Parse(json), *out = NULL;
    struct cap_error err = {0};
    assert_non_null(in);
    assert_int_equal(serve_spec_check(in, &out, &err), -CAP_EINVAL);
    assert_null(out);
    if (!strstr(err.msg, fragment))
        fail_msg("spec %s: message '%s' lacks '%s'", json, err.msg, fragment);
    cJSON_Delete(in);
}

static void test_spec_check(void **state)
{
    (void)state;
    cJSON *in = cJSON_Parse("{\"model\":\"fraud@champion\",\"canary\":\"fraud/7\","
                            "\"canary_weight\":25,\"batching\":{\"max_batch_size\":16}}");
    cJSON *out = NULL;
    struct cap_error err = {0};
    assert_int_equal(serve_spec_check(in, &out, &err), 0);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(out, "canary_weight")->valuedouble, 25);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(out, "batching");
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(b, "max_queue_delay_us")->valuedouble,
                     100); /* default filled */
    assert_int_equal(
        (int)cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(out, "log"), "sample")
            ->valuedouble,
        1);
    cJSON_Delete(in);
    cJSON_Delete(out);
    expect_spec_error("{}", "'model' is required");
    expect_spec_error("{\"model\":\"fraud\"}", "NAME@ALIAS or NAME/VERSION");
    expect_spec_error("{\"model\":\"fraud/x\"}", "fraud/x");
    expect_spec_error("{\"model\":\"a/1\",\"canary_weight\":5}", "needs a 'canary'");
    expect_spec_error("{\"model\":\"a/1\",\"canary\":\"a/2\",\"canary_weight\":101}", "0 to 100");
    expect_spec_error("{\"model\":\"a/1\",\"colour\":1}", "Unknown field 'colour'");
    expect_spec_error("{\"model\":\"a/1\",\"batching\":{\"max_batch_size\":0}}", "max_batch_size");
    expect_spec_error("{\"model\":\"a/1\",\"batching\":{\"max_batch_size\":8,"
                      "\"preferred_batch_sizes\":[4,2]}}",
                      "increasing");
    expect_spec_error("{\"model\":\"a/1\",\"log\":{\"sample\":2}}", "from 0");
    expect_spec_error("{\"model\":\"a/1\",\"sticky_header\":\"a b\"}", "header name");
}

static void test_parse_ref(void **state)
{
    (void)state;
    char *n, *a, *v;
    struct cap_error err = {0};
    assert_int_equal(serve_parse_ref("fraud@champion", &n, &a, &v, &err), 0);
    assert_string_equal(n, "fraud");
    assert_string_equal(a, "champion");
    assert_null(v);
    free(n);
    free(a);
    assert_int_equal(serve_parse_ref("fraud/12", &n, &a, &v, &err), 0);
    assert_string_equal(v, "12");
    assert_null(a);
    free(n);
    free(v);
    assert_int_equal(serve_parse_ref("@x", &n, &a, &v, &err), -CAP_EINVAL);
    assert_int_equal(serve_parse_ref("fraud/", &n, &a, &v, &err), -CAP_EINVAL);
    assert_int_equal(serve_parse_ref("", &n, &a, &v, &err), -CAP_EINVAL);
}

/* Both model sources (the local store, a registry over HTTP) pick the
 * version here: the highest of the latest list, and only a READY one. */
static void test_ref_pick(void **state)
{
    (void)state;
    struct cap_error err = {0};
    char *v = NULL;
    assert_true(serve_ref_is_latest("latest", NULL));
    assert_true(serve_ref_is_latest(NULL, "latest"));
    assert_false(serve_ref_is_latest("champion", NULL));
    cJSON *list = cJSON_Parse("[{\"version\": \"9\", \"status\": \"READY\"},"
                              " {\"version\": \"10\", \"status\": \"READY\"},"
                              " {\"version\": \"2\", \"status\": \"READY\"}]");
    assert_int_equal(serve_ref_pick("m", true, list, &v, &err), 0);
    assert_string_equal(v, "10"); /* by number, not by text */
    free(v);
    cJSON_Delete(list);
    list = cJSON_Parse("[]");
    assert_int_equal(serve_ref_pick("m", true, list, &v, &err), -CAP_ENOTFOUND);
    assert_string_equal(err.msg, "Registered model 'm' has no READY version");
    assert_null(v);
    cJSON_Delete(list);
    cJSON *mv = cJSON_Parse("{\"version\": \"3\", \"status\": \"FAILED_REGISTRATION\"}");
    assert_int_equal(serve_ref_pick("m", false, mv, &v, &err), -CAP_EINVAL);
    assert_string_equal(err.msg, "Model version m/3 is FAILED_REGISTRATION, not READY");
    assert_null(v);
    cJSON_Delete(mv);
}

static void test_metrics_exposition(void **state)
{
    (void)state;
    struct metrics *m = metrics_new();
    static const double bounds[] = {0.001, 0.01};
    metrics_declare(m, "t_requests_total", METRICS_COUNTER, "Requests.", NULL, 0);
    metrics_declare(m, "t_seconds", METRICS_HISTOGRAM, "Latency.", bounds, 2);
    struct cap_buf l;
    cap_buf_init(&l);
    metrics_label(&l, "deployment", "a\"b");
    metrics_label(&l, "version", "1");
    struct metrics_series *c = metrics_series(m, "t_requests_total", l.data);
    assert_ptr_equal(c, metrics_series(m, "t_requests_total", l.data)); /* same series */
    metrics_add(c, 2);
    metrics_add(c, 1);
    struct metrics_series *h = metrics_series(m, "t_seconds", "");
    metrics_observe(h, 0.0005);
    metrics_observe(h, 0.005);
    metrics_observe(h, 5);
    assert_null(metrics_series(m, "undeclared", ""));
    struct cap_buf out;
    cap_buf_init(&out);
    metrics_render(m, &out);
    assert_non_null(strstr(out.data, "# TYPE t_requests_total counter\n"));
    assert_non_null(strstr(out.data, "t_requests_total{deployment=\"a\\\"b\",version=\"1\"} 3\n"));
    assert_non_null(strstr(out.data, "t_seconds_bucket{le=\"0.001\"} 1\n"));
    assert_non_null(strstr(out.data, "t_seconds_bucket{le=\"0.01\"} 2\n"));
    assert_non_null(strstr(out.data, "t_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out.data, "t_seconds_count 3\n"));
    assert_non_null(strstr(out.data, "t_seconds_sum 5.0055"));
    cap_buf_free(&out);
    cap_buf_free(&l);
    metrics_free(m);
}

struct sink_state {
    int batches, rows;
    bool fail;
};

static int test_sink(void *cls, const struct store_prediction *rows, size_t n,
                     struct cap_error *err)
{
    struct sink_state *s = cls;
    usleep(2000); /* slower than the pushes, so the queue fills */
    s->batches++;
    s->rows += (int)n;
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(rows[i].role, "primary");
        assert_string_equal(rows[i].deployment, "d");
        assert_int_equal(rows[i].inputs_len, 2);
        assert_memory_equal(rows[i].inputs, "{}", 2);
        assert_null(rows[i].request_id);
    }
    return s->fail ? cap_err(err, CAP_EINTERNAL, "disk full") : 0;
}

static void push_one(struct predlog *l)
{
    /* the entry is copied: this buffer is gone before the writer runs */
    char *mem = cap_xmalloc(5);
    memcpy(mem, "d\0{}", 5);
    struct store_prediction r = {.deployment = mem, .model_name = "m", .model_version = "1",
                                 .role = "primary", .inputs = mem + 2, .inputs_len = 2,
                                 .outputs = mem + 2, .outputs_len = 2, .agree = -1};
    predlog_push(l, &r);
    memset(mem, 'x', 5);
    free(mem);
}

static void test_predlog_bounded(void **state)
{
    (void)state;
    struct sink_state s = {0};
    struct predlog *l = predlog_start(8, test_sink, &s);
    for (int i = 0; i < 500; i++)
        push_one(l);
    predlog_flush(l);
    /* Nothing waited: what did not fit was dropped and counted. */
    assert_true(predlog_dropped(l) > 0);
    assert_int_equal(predlog_written(l) + predlog_dropped(l), 500);
    assert_int_equal((int)predlog_written(l), s.rows);
    s.fail = true;
    uint64_t dropped = predlog_dropped(l);
    push_one(l);
    predlog_flush(l);
    assert_int_equal(predlog_dropped(l), dropped + 1); /* a failed write counts as dropped */
    predlog_stop(l);
}

/* Entries pushed from several threads (so from several shards) reach the
 * sink once each and in the order they were pushed: the threads take turns,
 * so that order is known. */
#define ORDER_THREADS 4
#define ORDER_EACH 2000

struct order_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int turn;       /* the thread whose push is next */
    int n, last;    /* rows seen by the sink, the last row's number */
    bool out_of_order;
};

static int order_sink(void *cls, const struct store_prediction *rows, size_t n,
                      struct cap_error *err)
{
    struct order_state *s = cls;
    for (size_t i = 0; i < n; i++) {
        int g = -1;
        assert_int_equal(sscanf(rows[i].request_id, "%d", &g), 1);
        if (g != s->last + 1)
            s->out_of_order = true;
        s->last = g;
        s->n++;
    }
    return 0;
}

struct order_pusher {
    struct predlog *l;
    struct order_state *s;
    int t;
};

static void *order_push(void *arg)
{
    struct order_pusher *p = arg;
    for (int k = 0; k < ORDER_EACH; k++) {
        pthread_mutex_lock(&p->s->mu);
        while (p->s->turn != p->t)
            pthread_cond_wait(&p->s->cv, &p->s->mu);
        char id[32];
        snprintf(id, sizeof id, "%d", k * ORDER_THREADS + p->t);
        struct store_prediction r = {.deployment = "d", .model_name = "m", .model_version = "1",
                                     .role = "primary", .request_id = id, .agree = -1};
        assert_true(predlog_push(p->l, &r));
        p->s->turn = (p->t + 1) % ORDER_THREADS;
        pthread_cond_broadcast(&p->s->cv);
        pthread_mutex_unlock(&p->s->mu);
        if (k % 500 == 499)
            predlog_flush(p->l);
    }
    return NULL;
}

static void test_predlog_order(void **state)
{
    (void)state;
    struct order_state s = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
                            .last = -1};
    struct predlog *l = predlog_start(1 << 16, order_sink, &s);
    pthread_t th[ORDER_THREADS];
    struct order_pusher p[ORDER_THREADS];
    for (int t = 0; t < ORDER_THREADS; t++) {
        p[t] = (struct order_pusher){l, &s, t};
        assert_int_equal(pthread_create(&th[t], NULL, order_push, &p[t]), 0);
    }
    for (int t = 0; t < ORDER_THREADS; t++)
        pthread_join(th[t], NULL);
    predlog_flush(l);
    assert_int_equal(s.n, ORDER_THREADS * ORDER_EACH);
    assert_false(s.out_of_order);
    assert_int_equal(s.last, ORDER_THREADS * ORDER_EACH - 1);
    assert_int_equal((int)predlog_written(l), ORDER_THREADS * ORDER_EACH);
    assert_int_equal((int)predlog_dropped(l), 0);
    predlog_stop(l);
}

/* The race behind the old flaky order: a round has emptied half of the
 * shards when entries arrive in every shard, in a known order. The ones in
 * shards already emptied wait for the next round; those pushed after them
 * into shards not yet emptied must not be written before them. */
/* One thread more than shards: the first and the last share a shard, so
 * whichever shard the first thread gets, some entry in a shard already
 * emptied comes before one in a shard not yet emptied. */
#define GAP_THREADS (PREDLOG_SHARDS + 1)

struct gap_state {
    struct order_state o;
    struct predlog *l;
    bool fired, go;
    int pushed;
};

struct gap_pusher {
    struct gap_state *g;
    int t;
};

static void *gap_push(void *arg)
{
    struct gap_pusher *p = arg;
    struct gap_state *g = p->g;
    pthread_mutex_lock(&g->o.mu);
    while (!g->go || g->o.turn != p->t)
        pthread_cond_wait(&g->o.cv, &g->o.mu);
    char id[32];
    snprintf(id, sizeof id, "%d", 1 + p->t); /* entry 0 started the round */
    struct store_prediction r = {.deployment = "d", .model_name = "m", .model_version = "1",
                                 .role = "primary", .request_id = id, .agree = -1};
    assert_true(predlog_push(g->l, &r));
    g->o.turn++;
    g->pushed++;
    pthread_cond_broadcast(&g->o.cv);
    pthread_mutex_unlock(&g->o.mu);
    return NULL;
}

static void gap_hook(void *cls, int shard)
{
    struct gap_state *g = cls;
    if (g->fired || shard != PREDLOG_SHARDS / 2 - 1)
        return;
    g->fired = true;
    pthread_mutex_lock(&g->o.mu);
    g->go = true;
    pthread_cond_broadcast(&g->o.cv);
    while (g->pushed < GAP_THREADS)
        pthread_cond_wait(&g->o.cv, &g->o.mu);
    pthread_mutex_unlock(&g->o.mu);
}

static void test_predlog_order_across_a_round(void **state)
{
    (void)state;
    struct gap_state g = {.o = {.mu = PTHREAD_MUTEX_INITIALIZER,
                                .cv = PTHREAD_COND_INITIALIZER,
                                .last = -1}};
    g.l = predlog_start(1 << 10, order_sink, &g.o);
    pthread_t th[GAP_THREADS];
    struct gap_pusher p[GAP_THREADS];
    /* each new thread takes the next shard on its first push: all distinct */
    for (int t = 0; t < GAP_THREADS; t++) {
        p[t] = (struct gap_pusher){&g, t};
        assert_int_equal(pthread_create(&th[t], NULL, gap_push, &p[t]), 0);
    }
    predlog_set_round_hook(g.l, gap_hook, &g);
    struct store_prediction r = {.deployment = "d", .model_name = "m", .model_version = "1",
                                 .role = "primary", .request_id = "0", .agree = -1};
    assert_true(predlog_push(g.l, &r));
    predlog_flush(g.l);
    for (int t = 0; t < GAP_THREADS; t++)
        pthread_join(th[t], NULL);
    predlog_flush(g.l);
    assert_true(g.fired);
    assert_int_equal(g.o.n, GAP_THREADS + 1);
    assert_false(g.o.out_of_order);
    assert_int_equal(g.o.last, GAP_THREADS);
    predlog_stop(g.l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deployment_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions_trim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions_trim_keeps_unread, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monitor_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_predictions_large, setup, teardown),
        cmocka_unit_test(test_spec_check),
        cmocka_unit_test(test_parse_ref),
        cmocka_unit_test(test_ref_pick),
        cmocka_unit_test(test_metrics_exposition),
        cmocka_unit_test(test_predlog_bounded),
        cmocka_unit_test(test_predlog_order),
        cmocka_unit_test(test_predlog_order_across_a_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
