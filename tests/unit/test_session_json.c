/*
 * session_json and json_text: the session answer rendered without a
 * jansson tree. Checked against jansson itself (json_pack + json_dumps,
 * which made the answer before): the same bytes for the same session,
 * strings escaped the same way, the same refusals of text that is not
 * UTF-8; and the answer parses back to exactly the 16 keys in order.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_text.h"
#include "prompt.h"
#include "session_json.h"

/* ---------------------------------------------------------------------
 * The reference: the answer as json_pack + json_dumps made it.
 * ------------------------------------------------------------------- */

/* The answer as jansson writes it, or NULL when jansson refuses it. The
 * caller frees it. */
static char *jansson_answer(const flow_session *s,
                            const session_json_line *line) {
  flow_view view;
  char text[PROMPT_TEXT_MAX];
  session_json_view(s, line, &view, text, sizeof text);
  json_t *body = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s, s:i, s:s, "
      "s:s, s:s, s:s}",
      "conversationId", s->conversation_id, "serviceLine", s->service_line,
      "language", s->language, "state", flow_state_name(s->state), "nextAction",
      flow_next_action_name(view.next_action), "authStatus",
      flow_auth_status_name(view.auth_status), "identified", s->identified,
      "verified", s->verified, "identificationMethod",
      flow_method_name(s->method), "outcome", flow_outcome_name(s->outcome),
      "lastResult", flow_result_name(s->last_result), "attemptsRemaining",
      view.attempts_remaining, "promptId", view.prompt_id, "promptText", text,
      "customerId", s->customer_id, "customerName", s->customer_name);
  if (!body)
    return NULL;
  json_t *methods = json_array();
  if (s->otp.passed & OTP_PASSED_ANSWER)
    json_array_append_new(methods, json_string("answer"));
  if (s->otp.passed & OTP_PASSED_OTP)
    json_array_append_new(methods, json_string("otp"));
  json_object_set_new(body, "verificationMethods", methods);
  char *out = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  return out;
}

/* Our answer for `s`, or NULL when refused (the buffer is freed). */
static char *our_answer(const flow_session *s, const session_json_line *line) {
  buf b;
  buf_init(&b, SESSION_JSON_MAX, BUF_PLAIN);
  if (!session_json_render(&b, s, line)) {
    buf_free(&b);
    return NULL;
  }
  return buf_take(&b, NULL, false);
}

static void set(char *field, size_t size, const char *value) {
  snprintf(field, size, "%s", value);
}
#define SET(field, value) set(field, sizeof(field), value)

static flow_session verified_session(void) {
  flow_session s = {0};
  SET(s.conversation_id, "conv-1.a_b:c");
  SET(s.service_line, "retail");
  SET(s.language, "en-US");
  SET(s.customer_id, "100234");
  SET(s.customer_name, "Ana Lopez");
  s.state = FLOW_STATE_COMPLETED;
  s.outcome = FLOW_OUTCOME_VERIFIED;
  s.method = FLOW_METHOD_ANI;
  s.last_result = FLOW_RESULT_MATCH;
  s.identified = true;
  s.verified = true;
  return s;
}

static const flow_policy retail_policy = {.ani_lookup = true,
                                          .verification = true,
                                          .max_identify_attempts = 3,
                                          .max_verify_attempts = 3};

/* ---------------------------------------------------------------------
 * The answer's shape.
 * ------------------------------------------------------------------- */

/* Exactly the 16 keys, in order, each of its type, with the session's
 * values; the text is one compact line of valid JSON. */
static void sixteen_keys_in_order(void **state) {
  (void)state;
  flow_session s = verified_session();
  session_json_line line = {.policy = &retail_policy};
  char *text = our_answer(&s, &line);
  assert_non_null(text);
  assert_null(strchr(text, '\n'));
  json_error_t err;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
  assert_non_null(j);
  static const struct {
    const char *key;
    json_type type;
  } keys[] = {
      {"conversationId", JSON_STRING},
      {"serviceLine", JSON_STRING},
      {"language", JSON_STRING},
      {"state", JSON_STRING},
      {"nextAction", JSON_STRING},
      {"authStatus", JSON_STRING},
      {"identified", JSON_TRUE},
      {"verified", JSON_TRUE},
      {"identificationMethod", JSON_STRING},
      {"outcome", JSON_STRING},
      {"lastResult", JSON_STRING},
      {"attemptsRemaining", JSON_INTEGER},
      {"promptId", JSON_STRING},
      {"promptText", JSON_STRING},
      {"customerId", JSON_STRING},
      {"customerName", JSON_STRING},
      {"verificationMethods", JSON_ARRAY},
  };
  assert_int_equal(json_object_size(j), 17);
  size_t i = 0;
  for (void *it = json_object_iter(j); it;
       it = json_object_iter_next(j, it), i++) {
    assert_true(i < 17);
    assert_string_equal(json_object_iter_key(it), keys[i].key);
    assert_int_equal(json_typeof(json_object_iter_value(it)), keys[i].type);
  }
  assert_int_equal(i, 17);
  assert_string_equal(json_string_value(json_object_get(j, "conversationId")),
                      "conv-1.a_b:c");
  assert_string_equal(json_string_value(json_object_get(j, "state")),
                      "completed");
  assert_string_equal(json_string_value(json_object_get(j, "outcome")),
                      "verified");
  assert_string_equal(json_string_value(json_object_get(j, "authStatus")),
                      "identified_verified");
  assert_string_equal(json_string_value(json_object_get(j, "customerName")),
                      "Ana Lopez");
  assert_string_equal(
      json_string_value(json_object_get(j, "identificationMethod")), "ani");
  json_decref(j);
  free(text);
}

