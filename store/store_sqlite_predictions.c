/* store_sqlite_predictions.c - the prediction log in SQLite, in segments.
 *
 * A segment is one row of prediction_segments holding up to SEG_ROWS
 * requests (and about SEG_MAX_BYTES) of one deployment, encoded below. A
 * busy server logs tens of thousands of requests a second; as one row and
 * two index entries each, SQLite cost ~5 µs of CPU per request, as one row
 * per writer batch it costs a memcpy. Reads decode whole segments, which is what the monitoring work
 * wants anyway (windows of requests, not single rows).
 *
 * A request's id is (segment id << 10) | its index in the segment: ids grow
 * with time, the keyset token is the last id sent, and a deep page costs
 * the same as the first.
 *
 * Segment format (varints are LEB128):
 *   "CPS1" u32le(n) then n rows of
 *   zigzag(ts - previous ts) zigzag(latency_us) byte(agree + 1)
 *   f(model_name) f(model_version) f(role) f(request_id) f(inputs) f(outputs)
 * where each field f is varint(0) for NULL, or varint(k + 1) varint(m) and m
 * bytes: the value is the first k bytes of the same field in the previous
 * row of the segment followed by those m bytes. Rows of one deployment
 * repeat their names and their tensors' headers (names, types, shapes), so
 * this takes a third off the log's size and its disk writes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "store/store_sqlite.h"

#define SEG_ROWS 1024
/* and at most about this many bytes: requests with large tensors must not
 * reach SQLite's blob limit (1 GB) together */
#define SEG_MAX_BYTES (16u << 20)
#define SEG_SHIFT 10
#define SEG_MAGIC "CPS1"

/* ---- encoding ---- */

