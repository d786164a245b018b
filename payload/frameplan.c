/* frameplan.c - which column of a frame feeds which model input: the one
 * rule for the scoring protocol's frames (dataframe_split, dataframe_records,
 * CSV bodies) and for `capstan predict`'s files, so a file and a request
 * map alike.
 *
 * It follows MLflow's onnx pyfunc: a model with one input takes every
 * column in order as its [rows, columns] tensor (a [rows] input takes the
 * one column); a model with several inputs takes the column named after
 * each input, and other columns are left unused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "payload/internal.h"

#define BAD(...) cap_err(err, CAP_EBADREQ, __VA_ARGS__)

void payload_frame_plan_free(struct payload_frame_plan *p)
{
    free(p->col_in);
    free(p->col_off);
    free(p->per_row);
    free(p->ndim);
    free(p->dims);
    free(p->count);
    memset(p, 0, sizeof *p);
}

static int not_a_tensor(const infer_value_info *vi, const char *what, struct cap_error *err)
{
    if (vi->kind != INFER_KIND_TENSOR)
        return BAD("the model's input '%.*s' is not a tensor; %s cannot feed it",
                   payload_ql(vi->name), vi->name, what);
    return BAD("the model's input '%.*s' has type %s, which %s cannot feed", payload_ql(vi->name),
               vi->name, infer_type_name(vi->type), what);
}

/* One input: every column, in order. */
static int plan_one(const infer_model *m, const struct payload_frame *f,
                    struct payload_frame_plan *p, struct cap_error *err)
{
    infer_value_info vi;
    infer_input_info(m, 0, &vi);
    int ncols = f->ncols;
    const char *what = f->what;
    char sh[160];
    if (ncols == 0)
        return BAD("%s has no columns; the model's input '%.*s' needs %s", what,
                   payload_ql(vi.name), vi.name,
                   payload_dims_str(sh, sizeof sh, vi.dims, vi.ndim < 0 ? 0 : vi.ndim));
    if (vi.ndim == 1 && ncols != 1)
        return BAD("%s has %d columns; the model's input '%.*s' has shape %s and takes one column",
                   what, ncols, payload_ql(vi.name), vi.name,
                   payload_dims_str(sh, sizeof sh, vi.dims, vi.ndim));
    if (vi.ndim > 2 || vi.ndim == 0)
        return BAD("the model's input '%.*s' has shape %s; %s feeds only a [rows] or [rows, "
                   "columns] input%s",
                   payload_ql(vi.name), vi.name, payload_dims_str(sh, sizeof sh, vi.dims, vi.ndim),
                   what, f->tensor_hint ? f->tensor_hint : "");
    if (vi.ndim == 2 && vi.dims[1] >= 0 && vi.dims[1] != ncols)
        return BAD("%s has %d columns; the model's input '%.*s' has shape %s and takes %lld%s",
                   what, ncols, payload_ql(vi.name), vi.name,
                   payload_dims_str(sh, sizeof sh, vi.dims, vi.ndim), (long long)vi.dims[1],
                   f->names && f->names[0] && !f->names[0][0]
                       ? " (the first column has no name: is it the index? write the CSV with "
                         "index=False)"
                       : "");
    if (vi.kind != INFER_KIND_TENSOR || !payload_oip_datatype(vi.type))
        return not_a_tensor(&vi, what, err);
    p->ndim[0] = vi.ndim == 1 ? 1 : 2;
    p->dims[0][0] = f->rows;
    p->dims[0][1] = ncols;
    int rc = payload_check_shape(&vi, p->dims[0], p->ndim[0], err, CAP_EBADREQ);
    if (rc < 0)
        return rc;
    for (int c = 0; c < ncols; c++)
        p->col_off[c] = c;
    p->per_row[0] = ncols;
    p->count[0] = payload_count(p->dims[0], p->ndim[0]);
    return 0;
}

static int find_column(const char *const *names, int ncols, const char *name)
{
    for (int c = 0; names && c < ncols; c++)
        if (names[c] && strcmp(names[c], name) == 0)
            return c;
    return -1;
}

/* Input i of several: its column, by name. */
static int plan_named(const infer_model *m, int i, const struct payload_frame *f,
                      struct payload_frame_plan *p, struct cap_error *err)
{
    infer_value_info vi;
    infer_input_info(m, i, &vi);
    char list[300], sh[160];
    int c = find_column(f->names, f->ncols, vi.name);
    if (c < 0)
        return BAD("column '%.*s' is missing: the model has several inputs (%s) and takes one "
                   "column for each, by name",
                   payload_ql(vi.name), vi.name, payload_names(list, sizeof list, m, false));
    if (find_column(f->names + c + 1, f->ncols - c - 1, vi.name) >= 0)
        return BAD("column '%.*s' appears twice", payload_ql(vi.name), vi.name);
    if (vi.kind != INFER_KIND_TENSOR || !payload_oip_datatype(vi.type))
        return not_a_tensor(&vi, f->what, err);
    if (vi.ndim == 0)
        return BAD("the model's input '%.*s' is a scalar; a frame column has one value per row",
                   payload_ql(vi.name), vi.name);
    /* [rows] + the model's per-row dims (a free one is 1: one value per cell) */
    int ndim = vi.ndim < 0 ? 1 : vi.ndim;
    int64_t *dims = p->dims[i];
    dims[0] = f->rows;
    for (int d = 1; d < ndim; d++)
        dims[d] = vi.dims[d] < 0 ? 1 : vi.dims[d];
    p->ndim[i] = ndim;
    p->count[i] = payload_count(dims, ndim);
    p->per_row[i] = payload_count(dims + 1, ndim - 1);
    if (p->count[i] < 0 || p->per_row[i] < 0)
        return BAD("the model's input '%.*s' has shape %s, too many values per row",
                   payload_ql(vi.name), vi.name, payload_dims_str(sh, sizeof sh, vi.dims, vi.ndim));
    p->col_in[c] = i;
    return 0;
}

int payload_frame_plan(const infer_model *m, const struct payload_frame *f,
                       struct payload_frame_plan *p, struct cap_error *err)
{
    memset(p, 0, sizeof *p);
    int n_in = infer_input_count(m), ncols = f->ncols;
    size_t nc = (size_t)(ncols > 0 ? ncols : 1), ni = (size_t)(n_in > 0 ? n_in : 1);
    p->n_inputs = n_in;
    p->ncols = ncols;
    p->col_in = cap_xcalloc(nc, sizeof *p->col_in);
    p->col_off = cap_xcalloc(nc, sizeof *p->col_off);
    p->per_row = cap_xcalloc(ni, sizeof *p->per_row);
    p->ndim = cap_xcalloc(ni, sizeof *p->ndim);
    p->dims = cap_xcalloc(ni, sizeof *p->dims);
    p->count = cap_xcalloc(ni, sizeof *p->count);
    if (n_in == 1)
        return plan_one(m, f, p, err);
    for (int c = 0; c < ncols; c++)
        p->col_in[c] = -1;
    for (int i = 0; i < n_in; i++) {
        int rc = plan_named(m, i, f, p, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}
