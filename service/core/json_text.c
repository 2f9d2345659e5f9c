#include "json_text.h"

#include "decimal.h"

#include <string.h>

size_t json_text_utf8_len(const unsigned char *s, size_t left) {
  size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) {
    n = 2;
  } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
    n = 3;
    if (s[0] == 0xe0)
      lo = 0xa0; /* overlong */
    else if (s[0] == 0xed)
      hi = 0x9f; /* surrogates */
  } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    n = 4;
    if (s[0] == 0xf0)
      lo = 0x90; /* overlong */
    else if (s[0] == 0xf4)
      hi = 0x8f; /* above U+10FFFF */
  } else {
    return 0;
  }
  if (left < n || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  return n;
}

/* The escape of a byte that needs one, into esc (7 bytes); its length, or
 * 0 when `c` is copied as it is. */
static size_t escape_of(unsigned char c, char *esc) {
  static const char hex[] = "0123456789ABCDEF";
  static const char short_form[0x20] = {
      ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
  if (c == '"' || c == '\\') {
    esc[0] = '\\';
    esc[1] = (char)c;
    return 2;
  }
  if (c >= 0x20)
    return 0;
  if (short_form[c]) {
    esc[0] = '\\';
    esc[1] = short_form[c];
    return 2;
  }
  memcpy(esc, "\\u00", 4);
  esc[4] = hex[c >> 4];
  esc[5] = hex[c & 15];
  return 6;
}

bool json_text_string(buf *b, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s), run = 0; /* bytes of p[i - run .. i) to copy */
  buf_add(b, "\"", 1);
  for (size_t i = 0; i < n;) {
    char esc[8];
    size_t e = escape_of(p[i], esc);
    if (e > 0) {
      buf_add(b, p + i - run, run);
      buf_add(b, esc, e);
      run = 0;
      i++;
      continue;
    }
    size_t k = p[i] < 0x80 ? 1 : json_text_utf8_len(p + i, n - i);
    if (k == 0)
      return false;
    run += k;
    i += k;
  }
  buf_add(b, p + n - run, run);
  return buf_add(b, "\"", 1) == BUF_OK;
}

buf_status json_text_int(buf *b, long long v) {
  char digits[DECIMAL_MAX];
  return buf_add(b, digits, decimal_format(digits, v));
}
