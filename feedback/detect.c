/* detect.c - the drift detectors' one table of types and parameters (river
 * 0.26's names, defaults and the ranges we accept), read from and written to
 * JSON, and each detector's life: new, update, save, load. The detectors
 * themselves are in detect_binary.c and detect_real.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "feedback/detect_impl.h"

enum fb_kind { K_INT, K_REAL, K_BOOL, K_MODE };

struct fb_param {
    const char *name;
    enum fb_kind kind;
    size_t off;       /* in struct fb_det_spec */
    double lo, hi;    /* K_INT, K_REAL: the accepted range */
    bool lo_open, hi_open;
    double dflt;
};

#define OFF(t, f) offsetof(struct fb_det_spec, p.t.f)
#define I32MAX 2147483647.0
/* river's ADWIN keeps max_buckets + 1 summaries per level and scans them all
 * at every check: 1,000 (16 KB a level) is far past any useful value. */
static const struct fb_param ddm_params[] = {
    {"warm_start", K_INT, OFF(ddm, warm_start), 0, I32MAX, false, false, 30},
    {"warning_threshold", K_REAL, OFF(ddm, warning_threshold), 0, INFINITY, true, true, 2.0},
    {"drift_threshold", K_REAL, OFF(ddm, drift_threshold), 0, INFINITY, true, true, 3.0},
};
static const struct fb_param eddm_params[] = {
    {"warm_start", K_INT, OFF(eddm, warm_start), 0, I32MAX, false, false, 30},
    {"alpha", K_REAL, OFF(eddm, alpha), 0, 1, true, false, 0.95},
    {"beta", K_REAL, OFF(eddm, beta), 0, 1, true, false, 0.9},
};
static const struct fb_param hddm_a_params[] = {
    {"drift_confidence", K_REAL, OFF(hddm_a, drift_confidence), 0, 1, true, true, 0.001},
    {"warning_confidence", K_REAL, OFF(hddm_a, warning_confidence), 0, 1, true, true, 0.005},
    {"two_sided_test", K_BOOL, OFF(hddm_a, two_sided_test), 0, 1, false, false, 0},
};
static const struct fb_param hddm_w_params[] = {
    {"drift_confidence", K_REAL, OFF(hddm_w, drift_confidence), 0, 1, true, true, 0.001},
    {"warning_confidence", K_REAL, OFF(hddm_w, warning_confidence), 0, 1, true, true, 0.005},
    {"lambda_val", K_REAL, OFF(hddm_w, lambda_val), 0, 1, true, false, 0.05},
    {"two_sided_test", K_BOOL, OFF(hddm_w, two_sided_test), 0, 1, false, false, 0},
};
static const struct fb_param adwin_params[] = {
    {"delta", K_REAL, OFF(adwin, delta), 0, 1, true, true, 0.002},
    {"clock", K_INT, OFF(adwin, clock), 1, I32MAX, false, false, 32},
    {"max_buckets", K_INT, OFF(adwin, max_buckets), 1, 1000, false, false, 5},
    {"min_window_length", K_INT, OFF(adwin, min_window_length), 1, I32MAX, false, false, 5},
    {"grace_period", K_INT, OFF(adwin, grace_period), 0, I32MAX, false, false, 10},
};
static const struct fb_param page_hinkley_params[] = {
    {"min_instances", K_INT, OFF(page_hinkley, min_instances), 0, I32MAX, false, false, 30},
    {"delta", K_REAL, OFF(page_hinkley, delta), 0, INFINITY, false, true, 0.005},
    {"threshold", K_REAL, OFF(page_hinkley, threshold), 0, INFINITY, true, true, 50.0},
    /* river's default is the expression 1 - 0.0001, the same double */
    {"alpha", K_REAL, OFF(page_hinkley, alpha), 0, 1, true, false, 1 - 0.0001},
    {"mode", K_MODE, OFF(page_hinkley, mode), 0, 2, false, false, FB_PH_BOTH},
};

