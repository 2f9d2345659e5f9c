/*
 * otp: methods, codes, their keyed hash, the sealed phone and the state
 * field (see otp.h for the contracts and what is kept secret).
 */
#include "otp.h"

#include <stdio.h>
#include <string.h>

#include "decimal.h"
#include "hmac.h"

static const char *const method_names[] = {"answer", "otp", "answer_then_otp",
                                           "otp_or_answer"};
#define METHOD_COUNT (sizeof method_names / sizeof method_names[0])

const char *otp_method_name(otp_method m) {
  return (unsigned)m < METHOD_COUNT ? method_names[m] : "";
}

bool otp_method_parse(const char *s, otp_method *out) {
  if (!s)
    return false;
  for (size_t i = 0; i < METHOD_COUNT; i++)
    if (strcmp(s, method_names[i]) == 0) {
      *out = (otp_method)i;
      return true;
    }
  return false;
}

bool otp_method_uses_code(otp_method m) {
  return m == OTP_METHOD_OTP || m == OTP_METHOD_ANSWER_THEN_OTP ||
         m == OTP_METHOD_OTP_OR_ANSWER;
}

bool otp_code_make(const unsigned char *rand, size_t n, int length, char *out) {
  out[0] = '\0';
  if (length < OTP_LENGTH_MIN || length > OTP_LENGTH_MAX)
    return false;
  int have = 0;
  for (size_t i = 0; i < n && have < length; i++)
    if (rand[i] < 250) /* 250 = 25 * 10: each digit equally likely */
      out[have++] = (char)('0' + rand[i] % 10);
  if (have < length) {
    memset(out, 0, OTP_LENGTH_MAX + 1);
    return false;
  }
  out[have] = '\0';
  return true;
}

bool otp_code_well_formed(const char *code, int length) {
  if (!code)
    return false;
  int n = 0;
  for (; code[n]; n++)
    if (code[n] < '0' || code[n] > '9' || n >= length)
      return false;
  return n == length;
}

/* hex HMAC(secret, parts joined) into out[65]. */
static void keyed_hex(const char *secret, size_t secret_len, const char *msg,
                      size_t msg_len, char *out) {
  hmac_sha256_hex(secret, secret_len, msg, msg_len, out);
}

void otp_code_digest(const char *secret, size_t secret_len,
                     const char *conversation_id, int send, const char *code,
                     char *out) {
  char msg[256], num[24];
  decimal_format(num, send);
  int n = snprintf(msg, sizeof msg, "otp-code:%s:%s:%s", conversation_id, num,
                   code);
  if (n < 0 || (size_t)n >= sizeof msg)
    n = (int)sizeof msg - 1;
  keyed_hex(secret, secret_len, msg, (size_t)n, out);
  explicit_bzero(msg, sizeof msg);
}

/* Constant time over OTP_DIGEST_HEX bytes: the time a check takes says
 * nothing about how much of a digest matched. */
