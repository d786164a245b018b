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

#include "base/error.h"

struct store;
struct blob;

struct api_env {
    struct store *store;
    struct blob *blob;
    const char *version;
};

#define API_MAX_PATH_PARAMS 3

struct api_request {
    const char *method;
    const char *path;            /* decoded URL path */
    const cJSON *msg;            /* body or query message; never NULL */
    /* Captures of {param} segments in the route pattern, and of the '*'
     * tail (raw, still percent-encoded: the handler decodes it once). */
    const char *params[API_MAX_PATH_PARAMS];
    const char *tail;
    const char *content_type;
};

/* What a handler answers. Exactly one of json / text / fd is used. */
struct api_response {
    int status;                  /* 0 = 200 */
    cJSON *json;                 /* owned; serialized by the server */
    char *text;                  /* owned; sent as text/plain */
    int fd;                      /* -1 when unused; the server closes it */
    uint64_t fd_size;
    char *attachment_name;       /* owned; Content-Disposition filename */
};

typedef int (*api_handler)(const struct api_env *env, const struct api_request *req,
                           struct api_response *resp, struct cap_error *err);

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

enum api_body { API_BODY_JSON, API_BODY_STREAM, API_BODY_NONE };

struct api_route {
    const char *method;
    const char *pattern;         /* "/api/2.0/mlflow/runs/get", "{param}" segments, '*' tail */
    enum api_body body;
    api_handler handler;                 /* JSON and NONE routes */
    const struct api_upload_ops *upload; /* STREAM routes */
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

void api_response_free(struct api_response *resp);

/* Percent-decodes once into a new string; NULL when an escape is malformed
 * or decodes to NUL. */
char *api_percent_decode(const char *s, size_t n);

#endif
