/*
 * report_delivery: one attempt at delivering one scheduled report: the
 * report made for the period (report_make), the mail composed (a short
 * text with the headline numbers, the file attached) and sent
 * (report_mail), and the delivery record kept in Redis and listed by
 * GET /v1/reports/deliveries.
 *
 * Blocking (the scheduler's thread). The report is made on a short-lived
 * thread of its own that reads where reports read (reporting.redisUrl),
 * while the scheduler's thread keeps its claim alive. Never logs: the
 * scheduler does.
 */
#ifndef AUTHFLOW_REPORT_DELIVERY_H
#define AUTHFLOW_REPORT_DELIVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "report_mail.h"
#include "report_schedule.h"

typedef struct {
  const config *cfg;
  const config_schedule *s;
  const tz_zone *zone;
  const char *zone_name;
  report_period period;
  bool manual; /* POST /v1/reports/schedules/{name}/run */
  /* Asked about once a second while the mail is sent; false aborts. */
  bool (*keep_going)(void *user);
  void *user;
} report_delivery_job;

typedef struct {
  report_mail_status status; /* RETRY also when the report could not be
                                made; REFUSED when it never can be */
  long smtp_code;
  char error[256];
  bool late;
  int64_t late_seconds;
  char filename[192];
  uint64_t bytes;
} report_delivery_outcome;

/* Make, compose and send j at `now`. */
void report_delivery_attempt(const report_delivery_job *j, int64_t now,
                             report_delivery_outcome *out);

/*
 * The delivery record (JSON text, malloc'd: the caller frees it; NULL when
 * out of memory): schedule, trigger, report, format, timeZone, period,
 * recipients, result ("sent", "refused", "failed"), attempts, time,
 * smtpCode, late, error, file, bytes.
 */
char *report_delivery_record(const report_delivery_job *j,
                             const report_delivery_outcome *o,
                             const char *result, int attempts, int64_t now);

#endif
