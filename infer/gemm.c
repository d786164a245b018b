/* gemm.c - single-precision matrix multiply for MatMul, Gemm and the linear
 * models. A register tile accumulates over the whole K dimension while a
 * strip of B streams through L1; batch-1 products use a 64-column GEMV
 * (32 columns at the portable level).
 * The kernels use the GCC/clang vector extension, so they stay portable C
 * elsewhere; on x86-64 with GCC each kernel has one copy per instruction-
 * set level (infer_isa: portable, AVX2+FMA, AVX-512), picked per call by
 * infi_isa_level(), so a cap (CAPSTAN_INFER_ISA) really selects the code.
 * Tiles: 6x8 in 128-bit pieces over A copied with each value repeated
 * (portable: 12 of the 16 xmm registers of baseline x86-64), 6x16 over A copied into panels when A
 * exceeds L2 (AVX2: 12 of the 16 ymm), 12x32 and 6x32 (AVX-512: 24 of
 * the 32 zmm). OpenBLAS 0.3.21's AVX2 kernels measured slower than the
 * AVX2 tile (RESULTS.md).
 * Without GCC extensions a plain triple loop is used. Built with
 * CAP_INFER_OPENBLAS (make INFER_BLAS=openblas), products of at least
 * BLAS_MIN_MACS multiply-adds with M >= 6 go to OpenBLAS's cblas_sgemm
 * instead, which is told to use one thread (the runtime is single-threaded
 * per run). */
#include <stdlib.h>
#include <string.h>

#include "infer/internal.h"

#ifdef CAP_INFER_OPENBLAS
#include <cblas.h>
#include <pthread.h>
#ifndef BLAS_MIN_MACS
#define BLAS_MIN_MACS (1 << 20)
#endif
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_init(void) { openblas_set_num_threads(1); }
static int use_blas(int64_t M, int64_t N, int64_t K)
{
    if (M < 6 || (double)M * (double)N * (double)K < BLAS_MIN_MACS || M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return 0;
    pthread_once(&blas_once, blas_init);
    return 1;
}
#endif


/* Kernel bodies are inlined into one wrapper per level (PER_LEVEL below),
 * each compiled for that level's instruction set. */
#if defined(__GNUC__)
#define KERNEL static inline __attribute__((always_inline))
#else
#define KERNEL static inline
#endif

/* The column tail of a product: columns j0.. of C, one dot product at a
 * time (k in order, as the vector kernels sum) */
KERNEL void col_tail(int64_t j0, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep)
{
    for (; j0 < N; j0++)
        for (int64_t i = 0; i < M; i++) {
            float s = 0;
            for (int64_t k = 0; k < K; k++)
                s += A[i * lda + k] * B[k * ldb + j0];
            if (ep) {
                float y = ep->bias ? s + ep->bias[j0] : s;
                C[i * ldc + j0] = ep->relu && y < 0 ? 0.0f : y;
            } else {
                C[i * ldc + j0] += alpha * s;
            }
        }
}


#if defined(__GNUC__)
/* GCC/clang vector extension: 8 floats, lowered to AVX in the AVX2 and
 * AVX-512 copies and to SSE pairs (or NEON, ...) elsewhere */
typedef float v8 __attribute__((vector_size(32), aligned(4)));
#define LOADV(p) (*(const v8 *)(const void *)(p))
#define STOREV(p, v) (*(v8 *)(void *)(p) = (v))
typedef int32_t v8i __attribute__((vector_size(32), aligned(4)));

/* Writes a finished 8-column piece X of C at P: C += alpha * X, or with
 * an epilogue C = X + bias (then Relu: negatives to 0, NaN kept), so that
 * the bias and Relu passes over C disappear. BCOL: the piece's column. */
#define PUT8(P, X, BCOL)                                                       \
    do {                                                                       \
        if (!ep) {                                                             \
            STOREV(P, LOADV(P) + alpha * (X));                                 \
        } else {                                                               \
            v8 y_ = ep->bias ? (X) + LOADV(ep->bias + (BCOL)) : (X);           \
            if (ep->relu)                                                      \
                y_ = (v8)((v8i)y_ & ~(v8i)(y_ < (v8){0}));                     \
            STOREV(P, y_);                                                     \
        }                                                                      \
    } while (0)

/* C[i0..i0+6, j0..j0+16] += alpha * A * B over all of K */
#define TILE_ROWS 6
KERNEL void gemm_nn_body(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                    int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep)
{
    int64_t j0 = 0;
    for (; j0 + 16 <= N; j0 += 16) {
        int64_t i0 = 0;
        for (; i0 + TILE_ROWS <= M; i0 += TILE_ROWS) {
            v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
            v8 c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
            const float *a = A + i0 * lda, *b = B + j0;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                v8 b0 = LOADV(b), b1 = LOADV(b + 8);
                float a0 = a[k], a1 = a[lda + k], a2 = a[2 * lda + k], a3 = a[3 * lda + k], a4 = a[4 * lda + k],
                      a5 = a[5 * lda + k];
                c00 += a0 * b0; c01 += a0 * b1;
                c10 += a1 * b0; c11 += a1 * b1;
                c20 += a2 * b0; c21 += a2 * b1;
                c30 += a3 * b0; c31 += a3 * b1;
                c40 += a4 * b0; c41 += a4 * b1;
                c50 += a5 * b0; c51 += a5 * b1;
            }
            float *c = C + i0 * ldc + j0;
#define PUT(r, x0, x1) PUT8(c + (r) * ldc, x0, j0); PUT8(c + (r) * ldc + 8, x1, j0 + 8);
            PUT(0, c00, c01) PUT(1, c10, c11) PUT(2, c20, c21) PUT(3, c30, c31) PUT(4, c40, c41) PUT(5, c50, c51)
#undef PUT
        }
        for (; i0 < M; i0++) {
            v8 c0 = {0}, c1 = {0};
            const float *a = A + i0 * lda, *b = B + j0;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                c0 += a[k] * LOADV(b);
                c1 += a[k] * LOADV(b + 8);
            }
            float *c = C + i0 * ldc + j0;
            PUT8(c, c0, j0);
            PUT8(c + 8, c1, j0 + 8);
        }
    }
    col_tail(j0, M, N, K, alpha, A, lda, B, ldb, C, ldc, ep);
}

