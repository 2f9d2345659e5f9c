/* report_schedule: the periods a schedule mails and when each is due, in
 * the schedule's zone, table-driven (one row per zone, period kind and
 * moment: the period it must give, with its local bounds, length, key and
 * label); then the due list (not before "at", never before the schedule
 * was first seen, at most 7 days late, oldest first); then the
 * reporting.schedules / reporting.smtp config (one row per bad value and
 * the key its error must name) and "HH:MM". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "config_reporting.h"
#include "report_render.h"
#include "report_schedule.h"
#include "report_zone.h"

static const tz_zone *zone(const char *name) {
  char err[160];
  const tz_zone *z = report_zone_get(name, err, sizeof err);
  if (!z)
    fail_msg("%s: %s", name, err);
  return z;
}

static int64_t local(const char *name, int y, int mo, int d, int h, int mi) {
  return tz_from_local(zone(name), y, mo, d, h, mi, 0);
}

static void test_last_complete_periods(void **state) {
  (void)state;
  static const struct {
    const char *zone;
    config_every every;
    int now[5]; /* local y, m, d, h, min */
    const char *from, *to;
    int64_t seconds;
    const char *key, *label;
  } rows[] = {
      /* New York springs forward on 2024-03-10: a 23-hour day. */
      {"America/New_York",
       CONFIG_EVERY_DAY,
       {2024, 3, 11, 12, 0},
       "2024-03-10T00:00:00-05:00",
       "2024-03-11T00:00:00-04:00",
       23 * 3600,
       "d2024-03-10",
       "2024-03-10"},
      /* ... and falls back on 2024-11-03: 25 hours. */
      {"America/New_York",
       CONFIG_EVERY_DAY,
       {2024, 11, 4, 0, 30},
       "2024-11-03T00:00:00-04:00",
       "2024-11-04T00:00:00-05:00",
       25 * 3600,
       "d2024-11-03",
       "2024-11-03"},
      /* The week holding the change is an hour short. */
      {"America/New_York",
       CONFIG_EVERY_WEEK,
       {2024, 3, 12, 9, 0},
       "2024-03-04T00:00:00-05:00",
       "2024-03-11T00:00:00-04:00",
       7 * 86400 - 3600,
       "w2024-03-04",
       "2024-03-04 to 2024-03-10"},
      /* March 2024 in New York: 31 days less the hour. */
      {"America/New_York",
       CONFIG_EVERY_MONTH,
       {2024, 4, 2, 9, 0},
       "2024-03-01T00:00:00-05:00",
       "2024-04-01T00:00:00-04:00",
       31 * 86400 - 3600,
       "m2024-03",
       "2024-03"},
      /* Seoul weeks run Monday to Sunday, in Seoul. */
      {"Asia/Seoul",
       CONFIG_EVERY_WEEK,
       {2024, 3, 4, 8, 0},
       "2024-02-26T00:00:00+09:00",
       "2024-03-04T00:00:00+09:00",
       7 * 86400,
       "w2024-02-26",
       "2024-02-26 to 2024-03-03"},
      /* Sunday night is still in the week: last week is the one before. */
      {"Asia/Seoul",
       CONFIG_EVERY_WEEK,
       {2024, 3, 3, 23, 59},
       "2024-02-19T00:00:00+09:00",
       "2024-02-26T00:00:00+09:00",
       7 * 86400,
       "w2024-02-19",
       "2024-02-19 to 2024-02-25"},
      /* A week across the year end. */
      {"Asia/Seoul",
       CONFIG_EVERY_WEEK,
       {2025, 1, 6, 0, 0},
       "2024-12-30T00:00:00+09:00",
       "2025-01-06T00:00:00+09:00",
       7 * 86400,
       "w2024-12-30",
       "2024-12-30 to 2025-01-05"},
      /* 00:30 in Seoul is the previous day in UTC: the day is Seoul's. */
      {"Asia/Seoul",
       CONFIG_EVERY_DAY,
       {2024, 5, 2, 0, 30},
       "2024-05-01T00:00:00+09:00",
       "2024-05-02T00:00:00+09:00",
       86400,
       "d2024-05-01",
       "2024-05-01"},
      /* Kolkata (+5:30): February of a leap year. */
      {"Asia/Kolkata",
       CONFIG_EVERY_MONTH,
       {2024, 3, 1, 10, 0},
       "2024-02-01T00:00:00+05:30",
       "2024-03-01T00:00:00+05:30",
       29 * 86400,
       "m2024-02",
       "2024-02"},
      /* ... December, from New Year's Day. */
      {"Asia/Kolkata",
       CONFIG_EVERY_MONTH,
       {2025, 1, 1, 0, 5},
       "2024-12-01T00:00:00+05:30",
       "2025-01-01T00:00:00+05:30",
       31 * 86400,
       "m2024-12",
       "2024-12"},
      /* A month ending on the 30th. */
      {"Asia/Kolkata",
       CONFIG_EVERY_MONTH,
       {2024, 5, 15, 10, 0},
       "2024-04-01T00:00:00+05:30",
       "2024-05-01T00:00:00+05:30",
       30 * 86400,
       "m2024-04",
       "2024-04"},
      {"Asia/Kolkata",
       CONFIG_EVERY_DAY,
       {2024, 5, 2, 5, 29},
       "2024-05-01T00:00:00+05:30",
       "2024-05-02T00:00:00+05:30",
       86400,
       "d2024-05-01",
       "2024-05-01"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const tz_zone *z = zone(rows[i].zone);
    int64_t now = local(rows[i].zone, rows[i].now[0], rows[i].now[1],
                        rows[i].now[2], rows[i].now[3], rows[i].now[4]);
    report_period p;
    report_period_last_complete(rows[i].every, z, 7 * 60, now, &p);
    char from[32], to[32];
    report_time_text(z, p.from, from);
    report_time_text(z, p.to, to);
    if (strcmp(from, rows[i].from) != 0 || strcmp(to, rows[i].to) != 0 ||
        p.to - p.from != rows[i].seconds || strcmp(p.key, rows[i].key) != 0 ||
        strcmp(p.label, rows[i].label) != 0)
      fail_msg("row %zu (%s): got [%s, %s) %lld s, %s, %s", i, rows[i].zone,
               from, to, (long long)(p.to - p.from), p.key, p.label);
  }
}

