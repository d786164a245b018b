/* lineage.c - a model version's lineage as a graph: which run made it, from
 * which data and code, with which params and metrics, who and when, through
 * which logged model. Nodes carry the facts; edges say how they connect. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/openlineage.h"
#include "registry/registry.h"
#include "store/store.h"

static cJSON *node(cJSON *nodes, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static cJSON *node(cJSON *nodes, const char *type, const char *fmt, ...)
{
    char id[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(id, sizeof id, fmt, ap);
    va_end(ap);
    cJSON *n = cJSON_CreateObject();
    cJSON_AddStringToObject(n, "id", id);
    cJSON_AddStringToObject(n, "type", type);
    cJSON_AddItemToArray(nodes, n);
    return n;
}

static void edge(cJSON *edges, const cJSON *from, const cJSON *to, const char *type)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "source", cJSON_GetObjectItem(from, "id")->valuestring);
    cJSON_AddStringToObject(e, "target", cJSON_GetObjectItem(to, "id")->valuestring);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddItemToArray(edges, e);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void copy(cJSON *to, const cJSON *from, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, k);
    if (v)
        cJSON_AddItemToObject(to, k, cJSON_Duplicate(v, 1));
}

/* [{key, value}] to {key: value}. */
static cJSON *kv_object(const cJSON *list, const char *value_key)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *kv;
    cJSON_ArrayForEach(kv, list)
    {
        const char *k = str(kv, "key");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(kv, value_key);
        if (k && v)
            cJSON_AddItemToObject(o, k, cJSON_Duplicate(v, 1));
    }
    return o;
}

static const char *tag_of(const cJSON *run, const char *key)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(run, "data"), "tags"))
    {
        const char *k = str(t, "key");
        if (k && strcmp(k, key) == 0)
            return str(t, "value");
    }
    return NULL;
}

/* The run, its code, data and parent, linked to target by "produced". */
static void add_run(struct store *st, cJSON *nodes, cJSON *edges, const char *run_id,
                    const cJSON *target)
{
    cJSON *run = NULL;
    struct cap_error err;
    if (store_run_get(st, run_id, &run, &err) < 0) {
        cJSON *missing = node(nodes, "run", "run:%s", run_id);
        cJSON_AddStringToObject(missing, "run_id", run_id);
        cJSON_AddStringToObject(missing, "error", err.msg);
        edge(edges, missing, target, "produced");
        return;
    }
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(run, "info");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(run, "data");
    cJSON *r = node(nodes, "run", "run:%s", run_id);
    copy(r, info, "run_id");
    copy(r, info, "run_name");
    copy(r, info, "experiment_id");
    copy(r, info, "status");
    copy(r, info, "start_time");
    copy(r, info, "end_time");
    const char *user = tag_of(run, "mlflow.user");
    cJSON_AddStringToObject(r, "user", user ? user : (str(info, "user_id") ? str(info, "user_id") : ""));
    cJSON_AddItemToObject(r, "params", kv_object(cJSON_GetObjectItemCaseSensitive(data, "params"), "value"));
    cJSON_AddItemToObject(r, "metrics", kv_object(cJSON_GetObjectItemCaseSensitive(data, "metrics"), "value"));
    cJSON_AddItemToObject(r, "tags", kv_object(cJSON_GetObjectItemCaseSensitive(data, "tags"), "value"));
    edge(edges, r, target, "produced");

    const char *script = tag_of(run, "mlflow.source.name");
    const char *commit = tag_of(run, "mlflow.source.git.commit");
    if (script || commit) {
        cJSON *c = node(nodes, "code", "code:%s@%s", script ? script : "", commit ? commit : "");
        cJSON_AddStringToObject(c, "script", script ? script : "");
        cJSON_AddStringToObject(c, "git_commit", commit ? commit : "");
        const char *branch = tag_of(run, "mlflow.source.git.branch");
        const char *repo = tag_of(run, "mlflow.source.git.repoURL");
        cJSON_AddStringToObject(c, "git_branch", branch ? branch : "");
        cJSON_AddStringToObject(c, "git_repo", repo ? repo : "");
        edge(edges, c, r, "code_of");
    }
    const cJSON *in;
    cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(run, "inputs"), "dataset_inputs"))
    {
        const cJSON *ds = cJSON_GetObjectItemCaseSensitive(in, "dataset");
        cJSON *d = node(nodes, "dataset", "dataset:%s@%s", str(ds, "name") ? str(ds, "name") : "",
                        str(ds, "digest") ? str(ds, "digest") : "");
        copy(d, ds, "name");
        copy(d, ds, "digest");
        copy(d, ds, "source_type");
        copy(d, ds, "source");
        cJSON *tags = kv_object(cJSON_GetObjectItemCaseSensitive(in, "tags"), "value");
        const char *ctx = str(tags, "mlflow.data.context");
        cJSON_AddStringToObject(d, "context", ctx ? ctx : "");
        cJSON_Delete(tags);
        edge(edges, d, r, "input_to");
    }
    const char *parent = tag_of(run, "mlflow.parentRunId");
    if (parent) {
        cJSON *p = node(nodes, "parent_run", "run:%s", parent);
        cJSON_AddStringToObject(p, "run_id", parent);
        edge(edges, p, r, "parent_of");
    }
    cJSON_Delete(run);
}

