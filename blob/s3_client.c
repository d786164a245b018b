/* s3_client.c - the S3 protocol: one request at a time, signed with
 * Signature Version 4 (AWS's "Authenticating Requests (AWS Signature
 * Version 4)" and "Signature Calculations for the Authorization Header"),
 * sent with libcurl, path-style (https://endpoint/bucket/key), which every
 * S3-compatible server and AWS itself answer.
 *
 * The payload is always hashed (x-amz-content-sha256 is the body's SHA-256,
 * never UNSIGNED-PAYLOAD): bodies are at most one multipart part, already in
 * memory, and hashing 8 MiB costs ~4 ms here against the upload's own time.
 * Connections and DNS answers are shared across threads (a CURLSH), so the
 * requests of an upload reuse one connection. XML answers are read with
 * expat: they are small (a listing page is at most 1000 keys). */
#include "blob/blob_s3.h"

#include <errno.h>
#include <expat.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

#define ANSWER_MAX (8u << 20)   /* an XML answer larger than this is refused */
#define TRIES 4                 /* attempts for transport errors and 500/503 */

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, n, md);
    hex(md, sizeof md, out);
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* SigV4's encoding: RFC 3986's unreserved characters stay, every other byte
 * is %XX in upper case; '/' stays in paths only. */
static void uri_encode(struct cap_buf *b, const char *s, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            cap_buf_putc(b, (char)c);
        } else {
            cap_buf_putc(b, '%');
            cap_buf_putc(b, digits[c >> 4]);
            cap_buf_putc(b, digits[c & 15]);
        }
    }
}

char *s3_key(const struct blob_s3 *s, const char *relpath)
{
    struct cap_buf b;
    cap_buf_init(&b);
    if (*s->prefix)
        cap_buf_printf(&b, "%s/", s->prefix);
    cap_buf_puts(&b, relpath);
    return cap_buf_steal(&b);
}

char *s3_authorization(const struct blob_s3 *s, const char *method, const char *canonical_uri,
                       const char *canonical_query, const char *payload_sha256,
                       const char *amz_date)
{
    const char *signed_headers = s->session_token
                                     ? "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
                                     : "host;x-amz-content-sha256;x-amz-date";
    struct cap_buf creq, sts, scope, out;
    cap_buf_init(&creq);
    cap_buf_printf(&creq, "%s\n%s\n%s\nhost:%s\nx-amz-content-sha256:%s\nx-amz-date:%s\n", method,
                   canonical_uri, canonical_query, s->host, payload_sha256, amz_date);
    if (s->session_token)
        cap_buf_printf(&creq, "x-amz-security-token:%s\n", s->session_token);
    cap_buf_printf(&creq, "\n%s\n%s", signed_headers, payload_sha256);
    char creq_hash[65];
    sha256_hex(creq.data, creq.len, creq_hash);
    cap_buf_free(&creq);

    char date8[9];
    snprintf(date8, sizeof date8, "%.8s", amz_date);
    cap_buf_init(&scope);
    cap_buf_printf(&scope, "%s/%s/s3/aws4_request", date8, s->region);
    cap_buf_init(&sts);
    cap_buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope.data, creq_hash);

    struct cap_buf secret;
    cap_buf_init(&secret);
    cap_buf_printf(&secret, "AWS4%s", s->secret_key);
    unsigned char k[32];
    hmac(secret.data, secret.len, date8, k);
    cap_buf_free(&secret);
    hmac(k, sizeof k, s->region, k);
    hmac(k, sizeof k, "s3", k);
    hmac(k, sizeof k, "aws4_request", k);
    unsigned char sig[32];
    hmac(k, sizeof k, sts.data, sig);
    char sig_hex[65];
    hex(sig, sizeof sig, sig_hex);
    cap_buf_free(&sts);

    cap_buf_init(&out);
    cap_buf_printf(&out, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                   s->access_key, scope.data, signed_headers, sig_hex);
    cap_buf_free(&scope);
    return cap_buf_steal(&out);
}

/* ---- the canonical request's pieces ------------------------------------ */

struct param {
    char *name, *value;   /* encoded */
};

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

/* name=value pairs, each encoded, sorted by name: the canonical query
 * string, which is also sent as the URL's query. */
