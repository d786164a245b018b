/* cmd_token.c - `capstan token create|list|revoke`: access tokens for
 * machines, through a running server's /api/2.0/capstan/tokens (the
 * caller signs in with $MLFLOW_TRACKING_USERNAME/PASSWORD or a token of
 * scope write; an admin may act for any --user).
 *   create --user U [--scope infer:DEPLOYMENT|read|write] [--expires 30d] [--name N]
 *          prints the token alone (it is shown this once; --json: the whole answer)
 *   list [--user U]                 a table of the user's tokens, never their secrets
 *   revoke ID [--user U]            the token signs nobody in from then on
 * The scope's and the expiry's rules are the server's (auth/); this file
 * only reads the command line. Exit 0 on success, 1 when the server
 * refused or could not be reached, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define SYNOPSIS                                                                            \
    "capstan token create --user U [--scope infer:DEPLOYMENT|read|write] [--expires 30d] "  \
    "[--name N] | list [--user U] | revoke ID [--user U]"
#define TOKENS "/api/2.0/capstan/tokens/"

/* "30d" or "30": days; "0" or "never": no expiry. -1 when it is neither. */
static long expires_days(const char *s)
{
    if (!s || strcmp(s, "never") == 0)
        return 0;
    char *end = NULL;
    long d = strtol(s, &end, 10);
    if (end == s || (*end && strcmp(end, "d") != 0) || d < 0 || *s == '-' || *s == '+')
        return -1;
    return d;
}

static int create(const char *server, const struct cli_opt *opts)
{
    long days = expires_days(cli_get(opts, "--expires"));
    if (days < 0) {
        fprintf(stderr, "capstan: --expires '%s': expected a number of days such as 30d, or "
                        "never\n",
                cli_get(opts, "--expires"));
        return 2;
    }
    const char *scope = cli_get(opts, "--scope");
    const char *name = cli_get(opts, "--name");
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    cJSON_AddStringToObject(body, "username", cli_get(opts, "--user"));
    cJSON_AddStringToObject(body, "name", name ? name : scope);
    cJSON_AddStringToObject(body, "scope", scope);
    cJSON_AddNumberToObject(body, "expires_in_days", (double)days);
    int rc = cli_call(server, "POST", TOKENS "create", body, &out);
    cJSON_Delete(body);
    if (rc)
        return rc;
    if (cli_get(opts, "--json"))
        cli_print_json(out);
    else
        printf("%s\n", cli_str(out, "secret"));
    cJSON_Delete(out);
    return 0;
}

static int list(const char *server, const struct cli_opt *opts)
{
    cJSON *body = cJSON_CreateObject(), *out = NULL;
    if (cli_get(opts, "--user"))
        cJSON_AddStringToObject(body, "username", cli_get(opts, "--user"));
    int rc = cli_call(server, "GET", TOKENS "list", body, &out);
    cJSON_Delete(body);
    if (rc)
        return rc;
    if (cli_get(opts, "--json")) {
        cli_print_json(out);
        cJSON_Delete(out);
        return 0;
    }
    printf("%-6s %-24s %-28s %-19s %s\n", "ID", "NAME", "SCOPE", "CREATED", "EXPIRES");
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(out, "tokens"))
    {
        char created[32], expires[32];
        cli_time(t, "created_at", created, sizeof created);
        if (cJSON_GetNumberValue(cJSON_GetObjectItem(t, "expires_at")) > 0)
            cli_time(t, "expires_at", expires, sizeof expires);
        else
            snprintf(expires, sizeof expires, "never");
        printf("%-6.0f %-24s %-28s %-19s %s\n", cJSON_GetNumberValue(cJSON_GetObjectItem(t, "id")),
               cli_str(t, "name"), cli_str(t, "scope"), created, expires);
    }
    cJSON_Delete(out);
    return 0;
}

static int revoke(const char *server, const char *id_text, const struct cli_opt *opts)
{
    char *end = NULL;
    long long id = strtoll(id_text, &end, 10);
    if (end == id_text || *end || id <= 0) {
        fprintf(stderr, "capstan: token id '%s': expected a positive whole number (capstan "
                        "token list shows them)\n",
                id_text);
        return 2;
    }
    cJSON *body = cJSON_CreateObject();
    if (cli_get(opts, "--user"))
        cJSON_AddStringToObject(body, "username", cli_get(opts, "--user"));
    cJSON_AddNumberToObject(body, "id", (double)id);
    int rc = cli_call(server, "DELETE", TOKENS "delete", body, NULL);
    cJSON_Delete(body);
    if (rc == 0)
        printf("token %lld revoked\n", id);
    return rc;
}

int cmd_token(int argc, char **argv)
{
    struct cli_opt opts[] = {
        {"--server", "CAPSTAN_SERVER", false, "http://127.0.0.1:5000", "the capstan server"},
        {"--user", NULL, false, NULL, "whose tokens (create: required; list, revoke: yours)"},
        {"--scope", NULL, false, "write",
         "create: write (all the user may), read, or infer:DEPLOYMENT"},
        {"--expires", NULL, false, "never", "create: after this many days (30d), or never"},
        {"--name", NULL, false, NULL, "create: a name to tell tokens apart (default: the scope)"},
        {"--json", NULL, true, NULL, "print the server's answer as JSON"},
        {"--help", NULL, true, NULL, "show this help"},
        {NULL, NULL, false, NULL, NULL},
    };
    const char *pos[2];
    int npos = 0;
    const char *sub = argc > 2 ? argv[2] : "";
    if (cli_parse(argc, argv, 3, opts, pos, 2, &npos) < 0)
        return 2;
    if (cli_get(opts, "--help") || strcmp(sub, "--help") == 0) {
        cli_usage(SYNOPSIS, opts);
        return 0;
    }
    const char *server = cli_get(opts, "--server");
    if (strcmp(sub, "create") == 0 && npos == 0 && cli_get(opts, "--user"))
        return create(server, opts);
    if (strcmp(sub, "list") == 0 && npos == 0)
        return list(server, opts);
    if (strcmp(sub, "revoke") == 0 && npos == 1)
        return revoke(server, pos[0], opts);
    fprintf(stderr, "usage: %s\n", SYNOPSIS);
    return 2;
}
