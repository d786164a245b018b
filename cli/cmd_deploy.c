/* cmd_deploy.c - `capstan deploy`: manage deployments through a running
 * server's /api/2.0/capstan/deployments (the server, not the store, knows
 * which version each deployment served before, which rollback needs).
 *
 *   capstan deploy create NAME --model M@ALIAS|M/V [--canary M@A:PCT] [--shadow M/V]
 *                  [--sticky-header H] [--max-batch-size N --max-queue-delay-us US]
 *                  [--cache-entries N] [--log-sample S]
 *   capstan deploy update NAME [same options; --canary none drops it]
 *   capstan deploy list | status NAME | promote NAME | rollback NAME | delete NAME */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cli/cli.h"

static void print_model(const char *role, const cJSON *m)
{
    if (!m)
        return;
    printf("  %-9s %s/%s%s%s%s\n", role, cli_str(m, "name"), cli_str(m, "version"),
           cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "ready")) ? "  ready" : "  not ready",
           *cli_str(m, "error") ? "  error: " : "", cli_str(m, "error"));
}

static void print_deployment(const cJSON *d)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "status");
    printf("%s  %s  model %s", cli_str(d, "name"), cli_str(st, "state"), cli_str(d, "model"));
    if (*cli_str(d, "canary")) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(d, "canary_weight");
        printf("  canary %s (%g%%)", cli_str(d, "canary"), cJSON_IsNumber(w) ? w->valuedouble : 0);
    }
    if (*cli_str(d, "shadow"))
        printf("  shadow %s", cli_str(d, "shadow"));
    printf("\n");
    if (*cli_str(st, "message"))
        printf("  message   %s\n", cli_str(st, "message"));
    print_model("primary", cJSON_GetObjectItemCaseSensitive(st, "primary"));
    print_model("canary", cJSON_GetObjectItemCaseSensitive(st, "canary"));
    print_model("shadow", cJSON_GetObjectItemCaseSensitive(st, "shadow"));
    print_model("previous", cJSON_GetObjectItemCaseSensitive(st, "previous"));
}

/* Builds the create/update body from the options; 2 on a bad option. */
static int spec_from_opts(const struct cli_opt *opts, cJSON *body)
{
    const char *v;
    if ((v = cli_get(opts, "--model")))
        cJSON_AddStringToObject(body, "model", v);
    if ((v = cli_get(opts, "--canary"))) {
        if (strcmp(v, "none") == 0) {
            cJSON_AddNullToObject(body, "canary");
        } else {
            const char *colon = strrchr(v, ':');
            char *end = NULL;
            double pct = colon ? strtod(colon + 1, &end) : 10;
            if (colon && (end == colon + 1 || *end || pct < 0 || pct > 100)) {
                fprintf(stderr, "capstan: --canary takes MODEL_REF:PERCENT, e.g. fraud@challenger:10\n");
                return 2;
            }
            char *ref = colon ? cap_xstrndup(v, (size_t)(colon - v)) : cap_xstrdup(v);
            cJSON_AddStringToObject(body, "canary", ref);
            cJSON_AddNumberToObject(body, "canary_weight", pct);
            free(ref);
        }
    }
    if ((v = cli_get(opts, "--shadow"))) {
        if (strcmp(v, "none") == 0)
            cJSON_AddNullToObject(body, "shadow");
        else
            cJSON_AddStringToObject(body, "shadow", v);
    }
    if ((v = cli_get(opts, "--sticky-header")))
        cJSON_AddStringToObject(body, "sticky_header", v);
    if ((v = cli_get(opts, "--max-batch-size"))) {
        cJSON *b = cJSON_AddObjectToObject(body, "batching");
        cJSON_AddNumberToObject(b, "max_batch_size", atof(v));
        if ((v = cli_get(opts, "--max-queue-delay-us")))
            cJSON_AddNumberToObject(b, "max_queue_delay_us", atof(v));
    }
    if ((v = cli_get(opts, "--cache-entries")))
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(body, "cache"), "max_entries", atof(v));
    if ((v = cli_get(opts, "--log-sample")))
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(body, "log"), "sample", atof(v));
    return 0;
}

