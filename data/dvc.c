/* dvc.c - .dvc files: read with libyaml's document loader (every node keeps
 * its line and column for messages), written with libyaml's emitter so that
 * quoting and escapes follow YAML's rules as DVC's own writer (ruamel.yaml)
 * applies them. dvc.h says which facts about DVC this relies on. */
#include "data/dvc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/buf.h"

/* ---- reading ---- */

struct yctx {
    const char *name;
    yaml_document_t *doc;
    struct cap_error *err;
};

static int yfail(const struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int yfail(const struct yctx *y, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cap_err(y->err, CAP_EINVAL, "%.200s:%zu:%zu: %s", y->name, n->start_mark.line + 1,
                   n->start_mark.column + 1, msg);
}

static const char *kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a mapping"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

/* The scalar's text, or NULL when n is not a scalar or holds a NUL. */
static const char *scalar(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return NULL;
    const char *s = (const char *)n->data.scalar.value;
    return strlen(s) == n->data.scalar.length ? s : NULL;
}

static yaml_node_t *node(const struct yctx *y, int id)
{
    return yaml_document_get_node(y->doc, id);
}

/* The value of key in mapping m (NULL when absent); -CAP_EINVAL when a key
 * is not a scalar or is given twice, which DVC's loader refuses too. */
static int lookup(const struct yctx *y, const yaml_node_t *m, const char *key, yaml_node_t **out)
{
    *out = NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(y, p->key);
        const char *ks = scalar(k);
        if (!ks)
            return yfail(y, k, "a key is %s, expected a name", kind(k));
        if (strcmp(ks, key) != 0)
            continue;
        if (*out)
            return yfail(y, k, "'%s' is given twice, expected it once", key);
        *out = node(y, p->value);
    }
    return 0;
}

static int get_str(const struct yctx *y, const yaml_node_t *v, const char *key, const char **out)
{
    *out = scalar(v);
    return *out ? 0 : yfail(y, v, "'%s' is %s, expected a string", key, kind(v));
}

