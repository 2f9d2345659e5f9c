#include "request.h"

#include <stdio.h>
#include <string.h>

bool request_is_unfilled_template(const char *s) {
  size_t n = strlen(s);
  if (n >= 3 && s[0] == '$' && s[1] == '{' && s[n - 1] == '}')
    return true;
  return n >= 4 && s[0] == '$' && s[1] == '!' && s[2] == '{' && s[n - 1] == '}';
}

typedef enum { FIELD_ABSENT = 0, FIELD_PRESENT, FIELD_BAD_TYPE } field_status;

/* Read string member `key`: null, missing and unfilled templates are
 * ABSENT; any other non-string is BAD_TYPE. */
static field_status get_string(json_t *obj, const char *key, const char **out) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v || json_is_null(v))
    return FIELD_ABSENT;
  if (!json_is_string(v))
    return FIELD_BAD_TYPE;
  const char *s = json_string_value(v);
  if (request_is_unfilled_template(s))
    return FIELD_ABSENT;
  *out = s;
  return FIELD_PRESENT;
}

static bool refuse(request_body *req, const char *key, const char *problem) {
  snprintf(req->message, sizeof req->message, "%s %s", key, problem);
  return false;
}

/* A string member; `required` makes absence an error too. */
static bool string_field(request_body *req, const char *key, bool required,
                         const char **out) {
  switch (get_string(req->root, key, out)) {
  case FIELD_PRESENT:
    return true;
  case FIELD_BAD_TYPE:
    return refuse(req, key, "must be a string");
  case FIELD_ABSENT:
    break;
  }
  return required ? refuse(req, key, "is required") : true;
}

bool request_channel_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') ||
          s[n] == '_') ||
        n >= FLOW_CHANNEL_MAX)
      return false;
  return n > 0;
}

/* Clear *s when it is "": an optional start input that a Genesys data
 * action left unset, rendered by the silent form $!{...}. */
static void empty_is_absent(const char **s) {
  if (*s && !**s)
    *s = NULL;
}

/* An optional channel: absent is fine, present must be a channel name.
 * With `empty_absent` (a start, from the Genesys kit) "" is absent too. */
static bool channel_field(request_body *req, bool empty_absent) {
  if (!string_field(req, "channel", false, &req->channel))
    return false;
  if (empty_absent)
    empty_is_absent(&req->channel);
  if (req->channel && !request_channel_ok(req->channel))
    return refuse(req, "channel", "must be 1..32 characters of a-z, 0-9 and _");
  return true;
}

/* A text that becomes a session field: at most `max` bytes and no control
 * characters (they would end up in answers, logs and reports). */
static bool text_ok(request_body *req, const char *key, const char *s,
                    size_t max) {
  if (!s)
    return true;
  size_t n = strlen(s);
  if (n == 0 || n > max) {
    char problem[64];
    snprintf(problem, sizeof problem, "must be 1..%zu bytes", max);
    return refuse(req, key, problem);
  }
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
      return refuse(req, key, "must not contain control characters");
  return true;
}

/* POST /v1/handoffs: customerId and verified required. */
static bool parse_handoff_create(request_body *req) {
  if (!string_field(req, "customerId", true, &req->customer_id) ||
      !text_ok(req, "customerId", req->customer_id, FLOW_CUSTOMER_ID_MAX) ||
      !string_field(req, "customerName", false, &req->customer_name) ||
      !text_ok(req, "customerName", req->customer_name,
               FLOW_CUSTOMER_NAME_MAX) ||
      !string_field(req, "serviceLine", false, &req->service_line) ||
      !string_field(req, "phone", false, &req->phone) ||
      !channel_field(req, false))
    return false;
  json_t *v = json_object_get(req->root, "verified");
  if (!v || json_is_null(v))
    return refuse(req, "verified", "is required");
  if (!json_is_boolean(v))
    return refuse(req, "verified", "must be true or false");
  req->verified = json_is_true(v);
  return true;
}

/* A start's optional linkedConversationId and channel; "" (an unset
 * Genesys input in the silent form) is absent for both. */
