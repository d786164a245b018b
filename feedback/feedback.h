/* The feedback loop (prefix fb_): what Capstan learns once predictions meet
 * their outcomes. Pure parts, no I/O and no threads: model quality from
 * labelled predictions (scikit-learn's definitions), concept-drift detectors
 * on an error stream (river's), and quality estimated without labels
 * (NannyML's CBPE). Each part has its own header, included here; other
 * modules include only this one. */
#ifndef CAPSTAN_FEEDBACK_H
#define CAPSTAN_FEEDBACK_H

#include "feedback/cbpe.h"

#endif
