/*
 * report_scheduler: the thread that mails scheduled reports
 * (reporting.schedules), started by main, never on an event loop.
 *
 * Every reporting.scheduleTickSeconds it asks, per schedule, which
 * periods are due (report_schedule_due_periods: up to 7 days late, only
 * periods that end after the schedule was first seen), and for each one
 * not settled tries to claim it in Redis (store_schedule.h). Of any number
 * of replicas exactly one holds a period's claim; it renews the claim at
 * every tick and while the mail is in flight, so a replica that dies is
 * replaced by another once reporting.scheduleLeaseSeconds pass. A failed
 * attempt that may pass (no connection, a timeout, a 4xx) is retried with
 * exponential backoff (smtp.retryInitialSeconds doubling up to
 * smtp.retryMaxSeconds, at most smtp.maxAttempts attempts); a 5xx refusal
 * stops at once. Either way the period is then settled: a done-marker
 * holds the delivery record and no replica sends it again.
 *
 * Every attempt writes a log line with its SMTP reply code and counts in
 * authflow_report_deliveries_total{result}.
 */
#ifndef AUTHFLOW_REPORT_SCHEDULER_H
#define AUTHFLOW_REPORT_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "report_schedule.h"

/* Start the thread (none when no schedule is configured: true). `cfg`
 * is borrowed until report_scheduler_stop(). False with a reason in err. */
bool report_scheduler_start(const config *cfg, char *err, size_t err_len);

/* Stop the thread: a mail in flight is abandoned before the server
 * accepts it and its claim left to expire, so another replica sends it.
 * Safe without a start, and twice. */
void report_scheduler_stop(void);

typedef enum {
  REPORT_RUN_QUEUED = 0,
  REPORT_RUN_UNKNOWN, /* no schedule of that name */
  REPORT_RUN_FULL,    /* too many runs on demand are waiting */
  REPORT_RUN_OFF,     /* the scheduler is not running (shutting down) */
} report_run_status;

/* Queue a run on demand of schedule `name` for its last complete period
 * (*period, when QUEUED). Thread-safe (the report thread calls it). */
report_run_status report_scheduler_run_now(const char *name,
                                           report_period *period);

#endif
