/* lock.c - the workspace of a run and dvc.lock in DVC's format:
 *   schema: '2.0'
 *   stages:
 *     NAME:
 *       cmd: <string, or a list as in dvc.yaml>
 *       deps: [{path, hash: md5, md5, size, nfiles (directories)}], by path
 *       params: {FILE: {KEY: VALUE}}, files and keys sorted
 *       outs: [{path, hash: md5, md5, size, nfiles}], by path
 * (read in dvc 3.67.1's stage/serialize.py and checked by running it).
 * A stage's entry is replaced when it ran; entries of stages that left
 * dvc.yaml stay, as DVC leaves them. */
#include "pipeline/intern.h"
#include "pipeline/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "data/data.h"

static char *join(const char *a, const char *b)
{
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/%s", a, b);
    return cap_buf_steal(&p);
}

int pipe_mkdirs(const char *path)
{
    char *p = cap_xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    int rc = mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
    free(p);
    return rc;
}

static int read_lock(struct pipe_ws *ws, struct cap_error *err)
{
    struct stat st;
    if (stat(ws->lock_path, &st) < 0 && errno == ENOENT) {
        ws->lock = cJSON_CreateObject();
        cJSON_AddStringToObject(ws->lock, "schema", "2.0");
        cJSON_AddObjectToObject(ws->lock, "stages");
        return 0;
    }
    int rc = pipe_param_read(ws->lock_path, NULL, &ws->lock, err);
    if (rc < 0)
        return rc;
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(ws->lock, "schema");
    const cJSON *stages = cJSON_GetObjectItemCaseSensitive(ws->lock, "stages");
    if (!cJSON_IsString(schema) || strcmp(schema->valuestring, "2.0") != 0 ||
        (stages && !cJSON_IsObject(stages)))
        return cap_err(err, CAP_EINVAL, "%.300s: expected DVC's lock file format, "
                       "schema '2.0' with a 'stages' mapping (DVC 1's format is not read)",
                       ws->lock_path);
    if (!stages)
        cJSON_AddObjectToObject(ws->lock, "stages");
    return 0;
}

int pipe_ws_open(const struct pipe_spec *s, struct pipe_ws *ws, struct cap_error *err)
{
    *ws = (struct pipe_ws){.spec = s, .lock_fd = -1};
    ws->repo = data_dvc_repo_above(s->root);
    if (!ws->repo)
        return cap_err(err, CAP_EINVAL, "'%.300s' is not in a DVC repository: expected a "
                       ".dvc directory there or above (run `dvc init`)", s->root);
    ws->cache_dir = data_dvc_cache_of(ws->repo);
    ws->state_dir = join(ws->repo, ".dvc/tmp/capstan");
    ws->lock_path = join(s->root, "dvc.lock");
    char *sc = join(ws->state_dir, "statcache");
    ws->sc = data_statcache_load(sc);
    free(sc);
    return read_lock(ws, err);
}

void pipe_ws_close(struct pipe_ws *ws)
{
    if (ws->sc && pipe_mkdirs(ws->state_dir) == 0) {
        char *path = join(ws->state_dir, "statcache");
        struct cap_error e = {0};
        if (data_statcache_save(ws->sc, path, &e) < 0)
            cap_log(CAP_LOG_WARN, "pipeline: the stat cache was not saved: %s", e.msg);
        free(path);
    }
    data_statcache_free(ws->sc);
    if (ws->lock_fd >= 0)
        close(ws->lock_fd);
    cJSON_Delete(ws->lock);
    free(ws->repo);
    free(ws->cache_dir);
    free(ws->state_dir);
    free(ws->lock_path);
    memset(ws, 0, sizeof *ws);
    ws->lock_fd = -1;
}

