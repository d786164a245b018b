/* store_backend.h - the table of operations a metadata-store backend provides.
 * store.c parses the URI, picks a backend, checks the caller's arguments once
 * and then calls through this table, the way Redis' ae.c picks ae_epoll.c.
 * Backends receive arguments that store.c has already checked for NULL, so
 * they only enforce the rules that depend on stored state.
 * Internal to store/: nothing outside this directory includes it. */
#ifndef CAP_STORE_BACKEND_H
#define CAP_STORE_BACKEND_H

#include "store/store.h"

struct store_backend {
    const char *name;
    void (*close)(void *impl);

    int (*experiment_create)(void *impl, const char *name, const char *artifact_location,
                             const struct cap_kv *tags, size_t ntags, char **out_id,
                             struct cap_error *err);
    int (*experiment_get)(void *impl, const char *id, cJSON **out, struct cap_error *err);
    int (*experiment_get_by_name)(void *impl, const char *name, cJSON **out,
                                  struct cap_error *err);
    int (*experiment_rename)(void *impl, const char *id, const char *new_name,
                             struct cap_error *err);
    int (*experiment_delete)(void *impl, const char *id, struct cap_error *err);
    int (*experiment_restore)(void *impl, const char *id, struct cap_error *err);
    int (*experiment_set_tag)(void *impl, const char *id, const char *key, const char *value,
                              struct cap_error *err);
    int (*experiment_delete_tag)(void *impl, const char *id, const char *key,
                                 struct cap_error *err);
    int (*experiment_search)(void *impl, const struct store_query *q, cJSON **out,
                             char **next_token, struct cap_error *err);

    int (*run_create)(void *impl, const struct store_run_create *in, cJSON **out,
                      struct cap_error *err);
    int (*run_get)(void *impl, const char *run_id, cJSON **out, struct cap_error *err);
    int (*run_update)(void *impl, const char *run_id, const char *status, int64_t end_time,
                      const char *run_name, cJSON **out, struct cap_error *err);
    int (*run_delete)(void *impl, const char *run_id, struct cap_error *err);
    int (*run_restore)(void *impl, const char *run_id, struct cap_error *err);
    int (*run_log_batch)(void *impl, const char *run_id, const struct store_metric *metrics,
                         size_t nmetrics, const struct cap_kv *params, size_t nparams,
                         const struct cap_kv *tags, size_t ntags, struct cap_error *err);
    int (*run_delete_tag)(void *impl, const char *run_id, const char *key,
                          struct cap_error *err);
    int (*run_log_inputs)(void *impl, const char *run_id,
                          const struct store_dataset_input *datasets, size_t ndatasets,
                          const char *const *model_ids, size_t nmodels, struct cap_error *err);
    int (*run_log_outputs)(void *impl, const char *run_id, const struct store_model_output *models,
                           size_t nmodels, struct cap_error *err);
    int (*run_search)(void *impl, const struct store_run_query *q, cJSON **out,
                      char **next_token, struct cap_error *err);
    int (*metric_history)(void *impl, const char *run_id, const char *key, cJSON **out,
                          struct cap_error *err);

    int (*logged_model_create)(void *impl, const struct store_logged_model_create *in,
                               cJSON **out, struct cap_error *err);
    int (*logged_model_get)(void *impl, const char *model_id, cJSON **out,
                            struct cap_error *err);
    int (*logged_model_finalize)(void *impl, const char *model_id, const char *status,
                                 cJSON **out, struct cap_error *err);
    int (*logged_model_set_tags)(void *impl, const char *model_id, const struct cap_kv *tags,
                                 size_t ntags, struct cap_error *err);
    int (*logged_model_delete_tag)(void *impl, const char *model_id, const char *key,
                                   struct cap_error *err);
    int (*logged_model_log_params)(void *impl, const char *model_id,
                                   const struct cap_kv *params, size_t nparams,
                                   struct cap_error *err);
    int (*logged_model_delete)(void *impl, const char *model_id, struct cap_error *err);
    int (*logged_model_search)(void *impl, const struct store_logged_model_query *q,
                               cJSON **out, char **next_token, struct cap_error *err);
};

/* The model registry's operations, a second table beside store_backend
 * (same impl pointer) so that the registry could be added without touching
 * the first; store.c picks both for a backend in store_open. */
