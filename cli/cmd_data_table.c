/* cmd_data_table.c - `capstan data profile FILE [--schema SCHEMA.json]
 * [--json] [--max-memory MiB]`: a table's schema and statistics (pandas'
 * describe() and value_counts()), and its validation against a schema file
 * (data/table.h), as `data add` does them. Exit 0 when valid (or without a
 * schema), 1 with the violations printed when invalid, 2 on bad usage or
 * input: a missing file, a malformed table (its line named), a malformed
 * schema (the member named). cli/cmd_data.c dispatches `data profile` here,
 * with the command's whole argv (options from argv[3]). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/table.h"

#define SYNOPSIS "capstan data profile FILE [--schema SCHEMA.json] [--json] [--max-memory MiB]"

/* A statistic for the table: "%.6g", "-" for null. */
static const char *stat_text(const cJSON *c, const char *key, char *buf, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    if (!cJSON_IsNumber(v))
        return "-";
    snprintf(buf, n, "%.6g", v->valuedouble);
    return buf;
}

static void print_table(const char *path, const cJSON *summary)
{
    const cJSON *cols = cJSON_GetObjectItemCaseSensitive(summary, "columns");
    printf("%s: %.0f rows, %d columns\n\n", path,
           cJSON_GetObjectItemCaseSensitive(summary, "rows")->valuedouble,
           cJSON_GetArraySize(cols));
    printf("%-20s %-7s %-4s %10s %8s %12s %12s %12s %12s %12s %9s  %s\n", "COLUMN", "TYPE", "NULL",
           "COUNT", "MISSING", "MIN", "P50", "MAX", "MEAN", "STD", "DISTINCT", "TOP");
    const cJSON *c;
    cJSON_ArrayForEach(c, cols)
    {
        char b[7][32];
        const cJSON *top = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "top"), 0);
        char topt[64] = "-";
        if (top)
            snprintf(topt, sizeof topt, "%s (%.0f)", cJSON_GetArrayItem(top, 0)->valuestring,
                     cJSON_GetArrayItem(top, 1)->valuedouble);
        printf("%-20s %-7s %-4s %10s %8s %12s %12s %12s %12s %12s %9s  %s\n", cli_str(c, "name"),
               cli_str(c, "type"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "nullable")) ? "yes" : "no",
               stat_text(c, "count", b[0], 32), stat_text(c, "missing", b[1], 32),
               stat_text(c, "min", b[2], 32), stat_text(c, "p50", b[3], 32),
               stat_text(c, "max", b[4], 32), stat_text(c, "mean", b[5], 32),
               stat_text(c, "std", b[6], 32),
               stat_text(c, "distinct", (char[32]){0}, 32), topt);
    }
}

/* Prints the result; returns the exit status (1 when a rule is broken). */
static int report(const char *path, const struct data_table *t, bool schema, bool json)
{
    int n = cJSON_GetArraySize(t->violations);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "file", path);
        const cJSON *it;
        cJSON_ArrayForEach(it, t->summary)
            cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, true));
        if (schema)
            cJSON_AddBoolToObject(o, "valid", n == 0);
        cJSON_AddItemToObject(o, "violations", cJSON_Duplicate(t->violations, true));
        cJSON_AddNumberToObject(o, "profile_bytes", (double)t->profile.len);
        cJSON_AddNumberToObject(o, "groups", (double)t->groups);
        char *s = cJSON_PrintUnformatted(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        print_table(path, t->summary);
        if (schema && n == 0)
            printf("\nschema: valid\n");
    }
    const cJSON *v;
    cJSON_ArrayForEach(v, t->violations)
        fprintf(stderr, "capstan: %s\n", cli_str(v, "message"));
    if (n)
        fprintf(stderr, "capstan: %s: %d schema violation%s\n", path, n, n == 1 ? "" : "s");
    return n ? 1 : 0;
}

int cmd_data_table(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--schema", NULL, false, NULL,
         "validate against this schema file (JSON: see data/table.h)"},
        {"--json", NULL, true, NULL, "print the profile and violations as one JSON object"},
        {"--max-memory", NULL, false, "1024",
         "MiB for the table; a larger one is read a group of columns at a time"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[1];
    int npos;
    int p = cli_parse_sub(argc, argv, "profile", SYNOPSIS, opts, pos, 1, &npos);
    if (p)
        return p < 0 ? 2 : 0;
    size_t budget;
    if (npos != 1) {
        fprintf(stderr, "capstan: data profile needs a FILE\nusage: %s\n", SYNOPSIS);
        return 2;
    }
    if (cli_max_memory(cli_get(opts, "--max-memory"), &budget) < 0)
        return 2;
    struct cap_error err = {0};
    struct data_schema *schema = NULL;
    const char *sp = cli_get(opts, "--schema");
    if (sp && data_schema_load(sp, &schema, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
        return 2;
    }
    struct data_table t;
    int ret = 2;
    if (data_table_profile(pos[0], schema, budget, &t, &err) < 0) {
        fprintf(stderr, "capstan: %s\n", err.msg);
    } else {
        ret = report(pos[0], &t, schema != NULL, cli_get(opts, "--json") != NULL);
        data_table_free(&t);
    }
    data_schema_free(schema);
    return ret;
}
