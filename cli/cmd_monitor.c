/* cmd_monitor.c - `capstan monitor drift`: the data drift of a current file
 * against a reference file, per column and for the dataset, with
 * Evidently's tests and rules (monitor/monitor.h). Prints one JSON object
 * with --json, else a table. Exit 0 whatever the verdict, 2 on bad usage or
 * input (the message on stderr). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/buf.h"
#include "base/numfmt.h"
#include "base/util.h"
#include "cli/cli.h"
#include "monitor/monitor.h"

#define SYNOPSIS                                                                              \
    "capstan monitor drift --reference REF --current CUR [--numerical a,b] "                  \
    "[--categorical c,d] [--columns a,b,c] [--stattest NAME] [--stattest-column COL=NAME]... " \
    "[--threshold X] [--threshold-column COL=X]... [--drift-share S] [--json] [--html OUT.html] " \
    "[--max-memory MiB]"

/* A comma-separated list, split in place in a copy. */
struct list {
    char *buf;
    const char **item;
    size_t n;
};

static void list_split(const char *s, struct list *l)
{
    memset(l, 0, sizeof *l);
    if (!s || !*s)
        return;
    l->buf = cap_xstrdup(s);
    size_t cap = 1;
    for (const char *p = s; *p; p++)
        cap += *p == ',';
    l->item = cap_xmalloc(cap * sizeof *l->item);
    for (char *tok = strtok(l->buf, ","); tok; tok = strtok(NULL, ","))
        l->item[l->n++] = tok;
}

static void list_free(struct list *l)
{
    free(l->buf);
    free(l->item);
}

/* COL=VALUE options, split at the last '='. */
static int overrides(const struct cli_opt *o, struct mon_override *out, char **bufs)
{
    for (int i = 0; i < o->nvalues; i++) {
        bufs[i] = cap_xstrdup(o->values[i]);
        char *eq = strrchr(bufs[i], '=');
        if (!eq || eq == bufs[i] || !eq[1]) {
            fprintf(stderr, "capstan: %s '%s' is not COLUMN=VALUE\n", o->name, o->values[i]);
            for (int j = 0; j <= i; j++)
                free(bufs[j]);
            return -1;
        }
        *eq = 0;
        out[i] = (struct mon_override){bufs[i], eq + 1};
    }
    return 0;
}

static void print_table(const cJSON *r)
{
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(r, "columns");
    int n = cJSON_GetObjectItemCaseSensitive(r, "number_of_columns")->valueint;
    int k = cJSON_GetObjectItemCaseSensitive(r, "number_of_drifted_columns")->valueint;
    double share = cJSON_GetObjectItemCaseSensitive(r, "share_of_drifted_columns")->valuedouble;
    double ds = cJSON_GetObjectItemCaseSensitive(r, "drift_share")->valuedouble;
    bool drift = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "dataset_drift"));
    printf("dataset drift: %s (%d of %d columns drifted, share %.4g; drift share %.4g)\n\n",
           drift ? "DETECTED" : "not detected", k, n, share, ds);
    printf("%-24s %-4s %-14s %10s %14s  %s\n", "COLUMN", "TYPE", "STATTEST", "THRESHOLD",
           "SCORE", "DRIFT");
    const cJSON *c;
    cJSON_ArrayForEach(c, cols)
    {
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(c, "drift_score");
        char score[32];
        if (cJSON_IsNumber(sc))
            snprintf(score, sizeof score, "%.6g", sc->valuedouble);
        else
            snprintf(score, sizeof score, "nan");
        printf("%-24s %-4s %-14s %10.4g %14s  %s\n", cli_str(c, "column"),
               cli_str(c, "column_type"), cli_str(c, "stattest"),
               cJSON_GetObjectItemCaseSensitive(c, "stattest_threshold")->valuedouble, score,
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "drift_detected")) ? "yes" : "no");
    }
}