struct store_registry_backend {
    int (*registered_model_create)(void *impl, const char *name, const char *description,
                                   const struct cap_kv *tags, size_t ntags, cJSON **out,
                                   struct cap_error *err);
    int (*registered_model_get)(void *impl, const char *name, cJSON **out,
                                struct cap_error *err);
    int (*registered_model_update)(void *impl, const char *name, const char *description,
                                   cJSON **out, struct cap_error *err);
    int (*registered_model_rename)(void *impl, const char *name, const char *new_name,
                                   cJSON **out, struct cap_error *err);
    int (*registered_model_delete)(void *impl, const char *name, struct cap_error *err);
    int (*registered_model_set_tag)(void *impl, const char *name, const char *key,
                                    const char *value, struct cap_error *err);
    int (*registered_model_delete_tag)(void *impl, const char *name, const char *key,
                                       struct cap_error *err);
    int (*registered_model_search)(void *impl, const struct store_query *q, cJSON **out,
                                   char **next_token, struct cap_error *err);
    /* stages are already checked: each one matches a stage name ignoring case. */
    int (*registered_model_latest_versions)(void *impl, const char *name,
                                            const char *const *stages, size_t nstages,
                                            cJSON **out, struct cap_error *err);
    int (*model_version_create)(void *impl, const struct store_model_version_create *in,
                                cJSON **out, struct cap_error *err);
    int (*model_version_get)(void *impl, const char *name, const char *version, cJSON **out,
                             struct cap_error *err);
    int (*model_version_update)(void *impl, const char *name, const char *version,
                                const char *description, cJSON **out, struct cap_error *err);
    int (*model_version_delete)(void *impl, const char *name, const char *version,
                                struct cap_error *err);
    /* stage is canonical (store_stage_canonical). */
    int (*model_version_transition)(void *impl, const char *name, const char *version,
                                    const char *stage, bool archive_existing, cJSON **out,
                                    struct cap_error *err);
    int (*model_version_set_tag)(void *impl, const char *name, const char *version,
                                 const char *key, const char *value, struct cap_error *err);
    int (*model_version_delete_tag)(void *impl, const char *name, const char *version,
                                    const char *key, struct cap_error *err);
    int (*model_version_search)(void *impl, const struct store_query *q, cJSON **out,
                                char **next_token, struct cap_error *err);
    int (*model_version_metadata)(void *impl, const char *name, const char *version,
                                  cJSON **out, struct cap_error *err);
    int (*alias_set)(void *impl, const char *name, const char *alias, const char *version,
                     struct cap_error *err);
    int (*alias_delete)(void *impl, const char *name, const char *alias, struct cap_error *err);
    int (*alias_get)(void *impl, const char *name, const char *alias, cJSON **out,
                     struct cap_error *err);
};


/* Deployments and the prediction log (serve/, monitor/): a third table. */
struct store_serving_backend {
    int (*deployment_put)(void *impl, const char *name, const char *spec_json, bool create,
                          cJSON **out, struct cap_error *err);
    int (*deployment_get)(void *impl, const char *name, cJSON **out, struct cap_error *err);
    int (*deployment_list)(void *impl, cJSON **out, struct cap_error *err);
    int (*deployment_delete)(void *impl, const char *name, struct cap_error *err);
    int (*predictions_log)(void *impl, const struct store_prediction *rows, size_t n,
                           struct cap_error *err);
    int (*predictions_search)(void *impl, const char *deployment, int64_t since_ms,
                              int64_t after_id, int max_results, const char *page_token, store_pack_decoder decode,
                              cJSON **out, char **next_token, struct cap_error *err);
    int (*predictions_trim)(void *impl, int64_t keep_rows, struct cap_error *err);
};

/* The four model-version stages in their canonical spelling and order. */
#define STORE_NSTAGES 4
extern const char *const store_stages[STORE_NSTAGES];
/* The canonical spelling of a stage name given in any case, or NULL when it
 * is none of the four. */
const char *store_stage_canonical(const char *stage);

/* The SQLite backend: path is a filesystem path (already taken out of the
 * URI), artifact_prefix has no trailing slash. */
extern const struct store_backend store_sqlite_backend;
extern const struct store_registry_backend store_sqlite_registry;
extern const struct store_serving_backend store_sqlite_serving;
int store_sqlite_open(const char *path, const char *artifact_prefix, int read_connections,
                      void **impl, struct cap_error *err);

#endif