/* A fresh session: false booleans, empty customer fields (present, never
 * null), attempts as an integer. */
static void empty_fields_are_present(void **state) {
  (void)state;
  flow_session s = {0};
  SET(s.conversation_id, "c");
  SET(s.service_line, "retail");
  SET(s.language, "en-US");
  s.state = FLOW_STATE_AWAITING_IDENTIFIER;
  session_json_line line = {.policy = &retail_policy};
  char *text = our_answer(&s, &line);
  assert_non_null(text);
  json_t *j = json_loads(text, 0, NULL);
  assert_non_null(j);
  assert_true(json_is_false(json_object_get(j, "identified")));
  assert_true(json_is_false(json_object_get(j, "verified")));
  assert_string_equal(json_string_value(json_object_get(j, "customerId")), "");
  assert_string_equal(json_string_value(json_object_get(j, "customerName")),
                      "");
  assert_int_equal(json_integer_value(json_object_get(j, "attemptsRemaining")),
                   3);
  json_decref(j);
  free(text);
}

/* ---------------------------------------------------------------------
 * Byte for byte what jansson wrote, across states, lines and texts.
 * ------------------------------------------------------------------- */

static const char *const names[] = {
    "Ana Lopez",
    "O\"Brien \\ Sons",                  /* quote and backslash */
    "tab\there\nnew\rline",              /* short escapes */
    "bell\x07 bs\b ff\f us\x1f del\x7f", /* \u00XX, and DEL as it is */
    "Jos\xc3\xa9 M\xc3\xbc\xc3\x9fler",  /* two-byte UTF-8 */
    "\xe6\x97\xa5\xe6\x9c\xac \xea\xb9\x80\xec\xb2\xa0\xec\x88\x98", /* CJK */
    "emoji \xf0\x9f\x98\x80 end", /* four bytes */
    "</script> & 'x' /slash/",    /* nothing to escape */
    "",
};

/* A prompt override that carries every kind of character too. */
static const char *const override_json =
    "{\"en-US\": {\"ask_security\": \"Hi {customerName} \\\"q\\\" \\\\ "
    "\\u0001\\t\\u00e9\\u65e5 please\", \"welcome_verified\": \"Done, "
    "{customerName}\\n\\u001f\"}}";

static void same_bytes_as_jansson(void **state) {
  (void)state;
  json_t *prompts = json_loads(override_json, 0, NULL);
  assert_non_null(prompts);
  flow_policy greet = retail_policy;
  greet.greet_before_verification = true;
  const session_json_line lines[] = {
      {.policy = &retail_policy},
      {.policy = &greet, .prompts = prompts, .default_language = "en-US"},
      {.policy = NULL}, /* the line is no longer configured */
  };
  static const flow_state states[] = {FLOW_STATE_AWAITING_IDENTIFIER,
                                      FLOW_STATE_AWAITING_SECURITY,
                                      FLOW_STATE_COMPLETED};
  size_t compared = 0;
  for (size_t n = 0; n < sizeof names / sizeof names[0]; n++)
    for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++)
      for (size_t st = 0; st < sizeof states / sizeof states[0]; st++) {
        flow_session s = verified_session();
        SET(s.customer_name, names[n]);
        s.state = states[st];
        s.verified = states[st] == FLOW_STATE_COMPLETED;
        s.identify_attempts = (int)st;
        if (l == 1)
          SET(s.language, "es-ES"); /* falls back to the line's en-US */
        char *ours = our_answer(&s, &lines[l]);
        char *theirs = jansson_answer(&s, &lines[l]);
        assert_non_null(ours);
        assert_non_null(theirs);
        assert_string_equal(ours, theirs);
        json_t *j = json_loads(ours, JSON_REJECT_DUPLICATES, NULL);
        assert_non_null(j);
        assert_string_equal(
            json_string_value(json_object_get(j, "customerName")), names[n]);
        json_decref(j);
        free(ours);
        free(theirs);
        compared++;
      }
  assert_int_equal(compared, 81);
  json_decref(prompts);
}

