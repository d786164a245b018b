/* error.c - error codes, their MLflow names and HTTP statuses. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>

int cap_err(struct cap_error *err, int code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
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
