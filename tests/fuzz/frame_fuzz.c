/* frame_fuzz.c - the monitor's table readers (CSV, JSONL, 2-D .npy; the
 * files users hand `monitor drift`, baselines and `data add`) must never
 * crash, leak or read out of bounds on any bytes. Byte 0 picks the format
 * (mod 3) and whether the columns are named (bit 2); the rest is the file. */
#include <stdint.h>
#include <stdlib.h>

#include "monitor/monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const enum mon_format fmts[] = {MON_FORMAT_CSV, MON_FORMAT_JSONL, MON_FORMAT_NPY};
    static const char *const names[] = {"a", "b", "c"};
    enum mon_format fmt = fmts[data[0] % 3];
    size_t nnames = (data[0] & 4) ? 3 : 0;
    struct mon_frame f = {0};
    struct cap_error err;
    if (mon_frame_parse("fuzz", fmt, data + 1, size - 1, nnames ? names : NULL, nnames, &f,
                        &err) == 0) {
        /* touch every cell the reader claims to have */
        volatile double sink = 0;
        for (size_t c = 0; c < f.ncols; c++)
            for (size_t r = 0; r < f.nrows; r++)
                sink += f.cols[c].num ? f.cols[c].num[r] : (f.cols[c].text[r] != NULL);
        (void)sink;
    }
    mon_frame_free(&f);
    return 0;
}
