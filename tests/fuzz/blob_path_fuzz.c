/* blob_path_fuzz.c - the artifact path check must never crash, and must never
 * accept a path with a '..' segment, a backslash, a NUL or a leading '/';
 * nor may it once blob_list_path has dropped a listing's '.' segments. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "blob/blob.h"

static void must_be_safe(const char *p, size_t size)
{
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    struct cap_error err;
    if (blob_check_pathn(p, size, 1, &err) == 0)
        must_be_safe(p, size);
    if (memchr(p, '\0', size))
        return 0;
    char *s = cap_xstrndup(p, size);
    char *listed = blob_list_path(s);
    if (blob_check_path(listed, 1, &err) == 0)
        must_be_safe(listed, strlen(listed));
    free(listed);
    free(s);
    return 0;
}
