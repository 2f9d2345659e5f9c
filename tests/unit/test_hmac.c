/*
 * hmac: SHA-256 against the FIPS 180-4 examples and HMAC-SHA256 against
 * every RFC 4231 test case (case 5's output is compared truncated to 128
 * bits, as the RFC gives it), as a table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hmac.h"

static void to_hex(const unsigned char *in, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    snprintf(out + 2 * i, 3, "%02x", in[i]);
}

typedef struct {
  const char *msg;
  size_t repeat; /* the message is fed this many times */
  const char *digest;
} sha_row;

static const sha_row sha_rows[] = {
    {"abc", 1,
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    /* one million 'a', fed in pieces that straddle block boundaries */
    {"aaaaaaaaaaaaaaaaaaaaaaaaa", 40000,
     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void test_sha256(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof sha_rows / sizeof sha_rows[0]; i++) {
    hmac_sha256_ctx ctx;
    unsigned char d[HMAC_SHA256_LEN];
    char hex[2 * HMAC_SHA256_LEN + 1];
    hmac_sha256_init(&ctx);
    for (size_t r = 0; r < sha_rows[i].repeat; r++)
      hmac_sha256_update(&ctx, sha_rows[i].msg, strlen(sha_rows[i].msg));
    hmac_sha256_final(&ctx, d);
    to_hex(d, sizeof d, hex);
    assert_string_equal(hex, sha_rows[i].digest);
  }
  unsigned char d[HMAC_SHA256_LEN];
  char hex[2 * HMAC_SHA256_LEN + 1];
  hmac_sha256("abc", 3, d);
  to_hex(d, sizeof d, hex);
  assert_string_equal(hex, sha_rows[0].digest);
}

/* A key or message is either the bytes of `text` or `fill` repeated
 * `len` times (text NULL). */
typedef struct {
  const char *text;
  unsigned char fill;
  size_t len;
} bytes_spec;

typedef struct {
  bytes_spec key, msg;
  size_t compare_len; /* bytes of the MAC the RFC gives */
  const char *mac;
} hmac_row;

static const hmac_row hmac_rows[] = {
    /* RFC 4231 4.2, test case 1 */
    {{NULL, 0x0b, 20},
     {"Hi There", 0, 8},
     32,
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    /* 4.3, case 2: a key shorter than the output */
    {{"Jefe", 0, 4},
     {"what do ya want for nothing?", 0, 28},
     32,
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    /* 4.4, case 3 */
    {{NULL, 0xaa, 20},
     {NULL, 0xdd, 50},
     32,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    /* 4.5, case 4: the key is 0x01..0x19 */
    {{"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10"
      "\x11\x12\x13\x14\x15\x16\x17\x18\x19",
      0, 25},
     {NULL, 0xcd, 50},
     32,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    /* 4.6, case 5: truncated to 128 bits */
    {{NULL, 0x0c, 20},
     {"Test With Truncation", 0, 20},
     16,
     "a3b6167473100ee06e0c796c2955552b"},
    /* 4.7, case 6: a key longer than the block is hashed first */
    {{NULL, 0xaa, 131},
     {"Test Using Larger Than Block-Size Key - Hash Key First", 0, 54},
     32,
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    /* 4.8, case 7: key and data both longer than the block */
    {{NULL, 0xaa, 131},
     {"This is a test using a larger than block-size key and a larger than "
      "block-size data. The key needs to be hashed before being used by the "
      "HMAC algorithm.",
      0, 152},
     32,
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

static const unsigned char *bytes_of(const bytes_spec *b,
                                     unsigned char buf[256]) {
  if (b->text)
    return (const unsigned char *)b->text;
  memset(buf, b->fill, b->len);
  return buf;
}

static void test_rfc4231(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof hmac_rows / sizeof hmac_rows[0]; i++) {
    const hmac_row *r = &hmac_rows[i];
    unsigned char mac[HMAC_SHA256_LEN];
    char hex[2 * HMAC_SHA256_LEN + 1];
    unsigned char kb[256], mb[256];
    const unsigned char *key = bytes_of(&r->key, kb);
    const unsigned char *msg = bytes_of(&r->msg, mb);
    hmac_sha256_mac(key, r->key.len, msg, r->msg.len, mac);
    to_hex(mac, r->compare_len, hex);
    assert_string_equal(hex, r->mac);
    if (r->compare_len == HMAC_SHA256_LEN) {
      char full[HMAC_SHA256_HEX_LEN + 1];
      hmac_sha256_hex(key, r->key.len, msg, r->msg.len, full);
      assert_string_equal(full, r->mac);
    }
  }
}

/* Different keys or messages give different MACs (a sanity check that
 * the key is actually used). */
static void test_key_matters(void **state) {
  (void)state;
  char a[HMAC_SHA256_HEX_LEN + 1], b[HMAC_SHA256_HEX_LEN + 1];
  hmac_sha256_hex("secret-one", 10, "1234567890", 10, a);
  hmac_sha256_hex("secret-two", 10, "1234567890", 10, b);
  assert_string_not_equal(a, b);
  hmac_sha256_hex("secret-one", 10, "1234567891", 10, b);
  assert_string_not_equal(a, b);
  assert_int_equal(strlen(a), HMAC_SHA256_HEX_LEN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sha256),
      cmocka_unit_test(test_rfc4231),
      cmocka_unit_test(test_key_matters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
