/* schedule.c - the scheduler thread (see pipeline.h): cron ticks with
 * catch-up, alert and dataset triggers, overlap policies, child processes
 * and their reaping. The store holds every decision (a run's row is its
 * claim); memory holds only the children running now.
 *
 * Threads: one scheduler thread does every store write of a run's life;
 * each child has a reaper thread blocked in waitpid(pid) (no SIGCHLD
 * handler, no polling), which wakes the scheduler when its child exits.
 * The API threads and the alert thread only insert "queued" rows and kick. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "lease/lease.h"
#include "pipeline/pipeline.h"
#include "store/store.h"

extern char **environ;

#define CATCH_UP_MAX 1000 /* missed ticks run by catch-up "all": a week of every 10 minutes */

struct child {
    int64_t run_id;
    char *schedule;
    pid_t pid;
    bool done, replaced;
    int status;
    double kill_at;              /* cap_mono_s() of the SIGKILL; 0: none */
    pthread_t reaper;
    struct pipe_sched *s;
    struct child *next;
};

/* When the scheduler first saw a schedule: ticks before it were missed. */
struct seen {
    char *name;
    int64_t at_ms;
    struct seen *next;
};

struct pipe_sched {
    struct store *store;
    char *url, *runner;
    char *token;                 /* the server's own token for children (--auth), or NULL */
    double grace_s;
    int poll_ms;
    struct lease *lease;         /* NULL: this server alone */
    bool running;                /* the thread was started */
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool kicked, stopping;
    pthread_t thread;
    struct child *children;      /* under mu */
    struct seen *seen;           /* the scheduler thread's own */
};

/* ---- checks and creation ---- */
static int one_of(const cJSON *body, const char *field, const char *const *allowed,
                  const char **out, struct cap_error *err)
{
    int rc = cap_json_get_str(body, field, false, out, err);
    if (rc < 0 || !*out)
        return rc;
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(*out, allowed[i]) == 0)
            return 0;
    struct cap_buf b;
    cap_buf_init(&b);
    for (size_t i = 0; allowed[i]; i++)
        cap_buf_printf(&b, "%s%s", i ? ", " : "", allowed[i]);
    rc = cap_err(err, CAP_EINVAL, "Invalid %s '%.80s': expected one of %s", field, *out, b.data);
    cap_buf_free(&b);
    return rc;
}

static int check_name(const char *name, struct cap_error *err)
{
    size_t n = strlen(name);
    bool ok = n > 0 && n <= 128;
    for (const char *p = name; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             strchr("-_.", *p);
    return ok ? 0
              : cap_err(err, CAP_EINVAL,
                        "Invalid schedule name '%.130s': expected 1-128 letters, digits, '-', "
                        "'_' or '.'",
                        name);
}

/* The trigger: exactly one of cron, on_alert, on_dataset. */
static int check_trigger(const cJSON *body, struct store_pipe_schedule *p, struct cap_error *err)
{
    const char *cron = NULL, *alert = NULL, *dataset = NULL;
    int rc;
    if ((rc = cap_json_get_str(body, "cron", false, &cron, err)) < 0 ||
        (rc = cap_json_get_str(body, "on_alert", false, &alert, err)) < 0 ||
        (rc = cap_json_get_str(body, "on_dataset", false, &dataset, err)) < 0)
        return rc;
    if ((cron != NULL) + (alert != NULL) + (dataset != NULL) != 1)
        return cap_err(err, CAP_EINVAL,
                       "A schedule needs exactly one of 'cron' (an expression such as "
                       "\"0 3 * * *\"), 'on_alert' (an alert rule) or 'on_dataset' (a dataset "
                       "name)");
    struct pipe_cron c;
    if (cron && (rc = pipe_cron_parse(cron, &c, err)) < 0)
        return rc;
    if ((alert && !*alert) || (dataset && !*dataset))
        return cap_err(err, CAP_EINVAL, "'%s' must not be empty", alert ? "on_alert" : "on_dataset");
    p->cron = cron;
    p->trigger_kind = cron ? "cron" : alert ? "alert" : "dataset";
    p->trigger_filter = alert ? alert : dataset;
    return 0;
}

static int check_fields(const cJSON *body, struct cap_error *err)
{
    static const char *const known[] = {"name",     "repo",     "cron",    "on_alert", "on_dataset",
                                        "timezone", "catch_up", "overlap", "start",    NULL};
    const cJSON *f;
    cJSON_ArrayForEach(f, body)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], f->string) != 0)
            i++;
        if (!known[i])
            return cap_err(err, CAP_EINVAL,
                           "Unknown field '%.80s' in a schedule: expected name, repo, cron, "
                           "on_alert, on_dataset, timezone, catch_up, overlap or start",
                           f->string);
    }
    return 0;
}

