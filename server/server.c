/* server.c - libmicrohttpd glue. One request context per request, created
 * from the raw URI (MHD's URI log callback) so that the query string and the
 * artifact path are decoded by us, exactly once. Responses are queued on the
 * handler's last call, never the first, so keep-alive connections stay open.
 *
 * Two kinds of threads. HTTP threads (about one per CPU, each an MHD
 * daemon; an accept thread hands each new connection to the one with the
 * fewest) read requests and answer the serving routes themselves, from
 * memory. Every other request may wait (on the store's writer, the disk),
 * and a waiting HTTP thread would stall every connection it owns; so its
 * connection is suspended and the request handed to a worker thread, which
 * resumes the connection with the answer. So does a serving request that
 * its handler finds heavy (API_OFFLOAD: a slow model, a huge body). A
 * request that waits in a batch (API_PENDING) is suspended the same way,
 * and the batcher's callback resumes it. Few HTTP threads keep context
 * switches down: with 16 of them on two CPUs, the bare HTTP route
 * ran ~25% slower and inference's p99 under load was 5-10x higher. */
#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"
#include "server/guard.h"
#include "server/stream.h"
#include "server/tls.h"
#include "server/web.h"

/* Each connection's MHD memory pool. The request's head must fit in it
 * with room to spare: MHD 0.9.75 grows its read buffer into the pool's last
 * free byte and reserves nothing for the reply, so a head that fills the
 * pool but for the few hundred bytes of the reply's header gets no answer
 * at all (START_REPLY closes when build_header_response finds no room), and
 * one larger than the pool gets MHD's own HTML page. Our limits below keep
 * every head we take or refuse in JSON inside it. MHD zeroes the whole pool
 * between requests, which is all that a bigger pool costs (callgrind: the
 * rest of a request's instructions did not change): 32 KiB rather than 16
 * cost ~0.4 us of the ~13 us of CPU a /health request takes; 24 KiB's cost
 * was within wrk's noise. */
#define CONNECTION_POOL_BYTES (24 * 1024)
/* The limits on a request's head, answered in JSON: a request target over
 * MAX_TARGET_BYTES gets 414; more header fields, or a target and header
 * fields over MAX_HEAD_BYTES, get 431. The target's limit fits MLflow's
 * clients (GetMetricHistoryBulkInterval with 1000 run_ids sends ~15 KB and
 * expects its own 400). The largest head under these limits, with MHD's
 * record (64 bytes) for each field, leaves ~1 KiB of the pool for the
 * reply's header (~200 bytes). */
#define MAX_TARGET_BYTES (16 * 1024)
#define MAX_HEADER_FIELDS 100
#define MAX_HEAD_BYTES (16 * 1024 + 512)

struct req_ctx;
struct server;

/* A job goes to the worker that went idle last, so that a light load keeps
 * using the same few threads (and their malloc arenas, caches and stacks)
 * instead of waking all of them in turn: with a shared condition variable
 * all 16 took turns, and each kept ~1.4 MiB of its own arena. */
struct worker {
    struct server *srv;
    pthread_t thread;
    pthread_cond_t cv;
    bool idle;                   /* on the idle stack, under jobs_mu */
    struct worker *next_idle;
};

/* One HTTP thread: an MHD daemon with its own polling thread and no
 * listen socket. The server's acceptor hands each new connection to the
 * thread with the fewest open ones. MHD's own thread pool lets its threads
 * race for new connections, and the first to wake takes most of a burst
 * (with 32 benchmark connections one thread did 64% of the work; with 2,
 * both often landed on one thread, leaving a CPU idle: what a load
 * balancer's few keep-alive connections would see). */
struct http_thread {
    struct MHD_Daemon *daemon;
    struct server *srv;          /* each connection's socket context */
    /* open connections: handed counts the acceptor's (only it writes it),
     * closed MHD's close notifications; a connection MHD refuses after
     * taking it (out of memory) stays counted, which only skews the choice */
    unsigned handed;
    atomic_uint closed;
};

struct server {
    struct http_thread *http;
    unsigned nhttp;
    int listen_fd;
    pthread_t acceptor;
    bool acceptor_started;
    struct server_config cfg;
    struct server_guard guard;   /* Host, Origin and CORS rules (guard.h) */
    char *tls_cert, *tls_key;    /* PEM text when serving TLS (tls.h), else NULL */
    const struct api_env *env;
    uint16_t port;
    atomic_int inflight;
    /* worker threads and the requests waiting for one */
    struct worker *workers;
    unsigned nworkers;
    pthread_mutex_t jobs_mu;
    struct worker *idle;         /* the idle workers, the latest idle on top */
    struct req_ctx *jobs_head, *jobs_tail;
    bool stopping;
    atomic_int pending;          /* requests answered by API_PENDING's callback, not yet */
    struct server_streams streams;   /* responses read from a blob_stream (stream.h) */
};

