/* oip.c - Open Inference Protocol v2 REST bodies: the infer request
 * (JSON tensors, flat or nested, and the binary tensor data extension) into
 * the model's input tensors, and the infer response out of its outputs.
 *
 * The request is checked completely against the model before any tensor is
 * allocated: datatypes must be the model's (OIP converts nothing), shapes
 * must fit its declared dims, and a tensor's memory is only allocated once
 * the data actually present (JSON values, or binary bytes that lie inside
 * the body) proves its size, so a client's numbers never size an
 * allocation by themselves. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload/internal.h"

#define BAD(...) cap_err(err, CAP_EINVAL, __VA_ARGS__)

/* A JSON number that is a dimension or a byte count: integral, >= 0. */
static bool json_count(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
        return false;
    *out = (int64_t)d;
    return true;
}

/* ---- JSON tensor data ---- */

struct walk {
    const infer_value_info *vi;
    const int64_t *dims;
    int ndim;
    infer_tensor *t;  /* NULL: the counting / structure pass */
    int64_t n;        /* elements seen */
    struct cap_error *err;
};

static int put_elem(struct walk *w, const cJSON *v)
{
    struct cap_error *err = w->err;
    if (w->t) {
        const char *why = payload_elem_json(w->t->type, v, w->t->data, w->n, false);
        if (why) {
            char pv[64];
            return BAD("input '%.*s': element %lld (%s) %s; the datatype is %s",
                       payload_ql(w->vi->name), w->vi->name, (long long)w->n,
                       payload_preview(pv, sizeof pv, v), why, payload_oip_datatype(w->t->type));
        }
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        char pv[64];
        return BAD("input '%.*s': element %lld (%s) is not a value; data is either flat "
                   "or nested exactly as the shape",
                   payload_ql(w->vi->name), w->vi->name, (long long)w->n,
                   payload_preview(pv, sizeof pv, v));
    }
    w->n++;
    return 0;
}

/* Nested data: every array at depth k holds exactly dims[k] items. */
static int walk_nested(struct walk *w, const cJSON *a, int depth)
{
    struct cap_error *err = w->err;
    if (depth == w->ndim)
        return put_elem(w, a);
    char sh[160];
    if (!cJSON_IsArray(a)) {
        char pv[64];
        return BAD("input '%.*s': nested data does not match shape %s: found %s where an "
                   "array of %lld values belongs (depth %d)",
                   payload_ql(w->vi->name), w->vi->name,
                   payload_dims_str(sh, sizeof sh, w->dims, w->ndim),
                   payload_preview(pv, sizeof pv, a), (long long)w->dims[depth], depth);
    }
    if (!w->t) {
        int64_t have = 0;
        for (const cJSON *c = a->child; c; c = c->next)
            have++;
        if (have != w->dims[depth])
            return BAD("input '%.*s': nested data does not match shape %s: an array at depth "
                       "%d has %lld values, the shape says %lld",
                       payload_ql(w->vi->name), w->vi->name,
                       payload_dims_str(sh, sizeof sh, w->dims, w->ndim), depth,
                       (long long)have, (long long)w->dims[depth]);
    }
    for (const cJSON *c = a->child; c; c = c->next)
        if (walk_nested(w, c, depth + 1) < 0)
            return -CAP_EINVAL;
    return 0;
}

static int fill_json(const infer_value_info *vi, const cJSON *data, infer_tensor *t,
                     const int64_t *dims, int ndim, int64_t count, struct cap_error *err)
{
    char sh[160];
    if (!cJSON_IsArray(data))
        return BAD("input '%.*s': \"data\" must be an array", payload_ql(vi->name), vi->name);
    bool nested = data->child && cJSON_IsArray(data->child) && ndim > 1;
    struct walk w = {.vi = vi, .dims = dims, .ndim = ndim, .err = err};
    if (nested) {
        if (walk_nested(&w, data, 0) < 0)
            return -CAP_EINVAL;
    } else {
        for (const cJSON *c = data->child; c; c = c->next)
            if (put_elem(&w, c) < 0)
                return -CAP_EINVAL;
        if (w.n != count)
            return BAD("input '%.*s': shape %s needs %lld values, got %lld", payload_ql(vi->name),
                       vi->name, payload_dims_str(sh, sizeof sh, dims, ndim), (long long)count,
                       (long long)w.n);
    }
    /* the data holds count values: now the tensor may be allocated */
    payload_tensor_alloc(t, vi->type, ndim, dims, count);
    w.t = t;
    w.n = 0;
    int rc = 0;
    if (nested) {
        rc = walk_nested(&w, data, 0);
    } else {
        for (const cJSON *c = data->child; c && rc == 0; c = c->next)
            rc = put_elem(&w, c);
    }
    return rc < 0 ? -CAP_EINVAL : 0;
}

