/* report_query's buckets in a zone: table rows of (zone, bucket, instant)
 * with the bucket's start and the next bucket's start, across summer-time
 * changes and half-hour offsets; and report_zone's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "report_query.h"
#include "report_zone.h"

static void test_buckets_in_zones(void **state) {
  (void)state;
  static const struct {
    const char *zone;
    report_bucket bucket;
    int64_t t, start, next;
  } rows[] = {
      /* Kolkata: hours start at hh:30 UTC, days at 18:30 UTC. */
      {"Asia/Kolkata", REPORT_BUCKET_HOUR, 1714588199, 1714584600, 1714588200},
      {"Asia/Kolkata", REPORT_BUCKET_DAY, 1714588200, 1714588200, 1714674600},
      /* New York, 3 Nov 2024: a 25-hour day; the first 1 o'clock (EDT)
       * and the second (EST) are buckets of their own. */
      {"America/New_York", REPORT_BUCKET_DAY, 1730650000, 1730606400,
       1730696400},
      {"America/New_York", REPORT_BUCKET_HOUR, 1730613599, 1730610000,
       1730613600},
      {"America/New_York", REPORT_BUCKET_HOUR, 1730613600, 1730613600,
       1730617200},
      /* 10 Mar 2024: a 23-hour day; 01:00 EST is followed by 03:00 EDT. */
      {"America/New_York", REPORT_BUCKET_DAY, 1710050000, 1710046800,
       1710129600},
      {"America/New_York", REPORT_BUCKET_HOUR, 1710050400, 1710050400,
       1710054000},
      /* St Johns (-2:30 in summer) and Adelaide (+9:30 in winter). */
      {"America/St_Johns", REPORT_BUCKET_DAY, 1719792000, 1719714600,
       1719801000},
      {"Australia/Adelaide", REPORT_BUCKET_HOUR, 1719792000, 1719790200,
       1719793800},
      {"UTC", REPORT_BUCKET_DAY, 1714557600, 1714521600, 1714608000},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char err[160];
    report_params p = {.bucket = rows[i].bucket};
    p.zone = report_zone_get(rows[i].zone, err, sizeof err);
    print_message("  %s %lld\n", rows[i].zone, (long long)rows[i].t);
    assert_non_null(p.zone);
    int64_t start = report_bucket_start(&p, rows[i].t);
    assert_int_equal(start, rows[i].start);
    assert_int_equal(report_bucket_next(&p, start), rows[i].next);
  }
}

static void test_zone_names(void **state) {
  (void)state;
  char err[160];
  assert_non_null(report_zone_get("Asia/Seoul", err, sizeof err));
  /* The same zone, from the cache. */
  assert_ptr_equal(report_zone_get("Asia/Seoul", err, sizeof err),
                   report_zone_get("Asia/Seoul", err, sizeof err));
  assert_null(report_zone_get("Mars/Olympus_Mons", err, sizeof err));
  assert_non_null(strstr(err, "not a time zone"));
  assert_null(report_zone_get("../../etc/passwd", err, sizeof err));
  assert_null(report_zone_get("/etc/localtime", err, sizeof err));
  assert_null(report_zone_get("", err, sizeof err));
  assert_false(report_zone_name_ok("a/../b"));
  assert_true(report_zone_name_ok("Etc/GMT+5"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_buckets_in_zones),
      cmocka_unit_test(test_zone_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