struct req_ctx {
    struct server *srv;
    char *path;                  /* raw path, not decoded */
    char *query;                 /* raw query string or NULL */
    const char *target_end;      /* the end of the target in MHD's request line */
    size_t target_len;
    bool started;                /* on_request has seen it (it counts in flight) */
    const struct api_route *route;
    struct api_request req;
    struct auth_user user;       /* --auth: the signed-in caller (req.user points here) */
    struct cap_error err;        /* set when the request has already failed */
    struct cap_buf body;
    uint64_t body_seen;
    void *upload_state;
    bool upload_open;
    bool oip_errors;             /* answer errors the Open Inference Protocol's way */
    /* a request handed to a worker or answered later (see the top of this file) */
    struct MHD_Connection *conn;
    struct req_ctx *next_job;
    atomic_int wait_state;       /* WAIT_*: who resumes the connection */
    bool answered;               /* rc and resp hold the answer */
    int rc;
    struct api_response resp;
    char strings[];              /* path and query live here: one allocation */
};

static const char *header_value(void *cls, const char *name)
{
    return MHD_lookup_connection_value(cls, MHD_HEADER_KIND, name);
}

/* Refuses a request target over the limit, or whose path holds an encoded
 * NUL (it would cut the path short wherever it is decoded). The query's
 * NULs and bad escapes are merge_query's to refuse. */
static void check_target(struct req_ctx *ctx, size_t n)
{
    if (n > MAX_TARGET_BYTES) {
        cap_err(&ctx->err, CAP_EURILONG,
                "The request target is %zu bytes long, over the limit of %d bytes", n,
                MAX_TARGET_BYTES);
        return;
    }
    if (strstr(ctx->path, "%00"))
        cap_err(&ctx->err, CAP_EINVAL,
                "The request path contains %%00: a NUL byte is not allowed in a path");
}

/* MHD calls this with the raw target, before it parses anything in it. */
static void *uri_logger(void *cls, const char *uri, struct MHD_Connection *conn)
{
    if (!uri)
        uri = "/";
    size_t n = strlen(uri);
    struct req_ctx *ctx = cap_xcalloc(1, sizeof *ctx + n + 1);
    ctx->srv = cls;
    ctx->target_end = uri + n;
    ctx->target_len = n;
    ctx->path = memcpy(ctx->strings, uri, n + 1); /* split at '?' below */
    char *q = strchr(ctx->path, '?');
    if (q) {
        *q = '\0';
        ctx->query = q + 1;
        /* Next, MHD 0.9.75 parses the query into its pool, and when the pool
         * runs out (~200 short parameters) it queues a 431 that it never
         * sends: parse_initial_message_line ignores MHD_parse_arguments_'s
         * failure and its caller overwrites the state, so the connection
         * hangs until the timeout. We decode the query ourselves
         * (merge_query), never through MHD; so we end MHD's copy of it at
         * the '?' and MHD has nothing to parse. The target lies in MHD's
         * writable read buffer (only the callback's type says const). */
        ((char *)uri)[q - ctx->path + 1] = '\0';
    }
    check_target(ctx, n);
    cap_buf_init(&ctx->body);
    return ctx;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct req_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    if (ctx->upload_open && ctx->route && ctx->route->upload)
        ctx->route->upload->abort(ctx->upload_state);
    if (ctx->answered) {
        /* an answer from a worker or a batch that was never sent: the
         * client went away meanwhile */
        api_response_free(&ctx->resp);
        if (ctx->resp.fd >= 0)
            close(ctx->resp.fd);
    }
    for (int i = 0; i < API_MAX_PATH_PARAMS; i++)
        free((char *)ctx->req.params[i]);
    if (ctx->req.msg)
        cJSON_Delete((cJSON *)ctx->req.msg);
    cap_buf_free(&ctx->body);
    if (ctx->started)
        atomic_fetch_sub(&ctx->srv->inflight, 1);
    free(ctx);
    *con_cls = NULL;
}

/* Query strings use '+' for space (form encoding), paths do not. */
static char *decode_query_part(const char *s, size_t n)
{
    char *tmp = cap_xstrndup(s, n);
    for (char *p = tmp; *p; p++)
        if (*p == '+')
            *p = ' ';
    char *out = api_percent_decode(tmp, n);
    free(tmp);
    return out;
}

/* Adds the query's k=v pairs that the message lacks; a repeated key becomes
 * an array. */
