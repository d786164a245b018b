/* artifacts.c - MLflow's artifact proxy (/api/2.0/mlflow-artifacts/...):
 * upload by PUT (streamed to disk), download by GET (streamed from disk, as
 * an attachment typed by attachment.c), list, delete; plus the routes
 * relative to an owner's artifact root that older clients and the UI use:
 * a run's (list, /get-artifact, the UI's upload-artifact), a logged
 * model's and a registered model version's. Every path goes through
 * blob_check_path before the filesystem sees it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/attachment.h"
#include "api/common.h"
#include "base/buf.h"
#include "base/json.h"
#include "blob/blob.h"
#include "store/store.h"

/* The artifact path in the URL tail, decoded once and checked. */
static int tail_path(const struct api_request *req, char **out, struct cap_error *err)
{
    const char *tail = req->tail ? req->tail : "";
    char *p = api_percent_decode(tail, strlen(tail));
    if (!p)
        return cap_err(err, CAP_EINVAL,
                       "Invalid artifact path '%.200s': malformed percent-encoding or an "
                       "encoded NUL",
                       tail);
    int rc = blob_check_path(p, 0, err);
    if (rc < 0) {
        free(p);
        return rc;
    }
    *out = p;
    return 0;
}

struct upload {
    struct blob_writer *w;
};

static int upload_begin(const struct api_env *env, const struct api_request *req, void **state,
                        struct cap_error *err)
{
    char *path;
    int rc = tail_path(req, &path, err);
    if (rc < 0)
        return rc;
    struct upload *u = cap_xcalloc(1, sizeof *u);
    rc = blob_write_open(env->blob, path, &u->w, err);
    free(path);
    if (rc < 0) {
        free(u);
        return rc;
    }
    *state = u;
    return 0;
}

static int upload_data(void *state, const void *buf, size_t n, struct cap_error *err)
{
    struct upload *u = state;
    return blob_write(u->w, buf, n, err);
}

static int upload_end(void *state, struct api_response *resp, struct cap_error *err)
{
    struct upload *u = state;
    int rc = blob_write_commit(u->w, err);
    free(u);
    if (rc < 0)
        return rc;
    resp->json = cJSON_CreateObject();
    return 0;
}

static void upload_abort(void *state)
{
    struct upload *u = state;
    blob_write_abort(u->w);
    free(u);
}

static const struct api_upload_ops upload_ops = {upload_begin, upload_data, upload_end,
                                                 upload_abort};

/* Streams the file at relpath (under the artifact root) as an attachment,
 * typed by its name. */
static int send_file(const struct api_env *env, const char *relpath, struct api_response *resp,
                     struct cap_error *err)
{
    int fd = -1;
    uint64_t size;
    struct blob_stream *st = NULL;
    int rc = blob_check_path(relpath, 0, err);
    if (rc < 0)
        return rc;
    /* a local file goes out by sendfile; an S3 object as it arrives */
    rc = blob_is_local(env->blob) ? blob_open_read(env->blob, relpath, &fd, &size, err)
                                  : blob_open_stream(env->blob, relpath, &st, &size, err);
    if (rc < 0)
        return rc;
    const char *slash = strrchr(relpath, '/');
    const char *name = slash ? slash + 1 : relpath;
    resp->fd = fd;
    resp->stream = st;
    resp->fd_size = size;
    resp->content_type = attachment_mime_type(name);
    char *cd = attachment_disposition(name);
    api_response_header(resp, "Content-Disposition", cd);
    free(cd);
    return 0;
}

static int download(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    char *path;
    int rc = tail_path(req, &path, err);
    if (rc < 0)
        return rc;
    rc = send_file(env, path, resp, err);
    free(path);
    return rc;
}

static int delete_artifact(const struct api_env *env, const struct api_request *req,
                           struct api_response *resp, struct cap_error *err)
{
    char *path;
    int rc = tail_path(req, &path, err);
    if (rc < 0)
        return rc;
    rc = blob_delete(env->blob, path, err);
    free(path);
    return rc;
}

static int list_path(const struct api_env *env, const char *path, struct api_response *resp,
                     struct cap_error *err)
{
    char *dir = blob_list_path(path);
    int rc = blob_check_path(dir, 1, err);
    cJSON *files = NULL;
    if (rc == 0 && (rc = blob_list(env->blob, dir, &files, err)) == 0)
        resp->json = api_wrap("files", files);
    free(dir);
    return rc;
}

