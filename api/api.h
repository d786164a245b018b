/* api.h - the request handlers behind the HTTP front. server/ owns sockets
 * and bytes; api/ owns meaning: it matches a route, turns the request message
 * (a cJSON object built from the JSON body or the query string) into store
 * and blob calls, and describes the answer. One file per surface:
 * mlflow_tracking.c, artifacts.c, ... and routes.c holds the table. */
#ifndef CAP_API_H
#define CAP_API_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/error.h"

struct store;
struct blob;
struct blob_stream;
struct serve;
struct metrics;
struct predlog;
struct alert;
struct pipe_sched;

struct api_env {
    struct store *store;         /* NULL in a serving-only process */
    struct blob *blob;           /* NULL in a serving-only process */
    struct blob *datasets;       /* data/'s object store; NULL in a serving-only process */
    const char *version;
    struct serve *serve;         /* deployments; NULL when serving is off */
    struct metrics *metrics;     /* /metrics; may be NULL */
    struct predlog *log;         /* the prediction log; may be NULL */
    struct alert *alert;         /* alert rules and delivery; NULL in a serving-only process */
    struct mon_live *live;       /* the live monitor; NULL when it is off */
    struct pipe_sched *sched;    /* pipeline schedules; NULL in a serving-only process */
    struct auth *auth;           /* users and permissions; NULL unless --auth */
};

#define API_MAX_PATH_PARAMS 3

struct api_response;

/* How a handler that returned API_PENDING answers later: once, from any
 * thread; resp and err are taken over. */
typedef void (*api_answer_fn)(void *answer_cls, int rc, struct api_response *resp,
                              const struct cap_error *err);

struct api_request {
    const char *method;
    const char *path;            /* decoded URL path */
    const cJSON *msg;            /* body or query message; never NULL */
    /* Captures of {param} segments in the route pattern, and of the '*'
     * tail (raw, still percent-encoded: the handler decodes it once). */
    const char *params[API_MAX_PATH_PARAMS];
    const char *tail;
    const char *content_type;
    /* API_BODY_RAW routes: the body as received. */
    const char *body;
    size_t body_len;
    /* Any request header by name (case-insensitive), NULL when absent. */
    const char *(*header)(void *cls, const char *name);
    void *header_cls;
    api_answer_fn answer;        /* for API_PENDING */
    void *answer_cls;
    /* When the server handed a serving route's request to a worker thread
     * after its handler returned API_OFFLOAD (cap_mono_s); 0 on the HTTP
     * thread that read it. */
    double queued_at;
    /* The signed-in user (server.c's HTTP basic check); NULL when --auth
     * is off and on the public (health) routes. */
    const struct auth_user *user;
};

#define API_MAX_HEADERS 4

/* What a handler answers. Exactly one of json / text / fd is used. */
struct api_response {
    int status;                  /* 0 = 200 */
    cJSON *json;                 /* owned; serialized by the server */
    char *text;                  /* owned; sent as text/plain */
    int fd;                      /* -1 when unused; the server closes it */
    uint64_t fd_size;            /* fd's size, or stream's */
    /* A body that arrives while it is sent (an S3 download), when fd is -1:
     * the server reads it without waiting and closes it (blob.h). */
    struct blob_stream *stream;
    /* Raw bytes (used when json, text and fd are not): owned, sent with
     * content_type (NULL = application/json; for fd, application/octet-stream). */
    char *raw;
    size_t raw_len;
    const char *content_type;
    /* Extra response headers; values owned. */
    const char *header_names[API_MAX_HEADERS];
    char *header_values[API_MAX_HEADERS];
    int nheaders;
};

/* Adds a response header (value copied); silently ignores a fifth. */
void api_response_header(struct api_response *resp, const char *name, const char *value);

/* A handler returns 0 with resp filled, or < 0 with err set. */
typedef int (*api_handler)(const struct api_env *env, const struct api_request *req,
                           struct api_response *resp, struct cap_error *err);
/* What a handler returns, with nothing answered, when the answer comes
 * later through req->answer (a request waiting in a batch): the server
 * suspends the connection meanwhile, and no thread waits. */
#define API_PENDING 1
/* What a serving route's handler returns, having done nothing, when the
 * request would hold the HTTP thread (and its other connections) for long:
 * the server runs it again on a worker thread, with req->queued_at set. */
#define API_OFFLOAD 2