static int merge_query(cJSON *msg, const char *query, struct cap_error *err)
{
    if (!query)
        return 0;
    cJSON *seen = cJSON_CreateObject(); /* keys that came from the query */
    const char *p = query;
    int rc = 0;
    while (*p) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        char *k = decode_query_part(p, klen);
        char *v = eq ? decode_query_part(eq + 1, len - klen - 1) : cap_xstrdup("");
        if (!k || !v) {
            free(k);
            free(v);
            rc = cap_err(err, CAP_EBADREQ, "Malformed percent-encoding in the query string");
            break;
        }
        /* Bytes that are not UTF-8 become '?', as werkzeug (MLflow's server)
         * decodes them to U+FFFD: a name with them is simply not found. */
        cap_utf8_repair(k);
        cap_utf8_repair(v);
        if (*k) {
            cJSON *cur = cJSON_GetObjectItemCaseSensitive(msg, k);
            bool from_query = cJSON_GetObjectItemCaseSensitive(seen, k) != NULL;
            if (!cur) {
                cJSON_AddStringToObject(msg, k, v);
                cJSON_AddTrueToObject(seen, k);
            } else if (from_query) {
                if (!cJSON_IsArray(cur)) {
                    cJSON *arr = cJSON_CreateArray();
                    cJSON_AddItemToArray(arr, cJSON_Duplicate(cur, 1));
                    cJSON_ReplaceItemInObjectCaseSensitive(msg, k, arr);
                    cur = arr;
                }
                cJSON_AddItemToArray(cur, cJSON_CreateString(v));
            }
        }
        free(k);
        free(v);
        p += len;
        if (*p == '&')
            p++;
    }
    cJSON_Delete(seen);
    return rc;
}

/* Every answer goes out here, so an allowed origin's CORS headers are
 * added in one place; the connection's socket context is its HTTP thread. */
static enum MHD_Result send_response(struct MHD_Connection *conn, struct MHD_Response *r, int status)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct http_thread *t = ci ? ci->socket_context : NULL;
    if (t && t->srv->guard.norigins)
        server_guard_cors_headers(&t->srv->guard, conn, r);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static void add_headers(struct MHD_Response *r, const struct api_response *resp);

/* An error answer in the protocol's shape, with the handler's extra headers
 * (resp, may be NULL: an inference refusal still says its X-Request-Id). */
static enum MHD_Result send_error_with(struct MHD_Connection *conn, const struct cap_error *err,
                                       bool oip, const struct api_response *resp)
{
    cJSON *o = cJSON_CreateObject();
    const char *msg = err->msg[0] ? err->msg : cap_err_name(err->code);
    if (oip) {
        cJSON_AddStringToObject(o, "error", msg);
    } else {
        cJSON_AddStringToObject(o, "error_code", cap_err_name(err->code));
        cJSON_AddStringToObject(o, "message", msg);
    }
    char *body = cap_json_print(o);
    cJSON_Delete(o);
    int status = cap_err_http_status(err->code);
    /* (501 and 503 are answers about the request, not faults) */
    if (status >= 500 && status != 501 && status != 503)
        cap_log(CAP_LOG_WARN, "%d %s", status, err->msg);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == 503)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (err->code == CAP_ETOOMANY) /* auth/'s lockout: at most this long */
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, AUTH_LOCK_SECONDS_TEXT);
    if (err->code == CAP_EUNAUTH) /* what makes a browser and MLflow's client ask */
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"capstan\"");
    if (resp)
        add_headers(r, resp);
    return send_response(conn, r, status);
}

static enum MHD_Result send_error_as(struct MHD_Connection *conn, const struct cap_error *err,
                                     bool oip)
{
    return send_error_with(conn, err, oip, NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *conn, const struct cap_error *err)
{
    return send_error_as(conn, err, false);
}

static enum MHD_Result ctx_error(struct MHD_Connection *conn, struct req_ctx *ctx,
                                 const struct cap_error *err)
{
    return send_error_as(conn, err, ctx->oip_errors);
}

static void add_headers(struct MHD_Response *r, const struct api_response *resp)
{
    for (int i = 0; i < resp->nheaders; i++)
        MHD_add_response_header(r, resp->header_names[i], resp->header_values[i]);
}

static enum MHD_Result send_api_response(struct server *srv, struct MHD_Connection *conn,
                                         struct api_response *resp)
{
    int status = resp->status ? resp->status : 200;
    struct MHD_Response *r;
    if (resp->fd >= 0 || resp->stream) {
        if (resp->stream) {
            r = server_stream_response(&srv->streams, conn, resp->stream, resp->fd_size);
            resp->stream = NULL;
        } else {
            r = MHD_create_response_from_fd64(resp->fd_size, resp->fd);
            if (!r)
                close(resp->fd);
        }
        if (!r) {
            api_response_free(resp);
            struct cap_error e;
            cap_err(&e, CAP_EINTERNAL, "Could not stream the file");
            return send_error(conn, &e);
        }
        /* The handler names the type (and the Content-Disposition, among
         * its headers); nosniff holds the browser to that type. */
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type ? resp->content_type
                                                   : "application/octet-stream");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        add_headers(r, resp);
        api_response_free(resp);
        return send_response(conn, r, status);
    }
    if (resp->text) {
        char *t = resp->text;
        resp->text = NULL;
        r = MHD_create_response_from_buffer(strlen(t), t, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        add_headers(r, resp);
        api_response_free(resp);
        return send_response(conn, r, status);
    }
    if (resp->raw || !resp->json) {
        char *raw = resp->raw;
        size_t n = resp->raw_len;
        resp->raw = NULL;
        if (!raw) {
            raw = cap_xstrdup("{}");
            n = 2;
        }
        r = MHD_create_response_from_buffer(n, raw, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                resp->content_type ? resp->content_type : "application/json");
        add_headers(r, resp);
        api_response_free(resp);
        return send_response(conn, r, status);
    }
    char *body = cap_json_print(resp->json);
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    add_headers(r, resp);
    api_response_free(resp);
    return send_response(conn, r, status);
}

static int build_message(struct req_ctx *ctx, struct cap_error *err)
{
    cJSON *msg = NULL;
    if (ctx->route->body == API_BODY_RAW) {
        ctx->req.body = ctx->body.data ? ctx->body.data : "";
        ctx->req.body_len = ctx->body.len;
        msg = cJSON_CreateObject();
    } else if (ctx->body.len > 0) {
        /* JSON is UTF-8 (RFC 8259); MLflow's parser refuses other bytes, and
         * PostgreSQL would refuse to store them. */
        size_t bad = cap_utf8_check(ctx->body.data, ctx->body.len);
        if (bad < ctx->body.len)
            return cap_err(err, CAP_EBADREQ,
                           "The request body is not valid UTF-8 (byte %zu): JSON must be UTF-8",
                           bad);
        const char *end = NULL;
        msg = cJSON_ParseWithLengthOpts(ctx->body.data, ctx->body.len, &end, 0);
        if (!msg) {
            size_t off = end ? (size_t)(end - ctx->body.data) : 0;
            return cap_err(err, CAP_EBADREQ,
                           "Malformed JSON in the request body near byte %zu: expected a JSON object",
                           off);
        }
        if (!cJSON_IsObject(msg)) {
            cJSON_Delete(msg);
            return cap_err(err, CAP_EBADREQ, "The request body must be a JSON object");
        }
        /* cJSON stops at the end of the value: anything but whitespace after
         * it means the body was not one JSON object. */
        size_t off = (size_t)(end - ctx->body.data);
        for (size_t i = off; i < ctx->body.len; i++) {
            char c = ctx->body.data[i];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                cJSON_Delete(msg);
                return cap_err(err, CAP_EBADREQ,
                               "Malformed JSON in the request body: unexpected data after the "
                               "JSON object at byte %zu",
                               i);
            }
        }
    } else {
        msg = cJSON_CreateObject();
    }
    ctx->req.msg = msg;
    return merge_query(msg, ctx->query, err);
}

