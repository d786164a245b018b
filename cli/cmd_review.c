/* cmd_review.c - `capstan review list|label|export DEPLOYMENT`: the human
 * review queue through a running server's /api/2.0/capstan/review.
 *   list DEP [--status pending|labelled|skipped|all]    a table of the queue
 *   label DEP ID LABEL --reviewer NAME                  a reviewer's label
 *   export DEP --out labelled.csv                       the labelled rows: id, the
 *                                                        inputs, label, reviewer, labelled_at
 * Exit 0 on success, 1 when the server refused or could not be reached,
 * 2 on bad usage. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/numfmt.h"
#include "cli/cli.h"
#include "payload/payload.h"

#define SYNOPSIS                                                                              \
    "capstan review list DEPLOYMENT [--status S] | label DEPLOYMENT ID LABEL --reviewer NAME" \
    " | export DEPLOYMENT --out FILE.csv"

static int get_queue(const char *server, const char *dep, const char *status, cJSON **out)
{
    char *esc = curl_escape(dep, 0), *st = curl_escape(status, 0);
    struct cap_buf path;
    cap_buf_init(&path);
    cap_buf_printf(&path, "/api/2.0/capstan/review/queue?deployment=%s&status=%s&max_results=10000",
                   esc, st);
    curl_free(esc);
    curl_free(st);
    int rc = cli_call(server, "GET", path.data, NULL, out);
    cap_buf_free(&path);
    return rc;
}

static int list(const char *server, const char *dep, const char *status)
{
    cJSON *out = NULL;
    int rc = get_queue(server, dep, status, &out);
    if (rc)
        return rc;
    printf("%-40s %-15s %-12s %-10s %-8s %s\n", "ID", "REASON", "PREDICTION", "STATUS", "LABEL",
           "REVIEWER");
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(out, "items"))
    {
        const cJSON *p = cJSON_GetObjectItem(it, "prediction");
        char pred[32];
        if (cJSON_IsNumber(p))
            snprintf(pred, sizeof pred, "%.6g", p->valuedouble);
        else
            snprintf(pred, sizeof pred, "%.31s", cJSON_IsString(p) ? p->valuestring : "");
        printf("%-40s %-15s %-12s %-10s %-8s %s\n", cli_str(it, "id"), cli_str(it, "reason"),
               pred, cli_str(it, "status"), cli_str(it, "label"), cli_str(it, "reviewer"));
    }
    printf("%.0f pending\n", cJSON_GetNumberValue(cJSON_GetObjectItem(out, "pending")));
    cJSON_Delete(out);
    return 0;
}

/* A label given on the command line: a number when it reads as one (a
 * whole-number class), else text. */
static int label(const char *server, const char *dep, const char *id, const char *lab,
                 const char *reviewer)
{
    cJSON *body = cJSON_CreateObject();
    double d;
    cJSON_AddStringToObject(body, "deployment", dep);
    cJSON_AddStringToObject(body, "id", id);
    if (cap_text_to_double(lab, strlen(lab), &d) && d == d)
        cJSON_AddNumberToObject(body, "label", d);
    else
        cJSON_AddStringToObject(body, "label", lab);
    cJSON_AddStringToObject(body, "reviewer", reviewer);
    int rc = cli_call(server, "POST", "/api/2.0/capstan/review/label", body, NULL);
    cJSON_Delete(body);
    return rc;
}

/* A JSON value as a CSV cell. */
static void put_value(struct cap_buf *b, const cJSON *v)
{
    char num[40];
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        cap_buf_puts(b, num);
    } else if (cJSON_IsString(v)) {
        payload_csv_put(b, v->valuestring);
    } else if (cJSON_IsBool(v)) {
        cap_buf_puts(b, cJSON_IsTrue(v) ? "1" : "0");
    }
}

/* id, the input columns (the first item's, in its order), label, reviewer,
 * labelled_at. */
static void export_csv(const cJSON *items, struct cap_buf *b)
{
    const cJSON *first = cJSON_GetObjectItem(cJSON_GetArrayItem(items, 0), "inputs"), *c, *it;
    cap_buf_puts(b, "id");
    cJSON_ArrayForEach(c, first)
    {
        cap_buf_putc(b, ',');
        payload_csv_put(b, c->string);
    }
    cap_buf_puts(b, ",label,reviewer,labelled_at\n");
    cJSON_ArrayForEach(it, items)
    {
        payload_csv_put(b, cli_str(it, "id"));
        const cJSON *in = cJSON_GetObjectItem(it, "inputs");
        cJSON_ArrayForEach(c, first)
        {
            cap_buf_putc(b, ',');
            put_value(b, cJSON_GetObjectItem(in, c->string));
        }
        cap_buf_putc(b, ',');
        payload_csv_put(b, cli_str(it, "label"));
        cap_buf_putc(b, ',');
        payload_csv_put(b, cli_str(it, "reviewer"));
        cap_buf_putc(b, ',');
        put_value(b, cJSON_GetObjectItem(it, "labelled_at"));
        cap_buf_putc(b, '\n');
    }
}

static int export_file(const char *server, const char *dep, const char *path)
{
    cJSON *out = NULL;
    int rc = get_queue(server, dep, "labelled", &out);
    if (rc)
        return rc;
    struct cap_buf b;
    cap_buf_init(&b);
    export_csv(cJSON_GetObjectItem(out, "items"), &b);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0) {
        fprintf(stderr, "capstan: cannot write %s\n", path);
        rc = 1;
    } else {
        printf("%d labelled rows written to %s\n",
               cJSON_GetArraySize(cJSON_GetObjectItem(out, "items")), path);
    }
    cap_buf_free(&b);
    cJSON_Delete(out);
    return rc;
}

int cmd_review(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--server", "CAPSTAN_SERVER", false, "http://127.0.0.1:5000", "the capstan server"},
        {"--status", NULL, false, "pending", "list: pending, labelled, skipped or all"},
        {"--reviewer", NULL, false, NULL, "label: who labels (letters, digits, . _ @ -)"},
        {"--out", NULL, false, NULL, "export: the CSV file to write"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[4];
    int npos = 0;
    const char *sub = argc > 2 ? argv[2] : "";
    if (cli_parse(argc, argv, 3, opts, pos, 4, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help")) {
        cli_usage(SYNOPSIS, opts);
        return 0;
    }
    const char *server = cli_get(opts, "--server");
    if (strcmp(sub, "list") == 0 && npos == 1)
        return list(server, pos[0], cli_get(opts, "--status"));
    if (strcmp(sub, "label") == 0 && npos == 3 && cli_get(opts, "--reviewer"))
        return label(server, pos[0], pos[1], pos[2], cli_get(opts, "--reviewer"));
    if (strcmp(sub, "export") == 0 && npos == 1 && cli_get(opts, "--out"))
        return export_file(server, pos[0], cli_get(opts, "--out"));
    fprintf(stderr, "usage: %s\n", SYNOPSIS);
    return 2;
}