#define COUNT(a) (sizeof(a) / sizeof *(a))
static const struct fb_type_info {
    const char *name;
    bool binary;
    const struct fb_param *params;
    size_t nparams;
    const struct fb_det_ops *ops;
} types[FB_DET_TYPE_COUNT] = {
    [FB_DET_DDM] = {"ddm", true, ddm_params, COUNT(ddm_params), &fb_ddm_ops},
    [FB_DET_EDDM] = {"eddm", true, eddm_params, COUNT(eddm_params), &fb_eddm_ops},
    [FB_DET_HDDM_A] = {"hddm_a", true, hddm_a_params, COUNT(hddm_a_params), &fb_hddm_a_ops},
    [FB_DET_HDDM_W] = {"hddm_w", true, hddm_w_params, COUNT(hddm_w_params), &fb_hddm_w_ops},
    [FB_DET_ADWIN] = {"adwin", false, adwin_params, COUNT(adwin_params), &fb_adwin_ops},
    [FB_DET_PAGE_HINKLEY] = {"page_hinkley", false, page_hinkley_params,
                             COUNT(page_hinkley_params), &fb_page_hinkley_ops},
};
static const char *const mode_names[] = {"up", "down", "both"};
#define TYPE_LIST "ddm, eddm, hddm_a, hddm_w, adwin or page_hinkley"

const char *fb_det_type_name(enum fb_det_type type)
{
    return (unsigned)type < FB_DET_TYPE_COUNT ? types[type].name : "?";
}

bool fb_det_type_binary(enum fb_det_type type)
{
    return (unsigned)type < FB_DET_TYPE_COUNT && types[type].binary;
}

/* A parameter's value in a spec, as a double (ints are within 2^31). */
static double param_get(const struct fb_det_spec *s, const struct fb_param *p)
{
    const char *at = (const char *)s + p->off;
    switch (p->kind) {
    case K_INT: return (double)*(const int64_t *)at;
    case K_REAL: return *(const double *)at;
    case K_BOOL: return *(const bool *)at;
    default: return *(const enum fb_ph_mode *)at;
    }
}

static void param_set(struct fb_det_spec *s, const struct fb_param *p, double v)
{
    char *at = (char *)s + p->off;
    switch (p->kind) {
    case K_INT: *(int64_t *)at = (int64_t)v; break;
    case K_REAL: *(double *)at = v; break;
    case K_BOOL: *(bool *)at = v != 0; break;
    default: *(enum fb_ph_mode *)at = (enum fb_ph_mode)v; break;
    }
}

void fb_det_spec_default(enum fb_det_type type, struct fb_det_spec *out)
{
    memset(out, 0, sizeof *out);
    out->type = (unsigned)type < FB_DET_TYPE_COUNT ? type : FB_DET_DDM;
    const struct fb_type_info *t = &types[out->type];
    for (size_t i = 0; i < t->nparams; i++)
        param_set(out, &t->params[i], t->params[i].dflt);
}

/* "an integer from 0 to 2147483647", "a number > 0 and <= 1", ... */
static void expected(const struct fb_param *p, char *out, size_t n)
{
    if (p->kind == K_BOOL) {
        snprintf(out, n, "true or false");
    } else if (p->kind == K_MODE) {
        snprintf(out, n, "\"up\", \"down\" or \"both\"");
    } else if (p->kind == K_INT) {
        snprintf(out, n, "an integer from %.0f to %.0f", p->lo, p->hi);
    } else {
        int k = snprintf(out, n, "a number %s %g", p->lo_open ? ">" : ">=", p->lo);
        if (isfinite(p->hi) && k > 0 && (size_t)k < n)
            snprintf(out + k, n - (size_t)k, " and %s %g", p->hi_open ? "<" : "<=", p->hi);
    }
}

static int bad_param(const struct fb_type_info *t, const struct fb_param *p,
                     struct cap_error *err)
{
    char what[96];
    expected(p, what, sizeof what);
    return cap_err(err, CAP_EINVAL, "Invalid value for '%s' in drift detector %s: expected %s",
                   p->name, t->name, what);
}

static bool in_range(const struct fb_param *p, double v)
{
    if (p->kind == K_BOOL || p->kind == K_MODE)
        return v >= p->lo && v <= p->hi;
    if (!isfinite(v) || (p->kind == K_INT && v != floor(v)))
        return false;
    return (p->lo_open ? v > p->lo : v >= p->lo) && (p->hi_open ? v < p->hi : v <= p->hi);
}

