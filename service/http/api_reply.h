/*
 * api_reply: the answers every HTTP module gives the same way (SPEC §3):
 * the api_response they fill, the {"error","message"} body, the 400 for a
 * bad body, and the one map from a failed store call to its answer. The
 * one layer that turns domain errors (store_status, validation failures)
 * into HTTP statuses: api, handoff_api and report_api all answer through
 * it (it depends on none of them).
 */
#ifndef AUTHFLOW_API_REPLY_H
#define AUTHFLOW_API_REPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "request.h"
#include "store.h"

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
  unsigned retry_after; /* seconds for Retry-After; 0: none */
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
