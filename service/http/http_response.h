/*
 * http_response: an api_response turned into a libmicrohttpd response,
 * with the headers every answer carries.
 *
 * Bodies: a JSON body is written as one line ended by a newline (so `curl`
 * output ends cleanly; JSON parsers ignore it); a text body (metrics, CSV,
 * the dashboard, the pre-rendered session answer) is sent as it is. Every
 * body buffer is wiped before it is freed, since an answer may carry a
 * handoff code or a customer's name.
 *
 * Headers: Content-Type, X-Request-Id, Cache-Control: no-store,
 * X-Content-Type-Options: nosniff, X-Frame-Options: DENY, a
 * Content-Security-Policy on the one HTML page (the dashboard), Allow on a
 * 405, WWW-Authenticate on every 401 (RFC 9110 §11.6.1),
 * Content-Disposition when the answer names one (CSV downloads), and
 * Retry-After when it sets one (a 429).
 */
#ifndef AUTHFLOW_HTTP_RESPONSE_H
#define AUTHFLOW_HTTP_RESPONSE_H

#include <microhttpd.h>

#include "api_reply.h"

/* Turn a JSON body into its text now (on the thread that made it), so
 * the loop that sends it only copies bytes. Out of memory leaves it as it
 * was. */
void http_response_render(api_response *resp);

/* The response for `resp`, which is consumed (its buffers freed or handed
 * over), or NULL when out of memory. The caller queues and destroys it. */
struct MHD_Response *http_response_make(api_response *resp,
                                        const char *request_id);

#endif
