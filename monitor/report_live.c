/* report_live.c - a live deployment's monitoring as one self-contained
 * HTML page (monitor.h, mon_live_report_html): the latest window's
 * verdicts, tables and histograms with report.c's pieces (html.h), and per
 * column the drift score of every window over time as an inline SVG line
 * with its threshold. Nothing is fetched: inline CSS and SVG under a
 * Content-Security-Policy of default-src 'none'. A chart is ~60 bytes a
 * window plus ~1 kB, so 10,000 windows of 30 columns make ~18 MB: the
 * caller picks one width and a time range. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/html.h"
#include "monitor/monitor.h"
#include "monitor/stattest.h"

#define LIVE_CATS 20 /* categories drawn, as the file report draws */

static const cJSON *obj(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(v) ? v : NULL;
}

/* The column named name in a drift report, or NULL. */
static const cJSON *drift_col(const cJSON *report, const char *name)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(report, "columns"))
        if (strcmp(mon_jstr(c, "column"), name) == 0)
            return c;
    return NULL;
}

static void put_time(struct cap_buf *b, double ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[32];
    if (!isfinite(ms) || !gmtime_r(&t, &tm) || !strftime(s, sizeof s, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(s, sizeof s, "?");
    cap_buf_puts(b, s);
}

/* ---- the head of the page ---- */

static void summary(struct cap_buf *b, const cJSON *windows, const cJSON *latest)
{
    int n = cJSON_GetArraySize(windows);
    cap_buf_printf(b, "<p class=\"sub\">%d window%s of %.0f s from ", n, n == 1 ? "" : "s",
                   mon_jnum(latest, "width_s"));
    put_time(b, mon_jnum(cJSON_GetArrayItem(windows, 0), "start_ms"));
    cap_buf_puts(b, " to ");
    put_time(b, mon_jnum(latest, "end_ms"));
    cap_buf_puts(b, " (UTC)</p>\n<p class=\"sub\">Latest window: ");
    put_time(b, mon_jnum(latest, "start_ms"));
    cap_buf_printf(b, " &#183; %.0f rows (%.0f late) &#183; ", mon_jnum(latest, "rows"),
                   mon_jnum(latest, "late_rows"));
    const cJSON *ref = obj(latest, "reference");
    if (ref) {
        cap_buf_puts(b, "reference ");
        mon_html_esc(b, mon_jstr(ref, "target"));
        cap_buf_printf(b, " (%.0f rows) &#183; method ", mon_jnum(ref, "rows"));
        mon_html_esc(b, mon_jstr(latest, "method"));
    } else {
        cap_buf_puts(b, "no baseline");
    }
    cap_buf_puts(b, "</p>\n");
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(latest, "errors"))
    {
        cap_buf_puts(b, "<p class=\"note\">Note: ");
        mon_html_esc(b, cJSON_IsString(e) ? e->valuestring : "?");
        cap_buf_puts(b, "</p>\n");
    }
}

/* ---- histograms of the latest window ---- */

static double num_at(const cJSON *a, size_t i)
{
    const cJSON *v = cJSON_GetArrayItem(a, (int)i);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str_at(const cJSON *a, size_t i)
{
    const cJSON *v = cJSON_GetArrayItem(a, (int)i);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double sum(const cJSON *counts)
{
    double t = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, counts)
        t += cJSON_IsNumber(v) ? v->valuedouble : 0;
    return t;
}

/* One side's counts [from, from + n) as shares of total (0 for a missing side). */
static double *shares(const cJSON *counts, size_t from, size_t n, double total)
{
    double *s = cap_xcalloc(n + 1, sizeof *s);
    for (size_t i = 0; i < n && total > 0; i++)
        s[i] = num_at(counts, from + i) / total;
    return s;
}

static void edge_label(const void *ctx, size_t i, struct cap_buf *b)
{
    mon_html_num(b, num_at(ctx, i));
}

static void edge_tip(const void *ctx, size_t i, struct cap_buf *b)
{
    mon_html_bin_range(b, num_at(ctx, i), num_at(ctx, i + 1));
}

static void cat_label(const void *ctx, size_t i, struct cap_buf *b)
{
    mon_html_esc_short(b, str_at(ctx, i));
}

static void cat_tip(const void *ctx, size_t i, struct cap_buf *b)
{
    mon_html_esc(b, str_at(ctx, i));
}

static void draw(struct cap_buf *b, struct mon_html_chart *c, const cJSON *ref,
                 const cJSON *cur, size_t from, double tref, double tcur)
{
    double *r = shares(ref, from, c->n, tref), *k = shares(cur, from, c->n, tcur);
    c->ref = r;
    c->cur = k;
    c->nref = (size_t)tref;
    c->ncur = (size_t)tcur;
    mon_html_chart_svg(b, c);
    free(r);
    free(k);
}

static void hist_numerical(struct cap_buf *b, const cJSON *col)
{
    const cJSON *edges = cJSON_GetObjectItemCaseSensitive(col, "edges");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(col, "reference");
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(col, "current");
    int nb = cJSON_GetArraySize(edges) - 1;
    if (nb < 1 || cJSON_GetArraySize(cur) != nb + 2) {
        cap_buf_puts(b, "<p class=\"note\">No bins: the reference has no finite value.</p>\n");
        return;
    }
    double tref = cJSON_IsArray(ref) ? sum(ref) : 0, tcur = sum(cur);
    struct mon_html_chart c = {.n = (size_t)nb, .edges = true, .label = edge_label,
                               .tip = edge_tip, .ctx = edges};
    draw(b, &c, ref, cur, 1, tref, tcur);
    cap_buf_printf(b, "<p class=\"note\">Share of each side's finite values in the baseline's "
                      "%d bins; in the window %.0f below and %.0f above the reference's range."
                      "</p>\n",
                   nb, num_at(cur, 0), num_at(cur, (size_t)nb + 1));
}

static void hist_categorical(struct cap_buf *b, const cJSON *col)
{
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(col, "categories");
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(col, "reference");
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(col, "current");
    const cJSON *other = cJSON_GetObjectItemCaseSensitive(col, "other");
    size_t n = (size_t)cJSON_GetArraySize(cats), shown = n < LIVE_CATS ? n : LIVE_CATS;
    size_t chars = 0;
    for (size_t i = 0; i < shown; i++) {
        size_t k = 0;
        for (const char *p = str_at(cats, i); *p && k <= 14; p++)
            k += (*p & 0xC0) != 0x80; /* UTF-8 characters */
        chars = k > chars ? k : chars;
    }
    double tref = cJSON_IsArray(ref) ? sum(ref) + num_at(other, 0) : 0;
    double tcur = sum(cur) + num_at(other, 1);
    if (shown) {
        struct mon_html_chart c = {.n = shown, .rotate = mon_html_labels_collide(chars, shown),
                                   .label = cat_label, .tip = cat_tip, .ctx = cats};
        draw(b, &c, ref, cur, 0, tref, tcur);
    }
    cap_buf_printf(b, "<p class=\"note\">Share of each side's non-missing values; %zu of %.0f "
                      "categories shown, the most frequent over both sides first.</p>\n",
                   shown, mon_jnum(col, "distinct"));
}

static void histograms(struct cap_buf *b, const cJSON *hist, const cJSON *latest)
{
    cap_buf_puts(b, "<h2>Distributions (latest window)</h2>\n");
    if (!hist) {
        cap_buf_puts(b, "<p class=\"note\">No histograms: the latest window had no baseline."
                        "</p>\n");
        return;
    }
    const cJSON *ref = obj(hist, "reference");
    if (ref && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "available"))) {
        cap_buf_puts(b, "<p class=\"note\">The reference side is left out: ");
        mon_html_esc(b, mon_jstr(ref, "note"));
        cap_buf_puts(b, ".</p>\n");
    }
    const cJSON *col;
    cJSON_ArrayForEach(col, cJSON_GetObjectItemCaseSensitive(hist, "columns"))
    {
        const char *name = mon_jstr(col, "column");
        bool numerical = strcmp(mon_jstr(col, "kind"), "num") == 0;
        const cJSON *dcol = drift_col(obj(latest, "drift"), name);
        if (!dcol)
            dcol = drift_col(obj(latest, "prediction_drift"), name);
        cap_buf_puts(b, "<div class=\"feature\">");
        mon_html_feature_head(b, name, numerical, dcol);
        if (numerical)
            hist_numerical(b, col);
        else
            hist_categorical(b, col);
        cap_buf_puts(b, "</div>\n");
    }
}

