/* filter.h - MLflow's search grammar: filter strings and order_by clauses
 * parsed into a small AST. No SQL here: store/ turns the AST into queries.
 *
 * Grammar (MLflow's): comparisons joined by AND (case-insensitive), no OR and
 * no parentheses.  An identifier is  [prefix.]key  where the prefix names the
 * entity (metric(s)., param(s)./parameter(s)., tag(s)., attribute(s)./attr./
 * run., dataset(s).) and a bare name is an attribute; a key with special
 * characters is written in "double quotes" or `backticks`.  Values are numbers,
 * 'single' or "double" quoted strings, or ('a', 'b') lists for IN / NOT IN. */
#ifndef CAP_FILTER_H
#define CAP_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* What a filter searches; it decides which keys and operators are legal. */
enum filter_target {
    FILTER_TARGET_RUNS,
    FILTER_TARGET_EXPERIMENTS,
    FILTER_TARGET_LOGGED_MODELS,
    FILTER_TARGET_REGISTERED_MODELS,
    FILTER_TARGET_MODEL_VERSIONS,
};

enum filter_entity {
    FILTER_ATTR,
    FILTER_METRIC,
    FILTER_PARAM,
    FILTER_TAG,
    FILTER_DATASET,
};

enum filter_op {
    FILTER_EQ,
    FILTER_NE,
    FILTER_LT,
    FILTER_LE,
    FILTER_GT,
    FILTER_GE,
    FILTER_LIKE,
    FILTER_ILIKE,
    FILTER_IN,
    FILTER_NOT_IN,
};

enum filter_value_kind { FILTER_VALUE_NUMBER, FILTER_VALUE_STRING, FILTER_VALUE_LIST };

struct filter_value {
    enum filter_value_kind kind;
    double num;        /* FILTER_VALUE_NUMBER */
    char *str;         /* FILTER_VALUE_STRING */
    char **list;       /* FILTER_VALUE_LIST: strings */
    size_t nlist;
};

/* Attribute keys are normalised to their canonical name; these are the only
 * ones filter_parse emits (O: also accepted by order_key_parse):
 *   runs:        run_id (O; the only one with IN / NOT IN), run_name (O),
 *                status (O), user_id (O), artifact_uri (O), lifecycle_stage
 *                (= != only), start_time (O; alias "created"), end_time (O)
 *   datasets:    name, digest, context (= != LIKE ILIKE IN NOT IN; runs only)
 *   experiments: name (O), creation_time (O), last_update_time (O),
 *                experiment_id (O; = != only, value always a STRING of digits
 *                even when written as a number)
 *   logged models: name (O), model_id (O), model_type, status, source_run_id
 *                (these five also IN / NOT IN), creation_timestamp (O; alias
 *                creation_time), last_updated_timestamp (O)
 *   registered models: name (O); order_by only: creation_timestamp (alias
 *                timestamp), last_updated_timestamp
 *   model versions: name (O), version_number (O, numeric), run_id (= != IN
 *                NOT IN), source (alias source_path); order_by only:
 *                creation_timestamp, last_updated_timestamp
 * Entities per target: runs take metrics, params, tags, attributes and
 * datasets; logged models metrics, params, tags and attributes; the others
 * attributes and tags. order_by takes metrics/params/tags/attributes for
 * runs, metrics/attributes for logged models, attributes otherwise.
 * Value types are checked here: metrics and numeric attributes carry
 * FILTER_VALUE_NUMBER, params, tags and string attributes
 * FILTER_VALUE_STRING, IN / NOT IN a non-empty FILTER_VALUE_LIST. Quoted
 * strings escape their quote by doubling it ('it''s'); backslashes are
 * literal. */
struct filter_cond {
    enum filter_entity entity;
    char *key;
    enum filter_op op;
    struct filter_value value;
};

struct filter {
    struct filter_cond *conds;
    size_t n;
};

/* An empty or all-whitespace string parses to a filter with n == 0. Errors are
 * CAP_EINVAL with a message that quotes the offending part and says what was
 * expected. */
int filter_parse(const char *text, enum filter_target target, struct filter **out,
                 struct cap_error *err);
void filter_free(struct filter *f);

struct order_key {
    enum filter_entity entity;   /* FILTER_ATTR, METRIC, PARAM or TAG */
    char *key;                   /* canonical attribute name, or the metric/param/tag key */
    bool ascending;
};

/* Parses one order_by clause such as "metrics.rmse DESC", "params.`a b`",
 * "start_time". */
int order_key_parse(const char *text, enum filter_target target, struct order_key *out,
                    struct cap_error *err);
void order_key_clear(struct order_key *k);

const char *filter_op_name(enum filter_op op);

#endif