static void put_varint(struct cap_buf *b, uint64_t v)
{
    unsigned char t[10];
    size_t n = 0;
    do {
        t[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    cap_buf_append(b, t, n);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* The previous row's value of each field, for prefix sharing. */
enum { F_NAME, F_VERSION, F_ROLE, F_REQUEST, F_INPUTS, F_OUTPUTS, F_COUNT };

static void put_field(struct cap_buf *b, const void *p, size_t n, const void **prev,
                      size_t *prev_n)
{
    if (!p) {
        put_varint(b, 0);
        *prev = NULL;
        *prev_n = 0;
        return;
    }
    size_t k = 0, max = n < *prev_n ? n : *prev_n;
    const unsigned char *a = p, *q = *prev;
    while (k < max && a[k] == q[k])
        k++;
    put_varint(b, (uint64_t)k + 1);
    put_varint(b, (uint64_t)(n - k));
    cap_buf_append(b, a + k, n - k);
    *prev = p;
    *prev_n = n;
}

/* One deployment's segment being built: its blob, header first (the row
 * count is filled in when it is written), so it is bound without a copy. */
struct seg {
    const char *deployment;
    struct cap_buf rows;
    int64_t n, ts_first, ts_last, ts_prev;
    const void *prev[F_COUNT]; /* into the rows being logged */
    size_t prev_n[F_COUNT];
    struct cap_buf keys;       /* int64 request keys of its answering rows */
    bool index;                /* write them to prediction_keys (not before migration 7) */
};

/* A request's key in prediction_keys: FNV-1a 64 of deployment, NUL, id. */
static int64_t request_key(const char *deployment, const char *id)
{
    uint64_t h = cap_fnv1a(CAP_FNV1A_SEED, deployment, strlen(deployment) + 1);
    return (int64_t)cap_fnv1a(h, id, strlen(id));
}

static void put_key(struct cap_buf *b, int64_t k)
{
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)((uint64_t)k >> (8 * i));
    cap_buf_append(b, le, 8);
}

/* A shadow's row repeats the id of the answer it shadows. */
static bool answering(const char *role)
{
    return strcmp(role, "shadow") != 0;
}

#define SEG_HEADER 8

static void seg_start(struct seg *g, const char *deployment, size_t reserve, bool index)
{
    *g = (struct seg){.deployment = deployment, .index = index};
    cap_buf_init(&g->rows);
    cap_buf_init(&g->keys);
    cap_buf_reserve(&g->rows, reserve);
    cap_buf_append(&g->rows, SEG_MAGIC "\0\0\0\0", SEG_HEADER);
}

/* A guess at a batch's encoded size, so that its buffer grows once. */
static size_t batch_size(const struct store_prediction *rows, size_t n)
{
    size_t total = SEG_HEADER;
    for (size_t i = 0; i < n; i++)
        total += rows[i].inputs_len + rows[i].outputs_len + 64;
    return total;
}

static void seg_add(struct seg *g, const struct store_prediction *r)
{
    if (g->n == 0) {
        g->ts_first = g->ts_last = r->timestamp_ms;
        g->ts_prev = 0;
    }
    if (r->timestamp_ms < g->ts_first)
        g->ts_first = r->timestamp_ms;
    if (r->timestamp_ms > g->ts_last)
        g->ts_last = r->timestamp_ms;
    put_varint(&g->rows, zigzag(r->timestamp_ms - g->ts_prev));
    g->ts_prev = r->timestamp_ms;
    put_varint(&g->rows, zigzag(r->latency_us));
    cap_buf_putc(&g->rows, (char)(r->agree < 0 ? 0 : r->agree ? 2 : 1));
    const void *v[F_COUNT] = {r->model_name ? r->model_name : "",
                              r->model_version ? r->model_version : "",
                              r->role ? r->role : "", r->request_id, r->inputs, r->outputs};
    size_t len[F_COUNT] = {strlen(v[0]), strlen(v[1]), strlen(v[2]),
                           r->request_id ? strlen(r->request_id) : 0, r->inputs_len,
                           r->outputs_len};
    for (int f = 0; f < F_COUNT; f++)
        put_field(&g->rows, v[f], len[f], &g->prev[f], &g->prev_n[f]);
    g->n++;
    if (g->index && r->request_id && r->role && answering(r->role)) {
        put_key(&g->keys, request_key(g->deployment, r->request_id));
    }
}

/* The key row of the segment just inserted: one insert per segment (a
 * SQLite index on each key cost 8.7 µs a request, see store_sqlite_keys.c). */
static int keys_write(struct sq_conn *c, struct seg *g, int64_t seg_id, struct cap_error *err)
{
    int rc = 0;
    if (g->keys.len > 0)
        rc = store_sq_run(c, "INSERT INTO prediction_keys(seg, deployment, keys) VALUES (?, ?, ?)",
                          SQ_ARGS(SQ_INT(seg_id),
                                  SQ_TEXT(g->deployment), SQ_BLOB(g->keys.data, g->keys.len)),
                          err, "logging predictions");
    g->keys.len = 0;
    return rc;
}

static int seg_write(struct sq_conn *c, struct seg *g, struct cap_error *err)
{
    if (g->n == 0)
        return 0;
    unsigned char *h = (unsigned char *)g->rows.data + 4;
    for (int i = 0; i < 4; i++)
        h[i] = (unsigned char)((uint64_t)g->n >> (8 * i));
    int64_t seg_id = 0;
    int rc = store_sq_insert_id(c,
                          "INSERT INTO prediction_segments(deployment, ts_first, "
                          "ts_last, n, data) VALUES (?, ?, ?, ?, ?) RETURNING id",
                          SQ_ARGS(SQ_TEXT(g->deployment), SQ_INT(g->ts_first),
                                  SQ_INT(g->ts_last), SQ_INT(g->n),
                                  SQ_BLOB(g->rows.data, g->rows.len)),
                          &seg_id, err, "logging predictions");
    if (rc >= 0)
        rc = keys_write(c, g, seg_id, err);
    g->rows.len = SEG_HEADER;
    g->n = 0;
    memset(g->prev, 0, sizeof g->prev); /* a segment is decoded on its own */
    memset(g->prev_n, 0, sizeof g->prev_n);
    return rc;
}

static void seg_free(struct seg *g)
{
    cap_buf_free(&g->rows);
    cap_buf_free(&g->keys);
}

/* Rows are grouped by deployment in order of first appearance; a batch
 * naming more deployments than this writes the open segments and starts
 * again (rare: a batch is one writer wake-up). */
#define OPEN_SEGS 16

static int log_rows(struct sq_conn *c, const struct store_prediction *rows, size_t n,
                    bool index, struct cap_error *err)
{
    struct seg segs[OPEN_SEGS];
    int nseg = 0, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct store_prediction *r = &rows[i];
        int k = 0;
        while (k < nseg && strcmp(segs[k].deployment, r->deployment) != 0)
            k++;
        if (k == nseg) {
            if (nseg == OPEN_SEGS) {
                for (int j = 0; j < nseg && rc == 0; j++)
                    rc = seg_write(c, &segs[j], err);
                for (int j = 0; j < nseg; j++)
                    seg_free(&segs[j]);
                nseg = k = 0;
                if (rc < 0)
                    break;
            }
            /* the first deployment of a batch is nearly always its only one */
            seg_start(&segs[k], r->deployment, nseg == 0 ? batch_size(rows + i, n - i) : 4096,
                      index);
            nseg++;
        }
        seg_add(&segs[k], r);
        if (segs[k].n == SEG_ROWS || segs[k].rows.len >= SEG_MAX_BYTES)
            rc = seg_write(c, &segs[k], err);
    }
    for (int j = 0; j < nseg; j++) {
        if (rc == 0)
            rc = seg_write(c, &segs[j], err);
        seg_free(&segs[j]);
    }
    return rc;
}

struct log_job {
    const struct store_prediction *rows;
    size_t n;
};

static int job_log(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct log_job *a = arg;
    return log_rows(c, a->rows, a->n, true, err);
}

int store_sq_predictions_log(void *impl, const struct store_prediction *rows, size_t n,
                             struct cap_error *err)
{
    struct log_job a = {.rows = rows, .n = n};
    return n == 0 ? 0 : store_sq_write(impl, job_log, &a, err);
}

/* ---- decoding ---- */

struct cursor {
    const unsigned char *p, *end;
    bool bad;
};

static uint64_t get_varint(struct cursor *c)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end)
            break;
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    c->bad = true;
    return 0;
}

