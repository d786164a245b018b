/* report.c - the drift and data-quality report as one self-contained HTML
 * page (monitor.h): inline CSS, inline SVG charts, no script and nothing
 * fetched (a Content-Security-Policy says so to the browser too), so the
 * file can be mailed or archived and still open the same. Every text that
 * comes from the data goes through esc(). Charts are bounded (30 bins, 20
 * categories), so a page is about 7 kB a column whatever the row count
 * (208 kB for 1,000,000 x 29 against 100,000 rows, built in 0.3-0.4 s);
 * building them costs two passes over a numerical column and one over a
 * categorical one (a hash map, no sort of the cells). */
#include "monitor/monitor.h"
#include "monitor/html.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/numfmt.h"
#include "monitor/drift.h"
#include "monitor/stattest.h"
#include "monitor/valmap.h"

#define MON_REPORT_BINS 30
#define MON_REPORT_CATS 20
#define MON_LABEL_CHARS 14 /* characters of a category label under its bars */

/* Chart geometry (html.h), in SVG user units. */
#define CH_W MON_CH_W
#define CH_LEFT MON_CH_LEFT
#define CH_RIGHT MON_CH_RIGHT
#define CH_TOP MON_CH_TOP
#define CH_PLOT MON_CH_PLOT

/* ---- text ---- */

static void esc_n(struct cap_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++) {
        switch (s[i]) {
        case '&': cap_buf_puts(b, "&amp;"); break;
        case '<': cap_buf_puts(b, "&lt;"); break;
        case '>': cap_buf_puts(b, "&gt;"); break;
        case '"': cap_buf_puts(b, "&quot;"); break;
        case '\'': cap_buf_puts(b, "&#39;"); break;
        default: cap_buf_putc(b, s[i]);
        }
    }
}

static void esc(struct cap_buf *b, const char *s)
{
    esc_n(b, s, strlen(s));
}

/* At most MON_LABEL_CHARS UTF-8 characters of s, then an ellipsis. */
static void esc_short(struct cap_buf *b, const char *s)
{
    size_t i = 0, chars = 0;
    while (s[i] && chars < MON_LABEL_CHARS) {
        i++;
        while ((s[i] & 0xC0) == 0x80) /* continuation bytes of one character */
            i++;
        chars++;
    }
    esc_n(b, s, i);
    if (s[i])
        cap_buf_puts(b, "&#8230;");
}

static void put_num(struct cap_buf *b, double v)
{
    if (isnan(v))
        cap_buf_puts(b, "&#8212;");
    else if (isinf(v))
        cap_buf_puts(b, v > 0 ? "&#8734;" : "&#8722;&#8734;");
    else if (fabs(v) >= 1e4 && fabs(v) < 1e9)
        cap_buf_printf(b, "%.0f", v); /* 36080, not 3.608e+04 */
    else
        cap_buf_printf(b, "%.4g", v);
}

static void put_pct(struct cap_buf *b, double share)
{
    cap_buf_printf(b, "%.3g%%", 100 * share);
}

/* ---- reading the JSON reports ---- */

double mon_jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *mon_jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static bool jtrue(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItem(o, key));
}

static const struct mon_column *find_col(const struct mon_frame *f, const char *name)
{
    for (size_t c = 0; c < f->ncols; c++)
        if (strcmp(f->cols[c].name, name) == 0)
            return &f->cols[c];
    return NULL;
}

/* The drift report's columns must name columns of both frames. */
static int check_drift(const struct mon_frame *ref, const struct mon_frame *cur,
                       const cJSON *drift, struct cap_error *err)
{
    const cJSON *cols = cJSON_GetObjectItem(drift, "columns"), *c;
    if (!cJSON_IsArray(cols))
        return cap_err(err, CAP_EINVAL, "the drift report has no \"columns\" array");
    cJSON_ArrayForEach(c, cols)
    {
        const char *name = mon_jstr(c, "column");
        if (!find_col(ref, name) || !find_col(cur, name))
            return cap_err(err, CAP_EINVAL,
                           "the drift report names column '%s', which the data lacks", name);
    }
    return 0;
}

