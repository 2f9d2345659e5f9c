/* Fuzz CRM answer mapping: byte 0 picks lookup/verify, byte 1 the HTTP
 * status, the rest is the body. A mapped match must carry an id. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const long statuses[] = {200, 200, 200, 0, 404, 500, 503, 401};
  if (size < 2)
    return 0;
  flow_crm_request req = {0};
  req.kind = (data[0] & 1) ? FLOW_CRM_VERIFY : FLOW_CRM_LOOKUP;
  req.lookup_type = FLOW_ID_PHONE;
  strcpy(req.lookup_value, "+13175550116");
  strcpy(req.customer_id, "100234");
  flow_crm_result res;
  memset(&res, 0xa5, sizeof res);
  crm_parse_response(&req, statuses[data[1] % 8], (const char *)data + 2,
                     size - 2, &res);
  if (res.ok && req.kind == FLOW_CRM_LOOKUP) {
    if (res.match_count < 0)
      abort();
    if (res.match_count >= 1 && res.customer_id[0] == '\0')
      abort();
    if (memchr(res.customer_id, '\0', sizeof res.customer_id) == NULL ||
        memchr(res.customer_name, '\0', sizeof res.customer_name) == NULL)
      abort();
  }
  return 0;
}
