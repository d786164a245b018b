/* tz.c - IANA time zones read from TZif files (RFC 8536), written from the
 * RFC: the header's six counts, the v1 block skipped, the v2+ block's
 * 64-bit transition times and local time types, and the footer's POSIX TZ
 * string (std offset [dst [offset] [,start[/time],end[/time]]]) for the
 * instants after the last transition (slim files stop their tables early
 * and leave the rest to it). No setenv("TZ"): the server is threaded. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "pipeline/pipeline.h"

#define TZ_MAX_FILE (1 << 20) /* the largest zone in tzdata is ~3 KiB */

/* A POSIX TZ rule date: Jn (1-365, Feb 29 never counted), n (0-365) or
 * Mm.w.d (day d of week w of month m; week 5 is the last). */
struct rule_date {
    char kind;                   /* 'J', 'N' or 'M' */
    int n, m, w, d;
    int32_t time;                /* seconds after local midnight; may be < 0 or > 24 h */
};

struct pipe_tz {
    char *name;
    int64_t *trans;              /* transition instants, increasing */
    unsigned char *idx;          /* the type that starts at each */
    size_t ntrans;
    int32_t *off;                /* each type's UT offset */
    size_t ntypes;
    bool footer;                 /* a POSIX rule follows the table */
    int32_t std_off, dst_off;    /* seconds east of UTC */
    bool has_dst;
    struct rule_date start, end;
};

/* ---- civil dates (proleptic Gregorian), days since 1970-01-01 ---- */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t year_of_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : md[m - 1];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- the footer's POSIX TZ string ---- */
static const char *p_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q && q - p >= 4 ? q + 1 : NULL;
    }
    const char *q = p;
    while (isalpha((unsigned char)*q))
        q++;
    return q - p >= 3 ? q : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to maxh (RFC 8536 extends rule times to 167). */
static const char *p_time(const char *p, int maxh, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    int v[3] = {0, 0, 0}, i = 0;
    for (; i < 3; i++) {
        if (!isdigit((unsigned char)*p))
            return NULL;
        int n = 0, digits = 0;
        while (isdigit((unsigned char)*p) && digits < 3)
            n = n * 10 + (*p++ - '0'), digits++;
        v[i] = n;
        if (*p != ':')
            break;
        p++;
    }
    if (v[0] > maxh || v[1] > 59 || v[2] > 59)
        return NULL;
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return p;
}

static const char *p_int(const char *p, int lo, int hi, int *out)
{
    if (!isdigit((unsigned char)*p))
        return NULL;
    int n = 0;
    while (isdigit((unsigned char)*p) && n <= hi)
        n = n * 10 + (*p++ - '0');
    if (n < lo || n > hi)
        return NULL;
    *out = n;
    return p;
}

static const char *p_date(const char *p, struct rule_date *r)
{
    r->time = 7200; /* 02:00 unless given */
    if (*p == 'J') {
        r->kind = 'J';
        p = p_int(p + 1, 1, 365, &r->n);
    } else if (*p == 'M') {
        r->kind = 'M';
        if ((p = p_int(p + 1, 1, 12, &r->m)) && *p++ == '.' && (p = p_int(p, 1, 5, &r->w)) &&
            *p++ == '.')
            p = p_int(p, 0, 6, &r->d);
        else
            p = NULL;
    } else {
        r->kind = 'N';
        p = p_int(p, 0, 365, &r->n);
    }
    if (p && *p == '/')
        p = p_time(p + 1, 167, &r->time);
    return p;
}

