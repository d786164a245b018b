/* runcache.c - outputs of runs seen before. A stage that changed, whose
 * command, dependencies' hashes, parameters and output paths equal those
 * of an earlier run, gets that run's outputs checked out of the DVC cache
 * instead of running (DVC's run cache does the same; its own entries are
 * keyed by a hash of Python's JSON text of the entry, which a C writer can
 * only match byte for byte by re-implementing Python's float printing, so
 * Capstan keeps its own beside it and shares the objects). */
#include "pipeline/runner.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "data/data.h"

bool pipe_runcache_usable(const struct pipe_stage *st)
{
    if (st->ncmd == 0 || st->ndeps + st->nparams == 0 || st->nouts == 0 || st->always_changed)
        return false;
    for (size_t i = 0; i < st->nouts; i++)
        if (!st->outs[i].cache || st->outs[i].persist)
            return false;
    return true;
}

/* SHA-256 of the entry's inputs and the stage's output paths (the same
 * inputs writing elsewhere are another run), as 64 hex digits. */
static void key_of(const struct pipe_stage *st, const cJSON *entry, char key[65])
{
    cJSON *k = cJSON_CreateObject();
    cJSON_AddItemToObject(k, "cmd",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(entry, "cmd"), true));
    cJSON *deps = cJSON_AddArrayToObject(k, "deps");
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(entry, "deps"))
    {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddItemToObject(d, "path", cJSON_Duplicate(cJSON_GetObjectItem(it, "path"), 0));
        cJSON_AddItemToObject(d, "md5", cJSON_Duplicate(cJSON_GetObjectItem(it, "md5"), 0));
        cJSON_AddItemToArray(deps, d);
    }
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(entry, "params");
    if (params)
        cJSON_AddItemToObject(k, "params", cJSON_Duplicate(params, true));
    cJSON *outs = cJSON_AddArrayToObject(k, "outs");
    for (size_t i = 0; i < st->nouts; i++)
        cJSON_AddItemToArray(outs, cJSON_CreateString(st->outs[i].path));
    char *text = cJSON_PrintUnformatted(k);
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(key + 2 * i, 3, "%02x", md[i]);
    free(text);
    cJSON_Delete(k);
}

static char *entry_path(const struct pipe_ws *ws, const struct pipe_stage *st, const cJSON *entry)
{
    char key[65];
    key_of(st, entry, key);
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/runs/%.2s/%s.json", ws->state_dir, key, key);
    return cap_buf_steal(&p);
}

/* Whether every recorded output is still in the cache. */
static int all_cached(struct pipe_ws *ws, const cJSON *outs, struct cap_error *err)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, outs)
    {
        struct data_dvc_meta m;
        if (!pipe_lock_item_meta(it, &m))
            return 0;
        int r = data_dvc_cached(ws->cache_dir, &m, err);
        if (r <= 0)
            return r;
    }
    return 1;
}

static int checkout_all(struct pipe_ws *ws, const struct pipe_stage *st, const cJSON *outs,
                        struct cap_error *err)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, outs)
    {
        struct data_dvc_meta m;
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
        char *rel = cJSON_IsString(p) ? pipe_stage_relpath(st, p->valuestring) : NULL;
        int rc = rel && pipe_lock_item_meta(it, &m)
                     ? data_dvc_checkout(ws->cache_dir, &m, ws->spec->root, rel, err)
                     : cap_err(err, CAP_EINVAL, "A run cache entry of '%.200s' names an "
                               "output it cannot restore", st->name);
        free(rel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int pipe_runcache_restore(struct pipe_ws *ws, const struct pipe_stage *st, cJSON *entry,
                          bool *hit, struct cap_error *err)
{
    *hit = false;
    char *text = NULL;
    char *path = entry_path(ws, st, entry);
    struct cap_error ignored;
    cJSON *rec = NULL;
    size_t len;
    int rc = 0;
    if (data_read_file(path, 1 << 24, &text, &len, &ignored) == 0)
        rec = cJSON_ParseWithLength(text, len);
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(rec, "outs");
    if (cJSON_IsArray(outs) && cJSON_GetArraySize(outs) == (int)st->nouts &&
        (rc = all_cached(ws, outs, err)) == 1 && (rc = checkout_all(ws, st, outs, err)) == 0) {
        cJSON_AddItemToObject(entry, "outs", cJSON_Duplicate(outs, true));
        *hit = true;
    }
    cJSON_Delete(rec);
    free(text);
    free(path);
    return rc < 0 ? rc : 0;
}

int pipe_runcache_save(struct pipe_ws *ws, const struct pipe_stage *st, const cJSON *entry,
                       struct cap_error *err)
{
    char *path = entry_path(ws, st, entry);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int rc = pipe_mkdirs(path);
    *slash = '/';
    if (rc < 0)
        rc = cap_err(err, CAP_EINVAL, "Cannot create the run cache beside '%.300s': %s", path,
                     strerror(-rc));
    char *text = rc == 0 ? cJSON_PrintUnformatted(entry) : NULL;
    if (rc == 0)
        rc = data_write_file(path, text, strlen(text), false, err);
    free(text);
    free(path);
    return rc;
}