#ifdef INFI_HAVE_X86_LEVELS
typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define LOAD16(p) (*(const v16 *)(const void *)(p))
#define STORE16(p, v) (*(v16 *)(void *)(p) = (v))
typedef int32_t v16i __attribute__((vector_size(64), aligned(4)));
#define PUT16(c, x, bcol)                                                      \
    do {                                                                       \
        if (!ep) {                                                             \
            STORE16(c, LOAD16(c) + alpha * (x));                               \
        } else {                                                               \
            v16 y_ = ep->bias ? (x) + LOAD16(ep->bias + (bcol)) : (x);         \
            if (ep->relu)                                                      \
                y_ = (v16)((v16i)y_ & ~(v16i)(y_ < (v16){0}));                 \
            STORE16(c, y_);                                                    \
        }                                                                      \
    } while (0)

/* the 6-row tile (and a 12-row one), 32 columns wide, for AVX-512 machines */
TARGET_AVX512 static int64_t gemm_nn16(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                         int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep)
{
    int64_t j0 = 0;
    for (; j0 + 32 <= N; j0 += 32) {
        int64_t i0 = 0;
        /* twelve rows while they last: 24 accumulators of the 32 registers,
         * so each B load feeds twelve multiply-adds */
        for (; i0 + 12 <= M; i0 += 12) {
            v16 acc[12][2];
            for (int r = 0; r < 12; r++)
                acc[r][0] = acc[r][1] = (v16){0};
            const float *a = A + i0 * lda, *b = B + j0;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                v16 b0 = LOAD16(b), b1 = LOAD16(b + 16);
#pragma GCC unroll 12
                for (int r = 0; r < 12; r++) {
                    float ar = a[r * lda + k];
                    acc[r][0] += ar * b0;
                    acc[r][1] += ar * b1;
                }
            }
            float *c = C + i0 * ldc + j0;
#pragma GCC unroll 12
            for (int r = 0; r < 12; r++) {
                PUT16(c + r * ldc, acc[r][0], j0);
                PUT16(c + r * ldc + 16, acc[r][1], j0 + 16);
            }
        }
        for (; i0 + TILE_ROWS <= M; i0 += TILE_ROWS) {
            v16 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
            v16 c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
            const float *a = A + i0 * lda, *b = B + j0;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                v16 b0 = LOAD16(b), b1 = LOAD16(b + 16);
                float a0 = a[k], a1 = a[lda + k], a2 = a[2 * lda + k], a3 = a[3 * lda + k], a4 = a[4 * lda + k],
                      a5 = a[5 * lda + k];
                c00 += a0 * b0; c01 += a0 * b1;
                c10 += a1 * b0; c11 += a1 * b1;
                c20 += a2 * b0; c21 += a2 * b1;
                c30 += a3 * b0; c31 += a3 * b1;
                c40 += a4 * b0; c41 += a4 * b1;
                c50 += a5 * b0; c51 += a5 * b1;
            }
            float *c = C + i0 * ldc + j0;
#define PUT(r, x0, x1) PUT16(c + (r) * ldc, x0, j0); PUT16(c + (r) * ldc + 16, x1, j0 + 16);
            PUT(0, c00, c01) PUT(1, c10, c11) PUT(2, c20, c21) PUT(3, c30, c31) PUT(4, c40, c41) PUT(5, c50, c51)
#undef PUT
        }
        for (; i0 < M; i0++) {
            v16 c0 = {0}, c1 = {0};
            const float *a = A + i0 * lda, *b = B + j0;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                c0 += a[k] * LOAD16(b);
                c1 += a[k] * LOAD16(b + 16);
            }
            float *c = C + i0 * ldc + j0;
            PUT16(c, c0, j0);
            PUT16(c + 16, c1, j0 + 16);
        }
    }
    return j0;   /* columns done; the caller finishes the rest */
}
#endif

