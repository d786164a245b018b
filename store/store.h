/* store.h - the metadata store: the one interface handlers use to read and
 * write experiments, runs and logged models. Backends (SQLite now, PostgreSQL
 * later) live behind it and are chosen in store.c from the URI; nothing
 * outside store/ writes SQL.
 *
 * Results come back as cJSON values already in MLflow's JSON shape
 * (Experiment, Run, RunInfo, Metric, LoggedModel), because that is the only
 * shape every caller needs; the caller owns them (cJSON_Delete).
 *
 * Every write is acknowledged (the call returns 0) only once it is durable.
 * Concurrent writers never see "database is locked": the SQLite backend sends
 * writes through one writer thread that commits them in groups.
 *
 * Errors: -CAP_ENOTFOUND for unknown IDs ("Run with id=... not found"),
 * -CAP_EEXISTS for duplicate names, -CAP_EINVAL for state conflicts MLflow
 * reports that way (param overwrite, logging to a deleted run),
 * -CAP_EINTERNAL for database failures (the message says what failed). */
#ifndef CAP_STORE_H
#define CAP_STORE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "track/filter.h"

struct store;

struct cap_kv {
    const char *key;
    const char *value;
};

struct store_config {
    /* "sqlite:///abs/path.db", "sqlite:///rel/path.db" or a plain file path. */
    const char *uri;
    /* Prefix of new experiments' artifact_location: the default experiment
     * "0" gets "<prefix>/0". Capstan uses "mlflow-artifacts:" so that clients
     * go through the artifact proxy. */
    const char *artifact_prefix;
    int read_connections;       /* 0 = a sensible default */
};

enum store_view { STORE_VIEW_ACTIVE = 1, STORE_VIEW_DELETED = 2, STORE_VIEW_ALL = 3 };

int store_open(const struct store_config *cfg, struct store **out, struct cap_error *err);
/* Finishes queued writes, checkpoints and closes. */
void store_close(struct store *st);

/* ---- experiments ---- */
int store_experiment_create(struct store *st, const char *name, const char *artifact_location,
                            const struct cap_kv *tags, size_t ntags, char **out_id,
                            struct cap_error *err);
int store_experiment_get(struct store *st, const char *id, cJSON **out, struct cap_error *err);
int store_experiment_get_by_name(struct store *st, const char *name, cJSON **out,
                                 struct cap_error *err);
int store_experiment_rename(struct store *st, const char *id, const char *new_name,
                            struct cap_error *err);
/* Deleting marks the experiment and its runs deleted; restore reverses both. */
int store_experiment_delete(struct store *st, const char *id, struct cap_error *err);
int store_experiment_restore(struct store *st, const char *id, struct cap_error *err);
int store_experiment_set_tag(struct store *st, const char *id, const char *key,
                             const char *value, struct cap_error *err);
int store_experiment_delete_tag(struct store *st, const char *id, const char *key,
                                struct cap_error *err);

struct store_query {
    enum store_view view;
    const struct filter *filter;       /* may be NULL */
    const struct order_key *order;     /* may be NULL when norder == 0 */
    size_t norder;
    int max_results;                   /* already validated, > 0 */
    const char *page_token;            /* NULL or a token from a previous answer */
};

/* out: a cJSON array of Experiment objects; *next_token: NULL when no more. */
int store_experiment_search(struct store *st, const struct store_query *q, cJSON **out,
                            char **next_token, struct cap_error *err);

/* ---- runs ---- */
struct store_run_create {
    const char *experiment_id;
    const char *user_id;       /* may be NULL */
    int64_t start_time;        /* ms */
    const char *run_name;      /* NULL: taken from tag mlflow.runName or generated */
    const struct cap_kv *tags;
    size_t ntags;
};

struct store_metric {
    const char *key;
    double value;              /* may be NaN or +-Inf */
    int64_t timestamp;
    int64_t step;
    const char *model_id;      /* optional (3.x) */
    const char *dataset_name;  /* optional (3.x) */
    const char *dataset_digest;
};

struct store_dataset_input {
    const char *name;
    const char *digest;
    const char *source_type;
    const char *source;
    const char *schema;        /* optional */
    const char *profile;       /* optional */
    const struct cap_kv *tags; /* e.g. mlflow.data.context */
    size_t ntags;
};

struct store_model_output {
    const char *model_id;
    int64_t step;
};

/* out: the new Run (info + data.tags). The store sets tag mlflow.runName and
 * generates a name when none is given. */
int store_run_create(struct store *st, const struct store_run_create *in, cJSON **out,
                     struct cap_error *err);
