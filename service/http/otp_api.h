/*
 * otp_api: the edge of one-time codes (SPEC §9) for api's session steps:
 * the phone on file sealed into the session after a lookup, the keyed hash
 * of a submitted code, and the send a planned step asks for
 * (flow_step.otp_send): the process-wide budget, the per-customer and
 * per-phone limits (one Redis script), the code drawn from getrandom, the
 * SMS through otp_send on the loop, then flow_otp_sent(). Every part of it
 * runs on the step's loop thread and none blocks.
 *
 * The code exists in clear only inside otp_api_send's stack frame and the
 * send's request body (wiped with its job); logs name the result, never a
 * code or a number.
 */
#ifndef AUTHFLOW_OTP_API_H
#define AUTHFLOW_OTP_API_H

#include <stdbool.h>

#include "config.h"
#include "flow.h"
#include "store_async.h"

/* Called once the send has been applied to the step (on the loop). */
typedef void (*otp_api_then_fn)(void *ctx);

/* One step's send in flight. Zeroed by otp_api_send. */
typedef struct {
  const config_service_line *line;
  flow_step *step;                 /* where flow_otp_sent writes */
  char digest[OTP_DIGEST_HEX + 1]; /* the new code's keyed hash */
  char phone[OTP_PHONE_MAX + 1];   /* opened for this send; wiped */
  store_result store;
  otp_api_then_fn then;
  void *ctx;
  int64_t started_ms; /* when the step arrived (loop_now_ms) */
} otp_api_send_state;

/* Keep cfg (borrowed) and set up the sender. */
void otp_api_init(const config *cfg);

/* After a lookup identified someone: seal result->phone (normalised to
 * E.164 with the line's country code) into s->otp, or clear it. */
void otp_api_note_phone(const config_service_line *line,
                        const flow_crm_result *result, flow_session *s);

/* The keyed hash of a submitted code under the session's current send
 * into out[OTP_DIGEST_HEX + 1] ("" when no secret or no code). */
void otp_api_code_digest(const flow_session *s, const char *code, char *out);

/* Carry out step->otp_send (see above); then(ctx) once applied. `st` must
 * stay in place until then. `started_ms` (loop_now_ms) is when the step
 * arrived: the send gets what is left of the CRM budget (crm.budgetMs) from
 * then, at most otp.timeoutMs, so the commit still fits the step's budget;
 * a send that would have less than OTP_API_MIN_SEND_MS is not attempted (a
 * send failure: the line falls back). The limits script waits for Redis
 * within the step's budget (config_step_budget_ms). */
#define OTP_API_MIN_SEND_MS 250
void otp_api_send(otp_api_send_state *st, const config_service_line *line,
                  flow_step *step, int64_t started_ms, otp_api_then_fn then,
                  void *ctx);

/* Count a checked code in the metrics (by the step's last result). */
void otp_api_note_check(const flow_session *s);

#endif