/* A request's connection, between the handler and its answer: RUNNING
 * (the handler has it), SUSPENDED (whoever answers resumes it), ANSWERED. */
enum { WAIT_RUNNING, WAIT_SUSPENDED, WAIT_ANSWERED };

/* req->answer: the answer of a request whose handler returned API_PENDING. */
static void answer_later(void *cls, int rc, struct api_response *resp,
                         const struct cap_error *err)
{
    struct req_ctx *ctx = cls;
    struct server *srv = ctx->srv;
    ctx->rc = rc;
    ctx->resp = *resp;
    if (rc < 0)
        ctx->err = *err;
    ctx->answered = true;
    if (atomic_exchange(&ctx->wait_state, WAIT_ANSWERED) == WAIT_SUSPENDED)
        MHD_resume_connection(ctx->conn); /* MHD calls on_request again: see finish */
    atomic_fetch_sub(&srv->pending, 1);
}

/* Opens a streamed upload; its begin sees the query string as req->msg,
 * as every other route's handler does. */
static int upload_begin(struct req_ctx *ctx, struct cap_error *err)
{
    if (!ctx->req.msg && build_message(ctx, err) < 0)
        return -1;
    if (ctx->req.user && api_access_check(ctx->srv->env, ctx->route, &ctx->req, err) < 0)
        return -1;
    return ctx->route->upload->begin(ctx->srv->env, &ctx->req, &ctx->upload_state, err);
}

/* Runs the request's handler (which may return API_PENDING). */
static int run_handler(struct req_ctx *ctx, struct api_response *resp)
{
    const struct api_route *route = ctx->route;
    struct cap_error *err = &ctx->err;
    if (route->body == API_BODY_STREAM) {
        if (!ctx->upload_open) {
            /* an empty upload never got a data call */
            if (upload_begin(ctx, err) < 0)
                return -1;
            ctx->upload_open = true;
        }
        ctx->upload_open = false;
        return route->upload->end(ctx->upload_state, resp, err);
    }
    if (!ctx->req.msg && build_message(ctx, err) < 0)
        return -1;
    /* --auth: may this user do this? Checked on the message, before the
     * handler runs, so that a refusal changes nothing (req.user is NULL
     * without --auth: one branch) */
    if (ctx->req.user && api_access_check(ctx->srv->env, route, &ctx->req, err) < 0)
        return -1;
    ctx->req.answer = answer_later;
    ctx->req.answer_cls = ctx;
    /* a rejected number is quoted as written (9.0, not 9): see json.h */
    bool json_body = route->body != API_BODY_RAW && ctx->body.len > 0;
    if (json_body)
        cap_json_set_source(ctx->req.msg, ctx->body.data, ctx->body.len);
    int rc = route->handler(ctx->srv->env, &ctx->req, resp, err);
    if (json_body)
        cap_json_set_source(NULL, NULL, 0);
    if (rc == 0 && ctx->req.user && route->access.after)
        api_access_after(ctx->srv->env, route, &ctx->req, resp);
    /* (answer_later may have counted it down already: the count only
     * needs to come back to zero) */
    if (rc == API_PENDING)
        atomic_fetch_add(&ctx->srv->pending, 1);
    return rc;
}

