/* dag.c - the stage graph, as DVC's build_graph/build_outs_trie make it
 * (dvc/repo/graph.py, dvc/repo/trie.py): stage A comes after stage B when
 * a dependency of A (a deps path or a params file) equals, lies inside, or
 * contains an output of B, paths compared as paths relative to the spec
 * root through each stage's wdir. Two outputs with one path, or one inside
 * another, are refused, as DVC refuses them; so is a cycle (a stage that
 * depends on its own output is one). Comparisons are pairwise, O(outs x
 * deps): 1000 stages of a few paths each take milliseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/intern.h"

char *pipe_path_join(const char *a, const char *b)
{
    bool abs = b[0] == '/' || (a[0] == '/');
    struct cap_buf in, out;
    cap_buf_init(&in);
    cap_buf_init(&out);
    if (b[0] != '/')
        cap_buf_printf(&in, "%s/", a);
    cap_buf_puts(&in, b);
    char *save = NULL, **parts = cap_xmalloc((in.len / 2 + 2) * sizeof *parts);
    size_t n = 0;
    for (char *p = strtok_r(in.data, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (!strcmp(p, "."))
            continue;
        if (!strcmp(p, "..") && n > 0 && strcmp(parts[n - 1], ".."))
            n--;
        else if (strcmp(p, "..") || !abs)
            parts[n++] = p;
    }
    for (size_t i = 0; i < n; i++)
        cap_buf_printf(&out, "%s%s", i || abs ? "/" : "", parts[i]);
    if (out.len == 0)
        cap_buf_puts(&out, abs ? "/" : ".");
    free(parts);
    cap_buf_free(&in);
    return cap_buf_steal(&out);
}

/* a equals b, or one lies inside the other ("." holds everything). */
bool pipe_path_overlaps(const char *a, const char *b)
{
    if (!strcmp(a, ".") || !strcmp(b, "."))
        return a[0] != '/' && b[0] != '/';
    size_t na = strlen(a), nb = strlen(b), n = na < nb ? na : nb;
    return strncmp(a, b, n) == 0 && (na == nb || (na < nb ? b : a)[n] == '/');
}

struct dpath {
    char *path;   /* relative to the root */
    size_t stage;
};
struct dpaths {
    struct dpath *v;
    size_t n, cap;
};

static void add_path(struct dpaths *l, const struct pipe_spec *s, size_t st, const char *p)
{
    if (l->n == l->cap)
        l->v = cap_xrealloc(l->v, (l->cap = l->cap ? 2 * l->cap : 16) * sizeof *l->v);
    char *full = pipe_path_join(s->stages[st].wdir, p);
    size_t nr = strlen(s->root);
    if (full[0] == '/' && !strncmp(full, s->root, nr) && (full[nr] == '/' || !full[nr])) {
        char *rel = pipe_path_join(".", full[nr] ? full + nr + 1 : ".");
        free(full);
        full = rel;
    }
    l->v[l->n++] = (struct dpath){full, st};
}

static void free_paths(struct dpaths *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
}

static int check_outs(const struct pipe_spec *s, const struct dpaths *outs,
                      struct cap_error *err)
{
    for (size_t i = 0; i < outs->n; i++)
        for (size_t j = 0; j < i; j++) {
            const struct dpath *a = &outs->v[j], *b = &outs->v[i];
            if (!pipe_path_overlaps(a->path, b->path))
                continue;
            if (!strcmp(a->path, b->path))
                return cap_err(err, CAP_EINVAL, "%.200s: the output '%.200s' is in stage "
                               "'%.100s' and in stage '%.100s', expected each output in one "
                               "stage", s->file, a->path, s->stages[a->stage].name,
                               s->stages[b->stage].name);
            return cap_err(err, CAP_EINVAL, "%.200s: the outputs '%.200s' (stage '%.100s') and "
                           "'%.200s' (stage '%.100s') overlap, one inside the other, expected "
                           "outputs in separate directories", s->file, a->path,
                           s->stages[a->stage].name, b->path, s->stages[b->stage].name);
        }
    return 0;
}

static void add_after(struct pipe_stage *st, size_t t)
{
    for (size_t i = 0; i < st->nafter; i++)
        if (st->after[i] == t)
            return;
    st->after = cap_xrealloc(st->after, (st->nafter + 1) * sizeof *st->after);
    st->after[st->nafter++] = t;
}

/* Depth-first search; on a back edge, names the cycle from the stack. */
static int find_cycle(const struct pipe_spec *s, size_t i, char *color, size_t *stack,
                      size_t depth, struct cap_error *err)
{
    color[i] = 1;
    stack[depth] = i;
    for (size_t k = 0; k < s->stages[i].nafter; k++) {
        size_t t = s->stages[i].after[k];
        if (color[t] == 1) {
            struct cap_buf b;
            cap_buf_init(&b);
            size_t from = depth;
            while (stack[from] != t)
                from--;
            for (size_t d = from; d <= depth; d++)
                cap_buf_printf(&b, "'%s' -> ", s->stages[stack[d]].name);
            cap_buf_printf(&b, "'%s'", s->stages[t].name);
            int rc = cap_err(err, CAP_EINVAL, "%.200s: the stages form a cycle: %.300s (each "
                             "depends on an output of the next), expected no cycles", s->file,
                             b.data);
            cap_buf_free(&b);
            return rc;
        }
        int rc = color[t] ? 0 : find_cycle(s, t, color, stack, depth + 1, err);
        if (rc)
            return rc;
    }
    color[i] = 2;
    return 0;
}

