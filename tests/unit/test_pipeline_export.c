/* test_pipeline_export.c - pipeline/'s lineage events and Argo export on
 * specs built by hand: a pipeline run's and a stage's RunEvent field by
 * field (parent, nominalTime, errorMessage, datasets with versions), the
 * server-side check naming each bad field, and the Workflow / CronWorkflow
 * documents' shape (names made valid and distinct, dependencies, artifacts
 * wired between tasks, retryStrategy, resources), with bad input refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/openlineage.h"
#include "base/util.h"
#include "pipeline/pipeline.h"

/* The value at a dotted path ("spec.templates.0.name"; digits index arrays). */
static const cJSON *jget(const cJSON *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *v = o;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save))
        v = (*k >= '0' && *k <= '9') ? cJSON_GetArrayItem(v, atoi(k))
                                     : cJSON_GetObjectItemCaseSensitive(v, k);
    return v;
}

static const char *jstr(const cJSON *o, const char *path)
{
    const cJSON *v = jget(o, path);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_uuid4(void **state)
{
    char a[37], b[37];
    cap_uuid4(a);
    cap_uuid4(b);
    assert_true(cap_uuid_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
    assert_false(cap_uuid_valid("0176a8c2-fe01-7439-87e6-56a1a1b4029"));
    assert_false(cap_uuid_valid("0176a8c2xfe01-7439-87e6-56a1a1b4029f"));
    assert_false(cap_uuid_valid(NULL));
}

static void test_pipeline_and_stage_events(void **state)
{
    char pid[37], sid[37];
    cap_uuid4(pid);
    cap_uuid4(sid);
    struct cap_error err;
    struct pipe_ol_run p = {.type = PIPE_OL_START, .run_id = pid, .pipeline = "churn",
                            .time_ms = 1767225600123, .nominal_ms = 1767225600000};
    cJSON *ev = pipe_ol_event(&p, &err);
    assert_non_null(ev);
    assert_string_equal(jstr(ev, "eventType"), "START");
    assert_string_equal(jstr(ev, "eventTime"), "2026-01-01T00:00:00.123Z");
    assert_string_equal(jstr(ev, "producer"), CAP_OL_PRODUCER);
    assert_string_equal(jstr(ev, "schemaURL"), CAP_OL_RUN_EVENT_SCHEMA);
    assert_string_equal(jstr(ev, "job.namespace"), "capstan");
    assert_string_equal(jstr(ev, "job.name"), "churn");
    assert_string_equal(jstr(ev, "run.runId"), pid);
    assert_string_equal(jstr(ev, "run.facets.nominalTime.nominalStartTime"),
                        "2026-01-01T00:00:00.000Z");
    assert_null(jget(ev, "run.facets.parent"));
    assert_int_equal(pipe_ol_check(ev, &err), 0);
    cJSON_Delete(ev);

    struct pipe_ol_dataset in[] = {{"file://h", "data/raw.csv", "0123456789abcdef0123456789abcdef"}};
    struct pipe_ol_dataset out[] = {{"file://h", "model", "fedcba9876543210fedcba9876543210.dir"},
                                    {"file://h", "metrics.json", NULL}};
    struct pipe_ol_run s = {.type = PIPE_OL_FAIL, .run_id = sid, .ns = "team", .pipeline = "churn",
                            .stage = "train@lr0.1", .parent_run_id = pid, .time_ms = 5,
                            .inputs = in, .ninputs = 1, .outputs = out, .noutputs = 2,
                            .error = "exit status 2"};
    ev = pipe_ol_event(&s, &err);
    assert_non_null(ev);
    assert_string_equal(jstr(ev, "eventType"), "FAIL");
    assert_string_equal(jstr(ev, "job.namespace"), "team");
    assert_string_equal(jstr(ev, "job.name"), "churn.train@lr0.1");
    assert_string_equal(jstr(ev, "run.facets.parent.run.runId"), pid);
    assert_string_equal(jstr(ev, "run.facets.parent.job.name"), "churn");
    assert_string_equal(jstr(ev, "run.facets.parent.job.namespace"), "team");
    assert_non_null(strstr(jstr(ev, "run.facets.parent._schemaURL"), "ParentRunFacet.json"));
    assert_string_equal(jstr(ev, "run.facets.errorMessage.message"), "exit status 2");
    assert_null(jget(ev, "run.facets.nominalTime"));
    assert_string_equal(jstr(ev, "inputs.0.name"), "data/raw.csv");
    assert_string_equal(jstr(ev, "inputs.0.facets.version.datasetVersion"),
                        "0123456789abcdef0123456789abcdef");
    assert_string_equal(jstr(ev, "outputs.0.facets.version.datasetVersion"),
                        "fedcba9876543210fedcba9876543210.dir");
    assert_null(jget(ev, "outputs.1.facets"));
    assert_int_equal(pipe_ol_check(ev, &err), 0);
    cJSON_Delete(ev);

    s.type = PIPE_OL_ABORT;
    s.error = "killed by SIGTERM";
    ev = pipe_ol_event(&s, &err);
    assert_string_equal(jstr(ev, "eventType"), "ABORT");
    assert_string_equal(jstr(ev, "run.facets.errorMessage.message"), "killed by SIGTERM");
    cJSON_Delete(ev);
    s.run_id = "not-a-uuid";
    assert_null(pipe_ol_event(&s, &err));
    assert_non_null(strstr(err.msg, "not-a-uuid"));
}

/* Each mutation of a good event, and the field the message must name. */
static void test_check_names_the_field(void **state)
{
    static const char good[] =
        "{\"eventTime\":\"2026-01-01T00:00:00+01:00\",\"eventType\":\"COMPLETE\","
        "\"producer\":\"https://x\",\"schemaURL\":\"https://openlineage.io/s\","
        "\"run\":{\"runId\":\"0176a8c2-fe01-7439-87e6-56a1a1b4029f\"},"
        "\"job\":{\"namespace\":\"n\",\"name\":\"j\"},\"inputs\":[{\"namespace\":\"a\",\"name\":\"b\"}]}";
    static const struct { const char *path, *value, *named; } cases[] = {
        {"eventTime", "\"2026-01-01 00:00:00\"", "eventTime"},
        {"eventTime", "\"2026-01-01T00:00:00\"", "eventTime"},
        {"eventType", "\"DONE\"", "eventType"},
        {"producer", "\"not a uri\"", "producer"},
        {"schemaURL", "3", "schemaURL"},
        {"run", "{\"runId\":\"123\"}", "run.runId"},
        {"job", "{\"name\":\"j\"}", "job.namespace"},
        {"job", "{\"namespace\":\"n\",\"name\":\"\"}", "job.name"},
        {"inputs", "[{\"namespace\":\"a\"}]", "inputs[0].name"},
        {"outputs", "{}", "outputs"},
    };
    struct cap_error err;
    cJSON *ok = cJSON_Parse(good);
    assert_int_equal(pipe_ol_check(ok, &err), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *ev = cJSON_Duplicate(ok, 1);
        cJSON_DeleteItemFromObject(ev, cases[i].path);
        cJSON_AddItemToObject(ev, cases[i].path, cJSON_Parse(cases[i].value));
        assert_int_equal(pipe_ol_check(ev, &err), -CAP_EINVAL);
        if (!strstr(err.msg, cases[i].named))
            fail_msg("case %zu: '%s' does not name %s", i, err.msg, cases[i].named);
        cJSON_Delete(ev);
    }
    cJSON_DeleteItemFromObject(ok, "eventType");
    assert_int_equal(pipe_ol_check(ok, &err), -CAP_EINVAL);
    cJSON_Delete(ok);
}

/* ---- the Argo export ---- */

static char *raw_csv[] = {"data/raw.csv", "prep.py"}, *prep_cmd[] = {"python prep.py"};
static char *train_cmd[] = {"python train.py --lr 0.1", "echo 'done'"};
static char *train_deps[] = {"../data/prepared/train.csv"}, *env[] = {"SEED=1", "MODE=a=b"};
static char *train2_deps[] = {"../data/prepared"}, *true_cmd[] = {"true"};
static char *main_deps[] = {"model.pkl", "model2.pkl", "data/raw.csv"};
static size_t after0[] = {0}, after12[] = {1, 2};

/* prepare -> train@lr0.1, train@lr0-1 (one name once made valid) -> main
 * (the DAG template's name). */
static void make_spec(struct pipe_spec *s, struct pipe_stage st[4], struct pipe_out outs[6])
{
    memset(st, 0, 4 * sizeof *st);
    memset(outs, 0, 6 * sizeof *outs);
    outs[0].path = "data/prepared";
    outs[1].path = "../model.pkl";
    outs[2].path = "../metrics.json";
    outs[2].kind = PIPE_METRIC;
    outs[3].path = "../model2.pkl";
    outs[4].path = "report/out.md";
    outs[5].path = "report-out.md";
    st[0] = (struct pipe_stage){.name = "prepare", .cmd = prep_cmd, .ncmd = 1, .wdir = ".",
                                .deps = raw_csv, .ndeps = 2, .outs = &outs[0], .nouts = 1};
    st[1] = (struct pipe_stage){.name = "train@lr0.1", .cmd = train_cmd, .ncmd = 2, .wdir = "src",
                                .deps = train_deps, .ndeps = 1, .outs = &outs[1], .nouts = 2,
                                .retries = 2, .backoff_s = 1.5, .timeout_s = 60.5, .env = env,
                                .nenv = 2, .cpu = "2", .memory = "4Gi", .after = after0,
                                .nafter = 1};
    st[2] = (struct pipe_stage){.name = "train@lr0-1", .cmd = true_cmd, .ncmd = 1, .wdir = "src",
                                .deps = train2_deps, .ndeps = 1, .outs = &outs[3], .nouts = 1,
                                .after = after0, .nafter = 1};
    st[3] = (struct pipe_stage){.name = "main", .cmd = true_cmd, .ncmd = 1, .wdir = ".",
                                .deps = main_deps, .ndeps = 3, .outs = &outs[4], .nouts = 2,
                                .after = after12, .nafter = 2};
    *s = (struct pipe_spec){.root = "/home/u/Churn_Model", .stages = st, .n = 4};
}

static const cJSON *by_name(const cJSON *list, const char *name)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, list)
    {
        if (strcmp(jstr(t, "name"), name) == 0)
            return t;
    }
    fail_msg("no item named %s", name);
    return NULL;
}

