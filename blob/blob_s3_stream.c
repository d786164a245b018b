/* blob_s3_stream.c - an S3 object read as it arrives: a thread runs the
 * GET and fills a 1 MiB ring; the reader (the HTTP server's event loop,
 * which must never block) takes what is there and is woken when more
 * comes. The ring is the only buffer: when the client reads slowly the
 * thread waits, curl stops reading and TCP slows S3 down, so a download
 * of any size holds 1 MiB. Costs: a thread per download, and bytes copied
 * once more than sendfile from a local file would.
 *
 * Ownership: the stream is shared by its reader and its thread and freed by
 * whichever lets go last. The thread also counts in blob_s3's streams, so
 * that closing the store waits for it and joins it (a closed stream ends
 * its transfer at the next chunk S3 sends, or within a second); threads
 * that ended are joined when the next download starts. */
#include "blob/blob.h"
#include "blob/blob_fs.h"
#include "blob/blob_s3.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"

#define RING (1u << 20)

enum stream_state { ST_HEADERS, ST_BODY, ST_DONE, ST_FAILED };

struct blob_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct blob_s3 *s;
    char *key, *relpath;
    char *ring;
    size_t head, len;               /* ring[head..head+len) (mod RING) is unread */
    enum stream_state state;
    bool closed;                    /* the reader let go */
    int refs;
    uint64_t size;                  /* set when the first chunk comes */
    const struct s3_req *req;       /* the thread's, while it runs */
    struct cap_error err;
    void (*wake)(void *);           /* the reader's, while it waits */
    void *wake_cls;
};

static void release(struct blob_stream *st)
{
    pthread_mutex_lock(&st->mu);
    int left = --st->refs;
    pthread_mutex_unlock(&st->mu);
    if (left)
        return;
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st->key);
    free(st->relpath);
    free(st->ring);
    free(st);
}

/* Under mu: wakes the waiting reader, once. Called with the lock held, so
 * that once blob_stream_close has returned no wake-up is running or will
 * run: the reader's context may be freed then (server/stream.c). */
static void wake_reader(struct blob_stream *st)
{
    void (*fn)(void *) = st->wake;
    st->wake = NULL;
    if (fn)
        fn(st->wake_cls);
}

static size_t on_chunk(void *cls, const char *p, size_t n)
{
    struct blob_stream *st = cls;
    size_t done = 0;
    pthread_mutex_lock(&st->mu);
    if (st->state == ST_HEADERS) {
        if (st->req->content_length < 0) {
            pthread_mutex_unlock(&st->mu);
            return 0;   /* no length to promise the client: stream_main says so */
        }
        st->size = (uint64_t)st->req->content_length;
        st->state = ST_BODY;
        pthread_cond_broadcast(&st->cv);   /* the opener waits for the size */
    }
    while (done < n && !st->closed) {
        while (st->len == RING && !st->closed)
            pthread_cond_wait(&st->cv, &st->mu);
        if (st->closed)
            break;
        size_t tail = (st->head + st->len) % RING;
        size_t room = RING - st->len, run = RING - tail;
        size_t k = n - done < room ? n - done : room;
        if (k > run)
            k = run;
        memcpy(st->ring + tail, p + done, k);
        st->len += k;
        done += k;
        wake_reader(st);
    }
    pthread_mutex_unlock(&st->mu);
    return done;
}

static bool is_closed(void *cls)
{
    struct blob_stream *st = cls;
    pthread_mutex_lock(&st->mu);
    bool closed = st->closed;
    pthread_mutex_unlock(&st->mu);
    return closed;
}

static void *stream_main(void *arg)
{
    struct blob_stream *st = arg;
    struct blob_s3 *s = st->s;
    cap_thread_name("s3-get");
    struct s3_req r = {.method = "GET", .key = st->key, .out_fd = -1, .sink = on_chunk,
                       .sink_cls = st, .cancelled = is_closed};
    st->req = &r;
    struct cap_error err = {0};
    int rc = s3_do(s, &r, &err);
    pthread_mutex_lock(&st->mu);
    st->req = NULL;
    if (st->state == ST_HEADERS && (rc == 0 || r.status / 100 == 2) && r.content_length < 0)
        rc = cap_err(&err, CAP_EUNAVAIL, "The S3 server %.200s sent %.300s without its length",
                     s->endpoint, st->key);
    /* an empty object sends no chunk: its size stays 0 */
    if (rc == -CAP_ENOTFOUND)
        blob_fs_not_found(&err, st->relpath);
    if (rc < 0) {
        st->err = err;
        if (!st->closed && st->state != ST_HEADERS)
            cap_log(CAP_LOG_WARN, "capstan: the download of %s from S3 broke off after %llu "
                    "bytes: %s", st->key, (unsigned long long)r.delivered, err.msg);
    }
    st->state = rc == 0 ? ST_DONE : ST_FAILED;
    pthread_cond_broadcast(&st->cv);
    wake_reader(st);
    pthread_mutex_unlock(&st->mu);
    s3_req_clear(&r);
    release(st);
    pthread_mutex_lock(&s->streams_mu);
    if (s->nended == s->cap_ended) {
        s->cap_ended = s->cap_ended ? 2 * s->cap_ended : 8;
        s->ended = cap_xrealloc(s->ended, s->cap_ended * sizeof *s->ended);
    }
    s->ended[s->nended++] = pthread_self();
    if (--s->streams == 0)
        pthread_cond_broadcast(&s->streams_cv);
    pthread_mutex_unlock(&s->streams_mu);
    return NULL;
}