static bool start_context_fields(request_body *req) {
  if (!string_field(req, "linkedConversationId", false,
                    &req->linked_conversation_id))
    return false;
  empty_is_absent(&req->linked_conversation_id);
  return channel_field(req, true);
}

/* POST /v1/sessions/{id}/otp: {"code"} or {"resend": true}, one of them
 * (SPEC §9). */
static bool parse_otp(request_body *req) {
  if (!string_field(req, "code", false, &req->code))
    return false;
  json_t *v = json_object_get(req->root, "resend");
  if (v && !json_is_null(v) && !json_is_boolean(v))
    return refuse(req, "resend", "must be true or false");
  req->resend = json_is_true(v);
  if (req->resend && req->code)
    return refuse(req, "code", "and resend cannot both be sent");
  if (!req->resend && !req->code)
    return refuse(req, "code", "is required (or \"resend\": true)");
  return true;
}

static bool parse_fields(request_kind kind, request_body *req) {
  switch (kind) {
  case REQUEST_START:
    return string_field(req, "conversationId", true, &req->conversation_id) &&
           string_field(req, "serviceLine", true, &req->service_line) &&
           string_field(req, "ani", false, &req->ani) &&
           string_field(req, "language", false, &req->language) &&
           start_context_fields(req);
  case REQUEST_IDENTIFIER: {
    const char *type = NULL;
    if (!string_field(req, "identifier", true, &req->identifier) ||
        !string_field(req, "identifierType", false, &type))
      return false;
    if (type && *type) {
      if (!flow_identifier_type_parse(type, &req->identifier_type))
        return refuse(req, "identifierType",
                      "must be customer_id, account_number, "
                      "tracking_number or phone");
      req->has_identifier_type = true;
    }
    return true;
  }
  case REQUEST_SECURITY:
    return string_field(req, "answer", true, &req->answer);
  case REQUEST_OPT_OUT:
    return true;
  case REQUEST_HANDOFF:
    return string_field(req, "code", true, &req->code);
  case REQUEST_HANDOFF_CREATE:
    return parse_handoff_create(req);
  case REQUEST_OTP:
    return parse_otp(req);
  }
  return false;
}

request_status request_parse(request_kind kind, const char *body, size_t len,
                             request_body *out) {
  memset(out, 0, sizeof *out);
  if (len == 0) {
    if (kind == REQUEST_OPT_OUT) {
      out->root = json_object();
      return REQUEST_OK;
    }
    snprintf(out->message, sizeof out->message, "request body is empty");
    return REQUEST_INVALID_JSON;
  }
  /* jansson refuses invalid UTF-8 and "\u0000" (no JSON_ALLOW_NUL), so
   * every string below is plain NUL-terminated UTF-8. */
  json_error_t jerr;
  out->root =
      json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!out->root) {
    /* jansson's text ends with " near '<token>'", and the token can be
     * (part of) a security answer: keep only the reason before it. */
    char *near = strstr(jerr.text, " near ");
    if (near)
      *near = '\0';
    snprintf(out->message, sizeof out->message,
             "body is not valid JSON: %.120s (line %d, column %d)", jerr.text,
             jerr.line, jerr.column);
    explicit_bzero(&jerr, sizeof jerr);
    return REQUEST_INVALID_JSON;
  }
  if (!json_is_object(out->root)) {
    snprintf(out->message, sizeof out->message, "body must be a JSON object");
    return REQUEST_INVALID_REQUEST;
  }
  return parse_fields(kind, out) ? REQUEST_OK : REQUEST_INVALID_REQUEST;
}

void request_free(request_body *req) {
  if (!req->root)
    return;
  /* The security answer and the handoff code are secrets; the caller's
   * full number (a start's ani, a handoff's phone) is PII. */
  static const char *const secrets[] = {"answer", "code", "ani", "phone"};
  for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
    json_t *v = json_object_get(req->root, secrets[i]);
    if (json_is_string(v))
      explicit_bzero((char *)json_string_value(v), json_string_length(v));
  }
  json_decref(req->root);
  req->root = NULL;
  req->answer = NULL;
  req->code = NULL;
}
