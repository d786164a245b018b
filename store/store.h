/* store.h - the metadata store: the one interface handlers use to read and
 * write experiments, runs and logged models. Backends (SQLite now, PostgreSQL
 * later) live behind it and are chosen in store.c from the URI; nothing
 * outside store/ writes SQL. The operations are declared, documented and
 * checked in store_ops.def (included at the end of this file); this file
 * keeps the types they take and the JSON shapes they answer with.
 *
 * Results come back as cJSON values already in MLflow's JSON shape
 * (Experiment, Run, RunInfo, Metric, LoggedModel), because that is the only
 * shape every caller needs; the caller owns them (cJSON_Delete).
 *
 * Every write is acknowledged (the call returns 0) only once it is durable.
 * Concurrent writers never see "database is locked": the store sends writes
 * through one writer thread that commits them in groups (and on PostgreSQL
 * the servers sharing a database take turns through an advisory lock).
 *
 * Errors: -CAP_ENOTFOUND for unknown IDs ("Run with id=... not found"),
 * -CAP_EEXISTS for duplicate names, -CAP_EINVAL for state conflicts MLflow
 * reports that way (param overwrite, logging to a deleted run) and for values
 * the database refuses, -CAP_EUNAVAIL when PostgreSQL is out of reach,
 * -CAP_EINTERNAL for other database failures (the message says what failed). */
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
struct store_query {
    enum store_view view;
    const struct filter *filter;       /* may be NULL */
    const struct order_key *order;     /* may be NULL when norder == 0 */
    size_t norder;
    int max_results;                   /* already validated, > 0 */
    const char *page_token;            /* NULL or a token from a previous answer */
};

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

struct store_run_query {
    const char *const *experiment_ids;
    size_t nexperiments;
    struct store_query q;
};

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

/* A model matches a dataset when a metric logged for it names the dataset
 * (and the digest, when given). */
struct store_dataset_filter {
    const char *name;
    const char *digest; /* NULL: any */
};

