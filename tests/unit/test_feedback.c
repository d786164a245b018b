/* Unit tests of the feedback plumbing: request ids (feedback/ids.c), the
 * windows of prediction time (feedback/rows.c), the prediction log's id index (store predictions_find, and its trim), the
 * label store (labels_put / scan / history), the review queue's store
 * (rule, queue_add: a row queued once, the cursor; count, list, mark), and
 * a reviewer's relabel that fails (feedback/review.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>

#include "base/buf.h"
#include "feedback/feedback.h"
#include "feedback/rows.h"
#include "payload/payload.h"
#include "tests/unit/fixture.h"

static void test_ids(void **state)
{
    struct cap_error err = {0};
    char base[FB_ID_MAX + 1];
    int64_t row;
    assert_int_equal(fb_id_parse("abc", base, &row, &err), 0);
    assert_string_equal(base, "abc");
    assert_int_equal(row, -1);
    assert_int_equal(fb_id_parse("abc/17", base, &row, &err), 0);
    assert_string_equal(base, "abc");
    assert_int_equal(row, 17);
    static const char *const bad[] = {"", "/3", "a/", "a/-1", "a/1x", "a/b/1", "a b/1",
                                      "a/1234567890"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(fb_id_parse(bad[i], base, &row, &err), -CAP_EINVAL);
    char longid[FB_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(fb_id_check(longid, "The id", &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "1 to 128"));
    longid[FB_ID_MAX] = '\0';
    assert_int_equal(fb_id_check(longid, "The id", &err), 0);
    assert_int_equal(fb_id_check("tab\there", "The X-Request-Id header", &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "The X-Request-Id header"));

    /* new ids: 32 hex, distinct, accepted by the check */
    char a[FB_ID_NEW_LEN + 1], b[FB_ID_NEW_LEN + 1];
    fb_id_new(a);
    for (int i = 0; i < 1000; i++) {
        fb_id_new(b);
        assert_int_equal(strlen(b), 32);
        assert_int_equal(strspn(b, "0123456789abcdef"), 32);
        assert_string_not_equal(a, b);
        assert_int_equal(fb_id_check(b, "id", &err), 0);
    }
    assert_memory_equal(a, b, 16); /* one process, one prefix */
}

/* Windows are multiples of the width, floored before 1970 too, so that the
 * realised quality's and the estimate's meet by their start. */
static void test_windows(void **state)
{
    assert_int_equal(fb_window_start(0, 1000, 2500), 2000);
    assert_int_equal(fb_window_start(0, 1000, -1500), -2000);
    assert_int_equal(fb_window_start(0, 1000, -1000), -1000);
    assert_int_equal(fb_window_start(700, 0, 2500), 700); /* one window from `from` */
    assert_int_equal(fb_window_index(500, 1000, 500), 0);
    assert_int_equal(fb_window_index(500, 1000, 999), 0);
    assert_int_equal(fb_window_index(500, 1000, 1000), 1);
    assert_int_equal(fb_window_index(-1500, 1000, -1001), 0);
    assert_int_equal(fb_window_index(-1500, 1000, -1), 1);
    assert_int_equal(fb_window_index(-1500, 0, 99999), 0);
    cJSON *n = fb_num_json(NAN), *v = fb_num_json(1.5);
    assert_true(cJSON_IsNull(n) && cJSON_IsNumber(v) && v->valuedouble == 1.5);
    cJSON_Delete(n);
    cJSON_Delete(v);
}

static int setup(void **state)
{
    return fixture_store_setup(state, "feedback", "capstan.db", false);
}

static int teardown(void **state)
{
    return fixture_store_teardown(state);
}

/* Logs n one-row requests "r<k>" (k from first) of deployment d, 4 a call. */
static void log_requests(struct store *st, const char *d, int first, int n)
{
    struct cap_error err = {0};
    char ids[4][16];
    for (int b = 0; b < n; b += 4) {
        struct store_prediction rows[4];
        for (int i = 0; i < 4; i++) {
            snprintf(ids[i], sizeof ids[i], "r%d", first + b + i);
            rows[i] = (struct store_prediction){.timestamp_ms = 1000 + first + b + i,
                                                .deployment = d, .model_name = "m",
                                                .model_version = "1", .role = "primary",
                                                .request_id = ids[i], .inputs = "in",
                                                .inputs_len = 2, .agree = -1};
        }
        assert_int_equal(store_predictions_log(st, rows, 4, &err), 0);
    }
}

struct hits {
    int n;
    int64_t ts[8];
};

static int on_found(void *cls, size_t i, const struct store_prediction *row,
                    struct cap_error *err)
{
    struct hits *h = cls;
    h->ts[i] = row->timestamp_ms;
    h->n++;
    return 0;
}