static int get_count(const struct yctx *y, const yaml_node_t *v, const char *key, int64_t *out)
{
    const char *s = scalar(v);
    if (!s || !*s || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
        return yfail(y, v, "'%s' is '%.40s', expected a whole number of at most 18 digits", key,
                     s ? s : kind(v));
    *out = strtoll(s, NULL, 10);
    return 0;
}

/* "<32 lowercase hex>" or the same then ".dir". */
static int get_md5(const struct yctx *y, const yaml_node_t *v, struct data_dvc_out *o)
{
    const char *s = scalar(v);
    size_t n = s ? strlen(s) : 0;
    o->is_dir = n == 36 && strcmp(s + 32, ".dir") == 0;
    char buf[4 + 32 + 1] = "md5:";
    if (s && (n == 32 || o->is_dir)) {
        memcpy(buf + 4, s, 32);
        buf[36] = '\0';
        if (data_hash_parse(buf, &o->md5, NULL) == 0)
            return 0;
    }
    return yfail(y, v, "'md5' is '%.60s', expected 32 lowercase hex digits, then '.dir' for a "
                 "directory", s ? s : kind(v));
}

static int get_flags(const struct yctx *y, const yaml_node_t *m, struct data_dvc_out *o)
{
    yaml_node_t *v;
    const char *s;
    int rc = lookup(y, m, "hash", &v);
    if (rc == 0 && v && (rc = get_str(y, v, "hash", &s)) == 0 && strcmp(s, "md5") != 0)
        rc = yfail(y, v, "'hash' is '%.40s', expected 'md5' (DVC 3) or no 'hash' (DVC 2)", s);
    o->legacy = !v;
    o->cache = true;
    if (rc == 0 && (rc = lookup(y, m, "cache", &v)) == 0 && v) {
        s = scalar(v);
        if (s && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")))
            o->cache = false;
        else if (!s || (strcmp(s, "true") && strcmp(s, "True") && strcmp(s, "TRUE")))
            rc = yfail(y, v, "'cache' is '%.40s', expected true or false", s ? s : kind(v));
    }
    if (rc == 0 && (rc = lookup(y, m, "files", &v)) == 0 && v)
        rc = yfail(y, v, "the output lists its files inline ('files', as `dvc import` writes), "
                   "expected them in a .dir object of the cache");
    return rc;
}

static int parse_out(const struct yctx *y, const yaml_node_t *m, struct data_dvc_out *o)
{
    if (m->type != YAML_MAPPING_NODE)
        return yfail(y, m, "an output is %s, expected a mapping (md5, size, hash, path)", kind(m));
    o->size = o->nfiles = -1;
    yaml_node_t *path, *md5, *size, *nfiles;
    const char *s;
    int rc = lookup(y, m, "path", &path);
    if (rc == 0 && !path)
        rc = yfail(y, m, "the output has no 'path', expected one");
    if (rc == 0 && (rc = get_str(y, path, "path", &s)) == 0 && !data_path_ok(s))
        rc = yfail(y, path, "'path' is '%.200s', expected a relative path below the .dvc "
                   "file's directory, without '.' or '..'", s);
    if (rc == 0)
        o->path = cap_xstrdup(s);
    if (rc == 0 && (rc = lookup(y, m, "md5", &md5)) == 0 && !md5)
        rc = yfail(y, m, "the output '%.200s' has no 'md5', expected one (outputs hashed by a "
                   "cloud's etag or checksum cannot be imported)", o->path);
    if (rc == 0)
        rc = get_md5(y, md5, o);
    if (rc == 0 && (rc = lookup(y, m, "size", &size)) == 0 && size)
        rc = get_count(y, size, "size", &o->size);
    if (rc == 0 && (rc = lookup(y, m, "nfiles", &nfiles)) == 0 && nfiles)
        rc = get_count(y, nfiles, "nfiles", &o->nfiles);
    return rc ? rc : get_flags(y, m, o);
}

static int parse_doc(const struct yctx *y, struct data_dvc_file *out)
{
    yaml_node_t *root = yaml_document_get_root_node(y->doc), *outs;
    if (!root)
        return cap_err(y->err, CAP_EINVAL, "%.200s: the file is empty, expected a mapping with "
                       "'outs'", y->name);
    if (root->type != YAML_MAPPING_NODE)
        return yfail(y, root, "the file holds %s, expected a mapping with 'outs'", kind(root));
    int rc = lookup(y, root, "outs", &outs);
    if (rc)
        return rc;
    if (!outs)
        return yfail(y, root, "no 'outs', expected a list of outputs");
    if (outs->type != YAML_SEQUENCE_NODE || outs->data.sequence.items.top ==
                                                outs->data.sequence.items.start)
        return yfail(y, outs, "'outs' is %s, expected a list of at least one output",
                     outs->type == YAML_SEQUENCE_NODE ? "empty" : kind(outs));
    size_t n = (size_t)(outs->data.sequence.items.top - outs->data.sequence.items.start);
    out->outs = cap_xcalloc(n, sizeof *out->outs);
    for (size_t i = 0; i < n && rc == 0; i++, out->n++)
        rc = parse_out(y, node(y, outs->data.sequence.items.start[i]), &out->outs[i]);
    return rc;
}

int data_yaml_load(const char *name, const char *text, size_t len, yaml_document_t *doc,
                   struct cap_error *err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return cap_err(err, CAP_EINTERNAL, "%.200s: cannot start the YAML parser", name);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&p, doc))
        rc = cap_err(err, CAP_EINVAL, "%.200s:%zu:%zu: not valid YAML: %s%s%s", name,
                     p.problem_mark.line + 1, p.problem_mark.column + 1,
                     p.problem ? p.problem : "malformed", p.context ? " " : "",
                     p.context ? p.context : "");
    /* The document owns its nodes; the parser is no longer needed. */
    yaml_parser_delete(&p);
    return rc;
}

int data_dvc_parse(const char *name, const char *text, size_t len, struct data_dvc_file *out,
                   struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    yaml_document_t doc;
    int rc = data_yaml_load(name, text, len, &doc, err);
    if (rc)
        return rc;
    struct yctx y = {name, &doc, err};
    rc = parse_doc(&y, out);
    yaml_document_delete(&doc);
    if (rc)
        data_dvc_file_free(out);
    return rc;
}

