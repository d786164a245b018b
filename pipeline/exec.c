/* exec.c - the DAG scheduler. One thread decides and records (hashing,
 * dvc.lock, the run cache); stages run as child processes, at most jobs at
 * once, each in a process group of its own so that a kill reaches every
 * process a command started. The thread sleeps in poll() on a self-pipe
 * that SIGCHLD, SIGINT and SIGTERM write to, with a timeout at the next
 * deadline (a stage's timeout, a retry's backoff, a kill's grace), so it
 * neither spins nor misses an exit. */
#include "pipeline/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "data/data.h"

#define KILL_GRACE_S 5.0

struct job {
    enum pipe_state state;
    bool selected;
    size_t waiting_on;       /* selected upstream stages not finished yet */
    pid_t pid;               /* 0: not running */
    int attempt;
    double t0;               /* when the stage was first started */
    double deadline;         /* this attempt's timeout; 0: none */
    double retry_at;         /* RETRYING: when to start again */
    double kill_at;          /* SIGKILL after the grace; 0: not being killed */
    bool timed_out;
    struct pipe_check chk;
    char **env;              /* the caller's extra environment, or NULL */
    size_t nenv;
    bool recorded;           /* succeeded, its lock entry not yet written */
};

struct run {
    const struct pipe_spec *s;
    const struct pipe_run_opts *o;
    struct pipe_ws ws;
    struct job *jobs;
    int running, max_jobs;
    bool stopping;           /* a failure (without keep_going) or a signal */
    bool interrupted;
    struct pipe_run_result res;
    struct cap_buf failed;   /* names of failed stages, for the message */
};

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(sig_pipe[1], &b, 1) < 0) { /* full: a wake-up is already pending */
    }
    errno = saved;
}

const char *pipe_state_name(enum pipe_state st)
{
    static const char *const names[] = {"waiting", "running", "retrying", "skipped",
                                        "cached",  "done",    "failed",   "cancelled"};
    return (unsigned)st < sizeof names / sizeof *names ? names[st] : "unknown";
}

static void emit(struct run *r, size_t i, enum pipe_state st, const char *reason, int code,
                 const cJSON *lock)
{
    struct job *j = &r->jobs[i];
    j->state = st;
    if (!r->o->on_event)
        return;
    struct pipe_event ev = {.stage = &r->s->stages[i], .index = i, .state = st,
                            .reason = reason, .attempt = j->attempt, .exit_code = code,
                            .seconds = j->t0 > 0 ? cap_mono_s() - j->t0 : 0, .lock = lock};
    r->o->on_event(r->o->ctx, &ev);
}

/* Every selected stage downstream of i can no longer run. */
static void finish(struct run *r, size_t i)
{
    if (r->running > 0 && r->jobs[i].pid)
        r->running--;
    r->jobs[i].pid = 0;
    for (size_t k = 0; k < r->s->n; k++) {
        const struct pipe_stage *st = &r->s->stages[k];
        for (size_t a = 0; a < st->nafter; a++)
            if (st->after[a] == i && r->jobs[k].selected && r->jobs[k].waiting_on > 0)
                r->jobs[k].waiting_on--;
    }
}

static bool ok_state(enum pipe_state st)
{
    return st == PIPE_SKIPPED || st == PIPE_CACHED || st == PIPE_DONE;
}

/* ---- starting a stage ---- */

static void exec_commands(const struct pipe_spec *s, const struct pipe_stage *st,
                          const struct job *j)
{
    setpgid(0, 0);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(SIGINT, &dfl, NULL);
    sigaction(SIGTERM, &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    char *dir = pipe_stage_abspath(s, st, ".");
    if (!dir || chdir(dir) < 0) {
        fprintf(stderr, "capstan: stage '%s': cannot enter its wdir '%s': %s\n", st->name,
                st->wdir ? st->wdir : ".", strerror(errno));
        _exit(127);
    }
    for (size_t i = 0; i < st->nenv; i++)
        putenv(st->env[i]);
    for (size_t i = 0; i < j->nenv; i++)
        putenv(j->env[i]);
    for (size_t i = 0; i < st->ncmd; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", st->cmd[i], (char *)NULL);
            _exit(127);
        }
        int status = 0;
        while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (pid < 0)
            _exit(126);
        if (WIFSIGNALED(status))
            _exit(128 + WTERMSIG(status));
        if (WEXITSTATUS(status) != 0)
            _exit(WEXITSTATUS(status));
    }
    _exit(0);
}

