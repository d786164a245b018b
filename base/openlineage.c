/* openlineage.c - the shared shape of Capstan's OpenLineage events. */
#include "base/openlineage.h"

#include <stdio.h>
#include <time.h>

#include "base/buf.h"

void cap_ol_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[24];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", s, (int)(ms % 1000 + 1000) % 1000);
}

cJSON *cap_ol_event(const char *type, int64_t time_ms)
{
    char when[32];
    cap_ol_time(time_ms, when);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "eventTime", when);
    cJSON_AddStringToObject(ev, "producer", CAP_OL_PRODUCER);
    cJSON_AddStringToObject(ev, "schemaURL", CAP_OL_RUN_EVENT_SCHEMA);
    cJSON_AddStringToObject(ev, "eventType", type);
    return ev;
}

cJSON *cap_ol_facet(cJSON *facets, const char *key, const char *schema)
{
    cJSON *f = cJSON_AddObjectToObject(facets, key);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "%s%s", CAP_OL_SPEC, schema);
    cJSON_AddStringToObject(f, "_producer", CAP_OL_PRODUCER);
    cJSON_AddStringToObject(f, "_schemaURL", b.data);
    cap_buf_free(&b);
    return f;
}

cJSON *cap_ol_dataset(const char *ns, const char *name, const char *version)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "namespace", ns);
    cJSON_AddStringToObject(d, "name", name);
    if (version && *version) {
        cJSON *f = cJSON_AddObjectToObject(d, "facets");
        cJSON_AddStringToObject(cap_ol_facet(f, "version", CAP_OL_FACET_VERSION),
                                "datasetVersion", version);
    }
    return d;
}