/* ---- binary tensor data ---- */

static int fill_binary(const infer_value_info *vi, const uint8_t *p, size_t size, infer_tensor *t,
                       const int64_t *dims, int ndim, int64_t count, struct cap_error *err)
{
    char sh[160];
    const char *dt = payload_oip_datatype(vi->type);
    if (vi->type == INFER_STRING) {
        /* each element is at least its 4-byte length */
        if ((uint64_t)count > size / 4)
            return BAD("input '%.*s': shape %s needs %lld BYTES elements, binary_data_size %zu "
                       "cannot hold them",
                       payload_ql(vi->name), vi->name, payload_dims_str(sh, sizeof sh, dims, ndim),
                       (long long)count, size);
        payload_tensor_alloc(t, vi->type, ndim, dims, count);
        char **s = t->data;
        size_t off = 0;
        for (int64_t i = 0; i < count; i++) {
            if (size - off < 4)
                return BAD("input '%.*s': BYTES element %lld is cut off: its length needs 4 "
                           "bytes, %zu are left",
                           payload_ql(vi->name), vi->name, (long long)i, size - off);
            uint32_t n = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
                         (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
            off += 4;
            if (n > size - off)
                return BAD("input '%.*s': BYTES element %lld says %u bytes, %zu are left",
                           payload_ql(vi->name), vi->name, (long long)i, n, size - off);
            if (memchr(p + off, '\0', n))
                return BAD("input '%.*s': BYTES element %lld contains a NUL byte, which this "
                           "model's string input cannot hold",
                           payload_ql(vi->name), vi->name, (long long)i);
            s[i] = cap_xstrndup((const char *)p + off, n);
            off += n;
        }
        if (off != size)
            return BAD("input '%.*s': %zu bytes of binary data are left after its %lld BYTES "
                       "elements (binary_data_size %zu)",
                       payload_ql(vi->name), vi->name, size - off, (long long)count, size);
        return 0;
    }
    size_t es = infer_type_size(vi->type);
    if (es == 0 || (uint64_t)count > size / es || (size_t)count * es != size)
        return BAD("input '%.*s': shape %s of %s needs %llu bytes of binary data, "
                   "binary_data_size is %zu",
                   payload_ql(vi->name), vi->name, payload_dims_str(sh, sizeof sh, dims, ndim),
                   dt ? dt : "?", (unsigned long long)count * (unsigned long long)es, size);
    payload_tensor_alloc(t, vi->type, ndim, dims, count);
    if (vi->type == INFER_BOOL) {
        uint8_t *d = t->data;
        for (size_t i = 0; i < size; i++)
            d[i] = p[i] != 0;
    } else if (size) {
        memcpy(t->data, p, size);
    }
    return 0;
}

/* ---- one request input ---- */

static int parse_input(const infer_model *m, const cJSON *in, int pos, const uint8_t *body,
                       size_t len, size_t *off, bool has_header, struct payload_request *out,
                       bool *seen, struct cap_error *err)
{
    char names[300], sh[160];
    if (!cJSON_IsObject(in))
        return BAD("inputs[%d] must be an object {\"name\", \"shape\", \"datatype\", \"data\"}",
                   pos);
    const cJSON *jn = cJSON_GetObjectItemCaseSensitive(in, "name");
    if (!cJSON_IsString(jn) || !jn->valuestring)
        return BAD("inputs[%d] needs a \"name\" string", pos);
    const char *name = jn->valuestring;
    int idx = infer_input_index(m, name);
    if (idx < 0)
        return BAD("unknown input '%.*s'; the model's inputs are %s", payload_ql(name), name,
                   payload_names(names, sizeof names, m, false));
    if (seen[idx])
        return BAD("input '%.*s' is given twice", payload_ql(name), name);
    seen[idx] = true;
    infer_value_info vi;
    infer_input_info(m, idx, &vi);

    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(in, "datatype");
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return BAD("input '%.*s' needs a \"datatype\" string", payload_ql(name), name);
    int type = payload_infer_type(jd->valuestring);
    const char *want = payload_oip_datatype(vi.type);
    if (type < 0)
        return BAD("input '%.*s': unknown datatype '%.*s'; the model expects %s", payload_ql(name),
                   name, payload_ql(jd->valuestring), jd->valuestring, want ? want : "?");
    if (vi.kind != INFER_KIND_TENSOR || !want)
        return BAD("input '%.*s': the model's input is not a tensor this server can feed",
                   payload_ql(name), name);
    if (type != vi.type)
        return BAD("input '%.*s' has datatype %s, the model expects %s", payload_ql(name), name,
                   jd->valuestring, want);

    const cJSON *js = cJSON_GetObjectItemCaseSensitive(in, "shape");
    if (!cJSON_IsArray(js))
        return BAD("input '%.*s' needs a \"shape\" array", payload_ql(name), name);
    int64_t dims[INFER_MAX_DIMS];
    int ndim = 0;
    for (const cJSON *c = js->child; c; c = c->next) {
        if (ndim == INFER_MAX_DIMS)
            return BAD("input '%.*s': shape has more than %d dimensions", payload_ql(name), name,
                       INFER_MAX_DIMS);
        if (!json_count(c, &dims[ndim]))
            return BAD("input '%.*s': shape must hold non-negative integers", payload_ql(name),
                       name);
        ndim++;
    }
    int rc = payload_check_shape(&vi, dims, ndim, err, CAP_EINVAL);
    if (rc < 0)
        return rc;
    int64_t count = payload_count(dims, ndim);
    if (count < 0)
        return BAD("input '%.*s': shape %s is too large", payload_ql(name), name,
                   payload_dims_str(sh, sizeof sh, dims, ndim));

    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(in, "parameters");
    const cJSON *jsize = cJSON_IsObject(jp) ? cJSON_GetObjectItemCaseSensitive(jp, "binary_data_size") : NULL;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
    infer_tensor *t = &out->inputs[idx];
    if (jp && !cJSON_IsObject(jp) && !cJSON_IsNull(jp))
        return BAD("input '%.*s': \"parameters\" must be an object", payload_ql(name), name);
    if (jsize) {
        int64_t size;
        if (!json_count(jsize, &size))
            return BAD("input '%.*s': binary_data_size must be a non-negative integer",
                       payload_ql(name), name);
        if (!has_header)
            return BAD("input '%.*s' has binary_data_size but the request has no "
                       "Inference-Header-Content-Length header saying where the JSON ends",
                       payload_ql(name), name);
        if (data)
            return BAD("input '%.*s' has both \"data\" and binary_data_size", payload_ql(name),
                       name);
        if ((uint64_t)size > len - *off)
            return BAD("input '%.*s': binary_data_size %lld goes past the end of the body "
                       "(%zu bytes of binary data left)",
                       payload_ql(name), name, (long long)size, len - *off);
        const uint8_t *p = body + *off;
        *off += (size_t)size;
        return fill_binary(&vi, p, (size_t)size, t, dims, ndim, count, err);
    }
    if (!data)
        return BAD("input '%.*s' needs \"data\" (or parameters.binary_data_size)", payload_ql(name),
                   name);
    return fill_json(&vi, data, t, dims, ndim, count, err);
}

static int parse_outputs(const infer_model *m, const cJSON *jo, struct payload_request *out,
                         struct cap_error *err)
{
    char names[300];
    if (!cJSON_IsArray(jo))
        return BAD("\"outputs\" must be an array of {\"name\", \"parameters\"?}");
    int n = cJSON_GetArraySize(jo);
    int n_model = infer_output_count(m);
    if (n == 0)
        return 0;
    if (n > n_model)
        return BAD("\"outputs\" asks for %d outputs; the model has %d", n, n_model);
    out->outputs = cap_xcalloc((size_t)n, sizeof *out->outputs);
    out->binary = cap_xcalloc((size_t)n, sizeof *out->binary);
    int k = 0;
    for (const cJSON *o = jo->child; o; o = o->next, k++) {
        const cJSON *jn = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "name") : NULL;
        if (!cJSON_IsString(jn) || !jn->valuestring)
            return BAD("outputs[%d] needs a \"name\" string", k);
        int idx = infer_output_index(m, jn->valuestring);
        if (idx < 0)
            return BAD("unknown output '%.*s'; the model's outputs are %s",
                       payload_ql(jn->valuestring), jn->valuestring,
                       payload_names(names, sizeof names, m, true));
        for (int j = 0; j < k; j++)
            if (out->outputs[j] == idx)
                return BAD("output '%.*s' is asked for twice", payload_ql(jn->valuestring),
                           jn->valuestring);
        out->outputs[k] = idx;
        out->binary[k] = out->binary_all;
        const cJSON *jp = cJSON_GetObjectItemCaseSensitive(o, "parameters");
        if (jp && !cJSON_IsNull(jp)) {
            if (!cJSON_IsObject(jp))
                return BAD("output '%.*s': \"parameters\" must be an object",
                           payload_ql(jn->valuestring), jn->valuestring);
            const cJSON *jb = cJSON_GetObjectItemCaseSensitive(jp, "binary_data");
            if (jb) {
                if (!cJSON_IsBool(jb))
                    return BAD("output '%.*s': binary_data must be true or false",
                               payload_ql(jn->valuestring), jn->valuestring);
                out->binary[k] = cJSON_IsTrue(jb);
            }
            /* Triton's classification extension would change the output's
             * form; refusing beats silently answering something else */
            if (cJSON_GetObjectItemCaseSensitive(jp, "classification"))
                return BAD("output '%.*s': the classification extension is not supported",
                           payload_ql(jn->valuestring), jn->valuestring);
        }
    }
    out->n_outputs = n;
    return 0;
}

