/* util.h - small shared helpers: clocks, random ids, base64, logging. */
#ifndef CAP_UTIL_H
#define CAP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int64_t cap_now_ms(void);
double cap_mono_s(void);            /* monotonic seconds, for durations */
struct timespec;
/* The CLOCK_REALTIME time `seconds` from now, for pthread_cond_timedwait. */
void cap_deadline(struct timespec *ts, double seconds);
/* FNV-1a 64 of n bytes, continuing from h (start from CAP_FNV1A_SEED):
 * cheap, and good enough for hash tables and keys whose collisions are
 * checked. */
#define CAP_FNV1A_SEED 1469598103934665603ULL
uint64_t cap_fnv1a(uint64_t h, const void *p, size_t n);

/* Fills out with n random bytes as 2n lowercase hex characters + NUL. */
void cap_random_hex(char *out, size_t nbytes);
/* A random (version 4, RFC 9562) UUID in its 36-character text form:
 * out must hold 37 bytes. From the same getrandom bytes as cap_random_hex. */
void cap_uuid4(char out[37]);
/* Whether s is a UUID's text form: 8-4-4-4-12 hex digits (any version). */
bool cap_uuid_valid(const char *s);
/* Base64 (standard alphabet, padded); free() the results. decode returns NULL
 * on malformed input. */
char *cap_base64_encode(const void *data, size_t n);
unsigned char *cap_base64_decode(const char *s, size_t *out_len);

enum cap_log_level { CAP_LOG_DEBUG, CAP_LOG_INFO, CAP_LOG_WARN, CAP_LOG_ERROR };
void cap_log_set_level(enum cap_log_level lvl);
void cap_log(enum cap_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

bool cap_str_has_prefix(const char *s, const char *prefix);
/* qsort/bsearch's comparator for an array of strings (char * or const char *). */
int cap_strp_cmp(const void *a, const void *b);
/* A copy of uri fit for a log: the password of scheme://user:password@host
 * and the value of a password= query parameter become "***". free() it. */
char *cap_uri_redact(const char *uri);

/* Names the calling thread (at most 15 bytes show; for top -H, perf, gdb). */
void cap_thread_name(const char *name);
#endif
