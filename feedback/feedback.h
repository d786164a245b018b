/* The feedback loop (prefix fb_): what Capstan learns once predictions meet
 * their outcomes. Pure parts, no I/O and no threads: model quality from
 * labelled predictions (scikit-learn's definitions), concept-drift detectors
 * on an error stream (river's), and quality estimated without labels
 * (NannyML's CBPE). And the joining: the ids that name a prediction, and
 * labels joined to the logged predictions (join.h), realised quality per
 * window from them (realised.h): these read and write the store. Each
 * part has its own header, included here; other modules include only this
 * one. */
#ifndef CAPSTAN_FEEDBACK_H
#define CAPSTAN_FEEDBACK_H

#include "feedback/ids.h"
#include "feedback/join.h"
#include "feedback/metrics.h"
#include "feedback/realised.h"
#include "feedback/detect.h"
#include "feedback/cbpe.h"
#include "feedback/estimate.h"

#endif