static void test_workflow_shape(void **state)
{
    struct pipe_spec s;
    struct pipe_stage st[4];
    struct pipe_out outs[6];
    make_spec(&s, st, outs);
    struct pipe_export_opts o = {.image = "ghcr.io/acme/churn:1"};
    struct cap_error err;
    cJSON *doc = NULL;
    assert_int_equal(pipe_export_argo_doc(&s, &o, &doc, &err), 0);
    assert_string_equal(jstr(doc, "apiVersion"), "argoproj.io/v1alpha1");
    assert_string_equal(jstr(doc, "kind"), "Workflow");
    assert_string_equal(jstr(doc, "metadata.generateName"), "churn-model-");
    assert_string_equal(jstr(doc, "spec.entrypoint"), "main");
    const cJSON *tmpl = jget(doc, "spec.templates");
    assert_int_equal(cJSON_GetArraySize(tmpl), 5);
    const cJSON *tasks = jget(by_name(tmpl, "main"), "dag.tasks");
    assert_int_equal(cJSON_GetArraySize(tasks), 4);
    assert_string_equal(jstr(tasks, "0.name"), "prepare");
    assert_string_equal(jstr(tasks, "1.name"), "train-lr0-1");
    assert_string_equal(jstr(tasks, "2.name"), "train-lr0-1-2");
    assert_string_equal(jstr(tasks, "3.name"), "main-2");
    assert_null(jget(tasks, "0.dependencies"));
    assert_string_equal(jstr(tasks, "3.dependencies.0"), "train-lr0-1");
    assert_string_equal(jstr(tasks, "3.dependencies.1"), "train-lr0-1-2");
    /* train's dep lies inside prepare's out: the whole out comes in */
    assert_string_equal(jstr(tasks, "1.arguments.artifacts.0.name"), "prepare-data-prepared");
    assert_string_equal(jstr(tasks, "1.arguments.artifacts.0.from"),
                        "{{tasks.prepare.outputs.artifacts.data-prepared}}");
    const cJSON *train = by_name(tmpl, "train-lr0-1");
    assert_string_equal(jstr(train, "inputs.artifacts.0.path"), "/repo/data/prepared");
    assert_string_equal(jstr(train, "outputs.artifacts.0.name"), "model-pkl");
    assert_string_equal(jstr(train, "outputs.artifacts.0.path"), "/repo/model.pkl");
    assert_string_equal(jstr(train, "outputs.artifacts.0.s3.key"),
                        "capstan/{{workflow.name}}/train-lr0-1/model-pkl.tgz");
    assert_string_equal(jstr(train, "outputs.artifacts.1.name"), "metrics-json");
    assert_string_equal(jstr(train, "container.image"), "ghcr.io/acme/churn:1");
    assert_string_equal(jstr(train, "container.command.0"), "sh");
    assert_string_equal(jstr(train, "container.command.1"), "-c");
    assert_string_equal(jstr(train, "container.args.0"),
                        "cd '/repo/src' && sh -c 'python train.py --lr 0.1' && "
                        "sh -c 'echo '\\''done'\\'''");
    assert_string_equal(jstr(train, "container.env.1.name"), "MODE");
    assert_string_equal(jstr(train, "container.env.1.value"), "a=b");
    assert_string_equal(jstr(train, "container.resources.requests.cpu"), "2");
    assert_string_equal(jstr(train, "container.resources.requests.memory"), "4Gi");
    assert_int_equal(jget(train, "retryStrategy.limit")->valueint, 2);
    assert_string_equal(jstr(train, "retryStrategy.backoff.duration"), "1.5s");
    assert_int_equal(jget(train, "retryStrategy.backoff.factor")->valueint, 2);
    assert_int_equal(jget(train, "activeDeadlineSeconds")->valueint, 61);
    const cJSON *last = by_name(tmpl, "main-2");
    assert_null(jget(last, "retryStrategy"));
    assert_int_equal(cJSON_GetArraySize(jget(last, "inputs.artifacts")), 2);
    assert_string_equal(jstr(last, "outputs.artifacts.0.name"), "report-out-md");
    assert_string_equal(jstr(last, "outputs.artifacts.1.name"), "report-out-md-2");
    cJSON_Delete(doc);

    char *yaml = NULL;
    assert_int_equal(pipe_export_argo(&s, &o, &yaml, &err), 0);
    assert_non_null(strstr(yaml, "kind: Workflow\n"));
    assert_non_null(strstr(yaml, "generateName: churn-model-\n"));
    free(yaml);
}