static enum MHD_Result answer(struct MHD_Connection *conn, struct req_ctx *ctx, int rc,
                              struct api_response *resp)
{
    struct cap_error *err = &ctx->err;
    if (rc < 0) {
        if (resp->fd >= 0)
            close(resp->fd);
        if (!err->code)
            cap_err(err, CAP_EINTERNAL, "Handler failed without a message");
        enum MHD_Result r = send_error_with(conn, err, ctx->oip_errors, resp);
        api_response_free(resp);
        return r;
    }
    return send_api_response(ctx->srv, conn, resp);
}

static void *worker_loop(void *arg)
{
    cap_thread_name("capstan-worker");
    struct worker *w = arg;
    struct server *srv = w->srv;
    pthread_mutex_lock(&srv->jobs_mu);
    for (;;) {
        struct req_ctx *ctx = srv->jobs_head;
        if (!ctx) {
            if (srv->stopping)
                break;
            w->idle = true;
            w->next_idle = srv->idle;
            srv->idle = w;
            while (w->idle && !srv->stopping)
                pthread_cond_wait(&w->cv, &srv->jobs_mu);
            continue;
        }
        srv->jobs_head = ctx->next_job;
        if (!srv->jobs_head)
            srv->jobs_tail = NULL;
        pthread_mutex_unlock(&srv->jobs_mu);
        ctx->resp = (struct api_response){.fd = -1};
        atomic_store(&ctx->wait_state, WAIT_SUSPENDED);
        int rc = run_handler(ctx, &ctx->resp);
        if (rc == API_OFFLOAD) {
            /* (a handler offloads only on the HTTP thread) */
            rc = cap_err(&ctx->err, CAP_EINTERNAL, "A request was sent to a worker twice");
        }
        if (rc != API_PENDING) {
            ctx->rc = rc;
            ctx->answered = true;
            MHD_resume_connection(ctx->conn); /* MHD calls on_request again: see finish */
        }
        pthread_mutex_lock(&srv->jobs_mu);
    }
    pthread_mutex_unlock(&srv->jobs_mu);
    return NULL;
}

static enum MHD_Result hand_to_worker(struct MHD_Connection *conn, struct req_ctx *ctx)
{
    struct server *srv = ctx->srv;
    ctx->conn = conn;
    ctx->next_job = NULL;
    pthread_mutex_lock(&srv->jobs_mu);
    if (srv->stopping) {
        /* A keep-alive client's next request after the workers stopped:
         * nobody would resume its connection. */
        pthread_mutex_unlock(&srv->jobs_mu);
        cap_err(&ctx->err, CAP_EUNAVAIL, "The server is stopping: retry on another replica");
        return ctx_error(conn, ctx, &ctx->err);
    }
    MHD_suspend_connection(conn);
    if (srv->jobs_tail)
        srv->jobs_tail->next_job = ctx;
    else
        srv->jobs_head = ctx;
    srv->jobs_tail = ctx;
    struct worker *w = srv->idle;
    if (w) {
        /* (when none is idle, the next to finish takes the job) */
        srv->idle = w->next_idle;
        w->idle = false;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&srv->jobs_mu);
    return MHD_YES;
}

static enum MHD_Result finish(struct MHD_Connection *conn, struct req_ctx *ctx)
{
    if (ctx->answered) {
        /* back from a worker */
        ctx->answered = false;
        return answer(conn, ctx, ctx->rc, &ctx->resp);
    }
    struct cap_error *err = &ctx->err;
    if (err->code) {
        enum MHD_Result web_ret;
        /* A GET or HEAD that no API route took may be one of the UI's files
         * (not in a serving-only process: the UI needs the tracking API). */
        if (!ctx->route && ctx->srv->env->store &&
            web_serve(conn, ctx->req.method, ctx->path, &web_ret))
            return web_ret;
        return ctx_error(conn, ctx, err);
    }
    /* Serving routes answer from memory: run them here. */
    if (!ctx->route->serving)
        return hand_to_worker(conn, ctx);
    ctx->conn = conn;
    struct api_response resp = {.fd = -1};
    int rc = run_handler(ctx, &resp);
    if (rc == API_OFFLOAD) {
        ctx->req.queued_at = cap_mono_s();
        return hand_to_worker(conn, ctx);
    }
    if (rc == API_PENDING) {
        MHD_suspend_connection(conn);
        int running = WAIT_RUNNING;
        if (!atomic_compare_exchange_strong(&ctx->wait_state, &running, WAIT_SUSPENDED))
            MHD_resume_connection(conn); /* answered already, while the handler ran */
        return MHD_YES;
    }
    return answer(conn, ctx, rc, &resp);
}

