/* cron.c - five-field cron expressions with Vixie cron's rules, and their
 * next fire time in a time zone (tz.c). Written from crontab(5): fields,
 * names, 7 = Sunday, and the day-of-month / day-of-week rule (when both
 * are restricted either may match; a field starting with '*' is
 * unrestricted, as Vixie's DOM_STAR/DOW_STAR flags make it). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pipeline/pipeline.h"

struct field {
    const char *name;
    int lo, hi;
    const char *const *names;    /* names for lo.. (NULL: none) */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct field fields[5] = {
    {"minute", 0, 59, NULL},
    {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},
    {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, dow_names},
};

static const struct {
    const char *name, *expr;
} presets[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

struct ctx {
    const char *expr;
    const struct field *f;
    const char *text;            /* the field as written */
    struct cap_error *err;
};

/* "Invalid cron expression 'E': F field 'T': <detail>". */
__attribute__((format(printf, 2, 3))) static int bad(const struct ctx *c, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return cap_err(c->err, CAP_EINVAL, "Invalid cron expression '%.100s': %s field '%.60s': %s",
                   c->expr, c->f->name, c->text, detail);
}

/* One number or name at *p (advanced past it). */
static int value(const struct ctx *c, const char **p, int *out)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        if (v < c->f->lo || v > c->f->hi)
            return bad(c, "%ld is out of range %d-%d", v, c->f->lo, c->f->hi);
        *out = (int)v;
        *p = s;
        return 0;
    }
    if (c->f->names && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
        isalpha((unsigned char)s[2]) && !isalnum((unsigned char)s[3]))
        for (int i = 0; c->f->names[i]; i++)
            if (strncasecmp(s, c->f->names[i], 3) == 0) {
                *out = c->f->lo + i;
                *p = s + 3;
                return 0;
            }
    char tok[32];
    size_t n = strcspn(s, ",-/");
    snprintf(tok, sizeof tok, "%.*s", (int)(n < 31 ? n : 31), s);
    if (c->f->names)
        return bad(c, "'%s' is not a number %d-%d or a name %s-%s", tok, c->f->lo, c->f->hi,
                   c->f->names[0], c->f->names[c->f == &fields[3] ? 11 : 6]);
    return bad(c, "'%s' is not a number %d-%d", tok, c->f->lo, c->f->hi);
}

/* One list item: (* | N | A-B) [/STEP], bits set in *bits. */
static int item(const struct ctx *c, const char *s, uint64_t *bits)
{
    int a = c->f->lo, b = c->f->hi, step = 1, rc;
    bool range = true;
    if (*s == '*') {
        s++;
        if (c->f == &fields[4])
            b = 6; /* 7 is Sunday again */
    } else {
        if ((rc = value(c, &s, &a)) < 0)
            return rc;
        b = a;
        range = false;
        if (*s == '-') {
            s++;
            if ((rc = value(c, &s, &b)) < 0)
                return rc;
            if (b < a)
                return bad(c, "the range %d-%d goes backwards", a, b);
            range = true;
        }
    }
    if (*s == '/') {
        if (!range)
            return bad(c, "a step needs * or a range before it (%d/%s is not one: "
                          "write %d-%d/%s)",
                       a, s + 1, a, c->f->hi, s + 1);
        s++;
        long v = 0;
        const char *d = s;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        if (s == d || *s || v < 1 || v > c->f->hi)
            return bad(c, "the step must be a number 1-%d", c->f->hi);
        step = (int)v;
    }
    if (*s)
        return bad(c, "unexpected '%c' (expected *, N, A-B, A-B/N, */N or a comma-separated "
                      "list)",
                   *s);
    for (int v = a; v <= b; v += step)
        *bits |= 1ULL << (c->f == &fields[4] && v == 7 ? 0 : v);
    return 0;
}

static int parse_field(struct ctx *c, char *text, uint64_t *bits)
{
    c->text = text;
    *bits = 0;
    char *save = NULL;
    size_t len = strlen(text);
    if (text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,"))
        return bad(c, "an empty list item");
    char *copy = strdup(text);
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save))
        rc = item(c, tok, bits);
    free(copy);
    return rc;
}

/* Whether some month of c has a day of c's day-of-month (Vixie's day
 * rule: only when day-of-month alone decides). */
static bool can_fire(const struct pipe_cron *c)
{
    if (c->dom_star || !c->dow_star)
        return true; /* day-of-week alone or ORed in: every month has each weekday */
    static const int maxd[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++)
        if ((c->month >> m & 1) && (c->dom & ((2ULL << maxd[m - 1]) - 2)))
            return true;
    return false;
}

