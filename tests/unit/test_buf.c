/* buf and pct: the shared capped buffer and the one percent-decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "pct.h"

static void appends_and_terminates(void **state) {
  (void)state;
  buf b;
  buf_init(&b, 64, BUF_PLAIN);
  assert_string_equal(buf_str(&b), "");
  assert_int_equal(buf_adds(&b, "abc"), BUF_OK);
  assert_int_equal(buf_addf(&b, "-%d-", 42), BUF_OK);
  assert_int_equal(buf_add(&b, "xyz", 2), BUF_OK);
  assert_string_equal(buf_str(&b), "abc-42-xy");
  assert_int_equal(buf_len(&b), 9);
  buf_reset(&b);
  assert_string_equal(buf_str(&b), "");
  buf_free(&b);
}

static void cap_is_too_large_and_sticky(void **state) {
  (void)state;
  buf b;
  buf_init(&b, 8, BUF_WIPE);
  assert_int_equal(buf_adds(&b, "12345678"), BUF_OK); /* exactly the cap */
  assert_int_equal(buf_adds(&b, "9"), BUF_TOO_LARGE);
  assert_int_equal(buf_adds(&b, ""), BUF_TOO_LARGE); /* sticky */
  assert_int_equal(buf_state(&b), BUF_TOO_LARGE);
  assert_string_equal(buf_str(&b), "12345678"); /* nothing half-appended */
  assert_null(buf_take(&b, NULL, true)); /* a failed buffer gives nothing */
  assert_int_equal(buf_adds(&b, "ok"), BUF_OK); /* usable again */
  buf_free(&b);
}

static void formatted_over_cap_is_too_large(void **state) {
  (void)state;
  buf b;
  buf_init(&b, 10, BUF_PLAIN);
  assert_int_equal(buf_addf(&b, "%s", "0123456789A"), BUF_TOO_LARGE);
  assert_int_equal(buf_len(&b), 0);
  buf_free(&b);
}

static void grows_past_first_block_and_takes(void **state) {
  (void)state;
  buf b;
  buf_init(&b, 100000, BUF_WIPE);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(buf_addf(&b, "%04d", i), BUF_OK);
  assert_int_equal(buf_len(&b), 4000);
  assert_memory_equal(buf_str(&b) + 3996, "0999", 4);
  size_t n = 0;
  char *taken = buf_take(&b, &n, false);
  assert_non_null(taken);
  assert_int_equal(n, 4000);
  assert_int_equal(strlen(taken), 4000);
  free(taken);
  assert_int_equal(buf_len(&b), 0);
  assert_null(buf_take(&b, NULL, false));
  char *empty = buf_take(&b, NULL, true);
  assert_non_null(empty);
  assert_string_equal(empty, "");
  free(empty);
}

typedef struct {
  const char *in;
  int flags;
  size_t out_len;
  pct_status status;
  const char *out;
} pct_row;

static const pct_row pct_rows[] = {
    {"abc", PCT_PLUS_IS_BYTE, 16, PCT_OK, "abc"},
    {"a%40b%3A%2f", PCT_PLUS_IS_BYTE, 16, PCT_OK, "a@b:/"},
    {"a+b", PCT_PLUS_IS_BYTE, 16, PCT_OK, "a+b"},
    {"a+b", PCT_PLUS_IS_SPACE, 16, PCT_OK, "a b"},
    {"%2B", PCT_PLUS_IS_SPACE, 16, PCT_OK, "+"},
    {"%", PCT_PLUS_IS_BYTE, 16, PCT_BAD_ESCAPE, ""},
    {"%4", PCT_PLUS_IS_BYTE, 16, PCT_BAD_ESCAPE, ""},
    {"%G1", PCT_PLUS_IS_BYTE, 16, PCT_BAD_ESCAPE, ""},
    {"x%00y", PCT_PLUS_IS_BYTE, 16, PCT_NUL, ""},
    {"abcd", PCT_PLUS_IS_BYTE, 4, PCT_TOO_LONG, ""},
    {"abc", PCT_PLUS_IS_BYTE, 4, PCT_OK, "abc"},
    {"%41%42%43", PCT_PLUS_IS_BYTE, 4, PCT_OK, "ABC"},
    {"", PCT_PLUS_IS_BYTE, 1, PCT_OK, ""},
};

static void pct_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof pct_rows / sizeof pct_rows[0]; i++) {
    const pct_row *r = &pct_rows[i];
    char out[32];
    memset(out, 'Z', sizeof out);
    pct_status st = pct_decode(r->in, strlen(r->in), r->flags, out, r->out_len);
    if (st != r->status || strcmp(out, r->out) != 0)
      fail_msg("row %zu (%s): status %d out '%s'", i, r->in, (int)st, out);
  }
  /* Only the first n bytes are read. */
  char out[8];
  assert_int_equal(pct_decode("ab%41", 2, PCT_PLUS_IS_BYTE, out, sizeof out),
                   PCT_OK);
  assert_string_equal(out, "ab");
  assert_int_equal(pct_decode("ab%4", 4, PCT_PLUS_IS_BYTE, out, sizeof out),
                   PCT_BAD_ESCAPE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(appends_and_terminates),
      cmocka_unit_test(cap_is_too_large_and_sticky),
      cmocka_unit_test(formatted_over_cap_is_too_large),
      cmocka_unit_test(grows_past_first_block_and_takes),
      cmocka_unit_test(pct_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
