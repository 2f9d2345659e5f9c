/*
 * flow: the ID&V state machine (SPEC §2). See flow.h for the two-phase
 * contract (flow_plan / flow_complete) and the attempt accounting rule.
 *
 * Invariants every transition keeps:
 *   - the output session's updated_ms is the event's (or CRM answer's) time;
 *   - identification (identified, method, customer_id, customer_name) is
 *     never dropped once reached;
 *   - a CRM fault never costs the caller an identifier attempt; a
 *     verification costs one as soon as its request was sent (flow.h);
 *   - a security answer is only read, never copied anywhere.
 */
#include "flow.h"

#include <string.h>

#include "flow_otp.h"
#include "phone.h"

bool flow_outcome_is_transfer(flow_outcome v) {
  return v == FLOW_OUTCOME_IDENTIFY_FAILED || v == FLOW_OUTCOME_VERIFY_FAILED ||
         v == FLOW_OUTCOME_LOCKED || v == FLOW_OUTCOME_CRM_UNAVAILABLE;
}

/* ---------------------------------------------------------------------
 * Input validation.
 * ------------------------------------------------------------------- */

/* Copy a string from a fixed-size source field into a fixed-size
 * destination, always NUL-terminated. The source is read at most
 * `src_size` bytes, so a CRM result or session that arrives without a
 * terminator cannot make us read past its field. */
