/* lineage_run.c - a pipeline run's OpenLineage events, from the
 * scheduler's stage events: START when a stage starts (or is restored
 * from the run cache), COMPLETE with its dependencies and outputs as
 * datasets versioned by their md5, FAIL with the reason, ABORT for a stage
 * killed while running; the pipeline run's own START and COMPLETE/FAIL
 * around them. Skipped stages did not run and send nothing. Sending is
 * best effort: a lineage endpoint that fails is reported once and never
 * fails the pipeline. */
#include "pipeline/runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"

struct pipe_ol_emitter {
    char *url, *ns, *pipeline;
    char run_id[37];
    char (*stage_ids)[37];   /* per stage; "" until it started */
    int64_t nominal_ms;
    char file_ns[300];
    const struct pipe_spec *s;
    bool failed_once;
};

static void send(struct pipe_ol_emitter *em, const struct pipe_ol_run *r)
{
    struct cap_error err = {0};
    cJSON *ev = pipe_ol_event(r, &err);
    if (ev && pipe_ol_send(em->url, ev, &err) == 0) {
        cJSON_Delete(ev);
        return;
    }
    cJSON_Delete(ev);
    if (!em->failed_once)
        fprintf(stderr, "capstan: lineage events are not being recorded: %s\n", err.msg);
    em->failed_once = true;
}

struct pipe_ol_emitter *pipe_ol_emitter_new(const char *url, const char *ns,
                                            const struct pipe_spec *s, int64_t nominal_ms)
{
    struct pipe_ol_emitter *em = cap_xcalloc(1, sizeof *em);
    struct cap_buf u;
    cap_buf_init(&u);
    size_t n = strlen(url);
    cap_buf_printf(&u, "%.*s/api/v1/lineage", (int)(n && url[n - 1] == '/' ? n - 1 : n), url);
    em->url = cap_buf_steal(&u);
    em->ns = cap_xstrdup(ns && *ns ? ns : "capstan");
    const char *base = strrchr(s->root, '/');
    em->pipeline = cap_xstrdup(base && base[1] ? base + 1 : s->root);
    em->stage_ids = cap_xcalloc(s->n ? s->n : 1, sizeof *em->stage_ids);
    em->nominal_ms = nominal_ms;
    em->s = s;
    pipe_ol_file_ns(em->file_ns, sizeof em->file_ns);
    cap_uuid4(em->run_id);
    struct pipe_ol_run r = {.type = PIPE_OL_START, .run_id = em->run_id, .ns = em->ns,
                            .pipeline = em->pipeline, .time_ms = cap_now_ms(),
                            .nominal_ms = nominal_ms};
    send(em, &r);
    return em;
}

/* The lock entry's items (deps or outs) as datasets named by their path
 * from the spec's root; the strings live in names until the event is sent. */
static size_t datasets(struct pipe_ol_emitter *em, const struct pipe_stage *st,
                       const cJSON *entry, const char *list, struct pipe_ol_dataset *out,
                       char **names, size_t max)
{
    size_t n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(entry, list))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
        const cJSON *md5 = cJSON_GetObjectItemCaseSensitive(it, "md5");
        if (n == max || !cJSON_IsString(p))
            continue;
        names[n] = pipe_stage_relpath(st, p->valuestring);
        out[n] = (struct pipe_ol_dataset){.ns = em->file_ns,
                                          .name = names[n] ? names[n] : p->valuestring,
                                          .version = cJSON_IsString(md5) ? md5->valuestring
                                                                         : NULL};
        n++;
    }
    return n;
}

static void stage_event(struct pipe_ol_emitter *em, const struct pipe_event *ev,
                        enum pipe_ol_type type)
{
    enum { MAX = 256 };
    struct pipe_ol_dataset in[MAX], out[MAX];
    char *in_names[MAX] = {0}, *out_names[MAX] = {0};
    struct pipe_ol_run r = {.type = type, .run_id = em->stage_ids[ev->index], .ns = em->ns,
                            .pipeline = em->pipeline, .stage = ev->stage->name,
                            .parent_run_id = em->run_id, .time_ms = cap_now_ms(),
                            .nominal_ms = em->nominal_ms, .inputs = in, .outputs = out,
                            .error = type == PIPE_OL_COMPLETE ? NULL : ev->reason};
    if (ev->lock) {
        r.ninputs = datasets(em, ev->stage, ev->lock, "deps", in, in_names, MAX);
        r.noutputs = datasets(em, ev->stage, ev->lock, "outs", out, out_names, MAX);
    }
    send(em, &r);
    for (size_t i = 0; i < MAX; i++) {
        free(in_names[i]);
        free(out_names[i]);
    }
}

void pipe_ol_emitter_event(struct pipe_ol_emitter *em, const struct pipe_event *ev)
{
    bool started = em->stage_ids[ev->index][0] != '\0';
    switch (ev->state) {
    case PIPE_RUNNING:
    case PIPE_CACHED:
        if (!started) {
            cap_uuid4(em->stage_ids[ev->index]);
            struct pipe_event start = *ev;
            start.lock = NULL;
            stage_event(em, &start, PIPE_OL_START);
        }
        if (ev->state == PIPE_CACHED)
            stage_event(em, ev, PIPE_OL_COMPLETE);
        break;
    case PIPE_DONE:
        if (started)
            stage_event(em, ev, PIPE_OL_COMPLETE);
        break;
    case PIPE_FAILED:
    case PIPE_CANCELLED:
        if (started)
            stage_event(em, ev, ev->state == PIPE_FAILED ? PIPE_OL_FAIL : PIPE_OL_ABORT);
        break;
    default:
        break;
    }
}

void pipe_ol_emitter_end(struct pipe_ol_emitter *em, bool ok, const char *error)
{
    struct pipe_ol_run r = {.type = ok ? PIPE_OL_COMPLETE : PIPE_OL_FAIL, .run_id = em->run_id,
                            .ns = em->ns, .pipeline = em->pipeline, .time_ms = cap_now_ms(),
                            .nominal_ms = em->nominal_ms, .error = ok ? NULL : error};
    send(em, &r);
    free(em->url);
    free(em->ns);
    free(em->pipeline);
    free(em->stage_ids);
    free(em);
}
