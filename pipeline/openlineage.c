/* openlineage.c - OpenLineage RunEvents for pipeline and stage runs: built
 * for the executor, sent to a lineage endpoint, and checked when Capstan's
 * own endpoint receives one. */
#include <ctype.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/openlineage.h"
#include "base/util.h"
#include "pipeline/pipeline.h"

static const char *const type_names[] = {"START", "COMPLETE", "FAIL", "ABORT"};

void pipe_ol_file_ns(char *out, size_t n)
{
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(out, n, "file://%s", host);
}

static cJSON *datasets(const struct pipe_ol_dataset *d, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cap_ol_dataset(d[i].ns, d[i].name, d[i].version));
    return a;
}

/* run.facets: parent (a stage's), nominalTime (a scheduled run's),
 * errorMessage (a failed or killed run's). */
static void run_facets(cJSON *run, const struct pipe_ol_run *r, const char *ns)
{
    cJSON *f = cJSON_AddObjectToObject(run, "facets");
    if (r->stage && r->parent_run_id) {
        cJSON *p = cap_ol_facet(f, "parent", CAP_OL_FACET_PARENT);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "run"), "runId", r->parent_run_id);
        cJSON *job = cJSON_AddObjectToObject(p, "job");
        cJSON_AddStringToObject(job, "namespace", ns);
        cJSON_AddStringToObject(job, "name", r->pipeline);
    }
    if (r->nominal_ms > 0) {
        char when[32];
        cap_ol_time(r->nominal_ms, when);
        cJSON_AddStringToObject(cap_ol_facet(f, "nominalTime", CAP_OL_FACET_NOMINAL),
                                "nominalStartTime", when);
    }
    if ((r->type == PIPE_OL_FAIL || r->type == PIPE_OL_ABORT) && r->error) {
        cJSON *e = cap_ol_facet(f, "errorMessage", CAP_OL_FACET_ERROR);
        cJSON_AddStringToObject(e, "message", r->error);
        cJSON_AddStringToObject(e, "programmingLanguage", "shell");
    }
}

cJSON *pipe_ol_event(const struct pipe_ol_run *r, struct cap_error *err)
{
    if (!r->pipeline || !*r->pipeline) {
        cap_err(err, CAP_EINVAL, "A lineage event needs the pipeline's name");
        return NULL;
    }
    if (!cap_uuid_valid(r->run_id) || (r->parent_run_id && !cap_uuid_valid(r->parent_run_id))) {
        cap_err(err, CAP_EINVAL, "A lineage event's run id '%.60s' is not a UUID",
                cap_uuid_valid(r->run_id) ? r->parent_run_id : r->run_id ? r->run_id : "");
        return NULL;
    }
    if ((unsigned)r->type >= sizeof type_names / sizeof type_names[0]) {
        cap_err(err, CAP_EINVAL, "Unknown lineage event type %d", (int)r->type);
        return NULL;
    }
    const char *ns = r->ns && *r->ns ? r->ns : "capstan";
    cJSON *ev = cap_ol_event(type_names[r->type], r->time_ms);
    cJSON *run = cJSON_AddObjectToObject(ev, "run");
    cJSON_AddStringToObject(run, "runId", r->run_id);
    run_facets(run, r, ns);
    cJSON *job = cJSON_AddObjectToObject(ev, "job");
    cJSON_AddStringToObject(job, "namespace", ns);
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_printf(&b, "%s%s%s", r->pipeline, r->stage ? "." : "", r->stage ? r->stage : "");
    cJSON_AddStringToObject(job, "name", b.data);
    cap_buf_free(&b);
    cJSON_AddItemToObject(ev, "inputs", datasets(r->inputs, r->ninputs));
    cJSON_AddItemToObject(ev, "outputs", datasets(r->outputs, r->noutputs));
    return ev;
}

static size_t keep(char *p, size_t size, size_t n, void *cls)
{
    struct cap_buf *b = cls;
    if (b->len < 512) /* the start of an error body is enough to say why */
        cap_buf_append(b, p, size * n);
    return size * n;
}

int pipe_ol_send(const char *url, const cJSON *ev, struct cap_error *err)
{
    char *body = cJSON_PrintUnformatted(ev);
    struct cap_buf resp;
    cap_buf_init(&resp);
    CURL *c = curl_easy_init();
    if (!c || !body) {
        free(body);
        return cap_err(err, CAP_EINTERNAL, "Cannot start an HTTP request");
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "capstan-lineage");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    free(body);
    int ret = 0;
    if (rc != CURLE_OK)
        ret = cap_err(err, CAP_EUNAVAIL, "Cannot send a lineage event to %.300s: %s", url,
                      curl_easy_strerror(rc));
    else if (status < 200 || status > 299)
        ret = cap_err(err, CAP_EUNAVAIL, "The lineage endpoint %.300s answered %ld: %.300s", url,
                      status, resp.data ? resp.data : "");
    cap_buf_free(&resp);
    return ret;
}

