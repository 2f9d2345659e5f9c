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

static bool parse_fields(request_kind kind, request_body *req) {
  switch (kind) {
  case REQUEST_START:
    return string_field(req, "conversationId", true, &req->conversation_id) &&
           string_field(req, "serviceLine", true, &req->service_line) &&
           string_field(req, "ani", false, &req->ani) &&
           string_field(req, "language", false, &req->language);
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
  json_t *answer = json_object_get(req->root, "answer");
  if (json_is_string(answer))
    explicit_bzero((char *)json_string_value(answer),
                   json_string_length(answer));
  json_decref(req->root);
  req->root = NULL;
  req->answer = NULL;
}
