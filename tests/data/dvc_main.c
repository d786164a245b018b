/* dvc_main - drives data/dvc.h for tests/integration/test_dvc_formats.py,
 * which checks it against the real DVC.
 *
 *   dvc_main read DVCFILE CACHE_DIR
 *       Prints {"outs": [{"path", "md5" (as in the file), "is_dir",
 *       "legacy", "cache", "size", "nfiles" (null when absent), and for a
 *       directory "files": [{"path", "hash", "md5", "size"}] (as the .dir
 *       lists them, sizes from the cache) and "recomputed": the .dir md5 that
 *       data_dvc_dir_bytes gives for those files}]}.
 *   dvc_main add PATH CACHE_DIR DVCFILE
 *       Hashes the file or directory PATH (md5, here, as data_add would),
 *       puts its objects into CACHE_DIR and writes DVCFILE naming PATH's
 *       last component (DVCFILE belongs beside PATH); prints {"md5", "size",
 *       "nfiles"}.
 *   dvc_main format PATH MD5 SIZE [NFILES]
 *       Prints the .dvc text for that output (a directory when MD5 ends in
 *       ".dir"), for the tests of quoting.
 *
 * An error exits 1 with "error: <message>" on stderr. */
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "data/dvc.h"

static int fail(const struct cap_error *e)
{
    fprintf(stderr, "error: %s\n", e->msg);
    return 1;
}

static cJSON *hash_json(const struct data_hash *h)
{
    char s[DATA_HASH_STR];
    if (!h->algo)
        return cJSON_CreateNull();
    data_hash_format(h, s);
    return cJSON_CreateString(s);
}

static int read_dir(const char *cache, const struct data_dvc_out *o, cJSON *jo,
                    struct cap_error *e)
{
    struct data_manifest m = {0};
    int rc = data_dvc_dir_read(cache, &o->md5, o->legacy, NULL, NULL, &m, e);
    cJSON *files = cJSON_AddArrayToObject(jo, "files");
    for (size_t i = 0; rc == 0 && i < m.n; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "path", m.e[i].path);
        cJSON_AddItemToObject(f, "hash", hash_json(&m.e[i].hash));
        cJSON_AddItemToObject(f, "md5", hash_json(&m.e[i].md5));
        cJSON_AddNumberToObject(f, "size", (double)m.e[i].size);
        cJSON_AddItemToArray(files, f);
        m.e[i].md5 = m.e[i].hash; /* a legacy .dir is recomputed from its own names */
    }
    char *bytes = NULL, oid[DATA_DVC_OID];
    size_t len;
    struct data_hash md5;
    if (rc == 0 && (rc = data_dvc_dir_bytes(&m, &bytes, &len, &md5, e)) == 0) {
        data_dvc_oid(&md5, true, oid);
        cJSON_AddStringToObject(jo, "recomputed", oid);
    }
    free(bytes);
    data_manifest_free(&m);
    return rc;
}

static int cmd_read(const char *dvcfile, const char *cache)
{
    struct cap_error e = {0};
    struct data_dvc_file f;
    if (data_dvc_load(dvcfile, &f, &e) != 0)
        return fail(&e);
    cJSON *root = cJSON_CreateObject(), *outs = cJSON_AddArrayToObject(root, "outs");
    int rc = 0;
    for (size_t i = 0; i < f.n && rc == 0; i++) {
        const struct data_dvc_out *o = &f.outs[i];
        char oid[DATA_DVC_OID];
        cJSON *jo = cJSON_CreateObject();
        cJSON_AddItemToArray(outs, jo);
        data_dvc_oid(&o->md5, o->is_dir, oid);
        cJSON_AddStringToObject(jo, "path", o->path);
        cJSON_AddStringToObject(jo, "md5", oid);
        cJSON_AddBoolToObject(jo, "is_dir", o->is_dir);
        cJSON_AddBoolToObject(jo, "legacy", o->legacy);
        cJSON_AddBoolToObject(jo, "cache", o->cache);
        cJSON_AddItemToObject(jo, "size", o->size < 0 ? cJSON_CreateNull()
                                                      : cJSON_CreateNumber((double)o->size));
        cJSON_AddItemToObject(jo, "nfiles", o->nfiles < 0 ? cJSON_CreateNull()
                                                          : cJSON_CreateNumber((double)o->nfiles));
        if (o->is_dir)
            rc = read_dir(cache, o, jo, &e);
    }
    if (rc == 0) {
        char *s = cJSON_PrintUnformatted(root);
        puts(s);
        free(s);
    }
    cJSON_Delete(root);
    data_dvc_file_free(&f);
    return rc ? fail(&e) : 0;
}

