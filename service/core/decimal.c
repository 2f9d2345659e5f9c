#include "decimal.h"

size_t decimal_format(char *out, long long v) {
  char digits[DECIMAL_MAX];
  size_t n = 0;
  /* In unsigned arithmetic, so LLONG_MIN negates without overflow. */
  unsigned long long u =
      v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do {
    digits[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u > 0);
  size_t len = 0;
  if (v < 0)
    out[len++] = '-';
  while (n > 0)
    out[len++] = digits[--n];
  out[len] = '\0';
  return len;
}
