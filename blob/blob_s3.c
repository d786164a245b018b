/* blob_s3.c - the artifact store on S3: blob.h's calls as object requests.
 *
 * A relative path p is the object "<prefix>/p"; a directory is every key
 * that starts with "<prefix>/p/" (S3 has no directories). Paths are checked
 * by the same rules as on disk (blob_path.c) before any request.
 *
 * Writes stream: bytes gather in a buffer that grows up to one part (8 MiB
 * by default); a file that fits is one PutObject at commit, a larger one a
 * multipart upload whose parts go out as they fill, so an upload of any
 * size holds at most one part in memory. Commit completes the upload (the
 * object appears whole or not at all); abort, or any failure, aborts it so
 * that S3 drops the parts. The part size doubles every 1000 parts: S3
 * allows 10,000, and 8 MiB parts alone would stop at 78 GiB.
 *
 * blob_open_read lands the object in an unnamed file in the spool
 * directory (on the data disk, not /tmp, which may be memory) and hands
 * back its descriptor, so its readers (mmap of a model, a baseline's
 * frame) work unchanged; the cost is the object's size in free disk and
 * its whole transfer before the first byte is used. Artifact downloads
 * do not wait for that: they stream (blob_open_stream, blob_s3_stream.c). */
#include "blob/blob.h"
#include "blob/blob_fs.h"
#include "blob/blob_s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/json.h"
#include "base/util.h"

#define PART_MIN (5u << 20)     /* S3's smallest part but the last */
#define PART_DEFAULT (8u << 20)
#define PARTS_PER_SIZE 1000     /* parts before the part size doubles */

/* ---- opening ---------------------------------------------------------------- */

static void lock_share(CURL *c, curl_lock_data data, curl_lock_access access, void *cls)
{
    (void)c, (void)access;
    struct blob_s3 *s = cls;
    pthread_mutex_lock(&s->share_locks[data]);
}

static void unlock_share(CURL *c, curl_lock_data data, void *cls)
{
    (void)c;
    struct blob_s3 *s = cls;
    pthread_mutex_unlock(&s->share_locks[data]);
}

static const char *env_first(const char *a, const char *b, const char *c)
{
    const char *names[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        const char *v = names[i] ? getenv(names[i]) : NULL;
        if (v && *v)
            return v;
    }
    return NULL;
}

