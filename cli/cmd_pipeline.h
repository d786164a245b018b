/* cmd_pipeline.h - what the `capstan pipeline` files of cli/ share: the
 * tracking of a pipeline run on an MLflow tracking server
 * (cmd_pipeline_track.c), used by `pipeline run` (cmd_pipeline_run.c). */
#ifndef CAP_CLI_CMD_PIPELINE_H
#define CAP_CLI_CMD_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "pipeline/pipeline.h"

struct cli_track;
/* Creates the pipeline's run (the parent; experiment created when new). */
int cli_track_start(const char *uri, const char *experiment, const struct pipe_spec *s,
                    struct cli_track **out, struct cap_error *err);
/* The environment a stage's commands get: MLFLOW_TRACKING_URI,
 * MLFLOW_RUN_ID (the stage's nested run, created here) and
 * MLFLOW_EXPERIMENT_ID, so that what a stage logs or registers with the
 * mlflow client lands in its run, under the pipeline's. */
char **cli_track_env(struct cli_track *t, const struct pipe_stage *st, size_t index, size_t *n);
/* Records a stage's end: parameters, metrics files as metrics, deps as
 * dataset inputs (their md5 as digest), its file outputs (up to 16 MiB
 * each) as artifacts under outputs/, every output's hash, the command,
 * duration and exit status as tags, and the run's status. */
void cli_track_event(struct cli_track *t, const struct pipe_event *ev);
/* Ends the pipeline's run (FINISHED or FAILED) and frees t. */
void cli_track_finish(struct cli_track *t, bool ok);

#endif
