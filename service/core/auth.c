#include "auth.h"

#include <string.h>
#include <strings.h>

bool auth_equal_ct(const char *a, size_t a_len, const char *b, size_t b_len) {
  /* Walk the longer length so the work does not depend on where the
   * strings differ; out-of-range bytes compare as 0 against a length flag
   * that is folded in at the end. */
  size_t n = a_len > b_len ? a_len : b_len;
  volatile unsigned char diff = (unsigned char)(a_len != b_len);
  for (size_t i = 0; i < n; i++) {
    unsigned char x = i < a_len ? (unsigned char)a[i] : 0;
    unsigned char y = i < b_len ? (unsigned char)b[i] : 0;
    diff |= (unsigned char)(x ^ y);
  }
  return diff == 0;
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

/* Compare `candidate` against every key; no early exit. */
static bool matches_any(const char (*keys)[AUTH_KEY_MAX + 1], size_t count,
                        const char *candidate, size_t cand_len) {
  bool found = false;
  for (size_t k = 0; k < count; k++)
    found |= auth_equal_ct(keys[k], strlen(keys[k]), candidate, cand_len);
  return found;
}

static const char *skip_spaces(const char *s) {
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

bool auth_check(const char (*keys)[AUTH_KEY_MAX + 1], size_t key_count,
                const char *authorization, const char *x_api_key) {
  if (key_count == 0)
    return false;
  if (x_api_key && *x_api_key &&
      matches_any(keys, key_count, x_api_key, strlen(x_api_key)))
    return true;
  if (!authorization)
    return false;
  const char *v = skip_spaces(authorization);
  if (strncasecmp(v, "Bearer ", 7) == 0) {
    const char *tok = skip_spaces(v + 7);
    size_t len = strlen(tok);
    while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
      len--;
    return len > 0 && matches_any(keys, key_count, tok, len);
  }
  if (strncasecmp(v, "Basic ", 6) == 0) {
    char decoded[2 * AUTH_KEY_MAX + 2];
    if (!auth_base64_decode(skip_spaces(v + 6), decoded, sizeof decoded))
      return false;
    const char *colon = strchr(decoded, ':');
    bool ok = colon && colon[1] &&
              matches_any(keys, key_count, colon + 1, strlen(colon + 1));
    memset(decoded, 0, sizeof decoded);
    return ok;
  }
  return false;
}