/* ---- the page around the sections ---- */

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;"
    "max-width:1080px;padding:24px;color:#1f2933;background:#fff}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;"
    "border-bottom:1px solid #d9dee4;padding-bottom:4px}"
    "h3{font-size:16px;margin:0 0 4px;word-break:break-all}"
    ".sub,.note,.meta{color:#52606d;font-size:13px;margin:4px 0}"
    ".cards{display:flex;gap:16px;margin-top:16px;flex-wrap:wrap}"
    ".card{flex:1;min-width:260px;border-radius:8px;padding:14px 18px;border:1px solid}"
    ".card .big{font-size:20px;font-weight:600;margin-bottom:4px}"
    ".ok{background:#eef8f0;border-color:#8fcf9f}.bad{background:#fdf0ef;border-color:#e8a19b}"
    "table{border-collapse:collapse;width:100%;font-size:14px}"
    "th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e4e7eb;vertical-align:top}"
    "th{background:#f5f7fa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "td.name{word-break:break-all;max-width:260px}"
    ".badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;"
    "font-weight:600;white-space:nowrap;margin:1px 0}.wrap{overflow-x:auto}.badge.ok{color:#1e6b34}.badge.bad{color:#a12a1f}"
    ".feature{border:1px solid #e4e7eb;border-radius:8px;padding:12px 16px;margin:12px 0}"
    "svg{display:block;max-width:100%;height:auto}"
    "svg text{font-family:inherit;font-size:11px;fill:#52606d}";

void mon_html_page_open(struct cap_buf *b, const char *title)
{
    cap_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
                    "'none'; style-src 'unsafe-inline'\">\n"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                    "<title>");
    esc(b, title);
    cap_buf_puts(b, "</title>\n<style>");
    cap_buf_puts(b, CSS);
    cap_buf_puts(b, "</style></head><body>\n<h1>");
    esc(b, title);
    cap_buf_puts(b, "</h1>\n");
}

void mon_html_page_close(struct cap_buf *b)
{
    cap_buf_puts(b, "<p class=\"note\">Made by Capstan; drift tests as in Evidently 0.7."
                    "</p>\n</body></html>\n");
}

static void page_head(struct cap_buf *b, size_t nref, size_t ncur, size_t ncols)
{
    mon_html_page_open(b, "Data drift report");
    cap_buf_printf(b,
                   "<p class=\"sub\">Reference: %zu rows &#183; current: %zu rows &#183; "
                   "%zu columns</p>\n",
                   nref, ncur, ncols);
}

static void badge(struct cap_buf *b, bool bad, const char *bad_text, const char *ok_text)
{
    cap_buf_printf(b, "<span class=\"badge %s\">%s</span>", bad ? "bad" : "ok",
                   bad ? bad_text : ok_text);
}

static void cards(struct cap_buf *b, const cJSON *drift, const cJSON *quality)
{
    cap_buf_puts(b, "<div class=\"cards\">\n");
    if (drift) {
        bool d = jtrue(drift, "dataset_drift");
        cap_buf_printf(b, "<div class=\"card %s\"><div class=\"big\">%s</div>", d ? "bad" : "ok",
                       d ? "Dataset drift detected" : "No dataset drift");
        cap_buf_printf(b, "<div>%.0f of %.0f columns drifted (",
                       mon_jnum(drift, "number_of_drifted_columns"),
                       mon_jnum(drift, "number_of_columns"));
        put_pct(b, mon_jnum(drift, "share_of_drifted_columns"));
        cap_buf_puts(b, "); the dataset drifts when that share is at least ");
        put_pct(b, mon_jnum(drift, "drift_share"));
        cap_buf_puts(b, "</div></div>\n");
    }
    if (quality) {
        bool ok = jtrue(quality, "passed");
        cap_buf_printf(b, "<div class=\"card %s\"><div class=\"big\">%s</div>", ok ? "ok" : "bad",
                       ok ? "Data quality passed" : "Data quality failed");
        const cJSON *dup = cJSON_GetObjectItem(quality, "duplicated_rows");
        cap_buf_printf(b, "<div>%.0f of %.0f columns failed a check; duplicated rows %s</div>"
                          "</div>\n",
                       mon_jnum(quality, "number_of_failed_columns"),
                       mon_jnum(quality, "number_of_columns"),
                       !cJSON_IsObject(dup)     ? "not known (a profile keeps no rows)"
                       : jtrue(dup, "failed") ? "failed"
                                              : "passed");
    }
    cap_buf_puts(b, "</div>\n");
}

/* ---- the drift table ---- */

static const char *test_display(const char *id)
{
    const struct mon_stattest *t = mon_stattest_find(id);
    return t ? t->display : id;
}

