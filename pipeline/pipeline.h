/* pipeline.h - pipelines: DVC's dvc.yaml run as it is, in parallel, with
 * DVC's up-to-date decisions and dvc.lock, a run cache, schedules, lineage
 * events and an Argo Workflows export. Public surface of the pipeline/
 * module: pipe_. Below api/ and cli/, above data/ (DVC's hashes and cache)
 * and store/.
 *
 * Paths: a spec's root is the directory holding dvc.yaml; a stage's wdir is
 * relative to it; deps, outs and params files are relative to the wdir, as
 * DVC reads them. The repository root (the nearest directory above root
 * holding .dvc/) holds the cache (.dvc/cache) and Capstan's local state
 * (.dvc/tmp/capstan/: the stat cache and the run cache; .dvc/tmp is what
 * DVC's own .dvc/.gitignore leaves out of git). */
#ifndef CAP_PIPELINE_H
#define CAP_PIPELINE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* ---- the spec: dvc.yaml after templating (spec.c) ---- */
enum pipe_out_kind { PIPE_OUT = 0, PIPE_METRIC = 1, PIPE_PLOT = 2 };
struct pipe_out {
    char *path;              /* as written (after templating), relative to the wdir */
    enum pipe_out_kind kind; /* the list it came from: outs, metrics or plots */
    bool cache;              /* DVC's default: true, for all three kinds */
    bool persist;            /* not removed before the stage runs */
    cJSON *extra;            /* other DVC keys kept as written (remote, push, desc,
                                type, labels, meta, plot props...), or NULL */
};
/* One parameter dependency: key (dots for nesting) in file, or the whole
 * file (key NULL: DVC's `{file: null}` / `- file:` form). */
struct pipe_param {
    char *file;              /* relative to the wdir; default "params.yaml" */
    char *key;               /* NULL: every key of the file */
};
struct pipe_stage {
    char *name;              /* "train", "build@us" (foreach), "fit@lr0.1-d3" (matrix) */
    char **cmd;              /* one or more commands, run in order, stop at the first failure */
    size_t ncmd;
    bool cmd_is_list;        /* written as a list (dvc.lock keeps the form: a list of one
                                differs from a string for DVC) */
    char *wdir;              /* relative to the spec's root; "." when absent */
    char **deps;             /* relative to the wdir */
    size_t ndeps;
    struct pipe_param *params;
    size_t nparams;
    struct pipe_out *outs;   /* outs, then metrics, then plots, each in file order */
    size_t nouts;
    bool frozen, always_changed;
    char *desc;              /* or NULL */
    int line;                /* where the stage starts in dvc.yaml, for messages */
    /* Capstan's run settings (not DVC fields: DVC refuses unknown keys in
     * dvc.yaml), from capstan.yaml beside dvc.yaml:
     *   stages: {NAME: {retries, backoff, timeout, env: {K: V}, resources:
     *   {cpu, memory}}}, where NAME may name a foreach/matrix group ("build")
     *   for all of its stages. */
    int retries;             /* extra attempts after a failure (0) */
    double backoff_s;        /* first wait between attempts, doubled each time (1 s) */
    double timeout_s;        /* per attempt; 0: none */
    char **env;              /* "K=V", added to the environment */
    size_t nenv;
    char *cpu, *memory;      /* Kubernetes quantities for the Argo export, or NULL */
    /* The DAG (filled by pipe_spec_load): indices into spec->stages of the
     * stages whose outputs this stage depends on. */
    size_t *after;
    size_t nafter;
};
struct pipe_spec {
    char *root;              /* absolute path of the directory holding dvc.yaml */
    char *file;              /* absolute path of dvc.yaml */
    struct pipe_stage *stages; /* in file order, foreach/matrix expanded in place */
    size_t n;
    cJSON *top;              /* dvc.yaml's other top-level keys (plots, metrics, params,
                                artifacts...) kept as written, or NULL */
};

/* Reads root/dvc.yaml (path: the file, or a directory holding dvc.yaml)
 * with libyaml, resolves vars and ${...} templating as DVC 3 does (vars:
 * files and inline maps; params.yaml as the default source; ${item},
 * ${key}, ${item.x}, foreach over lists and maps, matrix), reads
 * capstan.yaml when present, and builds the DAG. Refused, with
 * "<file>:<line>:<column>: <what>, expected <what>": a field Capstan does
 * not know or support (named), a wrong type, bad templating (the
 * expression and why), a missing stage command, two stages with one output
 * path, an output inside another stage's output, a cycle (its stages
 * named, in order), a TOML params file (Debian ships no C TOML reader). */