int fb_det_spec_check(const struct fb_det_spec *spec, struct cap_error *err)
{
    if ((unsigned)spec->type >= FB_DET_TYPE_COUNT)
        return cap_err(err, CAP_EINVAL, "Unknown drift detector type %d: expected " TYPE_LIST,
                       (int)spec->type);
    const struct fb_type_info *t = &types[spec->type];
    for (size_t i = 0; i < t->nparams; i++)
        if (!in_range(&t->params[i], param_get(spec, &t->params[i])))
            return bad_param(t, &t->params[i], err);
    /* river refuses it in EDDM's constructor: a warning level below the
     * drift level could never be reached first. */
    if (spec->type == FB_DET_EDDM && spec->p.eddm.alpha < spec->p.eddm.beta)
        return cap_err(err, CAP_EINVAL,
                       "Invalid value for 'beta' in drift detector eddm: expected at most "
                       "alpha (%g), the warning level",
                       spec->p.eddm.alpha);
    return 0;
}

/* One JSON value of parameter p into out, or an error naming p. */
static int read_param(const struct fb_type_info *t, const struct fb_param *p, const cJSON *v,
                      struct fb_det_spec *out, struct cap_error *err)
{
    double d = NAN;
    if (cJSON_IsNull(v))
        d = p->dflt;
    else if (p->kind == K_BOOL && cJSON_IsBool(v))
        d = cJSON_IsTrue(v);
    else if (p->kind == K_MODE && cJSON_IsString(v))
        for (size_t i = 0; i < COUNT(mode_names); i++)
            if (strcmp(v->valuestring, mode_names[i]) == 0)
                d = (double)i;
    if ((p->kind == K_INT || p->kind == K_REAL) && cJSON_IsNumber(v))
        d = v->valuedouble;
    if (isnan(d) || !in_range(p, d))
        return bad_param(t, p, err);
    param_set(out, p, d);
    return 0;
}

static int unknown_param(const struct fb_type_info *t, const char *name, struct cap_error *err)
{
    char list[256] = "";
    size_t k = 0;
    for (size_t i = 0; i < t->nparams && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "",
                              t->params[i].name);
    return cap_err(err, CAP_EINVAL,
                   "Unknown parameter '%.60s' for drift detector %s: expected type, %s", name,
                   t->name, list);
}

int fb_det_spec_parse(const cJSON *json, struct fb_det_spec *out, struct cap_error *err)
{
    if (!cJSON_IsObject(json))
        return cap_err(err, CAP_EINVAL, "A drift detector spec must be a JSON object");
    const cJSON *tv = cJSON_GetObjectItemCaseSensitive(json, "type");
    if (!tv || cJSON_IsNull(tv))
        return cap_err(err, CAP_EINVAL,
                       "Missing field 'type' in drift detector spec: expected " TYPE_LIST);
    int type = -1;
    for (int i = 0; i < FB_DET_TYPE_COUNT && cJSON_IsString(tv); i++)
        if (strcmp(tv->valuestring, types[i].name) == 0)
            type = i;
    if (type < 0)
        return cap_err(err, CAP_EINVAL, "Invalid value for 'type' in drift detector spec: "
                                        "expected " TYPE_LIST);
    fb_det_spec_default((enum fb_det_type)type, out);
    const struct fb_type_info *t = &types[type];
    for (const cJSON *f = json->child; f; f = f->next) {
        if (strcmp(f->string, "type") == 0)
            continue;
        const struct fb_param *p = NULL;
        for (size_t i = 0; i < t->nparams && !p; i++)
            if (strcmp(f->string, t->params[i].name) == 0)
                p = &t->params[i];
        int rc = p ? read_param(t, p, f, out, err) : unknown_param(t, f->string, err);
        if (rc < 0)
            return rc;
    }
    return fb_det_spec_check(out, err);
}

cJSON *fb_det_spec_json(const struct fb_det_spec *spec)
{
    cJSON *o = cJSON_CreateObject();
    const struct fb_type_info *t = &types[spec->type];
    cJSON_AddStringToObject(o, "type", t->name);
    for (size_t i = 0; i < t->nparams; i++) {
        const struct fb_param *p = &t->params[i];
        double v = param_get(spec, p);
        if (p->kind == K_INT)
            cap_json_add_i64(o, p->name, (int64_t)v);
        else if (p->kind == K_REAL)
            cap_json_add_double(o, p->name, v);
        else if (p->kind == K_BOOL)
            cJSON_AddBoolToObject(o, p->name, v != 0);
        else
            cJSON_AddStringToObject(o, p->name, mode_names[(int)v]);
    }
    return o;
}