static int check_schedule(const cJSON *body, struct store_pipe_schedule *p, struct cap_error *err)
{
    static const char *const catch_ups[] = {"skip", "latest", "all", NULL};
    static const char *const overlaps[] = {"forbid", "allow", "replace", "queue", NULL};
    *p = (struct store_pipe_schedule){.timezone = "UTC", .catch_up = "latest",
                                      .overlap = "forbid"};
    const char *start = NULL;
    int rc;
    if ((rc = check_fields(body, err)) < 0 ||
        (rc = cap_json_get_str(body, "name", true, &p->name, err)) < 0 ||
        (rc = check_name(p->name, err)) < 0 ||
        (rc = cap_json_get_str(body, "repo", true, &p->repo, err)) < 0 ||
        (rc = check_trigger(body, p, err)) < 0 ||
        (rc = cap_json_get_str(body, "timezone", false, &p->timezone, err)) < 0 ||
        (rc = one_of(body, "catch_up", catch_ups, &p->catch_up, err)) < 0 ||
        (rc = one_of(body, "overlap", overlaps, &p->overlap, err)) < 0 ||
        (rc = cap_json_get_str(body, "start", false, &start, err)) < 0)
        return rc;
    if (p->repo[0] != '/')
        return cap_err(err, CAP_EINVAL,
                       "Invalid repo '%.200s': expected an absolute path (the directory "
                       "holding dvc.yaml, as the server sees it)",
                       p->repo);
    if (!p->timezone)
        p->timezone = "UTC";
    struct pipe_tz *tz = NULL;
    if ((rc = pipe_tz_load(p->timezone, &tz, err)) < 0)
        return rc;
    pipe_tz_free(tz);
    if (start && !p->cron)
        return cap_err(err, CAP_EINVAL, "'start' applies to cron schedules only");
    return start ? pipe_iso_parse(start, &p->last_tick, err) : 0;
}

int pipe_sched_create(struct pipe_sched *s, struct store *st, const cJSON *body, cJSON **out,
                      struct cap_error *err)
{
    struct store_pipe_schedule p;
    int rc = check_schedule(body, &p, err);
    if (rc < 0)
        return rc;
    if (strcmp(p.trigger_kind, "dataset") == 0) { /* versions already there do not fire */
        cJSON *v = NULL;
        struct cap_error ignored = {0};
        if (store_data_version_get(st, p.trigger_filter, 0, NULL, &v, &ignored) == 0)
            p.last_seen = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(v, "version"));
        cJSON_Delete(v);
    }
    if ((rc = store_pipe_schedule_create(st, &p, out, err)) == 0)
        pipe_sched_kick(s);
    return rc;
}

/* Claims a run row; a tick taken already (two triggers in one ms) moves on
 * by a millisecond, up to a few times. */
static int claim(struct store *st, struct store_pipe_run *r, int64_t *id, struct cap_error *err)
{
    int rc = -CAP_EEXISTS;
    for (int i = 0; i < 8 && rc == -CAP_EEXISTS; i++, r->tick++)
        rc = store_pipe_run_add(st, r, id, err);
    r->tick--;
    return rc;
}

