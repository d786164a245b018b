/* blob_s3.h - internals of the artifact store on S3 (or an S3-compatible
 * server): s3_client.c speaks the protocol (SigV4 through libcurl, XML
 * answers through expat), blob_s3.c maps blob.h's calls onto objects. Not
 * part of blob/'s public surface. */
#ifndef CAP_BLOB_S3_H
#define CAP_BLOB_S3_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "blob/blob.h"

struct blob_s3 {
    char *uri;          /* "s3://bucket/prefix", blob_root's answer */
    char *endpoint;     /* "http://127.0.0.1:8333", no trailing '/' */
    char *host;         /* the Host header: endpoint's authority */
    char *region;
    char *access_key, *secret_key, *session_token;
    char *bucket;
    char *prefix;       /* "" or "a/b" (no '/' at either end) */
    char *spool_dir;    /* reads land in unnamed files here */
    size_t part_size;   /* multipart upload's first part size */
    CURLSH *share;      /* connections and DNS answers, across threads */
    /* download threads (blob_s3_stream.c): those running, and those done
     * but not yet joined. Joined, not detached: a thread's thread-local
     * state (OpenSSL's among it) is freed only once it has really exited,
     * which a join waits for and a counter cannot. */
    pthread_mutex_t streams_mu;
    pthread_cond_t streams_cv;
    int streams;
    pthread_t *ended;
    size_t nended, cap_ended;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
};

/* One request. The caller fills the first block; s3_do fills the second. */
struct s3_req {
    const char *method;             /* GET, HEAD, PUT, POST, DELETE */
    const char *key;                /* object key; NULL: the bucket itself */
    const char *const *params;      /* name, value pairs, NULL-terminated */
    const void *body;               /* PUT and POST bodies */
    size_t body_len;
    const char *content_type;       /* NULL: none sent */
    int out_fd;                     /* >= 0: a 2xx answer's body goes there */
    /* else, when set, a 2xx answer's body goes to sink as it arrives (a
     * return short of n aborts the transfer); once a byte went there the
     * request is not retried */
    size_t (*sink)(void *cls, const char *p, size_t n);
    void *sink_cls;
    /* when set, asked about once a second: true abandons the transfer
     * (a reader gone while S3 sends nothing) */
    bool (*cancelled)(void *cls);
    long status;
    int64_t content_length;         /* of a 2xx answer, -1 when not sent; set
                                     * before the first sink call */
    uint64_t delivered;             /* bytes sent to out_fd or sink */
    struct cap_buf answer;          /* the body when not sent to out_fd */
    char etag[136];
    char code[64];                  /* S3's error Code, when it sent one */
    char message[256];              /* and its Message */
    long server_skew_s;             /* server's Date minus ours, when sent */
};

/* Sends r (retrying transport failures and S3's 500/503 a few times:
 * every request Capstan sends is idempotent). 0 when S3 answered 2xx;
 * otherwise a negative code with err set, r->status/code/message telling
 * what S3 said (status 0: no answer). Frees nothing: call s3_req_clear. */
int s3_do(struct blob_s3 *s, struct s3_req *r, struct cap_error *err);
void s3_req_clear(struct s3_req *r);

/* Calls fn for each element of xml as it closes: path is the '/'-joined
 * names from the root ("ListBucketResult/Contents/Key"), text its
 * character data (empty for elements with children). Returns 0 or -1 for
 * XML that does not parse. */
typedef void (*s3_xml_fn)(void *cls, const char *path, const char *text);
int s3_xml_walk(const char *xml, size_t len, s3_xml_fn fn, void *cls);

/* The object key for relpath (already checked): prefix + '/' + relpath. */
char *s3_key(const struct blob_s3 *s, const char *relpath);

/* For tests of the signature: the SigV4 Authorization value of a request,
 * as s3_do computes it, at the time amz_date ("20130524T000000Z"). */
char *s3_authorization(const struct blob_s3 *s, const char *method, const char *canonical_uri,
                       const char *canonical_query, const char *payload_sha256,
                       const char *amz_date);

int blob_s3_open(const char *uri, const struct blob_options *opt, struct blob_s3 **out,
                 struct cap_error *err);
void blob_s3_close(struct blob_s3 *s);

struct blob_s3_writer;
int blob_s3_write_open(struct blob_s3 *s, const char *relpath, struct blob_s3_writer **out,
                       struct cap_error *err);
int blob_s3_write(struct blob_s3_writer *w, const void *data, size_t n, struct cap_error *err);
int blob_s3_write_commit(struct blob_s3_writer *w, struct cap_error *err);
void blob_s3_write_abort(struct blob_s3_writer *w);
int blob_s3_open_read(struct blob_s3 *s, const char *relpath, int *out_fd, uint64_t *out_size,
                      struct cap_error *err);
/* Joins the download threads that have ended. */
void blob_s3_streams_reap(struct blob_s3 *s);
/* Waits for every download thread to end (their streams closed, they end
 * at S3's next chunk or within a second) and joins them. */
void blob_s3_streams_wait(struct blob_s3 *s);
int blob_s3_open_stream(struct blob_s3 *s, const char *relpath, struct blob_stream **out,
                        uint64_t *size, struct cap_error *err);
int blob_s3_write_open_anon(struct blob_s3 *s, struct blob_s3_writer **out,
                            struct cap_error *err);
int blob_s3_write_commit_as(struct blob_s3_writer *w, const char *relpath,
                            struct cap_error *err);
int blob_s3_exists(struct blob_s3 *s, const char *relpath, uint64_t *size, struct cap_error *err);
int blob_s3_copy_out(struct blob_s3 *s, const char *relpath, int dst_dirfd, const char *name,
                     char *how, struct cap_error *err);
int blob_s3_walk(struct blob_s3 *s, const char *dir, blob_walk_fn fn, void *cls,
                 struct cap_error *err);
int blob_s3_lock(struct blob_s3 *s, bool exclusive, int *fd, struct cap_error *err);
int blob_s3_list(struct blob_s3 *s, const char *relpath, cJSON **out, struct cap_error *err);
int blob_s3_delete(struct blob_s3 *s, const char *relpath, struct cap_error *err);

#endif
