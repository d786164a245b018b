/* json.h - typed field access on cJSON request messages, with MLflow's
 * error wording, and output helpers that follow the protobuf JSON mapping
 * MLflow uses (non-finite doubles as "NaN"/"Infinity" strings, int64 as
 * numbers, unset fields left out).
 *
 * Requests reach handlers as one cJSON object whether they came as a JSON
 * body or as GET query parameters, so every getter accepts the string form
 * of a number or boolean too. */
#ifndef CAP_JSON_H
#define CAP_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/* Each getter returns 0 when the field is present and well typed, 1 when it is
 * absent (or JSON null) and not required, or a negative error. */
int cap_json_get_str(const cJSON *obj, const char *field, bool required,
                     const char **out, struct cap_error *err);
int cap_json_get_i64(const cJSON *obj, const char *field, bool required,
                     int64_t *out, struct cap_error *err);
int cap_json_get_double(const cJSON *obj, const char *field, bool required,
                        double *out, struct cap_error *err);
/* The same inside a list item: path names the item in messages
 * ("metrics[0]" gives 'metrics[0].timestamp'); NULL for a top-level field. */
int cap_json_get_str_at(const cJSON *obj, const char *path, const char *field, bool required,
                        const char **out, struct cap_error *err);
int cap_json_get_i64_at(const cJSON *obj, const char *path, const char *field, bool required,
                        int64_t *out, struct cap_error *err);
int cap_json_get_double_at(const cJSON *obj, const char *path, const char *field,
                           bool required, double *out, struct cap_error *err);
int cap_json_get_bool(const cJSON *obj, const char *field, bool required,
                      bool *out, struct cap_error *err);
/* An array field; a lone scalar (a GET parameter given once) counts as a
 * one-element array, so *out may be that scalar: iterate with
 * cap_json_array_first/cap_json_array_next. */
int cap_json_get_array(const cJSON *obj, const char *field, bool required,
                       const cJSON **out, struct cap_error *err);
/* The one wording of a rejected request value (MLflow's): "Invalid value V
 * for parameter 'NAME' supplied" then ": DETAIL" or, when detail is
 * NULL, ".". V is the value as JSON the way MLflow's request validation shows it
 * (compact, keys sorted, non-ASCII escaped), cut after 200 bytes. Returns
 * -CAP_EINVAL. */
int cap_json_invalid(struct cap_error *err, const char *name, const cJSON *value,
                     const char *detail);
/* The text this thread's request message (root) was parsed from, while its
 * handler runs; NULL root clears it. JSON keeps no trace of whether a number
 * was written 9 or 9.0, and MLflow quotes a rejected one as Python parsed it
 * (int 9, float 9.0): with the source, cap_json_invalid can tell. The text
 * is only walked on that error path. */
void cap_json_set_source(const cJSON *root, const char *text, size_t len);
/* MLflow's "Missing value for required parameter 'NAME'. ..." (also for a
 * value MLflow treats as absent, such as an empty key). Returns -CAP_EINVAL. */
int cap_json_missing(const char *name, struct cap_error *err);
/* The same for a string value. */
int cap_json_invalid_str(struct cap_error *err, const char *name, const char *value,
                         const char *detail);
int cap_json_array_size(const cJSON *arr);
/* The strings of an array (or of a lone string, as one query parameter
 * given once is) as a NULL-ended list the caller frees; the strings stay
 * the JSON's. A member that is not a string is refused in
 * cap_json_invalid's words, naming NAME, with DETAIL. Returns the count,
 * or the error with *out NULL. */
int cap_json_strings(const cJSON *arr, const char *name, const char *detail, const char ***out,
                     struct cap_error *err);
/* Walks such an array in order. cJSON arrays are linked lists, so indexing
 * them in a loop would be quadratic. */
const cJSON *cap_json_array_first(const cJSON *arr);
const cJSON *cap_json_array_next(const cJSON *arr, const cJSON *item);
/* Reads a double from a JSON value: a number or "NaN", "Infinity", "-Infinity",
 * or a numeric string. Returns false when it is none of these. */
bool cap_json_value_double(const cJSON *v, double *out);

void cap_json_add_double(cJSON *obj, const char *key, double v);
void cap_json_add_i64(cJSON *obj, const char *key, int64_t v);
void cap_json_add_str(cJSON *obj, const char *key, const char *s); /* skips NULL */
/* Serializes without whitespace; free() the result. */
char *cap_json_print(const cJSON *obj);

#endif
