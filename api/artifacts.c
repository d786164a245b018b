/* artifacts.c - MLflow's artifact proxy (/api/2.0/mlflow-artifacts/...):
 * upload by PUT (streamed to disk), download by GET (streamed from disk, as
 * an attachment), list, delete; plus the run-relative list that older clients
 * and the UI use. Every path goes through blob_check_path before the
 * filesystem sees it. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
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

static int download(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    char *path;
    int rc = tail_path(req, &path, err);
    if (rc < 0)
        return rc;
    int fd;
    uint64_t size;
    rc = blob_open_read(env->blob, path, &fd, &size, err);
    if (rc == 0) {
        const char *slash = strrchr(path, '/');
        resp->fd = fd;
        resp->fd_size = size;
        resp->attachment_name = cap_xstrdup(slash ? slash + 1 : path);
    }
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
    int rc = blob_check_path(path, 1, err);
    cJSON *files = NULL;
    if (rc < 0 || (rc = blob_list(env->blob, path, &files, err)) < 0)
        return rc;
    resp->json = api_wrap("files", files);
    return 0;
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

/* Maps a run's artifact_uri (mlflow-artifacts:/<exp>/<run>/artifacts) plus a
 * relative path to a path under the artifact root. */
static int run_artifact_path(const struct api_env *env, const cJSON *msg, char **out,
                             struct cap_error *err)
{
    const char *run_id, *rel = NULL;
    int rc = api_run_id(msg, &run_id, err);
    if (rc < 0 || (rc = cap_json_get_str(msg, "path", false, &rel, err)) < 0)
        return rc;
    cJSON *run = NULL;
    if ((rc = store_run_get(env->store, run_id, &run, err)) < 0)
        return rc;
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(run, "info"), "artifact_uri");
    static const char scheme[] = "mlflow-artifacts:";
    if (!cJSON_IsString(uri) || strncmp(uri->valuestring, scheme, sizeof scheme - 1) != 0) {
        cJSON_Delete(run);
        return cap_err(err, CAP_EINVAL,
                       "Run %s stores its artifacts outside Capstan's artifact store", run_id);
    }
    const char *root = uri->valuestring + sizeof scheme - 1;
    while (*root == '/')
        root++;
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_puts(&b, root);
    if (rel && *rel) {
        cap_buf_putc(&b, '/');
        cap_buf_puts(&b, rel);
    }
    cJSON_Delete(run);
    *out = cap_buf_steal(&b);
    return 0;
}

static int run_list(const struct api_env *env, const struct api_request *req,
                    struct api_response *resp, struct cap_error *err)
{
    char *path;
    int rc = run_artifact_path(env, req->msg, &path, err);
    if (rc < 0)
        return rc;
    rc = list_path(env, path, resp, err);
    free(path);
    if (rc == 0) {
        const char *rel = NULL;
        cap_json_get_str(req->msg, "path", false, &rel, NULL);
        /* This older API answers with paths relative to the run's root. */
        cJSON *f;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(resp->json, "files"))
        {
            cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
            if (rel && *rel && cJSON_IsString(p)) {
                struct cap_buf b;
                cap_buf_init(&b);
                cap_buf_printf(&b, "%s/%s", rel, p->valuestring);
                cJSON_SetValuestring(p, b.data);
                cap_buf_free(&b);
            }
        }
    }
    return rc;
}

static int run_get_artifact(const struct api_env *env, const struct api_request *req,
                            struct api_response *resp, struct cap_error *err)
{
    char *path;
    int rc = run_artifact_path(env, req->msg, &path, err);
    if (rc < 0)
        return rc;
    int fd;
    uint64_t size;
    if ((rc = blob_check_path(path, 0, err)) == 0 &&
        (rc = blob_open_read(env->blob, path, &fd, &size, err)) == 0) {
        const char *slash = strrchr(path, '/');
        resp->fd = fd;
        resp->fd_size = size;
        resp->attachment_name = cap_xstrdup(slash ? slash + 1 : path);
    }
    free(path);
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
    {"GET", A "artifacts", API_BODY_JSON, list, NULL},
    {"PUT", A "artifacts/*", API_BODY_STREAM, NULL, &upload_ops},
    {"GET", A "artifacts/*", API_BODY_NONE, download, NULL},
    {"DELETE", A "artifacts/*", API_BODY_JSON, delete_artifact, NULL},
    {"POST", A "mpu/create/*", API_BODY_JSON, mpu_unsupported, NULL},
    {"POST", A "mpu/complete/*", API_BODY_JSON, mpu_unsupported, NULL},
    {"POST", A "mpu/abort/*", API_BODY_JSON, mpu_unsupported, NULL},
    {"GET", "/api/2.0/mlflow/artifacts/list", API_BODY_JSON, run_list, NULL},
    {"GET", "/get-artifact", API_BODY_JSON, run_get_artifact, NULL},
    {NULL, NULL, API_BODY_JSON, NULL, NULL},
};