int store_run_get(struct store *st, const char *run_id, cJSON **out, struct cap_error *err);
/* status NULL, end_time < 0 and run_name NULL leave that field unchanged.
 * out: the RunInfo after the update. */
int store_run_update(struct store *st, const char *run_id, const char *status, int64_t end_time,
                     const char *run_name, cJSON **out, struct cap_error *err);
int store_run_delete(struct store *st, const char *run_id, struct cap_error *err);
int store_run_restore(struct store *st, const char *run_id, struct cap_error *err);
/* One atomic write: either every metric, param and tag is stored or none is.
 * Params are write-once (the same value again is fine); an exact duplicate
 * metric (key, step, timestamp, value) is a no-op; setting mlflow.runName
 * renames the run. */
int store_run_log_batch(struct store *st, const char *run_id, const struct store_metric *metrics,
                        size_t nmetrics, const struct cap_kv *params, size_t nparams,
                        const struct cap_kv *tags, size_t ntags, struct cap_error *err);
int store_run_delete_tag(struct store *st, const char *run_id, const char *key,
                         struct cap_error *err);
int store_run_log_inputs(struct store *st, const char *run_id,
                         const struct store_dataset_input *datasets, size_t ndatasets,
                         const char *const *model_ids, size_t nmodels, struct cap_error *err);
int store_run_log_outputs(struct store *st, const char *run_id,
                          const struct store_model_output *models, size_t nmodels,
                          struct cap_error *err);

struct store_run_query {
    const char *const *experiment_ids;
    size_t nexperiments;
    struct store_query q;
};

/* out: a cJSON array of Run objects. Must not load every run into memory:
 * filtering, ordering and paging happen in the database. */
int store_run_search(struct store *st, const struct store_run_query *q, cJSON **out,
                     char **next_token, struct cap_error *err);
/* out: a cJSON array of Metric objects, every point, ordered by step, timestamp. */
int store_metric_history(struct store *st, const char *run_id, const char *key, cJSON **out,
                         struct cap_error *err);

/* ---- logged models (MLflow 3.x) ---- */
struct store_logged_model_create {
    const char *experiment_id;
    const char *name;           /* NULL: generated */
    const char *source_run_id;  /* may be NULL */
    const char *model_type;     /* may be NULL */
    const struct cap_kv *params;
    size_t nparams;
    const struct cap_kv *tags;
    size_t ntags;
};

/* out: a LoggedModel {info: {model_id "m-<32 hex>", experiment_id, name,
 * artifact_uri "<exp location>/models/<id>/artifacts", status
 * LOGGED_MODEL_PENDING, creation_timestamp_ms, last_updated_timestamp_ms,
 * source_run_id, model_type, tags}, data: {params, metrics}}. */
int store_logged_model_create(struct store *st, const struct store_logged_model_create *in,
                              cJSON **out, struct cap_error *err);
int store_logged_model_get(struct store *st, const char *model_id, cJSON **out,
                           struct cap_error *err);
/* status: LOGGED_MODEL_READY, LOGGED_MODEL_UPLOAD_FAILED, ... */
int store_logged_model_finalize(struct store *st, const char *model_id, const char *status,
                                cJSON **out, struct cap_error *err);
int store_logged_model_set_tags(struct store *st, const char *model_id, const struct cap_kv *tags,
                                size_t ntags, struct cap_error *err);
int store_logged_model_delete_tag(struct store *st, const char *model_id, const char *key,
                                  struct cap_error *err);
int store_logged_model_log_params(struct store *st, const char *model_id,
                                  const struct cap_kv *params, size_t nparams,
                                  struct cap_error *err);
int store_logged_model_delete(struct store *st, const char *model_id, struct cap_error *err);
struct store_logged_model_query {
    const char *const *experiment_ids;
    size_t nexperiments;
    struct store_query q;
};
int store_logged_model_search(struct store *st, const struct store_logged_model_query *q,
                              cJSON **out, char **next_token, struct cap_error *err);

