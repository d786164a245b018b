/* signature.c - the column names of an MLflow model's signature, read from
 * its MLmodel file (registry.h, registry_signature_columns).
 *
 * MLmodel is YAML, but mlflow writes the signature in one shape:
 *   signature:
 *     inputs: '[{"type": "double", "name": "a", "required": true}, ...]'
 * a JSON list as a single-quoted scalar ('' for a quote), which PyYAML
 * folds over several more-indented lines when it is long (a line break
 * reads as one space). That shape is read here without a YAML library;
 * anything else (a tensor signature, no signature, another layout) gives
 * no names, and the caller falls back to f0..fn-1. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "blob/blob.h"
#include "registry/registry.h"

/* The MLmodel beside model_file, as text (NULL when there is none). */
static char *read_mlmodel(struct blob *b, const char *model_file)
{
    struct cap_buf path;
    cap_buf_init(&path);
    const char *slash = strrchr(model_file, '/');
    if (slash)
        cap_buf_printf(&path, "%.*s/", (int)(slash - model_file), model_file);
    cap_buf_puts(&path, "MLmodel");
    int fd;
    uint64_t size;
    struct cap_error err;
    int rc = blob_open_read(b, path.data, &fd, &size, &err);
    cap_buf_free(&path);
    if (rc < 0)
        return NULL;
    if (size > (1u << 20)) { /* an MLmodel is a few kB */
        close(fd);
        return NULL;
    }
    char *text = cap_xmalloc((size_t)size + 1);
    size_t got = 0;
    ssize_t n;
    while (got < size && (n = read(fd, text + got, (size_t)size - got)) > 0)
        got += (size_t)n;
    close(fd);
    text[got] = '\0';
    return text;
}

/* The single-quoted scalar starting at p (just after the quote), unfolded;
 * NULL when it does not end. */
static char *unquote(const char *p)
{
    struct cap_buf out;
    cap_buf_init(&out);
    for (; *p; p++) {
        if (*p == '\'' && p[1] == '\'') {
            cap_buf_putc(&out, '\'');
            p++;
        } else if (*p == '\'') {
            return cap_buf_steal(&out);
        } else if (*p == '\n') {
            while (p[1] == ' ')
                p++;
            cap_buf_putc(&out, ' ');
        } else if (*p != '\r') {
            cap_buf_putc(&out, *p);
        }
    }
    cap_buf_free(&out);
    return NULL;
}

/* The "inputs:" value under "signature:", as JSON text. */
static char *inputs_json(const char *text)
{
    const char *sig = strstr(text, "\nsignature:");
    if (!sig && strncmp(text, "signature:", 10) == 0)
        sig = text;
    const char *in = sig ? strstr(sig, "\n  inputs: '") : NULL;
    if (!in)
        return NULL;
    /* it must be within the signature block: no top-level key between */
    for (const char *l = strchr(sig + 1, '\n'); l && l < in; l = strchr(l + 1, '\n'))
        if (l[1] != ' ' && l[1] != '\n')
            return NULL;
    return unquote(in + strlen("\n  inputs: '"));
}

int registry_signature_columns(struct blob *b, const char *model_file, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    char *text = read_mlmodel(b, model_file);
    char *json = text ? inputs_json(text) : NULL;
    cJSON *list = json ? cJSON_Parse(json) : NULL;
    free(text);
    free(json);
    int count = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    char **out = cap_xcalloc((size_t)count + 1, sizeof *out);
    size_t k = 0;
    const cJSON *col;
    const cJSON *arr = cJSON_IsArray(list) ? list : NULL;
    cJSON_ArrayForEach(col, arr)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(col, "type");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(col, "name");
        if (!cJSON_IsString(name) || (cJSON_IsString(type) && !strcmp(type->valuestring, "tensor")))
            break; /* a tensor signature, or an unnamed column: no names */
        out[k++] = cap_xstrdup(name->valuestring);
    }
    cJSON_Delete(list);
    if (k == 0 || k != (size_t)count) {
        while (k)
            free(out[--k]);
        free(out);
        return 0;
    }
    *names = out;
    *n = k;
    return 0;
}