/* one row (batch 1): 64 columns at a time keep eight independent
 * accumulator chains busy */
KERNEL void gemv_nn_body(int64_t N, int64_t K, float alpha, const float *a, const float *B, int64_t ldb, float *c)
{
    int64_t j0 = 0;
    for (; j0 + 64 <= N; j0 += 64) {
        v8 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0};
        const float *b = B + j0;
        for (int64_t k = 0; k < K; k++, b += ldb) {
            float x = a[k];
            s0 += x * LOADV(b); s1 += x * LOADV(b + 8); s2 += x * LOADV(b + 16); s3 += x * LOADV(b + 24);
            s4 += x * LOADV(b + 32); s5 += x * LOADV(b + 40); s6 += x * LOADV(b + 48); s7 += x * LOADV(b + 56);
        }
        v8 *o = (v8 *)(void *)(c + j0);
        o[0] += alpha * s0; o[1] += alpha * s1; o[2] += alpha * s2; o[3] += alpha * s3;
        o[4] += alpha * s4; o[5] += alpha * s5; o[6] += alpha * s6; o[7] += alpha * s7;
    }
    for (; j0 + 8 <= N; j0 += 8) {
        v8 s0 = {0};
        const float *b = B + j0;
        for (int64_t k = 0; k < K; k++, b += ldb)
            s0 += a[k] * LOADV(b);
        STOREV(c + j0, LOADV(c + j0) + alpha * s0);
    }
    for (; j0 < N; j0++) {
        float s = 0;
        for (int64_t k = 0; k < K; k++)
            s += a[k] * B[k * ldb + j0];
        c[j0] += alpha * s;
    }
}
#else
/* portable fallback (the epilogue is only used with GCC extensions) */
KERNEL void gemm_nn_body(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                    int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep)
{
    (void)ep;
    for (int64_t i = 0; i < M; i++)
        for (int64_t k = 0; k < K; k++) {
            float a = alpha * A[i * lda + k];
            for (int64_t j = 0; j < N; j++)
                C[i * ldc + j] += a * B[k * ldb + j];
        }
}

KERNEL void gemv_nn_body(int64_t N, int64_t K, float alpha, const float *a, const float *B, int64_t ldb, float *c)
{
    gemm_nn_body(1, N, K, alpha, a, K, B, ldb, c, N, NULL);
}
#endif
#if defined(__GNUC__)
/* The portable level's kernels work on 128-bit pieces (baseline x86-64
 * SSE2, NEON, ...), as ops_tree.c's portable copies do: without AVX, GCC
 * lowers the 8-float v8 through the stack (each broadcast stored and
 * reloaded, the twelve accumulators in memory), which made the portable
 * MLP 30-40x slower than onnxruntime (bench/RESULTS.md). Each output is
 * still one accumulator summed over k in order, as at the other levels;
 * without FMA the products are rounded before the add, so the portable
 * bits differ from the AVX2/AVX-512 ones in the last place. */
typedef float v4 __attribute__((vector_size(16), aligned(4)));
typedef int32_t v4i __attribute__((vector_size(16), aligned(4)));
#define LOAD4(p) (*(const v4 *)(const void *)(p))
#define STORE4(p, v) (*(v4 *)(void *)(p) = (v))
#define PUT4(P, X, BCOL)                                                       \
    do {                                                                       \
        if (!ep) {                                                             \
            STORE4(P, LOAD4(P) + alpha * (X));                                 \
        } else {                                                               \
            v4 y_ = ep->bias ? (X) + LOAD4(ep->bias + (BCOL)) : (X);           \
            if (ep->relu)                                                      \
                y_ = (v4)((v4i)y_ & ~(v4i)(y_ < (v4){0}));                     \
            STORE4(P, y_);                                                     \
        }                                                                      \
    } while (0)

/* C[6 x 8] (+)= six rows of A times 8 columns of B (row stride ldb) over
 * all of K: twelve accumulators, two pieces of B and one of A, 15 of the
 * 16 xmm registers. A is read in place (row stride lda, each value
 * broadcast: a load and a shuffle) or, with ab, from a copy holding each
 * value four times (ab[k * 6 + r], see gemm_block_port): the broadcast is
 * then a plain load, which takes the six shuffles per k step off the FP
 * pipes that the 12 multiplies and 12 adds need (~10% on the MLP) */
