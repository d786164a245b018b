/* bench_metrics.c - times feedback/metrics.h on the arrays bench.py wrote
 * (raw little-endian files in DIR: yt.i32, yp.i32, proba.f64 (n x 2),
 * rt.f64, rp.f64) and prints the best time of REPEAT runs and the numbers
 * as one JSON object, for bench.py to set beside scikit-learn's.
 * Usage: bench_metrics DIR REPEAT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "feedback/feedback.h"

static void *load(const char *dir, const char *name, size_t *bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "bench_metrics: cannot read %s\n", path);
        exit(2);
    }
    *bytes = (size_t)ftell(f);
    rewind(f);
    void *p = malloc(*bytes ? *bytes : 1);
    if (!p || fread(p, 1, *bytes, f) != *bytes) {
        fprintf(stderr, "bench_metrics: short read on %s\n", path);
        exit(2);
    }
    fclose(f);
    return p;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void fail(const struct cap_error *err)
{
    fprintf(stderr, "bench_metrics: %s\n", err->msg);
    exit(1);
}

static void num(const char *key, double v, const char *sep)
{
    if (isfinite(v))
        printf("\"%s\": %.17g%s", key, v, sep);
    else
        printf("\"%s\": null%s", key, sep);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bench_metrics DIR REPEAT\n");
        return 2;
    }
    int repeat = atoi(argv[2]);
    size_t b1, b2, b3, b4, b5;
    int32_t *yt = load(argv[1], "yt.i32", &b1), *yp = load(argv[1], "yp.i32", &b2);
    double *proba = load(argv[1], "proba.f64", &b3);
    double *rt = load(argv[1], "rt.f64", &b4), *rp = load(argv[1], "rp.f64", &b5);
    size_t n = b1 / sizeof *yt, rn = b4 / sizeof *rt;
    struct fb_cls_input in = {.n = n, .k = 2, .y_true = yt, .y_pred = yp, .proba = proba};
    struct cap_error err = {0};
    struct fb_cls_metrics m = {0};
    struct fb_ranking r;
    struct fb_reg_metrics g;
    double best_cls = INFINITY, best_rank = INFINITY, best_reg = INFINITY;
    for (int i = 0; i < repeat; i++) {
        fb_cls_metrics_free(&m);
        double t0 = now_ms();
        if (fb_cls_compute(&in, NULL, &m, &err))
            fail(&err);
        double t1 = now_ms();
        if (fb_rank_binary(yt, 1, proba + 1, 2, n, &r, &err))
            fail(&err);
        double t2 = now_ms();
        if (fb_reg_compute(rt, rp, rn, &g, &err))
            fail(&err);
        double t3 = now_ms();
        best_cls = fmin(best_cls, t1 - t0);
        best_rank = fmin(best_rank, t2 - t1);
        best_reg = fmin(best_reg, t3 - t2);
    }
    printf("{\"ms\": {\"classification\": %.3f, \"ranking\": %.3f, \"regression\": %.3f},\n",
           best_cls, best_rank, best_reg);
    printf(" \"classification\": {");
    num("accuracy", m.accuracy, ", ");
    num("precision", m.binary.precision, ", ");
    num("recall", m.binary.recall, ", ");
    num("f1", m.binary.f1, ", ");
    num("macro_f1", m.macro.f1, ", ");
    num("weighted_f1", m.weighted.f1, ", ");
    num("roc_auc", m.roc_auc, ", ");
    num("average_precision", m.avg_precision, ", ");
    num("log_loss", m.log_loss, ", ");
    printf("\"confusion\": [[%lld, %lld], [%lld, %lld]]},\n", (long long)m.confusion[0],
           (long long)m.confusion[1], (long long)m.confusion[2], (long long)m.confusion[3]);
    printf(" \"ranking\": {");
    num("roc_auc", r.roc_auc, ", ");
    num("average_precision", r.avg_precision, "},\n");
    printf(" \"regression\": {");
    num("mae", g.mae, ", ");
    num("rmse", g.rmse, ", ");
    num("mape", g.mape, ", ");
    num("r2", g.r2, ", ");
    num("mean_error", g.mean_error, "}}\n");
    fb_cls_metrics_free(&m);
    free(yt), free(yp), free(proba), free(rt), free(rp);
    return 0;
}
