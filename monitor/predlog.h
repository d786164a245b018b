/* predlog.h - the prediction log's writer: served requests are queued here
 * off the request path and written in batches by one thread. The queue is
 * bounded: when the sink cannot keep up, new entries are dropped and
 * counted, never waited for, so logging can slow nothing down. */
#ifndef CAP_MONITOR_PREDLOG_H
#define CAP_MONITOR_PREDLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct predlog;

/* Producers append to this many shards, each thread to its own in turn. */
#define PREDLOG_SHARDS 16

/* Writes a batch; an error is logged and the batch counted as dropped. */
typedef int (*predlog_sink)(void *cls, const struct store_prediction *rows, size_t n,
                            struct cap_error *err);

struct predlog *predlog_start(size_t capacity, predlog_sink sink, void *cls);
/* Flushes what is queued, then stops the thread. */
void predlog_stop(struct predlog *l);

/* Queues a copy of one entry (its strings and packs are copied too);
 * false when the queue is full and the entry was dropped. */
bool predlog_push(struct predlog *l, const struct store_prediction *row);

uint64_t predlog_dropped(const struct predlog *l);
uint64_t predlog_written(const struct predlog *l);
/* Waits until everything queued before the call has been written (tests,
 * and the predictions query so that a client reads its own requests). */
void predlog_flush(struct predlog *l);

/* Tests only: fn(cls, i) runs on the writer's thread each time a round has
 * emptied shard i, so a test can push while a round is half done. */
void predlog_set_round_hook(struct predlog *l, void (*fn)(void *cls, int shard), void *cls);

/* The sink that writes to the metadata store, keeping at most keep_rows
 * rows (the oldest go first; 0 keeps everything). A reader of the log
 * (the live monitor) may hold back what it has not read yet: reader_from
 * returns the first id it still needs, or -1; the store keeps those rows up
 * to STORE_TRIM_READER_CAP x keep_rows and the rest are counted lost. */
struct predlog_store {
    struct store *store;
    int64_t keep_rows;
    int64_t since_trim;          /* rows written since the last trim */
    int64_t (*reader_from)(void *cls);
    void *reader_cls;
    int64_t unread_trimmed;      /* rows the reader lost, all told (the sink's thread) */
};
int predlog_store_sink(void *predlog_store, const struct store_prediction *rows, size_t n,
                       struct cap_error *err);

#endif
