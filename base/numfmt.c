/* numfmt.c - see numfmt.h. A float is m * 2^e2 exactly (m < 2^24), so
 * its 9 leading decimal digits are round(m * 2^e2 * 10^k) for the k that
 * puts the result in [10^8, 10^9): computed in 128-bit integers, with
 * printf's rounding (to nearest, ties to even, on the exact value). The
 * magnitude limits keep every product within 128 bits. */
#include "base/numfmt.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

typedef unsigned __int128 u128;

static u128 pow10_u128(int k)
{
    static const uint64_t p[20] = {1ULL,
                                   10ULL,
                                   100ULL,
                                   1000ULL,
                                   10000ULL,
                                   100000ULL,
                                   1000000ULL,
                                   10000000ULL,
                                   100000000ULL,
                                   1000000000ULL,
                                   10000000000ULL,
                                   100000000000ULL,
                                   1000000000000ULL,
                                   10000000000000ULL,
                                   100000000000000ULL,
                                   1000000000000000ULL,
                                   10000000000000000ULL,
                                   100000000000000000ULL,
                                   1000000000000000000ULL,
                                   10000000000000000000ULL};
    return k < 20 ? (u128)p[k] : (u128)p[19] * p[k - 19];
}

size_t cap_fmt_float9(float f, char *out)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t biased = (bits >> 23) & 0xff;
    if (biased == 0 || biased == 0xff)
        return 0;
    double a = fabs((double)f);
    if (a < 1e-20 || a >= 1e20)
        return 0;
    uint64_t m = (bits & 0x7fffff) | 0x800000;
    int e2 = (int)biased - 150;
    int e10 = (int)floor(log10(a)); /* may be one off near powers of ten: fixed below */
    uint64_t q = 0;
    for (int tries = 0;; tries++) {
        if (tries == 4)
            return 0;
        int k = 8 - e10;
        u128 num = m, den = 1;
        if (k >= 0)
            num *= pow10_u128(k);
        else
            den = pow10_u128(-k);
        if (e2 >= 0)
            num <<= e2;
        else
            den <<= -e2;
        u128 n = num / den, r = num % den;
        if (2 * r > den || (2 * r == den && (n & 1)))
            n++;
        if (n < 100000000) {
            e10--;
        } else if (n >= 1000000000) {
            /* the estimate was low, or rounding carried into a tenth digit
             * (9.999999996 -> 10.0000000): either way one exponent up */
            e10++;
        } else {
            q = (uint64_t)n;
            break;
        }
    }
    char d[9];
    for (int i = 8; i >= 0; i--) {
        d[i] = (char)('0' + q % 10);
        q /= 10;
    }
    int nd = 9; /* significant digits left once trailing zeros go, as %g drops them */
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    char *p = out;
    if (f < 0)
        *p++ = '-';
    if (e10 < -4 || e10 >= 9) {
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            memcpy(p, d + 1, (size_t)nd - 1);
            p += nd - 1;
        }
        int x = abs(e10);
        *p++ = 'e';
        *p++ = e10 < 0 ? '-' : '+';
        *p++ = (char)('0' + x / 10);
        *p++ = (char)('0' + x % 10);
    } else if (e10 >= 0) {
        memcpy(p, d, (size_t)e10 + 1);
        p += e10 + 1;
        if (nd > e10 + 1) {
            *p++ = '.';
            memcpy(p, d + e10 + 1, (size_t)(nd - e10 - 1));
            p += nd - e10 - 1;
        }
    } else {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -e10 - 1; i++)
            *p++ = '0';
        memcpy(p, d, (size_t)nd);
        p += nd;
    }
    *p = '\0';
    return (size_t)(p - out);
}

/* pandas' read_csv reads these as NaN in a float column */
static bool na_token(const char *s)
{
    /* pandas' default na_values, all of them */
    static const char *const na[] = {"",        "NaN",      "nan",     "-NaN",     "-nan",
                                     "NA",      "N/A",      "n/a",     "NULL",     "null",
                                     "None",    "<NA>",     "#N/A",    "#N/A N/A", "#NA",
                                     "1.#IND",  "-1.#IND",  "1.#QNAN", "-1.#QNAN"};
    for (size_t k = 0; k < sizeof na / sizeof na[0]; k++)
        if (strcmp(s, na[k]) == 0)
            return true;
    return false;
}

const double cap_pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                    1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

double cap_decimal_slow(const char *s, size_t n)
{
    char small[64], *buf = n < sizeof small ? small : cap_xmalloc(n + 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* strtod reads the locale's decimal point; our text always has '.' */
    char dp = localeconv()->decimal_point[0];
    char *q = dp != '.' ? memchr(buf, '.', n) : NULL;
    if (q)
        *q = dp;
    double d = strtod(buf, NULL);
    if (buf != small)
        free(buf);
    return d;
}

bool cap_decimal_to_double(const char *s, size_t n, double *out)
{
    return n > 0 && cap_scan_decimal(s, s + n, false, out) == n;
}

bool cap_text_to_double(const char *s, size_t n, double *out)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    /* numbers first: they are nearly every cell of a table */
    if (n > 0 && cap_decimal_to_double(s, n, out))
        return true;
    if (n == 0) { /* the empty cell (s may then be NULL: an empty quoted field) */
        *out = NAN;
        return true;
    }
    char tmp[16]; /* longer than any NA or infinity spelling */
    if (n >= sizeof tmp || memchr(s, '\0', n))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    const char *t = tmp + (tmp[0] == '+' || tmp[0] == '-');
    if (na_token(tmp))
        *out = NAN;
    else if (!strcasecmp(t, "inf") || !strcasecmp(t, "infinity"))
        *out = tmp[0] == '-' ? -INFINITY : INFINITY;
    else
        return false;
    return true;
}
