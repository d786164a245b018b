/* cmd_models.c - `capstan models`: list, show, alias, promote and lineage
 * of registered models, straight from the store like the other local
 * commands. Lineage prints as a tree for people, --json (nodes and edges),
 * --dot for Graphviz, or --format openlineage. */
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

/* NAME, NAME/VERSION or NAME@ALIAS. */
static int resolve(struct store *st, const char *ref, char **name, char **version,
                   struct cap_error *err)
{
    const char *at = strrchr(ref, '@'), *slash = strrchr(ref, '/');
    *name = NULL;
    *version = NULL;
    if (at) {
        *name = cap_xstrndup(ref, (size_t)(at - ref));
        cJSON *mv = NULL;
        int rc = store_alias_get(st, *name, at + 1, &mv, err);
        if (rc < 0)
            return rc;
        *version = cap_xstrdup(cli_str(mv, "version"));
        cJSON_Delete(mv);
        return 0;
    }
    if (slash) {
        *name = cap_xstrndup(ref, (size_t)(slash - ref));
        *version = cap_xstrdup(slash + 1);
        return registry_check_version(*version, err);
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

static int lineage(struct store *st, const char *name, const char *version,
                   const struct cli_opt *opts)
{
    struct cap_error err = {0};
    cJSON *graph = NULL;
    if (registry_lineage(st, name, version, &graph, &err) < 0)
        return cli_fail(&err);
    const struct data_ctx dctx = {.st = st}; /* versions are metadata: no object store needed */
    data_lineage_enrich(&dctx, graph);
    const char *format = cli_get(opts, "--format");
    if (cli_get(opts, "--dot") || (format && strcmp(format, "dot") == 0)) {
        char *dot = registry_lineage_dot(graph);
        fputs(dot, stdout);
        free(dot);
    } else if (format && strcmp(format, "openlineage") == 0) {
        cJSON *ev = registry_lineage_openlineage(graph);
        cli_print_json(ev);
        cJSON_Delete(ev);
    } else if (cli_get(opts, "--json") || (format && strcmp(format, "graph") == 0)) {
        cli_print_json(graph);
    } else if (format) {
        cJSON_Delete(graph);
        fprintf(stderr, "capstan: --format must be graph, openlineage or dot\n");
        return 2;
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

int cmd_models(int argc, char **argv)
{
    struct cli_opt opts[] = {
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
                  "       capstan models lineage NAME/VERSION|NAME@ALIAS [--json|--dot|--format openlineage]",
                  opts);
        return cli_get(opts, "--help") ? 0 : 2;
    }
    struct store *st;
    if (cli_open_store(opts, &st) < 0)
        return 1;
    struct cap_error err = {0};
    int status = 0;
    char *name = NULL, *version = NULL;
    cJSON *out = NULL;
    if (strcmp(sub, "list") == 0) {
        struct filter *filter = NULL;
        char *token = NULL;
        struct store_query q = {.view = STORE_VIEW_ACTIVE, .max_results = 1000};
        if (cli_get(opts, "--filter") &&
            filter_parse(cli_get(opts, "--filter"), FILTER_TARGET_REGISTERED_MODELS, &filter,
                         &err) < 0) {
            status = cli_fail(&err);
            goto done;
        }
        q.filter = filter;
        int rc = store_registered_model_search(st, &q, &out, &token, &err);
        filter_free(filter);
        free(token);
        if (rc < 0) {
            status = cli_fail(&err);
            goto done;
        }
        if (cli_get(opts, "--json")) {
            cli_print_json(out);
            goto done;
        }
        printf("%-32s %-8s %-19s %s\n", "NAME", "LATEST", "UPDATED", "ALIASES");
        const cJSON *m;
        cJSON_ArrayForEach(m, out)
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
    } else if (strcmp(sub, "show") == 0) {
        if (resolve(st, pos[1], &name, &version, &err) < 0 ||
            (version ? store_model_version_get(st, name, version, &out, &err)
                     : store_registered_model_get(st, name, &out, &err)) < 0) {
            status = cli_fail(&err);
            goto done;
        }
        if (cli_get(opts, "--json")) {
            cli_print_json(out);
        } else if (version) {
            show_version(out);
        } else {
            printf("%s  %s\n", cli_str(out, "name"), cli_str(out, "description"));
            const cJSON *lv;
            cJSON_ArrayForEach(lv, cJSON_GetObjectItemCaseSensitive(out, "latest_versions"))
                show_version(lv);
        }
    } else if (strcmp(sub, "alias") == 0) {
        if (registry_check_model_name(pos[1], &err) < 0 || registry_check_alias(pos[2], &err) < 0 ||
            registry_check_version(pos[3], &err) < 0 ||
            store_alias_set(st, pos[1], pos[2], pos[3], &err) < 0) {
            status = cli_fail(&err);
            goto done;
        }
        printf("%s@%s -> version %s\n", pos[1], pos[2], pos[3]);
    } else if (strcmp(sub, "promote") == 0) {
        const char *stage;
        if (registry_check_version(pos[2], &err) < 0 ||
            store_stage_check(cli_get(opts, "--stage"), &stage, &err) < 0 ||
            store_model_version_transition(st, pos[1], pos[2], stage,
                                           cli_get(opts, "--archive-existing") != NULL, &out,
                                           &err) < 0) {
            status = cli_fail(&err);
            goto done;
        }
        printf("%s/%s is now in stage %s\n", pos[1], pos[2], stage);
    } else {
        if (resolve(st, pos[1], &name, &version, &err) < 0) {
            status = cli_fail(&err);
            goto done;
        }
        if (!version) {
            fprintf(stderr, "capstan: lineage needs NAME/VERSION or NAME@ALIAS\n");
            status = 2;
            goto done;
        }
        status = lineage(st, name, version, opts);
    }
done:
    free(name);
    free(version);
    cJSON_Delete(out);
    store_close(st);
    return status;
}
