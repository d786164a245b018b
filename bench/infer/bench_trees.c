/* bench_trees.c - C timing harness for bench_trees.py: one binary tree
 * ensemble, one engine, single thread, float32 rows from a raw file, batches
 * of B rows taken in turn from the file (wrapping), microseconds per row.
 *
 *   bench_trees ENGINE MODEL ROWS.f32 NFEATURES SECONDS BATCH[,BATCH...] [ISA[,ISA...]]
 *   bench_trees ENGINE MODEL ROWS.f32 NFEATURES --dump OUT.f64 BATCH NROWS [ISA]
 *
 * ENGINE is one of
 *   capstan  MODEL is an ONNX file run by libcapstan-infer (linked in); each
 *            ISA ("avx512", "avx2", "portable") is forced in turn with
 *            infer_set_isa and the level really in force (infer_isa) is
 *            printed per cell;
 *   lleaves  MODEL is a shared object linked from lleaves' compiled object
 *            file; its entry point is
 *              void forest_root(double *rows, double *out, int32_t begin, int32_t end)
 *            (rows row-major float64, out[i] = probability of row i);
 *   tl2cgen  MODEL is a shared object built from TL2cgen's C code; its entry
 *            point is  void predict(union Entry *row, int pred_margin, T *out)
 *            for one row, where Entry is {int missing; T' fvalue; int qvalue}
 *            and T, T' are float or double as get_leaf_output_type() and
 *            get_threshold_type() say; out must be zeroed first.
 *
 * Every engine is handed the same float32 rows and converts them inside the
 * timed loop to what it reads (float64 for lleaves, Entry records for
 * tl2cgen: its quantized build overwrites fvalue with qvalue in place, so the
 * records cannot be prepared once). That costs about 28 loads and stores per
 * row, a few nanoseconds against the microseconds a 500-tree ensemble takes.
 *
 * Timing mode prints one JSON line per cell; --dump writes the probability of
 * the positive class for the first NROWS rows, run in batches of BATCH (the
 * last batch may be short), as float64 - bench_trees.py checks it against
 * LightGBM's / XGBoost's own predictions before any timing is trusted. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capstan/infer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One engine behind one call: predict rows[0..n) into prob[0..n). */
typedef struct engine {
    int (*run)(struct engine *e, const float *rows, long n, double *prob);
    long nf;
    /* capstan */
    infer_model *model;
    infer_ctx *ctx;
    infer_tensor out[2];
    long out_rows;   /* rows the caller-owned output buffers hold */
    /* lleaves */
    void (*forest_root)(double *, double *, int32_t, int32_t);
    double *dbuf;
    /* tl2cgen */
    void (*predict)(void *, int, void *);
    int thr64, out64;
    unsigned char *entries;
    long cap;        /* rows dbuf / entries hold */
} engine;

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "bench_trees: %s: %s\n", what, why);
    return -1;
}

/* --- capstan ---------------------------------------------------------- */

static int capstan_size_outputs(engine *e, long n)
{
    infer_error err;
    for (int i = 0; i < 2; i++) {
        free(e->out[i].data);
        memset(&e->out[i], 0, sizeof e->out[i]);
    }
    /* the library sizes the buffers on this run; the caller owns them after */
    float *zeros = calloc((size_t)(n * e->nf), sizeof *zeros);
    infer_tensor in = {.type = INFER_FLOAT, .ndim = 2, .dims = {n, e->nf}, .data = zeros};
    int rc = infer_run(e->ctx, &in, 1, e->out, 2, &err);
    free(zeros);
    if (rc != 0)
        return fail("capstan run", err.msg);
    e->out[0].owned = e->out[1].owned = 0;
    e->out_rows = n;
    return 0;
}

static int capstan_run(engine *e, const float *rows, long n, double *prob)
{
    infer_error err;
    if (n != e->out_rows && capstan_size_outputs(e, n) != 0)
        return -1;
    infer_tensor in = {.type = INFER_FLOAT, .ndim = 2, .dims = {n, e->nf}, .data = (void *)rows};
    if (infer_run(e->ctx, &in, 1, e->out, 2, &err) != 0)
        return fail("capstan run", err.msg);
    if (prob) {
        const infer_tensor *p = &e->out[1];   /* probabilities, [n, 2] float */
        if (p->type != INFER_FLOAT || infer_tensor_count(p) != 2 * n)
            return fail("capstan", "second output is not float [rows, 2] probabilities");
        for (long i = 0; i < n; i++)
            prob[i] = ((const float *)p->data)[2 * i + 1];
    }
    return 0;
}