/* ---- checking what the endpoint receives ---- */

/* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM), as JSON Schema's date-time. */
static bool iso_time(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    for (; shape[i]; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return false;
    if (s[i] == '.') {
        size_t j = ++i;
        while (isdigit((unsigned char)s[i]))
            i++;
        if (i == j)
            return false;
    }
    if (s[i] == 'Z' || s[i] == 'z')
        return s[i + 1] == '\0';
    return (s[i] == '+' || s[i] == '-') && isdigit((unsigned char)s[i + 1]) &&
           isdigit((unsigned char)s[i + 2]) && s[i + 3] == ':' && isdigit((unsigned char)s[i + 4]) &&
           isdigit((unsigned char)s[i + 5]) && s[i + 6] == '\0';
}

/* scheme ":" rest, the start of RFC 3986's URI. */
static bool uri(const char *s)
{
    if (!isalpha((unsigned char)*s))
        return false;
    while (isalnum((unsigned char)*s) || *s == '+' || *s == '-' || *s == '.')
        s++;
    return *s == ':' && s[1] != '\0';
}

static const char *text(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

static int check_facets(const cJSON *o, const char *where, struct cap_error *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "facets");
    if (f && !cJSON_IsNull(f) && !cJSON_IsObject(f))
        return cap_err(err, CAP_EINVAL, "%s.facets must be an object", where);
    return 0;
}

static int check_datasets(const cJSON *ev, const char *key, struct cap_error *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(ev, key);
    if (!a || cJSON_IsNull(a))
        return 0;
    if (!cJSON_IsArray(a))
        return cap_err(err, CAP_EINVAL, "%s must be an array of datasets", key);
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, a)
    {
        char where[48];
        snprintf(where, sizeof where, "%s[%d]", key, i++);
        if (!cJSON_IsObject(d))
            return cap_err(err, CAP_EINVAL, "%s must be a dataset object", where);
        if (!text(d, "namespace") || !text(d, "name"))
            return cap_err(err, CAP_EINVAL, "%s.%s must be a non-empty string", where,
                           text(d, "namespace") ? "name" : "namespace");
        if (check_facets(d, where, err) < 0)
            return -CAP_EINVAL;
    }
    return 0;
}

int pipe_ol_check(const cJSON *ev, struct cap_error *err)
{
    if (!cJSON_IsObject(ev))
        return cap_err(err, CAP_EINVAL, "A lineage event must be a JSON object (an OpenLineage RunEvent)");
    const char *t = text(ev, "eventTime");
    if (!t || !iso_time(t))
        return cap_err(err, CAP_EINVAL, "eventTime must be an ISO 8601 date-time with a time "
                       "zone, e.g. 2026-01-02T03:04:05.678Z");
    static const char *const types[] = {"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"};
    const char *type = text(ev, "eventType");
    size_t k = 0;
    while (type && k < sizeof types / sizeof types[0] && strcmp(type, types[k]) != 0)
        k++;
    if (!type || k == sizeof types / sizeof types[0])
        return cap_err(err, CAP_EINVAL, "eventType must be one of START, RUNNING, COMPLETE, "
                       "ABORT, FAIL, OTHER");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(ev, "run");
    if (!cJSON_IsObject(run) || !cap_uuid_valid(text(run, "runId")))
        return cap_err(err, CAP_EINVAL, "run.runId must be a UUID, e.g. "
                       "0176a8c2-fe01-7439-87e6-56a1a1b4029f");
    if (check_facets(run, "run", err) < 0)
        return -CAP_EINVAL;
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(ev, "job");
    if (!cJSON_IsObject(job) || !text(job, "namespace"))
        return cap_err(err, CAP_EINVAL, "job.namespace must be a non-empty string");
    if (!text(job, "name"))
        return cap_err(err, CAP_EINVAL, "job.name must be a non-empty string");
    if (check_facets(job, "job", err) < 0)
        return -CAP_EINVAL;
    if (!text(ev, "producer") || !uri(text(ev, "producer")))
        return cap_err(err, CAP_EINVAL, "producer must be a URI naming what sent the event");
    if (!text(ev, "schemaURL") || !uri(text(ev, "schemaURL")))
        return cap_err(err, CAP_EINVAL, "schemaURL must be a URI of the OpenLineage schema, "
                       "e.g. " CAP_OL_RUN_EVENT_SCHEMA);
    int rc = check_datasets(ev, "inputs", err);
    return rc ? rc : check_datasets(ev, "outputs", err);
}