static void too_large(struct req_ctx *ctx, uint64_t limit)
{
    cap_err(&ctx->err, CAP_ETOOLARGE,
            "Request body is larger than the limit of %llu bytes for %s",
            (unsigned long long)limit, ctx->path);
}

struct head_stats {
    size_t fields, bytes;
    unsigned transfer_encodings;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    struct head_stats *h = cls;
    h->fields++;
    h->bytes += key_size + value_size + 4; /* ": " and CRLF */
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        h->transfer_encodings++;
    return MHD_YES;
}

/* Refuses, before MHD waits for a body, a head that MHD took but we do not:
 * a NUL byte in the target, too many header fields or bytes, a body in a
 * transfer coding MHD cannot decode (it would wait for the connection's end
 * to delimit it). MHD itself already refused a malformed Content-Length. */
static void check_head(struct req_ctx *ctx, struct MHD_Connection *conn, const char *version)
{
    /* MHD (0.9.75) ends the target with the '\0' that it writes over the
     * space before the version; a NUL byte in the target ended the string
     * that uri_logger saw before that */
    uintptr_t gap = (uintptr_t)version - (uintptr_t)ctx->target_end;
    if (version && gap > 1 && gap <= MAX_TARGET_BYTES) {
        cap_err(&ctx->err, CAP_EBADREQ, "The request target contains a NUL byte");
        return;
    }
    struct head_stats h = {0};
    MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_header, &h);
    size_t head = ctx->target_len + h.bytes;
    if (h.fields > MAX_HEADER_FIELDS || head > MAX_HEAD_BYTES) {
        cap_err(&ctx->err, CAP_EHEADERS,
                "The request has %zu header fields and %zu bytes of target and header fields, "
                "over the limit of %d fields or %d bytes",
                h.fields, head, MAX_HEADER_FIELDS, MAX_HEAD_BYTES);
        return;
    }
    const char *te =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (h.transfer_encodings > 1)
        cap_err(&ctx->err, CAP_ENOTIMPL,
                "More than one Transfer-Encoding field is not supported: send the body with a "
                "Content-Length, or chunked alone");
    else if (te && strcasecmp(te, "chunked") != 0)
        cap_err(&ctx->err, CAP_ENOTIMPL,
                "Transfer-Encoding '%.64s' is not supported: send the body with a "
                "Content-Length, or chunked alone",
                te);
}

static bool oip_path(const char *path)
{
    return strncmp(path, "/v2/", 4) == 0 || strcmp(path, "/v2") == 0;
}

/* --auth: HTTP basic credentials on every route but the public (health)
 * ones, and on paths no route takes (the UI's files). Checked with the
 * head, before a body is read: 401, and the WWW-Authenticate header that
 * makes clients send credentials. What the user may do is api/access.c's,
 * once the message is read. Cost: a store read per request, and the first
 * request of each (user, password) runs Argon2id (~50 ms) on the HTTP
 * thread that read it, whose other connections wait meanwhile; later ones
 * hit auth/'s cache (64 slots by user name: more active users than that
 * would evict each other and pay it again). */
