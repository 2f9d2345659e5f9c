/*
 * core/otp and core/flow_otp: codes, their keyed hash, the sealed phone,
 * the state field, and the one-time-code transitions as a table of
 * (method, session, event) rows with the expected session.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"
#include "otp.h"
#include "report.h"
#include "report_otp.h"
#include "request.h"

static const char key[] = "unit-otp-secret-0123456789";
#define KEYLEN (sizeof key - 1)

static void test_methods(void **state) {
  (void)state;
  otp_method m;
  assert_true(otp_method_parse("otp_or_answer", &m));
  assert_int_equal(m, OTP_METHOD_OTP_OR_ANSWER);
  assert_string_equal(otp_method_name(OTP_METHOD_ANSWER_THEN_OTP),
                      "answer_then_otp");
  assert_false(otp_method_parse("sms", &m));
  assert_false(otp_method_uses_code(OTP_METHOD_ANSWER));
  assert_true(otp_method_uses_code(OTP_METHOD_OTP));
}

static void
test_code_make_is_uniform_digits_and_skips_high_bytes(void **state) {
  (void)state;
  unsigned char r[OTP_RANDOM_BYTES];
  char code[OTP_LENGTH_MAX + 1];
  for (size_t i = 0; i < sizeof r; i++)
    r[i] = (unsigned char)(250 + i % 6); /* all rejected */
  r[10] = 3;
  r[20] = 249; /* 249 % 10 = 9 */
  r[30] = 17;
  r[40] = 0;
  assert_true(otp_code_make(r, sizeof r, 4, code));
  assert_string_equal(code, "3970");
  assert_false(otp_code_make(r, sizeof r, 5, code)); /* ran out */
  assert_string_equal(code, "");
  assert_false(otp_code_make(r, sizeof r, 3, code)); /* length < 4 */
  assert_false(otp_code_make(r, sizeof r, 11, code));
  assert_true(otp_code_well_formed("123456", 6));
  assert_false(otp_code_well_formed("12345", 6));
  assert_false(otp_code_well_formed("1234567", 6));
  assert_false(otp_code_well_formed("12345a", 6));
  assert_false(otp_code_well_formed(NULL, 6));
}

static void test_digest_binds_conversation_and_send(void **state) {
  (void)state;
  char a[OTP_DIGEST_HEX + 1], b[OTP_DIGEST_HEX + 1], c[OTP_DIGEST_HEX + 1];
  otp_code_digest(key, KEYLEN, "c-1", 1, "123456", a);
  otp_code_digest(key, KEYLEN, "c-1", 2, "123456", b);
  otp_code_digest(key, KEYLEN, "c-2", 1, "123456", c);
  assert_int_equal(strlen(a), OTP_DIGEST_HEX);
  assert_string_not_equal(a, b);
  assert_string_not_equal(a, c);
  assert_null(strstr(a, "123456"));
  otp_session s = {.expires_ms = 2000};
  memcpy(s.digest, a, sizeof a);
  assert_int_equal(otp_check(&s, 6, "123456", a, 1000), OTP_CHECK_MATCH);
  assert_int_equal(otp_check(&s, 6, "123457", b, 1000), OTP_CHECK_WRONG);
  assert_int_equal(otp_check(&s, 6, "123456", a, 2000), OTP_CHECK_EXPIRED);
  assert_int_equal(otp_check(&s, 6, "12345", a, 1000), OTP_CHECK_INVALID);
  s.digest[0] = '\0';
  assert_int_equal(otp_check(&s, 6, "123456", a, 1000), OTP_CHECK_EXPIRED);
}

static void test_phone_seal_round_trip_and_tamper(void **state) {
  (void)state;
  char sealed[OTP_SEALED_HEX + 1], last2[3], out[OTP_PHONE_MAX + 1];
  assert_true(
      otp_phone_seal(key, KEYLEN, "c-1", "+13175550116", sealed, last2));
  assert_string_equal(last2, "16");
  assert_int_equal(strlen(sealed), OTP_SEALED_HEX);
  assert_null(strstr(sealed, "3175550116"));
  assert_true(otp_phone_open(key, KEYLEN, "c-1", sealed, out));
  assert_string_equal(out, "+13175550116");
  assert_false(
      otp_phone_open(key, KEYLEN, "c-2", sealed, out)); /* other call */
  assert_false(
      otp_phone_open("other-secret-0123456789", 23, "c-1", sealed, out));
  sealed[3] = sealed[3] == 'a' ? 'b' : 'a'; /* redirect attempt */
  assert_false(otp_phone_open(key, KEYLEN, "c-1", sealed, out));
  assert_string_equal(out, "");
  assert_false(otp_phone_seal(key, KEYLEN, "c-1", "3175550116", sealed, last2));
  assert_false(
      otp_phone_seal(key, KEYLEN, "c-1", "+1234567890123456", sealed, last2));
}