static void copy_field(char *dst, size_t dst_size, const char *src,
                       size_t src_size) {
  size_t n = strnlen(src, src_size);
  if (n >= dst_size)
    n = dst_size - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

#define COPY_FIELD(dst, src) copy_field(dst, sizeof(dst), src, sizeof(src))

static bool identifier_type_valid(flow_identifier_type type) {
  return (unsigned)type <= FLOW_ID_PHONE;
}

void flow_identifier_default_lengths(flow_identifier_type type, int *min,
                                     int *max) {
  static const int bounds[][2] = {
      [FLOW_ID_CUSTOMER_ID] = {4, 12},
      [FLOW_ID_ACCOUNT_NUMBER] = {6, 20},
      [FLOW_ID_TRACKING_NUMBER] = {8, 30},
      [FLOW_ID_PHONE] = {7, 15},
  };
  unsigned t = identifier_type_valid(type) ? (unsigned)type : 0;
  *min = bounds[t][0];
  *max = bounds[t][1];
}

/*
 * Keyed digits -> the value the CRM is asked for. Spaces and '-' are
 * dropped (callers and test rigs send "1234 5678"); anything else that is
 * not an ASCII digit makes the input invalid. The digit count must lie
 * within the policy's bounds (0 = the type's default). Phone numbers are
 * then completed to E.164, which may reject them again (too short once
 * normalised, "00" alone, ...). On false `out` is "".
 */
bool flow_normalise_identifier(const flow_policy *policy,
                               flow_identifier_type type, const char *raw,
                               char *out, size_t out_len) {
  if (out_len > 0)
    out[0] = '\0';
  if (!raw || out_len == 0 || !identifier_type_valid(type))
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

/* A security answer is 1..FLOW_ANSWER_MAX ASCII digits and nothing else.
 * The answer is only inspected here; it is never copied. */
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

/* Start every step from `from` with no CRM request and no lockout effect,
 * stamped with the step's time. */
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

/*
 * The caller was just identified as `result`'s match. With verification on
 * the session waits for the security answer, and the store must check the
 * customer's cross-call lockout before committing (check_lockout); without
 * it the session completes as identified_only.
 */
static void identify(const flow_policy *policy, flow_step *out,
                     flow_method method, const flow_crm_result *result) {
  flow_session *s = &out->session;
  s->identified = true;
  s->method = method;
  s->last_result = FLOW_RESULT_MATCH;
  COPY_FIELD(s->customer_id, result->customer_id);
  COPY_FIELD(s->customer_name, result->customer_name);
  s->context_ms = s->updated_ms; /* an original identification */
  s->context_channel[0] = '\0';
  s->linked_conversation_id[0] = '\0';
  if (policy->verification) {
    s->state = FLOW_STATE_AWAITING_SECURITY;
    out->check_lockout = true;
    flow_otp_on_identified(policy, out); /* a code first? */
  } else {
    complete(s, FLOW_OUTCOME_IDENTIFIED_ONLY);
  }
}

/* A failed identifier attempt (already counted by the store): ask again,
 * or hand the caller to an agent once the attempts are used up. */
static void identify_failed(const flow_policy *policy, flow_session *s,
                            flow_result why) {
  s->last_result = why;
  if (s->identify_attempts >= policy->max_identify_attempts)
    complete(s, FLOW_OUTCOME_IDENTIFY_FAILED);
  else
    s->state = FLOW_STATE_AWAITING_IDENTIFIER;
}

/* A failed verification attempt (already counted by the store): ask again,
 * or hand the caller to an agent once the attempts are used up. */
static void verify_failed(const flow_policy *policy, flow_session *s,
                          flow_result why) {
  s->last_result = why;
  if (s->verify_attempts >= policy->max_verify_attempts)
    complete(s, FLOW_OUTCOME_VERIFY_FAILED);
  else
    s->state = FLOW_STATE_AWAITING_SECURITY;
}

/* Give back the attempt the store reserved for a submission the CRM could
 * not answer. */
static void refund(int *attempts) {
  if (*attempts > 0)
    (*attempts)--;
}

/* Whether `name` is one of the `count` entries of `list`. */
static bool listed(const char *name, const char *list, size_t stride,
                   int count) {
  for (int i = 0; i < count; i++)
    if (strcmp(name, list + (size_t)i * stride) == 0)
      return true;
  return false;
}

/* The line's acceptFrom lets a link from `ls` in: its service line and
 * its channel (voice for a record that names none) are listed, where a
 * list is restricted at all. */
static bool link_accepted(const flow_link_accept *a, const flow_session *ls) {
  const char *channel = ls->channel[0] ? ls->channel : FLOW_DEFAULT_CHANNEL;
  if (a->lines_restricted &&
      !listed(ls->service_line, a->lines[0], sizeof a->lines[0], a->line_count))
    return false;
  return !a->channels_restricted ||
         listed(channel, a->channels[0], sizeof a->channels[0],
                a->channel_count);
}

/* A step held by a shared failed-attempt limit (flow.h, FLOW_HOLD_SHARED):
 * the caller did nothing wrong, so the attempt is given back, nothing is
 * recorded (lockout effect NONE gives back what the store reserved), and
 * the call goes to an agent as if the CRM could not be asked. */
static void hold_shared(flow_session *s, int *attempts) {
  refund(attempts);
  s->last_result = FLOW_RESULT_NONE;
  complete(s, FLOW_OUTCOME_CRM_UNAVAILABLE);
}

/*
 * Whether a linked session's context may be carried (SPEC §7): the link
 * is on for the line, the session exists, has completed, identified
 * someone, its ORIGINAL proof (context_ms, carried unchanged through
 * links) is younger than reuseSeconds, and the line accepts links from its
 * line and channel. A customer locked out since is carried only to be
 * completed as locked.
 */
static flow_link_verdict link_verdict(const flow_policy *policy,
                                      const flow_link *link, int64_t now_ms) {
  if (!link)
    return FLOW_LINK_NONE;
  if (policy->context_reuse_seconds <= 0)
    return FLOW_LINK_OFF;
  if (!link->found)
    return FLOW_LINK_UNKNOWN;
  const flow_session *ls = &link->session;
  if (ls->state != FLOW_STATE_COMPLETED)
    return FLOW_LINK_IN_PROGRESS;
  if (!ls->identified || !ls->customer_id[0])
    return FLOW_LINK_NOT_IDENTIFIED;
  if (ls->context_ms <= 0 ||
      now_ms - ls->context_ms >= (int64_t)policy->context_reuse_seconds * 1000)
    return FLOW_LINK_EXPIRED;
  if (!link_accepted(&policy->accept_from, ls))
    return FLOW_LINK_NOT_ACCEPTED;
  return link->customer_locked ? FLOW_LINK_LOCKED : FLOW_LINK_USED;
}

/*
 * The customer (and, when verified, the verification) of a redeemed
 * handoff or a usable link, with the time of the original proof. A
 * verified context completes; an identified-only one asks for the
 * security answer on a line that requires it and completes otherwise.
 * The store re-checks the customer's lockout at commit (check_lockout), so
 * a customer locked between the read and the write is still caught.
 */
static void carry_context(const flow_policy *policy, flow_step *out,
                          flow_method method, const char *customer_id,
                          const char *customer_name, bool verified,
                          int64_t context_ms, const char *channel) {
  flow_session *s = &out->session;
  s->identified = true;
  s->method = method;
  s->last_result = FLOW_RESULT_MATCH;
  copy_field(s->customer_id, sizeof s->customer_id, customer_id,
             FLOW_CUSTOMER_ID_MAX + 1);
  copy_field(s->customer_name, sizeof s->customer_name, customer_name,
             FLOW_CUSTOMER_NAME_MAX + 1);
  copy_field(s->context_channel, sizeof s->context_channel, channel,
             FLOW_CHANNEL_MAX + 1);
  s->context_ms = context_ms;
  s->verified = verified;
  out->check_lockout = verified || policy->verification;
  if (verified)
    complete(s, FLOW_OUTCOME_VERIFIED);
  else if (policy->verification) {
    s->state = FLOW_STATE_AWAITING_SECURITY;
    flow_otp_on_identified(policy, out); /* a code first? */
  } else
    complete(s, FLOW_OUTCOME_IDENTIFIED_ONLY);
}

/* Same caller number on both calls: equal keyed hashes, neither empty (a
 * withheld or unusable number matches nothing). */
static bool same_number(const flow_session *a, const flow_session *b) {
  return a->ani_hash[0] && b->ani_hash[0] &&
         strncmp(a->ani_hash, b->ani_hash, sizeof a->ani_hash) == 0;
}

/*
 * START with a usable link: carry it, or complete as locked. The linked
 * session is only read. Its verification is carried only from a session
 * that completed verified (never from one completed locked or otherwise),
 * and only to a call from the same number: the linked ID is a bearer
 * credential, so a call from another number gets the identification only
 * (FLOW_LINK_OTHER_NUMBER, lastResult no_match) and, on a line that
 * requires it, is asked the security answer.
 */
static void carry_link(const flow_policy *policy, const flow_session *ls,
                       flow_step *out) {
  bool proof =
      flow_session_verified(ls) && ls->outcome == FLOW_OUTCOME_VERIFIED;
  bool withheld = proof && !same_number(ls, &out->session);
  carry_context(policy, out, FLOW_METHOD_LINKED, ls->customer_id,
                ls->customer_name, proof && !withheld, ls->context_ms,
                ls->channel);
  COPY_FIELD(out->session.linked_conversation_id, ls->conversation_id);
  if (withheld && out->link == FLOW_LINK_USED) {
    out->link = FLOW_LINK_OTHER_NUMBER;
    out->session.last_result = FLOW_RESULT_NO_MATCH;
  }
  if (out->link == FLOW_LINK_LOCKED) {
    out->session.verified = false;
    out->session.last_result = FLOW_RESULT_NONE;
    out->check_lockout = false;
    out->otp_send = false;
    complete(&out->session, FLOW_OUTCOME_LOCKED);
  }
}

/*
 * A fresh session asks for an identifier. The ANI is kept only masked; when
 * it is a usable number and the line looks callers up by ANI, the E.164
 * form goes to the CRM (it lives in the request, never in the session).
 */
flow_plan_status flow_start(const flow_policy *policy,
                            const flow_session *session_in,
                            const flow_event *event, flow_step *out) {
  flow_session fresh;
  memset(&fresh, 0, sizeof fresh);
  COPY_FIELD(fresh.conversation_id, session_in->conversation_id);
  COPY_FIELD(fresh.service_line, session_in->service_line);
  COPY_FIELD(fresh.language, session_in->language);
  COPY_FIELD(fresh.ani_hash, session_in->ani_hash);
  COPY_FIELD(fresh.channel, session_in->channel);
  if (!fresh.channel[0])
    COPY_FIELD(fresh.channel, FLOW_DEFAULT_CHANNEL);
  COPY_FIELD(fresh.ani_digest, session_in->ani_digest);
  fresh.created_ms = session_in->created_ms;
  fresh.state = FLOW_STATE_AWAITING_IDENTIFIER;
  fresh.outcome = FLOW_OUTCOME_PENDING;
  fresh.last_result = FLOW_RESULT_NONE;
  fresh.method = FLOW_METHOD_NONE;
  step_init(out, &fresh, event->now_ms);

  char e164[PHONE_E164_MAX + 1];
  bool have_ani = phone_normalise(event->ani, policy->default_country_code,
                                  e164, sizeof e164);
  if (have_ani)
    phone_mask(e164, out->session.ani_masked, sizeof out->session.ani_masked);
  out->link = link_verdict(policy, event->link, event->now_ms);
  if (out->link == FLOW_LINK_USED || out->link == FLOW_LINK_LOCKED) {
    carry_link(policy, &event->link->session, out);
    return FLOW_PLAN_DONE;
  }
  if (event->crm_down && !policy->ask_when_crm_down) {
    /* Nothing the caller keys could be checked: transfer at once. */
    out->session.last_result = FLOW_RESULT_CRM_ERROR;
    complete(&out->session, FLOW_OUTCOME_CRM_UNAVAILABLE);
    return FLOW_PLAN_DONE;
  }
  if (!have_ani || !policy->ani_lookup)
    return FLOW_PLAN_DONE;
  out->crm.kind = FLOW_CRM_LOOKUP;
  out->crm.from_ani = true;
  out->crm.lookup_type = FLOW_ID_PHONE;
  COPY_FIELD(out->crm.lookup_value, e164);
  return FLOW_PLAN_NEED_CRM;
}

unsigned flow_event_allowed_states(flow_event_kind kind) {
  switch (kind) {
  case FLOW_EV_IDENTIFIER:
    return 1u << FLOW_STATE_AWAITING_IDENTIFIER;
  case FLOW_EV_SECURITY:
    return 1u << FLOW_STATE_AWAITING_SECURITY;
  case FLOW_EV_OPT_OUT:
  case FLOW_EV_HANDOFF:
    return (1u << FLOW_STATE_AWAITING_IDENTIFIER) |
           (1u << FLOW_STATE_AWAITING_SECURITY) |
           (1u << FLOW_STATE_AWAITING_OTP);
  case FLOW_EV_OTP:
  case FLOW_EV_OTP_RESEND:
    return 1u << FLOW_STATE_AWAITING_OTP;
  case FLOW_EV_START:
    break; /* START creates a session; it is never applied to one */
  }
  return 0;
}

flow_attempt_counter flow_event_counter(flow_event_kind kind) {
  switch (kind) {
  case FLOW_EV_IDENTIFIER:
    return FLOW_COUNTER_IDENTIFIER;
  case FLOW_EV_HANDOFF:
    return FLOW_COUNTER_IDENTIFY;
  case FLOW_EV_SECURITY:
  case FLOW_EV_OTP: /* a wrong code costs what a wrong answer does */
    return FLOW_COUNTER_VERIFY;
  case FLOW_EV_START:
  case FLOW_EV_OPT_OUT:
  case FLOW_EV_OTP_RESEND:
    break;
  }
  return FLOW_COUNTER_NONE;
}

/* IDENTIFIER: the attempt is already counted. A failed-identification
 * limit that holds the step ends the call without a CRM call (flow.h,
 * flow_hold). Invalid digits are a failed attempt without a CRM call,
 * counted toward those limits; valid ones become a lookup. */
static flow_plan_status plan_identifier(const flow_policy *policy,
                                        const flow_event *event,
                                        flow_step *out) {
  flow_session *s = &out->session;
  if (event->hold == FLOW_HOLD_SHARED) {
    hold_shared(s, &s->identify_attempts);
    return FLOW_PLAN_DONE;
  }
  if (event->hold == FLOW_HOLD_CALLER) {
    s->last_result = FLOW_RESULT_NONE;
    complete(s, FLOW_OUTCOME_IDENTIFY_FAILED);
    return FLOW_PLAN_DONE;
  }
  flow_identifier_type type = event->has_identifier_type
                                  ? event->identifier_type
                                  : policy->identifier_type;
  char value[FLOW_VALUE_MAX + 1];
  if (!flow_normalise_identifier(policy, type, event->identifier, value,
                                 sizeof value)) {
    identify_failed(policy, s, FLOW_RESULT_INVALID_INPUT);
    out->lockout = FLOW_LOCKOUT_IDENTIFY_FAILURE;
    return FLOW_PLAN_DONE;
  }
  out->crm.kind = FLOW_CRM_LOOKUP;
  out->crm.from_ani = false;
  out->crm.lookup_type = type;
  COPY_FIELD(out->crm.lookup_value, value);
  return FLOW_PLAN_NEED_CRM;
}

/* SECURITY: the attempt is already counted. A customer the store found
 * locked, or a caller whose own number is at its limit, goes to an agent
 * before the answer is even looked at, so a locked account cannot be
 * probed. A shared limit holds every caller but one identified by their
 * number on file (flow.h, flow_hold). Malformed answers are a failed
 * attempt without a CRM call. */
static flow_plan_status plan_security(const flow_policy *policy,
                                      const flow_event *event,
                                      bool customer_locked, flow_step *out) {
  flow_session *s = &out->session;
  if (customer_locked || event->hold == FLOW_HOLD_CALLER) {
    s->last_result = FLOW_RESULT_NONE;
    complete(s, FLOW_OUTCOME_LOCKED);
    return FLOW_PLAN_DONE;
  }
  if (event->hold == FLOW_HOLD_SHARED && s->method != FLOW_METHOD_ANI) {
    hold_shared(s, &s->verify_attempts);
    return FLOW_PLAN_DONE;
  }
  if (!answer_ok(event->answer)) {
    verify_failed(policy, s, FLOW_RESULT_INVALID_INPUT);
    return FLOW_PLAN_DONE;
  }
  out->crm.kind = FLOW_CRM_VERIFY;
  COPY_FIELD(out->crm.customer_id, s->customer_id);
  return FLOW_PLAN_NEED_CRM;
}

/*
 * HANDOFF: the identify attempt is already counted and the store has
 * looked the code up (and used it up when it matched). A failure keeps
 * the state the caller was in: a caller already identified (awaiting the
 * security answer) is not sent back to the identifier question; once the
 * identify attempts are spent the call goes to an agent.
 */
static flow_plan_status plan_handoff(const flow_policy *policy,
                                     const flow_handoff *h, flow_step *out) {
  flow_session *s = &out->session;
  if (h && h->status == FLOW_HANDOFF_REDEEMED) {
    carry_context(policy, out, FLOW_METHOD_HANDOFF, h->customer_id,
                  h->customer_name, h->verified, h->created_ms, h->channel);
    s->linked_conversation_id[0] = '\0';
    return FLOW_PLAN_DONE;
  }
  s->last_result = h && h->status == FLOW_HANDOFF_INVALID
                       ? FLOW_RESULT_INVALID_INPUT
                       : FLOW_RESULT_NO_MATCH;
  if (s->identify_attempts >= policy->max_identify_attempts)
    complete(s, FLOW_OUTCOME_IDENTIFY_FAILED);
  return FLOW_PLAN_DONE;
}

/*
 * Dispatch a caller's step on a loaded session. An event outside its
 * allowed states (or a session whose state is corrupt) is WRONG_STATE and
 * out->session is the input unchanged but for updated_ms.
 */
flow_plan_status flow_plan(const flow_policy *policy,
                           const flow_session *session, const flow_event *event,
                           bool customer_locked, flow_step *out) {
  step_init(out, session, event->now_ms);
  if ((unsigned)session->state > FLOW_STATE_AWAITING_OTP ||
      !(flow_event_allowed_states(event->kind) & (1u << session->state)))
    return FLOW_PLAN_WRONG_STATE;

  switch (event->kind) {
  case FLOW_EV_IDENTIFIER:
    return plan_identifier(policy, event, out);
  case FLOW_EV_SECURITY:
    return plan_security(policy, event, customer_locked, out);
  case FLOW_EV_OPT_OUT:
    out->session.last_result = FLOW_RESULT_NONE;
    complete(&out->session, FLOW_OUTCOME_OPTED_OUT);
    return FLOW_PLAN_DONE;
  case FLOW_EV_HANDOFF:
    return plan_handoff(policy, event->handoff, out);
  case FLOW_EV_OTP:
  case FLOW_EV_OTP_RESEND:
    return flow_otp_plan(policy, event, customer_locked, out);
  case FLOW_EV_START:
    break;
  }
  return FLOW_PLAN_WRONG_STATE;
}

/* A lookup that claims one match but names no customer cannot be verified
 * or shown to an agent: it is treated as a CRM fault. */
static bool lookup_ok(const flow_crm_result *r) {
  return r->ok && (r->match_count != 1 || r->customer_id[0] != '\0');
}

static flow_result miss_result(const flow_crm_result *r) {
  return r->match_count <= 0 ? FLOW_RESULT_NO_MATCH
                             : FLOW_RESULT_MULTIPLE_MATCHES;
}

/* ANI lookups are free: whatever the CRM says, the caller has spent no
 * attempt, and anything but exactly one match means asking for an
 * identifier. */
static void complete_ani(const flow_policy *policy,
                         const flow_crm_result *result, flow_step *out) {
  flow_session *s = &out->session;
  if (!lookup_ok(result))
    s->last_result = FLOW_RESULT_CRM_ERROR;
  else if (result->match_count == 1)
    identify(policy, out, FLOW_METHOD_ANI, result);
  else
    s->last_result = miss_result(result);
}

/* The caller's identifier lookup. A CRM fault refunds the attempt and
 * completes as crm_unavailable (SPEC §3 Outcomes). */
static void complete_identifier(const flow_policy *policy,
                                const flow_crm_result *result, flow_step *out) {
  flow_session *s = &out->session;
  if (!lookup_ok(result)) {
    refund(&s->identify_attempts);
    s->last_result = FLOW_RESULT_CRM_ERROR;
    complete(s, FLOW_OUTCOME_CRM_UNAVAILABLE);
  } else if (result->match_count == 1) {
    identify(policy, out, FLOW_METHOD_IDENTIFIER, result);
  } else {
    /* Several matches count too: the caller did not get identified, and
     * telling one from none still says the digits belong to someone. */
    identify_failed(policy, s, miss_result(result));
    out->lockout = FLOW_LOCKOUT_IDENTIFY_FAILURE;
  }
}

/*
 * The security answer's check. Right and wrong answers tell the store what
 * to do with the cross-call failure counter. A CRM fault is free only when
 * the request was never sent; once it reached the CRM (any status the
 * mapping does not know, an unusable body, a timeout after sending) the
 * attempt and the lockout failure stay counted, so an unmapped "wrong PIN"
 * status cannot be used as a free oracle. Either way the call goes to an
 * agent as crm_unavailable. The CRM's own "locked" answer is also an
 * answer to a guess: it counts too. A request sent that got no HTTP
 * answer at all (a timeout) counts for the customer only
 * (FLOW_LOCKOUT_RECORD_UNANSWERED): it tells the caller nothing, and a
 * slow CRM must not trip the limits that hold other callers.
 */
static void complete_verify(const flow_policy *policy,
                            const flow_crm_result *result, flow_step *out) {
  flow_session *s = &out->session;
  if (!result->ok) {
    if (result->sent)
      out->lockout = result->answered ? FLOW_LOCKOUT_RECORD_FAILURE
                                      : FLOW_LOCKOUT_RECORD_UNANSWERED;
    else
      refund(&s->verify_attempts);
    s->last_result = FLOW_RESULT_CRM_ERROR;
    complete(s, FLOW_OUTCOME_CRM_UNAVAILABLE);
  } else if (result->locked) {
    s->last_result = FLOW_RESULT_NONE;
    out->lockout = FLOW_LOCKOUT_RECORD_FAILURE;
    complete(s, FLOW_OUTCOME_LOCKED);
  } else if (result->verified) {
    if (flow_otp_after_answer(policy, out))
      return; /* answer_then_otp: a code next */
    s->verified = true;
    s->context_ms = s->updated_ms; /* an original verification */
    s->last_result = FLOW_RESULT_MATCH;
    out->lockout = FLOW_LOCKOUT_CLEAR;
    complete(s, FLOW_OUTCOME_VERIFIED);
  } else {
    out->lockout = FLOW_LOCKOUT_RECORD_FAILURE;
    verify_failed(policy, s, FLOW_RESULT_WRONG_ANSWER);
  }
}

void flow_complete(const flow_policy *policy, const flow_session *planned,
                   const flow_crm_request *request,
                   const flow_crm_result *result, int64_t now_ms,
                   flow_step *out) {
  step_init(out, planned, now_ms);
  switch (request->kind) {
  case FLOW_CRM_LOOKUP:
    if (request->from_ani)
      complete_ani(policy, result, out);
    else
      complete_identifier(policy, result, out);
    break;
  case FLOW_CRM_VERIFY:
    complete_verify(policy, result, out);
    break;
  case FLOW_CRM_NONE:
    break; /* nothing was asked: the planned session stands */
  }
}

void flow_lock_out(const flow_session *session, int64_t now_ms,
                   flow_session *out) {
  *out = *session;
  out->updated_ms = now_ms;
  out->last_result = FLOW_RESULT_NONE;
  out->verified = false; /* a handoff's or a link's: never shown locked */
  complete(out, FLOW_OUTCOME_LOCKED);
}

bool flow_session_verified(const flow_session *s) {
  return s->identified && s->verified && s->outcome != FLOW_OUTCOME_LOCKED;
}

/* The closing prompt for a completed session. An outcome that should not
 * occur on a completed session gets the agent-transfer prompt, matching
 * flow_view_of()'s choice to transfer in that case. */
static const char *completed_prompt(flow_outcome outcome) {
  switch (outcome) {
  case FLOW_OUTCOME_VERIFIED:
    return "welcome_verified";
  case FLOW_OUTCOME_IDENTIFIED_ONLY:
    return "welcome_identified";
  case FLOW_OUTCOME_OPTED_OUT:
    return "opted_out";
  case FLOW_OUTCOME_LOCKED:
    return "transfer_locked";
  case FLOW_OUTCOME_CRM_UNAVAILABLE:
    return "transfer_crm_unavailable";
  case FLOW_OUTCOME_IDENTIFY_FAILED:
  case FLOW_OUTCOME_VERIFY_FAILED:
  case FLOW_OUTCOME_PENDING:
    break;
  }
  return "transfer_to_agent";
}

/*
 * What the IVR should do and say next. attemptsRemaining counts what is
 * left for the step being asked (never negative, 0 once completed). The
 * name may be spoken only once verified, unless the line opted in. A
 * session that is not in a known state is shown as completed and handed to
 * an agent: a person is the safe answer to a corrupt record.
 */
void flow_view_of(const flow_policy *policy, const flow_session *s,
                  flow_view *out) {
  memset(out, 0, sizeof *out);
  if (flow_session_verified(s))
    out->auth_status = FLOW_AUTH_IDENTIFIED_VERIFIED;
  else if (s->identified)
    out->auth_status = FLOW_AUTH_IDENTIFIED;
  else
    out->auth_status = FLOW_AUTH_NOT_IDENTIFIED;

  out->speak_name =
      flow_session_verified(s) || policy->greet_before_verification;
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
  case FLOW_STATE_AWAITING_OTP:
    flow_otp_view(policy, s, out, &remaining);
    break;
  case FLOW_STATE_COMPLETED:
  default: {
    bool ends_well = s->outcome == FLOW_OUTCOME_VERIFIED ||
                     s->outcome == FLOW_OUTCOME_IDENTIFIED_ONLY ||
                     s->outcome == FLOW_OUTCOME_OPTED_OUT;
    out->next_action =
        ends_well ? FLOW_NEXT_CONTINUE : FLOW_NEXT_TRANSFER_TO_AGENT;
    out->prompt_id = completed_prompt(s->outcome);
    break;
  }
  }
  out->attempts_remaining = remaining > 0 ? remaining : 0;
}