struct store_logged_model_query {
    const char *const *experiment_ids;
    size_t nexperiments;
    const struct store_dataset_filter *datasets; /* any of them; none: no filter */
    size_t ndatasets;
    struct store_query q;
};

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
 * holds (tags, aliases, versions) except a version's description, as in
 * MLflow; a version's on description and stage changes. Empty optional
 * strings at creation count as unset (a version's description reads as "",
 * as MLflow's server returns it). Creating a version with a model_id adds
 * it to that logged model's mlflow.modelVersions tag in the same
 * transaction (-CAP_ENOTFOUND when there is no such logged model). */
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

/* A model-version stage given in any case, to its canonical spelling
 * ("None", "Staging", "Production", "Archived"); anything else is
 * -CAP_EINVAL "Invalid Model Version stage: X. Value must be one of None,
 * Staging, Production, Archived." (MLflow's words). The one owner of the
 * stage rule: the API and the CLI call it, and so do the
 * registry operations. */
int store_stage_check(const char *stage, const char **canonical, struct cap_error *err);

/* ---- serving: deployments and the prediction log ---- */
/* The deployment name rule: letters, digits, '-', '_', '.' (not first), 1
 * to 128 characters; else -CAP_EINVAL naming the name and the rule. Its
 * one owner: the store's operations check it, and so does auth/ for a
 * token's infer:<deployment> scope. */
int store_deployment_name_check(const char *name, struct cap_error *err);

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

/* One logged row for a scanning consumer; its pointers are valid during
 * the call only. 0 takes the row, 1 stops before it; an error stops the
 * scan and is returned. */
typedef int (*store_prediction_fn)(void *cls, int64_t id, const struct store_prediction *row,
                                   struct cap_error *err);

/* A closed monitoring window, as the live monitor stores it. */
struct store_window {
    const char *deployment;
    int64_t width_s, start_ms, end_ms, nrows;
    const char *result_json;     /* the window's JSON (monitor/), stored verbatim */
    const void *profile;         /* the window's profile (monitor/'s encoding), may be NULL */
    size_t profile_len;
};

/* A named integer of the monitor's state (its cursors). */
struct store_state_int {
    const char *key;
    int64_t value;
};

/* The profile of one stored window. */
typedef int (*store_window_profile_fn)(void *cls, int64_t start_ms, const void *profile,
                                       size_t len, struct cap_error *err);

/* Turns a stored inputs/outputs pack into JSON (NULL: null). */
typedef cJSON *(*store_pack_decoder)(const void *pack, size_t len);

/* ---- feedback ---- */
/* One label joined to the prediction it is about, as feedback/ stores it. */
struct store_label {
    const char *deployment;
    const char *request_id;      /* the request's id (without "/<row>") */
    int64_t row;                 /* the row within the request (0 for a one-row request) */
    const char *label;           /* a classifier's true class as text, or NULL */
    double value;                /* a regressor's true value (label NULL) */
    int64_t label_ms;            /* the client's time of the label, -1 when not given */
    int64_t received_ms;
    const char *source;          /* "api", or "review:<user>" */
    /* What the prediction said (copied from the log when the label arrived). */
    int64_t pred_ms;
    const char *model_version;
    const char *prediction;      /* the predicted class as text, or NULL */
    double pred_value;           /* a regressor's prediction (prediction NULL) */
    const double *scores;        /* the row's class probabilities, or NULL */
    size_t nscores;
};

/* A detector's step over a batch of labels: its state after them and what
 * it detected (kind "drift" or "warning", at position = the label's index in
 * its stream). */
struct store_detection {
    const char *kind;
    int64_t position;
    const char *request_id;
    int64_t row;
};
struct store_detector_step {
    const char *deployment;
    const char *name;
    const char *spec_json;       /* the spec the state belongs to: a detector replaced
                                  * meanwhile is left alone */
    const void *state;
    size_t state_len;
    int64_t seen;                /* labels fed, all told */
    bool warning;                /* in a warning after the last one */
    const struct store_detection *detections;
    size_t ndetections;
    int64_t at_ms;
};
/* A stored detector, for the one that feeds it. */
typedef int (*store_detector_fn)(void *cls, const char *name, const char *spec_json,
                                 const void *state, size_t len, int64_t seen, bool warning,
                                 struct cap_error *err);

/* A row queued for review: item_json is what the reviewer sees ({inputs,
 * prediction, probabilities?}). */
struct store_review_item {
    const char *request_id;
    int64_t row;
    const char *reason;          /* "low_confidence" or "sampled" */
    int64_t pred_ms;
    const char *model_version;
    const char *item_json;
};

/* A logged request found by its id: i is the index of the id asked for. */
typedef int (*store_found_fn)(void *cls, size_t i, const struct store_prediction *row,
                              struct cap_error *err);
/* A current label, in prediction time order; its pointers are valid during
 * the call only. 0 goes on, an error stops. */
typedef int (*store_label_fn)(void *cls, const struct store_label *l, struct cap_error *err);

/* ---- datasets (data/) ---- */
/* A new version of a dataset; the store gives it the next number. */
struct store_data_version {
    const char *name;
    const char *hash;            /* "xxh128:<hex>": its manifest object */
    int64_t size, files;
    const char *author;
    const char *message;         /* "" when none */
    int64_t parent;              /* the version it follows, 0: none */
    const char *meta_json;       /* {"tags": {K: V}, ...} */
};

/* ---- pipeline schedules (pipeline/schedule.c checks them) ---- */
struct store_pipe_schedule {
    const char *name, *repo;
    const char *cron;            /* NULL for a trigger */
    const char *timezone;
    const char *catch_up;        /* skip | latest | all */
    const char *overlap;         /* forbid | allow | replace | queue */
    const char *trigger_kind;    /* cron | alert | dataset */
    const char *trigger_filter;  /* the alert rule or the dataset; NULL for cron */
    int64_t last_tick;           /* ms; 0: none yet (cron: ticks after created_at count) */
    int64_t last_seen;           /* dataset: the latest version already there */
};
/* A schedule run: its row is written before it starts. */
struct store_pipe_run {
    const char *schedule;
    int64_t tick;                /* ms: the cron tick, or the trigger's time */
    const char *cause;           /* cron | catch-up | manual | alert | dataset */
    const char *state;           /* queued | running | skipped ... */
    const char *reason;          /* why skipped, or NULL */
    const char *event_json;      /* the trigger's event, or NULL */
    bool advance;                /* also set the schedule's last_tick to tick (cron ticks) */
    int64_t seen;                /* > 0: also set the schedule's last_seen (dataset) */
};

/* ---- lineage events (pipeline/: OpenLineage RunEvents received) ---- */
/* One checked event: the fields the reads filter on, and the whole body. */
struct store_lineage_event {
    const char *run_id;          /* run.runId, a UUID */
    const char *job_namespace, *job_name;
    const char *event_type;      /* START, COMPLETE, FAIL, ABORT, RUNNING, OTHER */
    const char *event_time;      /* eventTime as sent (ISO 8601) */
    const char *body_json;       /* the event as received */
};

/* ---- users and permissions (auth/) ---- */
/* auth_perm_set's mode. */
enum store_auth_mode { STORE_AUTH_PUT = 0, STORE_AUTH_CREATE, STORE_AUTH_UPDATE };
/* The kinds of resource a permission row may name (auth/'s AUTH_KIND_*):
 * experiment, registered_model, deployment, dataset, pipeline; else
 * -CAP_EINVAL listing them. The one owner of that list. */
int store_auth_kind_check(const char *kind, struct cap_error *err);

/* ---- alerts ---- */
/* Delivery state of an alert event (alert_events.delivered). */
enum store_alert_delivery {
    STORE_ALERT_PENDING = 0,     /* to be posted to its webhook */
    STORE_ALERT_DELIVERED = 1,   /* the webhook answered 2xx: never posted again */
    STORE_ALERT_FAILED = 2,      /* given up after the last attempt */
    STORE_ALERT_NO_WEBHOOK = 3,  /* history only */
};

/* What one window did to one rule: its streak after the window and, when
 * its state changed, the event. */
struct store_alert_change {
    const char *deployment;
    const char *rule;            /* the rule's name */
    const char *rule_json;       /* the rule as evaluated: a rule replaced meanwhile is left
                                  * alone (its new condition starts its own streak) */
    int64_t window_id;           /* > the rule's last_window_id, else nothing is written */
    int64_t streak;
    const char *state;           /* "firing" or "resolved"; NULL: no state change */
    int64_t at_ms;
    double value;
    bool has_value;
    const char *detail_json;     /* the event's detail (what delivery needs); may be NULL */
    bool deliver;                /* STORE_ALERT_PENDING, else STORE_ALERT_NO_WEBHOOK */
};

/* predictions_trim keeps a reader's unread rows up to this many times its
 * keep_rows: the disk stays bounded when the reader stalls. */
#define STORE_TRIM_READER_CAP 4

/* The operations themselves: each one is declared, documented and checked
 * in store_ops.def; this makes its prototype
 * int store_<name>(struct store *st, ...). */
#define STORE_SELF struct store *st
#define STORE_OP(name, params, args, ...) int store_##name params;
#include "store/store_ops.def"
#undef STORE_OP
#undef STORE_SELF

#endif