static void test_due_time_is_at_on_the_day_the_period_ends(void **state) {
  (void)state;
  const tz_zone *z = zone("America/New_York");
  report_period p;
  /* Due at 07:30 on the day after; the 10th has no 02:30 but 07:30 is
   * there, in EDT. */
  report_period_last_complete(CONFIG_EVERY_DAY, z, 7 * 60 + 30,
                              local("America/New_York", 2024, 3, 10, 12, 0),
                              &p);
  char due[32];
  report_time_text(z, p.due, due);
  assert_string_equal(due, "2024-03-10T07:30:00-04:00");
  /* A week's is on Monday, a month's on the 1st. */
  report_period_last_complete(CONFIG_EVERY_WEEK, z, 6 * 60,
                              local("America/New_York", 2024, 3, 13, 0, 0), &p);
  report_time_text(z, p.due, due);
  assert_string_equal(due, "2024-03-11T06:00:00-04:00");
  report_period_last_complete(CONFIG_EVERY_MONTH, z, 0,
                              local("America/New_York", 2024, 3, 13, 0, 0), &p);
  report_time_text(z, p.due, due);
  assert_string_equal(due, "2024-03-01T00:00:00-05:00");
}

static size_t due(const char *zn, config_every every, int at, int64_t now,
                  int64_t first_seen, report_period *out) {
  return report_schedule_due_periods(every, zone(zn), at, now, first_seen,
                                     REPORT_SCHEDULE_MAX_LATE_SECONDS, out,
                                     REPORT_SCHEDULE_DUE_MAX);
}

static void test_due_periods(void **state) {
  (void)state;
  report_period p[REPORT_SCHEDULE_DUE_MAX];
  const char *z = "Asia/Seoul";
  int64_t long_ago = 0;
  /* 06:59: yesterday is not due yet, the day before is. */
  assert_int_equal(
      due(z, CONFIG_EVERY_DAY, 420, local(z, 2024, 5, 2, 6, 59), long_ago, p),
      7);
  assert_string_equal(p[6].label, "2024-04-30");
  /* 07:00: yesterday is. */
  size_t n =
      due(z, CONFIG_EVERY_DAY, 420, local(z, 2024, 5, 2, 7, 0), long_ago, p);
  assert_string_equal(p[n - 1].label, "2024-05-01");
  /* Oldest first, and never more than 7 days late. */
  n = due(z, CONFIG_EVERY_DAY, 420, local(z, 2024, 5, 20, 8, 0), long_ago, p);
  assert_int_equal(n, 7);
  assert_string_equal(p[0].label, "2024-05-13");
  assert_string_equal(p[6].label, "2024-05-19");
  for (size_t i = 0; i < n; i++)
    assert_true(p[i].due >= local(z, 2024, 5, 13, 8, 0));
  /* Only periods that end after the schedule was first seen: one seen
   * just after midnight mails nothing until the next day's report. */
  assert_int_equal(due(z, CONFIG_EVERY_DAY, 420, local(z, 2024, 5, 2, 8, 0),
                       local(z, 2024, 5, 2, 0, 1), p),
                   0);
  assert_int_equal(due(z, CONFIG_EVERY_DAY, 420, local(z, 2024, 5, 2, 8, 0),
                       local(z, 2024, 5, 1, 23, 0), p),
                   1);
  assert_string_equal(p[0].label, "2024-05-01");
  /* A monthly schedule a day late sends last month once. */
  n = due("Asia/Kolkata", CONFIG_EVERY_MONTH, 360,
          local("Asia/Kolkata", 2024, 3, 2, 9, 0),
          local("Asia/Kolkata", 2024, 2, 10, 0, 0), p);
  assert_int_equal(n, 1);
  assert_string_equal(p[0].key, "m2024-02");
  /* Weekly in New York, across the DST week. */
  n = due("America/New_York", CONFIG_EVERY_WEEK, 420,
          local("America/New_York", 2024, 3, 11, 7, 5),
          local("America/New_York", 2024, 3, 5, 0, 0), p);
  assert_int_equal(n, 1);
  assert_string_equal(p[0].key, "w2024-03-04");
}