/* Writes a page whole or not at all: into a temporary file beside path,
 * renamed over it once written, so a full disk or a killed command never
 * leaves half a page. A message on stderr when it cannot. */
static int write_page(const char *path, const struct cap_buf *b)
{
    struct cap_buf tmp;
    cap_buf_init(&tmp);
    cap_buf_printf(&tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp.data);
    bool ok = fd >= 0 && fchmod(fd, 0644) == 0;
    for (size_t off = 0; ok && off < b->len;) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        ok = n > 0;
        off += ok ? (size_t)n : 0;
    }
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok && rename(tmp.data, path) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "capstan: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            unlink(tmp.data);
    }
    cap_buf_free(&tmp);
    return ok ? 0 : -1;
}

static int drift(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--reference", NULL, false, NULL, "reference data: .csv (with header), .jsonl or .npy"},
        {"--current", NULL, false, NULL, "current data, in the same columns"},
        {"--numerical", NULL, false, NULL, "columns to treat as numerical, a,b,..."},
        {"--categorical", NULL, false, NULL, "columns to treat as categorical, c,d,..."},
        {"--columns", NULL, false, NULL,
         "columns to test (default: all); for .npy files, as many names name the columns"},
        {"--stattest", NULL, false, NULL, "test for every column (default: Evidently's choice)"},
        {"--stattest-column", NULL, false, NULL, "COL=NAME, a column's test (repeatable)", true},
        {"--threshold", NULL, false, NULL, "threshold for every column (default: the test's)"},
        {"--threshold-column", NULL, false, NULL, "COL=X, a column's threshold (repeatable)",
         true},
        {"--drift-share", NULL, false, "0.5", "dataset drift when this share of columns drift"},
        {"--json", NULL, true, NULL, "print the report as one JSON object"},
        {"--html", NULL, false, NULL, "also write the report, with data quality, as one HTML page"},
        {"--max-memory", NULL, false, "1024",
         "MiB for the data; larger files are read and tested a group of columns at a time"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    if (cli_parse(argc, argv, 3, opts, pos, 0, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help")) {
        cli_usage(SYNOPSIS, opts);
        return 0;
    }
    const char *refp = cli_get(opts, "--reference"), *curp = cli_get(opts, "--current");
    if (!refp || !curp) {
        fprintf(stderr, "capstan: monitor drift needs --reference and --current\nusage: %s\n",
                SYNOPSIS);
        return 2;
    }
    const char *dss = cli_get(opts, "--drift-share");
    double ds;
    if (!cap_text_to_double(dss, strlen(dss), &ds) || isnan(ds)) {
        fprintf(stderr, "capstan: --drift-share '%s' is not a number (expected 0 to 1)\n", dss);
        return 2;
    } /* its range is mon_drift's rule */
    size_t budget;
    if (cli_max_memory(cli_get(opts, "--max-memory"), &budget) < 0)
        return 2;
    struct list num, cat, cols;
    list_split(cli_get(opts, "--numerical"), &num);
    list_split(cli_get(opts, "--categorical"), &cat);
    list_split(cli_get(opts, "--columns"), &cols);
    struct mon_override st[CLI_MAX_REPEAT], th[CLI_MAX_REPEAT];
    char *stb[CLI_MAX_REPEAT], *thb[CLI_MAX_REPEAT];
    const struct cli_opt *sto = &opts[6], *tho = &opts[8];
    int ret = 2;
    if (overrides(sto, st, stb) < 0)
        goto lists;
    if (overrides(tho, th, thb) < 0)
        goto st_bufs;
    struct cap_error err = {0};
    cJSON *report = NULL;
    struct mon_drift_options o = {
        .numerical = num.item, .n_numerical = num.n,
        .categorical = cat.item, .n_categorical = cat.n,
        .columns = cols.item, .n_columns = cols.n,
        .stattest = cli_get(opts, "--stattest"),
        .stattest_col = st, .n_stattest_col = (size_t)sto->nvalues,
        .threshold = cli_get(opts, "--threshold"),
        .threshold_col = th, .n_threshold_col = (size_t)tho->nvalues,
        .drift_share = ds,
    };
    const char *html = cli_get(opts, "--html");
    struct cap_buf page;
    cap_buf_init(&page);
    size_t groups = 0;
    if (mon_report_files(refp, curp, cols.item, cols.n, &o, budget, &report, html ? &page : NULL,
                         &groups, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        cap_buf_free(&page);
        goto frames;
    }
    if (groups)
        fprintf(stderr, "capstan: the data is larger than --max-memory (%s MiB): read and "
                        "tested in %zu groups of columns\n", cli_get(opts, "--max-memory"),
                groups);
    int wrc = html ? write_page(html, &page) : 0;
    cap_buf_free(&page);
    if (wrc < 0) {
        cJSON_Delete(report);
        goto frames;
    }
    if (cli_get(opts, "--json")) {
        char *s = cJSON_PrintUnformatted(report);
        puts(s);
        free(s);
    } else {
        print_table(report);
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(report, "data_quality");
        printf("\ndata quality: %s (--json or --html for the checks)\n",
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "passed")) ? "passed" : "FAILED");
    }
    cJSON_Delete(report);
    ret = 0;
frames:
    for (int i = 0; i < tho->nvalues; i++)
        free(thb[i]);
st_bufs:
    for (int i = 0; i < sto->nvalues; i++)
        free(stb[i]);
lists:
    list_free(&num);
    list_free(&cat);
    list_free(&cols);
    return ret;
}

/* ---- monitor status: the latest window of each width, from the server ---- */

static void print_window(const cJSON *w)
{
    time_t t = (time_t)(cJSON_GetObjectItemCaseSensitive(w, "start_ms")->valuedouble / 1000);
    struct tm tm;
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime_r(&t, &tm));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(w, "drift");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(w, "prediction_drift");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(w, "data_quality");
    const cJSON *share = cJSON_GetObjectItemCaseSensitive(d, "share_of_drifted_columns");
    char sh[16] = "-";
    if (cJSON_IsNumber(share))
        snprintf(sh, sizeof sh, "%.3f", share->valuedouble);
    printf("%7.0fs  %s  %9.0f  %-7s  %-6s  %-16s  %-7s  %s\n",
           cJSON_GetObjectItemCaseSensitive(w, "width_s")->valuedouble, when,
           cJSON_GetObjectItemCaseSensitive(w, "rows")->valuedouble,
           !cJSON_IsObject(d) ? "-"
           : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "dataset_drift")) ? "yes"
                                                                               : "no",
           sh,
           !cJSON_IsObject(p) ? "-"
           : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "dataset_drift")) ? "yes"
                                                                               : "no",
           !cJSON_IsObject(q) ? "-"
           : cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "passed")) ? "passed"
                                                                        : "failed",
           cli_str(w, "method"));
}

