/* gen_wide.c - a wide CSV for the bounded-memory drift benchmark (bench/monitor/README.md):
 * ROWS rows of 100 columns, deterministic from SEED:
 *   f0..f89  floats, normal(j % 7, 1 + j % 3), 5 decimals; f1 is empty in 1% of rows;
 *            with --shift, f0..f19 move by 0.05 of their sigma (a drift to find)
 *   i0..i4   integers, uniform in [0, 1000000) (numerical: more than 10 values)
 *   c0..c4   categories cat_a..cat_h, uniform
 * Written in C because Python formats ~1M cells a second and the 10M-row file has 1e9 cells
 * (~9 GB); this writes one in 1-2 minutes on one core.
 *     cc -O2 -o /tmp/gen_wide bench/monitor/gen_wide.c -lm
 *     /tmp/gen_wide ROWS SEED [--shift] > out.csv */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF 90
#define NI 5
#define NC 5

static uint64_t state;

static uint64_t next_u64(void) /* splitmix64 */
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double uniform(void)
{
    return ((double)(next_u64() >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void) /* Box-Muller, one value of the pair */
{
    return sqrt(-2 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* v with 5 decimals, fixed point (snprintf is 5x slower). */
static char *put_fixed(char *p, double v)
{
    long long x = llround(v * 100000.0);
    if (x < 0) {
        *p++ = '-';
        x = -x;
    }
    char tmp[24];
    int n = 0;
    for (int d = 0; d < 5; d++, x /= 10)
        tmp[n++] = (char)('0' + x % 10);
    tmp[n++] = '.';
    do {
        tmp[n++] = (char)('0' + x % 10);
        x /= 10;
    } while (x);
    while (n)
        *p++ = tmp[--n];
    return p;
}

static char *put_uint(char *p, unsigned v)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gen_wide ROWS SEED [--shift] > out.csv\n");
        return 2;
    }
    long long rows = atoll(argv[1]);
    state = strtoull(argv[2], NULL, 10) * 0x2545f4914f6cdd1dULL + 1;
    int shift = argc > 3 && strcmp(argv[3], "--shift") == 0;
    static char out[1 << 16];
    char *p = out;
    for (int j = 0; j < NF; j++)
        p += sprintf(p, "f%d,", j);
    for (int j = 0; j < NI; j++)
        p += sprintf(p, "i%d,", j);
    for (int j = 0; j < NC; j++)
        p += sprintf(p, "c%d%c", j, j + 1 < NC ? ',' : '\n');
    for (long long r = 0; r < rows; r++) {
        for (int j = 0; j < NF; j++) {
            double sigma = 1 + j % 3, v = j % 7 + sigma * normal();
            if (shift && j < 20)
                v += 0.05 * sigma;
            if (!(j == 1 && next_u64() % 100 == 0))
                p = put_fixed(p, v);
            *p++ = ',';
        }
        for (int j = 0; j < NI; j++) {
            p = put_uint(p, (unsigned)(next_u64() % 1000000));
            *p++ = ',';
        }
        for (int j = 0; j < NC; j++) {
            memcpy(p, "cat_", 4);
            p[4] = (char)('a' + next_u64() % 8);
            p += 5;
            *p++ = j + 1 < NC ? ',' : '\n';
        }
        if (p - out > (1 << 16) - 4096) {
            fwrite(out, 1, (size_t)(p - out), stdout);
            p = out;
        }
    }
    fwrite(out, 1, (size_t)(p - out), stdout);
    return ferror(stdout) ? 1 : 0;
}
