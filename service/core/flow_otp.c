/*
 * flow_otp: one-time-code transitions (see flow_otp.h for the methods and
 * what each step costs). Pure like flow.c: the code itself never reaches
 * the flow, only its keyed hash (computed by the edge) and, for a format
 * check, the keyed text, which is read and never copied.
 */
#include "flow_otp.h"

#include <string.h>

static void complete(flow_session *s, flow_outcome outcome) {
  s->state = FLOW_STATE_COMPLETED;
  s->outcome = outcome;
}

/* The live code is used up or dead: nothing can match it any more. */
static void void_code(otp_session *o) {
  memset(o->digest, 0, sizeof o->digest);
  o->expires_ms = 0;
  o->checks = 0;
}

static bool code_live(const otp_session *o, int64_t now_ms) {
  return o->digest[0] && o->expires_ms > now_ms;
}

/* No code can be had (none went, none left to send): otp_or_answer asks
 * for the security answer (the attempts are shared); otp and
 * answer_then_otp go to an agent. */
static void fall_back(const flow_policy *policy, flow_step *out,
                      flow_result why) {
  flow_session *s = &out->session;
  void_code(&s->otp);
  s->otp.fell_back = true;
  s->last_result = why;
  if (policy->otp.method == OTP_METHOD_OTP_OR_ANSWER &&
      !(s->otp.passed & OTP_PASSED_ANSWER) &&
      s->verify_attempts < policy->max_verify_attempts)
    s->state = FLOW_STATE_AWAITING_SECURITY;
  else
    complete(s, FLOW_OUTCOME_VERIFY_FAILED);
}

void flow_otp_on_identified(const flow_policy *policy, flow_step *out) {
  otp_method m = policy->otp.method;
  if (m == OTP_METHOD_OTP || m == OTP_METHOD_OTP_OR_ANSWER)
    out->otp_send = true;
}

bool flow_otp_after_answer(const flow_policy *policy, flow_step *out) {
  flow_session *s = &out->session;
  s->otp.passed |= OTP_PASSED_ANSWER;
  if (policy->otp.method != OTP_METHOD_ANSWER_THEN_OTP)
    return false;
  /* Not verified yet: the reserved lockout failure is given back (no
   * verification failed) and cleared only once the code is right. */
  s->last_result = FLOW_RESULT_MATCH;
  out->lockout = FLOW_LOCKOUT_NONE;
  out->otp_send = true;
  return true;
}

/* A failed code attempt (already counted): ask again, or an agent once the
 * verify attempts are spent. */
static void code_failed(const flow_policy *policy, flow_session *s,
                        flow_result why) {
  s->last_result = why;
  if (s->verify_attempts >= policy->max_verify_attempts) {
    void_code(&s->otp);
    complete(s, FLOW_OUTCOME_VERIFY_FAILED);
  } else {
    s->state = FLOW_STATE_AWAITING_OTP;
  }
}

static flow_plan_status plan_code(const flow_policy *policy,
                                  const flow_event *ev, flow_step *out) {
  flow_session *s = &out->session;
  switch (otp_check(&s->otp, policy->otp.length, ev->otp_code, ev->otp_digest,
                    ev->now_ms)) {
  case OTP_CHECK_MATCH:
    void_code(&s->otp);
    s->otp.passed |= OTP_PASSED_OTP;
    s->verified = true;
    s->context_ms = s->updated_ms; /* an original verification */
    s->last_result = FLOW_RESULT_MATCH;
    out->lockout = FLOW_LOCKOUT_CLEAR;
    complete(s, FLOW_OUTCOME_VERIFIED);
    break;
  case OTP_CHECK_WRONG:
    out->lockout = FLOW_LOCKOUT_RECORD_FAILURE;
    if (++s->otp.checks >= policy->otp.max_checks)
      void_code(&s->otp);
    code_failed(policy, s, FLOW_RESULT_WRONG_CODE);
    if (s->state == FLOW_STATE_AWAITING_OTP && !s->otp.digest[0] &&
        s->otp.sends >= policy->otp.max_sends)
      fall_back(policy, out, FLOW_RESULT_WRONG_CODE);
    break;
  case OTP_CHECK_INVALID:
    code_failed(policy, s, FLOW_RESULT_INVALID_INPUT);
    break;
  case OTP_CHECK_EXPIRED:
    /* Free: the caller could not have known; ask for a new code. */
    if (s->verify_attempts > 0)
      s->verify_attempts--;
    void_code(&s->otp);
    s->last_result = FLOW_RESULT_CODE_EXPIRED;
    if (s->otp.sends >= policy->otp.max_sends)
      fall_back(policy, out, FLOW_RESULT_CODE_EXPIRED);
    break;
  }
  return FLOW_PLAN_DONE;
}

