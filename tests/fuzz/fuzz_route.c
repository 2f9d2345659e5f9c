/* Fuzz route_parse: the first byte picks the method, the rest is the raw
 * path. Invariants: a match always has a template; an accepted ID passes
 * the ID check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const methods[] = {"GET", "POST", "DELETE", "PUT"};
  if (size == 0)
    return 0;
  char *path = malloc(size);
  if (!path)
    return 0;
  memcpy(path, data + 1, size - 1);
  path[size - 1] = '\0';
  route_match m;
  route_match_status st = route_parse(methods[data[0] % 4], path, &m);
  if (!m.template_path || !m.allow)
    abort();
  if (st == ROUTE_MATCH_OK && route_conversation_id_error(m.conversation_id) &&
      m.conversation_id[0] != '\0')
    abort();
  free(path);
  return 0;
}
