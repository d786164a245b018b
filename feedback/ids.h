/* ids.h - request identity (ids.c): the one rule for the ids that join a
 * prediction to its feedback. A request's id is the client's (OIP's "id",
 * else an X-Request-Id header) or one Capstan makes; row r of a request of
 * several rows is "<id>/<r>". */
#ifndef CAP_FEEDBACK_IDS_H
#define CAP_FEEDBACK_IDS_H

#include <stdint.h>

#include "base/error.h"

/* The longest request id (bytes): room for a UUID, a W3C trace id or a
 * client's composite key, small enough to index. */
#define FB_ID_MAX 128

/* 0 when id is 1..FB_ID_MAX printable ASCII characters without a space or
 * '/' ('/' separates the row); else -CAP_EINVAL with a message naming
 * `what` (e.g. "The X-Request-Id header"). */
int fb_id_check(const char *id, const char *what, struct cap_error *err);

/* A new id, unique across processes and restarts: 32 lowercase hex
 * characters (a W3C trace id's form), a random 64-bit prefix per process
 * then a mixed counter. out has room for 33 bytes. */
#define FB_ID_NEW_LEN 32
void fb_id_new(char out[FB_ID_NEW_LEN + 1]);

/* Splits a feedback id, "<id>" or "<id>/<row>": base gets the request id
 * (room for FB_ID_MAX + 1 bytes), *row the row (-1 when none). Errors name
 * the id and the expected form. */
int fb_id_parse(const char *label_id, char base[FB_ID_MAX + 1], int64_t *row,
                struct cap_error *err);

#endif