int pipe_spec_load(const char *path, struct pipe_spec *out, struct cap_error *err);
void pipe_spec_free(struct pipe_spec *s);
/* The stage named name; NULL when there is none. */
const struct pipe_stage *pipe_spec_find(const struct pipe_spec *s, const char *name);
/* Stage indices in an order where every stage comes after those it
 * depends on (file order among independent ones). *order malloc'd. */
int pipe_spec_order(const struct pipe_spec *s, size_t **order, struct cap_error *err);
/* Reads the value of one parameter (key with dots) from a YAML or JSON
 * file, as JSON; a whole file when key is NULL (an object of its keys).
 * -CAP_ENOTFOUND naming the file or the key when missing. */
int pipe_param_read(const char *file, const char *key, cJSON **out, struct cap_error *err);
/* The graph as text (one line per stage: "name <- dep, dep") or as
 * Graphviz dot; targets (may be empty) narrow it to them and what they
 * depend on. *out malloc'd. */
int pipe_dag_format(const struct pipe_spec *s, const char *const *targets, size_t ntargets,
                    bool dot, char **out, struct cap_error *err);

/* ---- running (status.c, lock.c, runcache.c, exec.c) ----
 * A stage is up to date unless DVC would say otherwise: its command
 * changed, a dependency's content or a parameter's value changed, went
 * missing or is new, an output is missing, modified or not in the cache,
 * or it is always_changed; a frozen stage never runs. dvc.lock is written
 * in DVC's format after each stage that ran, so `dvc status` agrees. */

/* What `dvc status --json` prints for the stages of targets (all when
 * ntargets is 0) and those they depend on: {"stage": [{"changed deps":
 * {path: "modified"|"deleted", params_file: {key: "new"|"modified"|
 * "deleted"} | "new"}}, {"changed outs": {path: "modified"|"deleted"|"not
 * in cache"}}, "changed command", "always changed"]}, up-to-date stages
 * left out, stages in file order. */
int pipe_status(const struct pipe_spec *s, const char *const *targets, size_t ntargets,
                cJSON **out, struct cap_error *err);

enum pipe_state {
    PIPE_WAITING = 0,
    PIPE_RUNNING,    /* an attempt started (reason: why it runs) */
    PIPE_RETRYING,   /* an attempt failed, another follows after the backoff */
    PIPE_SKIPPED,    /* up to date (or frozen) */
    PIPE_CACHED,     /* outputs restored from the run cache */
    PIPE_DONE,       /* ran and its outputs were recorded */
    PIPE_FAILED,     /* its last attempt failed or it timed out; nothing recorded */
    PIPE_CANCELLED,  /* not started or killed: an earlier failure, or a signal */
};
const char *pipe_state_name(enum pipe_state st);
struct pipe_event {
    const struct pipe_stage *stage;
    size_t index;            /* in spec->stages */
    enum pipe_state state;
    const char *reason;      /* RUNNING: why ("changed deps: data.csv"); FAILED: what */
    int attempt;             /* 1-based */
    int exit_code;           /* FAILED: the command's status (128+N for signal N), or -1 */
    double seconds;          /* DONE/FAILED/CACHED: wall time of the stage */
    const cJSON *lock;       /* SKIPPED/CACHED/DONE: the stage's dvc.lock entry */
};
typedef void (*pipe_event_fn)(void *ctx, const struct pipe_event *ev);
struct pipe_run_opts {
    const char *const *targets; /* stages (and what they depend on); none: all */
    size_t ntargets;
    int jobs;                /* stages at once; <= 0: the CPUs */
    bool force;              /* run the selected stages even when up to date */
    bool dry;                /* decide and report, run nothing, write nothing */
    bool keep_going;         /* a failure stops only what depends on it */
    bool no_run_cache;       /* never restore outputs from the run cache */
    pipe_event_fn on_event;  /* called on the calling thread, may be NULL */
    /* Extra "K=V" for a stage's environment (the tracking run it logs to),
     * asked once per stage right before its first attempt; NULL: none. The
     * strings stay the caller's and must live until pipe_run returns. */
    char **(*stage_env)(void *ctx, const struct pipe_stage *st, size_t index, size_t *n);
    void *ctx;
};
struct pipe_run_result {
    size_t ran, skipped, cached, failed, cancelled;
};
/* Runs the pipeline: stages whose dependencies are done start at once, at
 * most jobs at a time, each in its own process group under /bin/sh in its
 * wdir. A stage that fails (after its retries) or times out is never
 * recorded; the others are killed (SIGTERM, then SIGKILL after 5 s) unless
 * keep_going. SIGINT or SIGTERM to the caller cancels the same way.
 * Returns 0 when every selected stage succeeded, was skipped or restored;
 * -CAP_ECONFLICT with err naming the failed stages otherwise. */
