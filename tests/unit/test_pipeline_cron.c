/* test_pipeline_cron.c - pipeline/'s cron expressions and time zones:
 * parsing (fields, names, steps, presets), each kind of bad input with
 * its message, Vixie's day rule, next fire times across month ends, leap
 * days and both DST directions in two zones, and the TZif reader against
 * known offsets (a table instant and one past it, from the footer rule). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "fixture.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

static int64_t iso(const char *s)
{
    int64_t ms = 0;
    struct cap_error err = {0};
    assert_int_equal(pipe_iso_parse(s, &ms, &err), 0);
    return ms / 1000;
}

static struct pipe_tz *zone(const char *name)
{
    struct pipe_tz *tz = NULL;
    struct cap_error err = {0};
    if (pipe_tz_load(name, &tz, &err) < 0)
        fail_msg("%s", err.msg);
    return tz;
}

/* The next fire time of expr in zone (NULL: UTC) after `after`, as ISO UTC. */
static void next_is(const char *expr, const char *tzname, const char *after, const char *want)
{
    struct pipe_cron c;
    struct cap_error err = {0};
    if (pipe_cron_parse(expr, &c, &err) < 0)
        fail_msg("%s", err.msg);
    struct pipe_tz *tz = tzname ? zone(tzname) : NULL;
    int64_t t = 0;
    assert_int_equal(pipe_cron_next(&c, tz, iso(after), &t, &err), 0);
    char got[32];
    pipe_iso_utc(t * 1000, got);
    if (strcmp(got, want) != 0)
        fail_msg("%s in %s after %s: got %s, want %s", expr, tzname ? tzname : "UTC", after, got,
                 want);
    pipe_tz_free(tz);
}

static void bad_cron(const char *expr, const char *needle)
{
    struct pipe_cron c;
    struct cap_error err = {0};
    assert_true(pipe_cron_parse(expr, &c, &err) < 0);
    assert_int_equal(err.code, CAP_EINVAL);
    if (!strstr(err.msg, needle))
        fail_msg("'%s': message '%s' lacks '%s'", expr, err.msg, needle);
}

static void test_parse(void **state)
{
    struct pipe_cron c;
    struct cap_error err = {0};
    assert_int_equal(pipe_cron_parse("*/15 9-17 * JAN-mar mon-FRI", &c, &err), 0);
    assert_true(c.minute == (1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45));
    assert_int_equal(c.hour, 0x3fe00);
    assert_int_equal(c.month, 0xe);
    assert_int_equal(c.dow, 0x3e);
    assert_true(c.dom_star);
    assert_false(c.dow_star);
    assert_int_equal(pipe_cron_parse("0 0 1-10/3,20 * 5-7", &c, &err), 0);
    assert_int_equal(c.dom, 1u << 1 | 1u << 4 | 1u << 7 | 1u << 10 | 1u << 20);
    assert_int_equal(c.dow, 1 << 0 | 1 << 5 | 1 << 6); /* 7 is Sunday */
    assert_int_equal(pipe_cron_parse("@hourly", &c, &err), 0);
    assert_true(c.minute == 1 && c.hour == 0xffffff);
    assert_int_equal(pipe_cron_parse("@weekly", &c, &err), 0);
    assert_int_equal(c.dow, 1);
    assert_int_equal(pipe_cron_parse("@annually", &c, &err), 0);
    assert_true(c.month == 2 && c.dom == 2);
}

static void test_errors(void **state)
{
    bad_cron("0 25 * * *", "hour field '25': 25 is out of range 0-23");
    bad_cron("60 * * * *", "minute field '60': 60 is out of range 0-59");
    bad_cron("0 0 0 * *", "day-of-month field '0': 0 is out of range 1-31");
    bad_cron("0 0 * 13 *", "month field '13': 13 is out of range 1-12");
    bad_cron("0 0 * * 8", "day-of-week field '8': 8 is out of range 0-7");
    bad_cron("0 0 * FOO *", "'FOO' is not a number 1-12 or a name JAN-DEC");
    bad_cron("0 0 * * MONDAY", "'MONDAY' is not a number 0-7 or a name SUN-SAT");
    bad_cron("0 0 5-2 * *", "the range 5-2 goes backwards");
    bad_cron("*/0 * * * *", "the step must be a number 1-59");
    bad_cron("5/10 * * * *", "a step needs * or a range before it");
    bad_cron("1,,2 * * * *", "an empty list item");
    bad_cron("0 0 * *", "expected 5 fields");
    bad_cron("0 0 * * * *", "expected 5 fields");
    bad_cron("@reboot", "unknown preset");
    bad_cron("0 0 30 2 *", "never fires");
    bad_cron("0 0 31 4,6 *", "never fires");
    bad_cron("a * * * *", "minute field 'a': 'a' is not a number 0-59");
}

