/* entropy: hex shape, truncation to the buffer, and no repeats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "entropy.h"

static void hex_of_requested_length(void **state) {
  (void)state;
  char out[33];
  entropy_hex(out, sizeof out, 16);
  assert_int_equal(strlen(out), 32);
  assert_int_equal(strspn(out, "0123456789abcdef"), 32);
}

static void truncated_to_whole_bytes_that_fit(void **state) {
  (void)state;
  char out[8];
  memset(out, 'x', sizeof out);
  entropy_hex(out, sizeof out, 16);
  assert_int_equal(strlen(out), 6); /* 3 whole bytes + NUL in 8 */
  char none[1] = {'x'};
  entropy_hex(none, sizeof none, 4);
  assert_int_equal(none[0], '\0');
}

/* Many more values than one pool holds, so refills are crossed: no two
 * 64-bit values repeat (a repeat would mean a pool byte reused). */
static void values_do_not_repeat_across_refills(void **state) {
  (void)state;
  enum { N = 2000 };
  static char seen[N][17];
  for (int i = 0; i < N; i++) {
    entropy_hex(seen[i], sizeof seen[i], 8);
    for (int j = 0; j < i; j++)
      assert_string_not_equal(seen[i], seen[j]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(hex_of_requested_length),
      cmocka_unit_test(truncated_to_whole_bytes_that_fit),
      cmocka_unit_test(values_do_not_repeat_across_refills),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
