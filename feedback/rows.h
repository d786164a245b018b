/* rows.h - internal to feedback/: a window's labelled rows (as the store
 * hands them out) and a classifier's classes among them (rows.c): sorted as
 * scikit-learn sorts classes_ (as numbers when every one is a whole number),
 * so that a model's score columns, which follow classes_, map onto them;
 * and the windows of prediction time that the realised quality and the
 * estimate share. */
#ifndef CAP_FEEDBACK_ROWS_H
#define CAP_FEEDBACK_ROWS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

struct store_label;

struct fb_rows {
    bool classifier, mixed;      /* mixed: both kinds seen (the model changed kind) */
    size_t n, cap;
    char **truth, **pred;        /* classifier: texts (owned) */
    double *vtrue, *vpred;       /* regressor */
    double *scores;              /* n x nscores, or NULL once a row lacks them */
    size_t nscores;
    bool no_scores;
    char **req;                  /* each row's request id (owned) and row in it */
    int64_t *row;
};

void fb_rows_add(struct fb_rows *r, const struct store_label *l);
void fb_rows_clear(struct fb_rows *r); /* empty, the buffers kept */
void fb_rows_free(struct fb_rows *r);
/* dst (empty) gets copies of src's rows idx[0..n). */
void fb_rows_pick(const struct fb_rows *src, const size_t *idx, size_t n, struct fb_rows *dst);

struct fb_classes {
    bool ints;                   /* every class a whole number */
    char **names;                /* borrowed from the rows, or owned extras */
    char **extra;                /* the ones added (owned) */
    int k, nextra;
};

/* The distinct classes of the rows' truth and predictions, sorted; with
 * whole-number classes inside the score columns, the missing ones of
 * 0..nscores-1 are added; one class alone gets a second that no row has. */
void fb_find_classes(struct fb_rows *r, struct fb_classes *c);
/* The index of name among the first n (sorted) classes, or -1. */
int32_t fb_find_in(const struct fb_classes *c, int n, const char *name);
void fb_classes_free(struct fb_classes *c);

/* ---- windows of prediction time ---- */

/* The start of the window holding t: windows are aligned to multiples of
 * width_ms (floored, so also before 1970); width_ms <= 0 is one window from
 * from_ms. The realised and the estimated windows meet by their start. */
int64_t fb_window_start(int64_t from_ms, int64_t width_ms, int64_t t);
/* The index of the window holding t (t >= from_ms), the one holding from_ms
 * being 0. */
size_t fb_window_index(int64_t from_ms, int64_t width_ms, int64_t t);
/* A finite number as JSON; NaN and infinities as null (JSON has none). */
cJSON *fb_num_json(double v);

/* ---- segments (segments.c) ---- */

struct store;

/* The rows of one segment: its name (a value, "[lo, hi)" bin, or
 * "(not in the log)") and the indices of its rows. */
struct fb_segment {
    char *name;
    size_t *idx, n;
};
/* Cuts r's rows by the value of input column `column` of each row's logged
 * request, or into `bins` equal-width bins of it (bins > 0, numbers only).
 * At most 50 segments. */
int fb_segment_rows(struct store *st, const char *deployment, const struct fb_rows *r,
                    const char *column, int bins, struct fb_segment **out, size_t *nout,
                    struct cap_error *err);
void fb_segments_free(struct fb_segment *s, size_t n);

/* Row `row` of a logged request's inputs as {column: value}, the columns
 * named by the monitor's rule (empty for an unreadable pack). */
cJSON *fb_row_inputs(const void *inputs, size_t len, int64_t row);

#endif