/* The drifted columns of a window, one line each. */
static void print_drifted(const cJSON *w)
{
    const char *what[2] = {"drift", "prediction_drift"};
    for (int k = 0; k < 2; k++) {
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                                  cJSON_GetObjectItemCaseSensitive(w, what[k]), "columns"))
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "drift_detected")))
                printf("  drifted %s %s: %s %.6g\n", k ? "output" : "feature",
                       cli_str(c, "column"), cli_str(c, "stattest"),
                       cJSON_GetObjectItemCaseSensitive(c, "drift_score")->valuedouble);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(w, "errors"))
        printf("  note: %s\n", e->valuestring);
}

/* ---- monitor status --html: one width's windows as a page ---- */

/* An integer option at least min; -1 with a message naming it otherwise. */
static int opt_int(const struct cli_opt *opts, const char *name, long long min, long long *out)
{
    const char *s = cli_get(opts, name);
    char *end = NULL;
    if (!s)
        return 0;
    errno = 0;
    *out = strtoll(s, &end, 10);
    if (end == s || *end || errno || *out < min) {
        fprintf(stderr, "capstan: %s must be %s, got '%s'\n", name,
                min > 0 ? "a window width in seconds (a positive integer)"
                        : "epoch milliseconds",
                s);
        return -1;
    }
    return 0;
}