int pipe_cron_parse(const char *expr, struct pipe_cron *out, struct cap_error *err)
{
    memset(out, 0, sizeof *out);
    if (!expr)
        return cap_err(err, CAP_EINVAL, "Missing cron expression");
    const char *e = expr;
    while (isspace((unsigned char)*e))
        e++;
    if (*e == '@') {
        for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
            if (strcmp(e, presets[i].name) == 0)
                return pipe_cron_parse(presets[i].expr, out, err);
        return cap_err(err, CAP_EINVAL,
                       "Invalid cron expression '%.100s': unknown preset (expected @hourly, "
                       "@daily, @midnight, @weekly, @monthly, @yearly or @annually)",
                       expr);
    }
    char buf[256], *tok[6], *save = NULL;
    snprintf(buf, sizeof buf, "%s", e);
    int n = 0;
    for (char *t = strtok_r(buf, " \t\n", &save); t && n < 6; t = strtok_r(NULL, " \t\n", &save))
        tok[n++] = t;
    if (n != 5 || strlen(expr) >= sizeof buf)
        return cap_err(err, CAP_EINVAL,
                       "Invalid cron expression '%.100s': expected 5 fields (minute hour "
                       "day-of-month month day-of-week) or a preset such as @daily, got %s%d",
                       expr, n == 6 ? "more than " : "", n == 6 ? 5 : n);
    uint64_t bits[5];
    struct ctx c = {.expr = expr, .err = err};
    for (int i = 0; i < 5; i++) {
        c.f = &fields[i];
        int rc = parse_field(&c, tok[i], &bits[i]);
        if (rc < 0)
            return rc;
    }
    *out = (struct pipe_cron){.minute = bits[0], .hour = (uint32_t)bits[1],
                              .dom = (uint32_t)bits[2], .month = (uint16_t)bits[3],
                              .dow = (uint8_t)bits[4], .dom_star = tok[2][0] == '*',
                              .dow_star = tok[4][0] == '*'};
    if (!can_fire(out))
        return cap_err(err, CAP_EINVAL,
                       "Invalid cron expression '%.100s': no month of the month field has a day "
                       "of the day-of-month field, so it never fires",
                       expr);
    return 0;
}

bool pipe_cron_day(const struct pipe_cron *c, int m, int d, int wday)
{
    if (!(c->month >> m & 1))
        return false;
    bool dom = c->dom >> d & 1, dow = c->dow >> wday & 1;
    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The earliest fire time > after among the times of local day `day`
 * (days since 1970-01-01), or INT64_MAX. */
static int64_t day_first(const struct pipe_cron *c, const struct pipe_tz *tz, int64_t day,
                         int64_t after)
{
    int64_t best = INT64_MAX;
    for (int h = 0; h < 24; h++) {
        if (!(c->hour >> h & 1))
            continue;
        for (int mi = 0; mi < 60; mi++) {
            if (!(c->minute >> mi & 1))
                continue;
            int64_t u = pipe_tz_local_to_utc(tz, day * 86400 + h * 3600 + mi * 60);
            if (u > after && u < best)
                best = u;
        }
    }
    return best;
}

#define SEARCH_DAYS (366 * 100)

int pipe_cron_next(const struct pipe_cron *c, const struct pipe_tz *tz, int64_t after,
                   int64_t *out, struct cap_error *err)
{
    int64_t local = after + pipe_tz_offset(tz, after);
    int64_t day = local / 86400 - (local % 86400 < 0) - 1;
    time_t t0 = (time_t)(day * 86400);
    struct tm tm;
    gmtime_r(&t0, &tm);
    int y = tm.tm_year + 1900, m = tm.tm_mon + 1, d = tm.tm_mday, wd = tm.tm_wday;
    int64_t best = INT64_MAX, found_day = 0;
    for (int64_t i = 0; i < SEARCH_DAYS; i++, day++) {
        /* a time shifted by a gap moves a few hours at most: once a day has
         * a fire time, the next day can only hold an earlier one */
        if (best != INT64_MAX && day > found_day + 1)
            break;
        if (pipe_cron_day(c, m, d, wd)) {
            int64_t u = day_first(c, tz, day, after);
            if (u < best) {
                if (best == INT64_MAX)
                    found_day = day;
                best = u;
            }
        }
        static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int mdays = m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : md[m - 1];
        wd = (wd + 1) % 7;
        if (++d > mdays) {
            d = 1;
            if (++m > 12)
                m = 1, y++;
        }
    }
    if (best == INT64_MAX)
        return cap_err(err, CAP_EINVAL, "The cron expression never fires within 100 years");
    *out = best;
    return 0;
}

void pipe_iso_utc(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms / 1000 - (ms % 1000 < 0));
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[96];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    memcpy(out, buf, 31); /* years 0-9999 fit: 24 characters */
    out[31] = 0;
}

int pipe_iso_parse(const char *s, int64_t *ms, struct cap_error *err)
{
    int Y, M, D, h, mi, sec = 0, frac = 0, n = 0, oh = 0, om = 0;
    char sign = 0;
    const char *p = s;
    if (!s || sscanf(p, "%4d-%2d-%2dT%2d:%2d%n", &Y, &M, &D, &h, &mi, &n) != 5)
        goto bad;
    p += n;
    if (*p == ':') {
        if (sscanf(p, ":%2d%n", &sec, &n) != 1)
            goto bad;
        p += n;
        if (*p == '.') {
            int digits = 0;
            for (p++; isdigit((unsigned char)*p); p++, digits++)
                if (digits < 3)
                    frac = frac * 10 + (*p - '0');
            for (; digits < 3; digits++)
                frac *= 10;
        }
    }
    if (*p == 'Z')
        p++;
    else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) == 2) {
        sign = *p;
        p += 1 + n;
    } else
        goto bad;
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60 || oh > 23 ||
        om > 59)
        goto bad;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm) - (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    *ms = t * 1000 + frac;
    return 0;
bad:
    return cap_err(err, CAP_EINVAL,
                   "Invalid time '%.80s': expected ISO 8601 such as 2026-03-29T01:30:00Z or "
                   "2026-03-29T03:30:00+02:00",
                   s ? s : "");
}