static void drift_table(struct cap_buf *b, const cJSON *drift, const char *heading)
{
    cap_buf_puts(b, "<h2>");
    esc(b, heading);
    cap_buf_puts(b, "</h2>\n<div class=\"wrap\"><table><tr><th>Column</th><th>Type</th>"
                    "<th>Test</th><th>Threshold</th><th>Score</th><th>Drift</th></tr>\n");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(drift, "columns"))
    {
        cap_buf_puts(b, "<tr><td class=\"name\">");
        esc(b, mon_jstr(c, "column"));
        cap_buf_printf(b, "</td><td>%s</td><td>",
                       strcmp(mon_jstr(c, "column_type"), "num") == 0 ? "numerical"
                                                                        : "categorical");
        esc(b, test_display(mon_jstr(c, "stattest")));
        cap_buf_puts(b, " (");
        esc(b, mon_jstr(c, "stattest"));
        cap_buf_puts(b, ")</td><td class=\"n\">");
        put_num(b, mon_jnum(c, "stattest_threshold"));
        cap_buf_puts(b, "</td><td class=\"n\">");
        put_num(b, mon_jnum(c, "drift_score"));
        cap_buf_puts(b, "</td><td>");
        badge(b, jtrue(c, "drift_detected"), "drift", "no drift");
        cap_buf_puts(b, "</td></tr>\n");
    }
    cap_buf_puts(b, "</table></div>\n");
}

/* ---- the data-quality table ---- */

static void quality_cell_new(struct cap_buf *b, const cJSON *nc)
{
    if (!cJSON_IsObject(nc)) {
        cap_buf_puts(b, "<td>&#8212;</td>");
        return;
    }
    cap_buf_printf(b, "<td>%.0f (", mon_jnum(nc, "count"));
    put_pct(b, mon_jnum(nc, "share"));
    cap_buf_puts(b, ")");
    const cJSON *ex = cJSON_GetObjectItem(nc, "examples"), *e;
    const char *sep = ": ";
    cJSON_ArrayForEach(e, ex)
    {
        cap_buf_puts(b, sep);
        if (cJSON_IsString(e))
            esc_short(b, e->valuestring);
        else
            put_num(b, e->valuedouble);
        sep = ", ";
    }
    if (mon_jnum(nc, "distinct") > cJSON_GetArraySize(ex))
        cap_buf_puts(b, ", &#8230;");
    cap_buf_puts(b, "</td>");
}

static void quality_cell_range(struct cap_buf *b, const cJSON *r)
{
    if (!cJSON_IsObject(r)) {
        cap_buf_puts(b, "<td>&#8212;</td>");
        return;
    }
    cap_buf_printf(b, "<td>%.0f (", mon_jnum(r, "count"));
    put_pct(b, mon_jnum(r, "share"));
    cap_buf_puts(b, ") outside [");
    put_num(b, mon_jnum(r, "min"));
    cap_buf_puts(b, ", ");
    put_num(b, mon_jnum(r, "max"));
    cap_buf_puts(b, "]</td>");
}

/* A failed check's name, "new_categories" shown as "new categories". */
static void check_badge(struct cap_buf *b, const char *name)
{
    cap_buf_puts(b, "<span class=\"badge bad\">");
    for (const char *p = name; *p; p++)
        if (*p == '_')
            cap_buf_putc(b, ' ');
        else
            esc_n(b, p, 1);
    cap_buf_puts(b, "</span> ");
}

static void quality_row(struct cap_buf *b, const cJSON *c)
{
    cap_buf_puts(b, "<tr><td class=\"name\">");
    esc(b, mon_jstr(c, "column"));
    cap_buf_printf(b, "</td><td>%s &#8594; %s", mon_jstr(c, "type_reference"),
                   mon_jstr(c, "type_current"));
    if (mon_jnum(c, "unreadable_cells") > 0)
        cap_buf_printf(b, " (%.0f unreadable)", mon_jnum(c, "unreadable_cells"));
    cap_buf_puts(b, "</td><td class=\"n\">");
    put_pct(b, mon_jnum(c, "missing_share_reference"));
    cap_buf_puts(b, "</td><td class=\"n\">");
    put_pct(b, mon_jnum(c, "missing_share_current"));
    cap_buf_puts(b, "</td>");
    quality_cell_new(b, cJSON_GetObjectItem(c, "new_categories"));
    quality_cell_range(b, cJSON_GetObjectItem(c, "out_of_range"));
    cap_buf_printf(b, "<td>%s / %s</td><td>", jtrue(c, "constant_reference") ? "yes" : "no",
                   jtrue(c, "constant_current") ? "yes" : "no");
    const cJSON *f, *fails = cJSON_GetObjectItem(c, "failed");
    if (cJSON_GetArraySize(fails) == 0)
        badge(b, false, "", "passed");
    cJSON_ArrayForEach(f, fails)
        check_badge(b, cJSON_IsString(f) ? f->valuestring : "?");
    cap_buf_puts(b, "</td></tr>\n");
}

