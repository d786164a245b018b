/* capstan.c - Capstan's own endpoints under /api/2.0/capstan/, with
 * MLflow's error shape. Lineage: GET lineage?name=&version=[&format=
 * graph|openlineage|dot]. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "data/data.h"
#include "base/buf.h"
#include "base/json.h"
#include "registry/registry.h"

static int lineage(const struct api_env *env, const struct api_request *req,
                   struct api_response *resp, struct cap_error *err)
{
    const char *name, *version, *format = "graph";
    int rc;
    if ((rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0 ||
        (rc = registry_check_model_name(name, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "version", true, &version, err)) < 0 ||
        (rc = registry_check_version(version, err)) < 0 ||
        (rc = cap_json_get_str(req->msg, "format", false, &format, err)) < 0)
        return rc;
    if (rc == 1)
        format = "graph";
    if (strcmp(format, "graph") != 0 && strcmp(format, "openlineage") != 0 &&
        strcmp(format, "dot") != 0)
        return cap_err(err, CAP_EINVAL,
                       "Invalid value '%.60s' for parameter 'format': expected graph, openlineage "
                       "or dot",
                       format);
    cJSON *graph = NULL;
    if ((rc = registry_lineage(env->store, name, version, &graph, err)) < 0)
        return rc;
    const struct data_ctx dctx = {.st = env->store};
    data_lineage_enrich(&dctx, graph);
    if (strcmp(format, "openlineage") == 0) {
        resp->json = registry_lineage_openlineage(graph);
        cJSON_Delete(graph);
    } else if (strcmp(format, "dot") == 0) {
        resp->text = registry_lineage_dot(graph);
        cJSON_Delete(graph);
    } else {
        resp->json = graph;
    }
    return 0;
}

const struct api_route api_capstan_routes[] = {
    {"GET", "/api/2.0/capstan/lineage", API_BODY_JSON, lineage, NULL, API_ACCESS(MODEL, READ)},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
