/* util.c - clocks, random ids, base64 and logging. */
#include "base/util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/buf.h"

int64_t cap_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cap_deadline(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    long ns = ts->tv_nsec + (long)(seconds * 1e9);
    ts->tv_sec += ns / 1000000000L;
    ts->tv_nsec = ns % 1000000000L;
}

double cap_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

uint64_t cap_fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

void cap_random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];
    static const char hex[] = "0123456789abcdef";
    size_t done = 0;
    while (done < nbytes) {
        size_t chunk = nbytes - done < sizeof raw ? nbytes - done : sizeof raw;
        size_t got = 0;
        while (got < chunk) {
            ssize_t r = getrandom(raw + got, chunk - got, 0);
            if (r > 0)
                got += (size_t)r;
        }
        for (size_t i = 0; i < chunk; i++) {
            out[2 * (done + i)] = hex[raw[i] >> 4];
            out[2 * (done + i) + 1] = hex[raw[i] & 15];
        }
        done += chunk;
    }
    out[2 * nbytes] = '\0';
}

void cap_uuid4(char out[37])
{
    char hex[33];
    cap_random_hex(hex, 16);
    hex[12] = '4';                                   /* version 4 */
    hex[16] = "89ab"[strtol((char[]){hex[16], 0}, NULL, 16) & 3]; /* variant 10 */
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

bool cap_uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *cap_base64_encode(const void *data, size_t n)
{
    const unsigned char *p = data;
    char *out = cap_xmalloc(4 * ((n + 2) / 3) + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

unsigned char *cap_base64_decode(const char *s, size_t *out_len)
{
    size_t n = strlen(s);
    if (n % 4)
        return NULL;
    unsigned char *out = cap_xmalloc(n / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_val(s[i + k])) < 0) {
                free(out);
                return NULL;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (unsigned char)(x >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(x >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)x;
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

static enum cap_log_level log_level = CAP_LOG_INFO;

void cap_log_set_level(enum cap_log_level lvl)
{
    log_level = lvl;
}

void cap_log(enum cap_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < log_level)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "capstan %s: %s\n", names[lvl], line);
}

bool cap_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int cap_strp_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *cap_uri_redact(const char *uri)
{
    char *out = cap_xstrdup(uri);
    char *auth = strstr(out, "://");
    if (auth) {
        auth += 3;
        size_t hostpart = strcspn(auth, "/?#");
        char *at = memrchr(auth, '@', hostpart);
        char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            struct cap_buf b;
            cap_buf_init(&b);
            cap_buf_append(&b, out, (size_t)(colon + 1 - out));
            cap_buf_puts(&b, "***");
            cap_buf_puts(&b, at);
            free(out);
            out = cap_buf_steal(&b);
        }
    }
    struct cap_buf b;
    cap_buf_init(&b);
    const char *p = out;
    for (const char *k; (k = strstr(p, "password=")); p = k + strcspn(k, "& ")) {
        k += strlen("password=");
        cap_buf_append(&b, p, (size_t)(k - p));
        bool param = k - strlen("password=") == out || strchr("?& ", k[-10]);
        if (param)
            cap_buf_puts(&b, "***");
        else
            cap_buf_append(&b, k, strcspn(k, "& "));
    }
    cap_buf_puts(&b, p);
    free(out);
    return cap_buf_steal(&b);
}

void cap_thread_name(const char *name)
{
    char n[16];
    snprintf(n, sizeof n, "%s", name);
    pthread_setname_np(pthread_self(), n);
}
