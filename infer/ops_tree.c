/* ops_tree.c - the tree-ensemble engine: ai.onnx.ml TreeEnsembleClassifier,
 * TreeEnsembleRegressor (opsets 1 and 3) and TreeEnsemble (opset 5).
 *
 * At load time every tree is compiled into one array of 16-byte nodes in
 * pre-order: the "left" child is always the next node, the other child is an
 * explicit index. Each comparison is rewritten into a canonical form
 * "go left if x <= t" (LT becomes <= nextafter(t), GT/GTE swap children)
 * so that most ensembles need one comparison kind only; NaN routing is one
 * bit per node. A leaf loops onto itself (threshold NaN, other child = self),
 * which lets eight walkers advance in lockstep without testing for leaves;
 * with each tree's depth known they run exactly that many steps. Chains of
 * BRANCH_EQ on one feature sharing a true subtree are folded into one
 * set-membership node. Rows are processed in blocks across all trees so
 * that a block's rows and the trees stay in cache; at batch 1 sixteen trees
 * walk the same row together. Ensembles of "<=" trees with at most 64
 * leaves each (boosting) skip the walk: a bit-vector evaluator (see
 * qs_build) runs eight rows at a time, with 32-bit words when every tree
 * has at most 32 leaves; the number of rows from which that beats one row
 * at a time is measured per kernel level (q_calibrate). Leaf
 * values are summed in double, in tree order, by every engine, so every
 * path and level gives the same bits. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "infer/internal.h"

#define FMASK 0x0fffffffu
#define MODE_SHIFT 28
#define NANLEFT 0x80000000u
enum { CM_LEQ = 0, CM_EQ = 1, CM_NEQ = 2, CM_MEMBER = 3 };
enum { M_LEQ, M_LT, M_GTE, M_GT, M_EQ, M_NEQ, M_MEMBER, M_LEAF };
enum { AGG_AVERAGE = 0, AGG_SUM = 1, AGG_MIN = 2, AGG_MAX = 3 };

typedef struct tnf { float thr; uint32_t feat, right, leaf; } tnf;
typedef struct tnd { double thr; uint32_t feat, right, leaf, pad; } tnd;

/* load-time, format-neutral description of the trees */
typedef struct anode {
    uint8_t mode, mt;
    int64_t feat;
    double thr;
    int64_t t, f;            /* children (anode indices) */
    int64_t set_start, set_len;
    int64_t w_start, w_count;
    int64_t tree;            /* owning tree (for cycle limits) */
} anode;

typedef struct ensemble {
    int64_t ntrees;
    uint32_t *roots;
    tnf *nf;                 /* float thresholds (NULL if unused) */
    tnd *nd;                 /* double thresholds (NULL if unused) */
    int64_t nnodes;
    int generic;             /* some node is EQ/NEQ/MEMBER */
    double *wval;
    uint32_t *wtarget;
    uint32_t *wcount;        /* per weight start: count of weights in that leaf */
    int single;              /* every leaf has exactly one weight */
    int64_t onet;            /* single, and all weights add to this target; else -1 */
    double *setv;
    uint32_t *set_start, *set_len;
    int64_t nsets;
    int64_t max_feat;        /* -1 if no interior node */
    int64_t ntargets;
    int agg, post;
    double *base;
    int64_t nbase;
    /* classifier */
    int is_clf;
    int64_t nlabels;
    int64_t *labels_i;
    char **labels_s;
    uint8_t *has;            /* per class: some leaf weight targets it */
    int binary_case, all_pos;
    int opset5;
    struct qsidx *qs;        /* bit-vector evaluator (float, <= 64 leaves per tree), or NULL */
    uint16_t *tdepth;        /* per tree: longest root-to-leaf path (float "<=" ensembles), or NULL */
} ensemble;

/* ---- (tree, node) id map ---- */

typedef struct idmap {
    int64_t *k1, *k2;
    int64_t *v;
    size_t cap;
} idmap;

