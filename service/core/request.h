/*
 * request: request bodies of the session endpoints, parsed and validated
 * (pure, no I/O).
 *
 * Rules (SPEC §3):
 *   - the body is one JSON object; duplicate keys are refused (we will not
 *     pick one of two answers); an empty body is allowed only for opt-out;
 *   - a known field of the wrong JSON type is an error naming the field;
 *     unknown fields are ignored;
 *   - JSON null, a missing key, and a string of the form "${input.x}" (an
 *     optional Genesys input left unfilled) all mean "absent"; so does ""
 *     for a start's channel and linkedConversationId (what the kit's silent
 *     form $!{...} sends for an unset input);
 *   - required: conversationId and serviceLine (start), identifier
 *     (identifier), answer (security), code (handoff), customerId and
 *     verified (handoff creation);
 *   - a channel ("channel" of start and of handoff creation) is 1..32 of
 *     [a-z0-9_]; customerId and customerName of a handoff fit their
 *     session fields and hold no control characters.
 * Values are checked for type and presence here; their content (digits,
 * lengths, known service line) is judged by flow and api.
 */
#ifndef AUTHFLOW_REQUEST_H
#define AUTHFLOW_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

#define REQUEST_MESSAGE_MAX 200

typedef enum {
  REQUEST_OK = 0,
  REQUEST_INVALID_JSON,    /* -> 400 invalid_json */
  REQUEST_INVALID_REQUEST, /* -> 400 invalid_request */
} request_status;

typedef enum {
  REQUEST_START = 0,
  REQUEST_IDENTIFIER,
  REQUEST_SECURITY,
  REQUEST_OPT_OUT,
  REQUEST_HANDOFF,        /* POST /v1/sessions/{id}/handoff {"code"} */
  REQUEST_HANDOFF_CREATE, /* POST /v1/handoffs */
  REQUEST_OTP,            /* POST /v1/sessions/{id}/otp {"code"} or
                             {"resend": true} (SPEC §9) */
} request_kind;

/* A parsed body. String pointers point into `root` and live until
 * request_free(); absent optional values are NULL. */
typedef struct {
  json_t *root; /* owned */
  /* start */
  const char *conversation_id;
  const char *service_line;
  const char *ani;
  const char *language;
  const char *linked_conversation_id;
  const char *channel; /* also handoff creation */
  /* identifier */
  const char *identifier;
  bool has_identifier_type;
  flow_identifier_type identifier_type;
  /* security */
  const char *answer;
  /* handoff, otp: the code as keyed (a secret: wiped by request_free) */
  const char *code;
  bool resend; /* otp: a new code is asked for */
  /* handoff creation */
  const char *customer_id;
  const char *customer_name;
  bool verified;
  const char *phone;
  /* why it was refused */
  char message[REQUEST_MESSAGE_MAX];
} request_body;

/*
 * Parse `len` bytes of `body` (need not be NUL-terminated) for `kind`.
 * Always initialises *out; on any status the caller must request_free() it.
 */
request_status request_parse(request_kind kind, const char *body, size_t len,
                             request_body *out);

/* Release the JSON tree, first wiping the security answer's and the
 * handoff code's bytes so they do not linger in freed memory. Safe to call
 * twice. */
void request_free(request_body *req);

/* True for the literal text of an unfilled Genesys input: "${...}" or
 * "$!{...}". */
bool request_is_unfilled_template(const char *s);

/* True for a channel name: 1..FLOW_CHANNEL_MAX of [a-z0-9_]. */
bool request_channel_ok(const char *s);

#endif