/* GET a monitor route of the deployment: path "windows?...", the
 * deployment's name escaped in. */
static int monitor_get(const char *server, const char *dep, const char *fmt, long long a,
                       long long b, long long c, cJSON **out)
{
    char *esc = curl_escape(dep, 0);
    struct cap_buf path;
    cap_buf_init(&path);
    cap_buf_printf(&path, "/api/2.0/capstan/monitor/");
    cap_buf_printf(&path, fmt, esc, a, b, c);
    curl_free(esc);
    int rc = cli_call(server, "GET", path.data, NULL, out);
    cap_buf_free(&path);
    return rc;
}

/* The width to report: --width when the live monitor has it, else its
 * smallest (the base windows). */
static int pick_width(const char *server, const char *dep, long long *width)
{
    cJSON *out = NULL;
    int rc = monitor_get(server, dep, "windows?deployment=%s&max_results=1", 0, 0, 0, &out);
    if (rc)
        return rc;
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(out, "widths_s"), *w;
    bool found = !cJSON_IsArray(ws) && *width > 0; /* no live monitor: take --width */
    struct cap_buf list;
    cap_buf_init(&list);
    cJSON_ArrayForEach(w, ws)
    {
        cap_buf_printf(&list, "%s%.0f", list.len ? ", " : "", w->valuedouble);
        found |= (long long)w->valuedouble == *width;
    }
    if (*width == 0 && cJSON_GetArraySize(ws) > 0) {
        *width = (long long)cJSON_GetArrayItem(ws, 0)->valuedouble;
        found = true;
    }
    if (!found) {
        if (*width == 0)
            fprintf(stderr, "capstan: the server runs no live monitor; name the windows' width "
                            "with --width\n");
        else
            fprintf(stderr, "capstan: --width %lld is not one of the live monitor's widths "
                            "(%s seconds)\n", *width, list.data ? list.data : "");
        rc = 2;
    }
    cap_buf_free(&list);
    cJSON_Delete(out);
    return rc;
}

/* The realised quality of the same windows (the feedback API's, from the
 * labels joined so far): over the windows' span at their width. */
static int quality_get(const char *server, const char *dep, const cJSON *windows,
                       long long width, cJSON **out)
{
    const cJSON *first = cJSON_GetArrayItem(windows, 0);
    const cJSON *last = cJSON_GetArrayItem(windows, cJSON_GetArraySize(windows) - 1);
    long long from = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(first, "start_ms"));
    long long to = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(last, "start_ms")) +
                   width * 1000;
    char *esc = curl_escape(dep, 0);
    struct cap_buf path;
    cap_buf_init(&path);
    cap_buf_printf(&path, "/api/2.0/capstan/feedback/quality?deployment=%s&from=%lld&to=%lld"
                          "&width_s=%lld",
                   esc, from, to, width);
    curl_free(esc);
    int rc = cli_call(server, "GET", path.data, NULL, out);
    cap_buf_free(&path);
    return rc;
}