static void test_find_by_id_and_trim(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    log_requests(f->st, "d", 0, 40);
    log_requests(f->st, "e", 0, 4); /* the same ids in another deployment */
    const char *ids[] = {"r3", "r39", "r40", "r0"};
    struct hits h = {0};
    assert_int_equal(store_predictions_find(f->st, "d", ids, 4, on_found, &h, &err), 0);
    assert_int_equal(h.n, 3);
    assert_int_equal(h.ts[0], 1003);
    assert_int_equal(h.ts[1], 1039);
    assert_int_equal(h.ts[3], 1000);
    /* keep 8 rows: segments of 4 rows, so r0..r31 go with their keys */
    int64_t lost = 0;
    assert_int_equal(store_predictions_trim(f->st, 8, -1, &lost, &err), 0);
    h = (struct hits){0};
    assert_int_equal(store_predictions_find(f->st, "d", ids, 4, on_found, &h, &err), 0);
    assert_int_equal(h.n, 1);
    assert_int_equal(h.ts[1], 1039);
    /* the trim left no key of a trimmed segment behind */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM prediction_keys WHERE seg NOT IN "
                                        "(SELECT id FROM prediction_segments)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

struct seen {
    int n;
    char labels[8][8];
    int64_t pred_ms[8];
};

static int on_label(void *cls, const struct store_label *l, struct cap_error *err)
{
    struct seen *s = cls;
    snprintf(s->labels[s->n], sizeof s->labels[0], "%s", l->label ? l->label : "-");
    s->pred_ms[s->n++] = l->pred_ms;
    return 0;
}

static void test_labels_replace_and_scan(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    double scores[2] = {0.25, 0.75};
    struct store_label l[3] = {
        {.deployment = "d", .request_id = "a", .row = 0, .label = "1", .label_ms = -1,
         .received_ms = 5, .source = "api", .pred_ms = 200, .model_version = "1",
         .prediction = "1", .scores = scores, .nscores = 2},
        {.deployment = "d", .request_id = "b", .row = 2, .label = "0", .label_ms = 7,
         .received_ms = 5, .source = "api", .pred_ms = 100, .model_version = "1",
         .prediction = "1"},
        {.deployment = "d", .request_id = "a", .row = 0, .label = "0", .label_ms = -1,
         .received_ms = 6, .source = "review:ann", .pred_ms = 200, .model_version = "1",
         .prediction = "1"},
    };
    assert_int_equal(store_labels_put(f->st, l, 3, NULL, 0, &err), 0);
    struct seen s = {0};
    assert_int_equal(store_labels_scan(f->st, "d", 0, 1000, on_label, &s, &err), 0);
    assert_int_equal(s.n, 2); /* a's first label was replaced */
    assert_string_equal(s.labels[0], "0");
    assert_int_equal(s.pred_ms[0], 100);
    assert_string_equal(s.labels[1], "0");
    s = (struct seen){0};
    assert_int_equal(store_labels_scan(f->st, "d", 150, 1000, on_label, &s, &err), 0);
    assert_int_equal(s.n, 1);
    cJSON *h = NULL;
    assert_int_equal(store_labels_history(f->st, "d", "a", 0, &h, &err), 0);
    assert_int_equal(cJSON_GetArraySize(h), 2);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "current")));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 1), "source")->valuestring,
                        "review:ann");
    cJSON_Delete(h);
    /* a bad label in a batch stores nothing of it */
    struct store_label bad[2] = {l[1], l[1]};
    bad[1].row = -1;
    assert_int_equal(store_labels_put(f->st, bad, 2, NULL, 0, &err), -CAP_EINVAL);
    assert_int_equal(store_labels_history(f->st, "d", "b", 2, &h, &err), 0);
    assert_int_equal(cJSON_GetArraySize(h), 1);
    cJSON_Delete(h);
}

static int64_t rule_field(struct store *st, const char *key)
{
    struct cap_error err = {0};
    cJSON *r = NULL;
    assert_int_equal(store_review_rule_get(st, "d", &r, &err), 0);
    int64_t v = (int64_t)cJSON_GetObjectItem(r, key)->valuedouble;
    cJSON_Delete(r);
    return v;
}

static int64_t review_count(struct store *st, const char *d, const char *status)
{
    struct cap_error err = {0};
    int64_t n = -1;
    assert_int_equal(store_review_count(st, d, status, &n, &err), 0);
    return n;
}

static cJSON *review_list(struct store *st, const char *status, int max)
{
    struct cap_error err = {0};
    cJSON *items = NULL;
    assert_int_equal(store_review_list(st, "d", status, max, &items, &err), 0);
    return items;
}

