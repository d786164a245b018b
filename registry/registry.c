/* registry.c - version sources, alias names, and ONNX inspection
 * of registered models. */
#include "registry/registry.h"

#include <capstan/infer.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/buf.h"
#include "blob/blob.h"
#include "track/validate.h"

static const char accepted[] =
    "expected a location inside Capstan's artifact store: mlflow-artifacts:/<path>, "
    "runs:/<run_id>/<path> or models:/<model_id>";

static int bad_source(const char *what, const char *source, const char *why,
                      struct cap_error *err)
{
    return cap_err(err, CAP_EINVAL, "Invalid %s '%.300s': %s; %s", what, source, why, accepted);
}

void registry_source_clear(struct registry_source *src)
{
    free(src->id);
    free(src->path);
    src->id = NULL;
    src->path = NULL;
}

/* A path inside the store: "" is allowed (the root of a run or model). */
static int source_path(const char *what, const char *source, const char *p,
                       struct registry_source *out, struct cap_error *err)
{
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    out->path = cap_xstrndup(p, n);
    struct cap_error perr;
    if (n > 0 && blob_check_path(out->path, 0, &perr) < 0) {
        registry_source_clear(out);
        return bad_source(what, source, perr.msg, err);
    }
    return 0;
}

int registry_parse_source(const char *source, const char *what, struct registry_source *out,
                          struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    if (!source || !*source)
        return cap_err(err, CAP_EINVAL, "Missing value for required parameter 'source'; %s",
                       accepted);
    /* Escapes, backslashes, queries and fragments have no place in a store
     * location; refusing them outright closes the encoded-traversal class. */
    for (const char *c = source; *c; c++) {
        if (*c == '%' || *c == '\\' || *c == '?' || *c == '#' || *c == ';' ||
            (unsigned char)*c < 0x20 || *c == 0x7f)
            return bad_source(what, source, "percent-escapes, backslashes, '?', '#', ';' and control "
                                      "characters are not allowed",
                              err);
    }
    static const char art[] = "mlflow-artifacts:", runs[] = "runs:/", models[] = "models:/";
    if (strncmp(source, art, sizeof art - 1) == 0) {
        const char *p = source + sizeof art - 1;
        if (strncmp(p, "//", 2) == 0) {
            /* mlflow-artifacts://host/... names another server unless the host is empty */
            if (p[2] != '/')
                return bad_source(what, source, "a host in the URI points outside this server", err);
            p += 2;
        }
        while (*p == '/')
            p++;
        out->kind = REGISTRY_SOURCE_ARTIFACTS;
        if (!*p)
            return bad_source(what, source, "the path is empty", err);
        return source_path(what, source, p, out, err);
    }
    if (strncmp(source, runs, sizeof runs - 1) == 0) {
        const char *p = source + sizeof runs - 1;
        size_t idlen = strcspn(p, "/");
        out->kind = REGISTRY_SOURCE_RUN;
        out->id = cap_xstrndup(p, idlen);
        if (validate_run_id(out->id, NULL) < 0) {
            registry_source_clear(out);
            return bad_source(what, source, "the run ID is not valid", err);
        }
        return source_path(what, source, p[idlen] ? p + idlen + 1 : "", out, err);
    }
    if (strncmp(source, models, sizeof models - 1) == 0) {
        const char *p = source + sizeof models - 1;
        size_t idlen = strcspn(p, "/");
        out->kind = REGISTRY_SOURCE_LOGGED_MODEL;
        out->id = cap_xstrndup(p, idlen);
        bool ok = idlen > 2 && idlen <= 66 && strncmp(out->id, "m-", 2) == 0;
        for (size_t i = 2; ok && i < idlen; i++)
            ok = isxdigit((unsigned char)out->id[i]);
        if (!ok) {
            registry_source_clear(out);
            return bad_source(what, source, "models:/ sources must name a logged model (m-<hex>)", err);
        }
        return source_path(what, source, p[idlen] ? p + idlen + 1 : "", out, err);
    }
    return bad_source(what, source, "local paths, file: URIs and other schemes or hosts are refused", err);
}

