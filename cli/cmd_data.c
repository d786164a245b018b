/* cmd_data.c - `capstan data ...`: datasets, on this machine's store (the
 * files to add are here; the metadata store may be shared, the object
 * store is <data>/datasets or --datasets-destination).
 *   add PATH --name NAME [-m MSG] [--tag K=V]... [--dvc]   a new version
 *   ls | log NAME | show REF | get REF --out DIR [--run-id ID] | diff REF REF | rm REF
 *   gc [--dry-run] | use REF --run-id ID [--context C] | usage REF
 *   import-dvc DIR [--name NAME]   a DVC repository's tracked outputs as versions
 *   profile FILE [--schema S.json] a table's profile and validation (cmd_data_table.c)
 * use records that a run used the version (an MLflow dataset input, as get --run-id does);
 * usage lists the runs and model versions that did.
 * REF: NAME, NAME@N or NAME@KEY=VALUE. --json prints the API's JSON.
 * Exit 0 on success, 1 when refused (the message says why), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "blob/blob.h"
#include "cli/cli.h"
#include "data/data.h"

#define SYNOPSIS                                                                           \
    "capstan data add PATH --name NAME [-m MESSAGE] [--tag K=V]... [--dvc] [--schema S.json"    \
    " [--warn-only]] | ls | log NAME" \
    " | show REF | get REF --out DIR [--run-id ID] | diff REF_A REF_B | rm REF | gc [--dry-run]" \
    " | use REF --run-id ID [--context C] | usage REF | import-dvc DIR [--name NAME]"

struct data_cli {
    struct store *st;
    struct blob *objects;
    struct data_ctx ctx;
    char *stat_cache;
    bool json;
};

static int open_ctx(const struct cli_opt *opts, struct data_cli *d)
{
    if (cli_open_store(opts, &d->st) < 0)
        return -1;
    struct cap_error err = {0};
    if (data_open_objects(cli_get(opts, "--data"), cli_get(opts, "--datasets-destination"),
                          cli_get(opts, "--s3-endpoint-url"),
                          &d->objects, &err) < 0) {
        fprintf(stderr, "capstan: cannot open the dataset store: %s\n", err.msg);
        return -1;
    }
    struct cap_buf p;
    cap_buf_init(&p);
    cap_buf_printf(&p, "%s/datasets.statcache", cli_get(opts, "--data"));
    d->stat_cache = cap_buf_steal(&p);
    d->ctx = (struct data_ctx){.st = d->st, .objects = d->objects,
                               .stat_cache = d->stat_cache,
                               .threads = atoi(cli_get(opts, "--threads"))};
    d->json = cli_get(opts, "--json") != NULL;
    return 0;
}

static void close_ctx(struct data_cli *d)
{
    if (d->objects)
        blob_close(d->objects);
    if (d->st)
        store_close(d->st);
    free(d->stat_cache);
}

static void human_size(double b, char *out, size_t n)
{
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int i = 0;
    while (b >= 1000 && i < 4) {
        b /= 1000;
        i++;
    }
    snprintf(out, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static double num(const cJSON *o, const char *k)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, k));
}

static void print_version_line(const cJSON *v)
{
    char t[32], sz[32];
    cli_time(v, "created_at", t, sizeof t);
    human_size(num(v, "size"), sz, sizeof sz);
    printf("%s@%.0f  %s  %.0f files  %s  %s  %s  %s\n", cli_str(v, "name"), num(v, "version"),
           cli_str(v, "hash"), num(v, "files"), sz, t, cli_str(v, "author"),
           cli_str(v, "message"));
}

static int print_result(const struct data_cli *d, const char *cmd, cJSON *out)
{
    if (d->json) {
        cli_print_json(out);
    } else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "show") == 0) {
        if (cJSON_IsTrue(cJSON_GetObjectItem(out, "unchanged")))
            printf("unchanged: ");
        print_version_line(out);
    } else if (strcmp(cmd, "log") == 0 || strcmp(cmd, "import-dvc") == 0) {
        const cJSON *v;
        cJSON_ArrayForEach(v, out) print_version_line(v);
    } else if (strcmp(cmd, "ls") == 0) {
        const cJSON *ds;
        cJSON_ArrayForEach(ds, out)
        {
            printf("%-30s %4.0f versions  latest: ", cli_str(ds, "name"), num(ds, "versions"));
            print_version_line(cJSON_GetObjectItem(ds, "latest"));
        }
    } else if (strcmp(cmd, "diff") == 0) {
        const char *kinds[] = {"added", "removed", "changed"};
        const char sign[] = {'+', '-', '~'};
        for (int k = 0; k < 3; k++) {
            const cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItem(out, kinds[k]))
            {
                printf("%c %s", sign[k], cli_str(e, "path"));
                const cJSON *dr = cJSON_GetObjectItem(e, "drift");
                if (cJSON_GetObjectItem(dr, "skipped"))
                    printf("  (drift not computed: %s)", cli_str(dr, "skipped"));
                else if (dr)
                    printf("  (drift in %.0f of %.0f columns%s)",
                           num(dr, "number_of_drifted_columns"), num(dr, "number_of_columns"),
                           cJSON_IsTrue(cJSON_GetObjectItem(dr, "dataset_drift"))
                               ? ": the dataset drifted"
                               : "");
                printf("\n");
            }
        }
        printf("%d added, %d removed, %d changed, %.0f unchanged\n",
               cJSON_GetArraySize(cJSON_GetObjectItem(out, "added")),
               cJSON_GetArraySize(cJSON_GetObjectItem(out, "removed")),
               cJSON_GetArraySize(cJSON_GetObjectItem(out, "changed")), num(out, "unchanged"));
    } else if (strcmp(cmd, "get") == 0) {
        printf("%.0f files (%.0f reflinked, %.0f hard-linked, %.0f copied)\n", num(out, "files"),
               num(out, "reflinked"), num(out, "linked"), num(out, "copied"));
    } else if (strcmp(cmd, "use") == 0) {
        printf("run %s uses %s\n", cli_str(out, "run_id"), cli_str(out, "source"));
    } else if (strcmp(cmd, "usage") == 0) {
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(out, "runs"))
            printf("run %s \"%s\" (experiment %s)\n", cli_str(r, "run_id"),
                   cli_str(r, "run_name"), cli_str(r, "experiment_id"));
        cJSON_ArrayForEach(r, cJSON_GetObjectItem(out, "model_versions"))
            printf("model %s version %s (run %s)\n", cli_str(r, "name"), cli_str(r, "version"),
                   cli_str(r, "run_id"));
    } else if (strcmp(cmd, "rm") == 0) {
        printf("removed %.0f version(s) of %s\n", num(out, "removed"), cli_str(out, "name"));
    } else {
        printf("%.0f objects kept, %.0f deleted (%.0f bytes)%s\n", num(out, "objects_kept"),
               num(out, "objects_deleted"), num(out, "bytes_deleted"),
               cJSON_IsTrue(cJSON_GetObjectItem(out, "dry_run")) ? " [dry run]" : "");
    }
    return 0;
}

static int need(int npos, int want, const char *cmd)
{
    if (npos == want)
        return 0;
    fprintf(stderr, "capstan: data %s takes %d argument(s) (usage: %s)\n", cmd, want - 1,
            SYNOPSIS);
    return -1;
}

static int run(struct data_cli *d, const struct cli_opt *opts, const char **pos, int npos,
               cJSON **out, struct cap_error *err)
{
    const char *cmd = pos[0];
    const struct data_ctx *c = &d->ctx;
    if (strcmp(cmd, "add") == 0) {
        const struct cli_opt *tag = NULL;
        for (int k = 0; opts[k].name; k++)
            if (strcmp(opts[k].name, "--tag") == 0)
                tag = &opts[k];
        const char *msg = cli_get(opts, "--message");
        struct data_add_in in = {.path = pos[1], .name = cli_get(opts, "--name"),
                                 .message = msg ? msg : cli_get(opts, "-m"),
                                 .author = cli_get(opts, "--author"), .tags = tag->values,
                                 .ntags = (size_t)tag->nvalues,
                                 .dvc = cli_get(opts, "--dvc") != NULL,
                                 .schema = cli_get(opts, "--schema"),
                                 .warn_only = cli_get(opts, "--warn-only") != NULL};
        return data_add(c, &in, out, err);
    }
    if (strcmp(cmd, "ls") == 0)
        return data_list(c, out, err);
    if (strcmp(cmd, "log") == 0)
        return data_log(c, pos[1], out, err);
    if (strcmp(cmd, "show") == 0)
        return data_show(c, pos[1], out, err);
    const char *run_id = cli_get(opts, "--run-id"), *context = cli_get(opts, "--context");
    if (strcmp(cmd, "get") == 0) {
        cJSON *input = NULL;
        int rc = run_id ? data_log_input(c, pos[1], run_id, context, &input, err) : 0;
        if (rc == 0)
            rc = data_get(c, pos[1], cli_get(opts, "--out"), out, err);
        if (rc == 0 && input)
            cJSON_AddItemToObject(*out, "input", input);
        else
            cJSON_Delete(input);
        return rc;
    }
    if (strcmp(cmd, "use") == 0)
        return data_log_input(c, pos[1], run_id, context, out, err);
    if (strcmp(cmd, "usage") == 0)
        return data_usage(c, pos[1], out, err);
    if (strcmp(cmd, "import-dvc") == 0)
        return data_import_dvc(c, pos[1], cli_get(opts, "--name"), out, err);
    if (strcmp(cmd, "diff") == 0)
        return data_diff(c, pos[1], pos[2], out, err);
    if (strcmp(cmd, "rm") == 0)
        return data_rm(c, pos[1], out, err);
    return data_gc(c, cli_get(opts, "--dry-run") != NULL, out, err);
}

/* The positional arguments each sub-command takes, and its required option. */
static int check_usage(const char *cmd, int npos, const struct cli_opt *opts)
{
    static const struct {
        const char *cmd;
        int npos;
        const char *opt;
    } t[] = {{"add", 2, "--name"}, {"ls", 1, NULL}, {"log", 2, NULL}, {"show", 2, NULL},
             {"get", 2, "--out"},  {"diff", 3, NULL}, {"rm", 2, NULL},  {"gc", 1, NULL},
             {"use", 2, "--run-id"}, {"usage", 2, NULL}, {"import-dvc", 2, NULL}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(t[i].cmd, cmd) != 0)
            continue;
        if (need(npos, t[i].npos, cmd) < 0)
            return -1;
        if (t[i].opt && !cli_get(opts, t[i].opt)) {
            fprintf(stderr, "capstan: data %s needs %s\n", cmd, t[i].opt);
            return -1;
        }
        return 0;
    }
    fprintf(stderr, "capstan: unknown data command '%s' (usage: %s)\n", cmd, SYNOPSIS);
    return -1;
}

