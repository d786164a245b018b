/* payload.h - the bodies of the two inference protocols, to and from the
 * runtime's tensors: the Open Inference Protocol v2 (JSON, and the binary
 * tensor extension) and MLflow's scoring protocol (dataframe_split,
 * dataframe_records, instances, inputs, CSV). Every request is checked
 * against the model's signature before anything runs, so a bad request is
 * a 4xx that names what was wrong and what was expected. Pure functions:
 * no HTTP, no threads, no global state. The rules for one cell (JSON value
 * or CSV text -> tensor element) and the CSV reader are public: `capstan
 * predict` reads its files by them, so a file and a request read alike. */
#ifndef CAP_PAYLOAD_H
#define CAP_PAYLOAD_H

#include <capstan/infer.h>
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/error.h"

/* The form a request came in; the answer is written in the same form. */
enum payload_format {
    PAYLOAD_OIP = 0,        /* OIP v2 JSON (+ binary tensors) */
    PAYLOAD_SPLIT,          /* {"dataframe_split": {"columns", "data", "index"?}} */
    PAYLOAD_RECORDS,        /* {"dataframe_records": [{col: v}, ...]} */
    PAYLOAD_INSTANCES,      /* {"instances": ...} */
    PAYLOAD_INPUTS,         /* {"inputs": ...} */
    PAYLOAD_CSV             /* text/csv with a header row */
};

struct payload_request {
    enum payload_format format;
    char *id;                   /* OIP request "id" (owned), or NULL */
    /* One tensor per model input, in the model's input order. data is
     * owned (malloc'd); INFER_STRING data is an array of owned char *. */
    int n_inputs;
    infer_tensor *inputs;
    int64_t rows;               /* dim 0, the same for every input */
    /* Outputs asked for, as model output indexes, in the order asked;
     * n_outputs == 0 means every output of the model. */
    int n_outputs;
    int *outputs;
    bool *binary;               /* per asked output: OIP binary_data */
    bool binary_all;            /* OIP parameters.binary_data_output */
};

/* Parses an OIP v2 infer request. json_len is the value of the
 * Inference-Header-Content-Length header (the JSON part's length, binary
 * tensors follow it), or 0 when the header is absent (all JSON).
 * Errors: CAP_EINVAL (400) for anything wrong in the request: malformed
 * JSON, unknown or missing input, wrong datatype, shape not matching the
 * model, data count not matching the shape, non-numeric data, binary sizes
 * that do not add up, unknown output name. */
int payload_parse_oip(const infer_model *m, const void *body, size_t len, size_t json_len,
                      struct payload_request *out, struct cap_error *err);

/* Parses an MLflow scoring request. content_type is the request's header
 * (NULL when absent): application/json or text/csv, optionally with
 * "; charset=utf-8"; anything else is CAP_EMEDIA (415). Bad bodies are
 * CAP_EBADREQ (400). Frames map columns to inputs: a model with one 2-D
 * input [N, F] takes the F columns in order (F must match); a model with
 * several inputs takes one column per input, by name. */
int payload_parse_scoring(const infer_model *m, const char *content_type, const void *body,
                          size_t len, struct payload_request *out, struct cap_error *err);

void payload_request_free(struct payload_request *r);

/* Writes the OIP v2 infer response for outputs outs[0..n_out) (every model
 * output, in model order; the request picks which ones are sent):
 * {"model_name", "model_version", "id"?, "outputs": [{"name", "datatype",
 * "shape", "data" | "parameters": {"binary_data_size"}}]}. When any output is
 * binary, the binary tensors follow the JSON in body and *json_len is the
 * JSON part's length (for Inference-Header-Content-Length); otherwise
 * *json_len is 0. A ZipMap output is sent as its FP32 [rows, classes]
 * tensor. */
int payload_write_oip(const infer_model *m, const struct payload_request *req,
                      const char *model_name, const char *model_version,
                      const infer_tensor *outs, int n_out, struct cap_buf *body, size_t *json_len,
                      struct cap_error *err);

/* Writes MLflow's {"predictions": ...} the way mlflow's ONNX flavor answers:
 * for frame inputs (split, records, CSV) a list of records, one per row,
 * {output_name: value or list}; for instances/inputs {output_name: values}
 * (also for a single output). A ZipMap output becomes one
 * {label: probability} object per row. */
int payload_write_scoring(const infer_model *m, const struct payload_request *req,
                          const infer_tensor *outs, int n_out, struct cap_buf *body,
                          struct cap_error *err);

/* One tensor's elements as a JSON array, nested by its shape; for the
 * prediction log. */
void payload_write_json_data(struct cap_buf *b, const infer_tensor *t);

/* OIP model metadata: {"name", "versions", "platform": "onnx", "inputs":
 * [{"name", "datatype", "shape"}], "outputs": [...]}, symbolic dims -1. */
cJSON *payload_oip_metadata(const infer_model *m, const char *name,
                            const char *const *versions, int n_versions);

