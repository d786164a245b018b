/* cbpe_main - drives feedback/cbpe.h for tests/feedback/test_cbpe.py and the
 * benchmark.
 *
 *   cbpe_main CHUNK_SIZE METRICS [--time] < rows
 *
 * METRICS is nannyml's list ("roc_auc,f1,precision,recall,accuracy,
 * confusion_matrix"). stdin holds two sections of whitespace-separated rows:
 *
 *   reference N        then N rows "proba pred truth"
 *   analysis M         then M rows "proba pred"
 *   analysis M labelled  (instead) M rows "proba pred truth"
 *
 * Prints {"calibrated", "ece_before", "ece_after", "reference": [chunk...],
 * "analysis": [chunk...]} with each number as "%.17g" (NaN as null); with
 * --time also "seconds", the time of fit + both estimates. An error exits 1
 * with "error: ..." on stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "feedback/feedback.h"

struct section {
    double *p, *pred, *truth;
    size_t n;
};

static int fail(const char *msg)
{
    fprintf(stderr, "error: %s\n", msg);
    return 1;
}

static bool num(char **s, double *v)
{
    char *end;
    *v = strtod(*s, &end);
    bool ok = end != *s;
    *s = end;
    return ok;
}

/* Reads "NAME N [labelled]" and its rows; false (and a message) if malformed. */
static bool read_section(char **s, const char *name, bool truth_required, struct section *out)
{
    char word[32];
    int used = 0;
    size_t n = 0;
    if (sscanf(*s, " %31s %zu%n", word, &n, &used) != 2 || strcmp(word, name))
        return !fail(truth_required ? "expected 'reference N'" : "expected 'analysis M [labelled]'");
    *s += used;
    bool labelled = truth_required;
    used = 0;
    if (!truth_required && sscanf(*s, " labelled%n", &used) == 0 && used > 0) {
        labelled = true;
        *s += used;
    }
    out->n = n;
    out->p = cap_xmalloc((n + 1) * sizeof(double));
    out->pred = cap_xmalloc((n + 1) * sizeof(double));
    out->truth = labelled ? cap_xmalloc((n + 1) * sizeof(double)) : NULL;
    for (size_t i = 0; i < n; i++)
        if (!num(s, &out->p[i]) || !num(s, &out->pred[i]) ||
            (labelled && !num(s, &out->truth[i])))
            return !fail("a row is short or holds something other than numbers");
    return true;
}

static char *read_all(FILE *f)
{
    struct cap_buf b;
    cap_buf_init(&b);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        cap_buf_append(&b, tmp, k);
    cap_buf_putc(&b, '\0');
    return cap_buf_steal(&b);
}

static void jnum(const char *key, double v, const char *sep)
{
    if (isnan(v))
        printf("\"%s\": null%s", key, sep);
    else if (isinf(v))
        printf("\"%s\": %s%s", key, v > 0 ? "1e999" : "-1e999", sep);
    else
        printf("\"%s\": %.17g%s", key, v, sep);
}

static void print_chunks(const struct fb_cbpe_chunk *c, size_t nc, unsigned metrics)
{
    printf("[");
    for (size_t i = 0; i < nc; i++) {
        printf("%s{\"key\": \"[%zu:%zu]\", \"start_index\": %zu, \"end_index\": %zu, "
               "\"n\": %zu, \"metrics\": {", i ? ", " : "", c[i].start, c[i].end, c[i].start,
               c[i].end, c[i].r.n);
        const char *sep = "";
        for (int k = 0; k < FB_CBPE_NMETRICS; k++) {
            if (!(metrics & FB_CBPE_BIT(k)))
                continue;
            const struct fb_cbpe_value *v = &c[i].r.m[k];
            printf("%s\"%s\": {", sep, fb_cbpe_metric_name(k));
            jnum("value", v->value, ", ");
            jnum("sampling_error", v->sampling_error, ", ");
            jnum("realized", v->realized, ", ");
            jnum("upper_confidence_boundary", v->upper_bound, ", ");
            jnum("lower_confidence_boundary", v->lower_bound, ", ");
            jnum("upper_threshold", v->upper_threshold, ", ");
            jnum("lower_threshold", v->lower_threshold, ", ");
            printf("\"alert\": %s}", v->alert ? "true" : "false");
            sep = ", ";
        }
        printf("}}");
    }
    printf("]");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_result(const fb_cbpe *m, const struct fb_cbpe_chunk *rc, size_t nrc,
                         const struct fb_cbpe_chunk *ac, size_t nac, bool timed, double secs)
{
    double eb, ea;
    bool cal = fb_cbpe_calibrated(m, &eb, &ea);
    printf("{\"calibrated\": %s, ", cal ? "true" : "false");
    jnum("ece_before", eb, ", ");
    jnum("ece_after", ea, ", ");
    if (timed)
        jnum("seconds", secs, ", ");
    printf("\"reference\": ");
    print_chunks(rc, nrc, fb_cbpe_metrics(m));
    printf(", \"analysis\": ");
    print_chunks(ac, nac, fb_cbpe_metrics(m));
    printf("}\n");
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return fail("usage: cbpe_main CHUNK_SIZE METRICS [--time] < rows");
    struct cap_error err = {0};
    struct fb_cbpe_opts o = {.chunk_size = strtoull(argv[1], NULL, 10)};
    if (fb_cbpe_parse_metrics(argv[2], &o.metrics, &err))
        return fail(err.msg);
    bool timed = argc > 3 && !strcmp(argv[3], "--time");
    char *text = read_all(stdin), *s = text;
    struct section ref = {0}, ana = {0};
    fb_cbpe *m = NULL;
    struct fb_cbpe_chunk *rc = NULL, *ac = NULL;
    size_t nrc = 0, nac = 0;
    int status = 1;
    if (read_section(&s, "reference", true, &ref) && read_section(&s, "analysis", false, &ana)) {
        struct fb_cbpe_rows rr = {ref.p, ref.pred, ref.truth, ref.n};
        struct fb_cbpe_rows ar = {ana.p, ana.pred, ana.truth, ana.n};
        double t0 = now();
        if (fb_cbpe_fit(&rr, &o, &m, &err) || fb_cbpe_estimate(m, &rr, &rc, &nrc, &err) ||
            fb_cbpe_estimate(m, &ar, &ac, &nac, &err)) {
            fail(err.msg);
        } else {
            print_result(m, rc, nrc, ac, nac, timed, now() - t0);
            status = 0;
        }
    }
    free(rc), free(ac);
    fb_cbpe_free(m);
    free(ref.p), free(ref.pred), free(ref.truth);
    free(ana.p), free(ana.pred), free(ana.truth);
    free(text);
    return status;
}
