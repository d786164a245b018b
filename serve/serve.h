/* serve.h - online serving: named deployments resolved to loaded models,
 * traffic routing (blue/green, canary, shadow), dynamic batching and the
 * prediction cache, with metrics and the prediction log as side effects.
 *
 * A deployment's spec lives in a source (the store for `capstan server`, a
 * registry URL for `capstan serve`); a watcher thread re-reads it a few
 * times a second, resolves aliases to versions and loads new versions off
 * the request path. What requests see is a plan: an immutable snapshot
 * (primary, canary with its weight, shadow, the previous primary kept warm)
 * swapped atomically; requests hold a reference to the plan they started
 * on, so a switch never interrupts one and the old model is freed only
 * once drained. A version that fails to load never takes traffic: the
 * deployment keeps its old plan and reports why. */
#ifndef CAP_SERVE_H
#define CAP_SERVE_H

#include <capstan/infer.h>
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "payload/payload.h"

struct metrics;
struct predlog;

/* Where deployments and models come from. */
struct serve_source_ops {
    /* Every deployment: an array of {name, spec}. */
    int (*list)(void *cls, cJSON **out, struct cap_error *err);
    /* Resolves a model reference split into name and alias (or version;
     * exactly one is set) to a version number. */
    int (*resolve)(void *cls, const char *name, const char *alias, const char *version,
                   char **out_version, struct cap_error *err);
    /* Loads the ONNX model of a version. */
    int (*load)(void *cls, const char *name, const char *version, infer_model **out,
                struct cap_error *err);
};

struct serve_config {
    int poll_ms;                 /* how often the watcher re-reads the source (default 250) */
    int shadow_queue;            /* bounded shadow queue length (default 1024) */
    const char *default_deployment; /* for /invocations with several deployments (may be NULL) */
    struct metrics *metrics;     /* may be NULL */
    struct predlog *log;         /* may be NULL: no prediction log */
};

struct serve;

int serve_start(const struct serve_config *cfg, const struct serve_source_ops *ops, void *cls,
                struct serve **out, struct cap_error *err);
void serve_stop(struct serve *s);

/* Re-reads the source and applies it now, on the caller's thread (after a
 * change through the API, so that the answer reflects it). */
void serve_sync(struct serve *s);

/* Status of one deployment, or of all as an array when name is NULL:
 * {name, state: READY|LOADING|DEGRADED|FAILED, message?, primary: {name,
 * version, ready, error?}, canary?, canary_weight?, shadow?, previous?}.
 * NULL when the deployment is unknown to the serving side. */
cJSON *serve_status(struct serve *s, const char *name);
/* true when every deployment has a ready primary. */
bool serve_ready(struct serve *s);
/* The version the deployment's primary served before the current one, or
 * NULL (malloc'd). */
char *serve_previous_version(struct serve *s, const char *name);

/* ---- the request path ---- */

struct serve_handle;

/* Looks up a request header by name (case-insensitive), NULL when absent. */
typedef const char *(*serve_header_fn)(void *cls, const char *name);

/* The deployment that serve_acquire picks for NULL at this moment (the
 * configured default, else the only one), or NULL when there is none to
 * pick (malloc'd). */
char *serve_default_name(struct serve *s);
/* Picks the model for one request: deployment NULL = the default one;
 * version pins one of the deployment's loaded versions (OIP
 * /versions/{v}); when the deployment routes on a sticky header, header()
 * gives its value and the canary choice is stable per value. Errors:
 * CAP_ENOTFOUND (404) unknown deployment or version, CAP_EUNAVAIL (503) not
 * ready. */
int serve_acquire(struct serve *s, const char *deployment, const char *version,
                  serve_header_fn header, void *header_cls, struct serve_handle **out,
                  struct cap_error *err);
const infer_model *serve_handle_model(const struct serve_handle *h);
const char *serve_handle_version(const struct serve_handle *h);
/* How serve_predict answers a request that went to the batcher: rc 0 with
 * outs filled, or rc < 0 with err; called once, on the batcher's thread. */
typedef void (*serve_done_fn)(void *cls, int rc, const struct cap_error *err);
#define SERVE_PENDING 1