int payload_parse_oip(const infer_model *m, const void *body, size_t len, size_t json_len,
                      struct payload_request *out, struct cap_error *err)
{
    /* the common all-JSON bodies without a cJSON tree; whatever that path
     * declines (every error included) is read again below */
    if (json_len == 0 && payload_fast_oip(m, body, len, out) == 1)
        return 0;
    return payload_parse_oip_general(m, body, len, json_len, out, err);
}

int payload_parse_oip_general(const infer_model *m, const void *body, size_t len,
                              size_t json_len, struct payload_request *out,
                              struct cap_error *err)
{
    char names[300];
    memset(out, 0, sizeof *out);
    out->format = PAYLOAD_OIP;
    if (json_len > len)
        return BAD("Inference-Header-Content-Length is %zu but the body has only %zu bytes",
                   json_len, len);
    size_t jl = json_len ? json_len : len;
    size_t at = 0;
    cJSON *root = payload_parse_json(body, jl, &at);
    if (!root)
        return BAD("the request is not valid JSON (error at byte %zu)", at);
    int rc = 0;
    int n_in = infer_input_count(m);
    bool *seen = NULL;
    if (!cJSON_IsObject(root)) {
        rc = BAD("the request must be a JSON object {\"inputs\": [...]}");
        goto done;
    }
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (jid && !cJSON_IsNull(jid)) {
        if (!cJSON_IsString(jid) || !jid->valuestring) {
            rc = BAD("\"id\" must be a string");
            goto done;
        }
        out->id = cap_xstrdup(jid->valuestring);
    }
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(root, "parameters");
    if (jp && !cJSON_IsNull(jp)) {
        if (!cJSON_IsObject(jp)) {
            rc = BAD("\"parameters\" must be an object");
            goto done;
        }
        const cJSON *jb = cJSON_GetObjectItemCaseSensitive(jp, "binary_data_output");
        if (jb) {
            if (!cJSON_IsBool(jb)) {
                rc = BAD("parameters.binary_data_output must be true or false");
                goto done;
            }
            out->binary_all = cJSON_IsTrue(jb);
        }
    }
    const cJSON *jin = cJSON_GetObjectItemCaseSensitive(root, "inputs");
    if (!cJSON_IsArray(jin) || !jin->child) {
        rc = BAD("\"inputs\" must be a non-empty array; the model's inputs are %s",
                 payload_names(names, sizeof names, m, false));
        goto done;
    }
    out->n_inputs = n_in;
    out->inputs = cap_xcalloc((size_t)(n_in > 0 ? n_in : 1), sizeof *out->inputs);
    seen = cap_xcalloc((size_t)(n_in > 0 ? n_in : 1), sizeof *seen);
    size_t off = jl;
    int pos = 0;
    for (const cJSON *in = jin->child; in; in = in->next, pos++) {
        rc = parse_input(m, in, pos, body, len, &off, json_len > 0, out, seen, err);
        if (rc < 0)
            goto done;
    }
    if (off != len) {
        rc = BAD("the body has %zu bytes of binary data after the JSON, but the inputs' "
                 "binary_data_size add up to %zu",
                 len - jl, off - jl);
        goto done;
    }
    for (int i = 0; i < n_in; i++) {
        if (!seen[i]) {
            infer_value_info vi;
            infer_input_info(m, i, &vi);
            rc = BAD("input '%.*s' is missing; the model's inputs are %s", payload_ql(vi.name),
                     vi.name, payload_names(names, sizeof names, m, false));
            goto done;
        }
    }
    rc = payload_check_rows(m, out, err, CAP_EINVAL);
    if (rc < 0)
        goto done;
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(root, "outputs");
    if (jo && !cJSON_IsNull(jo))
        rc = parse_outputs(m, jo, out, err);
done:
    free(seen);
    cJSON_Delete(root);
    if (rc < 0)
        payload_request_free(out);
    return rc;
}

