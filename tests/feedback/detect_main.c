/* detect_main.c - drives feedback/detect.h for test_detect.py.
 *
 *   detect_main SPEC_JSON [--split N] < values (one per line)
 *
 * Prints {"spec": the effective spec, "warnings": [...], "drifts": [...],
 * "count": n} with the 0-based indices where fb_det_warning / a drift held
 * after the update. With --split N the detector is saved after N values and
 * a loaded copy runs beside it to the end: every answer, warning flag and
 * the final blobs must agree ("split_equal"), and the printed indices are
 * the loaded copy's. A refused spec or value: its message on stderr, exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "feedback/feedback.h"

static int fail(const char *what, const struct cap_error *err)
{
    fprintf(stderr, "%s: %s\n", what, err->msg);
    return 1;
}

/* Saves a and loads it into *b (freeing the old *b). */
static int copy_det(const struct fb_det *a, struct fb_det **b, struct cap_error *err)
{
    struct cap_buf blob;
    cap_buf_init(&blob);
    fb_det_save(a, &blob);
    fb_det_free(*b);
    int rc = fb_det_load(blob.data, blob.len, b, err);
    cap_buf_free(&blob);
    return rc;
}

static bool same_blob(const struct fb_det *a, const struct fb_det *b)
{
    struct cap_buf x, y;
    cap_buf_init(&x);
    cap_buf_init(&y);
    fb_det_save(a, &x);
    fb_det_save(b, &y);
    bool same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
    cap_buf_free(&x);
    cap_buf_free(&y);
    return same;
}

/* Feeds stdin; `run` is the detector whose signals are printed (the loaded
 * copy after the split), `orig` the one that was never saved. */
static int feed(struct fb_det *orig, long split, cJSON *warn, cJSON *drift, bool *equal,
                struct cap_error *err)
{
    struct fb_det *copy = NULL;
    char line[256];
    long i = 0;
    int rc = 0;
    for (; rc >= 0 && fgets(line, sizeof line, stdin); i++) {
        if (i == split && (rc = copy_det(orig, &copy, err)) < 0)
            break;
        char *end;
        double x = strtod(line, &end);
        if (end == line) {
            rc = cap_err(err, CAP_EINVAL, "line %ld is not a number", i + 1);
            break;
        }
        struct fb_det *run = copy ? copy : orig;
        int sig = fb_det_update(orig, x, err);
        if (copy && sig >= 0) {
            int sig2 = fb_det_update(copy, x, err);
            *equal = *equal && sig2 == sig && fb_det_warning(copy) == fb_det_warning(orig);
        }
        if ((rc = sig) < 0)
            break;
        if (fb_det_warning(run))
            cJSON_AddItemToArray(warn, cJSON_CreateNumber((double)i));
        if (sig == FB_DET_DRIFT)
            cJSON_AddItemToArray(drift, cJSON_CreateNumber((double)i));
    }
    if (copy)
        *equal = *equal && fb_det_count(copy) == fb_det_count(orig) && same_blob(copy, orig);
    fb_det_free(copy);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--split") == 0)) {
        fprintf(stderr, "usage: %s SPEC_JSON [--split N] < values\n", argv[0]);
        return 2;
    }
    long split = argc == 4 ? atol(argv[3]) : -1;
    struct cap_error err = {0};
    struct fb_det_spec spec;
    cJSON *json = cJSON_Parse(argv[1]);
    int rc = fb_det_spec_parse(json, &spec, &err);
    cJSON_Delete(json);
    if (rc < 0)
        return fail("spec", &err);
    struct fb_det *det;
    if (fb_det_new(&spec, &det, &err) < 0)
        return fail("new", &err);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "spec", fb_det_spec_json(&spec));
    cJSON *warn = cJSON_AddArrayToObject(out, "warnings");
    cJSON *drift = cJSON_AddArrayToObject(out, "drifts");
    bool equal = true;
    rc = feed(det, split, warn, drift, &equal, &err);
    cap_json_add_i64(out, "count", (int64_t)fb_det_count(det));
    if (split >= 0)
        cJSON_AddBoolToObject(out, "split_equal", equal);
    fb_det_free(det);
    if (rc < 0) {
        cJSON_Delete(out);
        return fail("update", &err);
    }
    char *s = cap_json_print(out);
    puts(s);
    free(s);
    cJSON_Delete(out);
    return 0;
}
