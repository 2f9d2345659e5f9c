/*
 * report_schedule: the periods a schedule covers and when each is due.
 *
 * A schedule (config_reporting.h) runs every day, week (Monday to Sunday)
 * or month in its own zone: each run covers the last complete period,
 * [local midnight, local midnight), so a day is 23 or 25 hours long
 * across a summer-time change and a month is its real length. A period is
 * due at the schedule's "at" on the local day its period ends (yesterday's
 * report at 07:00 today; last week's on Monday at 07:00; last month's on
 * the 1st at 07:00).
 *
 * The period functions are pure (zone data in, times out) and thread-safe;
 * report_schedule_check reads the zone database.
 */
#ifndef AUTHFLOW_REPORT_SCHEDULE_H
#define AUTHFLOW_REPORT_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "tz.h"

/* A period is sent at most this long after it was due (a replica that
 * comes back later than this does not mail it). */
#define REPORT_SCHEDULE_MAX_LATE_SECONDS (7 * 86400)
/* A run that starts more than this after its due time says it is late. */
#define REPORT_SCHEDULE_LATE_AFTER_SECONDS (15 * 60)
/* The most periods report_schedule_due_periods returns (a daily schedule
 * catching up after 7 days of downtime needs 8). */
#define REPORT_SCHEDULE_DUE_MAX 16

typedef struct {
  int64_t from, to; /* [from, to), unix seconds */
  int64_t due;      /* when it is sent */
  /* Names it in Redis keys: "d2026-12-05", "w2026-11-30" (the Monday),
   * "m2026-11" */
  char key[16];
  /* For people: "2026-12-05", "2026-11-30 to 2026-12-06", "2026-11" */
  char label[32];
} report_period;

/* The period of `every` in zone z that holds t, with its due time for a
 * schedule at `at_minute` after local midnight. */
void report_period_at(config_every every, const tz_zone *z, int at_minute,
                      int64_t t, report_period *out);

/* The period just before p. */
void report_period_before(config_every every, const tz_zone *z, int at_minute,
                          const report_period *p, report_period *out);

/* The last complete period at `now` (the one before the period holding
 * now), whether or not it is due yet: what a run on demand sends. */
void report_period_last_complete(config_every every, const tz_zone *z,
                                 int at_minute, int64_t now,
                                 report_period *out);

/*
 * The periods to send at `now`, oldest first, into out[max]: every period
 * that is due (due <= now), was due at most max_late seconds ago, and ends
 * after `first_seen` (adding a schedule never mails the past). Returns
 * how many (at most max).
 */
size_t report_schedule_due_periods(config_every every, const tz_zone *z,
                                   int at_minute, int64_t now,
                                   int64_t first_seen, int64_t max_late,
                                   report_period *out, size_t max);

/* The zone of schedule s (its timeZone, else reporting.timeZone), or NULL
 * with the reason in err. */
const tz_zone *report_schedule_zone(const config *cfg, const config_schedule *s,
                                    const char **zone_name, char *err,
                                    size_t err_len);

/*
 * What the file layer cannot check: every schedule's zone is in the zone
 * database and its serviceLine is configured. False with
 * "reporting.schedules[i].<key>: <reason>" in err.
 */
bool report_schedule_check(const config *cfg, char *err, size_t err_len);

/* The schedule called `name`, or NULL. */
const config_schedule *report_schedule_find(const config *cfg,
                                            const char *name);

#endif
