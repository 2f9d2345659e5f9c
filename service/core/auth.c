#include "auth.h"

#include <string.h>
#include <strings.h>

#include "hmac.h"

/* SHA-256 of s[0..n): 32 bytes whatever n is. */
static void key_digest(const char *s, size_t n,
                       unsigned char out[AUTH_DIGEST_LEN]) {
  hmac_sha256(s, n, out);
}

bool auth_digest_equal(const unsigned char a[AUTH_DIGEST_LEN],
                       const unsigned char b[AUTH_DIGEST_LEN]) {
  volatile unsigned char diff = 0;
  for (size_t i = 0; i < AUTH_DIGEST_LEN; i++)
    diff |= (unsigned char)(a[i] ^ b[i]);
  return diff == 0;
}

bool auth_equal_ct(const char *a, size_t a_len, const char *b, size_t b_len) {
  /* Fixed-size digests, so the comparison itself walks 32 bytes whatever
   * the lengths: no loop bound depends on which string is longer. */
  unsigned char da[AUTH_DIGEST_LEN], db[AUTH_DIGEST_LEN];
  key_digest(a, a_len, da);
  key_digest(b, b_len, db);
  bool same = auth_digest_equal(da, db);
  explicit_bzero(da, sizeof da);
  explicit_bzero(db, sizeof db);
  return same;
}

static int b64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

bool auth_base64_decode(const char *in, char *out, size_t out_len) {
  size_t o = 0;
  unsigned acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; in[i] && in[i] != '='; i++) {
    int v = b64_value((unsigned char)in[i]);
    if (v < 0)
      return false;
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o + 1 >= out_len)
        return false;
      out[o++] = (char)((acc >> bits) & 0xff);
    }
  }
  /* Only '=' padding may follow, at most two of them. */
  size_t pad = 0;
  for (; in[i]; i++, pad++)
    if (in[i] != '=' || pad >= 2)
      return false;
  if (bits >= 6) /* a dangling sextet is not valid base64 */
    return false;
  if (o >= out_len)
    return false;
  out[o] = '\0';
  return true;
}

/*
 * The index of the key `candidate` equals, or -1. The candidate is hashed
 * once and every key's digest is compared in full, with no early exit and
 * no branch on a match, so the time depends on the candidate's length and
 * on the configured keys, never on how much of a key the candidate shares
 * or on where a shorter candidate stops.
 */
static int find_key(const char (*keys)[AUTH_KEY_MAX + 1], size_t count,
                    const char *candidate, size_t cand_len) {
  unsigned char want[AUTH_DIGEST_LEN], have[AUTH_DIGEST_LEN];
  key_digest(candidate, cand_len, want);
  unsigned found = 0, index = 0;
  for (size_t k = 0; k < count; k++) {
    key_digest(keys[k], strnlen(keys[k], AUTH_KEY_MAX), have);
    /* all ones for the first match, else zero */
    unsigned hit = (unsigned)auth_digest_equal(want, have) & ~found & 1u;
    unsigned mask = 0u - hit;
    index |= mask & (unsigned)k;
    found |= hit;
  }
  explicit_bzero(want, sizeof want);
  explicit_bzero(have, sizeof have);
  return found ? (int)index : -1;
}

static const char *skip_spaces(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

int auth_find(const char (*keys)[AUTH_KEY_MAX + 1], size_t key_count,
              const char *authorization, const char *x_api_key) {
  if (key_count == 0)
    return -1;
  if (x_api_key && *x_api_key) {
    int k = find_key(keys, key_count, x_api_key, strlen(x_api_key));
    if (k >= 0)
      return k;
  }
  if (!authorization)
    return -1;
  const char *v = skip_spaces(authorization);
  if (strncasecmp(v, "Bearer ", 7) == 0) {
    const char *tok = skip_spaces(v + 7);
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
      len--;
    return len > 0 ? find_key(keys, key_count, tok, len) : -1;
  }
  if (strncasecmp(v, "Basic ", 6) == 0) {
    char decoded[2 * AUTH_KEY_MAX + 2];
    if (!auth_base64_decode(skip_spaces(v + 6), decoded, sizeof decoded))
      return -1;
    const char *colon = strchr(decoded, ':');
    int k = colon && colon[1]
                ? find_key(keys, key_count, colon + 1, strlen(colon + 1))
                : -1;
    explicit_bzero(decoded, sizeof decoded);
    return k;
  }
  return -1;
}

bool auth_check(const char (*keys)[AUTH_KEY_MAX + 1], size_t key_count,
                const char *authorization, const char *x_api_key) {
  return auth_find(keys, key_count, authorization, x_api_key) >= 0;
}
