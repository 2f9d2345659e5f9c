/*
 * flow_otp: the one-time-code transitions of the ID&V state machine (SPEC
 * §9), kept apart from flow.c. Internal to the flow: flow.c calls these at
 * the points named below; callers use flow.h (flow_otp_sent is declared
 * there).
 *
 * Methods (flow_policy.otp.method):
 *   answer           the security answer only (what flow.c does alone)
 *   otp              identified -> a code goes to the phone on file ->
 *                    awaiting_otp; no code can go -> an agent
 *   answer_then_otp  the right answer -> a code -> awaiting_otp; no code
 *                    can go -> an agent (verificationMethods: ["answer"])
 *   otp_or_answer    as otp, but when no code can go the security answer
 *                    is asked instead
 * A wrong code costs a verify attempt and a lockout failure exactly like a
 * wrong answer; input that cannot be a code costs the attempt only; a code
 * that is no longer live (expired, void after otp.maxChecks wrong entries)
 * costs nothing and the caller is asked to get a new one.
 */
#ifndef AUTHFLOW_FLOW_OTP_H
#define AUTHFLOW_FLOW_OTP_H

#include "flow.h"

/* A customer was just identified on a line that verifies (identify,
 * carry_context): on a line whose method starts with a code, ask the edge
 * to send one (out->otp_send). */
void flow_otp_on_identified(const flow_policy *policy, flow_step *out);

/* The security answer was right (complete_verify). True when the line
 * still wants a code (answer_then_otp): the step then asks for a send
 * instead of completing. Records the answer as passed either way. */
bool flow_otp_after_answer(const flow_policy *policy, flow_step *out);

/* OTP and OTP_RESEND on a session in awaiting_otp (state already checked;
 * for OTP the verify attempt is already counted). A customer locked out,
 * and for OTP a failed-attempt limit (event->hold), are handled as for a
 * security answer (flow.h, flow_hold). */
flow_plan_status flow_otp_plan(const flow_policy *policy,
                               const flow_event *event, bool customer_locked,
                               flow_step *out);

/* The view of a session in awaiting_otp: ask_otp with the verify attempts
 * left and the prompt that fits the last result. */
void flow_otp_view(const flow_policy *policy, const flow_session *s,
                   flow_view *out, int *remaining);

#endif
