/* metrics_main.c - drives feedback/metrics.h for tests/feedback/test_metrics.py.
 *
 * stdin: a header line, then one CSV row per labelled prediction:
 *   classification K [pos=C] [zero_division=0|1|nan] [all_classes]
 *   y_true,y_pred[,p_0,...,p_K-1]      (indices; probabilities on every row or none)
 * or
 *   regression
 *   y_true,y_pred                      (doubles; "nan" and "inf" pass through)
 * stdout: the metrics as the API answers them (fb_cls_json / fb_reg_json:
 * doubles that read back exactly, NaN as null, the notes as their names). Exit 1 with the library's message on stderr when it
 * refuses the rows, 2 when the text itself cannot be read. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/buf.h"
#include "feedback/feedback.h"

struct rows {
    int32_t *yt, *yp;
    double *dt, *dp, *proba;
    size_t n, cap;
    int fields; /* per row, fixed by the first */
};

static _Noreturn void die(const char *fmt, const char *a, size_t line)
{
    fprintf(stderr, "metrics_main: line %zu: ", line);
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    exit(2);
}

static void grow(struct rows *r, int k)
{
    if (r->n < r->cap)
        return;
    r->cap = r->cap ? 2 * r->cap : 1024;
    r->yt = cap_xrealloc(r->yt, r->cap * sizeof *r->yt);
    r->yp = cap_xrealloc(r->yp, r->cap * sizeof *r->yp);
    r->dt = cap_xrealloc(r->dt, r->cap * sizeof *r->dt);
    r->dp = cap_xrealloc(r->dp, r->cap * sizeof *r->dp);
    if (k > 0)
        r->proba = cap_xrealloc(r->proba, r->cap * (size_t)k * sizeof *r->proba);
}

/* Splits line at commas into at most max fields; returns the count. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *s = line;; s++) {
        if (n == max)
            return max + 1;
        f[n++] = s;
        s = strchr(s, ',');
        if (!s)
            return n;
        *s = '\0';
    }
}

static double parse_double(const char *s, size_t line)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end)
        die("'%s' is not a number", s, line);
    return v;
}

static int32_t parse_index(const char *s, size_t line)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < INT32_MIN || v > INT32_MAX)
        die("'%s' is not a class index", s, line);
    return (int32_t)v;
}

/* k: the classes (their probabilities may follow), or -1 for regression. */
static void read_rows(struct rows *r, int k)
{
    char *line = NULL, *f[FB_MAX_CLASSES + 3];
    size_t cap = 0, no = 1;
    while (getline(&line, &cap, stdin) > 0) {
        no++;
        int nf = split(line, f, k >= 0 ? k + 2 : 2);
        if (r->n == 0)
            r->fields = nf;
        if (nf != r->fields || (nf != 2 && nf != k + 2))
            die("%s fields: expected y_true,y_pred[,p_0..p_K-1] as on the first row",
                nf > k + 2 ? "too many" : "wrong number of", no);
        grow(r, k);
        if (k >= 0) {
            r->yt[r->n] = parse_index(f[0], no);
            r->yp[r->n] = parse_index(f[1], no);
            for (int c = 0; c + 2 < nf; c++)
                r->proba[r->n * (size_t)k + c] = parse_double(f[c + 2], no);
        } else {
            r->dt[r->n] = parse_double(f[0], no);
            r->dp[r->n] = parse_double(f[1], no);
        }
        r->n++;
    }
    free(line);
}

/* The header's options; returns k, the library checks its range (-1 for
 * regression). */
static int read_header(struct fb_cls_opts *o)
{
    char *line = NULL, *save = NULL;
    size_t cap = 0;
    if (getline(&line, &cap, stdin) <= 0)
        die("%sno header: expected 'classification K ...' or 'regression'", "", 1);
    line[strcspn(line, "\r\n")] = '\0';
    char *task = strtok_r(line, " ", &save);
    int k = -1;
    if (task && strcmp(task, "classification") == 0) {
        char *ks = strtok_r(NULL, " ", &save);
        k = ks ? parse_index(ks, 1) : 0;
        if (k < 0)
            die("K = %s: expected a count of classes", ks, 1);
        for (char *t; (t = strtok_r(NULL, " ", &save));) {
            if (strncmp(t, "pos=", 4) == 0)
                o->pos_class = parse_index(t + 4, 1);
            else if (strncmp(t, "zero_division=", 14) == 0)
                o->zero_division = parse_double(t + 14, 1);
            else if (strcmp(t, "all_classes") == 0)
                o->all_classes = true;
            else
                die("unknown option '%s'", t, 1);
        }
    } else if (!task || strcmp(task, "regression") != 0) {
        die("task '%s': expected classification or regression", task ? task : "", 1);
    }
    free(line);
    return k;
}

int main(void)
{
    struct fb_cls_opts o;
    fb_cls_opts_init(&o);
    int k = read_header(&o);
    struct rows r = {0};
    /* a k out of range still reads y_true,y_pred rows: the library refuses it */
    read_rows(&r, k < 0 ? -1 : k > FB_MAX_CLASSES ? 0 : k);
    struct cap_error err = {0};
    cJSON *out = NULL;
    int rc;
    if (k >= 0) {
        struct fb_cls_input in = {.n = r.n, .k = k, .y_true = r.yt, .y_pred = r.yp,
                                  .proba = r.fields > 2 ? r.proba : NULL};
        struct fb_cls_metrics m;
        if ((rc = fb_cls_compute(&in, &o, &m, &err)) == 0)
            out = fb_cls_json(&m, NULL);
        fb_cls_metrics_free(&m);
    } else {
        struct fb_reg_metrics m;
        if ((rc = fb_reg_compute(r.dt, r.dp, r.n, &m, &err)) == 0)
            out = fb_reg_json(&m);
    }
    free(r.yt), free(r.yp), free(r.dt), free(r.dp), free(r.proba);
    if (rc) {
        fprintf(stderr, "metrics: %s\n", err.msg);
        return 1;
    }
    char *s = cJSON_PrintUnformatted(out);
    puts(s);
    free(s);
    cJSON_Delete(out);
    return 0;
}