static char *canonical_query(const char *const *params)
{
    size_t n = 0;
    while (params && params[2 * n])
        n++;
    struct param *ps = n ? cap_xcalloc(n, sizeof *ps) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct cap_buf b;
        cap_buf_init(&b);
        uri_encode(&b, params[2 * i], false);
        ps[i].name = cap_buf_steal(&b);
        cap_buf_init(&b);
        uri_encode(&b, params[2 * i + 1] ? params[2 * i + 1] : "", false);
        ps[i].value = cap_buf_steal(&b);
    }
    if (n > 1)
        qsort(ps, n, sizeof *ps, param_cmp);
    struct cap_buf q;
    cap_buf_init(&q);
    cap_buf_puts(&q, "");
    for (size_t i = 0; i < n; i++) {
        cap_buf_printf(&q, "%s%s=%s", i ? "&" : "", ps[i].name, ps[i].value);
        free(ps[i].name);
        free(ps[i].value);
    }
    free(ps);
    return cap_buf_steal(&q);
}

static char *canonical_uri(const struct blob_s3 *s, const char *key)
{
    struct cap_buf b;
    cap_buf_init(&b);
    cap_buf_putc(&b, '/');
    uri_encode(&b, s->bucket, false);
    if (key) {
        cap_buf_putc(&b, '/');
        uri_encode(&b, key, true);
    }
    return cap_buf_steal(&b);
}

/* ---- one transfer ------------------------------------------------------- */

struct xfer {
    struct s3_req *r;
    CURL *c;
    size_t sent;
    int write_errno;
    bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
    struct xfer *x = cls;
    size_t len = size * n;
    long st = 0;
    curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &st);
    if (st >= 200 && st < 300 && x->r->delivered == 0) {
        curl_off_t cl = -1;
        curl_easy_getinfo(x->c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        x->r->content_length = cl;
    }
    if (st >= 200 && st < 300 && x->r->sink) {
        size_t took = x->r->sink(x->r->sink_cls, p, len);
        x->r->delivered += took;
        return took;
    }
    if (st >= 200 && st < 300 && x->r->out_fd >= 0) {
        for (size_t off = 0; off < len;) {
            ssize_t w = write(x->r->out_fd, p + off, len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                x->write_errno = w < 0 ? errno : EIO;
                return 0;
            }
            off += (size_t)w;
        }
        x->r->delivered += len;
        return len;
    }
    if (x->r->answer.len + len > ANSWER_MAX) {
        x->too_big = true;
        return 0;
    }
    cap_buf_append(&x->r->answer, p, len);
    return len;
}

static int on_progress(void *cls, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct xfer *x = cls;
    return x->r->cancelled(x->r->sink_cls) ? 1 : 0;
}

static size_t on_read(char *dst, size_t size, size_t n, void *cls)
{
    struct xfer *x = cls;
    size_t left = x->r->body_len - x->sent, len = size * n;
    if (len > left)
        len = left;
    memcpy(dst, (const char *)x->r->body + x->sent, len);
    x->sent += len;
    return len;
}

/* "Name: value\r\n" -> value without the line end, when name matches. */
static const char *header_value(const char *line, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
    struct xfer *x = cls;
    size_t len = size * n, vlen;
    const char *v;
    if ((v = header_value(p, len, "ETag", &vlen)) && vlen < sizeof x->r->etag) {
        memcpy(x->r->etag, v, vlen);
        x->r->etag[vlen] = '\0';
    } else if ((v = header_value(p, len, "Date", &vlen)) && vlen < 64) {
        char date[64];
        memcpy(date, v, vlen);
        date[vlen] = '\0';
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(date, "%a, %d %b %Y %H:%M:%S", &tm);
        if (end)
            x->r->server_skew_s = (long)(timegm(&tm) - time(NULL));
    }
    return len;
}

