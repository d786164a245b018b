/* test_fb_detect.c - feedback/detect.h's blobs and hand-built specs: a loaded
 * detector continues as the saved one, and a damaged blob is refused with a
 * message or, where it still reads, runs without tripping ASan/UBSan. The
 * positions against river are tests/feedback/test_detect.py's. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedback/feedback.h"

/* A deterministic stream that changes every 1,500 values: 0/1 errors at a
 * rate of 0.1 or 0.45 for the binary detectors, absolute errors of mean 0.5
 * or 2 for the others. */
static double value(enum fb_det_type type, uint64_t *seed, int i)
{
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(*seed >> 11) / 9007199254740992.0;
    if (fb_det_type_binary(type))
        return u < (i / 1500 % 2 ? 0.45 : 0.1) ? 1 : 0;
    return u * (i / 1500 % 2 ? 4.0 : 1.0);
}

static struct fb_det *fed(enum fb_det_type type, int n, uint64_t *seed)
{
    struct fb_det_spec spec;
    struct fb_det *det;
    fb_det_spec_default(type, &spec);
    if (type == FB_DET_ADWIN)
        spec.p.adwin.clock = 1; /* checks at every value: more state to carry */
    assert_int_equal(fb_det_new(&spec, &det, NULL), 0);
    for (int i = 0; i < n; i++)
        assert_true(fb_det_update(det, value(type, seed, i), NULL) >= 0);
    return det;
}

static struct fb_det *reloaded(const struct fb_det *det)
{
    struct cap_buf b;
    struct fb_det *copy;
    struct cap_error err = {0};
    cap_buf_init(&b);
    fb_det_save(det, &b);
    assert_int_equal(fb_det_load(b.data, b.len, &copy, &err), 0);
    cap_buf_free(&b);
    return copy;
}

static void test_loaded_continues_alike(void **state)
{
    for (int t = 0; t < FB_DET_TYPE_COUNT; t++) {
        uint64_t seed = 42;
        struct fb_det *det = fed((enum fb_det_type)t, 2500, &seed);
        struct fb_det *copy = reloaded(det);
        assert_true(fb_det_spec_equal(fb_det_spec_of(det), fb_det_spec_of(copy)));
        int drifts = 0;
        for (int i = 2500; i < 6000; i++) {
            double x = value((enum fb_det_type)t, &seed, i);
            int a = fb_det_update(det, x, NULL), b = fb_det_update(copy, x, NULL);
            assert_int_equal(a, b);
            assert_int_equal(fb_det_warning(det), fb_det_warning(copy));
            drifts += a == FB_DET_DRIFT;
        }
        assert_true(drifts > 0); /* the copy went through a reset too */
        assert_int_equal(fb_det_count(copy), 6000);
        fb_det_free(det);
        fb_det_free(copy);
    }
}

static void save(const struct fb_det *det, struct cap_buf *b)
{
    cap_buf_init(b);
    fb_det_save(det, b);
}

static void refused(const void *blob, size_t len, const char *message)
{
    struct fb_det *det = (struct fb_det *)1;
    struct cap_error err = {0};
    assert_true(fb_det_load(blob, len, &det, &err) < 0);
    assert_null(det);
    assert_int_equal(err.code, CAP_EINVAL);
    if (message && !strstr(err.msg, message))
        fail_msg("'%s' lacks '%s'", err.msg, message);
}

static void test_short_long_and_foreign_blobs(void **state)
{
    for (int t = 0; t < FB_DET_TYPE_COUNT; t++) {
        uint64_t seed = 7;
        struct fb_det *det = fed((enum fb_det_type)t, 3000, &seed);
        struct cap_buf b;
        save(det, &b);
        for (size_t n = 0; n < b.len; n++)
            refused(b.data, n, NULL);
        refused(b.data, 3, "Not a drift detector state");
        cap_buf_putc(&b, 0);
        refused(b.data, b.len, "Drift detector state has 1 bytes past its end");
        b.data[4] = 2;
        refused(b.data, b.len - 1, "Drift detector state version 2 is not supported: "
                                   "expected 1");
        b.data[4] = 1;
        b.data[8] = 9;
        refused(b.data, b.len - 1, "unknown detector type 9");
        cap_buf_free(&b);
        fb_det_free(det);
    }
}

