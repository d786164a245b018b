/* test_pipeline_spec.c - pipeline/pipeline.h's spec side: dvc.yaml parsed,
 * templated (vars, params.yaml, ${...} with DVC's typing and text rules,
 * foreach and matrix names), capstan.yaml settings, the DAG and its order,
 * pipe_param_read, and refusals with their place and reason.
 * test_pipeline_spec.py checks the same against the real DVC. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipeline.h"

static char dir[] = "/tmp/capstan-pspec-XXXXXX";

static void put(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void drop(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static int load(const char *yaml, struct pipe_spec *s, struct cap_error *err)
{
    put("dvc.yaml", yaml);
    return pipe_spec_load(dir, s, err);
}

/* Loading yaml fails with a message holding want. */
static void refused(const char *yaml, const char *want)
{
    struct pipe_spec s;
    struct cap_error err = {0};
    assert_int_not_equal(load(yaml, &s, &err), 0);
    if (!strstr(err.msg, want))
        fail_msg("message '%s' lacks '%s'", err.msg, want);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_plain_stage(void **state)
{
    (void)state;
    struct pipe_spec s;
    struct cap_error err = {0};
    int rc = load("stages:\n"
                  "  train:\n"
                  "    cmd: [python a.py, python b.py]\n"
                  "    wdir: sub/../src\n"
                  "    deps: [a.py]\n"
                  "    params: [lr, {cfg.json: [x.y]}, {whole.yaml: null}]\n"
                  "    outs:\n"
                  "      - model.pkl\n"
                  "      - cache:\n"
                  "          cache: false\n"
                  "          persist: true\n"
                  "          remote: r1\n"
                  "    metrics: [m.json]\n"
                  "    plots: [{p.csv: {x: step, y: loss}}]\n"
                  "    frozen: true\n"
                  "    desc: trains\n"
                  "    meta: {owner: me}\n"
                  "plots: [p.csv]\n",
                  &s, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(s.n, 1);
    const struct pipe_stage *st = pipe_spec_find(&s, "train");
    assert_non_null(st);
    assert_null(pipe_spec_find(&s, "nope"));
    assert_int_equal(st->ncmd, 2);
    assert_string_equal(st->cmd[1], "python b.py");
    assert_string_equal(st->wdir, "src");
    assert_int_equal(st->nparams, 3);
    assert_string_equal(st->params[0].file, "params.yaml");
    assert_string_equal(st->params[0].key, "lr");
    assert_string_equal(st->params[1].file, "cfg.json");
    assert_string_equal(st->params[1].key, "x.y");
    assert_null(st->params[2].key);
    assert_int_equal(st->nouts, 4);
    assert_true(st->outs[0].cache);
    assert_false(st->outs[1].cache);
    assert_true(st->outs[1].persist);
    assert_string_equal(cJSON_GetObjectItem(st->outs[1].extra, "remote")->valuestring, "r1");
    assert_int_equal(st->outs[2].kind, PIPE_METRIC);
    assert_int_equal(st->outs[3].kind, PIPE_PLOT);
    assert_true(st->frozen);
    assert_string_equal(st->desc, "trains");
    assert_int_equal(st->retries, 0);
    assert_true(st->backoff_s == 1.0);
    assert_non_null(cJSON_GetObjectItem(s.top, "plots"));
    pipe_spec_free(&s);
}

static void test_templating(void **state)
{
    (void)state;
    put("params.yaml", "lr: 0.10\nn: 10\nwhole: 2.0\ntiny: 0.00001\nok: true\nnone: null\n"
                       "m: {a: 1, b: [x, 'y z'], c: false, d: true}\nl: [5, 6]\n");
    struct pipe_spec s;
    struct cap_error err = {0};
    int rc = load("vars:\n"
                  "  - v: {name: out}\n"
                  "stages:\n"
                  "  s:\n"
                  "    cmd: run ${lr} ${n} ${whole} ${tiny} ${ok} ${none} ${l[1]} ${ l.0 } "
                  "\\${esc} ${m}\n"
                  "    outs: ['${v.name}/f']\n",
                  &s, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(s.stages[0].cmd[0],
                        "run 0.1 10 2.0 1e-05 true None 6 5 ${esc} --a 1 --b x 'y z' --d");
    assert_string_equal(s.stages[0].outs[0].path, "out/f");
    pipe_spec_free(&s);
    drop("params.yaml");
}

static void test_foreach_matrix_names(void **state)
{
    (void)state;
    put("params.yaml", "regions: [us, true]\n");
    struct pipe_spec s;
    struct cap_error err = {0};
    int rc = load("stages:\n"
                  "  a:\n"
                  "    foreach: ${regions}\n"
                  "    do: {cmd: 'a ${item}'}\n"
                  "  b:\n"
                  "    foreach: [1.50, false, {k: v}]\n"
                  "    do: {cmd: 'b'}\n"
                  "  c:\n"
                  "    foreach: {x: {n: 1}}\n"
                  "    do: {cmd: 'c ${key} ${item.n}'}\n"
                  "  d:\n"
                  "    matrix: {m: [svm, tree], p: [{q: 1}, {q: 2}], f: [true]}\n"
                  "    cmd: d ${item.m} ${item.p.q} ${key}\n",
                  &s, &err);
    assert_int_equal(rc, 0);
    const char *names[] = {"a@us", "a@True", "b@0", "b@1", "b@2", "c@x",
                           "d@svm-p0-true", "d@svm-p1-true", "d@tree-p0-true", "d@tree-p1-true"};
    assert_int_equal(s.n, sizeof names / sizeof *names);
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s.stages[i].name, names[i]);
    assert_string_equal(s.stages[1].cmd[0], "a true");
    assert_string_equal(s.stages[5].cmd[0], "c x 1");
    assert_string_equal(s.stages[7].cmd[0], "d svm 2 svm-p1-true");
    pipe_spec_free(&s);
    /* A simple list names stages by value: 1.50 is "1.5", false "false". */
    rc = load("stages:\n  b:\n    foreach: [1.50, false]\n    do: {cmd: b}\n", &s, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(s.stages[0].name, "b@1.5");
    assert_string_equal(s.stages[1].name, "b@false");
    pipe_spec_free(&s);
    drop("params.yaml");
}

static void test_dag_and_order(void **state)
{
    (void)state;
    struct pipe_spec s;
    struct cap_error err = {0};
    int rc = load("stages:\n"
                  "  c:\n    cmd: c\n    deps: [b/out.txt]\n"
                  "  b:\n    cmd: b\n    wdir: b\n    deps: [../a]\n    outs: [out.txt]\n"
                  "  a:\n    cmd: a\n    outs: [a/x, a/y]\n"
                  "  p:\n    cmd: p\n    params: [{gen.yaml: [k]}]\n"
                  "  g:\n    cmd: g\n    outs: [gen.yaml]\n",
                  &s, &err);
    assert_int_equal(rc, 0);
    const struct pipe_stage *c = pipe_spec_find(&s, "c"), *b = pipe_spec_find(&s, "b");
    assert_int_equal(c->nafter, 1);
    assert_string_equal(s.stages[c->after[0]].name, "b");
    assert_int_equal(b->nafter, 1);
    assert_string_equal(s.stages[b->after[0]].name, "a");
    assert_int_equal(pipe_spec_find(&s, "p")->nafter, 1);
    size_t *order;
    assert_int_equal(pipe_spec_order(&s, &order, &err), 0);
    const char *want[] = {"a", "b", "c", "g", "p"};
    for (size_t i = 0; i < s.n; i++)
        assert_string_equal(s.stages[order[i]].name, want[i]);
    free(order);
    char *text;
    const char *targets[] = {"c"};
    assert_int_equal(pipe_dag_format(&s, targets, 1, false, &text, &err), 0);
    assert_string_equal(text, "a\nb <- a\nc <- b\n");
    free(text);
    assert_int_equal(pipe_dag_format(&s, NULL, 0, true, &text, &err), 0);
    assert_non_null(strstr(text, "  \"a\" -> \"b\";\n"));
    free(text);
    const char *bad[] = {"zz"};
    assert_int_equal(pipe_dag_format(&s, bad, 1, false, &text, &err), -CAP_ENOTFOUND);
    pipe_spec_free(&s);
}

static void test_settings(void **state)
{
    (void)state;
    put("capstan.yaml", "stages:\n"
                        "  f: {retries: 2, backoff: 0.5, env: {A: 1}}\n"
                        "  f@y: {retries: 4, timeout: 60, resources: {cpu: 2, memory: 1Gi}}\n");
    struct pipe_spec s;
    struct cap_error err = {0};
    int rc = load("stages:\n  f:\n    foreach: [x, y]\n    do: {cmd: 'f ${item}'}\n", &s, &err);
    assert_int_equal(rc, 0);
    const struct pipe_stage *x = pipe_spec_find(&s, "f@x"), *y = pipe_spec_find(&s, "f@y");
    assert_int_equal(x->retries, 2);
    assert_true(x->backoff_s == 0.5);
    assert_int_equal(x->nenv, 1);
    assert_string_equal(x->env[0], "A=1");
    assert_int_equal(y->retries, 4);
    assert_true(y->backoff_s == 0.5 && y->timeout_s == 60);
    assert_string_equal(y->cpu, "2");
    assert_string_equal(y->memory, "1Gi");
    pipe_spec_free(&s);
    put("capstan.yaml", "stages:\n  f: {backoff: 0}\n");
    refused("stages:\n  f:\n    cmd: x\n", "capstan.yaml:2:16: stages.f.backoff is 0, expected "
                                          "seconds above 0");
    put("capstan.yaml", "stages:\n  g: {}\n");
    refused("stages:\n  f:\n    cmd: x\n", "stages.g names no stage of dvc.yaml");
    drop("capstan.yaml");
}

static void test_param_read(void **state)
{
    (void)state;
    put("p.yaml", "a: {b: [1, 2.5]}\nc: x\n");
    put("p.json", "{\"a\": {\"b\": true}}");
    put("p.toml", "a = 1\n");
    char path[512];
    cJSON *v;
    struct cap_error err = {0};
    snprintf(path, sizeof path, "%s/p.yaml", dir);
    assert_int_equal(pipe_param_read(path, "a.b", &v, &err), 0);
    char *text = cJSON_PrintUnformatted(v);
    assert_string_equal(text, "[1,2.5]");
    free(text);
    cJSON_Delete(v);
    assert_int_equal(pipe_param_read(path, NULL, &v, &err), 0);
    assert_string_equal(cJSON_GetObjectItem(v, "c")->valuestring, "x");
    cJSON_Delete(v);
    assert_int_equal(pipe_param_read(path, "a.z", &v, &err), -CAP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "'a.z' is not in"));
    snprintf(path, sizeof path, "%s/p.json", dir);
    assert_int_equal(pipe_param_read(path, "a.b", &v, &err), 0);
    assert_true(cJSON_IsTrue(v));
    cJSON_Delete(v);
    snprintf(path, sizeof path, "%s/p.toml", dir);
    assert_int_not_equal(pipe_param_read(path, "a", &v, &err), 0);
    assert_non_null(strstr(err.msg, "is a TOML file"));
    snprintf(path, sizeof path, "%s/none.yaml", dir);
    assert_int_equal(pipe_param_read(path, "a", &v, &err), -CAP_ENOTFOUND);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("stages:\n  a:\n    cmd: x\n    bogus: 1\n",
            "dvc.yaml:4:12: stages.a: unknown field 'bogus', which Capstan does not support");
    refused("stages:\n  a:\n    outs: [o]\n", "dvc.yaml:3:5: stages.a has no 'cmd'");
    refused("stages:\n  a:\n    cmd: ''\n", "stages.a.cmd is empty");
    refused("stages:\n  a:\n    cmd: ${x}\n", "stages.a.cmd: '${x}' is not defined");
    refused("stages:\n  a:\n    cmd: ${x[}\n", "'${x[}' is not a valid expression");
    refused("stages:\n  a:\n    cmd: x\n    outs: [o]\n  b:\n    cmd: y\n    outs: [./o]\n",
            "the output 'o' is in stage 'a' and in stage 'b'");
    refused("stages:\n  a:\n    cmd: x\n    outs: [o]\n  b:\n    cmd: y\n    wdir: o\n"
            "    outs: [p]\n",
            "the outputs 'o' (stage 'a') and 'o/p' (stage 'b') overlap");
    refused("stages:\n  a:\n    cmd: x\n    deps: [b]\n    outs: [a]\n"
            "  b:\n    cmd: y\n    deps: [a]\n    outs: [b]\n",
            "the stages form a cycle: 'a' -> 'b' -> 'a'");
    refused("stages:\n  a:\n    cmd: x\n    params: [{c.toml: [k]}]\n", "'c.toml' is a TOML file");
    refused("stages:\n  a@b:\n    cmd: x\n", "the stage name 'a@b' is not allowed");
    refused("stages:\n  a:\n    foreach: [1]\n    do: {cmd: x}\n    matrix: {a: [1]}\n",
            "has both 'matrix' and 'foreach'");
    refused("stages:\n  a:\n    matrix: {a: []}\n    cmd: x\n", "stages.a.matrix.a is empty");
    refused("vars: [{a: '${b}'}]\nstages: {}\n", "interpolating is not allowed in vars");
    refused("vars: [{item: 1}]\nstages:\n  a:\n    foreach: [1]\n    do:\n      cmd: x\n"
            "      vars: [{item: 2}]\n",
            "which foreach/matrix reserves");
    refused("a: 1\na: 2\n", "dvc.yaml:2:1: 'a' is given twice");
    refused("stages:\n  a:\n    cmd: x\n    always_changed: 1\n",
            "stages.a.always_changed is a int, expected true or false");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_stage),
        cmocka_unit_test(test_templating),
        cmocka_unit_test(test_foreach_matrix_names),
        cmocka_unit_test(test_dag_and_order),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_param_read),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
