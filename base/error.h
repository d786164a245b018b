/* error.h - the one error convention: functions return 0 or a negative
 * CAP_E* code and fill a struct cap_error with a message meant for the user.
 * The codes map one-to-one onto MLflow's error_code strings and HTTP statuses
 * so that every layer can fail in the protocol's own words. */
#ifndef CAP_ERROR_H
#define CAP_ERROR_H

#include <stddef.h>

enum cap_errcode {
    CAP_OK = 0,
    CAP_EINVAL,        /* INVALID_PARAMETER_VALUE, 400 */
    CAP_EBADREQ,       /* BAD_REQUEST, 400 */
    CAP_EEXISTS,       /* RESOURCE_ALREADY_EXISTS, 400 */
    CAP_ENOTFOUND,     /* RESOURCE_DOES_NOT_EXIST, 404 */
    CAP_ENOENDPOINT,   /* ENDPOINT_NOT_FOUND, 404 */
    CAP_ETOOLARGE,     /* INVALID_PARAMETER_VALUE, 413 (request body over the limit) */
    CAP_ECONFLICT,     /* RESOURCE_CONFLICT, 409 */
    CAP_EINTERNAL,     /* INTERNAL_ERROR, 500 */
    CAP_ENOTIMPL,      /* NOT_IMPLEMENTED, 501 */
    CAP_EUNAVAIL,      /* TEMPORARILY_UNAVAILABLE, 503 */
    CAP_EMETHOD,       /* BAD_REQUEST, 405 */
    CAP_EMEDIA,        /* BAD_REQUEST, 415 (unsupported Content-Type) */
    CAP_EURILONG,      /* BAD_REQUEST, 414 (request target over the limit) */
    CAP_EHEADERS,      /* BAD_REQUEST, 431 (request header fields over the limit) */
    CAP_EPERM,         /* PERMISSION_DENIED, 403 */
    CAP_EUNAUTH,       /* UNAUTHENTICATED, 401 (credentials missing or wrong) */
    CAP_ETOOMANY,      /* REQUEST_LIMIT_EXCEEDED, 429 (too many failed sign-ins) */
    CAP_ENOSPACE,      /* RESOURCE_EXHAUSTED, 507 (the disk holding the store, the
                        * artifacts or the prediction log is full: nothing was stored) */
    CAP_ECODE_COUNT
};

struct cap_error {
    int code;          /* enum cap_errcode, CAP_OK when no error */
    char msg[512];
};

/* Sets err (may be NULL) and returns -code, so callers can write
 * `return cap_err(err, CAP_EINVAL, "...")`. The message is always valid
 * UTF-8 (see cap_utf8_repair): it quotes client bytes and ends up in JSON. */
int cap_err(struct cap_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cap_err_clear(struct cap_error *err);
const char *cap_err_name(int code);   /* MLflow error_code string */
/* Replaces each byte of s that is not part of a well-formed UTF-8 sequence
 * (overlong forms, surrogates and code points above U+10FFFF included) with
 * '?', in place; returns s. */
char *cap_utf8_repair(char *s);
/* The offset of the first byte of s[0..n) that does not start a
 * well-formed sequence (same rules), or n when it is all UTF-8. s[n] must be
 * readable and 0 (a cap_buf's data is). */
size_t cap_utf8_check(const char *s, size_t n);
int cap_err_http_status(int code);

#endif