static const char *field(const cJSON *items, int i, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetArrayItem(items, i), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_review_store(void **state)
{
    struct fixture_store *f = *state;
    struct cap_error err = {0};
    struct store_review_item it[3] = {
        {.request_id = "a", .row = 0, .reason = "sampled", .pred_ms = 1, .model_version = "1",
         .item_json = "{\"prediction\":\"1\",\"inputs\":{\"f0\":1}}"},
        {.request_id = "a", .row = 1, .reason = "low_confidence", .pred_ms = 1,
         .model_version = "1", .item_json = "{\"prediction\":\"0\"}"},
        {.request_id = "b", .row = 0, .reason = "sampled", .pred_ms = 2, .model_version = "2",
         .item_json = "{\"prediction\":\"1\"}"},
    };
    cJSON *r = NULL;
    assert_int_equal(store_review_rule_get(f->st, "d", &r, &err), -CAP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "has no review rule"));
    /* a new rule starts before the oldest logged request */
    assert_int_equal(store_review_rule_put(f->st, "d", "{\"sample\":1}", &err), 0);
    assert_int_equal(store_review_rule_get(f->st, "d", &r, &err), 0);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "rule"), "sample")->valueint, 1);
    cJSON_Delete(r);
    assert_int_equal(rule_field(f->st, "cursor"), -1);
    int64_t created = rule_field(f->st, "created_at");
    assert_int_equal(store_review_queue_add(f->st, "d", it, 2, 5, &err), 0);
    assert_int_equal(rule_field(f->st, "cursor"), 5);
    assert_int_equal(review_count(f->st, "d", "pending"), 2);
    assert_int_equal(store_review_mark(f->st, "d", "a", 1, "labelled", "1", "ann", 300, &err), 0);
    /* a row queued already stays as it is (a/1 labelled); b/0 joins */
    assert_int_equal(store_review_queue_add(f->st, "d", it, 3, 9, &err), 0);
    assert_int_equal(review_count(f->st, "d", "pending"), 2);
    assert_int_equal(review_count(f->st, "d", "labelled"), 1);
    assert_int_equal(rule_field(f->st, "cursor"), 9);
    assert_int_equal(store_review_queue_add(f->st, "d", NULL, 0, 12, &err), 0);
    assert_int_equal(rule_field(f->st, "cursor"), 12);
    /* replacing the rule keeps its cursor and creation time */
    assert_int_equal(store_review_rule_put(f->st, "d", "{\"sample\":0.5}", &err), 0);
    assert_int_equal(rule_field(f->st, "cursor"), 12);
    assert_int_equal(rule_field(f->st, "created_at"), created);
    assert_true(rule_field(f->st, "updated_at") >= created);
    /* marks: skipped has a reviewer and no label; a row not queued is named */
    assert_int_equal(store_review_mark(f->st, "d", "b", 0, "skipped", NULL, "bob", 400, &err), 0);
    assert_int_equal(store_review_mark(f->st, "d", "zz", 1, "labelled", "1", "ann", 500, &err),
                     -CAP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "'zz/1'"));
    assert_int_equal(store_review_mark(f->st, "e", "a", 1, "labelled", "1", "ann", 500, &err),
                     -CAP_ENOTFOUND); /* another deployment's queue */
    cJSON *items = review_list(f->st, "labelled", 10);
    assert_int_equal(cJSON_GetArraySize(items), 1);
    assert_string_equal(field(items, 0, "id"), "a/1");
    assert_string_equal(field(items, 0, "reason"), "low_confidence");
    assert_string_equal(field(items, 0, "prediction"), "0"); /* item_json's fields */
    assert_string_equal(field(items, 0, "label"), "1");
    assert_string_equal(field(items, 0, "reviewer"), "ann");
    assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "labelled_at")
                         ->valuedouble, 300);
    cJSON_Delete(items);
    items = review_list(f->st, "skipped", 10);
    assert_string_equal(field(items, 0, "id"), "b/0");
    assert_string_equal(field(items, 0, "reviewer"), "bob");
    assert_null(field(items, 0, "label"));
    cJSON_Delete(items);
    items = review_list(f->st, "pending", 10);
    assert_int_equal(cJSON_GetArraySize(items), 1);
    assert_string_equal(field(items, 0, "id"), "a/0");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "reviewer"));
    assert_int_equal(
        (int)cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "inputs"), "f0")
            ->valuedouble,
        1);
    cJSON_Delete(items);
    items = review_list(f->st, NULL, 2); /* oldest first, at most max_results */
    assert_int_equal(cJSON_GetArraySize(items), 2);
    assert_string_equal(field(items, 0, "id"), "a/0");
    assert_string_equal(field(items, 1, "id"), "a/1");
    cJSON_Delete(items);
    assert_int_equal(store_review_rule_delete(f->st, "d", &err), 0);
    assert_int_equal(store_review_rule_delete(f->st, "d", &err), -CAP_ENOTFOUND);
    items = review_list(f->st, NULL, 10);
    assert_int_equal(cJSON_GetArraySize(items), 3); /* the items outlive the rule */
    cJSON_Delete(items);
    assert_int_equal(review_count(f->st, "e", "pending"), 0);
}