typedef float v4a __attribute__((vector_size(16)));
KERNEL void tile6x8_v4(int64_t K, const float *a, int64_t lda, const v4a *ab, const float *b, int64_t ldb,
                       float *c, int64_t ldc, int64_t j0, float alpha, const gemm_epi *ep)
{
    v4 acc[6][2];
    for (int r = 0; r < 6; r++)
        acc[r][0] = acc[r][1] = (v4){0};
    for (int64_t k = 0; k < K; k++, b += ldb) {
        v4 b0 = LOAD4(b), b1 = LOAD4(b + 4);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) {
            float x = ab ? 0.0f : a[r * lda + k];
            v4 ar = ab ? ab[k * 6 + r] : (v4){x, x, x, x};
            acc[r][0] += ar * b0;
            acc[r][1] += ar * b1;
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        PUT4(c + r * ldc, acc[r][0], j0);
        PUT4(c + r * ldc + 4, acc[r][1], j0 + 4);
    }
}

/* C[M x N] (+)= alpha * A * B: 6x8 tiles, row by row over each 8-column
 * strip (so a tile's six rows of A stay in L1 across the strips of a
 * 32-column panel), then rows and columns left over */
KERNEL void gemm_nn_v4(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B,
                       int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep)
{
    int64_t n8 = N - N % 8, i0 = 0;
    for (; i0 + 6 <= M; i0 += 6)
        for (int64_t j0 = 0; j0 < n8; j0 += 8)
            tile6x8_v4(K, A + i0 * lda, lda, NULL, B + j0, ldb, C + i0 * ldc + j0, ldc, j0, alpha, ep);
    for (; i0 < M; i0++)
        for (int64_t j0 = 0; j0 < n8; j0 += 8) {
            v4 c0 = {0}, c1 = {0};
            const float *a = A + i0 * lda, *b = B + j0;
            for (int64_t k = 0; k < K; k++, b += ldb) {
                c0 += a[k] * LOAD4(b);
                c1 += a[k] * LOAD4(b + 4);
            }
            float *c = C + i0 * ldc + j0;
            PUT4(c, c0, j0);
            PUT4(c + 4, c1, j0 + 4);
        }
    col_tail(n8, M, N, K, alpha, A, lda, B, ldb, C, ldc, ep);
}

/* one row (batch 1): 32 columns at a time, eight independent accumulator
 * chains, enough to cover the add latency */
KERNEL void gemv_nn_v4(int64_t N, int64_t K, float alpha, const float *a, const float *B, int64_t ldb, float *c)
{
    int64_t j0 = 0;
    for (; j0 + 32 <= N; j0 += 32) {
        v4 s[8];
        for (int q = 0; q < 8; q++)
            s[q] = (v4){0};
        const float *b = B + j0;
        for (int64_t k = 0; k < K; k++, b += ldb) {
            float x = a[k];
#pragma GCC unroll 8
            for (int q = 0; q < 8; q++)
                s[q] += x * LOAD4(b + 4 * q);
        }
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            STORE4(c + j0 + 4 * q, LOAD4(c + j0 + 4 * q) + alpha * s[q]);
    }
    for (; j0 + 4 <= N; j0 += 4) {
        v4 s0 = {0};
        const float *b = B + j0;
        for (int64_t k = 0; k < K; k++, b += ldb)
            s0 += a[k] * LOAD4(b);
        STORE4(c + j0, LOAD4(c + j0) + alpha * s0);
    }
    col_tail(j0, 1, N, K, alpha, a, K, B, ldb, c, N, NULL);
}
#define gemm_nn_portable gemm_nn_v4
#define gemv_nn_portable gemv_nn_v4
#else
#define gemm_nn_portable gemm_nn_body
#define gemv_nn_portable gemv_nn_body
#endif
#define gemm_nt_small_portable gemm_nt_small_body

/* dot-product form for B transposed with few rows or columns (linear
 * models): C[i,j] += alpha * sum_k A[i,k] * B[j,k] */
KERNEL void gemm_nt_small_body(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float *C, int64_t ldc)
{
    int64_t i = 0;
#if defined(__GNUC__) && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
    if (N == 1 && K >= 8) {
        /* one output (a binary linear model): eight rows' dot products side
         * by side; a K that is not a multiple of 8 ends with an overlapping
         * chunk x[K-8..K) whose already-counted part has weight 0; then the
         * eight partial-sum vectors are reduced together (seven adds) */
        int64_t nf = K / 8;
        v8 wt = {0};
        for (int j = 0; j < 8; j++)
            wt[j] = K - 8 + j >= nf * 8 ? B[K - 8 + j] : 0.0f;
        int rem = K % 8 != 0;
        for (; i + 8 <= M; i += 8) {
            v8 a[8];
            for (int g = 0; g < 8; g++) {
                const float *x = A + (i + g) * lda;
                v8 s = {0};
                for (int64_t c = 0; c < nf; c++)
                    s += LOADV(x + 8 * c) * LOADV(B + 8 * c);
                if (rem)
                    s += LOADV(x + K - 8) * wt;
                a[g] = s;
            }
#define EVEN_ODD(p, q) (__builtin_shufflevector(p, q, 0, 8, 2, 10, 4, 12, 6, 14) + \
                        __builtin_shufflevector(p, q, 1, 9, 3, 11, 5, 13, 7, 15))
#define PAIRS(p, q) (__builtin_shufflevector(p, q, 0, 1, 8, 9, 4, 5, 12, 13) + \
                     __builtin_shufflevector(p, q, 2, 3, 10, 11, 6, 7, 14, 15))
#define HALVES(p, q) (__builtin_shufflevector(p, q, 0, 1, 2, 3, 8, 9, 10, 11) + \
                      __builtin_shufflevector(p, q, 4, 5, 6, 7, 12, 13, 14, 15))
            v8 c01 = EVEN_ODD(a[0], a[1]), c23 = EVEN_ODD(a[2], a[3]), c45 = EVEN_ODD(a[4], a[5]),
               c67 = EVEN_ODD(a[6], a[7]);
            v8 e = HALVES(PAIRS(c01, c23), PAIRS(c45, c67));
