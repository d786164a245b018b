/* source_store.c - deployments and models straight from the local store and
 * artifact directory (capstan server). Model files are the ONNX file the
 * registry found at registration (the version's metadata "file"), mapped
 * and handed to the runtime. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/buf.h"
#include "blob/blob.h"
#include "serve/serve.h"
#include "store/store.h"

static int st_list(void *cls, cJSON **out, struct cap_error *err)
{
    struct serve_store_source *src = cls;
    return store_deployment_list(src->store, out, err);
}

static int st_resolve(void *cls, const char *name, const char *alias, const char *version,
                      char **out_version, struct cap_error *err)
{
    struct serve_store_source *src = cls;
    cJSON *found = NULL;
    int rc;
    *out_version = NULL;
    bool latest = serve_ref_is_latest(alias, version);
    if (latest) /* the latest READY version per stage */
        rc = store_registered_model_latest_versions(src->store, name, NULL, 0, &found, err);
    else if (alias)
        rc = store_alias_get(src->store, name, alias, &found, err);
    else
        rc = store_model_version_get(src->store, name, version, &found, err);
    if (rc == 0)
        rc = serve_ref_pick(name, latest, found, out_version, err);
    cJSON_Delete(found);
    return rc;
}

static int st_load(void *cls, const char *name, const char *version, infer_model **out,
                   struct cap_error *err)
{
    struct serve_store_source *src = cls;
    cJSON *meta = NULL;
    *out = NULL;
    int rc = store_model_version_metadata(src->store, name, version, &meta, err);
    if (rc < 0)
        return rc;
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(meta, "file");
    const cJSON *servable = cJSON_GetObjectItemCaseSensitive(meta, "servable");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(meta, "reason");
    /* the reason recorded at registration first: it says why there is no file */
    if (cJSON_IsFalse(servable)) {
        rc = cap_err(err, CAP_EINVAL, "Model version %s/%s cannot be served: %s", name, version,
                     cJSON_IsString(reason) ? reason->valuestring : "unsupported model");
        cJSON_Delete(meta);
        return rc;
    }
    if (!cJSON_IsString(file)) {
        cJSON_Delete(meta);
        return cap_err(err, CAP_EINVAL,
                       "Model version %s/%s has no ONNX model file: Capstan serves ONNX models "
                       "(log one with mlflow.onnx.log_model)",
                       name, version);
    }
    char *rel = cap_xstrdup(file->valuestring);
    cJSON_Delete(meta);
    int fd = -1;
    uint64_t size = 0;
    if ((rc = blob_open_read(src->blob, rel, &fd, &size, err)) < 0) {
        rc = cap_err(err, CAP_EINVAL, "Model file of %s/%s cannot be read: %s", name, version,
                     err->msg);
        free(rel);
        return rc;
    }
    void *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) {
        free(rel);
        return cap_err(err, CAP_EINVAL, "Model file of %s/%s is empty or cannot be mapped", name,
                       version);
    }
    struct cap_buf dir;
    cap_buf_init(&dir);
    cap_buf_puts(&dir, blob_root(src->blob));
    const char *slash = strrchr(rel, '/');
    if (slash) {
        cap_buf_putc(&dir, '/');
        cap_buf_append(&dir, rel, (size_t)(slash - rel));
    }
    infer_error ierr = {0};
    rc = infer_load_buffer(map, size, dir.data, out, &ierr);
    munmap(map, size);
    cap_buf_free(&dir);
    free(rel);
    if (rc < 0)
        return cap_err(err, CAP_EINVAL, "Model version %s/%s failed to load: %s", name, version,
                       ierr.msg);
    return 0;
}

const struct serve_source_ops serve_store_ops = {
    .list = st_list,
    .resolve = st_resolve,
    .load = st_load,
};