/* Offsets in a blob of defaults: magic, version and type take 12 bytes. */
static void test_inconsistent_blobs(void **state)
{
    uint64_t seed = 1;
    struct fb_det *det = fed(FB_DET_ADWIN, 1000, &seed);
    struct cap_buf b;
    save(det, &b);
    /* delta: its f64 set to 2 */
    double two = 2;
    unsigned char keep[8];
    memcpy(keep, b.data + 12, 8);
    memcpy(b.data + 12, &two, 8);
    refused(b.data, b.len, "Invalid value for 'delta' in drift detector adwin");
    memcpy(b.data + 12, keep, 8);
    /* after the 5 parameters (40 bytes), count and flags (12), the flags */
    b.data[12 + 40 + 8] = 4;
    refused(b.data, b.len, "inconsistent (flags)");
    b.data[12 + 40 + 8] = 0;
    /* then total, variance, width, tick (32) and the number of levels: the
     * first level's count, over max_buckets */
    size_t lev0 = 12 + 40 + 12 + 32 + 4;
    unsigned char c = (unsigned char)b.data[lev0];
    b.data[lev0] = 6;
    refused(b.data, b.len, "ADWIN's level 0 is");
    b.data[lev0] = (char)c;
    /* the width, one value off */
    double width;
    memcpy(&width, b.data + 12 + 40 + 12 + 16, 8);
    width += 1;
    memcpy(b.data + 12 + 40 + 12 + 16, &width, 8);
    refused(b.data, b.len, "ADWIN's width");
    cap_buf_free(&b);
    fb_det_free(det);

    det = fed(FB_DET_EDDM, 500, &seed);
    save(det, &b);
    /* EDDM: 3 parameters (24), count, flags, 4 doubles, then n: negative */
    memset(b.data + 12 + 24 + 12 + 32, 0xff, 8);
    refused(b.data, b.len, "a counter is out of range");
    cap_buf_free(&b);
    fb_det_free(det);
}

/* Each byte of each blob changed: refused, or a detector that runs on. */
static void test_flipped_bytes(void **state)
{
    for (int t = 0; t < FB_DET_TYPE_COUNT; t++) {
        uint64_t seed = 3;
        struct fb_det *det = fed((enum fb_det_type)t, 1500, &seed);
        struct cap_buf b;
        save(det, &b);
        for (size_t i = 0; i < b.len; i++) {
            for (int bit = 0; bit < 8; bit += 3) {
                b.data[i] ^= (char)(1 << bit);
                struct fb_det *d;
                if (fb_det_load(b.data, b.len, &d, NULL) == 0) {
                    for (int k = 0; k < 200; k++)
                        fb_det_update(d, value((enum fb_det_type)t, &seed, k), NULL);
                    fb_det_free(d);
                }
                b.data[i] ^= (char)(1 << bit);
            }
        }
        cap_buf_free(&b);
        fb_det_free(det);
    }
}

static void test_hand_built_specs(void **state)
{
    struct fb_det_spec spec;
    struct fb_det *det;
    struct cap_error err = {0};
    fb_det_spec_default(FB_DET_PAGE_HINKLEY, &spec);
    spec.p.page_hinkley.alpha = NAN;
    assert_int_equal(fb_det_new(&spec, &det, &err), -CAP_EINVAL);
    assert_null(det);
    assert_string_equal(err.msg, "Invalid value for 'alpha' in drift detector page_hinkley: "
                                 "expected a number > 0 and <= 1");
    spec.type = (enum fb_det_type)17;
    assert_int_equal(fb_det_spec_check(&spec, &err), -CAP_EINVAL);
    assert_string_equal(fb_det_type_name(spec.type), "?");
    fb_det_spec_default(FB_DET_ADWIN, &spec);
    spec.p.adwin.max_buckets = 0;
    assert_int_equal(fb_det_spec_check(&spec, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "'max_buckets'"));
    /* the JSON of a spec parses back to it */
    fb_det_spec_default(FB_DET_HDDM_W, &spec);
    spec.p.hddm_w.lambda_val = 0.1 + 0.2;
    spec.p.hddm_w.two_sided_test = true;
    cJSON *j = fb_det_spec_json(&spec);
    struct fb_det_spec back;
    assert_int_equal(fb_det_spec_parse(j, &back, &err), 0);
    assert_true(fb_det_spec_equal(&spec, &back));
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded_continues_alike),
        cmocka_unit_test(test_short_long_and_foreign_blobs),
        cmocka_unit_test(test_inconsistent_blobs),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_hand_built_specs),
    };
    return cmocka_run_group_tests_name("fb_detect", tests, NULL, NULL);
}
