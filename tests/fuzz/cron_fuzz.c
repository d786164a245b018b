/* cron_fuzz.c - schedule cron expressions come from API clients: the
 * parser must never crash on any text, and an accepted expression's next
 * fire time must be found (or refused) without running away, in UTC and in
 * a zone with DST. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pipe_tz *paris;
    static int loaded;
    if (!loaded) {
        struct cap_error e;
        loaded = 1;
        if (pipe_tz_load("Europe/Paris", &paris, &e) < 0)
            paris = NULL; /* no zoneinfo here: UTC only */
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct pipe_cron c;
    struct cap_error err;
    if (pipe_cron_parse(s, &c, &err) == 0) {
        int64_t next;
        /* 2026-03-29 00:30 UTC: an hour before Paris springs forward */
        pipe_cron_next(&c, NULL, 1774744200, &next, &err);
        if (paris)
            pipe_cron_next(&c, paris, 1774744200, &next, &err);
    }
    free(s);
    return 0;
}
