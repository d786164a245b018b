/* runner.h - what status.c, lock.c, runcache.c and exec.c share, internal
 * to pipeline/: the workspace of a run and a stage's check against its
 * dvc.lock entry. */
#ifndef CAP_PIPELINE_RUNNER_H
#define CAP_PIPELINE_RUNNER_H

#include "pipeline/pipeline.h"

struct data_statcache;
struct data_dvc_meta;

struct pipe_ws {
    const struct pipe_spec *spec;
    char *repo;              /* the nearest directory at or above the spec's root holding .dvc/ */
    char *cache_dir;         /* <repo>/.dvc/cache */
    char *state_dir;         /* <repo>/.dvc/tmp/capstan: stat cache, run cache, lock */
    char *lock_path;         /* <root>/dvc.lock */
    struct data_statcache *sc;
    cJSON *lock;             /* dvc.lock: {"schema": "2.0", "stages": {...}} */
    int lock_fd;             /* flock on <state_dir>/lock while a run writes; -1 */
};
/* Finds the repository and reads dvc.lock (absent: an empty one). */
int pipe_ws_open(const struct pipe_spec *s, struct pipe_ws *ws, struct cap_error *err);
/* Saves the stat cache (it is a cache: a failure is only logged). */
void pipe_ws_close(struct pipe_ws *ws);
/* Takes the run lock: one writer of dvc.lock and the workspace at a time.
 * -CAP_ECONFLICT when another run holds it. */
int pipe_ws_lock(struct pipe_ws *ws, struct cap_error *err);

/* mkdir -p: 0 or a negative errno. */
int pipe_mkdirs(const char *path);
/* A path of a stage (relative to its wdir) relative to the spec's root,
 * with "." and ".." resolved; NULL when it leaves the root. malloc'd. */
char *pipe_stage_relpath(const struct pipe_stage *st, const char *path);
/* The same as an absolute path. malloc'd; NULL when it leaves the root. */
char *pipe_stage_abspath(const struct pipe_spec *s, const struct pipe_stage *st,
                         const char *path);

/* Marks in sel (spec->n) the stages targets name and every stage they
 * depend on; no targets: all. A target is a stage's name or a foreach /
 * matrix group's ("build" for build@*); an unknown one is -CAP_ENOTFOUND
 * naming it. */
int pipe_select(const struct pipe_spec *s, const char *const *targets, size_t ntargets,
                bool *sel, struct cap_error *err);

/* A dependency's or output's lock item: {path, hash: md5, md5, size, nfiles}. */
cJSON *pipe_lock_item(const char *path, const struct data_dvc_meta *m);
/* Reads a lock item's md5 back (false when it has none or it is malformed). */
bool pipe_lock_item_meta(const cJSON *item, struct data_dvc_meta *m);
/* The stage's command as dvc.lock keeps it: a string, or a list. */
cJSON *pipe_lock_cmd(const struct pipe_stage *st);

/* A stage checked against its lock entry. */
struct pipe_check {
    cJSON *reasons;          /* the stage's list in `dvc status --json` (empty: up to date) */
    cJSON *entry;            /* its lock entry as of now: cmd, deps (current hashes),
                                params (current values); outs not yet filled */
    bool missing_dep;        /* a dependency or parameter does not exist: it cannot run */
    char *missing;           /* the first of them, for the message */
};
int pipe_check_stage(struct pipe_ws *ws, size_t i, struct pipe_check *c, struct cap_error *err);
void pipe_check_free(struct pipe_check *c);
/* Hashes the stage's outputs after it ran, committing the cached ones to
 * the DVC cache, and adds them to entry as "outs". */
int pipe_record_outs(struct pipe_ws *ws, const struct pipe_stage *st, cJSON *entry,
                     struct cap_error *err);
/* Sets the stage's entry in dvc.lock (taking entry) and writes the file;
 * _put only sets it, _write writes what was put (one fsynced write for the
 * stages that ended together: 50 parallel stages, 1 write instead of 50). */
int pipe_lock_set(struct pipe_ws *ws, const char *name, cJSON *entry, struct cap_error *err);
void pipe_lock_put(struct pipe_ws *ws, const char *name, cJSON *entry);
int pipe_lock_write(struct pipe_ws *ws, struct cap_error *err);

/* ---- runcache.c ----
 * Key: SHA-256 of the entry's cmd, deps, params and output paths; value:
 * the whole entry, outputs' hashes included, at
 * <state_dir>/runs/<2 hex>/<64 hex>.json. Used only where DVC uses its own:
 * a stage with a command, dependencies and outputs, every output cached
 * and none persisted. */
bool pipe_runcache_usable(const struct pipe_stage *st);
/* Restores the outputs of a run seen before with entry's key: each output
 * checked out of the cache; *hit false when there is none or an object is
 * gone. On a hit entry gains the recorded "outs". */
int pipe_runcache_restore(struct pipe_ws *ws, const struct pipe_stage *st, cJSON *entry,
                          bool *hit, struct cap_error *err);
int pipe_runcache_save(struct pipe_ws *ws, const struct pipe_stage *st, const cJSON *entry,
                       struct cap_error *err);

#endif
