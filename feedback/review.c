/* review.c - the human review queue (join.h): a deployment's rule sends
 * logged predictions to review (a classifier's confidence below a
 * threshold, or a deterministic sampled share), the queue is filled from
 * the prediction log by the rule's cursor when it is read, and a
 * reviewer's label goes through fb_labels_put like any other label. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"
#include "feedback/feedback.h"
#include "feedback/rows.h"
#include "monitor/predlog.h"
#include "store/store.h"

/* Logged requests read per fill; a fill stops after FILL_MAX of them so a
 * read of the queue never waits on a whole day of log (the next read goes
 * on from the cursor). */
#define FILL_SCAN 1000
#define FILL_MAX 100000

struct rule {
    double confidence_below;     /* 0: not a criterion */
    double sample;               /* 0: not a criterion */
    int64_t max_pending;
};

static int bad(struct cap_error *err, const char *field, const char *expected)
{
    return cap_err(err, CAP_EINVAL, "Invalid value for '%s' in review rule: expected %s", field,
                   expected);
}

static int rule_read(const cJSON *o, struct rule *r, struct cap_error *err)
{
    *r = (struct rule){.max_pending = 1000};
    if (!cJSON_IsObject(o))
        return cap_err(err, CAP_EINVAL, "'rule' must be an object {\"confidence_below\"?, "
                                        "\"sample\"?, \"max_pending\"?}");
    for (const cJSON *f = o->child; f; f = f->next) {
        double v = cJSON_IsNumber(f) ? f->valuedouble : NAN;
        if (strcmp(f->string, "confidence_below") == 0) {
            if (!(v > 0 && v <= 1))
                return bad(err, f->string, "a probability above 0 and at most 1");
            r->confidence_below = v;
        } else if (strcmp(f->string, "sample") == 0) {
            if (!(v > 0 && v <= 1))
                return bad(err, f->string, "a share above 0 and at most 1");
            r->sample = v;
        } else if (strcmp(f->string, "max_pending") == 0) {
            if (!(v >= 1 && v <= 100000 && v == floor(v)))
                return bad(err, f->string, "an integer from 1 to 100000");
            r->max_pending = (int64_t)v;
        } else {
            return cap_err(err, CAP_EINVAL,
                           "Unknown field '%.60s' in review rule: expected confidence_below, "
                           "sample, max_pending",
                           f->string);
        }
    }
    if (!r->confidence_below && !r->sample)
        return cap_err(err, CAP_EINVAL,
                       "A review rule needs confidence_below (a classifier's top probability "
                       "below it) or sample (a share of all predictions), or both");
    return 0;
}

static cJSON *rule_json(const struct rule *r)
{
    cJSON *o = cJSON_CreateObject();
    if (r->confidence_below)
        cJSON_AddNumberToObject(o, "confidence_below", r->confidence_below);
    if (r->sample)
        cJSON_AddNumberToObject(o, "sample", r->sample);
    cJSON_AddNumberToObject(o, "max_pending", (double)r->max_pending);
    return o;
}

int fb_review_rule_put(struct store *st, const char *deployment, const cJSON *rule, cJSON **out,
                       struct cap_error *err)
{
    struct rule r;
    *out = NULL;
    int rc = rule_read(rule, &r, err);
    if (rc < 0)
        return rc;
    cJSON *canon = rule_json(&r);
    char *text = cJSON_PrintUnformatted(canon);
    cJSON_Delete(canon);
    rc = store_review_rule_put(st, deployment, text, err);
    free(text);
    return rc < 0 ? rc : store_review_rule_get(st, deployment, out, err);
}

int fb_reviewer_check(const char *name, struct cap_error *err)
{
    size_t n = strlen(name);
    bool ok = n >= 1 && n <= 64 &&
              strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") == n;
    return ok ? 0 : cap_err(err, CAP_EINVAL,
                            "Invalid reviewer '%.64s': expected 1 to 64 letters, digits, '.', "
                            "'_', '@' or '-'",
                            name);
}

/* ---- filling the queue from the log ----
 * In log order: rows meeting the rule are queued until max_pending are
 * pending; then the cursor waits before the next request, so no logged
 * prediction is passed over while the log still holds it. */

struct fill {
    struct rule rule;
    const char *deployment;
    int64_t room;                /* items the queue still takes */
    struct store_review_item *items;
    char **texts;                /* the items' strings (owned), three each */
    size_t n, cap;
    int64_t seen;
};

/* A deterministic share: the row id's hash, so a row is sampled or not
 * whatever the order of reading. */