/* Removes the outputs a run rewrites (DVC does too, persist ones aside). */
static int clear_outs(struct run *r, const struct pipe_stage *st, struct cap_error *err)
{
    for (size_t k = 0; k < st->nouts; k++) {
        if (st->outs[k].persist)
            continue;
        char *rel = pipe_stage_relpath(st, st->outs[k].path);
        int rc = rel ? data_dvc_remove(r->s->root, rel, err)
                     : cap_err(err, CAP_EINVAL, "The output '%.300s' leaves the pipeline's "
                               "directory", st->outs[k].path);
        free(rel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int launch(struct run *r, size_t i, struct cap_error *err)
{
    struct job *j = &r->jobs[i];
    const struct pipe_stage *st = &r->s->stages[i];
    int rc = clear_outs(r, st, err);
    if (rc < 0)
        return rc;
    if (j->attempt == 0 && r->o->stage_env)
        j->env = r->o->stage_env(r->o->ctx, st, i, &j->nenv);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot start stage '%.200s': %s", st->name,
                       strerror(errno));
    if (pid == 0)
        exec_commands(r->s, st, j);
    setpgid(pid, pid); /* also here: a kill right after fork must reach the group */
    j->pid = pid;
    j->attempt++;
    j->timed_out = false;
    j->kill_at = 0;
    j->deadline = st->timeout_s > 0 ? cap_mono_s() + st->timeout_s : 0;
    r->running++;
    return 0;
}

/* Why a stage runs, in one line: "changed deps: data.csv, params.yaml". */
static char *reason_text(const cJSON *reasons, bool force)
{
    struct cap_buf b;
    cap_buf_init(&b);
    if (force && !cJSON_GetArraySize(reasons))
        cap_buf_printf(&b, "forced");
    const cJSON *it;
    cJSON_ArrayForEach(it, reasons)
    {
        if (b.len)
            cap_buf_printf(&b, "; ");
        if (cJSON_IsString(it)) {
            cap_buf_printf(&b, "%s", it->valuestring);
            continue;
        }
        cap_buf_printf(&b, "%s:", it->child->string);
        for (const cJSON *p = it->child->child; p; p = p->next)
            cap_buf_printf(&b, "%s %s", p == it->child->child ? "" : ",", p->string);
    }
    return cap_buf_steal(&b);
}

/* Decides what to do with a ready stage: skip it, restore it, or run it. */
static int start(struct run *r, size_t i, struct cap_error *err)
{
    struct job *j = &r->jobs[i];
    const struct pipe_stage *st = &r->s->stages[i];
    j->t0 = cap_mono_s();
    int rc = pipe_check_stage(&r->ws, i, &j->chk, err);
    if (rc < 0)
        return rc;
    bool changed = cJSON_GetArraySize(j->chk.reasons) > 0;
    if (st->frozen || (!changed && !r->o->force)) {
        const cJSON *stages = cJSON_GetObjectItemCaseSensitive(r->ws.lock, "stages");
        r->res.skipped++;
        emit(r, i, PIPE_SKIPPED, st->frozen ? "frozen" : "up to date", 0,
             cJSON_GetObjectItemCaseSensitive(stages, st->name));
        finish(r, i);
        return 0;
    }
    if (j->chk.missing_dep)
        return cap_err(err, CAP_EINVAL, "Stage '%.200s': its dependency '%.300s' does not "
                       "exist, expected a file, a directory or a parameter there",
                       st->name, j->chk.missing);
    char *why = reason_text(j->chk.reasons, r->o->force);
    if (r->o->dry) {
        emit(r, i, PIPE_RUNNING, why, 0, NULL);
        r->res.ran++;
        emit(r, i, PIPE_DONE, why, 0, NULL);
        finish(r, i);
        free(why);
        return 0;
    }
    bool hit = false;
    if (!r->o->no_run_cache && !r->o->force && pipe_runcache_usable(st) &&
        (rc = pipe_runcache_restore(&r->ws, st, j->chk.entry, &hit, err)) < 0) {
        free(why);
        return rc;
    }
    if (hit) {
        cJSON *entry = j->chk.entry;
        j->chk.entry = NULL;
        rc = pipe_lock_set(&r->ws, st->name, entry, err);
        if (rc == 0) {
            r->res.cached++;
            emit(r, i, PIPE_CACHED, why, 0, entry);
            finish(r, i);
        }
        free(why);
        return rc;
    }
    if ((rc = launch(r, i, err)) == 0)
        emit(r, i, PIPE_RUNNING, why, 0, NULL);
    free(why);
    return rc;
}

/* ---- when a stage ends ---- */

static void kill_group(struct job *j, int sig)
{
    if (j->pid > 0)
        kill(-j->pid, sig);
}

/* Stops everything: running stages are killed, waiting ones cancelled. */
static void stop_all(struct run *r)
{
    r->stopping = true;
    for (size_t i = 0; i < r->s->n; i++) {
        struct job *j = &r->jobs[i];
        if (j->pid > 0 && j->kill_at == 0) {
            kill_group(j, SIGTERM);
            j->kill_at = cap_mono_s() + KILL_GRACE_S;
        }
    }
}

static void fail(struct run *r, size_t i, const char *why, int code)
{
    r->res.failed++;
    cap_buf_printf(&r->failed, "%s'%s'", r->failed.len ? ", " : "", r->s->stages[i].name);
    emit(r, i, PIPE_FAILED, why, code, NULL);
    finish(r, i);
    if (!r->o->keep_going)
        stop_all(r);
}

/* Records what a stage that succeeded wrote, in memory: its outputs in
 * the cache, its run cache entry, its dvc.lock entry; reap() writes the
 * lock once for every stage it recorded, then reports them done. */
static void succeeded(struct run *r, size_t i)
{
    const struct pipe_stage *st = &r->s->stages[i];
    struct job *j = &r->jobs[i];
    struct cap_error e = {0};
    cJSON *entry = j->chk.entry;
    int rc = pipe_record_outs(&r->ws, st, entry, &e);
    if (rc < 0) {
        fail(r, i, e.msg, -1);
        return;
    }
    if (pipe_runcache_usable(st) && pipe_runcache_save(&r->ws, st, entry, &e) < 0)
        cap_log(CAP_LOG_WARN, "pipeline: stage '%s' not kept in the run cache: %s", st->name,
                e.msg);
    j->chk.entry = NULL;
    pipe_lock_put(&r->ws, st->name, entry);
    j->recorded = true;
}

/* Writes dvc.lock for the stages recorded since the last write; they are
 * done only once it is on disk. */
static void write_recorded(struct run *r)
{
    bool any = false;
    for (size_t i = 0; i < r->s->n; i++)
        any |= r->jobs[i].recorded;
    if (!any)
        return;
    struct cap_error e = {0};
    int rc = pipe_lock_write(&r->ws, &e);
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(r->ws.lock, "stages");
    for (size_t i = 0; i < r->s->n; i++) {
        if (!r->jobs[i].recorded)
            continue;
        r->jobs[i].recorded = false;
        if (rc < 0) {
            fail(r, i, e.msg, -1);
            continue;
        }
        r->res.ran++;
        emit(r, i, PIPE_DONE, NULL, 0,
             cJSON_GetObjectItemCaseSensitive(stages, r->s->stages[i].name));
        finish(r, i);
    }
}

static void exited(struct run *r, size_t i, int status)
{
    struct job *j = &r->jobs[i];
    const struct pipe_stage *st = &r->s->stages[i];
    int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
    if (code == 0 && !j->timed_out) { /* finished whole, even while others stop */
        succeeded(r, i);
        return;
    }
    if (r->stopping && !j->timed_out && code != 0) {
        r->res.cancelled++;
        emit(r, i, PIPE_CANCELLED, r->interrupted ? "interrupted" : "stopped after a failure",
             code, NULL);
        finish(r, i);
        return;
    }
    char why[160];
    if (j->timed_out)
        snprintf(why, sizeof why, "timed out after %g s", st->timeout_s);
    else
        snprintf(why, sizeof why, "the command exited with status %d", code);
    if (j->attempt <= st->retries && !r->stopping) {
        r->running--;
        j->pid = 0;
        j->retry_at = cap_mono_s() + st->backoff_s * pow(2, j->attempt - 1);
        emit(r, i, PIPE_RETRYING, why, code, NULL);
        return;
    }
    fail(r, i, why, code);
}

static void reap(struct run *r)
{
    for (size_t i = 0; i < r->s->n; i++) {
        struct job *j = &r->jobs[i];
        int status;
        if (j->pid <= 0 || waitpid(j->pid, &status, WNOHANG) != j->pid)
            continue;
        /* What a stopped stage's commands started must not outlive it. */
        if (j->kill_at > 0)
            kill(-j->pid, SIGKILL);
        exited(r, i, status);
    }
    write_recorded(r);
}

/* Timeouts and kill graces that are due; returns the next deadline. */
static double deadlines(struct run *r)
{
    double now = cap_mono_s(), next = 0;
    for (size_t i = 0; i < r->s->n; i++) {
        struct job *j = &r->jobs[i];
        if (j->pid > 0 && j->deadline > 0 && now >= j->deadline && !j->timed_out) {
            j->timed_out = true;
            kill_group(j, SIGTERM);
            j->kill_at = now + KILL_GRACE_S;
        }
        if (j->pid > 0 && j->kill_at > 0 && now >= j->kill_at) {
            kill_group(j, SIGKILL);
            j->kill_at = now + 3600; /* once */
        }
        double d[3] = {j->pid > 0 && !j->timed_out ? j->deadline : 0,
                       j->pid > 0 ? j->kill_at : 0,
                       j->state == PIPE_RETRYING ? j->retry_at : 0};
        for (int k = 0; k < 3; k++)
            if (d[k] > 0 && (next == 0 || d[k] < next))
                next = d[k];
    }
    return next;
}

/* ---- the loop ---- */

static bool upstream_ok(const struct run *r, size_t i)
{
    const struct pipe_stage *st = &r->s->stages[i];
    for (size_t a = 0; a < st->nafter; a++)
        if (r->jobs[st->after[a]].selected && !ok_state(r->jobs[st->after[a]].state))
            return false;
    return true;
}

static void cancel(struct run *r, size_t i, const char *why)
{
    r->res.cancelled++;
    emit(r, i, PIPE_CANCELLED, why, -1, NULL);
    finish(r, i);
}

/* Starts what can start now; returns whether anything may still start. */
static bool start_ready(struct run *r)
{
    bool pending;
    double now = cap_mono_s();
    for (size_t i = 0; i < r->s->n; i++) {
        struct job *j = &r->jobs[i];
        bool retry = j->state == PIPE_RETRYING;
        if (!j->selected || (j->state != PIPE_WAITING && !retry) || j->pid > 0)
            continue;
        if (r->stopping) {
            if (retry)
                fail(r, i, "stopped while waiting to retry", -1);
            continue;
        }
        if (j->waiting_on > 0 || r->running >= r->max_jobs || (retry && now < j->retry_at))
            continue;
        if (!upstream_ok(r, i)) {
            cancel(r, i, "a stage it depends on did not succeed");
            continue;
        }
        struct cap_error e = {0};
        int rc = retry ? launch(r, i, &e) : start(r, i, &e);
        if (rc == 0 && retry)
            emit(r, i, PIPE_RUNNING, "retry", 0, NULL);
        if (rc < 0)
            fail(r, i, e.msg, -1);
    }
    /* What was started or failed above changed the answer. */
    pending = false;
    for (size_t i = 0; i < r->s->n && !r->stopping; i++)
        if (r->jobs[i].selected && r->jobs[i].pid == 0 &&
            (r->jobs[i].state == PIPE_WAITING || r->jobs[i].state == PIPE_RETRYING))
            pending = true;
    return pending;
}

static void wait_events(struct run *r, double next)
{
    int timeout = -1;
    if (next > 0) {
        double left = next - cap_mono_s();
        timeout = left <= 0 ? 0 : (int)ceil(left * 1000);
    }
    struct pollfd p = {.fd = sig_pipe[0], .events = POLLIN};
    if (poll(&p, 1, timeout) <= 0)
        return;
    unsigned char sigs[64];
    ssize_t n = read(sig_pipe[0], sigs, sizeof sigs);
    for (ssize_t k = 0; k < n; k++)
        if (sigs[k] == SIGINT || sigs[k] == SIGTERM) {
            r->interrupted = true;
            stop_all(r);
        }
}

static void schedule(struct run *r)
{
    for (;;) {
        reap(r);
        bool pending = start_ready(r);
        if (r->running == 0 && !pending)
            break;
        /* After the starts: their timeouts count too. */
        wait_events(r, deadlines(r));
    }
    for (size_t i = 0; i < r->s->n; i++)
        if (r->jobs[i].selected && r->jobs[i].state == PIPE_WAITING)
            cancel(r, i, r->interrupted ? "interrupted" : "stopped after a failure");
}

/* ---- selection ---- */

static void mark_up(const struct pipe_spec *s, size_t i, bool *sel)
{
    if (sel[i])
        return;
    sel[i] = true;
    for (size_t a = 0; a < s->stages[i].nafter; a++)
        mark_up(s, s->stages[i].after[a], sel);
}

int pipe_select(const struct pipe_spec *s, const char *const *targets, size_t ntargets,
                bool *sel, struct cap_error *err)
{
    for (size_t i = 0; i < s->n; i++)
        sel[i] = ntargets == 0;
    for (size_t t = 0; t < ntargets; t++) {
        size_t len = strlen(targets[t]);
        bool found = false;
        for (size_t i = 0; i < s->n; i++) {
            const char *name = s->stages[i].name;
            if (strcmp(name, targets[t]) == 0 ||
                (strncmp(name, targets[t], len) == 0 && name[len] == '@')) {
                mark_up(s, i, sel);
                found = true;
            }
        }
        if (!found)
            return cap_err(err, CAP_ENOTFOUND, "No stage '%.200s' in %.300s: expected one of "
                           "the stages `capstan pipeline dag` lists", targets[t], s->file);
    }
    return 0;
}

/* ---- the run ---- */

struct saved_signals {
    struct sigaction chld, intr, term;
};

static int catch_signals(struct saved_signals *old, struct cap_error *err)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot create a pipe: %s", strerror(errno));
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART | SA_NOCLDSTOP};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &old->chld);
    sigaction(SIGINT, &sa, &old->intr);
    sigaction(SIGTERM, &sa, &old->term);
    return 0;
}

