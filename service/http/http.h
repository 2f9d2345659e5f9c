/*
 * http: the libmicrohttpd servers, one per event loop.
 *
 * Runs config_loop_count() loops (loop_pool), each a thread owning one
 * libmicrohttpd daemon in external-epoll mode (all on the one port with
 * SO_REUSEPORT), the loop's store_async connection and its crm_client
 * instance. Each request's context is made on the first handler call and
 * freed only in the completed callback. It authenticates, reads bodies into
 * a capped buffer (413 past the limit, checked against Content-Length
 * before any of the body is read), checks Content-Type (415), and hands
 * complete requests to api. A step that api runs asynchronously (Redis,
 * the CRM) suspends the connection on its loop; api's done callback
 * resumes it on the same thread. Reports, the dashboard, /metrics and
 * handoff creation are suspended and handed to the offload thread, whose
 * resume is posted back to the connection's own loop. No loop waits for
 * Redis, the CRM or a report.
 *
 * Every response carries X-Request-Id (taken from X-Request-Id or
 * ININ-Correlation-Id when those are sane, generated otherwise) and
 * Cache-Control: no-store. Each finished request logs one line.
 *
 * Shutdown order (main.c's drain on SIGTERM/SIGINT relies on it):
 *   1. api_set_draining(true)   readyz answers 503, so the load balancer
 *                               stops sending new callers here;
 *   2. http_quiesce()           the listening socket closes; requests in
 *                               flight go on;
 *   3. http_wait_idle(drain)    wait for them to finish;
 *   4. crm_client_stop()        every loop's CRM calls still running are
 *                               finished as CRM failures; each step then
 *                               commits and is answered on its loop; a step
 *                               that submits after this gets the same
 *                               failure (a refused submission);
 *   5. http_wait_idle(1 s)      again, if step 3 timed out, so those
 *                               answers go out;
 *   6. http_stop()              on each loop: Redis operations still
 *                               pending fail (503) and resume their
 *                               connections, the daemon stops and closes
 *                               what is left (on_completed releases any
 *                               session lock); then the loops stop.
 * crm_client_stop must come before http_stop: stopping the daemon with a
 * connection still suspended is a libmicrohttpd error, and a CRM callback
 * arriving after http_stop would resume a freed connection. The config
 * given to http_start must outlive http_stop.
 */
#ifndef AUTHFLOW_HTTP_H
#define AUTHFLOW_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Start serving with `cfg` (borrowed; must outlive http_stop). Returns
 * false with a reason in err. */
bool http_start(const config *cfg, char *err, size_t err_len);

/* The port actually bound (useful with port 0). */
int http_port(void);

/* Stop accepting new connections; requests in flight go on. */
void http_quiesce(void);

/* Wait up to timeout_ms for requests in flight to finish. True if none
 * remain. */
bool http_wait_idle(int timeout_ms);

/* Stop the daemon and close every connection. */
void http_stop(void);

#endif