static struct curl_slist *request_headers(const struct blob_s3 *s, const struct s3_req *r,
                                          const char *curi, const char *cquery)
{
    char payload[65], amz_date[17];
    sha256_hex(r->body ? r->body : "", r->body ? r->body_len : 0, payload);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    char *auth = s3_authorization(s, r->method, curi, cquery, payload, amz_date);
    struct cap_buf h;
    cap_buf_init(&h);
    struct curl_slist *list = NULL;
#define ADD(...)                                   \
    do {                                           \
        cap_buf_reset(&h);                         \
        cap_buf_printf(&h, __VA_ARGS__);           \
        list = curl_slist_append(list, h.data);    \
    } while (0)
    ADD("Host: %s", s->host);
    ADD("x-amz-date: %s", amz_date);
    ADD("x-amz-content-sha256: %s", payload);
    ADD("Authorization: %s", auth);
    if (s->session_token)
        ADD("x-amz-security-token: %s", s->session_token);
    ADD("Content-Type:%s%s", r->content_type ? " " : "", r->content_type ? r->content_type : "");
    ADD("Expect:");  /* no 100-continue round trip before each part */
#undef ADD
    cap_buf_free(&h);
    free(auth);
    return list;
}

static void set_method(CURL *c, struct s3_req *r, struct xfer *x)
{
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    }
}

/* One attempt: the CURLcode, with r's status and answer filled. */
static CURLcode attempt(struct blob_s3 *s, struct s3_req *r, struct xfer *x)
{
    char *curi = canonical_uri(s, r->key);
    char *cquery = canonical_query(r->params);
    struct cap_buf url;
    cap_buf_init(&url);
    cap_buf_printf(&url, "%s%s%s%s", s->endpoint, curi, *cquery ? "?" : "", cquery);
    struct curl_slist *hdrs = request_headers(s, r, curi, cquery);
    CURL *c = curl_easy_init();
    x->c = c;
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_SHARE, s->share);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    /* a stalled transfer (under 1 byte/s for a minute) is given up */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    set_method(c, r, x);
    if (r->cancelled) {
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status / 100 == 2 && r->content_length < 0) {   /* a HEAD's, or no body */
        curl_off_t cl = -1;
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        r->content_length = cl;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    cap_buf_free(&url);
    free(curi);
    free(cquery);
    return cc;
}

static void on_error_xml(void *cls, const char *path, const char *text)
{
    struct s3_req *r = cls;
    if (strcmp(path, "Error/Code") == 0)
        snprintf(r->code, sizeof r->code, "%s", text);
    else if (strcmp(path, "Error/Message") == 0)
        snprintf(r->message, sizeof r->message, "%s", text);
}

/* A rewound destination for the next attempt's body. */
static int rewind_out(struct s3_req *r)
{
    if (r->out_fd < 0)
        return 0;
    return ftruncate(r->out_fd, 0) == 0 && lseek(r->out_fd, 0, SEEK_SET) == 0 ? 0 : -errno;
}

static bool retryable(CURLcode cc, long status)
{
    if (cc == CURLE_OK)
        return status == 500 || status == 503;
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR ||
           cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE ||
           cc == CURLE_OPERATION_TIMEDOUT;
}

/* What S3's answer means, for a person. */
static int explain(const struct blob_s3 *s, const struct s3_req *r, struct cap_error *err)
{
    const char *code = r->code;
    if (r->status == 404 && (!*code || strcmp(code, "NoSuchKey") == 0))
        return cap_err(err, CAP_ENOTFOUND, "No S3 object '%.300s'", r->key ? r->key : "");
    if (strcmp(code, "NoSuchBucket") == 0 || (r->status == 404 && !r->key))
        return cap_err(err, CAP_EUNAVAIL,
                       "The bucket '%.100s' does not exist at %.200s: create it first, or name "
                       "another in s3://bucket/prefix",
                       s->bucket, s->endpoint);
    if (strcmp(code, "InvalidAccessKeyId") == 0)
        return cap_err(err, CAP_EUNAVAIL,
                       "The S3 server %.200s does not know the access key '%.64s' "
                       "(AWS_ACCESS_KEY_ID)",
                       s->endpoint, s->access_key);
    if (strcmp(code, "SignatureDoesNotMatch") == 0)
        return cap_err(err, CAP_EUNAVAIL,
                       "The S3 server %.200s refused the request's signature: check "
                       "AWS_SECRET_ACCESS_KEY for the access key '%.64s'",
                       s->endpoint, s->access_key);
    if (strcmp(code, "RequestTimeTooSkewed") == 0)
        return cap_err(err, CAP_EUNAVAIL,
                       "This machine's clock is %ld s %s the S3 server's (%.200s); SigV4 refuses "
                       "requests more than 15 minutes off: set the clock (NTP)",
                       labs(r->server_skew_s), r->server_skew_s > 0 ? "behind" : "ahead of",
                       s->endpoint);
    return cap_err(err, CAP_EUNAVAIL, "The S3 server %.200s answered %s %.300s with %ld%s%s%s%s",
                   s->endpoint, r->method, r->key ? r->key : s->bucket, r->status,
                   *code ? " " : "", code, *r->message ? ": " : "", r->message);
}