/* "s3://bucket/a/b/" -> bucket "bucket", prefix "a/b". */
static int parse_uri(struct blob_s3 *s, const char *uri, struct cap_error *err)
{
    const char *b = uri + strlen("s3://");
    const char *slash = strchr(b, '/');
    size_t blen = slash ? (size_t)(slash - b) : strlen(b);
    if (blen < 3 || blen > 63 || strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") < blen)
        return cap_err(err, CAP_EINVAL,
                       "Invalid S3 artifact destination '%.300s': expected s3://bucket/prefix "
                       "with a bucket name of 3 to 63 lower-case letters, digits, '.' or '-'",
                       uri);
    s->bucket = cap_xstrndup(b, blen);
    const char *p = slash ? slash + 1 : "";
    size_t plen = strlen(p);
    while (plen && p[plen - 1] == '/')
        plen--;
    s->prefix = cap_xstrndup(p, plen);
    if (*s->prefix && blob_check_path(s->prefix, 0, err) < 0)
        return cap_err(err, CAP_EINVAL, "Invalid S3 artifact destination '%.300s': its prefix: %s",
                       uri, err->msg);
    s->uri = cap_xstrdup(uri);
    return 0;
}

/* Endpoint, region and credentials from opt and the environment (the
 * variables MLflow and the AWS tools read). */
static int configure(struct blob_s3 *s, const struct blob_options *opt, struct cap_error *err)
{
    const char *region = env_first("AWS_REGION", "AWS_DEFAULT_REGION", NULL);
    s->region = cap_xstrdup(region ? region : "us-east-1");
    const char *ep = opt && opt->s3_endpoint_url && *opt->s3_endpoint_url
                         ? opt->s3_endpoint_url
                         : env_first("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                                     "AWS_ENDPOINT_URL");
    struct cap_buf b;
    cap_buf_init(&b);
    if (ep)
        cap_buf_puts(&b, ep);
    else
        cap_buf_printf(&b, "https://s3.%s.amazonaws.com", s->region);
    while (b.len && b.data[b.len - 1] == '/')
        b.data[--b.len] = '\0';
    s->endpoint = cap_buf_steal(&b);
    const char *auth = strstr(s->endpoint, "://");
    if ((strncmp(s->endpoint, "http://", 7) != 0 && strncmp(s->endpoint, "https://", 8) != 0) ||
        !auth[3] || strchr(auth + 3, '/') || strchr(auth + 3, '?') || strchr(auth + 3, '@'))
        return cap_err(err, CAP_EINVAL,
                       "Invalid S3 endpoint URL '%.300s': expected http(s)://host[:port], with no "
                       "path",
                       s->endpoint);
    s->host = cap_xstrdup(auth + 3);
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (!ak || !*ak || !sk || !*sk)
        return cap_err(err, CAP_EINVAL,
                       "An s3:// artifact destination needs credentials: set AWS_ACCESS_KEY_ID "
                       "and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones)");
    s->access_key = cap_xstrdup(ak);
    s->secret_key = cap_xstrdup(sk);
    const char *tok = getenv("AWS_SESSION_TOKEN");
    s->session_token = tok && *tok ? cap_xstrdup(tok) : NULL;
    s->part_size = opt && opt->s3_part_size ? opt->s3_part_size : PART_DEFAULT;
    if (s->part_size < PART_MIN)
        return cap_err(err, CAP_EINVAL, "The S3 part size must be at least %u bytes", PART_MIN);
    s->spool_dir = cap_xstrdup(opt && opt->spool_dir ? opt->spool_dir : P_tmpdir);
    return 0;
}

/* One listing of at most one key: answers whether the bucket exists and
 * takes these credentials, at start rather than at the first upload. */
static int probe(struct blob_s3 *s, struct cap_error *err)
{
    const char *params[] = {"list-type", "2", "max-keys", "1", NULL};
    struct s3_req r = {.method = "GET", .params = params, .out_fd = -1};
    int rc = s3_do(s, &r, err);
    s3_req_clear(&r);
    return rc;
}

int blob_s3_open(const char *uri, const struct blob_options *opt, struct blob_s3 **out,
                 struct cap_error *err)
{
    *out = NULL;
    /* before any thread: libcurl's global set-up is not thread-safe
     * (reference-counted, so the alerts' call too is harmless) */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct blob_s3 *s = cap_xcalloc(1, sizeof *s);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->share_locks[i], NULL);
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_cond_init(&s->streams_cv, NULL);
    s->share = curl_share_init();
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, lock_share);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, unlock_share);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    int rc;
    if ((rc = parse_uri(s, uri, err)) < 0 || (rc = configure(s, opt, err)) < 0 ||
        (rc = probe(s, err)) < 0) {
        blob_s3_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void blob_s3_close(struct blob_s3 *s)
{
    if (!s)
        return;
    blob_s3_streams_wait(s);
    pthread_mutex_destroy(&s->streams_mu);
    pthread_cond_destroy(&s->streams_cv);
    if (s->share)
        curl_share_cleanup(s->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->share_locks[i]);
    free(s->uri);
    free(s->endpoint);
    free(s->host);
    free(s->region);
    free(s->access_key);
    free(s->secret_key);
    free(s->session_token);
    free(s->bucket);
    free(s->prefix);
    free(s->spool_dir);
    free(s);
}

/* ---- writing ------------------------------------------------------------------ */

struct blob_s3_writer {
    struct blob_s3 *s;
    char *key;
    unsigned char *buf;
    size_t len, cap;
    size_t part_size;
    char *upload_id;        /* once the first part went out */
    int nparts;
    struct cap_buf parts;   /* CompleteMultipartUpload's <Part> list */
    int spool_fd;           /* >= 0: an object named at commit (blob_s3_write_open_anon):
                             * its bytes wait in an unnamed local file until then */
};

static int spool_file(const struct blob_s3 *s, struct cap_error *err);

int blob_s3_write_open(struct blob_s3 *s, const char *relpath, struct blob_s3_writer **out,
                       struct cap_error *err)
{
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    struct blob_s3_writer *w = cap_xcalloc(1, sizeof *w);
    w->s = s;
    w->key = s3_key(s, path);
    w->part_size = s->part_size;
    w->spool_fd = -1;
    cap_buf_init(&w->parts);
    free(path);
    *out = w;
    return 0;
}

static void on_upload_id(void *cls, const char *path, const char *text)
{
    char **id = cls;
    if (strcmp(path, "InitiateMultipartUploadResult/UploadId") == 0 && !*id && *text)
        *id = cap_xstrdup(text);
}

static int start_multipart(struct blob_s3_writer *w, struct cap_error *err)
{
    const char *params[] = {"uploads", "", NULL};
    struct s3_req r = {.method = "POST", .key = w->key, .params = params, .out_fd = -1};
    int rc = s3_do(w->s, &r, err);
    if (rc == 0 && (s3_xml_walk(r.answer.data ? r.answer.data : "", r.answer.len, on_upload_id,
                                &w->upload_id) < 0 ||
                    !w->upload_id))
        rc = cap_err(err, CAP_EUNAVAIL,
                     "The S3 server %.200s started a multipart upload of %.300s without an "
                     "UploadId",
                     w->s->endpoint, w->key);
    s3_req_clear(&r);
    return rc;
}

static void xml_escape(struct cap_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': cap_buf_puts(b, "&amp;"); break;
        case '<': cap_buf_puts(b, "&lt;"); break;
        case '>': cap_buf_puts(b, "&gt;"); break;
        case '"': cap_buf_puts(b, "&quot;"); break;
        default: cap_buf_putc(b, *s);
        }
    }
}

