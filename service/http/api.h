/*
 * api: the endpoints of SPEC §3 as plain functions, independent of the
 * HTTP server. It validates request bodies, runs a step through
 * store -> flow -> (CRM) -> store, and renders answers; domain errors
 * (store_status, validation failures) become HTTP statuses and
 * {"error","message"} bodies through api_reply, as in handoff_api and
 * report_api.
 *
 * Naming: a static helper whose name ends in `_or_reply` returns false
 * after it has already filled the error answer in *resp (the caller just
 * returns); a name starting `reply_` always fills it.
 *
 * Session steps run on an event loop (http's loops: store_async and
 * crm_client attached) and never block: api_handle() starts the step and
 * returns API_PENDING; the step then goes reserve script -> CRM call (when
 * the flow asks for one) -> commit script, each started from the previous
 * one's callback on the same thread, and finally fills the answer and calls
 * the caller's done function. The step holds the session lock in Redis in
 * between; api_step_abort() releases it if the request dies first.
 * The metrics and handoff-creation routes are answered at once with
 * blocking calls: http runs them on its offload thread, never on a loop.
 */
#ifndef AUTHFLOW_API_H
#define AUTHFLOW_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_reply.h"
#include "config.h"
#include "crm_client.h"
#include "flow.h"
#include "otp_api.h"
#include "request.h"
#include "route.h"
#include "store.h"
#include "store_async.h"

/* Called once a pending step has filled its answer (on the loop's
 * thread, never inside api_handle()). */
typedef void (*api_done_fn)(void *ctx);

/* Per-request state of a session step. Zero-initialise before use; it
 * must stay in place (not be moved or freed) until the step is done. */
typedef struct {
  char conversation_id[FLOW_CONVERSATION_ID_MAX + 1];
  char token[STORE_TOKEN_MAX + 1];
  int64_t started_ms; /* loop_now_ms() at arrival: the budget's start */
  bool lock_held;     /* we hold the session's lock in Redis */
  bool is_start;
  flow_state state_before;
  const config_service_line *line;
  flow_event_kind kind;             /* what the step is doing */
  request_body req;                 /* the parsed body, until planned */
  bool has_req;                     /* req holds a parsed body */
  flow_session session;             /* start: the new session's fields;
                                       others: as the reserve found it */
  flow_step planned;                /* what the flow planned */
  flow_step finished;               /* what the commit writes */
  flow_crm_request crm;             /* what to ask the CRM */
  char answer[FLOW_ANSWER_MAX + 1]; /* VERIFY only; wiped once submitted */
  bool relocking;                   /* the commit is the lockout rewrite */
  store_result store;               /* the store call in flight */
  otp_api_send_state otp;           /* a one-time code's send (SPEC §9) */
  api_response *resp;               /* where the answer goes */
  api_done_fn done;
  void *done_ctx;
  void *readyz_next; /* readyz: the next request waiting for its PING */
} api_step;

typedef enum {
  API_RESPOND = 0, /* resp is ready */
  API_PENDING,     /* the step goes on; done(ctx) when resp is ready */
} api_status;

/* Keep `cfg` (borrowed, must outlive the server). */
void api_init(const config *cfg);

/* readyz answers 503 once draining (SIGTERM) has begun. */
void api_set_draining(bool draining);

/*
 * Handle a request whose route matched (status ROUTE_MATCH_OK) and whose
 * caller has been authorised. `body` is the request body (may be NULL when
 * len 0); the caller wipes it afterwards (it may hold a security answer):
 * what the step needs later it has copied. Fills *resp (caller frees with
 * api_response_free) and returns API_RESPOND, or returns API_PENDING and
 * calls done(ctx) once *resp is filled. `step` and `resp` must stay valid
 * until then. Session routes must be called on an event loop thread.
 */
api_status api_handle(const route_match *route, const char *body,
                      size_t body_len, api_step *step, api_response *resp,
                      api_done_fn done, void *ctx);

/* A failed CRM call is logged (warn; operation, reason, status, latency,
 * attempts; never the value asked about), repeats of one reason
 * rate-limited: the first API_CRM_LOG_BURST per API_CRM_LOG_WINDOW_MS,
 * then a count of those left out on the next line written. */
#define API_CRM_LOG_BURST 3
#define API_CRM_LOG_WINDOW_MS 5000

/* Release the session lock if the step still holds it (the request ended
 * before finishing). Wipes the answer. */
void api_step_abort(api_step *step);

/* Frees the calling thread's session-answer buffer (each session answer
 * is rendered in a buffer its thread keeps): a loop calls it as it
 * stops. */
void api_release_thread(void);

#endif