int s3_do(struct blob_s3 *s, struct s3_req *r, struct cap_error *err)
{
    CURLcode cc = CURLE_OK;
    struct xfer x;
    for (int i = 0; i < TRIES; i++) {
        if (i) {
            usleep(100000u << (2 * (i - 1)));   /* 0.1, 0.4, 1.6 s */
            int rc = rewind_out(r);
            if (rc < 0)
                return cap_err(err, CAP_EINTERNAL, "Cannot rewind the download of %.300s: %s",
                               r->key, strerror(-rc));
        }
        cap_buf_reset(&r->answer);
        r->status = 0;
        r->content_length = -1;
        r->delivered = 0;
        r->etag[0] = r->code[0] = r->message[0] = '\0';
        memset(&x, 0, sizeof x);
        x.r = r;
        cc = attempt(s, r, &x);
        if (x.write_errno)
            return cap_err(err, CAP_EINTERNAL, "Cannot spool %.300s from S3: %s", r->key,
                           strerror(x.write_errno));
        if (!retryable(cc, r->status) || (r->sink && r->delivered))
            break;
    }
    if (x.too_big)
        return cap_err(err, CAP_EUNAVAIL, "The S3 server %.200s sent an answer over %u bytes",
                       s->endpoint, ANSWER_MAX);
    if (cc != CURLE_OK)
        return cap_err(err, CAP_EUNAVAIL, "The S3 server %.200s cannot be reached: %s",
                       s->endpoint, curl_easy_strerror(cc));
    if (r->status >= 200 && r->status < 300)
        return 0;
    if (r->answer.len)
        s3_xml_walk(r->answer.data, r->answer.len, on_error_xml, r);
    return explain(s, r, err);
}

void s3_req_clear(struct s3_req *r)
{
    cap_buf_free(&r->answer);
}

/* ---- XML ------------------------------------------------------------------ */

#define XML_DEPTH 16

struct xml_walk {
    struct cap_buf path, text;
    size_t lens[XML_DEPTH];
    int depth;
    s3_xml_fn fn;
    void *cls;
};

static void xml_start(void *cls, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    struct xml_walk *w = cls;
    if (w->depth < XML_DEPTH)
        w->lens[w->depth] = w->path.len;
    w->depth++;
    if (w->depth <= XML_DEPTH) {
        if (w->path.len)
            cap_buf_putc(&w->path, '/');
        cap_buf_puts(&w->path, name);
    }
    cap_buf_reset(&w->text);
}

static void xml_end(void *cls, const XML_Char *name)
{
    (void)name;
    struct xml_walk *w = cls;
    if (w->depth <= XML_DEPTH)
        w->fn(w->cls, w->path.data ? w->path.data : "", w->text.data ? w->text.data : "");
    w->depth--;
    if (w->depth < XML_DEPTH) {
        w->path.len = w->lens[w->depth];
        if (w->path.data)
            w->path.data[w->path.len] = '\0';
    }
    cap_buf_reset(&w->text);
}

static void xml_chars(void *cls, const XML_Char *s, int len)
{
    struct xml_walk *w = cls;
    if (w->text.len < 65536)
        cap_buf_append(&w->text, s, (size_t)len);
}

int s3_xml_walk(const char *xml, size_t len, s3_xml_fn fn, void *cls)
{
    struct xml_walk w = {.fn = fn, .cls = cls};
    cap_buf_init(&w.path);
    cap_buf_init(&w.text);
    cap_buf_puts(&w.path, "");
    cap_buf_puts(&w.text, "");
    XML_Parser p = XML_ParserCreate("UTF-8");
    XML_SetUserData(p, &w);
    XML_SetElementHandler(p, xml_start, xml_end);
    XML_SetCharacterDataHandler(p, xml_chars);
    int rc = XML_Parse(p, xml, (int)len, 1) == XML_STATUS_OK ? 0 : -1;
    XML_ParserFree(p);
    cap_buf_free(&w.path);
    cap_buf_free(&w.text);
    return rc;
}