static int list(const struct api_env *env, const struct api_request *req,
                struct api_response *resp, struct cap_error *err)
{
    const char *path = "";
    int rc = cap_json_get_str(req->msg, "path", false, &path, err);
    if (rc < 0)
        return rc;
    return list_path(env, path, resp, err);
}

/* A path relative to a run's, a logged model's or a model version's
 * artifact root, as the run-relative routes take it. A refused one is
 * answered as MLflow answers it, 400 with the message "Invalid path" that
 * clients and MLflow's tests compare exactly, and with the rule it broke in
 * "details". */
static int invalid_path(struct api_response *resp, const struct cap_error *why)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error_code", cap_err_name(CAP_EINVAL));
    cJSON_AddStringToObject(o, "message", "Invalid path");
    cJSON_AddStringToObject(o, "details", why->msg);
    resp->status = cap_err_http_status(CAP_EINVAL);
    resp->json = o;
    return 0;
}

/* The directory under the artifact root that an owner's artifact_uri
 * (mlflow-artifacts:/<path>) names; owner names it in errors. */
static int uri_root(const char *uri, const char *owner, char **root, struct cap_error *err)
{
    static const char scheme[] = "mlflow-artifacts:";
    if (!uri || strncmp(uri, scheme, sizeof scheme - 1) != 0)
        return cap_err(err, CAP_EINVAL, "%s stores its artifacts outside Capstan's artifact store",
                       owner);
    const char *p = uri + sizeof scheme - 1;
    while (*p == '/')
        p++;
    *root = cap_xstrdup(p);
    return 0;
}

/* The artifact_uri in an entity's "info" (a run, a logged model). */
static const char *info_uri(const cJSON *entity)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(entity, "info"), "artifact_uri");
    return cJSON_IsString(u) ? u->valuestring : NULL;
}

static char *join(const char *root, const char *rel)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, root);
    if (*root && *rel)
        cap_buf_putc(&b, '/');
    cap_buf_puts(&b, rel);
    return cap_buf_steal(&b);
}

/* Lists root/rel, with paths relative to root, and root's URI as root_uri. */
static int list_under(const struct api_env *env, const char *root_uri, const char *root,
                      const char *rel, struct api_response *resp, struct cap_error *err)
{
    char *path = join(root, rel);
    int rc = list_path(env, path, resp, err);
    free(path);
    if (rc < 0)
        return rc;
    cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(resp->json, "files"))
    {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
        if (*rel && cJSON_IsString(p)) {
            char *full = join(rel, p->valuestring);
            cJSON_SetValuestring(p, full);
            free(full);
        }
    }
    cJSON_AddStringToObject(resp->json, "root_uri", root_uri);
    return 0;
}

/* Sends root/rel, or lists it when list. */
static int serve_under(const struct api_env *env, const char *root_uri, const char *rel, bool list,
                       const char *owner, struct api_response *resp, struct cap_error *err)
{
    char *root = NULL;
    int rc = uri_root(root_uri, owner, &root, err);
    if (rc < 0)
        return rc;
    if (list) {
        rc = list_under(env, root_uri, root, rel, resp, err);
    } else {
        char *path = join(root, rel);
        rc = send_file(env, path, resp, err);
        free(path);
    }
    free(root);
    return rc;
}

/* The run-relative path in msg's field: "" when absent and allow_empty. */
static int rel_field(const cJSON *msg, const char *field, bool allow_empty, const char **rel,
                     struct cap_error *err)
{
    *rel = "";
    int rc = cap_json_get_str(msg, field, !allow_empty, rel, err);
    return rc < 0 ? rc : 0;
}

/* rel checked (a copy, in *out), for a listing (where "" names the root
 * and "." segments are dropped) or a file; *out is NULL when it was refused. */
