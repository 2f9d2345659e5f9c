/*
 * Fuzz the one-time code request body (POST /v1/sessions/{id}/otp) and
 * what the flow does with it: the body is parsed as REQUEST_OTP; a parsed
 * code is checked against a live code whose state comes from the input's
 * tail (otp_state_parse, which must round-trip through otp_state_format),
 * and a well-formed state is planned through flow_plan as OTP or RESEND.
 * Invariants: a refusal explains itself; exactly one of code / resend; a
 * code never matches without its digest; the flow never leaves a session
 * with a live code once it completed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "otp.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzz-otp-secret-0123456789";

static void check_state(const uint8_t *data, size_t size) {
  otp_session s;
  if (!otp_state_parse((const char *)data, size, &s))
    return;
  char text[OTP_STATE_MAX + 1];
  otp_session again;
  if (!otp_state_format(&s, text, sizeof text) ||
      !otp_state_parse(text, strlen(text), &again) ||
      memcmp(&s, &again, sizeof s) != 0)
    abort(); /* what parses must round-trip */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  size_t split = data[0] % size;
  const uint8_t *body = data + 1;
  size_t body_len = split > 0 ? split - 1 : 0;
  check_state(data + 1 + body_len, size - 1 - body_len);

  request_body req;
  request_status st =
      request_parse(REQUEST_OTP, (const char *)body, body_len, &req);
  if (st != REQUEST_OK && req.message[0] == '\0')
    abort();
  if (st == REQUEST_OK && (req.resend == (req.code != NULL)))
    abort(); /* exactly one of code and resend */
  if (st == REQUEST_OK) {
    flow_policy p = {.verification = true,
                     .max_identify_attempts = 3,
                     .max_verify_attempts = 3,
                     .otp = {OTP_METHOD_OTP, 6, 300, 3, 3}};
    flow_session s;
    memset(&s, 0, sizeof s);
    strcpy(s.conversation_id, "c-1");
    s.state = FLOW_STATE_AWAITING_OTP;
    s.identified = true;
    s.verify_attempts = 1;
    s.otp.sends = 1;
    s.otp.expires_ms = 2000;
    otp_code_digest(secret, sizeof secret - 1, "c-1", 1, "123456",
                    s.otp.digest);
    char digest[OTP_DIGEST_HEX + 1] = "";
    if (req.code && strlen(req.code) <= OTP_LENGTH_MAX)
      otp_code_digest(secret, sizeof secret - 1, "c-1", 1, req.code, digest);
    flow_event ev = {.kind = req.resend ? FLOW_EV_OTP_RESEND : FLOW_EV_OTP,
                     .otp_code = req.code,
                     .otp_digest = digest,
                     .now_ms = 1000};
    flow_step out;
    flow_plan(&p, &s, &ev, false, &out);
    bool right = req.code && strcmp(req.code, "123456") == 0;
    if (out.session.verified != right)
      abort(); /* only the code verifies */
    if (out.session.state == FLOW_STATE_COMPLETED && out.session.otp.digest[0])
      abort(); /* a completed session keeps no live code */
  }
  request_free(&req);
  return 0;
}
