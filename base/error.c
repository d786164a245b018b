/* error.c - error codes, their MLflow names and HTTP statuses. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>

int cap_err(struct cap_error *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        /* messages quote request bytes (a name, a path): decoded %C0 or a
         * sequence cut by the buffer's end must not make the JSON invalid */
        cap_utf8_repair(err->msg);
    }
    return -code;
}

void cap_err_clear(struct cap_error *err)
{
    if (err) {
        err->code = CAP_OK;
        err->msg[0] = '\0';
    }
}

static const struct {
    const char *name;
    int status;
} codes[CAP_ECODE_COUNT] = {
    [CAP_OK] = {"OK", 200},
    [CAP_EINVAL] = {"INVALID_PARAMETER_VALUE", 400},
    [CAP_EBADREQ] = {"BAD_REQUEST", 400},
    [CAP_EEXISTS] = {"RESOURCE_ALREADY_EXISTS", 400},
    [CAP_ENOTFOUND] = {"RESOURCE_DOES_NOT_EXIST", 404},
    [CAP_ENOENDPOINT] = {"ENDPOINT_NOT_FOUND", 404},
    [CAP_ETOOLARGE] = {"INVALID_PARAMETER_VALUE", 413},
    [CAP_ECONFLICT] = {"RESOURCE_CONFLICT", 409},
    [CAP_EINTERNAL] = {"INTERNAL_ERROR", 500},
    [CAP_ENOTIMPL] = {"NOT_IMPLEMENTED", 501},
    [CAP_EUNAVAIL] = {"TEMPORARILY_UNAVAILABLE", 503},
    [CAP_EMETHOD] = {"BAD_REQUEST", 405},
    [CAP_EMEDIA] = {"BAD_REQUEST", 415},
    [CAP_EURILONG] = {"BAD_REQUEST", 414},
    [CAP_EHEADERS] = {"BAD_REQUEST", 431},
    [CAP_EPERM] = {"PERMISSION_DENIED", 403},
    [CAP_EUNAUTH] = {"UNAUTHENTICATED", 401},
    [CAP_ETOOMANY] = {"REQUEST_LIMIT_EXCEEDED", 429},
    [CAP_ENOSPACE] = {"RESOURCE_EXHAUSTED", 507},
};

const char *cap_err_name(int code)
{
    if (code < 0)
        code = -code;
    if (code >= CAP_ECODE_COUNT)
        return "INTERNAL_ERROR";
    return codes[code].name;
}

int cap_err_http_status(int code)
{
    if (code < 0)
        code = -code;
    if (code >= CAP_ECODE_COUNT)
        return 500;
    return codes[code].status;
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629's table), or 0. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;                  /* overlong */
        else if (c == 0xED)
            hi = 0x9F;                  /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;                  /* overlong */
        else if (c == 0xF4)
            hi = 0x8F;                  /* above U+10FFFF */
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) /* (a NUL ends the loop here too) */
            return 0;
    return n;
}

size_t cap_utf8_check(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = s[i] ? utf8_seq_len((const unsigned char *)s + i) : 1;
        if (len == 0 || len > n - i)
            return i;
        i += len;
    }
    return n;
}

char *cap_utf8_repair(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n) {
            p += n;
        } else {
            *p++ = '?';
        }
    }
    return s;
}