static int authenticate(struct server *srv, struct req_ctx *ctx, struct MHD_Connection *conn)
{
    if (ctx->route && ctx->route->access.scope == API_SCOPE_PUBLIC)
        return 0;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct cap_error e = {0};
    if (auth_header(srv->env->auth, h, &ctx->user, &e) < 0) {
        ctx->err = e;
        return -1;
    }
    ctx->req.user = &ctx->user;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct req_ctx *ctx = *con_cls;
    struct server *srv = cls;
    if (!ctx)
        return MHD_NO;
    if (!ctx->started) {
        ctx->started = true;
        atomic_fetch_add(&srv->inflight, 1);
        if (!ctx->err.code)
            check_head(ctx, conn, version);
        if (ctx->err.code) {
            /* the head is refused: no route, no body */
            ctx->oip_errors = oip_path(ctx->path);
            return ctx_error(conn, ctx, &ctx->err);
        }
        ctx->req.method = method;
        ctx->req.path = ctx->path;
        ctx->req.content_type =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        ctx->req.header = header_value;
        ctx->req.header_cls = conn;
        ctx->route = api_match(method, ctx->path, &ctx->req, &ctx->err);
        if (ctx->route && !srv->env->store && !ctx->route->serving) {
            /* a serving-only process has no store behind these */
            ctx->route = NULL;
            cap_err(&ctx->err, CAP_ENOENDPOINT,
                    "No API endpoint at %s %s: this process only serves models (capstan serve); "
                    "the registry server answers it",
                    method, ctx->path);
        }
        ctx->oip_errors =
            ctx->route ? ctx->route->errors == API_ERRORS_OIP : oip_path(ctx->path);
        /* after routing, so that the route table says which routes are
         * public; before a routing error, which a refused Host never sees */
        struct cap_error refused = {0};
        bool public_route = ctx->route && ctx->route->access.scope == API_SCOPE_PUBLIC;
        struct MHD_Response *pre = NULL;
        if (server_guard_check(&srv->guard, conn, method, public_route, &refused) < 0 ||
            server_guard_preflight(&srv->guard, conn, method, &pre, &refused)) {
            if (pre)
                return send_response(conn, pre, MHD_HTTP_NO_CONTENT);
            ctx->err = refused;
            return ctx_error(conn, ctx, &ctx->err);
        }
        if (srv->env->auth && authenticate(srv, ctx, conn) < 0)
            return ctx_error(conn, ctx, &ctx->err);
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (ctx->route && cl) {
            uint64_t limit = ctx->route->body == API_BODY_STREAM ? srv->cfg.max_upload_bytes
                                                                 : srv->cfg.max_json_bytes;
            unsigned long long n = strtoull(cl, NULL, 10);
            if (limit && n > limit) {
                /* Answer now: no point reading a body we will refuse. */
                too_large(ctx, limit);
                return ctx_error(conn, ctx, &ctx->err);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ctx->err.code)
            return MHD_YES;      /* already failed: drain and discard */
        ctx->body_seen += n;
        if (ctx->route->body == API_BODY_STREAM) {
            if (srv->cfg.max_upload_bytes && ctx->body_seen > srv->cfg.max_upload_bytes) {
                too_large(ctx, srv->cfg.max_upload_bytes);
                goto abort_upload;
            }
            if (!ctx->upload_open) {
                if (upload_begin(ctx, &ctx->err) < 0)
                    return MHD_YES;
                ctx->upload_open = true;
            }
            if (ctx->route->upload->data(ctx->upload_state, upload_data, n, &ctx->err) < 0)
                goto abort_upload;
            return MHD_YES;
        }
        if (srv->cfg.max_json_bytes && ctx->body_seen > srv->cfg.max_json_bytes) {
            too_large(ctx, srv->cfg.max_json_bytes);
            cap_buf_free(&ctx->body);
            return MHD_YES;
        }
        cap_buf_append(&ctx->body, upload_data, n);
        return MHD_YES;
    abort_upload:
        if (ctx->upload_open) {
            ctx->route->upload->abort(ctx->upload_state);
            ctx->upload_open = false;
        }
        return MHD_YES;
    }
    return finish(conn, ctx);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
    cap_log(CAP_LOG_DEBUG, "http: %s", line);
}

/* Lets the workers finish what is queued, then joins them. */
static void stop_workers(struct server *srv)
{
    pthread_mutex_lock(&srv->jobs_mu);
    srv->stopping = true;
    for (unsigned i = 0; i < srv->nworkers; i++)
        pthread_cond_signal(&srv->workers[i].cv);
    pthread_mutex_unlock(&srv->jobs_mu);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        pthread_join(srv->workers[i].thread, NULL);
        pthread_cond_destroy(&srv->workers[i].cv);
    }
    free(srv->workers);
    pthread_mutex_destroy(&srv->jobs_mu);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_thread *t = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        *socket_context = t;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        atomic_fetch_add(&t->closed, 1);
}

static void *accept_loop(void *arg)
{
    cap_thread_name("capstan-accept");
    struct server *srv = arg;
    unsigned next = 0;
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t addrlen = sizeof addr;
        int fd = accept4(srv->listen_fd, (struct sockaddr *)&addr, &addrlen,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO ||
                errno == EAGAIN || errno == EPERM)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: the connection waits in the backlog */
                usleep(10000);
                continue;
            }
            break; /* EINVAL after server_stop's shutdown() */
        }
        /* the fewest open connections; ties go round the threads */
        struct http_thread *best = NULL;
        unsigned best_open = 0;
        for (unsigned i = 0; i < srv->nhttp; i++) {
            struct http_thread *t = &srv->http[(next + i) % srv->nhttp];
            unsigned open = t->handed - atomic_load(&t->closed);
            if (!best || open < best_open) {
                best = t;
                best_open = open;
            }
        }
        next = (unsigned)(best - srv->http + 1) % srv->nhttp;
        best->handed++;
        if (MHD_add_connection(best->daemon, fd, (struct sockaddr *)&addr, addrlen) != MHD_YES)
            best->handed--; /* (MHD closed the socket) */
    }
    return NULL;
}

/* The listening socket, as MHD would open it: address reuse, IPv6 only for
 * an IPv6 address. */
static int listen_on(const struct addrinfo *ai, const struct server_config *cfg,
                     struct cap_error *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return cap_err(err, CAP_EINTERNAL, "Cannot open a socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        return cap_err(err, CAP_EINVAL, "Cannot listen on %s:%u: %s", cfg->host, cfg->port,
                       strerror(e));
    }
    return fd;
}

/* Stops and frees the HTTP threads that started. */
static void stop_http(struct server *srv)
{
    for (unsigned i = 0; i < srv->nhttp; i++)
        if (srv->http[i].daemon)
            MHD_stop_daemon(srv->http[i].daemon);
    free(srv->http);
    srv->http = NULL;
    srv->nhttp = 0;
}

