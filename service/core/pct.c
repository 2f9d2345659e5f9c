#include "pct.h"

int pct_hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static pct_status fail(pct_status st, char *out, size_t out_len) {
  if (out_len > 0)
    out[0] = '\0';
  return st;
}

pct_status pct_decode(const char *in, size_t n, int flags, char *out,
                      size_t out_len) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c == '+' && (flags & PCT_PLUS_IS_SPACE)) {
      c = ' ';
    } else if (c == '%') {
      int hi = i + 1 < n ? pct_hex_value(in[i + 1]) : -1;
      int lo = hi >= 0 && i + 2 < n ? pct_hex_value(in[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return fail(PCT_BAD_ESCAPE, out, out_len);
      if (hi == 0 && lo == 0)
        return fail(PCT_NUL, out, out_len);
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (o + 1 >= out_len)
      return fail(PCT_TOO_LONG, out, out_len);
    out[o++] = c;
  }
  if (out_len == 0)
    return PCT_TOO_LONG;
  out[o] = '\0';
  return PCT_OK;
}
