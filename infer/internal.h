/* internal.h - shared internals of libcapstan-infer: the arena, the
 * protobuf reader, the loaded-model structures, runtime values and the
 * operator table. Nothing here is part of the public API: its functions
 * and tables carry the infi_ prefix and hidden visibility (infer.h). */
#ifndef INFER_INTERNAL_H
#define INFER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "capstan/infer.h"

/* Largest single tensor a run may create: a hostile graph (a huge
 * ConstantOfShape, say) fails cleanly instead of exhausting memory.
 * Override with -DINFER_MAX_TENSOR_BYTES=... */
#ifndef INFER_MAX_TENSOR_BYTES
#define INFER_MAX_TENSOR_BYTES ((size_t)1 << 31)
#endif

/* Kernel instruction-set levels (infer_isa): kernels built for a level
 * carry TARGET_AVX2 / TARGET_AVX512 and are called only when
 * infi_isa_level() is at least that level. */
enum { INFI_ISA_PORTABLE = 0, INFI_ISA_AVX2 = 1, INFI_ISA_AVX512 = 2 };
int infi_isa_level(void);
int infi_isa_cpu_level(void);   /* the CPU's best, whatever the cap */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define INFI_HAVE_X86_LEVELS 1
#define TARGET_AVX2 __attribute__((target("arch=x86-64-v3")))
#define TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#endif

/* ---- arena: bump allocator; model structures and per-run scratch ---- */
typedef struct ar_block {
    struct ar_block *next;
    size_t cap, used;
    _Alignas(64) unsigned char data[];
} ar_block;

typedef struct arena {
    ar_block *head;   /* current block first */
    size_t total;     /* sum of capacities */
} arena;

void *infi_ar_alloc(arena *a, size_t n);          /* 64-byte aligned, NULL on failure */
void *infi_ar_calloc(arena *a, size_t count, size_t size);
char *infi_ar_strndup(arena *a, const char *s, size_t n);
void infi_ar_reset(arena *a);                       /* keeps memory for reuse */
void infi_ar_free(arena *a);

/* checked size arithmetic: return 0 on overflow */
static inline int mul_ok(size_t a, size_t b, size_t *r) { return !__builtin_mul_overflow(a, b, r); }