/* One field (see the format above) into cur, which holds the previous
 * row's value; false for NULL. */
static bool get_field(struct cursor *c, struct cap_buf *cur)
{
    uint64_t k = get_varint(c);
    if (c->bad || k == 0) {
        cur->len = 0;
        return false;
    }
    k--;
    uint64_t m = get_varint(c);
    if (c->bad || k > cur->len || m > (uint64_t)(c->end - c->p)) {
        c->bad = true;
        return false;
    }
    cur->len = (size_t)k;
    cap_buf_append(cur, c->p, (size_t)m);
    c->p += m;
    return true;
}

/* Calls fn for each row of one segment, in order; the row's strings and
 * packs point into field (the decoder's buffers, reused for the next row).
 * fn returns 0 to go on, 1 to stop early (*stopped set) or an error. */
typedef int (*row_fn)(void *cls, int64_t id, const struct store_prediction *row,
                      struct cap_error *err);

static int walk_segment(int64_t seg_id, const char *deployment, const void *data, size_t len,
                        struct cap_buf field[F_COUNT], row_fn fn, void *cls, bool *stopped,
                        struct cap_error *err)
{
    struct cursor c = {.p = data, .end = (const unsigned char *)data + len};
    if (len < SEG_HEADER || memcmp(data, SEG_MAGIC, 4) != 0)
        goto corrupt;
    uint64_t n = 0;
    for (int i = 0; i < 4; i++)
        n |= (uint64_t)c.p[4 + i] << (8 * i);
    c.p += SEG_HEADER;
    if (n > SEG_ROWS)
        goto corrupt;
    for (int f = 0; f < F_COUNT; f++)
        field[f].len = 0; /* fields share prefixes within a segment only */
    int64_t ts = 0;
    for (uint64_t i = 0; i < n; i++) {
        ts += unzigzag(get_varint(&c));
        int64_t latency = unzigzag(get_varint(&c));
        int agree = c.p < c.end ? *c.p++ - 1 : (c.bad = true, -1);
        bool has[F_COUNT];
        for (int f = 0; f < F_COUNT; f++)
            has[f] = get_field(&c, &field[f]);
        if (c.bad || agree < -1 || agree > 1 || !has[F_NAME] || !has[F_VERSION] || !has[F_ROLE])
            goto corrupt;
        struct store_prediction row = {
            .timestamp_ms = ts,
            .deployment = deployment,
            .model_name = field[F_NAME].data,
            .model_version = field[F_VERSION].data,
            .role = field[F_ROLE].data,
            .request_id = has[F_REQUEST] ? field[F_REQUEST].data : NULL,
            .latency_us = latency,
            .inputs = has[F_INPUTS] ? field[F_INPUTS].data : NULL,
            .inputs_len = field[F_INPUTS].len,
            .outputs = has[F_OUTPUTS] ? field[F_OUTPUTS].data : NULL,
            .outputs_len = field[F_OUTPUTS].len,
            .agree = agree,
        };
        int rc = fn(cls, (seg_id << SEG_SHIFT) | (int64_t)i, &row, err);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            *stopped = true;
            return 0;
        }
    }
    return 0;
