/*
 * api_reply: error answers and the store-status map (see api_reply.h).
 */
#include "api_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

int64_t api_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void api_response_free(api_response *resp) {
  json_decref(resp->body);
  free(resp->text);
  if (resp->has_file)
    close(resp->file_fd);
  resp->body = NULL;
  resp->text = NULL;
  resp->has_file = false;
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

/* The words that differ between the two stores (the messages and log
 * lines each has always had). */
static const struct {
  const char *unavailable_log, *unavailable, *corrupt_log, *corrupt;
} store_words[] = {
    [API_STORE_SESSIONS] = {"redis unavailable",
                            "session store unavailable; retry",
                            "session record unreadable",
                            "the stored session could not be read"},
    [API_STORE_REPORTS] = {"report read failed",
                           "report store unavailable; retry",
                           "report record unreadable",
                           "the stored report could not be read"},
    [API_STORE_HANDOFFS] = {"redis unavailable",
                            "handoff store unavailable; retry",
                            "handoff record unreadable",
                            "the handoff could not be stored"},
};

void api_reply_store_error(api_response *resp, store_status st,
                           api_store_subject subject,
                           const flow_session *current, const char *err) {
  const char *name = store_status_name(st);
  switch (st) {
  case STORE_NOT_FOUND:
    api_error(resp, 404, "not_found", "no session with that conversationId");
    return;
  case STORE_BUSY:
    api_error(resp, 409, "busy",
              "another step of this session is in progress; retry");
    return;
  case STORE_WRONG_STATE:
    api_error(resp, 409, "wrong_state",
              "that step is not allowed in the session's current state");
    if (current)
      json_object_set_new(resp->body, "state",
                          json_string(flow_state_name(current->state)));
    return;
  case STORE_LOCK_LOST:
    api_error(resp, 409, "busy",
              "the step took longer than its lock allows; retry");
    return;
  case STORE_UNAVAILABLE:
    metrics_redis_error();
    log_warn(store_words[subject].unavailable_log, LOG_STR("status", name),
             LOG_STR("error", err));
    api_error(resp, 503, "unavailable", store_words[subject].unavailable);
    return;
  case STORE_CORRUPT:
    log_error(store_words[subject].corrupt_log, LOG_STR("status", name),
              LOG_STR("error", err));
    api_error(resp, 500, "internal", store_words[subject].corrupt);
    return;
  case STORE_DELETED:
    /* A deleted conversation is over: it reads as completed. */
    api_error(resp, 409, "wrong_state",
              "that conversation was deleted; it cannot start again");
    json_object_set_new(resp->body, "state",
                        json_string(flow_state_name(FLOW_STATE_COMPLETED)));
    return;
  case STORE_OK:
  case STORE_EXISTS:
  case STORE_CUSTOMER_LOCKED:
    break;
  }
  log_error("unexpected store status", LOG_STR("status", name),
            LOG_STR("error", err));
  api_error(resp, 500, "internal", "unexpected store status");
}