static size_t idhash(int64_t a, int64_t b)
{
    uint64_t h = (uint64_t)a * 0x9E3779B97F4A7C15ull ^ ((uint64_t)b + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
    return (size_t)(h ^ (h >> 29));
}

static int idmap_init(arena *a, idmap *m, int64_t n)
{
    size_t cap = 16;
    while (cap < (size_t)n * 2)
        cap <<= 1;
    m->cap = cap;
    m->k1 = infi_ar_alloc(a, cap * 8);
    m->k2 = infi_ar_alloc(a, cap * 8);
    m->v = infi_ar_alloc(a, cap * 8);
    if (!m->k1 || !m->k2 || !m->v)
        return -1;
    for (size_t i = 0; i < cap; i++)
        m->v[i] = -1;
    return 0;
}

static int64_t idmap_put(idmap *m, int64_t a, int64_t b, int64_t v)
{
    size_t i = idhash(a, b) & (m->cap - 1);
    while (m->v[i] >= 0) {
        if (m->k1[i] == a && m->k2[i] == b)
            return m->v[i];
        i = (i + 1) & (m->cap - 1);
    }
    m->k1[i] = a;
    m->k2[i] = b;
    m->v[i] = v;
    return -1;
}

static int64_t idmap_get(const idmap *m, int64_t a, int64_t b)
{
    size_t i = idhash(a, b) & (m->cap - 1);
    while (m->v[i] >= 0) {
        if (m->k1[i] == a && m->k2[i] == b)
            return m->v[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* ---- attribute access ---- */

static const attr *ints_attr(const node *nd, const char *name)
{
    const attr *a = infi_get_attr(nd, name);
    return a && a->type == AT_INTS ? a : NULL;
}

/* Reads a list of reals from `name` (floats) or `name_as_tensor`. */
static int reals(arena *ar, const node *nd, const char *name, double **out, int64_t *n, int *is_double,
                 infer_error *e)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s_as_tensor", name);
    const attr *a = infi_get_attr(nd, name), *t = infi_get_attr(nd, buf);
    *out = NULL;
    *n = 0;
    if (is_double)
        *is_double = 0;
    if (t && t->type == AT_TENSOR && t->t) {
        const tval *v = t->t;
        if (v->type != INFER_FLOAT && v->type != INFER_DOUBLE)
            return infi_ierr(e, INFER_EUNSUPPORTED, "%s must be float or double", buf);
        double *d = infi_ar_alloc(ar, (size_t)(v->n ? v->n : 1) * sizeof(double));
        if (!d)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        for (int64_t i = 0; i < v->n; i++)
            d[i] = v->type == INFER_FLOAT ? ((float *)v->data)[i] : ((double *)v->data)[i];
        if (is_double)
            *is_double = v->type == INFER_DOUBLE;
        *out = d;
        *n = v->n;
        return 0;
    }
    if (a && a->type == AT_FLOATS) {
        double *d = infi_ar_alloc(ar, (size_t)(a->n ? a->n : 1) * sizeof(double));
        if (!d)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        for (int64_t i = 0; i < a->n; i++)
            d[i] = a->floats[i];
        *out = d;
        *n = a->n;
    }
    return 0;
}

static int mode_of(const char *s)
{
    static const char *const names[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT",
                                        "BRANCH_EQ", "BRANCH_NEQ", "BRANCH_MEMBER", "LEAF"};
    for (int i = 0; i < 8; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

/* ---- compilation ---- */

typedef struct cstack { int64_t a; int64_t patch; int64_t depth; } cstack;

static int in_setd(const ensemble *E, uint32_t s, double v)
{
    const double *p = E->setv + E->set_start[s];
    uint32_t n = E->set_len[s];
    if (n <= 8) {
        for (uint32_t i = 0; i < n; i++)
            if (p[i] == v)
                return 1;
        return 0;
    }
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (p[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && p[lo] == v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Compiles all trees of the anode description into E's node arrays. */
static int compile(arena *ar, ensemble *E, const anode *A, int64_t na, const int64_t *roots, int64_t ntrees,
                   const double *msetv, int want_float, int want_double, infer_error *e)
{
    /* Duplicating shared subtrees (DAGs) is allowed up to a bound, so a
     * hostile model cannot make the compiled size explode. */
    int64_t cap = na * 4 + 1024;
    if (cap > (int64_t)FMASK)
        cap = (int64_t)FMASK;
    struct cn { double thr; uint32_t feat, right, leaf; } *cn = malloc((size_t)cap * sizeof *cn);
    cstack *st = malloc((size_t)(na + 1) * sizeof *st * 2 + 64 * sizeof *st);
    /* sets: at most one per anode (EQ chains or MEMBER) */
    double *setv = malloc((size_t)(na + 1) * sizeof(double) * 1);
    int64_t setv_cap = na + 1, nsetv = 0;
    uint32_t *sstart = malloc((size_t)(na + 1) * sizeof(uint32_t)), *slen = malloc((size_t)(na + 1) * sizeof(uint32_t));
    int rc = 0;
    if (!cn || !st || !setv || !sstart || !slen) {
        rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
        goto out;
    }
    int64_t nn = 0, nsets = 0, maxf = -1;
    int generic = 0;
    E->roots = infi_ar_alloc(ar, (size_t)(ntrees ? ntrees : 1) * sizeof(uint32_t));
    if (!E->roots) {
        rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
        goto out;
    }
    for (int64_t t = 0; t < ntrees; t++) {
        int64_t sp = 0, limit = na + 1;   /* a longer path repeats a node */
        E->roots[t] = (uint32_t)nn;
        st[sp++] = (cstack){roots[t], -1, 0};
        while (sp > 0) {
            cstack c = st[--sp];
            int64_t a = c.a, patch = c.patch, depth = c.depth;
            for (;;) {
                if (nn >= cap) {
                    rc = infi_ierr(e, INFER_EFORMAT, "trees too large after expanding shared subtrees");
                    goto out;
                }
                if (depth > limit) {
                    rc = infi_ierr(e, INFER_EFORMAT, "tree %lld has a cycle", (long long)t);
                    goto out;
                }
                int64_t i = nn++;
                if (patch >= 0)
                    cn[patch].right = (uint32_t)i;
                patch = -1;
                const anode *n = &A[a];
                if (n->mode == M_LEAF) {
                    cn[i] = (struct cn){NAN, 0, (uint32_t)i, (uint32_t)n->w_start};
                    break;
                }
                if (n->feat < 0 || n->feat > (int64_t)FMASK) {
                    rc = infi_ierr(e, INFER_EFORMAT, "feature id %lld out of range", (long long)n->feat);
                    goto out;
                }
                if (n->feat > maxf)
                    maxf = n->feat;
                int64_t L = n->t, R = n->f;
                uint32_t cm = CM_LEQ, nanleft = n->mt;
                double thr = n->thr;
                uint32_t leafslot = 0;
                switch (n->mode) {
                case M_LEQ:
                    break;
                case M_LT:
                    thr = isinf(thr) && thr < 0 ? NAN : nextafter(thr, -INFINITY);
                    break;
                case M_GT: case M_GTE:
                    if (isnan(thr))
                        break;   /* never true: keep as x <= NaN, children in place */
                    if (n->mode == M_GTE)
                        thr = isinf(thr) && thr < 0 ? NAN : nextafter(thr, -INFINITY);
                    L = n->f;
                    R = n->t;
                    nanleft = !n->mt;
                    break;
                case M_EQ: {
                    /* fold a chain EQ(f,v1) -> false EQ(f,v2) -> ... sharing the
                     * true child into one membership node */
                    int64_t k = a, cnt = 0, start = nsetv;
                    while (A[k].mode == M_EQ && A[k].feat == n->feat && A[k].t == n->t && A[k].mt == n->mt && cnt < limit) {
                        if (nsetv >= setv_cap) {
                            double *ns = realloc(setv, (size_t)setv_cap * 2 * sizeof(double));
                            if (!ns) {
                                rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
                                goto out;
                            }
                            setv = ns;
                            setv_cap *= 2;
                        }
                        setv[nsetv++] = A[k].thr;
                        cnt++;
                        k = A[k].f;
                    }
                    if (cnt == 1) {
                        nsetv = start;
                        cm = CM_EQ;
                        break;
                    }
                    qsort(setv + start, (size_t)cnt, sizeof(double), cmp_double);
                    sstart[nsets] = (uint32_t)start;
                    slen[nsets] = (uint32_t)cnt;
                    leafslot = (uint32_t)nsets++;
                    cm = CM_MEMBER;
                    R = k;
                    break;
                }
                case M_NEQ:
                    cm = CM_NEQ;
                    break;
                case M_MEMBER: {
                    int64_t start = nsetv;
                    if (nsetv + n->set_len > setv_cap) {
                        int64_t nc = (nsetv + n->set_len) * 2;
                        double *ns = realloc(setv, (size_t)nc * sizeof(double));
                        if (!ns) {
                            rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
                            goto out;
                        }
                        setv = ns;
                        setv_cap = nc;
                    }
                    memcpy(setv + nsetv, msetv + n->set_start, (size_t)n->set_len * sizeof(double));
                    nsetv += n->set_len;
                    qsort(setv + start, (size_t)n->set_len, sizeof(double), cmp_double);
                    sstart[nsets] = (uint32_t)start;
                    slen[nsets] = (uint32_t)n->set_len;
                    leafslot = (uint32_t)nsets++;
                    cm = CM_MEMBER;
                    break;
                }
                default:
                    rc = infi_ierr(e, INFER_EFORMAT, "bad node mode");
                    goto out;
                }
                if (cm != CM_LEQ)
                    generic = 1;
                cn[i] = (struct cn){thr, (uint32_t)n->feat | (cm << MODE_SHIFT) | (nanleft ? NANLEFT : 0), 0, leafslot};
                st[sp++] = (cstack){R, i, depth + 1};
                if (sp >= 2 * na + 60) {
                    rc = infi_ierr(e, INFER_EFORMAT, "tree too deep");
                    goto out;
                }
                a = L;
                depth++;
            }
        }
    }
    E->nnodes = nn;
    E->generic = generic;
    E->max_feat = maxf;
    E->nsets = nsets;
    E->setv = infi_ar_alloc(ar, (size_t)(nsetv ? nsetv : 1) * sizeof(double));
    E->set_start = infi_ar_alloc(ar, (size_t)(nsets ? nsets : 1) * sizeof(uint32_t));
    E->set_len = infi_ar_alloc(ar, (size_t)(nsets ? nsets : 1) * sizeof(uint32_t));
    if (!E->setv || !E->set_start || !E->set_len) {
        rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(E->setv, setv, (size_t)nsetv * sizeof(double));
    memcpy(E->set_start, sstart, (size_t)nsets * sizeof(uint32_t));
    memcpy(E->set_len, slen, (size_t)nsets * sizeof(uint32_t));
    if (want_float) {
        E->nf = infi_ar_alloc(ar, (size_t)(nn ? nn : 1) * sizeof(tnf));
        if (!E->nf) {
            rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < nn; i++) {
            /* rounding a double threshold to float must keep "<=" exact:
             * x <= t (float x) iff x <= largest float not above t */
            float ft = (float)cn[i].thr;
            if ((double)ft > cn[i].thr)
                ft = nextafterf(ft, -INFINITY);
            E->nf[i] = (tnf){ft, cn[i].feat, cn[i].right, cn[i].leaf};
        }
    }
    if (want_double) {
        E->nd = infi_ar_alloc(ar, (size_t)(nn ? nn : 1) * sizeof(tnd));
        if (!E->nd) {
            rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < nn; i++)
            E->nd[i] = (tnd){cn[i].thr, cn[i].feat, cn[i].right, cn[i].leaf, 0};
    }
out:
    free(cn);
    free(st);
    free(setv);
    free(sstart);
    free(slen);
    return rc;
}

/* Final leaf-weight tables and per-class flags. */
static int finish_weights(arena *ar, ensemble *E, const double *wv, const int64_t *wt, int64_t nw,
                          const anode *A, int64_t na, infer_error *e)
{
    E->wval = infi_ar_alloc(ar, (size_t)(nw + 1) * sizeof(double));
    E->wtarget = infi_ar_alloc(ar, (size_t)(nw + 1) * sizeof(uint32_t));
    E->wcount = infi_ar_calloc(ar, (size_t)(nw + 1), sizeof(uint32_t));
    if (!E->wval || !E->wtarget || !E->wcount)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    E->single = 1;
    for (int64_t i = 0; i < nw; i++) {
        if (wt[i] < 0 || wt[i] >= E->ntargets)
            return infi_ierr(e, INFER_EFORMAT, "leaf target/class id %lld out of range [0, %lld)", (long long)wt[i],
                        (long long)E->ntargets);
        E->wval[i] = wv[i];
        E->wtarget[i] = (uint32_t)wt[i];
    }
    for (int64_t i = 0; i < na; i++)
        if (A[i].mode == M_LEAF) {
            if (A[i].w_count != 1)
                E->single = 0;
            if (A[i].w_start <= nw)
                E->wcount[A[i].w_start] = (uint32_t)A[i].w_count;
        }
    E->onet = E->single && nw > 0 ? (int64_t)E->wtarget[0] : -1;
    for (int64_t i = 1; i < nw && E->onet >= 0; i++)
        if (E->wtarget[i] != E->wtarget[0])
            E->onet = -1;
    return 0;
}

/* ---- bit-vector evaluation ----
 *
 * For ensembles whose trees have at most 64 leaves each (boosted trees), the
 * float engine can skip pointer chasing altogether, after the QuickScorer
 * scheme of Lucchese et al. (SIGIR 2015): number each tree's leaves left to
 * right and keep one 64-bit word per tree in which every leaf that is still
 * reachable has its bit set. A node whose test is false ("x > t", the row
 * goes right) rules out every leaf of its left subtree, a contiguous run of
 * bits, so the word is ANDed with a mask clearing that run. Nodes are grouped
 * by feature and sorted by threshold: for each feature the false nodes are
 * exactly a prefix of its list (thresholds below x), found by a linear scan
 * that stops at the first threshold >= x. Afterwards each tree's exit leaf is
 * the lowest bit still set. The work per row is one AND per false node plus
 * one count-trailing-zeros per tree, in a predictable sequential sweep over
 * arrays instead of a chain of dependent loads per level; it suits the many
 * shallow or lopsided trees of gradient boosting. Rows holding a NaN take the
 * node walker (NaN routing is per node). Sums run in tree order as in the
 * walker, so both give identical results. */
typedef struct qsidx {
    int64_t nfeat;           /* features 0 .. nfeat-1 may occur */
    uint32_t *fstart;        /* nfeat entries: start of each feature's list */
    float *thr;              /* per list: ascending, ended by a +inf sentinel */
    uint32_t *tree;
    uint64_t *mask;
    uint64_t *init;          /* per tree: all leaves, minus nodes that are always false */
    uint32_t *lbase;         /* per tree: its first slot in leafw / leafv */
    uint32_t *leafw;         /* weight index of each leaf slot */
    double *leafv;           /* its value when every leaf has one weight */
    /* trees of at most 32 leaves (LightGBM's default 31, XGBoost to depth
     * 5): the same lists with 32-bit words, so that eight rows' words of a
     * tree fill one 256-bit vector (see score_q32) */
    struct q32ent *e32;      /* per list entry, NULL when some tree has more;
                                then thr, tree and mask above are NULL */
    uint32_t *init32;
    _Atomic int lanes_from[3]; /* per level (infer_isa): rows left in a block
                                  from which the lane kernel beats one row at
                                  a time (q_calibrate); 9: never; 0: not yet
                                  measured */
} qsidx;

/* one list entry of the 32-bit form: 12 bytes read as one stream */
typedef struct q32ent { float thr; uint32_t tree, left; } q32ent;

typedef struct qsent { float thr; uint32_t tree; uint64_t mask; } qsent;

static int cmp_qsent(const void *a, const void *b)
{
    const qsent *x = a, *y = b;
    if (x->thr != y->thr)
        return x->thr < y->thr ? -1 : 1;
    return (x->tree > y->tree) - (x->tree < y->tree);
}

static int q_calibrate(const ensemble *E, int lv);
static int q_level(void);

/* Builds E->qs when the ensemble qualifies; leaves it NULL otherwise (not an
 * error: the walker handles everything). */
static int qs_build(arena *ar, ensemble *E, infer_error *e)
{
    E->qs = NULL;
    if (!E->nf || E->generic || E->max_feat < 0 || E->ntrees <= 0 || E->ntrees > (int64_t)UINT32_MAX / 2 ||
        (E->agg != AGG_SUM && E->agg != AGG_AVERAGE))
        return 0;
    const tnf *T = E->nf;
    int64_t nt = E->ntrees, nn = E->nnodes, ninner = 0, nleaves = 0, maxlv = 0;
    for (int64_t t = 0; t < nt; t++) {
        int64_t end = t + 1 < nt ? E->roots[t + 1] : nn, lv = 0;
        for (int64_t i = E->roots[t]; i < end; i++)
            lv += T[i].right == (uint32_t)i;
        if (lv > 64)
            return 0;
        nleaves += lv;
        maxlv = lv > maxlv ? lv : maxlv;
    }
    ninner = nn - nleaves;
    int64_t nf = E->max_feat + 1;
    if (nf > 4 * ninner + 256 || ninner + nf > (int64_t)UINT32_MAX)
        return 0;   /* sparse feature ids: per-feature lists would be mostly empty */
    qsidx *Q = infi_ar_calloc(ar, 1, sizeof *Q);
    uint32_t *lc = malloc((size_t)(nn + 1) * sizeof(uint32_t));
    qsent *ent = malloc((size_t)(ninner + 1) * sizeof(qsent));
    int64_t *cnt = calloc((size_t)nf + 1, sizeof(int64_t));
    int rc = 0;
    if (!Q || !lc || !ent || !cnt)
        goto nomem;
    Q->nfeat = nf;
    Q->fstart = infi_ar_alloc(ar, (size_t)nf * sizeof(uint32_t));
    /* one form of the lists: the 32-bit one when every tree fits */
    if (maxlv <= 32) {
        Q->e32 = infi_ar_alloc(ar, (size_t)(ninner + nf) * sizeof(q32ent));
        Q->init32 = infi_ar_alloc(ar, (size_t)nt * sizeof(uint32_t));
    } else {
        Q->thr = infi_ar_alloc(ar, (size_t)(ninner + nf) * sizeof(float));
        Q->tree = infi_ar_alloc(ar, (size_t)(ninner + nf) * sizeof(uint32_t));
        Q->mask = infi_ar_alloc(ar, (size_t)(ninner + nf) * sizeof(uint64_t));
    }
    Q->init = infi_ar_alloc(ar, (size_t)nt * sizeof(uint64_t));
    Q->lbase = infi_ar_alloc(ar, (size_t)nt * sizeof(uint32_t));
    Q->leafw = infi_ar_alloc(ar, (size_t)(nleaves ? nleaves : 1) * sizeof(uint32_t));
    Q->leafv = infi_ar_alloc(ar, (size_t)(nleaves ? nleaves : 1) * sizeof(double));
    if (!Q->fstart || (maxlv <= 32 ? !Q->e32 || !Q->init32 : !Q->thr || !Q->tree || !Q->mask) || !Q->init || !Q->lbase || !Q->leafw || !Q->leafv)
        goto nomem;
    int64_t ne = 0, slot = 0;
    for (int64_t t = 0; t < nt; t++) {
        int64_t root = E->roots[t], end = t + 1 < nt ? E->roots[t + 1] : nn;
        /* lc[i - root]: leaves before node i in pre-order (= left to right) */
        uint32_t c = 0;
        for (int64_t i = root; i < end; i++) {
            lc[i - root] = c;
            if (T[i].right == (uint32_t)i) {
                Q->leafw[slot + c] = T[i].leaf;
                Q->leafv[slot + c] = E->single ? E->wval[T[i].leaf] : 0.0;
                c++;
            }
        }
        lc[end - root] = c;
        Q->lbase[t] = (uint32_t)slot;
        Q->init[t] = c == 64 ? ~0ull : (1ull << c) - 1;
        for (int64_t i = root; i < end; i++) {
            if (T[i].right == (uint32_t)i)
                continue;
            /* the left subtree is i+1 .. right-1 */
            if (T[i].right <= (uint32_t)i || T[i].right >= (uint32_t)end) {
                rc = infi_ierr(e, INFER_EFORMAT, "internal: tree layout");
                goto out;
            }
            uint32_t lo = lc[i + 1 - root], hi = lc[T[i].right - root];
            uint64_t lm = hi - lo >= 64 ? ~0ull : ((1ull << (hi - lo)) - 1) << lo;
            if (isnan(T[i].thr)) {   /* "x <= NaN" never holds: always goes right */
                Q->init[t] &= ~lm;
                continue;
            }
            ent[ne++] = (qsent){T[i].thr, (uint32_t)t, ~lm};
            cnt[(T[i].feat & FMASK) + 1]++;
        }
        slot += c;
    }
    /* counting sort by feature, one +inf sentinel per feature, then sort
     * each feature's run by threshold */
    for (int64_t f = 0; f < nf; f++)
        cnt[f + 1] += cnt[f] + 1;
    for (int64_t f = 0; f < nf; f++)
        Q->fstart[f] = (uint32_t)cnt[f];
    /* positions: feature f occupies [cnt[f], cnt[f+1]) with its sentinel last */
    {
        int64_t *pos = malloc((size_t)nf * sizeof(int64_t));
        qsent *sorted = malloc((size_t)(ninner + nf) * sizeof(qsent));
        if (!pos || !sorted) {
            free(pos);
            free(sorted);
            goto nomem;
        }
        for (int64_t f = 0; f < nf; f++) {
            pos[f] = cnt[f];
            sorted[cnt[f + 1] - 1] = (qsent){INFINITY, 0, ~0ull};
        }
        int64_t k = 0;
        for (int64_t t = 0; t < nt; t++) {
            int64_t root = E->roots[t], end = t + 1 < nt ? E->roots[t + 1] : nn;
            for (int64_t i = root; i < end; i++)
                if (T[i].right != (uint32_t)i && !isnan(T[i].thr))
                    sorted[pos[T[i].feat & FMASK]++] = ent[k++];
        }
        for (int64_t f = 0; f < nf; f++)
            if (cnt[f + 1] - 1 - cnt[f] > 1)
                qsort(sorted + cnt[f], (size_t)(cnt[f + 1] - 1 - cnt[f]), sizeof(qsent), cmp_qsent);
        for (int64_t j = 0; j < ninner + nf && j < cnt[nf]; j++) {
            if (Q->e32) {
                Q->e32[j] = (q32ent){sorted[j].thr, sorted[j].tree, (uint32_t)~sorted[j].mask};
                continue;
            }
            Q->thr[j] = sorted[j].thr;
            Q->tree[j] = sorted[j].tree;
            Q->mask[j] = sorted[j].mask;
        }
        free(pos);
        free(sorted);
    }
    for (int64_t t = 0; t < nt && Q->e32; t++)
        Q->init32[t] = (uint32_t)Q->init[t];
    E->qs = Q;
    q_calibrate(E, q_level());
    goto out;
nomem:
    rc = infi_ierr(e, INFER_ENOMEM, "out of memory");
out:
    free(lc);
    free(ent);
    free(cnt);
    return rc;
}


/* Per-tree depth (interior nodes on the longest root-to-leaf path) for the
 * fixed-step walkers, which run each tree exactly that many steps. */
static int depth_build(arena *ar, ensemble *E, infer_error *e)
{
    E->tdepth = NULL;
    if (E->generic || E->ntrees <= 0 || (!E->nf && !E->nd))
        return 0;
    int64_t nt = E->ntrees, nn = E->nnodes;
    uint16_t *d = malloc((size_t)(nn ? nn : 1) * sizeof(uint16_t));
    uint16_t *td = infi_ar_alloc(ar, (size_t)nt * sizeof(uint16_t));
    if (!d || !td) {
        free(d);
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    }
    for (int64_t t = 0; t < nt; t++) {
        int64_t root = E->roots[t], end = t + 1 < nt ? E->roots[t + 1] : nn;
        uint16_t md = 0;
        d[root] = 0;
        /* pre-order: both children follow their parent */
        for (int64_t i = root; i < end; i++) {
            uint32_t right = E->nf ? E->nf[i].right : E->nd[i].right;
            if (right == (uint32_t)i) {
                md = d[i] > md ? d[i] : md;
                continue;
            }
            if (d[i] >= 60000 || right <= (uint32_t)i || right >= (uint32_t)end) {
                free(d);
                return 0;   /* leave such trees to the walkers that test for the end */
            }
            d[i + 1] = d[right] = (uint16_t)(d[i] + 1);
        }
        td[t] = md;
    }
    free(d);
    E->tdepth = td;
    return 0;
}

/* ---- opset 1 / 3 ---- */

static int init_classic(infer_model *m, node *nd, int is_clf, infer_error *e)
{
    arena *ar = &m->ar;
    ensemble *E = infi_ar_calloc(ar, 1, sizeof *E);
    if (!E)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    E->is_clf = is_clf;
    const attr *tids = ints_attr(nd, "nodes_treeids"), *nids = ints_attr(nd, "nodes_nodeids"),
               *fids = ints_attr(nd, "nodes_featureids"), *tn = ints_attr(nd, "nodes_truenodeids"),
               *fn = ints_attr(nd, "nodes_falsenodeids"), *mt = ints_attr(nd, "nodes_missing_value_tracks_true");
    const attr *modes = infi_get_attr(nd, "nodes_modes");
    if (!tids || !nids || !fids || !tn || !fn || !modes || modes->type != AT_STRINGS)
        return infi_ierr(e, INFER_EFORMAT, "missing nodes_* attributes");
    int64_t n = tids->n;
    double *vals;
    int64_t nv;
    int thr_double;
    if (reals(ar, nd, "nodes_values", &vals, &nv, &thr_double, e) < 0)
        return e->code;
    if (nids->n != n || fids->n != n || tn->n != n || fn->n != n || modes->n != n || (vals && nv != n) ||
        (mt && mt->n != n && mt->n != 0))
        return infi_ierr(e, INFER_EFORMAT, "nodes_* attributes have different lengths");
    if (n == 0)
        return infi_ierr(e, INFER_EFORMAT, "ensemble has no nodes");
    anode *A = infi_ar_calloc(ar, (size_t)n, sizeof(anode));
    idmap map;
    if (!A || idmap_init(ar, &map, n) < 0)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    /* trees in order of first appearance; the first node of a tree is its root */
    idmap trees;
    if (idmap_init(ar, &trees, n) < 0)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    int64_t *roots = infi_ar_alloc(ar, (size_t)n * sizeof(int64_t)), ntrees = 0;
    if (!roots)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        if (idmap_put(&map, tids->ints[i], nids->ints[i], i) >= 0)
            return infi_ierr(e, INFER_EFORMAT, "node (%lld, %lld) defined twice", (long long)tids->ints[i],
                        (long long)nids->ints[i]);
        int64_t tix = idmap_get(&trees, tids->ints[i], INT64_MIN);
        if (tix < 0) {
            tix = ntrees;
            idmap_put(&trees, tids->ints[i], INT64_MIN, ntrees);
            roots[ntrees++] = i;
        }
        int md = mode_of(modes->strings[i]);
        if (md < 0 || md == M_MEMBER)
            return infi_ierr(e, INFER_EFORMAT, "unknown node mode '%s'", modes->strings[i]);
        A[i].mode = (uint8_t)md;
        A[i].mt = mt && mt->n ? mt->ints[i] != 0 : 0;
        A[i].feat = fids->ints[i];
        A[i].thr = vals ? vals[i] : 0;
        A[i].tree = tix;
        A[i].w_start = 0;
        A[i].w_count = 0;
    }
    for (int64_t i = 0; i < n; i++) {
        if (A[i].mode == M_LEAF)
            continue;
        int64_t t = idmap_get(&map, tids->ints[i], tn->ints[i]), f = idmap_get(&map, tids->ints[i], fn->ints[i]);
        if (t < 0 || f < 0)
            return infi_ierr(e, INFER_EFORMAT, "node (%lld, %lld) points to a missing node id", (long long)tids->ints[i],
                        (long long)nids->ints[i]);
        A[i].t = t;
        A[i].f = f;
    }
    /* leaf weights */
    const char *pfx = is_clf ? "class" : "target";
    char b1[64], b2[64], b3[64];
    snprintf(b1, sizeof b1, "%s_treeids", pfx);
    snprintf(b2, sizeof b2, "%s_nodeids", pfx);
    snprintf(b3, sizeof b3, "%s_ids", pfx);
    const attr *wt = ints_attr(nd, b1), *wn = ints_attr(nd, b2), *wi = ints_attr(nd, b3);
    double *wv;
    int64_t nw;
    snprintf(b1, sizeof b1, "%s_weights", pfx);
    if (reals(ar, nd, b1, &wv, &nw, NULL, e) < 0)
        return e->code;
    int64_t nwt = wt ? wt->n : 0;
    if (!wt || !wn || !wi || !wv || wn->n != nwt || wi->n != nwt || nw != nwt)
        return infi_ierr(e, INFER_EFORMAT, "%s_* attributes missing or of different lengths", pfx);
    /* group weights by leaf: counting sort on the leaf's anode index */
    int64_t *cnt = infi_ar_calloc(ar, (size_t)n + 1, sizeof(int64_t));
    int64_t *leafof = infi_ar_alloc(ar, (size_t)(nw ? nw : 1) * sizeof(int64_t));
    double *gv = infi_ar_alloc(ar, (size_t)(nw ? nw : 1) * sizeof(double));
    int64_t *gt = infi_ar_alloc(ar, (size_t)(nw ? nw : 1) * sizeof(int64_t));
    if (!cnt || !leafof || !gv || !gt)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    for (int64_t k = 0; k < nw; k++) {
        int64_t a = idmap_get(&map, wt->ints[k], wn->ints[k]);
        if (a < 0 || A[a].mode != M_LEAF)
            return infi_ierr(e, INFER_EFORMAT, "weight %lld refers to (%lld, %lld), which is not a leaf", (long long)k,
                        (long long)wt->ints[k], (long long)wn->ints[k]);
        leafof[k] = a;
        cnt[a + 1]++;
    }
    for (int64_t i = 0; i < n; i++)
        cnt[i + 1] += cnt[i];
    for (int64_t i = 0; i < n; i++) {
        A[i].w_count = cnt[i + 1] - cnt[i];
        /* an empty leaf points at the sentinel slot nw (count 0) */
        A[i].w_start = A[i].w_count ? cnt[i] : nw;
    }
    for (int64_t k = 0; k < nw; k++) {
        int64_t pos = cnt[leafof[k]]++;
        gv[pos] = wv[k];
        gt[pos] = wi->ints[k];
    }

    E->post = infi_parse_post_transform(infi_attr_s(nd, "post_transform", "NONE"));
    if (E->post < 0)
        return infi_ierr(e, INFER_EFORMAT, "unknown post_transform");
    if (reals(ar, nd, "base_values", &E->base, &E->nbase, NULL, e) < 0)
        return e->code;
    if (is_clf) {
        const attr *li = ints_attr(nd, "classlabels_int64s"), *ls = infi_get_attr(nd, "classlabels_strings");
        if (li && li->n) {
            E->labels_i = li->ints;
            E->nlabels = li->n;
        } else if (ls && ls->type == AT_STRINGS && ls->n) {
            E->labels_s = ls->strings;
            E->nlabels = ls->n;
        } else {
            return infi_ierr(e, INFER_EFORMAT, "classifier has no class labels");
        }
        E->ntargets = E->nlabels;
        E->agg = AGG_SUM;
    } else {
        E->ntargets = infi_attr_i(nd, "n_targets", 1);
        if (E->ntargets <= 0 || E->ntargets > 1000000)
            return infi_ierr(e, INFER_EFORMAT, "bad n_targets");
        const char *ag = infi_attr_s(nd, "aggregate_function", "SUM");
        E->agg = !strcmp(ag, "SUM") ? AGG_SUM : !strcmp(ag, "AVERAGE") ? AGG_AVERAGE : !strcmp(ag, "MIN") ? AGG_MIN
               : !strcmp(ag, "MAX") ? AGG_MAX : -1;
        if (E->agg < 0)
            return infi_ierr(e, INFER_EFORMAT, "unknown aggregate_function '%s'", ag);
    }
    if (E->nbase && E->nbase != E->ntargets && !(is_clf && E->nbase <= 2))
        return infi_ierr(e, INFER_EFORMAT, "base_values has %lld entries for %lld targets", (long long)E->nbase,
                    (long long)E->ntargets);
    if (finish_weights(ar, E, gv, gt, nw, A, n, e) < 0)
        return e->code;
    if (is_clf) {
        E->has = infi_ar_calloc(ar, (size_t)E->nlabels, 1);
        if (!E->has)
            return infi_ierr(e, INFER_ENOMEM, "out of memory");
        int64_t distinct = 0;
        E->all_pos = 1;
        for (int64_t k = 0; k < nw; k++) {
            if (!E->has[E->wtarget[k]]++)
                distinct++;
            E->has[E->wtarget[k]] = 1;
            if (E->wval[k] < 0)
                E->all_pos = 0;
        }
        E->binary_case = E->nlabels == 2 && distinct == 1;
    }
    /* float engine for float/int inputs; double engine when thresholds are
     * double or the input may be double */
    int in_double = 0;
    for (int i = 0; i < m->nin; i++)
        if (nd->nin > 0 && m->in_idx[i] == nd->in[0] && m->in_info[i].type == INFER_DOUBLE)
            in_double = 1;
    if (compile(ar, E, A, n, roots, ntrees, NULL, !thr_double, 1, e) < 0)
        return e->code;
    (void)in_double;
    E->ntrees = ntrees;
    if (qs_build(ar, E, e) < 0 || depth_build(ar, E, e) < 0)
        return e->code;
    nd->state = E;
    return 0;
}

static int init_clf(infer_model *m, node *nd, infer_error *e) { return init_classic(m, nd, 1, e); }
static int init_reg(infer_model *m, node *nd, infer_error *e) { return init_classic(m, nd, 0, e); }

/* ---- opset 5 ---- */

static int tensor_reals(arena *ar, const node *nd, const char *name, double **out, int64_t *n, infer_error *e)
{
    const attr *a = infi_get_attr(nd, name);
    *out = NULL;
    *n = 0;
    if (!a)
        return 0;
    if (a->type != AT_TENSOR || !a->t || !infi_is_numeric(a->t->type))
        return infi_ierr(e, INFER_EFORMAT, "%s must be a numeric tensor", name);
    double *d = infi_ar_alloc(ar, (size_t)(a->t->n ? a->t->n : 1) * sizeof(double));
    if (!d)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    exec r = {ar, e, NULL};
    double *src = infi_tv_as_double(&r, a->t);
    if (!src)
        return e->code;
    memcpy(d, src, (size_t)a->t->n * sizeof(double));
    *out = d;
    *n = a->t->n;
    return 0;
}

static int init_v5(infer_model *m, node *nd, infer_error *e)
{
    arena *ar = &m->ar;
    ensemble *E = infi_ar_calloc(ar, 1, sizeof *E);
    if (!E)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    E->opset5 = 1;
    const attr *fids = ints_attr(nd, "nodes_featureids"), *tn = ints_attr(nd, "nodes_truenodeids"),
               *fn = ints_attr(nd, "nodes_falsenodeids"), *tl = ints_attr(nd, "nodes_trueleafs"),
               *fl = ints_attr(nd, "nodes_falseleafs"), *mt = ints_attr(nd, "nodes_missing_value_tracks_true"),
               *rootsA = ints_attr(nd, "tree_roots"), *lt = ints_attr(nd, "leaf_targetids");
    double *splits, *modes, *lw, *mv;
    int64_t ns, nm, nlw, nmv;
    if (tensor_reals(ar, nd, "nodes_splits", &splits, &ns, e) < 0 || tensor_reals(ar, nd, "nodes_modes", &modes, &nm, e) < 0 ||
        tensor_reals(ar, nd, "leaf_weights", &lw, &nlw, e) < 0 || tensor_reals(ar, nd, "membership_values", &mv, &nmv, e) < 0)
        return e->code;
    if (!fids || !tn || !fn || !tl || !fl || !rootsA || !lt || !splits || !modes || !lw)
        return infi_ierr(e, INFER_EFORMAT, "missing attributes");
    int64_t n = fids->n, nl = lt->n;
    if (tn->n != n || fn->n != n || tl->n != n || fl->n != n || ns != n || nm != n || (mt && mt->n != n) || nlw != nl)
        return infi_ierr(e, INFER_EFORMAT, "nodes_*/leaf_* attributes have different lengths");
    E->ntargets = infi_attr_i(nd, "n_targets", 1);
    if (E->ntargets <= 0 || E->ntargets > 1000000)
        return infi_ierr(e, INFER_EFORMAT, "bad n_targets");
    int64_t agg = infi_attr_i(nd, "aggregate_function", 1), post = infi_attr_i(nd, "post_transform", 0);
    if (agg < 0 || agg > 3 || post < 0 || post > 4)
        return infi_ierr(e, INFER_EFORMAT, "bad aggregate_function or post_transform");
    E->agg = (int)agg;
    static const int pmap[] = {PT_NONE, PT_SOFTMAX, PT_LOGISTIC, PT_SOFTMAX_ZERO, PT_PROBIT};
    E->post = pmap[post];
    anode *A = infi_ar_calloc(ar, (size_t)(n + nl + 1), sizeof(anode));
    int64_t *gt = infi_ar_alloc(ar, (size_t)(nl + 1) * sizeof(int64_t));
    if (!A || !gt)
        return infi_ierr(e, INFER_ENOMEM, "out of memory");
    int64_t mpos = 0;
    for (int64_t i = 0; i < n; i++) {
        double md = modes[i];
        if (!(md >= 0 && md <= 6))
            return infi_ierr(e, INFER_EFORMAT, "bad node mode %g", md);
        A[i].mode = (uint8_t)md;
        A[i].mt = mt ? mt->ints[i] != 0 : 0;
        A[i].feat = fids->ints[i];
        A[i].thr = splits[i];
        A[i].tree = -1;
        int64_t t = tn->ints[i], f = fn->ints[i];
        if ((tl->ints[i] ? t < 0 || t >= nl : t < 0 || t >= n) || (fl->ints[i] ? f < 0 || f >= nl : f < 0 || f >= n))
            return infi_ierr(e, INFER_EFORMAT, "node %lld points out of range", (long long)i);
        A[i].t = tl->ints[i] ? n + t : t;
        A[i].f = fl->ints[i] ? n + f : f;
        if (A[i].mode == M_MEMBER) {
            /* sets in node order, NaN-delimited */
            if (!mv)
                return infi_ierr(e, INFER_EFORMAT, "membership node without membership_values");
            A[i].set_start = mpos;
            while (mpos < nmv && !isnan(mv[mpos]))
                mpos++;
            A[i].set_len = mpos - A[i].set_start;
            if (mpos < nmv)
                mpos++;
        }
    }
    for (int64_t k = 0; k < nl; k++) {
        A[n + k].mode = M_LEAF;
        A[n + k].w_start = k;
        A[n + k].w_count = 1;
        A[n + k].tree = -1;
        gt[k] = lt->ints[k];
    }
    int64_t ntrees = rootsA->n;
    for (int64_t t = 0; t < ntrees; t++)
        if (rootsA->ints[t] < 0 || rootsA->ints[t] >= n)
            return infi_ierr(e, INFER_EFORMAT, "tree root %lld out of range", (long long)rootsA->ints[t]);
    if (finish_weights(ar, E, lw, gt, nl, A, n + nl, e) < 0)
        return e->code;
    const attr *st = infi_get_attr(nd, "nodes_splits");
    int dbl = st->t->type == INFER_DOUBLE;
    if (compile(ar, E, A, n + nl, rootsA->ints, ntrees, mv, !dbl, 1, e) < 0)
        return e->code;
    E->ntrees = ntrees;
    if (qs_build(ar, E, e) < 0 || depth_build(ar, E, e) < 0)
        return e->code;
    nd->state = E;
    return 0;
}

/* ---- evaluation ---- */

#define DEF_ENGINE(SUF, NT, XT)                                                                  \
    static inline int cond_##SUF(const ensemble *E, const NT *n, XT v)                           \
    {                                                                                            \
        int c;                                                                                   \
        switch ((n->feat >> MODE_SHIFT) & 7) {                                                   \
        case CM_LEQ: c = v <= n->thr; break;                                                     \
        case CM_EQ: c = v == n->thr; break;                                                      \
        case CM_NEQ: c = v != n->thr; break;                                                     \
        default: c = in_setd(E, n->leaf, (double)v); break;                                      \
        }                                                                                        \
        return c | ((n->feat >> 31) & (v != v));                                                \
    }                                                                                            \
    /* one walker, any node kind */                                                              \
    static inline uint32_t walk1_##SUF(const ensemble *E, const NT *T, uint32_t i, const XT *x) \
    {                                                                                            \
        for (;;) {                                                                               \
            const NT *n = &T[i];                                                                 \
            XT v = x[n->feat & FMASK];                                                           \
            uint32_t j = cond_##SUF(E, n, v) ? i + 1 : n->right;                                 \
            if (j == i)                                                                          \
                return n->leaf;                                                                  \
            i = j;                                                                               \
        }                                                                                        \
    }                                                                                            \
    /* eight walkers in lockstep over "<=" nodes only */                                        \
    static inline void walk8_##SUF(const NT *T, uint32_t *idx, const XT *const *x)              \
    {                                                                                            \
        for (;;) {                                                                               \
            uint32_t moved = 0;                                                                  \
            for (int g = 0; g < 8; g++) {                                                        \
                const NT *n = &T[idx[g]];                                                        \
                XT v = x[g][n->feat & FMASK];                                                    \
                uint32_t go = (uint32_t)(v <= n->thr) | ((n->feat >> 31) & (uint32_t)(v != v)); \
                /* arithmetic select: a branch here would be unpredictable */                    \
                uint32_t j = n->right + ((idx[g] + 1 - n->right) & (0u - go));                  \
                moved |= j ^ idx[g];                                                             \
                idx[g] = j;                                                                      \
            }                                                                                    \
            if (!moved)                                                                          \
                break;                                                                           \
        }                                                                                        \
        for (int g = 0; g < 8; g++)                                                              \
            idx[g] = T[idx[g]].leaf;                                                             \
    }

DEF_ENGINE(f, tnf, float)
DEF_ENGINE(d, tnd, double)

/* Eight walkers over "<=" nodes for rows known to hold no NaN: no NaN
 * routing, walkers kept in scalar locals so that they live in registers */
#define FSTEP(g, NT, XT)                                                           \
    {                                                                        \
        const NT *n_ = T + i##g;                                             \
        XT v_ = p##g[n_->feat & FMASK];                                      \
        uint32_t r_ = n_->right, go_ = (uint32_t)(v_ <= n_->thr);            \
        uint32_t j_ = r_ + ((i##g + 1 - r_) & (0u - go_)); /* no branch */   \
        moved |= j_ ^ i##g;                                                  \
        i##g = j_;                                                           \
    }
#define DEF_FAST(SUF, NT, XT)                                                          \
    static inline void walk8_fast_##SUF(const NT *T, uint32_t *idx, const XT *const *x) \
    {                                                                                  \
        uint32_t i0 = idx[0], i1 = idx[1], i2 = idx[2], i3 = idx[3], i4 = idx[4], i5 = idx[5], i6 = idx[6], \
                 i7 = idx[7];                                                          \
        const XT *p0 = x[0], *p1 = x[1], *p2 = x[2], *p3 = x[3], *p4 = x[4], *p5 = x[5], *p6 = x[6], \
                 *p7 = x[7];                                                           \
        for (;;) {                                                                     \
            uint32_t moved = 0;                                                        \
            FSTEP(0, NT, XT) FSTEP(1, NT, XT) FSTEP(2, NT, XT) FSTEP(3, NT, XT)           \
            FSTEP(4, NT, XT) FSTEP(5, NT, XT) FSTEP(6, NT, XT) FSTEP(7, NT, XT)           \
            if (!moved)                                                                \
                break;                                                                 \
        }                                                                              \
        idx[0] = T[i0].leaf, idx[1] = T[i1].leaf, idx[2] = T[i2].leaf, idx[3] = T[i3].leaf; \
        idx[4] = T[i4].leaf, idx[5] = T[i5].leaf, idx[6] = T[i6].leaf, idx[7] = T[i7].leaf; \
    }
DEF_FAST(f, tnf, float)
DEF_FAST(d, tnd, double)


/* batch 1: sixteen trees walk the same row, giving the memory system more
 * independent node loads in flight (the trees no longer fit in L1) */
#define SSTEP(g, NT, XT)                                                     \
    {                                                                        \
        const NT *n_ = T + i##g;                                             \
        XT v_ = x[n_->feat & FMASK];                                         \
        uint32_t r_ = n_->right, go_ = (uint32_t)(v_ <= n_->thr);            \
        uint32_t j_ = r_ + ((i##g + 1 - r_) & (0u - go_));                   \
        moved |= j_ ^ i##g;                                                  \
        i##g = j_;                                                           \
    }
#define DEF_ROW16(SUF, NT, XT)                                                            \
    static inline void walk16_row_##SUF(const NT *T, uint32_t *idx, const XT *x)          \
    {                                                                                     \
        uint32_t i0 = idx[0], i1 = idx[1], i2 = idx[2], i3 = idx[3], i4 = idx[4], i5 = idx[5], i6 = idx[6], \
                 i7 = idx[7], i8 = idx[8], i9 = idx[9], i10 = idx[10], i11 = idx[11], i12 = idx[12],       \
                 i13 = idx[13], i14 = idx[14], i15 = idx[15];                             \
        for (;;) {                                                                        \
            uint32_t moved = 0;                                                           \
            SSTEP(0, NT, XT) SSTEP(1, NT, XT) SSTEP(2, NT, XT) SSTEP(3, NT, XT)           \
            SSTEP(4, NT, XT) SSTEP(5, NT, XT) SSTEP(6, NT, XT) SSTEP(7, NT, XT)           \
            SSTEP(8, NT, XT) SSTEP(9, NT, XT) SSTEP(10, NT, XT) SSTEP(11, NT, XT)         \
            SSTEP(12, NT, XT) SSTEP(13, NT, XT) SSTEP(14, NT, XT) SSTEP(15, NT, XT)       \
            if (!moved)                                                                   \
                break;                                                                    \
        }                                                                                 \
        idx[0] = T[i0].leaf, idx[1] = T[i1].leaf, idx[2] = T[i2].leaf, idx[3] = T[i3].leaf; \
        idx[4] = T[i4].leaf, idx[5] = T[i5].leaf, idx[6] = T[i6].leaf, idx[7] = T[i7].leaf; \
        idx[8] = T[i8].leaf, idx[9] = T[i9].leaf, idx[10] = T[i10].leaf, idx[11] = T[i11].leaf; \
        idx[12] = T[i12].leaf, idx[13] = T[i13].leaf, idx[14] = T[i14].leaf, idx[15] = T[i15].leaf; \
    }
DEF_ROW16(f, tnf, float)
DEF_ROW16(d, tnd, double)
/* the same, for exactly dep steps (the deepest of the sixteen trees) */
#define DEF_ROW16D(SUF, NT, XT)                                                            \
    static inline void walk16_rowd_##SUF(const NT *T, uint32_t *idx, const XT *x, int dep)          \
    {                                                                                     \
        uint32_t i0 = idx[0], i1 = idx[1], i2 = idx[2], i3 = idx[3], i4 = idx[4], i5 = idx[5], i6 = idx[6], \
                 i7 = idx[7], i8 = idx[8], i9 = idx[9], i10 = idx[10], i11 = idx[11], i12 = idx[12],       \
                 i13 = idx[13], i14 = idx[14], i15 = idx[15];                             \
        for (int d_ = 0; d_ < dep; d_++) {                                                \
            uint32_t moved = 0;                                                           \
            SSTEP(0, NT, XT) SSTEP(1, NT, XT) SSTEP(2, NT, XT) SSTEP(3, NT, XT)           \
            SSTEP(4, NT, XT) SSTEP(5, NT, XT) SSTEP(6, NT, XT) SSTEP(7, NT, XT)           \
            SSTEP(8, NT, XT) SSTEP(9, NT, XT) SSTEP(10, NT, XT) SSTEP(11, NT, XT)         \
            SSTEP(12, NT, XT) SSTEP(13, NT, XT) SSTEP(14, NT, XT) SSTEP(15, NT, XT)       \
            (void)moved;                                                                  \
        }                                                                                 \
        idx[0] = T[i0].leaf, idx[1] = T[i1].leaf, idx[2] = T[i2].leaf, idx[3] = T[i3].leaf; \
        idx[4] = T[i4].leaf, idx[5] = T[i5].leaf, idx[6] = T[i6].leaf, idx[7] = T[i7].leaf; \
        idx[8] = T[i8].leaf, idx[9] = T[i9].leaf, idx[10] = T[i10].leaf, idx[11] = T[i11].leaf; \
        idx[12] = T[i12].leaf, idx[13] = T[i13].leaf, idx[14] = T[i14].leaf, idx[15] = T[i15].leaf; \
    }
DEF_ROW16D(f, tnf, float)
DEF_ROW16D(d, tnd, double)


/* Eight walkers over "<=" nodes for rows without NaN, run for exactly the
 * tree's depth in steps (a walker that reaches a leaf stays there), so
 * there is no "all done?" test per step. */
#define DSTEP(g, NT)                                                                 \
    {                                                                                \
        const NT *n_ = T + i##g;                                                     \
        uint32_t r_ = n_->right, go_ = (uint32_t)(p##g[n_->feat & FMASK] <= n_->thr); \
        i##g = r_ + ((i##g + 1 - r_) & (0u - go_));                                  \
    }
#define DEF_DEP(SUF, NT, XT)                                                                       \
    static inline void walk8_dep_##SUF(const NT *T, uint32_t *idx, const XT *const *x, int dep)   \
    {                                                                                              \
        uint32_t i0 = idx[0], i1 = idx[1], i2 = idx[2], i3 = idx[3], i4 = idx[4], i5 = idx[5],      \
                 i6 = idx[6], i7 = idx[7];                                                         \
        const XT *p0 = x[0], *p1 = x[1], *p2 = x[2], *p3 = x[3], *p4 = x[4], *p5 = x[5], *p6 = x[6], \
                 *p7 = x[7];                                                                       \
        for (int d = 0; d < dep; d++) {                                                            \
            DSTEP(0, NT) DSTEP(1, NT) DSTEP(2, NT) DSTEP(3, NT)                                    \
            DSTEP(4, NT) DSTEP(5, NT) DSTEP(6, NT) DSTEP(7, NT)                                    \
        }                                                                                          \
        idx[0] = T[i0].leaf, idx[1] = T[i1].leaf, idx[2] = T[i2].leaf, idx[3] = T[i3].leaf;        \
        idx[4] = T[i4].leaf, idx[5] = T[i5].leaf, idx[6] = T[i6].leaf, idx[7] = T[i7].leaf;        \
    }
DEF_DEP(f, tnf, float)
DEF_DEP(d, tnd, double)

static int has_nan_f(const float *x, int64_t n)
{
    int r = 0;
    for (int64_t i = 0; i < n; i++)
        r |= x[i] != x[i];
    return r;
}

static int has_nan_d(const double *x, int64_t n)
{
    int r = 0;
    for (int64_t i = 0; i < n; i++)
        r |= x[i] != x[i];
    return r;
}

static inline void add_leaf(const ensemble *E, uint32_t w, double *acc, double *cnt)
{
    if (E->single) {
        acc[E->wtarget[w]] += E->wval[w];
        return;
    }
    uint32_t c = E->wcount[w];
    for (uint32_t k = 0; k < c; k++)
        acc[E->wtarget[w + k]] += E->wval[w + k];
    (void)cnt;
}

static inline void minmax_leaf(const ensemble *E, uint32_t w, double *acc, uint8_t *hit)
{
    uint32_t c = E->single ? 1 : E->wcount[w];
    for (uint32_t k = 0; k < c; k++) {
        uint32_t t = E->wtarget[w + k];
        double v = E->wval[w + k];
        if (!hit[t] || (E->agg == AGG_MIN ? v < acc[t] : v > acc[t]))
            acc[t] = v;
        hit[t] = 1;
    }
}

#define BLOCK 128

#define DEF_SCORE(SUF, NT, XT)                                                                     \
    static void score_##SUF(const ensemble *E, const NT *T, const XT *X, int64_t N, int64_t F,   \
                            double *acc, uint8_t *hit)                                          \
    {                                                                                              \
        int64_t TT = E->ntargets;                                                                  \
        static const XT zero_row[1] = {0};                                                         \
        if (E->agg == AGG_MIN || E->agg == AGG_MAX) {                                              \
            for (int64_t r = 0; r < N; r++) {                                                      \
                const XT *x = F ? X + r * F : zero_row;                                            \
                for (int64_t t = 0; t < E->ntrees; t++)                                            \
                    minmax_leaf(E, walk1_##SUF(E, T, E->roots[t], x), acc + r * TT, hit + r * TT); \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        if (E->generic) {                                                                          \
            for (int64_t r = 0; r < N; r++) {                                                      \
                const XT *x = F ? X + r * F : zero_row;                                            \
                for (int64_t t = 0; t < E->ntrees; t++)                                            \
                    add_leaf(E, walk1_##SUF(E, T, E->roots[t], x), acc + r * TT, NULL);            \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        if (N < 8) {                                                                               \
            /* few rows: eight trees walk each row together */                                    \
            for (int64_t r = 0; r < N; r++) {                                                      \
                const XT *x = F ? X + r * F : zero_row;                                            \
                const XT *xs[8] = {x, x, x, x, x, x, x, x};                                        \
                int clean = !has_nan_##SUF(x, F);                                                  \
                int64_t t = 0;                                                                     \
                if (clean)                                                                         \
                    for (; t + 16 <= E->ntrees; t += 16) {                                         \
                        uint32_t idx[16];                                                          \
                        int dep = 0;                                                               \
                        for (int g = 0; g < 16; g++) {                                             \
                            idx[g] = E->roots[t + g];                                              \
                            if (E->tdepth && E->tdepth[t + g] > dep)                               \
                                dep = E->tdepth[t + g];                                            \
                        }                                                                          \
                        if (E->tdepth)                                                             \
                            walk16_rowd_##SUF(T, idx, x, dep);                                     \
                        else                                                                       \
                            walk16_row_##SUF(T, idx, x);                                           \
                        for (int g = 0; g < 16; g++)                                               \
                            add_leaf(E, idx[g], acc + r * TT, NULL);                               \
                    }                                                                              \
                for (; t + 8 <= E->ntrees; t += 8) {                                               \
                    uint32_t idx[8];                                                               \
                    for (int g = 0; g < 8; g++)                                                    \
                        idx[g] = E->roots[t + g];                                                  \
                    if (clean)                                                                     \
                        walk8_fast_##SUF(T, idx, xs);                                              \
                    else                                                                           \
                        walk8_##SUF(T, idx, xs);                                                   \
                    for (int g = 0; g < 8; g++)                                                    \
                        add_leaf(E, idx[g], acc + r * TT, NULL);                                   \
                }                                                                                  \
                for (; t < E->ntrees; t++)                                                         \
                    add_leaf(E, walk1_##SUF(E, T, E->roots[t], x), acc + r * TT, NULL);            \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t r0 = 0; r0 < N; r0 += BLOCK) {                                                \
            int64_t r1 = r0 + BLOCK < N ? r0 + BLOCK : N;                                          \
            /* groups of 8 rows without NaN take the lean walkers; a last,  \
             * short group repeats its last row in the spare lanes */         \
            uint8_t clean[BLOCK / 8];                                                              \
            for (int64_t q = r0; q < r1; q += 8)                                                   \
                clean[(q - r0) / 8] = !has_nan_##SUF(X + q * F, (r1 - q < 8 ? r1 - q : 8) * F);    \
            for (int64_t t = 0; t < E->ntrees; t++) {                                              \
                uint32_t root = E->roots[t];                                                       \
                for (int64_t r = r0; r < r1; r += 8) {                                             \
                    int nr = r1 - r < 8 ? (int)(r1 - r) : 8;                                       \
                    uint32_t idx[8];                                                               \
                    const XT *xs[8];                                                               \
                    for (int g = 0; g < 8; g++) {                                                  \
                        idx[g] = root;                                                             \
                        xs[g] = F ? X + (r + (g < nr ? g : nr - 1)) * F : zero_row;                \
                    }                                                                              \
                    if (clean[(r - r0) / 8] && E->tdepth)                                          \
                        walk8_dep_##SUF(T, idx, xs, E->tdepth[t]);                                 \
                    else if (clean[(r - r0) / 8])                                                  \
                        walk8_fast_##SUF(T, idx, xs);                                              \
                    else                                                                           \
                        walk8_##SUF(T, idx, xs);                                                   \
                    if (E->onet >= 0) {                                                            \
                        for (int g = 0; g < nr; g++)                                               \
                            acc[(r + g) * TT + E->onet] += E->wval[idx[g]];                        \
                    } else {                                                                       \
                        for (int g = 0; g < nr; g++)                                               \
                            add_leaf(E, idx[g], acc + (r + g) * TT, NULL);                         \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

DEF_SCORE(f, tnf, float)
DEF_SCORE(d, tnd, double)

/* Bit-vector evaluation (see qs_build) of one row without NaN, one word
 * per tree: for a few rows this beats the eight-lane form below (see
 * q_calibrate). The time goes to the ~7,400 read-modify-writes of a
 * 500-tree LightGBM row (2 cycles each); finding each feature's false
 * prefix by a branch-free binary search instead of the scan measured 12%
 * slower, the scan's branch being predicted but at its exit. */
static void score_qs1(const ensemble *E, const float *x, double *a, void *vv)
{
    const qsidx *Q = E->qs;
    int64_t nt = E->ntrees;
    uint32_t *v32 = vv;
    uint64_t *v64 = vv;
    if (Q->e32) {
        memcpy(v32, Q->init32, (size_t)nt * sizeof(uint32_t));
        /* 32 searches first: independent chains that the CPU overlaps
         * (a third of the row's time when each preceded its clearing) */
        for (int64_t f = 0; f < Q->nfeat; f++) {
            float xf = x[f];
            for (const q32ent *e = Q->e32 + Q->fstart[f]; e->thr < xf; e++)
                v32[e->tree] &= ~e->left;
        }
    } else {
        memcpy(v64, Q->init, (size_t)nt * sizeof(uint64_t));
        for (int64_t f = 0; f < Q->nfeat; f++) {
            float xf = x[f];
            for (uint32_t k = Q->fstart[f]; Q->thr[k] < xf; k++)
                v64[Q->tree[k]] &= Q->mask[k];
        }
    }
    double s = E->onet >= 0 ? a[E->onet] : 0;   /* one sum in a register, in tree order */
    for (int64_t t = 0; t < nt; t++) {
        uint32_t slot = Q->lbase[t] + (uint32_t)(Q->e32 ? __builtin_ctz(v32[t]) : __builtin_ctzll(v64[t]));
        if (E->onet >= 0)
            s += Q->leafv[slot];
        else
            add_leaf(E, Q->leafw[slot], a, NULL);
    }
    if (E->onet >= 0)
        a[E->onet] = s;
}

/* Bit-vector evaluation (see qs_build), eight rows at a time: each tree
 * keeps one word per row side by side (v[t][8]), so a node's test runs for
 * the eight rows at once and clears its mask only in the rows for which it
 * is false. A feature's list is scanned up to the largest of the eight
 * values. Rows holding a NaN, and the lanes past the last row, get -inf
 * (no node is ever false for them); NaN rows then take the walker. */
typedef double qs_f8 __attribute__((vector_size(64)));
typedef int64_t qs_l8 __attribute__((vector_size(64)));
typedef uint64_t qs_u8 __attribute__((vector_size(64)));

#define QS_INLINE static inline __attribute__((always_inline))

/* Fills xt[f][g] with row g's feature f (-inf for NaN rows and spare lanes,
 * so that no node is false for them) and marks the NaN rows. */
QS_INLINE void qs_transpose(const float *X, int64_t r0, int nr, int64_t F, int64_t nf, qs_f8 *xt, uint8_t *nanrow)
{
    for (int g = 0; g < 8; g++)
        nanrow[g] = g < nr ? (uint8_t)has_nan_f(X + (r0 + g) * F, F) : 0;
    for (int64_t f = 0; f < nf; f++)
        for (int g = 0; g < 8; g++)
            xt[f][g] = g < nr && !nanrow[g] ? X[(r0 + g) * F + f] : -INFINITY;
}

/* 32-bit words (trees of <= 32 leaves): eight rows of a tree in one
 * 256-bit vector, compared in float (exact: thresholds and inputs are both
 * float). Half the bytes per node of q64_block, and one AVX2 register. */
typedef float q32_f __attribute__((vector_size(32)));
typedef int32_t q32_i __attribute__((vector_size(32)));
typedef uint32_t q32_u __attribute__((vector_size(32)));

/* One feature's eight lanes in float (exact: they were floats) and their
 * largest, where the scan of the feature's sorted list stops. */
QS_INLINE void q_lanes(const qs_f8 *x, q32_f *xv, float *xmax)
{
    for (int g = 0; g < 8; g++)
        (*xv)[g] = (float)(*x)[g];
    float m = (*xv)[0];
    for (int g = 1; g < 8; g++)
        m = (*xv)[g] > m ? (*xv)[g] : m;
    *xmax = m;
}

typedef float q16_f __attribute__((vector_size(16)));
typedef int32_t q16_i __attribute__((vector_size(16)));
typedef uint32_t q16_u __attribute__((vector_size(16), may_alias));

/* halves > 0: the portable copy works on two 128-bit halves, since GCC
 * turns a 256-bit float compare without AVX into eight scalar compares (5x
 * slower, measured); halves < 0: the AVX-512 copy (see q64_block) */
QS_INLINE void q32_block(const ensemble *E, const qs_f8 *xt, int nr, double *sum, q32_u *v, uint32_t *leaf,
                         int halves)
{
    const qsidx *Q = E->qs;
    int64_t nt = E->ntrees, nf = Q->nfeat;
    for (int64_t t = 0; t < nt; t++) {
        uint32_t i0 = Q->init32[t];
        v[t] = (q32_u){i0, i0, i0, i0, i0, i0, i0, i0};
    }
    for (int64_t f = 0; f < nf; f++) {
        float xmax;
        q32_f xv;
        q_lanes(&xt[f], &xv, &xmax);
        const q32ent *e = Q->e32 + Q->fstart[f];
        if (halves > 0) {
            q16_f lo = {xv[0], xv[1], xv[2], xv[3]}, hi = {xv[4], xv[5], xv[6], xv[7]};
            for (; e->thr < xmax; e++) {
                q16_f tv = {e->thr, e->thr, e->thr, e->thr};
                q16_u *w = (q16_u *)&v[e->tree];
                w[0] &= ~((q16_u)(tv < lo) & e->left);
                w[1] &= ~((q16_u)(tv < hi) & e->left);
            }
            continue;
        }
        for (; e->thr < xmax; e++) {
            q32_i c = (q32_f){e->thr, e->thr, e->thr, e->thr, e->thr, e->thr, e->thr, e->thr} < xv;
            v[e->tree] &= ~((q32_u)c & e->left);
        }
    }
    /* all eight lanes, spare ones too (their words are valid): a fixed
     * count lets the compiler unroll */
    for (int64_t t = 0; t < nt && sum; t++) {
        const double *lv = Q->leafv + Q->lbase[t];
        q32_u w = v[t];
        for (int g = 0; g < 8; g++)
            sum[g] += lv[__builtin_ctz(w[g])];
    }
    for (int64_t t = 0; t < nt && !sum; t++) {
        q32_u w = v[t];
        for (int g = 0; g < 8; g++)
            leaf[t * 8 + g] = Q->lbase[t] + (uint32_t)__builtin_ctz(w[g]);
    }
}

/* 64-bit words (trees of 33 to 64 leaves): eight rows of a tree in one
 * 512-bit vector (two AVX2 registers). The compare runs in float on eight
 * lanes and is widened to 64-bit lanes; the portable copy does it on
 * 128-bit pieces (see q32_block). */
typedef int32_t q8_i __attribute__((vector_size(8)));
typedef int64_t q2_l __attribute__((vector_size(16)));
typedef uint64_t q2_u __attribute__((vector_size(16), may_alias));

QS_INLINE void q64_block(const ensemble *E, const qs_f8 *xt, int nr, double *sum, qs_u8 *v, uint32_t *leaf,
                         int halves)
{
    const qsidx *Q = E->qs;
    int64_t nt = E->ntrees, nf = Q->nfeat;
    const float *thr = Q->thr;
    const uint32_t *tree = Q->tree;
    const uint64_t *mask = Q->mask;
    for (int64_t t = 0; t < nt; t++) {
        uint64_t i0 = Q->init[t];
        v[t] = (qs_u8){i0, i0, i0, i0, i0, i0, i0, i0};
    }
    for (int64_t f = 0; f < nf; f++) {
        float xmax;
        q32_f xv;
        q_lanes(&xt[f], &xv, &xmax);
        uint32_t k = Q->fstart[f];
        if (halves > 0) {
            q16_f lo = {xv[0], xv[1], xv[2], xv[3]}, hi = {xv[4], xv[5], xv[6], xv[7]};
            for (; thr[k] < xmax; k++) {
                q16_f tv = {thr[k], thr[k], thr[k], thr[k]};
                q16_i cl = tv < lo, ch = tv < hi;
                uint64_t left = ~mask[k];
                q2_u *w = (q2_u *)&v[tree[k]];
                w[0] &= ~((q2_u)__builtin_convertvector((q8_i){cl[0], cl[1]}, q2_l) & left);
                w[1] &= ~((q2_u)__builtin_convertvector((q8_i){cl[2], cl[3]}, q2_l) & left);
                w[2] &= ~((q2_u)__builtin_convertvector((q8_i){ch[0], ch[1]}, q2_l) & left);
                w[3] &= ~((q2_u)__builtin_convertvector((q8_i){ch[2], ch[3]}, q2_l) & left);
            }
            continue;
        }
        if (halves < 0) {
            /* AVX-512: a double compare into a mask register and the
             * OR-NOT form (one ternary-logic op) measured 3.0 us/row against
             * 3.7 for the float compare and widening (XGBoost, depth 6) */
            qs_f8 xd = xt[f];
            for (; thr[k] < xmax; k++) {
                double th = thr[k];
                qs_l8 c = (qs_f8){th, th, th, th, th, th, th, th} < xd;
                uint64_t m = mask[k];
                v[tree[k]] &= (qs_u8){m, m, m, m, m, m, m, m} | ~(qs_u8)c;
            }
            continue;
        }
        for (; thr[k] < xmax; k++) {
            q32_i c = (q32_f){thr[k], thr[k], thr[k], thr[k], thr[k], thr[k], thr[k], thr[k]} < xv;
            v[tree[k]] &= ~((qs_u8)__builtin_convertvector(c, qs_l8) & ~mask[k]);
        }
    }
    /* all eight lanes, spare ones too (their words are valid): a fixed
     * count lets the compiler unroll */
    for (int64_t t = 0; t < nt && sum; t++) {
        const double *lv = Q->leafv + Q->lbase[t];
        qs_u8 w = v[t];
        for (int g = 0; g < 8; g++)
            sum[g] += lv[__builtin_ctzll(w[g])];
    }
    for (int64_t t = 0; t < nt && !sum; t++) {
        qs_u8 w = v[t];
        for (int g = 0; g < 8; g++)
            leaf[t * 8 + g] = Q->lbase[t] + (uint32_t)__builtin_ctzll(w[g]);
    }
}

/* Rows r0 .. r0+nr-1 (nr <= 8) through the lane kernel. NaN rows take the
 * walker. With one target and one weight per leaf the sums run in the
 * kernel (eight independent sums, each in tree order, as every engine);
 * otherwise it hands back each tree's exit leaf per lane. */
QS_INLINE void qs_block(const ensemble *E, const float *X, int64_t r0, int nr, int64_t F, double *acc, void *v,
                        qs_f8 *xt, uint32_t *leaf, int halves)
{
    const qsidx *Q = E->qs;
    int64_t nt = E->ntrees, TT = E->ntargets;
    uint8_t nanrow[8];
    qs_transpose(X, r0, nr, F, Q->nfeat, xt, nanrow);
    double sum[8] = {0}, *sp = E->onet >= 0 ? sum : NULL;
    for (int g = 0; g < nr && sp; g++)
        sum[g] = acc[(r0 + g) * TT + E->onet];
    if (Q->e32)
        q32_block(E, xt, nr, sp, v, leaf, halves);
    else
        q64_block(E, xt, nr, sp, v, leaf, halves);
    for (int g = 0; g < nr; g++) {
        double *a = acc + (r0 + g) * TT;
        if (nanrow[g]) {
            const float *x = X + (r0 + g) * F;
            for (int64_t t = 0; t < nt; t++)
                add_leaf(E, walk1_f(E, E->nf, E->roots[t], x), a, NULL);
        } else if (sp) {
            a[E->onet] = sum[g];
        } else {
            for (int64_t t = 0; t < nt; t++)
                add_leaf(E, Q->leafw[leaf[t * 8 + g]], a, NULL);
        }
    }
}

/* Whole batches: blocks of eight rows through the lane kernel; a last
 * block with fewer rows than lanes_from goes one row at a time. */
QS_INLINE void score_qs_body(const ensemble *E, const float *X, int64_t N, int64_t F, double *acc, void *v,
                             qs_f8 *xt, uint32_t *leaf, int lanes_from, int halves)
{
    int64_t TT = E->ntargets;
    for (int64_t r0 = 0; r0 < N; r0 += 8) {
        int nr = N - r0 < 8 ? (int)(N - r0) : 8;
        if (nr >= lanes_from) {
            qs_block(E, X, r0, nr, F, acc, v, xt, leaf, halves);
            continue;
        }
        for (int64_t r = r0; r < N; r++) {
            const float *x = X + r * F;
            if (has_nan_f(x, F))
                for (int64_t t = 0; t < E->ntrees; t++)
                    add_leaf(E, walk1_f(E, E->nf, E->roots[t], x), acc + r * TT, NULL);
            else
                score_qs1(E, x, acc + r * TT, v);
        }
        break;
    }
}

/* One copy of score_qs_body per instruction-set level (infer_isa). */
typedef void qs_fn(const ensemble *E, const float *X, int64_t N, int64_t F, double *acc, void *v, qs_f8 *xt,
                   uint32_t *leaf, int lanes_from);
static void score_qs_port(const ensemble *E, const float *X, int64_t N, int64_t F, double *acc, void *v, qs_f8 *xt,
                          uint32_t *leaf, int lanes_from)
{
    score_qs_body(E, X, N, F, acc, v, xt, leaf, lanes_from, 1);
}
#ifdef INFI_HAVE_X86_LEVELS
TARGET_AVX2 static void score_qs_avx2(const ensemble *E, const float *X, int64_t N, int64_t F, double *acc, void *v,
                                      qs_f8 *xt, uint32_t *leaf, int lanes_from)
{
    score_qs_body(E, X, N, F, acc, v, xt, leaf, lanes_from, 0);
}
TARGET_AVX512 static void score_qs_avx512(const ensemble *E, const float *X, int64_t N, int64_t F, double *acc,
                                          void *v, qs_f8 *xt, uint32_t *leaf, int lanes_from)
{
    score_qs_body(E, X, N, F, acc, v, xt, leaf, lanes_from, -1);
}
static qs_fn *const qs_level[] = {score_qs_port, score_qs_avx2, score_qs_avx512};
#else
static qs_fn *const qs_level[] = {score_qs_port};
#endif
#define QS_LEVELS ((int)(sizeof qs_level / sizeof qs_level[0]))

/* the level in force, among those this build has copies for */
static int q_level(void)
{
    int lv = infi_isa_level();
    return lv < QS_LEVELS ? lv : QS_LEVELS - 1;
}

/* v: ntrees words of eight lanes; xt: nfeat transposed values; leaf:
 * 8 * ntrees exit slots (used when leaves are not summed in the kernel) */
static void score_qs(const ensemble *E, const float *X, int64_t N, int64_t F, double *acc, void *v, qs_f8 *xt,
                     uint32_t *leaf)
{
    int lv = q_level();
    int from = atomic_load_explicit(&E->qs->lanes_from[lv], memory_order_relaxed);
    qs_level[lv](E, X, N, F, acc, v, xt, leaf, from ? from : q_calibrate(E, lv));
}

static double q_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Faster of two timings of n rows through level lv's kernels: one row
 * at a time (lanes = 0) or as one lane block. */
static double q_time(const ensemble *E, int lv, const float *X, int n, int lanes, double *acc, void *v, qs_f8 *xt,
                     uint32_t *leaf)
{
    double best = INFINITY;
    for (int rep = 0; rep < 2; rep++) {
        double t0 = q_now();
        qs_level[lv](E, X, n, E->qs->nfeat, acc, v, xt, leaf, lanes ? 1 : 9);
        double dt = q_now() - t0;
        best = dt < best ? dt : best;
    }
    return best;
}

/* Chooses, for level lv, from how many rows a block of up to eight goes
 * through the lane kernel rather than one row at a time, by timing both
 * on this model and machine (the crossover moved from 2 to 4 rows between
 * levels and models here; a fixed threshold made batches of 3 cost three
 * times batch 1's time per row on AVX2). The level in force is measured at
 * load, ~0.15 ms for 500 trees (loading them takes ~8 ms); another level
 * at its first run. The rows take thresholds from the lists, so that
 * scans run as long as on real data. Both paths give identical results,
 * so a noisy measurement, or two threads measuring at once, can only cost
 * speed. Returns the crossover, 3 when there is no memory to measure. */
static int q_calibrate(const ensemble *E, int lv)
{
    qsidx *Q = E->qs;
    int64_t nf = Q->nfeat, nt = E->ntrees;
    int n = 3;
    /* tests set the crossover (1: always blocks, 9: never) so that both
     * paths run at every level whatever this machine would measure */
    const char *force = getenv("CAPSTAN_INFER_TREE_LANES_FROM");
    if (force && *force >= '1' && *force <= '9' && !force[1]) {
        atomic_store_explicit(&Q->lanes_from[lv], *force - '0', memory_order_relaxed);
        return *force - '0';
    }
    float *X = malloc((size_t)(8 * nf) * sizeof(float));
    double *acc = calloc((size_t)(8 * E->ntargets), sizeof(double));
    void *v = aligned_alloc(64, (size_t)nt * sizeof(qs_u8));
    qs_f8 *xt = aligned_alloc(64, (size_t)nf * sizeof(qs_f8));
    uint32_t *leaf = malloc((size_t)nt * 8 * sizeof(uint32_t));
    if (X && acc && v && xt && leaf) {
        uint32_t seed = 12345;
        for (int64_t i = 0; i < 8 * nf; i++) {
            int64_t f = i % nf;
            uint32_t lo = Q->fstart[f], len = (f + 1 < nf ? Q->fstart[f + 1] : lo + 1) - lo;
            seed = seed * 1103515245u + 12345u;
            uint32_t j = lo + (len > 1 ? (seed >> 8) % (len - 1) : 0);
            X[i] = len > 1 ? (Q->e32 ? Q->e32[j].thr : Q->thr[j]) : 0.0f;
        }
        /* a block's cost grows slowly with its rows, one row at a time
         * linearly: the first n at which the block wins is the crossover */
        double one = q_time(E, lv, X, 4, 0, acc, v, xt, leaf) / 4;
        n = 2;
        while (n <= 8 && q_time(E, lv, X, n, 1, acc, v, xt, leaf) > n * one)
            n++;
    }
    free(X);
    free(acc);
    free(v);
    free(xt);
    free(leaf);
    atomic_store_explicit(&Q->lanes_from[lv], n, memory_order_relaxed);
    return n;
}

/* Writes the transformed scores of one row (n values) into z. */
static void post_row(int post, float *z, int64_t n)
{
    switch (post) {
    case PT_LOGISTIC: infi_pt_logistic_n(z, n); break;
    case PT_SOFTMAX: infi_pt_softmax(z, n); break;
    case PT_SOFTMAX_ZERO: infi_pt_softmax_zero(z, n); break;
    case PT_PROBIT: for (int64_t k = 0; k < n; k++) z[k] = infi_pt_probit(z[k]); break;
    default: break;
    }
}

static int run_tree(exec *r, const node *nd, tval **in, tval **out)
{
    const ensemble *E = nd->state;
    const tval *X = in[0];
    if (!X || X->kind != INFER_KIND_TENSOR)
        return infi_exec_fail(r, INFER_ESHAPE, "missing input X");
    if (X->ndim > 2)
        return infi_exec_fail(r, INFER_ESHAPE, "X must be 1-D or 2-D");
    int64_t N = X->ndim == 2 ? X->dims[0] : 1, F = X->ndim == 2 ? X->dims[1] : X->ndim == 1 ? X->dims[0] : 1;
    if (X->ndim == 0)
        N = 1;
    if (E->max_feat >= F && N > 0)
        return infi_exec_fail(r, INFER_ESHAPE, "model uses feature %lld but X has %lld columns", (long long)E->max_feat,
                        (long long)F);
    int64_t TT = E->ntargets;
    size_t nacc;
    if (!mul_ok((size_t)N, (size_t)TT, &nacc))
        return infi_exec_fail(r, INFER_ESHAPE, "output too large");
    double *acc = infi_exec_alloc(r, nacc * sizeof(double) + 8);
    uint8_t *hit = NULL;
    if (!acc)
        return INFER_ENOMEM;
    memset(acc, 0, nacc * sizeof(double));
    if (E->agg == AGG_MIN || E->agg == AGG_MAX) {
        hit = infi_exec_alloc(r, nacc + 1);
        if (!hit)
            return INFER_ENOMEM;
        memset(hit, 0, nacc);
    }
    int use_double = X->type == INFER_DOUBLE || !E->nf;
    if (use_double) {
        const double *xd = infi_tv_as_double(r, X);
        if (!xd)
            return r->err->code;
        score_d(E, E->nd, xd, N, F, acc, hit);
    } else {
        const float *xf = infi_tv_as_float(r, X);
        if (!xf)
            return r->err->code;
        qs_u8 *v = E->qs && F > 0 ? infi_exec_alloc(r, (size_t)E->ntrees * sizeof(qs_u8)) : NULL;
        qs_f8 *xt = v ? infi_exec_alloc(r, (size_t)E->qs->nfeat * sizeof(qs_f8)) : NULL;
        uint32_t *leaf = v && E->onet < 0 ? infi_exec_alloc(r, (size_t)E->ntrees * 8 * sizeof(uint32_t)) : NULL;
        if (v && xt && (leaf || E->onet >= 0))
            score_qs(E, xf, N, F, acc, v, xt, leaf);
        else
            score_f(E, E->nf, xf, N, F, acc, hit);
    }

    if (E->opset5 || !E->is_clf) {
        int otype = E->opset5 ? (X->type == INFER_DOUBLE ? INFER_DOUBLE : INFER_FLOAT) : INFER_FLOAT;
        int64_t dims[2] = {N, TT};
        tval *Y = out[0];
        if (infi_tv_make(r, Y, otype, 2, dims) < 0)
            return r->err->code;
        float *row = infi_exec_alloc(r, (size_t)TT * sizeof(float));
        if (!row)
            return INFER_ENOMEM;
        for (int64_t i = 0; i < N; i++) {
            double *a = acc + i * TT;
            for (int64_t k = 0; k < TT; k++) {
                double v = a[k];
                if (E->agg == AGG_AVERAGE && E->ntrees)
                    v /= (double)E->ntrees;
                if (E->opset5 && hit && !hit[i * TT + k])
                    v = E->agg == AGG_MIN ? (otype == INFER_DOUBLE ? 1.7976931348623157e308 : 3.4028234663852886e38)
                                          : (otype == INFER_DOUBLE ? -1.7976931348623157e308 : -3.4028234663852886e38);
                if (k < E->nbase)
                    v += E->base[k];
                a[k] = v;
                row[k] = (float)v;
            }
            if (otype == INFER_DOUBLE && E->post == PT_NONE) {
                memcpy((double *)Y->data + i * TT, a, (size_t)TT * sizeof(double));
                continue;
            }
            /* ONNX Runtime applies LOGISTIC/SOFTMAX only to more than one
             * target; a single regression target only takes PROBIT */
            if (TT > 1 || E->post == PT_PROBIT || E->opset5)
                post_row(E->post, row, TT);
            if (otype == INFER_DOUBLE)
                for (int64_t k = 0; k < TT; k++)
                    ((double *)Y->data)[i * TT + k] = row[k];
            else
                memcpy((float *)Y->data + i * TT, row, (size_t)TT * sizeof(float));
        }
        return 0;
    }

    /* classifier */
    int64_t C = E->nlabels;
    int64_t ldims[1] = {N}, sdims[2] = {N, C};
    tval *L = out[0], *S = nd->nout > 1 ? out[1] : NULL;
    if (infi_tv_make(r, L, E->labels_s ? INFER_STRING : INFER_INT64, 1, ldims) < 0)
        return r->err->code;
    tval tmpS = {0};
    if (!S)
        S = &tmpS;
    if (infi_tv_make(r, S, INFER_FLOAT, 2, sdims) < 0)
        return r->err->code;
    float *z = S->data;
    for (int64_t i = 0; i < N; i++) {
        double *a = acc + i * C;
        float *zi = z + i * C;
        int64_t lab;
        if (C > 2 || !E->binary_case) {
            for (int64_t k = 0; k < C; k++) {
                double v = a[k];
                if (k < E->nbase)
                    v += E->base[k];
                zi[k] = (float)v;
            }
            /* argmax over classes that can score; first maximum wins */
            lab = -1;
            float best = 0;
            for (int64_t k = 0; k < C; k++)
                if ((E->has[k] || k < E->nbase) && (lab < 0 || zi[k] > best)) {
                    best = zi[k];
                    lab = k;
                }
            if (lab < 0)
                lab = 0;
            if (C == 2 && !E->has[1] && E->nbase < 2) {
                /* two labels, weights for class 0 only: binary decision on its score */
            }
            post_row(E->post, zi, C);
        } else {
            /* binary: one class id carries the score */
            double s = E->has[1] ? a[1] : a[0];
            if (E->nbase == 2)
                s += E->has[1] ? E->base[1] : E->base[0];
            else if (E->nbase == 1)
                s += E->base[0];
            float fs = (float)s;
            if (E->all_pos) {
                lab = fs > 0.5f;
                zi[0] = 1.0f - fs;
                zi[1] = fs;
                if (E->post == PT_PROBIT) {
                    zi[0] = infi_pt_probit(fs);
                    zi[1] = 0;
                }
            } else {
                lab = fs > 0;
                if (E->post == PT_LOGISTIC) {
                    zi[0] = infi_pt_logistic(-fs);
                    zi[1] = infi_pt_logistic(fs);
                } else if (E->post == PT_PROBIT) {
                    zi[0] = infi_pt_probit(fs);
                    zi[1] = 0;
                } else {
                    zi[0] = -fs;
                    zi[1] = fs;
                }
            }
        }
        if (E->labels_s)
            ((char **)L->data)[i] = E->labels_s[lab];
        else
            ((int64_t *)L->data)[i] = E->labels_i[lab];
    }
    return 0;
}

const opdef infi_ops_tree[] = {
    {"ai.onnx.ml", "TreeEnsembleClassifier", 1, init_clf, run_tree},
    {"ai.onnx.ml", "TreeEnsembleRegressor", 1, init_reg, run_tree},
    {"ai.onnx.ml", "TreeEnsemble", 5, init_v5, run_tree},
    {NULL, NULL, 0, NULL, NULL},
};
