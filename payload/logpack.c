/* logpack.c - the prediction log's on-disk form of a request's tensors: a
 * compact binary pack (names, types, shapes and raw little-endian
 * elements) written on the request path with one memcpy per tensor, and
 * turned into JSON only when somebody reads the log. Formatting JSON on
 * every request cost a third of the serving throughput.
 *
 * Layout: "CPK1", u32 count, then per tensor: u32 name length, name, i32
 * element type, i32 ndim, i64 dims[ndim], u64 byte length, bytes. String
 * elements are stored as u32 length + bytes each. */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "payload/payload.h"

static void put_u32(struct cap_buf *b, uint32_t v)
{
    cap_buf_append(b, &v, sizeof v);
}

void payload_log_pack(const infer_model *m, bool inputs, const infer_tensor *t, int n,
                    struct cap_buf *b)
{
    cap_buf_append(b, "CPK1", 4);
    put_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        infer_value_info vi;
        const char *name = (inputs ? infer_input_info(m, i, &vi) : infer_output_info(m, i, &vi)) == 0
                               ? vi.name
                               : "";
        put_u32(b, (uint32_t)strlen(name));
        cap_buf_puts(b, name);
        int32_t type = t[i].type, ndim = t[i].ndim;
        cap_buf_append(b, &type, sizeof type);
        cap_buf_append(b, &ndim, sizeof ndim);
        cap_buf_append(b, t[i].dims, (size_t)ndim * sizeof t[i].dims[0]);
        int64_t count = infer_tensor_count(&t[i]);
        if (t[i].type == INFER_STRING) {
            struct cap_buf s;
            cap_buf_init(&s);
            char *const *str = (char *const *)t[i].data;
            for (int64_t k = 0; k < count; k++) {
                put_u32(&s, (uint32_t)strlen(str[k]));
                cap_buf_puts(&s, str[k]);
            }
            uint64_t len = s.len;
            cap_buf_append(b, &len, sizeof len);
            cap_buf_append(b, s.data, s.len);
            cap_buf_free(&s);
        } else {
            uint64_t len = (uint64_t)count * infer_type_size(t[i].type);
            cap_buf_append(b, &len, sizeof len);
            cap_buf_append(b, t[i].data, (size_t)len);
        }
    }
}

struct reader {
    const unsigned char *p, *end;
};

static bool take(struct reader *r, void *out, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    memcpy(out, r->p, n);
    r->p += n;
    return true;
}

static void tensor_release(infer_tensor *t)
{
    if (t->type == INFER_STRING && t->data) {
        char **str = t->data;
        for (int64_t k = 0, n = infer_tensor_count(t); k < n; k++)
            free(str[k]);
    }
    free(t->data);
    t->data = NULL;
}

/* The strings of a packed INFER_STRING tensor as owned char *s. */
static bool read_strings(const unsigned char *p, uint64_t len, int64_t count, infer_tensor *t)
{
    struct reader s = {p, p + len};
    if ((uint64_t)count > len / 4 + 1)
        return false;
    char **ptrs = cap_xcalloc((size_t)(count > 0 ? count : 1), sizeof *ptrs);
    t->data = ptrs;
    for (int64_t k = 0; k < count; k++) {
        uint32_t n;
        if (!take(&s, &n, sizeof n) || n > (size_t)(s.end - s.p))
            return false; /* the caller releases what was read */
        ptrs[k] = cap_xstrndup((const char *)s.p, n);
        s.p += n;
    }
    return true;
}

/* Reads one packed tensor after its name into t, its data malloc'd: the
 * pack has no alignment, so elements are copied out before being read. */
static bool read_tensor(struct reader *r, infer_tensor *t)
{
    int32_t type, ndim;
    if (!take(r, &type, sizeof type) || !take(r, &ndim, sizeof ndim) || ndim < 0 ||
        ndim > INFER_MAX_DIMS)
        return false;
    *t = (infer_tensor){.type = type, .ndim = ndim};
    if (!take(r, t->dims, (size_t)ndim * sizeof t->dims[0]))
        return false;
    uint64_t len;
    if (!take(r, &len, sizeof len) || len > (uint64_t)(r->end - r->p))
        return false;
    int64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (t->dims[d] < 0 || (t->dims[d] > 0 && count > INT64_MAX / t->dims[d]))
            return false;
        count *= t->dims[d];
    }
    if (type == INFER_STRING) {
        if (!read_strings(r->p, len, count, t)) {
            tensor_release(t);
            return false;
        }
    } else {
        size_t es = infer_type_size(type);
        if (es == 0 || (uint64_t)count * es != len)
            return false;
        t->data = cap_xmalloc(len ? (size_t)len : 1);
        memcpy(t->data, r->p, (size_t)len);
    }
    r->p += len;
    return true;
}

int payload_log_walk(const void *blob, size_t len, payload_log_fn fn, void *cls)
{
    struct reader r = {blob, (const unsigned char *)blob + len};
    char magic[4];
    uint32_t n;
    if (!blob || !take(&r, magic, 4) || memcmp(magic, "CPK1", 4) != 0 || !take(&r, &n, sizeof n))
        return -1;
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        uint32_t nl;
        if (!take(&r, &nl, sizeof nl) || nl > (size_t)(r.end - r.p))
            return -1;
        char *name = cap_xstrndup((const char *)r.p, nl);
        r.p += nl;
        infer_tensor t;
        if (!read_tensor(&r, &t)) {
            free(name);
            return -1;
        }
        rc = fn(cls, name, &t);
        tensor_release(&t);
        free(name);
    }
    return rc;
}

static int tensor_json(void *cls, const char *name, const infer_tensor *t)
{
    struct cap_buf *out = cls;
    cJSON *js = cJSON_CreateString(name);
    char *q = cJSON_PrintUnformatted(js);
    cJSON_Delete(js);
    cap_buf_printf(out, "%s%s:", out->len > 1 ? "," : "", q);
    free(q);
    payload_write_json_data(out, t);
    return 0;
}

char *payload_log_unpack_json(const void *blob, size_t len)
{
    struct cap_buf out;
    cap_buf_init(&out);
    cap_buf_putc(&out, '{');
    if (payload_log_walk(blob, len, tensor_json, &out) != 0) {
        cap_buf_free(&out);
        return NULL;
    }
    cap_buf_putc(&out, '}');
    return cap_buf_steal(&out);
}

cJSON *payload_log_unpack(const void *blob, size_t len)
{
    char *text = payload_log_unpack_json(blob, len);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    return j;
}
