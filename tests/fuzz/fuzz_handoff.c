/* Fuzz reading a keyed handoff code and digesting it. Invariants: an
 * accepted code is exactly 10 ASCII digits, a refused one leaves "", and
 * the digest is 64 lowercase hex digits that never contain the code. The
 * first 8 bytes also drive code making: any accepted draw is 10 digits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *raw = malloc(size + 1);
  if (!raw)
    return 0;
  memcpy(raw, data, size);
  raw[size] = '\0';
  char code[HANDOFF_CODE_DIGITS + 1], digest[HANDOFF_DIGEST_LEN + 1];
  if (handoff_code_normalise(raw, code)) {
    if (strlen(code) != HANDOFF_CODE_DIGITS ||
        strspn(code, "0123456789") != HANDOFF_CODE_DIGITS)
      abort();
    handoff_code_digest("fuzz-secret", 11, code, digest);
    if (strlen(digest) != HANDOFF_DIGEST_LEN ||
        strspn(digest, "0123456789abcdef") != HANDOFF_DIGEST_LEN ||
        strstr(digest, code))
      abort();
  } else if (code[0] != '\0') {
    abort();
  }
  if (size >= 8) {
    uint64_t bits;
    memcpy(&bits, data, 8);
    if (handoff_code_from_random(bits, code) &&
        strspn(code, "0123456789") != HANDOFF_CODE_DIGITS)
      abort();
  }
  free(raw);
  return 0;
}
