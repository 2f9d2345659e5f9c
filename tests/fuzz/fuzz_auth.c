/* Fuzz the Authorization header parser (Bearer/Basic/base64). The input is
 * the header value; a key can only match if the input carries it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char keys[1][AUTH_KEY_MAX + 1] = {"fuzz-key-123"};
  char *header = malloc(size + 1);
  if (!header)
    return 0;
  memcpy(header, data, size);
  header[size] = '\0';
  bool ok = auth_check(keys, 1, header, NULL);
  if (ok && strncmp(header, "Bearer", 6) != 0 &&
      strncmp(header, "bearer", 6) != 0 && strchr(header, ' ') == NULL)
    abort();
  char out[64];
  (void)auth_base64_decode(header, out, sizeof out);
  (void)auth_check(keys, 1, NULL, header);
  free(header);
  return 0;
}