static void test_hhmm(void **state) {
  (void)state;
  static const struct {
    const char *text;
    int minutes; /* -1: refused */
  } rows[] = {{"00:00", 0},   {"07:30", 450}, {"23:59", 1439}, {"24:00", -1},
              {"12:60", -1},  {"7:30", -1},   {"07:3", -1},    {"07-30", -1},
              {"07:300", -1}, {"", -1},       {"ab:cd", -1},   {" 7:30", -1}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    int m = -1;
    bool ok = config_parse_hhmm(rows[i].text, &m);
    if (ok != (rows[i].minutes >= 0) || (ok && m != rows[i].minutes))
      fail_msg("\"%s\": ok %d, %d", rows[i].text, ok, m);
  }
}

#define SMTP                                                                   \
  "\"smtp\":{\"url\":\"smtp://127.0.0.1:25\",\"from\":\"a@example.com\"}"
#define SCHED_FULL(every, at, to, extra)                                       \
  "{\"name\":\"s\",\"report\":\"summary\",\"format\":\"pdf\",\"every\":"       \
  "\"" every "\",\"at\":\"" at "\",\"to\":[" to "]" extra "}"
#define SCHED(extra) SCHED_FULL("day", "07:00", "\"x@example.com\"", extra)

static void test_config_rows(void **state) {
  (void)state;
  static const struct {
    const char *reporting; /* the "reporting" object's inside */
    const char *error;     /* NULL: accepted; else the start of the error */
  } rows[] = {
      {"\"schedules\":[" SCHED("") "]," SMTP, NULL},
      {"\"schedules\":[" SCHED(",\"timeZone\":\"Asia/Seoul\",\"serviceLine\":"
                               "\"default\",\"channel\":\"voice\"") "]," SMTP,
       NULL},
      {"\"schedules\":[" SCHED("") "]", "reporting.smtp: required"},
      {"\"schedules\":[" SCHED_FULL("day", "7:00", "\"x@example.com\"",
                                    "") "]," SMTP,
       "reporting.schedules[0].at: must be HH:MM"},
      {"\"schedules\":[" SCHED_FULL("day", "07:00", "\"x@example.com\",\"y\"",
                                    "") "]," SMTP,
       "reporting.schedules[0].to[1]"},
      {"\"schedules\":[" SCHED_FULL("hourly", "07:00", "\"x@example.com\"",
                                    "") "]," SMTP,
       "reporting.schedules[0].every"},
      {"\"schedules\":[" SCHED_FULL("day", "07:00", "", "") "]," SMTP,
       "reporting.schedules[0].to"},
      {"\"schedules\":[" SCHED("") "," SCHED("") "]," SMTP,
       "reporting.schedules[1].name"},
      {"\"schedules\":[{\"name\":\"s\"}]," SMTP,
       "reporting.schedules[0].report: is required"},
      {"\"schedules\":[" SCHED(",\"colour\":1") "]," SMTP,
       "reporting.schedules[0]"},
      {"\"schedules\":[" SCHED(",\"channel\":\"Voice!\"") "]," SMTP,
       "reporting.schedules[0].channel"},
      {"\"schedules\":[" SCHED(",\"timeZone\":\"\"") "]," SMTP,
       "reporting.schedules[0].timeZone"},
      {"\"schedules\":{}," SMTP, "reporting.schedules: must be an array"},
      {SMTP ",\"scheduleTickSeconds\":0", "reporting.scheduleTickSeconds"},
      {SMTP ",\"scheduleTickSeconds\":60,\"scheduleLeaseSeconds\":100",
       "reporting.scheduleLeaseSeconds: must be at least 3 x"},
      {"\"smtp\":{\"url\":\"http://x\",\"from\":\"a@example.com\"}",
       "reporting.smtp.url"},
      {"\"smtp\":{\"url\":\"smtp://\",\"from\":\"a@example.com\"}",
       "reporting.smtp.url"},
      {"\"smtp\":{\"url\":\"smtp://h\",\"from\":\"a b@example.com\"}",
       "reporting.smtp.from"},
      {"\"smtp\":{\"url\":\"smtp://h\",\"from\":\"<a@example.com>\"}",
       "reporting.smtp.from"},
      {"\"smtp\":{\"url\":\"smtp://h\"}", "reporting.smtp.from: is required"},
      {"\"smtp\":{\"url\":\"smtps://h\",\"from\":\"a@example.com\",\"tls\":"
       "\"none\"}",
       "reporting.smtp.tls: none contradicts"},
      {"\"smtp\":{\"url\":\"smtp://h\",\"from\":\"a@example.com\",\"tls\":"
       "\"opportunistic\"}",
       "reporting.smtp.tls"},
      {"\"smtp\":{\"url\":\"smtp://h\",\"from\":\"a@example.com\","
       "\"password\":\"${env:SMTP_PASSWORD}\"}",
       "reporting.smtp.password"},
      {"\"smtp\":{\"url\":\"smtp://h\",\"from\":\"a@example.com\","
       "\"retryInitialSeconds\":60,\"retryMaxSeconds\":30}",
       "reporting.smtp.retryMaxSeconds"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char json[2048];
    snprintf(json, sizeof json, "{\"reporting\":{%s}}", rows[i].reporting);
    static config cfg;
    char err[CONFIG_ERR_MAX] = "";
    bool ok = config_load_text(json, strlen(json), &cfg, err, sizeof err);
    const char *want = rows[i].error;
    if (want == NULL ? !ok : ok || strncmp(err, want, strlen(want)) != 0)
      fail_msg("row %zu: ok %d, error \"%s\"", i, ok, err);
    if (ok)
      config_free(&cfg);
  }
}

static void test_config_values(void **state) {
  (void)state;
  const char *json = "{\"reporting\":{\"schedules\":[" SCHED_FULL(
      "week", "06:15", "\"a@example.com\",\"b@example.com\"",
      ",\"timeZone\":\"America/New_York\"") "],"
                                            "\"smtp\":{\"url\":\"smtps://"
                                            "mail.example.com:465\",\"from\":"
                                            "\"authflow@example.com\","
                                            "\"username\":\"u\",\"password\":"
                                            "\"p\","
                                            "\"maxAttempts\":3}}}";
  static config cfg;
  char err[CONFIG_ERR_MAX];
  assert_true(config_load_text(json, strlen(json), &cfg, err, sizeof err));
  const config_schedule *s = &cfg.reporting.list[0];
  assert_int_equal(cfg.reporting.count, 1);
  assert_int_equal(s->every, CONFIG_EVERY_WEEK);
  assert_int_equal(s->at_minute, 6 * 60 + 15);
  assert_int_equal(s->to_count, 2);
  assert_string_equal(s->to[1], "b@example.com");
  assert_string_equal(s->time_zone, "America/New_York");
  assert_false(cfg.reporting.smtp.tls_none);
  assert_int_equal(cfg.reporting.smtp.max_attempts, 3);
  assert_int_equal(cfg.reporting.smtp.retry_initial_seconds, 30);
  assert_int_equal(cfg.reporting.tick_seconds, 30);
  assert_true(report_schedule_check(&cfg, err, sizeof err));
  assert_non_null(report_schedule_find(&cfg, "s"));
  assert_null(report_schedule_find(&cfg, "t"));
  config_free(&cfg);
  /* Checked once the whole file is read: the zone database and lines. */
  const char *bad = "{\"reporting\":{\"schedules\":[" SCHED(
      ",\"timeZone\":\"Mars/Olympus_Mons\"") "]," SMTP "}}";
  assert_true(config_load_text(bad, strlen(bad), &cfg, err, sizeof err));
  assert_false(report_schedule_check(&cfg, err, sizeof err));
  assert_non_null(strstr(err, "reporting.schedules[0].timeZone"));
  config_free(&cfg);
  bad = "{\"reporting\":{\"schedules\":[" SCHED(
      ",\"serviceLine\":\"nope\"") "]," SMTP "}}";
  assert_true(config_load_text(bad, strlen(bad), &cfg, err, sizeof err));
  assert_false(report_schedule_check(&cfg, err, sizeof err));
  assert_non_null(strstr(err, "reporting.schedules[0].serviceLine"));
  config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_last_complete_periods),
      cmocka_unit_test(test_due_time_is_at_on_the_day_the_period_ends),
      cmocka_unit_test(test_due_periods),
      cmocka_unit_test(test_hhmm),
      cmocka_unit_test(test_config_rows),
      cmocka_unit_test(test_config_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
