/* cmd_models.c - `capstan models`: list, show, alias, promote and lineage
 * of registered models, from a tracking server's REST API when
 * --tracking-uri or $MLFLOW_TRACKING_URI names one (MLflow's registry
 * routes; lineage has no MLflow route and needs a Capstan server's
 * /api/2.0/capstan/lineage), else straight from the local store; both ways
 * print the same. Lineage prints as a tree for people, --json (nodes and
 * edges), --dot for Graphviz, or --format openlineage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/json.h"
#include "cli/cli.h"
#include "data/data.h"
#include "registry/registry.h"
#include "store/store.h"
#include "track/filter.h"

#define API "/api/2.0/mlflow/"

/* A GET or POST whose answer's field `key` is wanted; body is consumed.
 * NULL when it failed (printed). */
static cJSON *remote(const char *url, const char *method, const char *path, cJSON *body,
                     const char *key)
{
    cJSON *res = NULL, *out = NULL;
    if (cli_call(url, method, path, body, &res) == 0)
        out = cJSON_DetachItemFromObjectCaseSensitive(res, key);
    if (res && !out)
        fprintf(stderr, "capstan: %s%s answered without '%s'\n", url, path, key);
    cJSON_Delete(res);
    cJSON_Delete(body);
    return out;
}

static cJSON *name_query(const char *name)
{
    cJSON *q = cJSON_CreateObject();
    cJSON_AddStringToObject(q, "name", name);
    return q;
}

/* NAME, NAME/VERSION or NAME@ALIAS; 0, or 1 when it failed (printed). */
static int resolve(const struct cli_target *t, const char *ref, char **name, char **version)
{
    const char *at = strrchr(ref, '@'), *slash = strrchr(ref, '/');
    struct cap_error err = {0};
    *name = NULL;
    *version = NULL;
    if (at) {
        *name = cap_xstrndup(ref, (size_t)(at - ref));
        cJSON *mv = NULL;
        if (t->url) {
            cJSON *q = name_query(*name);
            cJSON_AddStringToObject(q, "alias", at + 1);
            if (!(mv = remote(t->url, "GET", API "registered-models/alias", q, "model_version")))
                return 1;
        } else if (store_alias_get(t->st, *name, at + 1, &mv, &err) < 0) {
            return cli_fail(&err);
        }
        *version = cap_xstrdup(cli_str(mv, "version"));
        cJSON_Delete(mv);
        return 0;
    }
    if (slash) {
        *name = cap_xstrndup(ref, (size_t)(slash - ref));
        *version = cap_xstrdup(slash + 1);
        return registry_check_version(*version, &err) < 0 ? cli_fail(&err) : 0;
    }
    *name = cap_xstrdup(ref);
    return 0;
}

static void show_version(const cJSON *mv)
{
    char c[32];
    cli_time(mv, "creation_timestamp", c, sizeof c);
    printf("%s/%s  status %s  stage %s  created %s\n", cli_str(mv, "name"), cli_str(mv, "version"),
           cli_str(mv, "status"), cli_str(mv, "current_stage"), c);
    printf("  source  %s\n", cli_str(mv, "source"));
    if (*cli_str(mv, "run_id"))
        printf("  run     %s\n", cli_str(mv, "run_id"));
    if (*cli_str(mv, "status_message"))
        printf("  message %s\n", cli_str(mv, "status_message"));
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(mv, "aliases"))
        printf("  alias   @%s\n", cJSON_IsString(a) ? a->valuestring : "");
}

static const cJSON *node_by_id(const cJSON *graph, const char *id)
{
    const cJSON *n;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(graph, "nodes"))
    {
        if (strcmp(cli_str(n, "id"), id) == 0)
            return n;
    }
    return NULL;
}

static void print_kv(const char *indent, const char *title, const cJSON *obj)
{
    if (!cJSON_GetArraySize(obj))
        return;
    printf("%s%s:", indent, title);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, obj)
    {
        if (cJSON_IsNumber(kv))
            printf(" %s=%g", kv->string, kv->valuedouble);
        else if (cJSON_IsString(kv))
            printf(" %s=%s", kv->string, kv->valuestring);
    }
    printf("\n");
}

