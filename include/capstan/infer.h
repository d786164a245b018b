/* infer.h - public API of libcapstan-infer, an embeddable runtime for ONNX
 * classic-ML models (ai.onnx.ml trees, linear models, SVMs, encoders) and
 * small neural networks (ai.onnx MatMul/Gemm/activations).
 *
 * Shape of the API (after Lua's lapi.c): every function carries the infer_
 * prefix, there is no global state, errors come back as a negative code plus
 * a message in a caller-supplied struct infer_error, nothing aborts.
 *
 *   infer_model   loaded once, immutable; share it between any number of
 *                 threads.
 *   infer_ctx     per-thread run state (scratch memory, intermediate values);
 *                 one context runs one inference at a time.
 *
 *   infer_model *m; infer_error e;
 *   if (infer_load_file("m.onnx", &m, &e) < 0) { puts(e.msg); ... }
 *   infer_ctx *c = infer_ctx_new(m, &e);
 *   infer_tensor in = { .type = INFER_FLOAT, .ndim = 2, .dims = {n, 4}, .data = x };
 *   infer_tensor out[2] = {0};          // data == NULL: the library mallocs
 *   infer_run(c, &in, 1, out, 2, &e);
 *   ...; infer_tensor_release(&out[0]); infer_tensor_release(&out[1]);
 *   infer_ctx_free(c); infer_model_free(m);
 *
 * Depends on libc and libm only.
 */
#ifndef CAPSTAN_INFER_H
#define CAPSTAN_INFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library builds with -fvisibility=hidden: the functions declared
 * between push and pop are its only exported symbols (internals carry the
 * infi_ prefix, so they do not clash with a program's own names in a
 * static link either). */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

/* The one place the version is written: infer.mk and the capstan binary
 * read it from here. */
#define INFER_VERSION "0.1.0"
#define INFER_MAX_DIMS 8

/* Return codes: 0 on success, one of these (negative) on failure. */
enum infer_status {
    INFER_OK = 0,
    INFER_EINVAL = -1,       /* bad argument from the caller */
    INFER_ENOMEM = -2,       /* allocation failed */
    INFER_EIO = -3,          /* file could not be read */
    INFER_EFORMAT = -4,      /* model bytes are not a valid ONNX model */
    INFER_EUNSUPPORTED = -5, /* operator, type or attribute we do not implement */
    INFER_ESHAPE = -6,       /* inputs' types or shapes do not fit the model */
    INFER_ESPACE = -7,       /* a caller-owned output buffer is too small */
    INFER_ERUNTIME = -8      /* an operator failed on these values (e.g. unknown category) */
};

typedef struct infer_error {
    int code;       /* enum infer_status */
    char msg[256];
} infer_error;

/* Element types; the numbers are ONNX's TensorProto.DataType. */
enum infer_type {
    INFER_UNDEFINED = 0,
    INFER_FLOAT = 1, INFER_UINT8 = 2, INFER_INT8 = 3, INFER_UINT16 = 4,
    INFER_INT16 = 5, INFER_INT32 = 6, INFER_INT64 = 7,
    INFER_STRING = 8,   /* data is an array of `char *` (NUL-terminated) */
    INFER_BOOL = 9,     /* one byte per element, 0 or 1 */
    INFER_FLOAT16 = 10, INFER_DOUBLE = 11, INFER_UINT32 = 12, INFER_UINT64 = 13
};

/* What a value is. ZipMap's output is a sequence of maps, one map per row,
 * all with the same keys (the class labels). It is carried as a float
 * [rows, classes] tensor (the plain probability view) plus the keys. */
enum infer_kind {
    INFER_KIND_TENSOR = 0,
    INFER_KIND_SEQ_MAP = 1
};

typedef struct infer_tensor {
    int kind;                     /* enum infer_kind */
    int type;                     /* enum infer_type of the elements (map values) */
    int ndim;
    int64_t dims[INFER_MAX_DIMS];
    void *data;                   /* row-major elements */
    size_t nbytes;                /* capacity of data (caller-owned) / bytes used */
    /* INFER_KIND_SEQ_MAP only: the keys shared by every map; they belong to
     * the model and live as long as it. */
    int key_type;                 /* INFER_INT64 or INFER_STRING */
    int64_t nkeys;
    const void *keys;             /* int64_t[nkeys] or const char *[nkeys] */
    /* Set by the library: nonzero when it allocated data (free with
     * infer_tensor_release). */
    int owned;
} infer_tensor;