bool fb_det_spec_equal(const struct fb_det_spec *a, const struct fb_det_spec *b)
{
    if (a->type != b->type || (unsigned)a->type >= FB_DET_TYPE_COUNT)
        return false;
    const struct fb_type_info *t = &types[a->type];
    for (size_t i = 0; i < t->nparams; i++)
        if (param_get(a, &t->params[i]) != param_get(b, &t->params[i]))
            return false;
    return true;
}

static const struct fb_det_ops *ops_of(const struct fb_det *det)
{
    return types[det->spec.type].ops;
}

int fb_det_new(const struct fb_det_spec *spec, struct fb_det **out, struct cap_error *err)
{
    *out = NULL;
    int rc = fb_det_spec_check(spec, err);
    if (rc < 0)
        return rc;
    struct fb_det *det = cap_xcalloc(1, sizeof *det);
    det->spec = *spec;
    ops_of(det)->reset(det);
    *out = det;
    return 0;
}

void fb_det_free(struct fb_det *det)
{
    if (!det)
        return;
    if (det->spec.type == FB_DET_ADWIN)
        fb_adwin_free(&det->st.adwin);
    free(det);
}

int fb_det_update(struct fb_det *det, double x, struct cap_error *err)
{
    const char *name = types[det->spec.type].name;
    if (types[det->spec.type].binary && x != 0 && x != 1)
        return cap_err(err, CAP_EINVAL,
                       "Drift detector %s takes only 0 (a correct prediction) or 1 (an error): "
                       "got %.17g",
                       name, x);
    if (!isfinite(x))
        return cap_err(err, CAP_EINVAL, "Drift detector %s takes finite numbers: got %g", name,
                       x);
    /* river resets a detector on the update after its drift, not at once, so
     * that drift_detected stays readable until then. */
    if (det->drift) {
        det->drift = det->warning = false;
        ops_of(det)->reset(det);
    }
    ops_of(det)->update(det, x);
    det->count++;
    return det->drift ? FB_DET_DRIFT : det->warning ? FB_DET_WARNING : FB_DET_NONE;
}

bool fb_det_warning(const struct fb_det *det)
{
    return det->warning;
}

const struct fb_det_spec *fb_det_spec_of(const struct fb_det *det)
{
    return &det->spec;
}

uint64_t fb_det_count(const struct fb_det *det)
{
    return det->count;
}

/* The blob: "FBDT", u32 version, u32 type, the type's parameters in table
 * order (int: u64, real: f64, bool and mode: u32), u64 count, u32 flags
 * (1 drift, 2 warning), the state's fields (int64: u64, double: f64), then
 * ADWIN's levels. All little-endian (monitor/wire.h). */
static const unsigned char blob_magic[4] = {'F', 'B', 'D', 'T'};
#define BLOB_VERSION 1u
/* Saved counters stay below 2^53 (a 1e6-per-second stream takes 285 years),
 * so a loaded one cannot overflow when incremented. */
#define MAX_SAVED_INT 9007199254740992.0

void fb_det_save(const struct fb_det *det, struct cap_buf *out)
{
    const struct fb_type_info *t = &types[det->spec.type];
    cap_buf_append(out, blob_magic, sizeof blob_magic);
    mon_put_u32(out, BLOB_VERSION);
    mon_put_u32(out, (uint32_t)det->spec.type);
    for (size_t i = 0; i < t->nparams; i++) {
        const struct fb_param *p = &t->params[i];
        const char *at = (const char *)&det->spec + p->off;
        if (p->kind == K_INT)
            mon_put_u64(out, (uint64_t) * (const int64_t *)at);
        else if (p->kind == K_REAL)
            mon_put_f64(out, *(const double *)at);
        else
            mon_put_u32(out, (uint32_t)param_get(&det->spec, p));
    }
    mon_put_u64(out, det->count);
    mon_put_u32(out, (det->drift ? 1u : 0u) | (det->warning ? 2u : 0u));
    for (size_t i = 0; i < t->ops->nfields; i++) {
        const char *at = (const char *)&det->st + t->ops->fields[i].off;
        if (t->ops->fields[i].is_int)
            mon_put_u64(out, (uint64_t) * (const int64_t *)at);
        else
            mon_put_f64(out, *(const double *)at);
    }
    if (det->spec.type == FB_DET_ADWIN)
        fb_adwin_save(&det->st.adwin, det->spec.p.adwin.max_buckets, out);
}