int pipe_run(const struct pipe_spec *s, const struct pipe_run_opts *o, struct pipe_run_result *res,
             struct cap_error *err);
/* ---- schedules: time zones (tz.c), cron (cron.c), the scheduler
 * (schedule.c) ----
 * Time zones are read from TZif files (RFC 8536) under $TZDIR or
 * /usr/share/zoneinfo, never through setenv("TZ") (not thread safe in a
 * server): the 64-bit data of v2+ files, and the footer's POSIX TZ string
 * for instants past the last transition. Leap-second records are ignored
 * (times are POSIX seconds). */
struct pipe_tz;
/* The zone named name (IANA, e.g. "Europe/Berlin", "UTC"). -CAP_EINVAL
 * naming the zone when it is not a zone name, unknown, or not a valid
 * TZif file. */
int pipe_tz_load(const char *name, struct pipe_tz **out, struct cap_error *err);
void pipe_tz_free(struct pipe_tz *tz);
const char *pipe_tz_name(const struct pipe_tz *tz);
/* Seconds east of UTC in effect at the instant t (POSIX seconds). */
int32_t pipe_tz_offset(const struct pipe_tz *tz, int64_t t);
/* The instant of local wall-clock time local (seconds since 1970-01-01
 * 00:00 local): a time repeated by a fall-back gives its first occurrence;
 * a time skipped by a spring-forward is read with the offset in effect
 * before the gap, so it lands as far after the gap's end as it was after
 * its start (02:30 in a 02:00->03:00 gap is 03:30), as Python's zoneinfo
 * reads it with fold=0. Assumes one transition at most within a day of
 * local (true of every zone in tzdata). */
int64_t pipe_tz_local_to_utc(const struct pipe_tz *tz, int64_t local);

/* A five-field cron expression (minute hour day-of-month month
 * day-of-week) or a preset (@hourly @daily @midnight @weekly @monthly
 * @yearly @annually). Fields take *, N, A-B, lists, and steps on * or a
 * range (STAR/N (STAR: the asterisk), A-B/N); months JAN-DEC and days SUN-SAT by name, any case;
 * day-of-week 0-7 with 0 and 7 both Sunday. Days follow Vixie cron: when
 * both day fields are restricted a day matches if either does; a day field
 * that starts with '*' (also "STAR/2") counts as unrestricted, so the other
 * one alone decides. (croniter differs there: it treats "STAR/2" as
 * restricted and ORs it with day-of-week.) */
struct pipe_cron {
    uint64_t minute;             /* bit m: minute m */
    uint32_t hour;               /* bit h */
    uint32_t dom;                /* bits 1..31 */
    uint16_t month;              /* bits 1..12 */
    uint8_t dow;                 /* bits 0..6, Sunday 0 */
    bool dom_star, dow_star;     /* the field starts with '*' */
};
/* -CAP_EINVAL naming the field, the value and the allowed range, e.g.
 * "Invalid cron expression '0 25 * * *': hour '25' is out of range 0-23";
 * also an expression that can never fire (day 31 of February only). */
int pipe_cron_parse(const char *expr, struct pipe_cron *out, struct cap_error *err);
/* Whether the local calendar day (y, m 1-12, d 1-31, weekday 0-6) matches. */
bool pipe_cron_day(const struct pipe_cron *c, int m, int d, int wday);
/* The first fire time strictly after the instant after (POSIX seconds), in
 * tz (NULL: UTC). DST: a local time skipped by a spring-forward fires once,
 * shifted by the gap (pipe_tz_local_to_utc); a repeated local time fires
 * once, at its first occurrence. -CAP_EINVAL when none within 100 years. */
int pipe_cron_next(const struct pipe_cron *c, const struct pipe_tz *tz, int64_t after,
                   int64_t *out, struct cap_error *err);

/* ISO-8601 UTC with milliseconds, "2026-03-29T01:30:00.000Z" (out >= 32). */
void pipe_iso_utc(int64_t ms, char out[32]);
/* Parses "YYYY-MM-DDTHH:MM[:SS[.fff]]" followed by Z or +HH:MM / -HH:MM
 * into milliseconds since the epoch; -CAP_EINVAL naming the text. */
int pipe_iso_parse(const char *s, int64_t *ms, struct cap_error *err);

