/* infer_load_fuzz.c - libFuzzer target for libcapstan-infer's ONNX loader:
 * any byte string must load or fail cleanly; a model that loads is also run
 * once on small zero-filled inputs so that operator setup sees the fuzzed
 * attributes. Build with `make fuzz FUZZ=infer_load` (clang) or replay the
 * seed corpus with the plain driver (make test-fuzz). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capstan/infer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    infer_model *m = NULL;
    infer_error e;
    if (infer_load_buffer(data, size, NULL, &m, &e) != 0)
        return 0;
    infer_ctx *c = infer_ctx_new(m, &e);
    int n = infer_input_count(m);
    infer_tensor *in = calloc((size_t)(n ? n : 1), sizeof *in);
    void **bufs = calloc((size_t)(n ? n : 1), sizeof *bufs);
    int ok = c && in && bufs;
    for (int i = 0; ok && i < n; i++) {
        infer_value_info vi;
        infer_input_info(m, i, &vi);
        in[i].type = vi.type ? vi.type : INFER_FLOAT;
        in[i].ndim = vi.ndim < 0 ? 2 : vi.ndim;
        int64_t count = 1;
        for (int d = 0; d < in[i].ndim; d++) {
            int64_t v = vi.ndim < 0 || vi.dims[d] < 0 ? 2 : vi.dims[d];
            if (v > 64)
                ok = 0;   /* keep runs small */
            in[i].dims[d] = v;
            count *= v;
        }
        size_t es = infer_type_size(in[i].type);
        if (!es || count > 4096) {
            ok = 0;
            break;
        }
        bufs[i] = calloc((size_t)count + 1, es);
        if (in[i].type == INFER_STRING)
            for (int64_t k = 0; k < count; k++)
                ((const char **)bufs[i])[k] = "";
        in[i].data = bufs[i];
    }
    if (ok) {
        int nout = infer_output_count(m);
        infer_tensor *out = calloc((size_t)(nout ? nout : 1), sizeof *out);
        if (out && infer_run(c, in, n, out, nout, &e) == 0)
            for (int i = 0; i < nout; i++)
                infer_tensor_release(&out[i]);
        free(out);
    }
    for (int i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(in);
    infer_ctx_free(c);
    infer_model_free(m);
    return 0;
}
