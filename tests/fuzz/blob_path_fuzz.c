/* blob_path_fuzz.c - the artifact path check must never crash, and must never
 * accept a path with a '..' segment, a backslash, a NUL or a leading '/'. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blob/blob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct cap_error err;
    if (blob_check_pathn(p, size, 1, &err) != 0)
        return 0;
    if (size && p[0] == '/')
        abort();
    for (size_t i = 0; i < size; i++) {
        if (p[i] == '\\' || p[i] == '\0')
            abort();
        bool seg_start = i == 0 || p[i - 1] == '/';
        bool dotdot = i + 1 < size && p[i] == '.' && p[i + 1] == '.' &&
                      (i + 2 == size || p[i + 2] == '/');
        if (seg_start && dotdot)
            abort();
    }
    return 0;
}