void blob_s3_streams_reap(struct blob_s3 *s)
{
    pthread_mutex_lock(&s->streams_mu);
    pthread_t *ended = s->ended;
    size_t n = s->nended;
    s->ended = NULL;
    s->nended = s->cap_ended = 0;
    pthread_mutex_unlock(&s->streams_mu);
    for (size_t i = 0; i < n; i++)
        pthread_join(ended[i], NULL);   /* each is past its last line */
    free(ended);
}

void blob_s3_streams_wait(struct blob_s3 *s)
{
    pthread_mutex_lock(&s->streams_mu);
    while (s->streams)
        pthread_cond_wait(&s->streams_cv, &s->streams_mu);
    pthread_mutex_unlock(&s->streams_mu);
    blob_s3_streams_reap(s);
}

int blob_s3_open_stream(struct blob_s3 *s, const char *relpath, struct blob_stream **out,
                        uint64_t *size, struct cap_error *err)
{
    *out = NULL;
    char *path;
    int rc = blob_fs_normalise(relpath, 0, &path, err);
    if (rc < 0)
        return rc;
    struct blob_stream *st = cap_xcalloc(1, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->s = s;
    st->key = s3_key(s, path);
    st->relpath = path;
    st->ring = cap_xmalloc(RING);
    st->refs = 2;
    blob_s3_streams_reap(s);
    pthread_mutex_lock(&s->streams_mu);
    s->streams++;
    pthread_mutex_unlock(&s->streams_mu);
    pthread_t t;
    if (pthread_create(&t, NULL, stream_main, st) != 0) {
        pthread_mutex_lock(&s->streams_mu);
        s->streams--;
        pthread_mutex_unlock(&s->streams_mu);
        st->refs = 1;
        release(st);
        return cap_err(err, CAP_EUNAVAIL, "Cannot start a download thread");
    }
    pthread_mutex_lock(&st->mu);
    while (st->state == ST_HEADERS)
        pthread_cond_wait(&st->cv, &st->mu);
    /* failed before a byte came; a failure after some is the reader's to see */
    bool failed = st->state == ST_FAILED && st->size == 0 && st->len == 0;
    struct cap_error e = st->err;
    *size = st->size;
    pthread_mutex_unlock(&st->mu);
    if (failed) {
        blob_stream_close(st);
        *err = e;
        return -e.code;
    }
    *out = st;
    return 0;
}

long blob_stream_read(struct blob_stream *st, void *buf, size_t max, void (*wake)(void *),
                      void *wake_cls)
{
    pthread_mutex_lock(&st->mu);
    long n;
    if (st->len) {
        size_t k = st->len < max ? st->len : max, run = RING - st->head;
        if (k > run)
            k = run;
        memcpy(buf, st->ring + st->head, k);
        st->head = (st->head + k) % RING;
        st->len -= k;
        pthread_cond_broadcast(&st->cv);   /* room for the thread */
        n = (long)k;
    } else if (st->state == ST_DONE) {
        n = BLOB_STREAM_END;
    } else if (st->state == ST_FAILED) {
        n = BLOB_STREAM_ERROR;
    } else {
        st->wake = wake;
        st->wake_cls = wake_cls;
        n = 0;
    }
    pthread_mutex_unlock(&st->mu);
    return n;
}

void blob_stream_close(struct blob_stream *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->closed = true;
    st->wake = NULL;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    release(st);
}

int blob_open_stream(struct blob *b, const char *relpath, struct blob_stream **out,
                     uint64_t *size, struct cap_error *err)
{
    *out = NULL;
    if (!b->s3)
        return cap_err(err, CAP_ENOTIMPL,
                       "A local artifact store is read with blob_open_read, not streamed");
    return blob_s3_open_stream(b->s3, relpath, out, size, err);
}