int cmd_deploy(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--server", "CAPSTAN_SERVER", false, "http://127.0.0.1:5000", "the capstan server"},
        {"--model", NULL, false, NULL, "model to serve: NAME@ALIAS or NAME/VERSION"},
        {"--canary", NULL, false, NULL, "canary model and share, NAME@ALIAS:PERCENT (none: drop)"},
        {"--shadow", NULL, false, NULL, "shadow model, mirrored and never answered (none: drop)"},
        {"--sticky-header", NULL, false, NULL, "request header that keeps a client on one side"},
        {"--max-batch-size", NULL, false, NULL, "turn dynamic batching on, up to N rows"},
        {"--max-queue-delay-us", NULL, false, NULL, "longest wait for a batch to fill"},
        {"--cache-entries", NULL, false, NULL, "turn the prediction cache on, N entries"},
        {"--log-sample", NULL, false, NULL, "share of requests in the prediction log (0-1)"},
        {"--json", NULL, true, NULL, "print JSON"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[2];
    int npos = 0;
    if (cli_parse(argc, argv, 2, opts, pos, 2, &npos) < 0)
        return 2;
    static const char synopsis[] =
        "capstan deploy create|update|list|status|promote|rollback|delete [NAME] [options]";
    if (cli_get(opts, "--help") || npos == 0) {
        cli_usage(synopsis, opts);
        return npos == 0 && !cli_get(opts, "--help") ? 2 : 0;
    }
    const char *verb = pos[0], *name = npos > 1 ? pos[1] : NULL;
    const char *server = cli_get(opts, "--server");
    bool json = cli_get(opts, "--json") != NULL;
    cJSON *out = NULL;
    int rc;
    if (strcmp(verb, "list") == 0) {
        if ((rc = cli_call(server, "GET", "/api/2.0/capstan/deployments", NULL, &out)))
            return rc;
        if (json) {
            cli_print_json(out);
        } else {
            const cJSON *d;
            cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(out, "deployments"))
                print_deployment(d);
        }
        cJSON_Delete(out);
        return 0;
    }
    if (!name) {
        fprintf(stderr, "capstan: deploy %s needs a deployment NAME\n", verb);
        return 2;
    }
    char *ename = curl_escape(name, 0);
    struct cap_buf path;
    cap_buf_init(&path);
    cap_buf_printf(&path, "/api/2.0/capstan/deployments/%s", ename);
    curl_free(ename);
    cJSON *body = cJSON_CreateObject();
    if (strcmp(verb, "create") == 0 || strcmp(verb, "update") == 0) {
        bool create = verb[0] == 'c';
        if (create && !cli_get(opts, "--model")) {
            fprintf(stderr, "capstan: deploy create needs --model NAME@ALIAS or NAME/VERSION\n");
            rc = 2;
            goto done;
        }
        if ((rc = spec_from_opts(opts, body)))
            goto done;
        if (create)
            cJSON_AddStringToObject(body, "name", name);
        rc = cli_call(server, create ? "POST" : "PATCH",
                  create ? "/api/2.0/capstan/deployments" : path.data, body, &out);
    } else if (strcmp(verb, "status") == 0) {
        rc = cli_call(server, "GET", path.data, NULL, &out);
    } else if (strcmp(verb, "promote") == 0 || strcmp(verb, "rollback") == 0) {
        cap_buf_printf(&path, "/%s", verb);
        rc = cli_call(server, "POST", path.data, body, &out);
    } else if (strcmp(verb, "delete") == 0) {
        rc = cli_call(server, "DELETE", path.data, NULL, NULL);
        if (rc == 0)
            printf("deleted %s\n", name);
        goto done;
    } else {
        fprintf(stderr, "capstan: unknown deploy command '%s'\n", verb);
        cli_usage(synopsis, opts);
        rc = 2;
        goto done;
    }
    if (rc == 0) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(out, "deployment");
        if (json)
            cli_print_json(d);
        else
            print_deployment(d);
    }
done:
    cJSON_Delete(out);
    cJSON_Delete(body);
    cap_buf_free(&path);
    return rc;
}
