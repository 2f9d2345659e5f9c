/*
 * crm: the enterprise CRM's REST API as requests and answers (pure, no I/O).
 *
 * Builds the HTTP request for a flow_crm_request and maps the HTTP answer
 * back to a flow_crm_result. The transport is crm_client. Targets the
 * reference CRM API of SPEC §4:
 *   GET  {base}/customers?phone=%2B13175550116   (customerId=, accountNumber=,
 *                                                 trackingNumber= likewise)
 *     -> 200 {"customers":[{"id":"100234","name":"Ana García"}, ...]}
 *   POST {base}/customers/{id}/verify  {"answer":"1234"}
 *     -> 200 {"verified":true|false}
 * Values are escaped for where they go (query or path segment, JSON string).
 * Any status other than 200, or a body that does not have that shape, maps
 * to result.ok = false (a CRM error).
 */
#ifndef AUTHFLOW_CRM_H
#define AUTHFLOW_CRM_H

#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

typedef struct {
  char method[8]; /* "GET" or "POST" */
  char *url;      /* owned, heap */
  char *body;     /* owned, heap; NULL for GET. Holds the security answer
                     for VERIFY: crm_http_request_free() wipes it. */
  size_t body_len;
} crm_http_request;

/*
 * Build the request. `base_url` has no trailing '/'. `answer` is used for
 * VERIFY only. On success the caller owns out's buffers and must call
 * crm_http_request_free(). Returns false (nothing allocated) on allocation
 * failure or an unusable request.
 */
bool crm_build_request(const char *base_url, const flow_crm_request *req,
                       const char *answer, crm_http_request *out);

/* Free and wipe (the body may hold a security answer). Safe on zeroed. */
void crm_http_request_free(crm_http_request *req);

/*
 * Map an answer. `http_status` 0 means the transfer failed (timeout,
 * connection refused). `body` need not be NUL-terminated. Never fails: an
 * unusable answer is result.ok = false. A lookup's customer id may be a JSON
 * string or integer; ids and names that do not fit are a CRM error.
 */
void crm_parse_response(const flow_crm_request *req, long http_status,
                        const char *body, size_t body_len,
                        flow_crm_result *out);

/* Query parameter name of a lookup type: "phone", "customerId", ... */
const char *crm_lookup_param(flow_identifier_type type);

#endif