int cmd_data(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--data", "CAPSTAN_DATA", false, "./capstan-data", "directory for the database"},
        {"--backend-store-uri", "CAPSTAN_BACKEND_STORE_URI", false, NULL, "metadata store URI"},
        {"--datasets-destination", "CAPSTAN_DATASETS_DESTINATION", false, NULL,
         "the datasets' object store: a directory or s3://bucket/prefix (default: "
         "<data>/datasets)"},
        {"--s3-endpoint-url", "CAPSTAN_S3_ENDPOINT_URL", false, NULL,
         "an S3-compatible server for an s3:// store (default: $MLFLOW_S3_ENDPOINT_URL, "
         "$AWS_ENDPOINT_URL_S3, else AWS)"},
        {"--name", NULL, false, NULL, "add, import-dvc: the dataset's name"},
        {"--message", NULL, false, NULL, "add: what this version is"},
        {"-m", NULL, false, NULL, "add: the same as --message"},
        {"--author", NULL, false, NULL, "add: who made it (default: $USER)"},
        {"--tag", NULL, false, NULL, "add: a KEY=VALUE tag (repeatable)", .repeat = true},
        {"--dvc", NULL, true, NULL,
         "add: also write PATH.dvc and fill the DVC cache, as `dvc add` would"},
        {"--schema", NULL, false, NULL, "add: a schema file every table must meet (data/table.h)"},
        {"--warn-only", NULL, true, NULL, "add: record schema violations instead of refusing"},
        {"--out", NULL, false, NULL, "get: the directory to write the files into"},
        {"--dry-run", NULL, true, NULL, "gc: count, delete nothing"},
        {"--run-id", NULL, false, NULL, "get, use: the MLflow run that uses the version"},
        {"--context", NULL, false, NULL, "get, use: how the run used it (training, ...)"},
        {"--threads", "CAPSTAN_DATA_THREADS", false, "0", "hashing threads (0: the CPUs)"},
        {"--json", NULL, true, NULL, "print JSON"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL}};
    if (argc > 2 && strcmp(argv[2], "profile") == 0)
        return cmd_data_table(argc, argv);
    const char *pos[4];
    int npos;
    if (cli_parse(argc, argv, 2, opts, pos, 4, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help") || npos == 0) {
        cli_usage(SYNOPSIS, opts);
        return npos == 0 && !cli_get(opts, "--help") ? 2 : 0;
    }
    if (check_usage(pos[0], npos, opts) < 0)
        return 2;
    struct data_cli d = {0};
    int rc = 1;
    if (open_ctx(opts, &d) == 0) {
        cJSON *out = NULL;
        struct cap_error err = {0};
        if (run(&d, opts, pos, npos, &out, &err) < 0)
            rc = cli_fail(&err);
        else
            rc = print_result(&d, pos[0], out);
        cJSON_Delete(out);
    }
    close_ctx(&d);
    return rc;
}