/* ---- model registry ----
 * RegisteredModel JSON: {name, creation_timestamp, last_updated_timestamp,
 * user_id?, description?, latest_versions: [ModelVersion, latest per stage],
 * tags: [{key,value}], aliases: [{alias, version}]}.
 * ModelVersion JSON: {name, version (decimal string), creation_timestamp,
 * last_updated_timestamp, user_id?, current_stage ("None", "Staging",
 * "Production", "Archived"), description?, source, run_id?, status (READY |
 * FAILED_REGISTRATION), status_message?, tags, run_link?, aliases: [names],
 * model_id?}. Empty lists and unset fields are left out. Version numbers are
 * per model, start at 1, increase, and are never reused (even after a delete).
 * Unknown model: -CAP_ENOTFOUND "Registered Model with name=X not found";
 * unknown version: -CAP_ENOTFOUND "Model Version (name=X, version=N) not found";
 * duplicate name: -CAP_EEXISTS "Registered Model (name=X) already exists.";
 * a version that is not a decimal integer: -CAP_EINVAL "Model version must
 * be an integer, got 'X'"; an empty name: -CAP_EINVAL "Registered model name
 * cannot be empty."; an unknown stage: -CAP_EINVAL "Invalid Model Version
 * stage: X. Value must be one of None, Staging, Production, Archived."
 * Stage names are accepted in any case and stored canonical.
 * Writes that have an out parameter accept out == NULL (no JSON wanted); the
 * JSON they return is built in the same transaction as the write.
 * latest_versions (and get-latest-versions) count READY versions only, one
 * per stage, in the order None, Staging, Production, Archived. Lists inside
 * the JSON are sorted: tags by key, aliases by alias name. A model's
 * last_updated_timestamp moves on every change to it or to anything it
 * holds (tags, aliases, versions); a version's on description and stage
 * changes. Empty optional strings at creation count as unset. */
struct store_model_version_create {
    const char *name;
    const char *source;          /* already checked by the caller */
    const char *run_id;          /* may be NULL */
    const char *run_link;        /* may be NULL */
    const char *description;     /* may be NULL */
    const char *model_id;        /* 3.x logged model, may be NULL */
    const char *user_id;         /* may be NULL */
    const struct cap_kv *tags;
    size_t ntags;
    const char *status;          /* "READY" (also when NULL), "FAILED_REGISTRATION" or
                                  * "PENDING_REGISTRATION" */
    const char *status_message;  /* may be NULL */
    const char *metadata_json;   /* Capstan's own facts (ONNX signature), JSON text or NULL */
};

int store_registered_model_create(struct store *st, const char *name, const char *description,
                                  const struct cap_kv *tags, size_t ntags, cJSON **out,
                                  struct cap_error *err);
int store_registered_model_get(struct store *st, const char *name, cJSON **out,
                               struct cap_error *err);
/* description NULL leaves it unchanged. */
int store_registered_model_update(struct store *st, const char *name, const char *description,
                                  cJSON **out, struct cap_error *err);
int store_registered_model_rename(struct store *st, const char *name, const char *new_name,
                                  cJSON **out, struct cap_error *err);
/* Deletes the model with its versions, tags and aliases. */
int store_registered_model_delete(struct store *st, const char *name, struct cap_error *err);
int store_registered_model_set_tag(struct store *st, const char *name, const char *key,
                                   const char *value, struct cap_error *err);
/* Deleting a tag that is not there is a no-op (MLflow's SQL store). */
int store_registered_model_delete_tag(struct store *st, const char *name, const char *key,
                                      struct cap_error *err);
/* Filter: FILTER_TARGET_REGISTERED_MODELS; default order name ASC, which is
 * also the tie-break after the keys asked for. q->view is ignored. out:
 * RegisteredModel objects with latest_versions, tags and aliases. */
int store_registered_model_search(struct store *st, const struct store_query *q, cJSON **out,
                                  char **next_token, struct cap_error *err);
/* A model-version stage given in any case, to its canonical spelling
 * ("None", "Staging", "Production", "Archived"); anything else is
 * -CAP_EINVAL "Invalid Model Version stage: X. Value must be one of None,
 * Staging, Production, Archived." (MLflow's words). The one owner of the
 * stage rule: the API and the CLI call it, and so do the calls below. */
int store_stage_check(const char *stage, const char **canonical, struct cap_error *err);

/* out: array of ModelVersion: the latest READY version per stage, for the
 * given stages (any case; all four when nstages == 0), in the order the
 * stages were given (canonical order when none), repeats dropped, stages
 * without a READY version left out; an empty array when none. */
int store_registered_model_latest_versions(struct store *st, const char *name,
                                           const char *const *stages, size_t nstages,
                                           cJSON **out, struct cap_error *err);

int store_model_version_create(struct store *st, const struct store_model_version_create *in,
                               cJSON **out, struct cap_error *err);
/* version: a decimal string. */
int store_model_version_get(struct store *st, const char *name, const char *version, cJSON **out,
                            struct cap_error *err);
int store_model_version_update(struct store *st, const char *name, const char *version,
                               const char *description, cJSON **out, struct cap_error *err);
int store_model_version_delete(struct store *st, const char *name, const char *version,
                               struct cap_error *err);
