/*
 * handoff: code making, reading and digests. See handoff.h.
 */
#include "handoff.h"

#include <stdio.h>
#include <string.h>

#define CODE_SPACE 10000000000ULL /* 10^HANDOFF_CODE_DIGITS */

bool handoff_code_from_random(uint64_t r, char out[HANDOFF_CODE_DIGITS + 1]) {
  /* 2^64 mod 10^10: the top `rem` values of the 64-bit range form an
   * incomplete last cycle that would make the low codes slightly likelier,
   * so they are refused. */
  const uint64_t rem = (UINT64_MAX % CODE_SPACE + 1) % CODE_SPACE;
  out[0] = '\0';
  if (rem != 0 && r > UINT64_MAX - rem)
    return false;
  uint64_t v = r % CODE_SPACE;
  for (int i = HANDOFF_CODE_DIGITS - 1; i >= 0; i--) {
    out[i] = (char)('0' + v % 10);
    v /= 10;
  }
  out[HANDOFF_CODE_DIGITS] = '\0';
  return true;
}

bool handoff_code_normalise(const char *raw,
                            char out[HANDOFF_CODE_DIGITS + 1]) {
  size_t n = 0;
  out[0] = '\0';
  if (!raw)
    return false;
  for (const char *p = raw; *p; p++) {
    if (*p == ' ' || *p == '-')
      continue;
    if (*p < '0' || *p > '9' || n >= HANDOFF_CODE_DIGITS) {
      memset(out, 0, HANDOFF_CODE_DIGITS + 1);
      return false;
    }
    out[n++] = *p;
  }
  out[n] = '\0';
  if (n != HANDOFF_CODE_DIGITS) {
    memset(out, 0, HANDOFF_CODE_DIGITS + 1);
    return false;
  }
  return true;
}

/* HMAC of "<prefix><value>"; the message buffer is wiped afterwards since
 * it held a code or a full number. */
static void digest(const char *secret, size_t secret_len, const char *prefix,
                   const char *value, char out[HANDOFF_DIGEST_LEN + 1]) {
  char msg[320]; /* a prefix and a code, a number or an API key */
  int n = snprintf(msg, sizeof msg, "%s%s", prefix, value);
  size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
  hmac_sha256_hex(secret, secret_len, msg, len, out);
  volatile char *v = msg;
  for (size_t i = 0; i < sizeof msg; i++)
    v[i] = 0;
}

void handoff_code_digest(const char *secret, size_t secret_len,
                         const char *code, char out[HANDOFF_DIGEST_LEN + 1]) {
  digest(secret, secret_len, "code:", code, out);
}

void handoff_number_digest(const char *secret, size_t secret_len,
                           const char *e164, char out[HANDOFF_DIGEST_LEN + 1]) {
  digest(secret, secret_len, "ani:", e164, out);
}

void handoff_key_id(const char *secret, size_t secret_len, const char *key,
                    char out[HANDOFF_DIGEST_LEN + 1]) {
  digest(secret, secret_len, "key:", key, out);
}
