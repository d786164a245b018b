/* cmd_predict.h - `capstan predict`: batch inference over a CSV, JSON-lines
 * or .npy file with libcapstan-infer. */
#ifndef CAP_CMD_PREDICT_H
#define CAP_CMD_PREDICT_H

/* argv[1] is "predict"; returns the process exit status. */
int cmd_predict(int argc, char **argv);

#endif
