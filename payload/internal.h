/* internal.h - what the payload/ sources share and nobody else
 * sees: element conversion between JSON / text and tensor memory, JSON
 * writing straight into a cap_buf, shape checks against the model, and the
 * bookkeeping of request tensors. */
#ifndef CAP_PAYLOAD_INTERNAL_H
#define CAP_PAYLOAD_INTERNAL_H

#include "payload/payload.h"

/* Binary tensors are copied with memcpy: only little-endian hosts. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "payload/: the binary tensor format is little-endian; add byte swapping"
#endif

/* How a non-finite float is written. OIP and the prediction log use JSON
 * strings ("NaN", "Infinity", "-Infinity": valid JSON, read back exactly by
 * tritonclient's numpy cast and by cap_json_value_double); the MLflow
 * scoring answer writes bare NaN / Infinity tokens as MLflow itself does
 * (Python's json module), so MLflow's Python clients get floats. */
enum payload_nonfinite { PAYLOAD_NF_STRING = 0, PAYLOAD_NF_BARE };

/* ---- JSON writing ---- */
void payload_put_str(struct cap_buf *b, const char *s);
void payload_put_strn(struct cap_buf *b, const char *s, size_t n);
void payload_put_i64(struct cap_buf *b, int64_t v);
void payload_put_u64(struct cap_buf *b, uint64_t v);
void payload_put_dims(struct cap_buf *b, const int64_t *dims, int ndim);
/* element i of data (element type `type`) as one JSON value */
void payload_put_elem(struct cap_buf *b, int type, const void *data, int64_t i,
                      enum payload_nonfinite nf);
/* elements [*i, *i + prod(dims)) nested by dims; advances *i */
void payload_put_nested(struct cap_buf *b, int type, const void *data, const int64_t *dims,
                        int ndim, int64_t *i, enum payload_nonfinite nf);
/* one ZipMap row {label: p, ...} */
void payload_put_map_row(struct cap_buf *b, const infer_tensor *t, int64_t row,
                         enum payload_nonfinite nf);

/* ---- element conversion: payload_elem_* in payload.h ---- */

/* ---- tensors ---- */
/* prod(dims) with overflow checks: -1 when the shape is absurd (a product
 * of the nonzero dims over 2^53). */
int64_t payload_count(const int64_t *dims, int ndim);
/* Allocates t's data for count elements (zeroed: NULL strings). */
void payload_tensor_alloc(infer_tensor *t, int type, int ndim, const int64_t *dims, int64_t count);
void payload_tensor_free(infer_tensor *t);
/* Checks dims against the model input's declared shape. what: "input 'x'" */
int payload_check_shape(const infer_value_info *vi, const int64_t *dims, int ndim,
                        struct cap_error *err, int code);
/* Sets req->rows from dim 0 of the inputs; an error when they disagree. */
int payload_check_rows(const infer_model *m, struct payload_request *req,
                       struct cap_error *err, int code);

/* Parses exactly body[0..len) as one JSON value (whitespace may follow it,
 * nothing else). NULL with *at set to the byte where it went wrong. */
cJSON *payload_parse_json(const void *body, size_t len, size_t *at);

/* ---- the fast path (payload/fast.c) ---- */
/* Reads the common all-JSON bodies without a cJSON tree: 1 when handled,
 * with out exactly as the general path would fill it; 0 (out empty) on any
 * doubt, and the general path then reads the body and gives any error. */
int payload_fast_oip(const infer_model *m, const void *body, size_t len,
                     struct payload_request *out);
/* {"inputs" | "instances": ...} for a model with one input (JSON bodies) */
int payload_fast_scoring(const infer_model *m, const void *body, size_t len,
                         struct payload_request *out);
/* payload_parse_oip / payload_parse_scoring without the fast path: what it
 * must agree with (the unit tests and the fuzz target compare them). */
int payload_parse_oip_general(const infer_model *m, const void *body, size_t len,
                              size_t json_len, struct payload_request *out,
                              struct cap_error *err);
int payload_parse_scoring_general(const infer_model *m, const char *content_type,
                                  const void *body, size_t len, struct payload_request *out,
                                  struct cap_error *err);

/* ---- messages ---- */
/* Length to print of a client string in a message: at most 64 bytes, cut on
 * a UTF-8 boundary (use as "%.*s", payload_ql(s), s). */
int payload_ql(const char *s);
/* "[2,28]" into buf */
const char *payload_dims_str(char *buf, size_t n, const int64_t *dims, int ndim);
/* a short preview of a JSON value for messages */
const char *payload_preview(char *buf, size_t n, const cJSON *v);
/* "'a', 'b', 'c'" (the model's input or output names) */
const char *payload_names(char *buf, size_t n, const infer_model *m, bool outputs);

#endif