/* ---- add: the tree's files with their md5 ---- */

static struct data_manifest g_tree;
static size_t g_root_len;
static const char *g_error;

static int md5_file(const char *path, struct data_hash *h)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_md5(), NULL);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        EVP_DigestUpdate(c, buf, n);
    unsigned int len = 0;
    h->algo = DATA_MD5;
    EVP_DigestFinal_ex(c, h->d, &len);
    EVP_MD_CTX_free(c);
    fclose(fp);
    return 0;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type != FTW_F || !S_ISREG(st->st_mode))
        return type == FTW_D || type == FTW_DP ? 0 : (g_error = path, 1);
    struct data_hash h;
    if (md5_file(path, &h) != 0)
        return g_error = path, 1;
    data_manifest_push(&g_tree, cap_xstrdup(path + g_root_len + 1), (uint64_t)st->st_size, &h,
                       &h);
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct data_entry *)a)->path, ((const struct data_entry *)b)->path);
}

static int cmd_add(const char *path, const char *cache, const char *dvcfile)
{
    struct stat st;
    struct cap_error e = {0};
    if (stat(path, &st) != 0)
        return fprintf(stderr, "error: cannot stat '%s'\n", path), 1;
    char *copy1 = cap_xstrdup(path), *copy2 = cap_xstrdup(path);
    const char *name = basename(copy1), *root = S_ISDIR(st.st_mode) ? path : dirname(copy2);
    g_root_len = strlen(root);
    struct data_hash h;
    if (!S_ISDIR(st.st_mode) && md5_file(path, &h) == 0)
        data_manifest_push(&g_tree, cap_xstrdup(name), (uint64_t)st.st_size, &h, &h);
    else if (!S_ISDIR(st.st_mode) || nftw(path, visit, 16, FTW_PHYS) != 0)
        return fprintf(stderr, "error: cannot hash '%s'\n", g_error ? g_error : path), 1;
    qsort(g_tree.e, g_tree.n, sizeof *g_tree.e, by_path);
    struct data_hash md5;
    int rc = data_dvc_add(cache, root, &g_tree, S_ISDIR(st.st_mode), dvcfile, name, &md5, &e);
    if (rc == 0) {
        char oid[DATA_DVC_OID];
        uint64_t size = 0;
        for (size_t i = 0; i < g_tree.n; i++)
            size += g_tree.e[i].size;
        data_dvc_oid(&md5, S_ISDIR(st.st_mode), oid);
        printf("{\"md5\": \"%s\", \"size\": %llu, \"nfiles\": %zu}\n", oid,
               (unsigned long long)size, g_tree.n);
    }
    data_manifest_free(&g_tree);
    free(copy1);
    free(copy2);
    return rc ? fail(&e) : 0;
}

static int cmd_format(int argc, char **argv)
{
    struct data_dvc_out o = {.path = argv[2], .cache = true, .size = atoll(argv[4]),
                             .nfiles = argc > 5 ? atoll(argv[5]) : -1};
    struct cap_error e = {0};
    char hs[64];
    o.is_dir = strlen(argv[3]) == 36;
    snprintf(hs, sizeof hs, "md5:%.32s", argv[3]);
    char *text;
    size_t len;
    if (data_hash_parse(hs, &o.md5, &e) != 0 || data_dvc_format(&o, &text, &len, &e) != 0)
        return fail(&e);
    fwrite(text, 1, len, stdout);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "read") == 0)
        return cmd_read(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "add") == 0)
        return cmd_add(argv[2], argv[3], argv[4]);
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "format") == 0)
        return cmd_format(argc, argv);
    fprintf(stderr, "usage: dvc_main read DVCFILE CACHE_DIR | add PATH CACHE_DIR DVCFILE | "
                    "format PATH MD5 SIZE [NFILES]\n");
    return 2;
}
