/* cbpe_int.h - internal to feedback/: the pieces of CBPE that cbpe.c and
 * isotonic.c share (the calibrator, nannyml's rule for using it, a stable
 * keyed sort and the ROC AUC of sorted scores). Not for other modules. */
#ifndef CAPSTAN_FEEDBACK_CBPE_INT_H
#define CAPSTAN_FEEDBACK_CBPE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* A row index with its sort keys: k ascending, then y, then the index, so
 * equal keys keep their input order (a stable sort; 16 bytes per row). */
struct fb_keyed {
    double k;
    unsigned y;
    unsigned long i;
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
};
/* Fits on the rows ord[0..n) (sorted by x, then y). */
int fb_iso_fit(struct fb_iso *iso, const struct fb_keyed *ord, size_t n, const double *y,
               struct cap_error *err);
double fb_iso_predict(const struct fb_iso *iso, double t);
void fb_iso_free(struct fb_iso *iso);

/* nannyml's needs_calibration over the reference (p, y) with ord its rows
 * sorted by (p, y): false when the ROC AUC exceeds 0.999, else whether
 * isotonic calibration lowers the expected calibration error (10 bins) on
 * 10 stratified shuffle splits (test 10%, numpy's MT19937 seeded 42, as
 * scikit-learn draws them). The two errors are NaN when not split. */
int fb_needs_calibration(const double *p, const double *y, size_t n, const struct fb_keyed *ord,
                         bool *needs, double *ece_before, double *ece_after,
                         struct cap_error *err);

#endif
