/* detectors.c - concept-drift detectors on a deployment's error stream
 * (join.h): configured per deployment, fed by fb_labels_put in the order
 * labels arrive (0 when a classifier's prediction equals its label, else 1;
 * a regressor's absolute error), their state stored in the transaction of
 * the labels that moved it, so a restart goes on with the same stream. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "feedback/feedback.h"
#include "store/store.h"

int fb_detector_put(struct store *st, const char *deployment, const char *name,
                    const cJSON *spec_json, cJSON **out, struct cap_error *err)
{
    *out = NULL;
    struct fb_det_spec spec;
    struct fb_det *det = NULL;
    int rc = fb_det_spec_parse(spec_json, &spec, err);
    if (rc == 0)
        rc = fb_det_new(&spec, &det, err);
    if (rc < 0)
        return rc;
    cJSON *canon = fb_det_spec_json(&spec);
    char *text = cJSON_PrintUnformatted(canon);
    struct cap_buf state;
    cap_buf_init(&state);
    fb_det_save(det, &state);
    fb_det_free(det);
    rc = store_detector_put(st, deployment, name, text, state.data, state.len, err);
    cap_buf_free(&state);
    free(text);
    if (rc < 0) {
        cJSON_Delete(canon);
        return rc;
    }
    *out = cJSON_CreateObject();
    cJSON_AddStringToObject(*out, "deployment", deployment);
    cJSON_AddStringToObject(*out, "name", name);
    cJSON_AddItemToObject(*out, "detector", canon);
    return 0;
}

/* ---- feeding ---- */

/* One detector's pass over a batch. */
struct fed {
    char *name, *spec;
    struct fb_det *det;
    int64_t seen;
    bool warning;
    struct store_detection *found;
    size_t nfound;
};

static int load_one(void *cls, const char *name, const char *spec_json, const void *state,
                    size_t len, int64_t seen, bool warning, struct cap_error *err)
{
    struct fb_feed *f = cls;
    struct fb_det *det = NULL;
    int rc = fb_det_load(state, len, &det, err);
    if (rc < 0)
        return cap_err(err, CAP_EINTERNAL, "Detector '%s' has an unreadable state: %s", name,
                       err->msg);
    f->fed = cap_xrealloc(f->fed, (f->n + 1) * sizeof *f->fed);
    f->fed[f->n++] = (struct fed){.name = cap_xstrdup(name), .spec = cap_xstrdup(spec_json),
                                  .det = det, .seen = seen, .warning = warning};
    return 0;
}

/* The error of one joined label; NaN when the label has none for this
 * detector (a binary detector on a regressor's errors). */
static double error_of(const struct store_label *l, bool binary)
{
    if (l->prediction)
        return strcmp(l->prediction, l->label) != 0;
    return binary ? NAN : fabs(l->pred_value - l->value);
}

static void note(struct fed *d, const char *kind, const struct store_label *l)
{
    d->found = cap_xrealloc(d->found, (d->nfound + 1) * sizeof *d->found);
    d->found[d->nfound++] = (struct store_detection){
        .kind = kind, .position = d->seen, .request_id = l->request_id, .row = l->row};
}

static void feed_one(struct fed *d, const struct store_label *labels, size_t n)
{
    bool binary = fb_det_type_binary(fb_det_spec_of(d->det)->type);
    for (size_t i = 0; i < n; i++) {
        double x = error_of(&labels[i], binary);
        struct cap_error e = {0};
        int s = isnan(x) ? -1 : fb_det_update(d->det, x, &e);
        if (s < 0)
            continue; /* not an input of this detector: not part of its stream */
        if (s == FB_DET_DRIFT)
            note(d, "drift", &labels[i]);
        bool warn = fb_det_warning(d->det);
        if (warn && !d->warning)
            note(d, "warning", &labels[i]);
        d->warning = warn;
        d->seen++;
    }
}

int fb_feed_detectors(struct fb_feed *f, struct store *st, const char *deployment,
                      const struct store_label *labels, size_t n, int64_t now_ms,
                      struct cap_error *err)
{
    int rc = store_detectors_load(st, deployment, load_one, f, err);
    if (rc < 0)
        return rc;
    f->steps = cap_xcalloc(f->n ? f->n : 1, sizeof *f->steps);
    for (size_t k = 0; k < f->n; k++) {
        struct fed *d = &f->fed[k];
        feed_one(d, labels, n);
        struct cap_buf state;
        cap_buf_init(&state);
        fb_det_save(d->det, &state);
        f->steps[k] = (struct store_detector_step){
            .deployment = deployment, .name = d->name, .spec_json = d->spec,
            .state = state.data, .state_len = state.len, .seen = d->seen,
            .warning = d->warning, .detections = d->found, .ndetections = d->nfound,
            .at_ms = now_ms};
    }
    return 0;
}

void fb_feed_free(struct fb_feed *f)
{
    for (size_t k = 0; k < f->n; k++) {
        fb_det_free(f->fed[k].det);
        free(f->fed[k].name);
        free(f->fed[k].spec);
        free(f->fed[k].found);
        if (f->steps)
            free((void *)f->steps[k].state);
    }
    free(f->fed);
    free(f->steps);
    memset(f, 0, sizeof *f);
}