/* Renders the page of the windows (oldest first) and writes it. */
static int render_page(const char *server, const char *dep, const char *path, cJSON *windows,
                       long long width)
{
    const cJSON *latest = cJSON_GetArrayItem(windows, cJSON_GetArraySize(windows) - 1);
    cJSON *hist = NULL;
    int rc = 0;
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(latest, "reference")))
        rc = monitor_get(server, dep, "windows/histograms?deployment=%s&width=%lld&start_ms=%lld",
                         width,
                         (long long)cJSON_GetObjectItemCaseSensitive(latest, "start_ms")->valuedouble,
                         0, &hist);
    cJSON *quality = NULL;
    if (rc == 0)
        rc = quality_get(server, dep, windows, width, &quality);
    struct cap_buf page;
    struct cap_error err = {0};
    cap_buf_init(&page);
    const cJSON *realised = cJSON_GetObjectItem(quality, "windows");
    if (rc == 0 && mon_live_report_html(dep, windows, hist, realised, &page, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        rc = 1;
    }
    if (rc == 0 && write_page(path, &page) < 0)
        rc = 1;
    cap_buf_free(&page);
    cJSON_Delete(hist);
    cJSON_Delete(quality);
    return rc;
}

static int status_html(const struct cli_opt *opts, const char *dep, long long from)
{
    const char *server = cli_get(opts, "--server"), *path = cli_get(opts, "--html");
    long long width = 0, to = INT64_MAX;
    if (opt_int(opts, "--width", 1, &width) < 0 || opt_int(opts, "--from", 0, &from) < 0 ||
        opt_int(opts, "--to", 0, &to) < 0)
        return 2;
    if (to <= from) {
        fprintf(stderr, "capstan: --from must be before --to, got %lld and %lld\n", from, to);
        return 2;
    }
    int rc = pick_width(server, dep, &width);
    cJSON *out = NULL;
    if (rc == 0)
        rc = monitor_get(server, dep,
                         "windows?deployment=%s&width=%lld&from=%lld&to=%lld&max_results=10000"
                         "&order=desc",
                         width, from, to, &out);
    if (rc)
        return rc;
    /* the latest 10,000 came newest first; the page reads them oldest first */
    cJSON *got = cJSON_GetObjectItemCaseSensitive(out, "windows"), *windows = cJSON_CreateArray();
    int n = cJSON_GetArraySize(got);
    cJSON **item = cap_xcalloc((size_t)n + 1, sizeof *item);
    for (int i = 0; i < n; i++)
        item[i] = i ? item[i - 1]->next : got->child;
    for (int i = n - 1; i >= 0; i--)
        cJSON_AddItemToArray(windows, cJSON_DetachItemViaPointer(got, item[i]));
    free(item);
    if (cJSON_GetArraySize(windows) == 0) {
        fprintf(stderr, "capstan: deployment %s has no monitoring window of width %lld s "
                        "starting in [%lld, %lld); no page written\n",
                dep, width, from, to);
        rc = 1;
    } else {
        rc = render_page(server, dep, path, windows, width);
    }
    cJSON_Delete(windows);
    cJSON_Delete(out);
    return rc;
}