int pipe_sched_trigger(struct pipe_sched *s, struct store *st, const char *name, cJSON **out,
                       struct cap_error *err)
{
    cJSON *sch = NULL;
    int rc = store_pipe_schedule_get(st, name, &sch, err);
    cJSON_Delete(sch);
    if (rc < 0)
        return rc;
    struct store_pipe_run r = {.schedule = name, .tick = cap_now_ms(), .cause = "manual",
                               .state = "queued"};
    int64_t id;
    if ((rc = claim(st, &r, &id, err)) < 0)
        return rc;
    pipe_sched_kick(s);
    *out = cJSON_CreateObject();
    cJSON_AddStringToObject(*out, "schedule", name);
    cap_json_add_i64(*out, "id", id);
    cap_json_add_i64(*out, "tick", r.tick);
    return 0;
}

void pipe_sched_kick(struct pipe_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->kicked = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

static const char *str(const cJSON *o, const char *k)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static int64_t num(const cJSON *o, const char *k)
{
    return (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

void pipe_sched_alert_hook(void *cls, const char *deployment, const char *rule, int64_t at_ms,
                           const char *event_json)
{
    struct pipe_sched *s = cls;
    cJSON *list = NULL;
    struct cap_error err = {0};
    if (!s || store_pipe_schedule_list(s->store, &list, &err) < 0) {
        cJSON_Delete(list);
        return;
    }
    char full[400];
    snprintf(full, sizeof full, "%s/%s", deployment, rule);
    const cJSON *sch;
    cJSON_ArrayForEach(sch, list)
    {
        const cJSON *t = cJSON_GetObjectItem(sch, "trigger");
        const char *f = str(t, "filter");
        if (strcmp(str(t, "kind"), "alert") != 0 || !f ||
            (strcmp(f, rule) != 0 && strcmp(f, full) != 0) ||
            cJSON_IsTrue(cJSON_GetObjectItem(sch, "paused")))
            continue;
        struct store_pipe_run r = {.schedule = str(sch, "name"), .tick = at_ms, .cause = "alert",
                                   .state = "queued", .event_json = event_json};
        int64_t id;
        /* a replayed window gives the same at_ms: that tick ran already */
        if (store_pipe_run_add(s->store, &r, &id, &err) < 0 && err.code != CAP_EEXISTS)
            cap_log(CAP_LOG_WARN, "schedule %s: alert run not recorded: %s", r.schedule,
                    err.msg);
    }
    cJSON_Delete(list);
    pipe_sched_kick(s);
}

/* ---- children ---- */
static void *reap_main(void *arg)
{
    struct child *c = arg;
    cap_thread_name("sched-reap");
    int status = 0;
    while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
        ;
    pthread_mutex_lock(&c->s->mu);
    c->done = true;
    c->status = status;
    pthread_cond_signal(&c->s->wake);
    pthread_mutex_unlock(&c->s->mu);
    return NULL;
}

/* NAME=VALUE strings for the child: ours, then the server's without them.
 * With a token (a server with --auth) the child acts with it, as the mlflow
 * client and our CLI read it; the server's own mlflow credentials, if its
 * environment has any, are not passed on (the CLI would prefer them). */
static char **child_env(const struct pipe_sched *s, const char *schedule, const cJSON *run)
{
    static const char *const ours[] = {"CAPSTAN_TRACKING_URI=", "CAPSTAN_SCHEDULE=",
                                       "CAPSTAN_TICK=", "CAPSTAN_TRIGGER=",
                                       "CAPSTAN_TRIGGER_JSON=", "MLFLOW_TRACKING_TOKEN=",
                                       "MLFLOW_TRACKING_USERNAME=", "MLFLOW_TRACKING_PASSWORD=",
                                       NULL};
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = cap_xcalloc(n + 9, sizeof *env);
    size_t k = 0;
    char tick[32], *ev = NULL;
    pipe_iso_utc(num(run, "tick"), tick);
    struct cap_buf b;
    const char *cause = str(run, "cause");
    const char *vals[] = {s->url, schedule, tick, NULL, NULL, s->token, NULL, NULL};
    const cJSON *event = cJSON_GetObjectItem(run, "event");
    if (event && (strcmp(cause, "alert") == 0 || strcmp(cause, "dataset") == 0)) {
        vals[3] = cause;
        vals[4] = ev = cJSON_PrintUnformatted(event);
    }
    for (size_t i = 0; ours[i]; i++) {
        if (!vals[i])
            continue;
        cap_buf_init(&b);
        cap_buf_printf(&b, "%s%s", ours[i], vals[i]);
        env[k++] = cap_buf_steal(&b);
    }
    free(ev);
    for (size_t i = 0; i < n; i++) {
        bool mine = false;
        for (size_t j = 0; ours[j] && !mine; j++) /* the last three only with a token */
            mine = cap_str_has_prefix(environ[i], ours[j]) && (j < 5 || s->token);
        if (!mine)
            env[k++] = cap_xstrdup(environ[i]);
    }
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

/* Starts run (a row already marked running) of schedule sch. */
static int spawn(struct pipe_sched *s, const cJSON *sch, const cJSON *run, pid_t *pid,
                 struct cap_error *err)
{
    const char *repo = str(sch, "repo");
    char *argv[] = {s->runner, "pipeline", "run", "--repo", (char *)repo, NULL};
    char **env = child_env(s, str(sch, "name"), run);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addchdir_np(&fa, repo);
    posix_spawnattr_init(&at);
    /* its own process group: replace and stop signal the whole pipeline */
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none); /* the server blocks SIGTERM/SIGINT */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
    int e = posix_spawn(pid, s->runner, &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free_env(env);
    if (e != 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot start %s in %s: %s", s->runner, repo,
                       strerror(e));
    return 0;
}

/* A child counts until collect_children has recorded its end, done or not:
 * counting only the live ones let a queued run start in the moment between
 * the reaper's wait and that record, and be stored as started before its
 * predecessor ended (seen under load in test_restart_catches_up[all]). */
static int running_count(struct pipe_sched *s, const char *name)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (struct child *c = s->children; c; c = c->next)
        n += !c->replaced && strcmp(c->schedule, name) == 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void replace_running(struct pipe_sched *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    for (struct child *c = s->children; c; c = c->next)
        if (!c->done && !c->replaced && strcmp(c->schedule, name) == 0) {
            c->replaced = true;
            c->kill_at = cap_mono_s() + s->grace_s;
            kill(-c->pid, SIGTERM);
        }
    pthread_mutex_unlock(&s->mu);
}

static void launch(struct pipe_sched *s, const cJSON *sch, const cJSON *run)
{
    int64_t id = num(run, "id");
    struct cap_error err = {0};
    /* running before the child exists: a crash in between never runs it twice */
    if (store_pipe_run_update(s->store, id, "running", 0, INT_MIN, NULL, &err) < 0) {
        cap_log(CAP_LOG_WARN, "schedule %s: run %lld not started: %s", str(sch, "name"),
                (long long)id, err.msg);
        return;
    }
    pid_t pid;
    if (spawn(s, sch, run, &pid, &err) < 0) {
        store_pipe_run_update(s->store, id, "failed", 0, INT_MIN, err.msg, &err);
        return;
    }
    struct child *c = cap_xcalloc(1, sizeof *c);
    *c = (struct child){.run_id = id, .schedule = cap_xstrdup(str(sch, "name")), .pid = pid,
                        .s = s};
    pthread_mutex_lock(&s->mu);
    c->next = s->children;
    s->children = c;
    pthread_mutex_unlock(&s->mu);
    if (pthread_create(&c->reaper, NULL, reap_main, c) != 0)
        abort(); /* without a reaper the child would stay a zombie */
    store_pipe_run_update(s->store, id, "running", pid, INT_MIN, NULL, &err);
    cap_log(CAP_LOG_INFO, "schedule %s: run %lld started (pid %d)", c->schedule, (long long)id,
            (int)pid);
}

/* Records the children that exited and frees them; SIGKILLs the replaced
 * ones past their grace. The earliest pending SIGKILL goes into *due_mono. */
static void collect_children(struct pipe_sched *s, double *due_mono)
{
    pthread_mutex_lock(&s->mu);
    struct child **pp = &s->children, *done = NULL;
    double now = cap_mono_s();
    while (*pp) {
        struct child *c = *pp;
        if (!c->done) {
            if (c->kill_at && now >= c->kill_at) {
                kill(-c->pid, SIGKILL);
                c->kill_at = 0;
            } else if (c->kill_at && c->kill_at < *due_mono)
                *due_mono = c->kill_at;
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        c->next = done;
        done = c;
    }
    pthread_mutex_unlock(&s->mu);
    while (done) {
        struct child *c = done;
        done = c->next;
        pthread_join(c->reaper, NULL);
        int st = c->status, code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        char why[96] = "";
        if (WIFSIGNALED(st))
            snprintf(why, sizeof why, "killed by signal %d%s", WTERMSIG(st),
                     c->replaced ? " (replaced by a newer run)" : "");
        const char *state = c->replaced ? "replaced" : code == 0 ? "succeeded" : "failed";
        struct cap_error err = {0};
        store_pipe_run_update(s->store, c->run_id, state, 0, code, why[0] ? why : NULL, &err);
        cap_log(CAP_LOG_INFO, "schedule %s: run %lld %s (exit %d)", c->schedule,
                (long long)c->run_id, state, code);
        free(c->schedule);
        free(c);
    }
}

/* ---- runs waiting to start ---- */
static const cJSON *find(const cJSON *schedules, const char *name)
{
    const cJSON *sch;
    cJSON_ArrayForEach(sch, schedules)
    if (strcmp(str(sch, "name"), name) == 0)
        return sch;
    return NULL;
}

/* Starts, skips or leaves each queued run by its schedule's overlap. */
static void run_queued(struct pipe_sched *s, const cJSON *schedules)
{
    cJSON *rows = NULL;
    struct cap_error err = {0};
    if (store_pipe_run_list(s->store, NULL, true, 0, &rows, &err) < 0) {
        cap_log(CAP_LOG_WARN, "scheduler: cannot read the queued runs: %s", err.msg);
        cJSON_Delete(rows);
        return;
    }
    const cJSON *run;
    cJSON_ArrayForEach(run, rows)
    {
        const cJSON *sch = find(schedules, str(run, "schedule"));
        if (!sch || strcmp(str(run, "state"), "queued") != 0)
            continue;
        const char *name = str(sch, "name"), *overlap = str(sch, "overlap");
        int busy = running_count(s, name);
        if (busy && strcmp(overlap, "forbid") == 0)
            store_pipe_run_update(s->store, num(run, "id"), "skipped", 0, INT_MIN,
                                  "overlap forbid: a run of this schedule was still running",
                                  &err);
        else if (busy && strcmp(overlap, "queue") == 0)
            continue; /* starts when the running one ends */
        else {
            if (busy && strcmp(overlap, "replace") == 0)
                replace_running(s, name);
            launch(s, sch, run);
        }
    }
    cJSON_Delete(rows);
}

/* ---- cron ticks ---- */
static int64_t seen_at(struct pipe_sched *s, const char *name, int64_t now)
{
    for (struct seen *x = s->seen; x; x = x->next)
        if (strcmp(x->name, name) == 0)
            return x->at_ms;
    struct seen *x = cap_xcalloc(1, sizeof *x);
    *x = (struct seen){.name = cap_xstrdup(name), .at_ms = now, .next = s->seen};
    s->seen = x;
    return now;
}

static void add_tick(struct pipe_sched *s, const char *name, int64_t tick, const char *cause,
                     const char *state, const char *reason)
{
    struct store_pipe_run r = {.schedule = name, .tick = tick, .cause = cause, .state = state,
                               .reason = reason, .advance = true};
    int64_t id;
    struct cap_error err = {0};
    if (store_pipe_run_add(s->store, &r, &id, &err) < 0 && err.code != CAP_EEXISTS)
        cap_log(CAP_LOG_WARN, "schedule %s: tick not recorded: %s", name, err.msg);
}

/* The missed ticks (due before the scheduler first saw the schedule), by
 * its catch-up policy. ring: the newest of total, a ring of CATCH_UP_MAX. */
static void catch_up(struct pipe_sched *s, const cJSON *sch, const int64_t *ring, size_t total)
{
    size_t n = total < CATCH_UP_MAX ? total : CATCH_UP_MAX;
    int64_t ticks[CATCH_UP_MAX];
    for (size_t i = 0; i < n; i++)
        ticks[i] = ring[(total - n + i) % CATCH_UP_MAX];
    const char *name = str(sch, "name"), *policy = str(sch, "catch_up");
    char why[160];
    if (strcmp(policy, "all") == 0) {
        if (total > n)
            cap_log(CAP_LOG_WARN, "schedule %s: %zu missed ticks, the newest %zu run", name,
                    total, n);
        for (size_t i = 0; i < n; i++)
            add_tick(s, name, ticks[i], "catch-up", "queued", NULL);
        return;
    }
    bool skip = strcmp(policy, "skip") == 0;
    snprintf(why, sizeof why, "catch-up %s: %zu missed tick%s not run", policy,
             skip ? total : total - 1, (skip ? total : total - 1) == 1 ? "" : "s");
    add_tick(s, name, ticks[n - 1], "catch-up", skip ? "skipped" : "queued",
             skip || total > 1 ? why : NULL);
}

#define LOOK_BACK_MS (31LL * 86400 * 1000) /* catch-up considers the last 31 days */

/* Records the due ticks of a cron schedule; returns its next tick (ms). */
static int64_t cron_ticks(struct pipe_sched *s, const cJSON *sch, int64_t now)
{
    struct pipe_cron c;
    struct pipe_tz *tz = NULL;
    struct cap_error err = {0};
    const char *name = str(sch, "name");
    if (pipe_cron_parse(str(sch, "cron"), &c, &err) < 0 ||
        pipe_tz_load(str(sch, "timezone"), &tz, &err) < 0) {
        cap_log(CAP_LOG_WARN, "schedule %s: %s", name, err.msg);
        return INT64_MAX;
    }
    int64_t seen = seen_at(s, name, now);
    const cJSON *lt = cJSON_GetObjectItem(sch, "last_tick");
    int64_t base = lt ? (int64_t)lt->valuedouble : num(sch, "created_at");
    if (base < seen - LOOK_BACK_MS)
        base = seen - LOOK_BACK_MS;
    int64_t ring[CATCH_UP_MAX], t = base / 1000 * 1000, next = INT64_MAX;
    size_t total = 0;
    while (pipe_cron_next(&c, tz, t / 1000, &t, &err) == 0) {
        t *= 1000;
        if (t > now) {
            next = t;
            break;
        }
        if (t <= seen) {
            ring[total++ % CATCH_UP_MAX] = t;
            continue;
        }
        if (total) /* the missed ones first, in order */
            catch_up(s, sch, ring, total);
        total = 0;
        add_tick(s, name, t, "cron", "queued", NULL);
    }
    if (total)
        catch_up(s, sch, ring, total);
    pipe_tz_free(tz);
    return next;
}

/* ---- dataset triggers ---- */
static void dataset_versions(struct pipe_sched *s, const cJSON *sch)
{
    const char *name = str(sch, "name");
    const char *ds = str(cJSON_GetObjectItem(sch, "trigger"), "filter");
    int64_t last = num(sch, "last_seen");
    cJSON *log = NULL;
    struct cap_error err = {0};
    if (store_data_log(s->store, ds, &log, &err) < 0) { /* none yet */
        cJSON_Delete(log);
        return;
    }
    /* newest first: walk back to the oldest version not handled */
    int n = cJSON_GetArraySize(log);
    for (int i = n - 1; i >= 0; i--) {
        const cJSON *v = cJSON_GetArrayItem(log, i);
        int64_t ver = num(v, "version");
        if (ver <= last)
            continue;
        char *ev = cJSON_PrintUnformatted(v);
        struct store_pipe_run r = {.schedule = name, .tick = num(v, "created_at"),
                                   .cause = "dataset", .state = "queued", .event_json = ev,
                                   .seen = ver};
        int64_t id;
        if (claim(s->store, &r, &id, &err) < 0)
            cap_log(CAP_LOG_WARN, "schedule %s: dataset run not recorded: %s", name, err.msg);
        free(ev);
    }
    cJSON_Delete(log);
}

/* Records what came due; returns when to look again (ms). */
static int64_t tick_all(struct pipe_sched *s, const cJSON *schedules, int64_t now)
{
    int64_t due = INT64_MAX;
    const cJSON *sch;
    cJSON_ArrayForEach(sch, schedules)
    {
        if (cJSON_IsTrue(cJSON_GetObjectItem(sch, "paused")))
            continue;
        const char *kind = str(cJSON_GetObjectItem(sch, "trigger"), "kind");
        int64_t t = INT64_MAX;
        if (strcmp(kind, "cron") == 0)
            t = cron_ticks(s, sch, now);
        else if (strcmp(kind, "dataset") == 0) {
            dataset_versions(s, sch);
            t = now + s->poll_ms;
        }
        if (t < due)
            due = t;
    }
    return due;
}

/* Runs left "running" by a server that stopped are over. */
static void recover(struct pipe_sched *s)
{
    cJSON *rows = NULL;
    struct cap_error err = {0};
    if (store_pipe_run_list(s->store, NULL, true, 0, &rows, &err) == 0) {
        const cJSON *run;
        cJSON_ArrayForEach(run, rows)
        if (strcmp(str(run, "state"), "running") == 0)
            store_pipe_run_update(s->store, num(run, "id"), "failed", 0, INT_MIN,
                                  "the server stopped while it ran", &err);
    }
    cJSON_Delete(rows);
}

/* One round: reap, record due ticks and versions, start what may start.
 * Returns the wall-clock ms of the next tick and the monotonic time of
 * the next SIGKILL. */
static int64_t round_once(struct pipe_sched *s, double *kill_due)
{
    collect_children(s, kill_due);
    cJSON *schedules = NULL;
    struct cap_error err = {0};
    int64_t now = cap_now_ms(), due = now + 60000; /* the store failed: try again soon */
    if (store_pipe_schedule_list(s->store, &schedules, &err) < 0)
        cap_log(CAP_LOG_WARN, "scheduler: cannot read the schedules: %s", err.msg);
    else {
        due = tick_all(s, schedules, now);
        cJSON_Delete(schedules);
        schedules = NULL;
        /* read again: the rounds' runs changed last_tick and the queue */
        if (store_pipe_schedule_list(s->store, &schedules, &err) == 0)
            run_queued(s, schedules);
    }
    cJSON_Delete(schedules);
    return due;
}

static bool any_done(struct pipe_sched *s)
{
    for (struct child *c = s->children; c; c = c->next)
        if (c->done)
            return true;
    return false;
}

/* With a lease (several servers on one database), only its holder records
 * ticks and starts runs; on becoming the holder it first fails the runs
 * that a dead holder left "running". The others only reap their own
 * children, and every server looks again at least each poll_ms: the holder
 * because runs are queued and schedules changed through the other servers,
 * the others to take over. */
static int64_t round_as(struct pipe_sched *s, bool *leading, double *kill_due)
{
    bool now_leading = !s->lease || lease_held(s->lease);
    if (now_leading && !*leading)
        recover(s);
    *leading = now_leading;
    if (!now_leading) {
        collect_children(s, kill_due);
        return cap_now_ms() + s->poll_ms;
    }
    int64_t due = round_once(s, kill_due);
    if (s->lease && due > cap_now_ms() + s->poll_ms)
        due = cap_now_ms() + s->poll_ms;
    return due;
}

static void *sched_main(void *arg)
{
    struct pipe_sched *s = arg;
    cap_thread_name("scheduler");
    bool leading = false;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        s->kicked = false;
        pthread_mutex_unlock(&s->mu);
        double kill_due = 1e300;
        int64_t due = round_as(s, &leading, &kill_due);
        pthread_mutex_lock(&s->mu);
        if (s->stopping || s->kicked || any_done(s))
            continue;
        /* the tick's wall-clock instant, or sooner for a pending SIGKILL */
        double wait_s = (double)(due - cap_now_ms()) / 1000;
        if (kill_due - cap_mono_s() < wait_s)
            wait_s = kill_due - cap_mono_s();
        if (wait_s > 3600)
            wait_s = 3600; /* a clock set back, or a schedule edited elsewhere */
        if (wait_s <= 0)
            continue;
        struct timespec ts;
        cap_deadline(&ts, wait_s);
        pthread_cond_timedwait(&s->wake, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int pipe_sched_new(const struct pipe_sched_config *cfg, struct pipe_sched **out,
                   struct cap_error *err)
{
    const char *runner = cfg->runner ? cfg->runner : "/proc/self/exe";
    if (access(runner, X_OK) != 0)
        return cap_err(err, CAP_EINVAL,
                       "--pipeline-runner %.300s is not an executable program", runner);
    struct pipe_sched *s = cap_xcalloc(1, sizeof *s);
    s->store = cfg->store;
    s->runner = cap_xstrdup(runner);
    s->grace_s = cfg->grace_s > 0 ? cfg->grace_s : 10;
    s->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : 1000;
    s->lease = cfg->lease;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    *out = s;
    return 0;
}

int pipe_sched_run(struct pipe_sched *s, const char *url, const char *token,
                   struct cap_error *err)
{
    s->url = cap_xstrdup(url);
    s->token = token ? cap_xstrdup(token) : NULL;
    if (pthread_create(&s->thread, NULL, sched_main, s) != 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot start the pipeline scheduler's thread");
    s->running = true;
    return 0;
}

/* Waits until every child has exited: SIGTERM, SIGKILL after the grace. */
static void stop_children(struct pipe_sched *s)
{
    pthread_mutex_lock(&s->mu);
    for (struct child *c = s->children; c; c = c->next)
        if (!c->done)
            kill(-c->pid, SIGTERM);
    struct timespec ts;
    cap_deadline(&ts, s->grace_s);
    bool killed = false;
    for (;;) {
        bool running = false;
        for (struct child *c = s->children; c; c = c->next)
            running |= !c->done;
        if (!running)
            break;
        if (!killed && pthread_cond_timedwait(&s->wake, &s->mu, &ts) == ETIMEDOUT) {
            for (struct child *c = s->children; c; c = c->next)
                if (!c->done)
                    kill(-c->pid, SIGKILL);
            killed = true;
        } else if (killed)
            pthread_cond_wait(&s->wake, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

void pipe_sched_stop(struct pipe_sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    if (s->running)
        pthread_join(s->thread, NULL);
    stop_children(s);
    double unused = 0;
    collect_children(s, &unused); /* recorded failed: killed by SIGTERM or SIGKILL */
    while (s->seen) {
        struct seen *x = s->seen;
        s->seen = x->next;
        free(x->name);
        free(x);
    }
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s->url);
    if (s->token)
        explicit_bzero(s->token, strlen(s->token));
    free(s->token);
    free(s->runner);
    free(s);
}
