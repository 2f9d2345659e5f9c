/* core/tz: the TZif reader against the system's zone database (tzdata),
 * table-driven: one row per (zone, instant) with the offset and the wall
 * clock it must give; then local -> UTC across gaps and overlaps, and the
 * footer rule past the file's last transition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tz.h"

/* Read /usr/share/zoneinfo/<name> and parse it. */
static tz_zone *load(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
  FILE *f = fopen(path, "rb");
  if (!f)
    fail_msg("no zone file %s (tzdata installed?)", path);
  static unsigned char data[1 << 16];
  size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  const char *why = NULL;
  tz_zone *z = tz_parse(data, n, &why);
  if (!z)
    fail_msg("%s: %s", name, why);
  return z;
}

static void test_offsets_and_wall_clock(void **state) {
  (void)state;
  static const struct {
    const char *zone;
    int64_t t;
    int32_t offset;
    int y, mo, d, h, mi;
  } rows[] = {
      /* 2024-03-10 07:00Z: New York springs forward (02:00 EST -> 03:00). */
      {"America/New_York", 1710053999, -5 * 3600, 2024, 3, 10, 1, 59},
      {"America/New_York", 1710054000, -4 * 3600, 2024, 3, 10, 3, 0},
      /* 2024-11-03 06:00Z: back (02:00 EDT -> 01:00 EST). */
      {"America/New_York", 1730613599, -4 * 3600, 2024, 11, 3, 1, 59},
      {"America/New_York", 1730613600, -5 * 3600, 2024, 11, 3, 1, 0},
      {"Asia/Kolkata", 1714557600, 19800, 2024, 5, 1, 15, 30},
      {"Asia/Seoul", 1714557600, 9 * 3600, 2024, 5, 1, 19, 0},
      {"America/St_Johns", 1704067200, -12600, 2023, 12, 31, 20, 30},
      {"America/St_Johns", 1719792000, -9000, 2024, 6, 30, 21, 30},
      {"Australia/Adelaide", 1704067200, 37800, 2024, 1, 1, 10, 30},
      {"Australia/Adelaide", 1719792000, 34200, 2024, 7, 1, 9, 30},
      {"Asia/Kathmandu", 1714557600, 20700, 2024, 5, 1, 15, 45},
      {"Europe/Madrid", 1719792000, 7200, 2024, 7, 1, 2, 0},
      {"UTC", 1714557600, 0, 2024, 5, 1, 10, 0},
      /* Past the last transition (2037): the footer's rule. */
      {"America/New_York", 4102444800 + 180 * 86400, -4 * 3600, 2100, 6, 29, 20,
       0},
      {"America/New_York", 4102444800, -5 * 3600, 2099, 12, 31, 19, 0},
      {"Europe/Madrid", 4102444800 + 180 * 86400, 7200, 2100, 6, 30, 2, 0},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    print_message("  %s %lld\n", rows[i].zone, (long long)rows[i].t);
    tz_zone *z = load(rows[i].zone);
    tz_civil c;
    tz_local(z, rows[i].t, &c);
    assert_int_equal(c.offset, rows[i].offset);
    assert_int_equal(c.year, rows[i].y);
    assert_int_equal(c.month, rows[i].mo);
    assert_int_equal(c.day, rows[i].d);
    assert_int_equal(c.hour, rows[i].h);
    assert_int_equal(c.minute, rows[i].mi);
    tz_free(z);
  }
}

static void test_from_local(void **state) {
  (void)state;
  tz_zone *ny = load("America/New_York");
  /* An ordinary time. */
  assert_int_equal(tz_from_local(ny, 2024, 5, 1, 0, 0, 0), 1714536000);
  /* 02:30 on the spring-forward day never happens: the moment after. */
  assert_int_equal(tz_from_local(ny, 2024, 3, 10, 2, 30, 0), 1710055800);
  /* 01:30 on the fall-back day happens twice: the earlier. */
  assert_int_equal(tz_from_local(ny, 2024, 11, 3, 1, 30, 0), 1730611800);
  /* Midnights either side of a 25-hour day. */
  assert_int_equal(tz_from_local(ny, 2024, 11, 4, 0, 0, 0) -
                       tz_from_local(ny, 2024, 11, 3, 0, 0, 0),
                   25 * 3600);
  assert_int_equal(tz_from_local(ny, 2024, 3, 11, 0, 0, 0) -
                       tz_from_local(ny, 2024, 3, 10, 0, 0, 0),
                   23 * 3600);
  tz_free(ny);
  tz_zone *k = load("Asia/Kolkata");
  assert_int_equal(tz_from_local(k, 2024, 5, 1, 0, 0, 0), 1714501800);
  tz_free(k);
  assert_int_equal(tz_from_local(tz_utc(), 2024, 5, 1, 0, 0, 0), 1714521600);
}

static void test_refuses_bad_files(void **state) {
  (void)state;
  const char *why = NULL;
  static const unsigned char junk[] = "TZif2 not really a zone file at all";
  assert_null(tz_parse(junk, sizeof junk, &why));
  assert_non_null(why);
  assert_null(tz_parse((const unsigned char *)"", 0, &why));
  /* A real file cut short anywhere is refused, never read past its end. */
  FILE *f = fopen("/usr/share/zoneinfo/Europe/Madrid", "rb");
  assert_non_null(f);
  static unsigned char data[1 << 16];
  size_t n = fread(data, 1, sizeof data, f);
  fclose(f);
  for (size_t cut = 0; cut < n; cut += 7) {
    unsigned char *copy = malloc(cut ? cut : 1);
    assert_non_null(copy);
    memcpy(copy, data, cut);
    assert_null(tz_parse(copy, cut, &why));
    free(copy);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_offsets_and_wall_clock),
      cmocka_unit_test(test_from_local),
      cmocka_unit_test(test_refuses_bad_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