static void duplicated_rows(struct cap_buf *b, const cJSON *d)
{
    cap_buf_printf(b, "<p>Duplicated rows: %.0f in the current data (", mon_jnum(d, "count"));
    put_pct(b, mon_jnum(d, "share"));
    cap_buf_printf(b, "), %.0f in the reference (", mon_jnum(d, "count_reference"));
    put_pct(b, mon_jnum(d, "share_reference"));
    cap_buf_puts(b, ") ");
    badge(b, jtrue(d, "failed"), "failed", "passed");
}

static void quality_section(struct cap_buf *b, const cJSON *q)
{
    cap_buf_puts(b, "<h2>Data quality</h2>\n<div class=\"wrap\"><table><tr><th>Column</th><th>Type (reference "
                    "&#8594; current)</th><th>Missing (ref.)</th><th>Missing (cur.)</th>"
                    "<th>New categories</th><th>Out of range</th><th>Constant (ref. / cur.)</th>"
                    "<th>Checks</th></tr>\n");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(q, "columns"))
        quality_row(b, c);
    cap_buf_puts(b, "</table></div>\n");
    const cJSON *d = cJSON_GetObjectItem(q, "duplicated_rows");
    if (!cJSON_IsObject(d)) /* quality from profiles: no rows to compare */
        cap_buf_puts(b, "<p>Duplicated rows: not known (checked from profiles, which keep no "
                        "rows)");
    else
        duplicated_rows(b, d);
    const cJSON *t = cJSON_GetObjectItem(q, "thresholds");
    cap_buf_puts(b, "</p>\n<p class=\"note\">A share check fails above its threshold: "
                    "missing cells ");
    put_pct(b, mon_jnum(t, "missing_share"));
    cap_buf_puts(b, " (and more than the reference), new categories ");
    put_pct(b, mon_jnum(t, "new_category_share"));
    cap_buf_puts(b, ", values out of the reference's range ");
    put_pct(b, mon_jnum(t, "out_of_range_share"));
    cap_buf_puts(b, ", duplicated rows ");
    put_pct(b, mon_jnum(t, "duplicated_rows_share"));
    cap_buf_printf(b, " (and more than the reference)%s.</p>\n",
                   jtrue(t, "constant") ? "; a column constant now but not in the reference fails"
                                        : "");
}

/* ---- charts ---- */

static void chart_axes(struct cap_buf *b, double ymax, double plot_w)
{
    for (int g = 0; g <= 4; g++) {
        double y = CH_TOP + CH_PLOT - CH_PLOT * g / 4.0;
        cap_buf_printf(b,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
                       CH_LEFT, y, CH_LEFT + plot_w, y, g ? "#eceff3" : "#9aa5b1", CH_LEFT - 6,
                       y + 4);
        put_pct(b, ymax * g / 4.0);
        cap_buf_puts(b, "</text>");
    }
}

static void chart_legend(struct cap_buf *b, const struct mon_html_chart *c)
{
    double x = CH_W - CH_RIGHT - 250;
    cap_buf_printf(b,
                   "<rect x=\"%.1f\" y=\"6\" width=\"12\" height=\"12\" fill=\"#4c78a8\"/>"
                   "<text x=\"%.1f\" y=\"16\">reference (%zu)</text>"
                   "<rect x=\"%.1f\" y=\"6\" width=\"12\" height=\"12\" fill=\"#f58518\"/>"
                   "<text x=\"%.1f\" y=\"16\">current (%zu)</text>",
                   x, x + 16, c->nref, x + 130, x + 146, c->ncur);
}

static void chart_bar(struct cap_buf *b, const struct mon_html_chart *c, size_t i, bool is_cur, double x,
                      double w, double ymax)
{
    double s = is_cur ? c->cur[i] : c->ref[i];
    double h = ymax > 0 ? CH_PLOT * s / ymax : 0;
    cap_buf_printf(b,
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                   "<title>%s, ",
                   x, CH_TOP + CH_PLOT - h, w, h, is_cur ? "#f58518" : "#4c78a8",
                   is_cur ? "current" : "reference");
    c->tip(c->ctx, i, b);
    cap_buf_puts(b, ": ");
    put_pct(b, s);
    cap_buf_puts(b, "</title></rect>");
}

