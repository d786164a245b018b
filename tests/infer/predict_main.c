/* predict_main.c - stand-alone entry point for `capstan predict` so the
 * Python tests can exercise cli/cmd_predict.c before (and independently
 * of) its wiring into cli/main.c. */
#include "cli/cmd_predict.h"

int main(int argc, char **argv)
{
    return cmd_predict(argc, argv);
}
