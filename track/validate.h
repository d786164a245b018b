/* validate.h - MLflow's input rules for tracking entities, checked before
 * anything reaches the store: name and key patterns, length limits, batch
 * sizes. Messages follow MLflow's wording where the client or users rely on
 * it. All return 0 or -CAP_EINVAL. */
#ifndef CAP_VALIDATE_H
#define CAP_VALIDATE_H

#include <stddef.h>

#include "base/error.h"

#define VALIDATE_MAX_KEY 250
#define VALIDATE_MAX_PARAM_VALUE 6000
#define VALIDATE_MAX_TAG_VALUE 8000
#define VALIDATE_MAX_EXPERIMENT_NAME 500
#define VALIDATE_MAX_RUN_NAME 250
#define VALIDATE_MAX_BATCH_METRICS 1000
#define VALIDATE_MAX_BATCH_PARAMS 100
#define VALIDATE_MAX_BATCH_TAGS 100
#define VALIDATE_MAX_BATCH_TOTAL 1000
#define VALIDATE_MAX_RESULTS_RUNS 50000
#define VALIDATE_MAX_RESULTS_EXPERIMENTS 50000

/* kind is "metric", "param" or "tag": it names the entity in messages. */
int validate_key(const char *kind, const char *key, struct cap_error *err);
int validate_param_value(const char *key, const char *value, struct cap_error *err);
int validate_tag_value(const char *key, const char *value, struct cap_error *err);
int validate_experiment_name(const char *name, struct cap_error *err);
int validate_run_name(const char *name, struct cap_error *err);
/* Run IDs: ^[a-zA-Z0-9][\w\-]{0,255}$ */
int validate_run_id(const char *run_id, struct cap_error *err);
/* Experiment IDs: decimal strings. */
int validate_experiment_id(const char *id, struct cap_error *err);
/* A client-chosen artifact_location (NULL or "" is fine: the server picks):
 * refuses '#' fragments, ';' params, NUL and control characters, and '..' as
 * a whole piece between '/', '\\', '?', '&' or '=' (path segments and query
 * strings), checked on the raw text and after each round of percent-decoding
 * (%2e%2e, %252e%252e, ...). */
/* MLflow resolves a relative local path (no scheme) against the server's
 * working directory: "my_location" -> "<cwd>/my_location". Anything else is
 * returned as given. Free the result. */
char *resolve_artifact_location(const char *loc);
/* The server's default artifact root (mlflow server --default-artifact-root):
 * checked as an artifact_location, a local path made an absolute file: URI,
 * trailing '/' dropped, so that "<root>/<experiment id>" is the default
 * location. NULL with err set when it is unusable. Free the result. */
char *resolve_artifact_root(const char *root, struct cap_error *err);
int validate_artifact_location(const char *loc, struct cap_error *err);
int validate_batch_sizes(size_t nmetrics, size_t nparams, size_t ntags, struct cap_error *err);
/* Run status names RUNNING SCHEDULED FINISHED FAILED KILLED, or their enum
 * numbers 1..5 as strings; out gets the canonical name. */
int validate_run_status(const char *s, const char **out, struct cap_error *err);

#endif
