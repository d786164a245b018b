/* yaml.c - YAML output through libyaml's emitter. */
#include "base/yaml.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "base/buf.h"

bool cap_yaml_resolves_non_str(const char *s)
{
    static const char re[] =
        "^(true|True|TRUE|false|False|FALSE"
        "|[-+]?[0-9][0-9_]*\\.[0-9_]*([eE][-+]?[0-9]+)?|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
        "|[-+]?\\.[0-9_]+([eE][-+][0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)"
        "|[-+]?0b[01_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+"
        "|~|null|Null|NULL|<<|=|"
        "|[0-9]{4}-[0-9]{2}-[0-9]{2}"
        "|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\\.[0-9]*)?"
        "([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)$";
    regex_t r;
    /* Compiled per call (~20 us): one .dvc file is written per `add`, and an
     * export writes a few hundred scalars. */
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return true; /* quoting is always safe */
    bool hit = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return hit;
}

/* YAML 1.1's other booleans, which Kubernetes' and PyYAML's readers apply. */
static bool yaml11_bool(const char *s)
{
    static const char *const words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No",
                                        "NO", "on", "On", "ON", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

static int scalar(yaml_emitter_t *e, const char *s, bool plain_ok)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), plain_ok,
                                      1, YAML_ANY_SCALAR_STYLE))
        return -1;
    return yaml_emitter_emit(e, &ev) ? 0 : -1;
}

static int node(yaml_emitter_t *e, const cJSON *v)
{
    yaml_event_t ev;
    char num[40];
    if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool obj = cJSON_IsObject(v);
        if (obj)
            yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        else
            yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit(e, &ev))
            return -1;
        const cJSON *c;
        cJSON_ArrayForEach(c, v)
        {
            if ((obj && scalar(e, c->string, !cap_yaml_resolves_non_str(c->string) &&
                                                 !yaml11_bool(c->string))) ||
                node(e, c))
                return -1;
        }
        if (obj)
            yaml_mapping_end_event_initialize(&ev);
        else
            yaml_sequence_end_event_initialize(&ev);
        return yaml_emitter_emit(e, &ev) ? 0 : -1;
    }
    if (cJSON_IsString(v))
        return scalar(e, v->valuestring,
                      !cap_yaml_resolves_non_str(v->valuestring) && !yaml11_bool(v->valuestring));
    if (cJSON_IsBool(v))
        return scalar(e, cJSON_IsTrue(v) ? "true" : "false", true);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && fabs(d) < 9e15)
            snprintf(num, sizeof num, "%.0f", d);
        else
            snprintf(num, sizeof num, "%.17g", d);
        return scalar(e, num, true);
    }
    return scalar(e, "null", true);
}

static int put_bytes(void *b, unsigned char *p, size_t n)
{
    cap_buf_append(b, p, n);
    return 1;
}

int cap_yaml_from_json(const cJSON *doc, char **out, struct cap_error *err)
{
    struct cap_buf b;
    cap_buf_init(&b);
    yaml_emitter_t e;
    if (!yaml_emitter_initialize(&e))
        return cap_err(err, CAP_EINTERNAL, "Cannot start the YAML emitter");
    yaml_emitter_set_output(&e, put_bytes, &b);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* long commands stay on one line */
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    int rc = yaml_emitter_emit(&e, &ev) ? 0 : -1;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    rc = rc ? rc : (yaml_emitter_emit(&e, &ev) ? 0 : -1);
    rc = rc ? rc : node(&e, doc);
    yaml_document_end_event_initialize(&ev, 1);
    rc = rc ? rc : (yaml_emitter_emit(&e, &ev) ? 0 : -1);
    yaml_stream_end_event_initialize(&ev);
    rc = rc ? rc : (yaml_emitter_emit(&e, &ev) ? 0 : -1);
    if (rc || !yaml_emitter_flush(&e)) {
        rc = cap_err(err, CAP_EINVAL, "Cannot write YAML: %s, expected UTF-8 text",
                     e.problem ? e.problem : "not UTF-8");
        cap_buf_free(&b);
    }
    yaml_emitter_delete(&e);
    *out = rc ? NULL : cap_buf_steal(&b);
    return rc;
}
