/* store_backend.h - the table of operations a metadata-store backend provides.
 * store.c parses the URI, picks a backend, checks the caller's arguments once
 * and then calls through this table, the way Redis' ae.c picks ae_epoll.c.
 * The table is generated from store_ops.def, the one list of operations.
 * Backends receive arguments that store.c has already checked, so they only
 * enforce the rules that depend on stored state.
 * Internal to store/: nothing outside this directory includes it. */
#ifndef CAP_STORE_BACKEND_H
#define CAP_STORE_BACKEND_H

#include "store/store.h"

struct store_backend {
    const char *name;
    void (*close)(void *impl);
    /* One member per operation of store_ops.def, with the public
     * signature's struct store *st replaced by the backend's impl. */
#define STORE_SELF void *impl
#define STORE_OP(name, params, args, ...) int(*name) params;
#include "store/store_ops.def"
#undef STORE_OP
#undef STORE_SELF
};

/* The four model-version stages in their canonical spelling and order. */
#define STORE_NSTAGES 4
extern const char *const store_stages[STORE_NSTAGES];
/* The canonical spelling of a stage name given in any case, or NULL when it
 * is none of the four. */
const char *store_stage_canonical(const char *stage);

/* The SQL backend (store_sqlite*.c) on one engine (store_db.h): target is
 * what the driver opens (a file path taken out of the URI, a libpq URI),
 * artifact_prefix has no trailing slash. */
struct sq_driver;
extern const struct store_backend store_sql_backend;
int store_sql_open(const struct sq_driver *drv, const char *target, const char *artifact_prefix,
                   int read_connections, void **impl, struct cap_error *err);

#endif
