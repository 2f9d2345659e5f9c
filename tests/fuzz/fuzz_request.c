/* Fuzz request body parsing for every endpoint kind (first byte). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  request_body req;
  request_status st = request_parse((request_kind)(data[0] % 7),
                                    (const char *)data + 1, size - 1, &req);
  if (st != REQUEST_OK && req.message[0] == '\0')
    abort(); /* every refusal explains itself */
  if (st == REQUEST_OK && !req.root)
    abort();
  request_free(&req);
  return 0;
}
