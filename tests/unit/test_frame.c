/* test_frame.c - monitor/frame.c's readers over bytes: a .npy header is
 * never trusted (a shape larger than the data is an error, not an
 * allocation), Fortran order is read by column, and text formats parse the
 * same from memory as from a file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/monitor.h"

/* A version 1.0 .npy image: magic, header padded to 128 bytes, then data. */
static size_t npy_image(unsigned char *out, const char *descr, bool fortran, const char *shape,
                        const void *data, size_t n)
{
    char head[128];
    int w = snprintf(head, sizeof head, "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }",
                     descr, fortran ? "True" : "False", shape);
    assert_true(w > 0 && w < 118);
    memset(head + w, ' ', 118 - (size_t)w);
    head[117] = '\n';
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = 118;
    out[9] = 0;
    memcpy(out + 10, head, 118);
    memcpy(out + 128, data, n);
    return 128 + n;
}

static void test_npy_shape_larger_than_data(void **state)
{
    (void)state;
    unsigned char img[512];
    double v[2] = {1, 2};
    struct mon_frame f;
    struct cap_error err = {0};
    /* 10^12 x 10^6 doubles claimed, 16 bytes present: refused before any allocation */
    size_t n = npy_image(img, "<f8", false, "(1000000000000, 1000000)", v, sizeof v);
    assert_int_equal(mon_frame_parse("x.npy", MON_FORMAT_NPY, img, n, NULL, 0, &f, &err),
                     -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "larger than its data"));
    n = npy_image(img, "<f8", false, "(2, 2)", v, sizeof v); /* 4 claimed, 2 present */
    assert_int_equal(mon_frame_parse("x.npy", MON_FORMAT_NPY, img, n, NULL, 0, &f, &err),
                     -CAP_EINVAL);
    assert_int_equal(mon_frame_parse("x.npy", MON_FORMAT_NPY, img, 9, NULL, 0, &f, &err),
                     -CAP_EINVAL); /* cut inside the preamble */
    assert_int_equal(mon_frame_parse("x.npy", MON_FORMAT_NPY, img, 40, NULL, 0, &f, &err),
                     -CAP_EINVAL); /* cut inside the header */
}

static void test_npy_orders(void **state)
{
    (void)state;
    unsigned char img[512];
    int32_t v[6] = {1, 2, 3, 4, 5, 6};
    struct mon_frame f;
    struct cap_error err = {0};
    const char *names[] = {"a", "b", "c"};
    size_t n = npy_image(img, "<i4", false, "(2, 3)", v, sizeof v);
    assert_int_equal(mon_frame_parse("x.npy", MON_FORMAT_NPY, img, n, names, 3, &f, &err), 0);
    assert_int_equal(f.nrows, 2);
    assert_int_equal(f.ncols, 3);
    assert_string_equal(f.cols[2].name, "c");
    assert_int_equal(f.cols[0].dtype, MON_INT);
    assert_true(f.cols[1].num[0] == 2 && f.cols[1].num[1] == 5); /* row-major */
    mon_frame_free(&f);
    n = npy_image(img, "<i4", true, "(2, 3)", v, sizeof v);
    assert_int_equal(mon_frame_parse("x.npy", MON_FORMAT_NPY, img, n, NULL, 0, &f, &err), 0);
    assert_string_equal(f.cols[0].name, "f0");
    assert_true(f.cols[1].num[0] == 3 && f.cols[1].num[1] == 4); /* column-major */
    mon_frame_free(&f);
}

static void test_text_from_memory(void **state)
{
    (void)state;
    struct mon_frame f;
    struct cap_error err = {0};
    const char csv[] = "x,y\n1,a\nNA,b\n";
    assert_int_equal(mon_frame_parse("inline", MON_FORMAT_CSV, csv, sizeof csv - 1, NULL, 0, &f,
                                     &err),
                     0);
    assert_int_equal(f.nrows, 2);
    assert_int_equal(f.cols[0].dtype, MON_FLOAT); /* a missing cell: pandas' float64 */
    assert_true(isnan(f.cols[0].num[1]));
    assert_int_equal(f.cols[1].dtype, MON_TEXT);
    mon_frame_free(&f);
    const char jl[] = "{\"x\": 1, \"y\": \"a\"}\n{\"x\": 2, \"y\": null}\n";
    assert_int_equal(mon_frame_parse("inline", MON_FORMAT_JSONL, jl, sizeof jl - 1, NULL, 0, &f,
                                     &err),
                     0);
    assert_int_equal(f.cols[0].dtype, MON_INT);
    assert_null(f.cols[1].text[1]);
    mon_frame_free(&f);
    enum mon_format fmt;
    assert_int_equal(mon_frame_format("a/b.NDJSON", &fmt, &err), 0);
    assert_int_equal(fmt, MON_FORMAT_JSONL);
    assert_int_equal(mon_frame_format("a/b.parquet", &fmt, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "expected .csv, .jsonl or .npy"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_shape_larger_than_data),
        cmocka_unit_test(test_npy_orders),
        cmocka_unit_test(test_text_from_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
