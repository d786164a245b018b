/* intern.h - pipeline/'s internal pieces, shared by spec.c, template.c,
 * params.c and dag.c; not part of pipeline.h.
 *
 * dvc.yaml is read into pvals, not cJSON: templating must tell 1 from 1.0
 * (DVC writes ${x} of the YAML value 1.0 as "1.0", of 1 as "1"), and every
 * value keeps its line and column for messages. cJSON is what leaves the
 * module (pipe_param_read, pipe_out.extra, pipe_spec.top). */
#ifndef CAP_PIPELINE_INTERN_H
#define CAP_PIPELINE_INTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "pipeline/pipeline.h"

enum pval_type { PV_NULL, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_LIST, PV_MAP };
struct pval {
    enum pval_type t;
    bool b;
    int64_t i;
    double f;
    char *s;            /* PV_STR */
    struct pval **v;    /* PV_LIST items, PV_MAP values */
    char **k;           /* PV_MAP keys, in file order */
    size_t n, cap;
    int line, col;      /* 1-based; 0: made here, not read from a file */
};

/* ---- values (params.c) ---- */
struct pval *pv_new(enum pval_type t, int line, int col);
struct pval *pv_str_new(const char *s, int line, int col);
void pv_free(struct pval *v);
struct pval *pv_dup(const struct pval *v);
/* The value of key in map m, or NULL (m may be NULL or not a map). */
struct pval *pv_get(const struct pval *m, const char *key);
/* Appends (a list: key NULL) or sets (a map: replaces the key's value), taking val. */
void pv_push(struct pval *list, struct pval *val);
void pv_set(struct pval *map, const char *key, struct pval *val);
/* Python's name of the type, as DVC's messages say it: dict, list, str... */
const char *pv_type_name(const struct pval *v);
/* Python's str() of a scalar (floats as repr: 0.1, 1e-05, 1.0; bools
 * True/False; None), appended to b. DVC's to_str differs for bools only. */
void pv_python_str(const struct pval *v, struct cap_buf *b);
cJSON *pv_to_json(const struct pval *v);
struct pval *pv_from_json(const cJSON *j);
/* Parses YAML text as DVC's ruamel.yaml (YAML 1.2 core schema) types
 * plain scalars; name for messages "<name>:<line>:<col>: ...". An empty
 * document is an empty map (DVC's `load() or {}`). Duplicate keys refused. */
int pv_parse_yaml(const char *name, const char *text, size_t len, struct pval **out,
                  struct cap_error *err);
/* Reads a params/vars file by its extension: .yaml/.yml (YAML), .json;
 * .toml and .py refused by name; others read as YAML, as DVC does. */
int pv_load_file(const char *path, struct pval **out, struct cap_error *err);
/* "<file>:<line>:<col>: <msg>" (no place when v has none). */
int pv_fail(struct cap_error *err, const char *file, const struct pval *v, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- templating (template.c) ---- */
struct tpl_import {
    char *path;         /* normalised, relative to the spec root */
    char **keys;        /* NULL: the whole file */
    size_t nkeys;
};
struct tpl_ctx {
    struct pval *vars;  /* a map: what ${...} selects from */
    struct tpl_import *imports;
    size_t nimports;
    const char *file;   /* dvc.yaml's name for messages */
    const char *root;   /* the spec root: vars files are read below it */
};
void tpl_ctx_init(struct tpl_ctx *c, const char *file, const char *root);
void tpl_ctx_free(struct tpl_ctx *c);
void tpl_ctx_copy(struct tpl_ctx *dst, const struct tpl_ctx *src);
/* Loads vars (a list of file names, "file:key,key" and inline maps, or
 * NULL) into c, files relative to wdir (relative to the root); dflt, when
 * not NULL, is loaded first if it exists (params.yaml). where names the
 * section for messages ("vars", "stages.train.vars"). Keys already in c
 * may not be redefined; reserved (item, key: NULL-terminated, may be
 * NULL) may not be touched at all. */
int tpl_load_vars(struct tpl_ctx *c, const struct pval *vars, const char *wdir,
                  const char *dflt, const char *where, const char *const *reserved,
                  struct cap_error *err);
/* Resolves every ${...} in src (strings, map keys, nested) as DVC does:
 * a string that is exactly one ${x} takes x's value and type; inside a
 * longer string only scalars (and, for field "cmd", a map, as --key value
 * arguments). field NULL: foreach/matrix data, any type. where names the
 * place for messages ("stages.train.cmd"). *out copies src's marks. */
int tpl_resolve(const struct tpl_ctx *c, const struct pval *src, const char *where,
                const char *field, struct pval **out, struct cap_error *err);
/* Whether s holds an unescaped ${. */
bool tpl_has_expr(const char *s);

/* ---- paths and the graph (dag.c) ---- */
/* a joined with b ("." and ".." folded, no trailing '/'); b absolute wins.
 * malloc'd; "." for an empty result. */
char *pipe_path_join(const char *a, const char *b);
/* a equals b, or one lies inside the other ("." holds every relative path). */
bool pipe_path_overlaps(const char *a, const char *b);
/* Fills each stage's after[] from deps/params vs outs; refuses duplicate
 * or overlapping outputs and cycles, naming the stages. */
int pipe_dag_build(struct pipe_spec *s, struct cap_error *err);

/* ---- capstan.yaml (spec.c) ---- */
int pipe_settings_load(struct pipe_spec *s, char **groups, struct cap_error *err);

#endif