int data_read_file(const char *path, size_t max, char **out, size_t *len, struct cap_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int e = fd < 0 ? errno : EISDIR;
        if (fd >= 0)
            close(fd);
        return cap_err(err, e == ENOENT ? CAP_ENOTFOUND : CAP_EINVAL,
                       "Cannot read '%.300s': %s", path, strerror(e));
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return cap_err(err, CAP_EINVAL, "'%.300s' has %lld bytes, expected at most %zu", path,
                       (long long)st.st_size, max);
    }
    char *buf = cap_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    ssize_t r = 1;
    while (got < (size_t)st.st_size && (r = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)r;
    int e = errno;
    close(fd);
    if (r < 0) {
        free(buf);
        return cap_err(err, CAP_EINVAL, "Cannot read '%.300s': %s", path, strerror(e));
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int data_dvc_load(const char *path, struct data_dvc_file *out, struct cap_error *err)
{
    char *text;
    size_t len;
    memset(out, 0, sizeof *out);
    /* A .dvc file is a few hundred bytes; 1 MiB leaves room for comments
     * and annotations, and bounds what a wrong path makes us read. */
    int rc = data_read_file(path, 1 << 20, &text, &len, err);
    if (rc == 0) {
        rc = data_dvc_parse(path, text, len, out, err);
        free(text);
    }
    return rc;
}

void data_dvc_file_free(struct data_dvc_file *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->outs[i].path);
    free(f->outs);
    memset(f, 0, sizeof *f);
}

/* ---- writing ---- */

/* Scalars that YAML 1.2, as ruamel.yaml resolves plain scalars (DVC reads
 * and writes with it), takes for something other than a string: a bool, an
 * int, a float, null, a timestamp, a merge key or '='. */
static const char non_str_re[] =
    "^(true|True|TRUE|false|False|FALSE"
    "|[-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    "|[-+]?\\.[0-9_]+([eE][-+][0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)"
    "|[-+]?0b[01_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+"
    "|~|null|Null|NULL|<<|=|"
    "|[0-9]{4}-[0-9]{2}-[0-9]{2}"
    "|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\\.[0-9]*)?"
    "([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)$";
static regex_t non_str;
static bool non_str_ok;
static pthread_once_t non_str_once = PTHREAD_ONCE_INIT;

static void non_str_init(void)
{
    non_str_ok = regcomp(&non_str, non_str_re, REG_EXTENDED | REG_NOSUB) == 0;
}

/* Whether s resolves to a non-string; such a string is quoted, any other is
 * written plain where YAML allows it ('yes' is a string in 1.2, and DVC
 * writes it plain). Compiled once: ~0.1 ms a compilation, and a dvc.lock
 * write tests every scalar of every stage (~250 for 20 stages: 31 ms). */
static bool resolves_non_str(const char *s)
{
    pthread_once(&non_str_once, non_str_init);
    if (!non_str_ok)
        return true; /* quoting is always safe */
    return regexec(&non_str, s, 0, NULL, 0) == 0;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
    return yaml_emitter_emit(e, ev) ? 0 : -1;
}

/* A string scalar: -1 when libyaml refuses it (not UTF-8). */
static int emit_str(yaml_emitter_t *e, const char *s)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s),
                                      !resolves_non_str(s), 1, YAML_ANY_SCALAR_STYLE))
        return -1;
    return emit(e, &ev);
}

/* A number as Python writes it: integers without a point, other values in
 * the fewest digits that read back the same. */
static void number_text(double d, char out[32])
{
    if (d == (double)(int64_t)d && d > -9.007199254740992e15 && d < 9.007199254740992e15) {
        snprintf(out, 32, "%lld", (long long)d);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, 32, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

static int emit_plain(yaml_emitter_t *e, const char *s)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 0,
                                      YAML_PLAIN_SCALAR_STYLE))
        return -1;
    return emit(e, &ev);
}

static int emit_value(yaml_emitter_t *e, const cJSON *v, int depth)
{
    if (depth > 64)
        return -1;
    yaml_event_t ev;
    int rc = 0;
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool map = cJSON_IsObject(v);
        if (map)
            yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        else
            yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        rc = emit(e, &ev);
        for (const cJSON *c = v->child; c && rc == 0; c = c->next) {
            if (map)
                rc = emit_str(e, c->string);
            rc = rc ? rc : emit_value(e, c, depth + 1);
        }
        if (map)
            yaml_mapping_end_event_initialize(&ev);
        else
            yaml_sequence_end_event_initialize(&ev);
        return rc ? rc : emit(e, &ev);
    }
    if (cJSON_IsString(v))
        return emit_str(e, v->valuestring);
    if (cJSON_IsBool(v))
        return emit_plain(e, cJSON_IsTrue(v) ? "true" : "false");
    if (cJSON_IsNumber(v)) {
        char num[32];
        number_text(v->valuedouble, num);
        return emit_plain(e, num);
    }
    return emit_plain(e, "null");
}