int registry_lineage(struct store *st, const char *name, const char *version, cJSON **out,
                     struct cap_error *err)
{
    cJSON *mv = NULL, *meta = NULL;
    int rc = store_model_version_get(st, name, version, &mv, err);
    if (rc < 0)
        return rc;
    store_model_version_metadata(st, name, version, &meta, NULL);
    cJSON *graph = cJSON_CreateObject();
    cJSON *nodes = cJSON_AddArrayToObject(graph, "nodes");
    cJSON *edges = cJSON_AddArrayToObject(graph, "edges");
    cJSON *m = node(nodes, "registered_model", "model:%s", name);
    cJSON_AddStringToObject(m, "name", name);
    cJSON *v = node(nodes, "model_version", "version:%s/%s", name, version);
    static const char *const fields[] = {"name", "version", "status", "status_message",
                                         "current_stage", "aliases", "source", "run_id",
                                         "model_id", "user_id", "creation_timestamp",
                                         "last_updated_timestamp", "tags"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        copy(v, mv, fields[i]);
    if (meta)
        cJSON_AddItemToObject(v, "model_format", cJSON_Duplicate(meta, 1));
    edge(edges, v, m, "version_of");

    const char *model_id = str(mv, "model_id");
    const char *run_id = str(mv, "run_id");
    const cJSON *producer_target = v;
    if (model_id) {
        cJSON *lm = NULL;
        cJSON *l = node(nodes, "logged_model", "logged_model:%s", model_id);
        cJSON_AddStringToObject(l, "model_id", model_id);
        if (store_logged_model_get(st, model_id, &lm, NULL) == 0) {
            const cJSON *info = cJSON_GetObjectItemCaseSensitive(lm, "info");
            copy(l, info, "name");
            copy(l, info, "artifact_uri");
            copy(l, info, "status");
            copy(l, info, "model_type");
            if (!run_id)
                run_id = str(info, "source_run_id");
            if (run_id)
                run_id = cap_xstrdup(run_id);
            cJSON_Delete(lm);
        } else if (run_id) {
            run_id = cap_xstrdup(run_id);
        }
        edge(edges, l, v, "registered_as");
        producer_target = l;
    } else if (run_id) {
        run_id = cap_xstrdup(run_id);
    }
    if (run_id) {
        add_run(st, nodes, edges, run_id, producer_target);
        free((char *)run_id);
    }
    cJSON_Delete(mv);
    cJSON_Delete(meta);
    *out = graph;
    return 0;
}

static const cJSON *find_type(const cJSON *graph, const char *type)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(graph, "nodes"))
    {
        if (strcmp(str(n, "type"), type) == 0)
            return n;
    }
    return NULL;
}

