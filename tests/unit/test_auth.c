/* auth: key checks for every header form, one row per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"

static const char keys[2][AUTH_KEY_MAX + 1] = {"current-key-123",
                                               "previous-key-456"};

typedef struct {
  const char *authorization;
  const char *x_api_key;
  bool expected;
} auth_row;

/* base64("agent:current-key-123") = YWdlbnQ6Y3VycmVudC1rZXktMTIz
 * base64(":previous-key-456")     = OnByZXZpb3VzLWtleS00NTY=
 * base64("agent:wrong")           = YWdlbnQ6d3Jvbmc=
 * base64("current-key-123")       = Y3VycmVudC1rZXktMTIz (no colon) */
static const auth_row rows[] = {
    {NULL, NULL, false},
    {"Bearer current-key-123", NULL, true},
    {"bearer current-key-123", NULL, true},
    {"Bearer   previous-key-456  ", NULL, true},
    {"Bearer current-key-12", NULL, false},
    {"Bearer current-key-1234", NULL, false},
    {"Bearer ", NULL, false},
    {"Bearer", NULL, false},
    {"current-key-123", NULL, false},
    {NULL, "current-key-123", true},
    {NULL, "previous-key-456", true},
    {NULL, "wrong", false},
    {NULL, "", false},
    {"Basic YWdlbnQ6Y3VycmVudC1rZXktMTIz", NULL, true},
    {"Basic OnByZXZpb3VzLWtleS00NTY=", NULL, true},
    {"Basic YWdlbnQ6d3Jvbmc=", NULL, false},
    {"Basic Y3VycmVudC1rZXktMTIz", NULL, false},
    {"Basic !!!!", NULL, false},
    {"Basic ", NULL, false},
    /* A wrong X-API-Key does not hide a right Authorization, or vice
     * versa. */
    {"Bearer current-key-123", "wrong", true},
    {"Bearer wrong", "previous-key-456", true},
    {"Digest current-key-123", NULL, false},
};

static void test_auth_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    bool got = auth_check(keys, 2, rows[i].authorization, rows[i].x_api_key);
    if (got != rows[i].expected)
      fail_msg("row %zu: expected %d", i, rows[i].expected);
  }
}

static void test_auth_no_keys_refuses_all(void **state) {
  (void)state;
  assert_false(auth_check(keys, 0, "Bearer current-key-123", NULL));
  assert_false(auth_check(keys, 0, NULL, ""));
}

static void test_equal_ct(void **state) {
  (void)state;
  assert_true(auth_equal_ct("abc", 3, "abc", 3));
  assert_false(auth_equal_ct("abc", 3, "abd", 3));
  assert_false(auth_equal_ct("abc", 3, "abc", 2));
  assert_false(auth_equal_ct("", 0, "a", 1));
  assert_true(auth_equal_ct("", 0, "", 0));
  /* A prefix padded with NULs must not compare equal. */
  assert_false(auth_equal_ct("ab\0", 3, "ab", 2));
}

/* Keys are compared as fixed-size digests: strings that share a long
 * prefix, differ only past the first SHA-256 block, or differ in length by
 * a trailing NUL are told apart, and auth_find names the matching key. */
static void test_digest_compare(void **state) {
  (void)state;
  char a[300], b[300];
  memset(a, 'k', sizeof a);
  memcpy(b, a, sizeof b);
  assert_true(auth_equal_ct(a, 256, b, 256));
  b[255] = 'x'; /* the last byte, in the fifth block */
  assert_false(auth_equal_ct(a, 256, b, 256));
  assert_false(auth_equal_ct(a, 64, a, 65)); /* a block boundary */
  assert_false(auth_equal_ct(a, 0, a, 1));
  unsigned char d1[AUTH_DIGEST_LEN] = {0}, d2[AUTH_DIGEST_LEN] = {0};
  assert_true(auth_digest_equal(d1, d2));
  d2[AUTH_DIGEST_LEN - 1] = 1; /* the last digest byte counts */
  assert_false(auth_digest_equal(d1, d2));
  d2[AUTH_DIGEST_LEN - 1] = 0;
  d2[0] = 0x80;
  assert_false(auth_digest_equal(d1, d2));

  assert_int_equal(auth_find(keys, 2, "Bearer previous-key-456", NULL), 1);
  assert_int_equal(auth_find(keys, 2, NULL, "current-key-123"), 0);
  assert_int_equal(auth_find(keys, 2, "Bearer current-key-12", NULL), -1);
  assert_int_equal(auth_find(keys, 2, "Basic OnByZXZpb3VzLWtleS00NTY=", NULL),
                   1);
  assert_int_equal(auth_find(keys, 0, "Bearer current-key-123", NULL), -1);
  /* A key listed twice: the first. */
  static const char twice[3][AUTH_KEY_MAX + 1] = {
      "other-key-000", "same-key-0001", "same-key-0001"};
  assert_int_equal(auth_find(twice, 3, NULL, "same-key-0001"), 1);
}

static void test_base64(void **state) {
  (void)state;
  char out[64];
  assert_true(auth_base64_decode("aGVsbG8=", out, sizeof out));
  assert_string_equal(out, "hello");
  assert_true(auth_base64_decode("aGVsbG8", out, sizeof out));
  assert_string_equal(out, "hello");
  assert_true(auth_base64_decode("", out, sizeof out));
  assert_string_equal(out, "");
  assert_false(auth_base64_decode("aGVsbG8===", out, sizeof out));
  assert_false(auth_base64_decode("aGV=sbG8", out, sizeof out));
  assert_false(auth_base64_decode("a", out, sizeof out));
  assert_false(auth_base64_decode("aGVsbG8=", out, 5)); /* no room for NUL */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_auth_table),
      cmocka_unit_test(test_auth_no_keys_refuses_all),
      cmocka_unit_test(test_equal_ct),
      cmocka_unit_test(test_digest_compare),
      cmocka_unit_test(test_base64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