static void chart_labels(struct cap_buf *b, const struct mon_html_chart *c, double gw)
{
    double base = CH_TOP + CH_PLOT + 14;
    if (c->rotate) {
        for (size_t i = 0; i < c->n; i++) {
            double x = CH_LEFT + gw * ((double)i + 0.5);
            cap_buf_printf(b,
                           "<text transform=\"translate(%.1f,%.1f) rotate(-35)\" "
                           "text-anchor=\"end\">",
                           x + 3, base - 2);
            c->label(c->ctx, i, b);
            cap_buf_puts(b, "</text>");
        }
        return;
    }
    if (!c->edges) {
        for (size_t i = 0; i < c->n; i++) {
            cap_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                           CH_LEFT + gw * ((double)i + 0.5), base);
            c->label(c->ctx, i, b);
            cap_buf_puts(b, "</text>");
        }
        return;
    }
    /* numerical: the edges at 0, 1/4, ... of the range; label(i) is edge i */
    for (int k = 0; k <= 4; k++) {
        size_t e = (size_t)llround((double)c->n * k / 4.0);
        if (k > 0 && e == (size_t)llround((double)c->n * (k - 1) / 4.0))
            continue;
        cap_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">",
                       CH_LEFT + gw * (double)e, base,
                       k == 0 ? "start" : k == 4 ? "end" : "middle");
        c->label(c->ctx, e, b);
        cap_buf_puts(b, "</text>");
    }
}

static void chart_svg(struct cap_buf *b, const struct mon_html_chart *c)
{
    double plot_w = CH_W - CH_LEFT - CH_RIGHT, gw = plot_w / (double)(c->n ? c->n : 1);
    double height = CH_TOP + CH_PLOT + (c->rotate ? 96 : 26), ymax = 0;
    for (size_t i = 0; i < c->n; i++)
        ymax = fmax(ymax, fmax(c->ref[i], c->cur[i]));
    cap_buf_printf(b,
                   "<svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\">",
                   CH_W, height, CH_W, height);
    chart_axes(b, ymax, plot_w);
    chart_legend(b, c);
    double pad = c->edges ? 0.06 : 0.15, w = gw * (1 - 2 * pad) / 2;
    for (size_t i = 0; i < c->n; i++) {
        double x = CH_LEFT + gw * (double)i + gw * pad;
        chart_bar(b, c, i, false, x, w, ymax);
        chart_bar(b, c, i, true, x + w, w, ymax);
    }
    chart_labels(b, c, gw);
    cap_buf_puts(b, "</svg>\n");
}

/* A cell as a finite number; false for missing, infinite or unreadable
 * cells (a text column charted as numerical reads its cells as numbers). */
static bool cell_finite(const struct mon_column *k, size_t i, double *v)
{
    if (k->dtype != MON_TEXT)
        *v = k->num[i];
    else if (!k->text[i] || !cap_text_to_double(k->text[i], strlen(k->text[i]), v))
        return false;
    return isfinite(*v);
}

/* Bins in halves (lo/2 and width/2), so that neither the span of values
 * near +-DBL_MAX nor an edge overflows to infinity. */
struct numhist {
    double lo2, w2;
    size_t n[2];   /* finite values of reference, current */
    double share[2][MON_REPORT_BINS];
};

static double edge(const struct numhist *h, size_t i)
{
    return 2 * (h->lo2 + h->w2 * (double)i);
}

static void num_label(const void *ctx, size_t i, struct cap_buf *b)
{
    put_num(b, edge(ctx, i));
}

static void num_tip(const void *ctx, size_t i, struct cap_buf *b)
{
    mon_html_bin_range(b, edge(ctx, i), edge(ctx, i + 1));
}

/* The range of both samples' finite values; false when there is none. */
static bool num_range(const struct mon_column *k[2], const size_t rows[2], struct numhist *h,
                      double *lo, double *hi)
{
    double v;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < rows[s]; i++)
            if (cell_finite(k[s], i, &v)) {
                *lo = fmin(*lo, v);
                *hi = fmax(*hi, v);
                h->n[s]++;
            }
    return h->n[0] + h->n[1] > 0;
}

/* Equal-width bins over both samples' finite values, as many as Sturges'
 * rule gives for the two together (log2(n) + 1), at most 30; one bin of
 * width 1 around a single value. Returns the number of bins, 0 when
 * neither sample has a finite value. */
