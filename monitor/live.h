/* live.h - the live monitor's windows, internal to monitor/: live.c reads
 * the log and decides when windows open and close, livewin.c fills a
 * window with the rows of its requests and computes its result. */
#ifndef CAP_MONITOR_LIVE_H
#define CAP_MONITOR_LIVE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "monitor/monitor.h"
#include "monitor/profile.h"
#include "store/store.h"

/* One column's buffered cells: numbers (NaN missing) or texts (NULL
 * missing), as the baseline's sample column is. */
struct mon_colbuf {
    double *num;
    char **text;
};

/* Where a column of the baseline's sample comes from in a logged request. */
struct mon_refcol {
    const char *tensor;
    int index;                  /* the column within the tensor's row */
    bool output;
    bool text;
};

/* A deployment's reference as the windows use it. */
struct mon_ref {
    int refs;                   /* the deployment's and each open window's (one thread) */
    char *target;               /* "deployment:D" or "model:M/V" */
    struct mon_baseline b;
    struct mon_refcol *cols;    /* one per sample column */
    /* by role, [0] inputs and [1] outputs: the column names, and their
     * kinds as the baseline fixed them (so windows never type a column
     * differently from one another) */
    const char **names[2], **num[2], **cat[2];
    size_t nnames[2], nnum[2], ncat[2];
};

struct mon_win {
    int64_t start_ms, rows, late_rows;
    int64_t first_id, last_id;   /* the smallest and largest log ids counted into it */
    cJSON *result;               /* computed at close; kept until it is stored */
    struct cap_buf profile;      /* its encoded profile, likewise */
    struct mon_ref *ref;         /* NULL: no baseline when it opened; a reference held */
    struct mon_colbuf *cols;     /* ref's sample columns; rows not yet profiled */
    size_t buffered, room;
    bool overflow;               /* more rows than exact_rows: tested from profiles */
    struct mon_profile prof;     /* the rows already moved out of cols */
    bool has_prof;
    cJSON *versions;             /* {"name/version": rows} */
    cJSON *last_version;         /* the entry the last request counted into */
    struct mon_win *next;        /* by start */
};

/* A new window holding a reference to ref (may be NULL). */
struct mon_win *mon_win_new(int64_t start_ms, struct mon_ref *ref);
void mon_win_free(struct mon_win *w);
/* Counts one logged request (all of its rows) into w. exact_rows bounds
 * the rows held for exact tests; beyond it they move into the profile. */
void mon_win_add(struct mon_win *w, int64_t id, const struct store_prediction *r, bool late,
                 size_t exact_rows);
/* The window's result JSON (live's shape, without "id"), and its profile
 * encoded into profile (left empty without a baseline). */
cJSON *mon_win_result(struct mon_win *w, const char *deployment, int64_t width_s,
                      struct cap_buf *profile);
/* A longer window's result from its base windows' merged profile. */
cJSON *mon_rollup_result(const struct mon_ref *ref, const struct mon_profile *merged,
                         const char *deployment, int64_t width_s, int64_t start_ms,
                         int64_t rows);

/* Loads a reference (baseline, kinds, roles) holding one reference;
 * -CAP_ENOTFOUND without one. */
int mon_ref_load(struct store *st, struct blob *bl, const char *target, struct mon_ref **out,
                 struct cap_error *err);
/* Drops one reference; the last frees it. */
void mon_ref_free(struct mon_ref *r);

#endif