/* Runs a parsed request: through the prediction cache and the batcher when
 * the deployment has them, then mirrors it to the shadow and logs it.
 * outs must have room for infer_output_count(model) tensors; they are
 * filled with owned data (release each with infer_tensor_release).
 * Returns 0 when done, or SERVE_PENDING when the request waits in the
 * batcher: then done(cls, ...) tells the outcome later, and req, outs and
 * the handle must stay as they are until it has. Nothing waits in here, so
 * a batch is not bounded by threads. CAP_EUNAVAIL (503) when the batch
 * queue is full; CAP_EINVAL (400) when the model rejects the values. */
int serve_predict(struct serve_handle *h, const struct payload_request *req, infer_tensor *outs,
              serve_done_fn done, void *cls, struct cap_error *err);
/* Ends the request: counts it as a success or a failure (bad input
 * included) against the handle's deployment and version, observes its
 * latency since serve_acquire, and drops the plan reference. */
void serve_release(struct serve_handle *h, bool ok);
/* Drops the plan reference without counting a request (metadata calls). */
void serve_drop(struct serve_handle *h);

/* Heavy requests. An HTTP thread serves many connections in turn, so a
 * request that holds it for long delays all of them; such requests belong
 * on the worker threads. Each model keeps a running average of how long a
 * request holds its thread (parse, run, answer) per body byte; a request is
 * heavy when that predicts SERVE_HEAVY_S or more, or when its body alone is
 * SERVE_HEAVY_BODY bytes or more (parsing it takes about that long). */
#define SERVE_HEAVY_S 1e-3
#define SERVE_HEAVY_BODY ((size_t)1 << 20)
bool serve_handle_heavy(const struct serve_handle *h, size_t body_len);
/* Adds the time since serve_acquire, for a body of body_len bytes, to the
 * model's average (call it where the request lets go of the thread). */
void serve_handle_note_hold(const struct serve_handle *h, size_t body_len);
/* Counts a request that goes to a worker thread and drops the handle; the
 * worker acquires its own. */
void serve_offload(struct serve_handle *h);
/* Counts the request's latency from t0 (cap_mono_s) rather than from
 * serve_acquire: a request that waited for a worker thread. */
void serve_handle_since(struct serve_handle *h, double t0);

/* ---- deployment specs ----
 * {"model": "name@alias" | "name/version", "canary"?: ref, "canary_weight"?:
 * 1..100, "shadow"?: ref, "sticky_header"?: "x-user", "batching"?:
 * {"max_batch_size", "max_queue_delay_us", "preferred_batch_sizes"?,
 * "max_queue_size"?}, "cache"?: {"max_entries"}, "log"?: {"sample": 0..1},
 * "pinned_from"?: ref (set by rollback)}. */

/* Checks a spec and returns its canonical copy (unknown keys refused,
 * defaults filled); CAP_EINVAL with a message naming the field. */
int serve_spec_check(const cJSON *spec, cJSON **out, struct cap_error *err);
/* Splits "name@alias" / "name/version" (name may contain '/'? no: the last
 * '@' or '/' splits). */
int serve_parse_ref(const char *ref, char **name, char **alias, char **version,
                    struct cap_error *err);
/* True when the alias or the version part of a ref asks for the latest. */
bool serve_ref_is_latest(const char *alias, const char *version);
/* The version a ref resolves to, from the registry's answer: for a latest
 * ref, found is the list of latest versions per stage (the highest one
 * wins), otherwise the one ModelVersion the alias or number named. The
 * version must be READY. Both sources (the local store and a registry over
 * HTTP) call this, so a deployment fails alike wherever it is served. */
int serve_ref_pick(const char *name, bool latest, const cJSON *found, char **out_version,
                   struct cap_error *err);

/* The store-backed source (capstan server). */
struct store;
struct blob;
struct serve_store_source {
    struct store *store;
    struct blob *blob;
};
extern const struct serve_source_ops serve_store_ops;

/* The registry-backed source (capstan serve --registry URL): deployments,
 * aliases and model files through the registry server's HTTP API. */
struct serve_http_source;
int serve_http_source_new(const char *url, struct serve_http_source **out, struct cap_error *err);
void serve_http_source_free(struct serve_http_source *src);
extern const struct serve_source_ops serve_http_ops;
/* A prediction-log sink (monitor/predlog.h) that sends batches to the
 * registry server, which keeps the log for every replica. */
struct store_prediction;
int serve_http_log_sink(void *src, const struct store_prediction *rows, size_t n,
                        struct cap_error *err);

#endif
