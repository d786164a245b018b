/* labels.c - labels in (join.h, fb_labels_put): checked whole, joined to
 * the logged requests by id, stored in one transaction. Nothing is stored
 * when any item is refused. */
#include <inttypes.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/alert.h"
#include "base/buf.h"
#include "base/util.h"
#include "feedback/ids.h"
#include "feedback/join.h"
#include "monitor/predlog.h"
#include "store/store.h"

/* One item of the request, checked. */
struct item {
    const char *id;              /* as sent */
    char base[FB_ID_MAX + 1];
    int64_t row;                 /* -1: "<id>" */
    const cJSON *label;          /* "label" or "value" as sent */
    bool value_key;              /* it came as "value" */
    int64_t time_ms;             /* -1: none */
    size_t req;                  /* index into the distinct requests */
};

/* A distinct request id of the batch and the logged request it names. */
struct request {
    const char *id;
    size_t nitems;               /* the batch's items naming it */
    bool found;
    int64_t ts;
    char *model_version;
    void *outputs;
    size_t outputs_len;
    int read;                    /* preds: 0 not read, 1 read, -1 fb_preds_read refused */
    struct fb_pred *preds;       /* every row, for a request of several items */
    size_t npreds;
};

/* "2026-12-05T10:00:00Z" or with a fraction of a second, UTC only. */
static int parse_time(const cJSON *t, size_t i, int64_t *out, struct cap_error *err)
{
    if (cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < 1e15 &&
        t->valuedouble == floor(t->valuedouble)) {
        *out = (int64_t)t->valuedouble;
        return 0;
    }
    struct tm tm = {0};
    const char *end = cJSON_IsString(t) ? strptime(t->valuestring, "%Y-%m-%dT%H:%M:%S", &tm)
                                        : NULL;
    double frac = 0;
    if (end && *end == '.') {
        char *e2 = NULL;
        frac = strtod(end, &e2);
        end = e2;
    }
    if (!end || strcmp(end, "Z") != 0)
        return cap_err(err, CAP_EINVAL,
                       "labels[%zu].time must be milliseconds since the epoch or an RFC 3339 "
                       "UTC time such as 2026-12-05T10:00:00Z",
                       i);
    *out = (int64_t)timegm(&tm) * 1000 + (int64_t)llround(frac * 1000);
    return 0;
}

static int check_label(const cJSON *o, size_t i, struct item *it, struct cap_error *err)
{
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(o, "label");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
    if (!!label == !!value)
        return cap_err(err, CAP_EINVAL,
                       "labels[%zu] must have exactly one of \"label\" (a classifier's class) "
                       "and \"value\" (a regressor's target)",
                       i);
    it->label = label ? label : value;
    it->value_key = value != NULL;
    if (value && !(cJSON_IsNumber(value) && isfinite(value->valuedouble)))
        return cap_err(err, CAP_EINVAL, "labels[%zu].value must be a finite number", i);
    if (label && !cJSON_IsString(label) &&
        !(cJSON_IsNumber(label) && isfinite(label->valuedouble)))
        return cap_err(err, CAP_EINVAL, "labels[%zu].label must be a string or a number", i);
    if (label && cJSON_IsString(label) && !label->valuestring[0])
        return cap_err(err, CAP_EINVAL, "labels[%zu].label must not be empty", i);
    return 0;
}

static int check_item(const cJSON *o, size_t i, struct item *it, struct cap_error *err)
{
    if (!cJSON_IsObject(o))
        return cap_err(err, CAP_EINVAL,
                       "labels[%zu] must be an object {\"id\", \"label\" | \"value\", \"time\"?}",
                       i);
    for (const cJSON *k = o->child; k; k = k->next)
        if (strcmp(k->string, "id") && strcmp(k->string, "label") &&
            strcmp(k->string, "value") && strcmp(k->string, "time"))
            return cap_err(err, CAP_EINVAL,
                           "labels[%zu] has an unknown field '%.64s': expected id, label, value "
                           "and time",
                           i, k->string);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsString(id))
        return cap_err(err, CAP_EINVAL, "labels[%zu].id must be a string: <id> or <id>/<row>", i);
    it->id = id->valuestring;
    struct cap_error e = {0};
    if (fb_id_parse(it->id, it->base, &it->row, &e) < 0)
        return cap_err(err, CAP_EINVAL, "labels[%zu]: %s", i, e.msg);
    int rc = check_label(o, i, it, err);
    if (rc < 0)
        return rc;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "time");
    it->time_ms = -1;
    return t ? parse_time(t, i, &it->time_ms, err) : 0;
}