static int capstan_open(engine *e, const char *path)
{
    infer_error err;
    if (infer_load_file(path, &e->model, &err) != 0)
        return fail(path, err.msg);
    if (infer_output_count(e->model) != 2)
        return fail(path, "expected two outputs (label, probabilities)");
    e->ctx = infer_ctx_new(e->model, &err);
    if (!e->ctx)
        return fail(path, err.msg);
    e->run = capstan_run;
    return 0;
}

/* --- lleaves ---------------------------------------------------------- */

static int grow(engine *e, long n)
{
    if (n <= e->cap)
        return 0;
    free(e->dbuf);
    free(e->entries);
    e->dbuf = malloc((size_t)(n * e->nf) * sizeof(double));
    e->entries = malloc((size_t)(n * e->nf) * 8 + 8);
    e->cap = n;
    return e->dbuf && e->entries ? 0 : fail("grow", "out of memory");
}

static int lleaves_run(engine *e, const float *rows, long n, double *prob)
{
    static double sink[1 << 14];
    if (grow(e, n) != 0)
        return -1;
    for (long i = 0; i < n * e->nf; i++)
        e->dbuf[i] = rows[i];
    for (long i = 0; i < n; i += 1 << 14) {
        long m = n - i < (1 << 14) ? n - i : (1 << 14);
        e->forest_root(e->dbuf + i * e->nf, prob ? prob + i : sink, 0, (int32_t)m);
    }
    return 0;
}

/* --- tl2cgen ---------------------------------------------------------- */

static int tl2cgen_run(engine *e, const float *rows, long n, double *prob)
{
    size_t esz = e->thr64 ? 8 : 4;
    for (long i = 0; i < n; i++) {
        const float *r = rows + i * e->nf;
        unsigned char *ent = e->entries;
        for (long j = 0; j < e->nf; j++) {
            if (isnan(r[j])) {
                int missing = -1;
                memcpy(ent + j * esz, &missing, sizeof missing);
            } else if (e->thr64) {
                double v = r[j];
                memcpy(ent + j * esz, &v, sizeof v);
            } else {
                memcpy(ent + j * esz, &r[j], sizeof r[j]);
            }
        }
        double d = 0.0;
        float f = 0.0f;
        if (e->out64)
            e->predict(ent, 0, &d);
        else {
            e->predict(ent, 0, &f);
            d = f;
        }
        if (prob)
            prob[i] = d;
    }
    return 0;
}

static int so_open(engine *e, const char *path, const char *engine_name)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return fail(path, dlerror());
    if (!strcmp(engine_name, "lleaves")) {
        *(void **)&e->forest_root = dlsym(h, "forest_root");
        if (!e->forest_root)
            return fail(path, "no forest_root symbol (lleaves entry point)");
        e->run = lleaves_run;
        return 0;
    }
    const char *(*thr)(void), *(*leaf)(void);
    int32_t (*nfeat)(void);
    *(void **)&e->predict = dlsym(h, "predict");
    *(void **)&thr = dlsym(h, "get_threshold_type");
    *(void **)&leaf = dlsym(h, "get_leaf_output_type");
    *(void **)&nfeat = dlsym(h, "get_num_feature");
    if (!e->predict || !thr || !leaf || !nfeat)
        return fail(path, "missing predict / get_threshold_type / get_leaf_output_type / get_num_feature");
    if (nfeat() != e->nf)
        return fail(path, "model's feature count differs from NFEATURES");
    e->thr64 = !strcmp(thr(), "float64");
    e->out64 = !strcmp(leaf(), "float64");
    if (grow(e, 1) != 0)
        return -1;
    e->run = tl2cgen_run;
    return 0;
}

/* --- driver ----------------------------------------------------------- */

static float *read_rows(const char *path, long nf, long *nrows)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *rows = malloc((size_t)bytes);
    if (!rows || fread(rows, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "%s: short read\n", path);
        fclose(f);
        free(rows);
        return NULL;
    }
    fclose(f);
    *nrows = bytes / (long)sizeof(float) / nf;
    return rows;
}

/* Mean microseconds per row over at least min_s seconds of calls. */
static double time_cell(engine *e, const float *rows, long nrows, long batch, double min_s, long *calls)
{
    long off = 0, k = 0;
    int per_check = batch >= 1000 ? 1 : 8;   /* clock reads stay off small cells */
    if (e->run(e, rows, batch, NULL) != 0)   /* warm-up, sizes buffers */
        return -1.0;
    double start = now(), el;
    do {
        for (int i = 0; i < per_check; i++, k++) {
            if (off + batch > nrows)
                off = 0;
            if (e->run(e, rows + off * e->nf, batch, NULL) != 0)
                return -1.0;
            off += batch;
        }
        el = now() - start;
    } while (el < min_s);
    *calls = k;
    return el / (double)k / (double)batch * 1e6;
}