/* A streamed request body (artifact uploads): begin is called once the
 * headers are in, data for each chunk, end after the last one. abort is
 * called instead of end when the client goes away or data failed. */
struct api_upload_ops {
    int (*begin)(const struct api_env *env, const struct api_request *req, void **state,
                 struct cap_error *err);
    int (*data)(void *state, const void *buf, size_t n, struct cap_error *err);
    int (*end)(void *state, struct api_response *resp, struct cap_error *err);
    void (*abort)(void *state);
};

/* JSON: the body parsed into msg; STREAM: upload ops; NONE: no body;
 * RAW: the body handed over as bytes (inference payloads, binary tensors). */
enum api_body { API_BODY_JSON, API_BODY_STREAM, API_BODY_NONE, API_BODY_RAW };

/* How errors are written: MLflow's {"error_code", "message"} or the Open
 * Inference Protocol's {"error": "..."}. */
enum api_errors { API_ERRORS_MLFLOW = 0, API_ERRORS_OIP };

/* With --auth: what a route's caller must be allowed (api/access.c checks
 * it once the request's message is read, before the handler runs). The
 * zero value, a route that says nothing, needs a signed-in user. The
 * resource is named by the request as MLflow's auth app reads it. */
enum api_scope {
    API_SCOPE_USER = 0,          /* any signed-in user */
    API_SCOPE_PUBLIC,            /* no credentials: health probes */
    API_SCOPE_ADMIN,             /* admins only */
    API_SCOPE_SELF,              /* msg "username" is the caller, or an admin */
    API_SCOPE_EXPERIMENT,        /* msg experiment_id (absent: "0") */
    API_SCOPE_EXPERIMENT_NAME,   /* msg experiment_name */
    API_SCOPE_EXPERIMENTS,       /* each of msg experiment_ids */
    API_SCOPE_RUN,               /* msg run_id or run_uuid: its experiment */
    API_SCOPE_RUNS,              /* each of msg run_ids / run_id: their experiments */
    API_SCOPE_LOGGED_MODEL,      /* {model_id} or msg model_id: its experiment */
    API_SCOPE_MODEL,             /* msg name: a registered model (its versions too) */
    API_SCOPE_ARTIFACT_PATH,     /* mlflow-artifacts path "<experiment_id>/...": that
                                  * experiment; any other path: admins only */
    API_SCOPE_RESOURCE,          /* msg resource_type + resource_id (MLflow 3's unified API) */
    /* A deployment (Capstan's): path {name}/{model}, else msg "deployment",
     * else /invocations' default one. A route that names none answers for
     * every deployment: the check passes and FILTER_DEPLOYMENT_ITEMS drops
     * the items of deployments the caller may not read. */
    API_SCOPE_DEPLOYMENT,
    API_SCOPE_DATASET,           /* each of msg ref, name, a, b: a dataset (NAME[@version]) */
    API_SCOPE_PIPELINE,          /* msg name: a pipeline schedule */
    API_SCOPE_BASELINE,          /* msg target: deployment:NAME or model:NAME/VERSION (and
                                  * msg dataset, NAME@N, read from: READ on it) */
};

/* After a handler succeeded (api_access_after): MLflow's after-request
 * hooks. */
enum api_after {
    API_AFTER_NONE = 0,
    API_AFTER_GRANT_EXPERIMENT,  /* the creator gets MANAGE on the new experiment */
    API_AFTER_GRANT_MODEL,       /* ... on the new registered model */
    API_AFTER_FILTER_EXPERIMENTS, /* drop "experiments" the caller may not read */
    API_AFTER_FILTER_MODELS,     /* drop "registered_models" ... */
    API_AFTER_FILTER_VERSIONS,   /* drop "model_versions" of models ... */
    API_AFTER_RENAME_MODEL,      /* the model's permissions follow it to msg new_name */
    API_AFTER_DELETE_MODEL,      /* the deleted model's permissions go */
    API_AFTER_GRANT_DEPLOYMENT,  /* the creator gets MANAGE on the new deployment */
    API_AFTER_FILTER_DEPLOYMENTS, /* drop "deployments" the caller may not read */
    API_AFTER_FILTER_DEPLOYMENT_ITEMS, /* with no deployment named: drop the items of
                                          every top-level array whose "deployment"
                                          the caller may not read */
    API_AFTER_DELETE_DEPLOYMENT, /* the deleted deployment's permissions go */
    API_AFTER_FILTER_DATASETS,   /* drop "datasets" the caller may not read */
    API_AFTER_DELETE_DATASET,    /* a whole dataset deleted (ref without @): its permissions go */
    API_AFTER_FILTER_PIPELINES,  /* drop "schedules" the caller may not read */
    API_AFTER_DELETE_PIPELINE,   /* the deleted schedule's permissions go */
    API_AFTER_FILTER_BASELINES,  /* drop "baselines" whose target the caller may not read */
};