static bool parse_footer(struct pipe_tz *tz, const char *s)
{
    int32_t v;
    const char *p = p_name(s);
    if (!p || !(p = p_time(p, 24, &v)))
        return false;
    tz->std_off = -v; /* POSIX offsets are west of Greenwich */
    tz->footer = true;
    if (!*p)
        return true;
    if (!(p = p_name(p)))
        return false;
    tz->has_dst = true;
    tz->dst_off = tz->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = p_time(p, 24, &v)))
            return false;
        tz->dst_off = -v;
    }
    if (!*p) { /* no rule: POSIX leaves it to the implementation; glibc uses US rules */
        tz->start = (struct rule_date){.kind = 'M', .m = 3, .w = 2, .d = 0, .time = 7200};
        tz->end = (struct rule_date){.kind = 'M', .m = 11, .w = 1, .d = 0, .time = 7200};
        return true;
    }
    if (*p++ != ',' || !(p = p_date(p, &tz->start)) || *p++ != ',' || !(p = p_date(p, &tz->end)))
        return false;
    return *p == 0;
}

/* The instant a rule date happens in year y, read in local time of offset off. */
static int64_t rule_instant(const struct rule_date *r, int64_t y, int32_t off)
{
    int64_t day = days_from_civil(y, 1, 1);
    if (r->kind == 'J')
        day += r->n - 1 + (leap(y) && r->n >= 60);
    else if (r->kind == 'N')
        day += r->n;
    else {
        int64_t first = days_from_civil(y, r->m, 1);
        int wd_first = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int dom = 1 + (r->d - wd_first + 7) % 7 + (r->w - 1) * 7;
        if (dom > month_days(y, r->m))
            dom -= 7;
        day = first + dom - 1;
    }
    return day * 86400 + r->time - off;
}

static int32_t rule_offset(const struct pipe_tz *tz, int64_t t)
{
    if (!tz->has_dst)
        return tz->std_off;
    int64_t y = year_of_days(floor_div(t + tz->std_off, 86400));
    int64_t s = rule_instant(&tz->start, y, tz->std_off);
    int64_t e = rule_instant(&tz->end, y, tz->dst_off);
    bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
    return dst ? tz->dst_off : tz->std_off;
}

/* ---- the TZif file ---- */
static int64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

struct hdr {
    char version;
    int64_t isut, isstd, leap, time, type, chars;
};

static bool read_hdr(const unsigned char *p, size_t len, struct hdr *h)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    h->version = (char)p[4];
    int64_t *c[] = {&h->isut, &h->isstd, &h->leap, &h->time, &h->type, &h->chars};
    for (int i = 0; i < 6; i++)
        *c[i] = be(p + 20 + 4 * i, 4);
    return h->isut >= 0 && h->isstd >= 0 && h->leap >= 0 && h->time >= 0 && h->type >= 1 &&
           h->type <= 256 && h->chars >= 0;
}

static size_t block_len(const struct hdr *h, int w)
{
    return (size_t)(h->time * (w + 1) + h->type * 6 + h->chars + h->leap * (w + 4) + h->isstd +
                    h->isut);
}

/* Parses the data block of width w (4: v1, 8: v2+) at p. */
static bool read_block(struct pipe_tz *tz, const struct hdr *h, const unsigned char *p, int w)
{
    tz->ntrans = (size_t)h->time;
    tz->ntypes = (size_t)h->type;
    tz->trans = cap_xmalloc((tz->ntrans ? tz->ntrans : 1) * sizeof *tz->trans);
    tz->idx = cap_xmalloc(tz->ntrans ? tz->ntrans : 1);
    tz->off = cap_xmalloc(tz->ntypes * sizeof *tz->off);
    for (size_t i = 0; i < tz->ntrans; i++) {
        tz->trans[i] = be(p + i * (size_t)w, w);
        if (i && tz->trans[i] <= tz->trans[i - 1])
            return false;
    }
    p += tz->ntrans * (size_t)w;
    for (size_t i = 0; i < tz->ntrans; i++)
        if ((tz->idx[i] = p[i]) >= tz->ntypes)
            return false;
    p += tz->ntrans;
    for (size_t i = 0; i < tz->ntypes; i++) {
        int32_t o = (int32_t)be(p + 6 * i, 4);
        if (o < -89999 || o > 93599) /* RFC 8536: -25 h < utoff < 26 h */
            return false;
        tz->off[i] = o;
    }
    return true;
}

