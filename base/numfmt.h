/* numfmt.h - number to text, fast where printf is slow, and text to number
 * by the one rule every reader of tables (CSV cells, text tensors) follows. */
#ifndef CAP_BASE_NUMFMT_H
#define CAP_BASE_NUMFMT_H

#include <stdbool.h>
#include <stddef.h>

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
 * exponent. Gives the double strtod would, correctly rounded: up to 19
 * significant digits and 10^k for |k| <= 22 by one exact operation
 * (Clinger's fast path), anything else by strtod. False when s is not one. */
bool cap_decimal_to_double(const char *s, size_t n, double *out);

#endif