static void test_cron_workflow(void **state)
{
    struct pipe_spec s;
    struct pipe_stage st[4];
    struct pipe_out outs[6];
    make_spec(&s, st, outs);
    struct pipe_export_opts o = {.image = "img", .name = "Nightly Churn", .cron = "0 3 * * *",
                                 .timezone = "Europe/Berlin", .overlap = "forbid",
                                 .starting_deadline_s = 300, .workdir = "/w",
                                 .artifact_prefix = "pipes"};
    struct cap_error err;
    cJSON *doc = NULL;
    assert_int_equal(pipe_export_argo_doc(&s, &o, &doc, &err), 0);
    assert_string_equal(jstr(doc, "kind"), "CronWorkflow");
    assert_string_equal(jstr(doc, "metadata.name"), "nightly-churn");
    assert_string_equal(jstr(doc, "spec.schedules.0"), "0 3 * * *");
    assert_string_equal(jstr(doc, "spec.timezone"), "Europe/Berlin");
    assert_string_equal(jstr(doc, "spec.concurrencyPolicy"), "Forbid");
    assert_int_equal(jget(doc, "spec.startingDeadlineSeconds")->valueint, 300);
    assert_string_equal(jstr(doc, "spec.workflowSpec.entrypoint"), "main");
    assert_string_equal(jstr(doc, "spec.workflowSpec.templates.1.container.args.0"),
                        "cd '/w' && sh -c 'python prep.py'");
    assert_string_equal(jstr(doc, "spec.workflowSpec.templates.1.outputs.artifacts.0.s3.key"),
                        "pipes/{{workflow.name}}/prepare/data-prepared.tgz");
    cJSON_Delete(doc);
    o.overlap = "replace";
    o.cron = "@daily; 30 1 * * MON-FRI";
    assert_int_equal(pipe_export_argo_doc(&s, &o, &doc, &err), 0);
    assert_string_equal(jstr(doc, "spec.concurrencyPolicy"), "Replace");
    assert_string_equal(jstr(doc, "spec.schedules.1"), "30 1 * * MON-FRI");
    cJSON_Delete(doc);
}

