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

#endif