/* The scheduler (schedule.c): one thread in the server that runs each
 * schedule's pipeline as a child process at its cron ticks, on a
 * monitoring alert (pipe_sched_alert_hook) or on a new dataset version
 * (the store is read every poll_ms while dataset triggers exist: versions
 * are recorded by `capstan data add` in other processes). A run's row
 * (schedule, tick) is written before the child starts, so a tick runs at
 * most once, even across restarts; a run the server was running when it
 * stopped is recorded failed. Catch-up applies to the ticks that came due
 * before the scheduler first saw the schedule (after a restart, or a
 * schedule created with a start in the past): skip (none run; one
 * "skipped" row says how many), latest (only the last), all (each, in
 * order; the newest 1000 at most). Overlap, when a run of the schedule is
 * still going: forbid (recorded skipped), allow, replace (SIGTERM to the
 * running one's process group, SIGKILL after grace_s; recorded replaced),
 * queue (runs after it). The child: runner (the capstan binary by
 * default) with argv `pipeline run --repo DIR`, in DIR, with
 * CAPSTAN_TRACKING_URI, CAPSTAN_SCHEDULE, CAPSTAN_TICK (ISO-8601 UTC) and
 * for triggers CAPSTAN_TRIGGER (alert|dataset) and CAPSTAN_TRIGGER_JSON. */
struct store;
struct pipe_sched;
struct pipe_sched_config {
    struct store *store;
    const char *runner;          /* the program a schedule runs; NULL: /proc/self/exe */
    double grace_s;              /* replace and stop: SIGTERM, then SIGKILL after; 0: 10 */
    int poll_ms;                 /* dataset triggers: how often versions are read; 0: 1000 */
    /* Several servers on one database: only the lease's holder schedules
     * and runs (NULL: this server always does). */
    struct lease *lease;
};
/* The scheduler, not yet running: the API and the alert hook may hold it
 * (their runs wait queued). -CAP_EINVAL when runner is not executable. */
int pipe_sched_new(const struct pipe_sched_config *cfg, struct pipe_sched **out,
                   struct cap_error *err);
/* Starts its thread once the server listens: url is what children get as
 * CAPSTAN_TRACKING_URI; token (NULL: none), a server with --auth's own
 * token, what they get as MLFLOW_TRACKING_TOKEN. */
int pipe_sched_run(struct pipe_sched *s, const char *url, const char *token,
                   struct cap_error *err);
/* Stops the thread; running children get SIGTERM (SIGKILL after grace_s)
 * and are recorded failed. NULL is fine. */
void pipe_sched_stop(struct pipe_sched *s);
/* Checks body {"name", "repo", "cron" | "on_alert" | "on_dataset",
 * "timezone"?, "catch_up"?, "overlap"?, "start"? (ISO-8601: count ticks
 * from this instant instead of from now)} and stores the schedule (each
 * error names the field and what it expects). s may be NULL (no
 * scheduler: stored only). */
int pipe_sched_create(struct pipe_sched *s, struct store *st, const cJSON *body, cJSON **out,
                      struct cap_error *err);
/* Records a manual run of name now (overlap applies) and wakes the
 * scheduler; out: {"schedule", "tick"}. */
int pipe_sched_trigger(struct pipe_sched *s, struct store *st, const char *name, cJSON **out,
                       struct cap_error *err);
/* Tells the scheduler that schedules changed (created, paused, resumed,
 * deleted). NULL is fine. */
void pipe_sched_kick(struct pipe_sched *s);
/* The alert module's on_fire callback (cls: the struct pipe_sched): each
 * schedule whose on_alert filter is the rule's name, or DEPLOYMENT/RULE,
 * gets a run with the event as CAPSTAN_TRIGGER_JSON. */
void pipe_sched_alert_hook(void *cls, const char *deployment, const char *rule,
                           int64_t at_ms, const char *event_json);

/* ---- lineage events (openlineage.c) ----
 * OpenLineage (spec 2-0-2) RunEvents for a pipeline run and for each stage
 * run: the pipeline is the job "<pipeline>" and each stage the job
 * "<pipeline>.<stage>", whose run names the pipeline run as its parent.
 * The shared shape (producer, schema URLs, time, dataset version facet)
 * is base/openlineage.h's. */