static bool sampled(const char *request_id, int64_t row, double share)
{
    char id[FB_ID_MAX + 24];
    int n = snprintf(id, sizeof id, "%s/%" PRId64, request_id, row);
    uint64_t h = cap_fnv1a(CAP_FNV1A_SEED, id, (size_t)n);
    h ^= h >> 29; /* FNV's low bits mix poorly: fold the high ones in */
    return (double)(h >> 11) * 0x1.0p-53 < share;
}

static const char *reason_of(const struct rule *r, const struct fb_pred *p, const char *req,
                             int64_t row)
{
    if (r->confidence_below && p->classifier && p->nscores >= 2) {
        double top = 0;
        for (size_t j = 0; j < p->nscores; j++)
            top = fmax(top, p->scores[j]);
        if (top < r->confidence_below)
            return "low_confidence";
    }
    return r->sample && sampled(req, row, r->sample) ? "sampled" : NULL;
}

/* What the reviewer sees: the row's inputs, the prediction and, for a
 * classifier with scores, each score column's probability (columns named
 * 0..k-1, scikit-learn's classes_ order). */
static char *item_text(const struct store_prediction *r, int64_t row, const struct fb_pred *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "inputs", fb_row_inputs(r->inputs, r->inputs_len, row));
    if (p->classifier)
        cJSON_AddStringToObject(o, "prediction", p->prediction);
    else
        cJSON_AddNumberToObject(o, "prediction", p->value);
    if (p->nscores) {
        cJSON *pr = cJSON_AddObjectToObject(o, "probabilities");
        for (size_t j = 0; j < p->nscores; j++) {
            char k[24];
            snprintf(k, sizeof k, "%zu", j);
            cJSON_AddNumberToObject(pr, k, p->scores[j]);
        }
    }
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return t;
}

static void queue(struct fill *f, const struct store_prediction *r, int64_t row,
                  const char *reason, const struct fb_pred *p)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->items = cap_xrealloc(f->items, f->cap * sizeof *f->items);
        f->texts = cap_xrealloc(f->texts, f->cap * 3 * sizeof *f->texts);
    }
    /* copies: the scan's strings are reused by its next row */
    char *text = item_text(r, row, p), *req = cap_xstrdup(r->request_id);
    char *version = cap_xstrdup(r->model_version);
    f->texts[3 * f->n] = text;
    f->texts[3 * f->n + 1] = req;
    f->texts[3 * f->n + 2] = version;
    f->items[f->n++] = (struct store_review_item){
        .request_id = req, .row = row, .reason = reason, .pred_ms = r->timestamp_ms,
        .model_version = version, .item_json = text};
}

static int on_logged(void *cls, int64_t id, const struct store_prediction *r,
                     struct cap_error *err)
{
    struct fill *f = cls;
    if (f->room <= 0)
        return 1; /* full: the cursor stays before this request until reviewers make room */
    f->seen++;
    if (!r->request_id || strcmp(r->role, "shadow") == 0)
        return 0;
    struct fb_pred *p = NULL;
    size_t n = 0;
    struct cap_error e = {0};
    if (fb_preds_read(r->outputs, r->outputs_len, &p, &n, &e) < 0)
        n = 0; /* no prediction to review */
    for (size_t row = 0; row < n; row++) { /* a request's rows go in together, past max_pending */
        const char *reason = reason_of(&f->rule, &p[row], r->request_id, (int64_t)row);
        if (reason) {
            queue(f, r, (int64_t)row, reason, &p[row]);
            f->room--;
        }
        fb_pred_free(&p[row]);
    }
    free(p);
    return 0;
}

static void fill_free(struct fill *f)
{
    for (size_t i = 0; i < 3 * f->n; i++)
        free(f->texts[i]);
    free(f->texts);
    free(f->items);
}

/* One scan of the log from the cursor, its items queued with the new
 * cursor in one transaction. */
static int fill_step(struct store *st, struct fill *f, int64_t *cursor, bool *more,
                     struct cap_error *err)
{
    int64_t last = *cursor;
    f->seen = 0;
    int rc = store_predictions_scan(st, f->deployment, *cursor, FILL_SCAN, on_logged, f, &last,
                                    err);
    if (rc == 0)
        rc = store_review_queue_add(st, f->deployment, f->items, f->n, last, err);
    for (size_t i = 0; i < 3 * f->n; i++)
        free(f->texts[i]);
    f->n = 0;
    *more = rc == 0 && f->seen == FILL_SCAN;
    *cursor = last;
    return rc;
}