cJSON *registry_lineage_openlineage(const cJSON *graph)
{
    const cJSON *v = find_type(graph, "model_version");
    const cJSON *run = find_type(graph, "run");
    const cJSON *end = run ? cJSON_GetObjectItemCaseSensitive(run, "end_time") : NULL;
    cJSON *ev = cap_ol_event("COMPLETE", cJSON_IsNumber(end) ? (int64_t)end->valuedouble : 0);
    cJSON *r = cJSON_AddObjectToObject(ev, "run");
    const char *rid = run ? str(run, "run_id") : NULL;
    char uuid[40] = "00000000-0000-0000-0000-000000000000";
    if (rid && strlen(rid) == 32)
        snprintf(uuid, sizeof uuid, "%.8s-%.4s-%.4s-%.4s-%.12s", rid, rid + 8, rid + 12, rid + 16,
                 rid + 20);
    cJSON_AddStringToObject(r, "runId", uuid);
    cJSON *facets = cJSON_AddObjectToObject(r, "facets");
    if (run) {
        cJSON *p = cJSON_AddObjectToObject(facets, "mlflow_run");
        copy(p, run, "run_name");
        copy(p, run, "user");
        copy(p, run, "params");
        copy(p, run, "metrics");
    }
    cJSON *job = cJSON_AddObjectToObject(ev, "job");
    cJSON_AddStringToObject(job, "namespace", "capstan");
    const char *jname = run && str(run, "run_name") ? str(run, "run_name") : "unknown";
    const char *exp = run && str(run, "experiment_id") ? str(run, "experiment_id") : "0";
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "experiment-%s/%s", exp, jname);
    cJSON_AddStringToObject(job, "name", b.data);
    cap_buf_free(&b);
    const cJSON *code = find_type(graph, "code");
    if (code) {
        cJSON *jf = cJSON_AddObjectToObject(job, "facets");
        cJSON *sc = cap_ol_facet(jf, "sourceCodeLocation", CAP_OL_FACET_SOURCE);
        cJSON_AddStringToObject(sc, "type", "git");
        copy(sc, code, "git_repo");
        cJSON_AddStringToObject(sc, "version", str(code, "git_commit"));
        cJSON_AddStringToObject(sc, "branch", str(code, "git_branch"));
        cJSON_AddStringToObject(sc, "path", str(code, "script"));
    }
    cJSON *inputs = cJSON_AddArrayToObject(ev, "inputs");
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(graph, "nodes"))
    {
        if (strcmp(str(n, "type"), "dataset") != 0)
            continue;
        const char *src = str(n, "source");
        cJSON *in = cap_ol_dataset(src && *src ? src : "capstan", str(n, "name") ? str(n, "name") : "",
                                   str(n, "digest"));
        cJSON_AddItemToArray(inputs, in);
    }
    cJSON *outputs = cJSON_AddArrayToObject(ev, "outputs");
    if (v) {
        cap_buf_init(&b);
        cap_buf_printf(&b, "%s/%s", str(v, "name"), str(v, "version"));
        cJSON *o = cap_ol_dataset("capstan-registry", b.data, NULL);
        cap_buf_free(&b);
        cJSON_AddItemToArray(outputs, o);
    }
    return ev;
}

static void dot_escape(struct cap_buf *b, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            cap_buf_putc(b, '\\');
        if ((unsigned char)*s >= 0x20)
            cap_buf_putc(b, *s);
    }
}

char *registry_lineage_dot(const cJSON *graph)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, "digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname=\"sans\"];\n");
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(graph, "nodes"))
    {
        cap_buf_puts(&b, "  \"");
        dot_escape(&b, str(n, "id"));
        cap_buf_puts(&b, "\" [label=\"");
        dot_escape(&b, str(n, "type"));
        cap_buf_puts(&b, "\\n");
        dot_escape(&b, strchr(str(n, "id"), ':') + 1);
        cap_buf_puts(&b, "\"];\n");
    }
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(graph, "edges"))
    {
        cap_buf_puts(&b, "  \"");
        dot_escape(&b, str(n, "source"));
        cap_buf_puts(&b, "\" -> \"");
        dot_escape(&b, str(n, "target"));
        cap_buf_puts(&b, "\" [label=\"");
        dot_escape(&b, str(n, "type"));
        cap_buf_puts(&b, "\"];\n");
    }
    cap_buf_puts(&b, "}\n");
    return cap_buf_steal(&b);
}