flow_plan_status flow_otp_plan(const flow_policy *policy,
                               const flow_event *event, bool customer_locked,
                               flow_step *out) {
  flow_session *s = &out->session;
  bool code = event->kind == FLOW_EV_OTP;
  if (customer_locked || (code && event->hold == FLOW_HOLD_CALLER)) {
    s->last_result = FLOW_RESULT_NONE;
    void_code(&s->otp);
    complete(s, FLOW_OUTCOME_LOCKED);
    return FLOW_PLAN_DONE;
  }
  if (code && event->hold == FLOW_HOLD_SHARED && s->method != FLOW_METHOD_ANI) {
    /* As for a security answer (flow.h, flow_hold): the caller did
     * nothing wrong; the attempt is given back, nothing recorded. */
    if (s->verify_attempts > 0)
      s->verify_attempts--;
    void_code(&s->otp);
    s->last_result = FLOW_RESULT_NONE;
    complete(s, FLOW_OUTCOME_CRM_UNAVAILABLE);
    return FLOW_PLAN_DONE;
  }
  if (code)
    return plan_code(policy, event, out);
  /* RESEND: honoured at once while sends remain. */
  if (s->otp.sends >= policy->otp.max_sends) {
    if (code_live(&s->otp, event->now_ms))
      s->last_result = FLOW_RESULT_SEND_LIMITED;
    else
      fall_back(policy, out, FLOW_RESULT_SEND_LIMITED);
    return FLOW_PLAN_DONE;
  }
  s->last_result = FLOW_RESULT_CODE_SENT;
  out->otp_send = true;
  return FLOW_PLAN_DONE;
}

void flow_otp_sent(const flow_policy *policy, flow_step *out,
                   flow_otp_send_status status, const char *digest,
                   int64_t now_ms) {
  flow_session *s = &out->session;
  out->otp_send = false;
  if (status == FLOW_OTP_SENT && digest && strlen(digest) == OTP_DIGEST_HEX) {
    otp_session *o = &s->otp;
    o->sends++;
    memcpy(o->digest, digest, OTP_DIGEST_HEX + 1);
    o->expires_ms = now_ms + (int64_t)policy->otp.ttl_seconds * 1000;
    o->checks = 0;
    s->state = FLOW_STATE_AWAITING_OTP;
    if (o->sends > 1)
      s->last_result = FLOW_RESULT_CODE_SENT;
    return;
  }
  if (status == FLOW_OTP_SEND_FAILED)
    s->otp.send_failures++;
  flow_result why = status == FLOW_OTP_NO_PHONE      ? FLOW_RESULT_NO_PHONE
                    : status == FLOW_OTP_SEND_FAILED ? FLOW_RESULT_SEND_FAILED
                                                     : FLOW_RESULT_SEND_LIMITED;
  if (s->state == FLOW_STATE_AWAITING_OTP && code_live(&s->otp, now_ms)) {
    s->last_result = why; /* the code sent before still works */
    return;
  }
  fall_back(policy, out, why);
}

void flow_otp_view(const flow_policy *policy, const flow_session *s,
                   flow_view *out, int *remaining) {
  out->next_action = FLOW_NEXT_ASK_OTP;
  *remaining = policy->max_verify_attempts - s->verify_attempts;
  if (!s->otp.digest[0])
    out->prompt_id = "ask_otp_expired";
  else if (s->last_result == FLOW_RESULT_WRONG_CODE ||
           s->last_result == FLOW_RESULT_INVALID_INPUT)
    out->prompt_id = "ask_otp_retry";
  else if (s->last_result == FLOW_RESULT_CODE_SENT)
    out->prompt_id = "ask_otp_resent";
  else if (s->last_result == FLOW_RESULT_SEND_FAILED ||
           s->last_result == FLOW_RESULT_SEND_LIMITED)
    out->prompt_id = "ask_otp_resend_failed";
  else
    out->prompt_id = "ask_otp";
}