enum pipe_ol_type { PIPE_OL_START, PIPE_OL_COMPLETE, PIPE_OL_FAIL, PIPE_OL_ABORT };
/* A stage's dependency or output as an OpenLineage dataset. */
struct pipe_ol_dataset {
    const char *ns;          /* "file://<host>" (pipe_ol_file_ns) or the repository's URL */
    const char *name;        /* the path, relative to the repository root */
    const char *version;     /* DVC's md5 ("<32 hex>" or "<32 hex>.dir"), or NULL */
};
struct pipe_ol_run {
    enum pipe_ol_type type;  /* ABORT: the run was killed */
    const char *run_id;      /* a UUID (cap_uuid4), one per pipeline or stage run */
    const char *ns;          /* the jobs' namespace; NULL: "capstan" */
    const char *pipeline;    /* the pipeline's name */
    const char *stage;       /* NULL: the event is the pipeline run's */
    const char *parent_run_id; /* a stage's: its pipeline run's run_id */
    int64_t time_ms;         /* eventTime, ms since the epoch */
    int64_t nominal_ms;      /* a scheduled run's tick; 0: not scheduled */
    const struct pipe_ol_dataset *inputs, *outputs;
    size_t ninputs, noutputs;
    const char *error;       /* FAIL and ABORT: why (the errorMessage facet); or NULL */
};
/* The RunEvent of r. NULL (and err set) when a required field is missing. */
cJSON *pipe_ol_event(const struct pipe_ol_run *r, struct cap_error *err);
/* "file://<this host's name>" into out (n bytes). */
void pipe_ol_file_ns(char *out, size_t n);
/* POSTs ev as JSON to url (Marquez's /api/v1/lineage shape); 0 on a 2xx
 * answer, else -CAP_EUNAVAIL naming the url and the status or the
 * transport error. 10 s timeout. */
int pipe_ol_send(const char *url, const cJSON *ev, struct cap_error *err);
/* Checks a received RunEvent: eventTime (ISO 8601 with a time zone),
 * eventType (START RUNNING COMPLETE ABORT FAIL OTHER), run.runId (a UUID),
 * job.namespace and job.name (non-empty strings), producer and schemaURL
 * (URIs), inputs and outputs (arrays of datasets with namespace and name).
 * -CAP_EINVAL naming the first field that is wrong and what was expected. */
int pipe_ol_check(const cJSON *ev, struct cap_error *err);
/* A run's events (lineage_run.c), posted to <url>/api/v1/lineage as the
 * OpenLineage HTTP transport does: _new sends the pipeline run's START,
 * _event each stage's (pipe_run's on_event; skipped stages send none),
 * _end its COMPLETE or FAIL and frees em. A failing endpoint is reported
 * once on stderr and never fails the run. */
struct pipe_ol_emitter;
struct pipe_ol_emitter *pipe_ol_emitter_new(const char *url, const char *ns,
                                            const struct pipe_spec *s, int64_t nominal_ms);
void pipe_ol_emitter_event(struct pipe_ol_emitter *em, const struct pipe_event *ev);
void pipe_ol_emitter_end(struct pipe_ol_emitter *em, bool ok, const char *error);

/* ---- the Argo Workflows export (argo.c) ---- */
struct pipe_export_opts {
    const char *name;        /* the pipeline's name (generateName prefix); NULL: the
                                directory holding dvc.yaml */
    const char *image;       /* every stage's container image; NULL: refused */
    const char *workdir;     /* where the spec's root is in the image; NULL: "/repo" */
    const char *artifact_prefix; /* S3 key prefix in the artifact repository; NULL: "capstan" */
    /* A schedule makes it a CronWorkflow: */
    const char *cron;        /* five-field cron expression(s), ";"-separated for several; NULL: a Workflow */
    const char *timezone;    /* IANA name, or NULL */
    const char *overlap;     /* allow | forbid | replace; "queue" refused (Argo has none); NULL: allow */
    int64_t starting_deadline_s; /* 0: left out */
};
/* The spec as an Argo Workflows (argoproj.io/v1alpha1) Workflow, or a
 * CronWorkflow when o->cron is set, written as YAML through libyaml
 * (*yaml malloc'd): a DAG template "main" whose tasks follow stage.after,
 * one container template per stage (sh -c "cd <wdir> && cmd && cmd"), its
 * env, cpu/memory as resource requests, retries/backoff as retryStrategy,
 * timeout as activeDeadlineSeconds; each stage's outs as S3 output
 * artifacts keyed under the prefix, and each dependency on another stage's
 * output as an input artifact from that task. Names are made to fit
 * Argo's rules and kept distinct. */
int pipe_export_argo(const struct pipe_spec *s, const struct pipe_export_opts *o, char **yaml,
                     struct cap_error *err);
/* The same document as a JSON tree (*doc owned by the caller). */
int pipe_export_argo_doc(const struct pipe_spec *s, const struct pipe_export_opts *o, cJSON **doc,
                         struct cap_error *err);

#endif