#undef EVEN_ODD
#undef PAIRS
#undef HALVES
            for (int g = 0; g < 8; g++)
                C[(i + g) * ldc] += alpha * e[g];
        }
    }
#endif
#endif
#if defined(__GNUC__)
    /* many rows, short rows: transpose 8 rows into a K x 8 block so that
     * the products vectorise across rows with no horizontal sums */
    if (K <= 256 && N <= 16) {
        float At[256 * 8];
        for (; i + 8 <= M; i += 8) {
            for (int64_t k = 0; k < K; k++)
                for (int g = 0; g < 8; g++)
                    At[k * 8 + g] = A[(i + g) * lda + k];
            for (int64_t j = 0; j < N; j++) {
                const float *b = B + j * ldb;
                v8 acc = {0};
                for (int64_t k = 0; k < K; k++)
                    acc += LOADV(At + k * 8) * b[k];
                for (int g = 0; g < 8; g++)
                    C[(i + g) * ldc + j] += alpha * acc[g];
            }
        }
    }
#endif
    for (; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            const float *a = A + i * lda, *b = B + j * ldb;
            float s = 0;
            int64_t k = 0;
#if defined(__GNUC__)
            v8 acc = {0};
            for (; k + 8 <= K; k += 8)
                acc += LOADV(a + k) * LOADV(b + k);
            s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
#endif
            for (; k < K; k++)
                s += a[k] * b[k];
            C[i * ldc + j] += alpha * s;
        }
}

/* The bias of an epilogue seen from column j of the product (NULL stays NULL) */
static const gemm_epi *epi_at(const gemm_epi *ep, int64_t j, gemm_epi *tmp)
{
    if (!ep)
        return NULL;
    *tmp = *ep;
    tmp->bias = ep->bias ? ep->bias + j : NULL;
    return tmp;
}

#if defined(__GNUC__)
/* C[6 x 16] (+)= six rows of A times a 16-column strip of B. A is read at
 * a[r * rs + k * ks]: rs = 1, ks = 6 for a packed panel (one 24-byte run
 * per k step), rs = lda, ks = 1 in place. Twelve accumulators, two B
 * vectors and a broadcast: 15 of AVX2's 16 ymm registers. */
KERNEL void tile6x16(int64_t K, const float *a, int64_t rs, int64_t ks, const float *b, int64_t ldb, float *c,
                     int64_t ldc, int64_t j0, float alpha, const gemm_epi *ep)
{
    v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
    v8 c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
#pragma GCC unroll 4
    for (int64_t k = 0; k < K; k++, a += ks, b += ldb) {
        v8 b0 = LOADV(b), b1 = LOADV(b + 8);
        float a0 = a[0];
        c00 += a0 * b0; c01 += a0 * b1;
        float a1 = a[rs];
        c10 += a1 * b0; c11 += a1 * b1;
        float a2 = a[2 * rs];
        c20 += a2 * b0; c21 += a2 * b1;
        float a3 = a[3 * rs];
        c30 += a3 * b0; c31 += a3 * b1;
        float a4 = a[4 * rs];
        c40 += a4 * b0; c41 += a4 * b1;
        float a5 = a[5 * rs];
        c50 += a5 * b0; c51 += a5 * b1;
    }
#define PUT(r, x0, x1) PUT8(c + (r) * ldc, x0, j0); PUT8(c + (r) * ldc + 8, x1, j0 + 8);
    PUT(0, c00, c01) PUT(1, c10, c11) PUT(2, c20, c21) PUT(3, c30, c31) PUT(4, c40, c41) PUT(5, c50, c51)
#undef PUT
}
#endif

#ifdef INFI_HAVE_X86_LEVELS
/* the AVX2 tile at rows i0, columns j0: A from its panel copy ap (or in
 * place), B from its packed 32-column panel (below column npk) or in place */
KERNEL void tile_at(int64_t i0, int64_t j0, int64_t K, const float *A, int64_t lda, const float *ap,
                    const float *Bp, int64_t npk, const float *B, int64_t ldb, float *C, int64_t ldc,
                    const gemm_epi *ep)
{
    const float *b = j0 < npk ? Bp + (j0 / 32) * K * 32 + j0 % 32 : B + j0;
    int64_t lb = j0 < npk ? 32 : ldb;
    if (ap)
        tile6x16(K, ap + i0 * K, 1, 6, b, lb, C + i0 * ldc + j0, ldc, j0, 1.0f, ep);
    else
        tile6x16(K, A + i0 * lda, lda, 1, b, lb, C + i0 * ldc + j0, ldc, j0, 1.0f, ep);
}

