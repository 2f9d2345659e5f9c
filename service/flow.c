#include "flow.h"

#include <stdio.h>
#include <string.h>

#include "phone.h"

/* ---------------------------------------------------------------------
 * Wire names (SPEC §3).
 * ------------------------------------------------------------------- */

static const char *const state_names[] = {"awaiting_identifier",
                                          "awaiting_security", "completed"};
static const char *const next_action_names[] = {
    "ask_identifier", "ask_security", "continue", "transfer_to_agent"};
static const char *const auth_status_names[] = {"not_identified", "identified",
                                                "identified_verified"};
static const char *const method_names[] = {"none", "ani", "identifier"};
static const char *const outcome_names[] = {
    "pending",         "verified",      "identified_only", "opted_out",
    "identify_failed", "verify_failed", "locked",          "crm_unavailable"};
static const char *const result_names[] = {
    "none",          "match",        "no_match", "multiple_matches",
    "invalid_input", "wrong_answer", "crm_error"};
static const char *const identifier_type_names[] = {
    "customer_id", "account_number", "tracking_number", "phone"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Index `v` into `names`, or "" when out of range (never NULL). */
static const char *name_of(const char *const *names, size_t count, unsigned v) {
  return v < count ? names[v] : "";
}

static bool parse_name(const char *const *names, size_t count, const char *s,
                       unsigned *out) {
  if (!s)
    return false;
  for (size_t i = 0; i < count; i++)
    if (strcmp(names[i], s) == 0) {
      *out = (unsigned)i;
      return true;
    }
  return false;
}

const char *flow_state_name(flow_state v) {
  return name_of(state_names, COUNT(state_names), (unsigned)v);
}
const char *flow_next_action_name(flow_next_action v) {
  return name_of(next_action_names, COUNT(next_action_names), (unsigned)v);
}
const char *flow_auth_status_name(flow_auth_status v) {
  return name_of(auth_status_names, COUNT(auth_status_names), (unsigned)v);
}
const char *flow_method_name(flow_method v) {
  return name_of(method_names, COUNT(method_names), (unsigned)v);
}
const char *flow_outcome_name(flow_outcome v) {
  return name_of(outcome_names, COUNT(outcome_names), (unsigned)v);
}
const char *flow_result_name(flow_result v) {
  return name_of(result_names, COUNT(result_names), (unsigned)v);
}
const char *flow_identifier_type_name(flow_identifier_type v) {
  return name_of(identifier_type_names, COUNT(identifier_type_names),
                 (unsigned)v);
}

#define DEFINE_PARSE(fn, type, names)                                          \
  bool fn(const char *s, type *out) {                                          \
    unsigned v;                                                                \
    if (!parse_name(names, COUNT(names), s, &v))                               \
      return false;                                                            \
    *out = (type)v;                                                            \
    return true;                                                               \
  }

DEFINE_PARSE(flow_state_parse, flow_state, state_names)
DEFINE_PARSE(flow_method_parse, flow_method, method_names)
DEFINE_PARSE(flow_outcome_parse, flow_outcome, outcome_names)
DEFINE_PARSE(flow_result_parse, flow_result, result_names)
DEFINE_PARSE(flow_identifier_type_parse, flow_identifier_type,
             identifier_type_names)

bool flow_outcome_is_transfer(flow_outcome v) {
  return v == FLOW_OUTCOME_IDENTIFY_FAILED || v == FLOW_OUTCOME_VERIFY_FAILED ||
         v == FLOW_OUTCOME_LOCKED || v == FLOW_OUTCOME_CRM_UNAVAILABLE;
}

/* ---------------------------------------------------------------------
 * Input validation.
 * ------------------------------------------------------------------- */

void flow_identifier_default_lengths(flow_identifier_type type, int *min,
                                     int *max) {
  static const int bounds[][2] = {
      [FLOW_ID_CUSTOMER_ID] = {4, 12},
      [FLOW_ID_ACCOUNT_NUMBER] = {6, 20},
      [FLOW_ID_TRACKING_NUMBER] = {8, 30},
      [FLOW_ID_PHONE] = {7, 15},
  };
  unsigned t = (unsigned)type < COUNT(bounds) ? (unsigned)type : 0;
  *min = bounds[t][0];
  *max = bounds[t][1];
}

bool flow_normalise_identifier(const flow_policy *policy,
                               flow_identifier_type type, const char *raw,
                               char *out, size_t out_len) {
  if (out_len > 0)
    out[0] = '\0';
  if (!raw)
    return false;
  char digits[FLOW_VALUE_MAX + 1];
  size_t n = 0;
  for (const char *p = raw; *p; p++) {
    if (*p == ' ' || *p == '-')
      continue;
    if (*p < '0' || *p > '9' || n >= FLOW_VALUE_MAX)
      return false;
    digits[n++] = *p;
  }
  digits[n] = '\0';
  int min, max;
  flow_identifier_default_lengths(type, &min, &max);
  if (policy->identifier_min_digits > 0)
    min = policy->identifier_min_digits;
  if (policy->identifier_max_digits > 0)
    max = policy->identifier_max_digits;
  if ((int)n < min || (int)n > max)
    return false;
  if (type == FLOW_ID_PHONE)
    return phone_normalise(digits, policy->default_country_code, out, out_len);
  if (n + 1 > out_len)
    return false;
  memcpy(out, digits, n + 1);
  return true;
}

/* A security answer is 1..FLOW_ANSWER_MAX ASCII digits, nothing else. */
static bool answer_ok(const char *answer) {
  if (!answer)
    return false;
  size_t n = 0;
  for (const char *p = answer; *p; p++, n++)
    if (*p < '0' || *p > '9' || n >= FLOW_ANSWER_MAX)
      return false;
  return n > 0;
}

/* ---------------------------------------------------------------------
 * Transitions.
 * ------------------------------------------------------------------- */

static void step_init(flow_step *out, const flow_session *from,
                      int64_t now_ms) {
  memset(out, 0, sizeof *out);
  out->session = *from;
  out->session.updated_ms = now_ms;
}

static void complete(flow_session *s, flow_outcome outcome) {
  s->state = FLOW_STATE_COMPLETED;
  s->outcome = outcome;
}

/* A caller has just been identified as `result`'s first match: either ask
 * for the security answer (after the store's lockout check) or finish. */
static void identify(const flow_policy *policy, flow_step *out,
                     flow_method method, const flow_crm_result *result) {
  flow_session *s = &out->session;
  s->identified = true;
  s->method = method;
  s->last_result = FLOW_RESULT_MATCH;
  snprintf(s->customer_id, sizeof s->customer_id, "%s", result->customer_id);
  snprintf(s->customer_name, sizeof s->customer_name, "%s",
           result->customer_name);
  if (policy->verification) {
    s->state = FLOW_STATE_AWAITING_SECURITY;
    out->check_lockout = true;
  } else {
    complete(s, FLOW_OUTCOME_IDENTIFIED_ONLY);
  }
}

/* A failed identifier attempt (already counted): retry or give up. */
static void identify_failed(const flow_policy *policy, flow_session *s,
                            flow_result why) {
  s->last_result = why;
  if (s->identify_attempts >= policy->max_identify_attempts)
    complete(s, FLOW_OUTCOME_IDENTIFY_FAILED);
  else
    s->state = FLOW_STATE_AWAITING_IDENTIFIER;
}

/* A failed verification attempt (already counted): retry or give up. */
static void verify_failed(const flow_policy *policy, flow_session *s,
                          flow_result why) {
  s->last_result = why;
  if (s->verify_attempts >= policy->max_verify_attempts)
    complete(s, FLOW_OUTCOME_VERIFY_FAILED);
  else
    s->state = FLOW_STATE_AWAITING_SECURITY;
}

flow_plan_status flow_start(const flow_policy *policy,
                            const flow_session *session_in,
                            const flow_event *event, flow_step *out) {
  flow_session fresh;
  memset(&fresh, 0, sizeof fresh);
  memcpy(fresh.conversation_id, session_in->conversation_id,
         sizeof fresh.conversation_id);
  memcpy(fresh.service_line, session_in->service_line,
         sizeof fresh.service_line);
  memcpy(fresh.language, session_in->language, sizeof fresh.language);
  fresh.created_ms = session_in->created_ms;
  fresh.state = FLOW_STATE_AWAITING_IDENTIFIER;
  step_init(out, &fresh, event->now_ms);

  char e164[PHONE_E164_MAX + 1];
  if (!phone_normalise(event->ani, policy->default_country_code, e164,
                       sizeof e164))
    return FLOW_PLAN_DONE;
  phone_mask(e164, out->session.ani_masked, sizeof out->session.ani_masked);
  if (!policy->ani_lookup)
    return FLOW_PLAN_DONE;
  out->crm.kind = FLOW_CRM_LOOKUP;
  out->crm.from_ani = true;
  out->crm.lookup_type = FLOW_ID_PHONE;
  snprintf(out->crm.lookup_value, sizeof out->crm.lookup_value, "%s", e164);
  return FLOW_PLAN_NEED_CRM;
}

unsigned flow_event_allowed_states(flow_event_kind kind) {
  switch (kind) {
  case FLOW_EV_IDENTIFIER:
    return 1u << FLOW_STATE_AWAITING_IDENTIFIER;
  case FLOW_EV_SECURITY:
    return 1u << FLOW_STATE_AWAITING_SECURITY;
  case FLOW_EV_OPT_OUT:
    return (1u << FLOW_STATE_AWAITING_IDENTIFIER) |
           (1u << FLOW_STATE_AWAITING_SECURITY);
  case FLOW_EV_START:
    break;
  }
  return 0;
}

int flow_event_counter(flow_event_kind kind) {
  return kind == FLOW_EV_IDENTIFIER ? 1 : kind == FLOW_EV_SECURITY ? 2 : 0;
}

flow_plan_status flow_plan(const flow_policy *policy,
                           const flow_session *session, const flow_event *event,
                           bool customer_locked, flow_step *out) {
  step_init(out, session, event->now_ms);
  if (!(flow_event_allowed_states(event->kind) & (1u << session->state)))
    return FLOW_PLAN_WRONG_STATE;
  flow_session *s = &out->session;

  switch (event->kind) {
  case FLOW_EV_IDENTIFIER: {
    flow_identifier_type type = event->has_identifier_type
                                    ? event->identifier_type
                                    : policy->identifier_type;
    char value[FLOW_VALUE_MAX + 1];
    if (!flow_normalise_identifier(policy, type, event->identifier, value,
                                   sizeof value)) {
      identify_failed(policy, s, FLOW_RESULT_INVALID_INPUT);
      return FLOW_PLAN_DONE;
    }
    out->crm.kind = FLOW_CRM_LOOKUP;
    out->crm.lookup_type = type;
    snprintf(out->crm.lookup_value, sizeof out->crm.lookup_value, "%s", value);
    return FLOW_PLAN_NEED_CRM;
  }
  case FLOW_EV_SECURITY:
    if (customer_locked) {
      s->last_result = FLOW_RESULT_NONE;
      complete(s, FLOW_OUTCOME_LOCKED);
      return FLOW_PLAN_DONE;
    }
    if (!answer_ok(event->answer)) {
      verify_failed(policy, s, FLOW_RESULT_INVALID_INPUT);
      return FLOW_PLAN_DONE;
    }
    out->crm.kind = FLOW_CRM_VERIFY;
    snprintf(out->crm.customer_id, sizeof out->crm.customer_id, "%s",
             s->customer_id);
    return FLOW_PLAN_NEED_CRM;
  case FLOW_EV_OPT_OUT:
    s->last_result = FLOW_RESULT_NONE;
    complete(s, FLOW_OUTCOME_OPTED_OUT);
    return FLOW_PLAN_DONE;
  case FLOW_EV_START:
    break;
  }
  return FLOW_PLAN_WRONG_STATE;
}

void flow_complete(const flow_policy *policy, const flow_session *planned,
                   const flow_crm_request *request,
                   const flow_crm_result *result, int64_t now_ms,
                   flow_step *out) {
  step_init(out, planned, now_ms);
  flow_session *s = &out->session;

  if (request->kind == FLOW_CRM_LOOKUP && request->from_ani) {
    /* ANI lookups never cost an attempt and never complete the session
     * unless they identify the caller. */
    if (!result->ok)
      s->last_result = FLOW_RESULT_CRM_ERROR;
    else if (result->match_count == 1)
      identify(policy, out, FLOW_METHOD_ANI, result);
    else
      s->last_result = result->match_count == 0 ? FLOW_RESULT_NO_MATCH
                                                : FLOW_RESULT_MULTIPLE_MATCHES;
    return;
  }

  if (request->kind == FLOW_CRM_LOOKUP) {
    if (!result->ok) {
      if (s->identify_attempts > 0)
        s->identify_attempts--; /* a CRM fault costs no attempt */
      s->last_result = FLOW_RESULT_CRM_ERROR;
      complete(s, FLOW_OUTCOME_CRM_UNAVAILABLE);
    } else if (result->match_count == 1) {
      identify(policy, out, FLOW_METHOD_IDENTIFIER, result);
    } else {
      identify_failed(policy, s,
                      result->match_count == 0 ? FLOW_RESULT_NO_MATCH
                                               : FLOW_RESULT_MULTIPLE_MATCHES);
    }
    return;
  }

  if (request->kind == FLOW_CRM_VERIFY) {
    if (!result->ok) {
      if (s->verify_attempts > 0)
        s->verify_attempts--;
      s->last_result = FLOW_RESULT_CRM_ERROR;
      complete(s, FLOW_OUTCOME_CRM_UNAVAILABLE);
    } else if (result->locked) {
      s->last_result = FLOW_RESULT_NONE;
      complete(s, FLOW_OUTCOME_LOCKED);
    } else if (result->verified) {
      s->verified = true;
      s->last_result = FLOW_RESULT_MATCH;
      out->lockout = FLOW_LOCKOUT_CLEAR;
      complete(s, FLOW_OUTCOME_VERIFIED);
    } else {
      out->lockout = FLOW_LOCKOUT_RECORD_FAILURE;
      verify_failed(policy, s, FLOW_RESULT_WRONG_ANSWER);
    }
  }
}

void flow_lock_out(const flow_session *session, int64_t now_ms,
                   flow_session *out) {
  *out = *session;
  out->updated_ms = now_ms;
  out->last_result = FLOW_RESULT_NONE;
  complete(out, FLOW_OUTCOME_LOCKED);
}

void flow_view_of(const flow_policy *policy, const flow_session *s,
                  flow_view *out) {
  memset(out, 0, sizeof *out);
  out->auth_status = s->identified && s->verified
                         ? FLOW_AUTH_IDENTIFIED_VERIFIED
                     : s->identified ? FLOW_AUTH_IDENTIFIED
                                     : FLOW_AUTH_NOT_IDENTIFIED;
  int remaining = 0;
  switch (s->state) {
  case FLOW_STATE_AWAITING_IDENTIFIER:
    out->next_action = FLOW_NEXT_ASK_IDENTIFIER;
    remaining = policy->max_identify_attempts - s->identify_attempts;
    out->prompt_id =
        s->identify_attempts == 0 ? "ask_identifier" : "ask_identifier_retry";
    break;
  case FLOW_STATE_AWAITING_SECURITY:
    out->next_action = FLOW_NEXT_ASK_SECURITY;
    remaining = policy->max_verify_attempts - s->verify_attempts;
    out->prompt_id =
        s->verify_attempts == 0 ? "ask_security" : "ask_security_retry";
    break;
  case FLOW_STATE_COMPLETED:
  default:
    out->next_action = flow_outcome_is_transfer(s->outcome)
                           ? FLOW_NEXT_TRANSFER_TO_AGENT
                           : FLOW_NEXT_CONTINUE;
    switch (s->outcome) {
    case FLOW_OUTCOME_VERIFIED:
      out->prompt_id = "welcome_verified";
      break;
    case FLOW_OUTCOME_IDENTIFIED_ONLY:
      out->prompt_id = "welcome_identified";
      break;
    case FLOW_OUTCOME_OPTED_OUT:
      out->prompt_id = "opted_out";
      break;
    case FLOW_OUTCOME_LOCKED:
      out->prompt_id = "transfer_locked";
      break;
    case FLOW_OUTCOME_CRM_UNAVAILABLE:
      out->prompt_id = "transfer_crm_unavailable";
      break;
    case FLOW_OUTCOME_IDENTIFY_FAILED:
    case FLOW_OUTCOME_VERIFY_FAILED:
    case FLOW_OUTCOME_PENDING:
    default:
      out->prompt_id = "transfer_to_agent";
      break;
    }
    break;
  }
  out->attempts_remaining = remaining > 0 ? remaining : 0;
}
