/* mt.h - numpy's legacy random generator (RandomState): MT19937
 * (Matsumoto and Nishimura 1998) seeded by init_genrand, and numpy's
 * bounded draw. The peers we must agree with to the digit draw from it:
 * Evidently's permutation p-values (np.random.seed then choice) and
 * NannyML's calibration splits (scikit-learn's StratifiedShuffleSplit). */
#ifndef CAP_MT_H
#define CAP_MT_H

#include <stdint.h>

struct cap_mt {
    uint32_t s[624];
    int i;
};

void cap_mt_seed(struct cap_mt *r, uint32_t seed);
uint32_t cap_mt_next(struct cap_mt *r);
/* numpy's random_interval: uniform in [0, max] by rejection under the
 * smallest all-ones mask covering max (two draws per value above 2^32 - 1). */
uint64_t cap_mt_interval(struct cap_mt *r, uint64_t max);

#endif
