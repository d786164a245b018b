/* bench_infer.c - C timing harness for libcapstan-infer, driven by
 * bench.py: loads a model, feeds rows from a raw float32 file in batches of
 * B, and prints one JSON line with load time, resident memory growth and
 * microseconds per call / per row (single thread, one context), plus the
 * process's peak resident set (VmHWM from /proc/self/status) before the
 * model is loaded and at exit. With MIN_SECONDS 0 it runs the model 17 times
 * on the first BATCH rows - the memory measurement bench.py makes.
 *
 *
 *   bench_infer MODEL.onnx ROWS.f32 NFEATURES BATCH [MIN_SECONDS]
 *
 * With --exec it instead runs CMD (stdout to /dev/null) and prints its wall
 * time, fork to reap, and its peak RSS (ru_maxrss from wait4). A child
 * forked straight from the Python driver would report the driver's own
 * high-water mark (Linux carries it across exec); this small process keeps
 * that floor at ~2 MB.
 *
 *   bench_infer --exec CMD [ARGS...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capstan/infer.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* peak resident set so far, from /proc/self/status (VmHWM) */
static long hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) {
            kb = atol(line + 6);
            break;
        }
    fclose(f);
    return kb;
}

static int exec_child(char **argv)
{
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 1);
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    double el = now() - t0;
    printf("{\"wall_s\": %.6f, \"maxrss_kb\": %ld, \"status\": %d}\n", el, ru.ru_maxrss,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "--exec"))
        return exec_child(argv + 2);
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL ROWS.f32 NFEATURES BATCH [MIN_SECONDS]\n", argv[0]);
        return 2;
    }
    long nf = atol(argv[3]), batch = atol(argv[4]);
    double min_s = argc > 5 ? atof(argv[5]) : 0.5;
    FILE *f = fopen(argv[2], "rb");
    if (!f || nf <= 0 || batch <= 0) {
        perror(argv[2]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    long nrows = bytes / (long)sizeof(float) / nf;
    float *rows = malloc((size_t)bytes);
    if (!rows || fread(rows, 1, (size_t)bytes, f) != (size_t)bytes) {
        fprintf(stderr, "short read\n");
        return 2;
    }
    fclose(f);
    if (nrows < batch) {
        fprintf(stderr, "need at least %ld rows\n", batch);
        return 2;
    }
    long hwm0 = hwm_kb();
    long rss0 = rss_kb();
    double t0 = now();
    infer_model *m;
    infer_error e;
    if (infer_load_file(argv[1], &m, &e) != 0) {
        fprintf(stderr, "load: %s\n", e.msg);
        return 1;
    }
    infer_ctx *c = infer_ctx_new(m, &e);
    double load_ms = (now() - t0) * 1e3;
    int nout = infer_output_count(m);
    infer_tensor *out = calloc((size_t)nout, sizeof *out);
    /* caller-owned output buffers, sized on the first run */
    infer_tensor in = {.type = INFER_FLOAT, .ndim = 2, .dims = {batch, nf}};
    in.data = rows;
    if (infer_run(c, &in, 1, out, nout, &e) != 0) {
        fprintf(stderr, "run: %s\n", e.msg);
        return 1;
    }
    for (int i = 0; i < nout; i++)
        out[i].owned = 0;   /* keep the buffers: later runs write into them */
    long rss1 = rss_kb();
    long calls = 0, off = 0;
    double start = now(), el;
    do {
        for (int k = 0; k < 16; k++) {
            if (off + batch > nrows)
                off = 0;
            in.data = rows + off * nf;
            if (infer_run(c, &in, 1, out, nout, &e) != 0) {
                fprintf(stderr, "run: %s\n", e.msg);
                return 1;
            }
            off += batch;
            calls++;
        }
        el = now() - start;
    } while (el < min_s);
    double us_call = el / (double)calls * 1e6;
    printf("{\"load_ms\": %.3f, \"rss_kb\": %ld, \"us_per_call\": %.3f, \"us_per_row\": %.4f, \"calls\": %ld, "
           "\"hwm0_kb\": %ld, \"hwm_kb\": %ld}\n",
           load_ms, rss1 - rss0, us_call, us_call / (double)batch, calls, hwm0, hwm_kb());
    for (int i = 0; i < nout; i++)
        free(out[i].data);
    free(out);
    free(rows);
    infer_ctx_free(c);
    infer_model_free(m);
    return 0;
}