/* Stops taking connections: the acceptor ends, the port is free. */
static void stop_accepting(struct server *srv)
{
    if (srv->listen_fd < 0)
        return;
    shutdown(srv->listen_fd, SHUT_RDWR); /* wakes accept() with EINVAL */
    if (srv->acceptor_started)
        pthread_join(srv->acceptor, NULL);
    srv->acceptor_started = false;
    close(srv->listen_fd);
    srv->listen_fd = -1;
}

int server_start(const struct server_config *cfg, const struct api_env *env, struct server **out,
                 struct cap_error *err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%u", cfg->port);
    int gai = getaddrinfo(cfg->host, portstr, &hints, &ai);
    if (gai != 0)
        return cap_err(err, CAP_EINVAL, "Cannot resolve listen address '%s': %s", cfg->host,
                       gai_strerror(gai));

    struct server *srv = cap_xcalloc(1, sizeof *srv);
    srv->cfg = *cfg;
    if (server_guard_init(&srv->guard, cfg->host, cfg->allowed_hosts, cfg->cors_allowed_origins,
                          err) < 0 ||
        server_tls_load(cfg->tls_cert, cfg->tls_key, &srv->tls_cert, &srv->tls_key, err) < 0) {
        freeaddrinfo(ai);
        server_guard_free(&srv->guard);
        free(srv);
        return -1;
    }
    srv->env = env;
    pthread_mutex_init(&srv->jobs_mu, NULL);
    server_streams_init(&srv->streams);
    srv->listen_fd = listen_on(ai, cfg, err);
    freeaddrinfo(ai);
    if (srv->listen_fd < 0)
        goto fail;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    srv->port = cfg->port;
    if (getsockname(srv->listen_fd, (struct sockaddr *)&bound, &blen) == 0)
        srv->port = ntohs(bound.ss_family == AF_INET6
                              ? ((struct sockaddr_in6 *)&bound)->sin6_port
                              : ((struct sockaddr_in *)&bound)->sin_port);
    unsigned nworkers = cfg->threads ? cfg->threads : 16;
    srv->workers = cap_xcalloc(nworkers, sizeof *srv->workers);
    for (unsigned i = 0; i < nworkers; i++) {
        struct worker *w = &srv->workers[i];
        w->srv = srv;
        pthread_cond_init(&w->cv, NULL);
        if (pthread_create(&w->thread, NULL, worker_loop, w) != 0) {
            pthread_cond_destroy(&w->cv);
            cap_err(err, CAP_EINTERNAL, "Cannot start the server's worker threads");
            goto fail;
        }
        srv->nworkers = i + 1;
    }
    unsigned http_threads = cfg->http_threads;
    if (!http_threads) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        http_threads = ncpu < 2 ? 2 : ncpu > 16 ? 16 : (unsigned)ncpu;
    }
    srv->http = cap_xcalloc(http_threads, sizeof *srv->http);
    srv->nhttp = http_threads;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    /* TLS: MHD does the handshake of each connection the acceptor hands it */
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    if (srv->tls_cert)
        flags |= MHD_USE_TLS;
    for (unsigned i = 0; i < http_threads; i++) {
        struct http_thread *t = &srv->http[i];
        t->srv = srv;
        t->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, srv,
            MHD_OPTION_URI_LOG_CALLBACK, uri_logger, srv,
            MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, t,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)4096,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_POOL_BYTES,
            MHD_OPTION_ARRAY, srv->tls_cert ? tls_opts : tls_opts + 2,
            MHD_OPTION_END);
        if (!t->daemon) {
            int e = errno;
            cap_err(err, CAP_EINTERNAL, "Cannot start the HTTP threads: %s",
                    e ? strerror(e) : "libmicrohttpd refused to start");
            goto fail;
        }
    }
    if (pthread_create(&srv->acceptor, NULL, accept_loop, srv) != 0) {
        cap_err(err, CAP_EINTERNAL, "Cannot start the server's accept thread");
        goto fail;
    }
    srv->acceptor_started = true;
    *out = srv;
    return 0;
fail:
    /* each undoes only what started */
    stop_accepting(srv);
    stop_http(srv);
    stop_workers(srv);
    server_streams_destroy(&srv->streams);
    server_guard_free(&srv->guard);
    free(srv->tls_cert);
    free(srv->tls_key);
    free(srv);
    return -1;
}

uint16_t server_port(const struct server *srv)
{
    return srv->port;
}

void server_stop(struct server *srv)
{
    if (!srv)
        return;
    stop_accepting(srv);
    /* In-flight requests finish; idle keep-alive connections do not count. */
    double deadline = cap_mono_s() + 10.0;
    while (atomic_load(&srv->inflight) > 0 && cap_mono_s() < deadline)
        usleep(10000);
    /* before the daemon: a suspended connection must be resumed first.
     * Batches run within their max_queue_delay, so this ends. */
    stop_workers(srv);
    while (atomic_load(&srv->pending) > 0)
        usleep(1000);
    server_streams_stop(&srv->streams);
    stop_http(srv);
    server_streams_destroy(&srv->streams);
    server_guard_free(&srv->guard);
    free(srv->tls_cert);
    free(srv->tls_key);
    free(srv);
}