/* Prints what flows into node id, one level deeper per hop. */
static void print_inputs(const cJSON *graph, const char *id, int depth)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(graph, "edges"))
    {
        if (strcmp(cli_str(e, "target"), id) != 0 || strcmp(cli_str(e, "type"), "version_of") == 0)
            continue;
        const cJSON *n = node_by_id(graph, cli_str(e, "source"));
        if (!n)
            continue;
        char pad[64];
        snprintf(pad, sizeof pad, "%*s", depth * 3, "");
        const char *type = cli_str(n, "type");
        if (strcmp(type, "logged_model") == 0) {
            printf("%s└─ logged model %s (%s, %s)\n", pad, cli_str(n, "model_id"), cli_str(n, "name"),
                   cli_str(n, "status"));
        } else if (strcmp(type, "run") == 0) {
            char st[32], en[32];
            cli_time(n, "start_time", st, sizeof st);
            cli_time(n, "end_time", en, sizeof en);
            printf("%s└─ run %s \"%s\" by %s, %s -> %s (%s)\n", pad, cli_str(n, "run_id"),
                   cli_str(n, "run_name"), cli_str(n, "user"), st, en, cli_str(n, "status"));
            char sub[80];
            snprintf(sub, sizeof sub, "%s      ", pad);
            print_kv(sub, "params", cJSON_GetObjectItemCaseSensitive(n, "params"));
            print_kv(sub, "metrics", cJSON_GetObjectItemCaseSensitive(n, "metrics"));
        } else if (strcmp(type, "dataset") == 0) {
            printf("%s└─ data %s digest %s from %s (%s)\n", pad, cli_str(n, "name"),
                   cli_str(n, "digest"), cli_str(n, "source"), cli_str(n, "context"));
            const cJSON *cd = cJSON_GetObjectItemCaseSensitive(n, "capstan_dataset");
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cd, "removed")))
                printf("%s      dataset version %s: removed\n", pad, cli_str(cd, "ref"));
            else if (cd)
                printf("%s      dataset %s@%.0f %s, %.0f files, %.0f bytes\n", pad,
                       cli_str(cd, "name"),
                       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cd, "version")),
                       cli_str(cd, "hash"),
                       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cd, "files")),
                       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(cd, "size")));
        } else if (strcmp(type, "code") == 0) {
            printf("%s└─ code %s @ %s (%s)\n", pad, cli_str(n, "script"), cli_str(n, "git_commit"),
                   cli_str(n, "git_branch"));
        } else if (strcmp(type, "parent_run") == 0) {
            printf("%s└─ parent run %s\n", pad, cli_str(n, "run_id"));
        }
        print_inputs(graph, cli_str(n, "id"), depth + 1);
    }
}

/* The lineage graph of name/version: the store's, enriched as the server
 * does, or the server's /api/2.0/capstan/lineage; NULL when it failed. */
static cJSON *lineage_graph(const struct cli_target *t, const char *name, const char *version)
{
    cJSON *graph = NULL;
    if (t->url) {
        cJSON *q = name_query(name), *res = NULL;
        cJSON_AddStringToObject(q, "version", version);
        int rc = cli_call(t->url, "GET", "/api/2.0/capstan/lineage", q, &res);
        cJSON_Delete(q);
        return rc ? NULL : res;
    }
    struct cap_error err = {0};
    if (registry_lineage(t->st, name, version, &graph, &err) < 0) {
        cli_fail(&err);
        return NULL;
    }
    const struct data_ctx dctx = {.st = t->st}; /* versions are metadata: no object store needed */
    data_lineage_enrich(&dctx, graph);
    return graph;
}

static int lineage(const struct cli_target *t, const char *name, const char *version,
                   const struct cli_opt *opts)
{
    const char *format = cli_get(opts, "--format");
    if (format && strcmp(format, "dot") != 0 && strcmp(format, "openlineage") != 0 &&
        strcmp(format, "graph") != 0) {
        fprintf(stderr, "capstan: --format must be graph, openlineage or dot\n");
        return 2;
    }
    cJSON *graph = lineage_graph(t, name, version);
    if (!graph)
        return 1;
    if (cli_get(opts, "--dot") || (format && strcmp(format, "dot") == 0)) {
        char *dot = registry_lineage_dot(graph);
        fputs(dot, stdout);
        free(dot);
    } else if (format && strcmp(format, "openlineage") == 0) {
        cJSON *ev = registry_lineage_openlineage(graph);
        cli_print_json(ev);
        cJSON_Delete(ev);
    } else if (cli_get(opts, "--json") || format) {
        cli_print_json(graph);
    } else {
        char id[600];
        snprintf(id, sizeof id, "version:%s/%s", name, version);
        const cJSON *v = node_by_id(graph, id);
        printf("%s/%s (%s, stage %s)\n", name, version, cli_str(v, "status"),
               cli_str(v, "current_stage"));
        print_inputs(graph, id, 0);
    }
    cJSON_Delete(graph);
    return 0;
}