static void test_export_refusals(void **state)
{
    struct pipe_spec s;
    struct pipe_stage st[4];
    struct pipe_out outs[6];
    make_spec(&s, st, outs);
    static const struct { struct pipe_export_opts o; const char *says; } cases[] = {
        {{.image = NULL}, "--image"},
        {{.image = "i", .cron = "0 3 * *", .overlap = "allow"}, "expected 5"},
        {{.image = "i", .cron = "0 3 * * * *"}, "6 fields"},
        {{.image = "i", .cron = "0 3 * * %"}, "field 5"},
        {{.image = "i", .cron = "0 3 * * *", .overlap = "queue"}, "no Argo equivalent"},
        {{.image = "i", .cron = "0 3 * * *", .overlap = "later"}, "expected forbid, allow or replace"},
        {{.image = "i", .timezone = "UTC"}, "give --cron"},
    };
    struct cap_error err;
    cJSON *doc = NULL;
    char *yaml = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(pipe_export_argo_doc(&s, &cases[i].o, &doc, &err), -CAP_EINVAL);
        assert_null(doc);
        if (!strstr(err.msg, cases[i].says))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].says);
        assert_int_equal(pipe_export_argo(&s, &cases[i].o, &yaml, &err), -CAP_EINVAL);
        assert_null(yaml);
    }
    struct pipe_export_opts o = {.image = "i"};
    st[2].ncmd = 0;
    assert_int_equal(pipe_export_argo_doc(&s, &o, &doc, &err), -CAP_EINVAL);
    assert_non_null(strstr(err.msg, "train@lr0-1"));
    s.n = 0;
    assert_int_equal(pipe_export_argo_doc(&s, &o, &doc, &err), -CAP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uuid4),
        cmocka_unit_test(test_pipeline_and_stage_events),
        cmocka_unit_test(test_check_names_the_field),
        cmocka_unit_test(test_workflow_shape),
        cmocka_unit_test(test_cron_workflow),
        cmocka_unit_test(test_export_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
