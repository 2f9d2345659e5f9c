/*
 * crm_client: runs CRM calls without blocking the HTTP server.
 *
 * One background thread owns a curl multi handle and runs every transfer
 * on it (curl_multi_poll, woken by curl_multi_wakeup when work arrives).
 * Connections to the CRM are kept alive and reused. Callers on any thread
 * submit a call and get a completion callback on the CRM thread.
 *
 * Ownership: crm_client_submit() copies everything it needs (the request
 * and the answer); the copy of the answer is wiped once the transfer ends.
 */
#ifndef AUTHFLOW_CRM_CLIENT_H
#define AUTHFLOW_CRM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

typedef struct {
  char base_url[520]; /* fits config's CONFIG_URL_MAX + 1 */
  long connect_timeout_ms;
  long timeout_ms;            /* whole transfer */
  const char *const *headers; /* "Name: value" lines, borrowed until stop */
  size_t header_count;
  long max_connections; /* per host */
} crm_client_config;

/*
 * Completion callback, called exactly once per accepted submission, on the
 * CRM thread. `result` is valid only during the call. `http_status` and
 * `latency_ms` are for logs and metrics.
 */
typedef void (*crm_client_done_fn)(void *user, const flow_crm_result *result,
                                   long http_status, double latency_ms);

/* Start the CRM thread. Returns false with a reason in err. */
bool crm_client_start(const crm_client_config *cfg, char *err, size_t err_len);

/*
 * Queue a call. Returns false (callback never called) when the client is
 * not running or out of memory. `answer` is used for VERIFY only.
 */
bool crm_client_submit(const flow_crm_request *req, const char *answer,
                       crm_client_done_fn done, void *user);

/* Stop the thread. Transfers still running are finished with ok = false
 * before it returns, so every callback has run. Safe to call twice; must
 * not be called from a completion callback (it joins the CRM thread). */
void crm_client_stop(void);

#endif