/* Sends the buffer as the next part. */
static int send_part(struct blob_s3_writer *w, struct cap_error *err)
{
    int rc;
    if (!w->upload_id && (rc = start_multipart(w, err)) < 0)
        return rc;
    char num[16];
    snprintf(num, sizeof num, "%d", w->nparts + 1);
    const char *params[] = {"partNumber", num, "uploadId", w->upload_id, NULL};
    struct s3_req r = {.method = "PUT", .key = w->key, .params = params, .body = w->buf,
                       .body_len = w->len, .out_fd = -1};
    rc = s3_do(w->s, &r, err);
    if (rc == 0) {
        w->nparts++;
        cap_buf_printf(&w->parts, "<Part><PartNumber>%d</PartNumber><ETag>", w->nparts);
        xml_escape(&w->parts, r.etag);
        cap_buf_puts(&w->parts, "</ETag></Part>");
        w->len = 0;
        if (w->nparts % PARTS_PER_SIZE == 0)
            w->part_size *= 2;
    }
    s3_req_clear(&r);
    return rc;
}

static int spool_write(struct blob_s3_writer *w, const void *data, size_t n,
                       struct cap_error *err)
{
    for (const char *p = data; n;) {
        ssize_t k = write(w->spool_fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return cap_err(err, CAP_EINTERNAL, "Cannot spool an object for S3 in %.300s: %s",
                           w->s->spool_dir, k < 0 ? strerror(errno) : "no progress");
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int blob_s3_write(struct blob_s3_writer *w, const void *data, size_t n, struct cap_error *err)
{
    if (w->spool_fd >= 0)
        return spool_write(w, data, n, err);
    const unsigned char *p = data;
    while (n) {
        if (w->len == w->part_size) {
            int rc = send_part(w, err);
            if (rc < 0)
                return rc;
        }
        size_t room = w->part_size - w->len, take = n < room ? n : room;
        if (w->len + take > w->cap) {
            size_t cap = w->cap ? w->cap : 65536;
            while (cap < w->len + take)
                cap *= 2;
            if (cap > w->part_size)
                cap = w->part_size;
            w->buf = cap_xrealloc(w->buf, cap);
            w->cap = cap;
        }
        memcpy(w->buf + w->len, p, take);
        w->len += take;
        p += take;
        n -= take;
    }
    return 0;
}

static void writer_free(struct blob_s3_writer *w)
{
    if (w->spool_fd >= 0)
        close(w->spool_fd);
    free(w->key);
    free(w->buf);
    free(w->upload_id);
    cap_buf_free(&w->parts);
    free(w);
}

static int put_whole(struct blob_s3_writer *w, struct cap_error *err)
{
    struct s3_req r = {.method = "PUT", .key = w->key, .body = w->buf, .body_len = w->len,
                       .out_fd = -1};
    int rc = s3_do(w->s, &r, err);
    s3_req_clear(&r);
    return rc;
}

static void on_complete(void *cls, const char *path, const char *text)
{
    struct s3_req *r = cls;
    (void)text;
    if (strncmp(path, "Error", 5) == 0 && r->status < 300)
        r->status = 500;   /* S3 may report a failed completion inside a 200 */
}

static int complete(struct blob_s3_writer *w, struct cap_error *err)
{
    int rc;
    if (w->len && (rc = send_part(w, err)) < 0)
        return rc;
    struct cap_buf body;
    cap_buf_init(&body);
    cap_buf_printf(&body, "<CompleteMultipartUpload>%s</CompleteMultipartUpload>",
                   w->parts.data ? w->parts.data : "");
    const char *params[] = {"uploadId", w->upload_id, NULL};
    struct s3_req r = {.method = "POST", .key = w->key, .params = params, .body = body.data,
                       .body_len = body.len, .content_type = "application/xml", .out_fd = -1};
    rc = s3_do(w->s, &r, err);
    if (rc == 0 && r.answer.len) {
        s3_xml_walk(r.answer.data, r.answer.len, on_complete, &r);
        if (r.status >= 300)
            rc = cap_err(err, CAP_EUNAVAIL, "The S3 server %.200s failed to complete %.300s: %.300s",
                         w->s->endpoint, w->key, r.answer.data);
    }
    s3_req_clear(&r);
    cap_buf_free(&body);
    return rc;
}

int blob_s3_write_commit(struct blob_s3_writer *w, struct cap_error *err)
{
    int rc = w->upload_id ? complete(w, err) : put_whole(w, err);
    if (rc < 0) {
        blob_s3_write_abort(w);
        return rc;
    }
    writer_free(w);
    return 0;
}

void blob_s3_write_abort(struct blob_s3_writer *w)
{
    if (!w)
        return;
    if (w->upload_id) {
        /* best effort: a bucket lifecycle rule should also expire
         * incomplete uploads, since a crash here leaves the parts */
        const char *params[] = {"uploadId", w->upload_id, NULL};
        struct s3_req r = {.method = "DELETE", .key = w->key, .params = params, .out_fd = -1};
        struct cap_error e = {0};
        if (s3_do(w->s, &r, &e) < 0)
            cap_log(CAP_LOG_WARN, "capstan: aborting the S3 upload of %s: %s", w->key, e.msg);
        s3_req_clear(&r);
    }
    writer_free(w);
}

/* ---- reading ------------------------------------------------------------------ */

static int spool_file(const struct blob_s3 *s, struct cap_error *err)
{
    int fd = open(s->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/.capstan-spool-XXXXXX", s->spool_dir);
    fd = mkostemp(p.data, O_CLOEXEC);
    if (fd >= 0)
        unlink(p.data);
    int e = errno;
    cap_buf_free(&p);
    if (fd < 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot make a spool file in %.300s: %s",
                       s->spool_dir, strerror(e));
    return fd;
}

/* The object at path (checked) written into fd. */
static int get_to_fd(struct blob_s3 *s, const char *path, int fd, struct cap_error *err)
{
    char *key = s3_key(s, path);
    struct s3_req r = {.method = "GET", .key = key, .out_fd = fd};
    int rc = s3_do(s, &r, err);
    s3_req_clear(&r);
    free(key);
    return rc;
}

int blob_s3_open_read(struct blob_s3 *s, const char *relpath, int *out_fd, uint64_t *out_size,
                      struct cap_error *err)
{
    *out_fd = -1;
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    int fd = spool_file(s, err);
    if (fd < 0) {
        free(path);
        return fd;
    }
    rc = get_to_fd(s, path, fd, err);
    struct stat st;
    if (rc == -CAP_ENOTFOUND)
        rc = blob_fs_not_found(err, path);
    else if (rc == 0 && (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0))
        rc = cap_err(err, CAP_EINTERNAL, "Cannot read back the spooled %.300s: %s", path,
                     strerror(errno));
    free(path);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *out_fd = fd;
    if (out_size)
        *out_size = (uint64_t)st.st_size;
    return 0;
}

/* ---- listing ------------------------------------------------------------------ */

struct listing {
    size_t skip;                /* the listed prefix's length */
    bool all;                   /* every key below, not only children */
    cJSON *files, *dirs;        /* name -> size, name -> true */
    char *key;                  /* the current <Contents>'s */
    int64_t size;
    char *token;                /* NextContinuationToken */
    bool truncated;
};

static void on_list(void *cls, const char *path, const char *text)
{
    struct listing *l = cls;
    if (strcmp(path, "ListBucketResult/Contents/Key") == 0) {
        free(l->key);
        l->key = cap_xstrdup(text);
    } else if (strcmp(path, "ListBucketResult/Contents/Size") == 0) {
        l->size = strtoll(text, NULL, 10);
    } else if (strcmp(path, "ListBucketResult/Contents") == 0) {
        /* keys come once across pages; "dir/" placeholders are skipped */
        if (l->key && strlen(l->key) > l->skip && l->key[strlen(l->key) - 1] != '/' &&
            (l->all || !strchr(l->key + l->skip, '/')))
            cap_json_add_i64(l->files, l->key + l->skip, l->size);
        free(l->key);
        l->key = NULL;
        l->size = 0;
    } else if (strcmp(path, "ListBucketResult/CommonPrefixes/Prefix") == 0) {
        size_t n = strlen(text);
        if (n > l->skip + 1 && text[n - 1] == '/') {
            char *name = cap_xstrndup(text + l->skip, n - l->skip - 1);
            cJSON_AddTrueToObject(l->dirs, name);
            free(name);
        }
    } else if (strcmp(path, "ListBucketResult/IsTruncated") == 0) {
        l->truncated = strcmp(text, "true") == 0;
    } else if (strcmp(path, "ListBucketResult/NextContinuationToken") == 0) {
        free(l->token);
        l->token = cap_xstrdup(text);
    }
}

/* Every page of ListObjectsV2 under prefix, with '/' as the delimiter
 * unless recursive, into l. */
static int list_pages(struct blob_s3 *s, const char *prefix, bool recursive, struct listing *l,
                      struct cap_error *err)
{
    l->skip = strlen(prefix);
    l->all = recursive;
    for (;;) {
        const char *params[10] = {"list-type", "2", "prefix", prefix};
        int n = 4;
        if (!recursive) {
            params[n++] = "delimiter";
            params[n++] = "/";
        }
        if (l->token) {
            params[n++] = "continuation-token";
            params[n++] = l->token;
        }
        params[n] = NULL;
        struct s3_req r = {.method = "GET", .params = params, .out_fd = -1};
        int rc = s3_do(s, &r, err);
        char *token = l->token;
        l->token = NULL;
        l->truncated = false;
        if (rc == 0 && s3_xml_walk(r.answer.data ? r.answer.data : "", r.answer.len, on_list,
                                   l) < 0)
            rc = cap_err(err, CAP_EUNAVAIL, "The S3 server %.200s sent a listing that is not XML",
                         s->endpoint);
        s3_req_clear(&r);
        if (rc == 0 && l->truncated && (!l->token || (token && strcmp(token, l->token) == 0)))
            rc = cap_err(err, CAP_EUNAVAIL,
                         "The S3 server %.200s sent a truncated listing without a new "
                         "continuation token",
                         s->endpoint);
        free(token);
        if (rc < 0 || !l->truncated)
            return rc;
    }
}

static void listing_free(struct listing *l)
{
    cJSON_Delete(l->files);
    cJSON_Delete(l->dirs);
    free(l->key);
    free(l->token);
}

/* name's place in the merged, sorted answer */
static int name_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static cJSON *listing_json(struct listing *l)
{
    size_t n = (size_t)cJSON_GetArraySize(l->files) + (size_t)cJSON_GetArraySize(l->dirs), i = 0;
    const cJSON **all = n ? cap_xcalloc(n, sizeof *all) : NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, l->files) all[i++] = it;
    cJSON_ArrayForEach(it, l->dirs) all[i++] = it;
    if (n > 1)
        qsort(all, n, sizeof *all, name_cmp);
    cJSON *arr = cJSON_CreateArray();
    for (i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", all[i]->string);
        bool dir = cJSON_IsTrue(all[i]);
        cJSON_AddBoolToObject(o, "is_dir", dir);
        if (!dir)
            cap_json_add_i64(o, "file_size", (int64_t)all[i]->valuedouble);
        cJSON_AddItemToArray(arr, o);
    }
    free(all);
    return arr;
}

static char *dir_prefix(const struct blob_s3 *s, const char *path)
{
    struct cap_buf b;
    cap_buf_init(&b);
    if (*s->prefix)
        cap_buf_printf(&b, "%s/", s->prefix);
    if (*path)
        cap_buf_printf(&b, "%s/", path);
    return cap_buf_steal(&b);
}

int blob_s3_list(struct blob_s3 *s, const char *relpath, cJSON **out, struct cap_error *err)
{
    *out = NULL;
    char *path;
    int rc = blob_fs_normalise(relpath, 1, &path, err);
    if (rc < 0)
        return rc;
    char *prefix = dir_prefix(s, path);
    struct listing l = {.files = cJSON_CreateObject(), .dirs = cJSON_CreateObject()};
    rc = list_pages(s, prefix, false, &l, err);
    if (rc == 0)
        *out = listing_json(&l);
    listing_free(&l);
    free(prefix);
    free(path);
    return rc;
}

/* ---- deleting ------------------------------------------------------------------ */

static int delete_key(struct blob_s3 *s, const char *key, struct cap_error *err)
{
    struct s3_req r = {.method = "DELETE", .key = key, .out_fd = -1};
    int rc = s3_do(s, &r, err);
    s3_req_clear(&r);
    return rc;
}

/* HEAD: 1 when key is an object (*size, may be NULL, gets its size), 0 when
 * nothing is there, negative on errors. */
static int head_key(struct blob_s3 *s, const char *key, uint64_t *size, struct cap_error *err)
{
    struct s3_req r = {.method = "HEAD", .key = key, .out_fd = -1};
    int rc = s3_do(s, &r, err);
    if (rc == -CAP_ENOTFOUND) {
        cap_err_clear(err);
        rc = 0;
    } else if (rc == 0) {
        rc = 1;
        if (size)
            *size = r.content_length > 0 ? (uint64_t)r.content_length : 0;
    }
    s3_req_clear(&r);
    return rc;
}

/* The object at path and every object under path/: one DELETE each
 * (DeleteObjects would batch 1000 but needs Content-MD5 and is not on every
 * S3-compatible server; artifact trees are small). */
int blob_s3_delete(struct blob_s3 *s, const char *relpath, struct cap_error *err)
{
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    char *key = s3_key(s, path), *prefix = dir_prefix(s, path);
    struct listing l = {.files = cJSON_CreateObject(), .dirs = cJSON_CreateObject()};
    int found = head_key(s, key, NULL, err);
    rc = found < 0 ? found : 0;
    if (rc == 0 && found)
        rc = delete_key(s, key, err);
    if (rc == 0)
        rc = list_pages(s, prefix, true, &l, err);
    const cJSON *it;
    cJSON_ArrayForEach(it, l.files) {
        if (rc < 0)
            break;
        struct cap_buf k;
        cap_buf_init(&k);
        cap_buf_printf(&k, "%s%s", prefix, it->string);
        rc = delete_key(s, k.data, err);
        cap_buf_free(&k);
        found++;
    }
    if (rc == 0 && !found)
        rc = blob_fs_not_found(err, path);
    free(key);
    free(prefix);
    free(path);
    listing_free(&l);
    return rc;
}

/* ---- objects named by content (blob.h's second half) ---------------------------- */

int blob_s3_write_open_anon(struct blob_s3 *s, struct blob_s3_writer **out, struct cap_error *err)
{
    *out = NULL;
    int fd = spool_file(s, err);
    if (fd < 0)
        return fd;
    struct blob_s3_writer *w = cap_xcalloc(1, sizeof *w);
    w->s = s;
    w->part_size = s->part_size;
    w->spool_fd = fd;
    cap_buf_init(&w->parts);
    *out = w;
    return 0;
}

/* The spooled bytes through the ordinary upload path, now that the key is
 * known: a PUT, or a multipart upload for more than a part. */
static int upload_spool(struct blob_s3_writer *w, struct cap_error *err)
{
    int fd = w->spool_fd;
    w->spool_fd = -1;
    int rc = lseek(fd, 0, SEEK_SET) < 0 ? -CAP_EINTERNAL : 0;
    char *chunk = cap_xmalloc(1 << 20);
    while (rc == 0) {
        ssize_t k = read(fd, chunk, 1 << 20);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            rc = cap_err(err, CAP_EINTERNAL, "Cannot read back the spooled %.300s: %s", w->key,
                         strerror(errno));
        if (k <= 0)
            break;
        rc = blob_s3_write(w, chunk, (size_t)k, err);
    }
    free(chunk);
    close(fd);
    return rc;
}

int blob_s3_write_commit_as(struct blob_s3_writer *w, const char *relpath,
                            struct cap_error *err)
{
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc == 0) {
        w->key = s3_key(w->s, path);
        free(path);
        int there = head_key(w->s, w->key, NULL, err);
        if (there != 0) {   /* never replaced: the same name is the same bytes */
            blob_s3_write_abort(w);
            return there;
        }
        rc = upload_spool(w, err);
    }
    if (rc < 0) {
        blob_s3_write_abort(w);
        return rc;
    }
    return blob_s3_write_commit(w, err);
}

int blob_s3_exists(struct blob_s3 *s, const char *relpath, uint64_t *size, struct cap_error *err)
{
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    char *key = s3_key(s, path);
    rc = head_key(s, key, size, err);
    free(key);
    free(path);
    return rc;
}

int blob_s3_copy_out(struct blob_s3 *s, const char *relpath, int dst_dirfd, const char *name,
                     char *how, struct cap_error *err)
{
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    int out = openat(dst_dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = cap_err(err, CAP_EINTERNAL, "Cannot create '%.200s' for %.200s: %s", name, path,
                     strerror(errno));
        free(path);
        return rc;
    }
    rc = get_to_fd(s, path, out, err);
    if (rc == -CAP_ENOTFOUND)
        rc = cap_err(err, CAP_ENOTFOUND, "No object at '%.200s'", path);
    if (close(out) < 0 && rc == 0)
        rc = cap_err(err, CAP_EINTERNAL, "Cannot write '%.200s': %s", name, strerror(errno));
    if (rc < 0)
        unlinkat(dst_dirfd, name, 0);
    *how = 'c';
    free(path);
    return rc;
}

int blob_s3_walk(struct blob_s3 *s, const char *dir, blob_walk_fn fn, void *cls,
                 struct cap_error *err)
{
    char *path;
    int rc = blob_fs_normalise(dir, 1, &path, err);
    if (rc < 0)
        return rc;
    char *prefix = dir_prefix(s, path);
    struct listing l = {.files = cJSON_CreateObject(), .dirs = cJSON_CreateObject()};
    rc = list_pages(s, prefix, true, &l, err);
    const cJSON *it;
    cJSON_ArrayForEach(it, l.files) {
        if (rc < 0)
            break;
        struct cap_buf rel;
        cap_buf_init(&rel);
        cap_buf_printf(&rel, "%s%s%s", path, *path ? "/" : "", it->string);
        int stop = fn(cls, rel.data, (uint64_t)it->valuedouble);
        cap_buf_free(&rel);
        if (stop)
            break;
    }
    listing_free(&l);
    free(prefix);
    free(path);
    return rc;
}

/* A lock file in the spool directory: it orders the processes of one
 * machine (a server and the CLI on one --data); it cannot reach another
 * machine sharing the bucket, which is why data gc refuses S3 stores. */
int blob_s3_lock(struct blob_s3 *s, bool exclusive, int *fd, struct cap_error *err)
{
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/.capstan-lock", s->spool_dir);
    *fd = open(p.data, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    int rc = 0;
    if (*fd < 0)
        rc = cap_err(err, CAP_EINTERNAL, "Cannot open the lock %.300s: %s", p.data,
                     strerror(errno));
    while (rc == 0 && flock(*fd, exclusive ? LOCK_EX : LOCK_SH) < 0) {
        if (errno == EINTR)
            continue;
        rc = cap_err(err, CAP_EINTERNAL, "Cannot lock %.300s: %s", p.data, strerror(errno));
        close(*fd);
        *fd = -1;
    }
    cap_buf_free(&p);
    return rc;
}