static size_t num_bins(const struct mon_column *k[2], const size_t rows[2], struct numhist *h)
{
    double lo, hi, v;
    memset(h, 0, sizeof *h);
    if (!num_range(k, rows, h, &lo, &hi))
        return 0;
    size_t nb = (size_t)ceil(log2((double)(h->n[0] + h->n[1]))) + 1;
    nb = nb > MON_REPORT_BINS ? MON_REPORT_BINS : nb;
    h->lo2 = lo / 2;
    h->w2 = (hi / 2 - lo / 2) / (double)nb;
    if (!(h->w2 > 0)) { /* one value (or two a subnormal apart) */
        nb = 1;
        h->lo2 = lo / 2 - 0.25;
        h->w2 = 0.5;
    }
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < rows[s]; i++) {
            if (!cell_finite(k[s], i, &v))
                continue;
            double pos = (v / 2 - h->lo2) / h->w2;
            size_t bin = pos >= (double)nb ? nb - 1 : pos < 0 ? 0 : (size_t)pos;
            h->share[s][bin] += 1;
        }
        for (size_t j = 0; j < nb; j++)
            h->share[s][j] = h->n[s] ? h->share[s][j] / (double)h->n[s] : 0;
    }
    return nb;
}

static void chart_numerical(struct cap_buf *b, const struct mon_column *k[2],
                            const size_t rows[2])
{
    struct numhist h;
    size_t nb = num_bins(k, rows, &h);
    if (!nb) {
        cap_buf_puts(b, "<p class=\"note\">No finite values to chart.</p>\n");
        return;
    }
    struct mon_html_chart c = {.ref = h.share[0], .cur = h.share[1], .n = nb, .nref = h.n[0],
                      .ncur = h.n[1], .edges = true, .label = num_label, .tip = num_tip,
                      .ctx = &h};
    chart_svg(b, &c);
    cap_buf_printf(b, "<p class=\"note\">Share of each sample's finite values in %zu "
                      "equal-width bin%s over both samples.</p>\n",
                   nb, nb == 1 ? "" : "s");
}

struct cathist {
    const union mon_val *keys;
    bool text;
    size_t shown[MON_REPORT_CATS];
    double share[2][MON_REPORT_CATS];
};

static void cat_put(const struct cathist *h, size_t i, struct cap_buf *b, bool full)
{
    union mon_val v = h->keys[h->shown[i]];
    if (!h->text)
        put_num(b, v.d);
    else if (full)
        esc(b, v.s);
    else
        esc_short(b, v.s);
}

static void cat_label(const void *ctx, size_t i, struct cap_buf *b)
{
    cat_put(ctx, i, b, false);
}

static void cat_tip(const void *ctx, size_t i, struct cap_buf *b)
{
    cat_put(ctx, i, b, true);
}

struct ranked {
    double score;
    size_t idx;
};

static int by_score(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->idx > y->idx) - (x->idx < y->idx); /* ties: the first seen first */
}

/* The shown numeric categories in increasing order, with their shares. */
static void sort_by_value(struct cathist *h, size_t shown)
{
    for (size_t i = 1; i < shown; i++) /* insertion sort: at most 20 */
        for (size_t j = i; j > 0 && h->keys[h->shown[j]].d < h->keys[h->shown[j - 1]].d; j--) {
            size_t t = h->shown[j];
            h->shown[j] = h->shown[j - 1];
            h->shown[j - 1] = t;
            for (int s = 0; s < 2; s++) {
                double u = h->share[s][j];
                h->share[s][j] = h->share[s][j - 1];
                h->share[s][j - 1] = u;
            }
        }
}

/* Whether the labels, written level, would run into each other (about
 * 6.5 units a character at the 11-unit font). */
bool mon_html_labels_collide(size_t chars, size_t n)
{
    double gw = (CH_W - CH_LEFT - CH_RIGHT) / (double)(n ? n : 1);
    return 6.5 * (double)chars > gw - 4;
}

static bool labels_collide(const struct cathist *h, size_t shown)
{
    for (size_t i = 0; i < shown; i++) {
        union mon_val v = h->keys[h->shown[i]];
        size_t chars = 0;
        if (h->text) {
            for (const char *p = v.s; *p && chars <= MON_LABEL_CHARS; p++)
                chars += (*p & 0xC0) != 0x80;
        } else {
            chars = (size_t)snprintf(NULL, 0, "%.4g", v.d);
        }
        if (mon_html_labels_collide(chars, shown))
            return true;
    }
    return false;
}

