/* buf.c - growable buffer and checked allocation. */
#include "base/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(void)
{
    fputs("capstan: out of memory\n", stderr);
    abort();
}

void *cap_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *cap_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom();
    return p;
}

void *cap_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

char *cap_xstrdup(const char *s)
{
    return cap_xstrndup(s, strlen(s));
}

char *cap_xstrndup(const char *s, size_t n)
{
    char *p = cap_xmalloc(n + 1);
    if (n)
        memcpy(p, s, n); /* s may be NULL when n is 0 (an empty cell) */
    p[n] = '\0';
    return p;
}

void cap_buf_init(struct cap_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cap_buf_free(struct cap_buf *b)
{
    free(b->data);
    cap_buf_init(b);
}

void cap_buf_reset(struct cap_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void cap_buf_reserve(struct cap_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = cap_xrealloc(b->data, cap);
    b->cap = cap;
}

void cap_buf_append(struct cap_buf *b, const void *data, size_t n)
{
    cap_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cap_buf_puts(struct cap_buf *b, const char *s)
{
    cap_buf_append(b, s, strlen(s));
}

void cap_buf_putc(struct cap_buf *b, char c)
{
    cap_buf_append(b, &c, 1);
}

void cap_buf_printf(struct cap_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        cap_buf_append(b, tmp, (size_t)n);
        return;
    }
    cap_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *cap_buf_steal(struct cap_buf *b)
{
    char *p = b->data ? b->data : cap_xstrdup("");
    cap_buf_init(b);
    return p;
}

int cap_buf_read_file(struct cap_buf *b, const char *path, size_t max, struct cap_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return cap_err(err, CAP_EINVAL, "%s: %s", path, strerror(errno));
    char chunk[65536];
    size_t n, start = b->len;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b->len - start <= max)
        cap_buf_append(b, chunk, n);
    int rc = 0;
    if (ferror(f))
        rc = cap_err(err, CAP_EINVAL, "%s: %s", path, strerror(errno));
    else if (b->len - start > max)
        rc = cap_err(err, CAP_ETOOLARGE, "%s: larger than %zu bytes", path, max);
    fclose(f);
    return rc;
}
