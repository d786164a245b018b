/* fast.c - the common inference bodies read straight from their
 * bytes: OIP v2 JSON requests with numeric inputs, and MLflow's
 * {"inputs" | "instances": nested arrays} for a model with one numeric
 * input. Building a cJSON tree (one malloc per value) and running strtod on
 * every number cost more than the rest of a small request, so this path
 * builds no tree and converts numbers itself.
 *
 * The contract: 1 when the body was handled, with `out` exactly what the
 * general path (payload/oip.c, payload/scoring.c) makes of it; 0 on any
 * doubt, with `out` empty, and the general path then reads the body again
 * and says what is wrong. So this file never writes an error message, and
 * it declines everything it does not fully understand: escapes and control
 * characters in strings, keys it does not know or sees twice, parameters,
 * BOOL and BYTES data, number forms cJSON would read differently (leading
 * zeros, "1.", very long numbers), shape or row mismatches, values the
 * element type cannot hold, trailing bytes. The grammar accepted is strict
 * JSON, a subset of what cJSON accepts, so no body that the general path
 * refuses is ever handled here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/numfmt.h"
#include "payload/internal.h"

/* Values of one tensor kept on the stack by the first pass (4 KiB); a
 * larger tensor is read a second time, straight into its memory, once the
 * first pass has proved its size. */
#define FAST_VALUES 512
#define FAST_MAX_IO 64
/* cJSON copies a number into a 64-byte buffer before strtod in some
 * versions; longer numbers are left to it */
#define NUM_MAX 63

struct cur {
    const char *p, *end;
};

