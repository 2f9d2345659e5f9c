/*
 * api: the endpoints of SPEC §3 as plain functions, independent of the
 * HTTP server. It validates request bodies, runs a step through
 * store -> flow -> (CRM) -> store, and renders answers. This is the one
 * layer that turns domain errors (store_status, validation failures) into
 * HTTP statuses and {"error","message"} bodies.
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

#include "config.h"
#include "flow.h"
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

/* Finish a NEED_CRM step with the CRM's answer. Always fills *resp. */
void api_crm_done(api_step *step, const flow_crm_result *result,
                  api_response *resp);

/* Release the session lock if the step still holds it (the request ended
 * before finishing). Wipes the answer. */
void api_step_abort(api_step *step);

/* Fill an error answer: {"error":code,"message":message}. */
void api_error(api_response *resp, unsigned status, const char *code,
               const char *message);

void api_response_free(api_response *resp);

#endif