/* Logs request "q" of deployment d: a classifier's two rows (classes 1, 0
 * with their scores), and queues both rows for review. */
static void log_and_queue(struct store *st, const char *d)
{
    struct cap_error err = {0};
    int64_t cls[2] = {1, 0};
    float scores[4] = {0.4f, 0.6f, 0.7f, 0.3f};
    infer_tensor t[2] = {{.type = INFER_INT64, .ndim = 1, .dims = {2}, .data = cls},
                         {.type = INFER_FLOAT, .ndim = 2, .dims = {2, 2}, .data = scores}};
    struct cap_buf out;
    cap_buf_init(&out);
    payload_log_pack(NULL, false, t, 2, &out);
    struct store_prediction p = {.timestamp_ms = 1000, .deployment = d, .model_name = "m",
                                 .model_version = "1", .role = "primary", .request_id = "q",
                                 .inputs = "in", .inputs_len = 2, .outputs = out.data,
                                 .outputs_len = out.len, .agree = -1};
    assert_int_equal(store_predictions_log(st, &p, 1, &err), 0);
    cap_buf_free(&out);
    struct store_review_item it[2] = {
        {.request_id = "q", .row = 0, .reason = "sampled", .pred_ms = 1000,
         .model_version = "1", .item_json = "{}"},
        {.request_id = "q", .row = 1, .reason = "sampled", .pred_ms = 1000,
         .model_version = "1", .item_json = "{}"}};
    assert_int_equal(store_review_queue_add(st, d, it, 2, 1, &err), 0);
}

/* The queue's item q/0 as "status label reviewer labelled_at". */
static void item_state(struct store *st, char *buf, size_t n)
{
    cJSON *items = review_list(st, NULL, 10);
    assert_string_equal(field(items, 0, "id"), "q/0");
    const char *l = field(items, 0, "label"), *r = field(items, 0, "reviewer");
    const cJSON *at = cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "labelled_at");
    snprintf(buf, n, "%s %s %s %.0f", field(items, 0, "status"), l ? l : "-", r ? r : "-",
             at ? at->valuedouble : -1);
    cJSON_Delete(items);
}

static void review_label(struct store *st, cJSON *label, const char *reviewer, int want)
{
    struct fb_sink sink = {.store = st, .source = "review", .now_ms = 2000};
    struct cap_error err = {0};
    cJSON *out = NULL;
    int rc = fb_review_label(&sink, "d", "q/0", label, reviewer, &out, &err);
    assert_int_equal(rc, want);
    assert_true(rc == 0 ? out != NULL : out == NULL);
    cJSON_Delete(out);
    cJSON_Delete(label);
}

static int history_len(struct store *st)
{
    struct cap_error err = {0};
    cJSON *h = NULL;
    assert_int_equal(store_labels_history(st, "d", "q", 0, &h, &err), 0);
    int n = cJSON_GetArraySize(h);
    cJSON_Delete(h);
    return n;
}

/* A relabel the join refuses leaves the item as ann left it (it was put
 * back to pending, her label and name lost); a label store that fails
 * after the item was marked leaves no label in the queue that the store
 * does not hold. */
static void test_review_relabel_refused(void **state)
{
    struct fixture_store *f = *state;
    char first[128], now[128];
    log_and_queue(f->st, "d");
    review_label(f->st, cJSON_CreateNumber(1), "ann", 0);
    item_state(f->st, first, sizeof first);
    assert_non_null(strstr(first, "labelled 1 ann "));
    /* a classifier's class must be a whole number */
    review_label(f->st, cJSON_CreateNumber(0.5), "bob", -CAP_EINVAL);
    item_state(f->st, now, sizeof now);
    assert_string_equal(now, first);
    assert_int_equal(history_len(f->st), 1);
    /* the label store fails: a trigger refuses every new label */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER refuse BEFORE INSERT ON feedback_labels "
                                  "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    review_label(f->st, cJSON_CreateNumber(0), "bob", -CAP_EINTERNAL);
    item_state(f->st, now, sizeof now);
    assert_null(strstr(now, "bob"));
    assert_int_equal(history_len(f->st), 1);
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER refuse", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    review_label(f->st, cJSON_CreateNumber(0), "bob", 0);
    item_state(f->st, now, sizeof now);
    assert_non_null(strstr(now, "labelled 0 bob "));
    assert_int_equal(history_len(f->st), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_windows),
        cmocka_unit_test_setup_teardown(test_find_by_id_and_trim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels_replace_and_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_review_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_review_relabel_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