/* The spec part of a blob, checked like a parsed one. */
static int load_spec(struct mon_rd *r, struct fb_det_spec *spec, struct cap_error *err)
{
    uint32_t type = mon_get_u32(r);
    if (!r->ok || type >= FB_DET_TYPE_COUNT)
        return cap_err(err, CAP_EINVAL, "Drift detector state: unknown detector type %u",
                       (unsigned)type);
    fb_det_spec_default((enum fb_det_type)type, spec);
    const struct fb_type_info *t = &types[type];
    for (size_t i = 0; i < t->nparams; i++) {
        const struct fb_param *p = &t->params[i];
        char *at = (char *)spec + p->off;
        if (p->kind == K_INT) {
            *(int64_t *)at = (int64_t)mon_get_u64(r);
        } else if (p->kind == K_REAL) {
            *(double *)at = mon_get_f64(r);
        } else {
            uint32_t v = mon_get_u32(r);
            if (v > p->hi)
                return bad_param(t, p, err);
            param_set(spec, p, v);
        }
    }
    if (!r->ok)
        return cap_err(err, CAP_EINVAL, "Drift detector state is truncated");
    return fb_det_spec_check(spec, err);
}

static int load_state(struct mon_rd *r, struct fb_det *det, struct cap_error *err)
{
    const struct fb_det_ops *ops = ops_of(det);
    det->count = mon_get_u64(r);
    uint32_t flags = mon_get_u32(r);
    det->drift = flags & 1;
    det->warning = flags & 2;
    for (size_t i = 0; i < ops->nfields; i++) {
        char *at = (char *)&det->st + ops->fields[i].off;
        if (!ops->fields[i].is_int) {
            *(double *)at = mon_get_f64(r);
            continue;
        }
        int64_t v = (int64_t)mon_get_u64(r);
        if (v < 0 || (double)v > MAX_SAVED_INT)
            return cap_err(err, CAP_EINVAL, "Drift detector state: a counter is out of range");
        *(int64_t *)at = v;
    }
    if (flags > 3 || !r->ok)
        return cap_err(err, CAP_EINVAL, "Drift detector state is %s",
                       r->ok ? "inconsistent (flags)" : "truncated");
    if (det->spec.type == FB_DET_ADWIN)
        return fb_adwin_load(&det->st.adwin, det->spec.p.adwin.max_buckets, r, err);
    return 0;
}

int fb_det_load(const void *blob, size_t len, struct fb_det **out, struct cap_error *err)
{
    *out = NULL;
    struct mon_rd r = {blob, (const unsigned char *)blob + len, true};
    const unsigned char *magic = mon_take(&r, sizeof blob_magic);
    if (!magic || memcmp(magic, blob_magic, sizeof blob_magic) != 0)
        return cap_err(err, CAP_EINVAL, "Not a drift detector state (no FBDT header)");
    uint32_t version = mon_get_u32(&r);
    if (version != BLOB_VERSION)
        return cap_err(err, CAP_EINVAL,
                       "Drift detector state version %u is not supported: expected %u",
                       (unsigned)version, BLOB_VERSION);
    struct fb_det_spec spec;
    int rc = load_spec(&r, &spec, err);
    struct fb_det *det = NULL;
    if (rc >= 0)
        rc = fb_det_new(&spec, &det, err);
    if (rc >= 0)
        rc = load_state(&r, det, err);
    if (rc >= 0 && r.p != r.end)
        rc = cap_err(err, CAP_EINVAL, "Drift detector state has %zu bytes past its end",
                     (size_t)(r.end - r.p));
    if (rc < 0) {
        fb_det_free(det);
        return rc;
    }
    *out = det;
    return 0;
}