corrupt:
    return cap_err(err, CAP_EINTERNAL, "Prediction log segment %" PRId64 " is corrupt", seg_id);
}

static void add_pack(cJSON *o, const char *key, store_pack_decoder decode, const void *pack,
                     size_t len)
{
    cJSON *v = pack && decode ? decode(pack, len) : NULL;
    cJSON_AddItemToObject(o, key, v ? v : cJSON_CreateNull());
}

struct search_job {
    store_pack_decoder decode;
    const char *deployment;
    int64_t since, after; /* after: the id of the last row sent, -1 none */
    int max, sent;
    cJSON *out;
    char *next;
    struct cap_buf field[F_COUNT]; /* the current row's fields */
};

/* Appends a row that passes the filters; 1 when the page is full (a->next
 * set). */
static int emit_row(void *cls, int64_t id, const struct store_prediction *r,
                    struct cap_error *err)
{
    struct search_job *a = cls;
    if (id <= a->after || r->timestamp_ms < a->since)
        return 0;
    if (a->sent == a->max) {
        a->next = cap_xmalloc(24);
        snprintf(a->next, 24, "%" PRId64, a->after);
        return 1;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddNumberToObject(o, "timestamp", (double)r->timestamp_ms);
    cJSON_AddStringToObject(o, "deployment", r->deployment);
    cJSON_AddStringToObject(o, "model_name", r->model_name);
    cJSON_AddStringToObject(o, "model_version", r->model_version);
    cJSON_AddStringToObject(o, "role", r->role);
    if (r->request_id)
        cJSON_AddStringToObject(o, "request_id", r->request_id);
    cJSON_AddNumberToObject(o, "latency_us", (double)r->latency_us);
    add_pack(o, "inputs", a->decode, r->inputs, r->inputs_len);
    add_pack(o, "outputs", a->decode, r->outputs, r->outputs_len);
    if (r->agree >= 0)
        cJSON_AddBoolToObject(o, "agree", r->agree != 0);
    cJSON_AddItemToArray(a->out, o);
    a->sent++;
    a->after = id;
    return 0;
}

static int run_search(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct search_job *a = arg;
    static const char by_dep[] =
        "SELECT id, deployment, data FROM prediction_segments WHERE deployment = ?1 "
        "AND ts_last >= ?2 AND id >= ?3 ORDER BY id";
    static const char all[] = "SELECT id, deployment, data FROM prediction_segments "
                              "WHERE ts_last >= ?2 AND id >= ?3 ORDER BY id";
    /* all has no ?1: binding it NULL there is harmless. */
    struct sq_stmt *st = store_sq_stmt_bind(
        c, a->deployment ? by_dep : all,
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_INT(a->since),
                SQ_INT(a->after < 0 ? 0 : a->after >> SEG_SHIFT)),
        err);
    if (!st)
        return -CAP_EINTERNAL;
    a->out = cJSON_CreateArray();
    int rc = 0, step = SQ_DONE;
    bool full = false;
    while (!full && rc == 0 && (step = sq_step(st)) == SQ_ROW)
        rc = walk_segment(sq_col_int(st, 0), store_sq_col_text(st, 1),
                          sq_col_blob(st, 2), (size_t)sq_col_bytes(st, 2),
                          a->field, emit_row, a, &full, err);
    if (rc == 0 && !full && step != SQ_DONE)
        rc = store_sq_dberr(c, err, "searching the prediction log");
    sq_reset(st);
    return rc;
}

int store_sq_predictions_search(void *impl, const char *deployment, int64_t since_ms,
                                int64_t after_id, int max_results, const char *page_token,
                                store_pack_decoder decode, cJSON **out, char **next_token,
                                struct cap_error *err)
{
    struct search_job a = {.decode = decode, .deployment = deployment, .since = since_ms,
                           .after = after_id < 0 ? -1 : after_id, .max = max_results};
    if (page_token && *page_token) {
        /* tokens are the decimal id of the last row sent: opaque to clients */
        char *end = NULL;
        long long v = strtoll(page_token, &end, 10);
        if (end == page_token || *end || v < 0 || page_token[0] == '-' || page_token[0] == '+')
            return cap_err(err, CAP_EINVAL, "Invalid page_token '%.64s'", page_token);
        if (v > a.after)
            a.after = v;
    }
    int rc = store_sq_read(impl, run_search, &a, err);
    for (int f = 0; f < F_COUNT; f++)
        cap_buf_free(&a.field[f]);
    if (rc < 0) {
        cJSON_Delete(a.out);
        free(a.next);
        return rc;
    }
    *out = a.out;
    if (next_token)
        *next_token = a.next;
    else
        free(a.next);
    return 0;
}

