/* metrics.c - see metrics.h. Families and series live in plain arrays
 * guarded by one mutex that only creation, forgetting and rendering take;
 * updates are atomic. Doubles are kept as their bit patterns so that a
 * counter can grow by fractional amounts (seconds) with compare-and-swap. */
#include "base/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct series_entry {
    char *labels;
    struct metrics_series *s;
};

struct family {
    char *name;
    char *help;
    enum metrics_kind kind;
    double *bounds;
    size_t nbounds;
    struct series_entry *series;
    size_t n, cap;
};

struct metrics {
    pthread_mutex_t mu;
    struct family *fam;
    size_t n, cap;
};

static uint64_t dbits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bitsd(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

struct metrics *metrics_new(void)
{
    struct metrics *m = cap_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void series_free(struct series_entry *e)
{
    free(e->labels);
    free((void *)e->s->buckets);
    free(e->s);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        struct family *f = &m->fam[i];
        for (size_t j = 0; j < f->n; j++)
            series_free(&f->series[j]);
        free(f->series);
        free(f->name);
        free(f->help);
        free(f->bounds);
    }
    free(m->fam);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static struct family *find_family(struct metrics *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->fam[i].name, name) == 0)
            return &m->fam[i];
    return NULL;
}

void metrics_declare(struct metrics *m, const char *name, enum metrics_kind kind,
                     const char *help, const double *bounds, size_t nbounds)
{
    pthread_mutex_lock(&m->mu);
    if (!find_family(m, name)) {
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 16;
            m->fam = cap_xrealloc(m->fam, m->cap * sizeof *m->fam);
        }
        struct family *f = &m->fam[m->n++];
        memset(f, 0, sizeof *f);
        f->name = cap_xstrdup(name);
        f->help = cap_xstrdup(help);
        f->kind = kind;
        if (kind == METRICS_HISTOGRAM && nbounds) {
            f->bounds = cap_xmalloc(nbounds * sizeof *bounds);
            memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
            f->nbounds = nbounds;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

struct metrics_series *metrics_series(struct metrics *m, const char *name, const char *labels)
{
    struct metrics_series *out = NULL;
    pthread_mutex_lock(&m->mu);
    struct family *f = find_family(m, name);
    if (!f)
        goto done; /* a programmer error: every family is declared at start */
    for (size_t j = 0; j < f->n; j++)
        if (strcmp(f->series[j].labels, labels) == 0) {
            out = f->series[j].s;
            goto done;
        }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->series = cap_xrealloc(f->series, f->cap * sizeof *f->series);
    }
    out = cap_xcalloc(1, sizeof *out);
    if (f->kind == METRICS_HISTOGRAM) {
        out->buckets = cap_xcalloc(f->nbounds + 1, sizeof *out->buckets);
        out->bounds = f->bounds;
        out->nbounds = f->nbounds;
    }
    f->series[f->n].labels = cap_xstrdup(labels);
    f->series[f->n].s = out;
    f->n++;
done:
    pthread_mutex_unlock(&m->mu);
    return out;
}

static void add_bits(_Atomic uint64_t *cell, double v)
{
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(cell, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metrics_add(struct metrics_series *s, double v)
{
    if (s)
        add_bits(&s->value, v);
}

void metrics_set(struct metrics_series *s, double v)
{
    if (s)
        atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

void metrics_observe(struct metrics_series *s, double v)
{
    if (!s || !s->buckets)
        return;
    size_t i = 0;
    while (i < s->nbounds && v > s->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    add_bits(&s->sum, v);
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

double metrics_value(const struct metrics_series *s)
{
    return s ? bitsd(atomic_load_explicit(&((struct metrics_series *)s)->value,
                                          memory_order_relaxed))
             : 0;
}

void metrics_label(struct cap_buf *b, const char *name, const char *value)
{
    if (b->len && b->data[b->len - 1] != '{')
        cap_buf_putc(b, ',');
    cap_buf_puts(b, name);
    cap_buf_puts(b, "=\"");
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            cap_buf_putc(b, '\\');
        if (*p == '\n') {
            cap_buf_puts(b, "\\n");
            continue;
        }
        cap_buf_putc(b, *p);
    }
    cap_buf_putc(b, '"');
}

static void put_num(struct cap_buf *b, double v)
{
    if (isnan(v))
        cap_buf_puts(b, "NaN");
    else if (isinf(v))
        cap_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        cap_buf_printf(b, "%.0f", v);
    else {
        /* the shortest of 15 or 17 digits that reads back as v */
        char t[40];
        snprintf(t, sizeof t, "%.15g", v);
        if (strtod(t, NULL) != v)
            snprintf(t, sizeof t, "%.17g", v);
        cap_buf_puts(b, t);
    }
}

static void series_name(struct cap_buf *b, const char *name, const char *suffix,
                        const char *labels, const char *extra)
{
    cap_buf_puts(b, name);
    cap_buf_puts(b, suffix);
    bool any = labels && *labels;
    if (any || extra) {
        cap_buf_putc(b, '{');
        if (any)
            cap_buf_puts(b, labels);
        if (extra) {
            if (any)
                cap_buf_putc(b, ',');
            cap_buf_puts(b, extra);
        }
        cap_buf_putc(b, '}');
    }
    cap_buf_putc(b, ' ');
}

void metrics_render(struct metrics *m, struct cap_buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        struct family *f = &m->fam[i];
        cap_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                       types[f->kind]);
        for (size_t j = 0; j < f->n; j++) {
            struct metrics_series *s = f->series[j].s;
            const char *labels = f->series[j].labels;
            if (f->kind != METRICS_HISTOGRAM) {
                series_name(out, f->name, "", labels, NULL);
                put_num(out, metrics_value(s));
                cap_buf_putc(out, '\n');
                continue;
            }
            uint64_t cum = 0;
            char le[64];
            for (size_t k = 0; k <= f->nbounds; k++) {
                cum += atomic_load_explicit(&s->buckets[k], memory_order_relaxed);
                if (k < f->nbounds)
                    snprintf(le, sizeof le, "le=\"%g\"", f->bounds[k]);
                else
                    snprintf(le, sizeof le, "le=\"+Inf\"");
                series_name(out, f->name, "_bucket", labels, le);
                cap_buf_printf(out, "%llu\n", (unsigned long long)cum);
            }
            series_name(out, f->name, "_sum", labels, NULL);
            put_num(out, bitsd(atomic_load_explicit(&s->sum, memory_order_relaxed)));
            cap_buf_putc(out, '\n');
            series_name(out, f->name, "_count", labels, NULL);
            /* The +Inf bucket and _count must agree even mid-update. */
            cap_buf_printf(out, "%llu\n", (unsigned long long)cum);
        }
    }
    pthread_mutex_unlock(&m->mu);
}
