/* cbpe_int.h - internal to feedback/: the pieces of CBPE that cbpe.c and
 * isotonic.c share (the calibrator, nannyml's rule for using it, a stable
 * keyed sort and the ROC AUC of sorted scores). Not for other modules. */
#ifndef CAPSTAN_FEEDBACK_CBPE_INT_H
#define CAPSTAN_FEEDBACK_CBPE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* A row index with its sort key: fb_keyed_sort orders by k, and equal keys
 * keep their input order (stable; 16 bytes per row). */
struct fb_keyed {
    double k;
    size_t i;
};
void fb_keyed_sort(struct fb_keyed *a, size_t n);

/* sklearn's ROC AUC (ties count one half) of truth y over rows sorted by
 * score ascending (ord[j].k the score, ord[j].i the row); NaN with one class. */
double fb_roc_auc_sorted(const struct fb_keyed *ord, size_t n, const double *y);

/* sklearn's IsotonicRegression(increasing=True, out_of_bounds="clip") as
 * nannyml's calibrator configures it: duplicates of x (within 1e-15, the
 * float64 resolution sklearn uses) averaged, pool-adjacent-violators,
 * redundant points trimmed, linear interpolation between the rest. */
struct fb_iso {
    double *x, *y;
    size_t n;
    double xmin, xmax;
    size_t *bucket, nb; /* search ranges over nb even slices of [xmin, xmax] */
    double scale;       /* nb / (xmax - xmin) */
};
/* Scratch for fits of up to n rows, reused across fits (a fresh 32 n bytes
 * per fit cost more in page faults than the fit itself). */
struct fb_iso_work {
    double *buf;
};
int fb_iso_work_init(struct fb_iso_work *w, size_t n, struct cap_error *err);
void fb_iso_work_free(struct fb_iso_work *w);
/* Fits on x ascending and its targets y, the rows j with keep[j] (all
 * when keep is NULL; at least one); w holds at least n rows. */
int fb_iso_fit(struct fb_iso *iso, const double *x, const double *y, const unsigned char *keep,
               size_t n, struct fb_iso_work *w, struct cap_error *err);
double fb_iso_predict(const struct fb_iso *iso, double t);
void fb_iso_free(struct fb_iso *iso);

/* nannyml's calibrator over the reference (p, y), ord its rows sorted by p
 * (fb_keyed_sort): needs_calibration's rule
 * (false when the ROC AUC exceeds 0.999, else whether isotonic calibration
 * lowers the expected calibration error, 10 bins, on 10 stratified shuffle
 * splits, test 10%, drawn as scikit-learn draws them from numpy's MT19937
 * seeded 42) and, when it holds, *iso fitted on every row. The two errors
 * are NaN when the rule did not split. */
int fb_calibrator_fit(const double *p, const double *y, size_t n, const struct fb_keyed *ord,
                      struct fb_iso *iso, bool *needs, double *ece_before, double *ece_after,
                      struct cap_error *err);

#endif