/* Description of a model input or output. Strings and arrays belong to the
 * model. A dimension is >= 0 when fixed, -1 when symbolic (dim_names[i]
 * then holds its name, or NULL when the model gives none). ndim is -1 when
 * the model declares no shape. */
typedef struct infer_value_info {
    const char *name;
    int kind;                     /* enum infer_kind */
    int type;                     /* element (or map value) type */
    int key_type;                 /* maps only */
    int ndim;
    const int64_t *dims;
    const char *const *dim_names;
} infer_value_info;

typedef struct infer_model infer_model;
typedef struct infer_ctx infer_ctx;

/* --- loading ---------------------------------------------------------- */

/* Loads an ONNX model. External tensor data may only live in regular files
 * inside the model's directory. */
int infer_load_file(const char *path, infer_model **out, infer_error *err);
/* Loads from memory; the buffer is not kept after the call returns.
 * base_dir resolves external data (NULL: external data is refused). */
int infer_load_buffer(const void *buf, size_t len, const char *base_dir,
                      infer_model **out, infer_error *err);
void infer_model_free(infer_model *m);

/* --- describing ------------------------------------------------------- */

int infer_input_count(const infer_model *m);
int infer_output_count(const infer_model *m);
int infer_input_info(const infer_model *m, int i, infer_value_info *out);
int infer_output_info(const infer_model *m, int i, infer_value_info *out);
/* Index of the named input / output, or -1. */
int infer_input_index(const infer_model *m, const char *name);
int infer_output_index(const infer_model *m, const char *name);
/* Model metadata (NULL when absent). */
const char *infer_producer(const infer_model *m);
int64_t infer_opset(const infer_model *m, const char *domain);

/* --- running ---------------------------------------------------------- */

infer_ctx *infer_ctx_new(const infer_model *m, infer_error *err);
void infer_ctx_free(infer_ctx *c);

/* Runs the model. inputs[i] feeds model input i (n_in must equal
 * infer_input_count). For each output i (n_out may be fewer than
 * infer_output_count: only the first n_out are returned):
 *   outputs[i].data != NULL: caller-owned buffer of outputs[i].nbytes bytes;
 *       INFER_ESPACE when it is too small. String outputs are packed into
 *       it: the pointer array first, then the characters.
 *   outputs[i].data == NULL: the library mallocs it; release it with
 *       infer_tensor_release.
 * On return kind/type/ndim/dims/nbytes (bytes used)/keys are filled.
 * A caller buffer may be written directly by the operator that produces
 * the output, so it must not overlap an input. A run that would create a
 * single tensor over 2 GiB (INFER_MAX_TENSOR_BYTES at build time) fails
 * with INFER_ENOMEM instead of exhausting memory. */
int infer_run(infer_ctx *c, const infer_tensor *inputs, int n_in,
              infer_tensor *outputs, int n_out, infer_error *err);

/* Frees the data of a tensor that infer_run allocated; no-op otherwise. */
void infer_tensor_release(infer_tensor *t);

/* --- helpers ---------------------------------------------------------- */

size_t infer_type_size(int type);          /* bytes per element, 0 if unknown */
const char *infer_type_name(int type);      /* "float", "int64", ... */
int64_t infer_tensor_count(const infer_tensor *t); /* product of dims */

/* --- vector kernels --------------------------------------------------- */

/* The instruction-set level of the kernels in force, process-wide:
 * "avx512" (x86-64-v4), "avx2" (x86-64-v3: AVX2, FMA) or "portable" (plain
 * C, the only level off x86-64 or without GCC). By default the highest the
 * CPU has; CAPSTAN_INFER_ISA caps it at startup. */
const char *infer_isa(void);
/* Caps the level ("avx512", "avx2", "portable"), so that one machine can
 * measure and test every variant. A level the CPU lacks falls to the
 * highest it has below it. Returns the level now in force, or NULL (and
 * changes nothing) when the name is none of the three. Runs already
 * under way finish on the level they started with. */
const char *infer_set_isa(const char *name);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