int fb_review_fill(const struct fb_sink *sink, const char *deployment, struct cap_error *err)
{
    cJSON *stored = NULL;
    struct fill f = {.deployment = deployment};
    int rc = store_review_rule_get(sink->store, deployment, &stored, err);
    if (rc == -CAP_ENOTFOUND) {
        cap_err_clear(err);
        return 0; /* no rule: nothing goes to review */
    }
    int64_t pending = 0, cursor = -1;
    if (rc == 0)
        rc = rule_read(cJSON_GetObjectItem(stored, "rule"), &f.rule, err);
    if (rc == 0) {
        cursor = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(stored, "cursor"));
        rc = store_review_count(sink->store, deployment, "pending", &pending, err);
    }
    cJSON_Delete(stored);
    f.room = f.rule.max_pending - pending;
    if (sink->log)
        predlog_flush(sink->log); /* the requests answered before this read */
    bool more = rc == 0;
    for (int64_t read = 0; more && read < FILL_MAX; read += FILL_SCAN)
        rc = fill_step(sink->store, &f, &cursor, &more, err);
    fill_free(&f);
    return rc;
}

/* ---- a reviewer's answer ---- */

/* The item's mark, made by fb_labels_put once the label is checked and
 * joined (fb_sink's joined), just before the label is stored. */
struct mark {
    struct store *st;
    const char *deployment, *id, *base, *label, *reviewer;
    int64_t row, at_ms;
    bool marked;
};

static int mark_joined(void *cls, size_t n, struct cap_error *err)
{
    struct mark *m = cls;
    if (n == 0)
        return cap_err(err, CAP_ENOTFOUND,
                       "Row '%s' is not in the review queue or no longer in the prediction log: "
                       "its label cannot be joined",
                       m->id);
    int rc = store_review_mark(m->st, m->deployment, m->base, m->row, "labelled", m->label,
                               m->reviewer, m->at_ms, err);
    m->marked = rc == 0;
    return rc;
}

/* Stores the label through fb_labels_put (source "review:<reviewer>"), so it
 * is feedback like any other, and marks the item between its join and its
 * store: a label the join refuses (of the wrong kind, its row gone from the
 * log) or a row not queued leaves the item and the labels as they were.
 * Only a failed store write after the mark is undone, to pending: the store
 * has no operation that reads one item, so its prior state is not known. */
int fb_review_label(const struct fb_sink *sink, const char *deployment, const char *id,
                    const cJSON *label, const char *reviewer, cJSON **out,
                    struct cap_error *err)
{
    char base[FB_ID_MAX + 1], text[64], source[80];
    int64_t row;
    int rc;
    *out = NULL;
    if ((rc = fb_id_parse(id, base, &row, err)) < 0 || (rc = fb_reviewer_check(reviewer, err)) < 0)
        return rc;
    if (!cJSON_IsString(label) && !cJSON_IsNumber(label))
        return cap_err(err, CAP_EINVAL, "'label' must be a class (text or a number)");
    if (cJSON_IsNumber(label))
        snprintf(text, sizeof text, "%.17g", label->valuedouble);
    struct mark m = {.st = sink->store, .deployment = deployment, .id = id, .base = base,
                     .label = cJSON_IsString(label) ? label->valuestring : text,
                     .reviewer = reviewer, .row = row < 0 ? 0 : row, .at_ms = cap_now_ms()};
    snprintf(source, sizeof source, "review:%s", reviewer);
    struct fb_sink s = *sink;
    s.source = source;
    s.joined = mark_joined;
    s.joined_cls = &m;
    cJSON *labels = cJSON_CreateArray(), *one = cJSON_CreateObject();
    cJSON_AddStringToObject(one, "id", id);
    cJSON_AddItemToObject(one, "label", cJSON_Duplicate(label, false));
    cJSON_AddItemToArray(labels, one);
    rc = fb_labels_put(&s, deployment, labels, out, err);
    cJSON_Delete(labels);
    if (rc < 0 && m.marked) {
        struct cap_error e = {0};
        store_review_mark(sink->store, deployment, base, m.row, "pending", NULL, NULL, 0, &e);
    }
    return rc;
}

int fb_review_skip(struct store *st, const char *deployment, const char *id,
                   const char *reviewer, struct cap_error *err)
{
    char base[FB_ID_MAX + 1];
    int64_t row;
    int rc;
    if ((rc = fb_id_parse(id, base, &row, err)) < 0 || (rc = fb_reviewer_check(reviewer, err)) < 0)
        return rc;
    return store_review_mark(st, deployment, base, row < 0 ? 0 : row, "skipped", NULL, reviewer,
                             cap_now_ms(), err);
}