int registry_check_alias(const char *alias, struct cap_error *err)
{
    size_t n = alias ? strlen(alias) : 0;
    if (n == 0 || n > 255)
        return cap_err(err, CAP_EINVAL,
                       "Invalid alias '%.300s': an alias must have 1 to 255 characters", alias ? alias : "");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)alias[i];
        if (!(isalnum(c) || c == '_' || c == '-'))
            return cap_err(err, CAP_EINVAL,
                           "Invalid alias '%.300s': aliases may only contain letters, digits, "
                           "'_' and '-'",
                           alias);
    }
    if (strcasecmp(alias, "latest") == 0)
        return cap_err(err, CAP_EINVAL, "Invalid alias '%s': 'latest' is reserved", alias);
    if ((alias[0] == 'v' || alias[0] == 'V') && n > 1) {
        size_t i = 1;
        while (i < n && isdigit((unsigned char)alias[i]))
            i++;
        if (i == n)
            return cap_err(err, CAP_EINVAL,
                           "Invalid alias '%s': aliases of the form v<number> are reserved for "
                           "version references",
                           alias);
    }
    return 0;
}

int registry_check_model_name(const char *name, struct cap_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return cap_err(err, CAP_EINVAL, "Registered model name cannot be empty");
    if (n > 256)
        return cap_err(err, CAP_EINVAL,
                       "Registered model name '%.60s...' is %zu characters long; the limit is 256",
                       name, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return cap_err(err, CAP_EINVAL,
                           "Registered model name '%.100s' contains a control character", name);
    return 0;
}

int registry_check_version(const char *version, struct cap_error *err)
{
    const char *v = version ? version : "";
    size_t n = strlen(v), sign = v[0] == '-' || v[0] == '+';
    bool digits = n > sign && strspn(v + sign, "0123456789") == n - sign;
    if (!digits) /* MLflow's words for what int() does not take */
        return cap_err(err, CAP_EINVAL, "Parameter 'version' must be an integer, got '%.60s'.", v);
    if (sign || n > 18 || v[0] == '0')
        return cap_err(err, CAP_EINVAL,
                       "Invalid model version '%.60s': expected a positive integer", v);
    return 0;
}

/* ---- ONNX inspection ---- */

static char *join(const char *a, const char *b)
{
    struct cap_buf buf;
    cap_buf_init(&buf);
    if (*a) {
        cap_buf_puts(&buf, a);
        cap_buf_putc(&buf, '/');
    }
    cap_buf_puts(&buf, b);
    return cap_buf_steal(&buf);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The ONNX file an MLmodel names under flavors: onnx: data: <file>. A line
 * scan is enough for the files mlflow writes; anything else falls back to
 * looking for *.onnx in the directory. */
static char *mlmodel_onnx_file(struct blob *b, const char *dir)
{
    char *path = join(dir, "MLmodel");
    int fd;
    uint64_t size;
    struct cap_error err;
    int rc = blob_open_read(b, path, &fd, &size, &err);
    free(path);
    if (rc < 0)
        return NULL;
    char text[65536];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    text[n] = '\0';
    const char *onnx = strstr(text, "\n  onnx:");
    if (!onnx)
        return NULL;
    for (const char *line = strchr(onnx + 1, '\n'); line; line = strchr(line + 1, '\n')) {
        const char *l = line + 1;
        int indent = 0;
        while (l[indent] == ' ')
            indent++;
        if (indent <= 2 && l[indent] != '\0' && l[indent] != '\n')
            break; /* left the onnx flavor */
        if (strncmp(l + indent, "data:", 5) == 0) {
            const char *v = l + indent + 5;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r\n");
            while (len && v[len - 1] == ' ')
                len--;
            if (len == 0)
                return NULL;
            char *file = cap_xstrndup(v, len);
            if (file[0] == '"' || file[0] == '\'') {
                size_t fl = strlen(file);
                memmove(file, file + 1, fl);
                if (fl >= 2)
                    file[fl - 2] = '\0';
            }
            return file;
        }
    }
    return NULL;
}

static cJSON *value_infos(const infer_model *m, bool inputs)
{
    cJSON *arr = cJSON_CreateArray();
    int n = inputs ? infer_input_count(m) : infer_output_count(m);
    for (int i = 0; i < n; i++) {
        infer_value_info vi;
        if ((inputs ? infer_input_info(m, i, &vi) : infer_output_info(m, i, &vi)) != 0)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", vi.name ? vi.name : "");
        cJSON_AddStringToObject(o, "datatype", infer_type_name(vi.type));
        cJSON_AddStringToObject(o, "kind", vi.kind == INFER_KIND_SEQ_MAP ? "seq_map" : "tensor");
        if (vi.ndim >= 0) {
            cJSON *shape = cJSON_AddArrayToObject(o, "shape");
            for (int d = 0; d < vi.ndim; d++) {
                if (vi.dims[d] >= 0)
                    cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)vi.dims[d]));
                else if (vi.dim_names && vi.dim_names[d])
                    cJSON_AddItemToArray(shape, cJSON_CreateString(vi.dim_names[d]));
                else
                    cJSON_AddItemToArray(shape, cJSON_CreateNumber(-1));
            }
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

int registry_inspect_model(struct blob *b, const char *relpath, cJSON **metadata, char **failure)
{
    *metadata = NULL;
    *failure = NULL;
    struct cap_error err;
    char *file = NULL;
    char *dir = NULL;
    cJSON *list = NULL;
    if (*relpath && blob_list(b, relpath, &list, &err) == 0 && cJSON_GetArraySize(list) > 0) {
        dir = cap_xstrdup(relpath);
        char *named = mlmodel_onnx_file(b, relpath);
        if (named) {
            file = join(relpath, named);
            free(named);
        } else {
            const cJSON *f;
            cJSON_ArrayForEach(f, list)
            {
                const cJSON *p = cJSON_GetObjectItemCaseSensitive(f, "path");
                if (cJSON_IsString(p) && ends_with(p->valuestring, ".onnx") &&
                    !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "is_dir"))) {
                    file = join(relpath, p->valuestring);
                    break;
                }
            }
        }
    } else if (ends_with(relpath, ".onnx")) {
        file = cap_xstrdup(relpath);
        const char *slash = strrchr(relpath, '/');
        dir = slash ? cap_xstrndup(relpath, (size_t)(slash - relpath)) : cap_xstrdup("");
    }
    cJSON_Delete(list);
    if (!file) {
        free(dir);
        return 0; /* not an ONNX model, or nothing there yet: nothing to record */
    }
    struct cap_buf msg;
    cap_buf_init(&msg);
    int fd = -1;
    uint64_t size = 0;
    if (blob_check_path(file, 0, &err) < 0 || blob_open_read(b, file, &fd, &size, &err) < 0) {
        cap_buf_printf(&msg, "The model file '%s' cannot be read: %s", file, err.msg);
        goto fail;
    }
    if (size == 0) {
        cap_buf_printf(&msg, "The model file '%s' is empty: it is not an ONNX model", file);
        goto fail;
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        cap_buf_printf(&msg, "The model file '%s' cannot be mapped", file);
        goto fail;
    }
    char *base = join(blob_root(b), dir);
    infer_model *m = NULL;
    infer_error ierr = {0};
    int rc = infer_load_buffer(map, size, base, &m, &ierr);
    munmap(map, size);
    free(base);
    cJSON *meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "format", "onnx");
    cJSON_AddStringToObject(meta, "file", file);
    cJSON_AddNumberToObject(meta, "size_bytes", (double)size);
    if (rc == INFER_EUNSUPPORTED) {
        /* A valid model that uses operators the runtime lacks: registered,
         * but marked as not servable by Capstan, with the reason. */
        cJSON_AddBoolToObject(meta, "servable", false);
        cJSON_AddStringToObject(meta, "reason", ierr.msg);
    } else if (rc != 0) {
        cJSON_Delete(meta);
        cap_buf_printf(&msg, "The file '%s' is not a readable ONNX model: %s", file, ierr.msg);
        goto fail;
    } else {
        cJSON_AddBoolToObject(meta, "servable", true);
        if (infer_producer(m))
            cJSON_AddStringToObject(meta, "producer", infer_producer(m));
        cJSON *ops = cJSON_AddObjectToObject(meta, "opsets");
        int64_t v = infer_opset(m, "");
        if (v > 0)
            cJSON_AddNumberToObject(ops, "ai.onnx", (double)v);
        v = infer_opset(m, "ai.onnx.ml");
        if (v > 0)
            cJSON_AddNumberToObject(ops, "ai.onnx.ml", (double)v);
        cJSON_AddItemToObject(meta, "inputs", value_infos(m, true));
        cJSON_AddItemToObject(meta, "outputs", value_infos(m, false));
        infer_model_free(m);
    }
    close(fd);
    free(file);
    free(dir);
    *metadata = meta;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    free(file);
    free(dir);
    *failure = cap_buf_steal(&msg);
    return 0;
}