int pipe_ws_lock(struct pipe_ws *ws, struct cap_error *err)
{
    if (pipe_mkdirs(ws->state_dir) < 0)
        return cap_err(err, CAP_EINVAL, "Cannot create '%.300s': %s", ws->state_dir,
                       strerror(errno));
    char *path = join(ws->state_dir, "lock");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644), rc = 0;
    if (fd < 0)
        rc = cap_err(err, CAP_EINVAL, "Cannot open '%.300s': %s", path, strerror(errno));
    else if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        rc = cap_err(err, CAP_ECONFLICT, "Another pipeline run holds '%.300s': wait for it "
                     "to finish", path);
    free(path);
    if (rc < 0 && fd >= 0)
        close(fd);
    if (rc == 0)
        ws->lock_fd = fd;
    return rc;
}

char *pipe_stage_relpath(const struct pipe_stage *st, const char *path)
{
    char *rel = pipe_path_join(st->wdir ? st->wdir : ".", path);
    if (rel[0] == '/' || strcmp(rel, "..") == 0 || strncmp(rel, "../", 3) == 0) {
        free(rel);
        return NULL;
    }
    return rel;
}

char *pipe_stage_abspath(const struct pipe_spec *s, const struct pipe_stage *st, const char *path)
{
    char *rel = pipe_stage_relpath(st, path);
    if (!rel)
        return NULL;
    char *abs = strcmp(rel, ".") == 0 ? cap_xstrdup(s->root) : join(s->root, rel);
    free(rel);
    return abs;
}

cJSON *pipe_lock_item(const char *path, const struct data_dvc_meta *m)
{
    char oid[DATA_DVC_OID];
    data_dvc_oid(&m->md5, m->is_dir, oid);
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "path", path);
    cJSON_AddStringToObject(it, "hash", "md5");
    cJSON_AddStringToObject(it, "md5", oid);
    cap_json_add_i64(it, "size", (int64_t)m->size);
    if (m->is_dir)
        cap_json_add_i64(it, "nfiles", (int64_t)m->nfiles);
    return it;
}

bool pipe_lock_item_meta(const cJSON *item, struct data_dvc_meta *m)
{
    const cJSON *md5 = cJSON_GetObjectItemCaseSensitive(item, "md5");
    if (!cJSON_IsString(md5))
        return false;
    const char *s = md5->valuestring;
    size_t n = strlen(s);
    bool dir = n == 36 && strcmp(s + 32, ".dir") == 0;
    if (n != 32 && !dir)
        return false;
    char text[DATA_HASH_STR];
    snprintf(text, sizeof text, "md5:%.32s", s);
    struct cap_error ignored;
    *m = (struct data_dvc_meta){.is_dir = dir};
    if (data_hash_parse(text, &m->md5, &ignored) < 0)
        return false;
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(item, "size");
    const cJSON *nfiles = cJSON_GetObjectItemCaseSensitive(item, "nfiles");
    m->size = cJSON_IsNumber(size) && size->valuedouble > 0 ? (uint64_t)size->valuedouble : 0;
    m->nfiles = cJSON_IsNumber(nfiles) && nfiles->valuedouble > 0 ? (uint64_t)nfiles->valuedouble
                                                                  : 0;
    return true;
}

cJSON *pipe_lock_cmd(const struct pipe_stage *st)
{
    if (!st->cmd_is_list && st->ncmd == 1)
        return cJSON_CreateString(st->cmd[0]);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < st->ncmd; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(st->cmd[i]));
    return a;
}

void pipe_lock_put(struct pipe_ws *ws, const char *name, cJSON *entry)
{
    cJSON *stages = cJSON_GetObjectItemCaseSensitive(ws->lock, "stages");
    if (cJSON_GetObjectItemCaseSensitive(stages, name))
        cJSON_ReplaceItemInObjectCaseSensitive(stages, name, entry);
    else
        cJSON_AddItemToObject(stages, name, entry);
}

int pipe_lock_write(struct pipe_ws *ws, struct cap_error *err)
{
    char *text;
    size_t len;
    int rc = data_dvc_yaml(ws->lock, &text, &len, err);
    if (rc == 0)
        rc = data_write_file(ws->lock_path, text, len, true, err);
    free(text);
    return rc;
}

int pipe_lock_set(struct pipe_ws *ws, const char *name, cJSON *entry, struct cap_error *err)
{
    pipe_lock_put(ws, name, entry);
    return pipe_lock_write(ws, err);
}