static int dump(engine *e, const float *rows, long nrows, const char *out, long batch, long n)
{
    if (n > nrows)
        n = nrows;
    double *prob = malloc((size_t)n * sizeof *prob);
    if (!prob)
        return 2;
    for (long i = 0; i < n; i += batch) {
        long m = n - i < batch ? n - i : batch;
        if (e->run(e, rows + i * e->nf, m, prob + i) != 0)
            return 1;
    }
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(prob, sizeof *prob, (size_t)n, f) != (size_t)n) {
        perror(out);
        return 2;
    }
    fclose(f);
    free(prob);
    printf("{\"isa\": \"%s\", \"rows\": %ld}\n", e->model ? infer_isa() : "-", n);
    return 0;
}

static int set_isa(engine *e, const char *isa)
{
    if (!e->model || !strcmp(isa, "-"))
        return 0;
    if (!infer_set_isa(isa)) {
        fprintf(stderr, "bench_trees: unknown ISA '%s' (expected avx512, avx2 or portable)\n", isa);
        return -1;
    }
    return 0;
}

static int time_all(engine *e, const float *rows, long nrows, double min_s, char *batches, char *isas)
{
    char *isa_save = NULL;
    for (char *isa = strtok_r(isas, ",", &isa_save); isa; isa = strtok_r(NULL, ",", &isa_save)) {
        if (set_isa(e, isa) != 0)
            return 2;
        char list[1024], *b_save = NULL;
        snprintf(list, sizeof list, "%s", batches);
        for (char *b = strtok_r(list, ",", &b_save); b; b = strtok_r(NULL, ",", &b_save)) {
            long batch = atol(b), calls = 0;
            if (batch <= 0 || batch > nrows) {
                fprintf(stderr, "bench_trees: batch %s outside 1..%ld rows\n", b, nrows);
                return 2;
            }
            double us = time_cell(e, rows, nrows, batch, min_s, &calls);
            if (us < 0)
                return 1;
            printf("{\"isa_asked\": \"%s\", \"isa\": \"%s\", \"batch\": %ld, \"us_per_row\": %.5f, \"calls\": %ld}\n",
                   isa, e->model ? infer_isa() : "-", batch, us, calls);
            fflush(stdout);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s capstan|lleaves|tl2cgen MODEL ROWS.f32 NFEATURES SECONDS BATCHES [ISAS]\n"
                        "       %s ENGINE MODEL ROWS.f32 NFEATURES --dump OUT.f64 BATCH NROWS [ISA]\n",
                argv[0], argv[0]);
        return 2;
    }
    engine e = {0};
    e.nf = atol(argv[4]);
    long nrows = 0;
    if (e.nf <= 0) {
        fail("NFEATURES", "expected a positive integer");
        return 2;
    }
    float *rows = read_rows(argv[3], e.nf, &nrows);
    if (!rows)
        return 2;
    int rc;
    if (!strcmp(argv[1], "capstan"))
        rc = capstan_open(&e, argv[2]);
    else if (!strcmp(argv[1], "lleaves") || !strcmp(argv[1], "tl2cgen"))
        rc = so_open(&e, argv[2], argv[1]);
    else
        rc = fail(argv[1], "unknown engine (expected capstan, lleaves or tl2cgen)");
    if (rc != 0)
        return 1;
    if (!strcmp(argv[5], "--dump")) {
        if (argc < 9) {
            fail("--dump", "needs OUT BATCH NROWS");
            return 2;
        }
        if (argc > 9 && set_isa(&e, argv[9]) != 0)
            return 2;
        long batch = atol(argv[7]), n = atol(argv[8]);
        rc = dump(&e, rows, nrows, argv[6], batch > 0 ? batch : 1, n > 0 ? n : nrows);
    } else {
        char isas[256];
        snprintf(isas, sizeof isas, "%s", argc > 7 ? argv[7] : "-");
        rc = time_all(&e, rows, nrows, atof(argv[5]), argv[6], isas);
    }
    free(rows);
    free(e.out[0].data);
    free(e.out[1].data);
    free(e.dbuf);
    free(e.entries);
    infer_ctx_free(e.ctx);
    infer_model_free(e.model);
    return rc;
}
