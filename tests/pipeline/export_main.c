/* export_main - drives pipeline/'s lineage events and Argo export for
 * tests/integration/test_pipeline_{lineage,export}.py on a spec built here
 * (the same hand-built pipeline as the unit test), so the Python side can
 * check them against openlineage-python's and hera's models.
 *   export_main events URL   builds a pipeline run's and its stages'
 *                            RunEvents, POSTs each to URL (pipe_ol_send),
 *                            prints them as one JSON array
 *   export_main argo [CRON [OVERLAP]]  prints the Workflow (CronWorkflow) YAML */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "pipeline/pipeline.h"

static char *prep_deps[] = {"data/raw.csv"}, *prep_cmd[] = {"python prep.py"};
static char *train_cmd[] = {"python train.py", "echo done"}, *train_deps[] = {"data/prepared"};
static char *eval_deps[] = {"model.pkl", "data/prepared/test.csv"}, *eval_cmd[] = {"python eval.py"};
static char *env[] = {"SEED=1"};
static size_t after0[] = {0}, after01[] = {0, 1};

static void make_spec(struct pipe_spec *s, struct pipe_stage st[3], struct pipe_out outs[3])
{
    memset(st, 0, 3 * sizeof *st);
    memset(outs, 0, 3 * sizeof *outs);
    outs[0].path = "data/prepared";
    outs[1].path = "model.pkl";
    outs[2] = (struct pipe_out){.path = "metrics.json", .kind = PIPE_METRIC};
    st[0] = (struct pipe_stage){.name = "prepare", .cmd = prep_cmd, .ncmd = 1, .wdir = ".",
                                .deps = prep_deps, .ndeps = 1, .outs = &outs[0], .nouts = 1};
    st[1] = (struct pipe_stage){.name = "train@lr0.1", .cmd = train_cmd, .ncmd = 2, .wdir = ".",
                                .deps = train_deps, .ndeps = 1, .outs = &outs[1], .nouts = 1,
                                .retries = 3, .backoff_s = 2, .timeout_s = 600, .env = env,
                                .nenv = 1, .cpu = "500m", .memory = "1Gi", .after = after0,
                                .nafter = 1};
    st[2] = (struct pipe_stage){.name = "evaluate", .cmd = eval_cmd, .ncmd = 1, .wdir = ".",
                                .deps = eval_deps, .ndeps = 2, .outs = &outs[2], .nouts = 1,
                                .after = after01, .nafter = 2};
    *s = (struct pipe_spec){.root = "/src/churn", .stages = st, .n = 3};
}

static int argo(int argc, char **argv)
{
    struct pipe_spec s;
    struct pipe_stage st[3];
    struct pipe_out outs[3];
    make_spec(&s, st, outs);
    struct pipe_export_opts o = {.image = "python:3.12-slim", .cron = argc > 2 ? argv[2] : NULL,
                                 .overlap = argc > 3 ? argv[3] : NULL,
                                 .timezone = argc > 2 ? "Europe/Berlin" : NULL};
    char *yaml = NULL;
    struct cap_error err;
    if (pipe_export_argo(&s, &o, &yaml, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fputs(yaml, stdout);
    free(yaml);
    return 0;
}

/* Sends and keeps one event; 1 when it could not be built or sent. */
static int emit(const struct pipe_ol_run *r, const char *url, cJSON *all)
{
    struct cap_error err;
    cJSON *ev = pipe_ol_event(r, &err);
    if (!ev || pipe_ol_send(url, ev, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        cJSON_Delete(ev);
        return 1;
    }
    cJSON_AddItemToArray(all, ev);
    return 0;
}

static int events(const char *url)
{
    char ns[300], pid[37], sid[3][37];
    pipe_ol_file_ns(ns, sizeof ns);
    cap_uuid4(pid);
    const char *md5[] = {"0123456789abcdef0123456789abcdef",
                         "11111111111111111111111111111111.dir",
                         "22222222222222222222222222222222"};
    struct pipe_ol_dataset raw = {ns, "data/raw.csv", md5[0]}, prep = {ns, "data/prepared", md5[1]},
                           model = {ns, "model.pkl", md5[2]};
    struct pipe_ol_dataset train_in[] = {prep}, eval_in[] = {model, prep};
    int64_t t = 1767225600000; /* 2026-01-01T00:00:00Z, the scheduled tick */
    cJSON *all = cJSON_CreateArray();
    struct pipe_ol_run p = {.type = PIPE_OL_START, .run_id = pid, .pipeline = "churn",
                            .time_ms = t, .nominal_ms = t};
    int bad = emit(&p, url, all);
    const char *names[] = {"prepare", "train@lr0.1", "evaluate"};
    const struct pipe_ol_dataset *in[] = {&raw, train_in, eval_in}, *out[] = {&prep, &model, NULL};
    size_t nin[] = {1, 1, 2};
    for (int i = 0; i < 3; i++) {
        cap_uuid4(sid[i]);
        struct pipe_ol_run r = {.type = PIPE_OL_START, .run_id = sid[i], .pipeline = "churn",
                                .stage = names[i], .parent_run_id = pid, .time_ms = t + 1000 * i,
                                .nominal_ms = t, .inputs = in[i], .ninputs = nin[i],
                                .outputs = out[i], .noutputs = out[i] ? 1 : 0};
        bad |= emit(&r, url, all);
        r.type = i < 2 ? PIPE_OL_COMPLETE : PIPE_OL_FAIL;
        r.error = i < 2 ? NULL : "python eval.py: exit status 1";
        r.time_ms += 500;
        bad |= emit(&r, url, all);
    }
    p.type = PIPE_OL_ABORT;
    p.error = "stopped after stage evaluate failed";
    p.time_ms = t + 5000;
    bad |= emit(&p, url, all);
    char *text = cJSON_Print(all);
    puts(text);
    free(text);
    cJSON_Delete(all);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "argo") == 0)
        return argo(argc, argv);
    if (argc == 3 && strcmp(argv[1], "events") == 0)
        return events(argv[2]);
    fprintf(stderr, "usage: export_main events URL | argo [CRON [OVERLAP]]\n");
    return 2;
}
