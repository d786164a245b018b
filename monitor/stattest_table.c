/* stattest_table.c - the table of drift tests by Evidently id: display
 * name, column types, p-value or distance, default threshold (each as
 * Evidently 0.7 registers it). A plain array so that a test is one row. */
#include <string.h>

#include "monitor/stattest.h"

static const struct mon_stattest tests[] = {
    /* id, display, num, cat, pvalue, default threshold, fn */
    {"ks", "K-S p_value", true, false, true, 0.05, mon_st_ks},
    {"chisquare", "chi-square p_value", false, true, true, 0.05, mon_st_chisquare},
    {"z", "Z-test p_value", false, true, true, 0.05, mon_st_z},
    {"wasserstein", "Wasserstein distance (normed)", true, false, false, 0.1, mon_st_wasserstein},
    {"jensenshannon", "Jensen-Shannon distance", true, true, false, 0.1, mon_st_jensenshannon},
    {"psi", "PSI", true, true, false, 0.1, mon_st_psi},
    {"kl_div", "Kullback-Leibler divergence", true, true, false, 0.1, mon_st_kl_div},
    {"hellinger", "Hellinger distance", true, true, false, 0.1, mon_st_hellinger},
    /* TVD's score is a permutation p-value (drift when below the
     * threshold), though Evidently's default threshold is 0.1 */
    {"TVD", "Total-Variation-Distance", false, true, true, 0.1, mon_st_tvd},
    /* stattest_more.c */
    {"anderson", "Anderson-Darling", true, false, true, 0.1, mon_st_anderson},
    {"cramer_von_mises", "Cramer-von Mises", true, false, true, 0.1, mon_st_cramer_von_mises},
    {"mannw", "Mann-Whitney U-rank test", true, false, true, 0.05, mon_st_mannw},
    {"ed", "Energy-distance", true, false, false, 0.1, mon_st_ed},
    {"es", "Epps-Singleton", true, false, true, 0.05, mon_st_es},
    {"t_test", "t_test", true, false, true, 0.05, mon_st_t_test},
    {"fisher_exact", "Fisher's Exact test", false, true, true, 0.1, mon_st_fisher_exact},
    {"g_test", "g_test", false, true, true, 0.1, mon_st_g_test},
    {"empirical_mmd", "empirical_mmd", true, false, true, 0.1, mon_st_empirical_mmd},
    {NULL, NULL, false, false, false, 0, NULL},
};

const struct mon_stattest *mon_stattest_all(void)
{
    return tests;
}

const struct mon_stattest *mon_stattest_find(const char *id)
{
    for (const struct mon_stattest *t = tests; t->id; t++)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}