static inline void ws(struct cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static inline int peek(const struct cur *c)
{
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

static inline bool eat(struct cur *c, char ch)
{
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static bool lit(struct cur *c, const char *w, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* A string whose bytes are its value: no escapes, no control characters
 * (cJSON keeps those, and a NUL would cut its copy short). */
static bool str(struct cur *c, const char **s, size_t *n)
{
    if (!eat(c, '"'))
        return false;
    const char *b = c->p;
    for (; c->p < c->end; c->p++) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            *s = b;
            *n = (size_t)(c->p - b);
            c->p++;
            return true;
        }
        if (ch < 0x20 || ch == '\\')
            return false;
    }
    return false;
}

static bool key_is(const char *s, size_t n, const char *k)
{
    return strlen(k) == n && memcmp(s, k, n) == 0;
}

/* "key" : (and the whitespace around the colon) */
static bool key(struct cur *c, const char **s, size_t *n)
{
    if (!str(c, s, n))
        return false;
    ws(c);
    if (!eat(c, ':'))
        return false;
    ws(c);
    return true;
}

/* after a member or an item: true at the closing bracket, false (with
 * *bad set) when neither it nor a comma follows */
static bool close_or_comma(struct cur *c, char close, bool *bad)
{
    ws(c);
    if (eat(c, close))
        return true;
    if (!eat(c, ','))
        *bad = true;
    ws(c);
    return false;
}

/* ---- numbers ---- */

/* A JSON number (RFC 8259's grammar, nothing looser) as the double that
 * strtod gives for its text, which is what cJSON stores: base/numfmt.h's
 * scanner in its JSON mode. */
static bool number(struct cur *c, double *out)
{
    size_t n = cap_scan_decimal(c->p, c->end, true, out);
    if (n == 0 || n > NUM_MAX)
        return false;
    c->p += n;
    return true;
}

/* ---- nested arrays of numbers ---- */

/* What the general path reads from nested arrays: dims along the first
 * items, every array at a level the same length, values only at the last
 * level. The first pass keeps values in buf while they fit; the second
 * (t set) converts them straight into t. */
struct vals {
    bool null_nan;                /* null is NaN (MLflow scoring, float inputs) */
    int ndim;                     /* -1 until the first value or empty array */
    int64_t dims[INFER_MAX_DIMS]; /* -1 until the first array at that level closes */
    int64_t n;                    /* values seen */
    double *buf;
    int64_t cap;                  /* buf's size; with t: the tensor's count */
    infer_tensor *t;
};

static void vals_init(struct vals *v, bool null_nan, double *buf, int64_t cap, infer_tensor *t)
{
    v->null_nan = null_nan;
    v->ndim = -1;
    for (int d = 0; d < INFER_MAX_DIMS; d++)
        v->dims[d] = -1;
    v->n = 0;
    v->buf = buf;
    v->cap = cap;
    v->t = t;
}

static bool value(struct cur *c, struct vals *v)
{
    double d;
    if (peek(c) == 'n') {
        if (!v->null_nan || !lit(c, "null", 4))
            return false;
        d = NAN;
    } else if (!number(c, &d)) {
        return false;
    }
    if (v->t) {
        if (v->n >= v->cap || payload_elem_number(v->t->type, d, v->t->data, v->n))
            return false;
    } else if (v->n < v->cap) {
        v->buf[v->n] = d;
    }
    v->n++;
    return true;
}

/* c at '['; level 0 is the outermost array */
static bool array(struct cur *c, struct vals *v, int level)
{
    if (level >= INFER_MAX_DIMS || (v->ndim >= 0 && level >= v->ndim))
        return false;
    c->p++;
    ws(c);
    int64_t k = 0;
    bool bad = false;
    if (!eat(c, ']')) {
        do {
            if (peek(c) == '[') {
                if (!array(c, v, level + 1))
                    return false;
            } else {
                if (v->ndim < 0)
                    v->ndim = level + 1;
                else if (v->ndim != level + 1)
                    return false;
                if (!value(c, v))
                    return false;
            }
            k++;
        } while (!close_or_comma(c, ']', &bad) && !bad);
        if (bad)
            return false;
    }
    if (v->ndim < 0)
        v->ndim = level + 1; /* an empty array ends the first items' chain */
    if (v->dims[level] < 0)
        v->dims[level] = k;
    else if (v->dims[level] != k)
        return false;
    return true;
}

static bool numeric_type(int type)
{
    switch (type) {
    case INFER_FLOAT: case INFER_DOUBLE: case INFER_FLOAT16:
    case INFER_INT8: case INFER_INT16: case INFER_INT32: case INFER_INT64:
    case INFER_UINT8: case INFER_UINT16: case INFER_UINT32: case INFER_UINT64:
        return true;
    default:
        return false;
    }
}

/* Allocates t as the general path does, now that the data has proved its
 * size, and stores the values: from the first pass's buffer, or by reading
 * the data (at data_at) again. False when a value does not fit the type. */
static bool fill(infer_tensor *t, int type, int ndim, const int64_t *dims, const struct vals *v1,
                 const char *data_at, const char *end)
{
    payload_tensor_alloc(t, type, ndim, dims, v1->n);
    if (v1->n <= v1->cap) {
        for (int64_t i = 0; i < v1->n; i++)
            if (payload_elem_number(type, v1->buf[i], t->data, i))
                return false;
        return true;
    }
    struct cur c = {data_at, end};
    struct vals v2;
    vals_init(&v2, v1->null_nan, NULL, v1->n, t);
    return array(&c, &v2, 0) && v2.n == v1->n;
}

/* ---- OIP ---- */

static bool oip_shape(struct cur *c, int64_t *dims, int *ndim)
{
    bool bad = false;
    if (!eat(c, '['))
        return false;
    ws(c);
    *ndim = 0;
    if (eat(c, ']'))
        return true;
    do {
        double d;
        if (*ndim == INFER_MAX_DIMS || !number(c, &d))
            return false;
        /* json_count's rule in payload/oip.c */
        if (!(d >= 0 && d <= 9007199254740992.0) || d != floor(d))
            return false;
        dims[(*ndim)++] = (int64_t)d;
    } while (!close_or_comma(c, ']', &bad) && !bad);
    return !bad;
}

/* A tensor name as a C string for the model's lookups; false when longer
 * than any name worth a fast path (the general path answers those). */
#define FAST_NAME_MAX 256
static bool name_copy(const char *name, size_t n, char out[FAST_NAME_MAX])
{
    if (n >= FAST_NAME_MAX)
        return false;
    memcpy(out, name, n);
    out[n] = '\0';
    return true;
}

/* {"name", "shape", "datatype", "data"} in any order, nothing else */
static bool oip_input(struct cur *c, const infer_model *m, struct payload_request *out,
                      bool *seen, double *buf)
{
    const char *name = NULL, *dt = NULL, *data_at = NULL, *k;
    size_t name_n = 0, dt_n = 0, kn;
    int64_t dims[INFER_MAX_DIMS];
    int ndim = -1;
    bool bad = false;
    struct vals v;
    vals_init(&v, false, buf, FAST_VALUES, NULL);
    if (!eat(c, '{'))
        return false;
    ws(c);
    do {
        if (!key(c, &k, &kn))
            return false;
        if (key_is(k, kn, "name")) {
            if (name || !str(c, &name, &name_n))
                return false;
        } else if (key_is(k, kn, "datatype")) {
            if (dt || !str(c, &dt, &dt_n))
                return false;
        } else if (key_is(k, kn, "shape")) {
            if (ndim >= 0 || !oip_shape(c, dims, &ndim))
                return false;
        } else if (key_is(k, kn, "data")) {
            if (data_at || peek(c) != '[')
                return false;
            data_at = c->p;
            if (!array(c, &v, 0))
                return false;
        } else {
            return false;
        }
    } while (!close_or_comma(c, '}', &bad) && !bad);
    if (bad || !name || !dt || ndim < 0 || !data_at)
        return false;

    char nm[FAST_NAME_MAX];
    if (!name_copy(name, name_n, nm))
        return false;
    int idx = infer_input_index(m, nm);
    if (idx < 0 || seen[idx])
        return false;
    seen[idx] = true;
    infer_value_info vi;
    if (infer_input_info(m, idx, &vi) < 0 || vi.kind != INFER_KIND_TENSOR ||
        !numeric_type(vi.type))
        return false;
    const char *want = payload_oip_datatype(vi.type);
    if (!want || !key_is(dt, dt_n, want))
        return false;
    struct cap_error err;
    if (payload_check_shape(&vi, dims, ndim, &err, CAP_EINVAL) < 0)
        return false;
    int64_t count = payload_count(dims, ndim);
    if (count < 0)
        return false;
    /* flat (the first item is not an array), or nested exactly as the shape */
    if (v.ndim == 1) {
        if (v.n != count)
            return false;
    } else if (ndim < 2 || v.ndim != ndim ||
               memcmp(v.dims, dims, (size_t)ndim * sizeof dims[0]) != 0) {
        return false;
    }
    return fill(&out->inputs[idx], vi.type, ndim, dims, &v, data_at, c->end);
}

/* {"name", "parameters"?: null | {"binary_data"?: bool}} */
static bool oip_output(struct cur *c, const infer_model *m, int *idx, bool *bin)
{
    const char *name = NULL, *k;
    size_t name_n = 0, kn;
    bool params = false, bad = false;
    *bin = false; /* binary_data_output: no top-level parameters here */
    if (!eat(c, '{'))
        return false;
    ws(c);
    do {
        if (!key(c, &k, &kn))
            return false;
        if (key_is(k, kn, "name")) {
            if (name || !str(c, &name, &name_n))
                return false;
        } else if (key_is(k, kn, "parameters")) {
            if (params)
                return false;
            params = true;
            if (lit(c, "null", 4))
                continue;
            if (!eat(c, '{'))
                return false;
            ws(c);
            if (!eat(c, '}')) {
                if (!key(c, &k, &kn) || !key_is(k, kn, "binary_data"))
                    return false;
                if (lit(c, "true", 4))
                    *bin = true;
                else if (!lit(c, "false", 5))
                    return false;
                ws(c);
                if (!eat(c, '}'))
                    return false;
            }
        } else {
            return false;
        }
    } while (!close_or_comma(c, '}', &bad) && !bad);
    if (bad || !name)
        return false;
    char nm[FAST_NAME_MAX];
    if (!name_copy(name, name_n, nm))
        return false;
    *idx = infer_output_index(m, nm);
    return *idx >= 0;
}

static bool oip_outputs(struct cur *c, const infer_model *m, struct payload_request *out)
{
    int idx[FAST_MAX_IO], n = 0, n_model = infer_output_count(m);
    bool bin[FAST_MAX_IO], bad = false;
    if (lit(c, "null", 4))
        return true;
    if (!eat(c, '['))
        return false;
    ws(c);
    if (!eat(c, ']')) {
        do {
            if (n == n_model || n == FAST_MAX_IO || !oip_output(c, m, &idx[n], &bin[n]))
                return false;
            for (int j = 0; j < n; j++)
                if (idx[j] == idx[n])
                    return false;
            n++;
        } while (!close_or_comma(c, ']', &bad) && !bad);
        if (bad)
            return false;
    }
    if (n) {
        out->outputs = cap_xcalloc((size_t)n, sizeof *out->outputs);
        out->binary = cap_xcalloc((size_t)n, sizeof *out->binary);
        memcpy(out->outputs, idx, (size_t)n * sizeof idx[0]);
        memcpy(out->binary, bin, (size_t)n * sizeof bin[0]);
        out->n_outputs = n;
    }
    return true;
}

int payload_fast_oip(const infer_model *m, const void *body, size_t len,
                     struct payload_request *out)
{
    memset(out, 0, sizeof *out);
    out->format = PAYLOAD_OIP;
    int n_in = infer_input_count(m);
    if (n_in < 1 || n_in > FAST_MAX_IO)
        return 0;
    bool seen[FAST_MAX_IO] = {false};
    double buf[FAST_VALUES];
    struct cur c = {body, (const char *)body + len};
    bool got_id = false, got_out = false, bad = false;
    const char *k, *s;
    size_t kn, sn;
    ws(&c);
    if (!eat(&c, '{'))
        goto no;
    ws(&c);
    do {
        if (!key(&c, &k, &kn))
            goto no;
        if (key_is(k, kn, "id")) {
            if (got_id)
                goto no;
            got_id = true;
            if (peek(&c) == '"') {
                if (!str(&c, &s, &sn))
                    goto no;
                out->id = cap_xstrndup(s, sn);
            } else if (!lit(&c, "null", 4)) {
                goto no;
            }
        } else if (key_is(k, kn, "inputs")) {
            if (out->inputs || !eat(&c, '['))
                goto no;
            out->n_inputs = n_in;
            out->inputs = cap_xcalloc((size_t)n_in, sizeof *out->inputs);
            ws(&c);
            do {
                if (!oip_input(&c, m, out, seen, buf))
                    goto no;
            } while (!close_or_comma(&c, ']', &bad) && !bad);
            if (bad)
                goto no;
        } else if (key_is(k, kn, "outputs")) {
            if (got_out || !oip_outputs(&c, m, out))
                goto no;
            got_out = true;
        } else {
            goto no;
        }
    } while (!close_or_comma(&c, '}', &bad) && !bad);
    ws(&c);
    if (bad || c.p != c.end || !out->inputs)
        goto no;
    for (int i = 0; i < n_in; i++)
        if (!seen[i])
            goto no;
    struct cap_error err;
    if (payload_check_rows(m, out, &err, CAP_EINVAL) < 0)
        goto no;
    return 1;
no:
    payload_request_free(out);
    out->format = PAYLOAD_OIP;
    return 0;
}

/* ---- MLflow scoring: {"inputs" | "instances": arrays or {input: arrays}} ---- */

int payload_fast_scoring(const infer_model *m, const void *body, size_t len,
                         struct payload_request *out)
{
    memset(out, 0, sizeof *out);
    infer_value_info vi;
    if (infer_input_count(m) != 1 || infer_input_info(m, 0, &vi) < 0 ||
        vi.kind != INFER_KIND_TENSOR || !numeric_type(vi.type))
        return 0;
    double buf[FAST_VALUES];
    struct vals v;
    vals_init(&v, vi.type == INFER_FLOAT || vi.type == INFER_DOUBLE || vi.type == INFER_FLOAT16,
              buf, FAST_VALUES, NULL);
    struct cur c = {body, (const char *)body + len};
    const char *data_at = NULL, *k;
    size_t kn;
    bool params = false, bad = false;
    enum payload_format fmt = PAYLOAD_INPUTS;
    ws(&c);
    if (!eat(&c, '{'))
        goto no;
    ws(&c);
    do {
        if (!key(&c, &k, &kn))
            goto no;
        bool inputs = key_is(k, kn, "inputs");
        if (inputs || key_is(k, kn, "instances")) {
            if (data_at) /* both, or one twice */
                goto no;
            fmt = inputs ? PAYLOAD_INPUTS : PAYLOAD_INSTANCES;
            bool dict = eat(&c, '{');
            if (dict) { /* {input: values} with the one input */
                ws(&c);
                if (!key(&c, &k, &kn) || !key_is(k, kn, vi.name))
                    goto no;
            }
            if (peek(&c) != '[')
                goto no;
            data_at = c.p;
            if (!array(&c, &v, 0))
                goto no;
            if (dict) {
                ws(&c);
                if (!eat(&c, '}'))
                    goto no;
            }
        } else if (key_is(k, kn, "params")) {
            /* only the forms the general path lets through */
            if (params)
                goto no;
            params = true;
            if (!lit(&c, "null", 4)) {
                if (!eat(&c, '{'))
                    goto no;
                ws(&c);
                if (!eat(&c, '}'))
                    goto no;
            }
        } else {
            goto no;
        }
    } while (!close_or_comma(&c, '}', &bad) && !bad);
    ws(&c);
    if (bad || c.p != c.end || !data_at)
        goto no;
    struct cap_error err;
    if (payload_check_shape(&vi, v.dims, v.ndim, &err, CAP_EBADREQ) < 0)
        goto no;
    out->format = fmt;
    out->n_inputs = 1;
    out->inputs = cap_xcalloc(1, sizeof *out->inputs);
    if (!fill(&out->inputs[0], vi.type, v.ndim, v.dims, &v, data_at, c.end))
        goto no;
    if (payload_check_rows(m, out, &err, CAP_EBADREQ) < 0)
        goto no;
    return 1;
no:
    payload_request_free(out);
    return 0;
}
