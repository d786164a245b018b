/* stattest.h - monitor/'s statistical drift tests, one per Evidently id
 * (evidently 0.7, evidently/legacy/calculations/stattests/), each giving
 * the same score and verdict as Evidently on the same data. Internal to
 * monitor/: the module's public surface is monitor/monitor.h.
 *
 * A test sees one column of the reference and of the current data with
 * NaN and ±inf already dropped (Evidently drops them before testing).
 * Categorical columns arrive as category codes: small non-negative
 * integers stored as doubles, numbered over reference ∪ current in the
 * sorted order of the values they stand for, so that code order is value
 * order and a code means the same category in both samples. */
#ifndef CAP_MONITOR_STATTEST_H
#define CAP_MONITOR_STATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

enum mon_coltype { MON_NUM, MON_CAT };

struct mon_sample {
    const double *v; /* finite values; codes for categorical columns */
    size_t n;
    /* The column is pandas int64 (whole numbers, none missing): numpy then
     * never makes a histogram bin narrower than 1. */
    bool integer;
};

struct mon_stat_result {
    double score;    /* the p-value or the distance, as Evidently reports it */
    bool drift;      /* Evidently's verdict at the given threshold */
};

/* Runs one test. An error (-CAP_EINVAL) only for data the test cannot
 * score, with a message naming what was wrong; never aborts. */
typedef int (*mon_stattest_fn)(const struct mon_sample *ref, const struct mon_sample *cur,
                               enum mon_coltype type, double threshold,
                               struct mon_stat_result *out, struct cap_error *err);

/* One row of the table of tests (stattest.c owns the table). */
struct mon_stattest {
    const char *id;           /* Evidently's id: "ks", "psi", "TVD", ... */
    const char *display;      /* Evidently's display name, e.g. "K-S p_value" */
    bool num, cat;            /* the column types it accepts */
    bool pvalue;              /* the score is a p-value (drift when small) */
    double default_threshold;
    mon_stattest_fn fn;
};

/* NULL for an unknown id. */
const struct mon_stattest *mon_stattest_find(const char *id);
/* The table, ending in a row whose id is NULL. */
const struct mon_stattest *mon_stattest_all(void);

/* Evidently's get_binned_data: the reference's and the current data's
 * share of each bin (equal-width bins over both samples for a numerical
 * column with many values, one bin per value otherwise), with Evidently's
 * epsilon rule for empty bins when fill_zeroes. out->ref and out->cur
 * hold out->n shares each; mon_bins_free releases them. */
struct mon_bins {
    double *ref, *cur;
    size_t n;
};
int mon_bins_make(const struct mon_sample *ref, const struct mon_sample *cur,
                  enum mon_coltype type, int n_bins, bool fill_zeroes, struct mon_bins *out,
                  struct cap_error *err);
void mon_bins_free(struct mon_bins *b);
/* Evidently's epsilon for the empty bins of both sides (mon_bins_make's
 * fill_zeroes), for shares made elsewhere (profile.c). */
void mon_bins_fill_zeroes(struct mon_bins *b);

/* The tests' scores from what they reduce to, shared with the profiles'
 * drift (profile.c) so that both compute alike. Over binned shares: */
double mon_shares_psi(const struct mon_bins *b);          /* fill_zeroes shares */
double mon_shares_kl_div(const struct mon_bins *b);       /* fill_zeroes shares */
double mon_shares_jensenshannon(const struct mon_bins *b); /* plain shares */
/* Over the counts of each category (sorted, as codes order them), with
 * nr and nc the samples' sizes: the chi-square and z p-values, and the
 * Bhattacharyya coefficient sum sqrt(p q) that Hellinger's distance
 * mon_hellinger_of(bc) = sqrt(1 - bc) takes. r0, c0: the smallest
 * value's counts; k: the number of distinct values in both. */
double mon_counts_chisquare(const size_t *r, const size_t *c, size_t k, size_t nr, size_t nc);
double mon_counts_z(size_t r0, size_t c0, size_t k, size_t nr, size_t nc);
double mon_counts_bhattacharyya(const size_t *r, const size_t *c, size_t k, size_t nr,
                                size_t nc);
double mon_hellinger_of(double bc);
/* The two-sample K-S p-value (scipy's ks_2samp, method auto) for samples
 * of m and n values whose CDFs differ by at most best / (m n): best is
 * the lattice distance max |i n - j m|. */
double mon_ks_pvalue(long m, long n, long best);

/* Sorts finite or infinite doubles (no NaN) ascending; stattest.c. */
void mon_sort(double *v, size_t n);
/* Greatest common divisor (K-S and Cramer-von Mises lattices). */
int64_t mon_gcd(int64_t a, int64_t b);

/* The tests, by Evidently id. stattest.c: */
int mon_st_ks(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
              struct mon_stat_result *, struct cap_error *);
int mon_st_chisquare(const struct mon_sample *, const struct mon_sample *, enum mon_coltype,
                     double, struct mon_stat_result *, struct cap_error *);
int mon_st_z(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
             struct mon_stat_result *, struct cap_error *);
int mon_st_wasserstein(const struct mon_sample *, const struct mon_sample *, enum mon_coltype,
                       double, struct mon_stat_result *, struct cap_error *);
int mon_st_jensenshannon(const struct mon_sample *, const struct mon_sample *, enum mon_coltype,
                         double, struct mon_stat_result *, struct cap_error *);
int mon_st_psi(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
               struct mon_stat_result *, struct cap_error *);
int mon_st_kl_div(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
                  struct mon_stat_result *, struct cap_error *);
int mon_st_hellinger(const struct mon_sample *, const struct mon_sample *, enum mon_coltype,
                     double, struct mon_stat_result *, struct cap_error *);
int mon_st_tvd(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
               struct mon_stat_result *, struct cap_error *);
/* stattest_more.c: */
int mon_st_anderson(const struct mon_sample *, const struct mon_sample *, enum mon_coltype,
                    double, struct mon_stat_result *, struct cap_error *);
int mon_st_cramer_von_mises(const struct mon_sample *, const struct mon_sample *,
                            enum mon_coltype, double, struct mon_stat_result *,
                            struct cap_error *);
int mon_st_mannw(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
                 struct mon_stat_result *, struct cap_error *);
int mon_st_ed(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
              struct mon_stat_result *, struct cap_error *);
int mon_st_es(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
              struct mon_stat_result *, struct cap_error *);
int mon_st_t_test(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
                  struct mon_stat_result *, struct cap_error *);
int mon_st_fisher_exact(const struct mon_sample *, const struct mon_sample *, enum mon_coltype,
                        double, struct mon_stat_result *, struct cap_error *);
int mon_st_g_test(const struct mon_sample *, const struct mon_sample *, enum mon_coltype, double,
                  struct mon_stat_result *, struct cap_error *);
int mon_st_empirical_mmd(const struct mon_sample *, const struct mon_sample *, enum mon_coltype,
                         double, struct mon_stat_result *, struct cap_error *);

#endif
