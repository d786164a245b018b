/* spec_fuzz.c - dvc.yaml is read from users' repositories: the spec
 * reader (libyaml events, DVC's fields, vars and ${...} templating,
 * foreach/matrix expansion, the DAG) must never crash, leak or loop on any
 * file. Each input is written as dvc.yaml in a scratch directory of its
 * own (the reader takes a path: it also looks for params.yaml and
 * capstan.yaml beside it, absent here). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/pipeline.h"

static char dir[64];

static void remove_dir(void)
{
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/capstan-spec-fuzz-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(remove_dir);
    }
    char path[96];
    snprintf(path, sizeof path, "%s/dvc.yaml", dir);
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    struct pipe_spec spec;
    struct cap_error err;
    if (pipe_spec_load(dir, &spec, &err) == 0) {
        size_t *order = NULL;
        if (pipe_spec_order(&spec, &order, &err) == 0)
            free(order);
        pipe_spec_free(&spec);
    }
    unlink(path);
    return 0;
}
