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

#include "base/buf.h"
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

/* A CSV of more than 16 MiB is read in parts on several threads (when no
 * field is quoted): the frame must be the one a single pass reads. A quote
 * in the header forces the single pass, for comparison. Column k turns
 * text only near the end (the joined column re-reads the earlier parts as
 * text), column i turns float there, blank lines and NA are spread out. */
static char *big_csv(bool quoted, size_t rows, size_t *len)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, quoted ? "\"x\",i,k,m\n" : "x,i,k,m\n");
    for (size_t r = 0; r < rows; r++) {
        if (r % 100000 == 7)
            cap_buf_puts(&b, "\n"); /* a blank line: skipped */
        cap_buf_printf(&b, "%.6f,%zu,", (double)r * 0.25 - 1000, r % 7);
        if (r == rows - 3)
            cap_buf_puts(&b, "late-text,");
        else
            cap_buf_printf(&b, "%zu,", r % 5);
        cap_buf_puts(&b, r % 1000 == 999 ? "NA\n" : "1.5\n");
    }
    cap_buf_printf(&b, "1,%s,4,2\n", "2.5"); /* i turns float in the last part */
    *len = b.len;
    return cap_buf_steal(&b);
}

/* A first line of {} names no columns: a later line's keys are refused as
 * any key the first line lacks (the fuzzer found these were added after
 * rows had been read, with no cells for them). */
static void test_jsonl_empty_first_object(void **state)
{
    (void)state;
    struct mon_frame f = {0};
    struct cap_error err = {0};
    const char jl[] = "{}\n{\"a\": 11, \"b\": \"x\"}\n";
    assert_int_equal(mon_frame_parse("e.jsonl", MON_FORMAT_JSONL, jl, sizeof jl - 1, NULL, 0, &f,
                                     &err),
                     -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "line 2: key 'a' is not among the first line's columns"));
    const char only[] = "{}\n{}\n";
    assert_int_equal(mon_frame_parse("e.jsonl", MON_FORMAT_JSONL, only, sizeof only - 1, NULL, 0,
                                     &f, &err),
                     0);
    assert_int_equal(f.ncols, 0);
    assert_int_equal(f.nrows, 2);
    mon_frame_free(&f);
}

static void test_csv_in_parts(void **state)
{
    (void)state;
    size_t rows = 900000, n1, n2, blanks = (rows - 8) / 100000 + 1;
    char *one = big_csv(true, rows, &n1), *parts = big_csv(false, rows, &n2);
    assert_true(n2 > (16u << 20));
    struct mon_frame a, b;
    struct cap_error err = {0};
    assert_int_equal(mon_frame_parse("q.csv", MON_FORMAT_CSV, one, n1, NULL, 0, &a, &err), 0);
    assert_int_equal(mon_frame_parse("p.csv", MON_FORMAT_CSV, parts, n2, NULL, 0, &b, &err), 0);
    assert_int_equal(a.nrows, rows + 1);
    assert_int_equal(b.nrows, a.nrows);
    assert_int_equal(b.ncols, 4);
    for (size_t c = 0; c < 4; c++) {
        const struct mon_column *x = &a.cols[c], *y = &b.cols[c];
        assert_int_equal(x->dtype, y->dtype);
        assert_int_equal(x->text_line, y->text_line);
        for (size_t r = 0; r < a.nrows; r++) {
            if (x->dtype == MON_TEXT) {
                assert_true((x->text[r] == NULL) == (y->text[r] == NULL));
                if (x->text[r])
                    assert_string_equal(x->text[r], y->text[r]);
            } else if (memcmp(&x->num[r], &y->num[r], sizeof(double)) != 0) {
                fail_msg("column %zu row %zu: %g vs %g", c, r, x->num[r], y->num[r]);
            }
        }
    }
    assert_int_equal(b.cols[1].dtype, MON_FLOAT);
    assert_int_equal(b.cols[2].dtype, MON_TEXT);
    assert_string_equal(b.cols[2].text[rows - 3], "late-text");
    assert_string_equal(b.cols[2].text[0], "0"); /* an early part's number, read again as text */
    assert_int_equal(b.cols[3].dtype, MON_FLOAT);
    /* the file's line of the first text cell: header, rows and blank lines before it */
    assert_int_equal(b.cols[2].text_line, 1 + (rows - 3) + 1 + blanks);
    mon_frame_free(&a);
    mon_frame_free(&b);
    /* a bad row in a late part is reported with the file's line number */
    memcpy(parts + n2 - 9, "1,2,3\n\n\n", 8);
    assert_int_equal(mon_frame_parse("p.csv", MON_FORMAT_CSV, parts, n2, NULL, 0, &b, &err),
                     -CAP_EINVAL);
    char want[80];
    snprintf(want, sizeof want, "p.csv: line %zu: 3 fields, the header has 4",
             1 + rows + blanks + 1);
    assert_string_equal(err.msg, want);
    free(one);
    free(parts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_shape_larger_than_data),
        cmocka_unit_test(test_npy_orders),
        cmocka_unit_test(test_text_from_memory),
        cmocka_unit_test(test_jsonl_empty_first_object),
        cmocka_unit_test(test_csv_in_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