static bool parse_tzif(struct pipe_tz *tz, const unsigned char *p, size_t len)
{
    struct hdr h;
    if (!read_hdr(p, len, &h))
        return false;
    size_t v1 = 44 + block_len(&h, 4);
    if (h.version == 0) /* v1 only: 32-bit times, no footer */
        return v1 <= len && read_block(tz, &h, p + 44, 4);
    struct hdr h2;
    if (v1 > len || !read_hdr(p + v1, len - v1, &h2))
        return false;
    size_t v2 = v1 + 44 + block_len(&h2, 8);
    if (v2 > len || !read_block(tz, &h2, p + v1 + 44, 8))
        return false;
    /* footer: "\n" TZ "\n"; an empty TZ string means no rule */
    if (v2 >= len || p[v2] != '\n')
        return false;
    const unsigned char *nl = memchr(p + v2 + 1, '\n', len - v2 - 1);
    if (!nl)
        return false;
    size_t n = (size_t)(nl - (p + v2 + 1));
    if (n == 0)
        return true;
    char *s = cap_xstrndup((const char *)p + v2 + 1, n);
    bool ok = parse_footer(tz, s);
    free(s);
    return ok;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '/' || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-.", *p))
            return false;
    return strstr(name, "..") == NULL;
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > TZ_MAX_FILE) {
        close(fd);
        return -1;
    }
    unsigned char *buf = cap_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
}

int pipe_tz_load(const char *name, struct pipe_tz **out, struct cap_error *err)
{
    *out = NULL;
    const char *dir = getenv("TZDIR"); /* glibc's variable for another tzdata tree */
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    if (!name || !name_ok(name))
        return cap_err(err, CAP_EINVAL,
                       "Invalid time zone '%.100s': expected an IANA zone name such as "
                       "Europe/Berlin or UTC",
                       name ? name : "");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *buf = NULL;
    size_t len = 0;
    if (read_file(path, &buf, &len) < 0)
        return cap_err(err, CAP_EINVAL,
                       "Unknown time zone '%.100s': no such zone in %.300s (expected an IANA "
                       "zone name such as Europe/Berlin or UTC)",
                       name, dir);
    struct pipe_tz *tz = cap_xcalloc(1, sizeof *tz);
    bool ok = parse_tzif(tz, buf, len);
    free(buf);
    if (!ok) {
        pipe_tz_free(tz);
        return cap_err(err, CAP_EINVAL, "Time zone '%.100s': %.300s is not a valid TZif file",
                       name, path);
    }
    tz->name = cap_xstrdup(name);
    *out = tz;
    return 0;
}

void pipe_tz_free(struct pipe_tz *tz)
{
    if (!tz)
        return;
    free(tz->name);
    free(tz->trans);
    free(tz->idx);
    free(tz->off);
    free(tz);
}

const char *pipe_tz_name(const struct pipe_tz *tz)
{
    return tz ? tz->name : "UTC";
}

int32_t pipe_tz_offset(const struct pipe_tz *tz, int64_t t)
{
    if (!tz)
        return 0;
    if (tz->ntrans == 0 || t < tz->trans[0])
        return tz->ntrans == 0 && tz->footer ? rule_offset(tz, t) : tz->off[0];
    if (t >= tz->trans[tz->ntrans - 1] && tz->footer)
        return rule_offset(tz, t);
    size_t lo = 0, hi = tz->ntrans; /* the last transition <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[tz->idx[lo]];
}

int64_t pipe_tz_local_to_utc(const struct pipe_tz *tz, int64_t local)
{
    int32_t before = pipe_tz_offset(tz, local - 86400), after = pipe_tz_offset(tz, local + 86400);
    int64_t a = local - before, b = local - after;
    bool a_ok = pipe_tz_offset(tz, a) == before, b_ok = pipe_tz_offset(tz, b) == after;
    if (a_ok && b_ok)
        return a < b ? a : b; /* repeated: the first occurrence */
    if (b_ok)
        return b;
    return a; /* valid with the earlier offset, or skipped: read with it */
}
