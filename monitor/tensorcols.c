/* tensorcols.c - the one rule that names the columns of a model's tensors
 * (monitor.h, mon_tensor_columns): baselines, the prediction log's rows
 * and the monitor's windows all name a column by it, so a column of the
 * reference and the same column of live traffic meet by name. */
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "monitor/monitor.h"

/* A tensor with a symbolic second dimension ([N, ?]) has as many columns as
 * the names given for it; without names it cannot be named, and that is an
 * error rather than a guess (the width is only known once data arrives). */
int mon_tensor_columns(const char *tensor, int ndim, const int64_t *dims, bool single_input,
                       const char *const *names, size_t nnames, char ***out, size_t *nout,
                       struct cap_error *err)
{
    *out = NULL;
    *nout = 0;
    if (ndim > 2)
        return cap_err(err, CAP_EINVAL,
                       "Tensor '%s' has %d dimensions: monitoring takes tensors of shape [N] "
                       "or [N, k]",
                       tensor, ndim);
    int64_t k = ndim == 2 ? dims[1] : 1;
    if (k < 0 && names && nnames > 0)
        k = (int64_t)nnames;
    if (k < 0)
        return cap_err(err, CAP_EINVAL,
                       "Tensor '%s' has shape [N, ?]: its columns cannot be named without a "
                       "signature giving their names",
                       tensor);
    if (ndim < 2 || k == 1) {
        *out = cap_xcalloc(1, sizeof **out);
        (*out)[0] = cap_xstrdup(tensor);
        *nout = 1;
        return 0;
    }
    bool named = names && nnames == (size_t)k;
    char **cols = cap_xcalloc((size_t)k, sizeof *cols);
    for (int64_t i = 0; i < k; i++) {
        struct cap_buf b;
        cap_buf_init(&b);
        if (named)
            cap_buf_puts(&b, names[i]);
        else if (single_input)
            cap_buf_printf(&b, "f%lld", (long long)i);
        else
            cap_buf_printf(&b, "%s_%lld", tensor, (long long)i);
        cols[i] = cap_buf_steal(&b);
    }
    *out = cols;
    *nout = (size_t)k;
    return 0;
}
