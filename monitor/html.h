/* html.h - the HTML pieces of the drift report (report.c), shared with the
 * live deployment's page (report_live.c); internal to monitor/. Every
 * text that comes from data goes through mon_html_esc. */
#ifndef CAP_MONITOR_HTML_H
#define CAP_MONITOR_HTML_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Chart geometry, in SVG user units. */
#define MON_CH_W 960.0
#define MON_CH_LEFT 56.0
#define MON_CH_RIGHT 24.0
#define MON_CH_TOP 28.0
#define MON_CH_PLOT 160.0

/* Two series of shares over n groups, labelled by label(ctx, i, b). */
struct mon_html_chart {
    const double *ref, *cur;
    size_t n, nref, ncur;  /* groups; the samples' sizes, for the legend */
    bool edges;            /* labels name the bin edges (numerical), not the groups */
    bool rotate;           /* group labels slanted, when level ones would collide */
    void (*label)(const void *ctx, size_t i, struct cap_buf *b);
    void (*tip)(const void *ctx, size_t i, struct cap_buf *b); /* the group, in a tooltip */
    const void *ctx;
};

/* A report's number (NaN when absent) and text ("" when absent). */
double mon_jnum(const cJSON *o, const char *key);
const char *mon_jstr(const cJSON *o, const char *key);
void mon_html_esc(struct cap_buf *b, const char *s);
/* At most 14 characters of s, then an ellipsis (a label under its bars). */
void mon_html_esc_short(struct cap_buf *b, const char *s);
/* Whether n labels of at most `chars` characters would collide written level. */
bool mon_html_labels_collide(size_t chars, size_t n);
void mon_html_num(struct cap_buf *b, double v);
/* A bin's tooltip: "[lo, hi)". */
void mon_html_bin_range(struct cap_buf *b, double lo, double hi);
void mon_html_pct(struct cap_buf *b, double share);
void mon_html_badge(struct cap_buf *b, bool bad, const char *bad_text, const char *ok_text);
/* The doctype, the Content-Security-Policy that forbids fetching anything,
 * the inline CSS and <h1>title</h1> (title escaped); _close ends the page. */
void mon_html_page_open(struct cap_buf *b, const char *title);
void mon_html_page_close(struct cap_buf *b);
/* The verdict cards of a drift report and a data-quality report (either NULL). */
void mon_html_cards(struct cap_buf *b, const cJSON *drift, const cJSON *quality);
/* mon_drift's report as a table under <h2>heading</h2>. */
void mon_html_drift_table(struct cap_buf *b, const cJSON *drift, const char *heading);
/* mon_quality's report (or its form from profiles) as a table and notes. */
void mon_html_quality(struct cap_buf *b, const cJSON *quality);
/* A column's heading: its name, drift badge, kind, test, score and threshold. */
void mon_html_feature_head(struct cap_buf *b, const char *name, bool numerical,
                           const cJSON *dcol);
void mon_html_chart_svg(struct cap_buf *b, const struct mon_html_chart *c);

#endif