/* stage: canonical "None", "Staging", "Production" or "Archived". With
 * archive_existing, other versions in that stage move to Archived (only for
 * Staging and Production). */
int store_model_version_transition(struct store *st, const char *name, const char *version,
                                   const char *stage, bool archive_existing, cJSON **out,
                                   struct cap_error *err);
int store_model_version_set_tag(struct store *st, const char *name, const char *version,
                                const char *key, const char *value, struct cap_error *err);
int store_model_version_delete_tag(struct store *st, const char *name, const char *version,
                                   const char *key, struct cap_error *err);
/* Filter: FILTER_TARGET_MODEL_VERSIONS; default order name ASC, version DESC,
 * also the tie-break after the keys asked for. A version without run_id
 * never matches a run_id comparison, nor one without the tag a tag one. */
int store_model_version_search(struct store *st, const struct store_query *q, cJSON **out,
                               char **next_token, struct cap_error *err);
/* Capstan's metadata_json of a version, parsed (NULL when none, or when the
 * stored text does not parse). */
int store_model_version_metadata(struct store *st, const char *name, const char *version,
                                 cJSON **out, struct cap_error *err);

/* Points alias at version (moving it when it exists); the caller checks the
 * alias pattern. Deleting a version drops the aliases pointing at it. */
int store_alias_set(struct store *st, const char *name, const char *alias, const char *version,
                    struct cap_error *err);
/* Unknown alias: -CAP_ENOTFOUND "Registered model alias X not found." */
int store_alias_delete(struct store *st, const char *name, const char *alias,
                       struct cap_error *err);
/* out: the ModelVersion the alias points at; unknown alias as above. */
int store_alias_get(struct store *st, const char *name, const char *alias, cJSON **out,
                    struct cap_error *err);

/* ---- serving: deployments and the prediction log ----
 * Deployment JSON: {name, spec: {...as given...}, created_at, updated_at}.
 * The spec is the serving module's to interpret (serve/ checks it before
 * calling); the store keeps it verbatim as JSON text.
 * Unknown name: -CAP_ENOTFOUND "Deployment 'X' not found"; duplicate:
 * -CAP_EEXISTS "Deployment 'X' already exists". */
int store_deployment_create(struct store *st, const char *name, const char *spec_json,
                            cJSON **out, struct cap_error *err);
int store_deployment_update(struct store *st, const char *name, const char *spec_json,
                            cJSON **out, struct cap_error *err);
int store_deployment_get(struct store *st, const char *name, cJSON **out, struct cap_error *err);
/* out: array of Deployment JSON ordered by name. */
int store_deployment_list(struct store *st, cJSON **out, struct cap_error *err);
int store_deployment_delete(struct store *st, const char *name, struct cap_error *err);

/* One served request as the prediction log keeps it. */
struct store_prediction {
    int64_t timestamp_ms;
    const char *deployment;
    const char *model_name;
    const char *model_version;
    const char *role;            /* "primary", "canary" or "shadow" */
    const char *request_id;      /* may be NULL */
    int64_t latency_us;
    /* The request's inputs and outputs in serve/'s log pack (opaque here). */
    const void *inputs;
    size_t inputs_len;
    const void *outputs;
    size_t outputs_len;
    int agree;                   /* shadow rows: 1 agrees with the primary, 0 not; -1 n/a */
};

int store_predictions_log(struct store *st, const struct store_prediction *rows, size_t n,
                          struct cap_error *err);
/* Turns a stored inputs/outputs pack into JSON (NULL: null). */
typedef cJSON *(*store_pack_decoder)(const void *pack, size_t len);

/* Rows of one deployment (NULL: all) with timestamp >= since_ms and id >
 * after_id (-1: any) in the order they were logged, as [{id, timestamp,
 * deployment, model_name, model_version, role, request_id?, latency_us,
 * inputs, outputs, agree?}] with inputs/outputs from decode; *next_token
 * when more.
 * Ids are a reader's cursor, so every backend must keep this promise: ids
 * grow in the order rows are logged, and a row is never visible before
 * every row with a smaller id is (SQLite: one writer assigns them and
 * commits in order). A reader that has seen id N and asks for after_id N
 * never misses a row, except rows trimmed away meanwhile. */
int store_predictions_search(struct store *st, const char *deployment, int64_t since_ms,
                             int64_t after_id, int max_results, const char *page_token, store_pack_decoder decode,
                             cJSON **out, char **next_token, struct cap_error *err);
/* Deletes the oldest rows, keeping at least keep_rows (the log is stored in
 * segments of up to 1024 rows; whole segments go). */
int store_predictions_trim(struct store *st, int64_t keep_rows, struct cap_error *err);

#endif