static int check_rel(const char *rel, bool list, char **out, struct cap_error *err)
{
    *out = list ? blob_list_path(rel) : cap_xstrdup(rel);
    int rc = blob_check_path(*out, list, err);
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* The older run-relative API (/api/2.0/mlflow/artifacts/list and
 * /get-artifact): paths relative to the run's artifact root. */
static int run_serve(const struct api_env *env, const struct api_request *req, bool list,
                     struct api_response *resp, struct cap_error *err)
{
    const char *arg, *run_id;
    char *rel;
    int rc = rel_field(req->msg, "path", list, &arg, err);
    if (rc < 0)
        return rc;
    if (check_rel(arg, list, &rel, err) < 0)
        return invalid_path(resp, err);
    cJSON *run = NULL;
    if ((rc = api_run_id(req->msg, &run_id, err)) == 0 &&
        (rc = store_run_get(env->store, run_id, &run, err)) == 0) {
        char owner[96];
        snprintf(owner, sizeof owner, "Run %s", run_id);
        rc = serve_under(env, info_uri(run), rel, list, owner, resp, err);
        cJSON_Delete(run);
    }
    free(rel);
    return rc;
}

static int run_list(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    return run_serve(env, req, true, resp, err);
}

static int run_get_artifact(const struct api_env *env, const struct api_request *req,
                            struct api_response *resp, struct cap_error *err)
{
    return run_serve(env, req, false, resp, err);
}

/* A logged model's artifacts (/api/2.0/mlflow/logged-models/{id}/artifacts/...). */
static int logged_model_serve(const struct api_env *env, const struct api_request *req, bool list,
                              struct api_response *resp, struct cap_error *err)
{
    const char *arg;
    char *rel;
    int rc = rel_field(req->msg, list ? "artifact_directory_path" : "artifact_file_path", true,
                       &arg, err);
    if (rc < 0)
        return rc;
    if (!list && !*arg)
        return cap_err(err, CAP_EBADREQ,
                       "Request must include the \"artifact_file_path\" query parameter.");
    if (check_rel(arg, list, &rel, err) < 0)
        return invalid_path(resp, err);
    cJSON *model = NULL;
    if ((rc = store_logged_model_get(env->store, req->params[0], &model, err)) == 0) {
        char owner[160];
        snprintf(owner, sizeof owner, "Logged model %.100s", req->params[0]);
        rc = serve_under(env, info_uri(model), rel, list, owner, resp, err);
        cJSON_Delete(model);
    }
    free(rel);
    return rc;
}

static int logged_model_list(const struct api_env *env, const struct api_request *req,
                             struct api_response *resp, struct cap_error *err)
{
    return logged_model_serve(env, req, true, resp, err);
}

static int logged_model_get_artifact(const struct api_env *env, const struct api_request *req,
                                     struct api_response *resp, struct cap_error *err)
{
    return logged_model_serve(env, req, false, resp, err);
}

/* Where a model version's files are: its storage_location, else its
 * source, resolved to a directory under the artifact root (malloc'd). */
static int model_version_root(const struct api_env *env, const char *name, const char *version,
                              char **root, struct cap_error *err)
{
    char *uri = NULL;
    int rc = api_version_location(env, name, version, &uri, err);
    if (rc < 0)
        return rc;
    struct registry_source where = {0};
    char *full_uri = NULL, *source_run = NULL;
    if ((rc = registry_parse_source(uri, "model version source", &where, err)) == 0)
        rc = api_artifact_source(env, &where, "model version source", uri, &full_uri, root,
                                 &source_run, err);
    registry_source_clear(&where);
    free(full_uri);
    free(source_run);
    free(uri);
    return rc;
}

/* /model-versions/get-artifact: a file of a registered model version. */
static int model_version_get_artifact(const struct api_env *env, const struct api_request *req,
                                      struct api_response *resp, struct cap_error *err)
{
    const char *rel, *name, *version;
    int rc = rel_field(req->msg, "path", false, &rel, err);
    if (rc < 0)
        return rc;
    if (blob_check_path(rel, 0, err) < 0)
        return invalid_path(resp, err);
    /* (the version comes as a string in a query, maybe a number in JSON) */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req->msg, "version");
    char num[32];
    if ((rc = cap_json_get_str(req->msg, "name", true, &name, err)) < 0)
        return rc;
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.0f", v->valuedouble);
        version = num;
    } else if ((rc = cap_json_get_str(req->msg, "version", true, &version, err)) < 0) {
        return rc;
    }
    char *root = NULL;
    if ((rc = model_version_root(env, name, version, &root, err)) < 0)
        return rc;
    char *path = join(root, rel);
    rc = send_file(env, path, resp, err);
    free(path);
    free(root);
    return rc;
}

/* The UI's upload (POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=&path=,
 * the file as the body), with MLflow's checks and words, in its order. */
#define UPLOAD_ARTIFACT_MAX (10u << 20)

