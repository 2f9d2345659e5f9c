#include "report_schedule.h"

#include <stdio.h>
#include <string.h>

#include "report_zone.h"

/* The unix time of local midnight starting day `days` (days since
 * 1970-01-01 in the zone's calendar). A midnight skipped by a summer-time
 * change is the first moment after the gap (tz_from_local). */
static int64_t local_midnight(const tz_zone *z, int64_t days) {
  int64_t y;
  int m, d;
  tz_civil_from_days(days, &y, &m, &d);
  return tz_from_local(z, y, m, d, 0, 0, 0);
}

/* The local day number of unix time t in z. */
static int64_t local_days(const tz_zone *z, int64_t t) {
  tz_civil c;
  tz_local(z, t, &c);
  return tz_days_from_civil(c.year, c.month, c.day);
}

static void fill_names(config_every every, int64_t first_day, int64_t last_day,
                       report_period *out) {
  int64_t y, y2;
  int m, d, m2, d2;
  tz_civil_from_days(first_day, &y, &m, &d);
  tz_civil_from_days(last_day, &y2, &m2, &d2);
  int yy = (int)(y % 10000), yy2 = (int)(y2 % 10000);
  switch (every) {
  case CONFIG_EVERY_DAY:
    snprintf(out->key, sizeof out->key, "d%04d-%02d-%02d", yy, m, d);
    snprintf(out->label, sizeof out->label, "%04d-%02d-%02d", yy, m, d);
    break;
  case CONFIG_EVERY_WEEK:
    snprintf(out->key, sizeof out->key, "w%04d-%02d-%02d", yy, m, d);
    snprintf(out->label, sizeof out->label, "%04d-%02d-%02d to %04d-%02d-%02d",
             yy, m, d, yy2, m2, d2);
    break;
  default:
    snprintf(out->key, sizeof out->key, "m%04d-%02d", yy, m);
    snprintf(out->label, sizeof out->label, "%04d-%02d", yy, m);
    break;
  }
}

void report_period_at(config_every every, const tz_zone *z, int at_minute,
                      int64_t t, report_period *out) {
  int64_t days = local_days(z, t), first, next;
  switch (every) {
  case CONFIG_EVERY_DAY:
    first = days;
    next = days + 1;
    break;
  case CONFIG_EVERY_WEEK:
    /* 1970-01-01 was a Thursday: (days + 3) mod 7 is 0 on Mondays. */
    first = days - (days + 3 - tz_floor_div(days + 3, 7) * 7);
    next = first + 7;
    break;
  default: {
    int64_t y;
    int m, d;
    tz_civil_from_days(days, &y, &m, &d);
    first = tz_days_from_civil(y, m, 1);
    next = m == 12 ? tz_days_from_civil(y + 1, 1, 1)
                   : tz_days_from_civil(y, m + 1, 1);
    break;
  }
  }
  memset(out, 0, sizeof *out);
  out->from = local_midnight(z, first);
  out->to = local_midnight(z, next);
  int64_t y;
  int m, d;
  tz_civil_from_days(next, &y, &m, &d);
  out->due = tz_from_local(z, y, m, d, at_minute / 60, at_minute % 60, 0);
  fill_names(every, first, next - 1, out);
}

void report_period_before(config_every every, const tz_zone *z, int at_minute,
                          const report_period *p, report_period *out) {
  report_period_at(every, z, at_minute, p->from - 1, out);
}

void report_period_last_complete(config_every every, const tz_zone *z,
                                 int at_minute, int64_t now,
                                 report_period *out) {
  report_period cur;
  report_period_at(every, z, at_minute, now, &cur);
  report_period_before(every, z, at_minute, &cur, out);
}

size_t report_schedule_due_periods(config_every every, const tz_zone *z,
                                   int at_minute, int64_t now,
                                   int64_t first_seen, int64_t max_late,
                                   report_period *out, size_t max) {
  report_period p;
  report_period_last_complete(every, z, at_minute, now, &p);
  /* Not due yet (it is before "at" today): the one before is the last
   * that is. Twice at most (a due time is within a day of its end). */
  for (int i = 0; i < 3 && p.due > now; i++)
    report_period_before(every, z, at_minute, &p, &p);
  size_t n = 0;
  while (n < max && p.due <= now && p.due >= now - max_late &&
         p.to > first_seen) {
    out[n++] = p;
    report_period_before(every, z, at_minute, &p, &p);
  }
  /* Newest first so far: oldest first is the order they are sent in. */
  for (size_t i = 0; i < n / 2; i++) {
    report_period t = out[i];
    out[i] = out[n - 1 - i];
    out[n - 1 - i] = t;
  }
  return n;
}

const tz_zone *report_schedule_zone(const config *cfg, const config_schedule *s,
                                    const char **zone_name, char *err,
                                    size_t err_len) {
  const char *name = s->time_zone[0] ? s->time_zone : cfg->report_time_zone;
  if (zone_name)
    *zone_name = name;
  return report_zone_get(name, err, err_len);
}

bool report_schedule_check(const config *cfg, char *err, size_t err_len) {
  const config_reporting *r = &cfg->reporting;
  for (size_t i = 0; i < r->count; i++) {
    const config_schedule *s = &r->list[i];
    char why[160];
    if (!report_schedule_zone(cfg, s, NULL, why, sizeof why)) {
      snprintf(err, err_len, "reporting.schedules[%zu].timeZone: %s", i, why);
      return false;
    }
    if (s->service_line[0] && !config_find_service_line(cfg, s->service_line)) {
      snprintf(err, err_len,
               "reporting.schedules[%zu].serviceLine: \"%s\" is not a "
               "configured service line",
               i, s->service_line);
      return false;
    }
  }
  return true;
}

const config_schedule *report_schedule_find(const config *cfg,
                                            const char *name) {
  for (size_t i = 0; i < cfg->reporting.count; i++)
    if (strcmp(cfg->reporting.list[i].name, name) == 0)
      return &cfg->reporting.list[i];
  return NULL;
}
