/*
 * http: the libmicrohttpd server.
 *
 * Owns the MHD daemon (a pool of polling threads, suspend/resume enabled)
 * and each request's context: made on the first handler call, freed only
 * in the completed callback. It authenticates, reads bodies into a capped
 * buffer (413 past the limit, checked against Content-Length before any of
 * the body is read), checks Content-Type (415), and hands complete
 * requests to api. When api needs the CRM, the connection is suspended,
 * the call runs on crm_client's thread, and the connection is resumed with
 * the result; no server thread waits for the CRM.
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
 *   4. crm_client_stop()        every step still suspended on the CRM is
 *                               finished as a CRM failure, which resumes its
 *                               connection and answers it; a step that
 *                               submits after this gets the same failure
 *                               at once (a refused submission);
 *   5. http_wait_idle(1 s)      again, if step 3 timed out, so those
 *                               answers go out;
 *   6. http_stop()              the daemon stops and closes what is left;
 *                               on_completed releases any session lock.
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