/* Text that is not UTF-8 is refused, as json_pack refused it: never an
 * answer that is not JSON. */
static void not_utf8_is_refused(void **state) {
  (void)state;
  static const char *const bad[] = {
      "\xff",         "Jos\xe9",      "\xc0\x80",
      "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
      "\xe6\x97",     "\x80",         "ok\xf0\x9f\x98"};
  session_json_line line = {.policy = &retail_policy};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    flow_session s = verified_session();
    SET(s.customer_name, bad[i]);
    assert_null(our_answer(&s, &line));
    assert_null(jansson_answer(&s, &line));
  }
}

/* A buffer too small for the answer fails as too large, never a cut
 * answer. */
static void full_buffer_fails(void **state) {
  (void)state;
  flow_session s = verified_session();
  session_json_line line = {.policy = &retail_policy};
  buf b;
  buf_init(&b, 100, BUF_PLAIN);
  assert_false(session_json_render(&b, &s, &line));
  assert_int_equal(buf_state(&b), BUF_TOO_LARGE);
  buf_free(&b);
}

/* ---------------------------------------------------------------------
 * json_text.
 * ------------------------------------------------------------------- */

static void string_rows(void **state) {
  (void)state;
  static const struct {
    const char *in, *out; /* out NULL: refused */
  } rows[] = {
      {"", "\"\""},
      {"plain", "\"plain\""},
      {"a\"b", "\"a\\\"b\""},
      {"a\\b", "\"a\\\\b\""},
      {"\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\""},
      {"\x01\x1f", "\"\\u0001\\u001F\""},
      {"\x7f/", "\"\x7f/\""},
      {"\xc3\xa9", "\"\xc3\xa9\""},
      {"\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\""},
      {"\xc1\xbf", NULL},     /* overlong */
      {"\xed\xbf\xbf", NULL}, /* surrogate */
      {"\xf5\x80\x80\x80", NULL},
      {"x\xc3", NULL}, /* cut short */
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    buf b;
    buf_init(&b, 1024, BUF_PLAIN);
    bool ok = json_text_string(&b, rows[i].in);
    if (rows[i].out) {
      assert_true(ok);
      assert_string_equal(buf_str(&b), rows[i].out);
    } else {
      assert_false(ok);
    }
    buf_free(&b);
  }
}

/* Random strings, biased to the bytes that matter: accepted exactly when
 * jansson accepts them, and then written as jansson writes them. */
static void strings_match_jansson(void **state) {
  (void)state;
  static const unsigned char pool[] = {
      'a',  ' ',  '"',  '\\', '/',  0x01, 0x08, 0x09, 0x0a, 0x0c, 0x0d,
      0x1f, 0x7f, 0x80, 0xbf, 0xc2, 0xc3, 0xa9, 0xe0, 0xa0, 0xed, 0x9f,
      0xa0, 0xef, 0xf0, 0x90, 0x9f, 0xf4, 0x8f, 0xf5, 0xff, 0xc0};
  srand(13);
  size_t accepted = 0, refused = 0;
  for (int round = 0; round < 20000; round++) {
    char in[16];
    size_t n = (size_t)rand() % (sizeof in - 1);
    for (size_t i = 0; i < n; i++)
      in[i] = (char)pool[(size_t)rand() % sizeof pool];
    in[n] = '\0';
    json_t *str = json_stringn(in, n);
    buf b;
    buf_init(&b, 1024, BUF_PLAIN);
    bool ok = json_text_string(&b, in);
    assert_int_equal(ok, str != NULL);
    if (str) {
      char *theirs = json_dumps(str, JSON_ENCODE_ANY);
      assert_non_null(theirs);
      assert_string_equal(buf_str(&b), theirs);
      free(theirs);
      accepted++;
    } else {
      refused++;
    }
    json_decref(str);
    buf_free(&b);
  }
  assert_true(accepted > 1000 && refused > 1000);
}

static void ints(void **state) {
  (void)state;
  static const struct {
    long long v;
    const char *out;
  } rows[] = {{0, "0"},
              {7, "7"},
              {-1, "-1"},
              {1234567890, "1234567890"},
              {LLONG_MAX, "9223372036854775807"},
              {LLONG_MIN, "-9223372036854775808"}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    buf b;
    buf_init(&b, 64, BUF_PLAIN);
    assert_int_equal(json_text_int(&b, rows[i].v), BUF_OK);
    assert_string_equal(buf_str(&b), rows[i].out);
    buf_free(&b);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sixteen_keys_in_order),
      cmocka_unit_test(empty_fields_are_present),
      cmocka_unit_test(same_bytes_as_jansson),
      cmocka_unit_test(not_utf8_is_refused),
      cmocka_unit_test(full_buffer_fails),
      cmocka_unit_test(string_rows),
      cmocka_unit_test(strings_match_jansson),
      cmocka_unit_test(ints),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
