/* colfile.h - a frame (monitor.h's mon_frame) as one compact file: the
 * baselines' reference sample in the artifact store. Internal to monitor/
 * (baseline.c; tests). Versioned; the whole file is zstd-compressed.
 *
 * File: "CCOL" u8(version 1) then one zstd frame (its content size
 * recorded) holding
 *   u32 ncols, u64 nrows, then per column
 *   u32 name length, name bytes, u8 dtype (0 int, 1 float, 2 text), and
 *   num columns: nrows f64 (NaN: missing);
 *   text columns: nrows cells, each u32 length (0xffffffff: missing) and
 *   its bytes.
 * Integers and doubles are little-endian. */
#ifndef CAP_MONITOR_COLFILE_H
#define CAP_MONITOR_COLFILE_H

#include <stddef.h>

#include "base/buf.h"
#include "base/error.h"
#include "monitor/monitor.h"

/* Appends f's file to out. */
void mon_colfile_encode(const struct mon_frame *f, struct cap_buf *out);
/* Reads a file back into out (mon_frame's conventions: MON_INT/MON_FLOAT
 * with NaN for missing, MON_TEXT with NULL); label names it in errors.
 * Every length is checked: a truncated, padded or corrupt file is
 * -CAP_EINVAL with what was wrong, and out is left empty. */
int mon_colfile_decode(const char *label, const void *data, size_t len, struct mon_frame *out,
                       struct cap_error *err);

#endif
