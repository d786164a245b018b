/* numfmt.h - number to text, fast where printf is slow, and text to number
 * by the one rule every reader of tables (CSV cells, text tensors) follows. */
#ifndef CAP_BASE_NUMFMT_H
#define CAP_BASE_NUMFMT_H

#include <float.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes f as printf's "%.9g" would (9 significant digits, which give a
 * float back exactly), without printf: glibc's took ~250 ns a number, a
 * third of the time spent writing an inference answer. out needs 32 bytes.
 * Returns the length, or 0 for what it leaves to printf: zero, subnormals,
 * infinities, NaN and magnitudes outside [1e-20, 1e20). */
size_t cap_fmt_float9(float f, char *out);

/* A text cell read as pandas' read_csv reads a float column: the NA tokens
 * (the empty cell, "NA", "NaN", "null", "None", ...) are NaN, "inf" and
 * "infinity" in any case with an optional sign are infinities, and a plain
 * decimal number is itself. Anything else is refused (false): hex floats,
 * "1,5", "nan(0x1)", text. Blanks around the cell are ignored; s need not
 * end in a NUL. */
bool cap_text_to_double(const char *s, size_t n, double *out); /* s may be NULL when n is 0 */
/* A plain decimal number at s[0..n), nothing else: an optional sign,
 * digits with an optional fraction (at least one digit), an optional
 * exponent, as the double strtod gives. False when s is not one. */
bool cap_decimal_to_double(const char *s, size_t n, double *out);

/* The scanner behind it, inline because the serving path reads JSON
 * numbers with it (a call and a second pass over each number cost 3-4% of
 * OIP requests a second). Reads the longest decimal number at s[0..e) and
 * returns its length, 0 when there is none; json: JSON's grammar only (no
 * '+', no leading zeros, digits on both sides of '.'). The value is the
 * double strtod gives, correctly rounded: up to 19 significant digits and
 * 10^k for |k| <= 22 by one exact operation (Clinger's fast path), the
 * rest by cap_decimal_slow (strtod). */
extern const double cap_pow10_exact[23];
double cap_decimal_slow(const char *s, size_t n);

static inline bool cap_digit_at(const char *p, const char *e)
{
    return p < e && (unsigned)(*p - '0') < 10;
}

static inline size_t cap_scan_decimal(const char *s, const char *e, bool json, double *out)
{
    const char *p = s;
    bool neg = p < e && *p == '-', digits = false, fast = true;
    p += p < e && (*p == '-' || (!json && *p == '+'));
    uint64_t w = 0; /* up to 19 significant digits */
    int sig = 0, exp10 = 0;
    if (json && cap_digit_at(p, e) && *p == '0' && cap_digit_at(p + 1, e))
        return 0; /* "01" is not JSON */
    for (; cap_digit_at(p, e); p++) {
        digits = true;
        if (w == 0 && *p == '0')
            continue;
        if (sig < 19)
            w = w * 10 + (uint64_t)(*p - '0'), sig++;
        else
            fast = false;
    }
    if (json && !digits)
        return 0;
    if (p < e && *p == '.') {
        if (json && !cap_digit_at(p + 1, e))
            return 0;
        for (p++; cap_digit_at(p, e); p++) {
            digits = true;
            if (w == 0 && *p == '0')
                exp10--; /* zeros before the first significant digit */
            else if (sig < 19)
                w = w * 10 + (uint64_t)(*p - '0'), sig++, exp10--;
            else
                fast = false;
        }
    }
    if (!digits)
        return 0;
    if (p < e && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        bool eneg = q < e && *q == '-';
        q += q < e && (*q == '-' || *q == '+');
        if (!cap_digit_at(q, e))
            return 0;
        int x = 0;
        for (; cap_digit_at(q, e); q++)
            if (x < 100000)
                x = x * 10 + (*q - '0');
        exp10 += eneg ? -x : x;
        p = q;
    }
    size_t n = (size_t)(p - s);
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
    fast = false; /* Clinger's fast path needs each operation rounded once, in double */
#endif
    if (w == 0)
        *out = neg ? -0.0 : 0.0;
    else if (fast && w <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)w;
        d = exp10 < 0 ? d / cap_pow10_exact[-exp10] : d * cap_pow10_exact[exp10];
        *out = neg ? -d : d;
    } else {
        *out = cap_decimal_slow(s, n);
    }
    return n;
}

#endif