static int by_base(const void *a, const void *b)
{
    const struct item *const *x = a, *const *y = b;
    return strcmp((*x)->base, (*y)->base);
}

/* Gives each item the index of its request among the distinct ids (a sort:
 * 10,000 distinct ids compared pairwise would cost 50 million strcmp). */
static void distinct_requests(struct item *items, size_t n, struct request *reqs, size_t *nreq)
{
    struct item **order = cap_xmalloc(n * sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = &items[i];
    qsort(order, n, sizeof *order, by_base);
    *nreq = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(order[i]->base, order[i - 1]->base) != 0)
            reqs[(*nreq)++].id = order[i]->base;
        order[i]->req = *nreq - 1;
        reqs[*nreq - 1].nitems++;
    }
    free(order);
}

/* The items, and the distinct request ids they name (reqs[k].id). */
static int check_items(const cJSON *labels, struct item **items, size_t *n,
                       struct request **reqs, size_t *nreq, struct cap_error *err)
{
    int count = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : -1;
    if (count < 1 || count > FB_LABELS_MAX)
        return count < 0 ? cap_err(err, CAP_EINVAL, "\"labels\" must be an array of 1 to %d "
                                   "labels", FB_LABELS_MAX)
                         : cap_err(err, CAP_EINVAL, "\"labels\" holds %d labels: send 1 to %d "
                                   "a request", count, FB_LABELS_MAX);
    *items = cap_xcalloc((size_t)count, sizeof **items);
    *reqs = cap_xcalloc((size_t)count, sizeof **reqs);
    size_t i = 0;
    for (const cJSON *o = labels->child; o; o = o->next, i++) {
        int rc = check_item(o, i, &(*items)[i], err);
        if (rc < 0)
            return rc;
    }
    *n = i;
    distinct_requests(*items, i, *reqs, nreq);
    return 0;
}

/* ---- the join ---- */

struct finding {
    struct request *reqs;
    const size_t *map; /* ids asked -> reqs */
};

/* The latest logged request of an id (a client may reuse one). */
static int found(void *cls, size_t i, const struct store_prediction *r, struct cap_error *err)
{
    struct finding *f = cls;
    struct request *q = &f->reqs[f->map[i]];
    if (q->found && q->ts > r->timestamp_ms)
        return 0;
    free(q->model_version);
    free(q->outputs);
    q->found = true;
    q->ts = r->timestamp_ms;
    q->model_version = cap_xstrdup(r->model_version);
    q->outputs_len = r->outputs ? r->outputs_len : 0;
    q->outputs = q->outputs_len ? cap_xmalloc(q->outputs_len) : NULL;
    if (q->outputs_len)
        memcpy(q->outputs, r->outputs, q->outputs_len);
    return 0;
}

/* Looks up the requests not found yet; *missing says how many remain. */
static int lookup(struct store *st, const char *deployment, struct request *reqs, size_t nreq,
                  size_t *missing, struct cap_error *err)
{
    const char **ids = cap_xmalloc((nreq ? nreq : 1) * sizeof *ids);
    size_t *map = cap_xmalloc((nreq ? nreq : 1) * sizeof *map), n = 0;
    for (size_t k = 0; k < nreq; k++)
        if (!reqs[k].found) {
            ids[n] = reqs[k].id;
            map[n++] = k;
        }
    struct finding f = {reqs, map};
    int rc = n ? store_predictions_find(st, deployment, ids, n, found, &f, err) : 0;
    *missing = 0;
    for (size_t k = 0; k < nreq; k++)
        *missing += !reqs[k].found;
    free(ids);
    free(map);
    return rc;
}

/* The label as the model's kind of answer wants it: a class as text for a
 * classifier (*text, owned), a number for a regressor. */
static int label_for(const struct item *it, size_t i, const struct fb_pred *p, char **text,
                     double *value, struct cap_error *err)
{
    const cJSON *l = it->label;
    *text = NULL;
    if (!p->classifier) {
        if (!cJSON_IsNumber(l))
            return cap_err(err, CAP_EINVAL,
                           "labels[%zu]: the deployment's model is a regressor: expected a "
                           "number as \"value\", not the text '%.64s'",
                           i, l->valuestring);
        *value = l->valuedouble;
        return 0;
    }
    if (it->value_key || (cJSON_IsNumber(l) && (l->valuedouble != floor(l->valuedouble) ||
                                                fabs(l->valuedouble) > 9e15)))
        return cap_err(err, CAP_EINVAL,
                       "labels[%zu]: the deployment's model is a classifier: expected a class "
                       "as \"label\" (text or a whole number)",
                       i);
    if (cJSON_IsString(l)) {
        *text = cap_xstrdup(l->valuestring);
    } else {
        char b[32];
        snprintf(b, sizeof b, "%" PRId64, (int64_t)l->valuedouble);
        *text = cap_xstrdup(b);
    }
    return 0;
}

