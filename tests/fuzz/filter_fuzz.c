/* filter_fuzz.c - the search grammar must never crash or leak on any input:
 * filter strings for every target, and order_by clauses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "track/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    static const enum filter_target targets[] = {
        FILTER_TARGET_RUNS, FILTER_TARGET_EXPERIMENTS, FILTER_TARGET_LOGGED_MODELS,
        FILTER_TARGET_REGISTERED_MODELS, FILTER_TARGET_MODEL_VERSIONS};
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        struct filter *f = NULL;
        struct cap_error err;
        if (filter_parse(s, targets[t], &f, &err) == 0)
            filter_free(f);
        struct order_key k;
        if (order_key_parse(s, targets[t], &k, &err) == 0)
            order_key_clear(&k);
    }
    free(s);
    return 0;
}