static bool digest_equal(const char *a, const char *b) {
  unsigned char diff = 0;
  size_t la = strnlen(a, OTP_DIGEST_HEX + 1),
         lb = strnlen(b, OTP_DIGEST_HEX + 1);
  if (la != OTP_DIGEST_HEX || lb != OTP_DIGEST_HEX)
    return false;
  for (size_t i = 0; i < OTP_DIGEST_HEX; i++)
    diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

otp_check_result otp_check(const otp_session *s, int length, const char *code,
                           const char *digest, int64_t now_ms) {
  if (!otp_code_well_formed(code, length))
    return OTP_CHECK_INVALID;
  if (!s->digest[0] || s->expires_ms <= now_ms)
    return OTP_CHECK_EXPIRED;
  return digest && digest_equal(s->digest, digest) ? OTP_CHECK_MATCH
                                                   : OTP_CHECK_WRONG;
}

static bool e164_ok(const char *e164) {
  if (!e164 || e164[0] != '+')
    return false;
  size_t n = 0;
  for (const char *p = e164 + 1; *p; p++, n++)
    if (*p < '0' || *p > '9' || n >= 15)
      return false;
  return n >= 1;
}

static const char hexdigits[] = "0123456789abcdef";

/* The pad (16 bytes) and MAC (8 bytes) a number is sealed with. */
static void seal_parts(const char *secret, size_t secret_len,
                       const char *conversation_id, const char *e164,
                       unsigned char pad[HMAC_SHA256_LEN],
                       unsigned char mac[HMAC_SHA256_LEN]) {
  char msg[256];
  int n = snprintf(msg, sizeof msg, "otp-phone-pad:%s", conversation_id);
  hmac_sha256_mac(secret, secret_len, msg, (size_t)n, pad);
  if (mac) {
    n = snprintf(msg, sizeof msg, "otp-phone-mac:%s:%s", conversation_id, e164);
    hmac_sha256_mac(secret, secret_len, msg, (size_t)n, mac);
  }
  explicit_bzero(msg, sizeof msg);
}

bool otp_phone_seal(const char *secret, size_t secret_len,
                    const char *conversation_id, const char *e164, char *out,
                    char *last2) {
  out[0] = '\0';
  last2[0] = '\0';
  if (!e164_ok(e164))
    return false;
  unsigned char pad[HMAC_SHA256_LEN], mac[HMAC_SHA256_LEN];
  unsigned char plain[OTP_PHONE_MAX] = {0};
  size_t len = strlen(e164);
  memcpy(plain, e164, len);
  seal_parts(secret, secret_len, conversation_id, e164, pad, mac);
  for (size_t i = 0; i < OTP_PHONE_MAX; i++) {
    unsigned char b = plain[i] ^ pad[i];
    out[2 * i] = hexdigits[b >> 4];
    out[2 * i + 1] = hexdigits[b & 15];
  }
  for (size_t i = 0; i < 8; i++) {
    out[32 + 2 * i] = hexdigits[mac[i] >> 4];
    out[32 + 2 * i + 1] = hexdigits[mac[i] & 15];
  }
  out[OTP_SEALED_HEX] = '\0';
  last2[0] = e164[len - (len >= 3 ? 2 : 1)];
  last2[1] = len >= 3 ? e164[len - 1] : '\0';
  last2[2] = '\0';
  explicit_bzero(plain, sizeof plain);
  explicit_bzero(pad, sizeof pad);
  return true;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

bool otp_phone_open(const char *secret, size_t secret_len,
                    const char *conversation_id, const char *sealed,
                    char *out) {
  out[0] = '\0';
  if (strnlen(sealed, OTP_SEALED_HEX + 1) != OTP_SEALED_HEX)
    return false;
  unsigned char raw[OTP_SEALED_HEX / 2];
  for (size_t i = 0; i < sizeof raw; i++) {
    int hi = hexval(sealed[2 * i]), lo = hexval(sealed[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    raw[i] = (unsigned char)(hi << 4 | lo);
  }
  unsigned char pad[HMAC_SHA256_LEN], mac[HMAC_SHA256_LEN];
  seal_parts(secret, secret_len, conversation_id, "", pad, NULL);
  char phone[OTP_PHONE_MAX + 1] = {0};
  for (size_t i = 0; i < OTP_PHONE_MAX; i++)
    phone[i] = (char)(raw[i] ^ pad[i]);
  bool ok = e164_ok(phone);
  if (ok) {
    seal_parts(secret, secret_len, conversation_id, phone, pad, mac);
    unsigned char diff = 0;
    for (size_t i = 0; i < 8; i++)
      diff |= (unsigned char)(mac[i] ^ raw[OTP_PHONE_MAX + i]);
    ok = diff == 0;
  }
  if (ok)
    memcpy(out, phone, OTP_PHONE_MAX + 1);
  explicit_bzero(phone, sizeof phone);
  explicit_bzero(pad, sizeof pad);
  return ok;
}

void otp_phone_limit_hash(const char *secret, size_t secret_len,
                          const char *e164, char *out) {
  char msg[64], hex[HMAC_SHA256_HEX_LEN + 1];
  int n = snprintf(msg, sizeof msg, "otp-limit-phone:%s", e164);
  if (n < 0 || (size_t)n >= sizeof msg)
    n = (int)sizeof msg - 1;
  keyed_hex(secret, secret_len, msg, (size_t)n, hex);
  memcpy(out, hex, OTP_LIMIT_HASH_HEX);
  out[OTP_LIMIT_HASH_HEX] = '\0';
  explicit_bzero(msg, sizeof msg);
}

static bool is_empty(const otp_session *s) {
  return s->passed == 0 && s->sends == 0 && s->checks == 0 &&
         s->expires_ms == 0 && !s->digest[0] && !s->phone[0] &&
         !s->phone_last2[0] && s->send_failures == 0 && !s->fell_back;
}

/* Only lowercase hex of exactly `len` digits, or "". */
static bool hex_field_ok(const char *s, size_t len) {
  size_t n = strnlen(s, len + 1);
  if (n == 0)
    return true;
  if (n != len)
    return false;
  for (size_t i = 0; i < n; i++)
    if (hexval(s[i]) < 0)
      return false;
  return true;
}

static bool digits_ok(const char *s, size_t max) {
  size_t n = strnlen(s, max + 1);
  if (n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

bool otp_state_format(const otp_session *s, char *out, size_t out_len) {
  if (out_len == 0)
    return false;
  out[0] = '\0';
  if (is_empty(s))
    return true;
  if (s->passed > 3 || s->sends < 0 || s->checks < 0 || s->expires_ms < 0 ||
      s->sends > 999 || s->checks > 999 || s->send_failures < 0 ||
      s->send_failures > 999 || !hex_field_ok(s->digest, OTP_DIGEST_HEX) ||
      !hex_field_ok(s->phone, OTP_SEALED_HEX) || !digits_ok(s->phone_last2, 2))
    return false;
  int n = snprintf(out, out_len, "%u,%d,%d,%lld,%s,%s,%s,%d,%d", s->passed,
                   s->sends, s->checks, (long long)s->expires_ms, s->digest,
                   s->phone, s->phone_last2, s->send_failures,
                   s->fell_back ? 1 : 0);
  if (n < 0 || (size_t)n >= out_len) {
    out[0] = '\0';
    return false;
  }
  return true;
}

/* Strict decimal of at most `max_digits` digits into *out. */
static bool parse_num(const char *p, size_t len, size_t max_digits,
                      int64_t *out) {
  if (len == 0 || len > max_digits)
    return false;
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (p[i] < '0' || p[i] > '9')
      return false;
    v = v * 10 + (p[i] - '0');
  }
  *out = v;
  return true;
}

bool otp_state_parse(const char *text, size_t len, otp_session *s) {
  memset(s, 0, sizeof *s);
  if (len == 0)
    return true;
  const char *part[9];
  size_t plen[9], k = 0, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i < len && text[i] == '\0')
      return false;
    if (i == len || text[i] == ',') {
      if (k >= 9)
        return false;
      part[k] = text + start;
      plen[k++] = i - start;
      start = i + 1;
    }
  }
  int64_t passed, sends, checks, expires, failures, fell_back;
  if (k != 9 || !parse_num(part[0], plen[0], 1, &passed) || passed > 3 ||
      !parse_num(part[1], plen[1], 3, &sends) ||
      !parse_num(part[2], plen[2], 3, &checks) ||
      !parse_num(part[3], plen[3], 15, &expires) || plen[4] > OTP_DIGEST_HEX ||
      plen[5] > OTP_SEALED_HEX || plen[6] > 2 ||
      !parse_num(part[7], plen[7], 3, &failures) ||
      !parse_num(part[8], plen[8], 1, &fell_back) || fell_back > 1)
    return false;
  s->passed = (unsigned)passed;
  s->sends = (int)sends;
  s->checks = (int)checks;
  s->expires_ms = expires;
  s->send_failures = (int)failures;
  s->fell_back = fell_back == 1;
  memcpy(s->digest, part[4], plen[4]);
  memcpy(s->phone, part[5], plen[5]);
  memcpy(s->phone_last2, part[6], plen[6]);
  if (!hex_field_ok(s->digest, OTP_DIGEST_HEX) ||
      !hex_field_ok(s->phone, OTP_SEALED_HEX) ||
      !digits_ok(s->phone_last2, 2)) {
    memset(s, 0, sizeof *s);
    return false;
  }
  return true;
}

size_t otp_passed_names(unsigned passed, const char *names[2]) {
  size_t n = 0;
  if (passed & OTP_PASSED_ANSWER)
    names[n++] = "answer";
  if (passed & OTP_PASSED_OTP)
    names[n++] = "otp";
  return n;
}