/* Everything one request holds, freed at once. */
struct batch {
    struct item *items;
    size_t n;
    struct request *reqs;
    size_t nreq;
    struct fb_pred *preds;
    char **texts;
    struct store_label *labels;
    size_t nlabels;
};

static void batch_free(struct batch *b)
{
    for (size_t k = 0; k < b->nreq; k++) {
        struct request *q = &b->reqs[k];
        free(q->model_version);
        free(q->outputs);
        for (size_t r = 0; r < q->npreds; r++)
            fb_pred_free(&q->preds[r]);
        free(q->preds);
    }
    for (size_t i = 0; b->preds && i < b->n; i++) {
        fb_pred_free(&b->preds[i]);
        free(b->texts[i]);
    }
    free(b->items);
    free(b->reqs);
    free(b->preds);
    free(b->texts);
    free(b->labels);
}

/* What the logged request of item i said about its row, as fb_pred_read
 * answers (-CAP_ENOTFOUND: no such row). A request named by several items
 * is walked once for all of them (fb_pred_read per item would walk its pack
 * and copy its tensors once per label); a pack that fb_preds_read refuses
 * is read per row as before, since which rows it lacks depends on the row. */
static int pred_of(struct batch *b, size_t i, const struct fb_pred **p, struct cap_error *e)
{
    const struct item *it = &b->items[i];
    struct request *q = &b->reqs[it->req];
    size_t row = it->row < 0 ? 0 : (size_t)it->row;
    if (q->nitems > 1 && q->read == 0) {
        struct cap_error ignored = {0};
        int rc = fb_preds_read(q->outputs, q->outputs_len, &q->preds, &q->npreds, &ignored);
        q->read = rc == 0 ? 1 : -1;
    }
    if (q->read > 0) {
        *p = row < q->npreds ? &q->preds[row] : NULL;
        return *p ? 0 : -CAP_ENOTFOUND;
    }
    *p = &b->preds[i];
    return fb_pred_read(q->outputs, q->outputs_len, it->row, &b->preds[i], e);
}

/* Joins item i; 1 when its id is unknown. */
static int join_item(struct batch *b, size_t i, const struct fb_sink *sink,
                     const char *deployment, struct cap_error *err)
{
    struct item *it = &b->items[i];
    struct request *q = &b->reqs[it->req];
    if (!q->found)
        return 1;
    const struct fb_pred *p = NULL;
    struct cap_error e = {0};
    int rc = pred_of(b, i, &p, &e);
    if (rc == -CAP_ENOTFOUND)
        return 1; /* a row beyond the request's */
    if (rc < 0)
        return cap_err(err, e.code, "labels[%zu]: %s", i, e.msg);
    if (it->row < 0 && p->rows > 1)
        return cap_err(err, CAP_EINVAL,
                       "labels[%zu]: request '%s' has %" PRId64 " rows: name one as %s/<row> "
                       "(0 to %" PRId64 ")",
                       i, it->base, p->rows, it->base, p->rows - 1);
    double value = 0;
    if ((rc = label_for(it, i, p, &b->texts[i], &value, err)) < 0)
        return rc;
    b->labels[b->nlabels++] = (struct store_label){
        .deployment = deployment, .request_id = it->base, .row = it->row < 0 ? 0 : it->row,
        .label = b->texts[i], .value = value, .label_ms = it->time_ms,
        .received_ms = sink->now_ms, .source = sink->source, .pred_ms = q->ts,
        .model_version = q->model_version, .prediction = p->classifier ? p->prediction : NULL,
        .pred_value = p->value, .scores = p->scores, .nscores = p->nscores};
    return 0;
}

/* Each detector's batch to the concept_drift rules that watch it: its drifts
 * in the batch, the batch numbered by the labels it had seen after it (an
 * alert window id that grows). Failures are logged: the labels stand. */