/* Vixie: both restricted: either; one starting with '*': both must hold. */
static void test_day_rule(void **state)
{
    struct pipe_cron c;
    struct cap_error err = {0};
    assert_int_equal(pipe_cron_parse("0 0 13 * 5", &c, &err), 0); /* the 13th or a Friday */
    assert_true(pipe_cron_day(&c, 1, 13, 2));
    assert_true(pipe_cron_day(&c, 1, 2, 5));
    assert_false(pipe_cron_day(&c, 1, 2, 4));
    assert_int_equal(pipe_cron_parse("0 0 */2 * 1", &c, &err), 0); /* odd days that are Mondays */
    assert_true(pipe_cron_day(&c, 1, 3, 1));
    assert_false(pipe_cron_day(&c, 1, 4, 1));
    assert_false(pipe_cron_day(&c, 1, 3, 2));
    /* 2026-01-05 is a Monday and odd; croniter (odd days OR Mondays) says Jan 3 */
    next_is("0 0 */2 * 1", NULL, "2026-01-01T00:00:00Z", "2026-01-05T00:00:00.000Z");
    next_is("0 0 13 * 5", NULL, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.000Z");
}

static void test_next_utc(void **state)
{
    next_is("0 3 * * *", NULL, "2026-01-31T03:00:00Z", "2026-02-01T03:00:00.000Z");
    next_is("0 0 31 * *", NULL, "2026-01-31T00:00:00Z", "2026-03-31T00:00:00.000Z");
    next_is("0 0 29 2 *", NULL, "2026-01-01T00:00:00Z", "2028-02-29T00:00:00.000Z");
    next_is("0 0 29 2 *", NULL, "2096-03-01T00:00:00Z", "2104-02-29T00:00:00.000Z");
    next_is("@monthly", NULL, "2026-12-15T10:00:00Z", "2027-01-01T00:00:00.000Z");
    next_is("*/7 * * * *", NULL, "2026-01-01T00:56:00Z", "2026-01-01T01:00:00.000Z");
    next_is("59 23 31 12 *", NULL, "2026-12-31T23:59:00Z", "2027-12-31T23:59:00.000Z");
}

/* Spring forward: Berlin 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); New
 * York 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z). Fall back: Berlin
 * 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z); New York 2026-11-01 02:00
 * EDT -> 01:00 EST (06:00Z). */
static void test_next_dst(void **state)
{
    /* skipped 02:30 runs once, shifted by the gap: 03:30 local */
    next_is("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:30:00.000Z");
    next_is("30 2 * * *", "Europe/Berlin", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00.000Z");
    next_is("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
            "2026-03-08T07:30:00.000Z");
    /* a time that exists stays put */
    next_is("0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00.000Z");
    /* repeated 02:30 runs once, at its first occurrence (CEST) */
    next_is("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00.000Z");
    next_is("30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00.000Z");
    next_is("30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z",
            "2026-11-02T06:30:00.000Z");
    /* every 30 minutes: the repeated 02:00-02:59 (01:00Z-01:59Z) runs nothing
     * again; the next is 03:00 CET */
    next_is("*/30 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z",
            "2026-10-25T02:00:00.000Z");
    /* far past the TZif tables: the footer's rule (CET-1CEST,M3.5.0,M10.5.0/3) */
    next_is("30 2 * * *", "Europe/Berlin", "2080-03-30T12:00:00Z", "2080-03-31T01:30:00.000Z");
}

static void test_tz(void **state)
{
    struct pipe_tz *b = zone("Europe/Berlin"), *ny = zone("America/New_York");
    assert_int_equal(pipe_tz_offset(b, iso("2026-01-15T12:00:00Z")), 3600);
    assert_int_equal(pipe_tz_offset(b, iso("2026-07-15T12:00:00Z")), 7200);
    assert_int_equal(pipe_tz_offset(b, iso("2026-03-29T00:59:59Z")), 3600);
    assert_int_equal(pipe_tz_offset(b, iso("2026-03-29T01:00:00Z")), 7200);
    assert_int_equal(pipe_tz_offset(b, iso("2300-07-01T00:00:00Z")), 7200);
    assert_int_equal(pipe_tz_offset(ny, iso("2026-11-01T05:59:59Z")), -4 * 3600);
    assert_int_equal(pipe_tz_offset(ny, iso("2026-11-01T06:00:00Z")), -5 * 3600);
    assert_int_equal(pipe_tz_offset(ny, iso("1850-01-01T00:00:00Z")), -17762); /* LMT */
    assert_string_equal(pipe_tz_name(b), "Europe/Berlin");
    pipe_tz_free(b);
    pipe_tz_free(ny);
    struct pipe_tz *tz = NULL;
    struct cap_error err = {0};
    assert_true(pipe_tz_load("Mars/Olympus", &tz, &err) < 0);
    assert_non_null(strstr(err.msg, "Unknown time zone 'Mars/Olympus'"));
    assert_true(pipe_tz_load("../etc/passwd", &tz, &err) < 0);
    assert_non_null(strstr(err.msg, "Invalid time zone '../etc/passwd'"));
    assert_true(pipe_tz_load("", &tz, &err) < 0);
    assert_null(tz);
}

static void test_iso(void **state)
{
    int64_t ms;
    struct cap_error err = {0};
    assert_int_equal(pipe_iso_parse("2026-03-29T03:30:00.250+02:00", &ms, &err), 0);
    char s[32];
    pipe_iso_utc(ms, s);
    assert_string_equal(s, "2026-03-29T01:30:00.250Z");
    assert_true(pipe_iso_parse("2026-03-29 03:30", &ms, &err) < 0);
    assert_non_null(strstr(err.msg, "Invalid time '2026-03-29 03:30'"));
    assert_true(pipe_iso_parse("2026-03-29T03:30:00", &ms, &err) < 0);
}

/* An alert that fires queues a run of each schedule watching its rule
 * (by name or DEPLOYMENT/RULE), with the event; a replayed window adds
 * none; other rules, paused schedules and cron schedules get none. */
static void test_alert_trigger(void **state)
{
    char dir[256], db[300];
    assert_true(fixture_tmpdir(dir, sizeof dir, "pcron"));
    snprintf(db, sizeof db, "%s/capstan.db", dir);
    struct store *st = fixture_store_open(db);
    struct pipe_sched *s = NULL;
    struct cap_error err = {0};
    struct pipe_sched_config pc = {.store = st, .runner = "/bin/true"};
    assert_int_equal(pipe_sched_new(&pc, &s, &err), 0);
    const char *bodies[] = {
        "{\"name\":\"a\",\"repo\":\"/tmp\",\"on_alert\":\"drift\"}",
        "{\"name\":\"b\",\"repo\":\"/tmp\",\"on_alert\":\"d/drift\"}",
        "{\"name\":\"c\",\"repo\":\"/tmp\",\"on_alert\":\"other\"}",
        "{\"name\":\"p\",\"repo\":\"/tmp\",\"on_alert\":\"drift\"}",
        "{\"name\":\"k\",\"repo\":\"/tmp\",\"cron\":\"@daily\"}"};
    for (size_t i = 0; i < 5; i++) {
        cJSON *b = cJSON_Parse(bodies[i]);
        if (pipe_sched_create(s, st, b, NULL, &err) < 0)
            fail_msg("%s", err.msg);
        cJSON_Delete(b);
    }
    assert_int_equal(store_pipe_schedule_set_paused(st, "p", true, &err), 0);
    struct alert_config ac = {.store = st, .on_fire = pipe_sched_alert_hook, .on_fire_cls = s};
    struct alert *a = NULL;
    assert_int_equal(alert_start(&ac, &a, &err), 0);
    cJSON *rule = cJSON_Parse("{\"name\":\"drift\",\"deployment\":\"d\",\"metric\":"
                              "\"dataset_drift\",\"op\":\"==\",\"threshold\":1}");
    assert_int_equal(alert_rule_put(a, rule, NULL, &err), 0);
    cJSON *w = cJSON_Parse("{\"id\":1,\"deployment\":\"d\",\"width_s\":60,\"start_ms\":0,"
                           "\"end_ms\":60000,\"rows\":10,\"drift\":{\"dataset_drift\":true},"
                           "\"prediction_drift\":null,\"data_quality\":null}");
    assert_int_equal(alert_on_window(a, "d", 1, w, &err), 0);
    assert_int_equal(alert_on_window(a, "d", 1, w, &err), 0); /* replayed: counts once */
    cJSON *runs = NULL;
    assert_int_equal(store_pipe_run_list(st, NULL, false, 0, &runs, &err), 0);
    assert_int_equal(cJSON_GetArraySize(runs), 2);
    const cJSON *r;
    cJSON_ArrayForEach(r, runs)
    {
        const char *name = cJSON_GetObjectItem(r, "schedule")->valuestring;
        assert_true(strcmp(name, "a") == 0 || strcmp(name, "b") == 0);
        assert_string_equal(cJSON_GetObjectItem(r, "cause")->valuestring, "alert");
        assert_string_equal(cJSON_GetObjectItem(r, "state")->valuestring, "queued");
        assert_int_equal((int64_t)cJSON_GetObjectItem(r, "tick")->valuedouble, 60000);
        const cJSON *labels = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "event"), "labels");
        assert_string_equal(cJSON_GetObjectItem(labels, "alertname")->valuestring, "drift");
    }
    cJSON_Delete(runs);
    cJSON_Delete(w);
    cJSON_Delete(rule);
    alert_stop(a);
    pipe_sched_stop(s);
    store_close(st);
    fixture_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_day_rule),  cmocka_unit_test(test_next_utc),
        cmocka_unit_test(test_next_dst),  cmocka_unit_test(test_tz),
        cmocka_unit_test(test_iso),       cmocka_unit_test(test_alert_trigger),
    };
    return cmocka_run_group_tests_name("pipeline_cron", tests, NULL, NULL);
}
