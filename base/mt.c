/* mt.c - numpy's MT19937 and its bounded draw (mt.h). */
#include "base/mt.h"

void cap_mt_seed(struct cap_mt *r, uint32_t seed)
{
    r->s[0] = seed;
    for (uint32_t i = 1; i < 624; i++)
        r->s[i] = 1812433253u * (r->s[i - 1] ^ (r->s[i - 1] >> 30)) + i;
    r->i = 624;
}

static uint32_t mix(uint32_t cur, uint32_t next, uint32_t far)
{
    uint32_t y = (cur & 0x80000000u) | (next & 0x7fffffffu);
    return far ^ (y >> 1) ^ ((y & 1) ? 0x9908b0dfu : 0);
}

uint32_t cap_mt_next(struct cap_mt *r)
{
    if (r->i >= 624) { /* the twist in three runs: no modulo per word */
        int k = 0;
        for (; k < 624 - 397; k++)
            r->s[k] = mix(r->s[k], r->s[k + 1], r->s[k + 397]);
        for (; k < 623; k++)
            r->s[k] = mix(r->s[k], r->s[k + 1], r->s[k + 397 - 624]);
        r->s[623] = mix(r->s[623], r->s[0], r->s[396]);
        r->i = 0;
    }
    uint32_t y = r->s[r->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

uint64_t cap_mt_interval(struct cap_mt *r, uint64_t max)
{
    if (max == 0)
        return 0;
    uint64_t mask = max, v;
    for (int s = 1; s <= 32; s *= 2)
        mask |= mask >> s;
    if (max <= 0xffffffffu) {
        while ((v = (cap_mt_next(r) & mask)) > max)
            ;
        return v;
    }
    do {
        uint64_t hi = cap_mt_next(r), lo = cap_mt_next(r);
        v = ((hi << 32) | lo) & mask;
    } while (v > max);
    return v;
}
