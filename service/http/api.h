/*
 * api: the endpoints of SPEC §3 as plain functions, independent of the
 * HTTP server. It validates request bodies, runs a step through
 * store -> flow -> (CRM) -> store, and renders answers. This is the one
 * layer that turns domain errors (store_status, validation failures) into
 * HTTP statuses and {"error","message"} bodies: report_api uses its
 * api_error and api_reply_store_error rather than its own.
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

#include "config.h"
#include "crm_client.h"
#include "flow.h"
#include "request.h"
#include "route.h"
#include "store.h"
#include "store_async.h"

typedef struct {
  unsigned status;
  json_t *body; /* owned by the response; NULL for no body (204) */
  char *text;   /* owned; a body already rendered as text (metrics, the
                   session answer), or NULL */
  size_t text_len;
  const char *content_type; /* static; for `text` */
  const char *allow;        /* static; set on 405 */
  /* "" or the Content-Disposition header (report files) */
  char content_disposition[256];
  /* The body is the file behind file_fd (file_size bytes from offset 0),
   * when has_file; owned by the response (closed by api_response_free or
   * by libmicrohttpd once sent). Report files are sent this way, so a
   * loop only ever copies bytes from a file rendered elsewhere. */
  bool has_file;
  int file_fd;
  uint64_t file_size;
  /* A constant body (the dashboard page), never freed, or NULL. */
  const char *static_text;
  size_t static_len;
  /* For the request log: what happened, never PII. */
  const char *outcome; /* static wire name, or NULL */
  const char *error;   /* static error code, or NULL */
} api_response;

/* Called once a pending step has filled its answer (on the loop's
 * thread, never inside api_handle()). */
typedef void (*api_done_fn)(void *ctx);

/* Per-request state of a session step. Zero-initialise before use; it
 * must stay in place (not be moved or freed) until the step is done. */
typedef struct {
  char conversation_id[FLOW_CONVERSATION_ID_MAX + 1];
  char token[STORE_TOKEN_MAX + 1];
  bool lock_held; /* we hold the session's lock in Redis */
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
  api_response *resp;               /* where the answer goes */
  api_done_fn done;
  void *done_ctx;
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

/* Fill a 400 invalid_request whose message names the field ("<key>
 * <problem>"). Returns false, so a `..._or_reply` helper can return it. */
bool api_reply_field_error(api_response *resp, const char *key,
                           const char *problem);

/* Parse a body with request_parse(); on refusal fill the 400
 * (invalid_json or invalid_request with the parser's message) and return
 * false. *req must be freed with request_free either way. */
bool api_parse_request_or_reply(request_kind kind, const char *body, size_t len,
                                request_body *req, api_response *resp);

/* Wall-clock milliseconds (sessions' and handoffs' times). */
int64_t api_now_ms(void);

/* Fill an error answer: {"error":code,"message":message}. */
void api_error(api_response *resp, unsigned status, const char *code,
               const char *message);

/* Which data a failed store call was after: it names the store in the
 * message and the log line. */
typedef enum {
  API_STORE_SESSIONS = 0,
  API_STORE_REPORTS,
  API_STORE_HANDOFFS
} api_store_subject;

/*
 * The one map from a failed store call to its answer (SPEC §3), used by
 * api and report_api alike. Always fills *resp:
 *
 *   STORE_NOT_FOUND    404 not_found
 *   STORE_BUSY         409 busy
 *   STORE_LOCK_LOST    409 busy (the step outlived its lock; retry)
 *   STORE_WRONG_STATE  409 wrong_state, plus "state" from `current` (which
 *                      may be NULL only for other statuses)
 *   STORE_UNAVAILABLE  503 unavailable: Redis down, timed out or answered
 *                      an error; counted in authflow_redis_errors_total,
 *                      logged as a warning with `err`
 *   STORE_CORRUPT      500 internal: a stored record could not be decoded;
 *                      logged as an error with `err`
 *   anything else      500 internal, logged as an error (STORE_OK,
 *                      STORE_EXISTS and STORE_CUSTOMER_LOCKED are not
 *                      failures; the callers handle them before this)
 */
void api_reply_store_error(api_response *resp, store_status st,
                           api_store_subject subject,
                           const flow_session *current, const char *err);

void api_response_free(api_response *resp);

/* Frees the calling thread's session-answer buffer (each session answer
 * is rendered in a buffer its thread keeps): a loop calls it as it
 * stops. */
void api_release_thread(void);

#endif
