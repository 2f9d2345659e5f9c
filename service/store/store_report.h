/*
 * store_report: the report reads. The hour counter hashes
 * ("<prefix>report:h:<yyyymmddhh>"), the event stream
 * ("<prefix>report:events") and the dropped counter
 * ("<prefix>report:dropped") are written by the commit script (its report
 * arguments: store_call.h) and read back here with plain commands on the
 * calling thread's blocking connection (store_conn), which retries them
 * within the wait budget (they only read).
 *
 * Low-level module: it never logs. Failures are described in `err`.
 */
#ifndef AUTHFLOW_STORE_REPORT_H
#define AUTHFLOW_STORE_REPORT_H

#include <stddef.h>

#include "report.h"
#include "store_types.h"

/* Called for every integer field of an hour hash; hour_index indexes the
 * `hours` array passed to store_report_hours(). */
typedef void (*store_hour_field_fn)(void *user, size_t hour_index,
                                    const char *field, long long value);

/*
 * Read the hour counter hashes named by hours[0..n) ("yyyymmddhh"),
 * pipelined; a missing hash has no fields. Fields whose value is not an
 * integer are skipped.
 */
store_status store_report_hours(const char (*hours)[REPORT_HOUR_LEN + 1],
                                size_t n, store_hour_field_fn on_field,
                                void *user, char *err, size_t err_len);

/* One stream entry: `id` and its field names and values (n of each). */
typedef void (*store_event_fn)(void *user, const char *id, size_t n,
                               const char *const *names,
                               const char *const *values);

/*
 * XREVRANGE over the event stream from `end` down to `start` (stream IDs or
 * "+", "-", "(" for exclusive), at most `count` entries, newest first.
 * *returned gets how many entries were read.
 */
store_status store_report_events(const char *end, const char *start,
                                 size_t count, store_event_fn on_event,
                                 void *user, size_t *returned, char *err,
                                 size_t err_len);

/* The "<prefix>report:dropped" counter (0 when absent). */
store_status store_report_dropped(long long *out, char *err, size_t err_len);

/* From now on this thread's blocking connection reads reports from the
 * report target (store_config.report_host or a Sentinel replica) instead
 * of the primary; nothing changes when none is configured. Only for a
 * thread that runs nothing but report reads (a replica refuses writes and
 * holds no scripts). */
void store_report_use_target(void);

/* Report filter indexes (see report.h): `kind` is "o" (outcome), "l"
 * (service line) or "c" (channel), `value` the filter's value. */
#define STORE_STREAM_ID_MAX 47

/* XLEN of one index (0 when absent). */
store_status store_report_index_len(const char *kind, const char *value,
                                    long long *out, char *err, size_t err_len);

/* Up to `count` IDs of one index, newest first, from `end` down to
 * `start` (XREVRANGE bounds, "(" for exclusive); *n gets how many. */
store_status store_report_index_ids(const char *kind, const char *value,
                                    const char *end, const char *start,
                                    size_t count,
                                    char (*ids)[STORE_STREAM_ID_MAX + 1],
                                    size_t *n, char *err, size_t err_len);

/* The events with IDs ids[0..n) (pipelined XRANGE id id), in that order,
 * to on_event; an ID no longer in the stream (trimmed) is skipped. */
store_status store_report_events_at(const char (*ids)[STORE_STREAM_ID_MAX + 1],
                                    size_t n, store_event_fn on_event,
                                    void *user, char *err, size_t err_len);

/* The first event ID the indexes hold ("" when nothing was indexed yet):
 * events before it are in no index. */
store_status store_report_index_since(char *out, size_t out_len, char *err,
                                      size_t err_len);

/* The ID of the stream's oldest event into out ("" when the stream is
 * empty or absent): XRANGE - + COUNT 1. */
store_status store_report_first_event(char *out, size_t out_len, char *err,
                                      size_t err_len);

#endif
