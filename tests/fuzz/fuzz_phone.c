/* Fuzz ANI normalisation and masking. Invariants: a usable number is '+'
 * and 8..15 digits; a mask keeps the length and shows at most 4 chars. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *raw = malloc(size + 1);
  if (!raw)
    return 0;
  memcpy(raw, data, size);
  raw[size] = '\0';
  char e164[PHONE_E164_MAX + 1];
  static const char *const codes[] = {"1", "34", "82"};
  for (size_t c = 0; c < 3; c++) {
    if (phone_normalise(raw, codes[c], e164, sizeof e164)) {
      size_t n = strlen(e164);
      if (e164[0] != '+' || n < 9 || n > 16)
        abort();
      for (size_t i = 1; i < n; i++)
        if (e164[i] < '0' || e164[i] > '9')
          abort();
    } else if (e164[0] != '\0') {
      abort();
    }
  }
  char masked[32];
  phone_mask(raw, masked, sizeof masked);
  size_t shown = 0;
  for (const char *p = masked; *p; p++)
    shown += *p != '*';
  if (shown > 4)
    abort();
  free(raw);
  return 0;
}
