/*
 * crm_client: runs CRM calls without blocking the HTTP server.
 *
 * One background thread owns a curl multi handle and runs every transfer
 * on it, driving curl's multi socket API on an epoll set and woken
 * through an eventfd when work arrives (crm_loop).
 * Connections to the CRM are kept alive and reused. Callers on any thread
 * submit a call and get a completion callback on the CRM thread.
 *
 * Ownership: crm_client_submit() copies everything it needs (the request
 * and the answer); the copy of the answer is wiped once the transfer ends.
 *
 * Resilience, all on the CRM thread: every call has a budget
 * (profile->budget_ms) that no attempt, retry or token wait outlives;
 * failed lookups (transport error, unmapped status, unusable body) are
 * retried profile->lookup_retries times after 50..150 ms of jitter while
 * the budget allows; verifies are never retried (but for one retry after a
 * 401 with a refreshed OAuth2 token). After breaker_failures consecutive
 * failed calls the breaker opens: calls fail at once (result.ok = false)
 * for breaker_open_ms, then one probe call is let through (half-open); its
 * success closes the breaker, its failure opens it again.
 * OAuth2: one token fetch at a time runs on the same multi handle; calls
 * needing a token queue behind it (each until its own budget ends) and all
 * go out with the new token, or all fail when the fetch fails. The token
 * URL may be "{baseUrl}/..." (rendered at start against cfg->base_url).
 * The token is refreshed when refresh_margin_ms (at most half its
 * lifetime) remains, or after a 401: the call is then retried once with a
 * fresh token (a verify too: the refused attempt checked nothing); a
 * second 401 is the call's answer. The token lives in memory only.
 * Connections: at most max_connections calls are on the wire at once
 * (every call goes to the one CRM host). A call that finds them all busy
 * waits in a FIFO queue for the next free one; the wait counts against its
 * budget (the deadline is fixed at submit) and a call whose budget runs
 * out while waiting fails (a CRM error the breaker does not count). Each
 * attempt reports how long it waited (CRM_EVENT_QUEUE_WAIT, 0 when it did
 * not), so an undersized pool shows in /metrics.
 * Transport: the profile's TLS options and proxy apply to every transfer,
 * the token fetch included; only the profile decides about proxies
 * (http_proxy and NO_PROXY from the environment are ignored).
 */
#ifndef AUTHFLOW_CRM_CLIENT_H
#define AUTHFLOW_CRM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "crm.h"
#include "flow.h"

/* Circuit breaker states (also the /metrics gauge value). */
typedef enum {
  CRM_BREAKER_CLOSED = 0,
  CRM_BREAKER_OPEN = 1,
  CRM_BREAKER_HALF_OPEN = 2,
} crm_breaker_state;

typedef enum {
  CRM_EVENT_BREAKER,       /* value: the new crm_breaker_state */
  CRM_EVENT_RETRY,         /* a lookup attempt is being retried */
  CRM_EVENT_TOKEN_FETCH,   /* a token fetch ended; value: 1 got one, 0 failed */
  CRM_EVENT_FAST_FAIL,     /* refused by the open breaker */
  CRM_EVENT_QUEUE_WAIT,    /* an attempt got a connection; value: µs it waited
                              for one (0: none was busy) */
  CRM_EVENT_QUEUE_LENGTH,  /* value: calls now waiting for a connection */
  CRM_EVENT_QUEUE_EXPIRED, /* a call's budget ran out while it waited */
} crm_client_event;

typedef struct {
  char base_url[520]; /* fits config's CONFIG_URL_MAX + 1 */
  long connect_timeout_ms;
  long timeout_ms;            /* whole transfer */
  const char *const *headers; /* "Name: value" lines, borrowed until stop */
  size_t header_count;
  long max_connections; /* calls on the wire at once (>= 1); more wait */
  /* Templates, mapping, auth, TLS, budget, retries and breaker; borrowed
   * until stop. NULL: crm_profile_reference(). */
  const crm_profile *profile;
  /* Optional, called on the CRM thread (must not block): for metrics and
   * the breaker's transition log lines. */
  void (*on_event)(crm_client_event event, long value);
} crm_client_config;

/* Why a call failed (the client never logs: its caller does). */
typedef enum {
  CRM_FAIL_NONE = 0,     /* result->ok */
  CRM_FAIL_REFUSED,      /* connection refused or reset, host unknown */
  CRM_FAIL_TIMEOUT,      /* the attempt ran out of time */
  CRM_FAIL_TRANSPORT,    /* another network or TLS error */
  CRM_FAIL_HTTP_STATUS,  /* a status the connector gives no meaning */
  CRM_FAIL_UNPARSEABLE,  /* a 2xx answer that does not map */
  CRM_FAIL_BREAKER_OPEN, /* not sent: the breaker is open */
  CRM_FAIL_TOKEN,        /* no OAuth2 token could be had */
  CRM_FAIL_BUDGET,       /* the budget ran out before an attempt */
  CRM_FAIL_STOPPING,     /* the client is stopping */
  CRM_FAIL_INTERNAL,     /* out of memory */
} crm_fail_reason;

/* Wire name of a reason: "refused", "timeout", ... ("none"). */
const char *crm_fail_reason_name(crm_fail_reason r);

/* How a call went, for logs and metrics. */
typedef struct {
  crm_fail_reason reason; /* of the last attempt; NONE when ok */
  long http_status;       /* of the last attempt; 0 when none came */
  int attempts;           /* attempts sent (0: none went out) */
  double latency_ms;      /* submit to completion */
} crm_client_info;

/*
 * Completion callback, called exactly once per accepted submission, on the
 * CRM thread. `result` and `info` are valid only during the call.
 */
typedef void (*crm_client_done_fn)(void *user, const flow_crm_result *result,
                                   const crm_client_info *info);

/* Start the CRM thread. Returns false with a reason in err. */
bool crm_client_start(const crm_client_config *cfg, char *err, size_t err_len);

/*
 * Queue a call. Returns false (callback never called) when the client is
 * not running or out of memory. `answer` is used for VERIFY only.
 */
bool crm_client_submit(const flow_crm_request *req, const char *answer,
                       crm_client_done_fn done, void *user);

/* True while the breaker is open and its openMs has not run out: a call
 * made now would fail at once without reaching the CRM. Any thread. */
bool crm_client_known_down(void);

/* Stop the thread. Transfers still running are finished with ok = false
 * before it returns, so every callback has run. Safe to call twice; must
 * not be called from a completion callback (it joins the CRM thread). */
void crm_client_stop(void);

#endif
