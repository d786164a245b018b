/* common.h - helpers shared by the api/ surfaces: IDs, key/value lists,
 * paging and ordering arguments, with MLflow's messages, and where an
 * artifact URI (runs:/, models:/, mlflow-artifacts:/) lies in the store. */
#ifndef CAP_API_COMMON_H
#define CAP_API_COMMON_H

#include <cjson/cJSON.h>

#include "api/api.h"
#include "feedback/feedback.h"
#include "registry/registry.h"
#include "store/store.h"

/* A list element's name in messages: "field[i]", or "field" when the list
 * was a lone value (a GET parameter given once). */
void api_item_name(char *buf, size_t n, const char *field, const cJSON *arr, int i);
/* run_id, falling back to the deprecated run_uuid; validated. */
int api_run_id(const cJSON *msg, const char **out, struct cap_error *err);
int api_experiment_id(const cJSON *msg, const char *field, bool required, const char **out,
                      struct cap_error *err);
/* A list of {key, value} objects. kind ("param", "tag") picks the value rule;
 * the strings point into msg. *out is malloc'd (free it) even when n == 0. */
int api_kv_list(const cJSON *msg, const char *field, const char *kind, struct cap_kv **out,
                size_t *n, struct cap_error *err);
/* One {key, value} object; field is its name in messages ("tag", or
 * "tags[0]" for a list element, whose fields then show as 'tags[0].key'). */
int api_kv_one(const cJSON *item, const char *field, const char *kind, struct cap_kv *out,
               struct cap_error *err);
int api_view_type(const cJSON *msg, const char *field, enum store_view *out,
                  struct cap_error *err);
int api_max_results(const cJSON *msg, int dflt, int max, int *out, struct cap_error *err);
/* The message's required "deployment", which must exist (404 otherwise);
 * -CAP_ENOTIMPL in a serving-only process (no store). */
int api_deployment(const struct api_env *env, const cJSON *msg, const char **dep,
                   struct cap_error *err);
/* Where the feedback module writes labels (fb_sink): the env's store, log
 * writer, alert judge and /metrics, now; source names the labels' origin
 * ("api", "review"). */
struct fb_sink api_fb_sink(const struct api_env *env, const char *source);
/* order_by: a list of clause strings; *out malloc'd, clear each key with
 * order_key_clear then free(). */
int api_order_by(const cJSON *msg, enum filter_target target, struct order_key **out,
                 size_t *n, struct cap_error *err);
void api_order_free(struct order_key *keys, size_t n);
/* Where a model version's files are: the location resolved when it was
 * registered (metadata's storage_location), else its source (malloc'd). */
int api_version_location(const struct api_env *env, const char *name, const char *version,
                         char **uri, struct cap_error *err);
/* Where a checked artifact source (mlflow-artifacts:/, runs:/, models:/;
 * registry_parse_source) lies in Capstan's artifact store: *relpath under
 * its root and *uri as mlflow-artifacts:/<relpath> (both malloc'd); for a
 * logged model, *source_run is the run that made it (malloc'd, or left
 * alone). what names the source in errors ("model version source"). */
int api_artifact_source(const struct api_env *env, const struct registry_source *src,
                        const char *what, const char *source, char **uri, char **relpath,
                        char **source_run, struct cap_error *err);
/* Wraps a value under one key: {"key": value}. Takes ownership of value. */
cJSON *api_wrap(const char *key, cJSON *value);

#endif