static void test_state_field_round_trip_and_refusals(void **state) {
  (void)state;
  otp_session s = {.passed = 3,
                   .sends = 2,
                   .checks = 1,
                   .expires_ms = 17,
                   .send_failures = 1,
                   .fell_back = true};
  otp_code_digest(key, KEYLEN, "c", 1, "1234", s.digest);
  otp_phone_seal(key, KEYLEN, "c", "+34912345678", s.phone, s.phone_last2);
  char text[OTP_STATE_MAX + 1];
  otp_session back;
  assert_true(otp_state_format(&s, text, sizeof text));
  assert_true(otp_state_parse(text, strlen(text), &back));
  assert_memory_equal(&s, &back, sizeof s);
  otp_session empty = {0};
  assert_true(otp_state_format(&empty, text, sizeof text));
  assert_string_equal(text, "");
  static const char *const bad[] = {
      "1,0,0,0,,,",    "1,0,0,0,,,,0,2", "1,0,0,0,,,,1000,0", "4,0,0,0,,,",
      "1,0,0,0,,",     "1,0,0,0,,,,",    "1,-1,0,0,,,",       "1,0,0,0,XYZ,,",
      "1,0,0,0,,,123", "1,0,0,0,,,1a",   "1,0000,0,0,,,",     "a,0,0,0,,,"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false(otp_state_parse(bad[i], strlen(bad[i]), &back));
}

static void test_request_body(void **state) {
  (void)state;
  static const struct {
    const char *body;
    bool ok;
    bool resend;
  } rows[] = {
      {"{\"code\":\"123456\"}", true, false},
      {"{\"resend\":true}", true, true},
      {"{\"code\":\"1\",\"resend\":false}", true, false},
      {"{}", false, false},
      {"{\"resend\":false}", false, false},
      {"{\"code\":\"1\",\"resend\":true}", false, false},
      {"{\"code\":123}", false, false},
      {"{\"resend\":\"true\"}", false, false},
      {"{\"code\":\"${input.code}\"}", false, false},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    request_body req;
    request_status st =
        request_parse(REQUEST_OTP, rows[i].body, strlen(rows[i].body), &req);
    assert_int_equal(st == REQUEST_OK, rows[i].ok);
    if (rows[i].ok)
      assert_int_equal(req.resend, rows[i].resend);
    else
      assert_true(req.message[0] != '\0');
    request_free(&req);
  }
}

/* ------------------------------------------------------------------ */

static flow_policy policy(otp_method m) {
  flow_policy p = {.verification = true,
                   .max_identify_attempts = 3,
                   .max_verify_attempts = 3,
                   .otp = {m, 6, 300, 3, 3}};
  return p;
}

/* A session awaiting code "123456" (send 1), live until 10 000 ms. */
static flow_session awaiting(int verify_attempts, int sends, int checks) {
  flow_session s;
  memset(&s, 0, sizeof s);
  strcpy(s.conversation_id, "c-1");
  s.state = FLOW_STATE_AWAITING_OTP;
  s.identified = true;
  s.verify_attempts = verify_attempts;
  s.otp.sends = sends;
  s.otp.checks = checks;
  s.otp.expires_ms = 10000;
  otp_code_digest(key, KEYLEN, "c-1", sends, "123456", s.otp.digest);
  return s;
}

typedef struct {
  const char *name;
  otp_method method;
  int attempts, sends, checks; /* of the session before */
  flow_event_kind kind;
  const char *code; /* OTP */
  int64_t now_ms;
  bool locked;
  /* expected */
  flow_state state;
  flow_outcome outcome;
  flow_result result;
  int attempts_after;
  flow_lockout_effect lockout;
  bool send;
  bool code_live;
} flow_row;

static void test_flow_table(void **state) {
  (void)state;
  static const flow_row rows[] = {
      {"right code verifies", OTP_METHOD_OTP, 1, 1, 0, FLOW_EV_OTP, "123456",
       1000, false, FLOW_STATE_COMPLETED, FLOW_OUTCOME_VERIFIED,
       FLOW_RESULT_MATCH, 1, FLOW_LOCKOUT_CLEAR, false, false},
      {"wrong code costs and records", OTP_METHOD_OTP, 1, 1, 0, FLOW_EV_OTP,
       "654321", 1000, false, FLOW_STATE_AWAITING_OTP, FLOW_OUTCOME_PENDING,
       FLOW_RESULT_WRONG_CODE, 1, FLOW_LOCKOUT_RECORD_FAILURE, false, true},
      {"last attempt wrong: agent", OTP_METHOD_OTP, 3, 1, 0, FLOW_EV_OTP,
       "654321", 1000, false, FLOW_STATE_COMPLETED, FLOW_OUTCOME_VERIFY_FAILED,
       FLOW_RESULT_WRONG_CODE, 3, FLOW_LOCKOUT_RECORD_FAILURE, false, false},
      {"maxChecks voids the code", OTP_METHOD_OTP, 1, 1, 2, FLOW_EV_OTP,
       "654321", 1000, false, FLOW_STATE_AWAITING_OTP, FLOW_OUTCOME_PENDING,
       FLOW_RESULT_WRONG_CODE, 1, FLOW_LOCKOUT_RECORD_FAILURE, false, false},
      {"expired is free", OTP_METHOD_OTP, 1, 1, 0, FLOW_EV_OTP, "123456", 10000,
       false, FLOW_STATE_AWAITING_OTP, FLOW_OUTCOME_PENDING,
       FLOW_RESULT_CODE_EXPIRED, 0, FLOW_LOCKOUT_NONE, false, false},
      {"expired, no sends left: answer", OTP_METHOD_OTP_OR_ANSWER, 1, 3, 0,
       FLOW_EV_OTP, "123456", 10000, false, FLOW_STATE_AWAITING_SECURITY,
       FLOW_OUTCOME_PENDING, FLOW_RESULT_CODE_EXPIRED, 0, FLOW_LOCKOUT_NONE,
       false, false},
      {"expired, no sends left: agent", OTP_METHOD_OTP, 1, 3, 0, FLOW_EV_OTP,
       "123456", 10000, false, FLOW_STATE_COMPLETED, FLOW_OUTCOME_VERIFY_FAILED,
       FLOW_RESULT_CODE_EXPIRED, 0, FLOW_LOCKOUT_NONE, false, false},
      {"not a code: attempt, no lockout", OTP_METHOD_OTP, 1, 1, 0, FLOW_EV_OTP,
       "12a456", 1000, false, FLOW_STATE_AWAITING_OTP, FLOW_OUTCOME_PENDING,
       FLOW_RESULT_INVALID_INPUT, 1, FLOW_LOCKOUT_NONE, false, true},
      {"locked customer", OTP_METHOD_OTP, 1, 1, 0, FLOW_EV_OTP, "123456", 1000,
       true, FLOW_STATE_COMPLETED, FLOW_OUTCOME_LOCKED, FLOW_RESULT_NONE, 1,
       FLOW_LOCKOUT_NONE, false, false},
      {"resend asks for a send", OTP_METHOD_OTP, 0, 1, 0, FLOW_EV_OTP_RESEND,
       NULL, 1000, false, FLOW_STATE_AWAITING_OTP, FLOW_OUTCOME_PENDING,
       FLOW_RESULT_CODE_SENT, 0, FLOW_LOCKOUT_NONE, true, true},
      {"resend past maxSends keeps the live code", OTP_METHOD_OTP, 0, 3, 0,
       FLOW_EV_OTP_RESEND, NULL, 1000, false, FLOW_STATE_AWAITING_OTP,
       FLOW_OUTCOME_PENDING, FLOW_RESULT_SEND_LIMITED, 0, FLOW_LOCKOUT_NONE,
       false, true},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const flow_row *r = &rows[i];
    flow_policy p = policy(r->method);
    flow_session s = awaiting(r->attempts, r->sends, r->checks);
    char digest[OTP_DIGEST_HEX + 1] = "";
    if (r->code)
      otp_code_digest(key, KEYLEN, "c-1", r->sends, r->code, digest);
    flow_event ev = {.kind = r->kind,
                     .otp_code = r->code,
                     .otp_digest = digest,
                     .now_ms = r->now_ms};
    flow_step out;
    print_message("row: %s\n", r->name);
    assert_int_equal(flow_plan(&p, &s, &ev, r->locked, &out), FLOW_PLAN_DONE);
    assert_int_equal(out.session.state, r->state);
    assert_int_equal(out.session.outcome, r->outcome);
    assert_int_equal(out.session.last_result, r->result);
    assert_int_equal(out.session.verify_attempts, r->attempts_after);
    assert_int_equal(out.lockout, r->lockout);
    assert_int_equal(out.otp_send, r->send);
    assert_int_equal(out.session.otp.digest[0] != '\0', r->code_live);
  }
}

/* A failed-attempt limit holds a code as it holds a security answer: the
 * caller's own number -> locked; a shared limit -> the attempt given back,
 * nothing recorded, an agent as crm_unavailable (not for an ANI caller). */
static void test_holds(void **state) {
  (void)state;
  flow_policy p = policy(OTP_METHOD_OTP);
  char digest[OTP_DIGEST_HEX + 1];
  otp_code_digest(key, KEYLEN, "c-1", 1, "654321", digest);
  flow_event ev = {.kind = FLOW_EV_OTP,
                   .otp_code = "654321",
                   .otp_digest = digest,
                   .hold = FLOW_HOLD_CALLER,
                   .now_ms = 1000};
  flow_session s = awaiting(1, 1, 0);
  flow_step out;
  assert_int_equal(flow_plan(&p, &s, &ev, false, &out), FLOW_PLAN_DONE);
  assert_int_equal(out.session.outcome, FLOW_OUTCOME_LOCKED);
  assert_int_equal(out.session.verify_attempts, 1);
  assert_string_equal(out.session.otp.digest, "");
  ev.hold = FLOW_HOLD_SHARED;
  assert_int_equal(flow_plan(&p, &s, &ev, false, &out), FLOW_PLAN_DONE);
  assert_int_equal(out.session.outcome, FLOW_OUTCOME_CRM_UNAVAILABLE);
  assert_int_equal(out.session.verify_attempts, 0);
  assert_int_equal(out.lockout, FLOW_LOCKOUT_NONE);
  s.method = FLOW_METHOD_ANI; /* checked all the same */
  assert_int_equal(flow_plan(&p, &s, &ev, false, &out), FLOW_PLAN_DONE);
  assert_int_equal(out.session.last_result, FLOW_RESULT_WRONG_CODE);
  assert_int_equal(out.lockout, FLOW_LOCKOUT_RECORD_FAILURE);
  /* A resend is not held by a verification limit. */
  ev.kind = FLOW_EV_OTP_RESEND;
  ev.hold = FLOW_HOLD_CALLER;
  assert_int_equal(flow_plan(&p, &s, &ev, false, &out), FLOW_PLAN_DONE);
  assert_true(out.otp_send);
}

static void test_sent_and_fallbacks(void **state) {
  (void)state;
  char digest[OTP_DIGEST_HEX + 1];
  otp_code_digest(key, KEYLEN, "c-1", 1, "111111", digest);
  /* A just-identified caller on an otp line: sent -> awaiting_otp. */
  flow_policy p = policy(OTP_METHOD_OTP);
  flow_step st;
  memset(&st, 0, sizeof st);
  st.session.state = FLOW_STATE_AWAITING_SECURITY;
  st.session.identified = true;
  st.otp_send = true;
  flow_otp_sent(&p, &st, FLOW_OTP_SENT, digest, 5000);
  assert_int_equal(st.session.state, FLOW_STATE_AWAITING_OTP);
  assert_int_equal(st.session.otp.sends, 1);
  assert_int_equal(st.session.otp.expires_ms, 5000 + 300000);
  assert_false(st.otp_send);
  /* No phone: otp_or_answer asks for the answer, otp goes to an agent. */
  static const struct {
    otp_method m;
    flow_otp_send_status status;
    flow_state state;
    flow_result result;
  } rows[] = {
      {OTP_METHOD_OTP_OR_ANSWER, FLOW_OTP_NO_PHONE,
       FLOW_STATE_AWAITING_SECURITY, FLOW_RESULT_NO_PHONE},
      {OTP_METHOD_OTP_OR_ANSWER, FLOW_OTP_BUDGET, FLOW_STATE_AWAITING_SECURITY,
       FLOW_RESULT_SEND_LIMITED},
      {OTP_METHOD_OTP, FLOW_OTP_SEND_FAILED, FLOW_STATE_COMPLETED,
       FLOW_RESULT_SEND_FAILED},
      {OTP_METHOD_ANSWER_THEN_OTP, FLOW_OTP_LIMITED, FLOW_STATE_COMPLETED,
       FLOW_RESULT_SEND_LIMITED},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    p = policy(rows[i].m);
    memset(&st, 0, sizeof st);
    st.session.state = FLOW_STATE_AWAITING_SECURITY;
    st.session.identified = true;
    st.otp_send = true;
    flow_otp_sent(&p, &st, rows[i].status, NULL, 5000);
    assert_int_equal(st.session.state, rows[i].state);
    assert_int_equal(st.session.last_result, rows[i].result);
    assert_false(st.session.verified);
    assert_true(st.session.otp.fell_back);
    assert_int_equal(st.session.otp.send_failures,
                     rows[i].status == FLOW_OTP_SEND_FAILED ? 1 : 0);
  }
}

/* Reports: a completed session's OTP counters and event fields, and the
 * counters read back by name into report_counts. */
static void test_report_figures(void **state) {
  (void)state;
  flow_session s;
  memset(&s, 0, sizeof s);
  strcpy(s.conversation_id, "c-1");
  strcpy(s.service_line, "secure");
  s.state = FLOW_STATE_COMPLETED;
  s.outcome = FLOW_OUTCOME_VERIFIED;
  s.identified = s.verified = true;
  s.created_ms = 1714557600000;
  s.updated_ms = 1714557612500;
  s.otp.passed = OTP_PASSED_ANSWER | OTP_PASSED_OTP;
  s.otp.sends = 2;
  s.otp.send_failures = 1;
  report_otp_incr incr[REPORT_OTP_COUNTERS];
  assert_int_equal(report_otp_counters(&s, incr), 4);
  char methods[REPORT_OTP_METHODS_MAX];
  report_otp_methods(&s, methods, sizeof methods);
  assert_string_equal(methods, "answer,otp");
  report_record r;
  report_build_record(&s, false, true, &r);
  report_counts c = {0};
  for (size_t i = 0; i < r.incr_count; i++) {
    char line[FLOW_NAME_MAX + 1];
    report_counts_add_field(&c, r.incr_field[i], atoll(r.incr_amount[i]), line,
                            sizeof line);
  }
  assert_int_equal(c.otp.asked, 1);
  assert_int_equal(c.otp.sends, 2);
  assert_int_equal(c.otp.send_failures, 1);
  assert_int_equal(c.otp.passed, 1);
  assert_int_equal(c.otp.fallbacks, 0);
  double rate;
  assert_true(report_otp_pass_rate(&c.otp, &rate));
  assert_true(rate == 1.0);
  bool saw_methods = false, saw_sends = false;
  for (size_t i = 0; i < r.event_count; i++) {
    if (!strcmp(r.event_name[i], "verificationMethods")) {
      assert_string_equal(r.event_value[i], "answer,otp");
      saw_methods = true;
    }
    if (!strcmp(r.event_name[i], "otpSends")) {
      assert_string_equal(r.event_value[i], "2");
      saw_sends = true;
    }
  }
  assert_true(saw_methods && saw_sends);
  /* A fallback with nothing sent: no pass rate. */
  memset(&s.otp, 0, sizeof s.otp);
  s.otp.fell_back = true;
  assert_int_equal(report_otp_counters(&s, incr), 1);
  assert_string_equal(incr[0].name, "otp_fallback");
  report_otp_counts none = {0};
  assert_false(report_otp_pass_rate(&none, &rate));
}

static void test_view_prompts(void **state) {
  (void)state;
  flow_policy p = policy(OTP_METHOD_OTP);
  flow_session s = awaiting(1, 1, 0);
  flow_view v;
  flow_view_of(&p, &s, &v);
  assert_int_equal(v.next_action, FLOW_NEXT_ASK_OTP);
  assert_string_equal(flow_next_action_name(v.next_action), "ask_otp");
  assert_string_equal(v.prompt_id, "ask_otp");
  assert_int_equal(v.attempts_remaining, 2);
  s.last_result = FLOW_RESULT_WRONG_CODE;
  flow_view_of(&p, &s, &v);
  assert_string_equal(v.prompt_id, "ask_otp_retry");
  s.otp.digest[0] = '\0';
  flow_view_of(&p, &s, &v);
  assert_string_equal(v.prompt_id, "ask_otp_expired");
  assert_string_equal(flow_state_name(FLOW_STATE_AWAITING_OTP), "awaiting_otp");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_methods),
      cmocka_unit_test(test_code_make_is_uniform_digits_and_skips_high_bytes),
      cmocka_unit_test(test_digest_binds_conversation_and_send),
      cmocka_unit_test(test_phone_seal_round_trip_and_tamper),
      cmocka_unit_test(test_state_field_round_trip_and_refusals),
      cmocka_unit_test(test_request_body),
      cmocka_unit_test(test_flow_table),
      cmocka_unit_test(test_holds),
      cmocka_unit_test(test_sent_and_fallbacks),
      cmocka_unit_test(test_report_figures),
      cmocka_unit_test(test_view_prompts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