/* ---- errors ---- */
int infi_ierr(infer_error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* rewrites e->msg as "<op> node '<name>': <msg>" (truncated to fit) */
void infi_err_prefix(infer_error *e, const char *op, const char *name);

/* ---- protobuf wire reader (never trusts a length) ---- */
typedef struct pbr {
    const uint8_t *p, *end;
} pbr;

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* inline: the loader spends most of its time here on large tree models */
static inline int pb_varint(pbr *r, uint64_t *v)
{
    if (r->p < r->end && !(*r->p & 0x80)) {   /* one-byte fast path */
        *v = *r->p++;
        return 0;
    }
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;   /* more than 10 bytes */
}

/* Reads a tag; returns 1 with the field and wire type set, 0 at end of
 * buffer, <0 on error. */
static inline int pb_tag(pbr *r, uint32_t *field, int *wt)
{
    if (r->p >= r->end)
        return 0;
    uint64_t t;
    if (pb_varint(r, &t) < 0)
        return -1;
    if ((t >> 3) == 0 || (t >> 3) > 0x1fffffff)
        return -1;
    *field = (uint32_t)(t >> 3);
    *wt = (int)(t & 7);
    return 1;
}

/* length-delimited sub-buffer */
static inline int pb_len(pbr *r, pbr *sub)
{
    uint64_t n;
    if (pb_varint(r, &n) < 0)
        return -1;
    if (n > (uint64_t)(r->end - r->p))
        return -1;
    sub->p = r->p;
    sub->end = r->p + n;
    r->p += n;
    return 0;
}

static inline int pb_skip(pbr *r, int wt)
{
    uint64_t v;
    pbr sub;
    switch (wt) {
    case PB_VARINT:
        return pb_varint(r, &v);
    case PB_I64:
        if (r->end - r->p < 8)
            return -1;
        r->p += 8;
        return 0;
    case PB_I32:
        if (r->end - r->p < 4)
            return -1;
        r->p += 4;
        return 0;
    case PB_LEN:
        return pb_len(r, &sub);
    default:
        return -1;   /* groups (3, 4) and 6, 7 never appear in ONNX */
    }
}

/* ---- runtime values ---- */
typedef struct tval {
    int kind;          /* INFER_KIND_* */
    int type;          /* INFER_* element type */
    int ndim;
    int64_t dims[INFER_MAX_DIMS];
    int64_t n;         /* element count */
    void *data;        /* strings: char *[n] */
    int key_type;      /* seq(map) only */
    int64_t nkeys;
    const void *keys;
    int set;           /* has a value in this run */
    void *bind;        /* caller's output buffer for this value, if any */
    size_t bind_cap;   /* its size in bytes */
} tval;

size_t infi_elem_size(int type);
int64_t infi_dims_count(int ndim, const int64_t *dims);   /* -1 on overflow */

/* ---- model ---- */
enum {
    AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_TENSOR = 4, AT_GRAPH = 5,
    AT_FLOATS = 6, AT_INTS = 7, AT_STRINGS = 8, AT_TENSORS = 9, AT_GRAPHS = 10
};

typedef struct attr {
    const char *name;
    int type;
    float f;
    int64_t i;
    const char *s;     /* NUL-terminated copy */
    size_t slen;
    tval *t;
    int64_t n;         /* element count for the list types */
    float *floats;
    int64_t *ints;
    char **strings;
} attr;

struct infer_model;
struct exec;
struct node;

typedef int (*op_init_fn)(struct infer_model *m, struct node *nd, infer_error *err);
typedef int (*op_exec_fn)(struct exec *r, const struct node *nd, tval **in, tval **out);

typedef struct opdef {
    const char *domain;   /* "" or "ai.onnx.ml" */
    const char *name;
    int min_opset;        /* lowest opset of the domain we implement */
    op_init_fn init;      /* may be NULL */
    op_exec_fn run;
} opdef;

typedef struct node {
    const char *op_type, *domain, *name;
    int nin, nout;
    int *in, *out;        /* value indices; -1 for an omitted optional */
    int nattr;
    attr *attrs;
    int opset;            /* version of the node's domain */
    const opdef *op;
    void *state;          /* compiled by init, immutable afterwards */
} node;

typedef struct infer_model {
    arena ar;
    int nvalues;
    const char **vnames;
    tval *consts;             /* initializers and Constant outputs: .set != 0 */
    int nin, nout;
    int *in_idx, *out_idx;
    infer_value_info *in_info, *out_info;
    int nnodes;
    node *nodes;              /* topologically sorted */
    int64_t opset_onnx, opset_ml;
    const char *producer;
    char *dir;                /* directory for external data, or NULL */
    size_t max_scratch_hint;
} infer_model;

/* per-run state */
typedef struct exec {
    arena *ar;
    infer_error *err;
    const infer_model *m;
} exec;

struct infer_ctx {
    const infer_model *m;
    arena ar;
    tval *vals;
    tval **argv;             /* scratch for node in/out pointer lists */
    int argmax;
    int *bindmap;            /* value index -> requested output index, or -1 */
};

/* attribute lookup */
const attr *infi_get_attr(const node *nd, const char *name);
int64_t infi_attr_i(const node *nd, const char *name, int64_t dflt);
float infi_attr_f(const node *nd, const char *name, float dflt);
const char *infi_attr_s(const node *nd, const char *name, const char *dflt);

/* runtime helpers */
void *infi_exec_alloc(exec *r, size_t n);
/* Shapes and allocates out (type, dims); element storage zeroed for strings. */
int infi_tv_make(exec *r, tval *out, int type, int ndim, const int64_t *dims);
int infi_exec_fail(exec *r, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Converts a numeric tensor to a float / double / int64 buffer (arena). */
float *infi_tv_as_float(exec *r, const tval *t);
double *infi_tv_as_double(exec *r, const tval *t);
int64_t *infi_tv_as_int64(exec *r, const tval *t);
int infi_is_numeric(int type);
int infi_is_float_type(int type);

/* tensor decoding, shared by the loader and the test driver */
int infi_decode_tensor(arena *a, const uint8_t *buf, size_t len, const char *dir, tval *out,
                  const char **name, infer_error *err);

/* post transforms shared by trees, linear models and SVMs */
enum { PT_NONE = 0, PT_LOGISTIC, PT_SOFTMAX, PT_SOFTMAX_ZERO, PT_PROBIT };
int infi_parse_post_transform(const char *s);
float infi_pt_logistic(float x);
void infi_pt_logistic_n(float *v, int64_t n);   /* vectorised, in place */
void infi_pt_logistic_pairs(const float *z, int64_t n, float *out);   /* out[2i..2i+1] = logistic(-z[i]), logistic(z[i]) */
float infi_pt_probit(float x);
void infi_pt_softmax(float *v, int64_t n);
void infi_pt_softmax_zero(float *v, int64_t n);

/* constant right-hand sides packed at load time into K x 32 panels */
float *infi_gemm_pack_b(arena *a, const float *B, int64_t K, int64_t N);
/* C[MxN] += A * B with B row-major K x N, Bp its packed panels */
void infi_gemm_f32_packed(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp, const float *B,
                     float *C, int64_t ldc);

/* C = A * B + bias, then Relu if asked, written once (C is not read):
 * for many rows the bias and Relu passes over C cost as much as the
 * product's own stores. Returns 0 (nothing done) where it does not apply:
 * the caller then initialises C and calls infi_gemm_f32_packed. */
typedef struct gemm_epi {
    const float *bias;   /* N values or NULL */
    int relu;
} gemm_epi;
int infi_gemm_f32_packed_ep(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp, const float *B,
                       float *C, int64_t ldc, const gemm_epi *ep);

/* load-time fusion of MatMul/Gemm with a following bias Add and Relu */
int infi_fuse_nodes(infer_model *m, infer_error *e);

/* operator table lookup */
const opdef *infi_find_op(const char *domain, const char *name);

/* op tables per file */
extern const opdef infi_ops_ml[];
extern const opdef infi_ops_tree[];
extern const opdef infi_ops_math[];
extern const opdef infi_ops_shape[];
extern const opdef infi_ops_nn[];

/* gemm kernel: C[MxN] = alpha * op(A) * op(B) + beta*C (C already holds the bias or 0) */
void infi_gemm_f32(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc);

#endif
