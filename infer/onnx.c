/* onnx.c - decodes a serialized ONNX ModelProto straight from the protobuf
 * wire format into the model structures of internal.h, then checks and
 * topologically sorts the graph and compiles each node's operator.
 *
 * Every length, count, dimension and index in the input is treated as
 * hostile: sub-messages are bounds-checked readers, repeated fields are
 * counted in a first pass before anything is allocated, and element counts
 * are checked against the bytes actually present. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "infer/internal.h"

#define BAD(e, ...) infi_ierr((e), INFER_EFORMAT, __VA_ARGS__)
#define MAX_STRING_LEN (1u << 30)

/* ---- repeated fields ---- */

enum { RK_VARINT, RK_I32, RK_I64, RK_LEN };

static int wire_of(int rk)
{
    return rk == RK_VARINT ? PB_VARINT : rk == RK_I32 ? PB_I32 : rk == RK_I64 ? PB_I64 : PB_LEN;
}

/* Counts the elements of repeated field `field` in msg, packed or not.
 * Returns -1 on a malformed message or wrong wire type. */
static int64_t count_rep(pbr msg, uint32_t field, int rk)
{
    int64_t n = 0;
    uint32_t f;
    int wt, rc;
    while ((rc = pb_tag(&msg, &f, &wt)) > 0) {
        if (f != field) {
            if (pb_skip(&msg, wt) < 0)
                return -1;
            continue;
        }
        if (wt == wire_of(rk)) {
            n++;
            if (pb_skip(&msg, wt) < 0)
                return -1;
        } else if (wt == PB_LEN && rk != RK_LEN) {
            pbr sub;
            if (pb_len(&msg, &sub) < 0)
                return -1;
            size_t len = (size_t)(sub.end - sub.p);
            if (rk == RK_I32) {
                if (len % 4)
                    return -1;
                n += (int64_t)(len / 4);
            } else if (rk == RK_I64) {
                if (len % 8)
                    return -1;
                n += (int64_t)(len / 8);
            } else {
                if (len && (sub.end[-1] & 0x80))
                    return -1;
                for (const uint8_t *q = sub.p; q < sub.end; q++)
                    n += !(*q & 0x80);
            }
        } else {
            return -1;
        }
    }
    return rc < 0 ? -1 : n;
}

/* Output element kinds for read_rep. */
enum { OUT_I64, OUT_I32, OUT_U64, OUT_F32, OUT_F64 };

static void store(void *out, int ok, int64_t i, uint64_t bits, int rk)
{
    switch (ok) {
    case OUT_I64: ((int64_t *)out)[i] = (int64_t)bits; break;
    case OUT_I32: ((int32_t *)out)[i] = (int32_t)(uint32_t)bits; break;
    case OUT_U64: ((uint64_t *)out)[i] = bits; break;
    case OUT_F32: {
        uint32_t b = (uint32_t)bits;
        float v;
        memcpy(&v, &b, 4);
        ((float *)out)[i] = v;
        break;
    }
    case OUT_F64: {
        double v;
        memcpy(&v, &bits, 8);
        ((double *)out)[i] = v;
        break;
    }
    }
    (void)rk;
}

static uint64_t rd_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Fills out (cap elements, as counted by count_rep) from field `field`. */
static int read_rep(pbr msg, uint32_t field, int rk, void *out, int ok, int64_t cap)
{
    int64_t n = 0;
    uint32_t f;
    int wt, rc;
    while ((rc = pb_tag(&msg, &f, &wt)) > 0) {
        if (f != field) {
            if (pb_skip(&msg, wt) < 0)
                return -1;
            continue;
        }
        pbr sub;
        int packed = wt == PB_LEN;
        if (packed) {
            if (pb_len(&msg, &sub) < 0)
                return -1;
        } else {
            sub = msg;
        }
        do {
            if (n >= cap)
                return -1;
            uint64_t v;
            if (rk == RK_VARINT) {
                if (pb_varint(&sub, &v) < 0)
                    return -1;
            } else {
                int w = rk == RK_I32 ? 4 : 8;
                if (sub.end - sub.p < w)
                    return -1;
                v = rd_le(sub.p, w);
                sub.p += w;
            }
            store(out, ok, n++, v, rk);
        } while (packed && sub.p < sub.end);
        if (!packed)
            msg = sub;
    }
    return rc < 0 || n != cap ? -1 : 0;
}

/* Reads every occurrence of a length-delimited field as NUL-terminated strings. */
static int read_strings(arena *a, pbr msg, uint32_t field, char ***out, int64_t *count, infer_error *e)
{
    int64_t n = count_rep(msg, field, RK_LEN);
    if (n < 0)
        return BAD(e, "malformed repeated string field %u", field);
    char **v = infi_ar_calloc(a, (size_t)(n ? n : 1), sizeof(char *));
    if (!v)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    int64_t i = 0;
    uint32_t f;
    int wt;
    while (pb_tag(&msg, &f, &wt) > 0) {
        if (f == field && wt == PB_LEN) {
            pbr s;
            if (pb_len(&msg, &s) < 0 || i >= n)
                return BAD(e, "malformed string");
            v[i] = infi_ar_strndup(a, (const char *)s.p, (size_t)(s.end - s.p));
            if (!v[i++])
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
        } else if (pb_skip(&msg, wt) < 0) {
            return BAD(e, "malformed message");
        }
    }
    *out = v;
    *count = n;
    return 0;
}

static int read_str(arena *a, pbr *msg, const char **out, infer_error *e)
{
    pbr s;
    if (pb_len(msg, &s) < 0)
        return BAD(e, "truncated string");
    char *p = infi_ar_strndup(a, (const char *)s.p, (size_t)(s.end - s.p));
    if (!p)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    *out = p;
    return 0;
}

/* ---- external data ---- */

