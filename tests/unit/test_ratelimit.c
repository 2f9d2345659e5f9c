/* ratelimit: bursts per window, and every event accounted for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ratelimit.h"

static void test_burst_then_count(void **state) {
  (void)state;
  ratelimit r = {0};
  long s = -1;
  for (int i = 0; i < 3; i++) {
    assert_true(ratelimit_allow(&r, 1000 + i, 5000, 3, &s));
    assert_int_equal(s, 0);
  }
  for (int i = 0; i < 27; i++)
    assert_false(ratelimit_allow(&r, 2000 + i, 5000, 3, &s));
  /* Still inside the window. */
  assert_false(ratelimit_allow(&r, 5999, 5000, 3, &s));
  /* A new window: let through, carrying the 28 left out. */
  assert_true(ratelimit_allow(&r, 6000, 5000, 3, &s));
  assert_int_equal(s, 28);
  assert_true(ratelimit_allow(&r, 6001, 5000, 3, &s));
  assert_int_equal(s, 0);
}

static void test_accounting_over_many_windows(void **state) {
  (void)state;
  ratelimit r = {0};
  long s, through = 0, carried = 0;
  for (int64_t t = 0; t < 100000; t += 7) {
    if (ratelimit_allow(&r, t, 5000, 3, &s)) {
      through++;
      carried += s;
    }
  }
  long events = (100000 + 6) / 7;
  assert_int_equal(through + carried + r.suppressed, events);
  assert_true(through <= 3 * (100000 / 5000 + 1));
}

static void test_clock_going_back_starts_a_window(void **state) {
  (void)state;
  ratelimit r = {0};
  long s;
  for (int i = 0; i < 4; i++)
    ratelimit_allow(&r, 10000, 5000, 3, &s);
  assert_true(ratelimit_allow(&r, 9000, 5000, 3, &s));
  assert_int_equal(s, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_burst_then_count),
      cmocka_unit_test(test_accounting_over_many_windows),
      cmocka_unit_test(test_clock_going_back_starts_a_window),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