static int status(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--server", "CAPSTAN_SERVER", false, "http://127.0.0.1:5000", "the capstan server"},
        {"--since-ms", NULL, false, NULL, "windows starting from this epoch millisecond "
                                          "(default: two days ago)"},
        {"--json", NULL, true, NULL, "print JSON: {deployment, windows: [latest per width]}"},
        {"--html", NULL, false, NULL, "also write one self-contained HTML page: the latest "
                                      "window, its histograms, each score over time"},
        {"--width", NULL, false, NULL, "--html: the windows' width in seconds (default: the "
                                       "live monitor's smallest)"},
        {"--from", NULL, false, NULL, "--html: windows starting from this epoch millisecond "
                                      "(default: --since-ms's)"},
        {"--to", NULL, false, NULL, "--html: windows starting before this epoch millisecond"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos = 0;
    static const char synopsis[] = "capstan monitor status DEPLOYMENT [options]";
    if (cli_parse(argc, argv, 3, opts, pos, 1, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help") || npos == 0) {
        cli_usage(synopsis, opts);
        return npos == 0 && !cli_get(opts, "--help") ? 2 : 0;
    }
    long long since = (long long)cap_now_ms() - 2LL * 86400 * 1000;
    const char *s = cli_get(opts, "--since-ms");
    char *end = NULL;
    if (s && ((since = strtoll(s, &end, 10)) < 0 || *end || end == s)) {
        fprintf(stderr, "capstan: --since-ms must be epoch milliseconds, got '%s'\n", s);
        return 2;
    }
    if (!cli_get(opts, "--html") &&
        (cli_get(opts, "--width") || cli_get(opts, "--from") || cli_get(opts, "--to"))) {
        fprintf(stderr, "capstan: --width, --from and --to choose the windows of --html; "
                        "add --html OUT.html\n");
        return 2;
    }
    int hrc = cli_get(opts, "--html") ? status_html(opts, pos[0], since) : 0;
    if (hrc)
        return hrc;
    char *dep = curl_escape(pos[0], 0);
    struct cap_buf path;
    cap_buf_init(&path);
    cap_buf_printf(&path, "/api/2.0/capstan/monitor/windows?deployment=%s&from=%lld"
                          "&max_results=10000&order=desc", dep, since);
    curl_free(dep);
    cJSON *out = NULL;
    int rc = cli_call(cli_get(opts, "--server"), "GET", path.data, NULL, &out);
    cap_buf_free(&path);
    if (rc)
        return rc;
    /* the latest window of each width: windows come newest first, so
     * however many there are the latest are in the answer */
    cJSON *latest = cJSON_CreateObject(), *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(out, "windows"))
    {
        char key[32];
        snprintf(key, sizeof key, "%.0f", cJSON_GetObjectItemCaseSensitive(w, "width_s")->valuedouble);
        if (!cJSON_GetObjectItemCaseSensitive(latest, key))
            cJSON_AddItemReferenceToObject(latest, key, w);
    }
    /* by width, the base window first */
    cJSON *list = cJSON_CreateArray();
    for (;;) {
        cJSON *min = NULL;
        cJSON_ArrayForEach(w, latest)
            if (!min || atof(w->string) < atof(min->string))
                min = w;
        if (!min)
            break;
        cJSON_AddItemToArray(list, cJSON_Duplicate(min, true));
        cJSON_DeleteItemFromObjectCaseSensitive(latest, min->string);
    }
    if (cli_get(opts, "--json")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "deployment", pos[0]);
        cJSON_AddItemToObject(o, "windows", list);
        cli_print_json(o);
        list = NULL;
        cJSON_Delete(o);
    } else if (cJSON_GetArraySize(list) == 0) {
        printf("deployment %s: no monitoring window since %lld (no traffic yet, or the live "
               "monitor is off)\n", pos[0], since);
    } else {
        printf("deployment %s\n  width  window start (UTC)         rows  drifted  share   "
               "prediction drift  quality  method\n", pos[0]);
        cJSON_ArrayForEach(w, list)
            print_window(w);
        print_drifted(cJSON_GetArrayItem(list, 0));
    }
    cJSON_Delete(list);
    cJSON_Delete(latest);
    cJSON_Delete(out);
    return 0;
}

int cmd_monitor(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[2], "--help") == 0) {
        fprintf(argc < 3 ? stderr : stdout,
                "usage: capstan monitor drift [options]   (capstan monitor drift --help)\n"
                "       capstan monitor baseline DEPLOYMENT|MODEL/VERSION --data FILE\n"
                "       capstan monitor status DEPLOYMENT [options]\n");
        return argc < 3 ? 2 : 0;
    }
    if (strcmp(argv[2], "drift") == 0)
        return drift(argc, argv);
    if (strcmp(argv[2], "baseline") == 0)
        return cmd_monitor_baseline(argc, argv);
    if (strcmp(argv[2], "status") == 0)
        return status(argc, argv);
    fprintf(stderr, "capstan: unknown monitor command '%s' (expected: drift, baseline or "
                    "status)\n",
            argv[2]);
    return 2;
}
