/*
 * api_reply: the small answer helpers of api.h (error bodies, field
 * errors, request parsing, the wall clock), kept apart from the session
 * steps in api.c.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int64_t api_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void api_response_free(api_response *resp) {
  json_decref(resp->body);
  free(resp->text);
  resp->body = NULL;
  resp->text = NULL;
}

void api_error(api_response *resp, unsigned status, const char *code,
               const char *message) {
  resp->status = status;
  resp->error = code;
  json_decref(resp->body);
  resp->body = json_pack("{s:s, s:s}", "error", code, "message", message);
}

bool api_reply_field_error(api_response *resp, const char *key,
                           const char *problem) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s %s", key, problem);
  api_error(resp, 400, "invalid_request", msg);
  return false;
}

bool api_parse_request_or_reply(request_kind kind, const char *body, size_t len,
                                request_body *req, api_response *resp) {
  request_status st = request_parse(kind, body, len, req);
  if (st == REQUEST_OK)
    return true;
  api_error(resp, 400,
            st == REQUEST_INVALID_JSON ? "invalid_json" : "invalid_request",
            req->message);
  return false;
}