/* Every registered model the options select, all pages; NULL when it failed. */
static cJSON *models_search(const struct cli_target *t, const struct cli_opt *opts)
{
    const char *ftext = cli_get(opts, "--filter");
    cJSON *out = NULL;
    if (t->url) {
        cJSON *q = cJSON_CreateObject();
        if (ftext)
            cJSON_AddStringToObject(q, "filter", ftext);
        int rc = cli_call_pages(t->url, "GET", API "registered-models/search", q,
                                "registered_models", 1000, 0, &out, NULL);
        cJSON_Delete(q);
        return rc ? NULL : out;
    }
    struct cap_error err = {0};
    struct filter *filter = NULL;
    if (ftext && filter_parse(ftext, FILTER_TARGET_REGISTERED_MODELS, &filter, &err) < 0) {
        cli_fail(&err);
        return NULL;
    }
    struct store_query q = {.view = STORE_VIEW_ACTIVE, .filter = filter, .max_results = 1000};
    out = cJSON_CreateArray();
    char *token = NULL;
    int rc;
    do {
        cJSON *page = NULL;
        char *next = NULL;
        q.page_token = token;
        rc = store_registered_model_search(t->st, &q, &page, &next, &err);
        free(token);
        token = next;
        cli_append_items(out, page);
    } while (rc == 0 && token);
    free(token);
    filter_free(filter);
    if (rc < 0) {
        cli_fail(&err);
        cJSON_Delete(out);
        return NULL;
    }
    return out;
}

static void print_models(const cJSON *list)
{
    printf("%-32s %-8s %-19s %s\n", "NAME", "LATEST", "UPDATED", "ALIASES");
    const cJSON *m;
    cJSON_ArrayForEach(m, list)
    {
        char u[32];
        cli_time(m, "last_updated_timestamp", u, sizeof u);
        const char *latest = "-";
        const cJSON *lv;
        long best = 0;
        cJSON_ArrayForEach(lv, cJSON_GetObjectItemCaseSensitive(m, "latest_versions"))
        {
            long v = strtol(cli_str(lv, "version"), NULL, 10);
            if (v > best) {
                best = v;
                latest = cli_str(lv, "version");
            }
        }
        struct cap_buf al;
        cap_buf_init(&al);
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(m, "aliases"))
            cap_buf_printf(&al, "%s@%s->%s", al.len ? " " : "", cli_str(a, "alias"),
                           cli_str(a, "version"));
        printf("%-32s %-8s %-19s %s\n", cli_str(m, "name"), latest, u, al.data ? al.data : "");
        cap_buf_free(&al);
    }
}

/* A registered model (version NULL) or one of its versions; NULL: failed. */
static cJSON *model_get(const struct cli_target *t, const char *name, const char *version)
{
    struct cap_error err = {0};
    cJSON *out = NULL;
    if (t->url) {
        cJSON *q = name_query(name);
        if (version)
            cJSON_AddStringToObject(q, "version", version);
        return version ? remote(t->url, "GET", API "model-versions/get", q, "model_version")
                       : remote(t->url, "GET", API "registered-models/get", q, "registered_model");
    }
    if ((version ? store_model_version_get(t->st, name, version, &out, &err)
                 : store_registered_model_get(t->st, name, &out, &err)) < 0)
        cli_fail(&err);
    return out;
}

static int models_show(const struct cli_target *t, const char *ref, bool json)
{
    char *name = NULL, *version = NULL;
    cJSON *out = NULL;
    int status = resolve(t, ref, &name, &version);
    if (status == 0 && !(out = model_get(t, name, version)))
        status = 1;
    if (status == 0 && json) {
        cli_print_json(out);
    } else if (status == 0 && version) {
        show_version(out);
    } else if (status == 0) {
        printf("%s  %s\n", cli_str(out, "name"), cli_str(out, "description"));
        const cJSON *lv;
        cJSON_ArrayForEach(lv, cJSON_GetObjectItemCaseSensitive(out, "latest_versions"))
            show_version(lv);
    }
    cJSON_Delete(out);
    free(name);
    free(version);
    return status;
}

static int models_alias(const struct cli_target *t, const char *const *pos)
{
    struct cap_error err = {0};
    if (t->url) {
        cJSON *b = name_query(pos[1]), *res = NULL;
        cJSON_AddStringToObject(b, "alias", pos[2]);
        cJSON_AddStringToObject(b, "version", pos[3]);
        int rc = cli_call(t->url, "POST", API "registered-models/alias", b, &res);
        cJSON_Delete(b);
        cJSON_Delete(res);
        if (rc)
            return 1;
    } else if (registry_check_model_name(pos[1], &err) < 0 ||
               registry_check_alias(pos[2], &err) < 0 || registry_check_version(pos[3], &err) < 0 ||
               store_alias_set(t->st, pos[1], pos[2], pos[3], &err) < 0) {
        return cli_fail(&err);
    }
    printf("%s@%s -> version %s\n", pos[1], pos[2], pos[3]);
    return 0;
}