static int upload_artifact(const struct api_env *env, const struct api_request *req,
                           struct api_response *resp, struct cap_error *err)
{
    const char *run_id = NULL, *rel = NULL;
    cap_json_get_str(req->msg, "run_uuid", false, &run_id, NULL);
    if (!run_id || !*run_id)
        cap_json_get_str(req->msg, "run_id", false, &run_id, NULL);
    if (!run_id || !*run_id)
        return cap_err(err, CAP_EINVAL, "Request must specify run_uuid.");
    cap_json_get_str(req->msg, "path", false, &rel, NULL);
    if (!rel || !*rel)
        return cap_err(err, CAP_EINVAL, "Request must specify path.");
    if (blob_check_path(rel, 0, err) < 0)
        return invalid_path(resp, err);
    if (req->body_len > UPLOAD_ARTIFACT_MAX)
        return cap_err(err, CAP_EINVAL, "Artifact size is too large. Max size is 10MB.");
    if (req->body_len == 0)
        return cap_err(err, CAP_EINVAL, "Request must specify data.");
    cJSON *run = NULL;
    int rc = api_run_id(req->msg, &run_id, err);
    if (rc < 0 || (rc = store_run_get(env->store, run_id, &run, err)) < 0)
        return rc;
    char owner[96], *root = NULL;
    snprintf(owner, sizeof owner, "Run %s", run_id);
    rc = uri_root(info_uri(run), owner, &root, err);
    cJSON_Delete(run);
    if (rc < 0)
        return rc;
    char *path = join(root, rel);
    free(root);
    struct blob_writer *w;
    if ((rc = blob_check_path(path, 0, err)) == 0 &&
        (rc = blob_write_open(env->blob, path, &w, err)) == 0) {
        if ((rc = blob_write(w, req->body, req->body_len, err)) < 0)
            blob_write_abort(w);
        else
            rc = blob_write_commit(w, err);
    }
    free(path);
    if (rc == 0)
        resp->json = cJSON_CreateObject();
    return rc;
}

static int mpu_unsupported(const struct api_env *env, const struct api_request *req,
                           struct api_response *resp, struct cap_error *err)
{
    /* This exact wording makes the mlflow client fall back to a plain PUT. */
    return cap_err(err, CAP_ENOTIMPL,
                   "Multipart upload is not supported for the current artifact repository");
}

#define A "/api/2.0/mlflow-artifacts/"
const struct api_route api_artifact_routes[] = {
    {"GET", A "artifacts", API_BODY_JSON, list, NULL, API_ACCESS(ARTIFACT_PATH, READ)},
    {"PUT", A "artifacts/*", API_BODY_STREAM, NULL, &upload_ops, API_ACCESS(ARTIFACT_PATH, UPDATE)},
    {"GET", A "artifacts/*", API_BODY_NONE, download, NULL, API_ACCESS(ARTIFACT_PATH, READ)},
    {"DELETE", A "artifacts/*", API_BODY_JSON, delete_artifact, NULL, API_ACCESS(ARTIFACT_PATH, DELETE)},
    {"POST", A "mpu/create/*", API_BODY_JSON, mpu_unsupported, NULL, API_ACCESS(ARTIFACT_PATH, UPDATE)},
    {"POST", A "mpu/complete/*", API_BODY_JSON, mpu_unsupported, NULL, API_ACCESS(ARTIFACT_PATH, UPDATE)},
    {"POST", A "mpu/abort/*", API_BODY_JSON, mpu_unsupported, NULL, API_ACCESS(ARTIFACT_PATH, UPDATE)},
    {"GET", "/api/2.0/mlflow/artifacts/list", API_BODY_JSON, run_list, NULL, API_ACCESS(RUN, READ)},
    {"GET", "/get-artifact", API_BODY_JSON, run_get_artifact, NULL, API_ACCESS(RUN, READ)},
    {"GET", "/model-versions/get-artifact", API_BODY_JSON, model_version_get_artifact, NULL, API_ACCESS(MODEL, READ)},
    /* MLflow's own test asks with a doubled slash, which its server merges */
    {"GET", "//model-versions/get-artifact", API_BODY_JSON, model_version_get_artifact, NULL, API_ACCESS(MODEL, READ)},
    {"POST", "/api/2.0/mlflow/upload-artifact", API_BODY_RAW, upload_artifact, NULL, API_ACCESS(RUN, UPDATE)},
    {"GET", "/api/2.0/mlflow/logged-models/{model_id}/artifacts/directories", API_BODY_JSON,
     logged_model_list, NULL, API_ACCESS(LOGGED_MODEL, READ)},
    {"GET", "/api/2.0/mlflow/logged-models/{model_id}/artifacts/files", API_BODY_JSON,
     logged_model_get_artifact, NULL, API_ACCESS(LOGGED_MODEL, READ)},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
