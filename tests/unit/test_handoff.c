/* handoff: code making, reading and digests, as tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "handoff.h"

typedef struct {
  uint64_t bits;
  bool ok;
  const char *code;
} random_row;

static const random_row random_rows[] = {
    {0, true, "0000000000"},
    {42, true, "0000000042"},
    {9999999999ULL, true, "9999999999"},
    {10000000000ULL, true, "0000000000"},
    {12345678901234ULL, true, "5678901234"},
    /* 2^64 - 1 - (2^64 mod 10^10) is the last accepted value ... */
    {UINT64_MAX - 3709551616ULL, true, "9999999999"},
    /* ... and everything above it is refused (2^64 mod 10^10 =
     * 3709551616). */
    {UINT64_MAX - 3709551615ULL, false, ""},
    {UINT64_MAX, false, ""},
};

static void test_code_from_random(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof random_rows / sizeof random_rows[0]; i++) {
    char code[HANDOFF_CODE_DIGITS + 1];
    assert_int_equal(handoff_code_from_random(random_rows[i].bits, code),
                     random_rows[i].ok);
    assert_string_equal(code, random_rows[i].code);
  }
}

typedef struct {
  const char *raw;
  bool ok;
  const char *code;
} keyed_row;

static const keyed_row keyed_rows[] = {
    {"0123456789", true, "0123456789"},
    {"012 345 6789", true, "0123456789"},
    {"012-345-6789", true, "0123456789"},
    {" 0123456789 ", true, "0123456789"},
    {"012345678", false, ""},   /* too short */
    {"01234567890", false, ""}, /* too long */
    {"01234567a9", false, ""},  /* not a digit */
    {"0123456789#", false, ""}, /* DTMF terminator left in */
    {"", false, ""},
    {"          ", false, ""},
    {"０123456789", false, ""}, /* a full-width digit is not ASCII */
    {NULL, false, ""},
};

static void test_code_normalise(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof keyed_rows / sizeof keyed_rows[0]; i++) {
    char code[HANDOFF_CODE_DIGITS + 1];
    assert_int_equal(handoff_code_normalise(keyed_rows[i].raw, code),
                     keyed_rows[i].ok);
    assert_string_equal(code, keyed_rows[i].code);
  }
}

/* Digests are HMAC-SHA256 of the prefixed value (checked against an
 * independent computation: Python's hmac module), keyed, and distinct
 * between a code and a number with the same digits. */
static void test_digests(void **state) {
  (void)state;
  const char *secret = "dev-only-handoff-secret-0123456789";
  char a[HANDOFF_DIGEST_LEN + 1], b[HANDOFF_DIGEST_LEN + 1];
  handoff_code_digest(secret, strlen(secret), "0123456789", a);
  assert_string_equal(
      a, "e51003630982bd08853ae984faaf7d433d78730376798597e17ed9cd597f27c2");
  handoff_number_digest(secret, strlen(secret), "0123456789", b);
  assert_string_not_equal(a, b);
  handoff_code_digest("another-secret-of-some-length-xx", 32, "0123456789", b);
  assert_string_not_equal(a, b);
  assert_null(strstr(a, "0123456789"));
}

/* A handoff key's id: "key:" || key under the secret, for keys up to the
 * longest allowed (256 bytes; the vector is Python's hmac module's), and
 * apart from a code digest of the same text. */
static void test_key_id(void **state) {
  (void)state;
  const char *secret = "dev-only-handoff-secret-0123456789";
  char key[257], a[HANDOFF_DIGEST_LEN + 1], b[HANDOFF_DIGEST_LEN + 1];
  memset(key, 'k', 256);
  key[256] = '\0';
  handoff_key_id(secret, strlen(secret), key, a);
  assert_string_equal(
      a, "0dfb86cab6dbc449624be1d78dc78c026e6cbed49300f0449bebd1c7a507627b");
  key[255] = 'x'; /* the last byte of a 256-byte key counts */
  handoff_key_id(secret, strlen(secret), key, b);
  assert_string_not_equal(a, b);
  handoff_key_id(secret, strlen(secret), "0123456789", a);
  handoff_code_digest(secret, strlen(secret), "0123456789", b);
  assert_string_not_equal(a, b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_code_from_random),
      cmocka_unit_test(test_code_normalise),
      cmocka_unit_test(test_digests),
      cmocka_unit_test(test_key_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