/* ---- the drift score of each window over time ---- */

struct series {
    double *t, *score;
    bool *drift;
    size_t n;
    double t0, t1, ymax;
};

/* The scores of column name in each window's report under key. */
static void collect(const cJSON *windows, const char *key, const char *name, double threshold,
                    struct series *s)
{
    size_t cap = (size_t)cJSON_GetArraySize(windows) + 1;
    *s = (struct series){.t = cap_xmalloc(cap * sizeof(double)),
                         .score = cap_xmalloc(cap * sizeof(double)),
                         .drift = cap_xmalloc(cap * sizeof(bool)),
                         .ymax = isfinite(threshold) ? threshold : 0};
    const cJSON *w;
    cJSON_ArrayForEach(w, windows)
    {
        const cJSON *c = drift_col(obj(w, key), name);
        double v = mon_jnum(c, "drift_score");
        if (!c || !isfinite(v))
            continue;
        s->t[s->n] = mon_jnum(w, "start_ms");
        s->score[s->n] = v;
        s->drift[s->n] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "drift_detected"));
        s->ymax = fmax(s->ymax, v);
        s->n++;
    }
    s->t0 = mon_jnum(cJSON_GetArrayItem(windows, 0), "start_ms");
    s->t1 = mon_jnum(cJSON_GetArrayItem(windows, cJSON_GetArraySize(windows) - 1), "start_ms");
    s->ymax = s->ymax > 0 ? s->ymax * 1.1 : 1;
}