/* One block of m rows on AVX2. With cold (the whole A larger than 256 KB,
 * so not in L2 from the layer before) the rows are first copied into
 * 6-row panels, k-major, so that they come from memory once, in order, and
 * each k step's six broadcasts read one 24-byte run instead of six rows:
 * on a Zen 4 (AVX2 level forced) 93 GFLOP/s at M=10,000, N=K=256 against
 * 83 in place; at M=100 the copy is a 3% loss (A is already in L2), hence
 * cold. Then each 16-column strip of B runs over every panel while it
 * stays in L1. Rows past a multiple of 6 (the caller pads them to 6
 * unless out of memory) and columns past a multiple of 16 go to the plain
 * 6x16 kernel. */
TARGET_AVX2 static void gemm_block_avx2(int64_t m, int64_t N, int64_t K, const float *A, int64_t lda,
                                        const float *Bp, const float *B, int64_t ldb, float *C, int64_t ldc,
                                        const gemm_epi *ep, int cold)
{
    int64_t m6 = m - m % 6, n16 = N - N % 16, npk = Bp ? N - N % 32 : 0;
    float *ap = m6 && n16 && cold ? malloc((size_t)(m6 * K) * sizeof(float)) : NULL;
    gemm_epi t;
    for (int64_t i0 = 0; ap && i0 < m6; i0 += 6)
        for (int64_t k = 0; k < K; k++)
            for (int r = 0; r < 6; r++)
                ap[i0 * K + k * 6 + r] = A[(i0 + r) * lda + k];
    /* a B small enough for L1 (K * N * 4 <= 32 KB: a first layer) stays
     * there whatever the order, so row panels go outside and C fills row
     * by row; otherwise 16-column strips go outside */
    if (K * n16 <= 8192) {
        for (int64_t i0 = 0; i0 < m6; i0 += 6)
            for (int64_t j0 = 0; j0 < n16; j0 += 16)
                tile_at(i0, j0, K, A, lda, ap, Bp, npk, B, ldb, C, ldc, ep);
    } else {
        for (int64_t j0 = 0; j0 < n16; j0 += 16)
            for (int64_t i0 = 0; i0 < m6; i0 += 6)
                tile_at(i0, j0, K, A, lda, ap, Bp, npk, B, ldb, C, ldc, ep);
    }
    free(ap);
    if (n16 < N)
        gemm_nn_body(m, N - n16, K, 1.0f, A, lda, B + n16, ldb, C + n16, ldc, epi_at(ep, n16, &t));
    if (m6 < m)
        gemm_nn_body(m - m6, n16, K, 1.0f, A + m6 * lda, lda, B, ldb, C + m6 * ldc, ldc, ep);
}
#endif

/* One block of m rows: every 32-column panel (packed or not), then the
 * columns left over; wide: the AVX-512 kernel */
KERNEL void gemm_block_body(int64_t (*wide)(int64_t, int64_t, int64_t, float, const float *, int64_t,
                                            const float *, int64_t, float *, int64_t, const gemm_epi *),
                            int64_t m, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp,
                            const float *B, int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep)
{
    int64_t done = 0;
    gemm_epi t;
    if (Bp) {
        int64_t np = N / 32;
        for (int64_t q = 0; q < np; q++) {
            const float *panel = Bp + q * K * 32;
            wide(m, 32, K, 1.0f, A, lda, panel, 32, C + q * 32, ldc, epi_at(ep, q * 32, &t));
        }
        done = np * 32;
    } else {
        done = wide(m, N, K, 1.0f, A, lda, B, ldb, C, ldc, ep);
    }
    if (done < N)
        gemm_nn_body(m, N - done, K, 1.0f, A, lda, B + done, ldb, C + done, ldc, epi_at(ep, done, &t));
}

/* One copy of a kernel body per instruction-set level (infer_isa) and a
 * dispatcher on infi_isa_level(); one plain copy where levels do not
 * exist. The portable copy runs name_portable: the 128-bit kernels where
 * those exist, else the body. */
#ifdef INFI_HAVE_X86_LEVELS
#define PER_LEVEL(name, params, args)                                          \
    static void name##_port params { name##_portable args; }                   \
    TARGET_AVX2 static void name##_avx2 params { name##_body args; }           \
    TARGET_AVX512 static void name##_avx512 params { name##_body args; }       \
    static void name params                                                    \
    {                                                                          \
        switch (infi_isa_level()) {                                            \
        case INFI_ISA_AVX512: name##_avx512 args; return;                      \
        case INFI_ISA_AVX2: name##_avx2 args; return;                          \
        default: name##_port args; return;                                     \
        }                                                                      \
    }