static int path_ok(const char *loc)
{
    if (!*loc || loc[0] == '/')
        return 0;
    /* no ".." component anywhere */
    const char *p = loc;
    while (*p) {
        const char *s = strchr(p, '/');
        size_t n = s ? (size_t)(s - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        if (!s)
            break;
        p = s + 1;
    }
    return 1;
}

static int read_external(arena *a, const char *dir, const char *loc, int64_t off, int64_t len,
                         size_t want, void **out, infer_error *e)
{
    if (!dir)
        return infi_ierr(e, INFER_EUNSUPPORTED, "external data '%s' needs a model directory", loc);
    if (!path_ok(loc))
        return BAD(e, "external data location '%s' leaves the model directory", loc);
    char full[PATH_MAX], rdir[PATH_MAX], rfull[PATH_MAX];
    if (snprintf(full, sizeof full, "%s/%s", dir, loc) >= (int)sizeof full)
        return BAD(e, "external data path too long");
    if (!realpath(dir, rdir) || !realpath(full, rfull))
        return infi_ierr(e, INFER_EIO, "external data '%s': %s", loc, strerror(errno));
    /* The resolved path must be exactly dir + location: any symlink on the
     * way, or a "./"-style detour, makes them differ. */
    char expect[PATH_MAX];
    if (snprintf(expect, sizeof expect, "%s/%s", rdir, loc) >= (int)sizeof expect || strcmp(expect, rfull))
        return BAD(e, "external data '%s' is a link or leaves the model directory", loc);
    int fd = open(rfull, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return infi_ierr(e, INFER_EIO, "external data '%s': %s", loc, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = BAD(e, "external data '%s' is not a regular file", loc);
        goto done;
    }
    if (off < 0 || off > st.st_size || (len >= 0 && (uint64_t)len != want) || (uint64_t)(st.st_size - off) < want) {
        rc = BAD(e, "external data '%s': offset/length outside the file", loc);
        goto done;
    }
    void *buf = infi_ar_alloc(a, want ? want : 1);
    if (!buf) {
        rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
        goto done;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t k = pread(fd, (char *)buf + got, want - got, off + (off_t)got);
        if (k <= 0) {
            rc = infi_ierr(e, INFER_EIO, "external data '%s': short read", loc);
            goto done;
        }
        got += (size_t)k;
    }
    *out = buf;
done:
    close(fd);
    return rc;
}

/* ---- TensorProto ---- */

int infi_decode_tensor(arena *a, const uint8_t *buf, size_t len, const char *dir, tval *out,
                  const char **name, infer_error *e)
{
    pbr msg = {buf, buf + len};
    memset(out, 0, sizeof *out);
    int64_t dtype = 0, location = 0;
    const uint8_t *raw = NULL;
    size_t rawlen = 0;
    int have_raw = 0;
    const char *ext_loc = NULL;
    int64_t ext_off = 0, ext_len = -1;
    if (name)
        *name = "";
    uint32_t f;
    int wt, rc;
    pbr it = msg;
    while ((rc = pb_tag(&it, &f, &wt)) > 0) {
        uint64_t v;
        if (f == 2 && wt == PB_VARINT) {
            if (pb_varint(&it, &v) < 0)
                return BAD(e, "truncated tensor");
            dtype = (int64_t)v;
        } else if (f == 8 && wt == PB_LEN) {
            const char *nm = "";
            if (read_str(a, &it, &nm, e) < 0)
                return e->code;
            if (name)
                *name = nm;
        } else if (f == 9 && wt == PB_LEN) {
            pbr s;
            if (pb_len(&it, &s) < 0)
                return BAD(e, "truncated raw_data");
            raw = s.p;
            rawlen = (size_t)(s.end - s.p);
            have_raw = 1;
        } else if (f == 14 && wt == PB_VARINT) {
            if (pb_varint(&it, &v) < 0)
                return BAD(e, "truncated tensor");
            location = (int64_t)v;
        } else if (f == 13 && wt == PB_LEN) {
            pbr kv;
            if (pb_len(&it, &kv) < 0)
                return BAD(e, "truncated external_data");
            const char *k = NULL, *val = NULL;
            uint32_t f2;
            int wt2;
            while (pb_tag(&kv, &f2, &wt2) > 0) {
                if ((f2 == 1 || f2 == 2) && wt2 == PB_LEN) {
                    if (read_str(a, &kv, f2 == 1 ? &k : &val, e) < 0)
                        return e->code;
                } else if (pb_skip(&kv, wt2) < 0) {
                    return BAD(e, "malformed external_data");
                }
            }
            if (k && val) {
                char *end;
                if (!strcmp(k, "location")) {
                    ext_loc = val;
                } else if (!strcmp(k, "offset") || !strcmp(k, "length")) {
                    errno = 0;
                    long long x = strtoll(val, &end, 10);
                    if (errno || *end || x < 0)
                        return BAD(e, "bad external data %s '%s'", k, val);
                    if (k[0] == 'o')
                        ext_off = x;
                    else
                        ext_len = x;
                }
            }
        } else if (f == 12 && wt == PB_LEN) {
            return infi_ierr(e, INFER_EUNSUPPORTED, "tensor segments are not supported");
        } else if (pb_skip(&it, wt) < 0) {
            return BAD(e, "malformed tensor");
        }
    }
    if (rc < 0)
        return BAD(e, "malformed tensor");

    int64_t nd = count_rep(msg, 1, RK_VARINT);
    if (nd < 0)
        return BAD(e, "malformed tensor dims");
    if (nd > INFER_MAX_DIMS)
        return infi_ierr(e, INFER_EUNSUPPORTED, "tensor rank %lld exceeds %d", (long long)nd, INFER_MAX_DIMS);
    if (nd && read_rep(msg, 1, RK_VARINT, out->dims, OUT_I64, nd) < 0)
        return BAD(e, "malformed tensor dims");
    out->ndim = (int)nd;
    int64_t n = infi_dims_count(out->ndim, out->dims);
    if (n < 0)
        return BAD(e, "tensor has a negative or overflowing dimension");
    size_t es = infi_elem_size((int)dtype);
    if (!es || dtype == INFER_UNDEFINED)
        return infi_ierr(e, INFER_EUNSUPPORTED, "tensor element type %lld is not supported", (long long)dtype);
    size_t bytes;
    if (!mul_ok((size_t)n, es, &bytes) || bytes > ((size_t)1 << 40))
        return BAD(e, "tensor too large");
    out->kind = INFER_KIND_TENSOR;
    out->type = (int)dtype;
    out->n = n;
    out->set = 1;

    if (location == 1 || ext_loc) {
        if (!ext_loc)
            return BAD(e, "external tensor without location");
        if (dtype == INFER_STRING)
            return infi_ierr(e, INFER_EUNSUPPORTED, "external string tensors are not supported");
        void *p;
        if (read_external(a, dir, ext_loc, ext_off, ext_len, bytes, &p, e) < 0)
            return e->code;
        out->data = p;
        raw = p;
        rawlen = bytes;
        have_raw = 1;
    }

    if (dtype == INFER_STRING) {
        char **s;
        int64_t cnt;
        if (read_strings(a, msg, 6, &s, &cnt, e) < 0)
            return e->code;
        if (cnt != n)
            return BAD(e, "string tensor has %lld values for %lld elements", (long long)cnt, (long long)n);
        out->data = s;
        return 0;
    }

    if (have_raw) {
        if (rawlen != bytes)
            return BAD(e, "raw_data has %zu bytes, expected %zu", rawlen, bytes);
        void *d = out->data;
        if (!d) {
            d = infi_ar_alloc(a, bytes ? bytes : 1);
            if (!d)
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
            if (bytes)
                memcpy(d, raw, bytes);
        }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        /* raw_data is little-endian; swap in place on big-endian hosts */
        for (size_t i = 0; es > 1 && i < bytes; i += es)
            for (size_t j = 0; j < es / 2; j++) {
                unsigned char t = ((unsigned char *)d)[i + j];
                ((unsigned char *)d)[i + j] = ((unsigned char *)d)[i + es - 1 - j];
                ((unsigned char *)d)[i + es - 1 - j] = t;
            }
#endif
        out->data = d;
        return 0;
    }

    int field, rk;
    switch (dtype) {
    case INFER_FLOAT: field = 4; rk = RK_I32; break;
    case INFER_DOUBLE: field = 10; rk = RK_I64; break;
    case INFER_INT64: field = 7; rk = RK_VARINT; break;
    case INFER_UINT32: case INFER_UINT64: field = 11; rk = RK_VARINT; break;
    default: field = 5; rk = RK_VARINT; break;   /* int32_data carries the small types */
    }
    int64_t cnt = count_rep(msg, (uint32_t)field, rk);
    if (cnt < 0)
        return BAD(e, "malformed tensor data");
    if (cnt == 0 && n > 0)
        return BAD(e, "tensor of %lld elements has no data", (long long)n);
    if (cnt != n)
        return BAD(e, "tensor has %lld values for %lld elements", (long long)cnt, (long long)n);
    /* allocate only once the values are known to be present */
    void *d = infi_ar_calloc(a, bytes ? bytes : 1, 1);
    if (!d)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    out->data = d;
    if (n == 0)
        return 0;
    if (dtype == INFER_FLOAT)
        return read_rep(msg, 4, RK_I32, d, OUT_F32, n) < 0 ? BAD(e, "malformed float_data") : 0;
    if (dtype == INFER_DOUBLE)
        return read_rep(msg, 10, RK_I64, d, OUT_F64, n) < 0 ? BAD(e, "malformed double_data") : 0;
    if (dtype == INFER_INT64)
        return read_rep(msg, 7, RK_VARINT, d, OUT_I64, n) < 0 ? BAD(e, "malformed int64_data") : 0;
    if (dtype == INFER_UINT64)
        return read_rep(msg, 11, RK_VARINT, d, OUT_U64, n) < 0 ? BAD(e, "malformed uint64_data") : 0;
    /* narrow types: read as 64-bit then narrow */
    int64_t *tmp = infi_ar_alloc(a, (size_t)n * 8);
    if (!tmp)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    if (read_rep(msg, (uint32_t)field, RK_VARINT, tmp, OUT_I64, n) < 0)
        return BAD(e, "malformed tensor data");
    for (int64_t i = 0; i < n; i++) {
        switch (dtype) {
        case INFER_INT32: ((int32_t *)d)[i] = (int32_t)tmp[i]; break;
        case INFER_UINT32: ((uint32_t *)d)[i] = (uint32_t)tmp[i]; break;
        case INFER_INT16: ((int16_t *)d)[i] = (int16_t)tmp[i]; break;
        case INFER_UINT16: case INFER_FLOAT16: ((uint16_t *)d)[i] = (uint16_t)tmp[i]; break;
        case INFER_INT8: ((int8_t *)d)[i] = (int8_t)tmp[i]; break;
        case INFER_UINT8: ((uint8_t *)d)[i] = (uint8_t)tmp[i]; break;
        case INFER_BOOL: ((uint8_t *)d)[i] = tmp[i] != 0; break;
        default: return infi_ierr(e, INFER_EUNSUPPORTED, "tensor type %lld", (long long)dtype);
        }
    }
    return 0;
}

/* ---- AttributeProto ---- */

static int decode_attr(infer_model *m, pbr msg, attr *at, infer_error *e)
{
    arena *a = &m->ar;
    memset(at, 0, sizeof *at);
    at->name = "";
    at->s = "";   /* a STRING attribute may arrive without its value */
    int64_t type = 0;
    int seen_f = 0, seen_i = 0, seen_s = 0, seen_t = 0, seen_g = 0;
    uint32_t f;
    int wt, rc;
    pbr it = msg;
    while ((rc = pb_tag(&it, &f, &wt)) > 0) {
        uint64_t v;
        if (f == 1 && wt == PB_LEN) {
            if (read_str(a, &it, &at->name, e) < 0)
                return e->code;
        } else if (f == 2 && wt == PB_I32) {
            if (it.end - it.p < 4)
                return BAD(e, "truncated attribute");
            uint32_t b = (uint32_t)rd_le(it.p, 4);
            memcpy(&at->f, &b, 4);
            it.p += 4;
            seen_f = 1;
        } else if (f == 3 && wt == PB_VARINT) {
            if (pb_varint(&it, &v) < 0)
                return BAD(e, "truncated attribute");
            at->i = (int64_t)v;
            seen_i = 1;
        } else if (f == 4 && wt == PB_LEN) {
            pbr s;
            if (pb_len(&it, &s) < 0)
                return BAD(e, "truncated attribute");
            at->slen = (size_t)(s.end - s.p);
            at->s = infi_ar_strndup(a, (const char *)s.p, at->slen);
            if (!at->s)
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
            seen_s = 1;
        } else if (f == 5 && wt == PB_LEN) {
            pbr s;
            if (pb_len(&it, &s) < 0)
                return BAD(e, "truncated attribute");
            at->t = infi_ar_calloc(a, 1, sizeof(tval));
            if (!at->t)
                return infi_ierr(e, INFER_ENOMEM, "out of memory");
            if (infi_decode_tensor(a, s.p, (size_t)(s.end - s.p), m->dir, at->t, NULL, e) < 0)
                return e->code;
            seen_t = 1;
        } else if (f == 6 && wt == PB_LEN) {
            seen_g = 1;
            if (pb_skip(&it, wt) < 0)
                return BAD(e, "truncated attribute");
        } else if (f == 20 && wt == PB_VARINT) {
            if (pb_varint(&it, &v) < 0)
                return BAD(e, "truncated attribute");
            type = (int64_t)v;
        } else if (f == 21 && wt == PB_LEN) {
            return infi_ierr(e, INFER_EUNSUPPORTED, "attribute references (functions) are not supported");
        } else if (pb_skip(&it, wt) < 0) {
            return BAD(e, "malformed attribute");
        }
    }
    if (rc < 0)
        return BAD(e, "malformed attribute");
    /* count only the list the attribute holds: each count is a full pass */
    int64_t nf = 0, ni = 0, ns = 0, nt = 0, ng = 0;
    int want = type ? (int)type : -1;
    if (want == AT_FLOATS || want < 0)
        nf = count_rep(msg, 7, RK_I32);
    if (want == AT_INTS || (want < 0 && nf == 0))
        ni = count_rep(msg, 8, RK_VARINT);
    if (want == AT_STRINGS || (want < 0 && nf == 0 && ni == 0))
        ns = count_rep(msg, 9, RK_LEN);
    if (want == AT_TENSORS || (want < 0 && nf == 0 && ni == 0 && ns == 0))
        nt = count_rep(msg, 10, RK_LEN);
    if (want == AT_GRAPHS || (want < 0 && nf == 0 && ni == 0 && ns == 0 && nt == 0))
        ng = count_rep(msg, 11, RK_LEN);
    if (nf < 0 || ni < 0 || ns < 0 || nt < 0 || ng < 0)
        return BAD(e, "attribute '%s': malformed repeated field", at->name);
    if (!type) {
        /* IR version < 3 files carry no type: infer it from what is set */
        type = seen_f ? AT_FLOAT : seen_i ? AT_INT : seen_s ? AT_STRING : seen_t ? AT_TENSOR : seen_g ? AT_GRAPH
             : nf ? AT_FLOATS : ni ? AT_INTS : ns ? AT_STRINGS : nt ? AT_TENSORS : ng ? AT_GRAPHS : 0;
    }
    at->type = (int)type;
    switch (type) {
    case AT_FLOATS:
        at->n = nf;
        at->floats = infi_ar_alloc(a, (size_t)(nf ? nf : 1) * sizeof(float));
        if (!at->floats)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        if (nf && read_rep(msg, 7, RK_I32, at->floats, OUT_F32, nf) < 0)
            return BAD(e, "attribute '%s': malformed floats", at->name);
        break;
    case AT_INTS:
        at->n = ni;
        at->ints = infi_ar_alloc(a, (size_t)(ni ? ni : 1) * sizeof(int64_t));
        if (!at->ints)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        if (ni && read_rep(msg, 8, RK_VARINT, at->ints, OUT_I64, ni) < 0)
            return BAD(e, "attribute '%s': malformed ints", at->name);
        break;
    case AT_STRINGS:
        if (read_strings(a, msg, 9, &at->strings, &at->n, e) < 0)
            return e->code;
        break;
    case AT_TENSORS: case AT_GRAPHS: case AT_GRAPH:
        /* only control-flow operators use these, and we implement none */
        break;
    case AT_FLOAT: case AT_INT: case AT_STRING: case AT_TENSOR: case 0:
        break;
    default:
        return infi_ierr(e, INFER_EUNSUPPORTED, "attribute '%s' has unsupported type %lld", at->name, (long long)type);
    }
    return 0;
}

/* ---- NodeProto ---- */

typedef struct rawnode {
    const char **in, **out;
    int nin, nout;
} rawnode;

static int decode_node(infer_model *m, pbr msg, node *nd, rawnode *rn, infer_error *e)
{
    arena *a = &m->ar;
    memset(nd, 0, sizeof *nd);
    nd->op_type = nd->domain = nd->name = "";
    int64_t ni, no;
    char **ins, **outs;
    if (read_strings(a, msg, 1, &ins, &ni, e) < 0 || read_strings(a, msg, 2, &outs, &no, e) < 0)
        return e->code;
    if (ni > 100000 || no > 100000)
        return BAD(e, "node has too many inputs/outputs");
    rn->in = (const char **)ins;
    rn->out = (const char **)outs;
    rn->nin = (int)ni;
    rn->nout = (int)no;
    int64_t na = count_rep(msg, 5, RK_LEN);
    if (na < 0 || na > 100000)
        return BAD(e, "malformed node attributes");
    nd->attrs = infi_ar_calloc(a, (size_t)(na ? na : 1), sizeof(attr));
    if (!nd->attrs)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    uint32_t f;
    int wt, rc;
    while ((rc = pb_tag(&msg, &f, &wt)) > 0) {
        if (f == 3 && wt == PB_LEN) {
            if (read_str(a, &msg, &nd->name, e) < 0)
                return e->code;
        } else if (f == 4 && wt == PB_LEN) {
            if (read_str(a, &msg, &nd->op_type, e) < 0)
                return e->code;
        } else if (f == 7 && wt == PB_LEN) {
            if (read_str(a, &msg, &nd->domain, e) < 0)
                return e->code;
        } else if (f == 5 && wt == PB_LEN) {
            pbr s;
            if (pb_len(&msg, &s) < 0 || nd->nattr >= na)
                return BAD(e, "malformed attribute");
            if (decode_attr(m, s, &nd->attrs[nd->nattr], e) < 0)
                return e->code;
            nd->nattr++;
        } else if (pb_skip(&msg, wt) < 0) {
            return BAD(e, "malformed node");
        }
    }
    if (rc < 0)
        return BAD(e, "malformed node");
    return 0;
}

/* ---- TypeProto / ValueInfoProto ---- */

static int decode_type(infer_model *m, pbr msg, infer_value_info *vi, int depth, infer_error *e)
{
    uint32_t f;
    int wt, rc;
    if (depth > 8)
        return BAD(e, "type nested too deeply");
    while ((rc = pb_tag(&msg, &f, &wt)) > 0) {
        pbr s;
        uint64_t v;
        if (f == 1 && wt == PB_LEN) {          /* tensor_type */
            if (pb_len(&msg, &s) < 0)
                return BAD(e, "truncated type");
            uint32_t f2;
            int wt2;
            while (pb_tag(&s, &f2, &wt2) > 0) {
                if (f2 == 1 && wt2 == PB_VARINT) {
                    if (pb_varint(&s, &v) < 0)
                        return BAD(e, "truncated type");
                    vi->type = (int)(v & 0xffff);
                } else if (f2 == 2 && wt2 == PB_LEN) {
                    pbr sh;
                    if (pb_len(&s, &sh) < 0)
                        return BAD(e, "truncated shape");
                    int64_t nd = count_rep(sh, 1, RK_LEN);
                    if (nd < 0 || nd > INFER_MAX_DIMS)
                        return nd < 0 ? BAD(e, "malformed shape")
                                      : infi_ierr(e, INFER_EUNSUPPORTED, "rank %lld exceeds %d", (long long)nd, INFER_MAX_DIMS);
                    int64_t *dims = infi_ar_calloc(&m->ar, INFER_MAX_DIMS, sizeof(int64_t));
                    const char **names = infi_ar_calloc(&m->ar, INFER_MAX_DIMS, sizeof(char *));
                    if (!dims || !names)
                        return infi_ierr(e, INFER_ENOMEM, "out of memory");
                    int k = 0;
                    uint32_t f3;
                    int wt3;
                    while (pb_tag(&sh, &f3, &wt3) > 0) {
                        if (f3 == 1 && wt3 == PB_LEN) {
                            pbr dm;
                            if (pb_len(&sh, &dm) < 0 || k >= nd)
                                return BAD(e, "malformed dim");
                            dims[k] = -1;
                            uint32_t f4;
                            int wt4;
                            while (pb_tag(&dm, &f4, &wt4) > 0) {
                                if (f4 == 1 && wt4 == PB_VARINT) {
                                    if (pb_varint(&dm, &v) < 0)
                                        return BAD(e, "malformed dim");
                                    dims[k] = (int64_t)v < 0 ? -1 : (int64_t)v;
                                } else if (f4 == 2 && wt4 == PB_LEN) {
                                    if (read_str(&m->ar, &dm, &names[k], e) < 0)
                                        return e->code;
                                } else if (pb_skip(&dm, wt4) < 0) {
                                    return BAD(e, "malformed dim");
                                }
                            }
                            k++;
                        } else if (pb_skip(&sh, wt3) < 0) {
                            return BAD(e, "malformed shape");
                        }
                    }
                    vi->ndim = k;
                    vi->dims = dims;
                    vi->dim_names = names;
                } else if (pb_skip(&s, wt2) < 0) {
                    return BAD(e, "malformed type");
                }
            }
        } else if (f == 4 && wt == PB_LEN) {   /* sequence_type { elem_type: TypeProto } */
            if (pb_len(&msg, &s) < 0)
                return BAD(e, "truncated type");
            uint32_t f2;
            int wt2;
            while (pb_tag(&s, &f2, &wt2) > 0) {
                if (f2 == 1 && wt2 == PB_LEN) {
                    pbr el;
                    if (pb_len(&s, &el) < 0)
                        return BAD(e, "truncated type");
                    if (decode_type(m, el, vi, depth + 1, e) < 0)
                        return e->code;
                } else if (pb_skip(&s, wt2) < 0) {
                    return BAD(e, "malformed type");
                }
            }
            if (vi->kind != INFER_KIND_SEQ_MAP)
                return infi_ierr(e, INFER_EUNSUPPORTED, "sequences other than seq(map) are not supported");
        } else if (f == 5 && wt == PB_LEN) {   /* map_type */
            if (pb_len(&msg, &s) < 0)
                return BAD(e, "truncated type");
            vi->kind = INFER_KIND_SEQ_MAP;
            uint32_t f2;
            int wt2;
            while (pb_tag(&s, &f2, &wt2) > 0) {
                if (f2 == 1 && wt2 == PB_VARINT) {
                    if (pb_varint(&s, &v) < 0)
                        return BAD(e, "truncated type");
                    vi->key_type = (int)(v & 0xffff);
                } else if (f2 == 2 && wt2 == PB_LEN) {
                    pbr el;
                    if (pb_len(&s, &el) < 0)
                        return BAD(e, "truncated type");
                    if (decode_type(m, el, vi, depth + 1, e) < 0)
                        return e->code;
                    vi->kind = INFER_KIND_SEQ_MAP;
                } else if (pb_skip(&s, wt2) < 0) {
                    return BAD(e, "malformed type");
                }
            }
        } else if (pb_skip(&msg, wt) < 0) {
            return BAD(e, "malformed type");
        }
    }
    return rc < 0 ? BAD(e, "malformed type") : 0;
}

static int decode_value_info(infer_model *m, pbr msg, infer_value_info *vi, infer_error *e)
{
    memset(vi, 0, sizeof *vi);
    vi->name = "";
    vi->ndim = -1;
    uint32_t f;
    int wt, rc;
    while ((rc = pb_tag(&msg, &f, &wt)) > 0) {
        if (f == 1 && wt == PB_LEN) {
            if (read_str(&m->ar, &msg, &vi->name, e) < 0)
                return e->code;
        } else if (f == 2 && wt == PB_LEN) {
            pbr s;
            if (pb_len(&msg, &s) < 0)
                return BAD(e, "truncated value info");
            if (decode_type(m, s, vi, 0, e) < 0)
                return e->code;
        } else if (pb_skip(&msg, wt) < 0) {
            return BAD(e, "malformed value info");
        }
    }
    if (vi->kind == INFER_KIND_SEQ_MAP)
        vi->ndim = -1;
    return rc < 0 ? BAD(e, "malformed value info") : 0;
}

/* ---- name table ---- */

typedef struct names {
    const char **keys;
    int *vals;
    size_t cap;
} names;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int names_init(arena *a, names *t, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2)
        cap <<= 1;
    t->cap = cap;
    t->keys = infi_ar_calloc(a, cap, sizeof(char *));
    t->vals = infi_ar_calloc(a, cap, sizeof(int));
    return t->keys && t->vals ? 0 : -1;
}

/* Returns the existing index, or inserts val and returns -1. */
static int names_put(names *t, const char *k, int val)
{
    size_t i = hash_str(k) & (t->cap - 1);
    while (t->keys[i]) {
        if (!strcmp(t->keys[i], k))
            return t->vals[i];
        i = (i + 1) & (t->cap - 1);
    }
    t->keys[i] = k;
    t->vals[i] = val;
    return -1;
}

static int names_get(const names *t, const char *k)
{
    size_t i = hash_str(k) & (t->cap - 1);
    while (t->keys[i]) {
        if (!strcmp(t->keys[i], k))
            return t->vals[i];
        i = (i + 1) & (t->cap - 1);
    }
    return -1;
}

/* ---- GraphProto ---- */

static int decode_graph(infer_model *m, pbr msg, infer_error *e)
{
    arena *a = &m->ar;
    int64_t nn = count_rep(msg, 1, RK_LEN), ninit = count_rep(msg, 5, RK_LEN),
            nin = count_rep(msg, 11, RK_LEN), nout = count_rep(msg, 12, RK_LEN),
            nsparse = count_rep(msg, 15, RK_LEN);
    if (nn < 0 || ninit < 0 || nin < 0 || nout < 0 || nsparse < 0)
        return BAD(e, "malformed graph");
    if (nsparse > 0)
        return infi_ierr(e, INFER_EUNSUPPORTED, "sparse initializers are not supported");
    if (nn > 10000000 || ninit > 10000000 || nin > 100000 || nout > 100000)
        return BAD(e, "graph too large");
    node *nodes = infi_ar_calloc(a, (size_t)(nn ? nn : 1), sizeof(node));
    rawnode *raw = infi_ar_calloc(a, (size_t)(nn ? nn : 1), sizeof(rawnode));
    tval *inits = infi_ar_calloc(a, (size_t)(ninit ? ninit : 1), sizeof(tval));
    const char **init_names = infi_ar_calloc(a, (size_t)(ninit ? ninit : 1), sizeof(char *));
    infer_value_info *gin = infi_ar_calloc(a, (size_t)(nin ? nin : 1), sizeof(infer_value_info));
    infer_value_info *gout = infi_ar_calloc(a, (size_t)(nout ? nout : 1), sizeof(infer_value_info));
    if (!nodes || !raw || !inits || !init_names || !gin || !gout)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    int64_t kn = 0, ki = 0, kin = 0, kout = 0;
    uint32_t f;
    int wt, rc;
    while ((rc = pb_tag(&msg, &f, &wt)) > 0) {
        pbr s;
        if (wt == PB_LEN && (f == 1 || f == 5 || f == 11 || f == 12)) {
            if (pb_len(&msg, &s) < 0)
                return BAD(e, "truncated graph");
            if (f == 1) {
                if (kn >= nn || decode_node(m, s, &nodes[kn], &raw[kn], e) < 0)
                    return e->code ? e->code : BAD(e, "malformed graph");
                kn++;
            } else if (f == 5) {
                if (ki >= ninit || infi_decode_tensor(a, s.p, (size_t)(s.end - s.p), m->dir, &inits[ki], &init_names[ki], e) < 0)
                    return e->code ? e->code : BAD(e, "malformed graph");
                ki++;
            } else if (f == 11) {
                if (kin >= nin || decode_value_info(m, s, &gin[kin], e) < 0)
                    return e->code ? e->code : BAD(e, "malformed graph");
                kin++;
            } else {
                if (kout >= nout || decode_value_info(m, s, &gout[kout], e) < 0)
                    return e->code ? e->code : BAD(e, "malformed graph");
                kout++;
            }
        } else if (pb_skip(&msg, wt) < 0) {
            return BAD(e, "malformed graph");
        }
    }
    if (rc < 0 || kn != nn || ki != ninit || kin != nin || kout != nout)
        return BAD(e, "malformed graph");

    /* value table: initializers, then graph inputs, then node outputs */
    size_t nvals = (size_t)ninit + (size_t)nin;
    for (int64_t i = 0; i < nn; i++)
        nvals += (size_t)raw[i].nout;
    if (nvals > INT32_MAX / 2)
        return BAD(e, "graph too large");
    names tab;
    const char **vnames = infi_ar_calloc(a, nvals ? nvals : 1, sizeof(char *));
    tval *consts = infi_ar_calloc(a, nvals ? nvals : 1, sizeof(tval));
    if (!vnames || !consts || names_init(a, &tab, nvals) < 0)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    int nv = 0;
    for (int64_t i = 0; i < ninit; i++) {
        if (!*init_names[i])
            return BAD(e, "initializer without a name");
        if (names_put(&tab, init_names[i], nv) >= 0)
            return BAD(e, "initializer '%s' defined twice", init_names[i]);
        vnames[nv] = init_names[i];
        consts[nv++] = inits[i];
    }
    m->in_idx = infi_ar_calloc(a, (size_t)(nin ? nin : 1), sizeof(int));
    m->in_info = infi_ar_calloc(a, (size_t)(nin ? nin : 1), sizeof(infer_value_info));
    if (!m->in_idx || !m->in_info)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    m->nin = 0;
    for (int64_t i = 0; i < nin; i++) {
        if (!*gin[i].name)
            return BAD(e, "graph input without a name");
        int old = names_put(&tab, gin[i].name, nv);
        if (old >= 0) {
            /* IR < 4 lists initializers among the inputs: they stay constants */
            if (old < ninit)
                continue;
            return BAD(e, "graph input '%s' listed twice", gin[i].name);
        }
        if (gin[i].kind != INFER_KIND_TENSOR)
            return infi_ierr(e, INFER_EUNSUPPORTED, "input '%s': only tensor inputs are supported", gin[i].name);
        vnames[nv] = gin[i].name;
        m->in_idx[m->nin] = nv++;
        m->in_info[m->nin++] = gin[i];
    }
    for (int64_t i = 0; i < nn; i++) {
        nodes[i].nout = raw[i].nout;
        nodes[i].out = infi_ar_calloc(a, (size_t)(raw[i].nout ? raw[i].nout : 1), sizeof(int));
        if (!nodes[i].out)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        for (int k = 0; k < raw[i].nout; k++) {
            const char *nm = raw[i].out[k];
            if (!*nm) {
                nodes[i].out[k] = -1;   /* optional output not wanted */
                continue;
            }
            if (names_put(&tab, nm, nv) >= 0)
                return BAD(e, "value '%s' is produced twice", nm);
            vnames[nv] = nm;
            nodes[i].out[k] = nv++;
        }
    }
    /* resolve inputs and count dependencies for Kahn's topological sort */
    int *producer = infi_ar_alloc(a, (size_t)(nv ? nv : 1) * sizeof(int));
    int *indeg = infi_ar_calloc(a, (size_t)(nn ? nn : 1), sizeof(int));
    if (!producer || !indeg)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    for (int i = 0; i < nv; i++)
        producer[i] = -1;
    for (int64_t i = 0; i < nn; i++)
        for (int k = 0; k < nodes[i].nout; k++)
            if (nodes[i].out[k] >= 0)
                producer[nodes[i].out[k]] = (int)i;
    size_t nedges = 0;
    for (int64_t i = 0; i < nn; i++) {
        nodes[i].nin = raw[i].nin;
        nodes[i].in = infi_ar_calloc(a, (size_t)(raw[i].nin ? raw[i].nin : 1), sizeof(int));
        if (!nodes[i].in)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        for (int k = 0; k < raw[i].nin; k++) {
            const char *nm = raw[i].in[k];
            if (!*nm) {
                nodes[i].in[k] = -1;
                continue;
            }
            int v = names_get(&tab, nm);
            if (v < 0)
                return BAD(e, "node '%s' (%s) reads '%s', which nothing produces", nodes[i].name,
                           nodes[i].op_type, nm);
            nodes[i].in[k] = v;
            if (producer[v] >= 0) {
                indeg[i]++;
                nedges++;
            }
        }
    }
    /* consumer lists (CSR) */
    int *cstart = infi_ar_calloc(a, (size_t)nn + 1, sizeof(int));
    int *clist = infi_ar_alloc(a, (nedges ? nedges : 1) * sizeof(int));
    int *cfill = infi_ar_calloc(a, (size_t)nn + 1, sizeof(int));
    int *order = infi_ar_alloc(a, (size_t)(nn ? nn : 1) * sizeof(int));
    if (!cstart || !clist || !cfill || !order)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    for (int64_t i = 0; i < nn; i++)
        for (int k = 0; k < nodes[i].nin; k++)
            if (nodes[i].in[k] >= 0 && producer[nodes[i].in[k]] >= 0)
                cstart[producer[nodes[i].in[k]] + 1]++;
    for (int64_t i = 0; i < nn; i++)
        cstart[i + 1] += cstart[i];
    for (int64_t i = 0; i < nn; i++)
        for (int k = 0; k < nodes[i].nin; k++)
            if (nodes[i].in[k] >= 0 && producer[nodes[i].in[k]] >= 0) {
                int p = producer[nodes[i].in[k]];
                clist[cstart[p] + cfill[p]++] = (int)i;
            }
    int head = 0, tail = 0;
    for (int64_t i = 0; i < nn; i++)
        if (!indeg[i])
            order[tail++] = (int)i;
    while (head < tail) {
        int u = order[head++];
        for (int j = cstart[u]; j < cstart[u + 1]; j++)
            if (--indeg[clist[j]] == 0)
                order[tail++] = clist[j];
    }
    if (tail != nn)
        return BAD(e, "graph has a cycle");
    m->nodes = infi_ar_calloc(a, (size_t)(nn ? nn : 1), sizeof(node));
    if (!m->nodes)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    for (int64_t i = 0; i < nn; i++)
        m->nodes[i] = nodes[order[i]];
    m->nnodes = (int)nn;

    m->out_idx = infi_ar_calloc(a, (size_t)(nout ? nout : 1), sizeof(int));
    m->out_info = gout;
    if (!m->out_idx)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    for (int64_t i = 0; i < nout; i++) {
        int v = names_get(&tab, gout[i].name);
        if (v < 0)
            return BAD(e, "graph output '%s' is never produced", gout[i].name);
        m->out_idx[i] = v;
    }
    m->nout = (int)nout;
    m->nvalues = nv;
    m->vnames = vnames;
    m->consts = consts;
    return 0;
}

/* ---- ModelProto ---- */

static int decode_model(infer_model *m, const uint8_t *buf, size_t len, infer_error *e)
{
    pbr msg = {buf, buf + len};
    pbr graph = {0};
    int have_graph = 0;
    m->opset_onnx = -1;
    m->opset_ml = -1;
    uint32_t f;
    int wt, rc;
    while ((rc = pb_tag(&msg, &f, &wt)) > 0) {
        if (f == 7 && wt == PB_LEN) {
            if (pb_len(&msg, &graph) < 0)
                return BAD(e, "truncated graph");
            have_graph = 1;
        } else if (f == 2 && wt == PB_LEN) {
            if (read_str(&m->ar, &msg, &m->producer, e) < 0)
                return e->code;
        } else if (f == 8 && wt == PB_LEN) {
            pbr s;
            if (pb_len(&msg, &s) < 0)
                return BAD(e, "truncated opset_import");
            const char *dom = "";
            int64_t ver = 0;
            uint32_t f2;
            int wt2, rc2;
            while ((rc2 = pb_tag(&s, &f2, &wt2)) > 0) {
                uint64_t v;
                if (f2 == 1 && wt2 == PB_LEN) {
                    if (read_str(&m->ar, &s, &dom, e) < 0)
                        return e->code;
                } else if (f2 == 2 && wt2 == PB_VARINT) {
                    if (pb_varint(&s, &v) < 0)
                        return BAD(e, "truncated opset_import");
                    ver = (int64_t)v;
                } else if (pb_skip(&s, wt2) < 0) {
                    return BAD(e, "malformed opset_import");
                }
            }
            if (rc2 < 0)
                return BAD(e, "malformed opset_import");
            if (!*dom || !strcmp(dom, "ai.onnx"))
                m->opset_onnx = ver;
            else if (!strcmp(dom, "ai.onnx.ml"))
                m->opset_ml = ver;
        } else if (pb_skip(&msg, wt) < 0) {
            return BAD(e, "malformed model (wire type %d, field %u)", wt, f);
        }
    }
    if (rc < 0)
        return BAD(e, "malformed model");
    if (!have_graph)
        return BAD(e, "model has no graph");
    return decode_graph(m, graph, e);
}

static int compile_nodes(infer_model *m, infer_error *e)
{
    for (int i = 0; i < m->nnodes; i++) {
        node *nd = &m->nodes[i];
        const char *dom = nd->domain;
        int64_t ver;
        const char *shown;
        if (!*dom || !strcmp(dom, "ai.onnx")) {
            ver = m->opset_onnx;
            shown = "ai.onnx";
            dom = "";
        } else if (!strcmp(dom, "ai.onnx.ml")) {
            ver = m->opset_ml;
            shown = "ai.onnx.ml";
        } else {
            return infi_ierr(e, INFER_EUNSUPPORTED, "unsupported operator %s.%s (domain not supported)", dom, nd->op_type);
        }
        if (ver < 0)
            ver = 1;   /* no opset_import for the domain: assume its first version */
        if (ver > INT32_MAX)
            return BAD(e, "opset version out of range");
        nd->opset = (int)ver;
        const opdef *op = infi_find_op(dom, nd->op_type);
        if (!op || ver < op->min_opset)
            return infi_ierr(e, INFER_EUNSUPPORTED, "unsupported operator %s.%s (opset %lld)", shown, nd->op_type,
                        (long long)ver);
        nd->op = op;
        if (op->init && op->init(m, nd, e) < 0) {
            /* prefix the message with the node so users can find it */
            infi_err_prefix(e, nd->op_type, nd->name);
            return e->code;
        }
    }
    return 0;
}

/* ---- public ---- */

int infer_load_buffer(const void *buf, size_t len, const char *base_dir, infer_model **out, infer_error *err)
{
    infer_error dummy;
    if (!err)
        err = &dummy;
    err->code = 0;
    err->msg[0] = 0;
    if (!out || (!buf && len))
        return infi_ierr(err, INFER_EINVAL, "invalid arguments");
    *out = NULL;
    infer_model *m = calloc(1, sizeof *m);
    if (!m)
        return infi_ierr(err, INFER_ENOMEM, "out of memory");
    if (base_dir) {
        m->dir = strdup(base_dir);
        if (!m->dir) {
            free(m);
            return infi_ierr(err, INFER_ENOMEM, "out of memory");
        }
    }
    int rc = decode_model(m, buf, len, err);
    if (rc == 0)
        rc = compile_nodes(m, err);
    if (rc == 0)
        rc = infi_fuse_nodes(m, err);
    if (rc < 0) {
        if (!err->code)
            infi_ierr(err, rc, "load failed");
        infer_model_free(m);
        return err->code;
    }
    *out = m;
    return 0;
}

int infer_load_file(const char *path, infer_model **out, infer_error *err)
{
    infer_error dummy;
    if (!err)
        err = &dummy;
    if (!path || !out)
        return infi_ierr(err, INFER_EINVAL, "invalid arguments");
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return infi_ierr(err, INFER_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return infi_ierr(err, INFER_EIO, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return infi_ierr(err, INFER_ENOMEM, "out of memory");
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, buf + got, n - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return infi_ierr(err, INFER_EIO, "%s: short read", path);
    }
    /* directory of the model, for external data */
    char *dir = strdup(path);
    if (!dir) {
        free(buf);
        return infi_ierr(err, INFER_ENOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    else
        strcpy(dir, ".");
    int rc = infer_load_buffer(buf, n, dir, out, err);
    free(dir);
    free(buf);
    return rc;
}

void infer_model_free(infer_model *m)
{
    if (!m)
        return;
    infi_ar_free(&m->ar);
    free(m->dir);
    free(m);
}

int infer_input_count(const infer_model *m) { return m ? m->nin : 0; }
int infer_output_count(const infer_model *m) { return m ? m->nout : 0; }

int infer_input_info(const infer_model *m, int i, infer_value_info *out)
{
    if (!m || !out || i < 0 || i >= m->nin)
        return INFER_EINVAL;
    *out = m->in_info[i];
    return 0;
}

int infer_output_info(const infer_model *m, int i, infer_value_info *out)
{
    if (!m || !out || i < 0 || i >= m->nout)
        return INFER_EINVAL;
    *out = m->out_info[i];
    return 0;
}

int infer_input_index(const infer_model *m, const char *name)
{
    for (int i = 0; m && name && i < m->nin; i++)
        if (!strcmp(m->in_info[i].name, name))
            return i;
    return -1;
}

int infer_output_index(const infer_model *m, const char *name)
{
    for (int i = 0; m && name && i < m->nout; i++)
        if (!strcmp(m->out_info[i].name, name))
            return i;
    return -1;
}

const char *infer_producer(const infer_model *m) { return m ? m->producer : NULL; }

int64_t infer_opset(const infer_model *m, const char *domain)
{
    if (!m || !domain)
        return -1;
    if (!*domain || !strcmp(domain, "ai.onnx"))
        return m->opset_onnx;
    if (!strcmp(domain, "ai.onnx.ml"))
        return m->opset_ml;
    return -1;
}
