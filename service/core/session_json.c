#include "session_json.h"

#include "json_text.h"
#include "prompt.h"

/* ,"k": with its length known at compile time (`k` is a literal). The
 * first key has no comma: see session_json_render. */
#define KEY(b, k) buf_add(b, ",\"" k "\":", sizeof(",\"" k "\":") - 1)

#define STRING_FIELD(b, k, v) (KEY(b, k), json_text_string(b, v))

static void bool_value(buf *b, bool v) {
  if (v)
    buf_add(b, "true", 4);
  else
    buf_add(b, "false", 5);
}

void session_json_view(const flow_session *s, const session_json_line *line,
                       flow_view *view, char *text, size_t len) {
  static const flow_policy no_policy = {.max_identify_attempts = 1,
                                        .max_verify_attempts = 1};
  const flow_policy *policy = line->policy ? line->policy : &no_policy;
  flow_view_of(policy, s, view);
  /* No name before verification unless the line opted in (SPEC §6). */
  prompt_vars vars = {.customer_name = view->speak_name ? s->customer_name : "",
                      .identifier_type = policy->identifier_type,
                      .attempts_remaining = view->attempts_remaining};
  prompt_render(line->policy ? line->prompts : NULL, s->language,
                line->policy && line->default_language ? line->default_language
                                                       : "en-US",
                view->prompt_id, &vars, text, len);
}

bool session_json_render(buf *out, const flow_session *s,
                         const session_json_line *line) {
  flow_view view;
  char text[PROMPT_TEXT_MAX];
  session_json_view(s, line, &view, text, sizeof text);

  buf_add(out, "{\"conversationId\":", sizeof "{\"conversationId\":" - 1);
  bool ok =
      json_text_string(out, s->conversation_id) &&
      STRING_FIELD(out, "serviceLine", s->service_line) &&
      STRING_FIELD(out, "language", s->language) &&
      STRING_FIELD(out, "state", flow_state_name(s->state)) &&
      STRING_FIELD(out, "nextAction",
                   flow_next_action_name(view.next_action)) &&
      STRING_FIELD(out, "authStatus", flow_auth_status_name(view.auth_status));
  if (!ok)
    return false;
  KEY(out, "identified");
  bool_value(out, s->identified);
  KEY(out, "verified");
  bool_value(out, flow_session_verified(s)); /* never true when locked */
  ok = STRING_FIELD(out, "identificationMethod", flow_method_name(s->method)) &&
       STRING_FIELD(out, "outcome", flow_outcome_name(s->outcome)) &&
       STRING_FIELD(out, "lastResult", flow_result_name(s->last_result));
  if (!ok)
    return false;
  KEY(out, "attemptsRemaining");
  json_text_int(out, view.attempts_remaining);
  ok = STRING_FIELD(out, "promptId", view.prompt_id) &&
       STRING_FIELD(out, "promptText", text) &&
       STRING_FIELD(out, "customerId", s->customer_id) &&
       STRING_FIELD(out, "customerName", s->customer_name);
  return ok && buf_add(out, "}", 1) == BUF_OK;
}
