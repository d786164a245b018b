/* addr.c - where a webhook may point. A server that posts to any URL a
 * client names can be made to reach its own network (SSRF): loopback
 * services, the cloud metadata address 169.254.169.254, private hosts. So a
 * webhook must resolve to public addresses only, unless the server was
 * started with --alert-allow-private-webhooks. Checked when a rule is put
 * (every address the host resolves to) and again at each delivery, on the
 * address actually connected to (deliver.c), since DNS may change. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "alert/alert.h"

/* IPv4 in host order. */
static bool v4_private(uint32_t a)
{
    static const struct {
        uint32_t net, mask;
    } nets[] = {
        {0x00000000, 0xff000000}, /* 0/8 "this network", 0.0.0.0 unspecified */
        {0x0a000000, 0xff000000}, /* 10/8 private */
        {0x64400000, 0xffc00000}, /* 100.64/10 carrier-grade NAT */
        {0x7f000000, 0xff000000}, /* 127/8 loopback */
        {0xa9fe0000, 0xffff0000}, /* 169.254/16 link-local (cloud metadata) */
        {0xac100000, 0xfff00000}, /* 172.16/12 private */
        {0xc0a80000, 0xffff0000}, /* 192.168/16 private */
        {0xe0000000, 0xe0000000}, /* 224/4 multicast, 240/4 reserved, broadcast */
    };
    for (size_t i = 0; i < sizeof nets / sizeof *nets; i++)
        if ((a & nets[i].mask) == nets[i].net)
            return true;
    return false;
}

static uint32_t v4_at(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool v6_private(const unsigned char *b)
{
    static const unsigned char zero[12] = {0};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    /* ::/96 holds :: (unspecified), ::1 (loopback) and the old
     * IPv4-compatible form: all judged by their last 32 bits. */
    if (memcmp(b, zero, 12) == 0) {
        uint32_t v4 = v4_at(b + 12);
        return v4 <= 1 || v4_private(v4);
    }
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return v4_private(v4_at(b + 12));
    return (b[0] & 0xfe) == 0xfc ||                    /* fc00::/7 unique local */
           (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) ||  /* fe80::/10 link-local */
           (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) ||  /* fec0::/10 old site-local */
           b[0] == 0xff;                               /* ff00::/8 multicast */
}

bool alert_addr_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return v4_private(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6)
        return v6_private(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return true; /* not an internet address at all */
}

/* The URL's host without IPv6 brackets into out; false when it has none. */
static bool url_host(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *host = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == 0 &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == 0 && host[0];
    if (ok) {
        size_t len = strlen(host);
        bool br = host[0] == '[' && host[len - 1] == ']';
        ok = len - (br ? 2 : 0) < n;
        if (ok)
            snprintf(out, n, "%.*s", (int)(len - (br ? 2 : 0)), host + br);
    }
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static int refuse(struct cap_error *err, const char *host, const struct sockaddr *sa)
{
    char text[INET6_ADDRSTRLEN] = "?";
    const void *at = sa->sa_family == AF_INET
                         ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                         : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    inet_ntop(sa->sa_family, at, text, sizeof text);
    return cap_err(err, CAP_EINVAL,
                   "Invalid value for 'webhook' in alert rule: host '%.200s' is (or resolves "
                   "to) %s, a loopback, private, link-local or unspecified address; expected a "
                   "public address (start the server with --alert-allow-private-webhooks to "
                   "allow it)",
                   host, text);
}

int alert_webhook_check(const char *url, bool allow_private, struct cap_error *err)
{
    char host[256];
    if (!url_host(url, host, sizeof host))
        return cap_err(err, CAP_EINVAL,
                       "Invalid value for 'webhook' in alert rule: expected an http:// or "
                       "https:// URL with a host");
    if (allow_private)
        return 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0)
        return cap_err(err, CAP_EINVAL,
                       "Invalid value for 'webhook' in alert rule: host '%.200s' does not "
                       "resolve (%s); expected a host with a public address",
                       host, gai_strerror(gai));
    int rc = 0;
    for (const struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next)
        if (alert_addr_private(ai->ai_addr))
            rc = refuse(err, host, ai->ai_addr);
    freeaddrinfo(res);
    return rc;
}