/* ---- one cell, one CSV field: the rules every reader of data shares ----
 * (the server's bodies and `capstan predict`'s files alike) */
/* Stores JSON value v as element i of data. null_nan: JSON null is NaN for
 * float types (pandas frames). Returns NULL, or why it was refused
 * ("is not a number", ...). */
const char *payload_elem_json(int type, const cJSON *v, void *data, int64_t i, bool null_nan);
/* A JSON number's double as element i of data (numeric types only), with
 * payload_elem_json's checks: the one conversion both parsers use. */
const char *payload_elem_number(int type, double d, void *data, int64_t i);
/* The same for a text field (CSV). Empty / NA-like fields are NaN for
 * float types. */
const char *payload_elem_text(int type, const char *s, size_t n, void *data, int64_t i);

/* Element i of a numeric or bool tensor's data as a double (int64 values
 * beyond 2^53 round); NaN for INFER_STRING and unknown types. */
double payload_elem_double(int type, const void *data, int64_t i);

/* IEEE half precision (FP16 tensors) to and from float */
uint16_t payload_f32_to_f16(float f);
float payload_f16_to_f32(uint16_t h);

/* RFC 4180 CSV over a buffer: text/csv bodies and `capstan predict`'s files. */
struct payload_csv {
    const char *p, *end;
};
/* Reads one field: 1 when the record goes on, 2 when it ended, 0 at the
 * end of input, -1 on a broken quote (c->p is then where the field began).
 * s/n: the field's text (inside the quotes; *quoted says "" still needs
 * undoubling, with payload_csv_unquote). */
int payload_csv_field(struct payload_csv *c, const char **s, size_t *n, bool *quoted);
/* skips empty lines */
void payload_csv_skip_blank(struct payload_csv *c);
/* "" -> " in a quoted field: s itself when there is none, else tmp's text */
const char *payload_csv_unquote(const char *s, size_t *n, struct cap_buf *tmp);
/* One record's fields as owned strings (*cells, *n; free each and the
 * array with payload_csv_cells_free); -1 on a broken quote, with nothing
 * kept and c->p past the end of that line, so a reader can go on. */
int payload_csv_record(struct payload_csv *c, struct cap_buf *tmp, char ***cells, int *n);
void payload_csv_cells_free(char **cells, int n);
/* Appends s as one RFC 4180 field, quoted (and "" doubled) when it holds
 * a comma, a quote or a line break. */
void payload_csv_put(struct cap_buf *b, const char *s);

/* ---- which column feeds which input (frameplan.c) ----
 * The one rule for request frames and `capstan predict`'s files: a model
 * with one input takes every column in order ([rows, columns]; a [rows]
 * input takes the one column); a model with several inputs takes the
 * column named after each, other columns unused. */
struct payload_frame {
    const char *what;          /* how messages name it: "the frame", a path */
    const char *const *names;  /* ncols names (an entry, or all, NULL: unnamed) */
    int ncols;
    int64_t rows;
    const char *tensor_hint;   /* said when no frame can feed an input, or NULL */
};
struct payload_frame_plan {
    int n_inputs, ncols;
    int *col_in;                     /* per column: the input it feeds, or -1 */
    int64_t *col_off;                /* per column: its element within the input's row */
    int64_t *per_row;                /* per input: elements per row */
    int *ndim;                       /* per input: the tensor's rank ... */
    int64_t (*dims)[INFER_MAX_DIMS]; /* ... and shape for f->rows rows */
    int64_t *count;                  /* ... and element count */
};
/* Fills p (free it with payload_frame_plan_free, also after an error);
 * CAP_EBADREQ naming the column or input when the frame cannot feed m. */
int payload_frame_plan(const infer_model *m, const struct payload_frame *f,
                       struct payload_frame_plan *p, struct cap_error *err);
void payload_frame_plan_free(struct payload_frame_plan *p);

/* The OIP datatype name of an infer_type ("FP32", "INT64", "BYTES", ...),
 * or NULL; and back (-1 when unknown). */
const char *payload_oip_datatype(int infer_type);
int payload_infer_type(const char *oip_datatype);

/* ---- the prediction log's form of tensors (logpack.c) ---- */
/* Appends the tensors (named after the model's inputs or outputs) in the
 * log's binary pack. */
void payload_log_pack(const infer_model *m, bool inputs, const infer_tensor *t, int n,
                      struct cap_buf *b);
/* Each tensor of a pack, in order: fn gets its name and the tensor (its
 * data valid during the call only). -1 when blob is not a valid pack,
 * else the first nonzero result of fn, or 0. */
typedef int (*payload_log_fn)(void *cls, const char *name, const infer_tensor *t);
int payload_log_walk(const void *blob, size_t len, payload_log_fn fn, void *cls);
/* The pack as JSON text {name: nested values} (malloc'd) or as cJSON; NULL
 * when it is not a valid pack. */
char *payload_log_unpack_json(const void *blob, size_t len);
cJSON *payload_log_unpack(const void *blob, size_t len);

#endif
