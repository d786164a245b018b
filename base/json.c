/* json.c - typed access to request fields and protobuf-style output. */
#include "base/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

static const cJSON *field_of(const cJSON *obj, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (v && cJSON_IsNull(v))
        return NULL;
    return v;
}

static int missing(const char *field, bool required, struct cap_error *err)
{
    if (required)
        return cap_err(err, CAP_EINVAL,
                       "Missing value for required parameter '%s'. See the API docs for more "
                       "information about request parameters.",
                       field);
    return 1;
}

static int bad_type(const char *field, const char *expected, struct cap_error *err)
{
    return cap_err(err, CAP_EINVAL,
                   "Invalid value for parameter '%s' supplied: expected %s", field, expected);
}

int cap_json_get_str(const cJSON *obj, const char *field, bool required,
                     const char **out, struct cap_error *err)
{
    const cJSON *v = field_of(obj, field);
    if (!v)
        return missing(field, required, err);
    if (!cJSON_IsString(v))
        return bad_type(field, "a string", err);
    *out = v->valuestring;
    return 0;
}

static bool parse_i64(const char *s, int64_t *out)
{
    if (!*s)
        return false;
    errno = 0;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = x;
    return true;
}

int cap_json_get_i64(const cJSON *obj, const char *field, bool required,
                     int64_t *out, struct cap_error *err)
{
    const cJSON *v = field_of(obj, field);
    if (!v)
        return missing(field, required, err);
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18)
            return bad_type(field, "an integer", err);
        *out = (int64_t)d;
        return 0;
    }
    if (cJSON_IsString(v) && parse_i64(v->valuestring, out))
        return 0;
    return bad_type(field, "an integer", err);
}

bool cap_json_value_double(const cJSON *v, double *out)
{
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return true;
    }
    if (!cJSON_IsString(v))
        return false;
    const char *s = v->valuestring;
    if (strcmp(s, "NaN") == 0 || strcasecmp(s, "nan") == 0) {
        *out = NAN;
        return true;
    }
    if (strcmp(s, "Infinity") == 0 || strcasecmp(s, "inf") == 0) {
        *out = INFINITY;
        return true;
    }
    if (strcmp(s, "-Infinity") == 0 || strcasecmp(s, "-inf") == 0) {
        *out = -INFINITY;
        return true;
    }
    if (!*s)
        return false;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno == ERANGE)
        return false;
    *out = d;
    return true;
}

int cap_json_get_double(const cJSON *obj, const char *field, bool required,
                        double *out, struct cap_error *err)
{
    const cJSON *v = field_of(obj, field);
    if (!v)
        return missing(field, required, err);
    if (cap_json_value_double(v, out))
        return 0;
    return bad_type(field, "a number", err);
}

int cap_json_get_bool(const cJSON *obj, const char *field, bool required,
                      bool *out, struct cap_error *err)
{
    const cJSON *v = field_of(obj, field);
    if (!v)
        return missing(field, required, err);
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return 0;
    }
    if (cJSON_IsString(v)) {
        if (strcasecmp(v->valuestring, "true") == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v->valuestring, "false") == 0) {
            *out = false;
            return 0;
        }
    }
    return bad_type(field, "a boolean", err);
}

int cap_json_get_array(const cJSON *obj, const char *field, bool required,
                       const cJSON **out, struct cap_error *err)
{
    const cJSON *v = field_of(obj, field);
    if (!v)
        return missing(field, required, err);
    if (cJSON_IsObject(v))
        return bad_type(field, "a list", err);
    *out = v;
    return 0;
}

int cap_json_array_size(const cJSON *arr)
{
    if (!arr)
        return 0;
    if (cJSON_IsArray(arr))
        return cJSON_GetArraySize(arr);
    return 1;
}

const cJSON *cap_json_array_first(const cJSON *arr)
{
    if (cJSON_IsArray(arr))
        return arr->child;
    return arr;
}

const cJSON *cap_json_array_next(const cJSON *arr, const cJSON *item)
{
    return cJSON_IsArray(arr) && item ? item->next : NULL;
}

void cap_json_add_double(cJSON *obj, const char *key, double v)
{
    if (isnan(v))
        cJSON_AddStringToObject(obj, key, "NaN");
    else if (isinf(v))
        cJSON_AddStringToObject(obj, key, v > 0 ? "Infinity" : "-Infinity");
    else
        cJSON_AddNumberToObject(obj, key, v);
}

void cap_json_add_i64(cJSON *obj, const char *key, int64_t v)
{
    cJSON_AddNumberToObject(obj, key, (double)v);
}

void cap_json_add_str(cJSON *obj, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(obj, key, s);
}

char *cap_json_print(const cJSON *obj)
{
    char *s = cJSON_PrintUnformatted(obj);
    if (!s)
        return cap_xstrdup("{}");
    return s;
}