/* ---- the response ---- */

/* bytes the binary form of t takes */
static size_t binary_size(const infer_tensor *t)
{
    int64_t n = infer_tensor_count(t);
    if (t->type != INFER_STRING)
        return (size_t)n * infer_type_size(t->type);
    size_t s = 0;
    char *const *v = t->data;
    for (int64_t i = 0; i < n; i++)
        s += 4 + (v[i] ? strlen(v[i]) : 0);
    return s;
}

static void put_binary(struct cap_buf *b, const infer_tensor *t)
{
    int64_t n = infer_tensor_count(t);
    if (t->type != INFER_STRING) {
        cap_buf_append(b, t->data, (size_t)n * infer_type_size(t->type));
        return;
    }
    char *const *v = t->data;
    for (int64_t i = 0; i < n; i++) {
        size_t k = v[i] ? strlen(v[i]) : 0;
        uint8_t le[4] = {(uint8_t)k, (uint8_t)(k >> 8), (uint8_t)(k >> 16), (uint8_t)(k >> 24)};
        cap_buf_append(b, le, 4);
        cap_buf_append(b, v[i] ? v[i] : "", k);
    }
}

int payload_write_oip(const infer_model *m, const struct payload_request *req,
                      const char *model_name, const char *model_version, const infer_tensor *outs,
                      int n_out, struct cap_buf *body, size_t *json_len, struct cap_error *err)
{
    int n_send = req && req->n_outputs > 0 ? req->n_outputs : n_out;
    size_t start = body->len;
    bool any_binary = false;
    *json_len = 0;
    /* check first, so that a failure leaves nothing half written */
    for (int k = 0; k < n_send; k++) {
        int i = req && req->n_outputs > 0 ? req->outputs[k] : k;
        if (i < 0 || i >= n_out)
            return cap_err(err, CAP_EINTERNAL, "output %d was asked for but not computed", i);
        if (!payload_oip_datatype(outs[i].type) || (!outs[i].data && infer_tensor_count(&outs[i]) > 0))
            return cap_err(err, CAP_EINTERNAL, "output %d has type %d, which OIP cannot carry", i,
                           outs[i].type);
    }
    cap_buf_puts(body, "{\"model_name\":");
    payload_put_str(body, model_name ? model_name : "");
    if (model_version) {
        cap_buf_puts(body, ",\"model_version\":");
        payload_put_str(body, model_version);
    }
    if (req && req->id) {
        cap_buf_puts(body, ",\"id\":");
        payload_put_str(body, req->id);
    }
    cap_buf_puts(body, ",\"outputs\":[");
    for (int k = 0; k < n_send; k++) {
        int i = req && req->n_outputs > 0 ? req->outputs[k] : k;
        bool bin = req && (req->n_outputs > 0 ? req->binary[k] : req->binary_all);
        const infer_tensor *t = &outs[i];
        infer_value_info vi;
        const char *name = infer_output_info(m, i, &vi) == 0 ? vi.name : "";
        if (k)
            cap_buf_putc(body, ',');
        cap_buf_puts(body, "{\"name\":");
        payload_put_str(body, name);
        cap_buf_puts(body, ",\"datatype\":\"");
        cap_buf_puts(body, payload_oip_datatype(t->type));
        cap_buf_puts(body, "\",\"shape\":");
        payload_put_dims(body, t->dims, t->ndim);
        if (bin) {
            any_binary = true;
            cap_buf_puts(body, ",\"parameters\":{\"binary_data_size\":");
            payload_put_u64(body, binary_size(t));
            cap_buf_puts(body, "}}");
        } else {
            int64_t at = 0;
            cap_buf_puts(body, ",\"data\":");
            /* flat, row-major: what every OIP client reshapes from */
            int64_t flat = infer_tensor_count(t);
            payload_put_nested(body, t->type, t->data, &flat, 1, &at, PAYLOAD_NF_STRING);
            cap_buf_putc(body, '}');
        }
    }
    cap_buf_puts(body, "]}");
    if (any_binary) {
        *json_len = body->len - start;
        for (int k = 0; k < n_send; k++) {
            int i = req->n_outputs > 0 ? req->outputs[k] : k;
            if (req->n_outputs > 0 ? req->binary[k] : req->binary_all)
                put_binary(body, &outs[i]);
        }
    }
    return 0;
}