/* Counts both samples' non-missing values in one map (m->count: the two
 * together) and returns each entry's reference count (0 for a value only
 * the current has); n gets each sample's non-missing cells. */
static size_t *cat_count(const struct mon_column *k[2], const size_t rows[2],
                         struct mon_valmap *m, size_t n[2])
{
    bool added;
    size_t *ref_count = NULL, nref_keys = 0;
    for (int s = 0; s < 2; s++) {
        n[s] = 0;
        for (size_t i = 0; i < rows[s]; i++) {
            union mon_val v;
            if (m->text ? !(v.s = k[s]->text[i]) : isnan(v.d = k[s]->num[i]))
                continue;
            mon_valmap_add(m, v, &added);
            n[s]++;
        }
        if (s == 0) {
            nref_keys = m->n;
            ref_count = cap_xmalloc((nref_keys ? nref_keys : 1) * sizeof *ref_count);
            memcpy(ref_count, m->count, nref_keys * sizeof *ref_count);
        }
    }
    size_t *all = cap_xcalloc(m->n ? m->n : 1, sizeof *all);
    memcpy(all, ref_count, nref_keys * sizeof *all);
    free(ref_count);
    return all;
}

static void chart_categorical(struct cap_buf *b, const struct mon_column *k[2],
                              const size_t rows[2])
{
    if ((k[0]->dtype == MON_TEXT) != (k[1]->dtype == MON_TEXT)) {
        cap_buf_puts(b, "<p class=\"note\">Not charted: the column holds text on one side "
                        "and numbers on the other.</p>\n");
        return;
    }
    struct mon_valmap m;
    mon_valmap_init(&m, k[0]->dtype == MON_TEXT);
    size_t n[2];
    size_t *rc = cat_count(k, rows, &m, n);
    struct ranked *r = cap_xmalloc((m.n ? m.n : 1) * sizeof *r);
    for (size_t i = 0; i < m.n; i++) {
        double sr = n[0] ? (double)rc[i] / (double)n[0] : 0;
        double sc = n[1] ? (double)(m.count[i] - rc[i]) / (double)n[1] : 0;
        r[i] = (struct ranked){sr + sc, i};
    }
    /* sorts the distinct categories by share, not the cells */
    qsort(r, m.n, sizeof *r, by_score);
    struct cathist h = {.keys = m.keys, .text = m.text};
    size_t shown = m.n < MON_REPORT_CATS ? m.n : MON_REPORT_CATS;
    for (size_t j = 0; j < shown; j++) {
        size_t i = r[j].idx;
        h.shown[j] = i;
        h.share[0][j] = n[0] ? (double)rc[i] / (double)n[0] : 0;
        h.share[1][j] = n[1] ? (double)(m.count[i] - rc[i]) / (double)n[1] : 0;
    }
    if (!m.text) /* numbers read best in their own order */
        sort_by_value(&h, shown);
    if (shown) {
        struct mon_html_chart c = {.ref = h.share[0], .cur = h.share[1], .n = shown, .nref = n[0],
                          .ncur = n[1], .rotate = labels_collide(&h, shown),
                          .label = cat_label, .tip = cat_tip, .ctx = &h};
        chart_svg(b, &c);
    }
    cap_buf_printf(b, "<p class=\"note\">Share of each sample's non-missing values; %zu of %zu "
                      "categories shown, the most frequent over both samples first.</p>\n",
                   shown, m.n);
    free(r);
    free(rc);
    mon_valmap_free(&m);
}

/* ---- one section a column ---- */

void mon_html_feature_head(struct cap_buf *b, const char *name, bool numerical,
                           const cJSON *dcol)
{
    cap_buf_puts(b, "<h3>");
    esc(b, name);
    if (dcol) {
        cap_buf_puts(b, " ");
        badge(b, jtrue(dcol, "drift_detected"), "drift", "no drift");
    }
    cap_buf_printf(b, "</h3><p class=\"meta\">%s", numerical ? "numerical" : "categorical");
    if (dcol) {
        cap_buf_puts(b, " &#183; test: ");
        esc(b, test_display(mon_jstr(dcol, "stattest")));
        cap_buf_puts(b, " (");
        esc(b, mon_jstr(dcol, "stattest"));
        cap_buf_puts(b, ") &#183; score ");
        put_num(b, mon_jnum(dcol, "drift_score"));
        cap_buf_puts(b, " &#183; threshold ");
        put_num(b, mon_jnum(dcol, "stattest_threshold"));
    }
    cap_buf_puts(b, "</p>\n");
}

