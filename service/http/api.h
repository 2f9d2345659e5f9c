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
 * A session step that needs the CRM returns API_NEED_CRM: the caller (http)
 * suspends the connection, runs step->crm through crm_client with
 * step->answer, and calls api_crm_done() with the result. The step holds
 * the session lock in Redis in between; api_step_abort() releases it if
 * the request dies first.
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

typedef struct {
  unsigned status;
  json_t *body; /* owned by the response; NULL for no body (204) */
  char *text;   /* owned; a non-JSON body (metrics), or NULL */
  size_t text_len;
  const char *content_type;        /* static; for `text` */
  const char *allow;               /* static; set on 405 */
  const char *content_disposition; /* static or NULL (CSV downloads) */
  /* For the request log: what happened, never PII. */
  const char *outcome; /* static wire name, or NULL */
  const char *error;   /* static error code, or NULL */
} api_response;

/* Per-request state of a session step. Zero-initialise before use. */
typedef struct {
  char conversation_id[FLOW_CONVERSATION_ID_MAX + 1];
  char token[STORE_TOKEN_MAX + 1];
  bool lock_held; /* we hold the session's lock in Redis */
  bool is_start;
  flow_state state_before;
  const config_service_line *line;
  flow_step planned;                /* phase 1 result (NEED_CRM) */
  flow_crm_request crm;             /* what to ask the CRM */
  char answer[FLOW_ANSWER_MAX + 1]; /* VERIFY only; wipe after submit */
} api_step;

typedef enum {
  API_RESPOND = 0, /* resp is ready */
  API_NEED_CRM,    /* run step->crm, then call api_crm_done() */
} api_status;

/* Keep `cfg` (borrowed, must outlive the server). */
void api_init(const config *cfg);

/* readyz answers 503 once draining (SIGTERM) has begun. */
void api_set_draining(bool draining);

/*
 * Handle a request whose route matched (status ROUTE_MATCH_OK) and whose
 * caller has been authorised. `body` is the request body (may be NULL when
 * len 0); the caller wipes it afterwards — it may hold a security answer.
 * Fills *resp (caller frees with api_response_free) or returns NEED_CRM.
 */
api_status api_handle(const route_match *route, const char *body,
                      size_t body_len, api_step *step, api_response *resp);

/* Finish a NEED_CRM step with the CRM's answer. A failed call is logged
 * here (warn; operation, reason, status, latency, attempts; never the
 * value asked about), repeats of one reason rate-limited: the first
 * API_CRM_LOG_BURST per API_CRM_LOG_WINDOW_MS, then a count of those left
 * out on the next line written. Always fills *resp. */
void api_crm_done(api_step *step, const flow_crm_result *result,
                  const crm_client_info *info, api_response *resp);
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

#endif
