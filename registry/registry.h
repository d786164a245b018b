/* registry.h - the model registry's own rules, apart from HTTP and SQL:
 * which version sources are acceptable (only Capstan's artifact store: the
 * class of MLflow's source CVEs is closed here), alias and stage names, and
 * what a registered ONNX model looks like (its signature and opsets, read
 * with libcapstan-infer's loader). */
#ifndef CAP_REGISTRY_H
#define CAP_REGISTRY_H

#include <cjson/cJSON.h>

#include "base/error.h"

struct blob;

enum registry_source_kind {
    REGISTRY_SOURCE_ARTIFACTS,   /* mlflow-artifacts:/<path> */
    REGISTRY_SOURCE_RUN,         /* runs:/<run_id>/<path> */
    REGISTRY_SOURCE_LOGGED_MODEL /* models:/m-<id>[/<path>] */
};

struct registry_source {
    enum registry_source_kind kind;
    char *id;     /* run id or logged model id; NULL for ARTIFACTS */
    char *path;   /* path under the artifact root (ARTIFACTS) or under the
                     run's / model's artifact root; "" when none */
};

/* Parses and checks a location in Capstan's artifact store: a model version
 * source, or data for the monitor. Anything that is not one of the three
 * forms above, or whose path fails blob_check_path, or that carries
 * percent-escapes, backslashes, a host, a query or a fragment, is
 * -CAP_EINVAL with a message naming what it was ("model version source"),
 * the source and the accepted forms. */
int registry_parse_source(const char *source, const char *what, struct registry_source *out,
                          struct cap_error *err);
void registry_source_clear(struct registry_source *src);

/* Alias names: ^[\w\-]*$, 1..255 characters, not "latest" nor v<digits>. */
int registry_check_alias(const char *alias, struct cap_error *err);
/* Registered model names: non-empty, at most 256 characters, no '/'-only tricks. */
int registry_check_model_name(const char *name, struct cap_error *err);
/* Version numbers: a positive decimal integer as a string. */
int registry_check_version(const char *version, struct cap_error *err);

/* Looks at the model files at relpath (a directory with an MLmodel file or
 * *.onnx files, or one .onnx file) under the artifact store.
 * Returns 0 with *metadata set to {"format": "onnx", "file", "opsets": {...},
 * "inputs": [...], "outputs": [...], "producer"} for an ONNX model, or NULL
 * for a model that is not ONNX or not there; *failure is set (malloc'd) when
 * an ONNX file is present but is not a readable model: the version is then
 * FAILED_REGISTRATION with that message. */
int registry_inspect_model(struct blob *b, const char *relpath, cJSON **metadata, char **failure);

/* The column names of the MLflow signature's inputs in the MLmodel beside
 * model_file (a path in the artifact store): *names (malloc'd, each name
 * malloc'd) and *n, or NULL and 0 when the model has no such file, no
 * signature, a tensor signature or one without names (signature.c). */
int registry_signature_columns(struct blob *b, const char *model_file, char ***names, size_t *n);

/* Lineage of one model version as a graph: {"nodes": [{id, type, ...}],
 * "edges": [{source, target, type}]}. Node types: registered_model,
 * model_version, logged_model, run (params, metrics, user, times, tags),
 * parent_run, dataset (name, digest, source, context), code (script, git
 * commit, branch, repo). Built from the store at the time of the call. */
struct store;
int registry_lineage(struct store *st, const char *name, const char *version, cJSON **out,
                     struct cap_error *err);
/* The same graph as an OpenLineage RunEvent (the run as the job's run,
 * datasets as inputs, the model version as the output). */
cJSON *registry_lineage_openlineage(const cJSON *graph);
/* The same graph in Graphviz dot; free() the result. */
char *registry_lineage_dot(const cJSON *graph);

#endif