static int put_bytes(void *b, unsigned char *p, size_t n)
{
    cap_buf_append(b, p, n);
    return 1;
}

/* doc's events in one implicit document. */
static int emit_doc(yaml_emitter_t *e, const cJSON *doc)
{
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    int rc = emit(e, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    rc = rc ? rc : emit(e, &ev);
    rc = rc ? rc : emit_value(e, doc, 0);
    yaml_document_end_event_initialize(&ev, 1);
    rc = rc ? rc : emit(e, &ev);
    yaml_stream_end_event_initialize(&ev);
    return rc ? rc : emit(e, &ev);
}

int data_dvc_yaml(const cJSON *doc, char **out, size_t *len, struct cap_error *err)
{
    struct cap_buf b;
    cap_buf_init(&b);
    yaml_emitter_t e;
    if (!yaml_emitter_initialize(&e))
        return cap_err(err, CAP_EINTERNAL, "Cannot start the YAML emitter");
    yaml_emitter_set_output(&e, put_bytes, &b);
    yaml_emitter_set_unicode(&e, 1); /* ruamel.yaml writes 'ü' as it is */
    int rc = 0;
    if (emit_doc(&e, doc) != 0 || !yaml_emitter_flush(&e)) {
        /* Events are well nested, so this is text libyaml cannot write,
         * which DVC cannot write either. */
        rc = cap_err(err, CAP_EINVAL, "Cannot write YAML: %s, expected UTF-8 text",
                     e.problem ? e.problem : "not UTF-8");
        cap_buf_free(&b);
    }
    yaml_emitter_delete(&e);
    *len = rc ? 0 : b.len;
    *out = rc ? NULL : cap_buf_steal(&b);
    return rc;
}

int data_dvc_format(const struct data_dvc_out *o, char **out, size_t *len,
                    struct cap_error *err)
{
    char oid[DATA_DVC_OID];
    data_dvc_oid(&o->md5, o->is_dir, oid);
    cJSON *doc = cJSON_CreateObject(), *outs = cJSON_AddArrayToObject(doc, "outs");
    cJSON *it = cJSON_CreateObject();
    cJSON_AddItemToArray(outs, it);
    cJSON_AddStringToObject(it, "md5", oid);
    cJSON_AddNumberToObject(it, "size", (double)o->size);
    if (o->is_dir)
        cJSON_AddNumberToObject(it, "nfiles", (double)o->nfiles);
    cJSON_AddStringToObject(it, "hash", "md5");
    cJSON_AddStringToObject(it, "path", o->path);
    int rc = data_dvc_yaml(doc, out, len, err);
    cJSON_Delete(doc);
    if (rc)
        cap_err(err, CAP_EINVAL, "Cannot write the path '%.200s' into a .dvc file, expected "
                "UTF-8 text", o->path);
    return rc;
}

int data_write_file(const char *path, const void *text, size_t len, bool sync,
                    struct cap_error *err)
{
    size_t pn = strlen(path);
    char *tmp = cap_xmalloc(pn + 8);
    memcpy(tmp, path, pn);
    memcpy(tmp + pn, ".XXXXXX", 8);
    int fd = mkstemp(tmp), rc = 0;
    if (fd < 0 || fchmod(fd, 0644) < 0 || write(fd, text, len) != (ssize_t)len ||
        (sync && fsync(fd) < 0) || rename(tmp, path) < 0) {
        rc = cap_err(err, CAP_EINVAL, "Cannot write '%.300s': %s", path, strerror(errno));
        if (fd >= 0)
            unlink(tmp);
    }
    if (fd >= 0)
        close(fd);
    free(tmp);
    return rc;
}

int data_dvc_write(const char *dvc_path, const struct data_dvc_out *o, struct cap_error *err)
{
    size_t len;
    char *text;
    int rc = data_dvc_format(o, &text, &len, err);
    if (rc == 0)
        rc = data_write_file(dvc_path, text, len, true, err);
    free(text);
    return rc;
}
