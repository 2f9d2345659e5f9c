/*
 * flow_names: the wire names of flow's enums (SPEC §3) and their parsers,
 * declared in flow.h. Kept apart from flow.c, the state machine, because
 * it is a table, not a transition: every name a session answer, a stored
 * session or a report carries comes from here.
 */
#include "flow.h"

#include <string.h>

/* ---------------------------------------------------------------------
 * Wire names (SPEC §3), indexed by the enum values of flow.h.
 * ------------------------------------------------------------------- */

static const char *const state_names[] = {
    "awaiting_identifier", "awaiting_security", "completed", "awaiting_otp"};
static const char *const next_action_names[] = {"ask_identifier",
                                                "ask_security", "continue",
                                                "transfer_to_agent", "ask_otp"};
static const char *const auth_status_names[] = {"not_identified", "identified",
                                                "identified_verified"};
static const char *const method_names[] = {"none", "ani", "identifier",
                                           "linked", "handoff"};
static const char *const outcome_names[] = {
    "pending",         "verified",      "identified_only", "opted_out",
    "identify_failed", "verify_failed", "locked",          "crm_unavailable"};
static const char *const result_names[] = {
    "none", "match", "no_match", "multiple_matches", "invalid_input",
    "wrong_answer", "crm_error",
    /* one-time codes (flow_otp.c) */
    "wrong_code", "code_expired", "code_sent", "no_phone", "send_failed",
    "send_limited"};
static const char *const identifier_type_names[] = {
    "customer_id", "account_number", "tracking_number", "phone"};
_Static_assert(
    sizeof identifier_type_names / sizeof identifier_type_names[0] ==
        FLOW_ID_PHONE + 1,
    "flow.c's identifier_type_valid takes FLOW_ID_PHONE as the last");
static const char *const link_verdict_names[] = {
    "none",        "used",           "locked",  "off",          "unknown",
    "in_progress", "not_identified", "expired", "not_accepted", "other_number"};
_Static_assert(sizeof link_verdict_names / sizeof link_verdict_names[0] ==
                   FLOW_LINK_VERDICT_COUNT,
               "FLOW_LINK_VERDICT_COUNT must count flow_link_verdict");
static const char *const handoff_status_names[] = {"redeemed", "no_match",
                                                   "invalid_input", "refused"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Index `v` into `names`; "" when out of range, so a corrupt value can
 * never hand a NULL to a JSON encoder. */
static const char *name_of(const char *const *names, size_t count, unsigned v) {
  return v < count ? names[v] : "";
}

/* Find `s` in `names`. Leaves *out untouched and returns false when `s` is
 * NULL or unknown. */
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

const char *flow_link_verdict_name(flow_link_verdict v) {
  return name_of(link_verdict_names, COUNT(link_verdict_names), (unsigned)v);
}

const char *flow_handoff_status_name(flow_handoff_status v) {
  return name_of(handoff_status_names, COUNT(handoff_status_names),
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
