/*
 * otp_send: sends a one-time code's SMS (SPEC §9) through the configured
 * otp.send operation, on the calling event loop like a CRM call: one curl
 * multi handle per loop (crm_loop), the request built from the operation's
 * templates (crm_template: {phone}, {code}, {language}, {serviceLine},
 * percent-encoded in a body sent as application/x-www-form-urlencoded,
 * each escaped for where it lands) and otp.auth. A send is never retried
 * (a retry could deliver two codes) and never outlives its timeout, but
 * for one case: with otp.auth oauth2 a 401 means the gateway took no
 * message, so the token is refreshed and the send made once more.
 *
 * otp.auth oauth2: the gateway's client-credentials token is a crm_token
 * of this module's (apart from the CRM's): fetched once for the whole
 * process (single flight, on the loop of the send that first needs it),
 * cached until refreshMarginMs before expiry, refreshed after a 401. A
 * send waits for it without blocking its loop, bounded by its own
 * timeout; a fetch that fails fails the sends that waited for it
 * (token_failed).
 *
 * Secrets: the rendered body holds the code; it is wiped with the job
 * (crm_http_request_free). Nothing here logs.
 */
#ifndef AUTHFLOW_OTP_SEND_H
#define AUTHFLOW_OTP_SEND_H

#include <stdbool.h>
#include <stddef.h>

#include "crm.h"
#include "loop.h"

typedef struct {
  const crm_operation *op; /* borrowed until otp_send_stop */
  const crm_auth *auth;    /* any kind; borrowed until the next init */
  long timeout_ms;         /* the whole send */
} otp_send_config;

/* How a send ended. */
typedef struct {
  bool ok;          /* an ok status came back */
  long http_status; /* 0 when no answer came */
  double latency_ms;
  bool token_failed; /* oauth2: no token could be had in time */
} otp_send_result;

typedef void (*otp_send_done_fn)(void *ctx, const otp_send_result *r);

/* Keep the configuration (before any loop attaches; again only when no
 * loop is attached). Forgets any token. */
void otp_send_init(const otp_send_config *cfg);

/* Give the calling loop thread its multi handle. False (err filled) when
 * it cannot be made. */
bool otp_send_attach(loop *l, char *err, size_t err_len);

/* On the loop's thread: sends still running end (ok false, their callbacks
 * run before this returns) and the handle is freed. */
void otp_send_detach(void);

/*
 * Send `code` to `phone` (E.164), the whole send bounded by timeout_ms
 * (at most the configured timeout). On true, done(ctx, result) is called
 * once, later, on this loop's thread. False (done never called) when the
 * thread has no handle or the request cannot be built. The caller wipes
 * its own copy of the code; this module's copy is wiped with the job.
 */
bool otp_send_submit(const char *phone, const char *code, const char *language,
                     const char *service_line, long timeout_ms,
                     otp_send_done_fn done, void *ctx);

#endif
