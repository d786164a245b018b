/* stream.c - see stream.h. The wake-up protocol is the one finish() uses
 * for API_PENDING: the reader marks itself RUNNING, and on an empty read
 * suspends the connection, then moves to SUSPENDED unless a wake-up came
 * meanwhile (then it resumes at once); a wake-up that finds SUSPENDED
 * resumes. blob_stream calls the wake-up under its own lock and not after
 * blob_stream_close returns, so the response outlives every wake-up. */
#include "server/stream.h"

#include <stdlib.h>

#include "base/buf.h"

enum { SR_RUNNING, SR_SUSPENDED, SR_WOKEN };

struct stream_resp {
    struct server_streams *ss;
    struct MHD_Connection *conn;
    struct blob_stream *st;
    atomic_int state;
    struct stream_resp *prev, *next;
};

void server_streams_init(struct server_streams *ss)
{
    pthread_mutex_init(&ss->mu, NULL);
    ss->head = NULL;
    atomic_init(&ss->stopping, false);
}

void server_streams_destroy(struct server_streams *ss)
{
    pthread_mutex_destroy(&ss->mu);
}

static void wake(void *cls)
{
    struct stream_resp *sr = cls;
    if (atomic_exchange(&sr->state, SR_WOKEN) == SR_SUSPENDED)
        MHD_resume_connection(sr->conn);
}

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream_resp *sr = cls;
    if (atomic_load(&sr->ss->stopping))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    atomic_store(&sr->state, SR_RUNNING);
    long n = blob_stream_read(sr->st, buf, max, wake, sr);
    if (n > 0)
        return n;
    if (n == BLOB_STREAM_END)
        /* MHD stops asking at the promised size: an end before it is a
         * body cut short */
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (n == BLOB_STREAM_ERROR)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    MHD_suspend_connection(sr->conn);
    int running = SR_RUNNING;
    if (!atomic_compare_exchange_strong(&sr->state, &running, SR_SUSPENDED))
        MHD_resume_connection(sr->conn);   /* woken while suspending */
    return 0;
}

static void free_body(void *cls)
{
    struct stream_resp *sr = cls;
    blob_stream_close(sr->st);   /* no wake-up runs after this */
    struct server_streams *ss = sr->ss;
    pthread_mutex_lock(&ss->mu);
    if (sr->prev)
        sr->prev->next = sr->next;
    else
        ss->head = sr->next;
    if (sr->next)
        sr->next->prev = sr->prev;
    pthread_mutex_unlock(&ss->mu);
    free(sr);
}

struct MHD_Response *server_stream_response(struct server_streams *ss,
                                            struct MHD_Connection *conn, struct blob_stream *st,
                                            uint64_t size)
{
    struct stream_resp *sr = cap_xcalloc(1, sizeof *sr);
    sr->ss = ss;
    sr->conn = conn;
    sr->st = st;
    atomic_init(&sr->state, SR_RUNNING);
    pthread_mutex_lock(&ss->mu);
    sr->next = ss->head;
    if (ss->head)
        ss->head->prev = sr;
    ss->head = sr;
    pthread_mutex_unlock(&ss->mu);
    /* 256 KiB blocks: a quarter of the stream's ring per read */
    struct MHD_Response *r =
        MHD_create_response_from_callback(size, 256 * 1024, read_body, sr, free_body);
    if (!r)
        free_body(sr);
    return r;
}

void server_streams_stop(struct server_streams *ss)
{
    atomic_store(&ss->stopping, true);
    pthread_mutex_lock(&ss->mu);
    for (struct stream_resp *sr = ss->head; sr; sr = sr->next)
        wake(sr);
    pthread_mutex_unlock(&ss->mu);
}