#else
#define PER_LEVEL(name, params, args) \
    static void name params { name##_portable args; }
#endif

#define NN_PARAMS (int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B, \
                   int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep)
PER_LEVEL(gemm_nn, NN_PARAMS, (M, N, K, alpha, A, lda, B, ldb, C, ldc, ep))
PER_LEVEL(gemv_nn, (int64_t N, int64_t K, float alpha, const float *a, const float *B, int64_t ldb, float *c),
          (N, K, alpha, a, B, ldb, c))
PER_LEVEL(gemm_nt_small,
          (int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
           float *C, int64_t ldc),
          (M, N, K, alpha, A, lda, B, ldb, C, ldc))

/* cold: the whole A is larger than L2 (see gemm_block_avx2) */
#define BLOCK_PARAMS (int64_t m, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp, \
                      const float *B, int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep, int cold)
/* The portable level: six rows of A at a time copied with each value
 * four times (6 * K * 16 bytes, 24 KB at K = 256: it stays in L1 while it
 * is read N / 8 times), then the 6x8 tiles over every packed 32-column
 * panel; rows past a multiple of 6 (only where gemm_rows could not pad
 * them) and columns past the panels go to the in-place tiles. Each output
 * is one k-ordered sum either way, so the copy does not change the bits. */
static void gemm_block_port BLOCK_PARAMS
{
    (void)cold;
    gemm_epi t;
    int64_t done = Bp ? N - N % 32 : 0, m6 = 0;
#if defined(__GNUC__)
    v4a *ab = done && m >= 6 ? aligned_alloc(16, (size_t)(6 * K) * sizeof(v4a)) : NULL;
    for (m6 = 0; ab && m6 + 6 <= m; m6 += 6) {
        for (int64_t k = 0; k < K; k++)
            for (int r = 0; r < 6; r++) {
                float x = A[(m6 + r) * lda + k];
                ab[k * 6 + r] = (v4a){x, x, x, x};
            }
        for (int64_t q = 0; q < done; q += 32)
            for (int64_t j = 0; j < 32; j += 8)
                tile6x8_v4(K, NULL, 0, ab, Bp + q * K + j, 32, C + m6 * ldc + q + j, ldc, j, 1.0f,
                           epi_at(ep, q, &t));
    }
    free(ab);
#endif
    for (int64_t q = 0; q < done && m6 < m; q += 32)
        gemm_nn_portable(m - m6, 32, K, 1.0f, A + m6 * lda, lda, Bp + q * K, 32, C + m6 * ldc + q, ldc,
                         epi_at(ep, q, &t));
    if (done < N)
        gemm_nn_portable(m, N - done, K, 1.0f, A, lda, B + done, ldb, C + done, ldc, epi_at(ep, done, &t));
}
#ifdef INFI_HAVE_X86_LEVELS
TARGET_AVX512 static void gemm_block_avx512 BLOCK_PARAMS
{
    (void)cold;
    gemm_block_body(gemm_nn16, m, N, K, A, lda, Bp, B, ldb, C, ldc, ep);
}
#endif
static void gemm_block BLOCK_PARAMS
{
#ifdef INFI_HAVE_X86_LEVELS
    switch (infi_isa_level()) {
    case INFI_ISA_AVX512: gemm_block_avx512(m, N, K, A, lda, Bp, B, ldb, C, ldc, ep, cold); return;
    case INFI_ISA_AVX2: gemm_block_avx2(m, N, K, A, lda, Bp, B, ldb, C, ldc, ep, cold); return;
    default: break;
    }
#endif
    gemm_block_port(m, N, K, A, lda, Bp, B, ldb, C, ldc, ep, cold);
}

static float *transpose_copy(const float *X, int64_t rows, int64_t cols, int64_t ld)
{
    float *T = malloc((size_t)(rows * cols + 1) * sizeof(float));
    if (!T)
        return NULL;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            T[j * rows + i] = X[i * ld + j];
    return T;
}

static void gemm_rows(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp, const float *B,
                      int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep);

void infi_gemm_f32(int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0 || K <= 0)
        return;
    float *ta = NULL, *tb = NULL;
    if (transA) {
        /* A is stored K x M */
        ta = transpose_copy(A, K, M, lda);
        if (!ta)
            goto naive;
        A = ta;
        lda = K;
        transA = 0;
    }
    if (transB) {
        if (M <= 4 || N < 16) {
            /* few rows or few columns: contiguous dot products beat a
             * transposed copy plus a mostly-empty register tile */
            gemm_nt_small(M, N, K, alpha, A, lda, B, ldb, C, ldc);
            free(ta);
            return;
        }
        tb = transpose_copy(B, N, K, ldb);
        if (!tb)
            goto naive;
        B = tb;
        ldb = N;
    }
#ifdef CAP_INFER_OPENBLAS
    if (use_blas(M, N, K)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, alpha, A, (int)lda, B,
                    (int)ldb, 1.0f, C, (int)ldc);
        free(ta);
        free(tb);
        return;
    }