struct api_access {
    unsigned char scope;         /* enum api_scope */
    unsigned char need;          /* enum auth_need on the scope's resource */
    unsigned char after;         /* enum api_after */
};
/* A route table entry's access: API_ACCESS(RUN, UPDATE). */
#define API_ACCESS(scope, need) .access = {API_SCOPE_##scope, AUTH_NEED_##need, API_AFTER_NONE}
#define API_ACCESS_AFTER(scope, need, after)                                                \
    .access = {API_SCOPE_##scope, AUTH_NEED_##need, API_AFTER_##after}

struct api_route {
    const char *method;
    const char *pattern;         /* "/api/2.0/mlflow/runs/get", "{param}" segments, '*' tail */
    enum api_body body;
    api_handler handler;                 /* JSON and NONE routes */
    const struct api_upload_ops *upload; /* STREAM routes */
    enum api_errors errors;
    /* Also served by a serving-only process (no store). Such a route
     * answers from memory (or through API_PENDING), so it runs on the HTTP
     * thread that read it; the others run on worker threads, since they may
     * wait on the store. */
    bool serving;
    struct api_access access;    /* --auth: see enum api_scope */
};

/* Finds the route for method + path. Returns the route, or NULL with *err
 * set: ENDPOINT_NOT_FOUND (404) for an unknown path, 405 when the path is
 * known but the method is not. Fills req->params / req->tail. */
const struct api_route *api_match(const char *method, const char *path,
                                  struct api_request *req, struct cap_error *err);

/* Surfaces' route tables, joined in routes.c. */
extern const struct api_route api_tracking_routes[];
extern const struct api_route api_artifact_routes[];
extern const struct api_route api_registry_routes[];
extern const struct api_route api_capstan_routes[];
extern const struct api_route api_monitor_routes[];
extern const struct api_route api_alert_routes[];
extern const struct api_route api_monitor_baseline_routes[];
extern const struct api_route api_feedback_routes[];
extern const struct api_route api_review_routes[];
extern const struct api_route api_dataset_routes[];
extern const struct api_route api_pipeline_routes[];
extern const struct api_route api_lineage_routes[];
extern const struct api_route api_serving_routes[];
extern const struct api_route api_oip_routes[];
extern const struct api_route api_invocations_routes[];

void api_response_free(struct api_response *resp);

/* --auth (env->auth set, req->user the caller): 0 when the caller may make
 * this request, else CAP_EPERM (or the error of reading the resource). */
int api_access_check(const struct api_env *env, const struct api_route *route,
                     const struct api_request *req, struct cap_error *err);
/* --auth: 0 when u (NULL: no --auth) may do need on the artifact at path
 * in the store, "<experiment_id>/...": its experiment's permission; any
 * other path is the admins'. For handlers that read artifacts named in a
 * message (a drift report's runs:/ URIs), as the artifact routes do. */
int api_access_artifact(const struct api_env *env, const struct auth_user *u, const char *path,
                        enum auth_need need, struct cap_error *err);
/* --auth, after the handler answered resp: the route's enum api_after. */
void api_access_after(const struct api_env *env, const struct api_route *route,
                      const struct api_request *req, struct api_response *resp);
extern const struct api_route api_auth_routes[];

/* A request header by name (req is a struct api_request *), NULL when absent. */
const char *api_request_header(void *req, const char *name);
/* Routes, parses (OIP v2 when oip, else MLflow scoring), runs and answers
 * one inference request for deployment (NULL: the default) at version
 * (NULL: by the deployment's routing); api/predict.c. */
int api_infer(const struct api_env *env, const struct api_request *req, const char *deployment,
              const char *version, bool oip, struct api_response *resp, struct cap_error *err);

/* Percent-decodes once into a new string; NULL when an escape is malformed
 * or decodes to NUL. */
char *api_percent_decode(const char *s, size_t n);

#endif