static double xpos(const struct series *s, double t)
{
    double w = MON_CH_W - MON_CH_LEFT - MON_CH_RIGHT;
    return s->t1 > s->t0 ? MON_CH_LEFT + w * (t - s->t0) / (s->t1 - s->t0) : MON_CH_LEFT + w / 2;
}

static double ypos(const struct series *s, double v)
{
    return MON_CH_TOP + MON_CH_PLOT - MON_CH_PLOT * v / s->ymax;
}

static void score_axes(struct cap_buf *b, const struct series *s, double threshold)
{
    double right = MON_CH_W - MON_CH_RIGHT;
    for (int g = 0; g <= 4; g++) {
        double y = ypos(s, s->ymax * g / 4.0);
        cap_buf_printf(b,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                       MON_CH_LEFT, y, right, y, g ? "#eceff3" : "#9aa5b1", MON_CH_LEFT - 6,
                       y + 4);
        mon_html_num(b, s->ymax * g / 4.0);
        cap_buf_puts(b, "</text>");
    }
    if (isfinite(threshold)) {
        double y = ypos(s, threshold);
        cap_buf_printf(b,
                       "<line class=\"threshold\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                       "y2=\"%.1f\" stroke=\"#d64545\" stroke-dasharray=\"6 4\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">threshold ",
                       MON_CH_LEFT, y, right, y, right, y - 4);
        mon_html_num(b, threshold);
        cap_buf_puts(b, "</text>");
    }
    double base = MON_CH_TOP + MON_CH_PLOT + 14;
    cap_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", MON_CH_LEFT, base);
    put_time(b, s->t0);
    cap_buf_printf(b, "</text><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", right, base);
    put_time(b, s->t1);
    cap_buf_puts(b, "</text>");
}