#endif
    if (M == 1)
        gemv_nn(N, K, alpha, A, B, ldb, C);
    else if (alpha == 1.0f)
        gemm_rows(M, N, K, A, lda, NULL, B, ldb, C, ldc, NULL);
    else
        gemm_nn(M, N, K, alpha, A, lda, B, ldb, C, ldc, NULL);
    free(ta);
    free(tb);
    return;
naive:
    /* out of memory for the transposed copy: slow path without allocation */
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            float s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (transA ? A[k * lda + i] : A[i * lda + k]) * (transB ? B[j * ldb + k] : B[k * ldb + j]);
            C[i * ldc + j] += alpha * s;
        }
    free(ta);
}

/* B packed into K x 32 panels (see infi_gemm_pack_b): each k step reads 128
 * contiguous bytes instead of two rows of a wide matrix. */
float *infi_gemm_pack_b(arena *a, const float *B, int64_t K, int64_t N)
{
    int64_t np = N / 32;
    float *p = infi_ar_alloc(a, (size_t)(np * K * 32 + 1) * sizeof(float));
    if (!p)
        return NULL;
    for (int64_t q = 0; q < np; q++)
        for (int64_t k = 0; k < K; k++)
            memcpy(p + (q * K + k) * 32, B + k * N + q * 32, 32 * sizeof(float));
    return p;
}

/* C[MxN] += A * B; rows in L2-sized blocks, and a last partial tile of
 * fewer than 6 rows padded to a full one (the one-row loop is latency
 * bound) */
static void gemm_rows(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp, const float *B,
                      int64_t ldb, float *C, int64_t ldc, const gemm_epi *ep)
{
    if (N < 16 && !ep) {
        /* a narrow product (a classifier's last layer): the column tail of
         * the tile kernels would be scalar and strided, dot products over a
         * transposed B vectorise */
        float *bt = transpose_copy(B, K, N, ldb);
        if (bt) {
            gemm_nt_small(M, N, K, 1.0f, A, lda, bt, K, C, ldc);
            free(bt);
            return;
        }
    }
    int cold = M * K > 64 * 1024;
    int64_t mb = (128 * 1024 / 4) / K;
    mb = mb < 6 ? 6 : mb - mb % 6;
    int64_t full = M - M % 6;
    for (int64_t i0 = 0; i0 < full; i0 += mb) {
        int64_t m = full - i0 < mb ? full - i0 : mb;
        gemm_block(m, N, K, A + i0 * lda, lda, Bp, B, ldb, C + i0 * ldc, ldc, ep, cold);
    }
    int64_t rem = M - full;
    if (!rem)
        return;
    float *Ap = calloc((size_t)(6 * K), sizeof(float)), *Cp = calloc((size_t)(6 * N), sizeof(float));
    if (!Ap || !Cp) {
        free(Ap);
        free(Cp);
        gemm_block(rem, N, K, A + full * lda, lda, Bp, B, ldb, C + full * ldc, ldc, ep, cold);
        return;
    }
    for (int64_t r = 0; r < rem; r++) {
        memcpy(Ap + r * K, A + (full + r) * lda, (size_t)K * sizeof(float));
        memcpy(Cp + r * N, C + (full + r) * ldc, (size_t)N * sizeof(float));
    }
    gemm_block(6, N, K, Ap, K, Bp, B, ldb, Cp, N, ep, 0);
    for (int64_t r = 0; r < rem; r++)
        memcpy(C + (full + r) * ldc, Cp + r * N, (size_t)N * sizeof(float));
    free(Ap);
    free(Cp);
}

void infi_gemm_f32_packed(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp, const float *B,
                     float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0 || K <= 0)
        return;
#ifdef CAP_INFER_OPENBLAS
    if (use_blas(M, N, K)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)N,
                    1.0f, C, (int)ldc);
        return;
    }
#endif
    if (M == 1)
        gemv_nn(N, K, 1.0f, A, B, N, C);
    else
        gemm_rows(M, N, K, A, lda, Bp, B, N, C, ldc, NULL);
}

int infi_gemm_f32_packed_ep(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp, const float *B,
                       float *C, int64_t ldc, const gemm_epi *ep)
{
#ifdef CAP_INFER_OPENBLAS
    if (K > 0 && N > 0 && use_blas(M, N, K)) {
        /* the library's product onto C preset to the bias, then Relu */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                C[i * ldc + j] = ep->bias ? ep->bias[j] : 0.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)N,
                    1.0f, C, (int)ldc);
        if (ep->relu)
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++)
                    C[i * ldc + j] = C[i * ldc + j] < 0 ? 0.0f : C[i * ldc + j];
        return 1;
    }
#endif
#if defined(__GNUC__)
    if (M < 6 || N < 16 || K <= 0)
        return 0;
    gemm_rows(M, N, K, A, lda, Bp, B, N, C, ldc, ep);
    return 1;
#else
    return 0;
#endif
}