/* ---- scanning, for consumers that decode the packs themselves ---- */

struct scan_job {
    const char *deployment;
    int64_t after, max, seen;
    store_prediction_fn fn;
    void *cls;
    struct cap_buf field[F_COUNT];
};

static int scan_row(void *cls, int64_t id, const struct store_prediction *r,
                    struct cap_error *err)
{
    struct scan_job *a = cls;
    if (id <= a->after)
        return 0;
    if (a->seen == a->max)
        return 1;
    int rc = a->fn(a->cls, id, r, err);
    if (rc != 0)
        return rc; /* 1: the consumer stops before this row */
    a->seen++;
    a->after = id;
    return 0;
}

static int run_scan(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct scan_job *a = arg;
    static const char by_dep[] = "SELECT id, deployment, data FROM prediction_segments "
                                 "WHERE deployment = ?1 AND id >= ?2 ORDER BY id";
    static const char all[] = "SELECT id, deployment, data FROM prediction_segments "
                              "WHERE id >= ?2 ORDER BY id";
    struct sq_stmt *st = store_sq_stmt_bind(
        c, a->deployment ? by_dep : all,
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_INT(a->after < 0 ? 0 : a->after >> SEG_SHIFT)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step = SQ_DONE;
    bool full = false;
    while (!full && rc == 0 && (step = sq_step(st)) == SQ_ROW)
        rc = walk_segment(sq_col_int(st, 0), store_sq_col_text(st, 1),
                          sq_col_blob(st, 2), (size_t)sq_col_bytes(st, 2),
                          a->field, scan_row, a, &full, err);
    if (rc == 0 && !full && step != SQ_DONE)
        rc = store_sq_dberr(c, err, "scanning the prediction log");
    sq_reset(st);
    return rc;
}

int store_sq_predictions_scan(void *impl, const char *deployment, int64_t after_id,
                              int64_t max_rows, store_prediction_fn fn, void *cls,
                              int64_t *last_id, struct cap_error *err)
{
    struct scan_job a = {.deployment = deployment, .after = after_id < 0 ? -1 : after_id,
                         .max = max_rows, .fn = fn, .cls = cls};
    int rc = store_sq_read(impl, run_scan, &a, err);
    for (int f = 0; f < F_COUNT; f++)
        cap_buf_free(&a.field[f]);
    *last_id = a.after;
    return rc;
}

/* ---- a deployment's answers in a time range ---- */

struct range_job {
    const char *deployment;
    int64_t from, to;
    store_prediction_fn fn;
    void *cls;
    struct cap_buf field[F_COUNT];
};

static int range_row(void *cls, int64_t id, const struct store_prediction *r,
                     struct cap_error *err)
{
    struct range_job *a = cls;
    if (r->timestamp_ms < a->from || r->timestamp_ms >= a->to || !answering(r->role))
        return 0;
    return a->fn(a->cls, id, r, err);
}

static int run_range(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct range_job *a = arg;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT id, data FROM prediction_segments WHERE deployment = ?1 AND ts_last >= ?2 "
           "AND ts_first < ?3 ORDER BY id",
        SQ_ARGS(SQ_TEXT(a->deployment), SQ_INT(a->from), SQ_INT(a->to)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0, step = SQ_DONE;
    bool stopped = false;
    while (!stopped && rc == 0 && (step = sq_step(st)) == SQ_ROW)
        rc = walk_segment(sq_col_int(st, 0), a->deployment,
                          sq_col_blob(st, 1), (size_t)sq_col_bytes(st, 1),
                          a->field, range_row, a, &stopped, err);
    if (rc == 0 && !stopped && step != SQ_DONE)
        rc = store_sq_dberr(c, err, "reading the prediction log");
    sq_reset(st);
    return rc;
}

int store_sq_predictions_range(void *impl, const char *deployment, int64_t from_ms,
                               int64_t to_ms, store_prediction_fn fn, void *cls,
                               struct cap_error *err)
{
    struct range_job a = {.deployment = deployment, .from = from_ms, .to = to_ms, .fn = fn,
                          .cls = cls};
    int rc = store_sq_read(impl, run_range, &a, err);
    for (int f = 0; f < F_COUNT; f++)
        cap_buf_free(&a.field[f]);
    return rc;
}

/* ---- finding requests by id ---- */

/* A candidate: the id asked for at index i may be in segment seg. */
struct want {
    int64_t seg;
    size_t i;
};

struct find_job {
    const char *deployment;
    const char *const *ids;
    size_t n;
    store_found_fn fn;
    void *cls;
    struct want *w; /* sorted by segment */
    size_t nw, cap, at, end; /* the wants of the segment being walked: [at, end) */
    struct cap_buf field[F_COUNT];
};

static int want_cmp(const void *a, const void *b)
{
    const struct want *x = a, *y = b;
    return x->seg < y->seg ? -1 : x->seg > y->seg ? 1 : (x->i > y->i) - (x->i < y->i);
}

static void add_want(void *cls, size_t i, int64_t seg)
{
    struct find_job *a = cls;
    if (a->nw == a->cap)
        a->w = cap_xrealloc(a->w, (a->cap = a->cap * 2 + 16) * sizeof *a->w);
    a->w[a->nw++] = (struct want){seg, i};
}

/* The segments that may hold each id, from the id index, in segment order. */
static int find_candidates(struct sq *s, struct sq_conn *c, struct find_job *a,
                           struct cap_error *err)
{
    int64_t *keys = cap_xmalloc(a->n * sizeof *keys);
    for (size_t i = 0; i < a->n; i++)
        keys[i] = request_key(a->deployment, a->ids[i]);
    int rc = store_sq_keys_lookup(s->keys, c, a->deployment, keys, a->n, add_want, a, err);
    free(keys);
    if (rc < 0 || a->nw == 0)
        return rc;
    qsort(a->w, a->nw, sizeof *a->w, want_cmp);
    size_t n = 0; /* an id logged twice in a segment has two keys there: one want */
    for (size_t k = 0; k < a->nw; k++)
        if (n == 0 || want_cmp(&a->w[k], &a->w[n - 1]) != 0)
            a->w[n++] = a->w[k];
    a->nw = n;
    return 0;
}

static int found_row(void *cls, int64_t id, const struct store_prediction *r,
                     struct cap_error *err)
{
    struct find_job *a = cls;
    if (!r->request_id || !answering(r->role))
        return 0;
    for (size_t k = a->at; k < a->end; k++) {
        size_t i = a->w[k].i;
        if (strcmp(a->ids[i], r->request_id) == 0) {
            int rc = a->fn(a->cls, i, r, err);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int run_find(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct find_job *a = arg;
    int rc = find_candidates(s, c, a, err);
    for (size_t k = 0; k < a->nw && rc == 0; k = a->end) {
        a->at = k;
        a->end = k + 1;
        while (a->end < a->nw && a->w[a->end].seg == a->w[k].seg)
            a->end++;
        struct sq_stmt *st = store_sq_stmt_bind(
            c, "SELECT data FROM prediction_segments WHERE id = ?1 AND deployment = ?2",
            SQ_ARGS(SQ_INT(a->w[k].seg), SQ_TEXT(a->deployment)), err);
        if (!st)
            return -CAP_EINTERNAL;
        bool stopped = false;
        int step = sq_step(st);
        if (step == SQ_ROW)
            rc = walk_segment(a->w[k].seg, a->deployment, sq_col_blob(st, 0),
                              (size_t)sq_col_bytes(st, 0), a->field, found_row, a,
                              &stopped, err);
        else if (step != SQ_DONE) /* DONE: trimmed since the key was read */
            rc = store_sq_dberr(c, err, "finding logged requests");
        sq_reset(st);
    }
    return rc;
}

int store_sq_predictions_find(void *impl, const char *deployment, const char *const *ids,
                              size_t n, store_found_fn fn, void *cls, struct cap_error *err)
{
    struct find_job a = {.deployment = deployment, .ids = ids, .n = n, .fn = fn, .cls = cls};
    int rc = store_sq_read(impl, run_find, &a, err);
    for (int f = 0; f < F_COUNT; f++)
        cap_buf_free(&a.field[f]);
    free(a.w);
    return rc;
}

/* ---- trimming ---- */

struct trim_job {
    int64_t keep, reader_from, *unread;
};

/* *seg: the oldest of the newest segments that hold at least rows rows,
 * or -1 when all of them hold fewer. */
static int newest_holding(struct sq_conn *c, int64_t rows, int64_t *seg, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT id FROM (SELECT id, SUM(n) OVER (ORDER BY id DESC) AS kept "
           "FROM prediction_segments) k WHERE kept >= ?1 ORDER BY id DESC LIMIT 1",
        SQ_ARGS(SQ_INT(rows)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int step = sq_step(st);
    *seg = step == SQ_ROW ? sq_col_int(st, 0) : -1;
    int rc = step == SQ_ROW || step == SQ_DONE
                 ? 0
                 : store_sq_dberr(c, err, "trimming the prediction log");
    sq_reset(st);
    return rc;
}

/* The reader's rows in segments [from_seg, bound) that the trim drops. */
static int count_unread(struct sq_conn *c, int64_t reader_from, int64_t bound, int64_t *unread,
                        struct cap_error *err)
{
    int64_t from_seg = reader_from >> SEG_SHIFT;
    struct sq_stmt *st = store_sq_stmt_bind(
        c, "SELECT COALESCE(SUM(n), 0), COALESCE(MIN(id), -1) FROM prediction_segments "
           "WHERE id >= ?1 AND id < ?2",
        SQ_ARGS(SQ_INT(from_seg), SQ_INT(bound)), err);
    if (!st)
        return -CAP_EINTERNAL;
    int rc = 0;
    if (sq_step(st) == SQ_ROW) {
        *unread = sq_col_int(st, 0);
        if (sq_col_int(st, 1) == from_seg) /* rows it read of its first segment */
            *unread -= reader_from & ((1 << SEG_SHIFT) - 1);
    } else {
        rc = store_sq_dberr(c, err, "trimming the prediction log");
    }
    sq_reset(st);
    return rc;
}

/* Drops the oldest segments, keeping the newest ones that hold at least
 * keep rows, and the reader's unread ones within the cap. */
static int job_trim(struct sq *s, struct sq_conn *c, void *arg, struct cap_error *err)
{
    struct trim_job *a = arg;
    int64_t bound, cap;
    int rc = newest_holding(c, a->keep, &bound, err);
    if (rc < 0 || bound < 0)
        return rc; /* fewer than keep rows: nothing goes */
    if (a->reader_from >= 0) {
        int64_t from_seg = a->reader_from >> SEG_SHIFT;
        int64_t limit = a->keep > INT64_MAX / STORE_TRIM_READER_CAP
                            ? INT64_MAX
                            : a->keep * STORE_TRIM_READER_CAP;
        if ((rc = newest_holding(c, limit, &cap, err)) < 0)
            return rc;
        if (from_seg < bound)
            bound = from_seg > cap ? from_seg : cap;
        if (a->unread && from_seg < bound &&
            (rc = count_unread(c, a->reader_from, bound, a->unread, err)) < 0)
            return rc;
    }
    if ((rc = store_sq_run(c, "DELETE FROM prediction_keys WHERE seg < ?1",
                           SQ_ARGS(SQ_INT(bound)), err, "trimming the prediction log")) < 0)
        return rc;
    return store_sq_run(c, "DELETE FROM prediction_segments WHERE id < ?1",
                        SQ_ARGS(SQ_INT(bound)), err, "trimming the prediction log");
}

int store_sq_predictions_trim(void *impl, int64_t keep_rows, int64_t reader_from,
                              int64_t *unread, struct cap_error *err)
{
    struct trim_job a = {.keep = keep_rows, .reader_from = reader_from, .unread = unread};
    if (unread)
        *unread = 0;
    return store_sq_write(impl, job_trim, &a, err);
}

/* ---- migration 5 ---- */

int store_sq_predictions_upgrade(struct sq_conn *c, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_prepare(
        c,
        "SELECT ts, deployment, model_name, model_version, role, request_id, latency_us, "
        "inputs, outputs, agree FROM predictions_v4 ORDER BY id",
        err);
    if (!st)
        return -CAP_EINTERNAL;
    /* The rows point into SQLite's memory, valid until the next step: copy
     * a batch at a time into one buffer of strings. */
    enum { BATCH = 512 };
    struct store_prediction rows[BATCH];
    struct cap_buf mem[BATCH];
    for (int i = 0; i < BATCH; i++)
        cap_buf_init(&mem[i]);
    int rc = 0, step, n = 0;
    int64_t total = 0;
    for (;;) {
        step = sq_step(st);
        if (step == SQ_ROW) {
            struct cap_buf *m = &mem[n];
            cap_buf_reset(m);
            size_t off[8];
            for (int col = 1; col <= 5; col++) {
                off[col] = m->len;
                const char *t = store_sq_col_text(st, col);
                cap_buf_append(m, t ? t : "", t ? strlen(t) + 1 : 1);
            }
            off[6] = m->len;
            size_t li = (size_t)sq_col_bytes(st, 7);
            const void *bi = sq_col_blob(st, 7);
            cap_buf_append(m, bi, li);
            off[7] = m->len;
            size_t lo = (size_t)sq_col_bytes(st, 8);
            const void *bo = sq_col_blob(st, 8);
            cap_buf_append(m, bo, lo);
            rows[n] = (struct store_prediction){
                .timestamp_ms = sq_col_int(st, 0),
                .deployment = m->data + off[1],
                .model_name = m->data + off[2],
                .model_version = m->data + off[3],
                .role = m->data + off[4],
                .request_id = sq_col_null(st, 5) ? NULL : m->data + off[5],
                .latency_us = sq_col_int(st, 6),
                .inputs = bi ? m->data + off[6] : NULL,
                .inputs_len = li,
                .outputs = bo ? m->data + off[7] : NULL,
                .outputs_len = lo,
                .agree = sq_col_null(st, 9) ? -1
                                                                   : sq_col_int(st, 9) != 0,
            };
            n++;
        }
        if ((step != SQ_ROW && n > 0) || n == BATCH) {
            total += n;
            rc = log_rows(c, rows, (size_t)n, false, err); /* keys: migration 7 */
            n = 0;
            if (rc < 0)
                break;
        }
        if (step != SQ_ROW)
            break;
    }
    if (rc == 0 && step != SQ_DONE)
        rc = store_sq_dberr(c, err, "reading the prediction log of schema 4");
    sq_finalize(st);
    for (int i = 0; i < BATCH; i++)
        cap_buf_free(&mem[i]);
    if (rc == 0)
        rc = store_sq_exec(c, "DROP TABLE predictions_v4", err);
    if (rc == 0 && total > 0)
        cap_log(CAP_LOG_INFO, "store: %" PRId64 " logged predictions rewritten as segments",
                total);
    return rc;
}

/* ---- migration 7 ---- */

static int backfill_row(void *cls, int64_t id, const struct store_prediction *r,
                        struct cap_error *err)
{
    struct seg *g = cls;
    if (!r->request_id || !answering(r->role))
        return 0;
    put_key(&g->keys, request_key(r->deployment, r->request_id));
    g->n++;
    return 0;
}

/* The key index of the requests logged before it existed, a segment at a
 * time in segment order (the order keys_trim relies on). */
int store_sq_prediction_keys_backfill(struct sq_conn *c, struct cap_error *err)
{
    struct sq_stmt *st = store_sq_prepare(
        c, "SELECT id, deployment, data FROM prediction_segments ORDER BY id", err);
    if (!st)
        return -CAP_EINTERNAL;
    struct cap_buf field[F_COUNT] = {0};
    struct seg g = {.index = true};
    cap_buf_init(&g.keys);
    int rc = 0, step = SQ_DONE;
    int64_t n = 0;
    while (rc == 0 && (step = sq_step(st)) == SQ_ROW) {
        int64_t seg = sq_col_int(st, 0);
        bool stopped = false;
        g.deployment = store_sq_col_text(st, 1);
        g.n = 0;
        rc = walk_segment(seg, g.deployment, sq_col_blob(st, 2),
                          (size_t)sq_col_bytes(st, 2), field, backfill_row, &g,
                          &stopped, err);
        n += g.n;
        if (rc == 0 && g.keys.len > 0)
            rc = store_sq_run(c, "INSERT INTO prediction_keys(seg, deployment, keys) "
                                 "VALUES (?, ?, ?)",
                              SQ_ARGS(SQ_INT(seg), SQ_TEXT(g.deployment),
                                      SQ_BLOB(g.keys.data, g.keys.len)),
                              err, "indexing the prediction log");
        g.keys.len = 0;
    }
    if (rc == 0 && step != SQ_DONE)
        rc = store_sq_dberr(c, err, "indexing the prediction log");
    sq_finalize(st);
    for (int f = 0; f < F_COUNT; f++)
        cap_buf_free(&field[f]);
    cap_buf_free(&g.keys);
    if (rc == 0 && n > 0)
        cap_log(CAP_LOG_INFO, "store: %" PRId64 " logged requests indexed by id", n);
    return rc;
}