static void alert_detections(const struct fb_sink *sink, const char *deployment,
                             const struct fb_feed *f)
{
    for (size_t k = 0; k < f->n; k++) {
        const struct store_detector_step *d = &f->steps[k];
        int drifts = 0;
        for (size_t i = 0; i < d->ndetections; i++)
            drifts += strcmp(d->detections[i].kind, "drift") == 0;
        cJSON *w = cJSON_CreateObject();
        cJSON_AddNumberToObject(w, "width_s", 0);
        cJSON_AddNumberToObject(w, "end_ms", (double)d->at_ms);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(w, "concept_drift"), d->name, drifts);
        struct cap_error e = {0};
        if (d->seen > 0 && alert_on_window(sink->alert, deployment, d->seen, w, &e) < 0)
            cap_log(CAP_LOG_WARN, "feedback: detector '%s' of '%s' not judged: %s", d->name,
                    deployment, e.msg);
        cJSON_Delete(w);
    }
}

/* Feeds the detectors and stores their steps with the labels. With
 * detectors, one batch at a time: two batches fed from the same stored
 * state would lose one's steps (the lock spans one group commit). Without,
 * no lock: a detector created meanwhile starts from a fresh state anyway
 * and is fed from the next batch. Serializing every batch cost a third of
 * the ingest rate (bench/feedback/ingest.py: 137k -> 95k labels/s). */
static int put_with_detectors(const struct fb_sink *sink, const char *deployment,
                              struct batch *b, struct cap_error *err)
{
    static pthread_mutex_t one = PTHREAD_MUTEX_INITIALIZER;
    struct fb_feed f = {0};
    int rc = fb_feed_detectors(&f, sink->store, deployment, b->labels, b->nlabels, sink->now_ms,
                               err);
    if (rc == 0 && f.n == 0) {
        rc = store_labels_put(sink->store, b->labels, b->nlabels, NULL, 0, err);
    } else if (rc == 0) {
        fb_feed_free(&f); /* fed from a state another batch may be moving: again, locked */
        pthread_mutex_lock(&one);
        rc = fb_feed_detectors(&f, sink->store, deployment, b->labels, b->nlabels,
                               sink->now_ms, err);
        if (rc == 0)
            rc = store_labels_put(sink->store, b->labels, b->nlabels, f.steps, f.n, err);
        pthread_mutex_unlock(&one);
    }
    if (rc == 0 && sink->alert)
        alert_detections(sink, deployment, &f);
    fb_feed_free(&f);
    return rc;
}

int fb_labels_put(const struct fb_sink *sink, const char *deployment, const cJSON *labels,
                  cJSON **out, struct cap_error *err)
{
    *out = NULL;
    struct batch b = {0};
    size_t missing = 0;
    int rc = check_items(labels, &b.items, &b.n, &b.reqs, &b.nreq, err);
    if (rc == 0)
        rc = lookup(sink->store, deployment, b.reqs, b.nreq, &missing, err);
    if (rc == 0 && missing && sink->log) { /* maybe still queued for the log: write, look again */
        predlog_flush(sink->log);
        rc = lookup(sink->store, deployment, b.reqs, b.nreq, &missing, err);
    }
    cJSON *unknown = cJSON_CreateArray();
    if (rc == 0) {
        b.preds = cap_xcalloc(b.n, sizeof *b.preds);
        b.texts = cap_xcalloc(b.n, sizeof *b.texts);
        b.labels = cap_xcalloc(b.n, sizeof *b.labels);
    }
    for (size_t i = 0; rc == 0 && i < b.n; i++) {
        rc = join_item(&b, i, sink, deployment, err);
        if (rc == 1) {
            cJSON_AddItemToArray(unknown, cJSON_CreateString(b.items[i].id));
            rc = 0;
        }
    }
    if (rc == 0 && sink->joined)
        rc = sink->joined(sink->joined_cls, b.nlabels, err);
    if (rc == 0)
        rc = put_with_detectors(sink, deployment, &b, err);
    if (rc == 0) { /* stored: a failed judgement is logged, the labels stand */
        struct cap_error e = {0};
        if (fb_judge_windows(sink, deployment, b.labels, b.nlabels, &e) < 0)
            cap_log(CAP_LOG_WARN, "feedback: quality windows of '%s' not judged: %s",
                    deployment, e.msg);
    }
    if (rc == 0) {
        *out = cJSON_CreateObject();
        cJSON_AddNumberToObject(*out, "accepted", (double)b.nlabels);
        cJSON_AddItemToObject(*out, "unknown", unknown);
    } else {
        cJSON_Delete(unknown);
    }
    batch_free(&b);
    return rc;
}
