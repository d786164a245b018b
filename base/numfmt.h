/* numfmt.h - number to text, fast where printf is slow. */
#ifndef CAP_BASE_NUMFMT_H
#define CAP_BASE_NUMFMT_H

#include <stddef.h>

/* Writes f as printf's "%.9g" would (9 significant digits, which give a
 * float back exactly), without printf: glibc's took ~250 ns a number, a
 * third of the time spent writing an inference answer. out needs 32 bytes.
 * Returns the length, or 0 for what it leaves to printf: zero, subnormals,
 * infinities, NaN and magnitudes outside [1e-20, 1e20). */
size_t cap_fmt_float9(float f, char *out);

#endif
