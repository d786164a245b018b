/* cmd_feedback.c - `capstan feedback send DEPLOYMENT --file labels.csv`:
 * sends ground truth (a CSV with a header naming id and label, and
 * optionally time) to a running server's /api/2.0/capstan/feedback in
 * batches of up to 10,000. A label that reads as a number is sent as one
 * (a regressor's target, a class that is a whole number), any other as
 * text. Every row is checked before the first batch goes, so a malformed
 * file sends nothing. Prints {"accepted": n, "unknown": [ids]}. Exit 0 on
 * success, 1 when the server refused or could not be reached, 2 on bad
 * usage or a bad file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/numfmt.h"
#include "cli/cli.h"
#include "feedback/feedback.h"
#include "payload/payload.h"

#define SYNOPSIS "capstan feedback send DEPLOYMENT --file labels.csv [--batch N]"

struct labels_file {
    cJSON *items;                /* [{id, label, time?}] */
    int id_col, label_col, time_col;
};

static int bad(const char *path, long line, const char *what)
{
    fprintf(stderr, "capstan: %s line %ld: %s\n", path, line, what);
    return 2;
}

/* The header's columns: id and label required, time optional. */
static int header(const char *path, char **cells, int n, struct labels_file *lf)
{
    lf->id_col = lf->label_col = lf->time_col = -1;
    for (int i = 0; i < n; i++) {
        if (strcmp(cells[i], "id") == 0)
            lf->id_col = i;
        else if (strcmp(cells[i], "label") == 0)
            lf->label_col = i;
        else if (strcmp(cells[i], "time") == 0)
            lf->time_col = i;
    }
    if (lf->id_col < 0 || lf->label_col < 0)
        return bad(path, 1, "the header must name the columns id and label (and may name time)");
    return 0;
}

/* A cell as a JSON number when it is one, else as text. */
static cJSON *cell_json(const char *s)
{
    double d;
    if (*s && cap_text_to_double(s, strlen(s), &d) && d == d)
        return cJSON_CreateNumber(d);
    return cJSON_CreateString(s);
}

static int row(const char *path, long line, char **cells, int n, struct labels_file *lf)
{
    if (n <= lf->id_col || n <= lf->label_col || (lf->time_col >= 0 && n <= lf->time_col))
        return bad(path, line, "fewer cells than the header names");
    char base[FB_ID_MAX + 1];
    int64_t r;
    struct cap_error e = {0};
    if (fb_id_parse(cells[lf->id_col], base, &r, &e) < 0)
        return bad(path, line, e.msg);
    if (!cells[lf->label_col][0])
        return bad(path, line, "the label is empty");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", cells[lf->id_col]);
    cJSON_AddItemToObject(o, "label", cell_json(cells[lf->label_col]));
    if (lf->time_col >= 0 && cells[lf->time_col][0])
        cJSON_AddItemToObject(o, "time", cell_json(cells[lf->time_col]));
    cJSON_AddItemToArray(lf->items, o);
    return 0;
}

static int read_labels(const char *path, const struct cap_buf *body, struct labels_file *lf)
{
    struct payload_csv c = {body->data, body->data + body->len};
    struct cap_buf tmp;
    cap_buf_init(&tmp);
    lf->items = cJSON_CreateArray();
    long line = 0;
    int rc = 0;
    bool have_header = false;
    while (rc == 0) {
        payload_csv_skip_blank(&c);
        if (c.p >= c.end)
            break;
        line++;
        char **cells;
        int n;
        if (payload_csv_record(&c, &tmp, &cells, &n) < 0)
            rc = bad(path, line, "unterminated or misplaced quote");
        else if (!have_header)
            rc = header(path, cells, n, lf), have_header = true;
        else
            rc = row(path, line, cells, n, lf);
        payload_csv_cells_free(cells, n);
    }
    cap_buf_free(&tmp);
    if (rc == 0 && cJSON_GetArraySize(lf->items) == 0)
        rc = bad(path, line, "no labels after the header");
    return rc;
}

/* Posts the labels in batches; totals in *accepted and unknown. */
static int send_batches(const char *server, const char *dep, cJSON *items, int batch,
                        double *accepted, cJSON *unknown)
{
    int total = cJSON_GetArraySize(items);
    for (int from = 0; from < total; from += batch) {
        cJSON *body = cJSON_CreateObject(), *part = cJSON_AddArrayToObject(body, "labels");
        cJSON_AddStringToObject(body, "deployment", dep);
        for (int i = from; i < total && i < from + batch; i++)
            cJSON_AddItemReferenceToArray(part, cJSON_GetArrayItem(items, i));
        cJSON *out = NULL;
        int rc = cli_call(server, "POST", "/api/2.0/capstan/feedback", body, &out);
        cJSON_Delete(body);
        if (rc != 0) {
            fprintf(stderr, "capstan: labels %d to %d were not stored; %.0f before them were\n",
                    from + 1, from + batch < total ? from + batch : total, *accepted);
            return rc;
        }
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(out, "accepted");
        *accepted += cJSON_IsNumber(a) ? a->valuedouble : 0;
        const cJSON *u;
        cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(out, "unknown"))
            cJSON_AddItemToArray(unknown, cJSON_Duplicate(u, false));
        cJSON_Delete(out);
    }
    return 0;
}

static int send_file(const char *server, const char *dep, const char *path, int batch)
{
    struct cap_buf body;
    cap_buf_init(&body);
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t got;
    while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        cap_buf_append(&body, chunk, got);
    if (!f || ferror(f)) {
        fprintf(stderr, "capstan: cannot read %s\n", path);
        if (f)
            fclose(f);
        cap_buf_free(&body);
        return 2;
    }
    fclose(f);
    struct labels_file lf = {0};
    int rc = read_labels(path, &body, &lf);
    cap_buf_free(&body);
    double accepted = 0;
    cJSON *unknown = cJSON_CreateArray();
    if (rc == 0)
        rc = send_batches(server, dep, lf.items, batch, &accepted, unknown);
    if (rc == 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "accepted", accepted);
        cJSON_AddItemToObject(o, "unknown", unknown);
        cli_print_json(o);
        cJSON_Delete(o);
    } else {
        cJSON_Delete(unknown);
    }
    cJSON_Delete(lf.items);
    return rc;
}

int cmd_feedback(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--server", "CAPSTAN_SERVER", false, "http://127.0.0.1:5000", "the capstan server"},
        {"--file", NULL, false, NULL, "a CSV with a header: id,label[,time]"},
        {"--batch", NULL, false, "10000", "labels per request (1 to 10000)"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[2];
    int npos = 0;
    int p = cli_parse_sub(argc, argv, "send", SYNOPSIS, opts, pos, 1, &npos);
    if (p)
        return p < 0 ? 2 : 0;
    char *end = NULL;
    long batch = strtol(cli_get(opts, "--batch"), &end, 10);
    if (npos != 1 || !cli_get(opts, "--file") || *end || batch < 1 || batch > FB_LABELS_MAX) {
        fprintf(stderr, "usage: %s   (--batch 1 to %d; capstan feedback send --help)\n",
                SYNOPSIS, FB_LABELS_MAX);
        return 2;
    }
    return send_file(cli_get(opts, "--server"), pos[0], cli_get(opts, "--file"), (int)batch);
}
