/* guard.c - Host allow-list, cross-origin refusal and CORS (see guard.h).
 * Cost on the serving path: one header lookup (Host) per request and one
 * more (Origin) per POST, a linked-list walk over a dozen headers. */
#include "server/guard.h"

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

#define MAX_PATTERN 255

static bool state_changing(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0 || strcmp(method, "DELETE") == 0;
}

static bool pattern_match(const char *pattern, const char *s)
{
    if (strchr(pattern, '*'))
        return fnmatch(pattern, s, FNM_CASEFOLD) == 0;
    return strcasecmp(pattern, s) == 0;
}

/* Splits the list at commas into trimmed, non-empty entries; "*" alone sets
 * *any. check (may be NULL) judges each entry. */
static int parse_list(const char *list, const char *flag, char ***out, size_t *n, bool *any,
                      int (*check)(const char *entry, struct cap_error *err),
                      struct cap_error *err)
{
    *out = NULL;
    *n = 0;
    *any = false;
    if (!list)
        return 0;
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len > MAX_PATTERN)
            return cap_err(err, CAP_EINVAL,
                           "%s '%.200s': expected a comma-separated list of non-empty entries "
                           "of at most %d characters",
                           flag, list, MAX_PATTERN);
        char *entry = cap_xstrndup(p, len);
        int rc = check ? check(entry, err) : 0;
        if (rc < 0) {
            free(entry);
            return rc;
        }
        if (strcmp(entry, "*") == 0)
            *any = true;
        *out = cap_xrealloc(*out, (*n + 1) * sizeof **out);
        (*out)[(*n)++] = entry;
        if (!end)
            return 0;
        p = end + 1;
    }
}

static int check_origin(const char *o, struct cap_error *err)
{
    if (strcmp(o, "*") == 0)
        return 0;
    const char *sep = strstr(o, "://");
    if (!sep || sep == o || !sep[3] || strchr(sep + 3, '/'))
        return cap_err(err, CAP_EINVAL,
                       "--cors-allowed-origins entry '%s': expected an origin such as "
                       "https://app.example.com or https://*.example.com, or * for any",
                       o);
    return 0;
}

int server_guard_init(struct server_guard *g, const char *listen_host, const char *allowed_hosts,
                      const char *cors_origins, struct cap_error *err)
{
    memset(g, 0, sizeof *g);
    int rc = parse_list(allowed_hosts, "--allowed-hosts", &g->hosts, &g->nhosts, &g->any_host,
                        NULL, err);
    if (rc == 0)
        rc = parse_list(cors_origins, "--cors-allowed-origins", &g->origins, &g->norigins,
                        &g->any_origin, check_origin, err);
    if (rc < 0) {
        server_guard_free(g);
        return rc;
    }
    if (listen_host && *listen_host)
        g->listen_host = cap_xstrdup(listen_host);
    return 0;
}

void server_guard_free(struct server_guard *g)
{
    for (size_t i = 0; i < g->nhosts; i++)
        free(g->hosts[i]);
    for (size_t i = 0; i < g->norigins; i++)
        free(g->origins[i]);
    free(g->hosts);
    free(g->origins);
    free(g->listen_host);
    memset(g, 0, sizeof *g);
}

/* The name in a Host value: "[v6]" keeps its brackets, a port is cut. */
static size_t host_name_len(const char *host)
{
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        return close ? (size_t)(close - host) + 1 : strlen(host);
    }
    const char *colon = strchr(host, ':');
    return colon ? (size_t)(colon - host) : strlen(host);
}

static bool is_ip_literal(const char *name)
{
    unsigned char buf[16];
    size_t n = strlen(name);
    if (n > 2 && name[0] == '[' && name[n - 1] == ']') {
        char v6[64];
        if (n - 2 >= sizeof v6)
            return false;
        memcpy(v6, name + 1, n - 2);
        v6[n - 2] = '\0';
        return inet_pton(AF_INET6, v6, buf) == 1;
    }
    return inet_pton(AF_INET, name, buf) == 1;
}

static bool host_allowed(const struct server_guard *g, const char *host)
{
    if (g->any_host)
        return true;
    size_t n = host_name_len(host);
    char name[MAX_PATTERN + 1];
    if (n == 0 || n > MAX_PATTERN)
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (strcasecmp(name, "localhost") == 0 || is_ip_literal(name) ||
        (g->listen_host && strcasecmp(name, g->listen_host) == 0))
        return true;
    for (size_t i = 0; i < g->nhosts; i++)
        if (pattern_match(g->hosts[i], strchr(g->hosts[i], ':') ? host : name))
            return true;
    return false;
}