static void score_points(struct cap_buf *b, const struct series *s)
{
    if (s->n > 1) {
        cap_buf_puts(b, "<polyline fill=\"none\" stroke=\"#4c78a8\" stroke-width=\"1.5\" "
                        "points=\"");
        for (size_t i = 0; i < s->n; i++)
            cap_buf_printf(b, "%s%.1f,%.1f", i ? " " : "", xpos(s, s->t[i]),
                           ypos(s, s->score[i]));
        cap_buf_puts(b, "\"/>");
    }
    for (size_t i = 0; i < s->n; i++) {
        cap_buf_printf(b,
                       "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>",
                       xpos(s, s->t[i]), ypos(s, s->score[i]), s->drift[i] ? "#d64545" : "#4c78a8");
        put_time(b, s->t[i]);
        cap_buf_puts(b, ": ");
        mon_html_num(b, s->score[i]);
        cap_buf_printf(b, "%s</title></circle>", s->drift[i] ? ", drift" : "");
    }
}

/* Draws the chart's axes and points and closes its svg and box (b NULL:
 * nothing drawn), then frees the series. */
static void series_close(struct cap_buf *b, struct series *s, double threshold)
{
    if (b) {
        score_axes(b, s, threshold);
        score_points(b, s);
        cap_buf_puts(b, "</svg></div>\n");
    }
    free(s->t);
    free(s->score);
    free(s->drift);
}

static void timeline(struct cap_buf *b, const cJSON *windows, const char *key, const cJSON *col)
{
    const char *name = mon_jstr(col, "column"), *test = mon_jstr(col, "stattest");
    double threshold = mon_jnum(col, "stattest_threshold");
    struct series s;
    collect(windows, key, name, threshold, &s);
    double height = MON_CH_TOP + MON_CH_PLOT + 26;
    cap_buf_puts(b, "<div class=\"feature\"><h3>");
    mon_html_esc(b, name);
    cap_buf_puts(b, "</h3><p class=\"meta\">");
    const struct mon_stattest *st = mon_stattest_find(test);
    mon_html_esc(b, st ? st->display : test);
    cap_buf_printf(b, " &#183; %zu of %d windows scored &#183; drift when the score is %s the "
                      "threshold</p>\n",
                   s.n, cJSON_GetArraySize(windows), st && st->pvalue ? "below" : "at least");
    cap_buf_printf(b, "<svg class=\"score\" data-column=\"");
    mon_html_esc(b, name);
    cap_buf_printf(b, "\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\">",
                   MON_CH_W, height, MON_CH_W, height);
    series_close(b, &s, threshold);
}

/* One chart per column of the latest window's report under key. */
static void timelines(struct cap_buf *b, const cJSON *windows, const cJSON *latest,
                      const char *key, const char *heading)
{
    const cJSON *report = obj(latest, key), *c;
    if (!report)
        return;
    cap_buf_printf(b, "<h2>%s</h2>\n", heading);
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(report, "columns"))
        timeline(b, windows, key, c);
}

/* ---- model quality from labels (the feedback quality API's windows) ---- */

/* One metric of the realised-quality windows as a series (no threshold). */
static void quality_series(const cJSON *quality, const char *split, const char *name,
                           struct series *s)
{
    size_t cap = (size_t)cJSON_GetArraySize(quality) + 1;
    *s = (struct series){.t = cap_xmalloc(cap * sizeof(double)),
                         .score = cap_xmalloc(cap * sizeof(double)),
                         .drift = cap_xcalloc(cap, sizeof(bool))};
    const cJSON *w;
    cJSON_ArrayForEach(w, quality)
    {
        const cJSON *m = obj(w, "metrics");
        double v = mon_jnum(split ? obj(m, split) : m, name);
        if (!isfinite(v))
            continue;
        s->t[s->n] = mon_jnum(w, "start_ms");
        s->score[s->n] = v;
        s->ymax = fmax(s->ymax, v);
        s->n++;
    }
    s->t0 = s->n ? s->t[0] : 0;
    s->t1 = s->n ? s->t[s->n - 1] : 0;
    s->ymax = s->ymax > 0 ? s->ymax * 1.1 : 1;
}