static void restore_signals(const struct saved_signals *old)
{
    sigaction(SIGCHLD, &old->chld, NULL);
    sigaction(SIGINT, &old->intr, NULL);
    sigaction(SIGTERM, &old->term, NULL);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    sig_pipe[0] = sig_pipe[1] = -1;
}

static void count_waiting(struct run *r)
{
    for (size_t i = 0; i < r->s->n; i++) {
        const struct pipe_stage *st = &r->s->stages[i];
        for (size_t a = 0; a < st->nafter; a++)
            r->jobs[i].waiting_on += r->jobs[st->after[a]].selected;
    }
}

static int run_result(struct run *r, struct cap_error *err)
{
    if (r->interrupted)
        return cap_err(err, CAP_ECONFLICT, "Interrupted: %zu stage(s) cancelled, nothing they "
                       "wrote was recorded", r->res.cancelled);
    if (r->res.failed)
        return cap_err(err, CAP_ECONFLICT, "Failed: %.400s%s", r->failed.data,
                       r->res.cancelled ? "; the stages not done yet were cancelled" : "");
    return 0;
}

int pipe_run(const struct pipe_spec *s, const struct pipe_run_opts *o, struct pipe_run_result *res,
             struct cap_error *err)
{
    struct run r = {.s = s, .o = o, .max_jobs = o->jobs};
    *res = (struct pipe_run_result){0};
    if (r.max_jobs <= 0)
        r.max_jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (r.max_jobs < 1)
        r.max_jobs = 1;
    r.jobs = cap_xcalloc(s->n ? s->n : 1, sizeof *r.jobs);
    bool *sel = cap_xcalloc(s->n ? s->n : 1, sizeof *sel);
    cap_buf_init(&r.failed);
    int rc = pipe_select(s, o->targets, o->ntargets, sel, err);
    for (size_t i = 0; i < s->n; i++)
        r.jobs[i].selected = sel[i];
    free(sel);
    if (rc == 0)
        rc = pipe_ws_open(s, &r.ws, err);
    else
        r.ws.lock_fd = -1;
    struct saved_signals old;
    if (rc == 0 && !o->dry)
        rc = pipe_ws_lock(&r.ws, err);
    if (rc == 0 && (rc = catch_signals(&old, err)) == 0) {
        count_waiting(&r);
        schedule(&r);
        restore_signals(&old);
        rc = run_result(&r, err);
    }
    if (r.ws.lock)
        pipe_ws_close(&r.ws);
    for (size_t i = 0; i < s->n; i++)
        pipe_check_free(&r.jobs[i].chk);
    free(r.jobs);
    cap_buf_free(&r.failed);
    *res = r.res;
    return rc;
}
