/*
 * crm_client: runs CRM calls without blocking their caller.
 *
 * Loops (issue 13): every event loop (service/loop) whose thread calls
 * crm_client_attach() gets its own curl multi handle, driven by that
 * loop's epoll set and timers (crm_loop). A call submitted on an attached
 * loop's thread runs on that loop, and its callback runs on that same
 * thread: never inside crm_client_submit() (even a call refused at once,
 * by the open breaker say, is called back from a zero-delay timer), so a
 * caller's step goes request -> CRM -> answer on one thread with no
 * hand-off. crm_client_start() also runs one internal loop thread: calls
 * submitted from any thread that is not an attached loop's (the
 * --check-crm path, tests) run there and are called back on it.
 * Connections to the CRM are kept alive and reused (per loop).
 *
 * Ownership: crm_client_submit() copies everything it needs (the request
 * and the answer); the copy of the answer is wiped once the transfer ends.
 *
 * Resilience (process-wide: the same for every loop): every call has a
 * budget (profile->budget_ms, counted from the submit) that no attempt,
 * retry, token wait or connection wait outlives; failed lookups (transport
 * error, unmapped status, unusable body) are retried
 * profile->lookup_retries times after 50..150 ms of jitter while the
 * budget allows; verifies are never retried (but for one retry after a 401
 * with a refreshed OAuth2 token).
 * Breaker: ONE for the whole process (crm_breaker), fed by the calls of
 * every loop: after breaker_failures consecutive failed calls it opens:
 * calls fail at once (result.ok = false) for breaker_open_ms, then one
 * probe call is let through (half-open); its success closes the breaker,
 * its failure opens it again. crm_client_known_down() and the
 * CRM_EVENT_BREAKER gauge are that one breaker.
 * OAuth2: ONE token for the process (crm_token): one fetch at a time runs
 * (on the loop that first needed it); calls needing a token, on any loop,
 * wait behind it (each until its own budget ends) and all go out with the
 * new token, or all fail when the fetch fails. The token URL may be
 * "{baseUrl}/..." (rendered at start against cfg->base_url). The token is
 * refreshed when refresh_margin_ms (at most half its lifetime) remains,
 * or after a 401: the call is then retried once with a fresh token (a
 * verify too: the refused attempt checked nothing); a second 401 is the
 * call's answer. The token lives in memory only.
 * Connections: max_connections is a process-wide cap, shared (not split)
 * by all loops (crm_gate): at most max_connections calls are on the wire
 * at once over every loop together (every call goes to the one CRM host).
 * A call that finds them all busy waits in its loop's FIFO queue; a
 * connection that frees goes to the call that has waited longest on any
 * loop. The wait counts against its budget and a call whose budget runs
 * out while waiting fails (a CRM error the breaker does not count). Each
 * attempt reports how long it waited (CRM_EVENT_QUEUE_WAIT, 0 when it did
 * not), so an undersized pool shows in /metrics. Idle kept-alive
 * connections are cached per loop, ceil(max_connections / cfg->loops)
 * each at most (a loop may still use up to max_connections at once).
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
#include "loop.h"

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
  /* How many loops will attach (0: one). Each loop's multi handle keeps
   * at most ceil(max_connections / loops) idle connections (the internal
   * loop too), so idle CRM connections stay near max_connections in all
   * rather than max_connections per loop. */
  long loops;
  /* Templates, mapping, auth, TLS, budget, retries and breaker; borrowed
   * until stop. NULL: crm_profile_reference(). */
  const crm_profile *profile;
  /* Optional, for metrics and the breaker's transition log lines. Called
   * on any loop thread, concurrently (it must be thread-safe), sometimes
   * with one of the client's locks held: it must not block nor call any
   * crm_client function. CRM_EVENT_BREAKER and CRM_EVENT_QUEUE_LENGTH are
   * reported in the order the state changed (the last report is the
   * state). */
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
 * Completion callback, called exactly once per accepted submission: on the
 * submitting thread's loop when it is attached, else on the internal CRM
 * thread; never inside crm_client_submit(). `result` and `info` are valid
 * only during the call.
 */
typedef void (*crm_client_done_fn)(void *user, const flow_crm_result *result,
                                   const crm_client_info *info);

/* Start the client and its internal loop thread. Returns false with a
 * reason in err. */
bool crm_client_start(const crm_client_config *cfg, char *err, size_t err_len);

/*
 * Gives l, the loop the calling thread runs (call it on that thread,
 * before or while it runs l), its own CRM instance: from now on calls
 * submitted on this thread run on l. After crm_client_start; one loop per
 * thread. False with a reason in err (not running, already attached, out
 * of memory).
 */
bool crm_client_attach(loop *l, char *err, size_t err_len);

/*
 * On an attached loop's thread: its calls still running end with ok =
 * false and CRM_FAIL_STOPPING (their callbacks run before this returns;
 * a submission they make is refused; a call whose request already went
 * out reports result->sent, so a verification the CRM may have checked is
 * never refunded) and the instance is freed; later
 * submissions from this thread go to the internal loop. Call it while l
 * still runs (from a task or callback on it), or else a little memory
 * may be left to the loop's pending tasks. No-op when not attached; not
 * from a completion callback.
 */
void crm_client_detach(void);

/*
 * Queue a call. Returns false (callback never called) when the client is
 * not running or out of memory, or the request cannot be built. `answer`
 * is used for VERIFY only. Any thread (see above for where it runs).
 */
bool crm_client_submit(const flow_crm_request *req, const char *answer,
                       crm_client_done_fn done, void *user);

/* True while the breaker is open and its openMs has not run out: a call
 * made now would fail at once without reaching the CRM. Any thread. */
bool crm_client_known_down(void);

/*
 * Stop the client. Every loop still attached is asked to detach (through
 * a task on it: those loops must still be running) and the internal
 * thread is joined: every call still running is finished with ok = false
 * before this returns, so every callback has run. Safe to call twice; not
 * from a completion callback nor from the internal thread.
 */
void crm_client_stop(void);

#endif