static void feature(struct cap_buf *b, const struct mon_frame *ref, const struct mon_frame *cur,
                    const char *name, const cJSON *dcol)
{
    const struct mon_column *k[2] = {find_col(ref, name), find_col(cur, name)};
    const size_t rows[2] = {ref->nrows, cur->nrows};
    bool numerical = dcol ? strcmp(mon_jstr(dcol, "column_type"), "num") == 0
                          : k[0]->dtype != MON_TEXT;
    cap_buf_puts(b, "<div class=\"feature\">");
    mon_html_feature_head(b, name, numerical, dcol);
    if (numerical)
        chart_numerical(b, k, rows);
    else
        chart_categorical(b, k, rows);
    cap_buf_puts(b, "</div>\n");
}

void mon_report_html_feature(struct cap_buf *b, const struct mon_frame *ref,
                             const struct mon_frame *cur, const cJSON *dcol)
{
    feature(b, ref, cur, mon_jstr(dcol, "column"), dcol);
}

static void features(struct cap_buf *b, const struct mon_frame *ref, const struct mon_frame *cur,
                     const cJSON *drift)
{
    if (drift) {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(drift, "columns"))
            feature(b, ref, cur, mon_jstr(c, "column"), c);
        return;
    }
    for (size_t i = 0; i < ref->ncols; i++)
        if (find_col(cur, ref->cols[i].name))
            feature(b, ref, cur, ref->cols[i].name, NULL);
}

int mon_report_html(const struct mon_frame *ref, const struct mon_frame *cur,
                    const cJSON *drift, const cJSON *quality, struct cap_buf *out,
                    struct cap_error *err)
{
    int rc;
    if (drift && (rc = check_drift(ref, cur, drift, err)) < 0)
        return rc;
    /* the object nested the way a caller may print it */
    const cJSON *inner = quality ? cJSON_GetObjectItem(quality, "data_quality") : NULL;
    if (inner)
        quality = inner;
    if (quality && !cJSON_IsArray(cJSON_GetObjectItem(quality, "columns")))
        return cap_err(err, CAP_EINVAL, "the data-quality report has no \"columns\" array");
    struct cap_buf f;
    cap_buf_init(&f);
    features(&f, ref, cur, drift);
    mon_report_html_page(out, ref->nrows, cur->nrows, ref->ncols, drift, quality, &f);
    cap_buf_free(&f);
    return 0;
}

void mon_report_html_page(struct cap_buf *out, size_t nref, size_t ncur, size_t ncols,
                          const cJSON *drift, const cJSON *quality, const struct cap_buf *features)
{
    page_head(out, nref, ncur, ncols);
    cards(out, drift, quality);
    if (drift)
        drift_table(out, drift, "Drift by column");
    if (quality)
        quality_section(out, quality);
    cap_buf_puts(out, "<h2>Distributions</h2>\n");
    if (features->len)
        cap_buf_append(out, features->data, features->len);
    mon_html_page_close(out);
}

/* ---- the pieces report_live.c shares (html.h) ---- */

void mon_html_esc(struct cap_buf *b, const char *s)
{
    esc(b, s);
}

void mon_html_esc_short(struct cap_buf *b, const char *s)
{
    esc_short(b, s);
}

void mon_html_num(struct cap_buf *b, double v)
{
    put_num(b, v);
}

void mon_html_bin_range(struct cap_buf *b, double lo, double hi)
{
    cap_buf_puts(b, "[");
    put_num(b, lo);
    cap_buf_puts(b, ", ");
    put_num(b, hi);
    cap_buf_puts(b, ")");
}

void mon_html_pct(struct cap_buf *b, double share)
{
    put_pct(b, share);
}

void mon_html_badge(struct cap_buf *b, bool bad, const char *bad_text, const char *ok_text)
{
    badge(b, bad, bad_text, ok_text);
}

void mon_html_cards(struct cap_buf *b, const cJSON *drift, const cJSON *quality)
{
    cards(b, drift, quality);
}

void mon_html_drift_table(struct cap_buf *b, const cJSON *drift, const char *heading)
{
    drift_table(b, drift, heading);
}

void mon_html_quality(struct cap_buf *b, const cJSON *quality)
{
    quality_section(b, quality);
}

void mon_html_chart_svg(struct cap_buf *b, const struct mon_html_chart *c)
{
    chart_svg(b, c);
}