int pipe_dag_build(struct pipe_spec *s, struct cap_error *err)
{
    struct dpaths outs = {0}, deps = {0};
    for (size_t i = 0; i < s->n; i++) {
        struct pipe_stage *st = &s->stages[i];
        for (size_t j = 0; j < st->nouts; j++)
            add_path(&outs, s, i, st->outs[j].path);
        for (size_t j = 0; j < st->ndeps; j++)
            add_path(&deps, s, i, st->deps[j]);
        for (size_t j = 0; j < st->nparams; j++)
            if (j == 0 || strcmp(st->params[j].file, st->params[j - 1].file))
                add_path(&deps, s, i, st->params[j].file);
    }
    int rc = check_outs(s, &outs, err);
    for (size_t d = 0; d < deps.n && rc == 0; d++)
        for (size_t o = 0; o < outs.n; o++)
            if (pipe_path_overlaps(deps.v[d].path, outs.v[o].path))
                add_after(&s->stages[deps.v[d].stage], outs.v[o].stage);
    if (rc == 0 && s->n) {
        char *color = cap_xcalloc(s->n, 1);
        size_t *stack = cap_xcalloc(s->n, sizeof *stack);
        for (size_t i = 0; i < s->n && rc == 0; i++)
            if (!color[i])
                rc = find_cycle(s, i, color, stack, 0, err);
        free(color);
        free(stack);
    }
    free_paths(&outs);
    free_paths(&deps);
    return rc;
}

/* Marks in want[] the stages and all they depend on. */
static void mark_with_deps(const struct pipe_spec *s, size_t i, bool *want)
{
    if (want[i])
        return;
    want[i] = true;
    for (size_t k = 0; k < s->stages[i].nafter; k++)
        mark_with_deps(s, s->stages[i].after[k], want);
}

int pipe_spec_order(const struct pipe_spec *s, size_t **order, struct cap_error *err)
{
    *order = cap_xcalloc(s->n + 1, sizeof **order);
    bool *done = cap_xcalloc(s->n + 1, sizeof *done);
    size_t n = 0;
    while (n < s->n) {
        size_t pick = s->n;
        for (size_t i = 0; i < s->n && pick == s->n; i++) {
            bool ready = !done[i];
            for (size_t k = 0; ready && k < s->stages[i].nafter; k++)
                ready = done[s->stages[i].after[k]];
            if (ready)
                pick = i;
        }
        if (pick == s->n) {
            free(done);
            free(*order);
            *order = NULL;
            return cap_err(err, CAP_EINVAL, "%.200s: the stages form a cycle, expected none",
                           s->file);
        }
        done[pick] = true;
        (*order)[n++] = pick;
    }
    free(done);
    return 0;
}

static int select_targets(const struct pipe_spec *s, const char *const *targets,
                          size_t ntargets, bool *want, struct cap_error *err)
{
    for (size_t t = 0; t < ntargets; t++) {
        bool found = false;
        size_t len = strlen(targets[t]);
        for (size_t i = 0; i < s->n; i++) {
            const char *name = s->stages[i].name;
            if (!strcmp(name, targets[t]) || (!strncmp(name, targets[t], len) &&
                                               name[len] == '@' && !strchr(targets[t], '@'))) {
                mark_with_deps(s, i, want);
                found = true;
            }
        }
        if (!found)
            return cap_err(err, CAP_ENOTFOUND, "%.200s: no stage '%.200s', expected a stage or "
                           "a foreach/matrix group of it", s->file, targets[t]);
    }
    return 0;
}

static void dot_name(struct cap_buf *b, const char *name)
{
    cap_buf_putc(b, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"' || *p == '\\')
            cap_buf_putc(b, '\\');
        cap_buf_putc(b, *p);
    }
    cap_buf_putc(b, '"');
}

int pipe_dag_format(const struct pipe_spec *s, const char *const *targets, size_t ntargets,
                    bool dot, char **out, struct cap_error *err)
{
    *out = NULL;
    bool *want = cap_xcalloc(s->n + 1, sizeof *want);
    size_t *order = NULL;
    int rc = select_targets(s, targets, ntargets, want, err);
    if (rc == 0)
        rc = pipe_spec_order(s, &order, err);
    struct cap_buf b;
    cap_buf_init(&b);
    if (dot)
        cap_buf_puts(&b, "strict digraph {\n");
    for (size_t k = 0; k < s->n && rc == 0; k++) {
        const struct pipe_stage *st = &s->stages[order[k]];
        if (ntargets && !want[order[k]])
            continue;
        if (dot) {
            cap_buf_puts(&b, "  ");
            dot_name(&b, st->name);
            cap_buf_puts(&b, ";\n");
            continue;
        }
        cap_buf_puts(&b, st->name);
        for (size_t i = 0; i < st->nafter; i++)
            cap_buf_printf(&b, "%s%s", i ? ", " : " <- ", s->stages[st->after[i]].name);
        cap_buf_putc(&b, '\n');
    }
    /* Edges run from a stage to the stages that use its outputs. */
    for (size_t k = 0; dot && k < s->n && rc == 0; k++) {
        const struct pipe_stage *st = &s->stages[order[k]];
        for (size_t i = 0; (!ntargets || want[order[k]]) && i < st->nafter; i++) {
            cap_buf_puts(&b, "  ");
            dot_name(&b, s->stages[st->after[i]].name);
            cap_buf_puts(&b, " -> ");
            dot_name(&b, st->name);
            cap_buf_puts(&b, ";\n");
        }
    }
    if (dot)
        cap_buf_puts(&b, "}\n");
    if (rc == 0)
        *out = cap_buf_steal(&b);
    cap_buf_free(&b);
    free(order);
    free(want);
    return rc;
}
