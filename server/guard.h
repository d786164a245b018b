/* guard.h - the HTTP front's browser-facing rules, internal to server/:
 * which Host headers are answered (DNS rebinding), which cross-origin
 * requests may change state (CSRF), and the CORS answers for the origins
 * the operator allowed. server.c calls these once per request; nothing else
 * decides them.
 *
 * Host: a request is answered when its Host names localhost, is an IP
 * literal (a rebinding attack needs a DNS name of the attacker's, so a
 * literal address cannot be one), names the listen address, or matches an
 * --allowed-hosts pattern ("*" matches any character run; a pattern without
 * ':' is matched against the name without its port, one with ':' against
 * the whole header; "*" alone turns the check off). Public routes (the
 * route table's API_SCOPE_PUBLIC: the health routes) are answered whatever
 * the Host: probes and load balancers send what they like.
 *
 * Origin: POST, PUT, PATCH and DELETE carrying an Origin header (browsers
 * send one on every such request) are refused with 403 unless the origin
 * is this server (its host[:port] equals the Host header) or matches a
 * --cors-allowed-origins pattern. Without Origin, Sec-Fetch-Site:
 * cross-site is refused, and so (when Sec-Fetch-Site is absent too) is a
 * Referer of another origin; programs send none of these and pass. With
 * allowed origins, their requests get
 * Access-Control-Allow-Origin (the origin echoed, with credentials) and
 * their preflights (OPTIONS with Access-Control-Request-Method) a 204; any
 * other preflight gets 403, so CORS stays off unless configured. */
#ifndef CAP_SERVER_GUARD_H
#define CAP_SERVER_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

struct server_guard {
    char **hosts;                /* --allowed-hosts patterns */
    size_t nhosts;
    bool any_host;
    char **origins;              /* --cors-allowed-origins patterns */
    size_t norigins;
    bool any_origin;
    char *listen_host;           /* --host, when it is a name to accept */
};

/* Parses the two comma-separated lists (either may be NULL); refuses empty
 * entries and origins that are not scheme://host[:port] or a pattern. */
int server_guard_init(struct server_guard *g, const char *listen_host, const char *allowed_hosts,
                      const char *cors_origins, struct cap_error *err);
void server_guard_free(struct server_guard *g);

/* The request's verdict: 0, or an error (CAP_EPERM) that answers it.
 * public_route: the matched route is public (no Host check). */
int server_guard_check(const struct server_guard *g, struct MHD_Connection *conn,
                       const char *method, bool public_route, struct cap_error *err);
/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-
 * Method): true when it is one, with *r set to its 204 answer, or *r
 * NULL and err set when the origin is not allowed. */
bool server_guard_preflight(const struct server_guard *g, struct MHD_Connection *conn,
                            const char *method, struct MHD_Response **r, struct cap_error *err);
/* Adds the CORS headers an allowed origin's answer carries; a no-op
 * without allowed origins or without an Origin header. */
void server_guard_cors_headers(const struct server_guard *g, struct MHD_Connection *conn,
                               struct MHD_Response *r);

#endif
