/* main.c - the capstan command: dispatches to its sub-commands. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_predict.h"

static void usage(FILE *f)
{
    fputs("usage: capstan <command> [options]\n\n"
          "commands:\n"
          "  server         run the tracking server (MLflow REST API), registry and model serving\n"
          "                 on http://127.0.0.1:5000\n"
          "  serve          serving only, from a registry server: capstan serve --registry URL\n"
          "  deploy         deployments: create, list, status, update, promote, rollback, delete\n"
          "  experiments    list experiments\n"
          "  runs           search runs, show a run\n"
          "  models         registered models: list, show, alias, promote, lineage\n"
          "  predict        batch predictions from an ONNX model over CSV, JSONL or .npy\n"
          "  monitor        data drift of a current file against a reference: monitor drift\n"
          "  feedback       ground truth for logged predictions: feedback send\n"
          "  review         the human review queue: review list, label, export\n"
          "  data           datasets by content: data add, ls, log, show, get, diff, rm, gc\n"
          "  pipeline       DVC pipelines (dvc.yaml): run, status, dag, show, export, schedule\n"
          "  token          access tokens for machines (--auth): token create, list, revoke\n"
          "  version        print the version\n\n"
          "Run 'capstan <command> --help' for a command's options.\n",
          f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("capstan %s\n", CAPSTAN_VERSION);
        return 0;
    }
    if (strcmp(cmd, "server") == 0)
        return cmd_server(argc, argv);
    if (strcmp(cmd, "experiments") == 0)
        return cmd_experiments(argc, argv);
    if (strcmp(cmd, "runs") == 0)
        return cmd_runs(argc, argv);
    if (strcmp(cmd, "models") == 0)
        return cmd_models(argc, argv);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(argc, argv);
    if (strcmp(cmd, "deploy") == 0)
        return cmd_deploy(argc, argv);
    if (strcmp(cmd, "predict") == 0)
        return cmd_predict(argc, argv);
    if (strcmp(cmd, "monitor") == 0)
        return cmd_monitor(argc, argv);
    if (strcmp(cmd, "feedback") == 0)
        return cmd_feedback(argc, argv);
    if (strcmp(cmd, "review") == 0)
        return cmd_review(argc, argv);
    if (strcmp(cmd, "data") == 0)
        return cmd_data(argc, argv);
    if (strcmp(cmd, "pipeline") == 0)
        return cmd_pipeline(argc, argv);
    if (strcmp(cmd, "token") == 0)
        return cmd_token(argc, argv);
    fprintf(stderr, "capstan: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