static int models_promote(const struct cli_target *t, const char *const *pos,
                          const struct cli_opt *opts)
{
    struct cap_error err = {0};
    bool archive = cli_get(opts, "--archive-existing") != NULL;
    cJSON *out = NULL;
    if (t->url) {
        cJSON *b = name_query(pos[1]);
        cJSON_AddStringToObject(b, "version", pos[2]);
        cJSON_AddStringToObject(b, "stage", cli_get(opts, "--stage"));
        cJSON_AddBoolToObject(b, "archive_existing_versions", archive);
        if (!(out = remote(t->url, "POST", API "model-versions/transition-stage", b,
                           "model_version")))
            return 1;
    } else {
        const char *stage;
        if (registry_check_version(pos[2], &err) < 0 ||
            store_stage_check(cli_get(opts, "--stage"), &stage, &err) < 0 ||
            store_model_version_transition(t->st, pos[1], pos[2], stage, archive, &out, &err) < 0)
            return cli_fail(&err);
    }
    /* the stage as stored ("production" is Production) */
    printf("%s/%s is now in stage %s\n", pos[1], pos[2], cli_str(out, "current_stage"));
    cJSON_Delete(out);
    return 0;
}

static int models_lineage(const struct cli_target *t, const char *ref, const struct cli_opt *opts)
{
    char *name = NULL, *version = NULL;
    int status = resolve(t, ref, &name, &version);
    if (status == 0 && !version) {
        fprintf(stderr, "capstan: lineage needs NAME/VERSION or NAME@ALIAS\n");
        status = 2;
    } else if (status == 0) {
        status = lineage(t, name, version, opts);
    }
    free(name);
    free(version);
    return status;
}

int cmd_models(int argc, char **argv)
{
    struct cli_opt opts[] = {
        CLI_TRACKING_URI_OPT,
        {"--data", "CAPSTAN_DATA", false, "./capstan-data", "the server's data directory"},
        {"--backend-store-uri", "CAPSTAN_BACKEND_STORE_URI", false, NULL,
         "metadata store (default: <data>/capstan.db)"},
        {"--json", NULL, true, NULL, "print JSON"},
        {"--dot", NULL, true, NULL, "lineage as Graphviz dot"},
        {"--format", NULL, false, NULL, "lineage format: graph, openlineage or dot"},
        {"--filter", NULL, false, NULL, "list: MLflow filter, e.g. \"name LIKE 'fraud%'\""},
        {"--stage", NULL, false, NULL, "promote: None, Staging, Production or Archived"},
        {"--archive-existing", NULL, true, NULL, "promote: archive versions already in that stage"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[4];
    int npos;
    if (cli_parse(argc, argv, 2, opts, pos, 4, &npos) < 0)
        return 2;
    const char *sub = npos > 0 ? pos[0] : "";
    bool ok = (strcmp(sub, "list") == 0 && npos == 1) || (strcmp(sub, "show") == 0 && npos == 2) ||
              (strcmp(sub, "alias") == 0 && npos == 4) ||
              (strcmp(sub, "promote") == 0 && npos == 3 && cli_get(opts, "--stage")) ||
              (strcmp(sub, "lineage") == 0 && npos == 2);
    if (cli_get(opts, "--help") || !ok) {
        cli_usage("capstan models list [--filter F] [--json]\n"
                  "       capstan models show NAME[/VERSION|@ALIAS] [--json]\n"
                  "       capstan models alias NAME ALIAS VERSION\n"
                  "       capstan models promote NAME VERSION --stage Production [--archive-existing]\n"
                  "       capstan models lineage NAME/VERSION|NAME@ALIAS [--json|--dot|--format openlineage]\n"
                  "  With a server URI, lineage needs a Capstan server (MLflow's REST API has no lineage).",
                  opts);
        return cli_get(opts, "--help") ? 0 : 2;
    }
    struct cli_target t;
    int status = cli_target_open(opts, &t);
    if (status)
        return status;
    if (strcmp(sub, "list") == 0) {
        cJSON *out = models_search(&t, opts);
        status = out ? 0 : 1;
        if (out && cli_get(opts, "--json"))
            cli_print_json(out);
        else if (out)
            print_models(out);
        cJSON_Delete(out);
    } else if (strcmp(sub, "show") == 0) {
        status = models_show(&t, pos[1], cli_get(opts, "--json") != NULL);
    } else if (strcmp(sub, "alias") == 0) {
        status = models_alias(&t, pos);
    } else if (strcmp(sub, "promote") == 0) {
        status = models_promote(&t, pos, opts);
    } else {
        status = models_lineage(&t, pos[1], opts);
    }
    cli_target_close(&t);
    return status;
}
