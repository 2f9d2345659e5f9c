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