/* An origin is this server's own when its host[:port] is the Host header. */
static bool same_origin(const char *origin, const char *host)
{
    const char *sep = strstr(origin, "://");
    return sep && host && strcasecmp(sep + 3, host) == 0;
}

static bool origin_allowed(const struct server_guard *g, const char *origin)
{
    if (strcmp(origin, "null") == 0)
        return g->any_origin;    /* sandboxed frames and files: no one's own */
    if (g->any_origin)
        return true;
    for (size_t i = 0; i < g->norigins; i++)
        if (pattern_match(g->origins[i], origin))
            return true;
    return false;
}

static const char *header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* A change without Origin: programs send no Origin, and neither do some
 * browser requests (a form POST from an older browser, a navigation). A
 * browser still says where it comes from: Sec-Fetch-Site (every current
 * browser, on every request) or, before that, Referer; programs send
 * neither, so they are not affected. */
static int no_origin_check(const struct server_guard *g, struct MHD_Connection *conn,
                           const char *method, const char *host, struct cap_error *err)
{
    const char *site = header(conn, "Sec-Fetch-Site");
    if (site)
        return strcasecmp(site, "cross-site") != 0
                   ? 0
                   : cap_err(err, CAP_EPERM,
                             "Cross-site %s refused (Sec-Fetch-Site: cross-site): a page of "
                             "another site may not change this server",
                             method);
    const char *ref = header(conn, "Referer");
    const char *sep = ref ? strstr(ref, "://") : NULL;
    if (!sep)
        return 0;
    size_t n = strcspn(sep + 3, "/?#");
    char from[512];
    snprintf(from, sizeof from, "%.*s%.*s", (int)(sep + 3 - ref), ref,
             (int)(n < 400 ? n : 400), sep + 3);
    if (same_origin(from, host) || origin_allowed(g, from))
        return 0;
    return cap_err(err, CAP_EPERM,
                   "Cross-origin %s from a page of '%.200s' (its Referer) refused: a page of "
                   "another site may not change this server; allow its origin with "
                   "--cors-allowed-origins",
                   method, from);
}

int server_guard_check(const struct server_guard *g, struct MHD_Connection *conn,
                       const char *method, bool public_route, struct cap_error *err)
{
    const char *host = header(conn, MHD_HTTP_HEADER_HOST);
    if (!public_route && !host_allowed(g, host ? host : ""))
        return cap_err(err, CAP_EPERM,
                       "Host header '%.200s' is not allowed (a guard against DNS rebinding): "
                       "expected localhost, an IP address, the listen address or a name given "
                       "to --allowed-hosts",
                       host ? host : "");
    if (!state_changing(method))
        return 0;
    const char *origin = header(conn, MHD_HTTP_HEADER_ORIGIN);
    if (!origin)
        return no_origin_check(g, conn, method, host, err);
    if (same_origin(origin, host) || origin_allowed(g, origin))
        return 0;
    return cap_err(err, CAP_EPERM,
                   "Cross-origin %s from '%.200s' refused: a page of another site may not "
                   "change this server; allow its origin with --cors-allowed-origins",
                   method, origin);
}

bool server_guard_preflight(const struct server_guard *g, struct MHD_Connection *conn,
                            const char *method, struct MHD_Response **r, struct cap_error *err)
{
    *r = NULL;
    const char *origin = header(conn, MHD_HTTP_HEADER_ORIGIN);
    const char *want = header(conn, "Access-Control-Request-Method");
    if (strcmp(method, "OPTIONS") != 0 || !origin || !want)
        return false;
    if (!origin_allowed(g, origin)) {
        cap_err(err, CAP_EPERM,
                "Cross-origin requests from '%.200s' are not allowed: start the server with "
                "--cors-allowed-origins to allow them",
                origin);
        return true;
    }
    *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    const char *want_headers = header(conn, "Access-Control-Request-Headers");
    MHD_add_response_header(r[0], "Access-Control-Allow-Methods",
                            "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    if (want_headers)
        MHD_add_response_header(r[0], "Access-Control-Allow-Headers", want_headers);
    MHD_add_response_header(r[0], "Access-Control-Max-Age", "600");
    return true;                 /* the origin's own headers come with every answer */
}

void server_guard_cors_headers(const struct server_guard *g, struct MHD_Connection *conn,
                               struct MHD_Response *r)
{
    if (!g->norigins)
        return;
    const char *origin = header(conn, MHD_HTTP_HEADER_ORIGIN);
    if (!origin)
        return;
    MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Origin");
    if (!origin_allowed(g, origin))
        return;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
    MHD_add_response_header(r, "Access-Control-Allow-Credentials", "true");
    MHD_add_response_header(r, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
}
