/* registry.h - the model registry's own rules, apart from HTTP and SQL:
 * which version sources are accepted (MLflow's rules) and which of them
 * Capstan reads (only its own artifact store: the class of MLflow's source
 * CVEs is closed here), alias and stage names, and
 * what a registered ONNX model looks like (its signature and opsets, read
 * with libcapstan-infer's loader). */
#ifndef CAP_REGISTRY_H
#define CAP_REGISTRY_H

#include <cjson/cJSON.h>
#include <stdbool.h>

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

/* MLflow's rules for a model version source (its server's, source.c), which
 * decide what is accepted and stored; what Capstan reads is decided apart,
 * by registry_parse_source. Any source with a scheme (s3://, https://,
 * mlflow-artifacts://host/...) passes when, percent-decoded until nothing
 * decodes, it has no '..' piece and its path is absolute with no '.' piece
 * or NUL. A local one (no scheme, or file: on this host) sets *local: the
 * caller then checks it with registry_check_local_source. prompt: the
 * version is a prompt's, for which local paths are refused and scheme-less
 * names ("dummy-source") accepted. -CAP_EINVAL with MLflow's words. */
int registry_check_source_rules(const char *source, bool prompt, bool *local,
                                struct cap_error *err);
/* A local source is acceptable only inside the local artifact location of
 * the run the request names (model_id: of the logged model): owner_location
 * is that location, NULL when the request names none; one that is not
 * local contains nothing. *path (malloc'd): the source as an absolute path
 * without '.', '..' or repeated '/'. Symbolic links are not followed: the
 * path is compared, never opened. */
int registry_check_local_source(const char *source, const char *owner_location, bool model_id,
                                char **path, struct cap_error *err);
/* path (absolute, normalized) relative to dir ("" for dir itself), or NULL
 * when it lies outside dir; malloc'd. */
char *registry_path_under(const char *dir, const char *path);

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