static void quality_chart(struct cap_buf *b, const cJSON *quality, const char *split,
                          const char *name)
{
    struct series s;
    quality_series(quality, split, name, &s);
    if (s.n > 0) {
        double height = MON_CH_TOP + MON_CH_PLOT + 26;
        cap_buf_printf(b, "<div class=\"feature\"><h3>%s%s%s</h3><p class=\"meta\">%zu of %d "
                          "labelled windows</p>\n<svg class=\"quality\" data-metric=\"%s\" "
                          "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                          "role=\"img\">",
                       name, split ? " " : "", split ? split : "", s.n,
                       cJSON_GetArraySize(quality), name, MON_CH_W, height, MON_CH_W, height);
        series_close(b, &s, NAN);
        return;
    }
    series_close(NULL, &s, NAN);
}

/* The realised quality of every labelled window: a classifier's accuracy,
 * F1 (binary, else macro) and ROC AUC, a regressor's MAE, RMSE and R^2. */
static void quality_section(struct cap_buf *b, const cJSON *quality)
{
    const cJSON *last = cJSON_GetArrayItem(quality, cJSON_GetArraySize(quality) - 1);
    if (!last)
        return;
    bool cls = strcmp(mon_jstr(last, "task"), "classification") == 0;
    cap_buf_printf(b, "<h2>Model quality from labels</h2>\n<p class=\"sub\">Latest labelled "
                      "window: ");
    put_time(b, mon_jnum(last, "start_ms"));
    cap_buf_printf(b, " &#183; %.0f labels</p>\n", mon_jnum(last, "labelled"));
    if (cls) {
        bool binary = cJSON_IsObject(obj(obj(last, "metrics"), "binary"));
        quality_chart(b, quality, NULL, "accuracy");
        quality_chart(b, quality, binary ? "binary" : "macro", "f1");
        quality_chart(b, quality, NULL, "roc_auc");
    } else {
        quality_chart(b, quality, NULL, "mae");
        quality_chart(b, quality, NULL, "rmse");
        quality_chart(b, quality, NULL, "r2");
    }
}

static int check_windows(const cJSON *windows, struct cap_error *err)
{
    if (!cJSON_IsArray(windows) || cJSON_GetArraySize(windows) == 0)
        return cap_err(err, CAP_EINVAL, "no monitoring window to report (expected a list of "
                                        "at least one window)");
    const cJSON *w;
    cJSON_ArrayForEach(w, windows)
        if (!cJSON_IsObject(w) || !isfinite(mon_jnum(w, "start_ms")) ||
            !isfinite(mon_jnum(w, "width_s")))
            return cap_err(err, CAP_EINVAL,
                           "a monitoring window lacks its start_ms or width_s");
    return 0;
}

int mon_live_report_html(const char *deployment, const cJSON *windows, const cJSON *hist,
                         const cJSON *realised, struct cap_buf *out, struct cap_error *err)
{
    int rc = check_windows(windows, err);
    if (rc < 0)
        return rc;
    const cJSON *latest = cJSON_GetArrayItem(windows, cJSON_GetArraySize(windows) - 1);
    const cJSON *drift = obj(latest, "drift"), *pred = obj(latest, "prediction_drift");
    const cJSON *quality = obj(latest, "data_quality");
    struct cap_buf title;
    cap_buf_init(&title);
    cap_buf_printf(&title, "Live monitoring: %s", deployment);
    mon_html_page_open(out, title.data);
    cap_buf_free(&title);
    summary(out, windows, latest);
    mon_html_cards(out, drift, quality);
    if (drift)
        mon_html_drift_table(out, drift, "Feature drift (latest window)");
    if (pred)
        mon_html_drift_table(out, pred, "Prediction drift (latest window)");
    if (quality)
        mon_html_quality(out, quality);
    histograms(out, hist, latest);
    timelines(out, windows, latest, "drift", "Feature drift score over time");
    timelines(out, windows, latest, "prediction_drift", "Prediction drift score over time");
    if (cJSON_IsArray(realised))
        quality_section(out, realised);
    mon_html_page_close(out);
    return 0;
}
