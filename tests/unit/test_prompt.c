/*
 * prompt: rendering (lookup order, placeholders, optional sections,
 * UTF-8-safe truncation), override validation and language tags, one row
 * per case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prompt.h"

/* Parse a row's overrides; NULL text gives NULL. */
static json_t *load(const char *text) {
  if (!text)
    return NULL;
  json_error_t jerr;
  json_t *j = json_loads(text, 0, &jerr);
  if (!j)
    fail_msg("bad test JSON: %s", jerr.text);
  return j;
}

/* True when s is well-formed UTF-8 (no truncated or stray sequences). */
static bool utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    int extra = *p < 0x80         ? 0
                : (*p >> 5) == 6  ? 1
                : (*p >> 4) == 14 ? 2
                : (*p >> 3) == 30 ? 3
                                  : -1;
    if (extra < 0)
      return false;
    p++;
    for (int i = 0; i < extra; i++, p++)
      if ((*p & 0xC0) != 0x80)
        return false;
  }
  return true;
}

/* ---------------------------------------------------------------------
 * Rendering.
 * ------------------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *overrides; /* JSON, or NULL */
  const char *language, *fallback;
  const char *prompt_id;
  const char *customer_name;
  flow_identifier_type type;
  int attempts;
  size_t out_len; /* 0 = PROMPT_TEXT_MAX */
  bool ok;
  const char *want;
} render_row;

static const render_row render_rows[] = {
    /* Built-in sets, greeting by name. */
    {"en-US greets by first name", NULL, "en-US", "en-US", "ask_security",
     "Ana García", FLOW_ID_CUSTOMER_ID, 3, 0, true,
     "Hello Ana. To verify your identity, please enter your security PIN, "
     "followed by the pound key."},
    {"en-US without a name drops the optional greeting", NULL, "en-US", "en-US",
     "ask_security", "", FLOW_ID_CUSTOMER_ID, 3, 0, true,
     "To verify your identity, please enter your security PIN, followed by "
     "the pound key."},
    {"a blank name counts as no name", NULL, "en-US", "en-US", "ask_security",
     "  ", FLOW_ID_CUSTOMER_ID, 3, 0, true,
     "To verify your identity, please enter your security PIN, followed by "
     "the pound key."},
    {"es-ES greets a UTF-8 first name", NULL, "es-ES", "en-US", "ask_security",
     "José Luis Pérez", FLOW_ID_CUSTOMER_ID, 3, 0, true,
     "Hola, José. Para verificar su identidad, introduzca su PIN de "
     "seguridad seguido de la tecla almohadilla."},
    {"ko-KR greets by full name", NULL, "ko-KR", "en-US", "ask_security",
     "김민준", FLOW_ID_CUSTOMER_ID, 3, 0, true,
     "김민준 고객님, 안녕하세요. 본인 확인을 위해 보안 비밀번호를 입력하신 "
     "후 우물 정자를 눌러 주세요."},
    {"ko-KR without a name", NULL, "ko-KR", "en-US", "ask_security", "",
     FLOW_ID_CUSTOMER_ID, 3, 0, true,
     "본인 확인을 위해 보안 비밀번호를 입력하신 후 우물 정자를 눌러 주세요."},
    {"en-US welcome with a name", NULL, "en-US", "en-US", "welcome_verified",
     "Ana García", FLOW_ID_CUSTOMER_ID, 0, 0, true,
     "Thank you, Ana. Your identity has been verified."},
    {"en-US welcome without a name", NULL, "en-US", "en-US", "welcome_verified",
     "", FLOW_ID_CUSTOMER_ID, 0, 0, true,
     "Thank you. Your identity has been verified."},
    /* Identifier names per language. */
    {"en-US account number", NULL, "en-US", "en-US", "ask_identifier", "",
     FLOW_ID_ACCOUNT_NUMBER, 3, 0, true,
     "Please enter your account number, followed by the pound key."},
    {"en-US tracking number retry", NULL, "en-US", "en-US",
     "ask_identifier_retry", "", FLOW_ID_TRACKING_NUMBER, 2, 0, true,
     "Sorry, we couldn't match that. Please enter your tracking number "
     "again, followed by the pound key."},
    {"es-ES phone number", NULL, "es-ES", "en-US", "ask_identifier", "",
     FLOW_ID_PHONE, 3, 0, true,
     "Por favor, introduzca su número de teléfono seguido de la tecla "
     "almohadilla."},
    {"ko-KR customer number", NULL, "ko-KR", "en-US", "ask_identifier", "",
     FLOW_ID_CUSTOMER_ID, 3, 0, true,
     "고객 번호를 입력하신 후 우물 정자를 눌러 주세요."},
    /* Lookup order. */
    {"override beats the built-in of the same language",
     "{\"en-US\":{\"ask_security\":\"Hi {customerName}. PIN please, "
     "{attemptsRemaining} tries left.\"}}",
     "en-US", "en-US", "ask_security", "Ana García", FLOW_ID_CUSTOMER_ID, 2, 0,
     true, "Hi Ana García. PIN please, 2 tries left."},
    {"override for another prompt leaves this one built-in",
     "{\"es-ES\":{\"ask_security\":\"PIN.\"}}", "es-ES", "en-US", "opted_out",
     "", FLOW_ID_CUSTOMER_ID, 0, 0, true, "De acuerdo. Continuamos."},
    {"language with no set falls back to the line's language", NULL, "fr-FR",
     "es-ES", "opted_out", "", FLOW_ID_CUSTOMER_ID, 0, 0, true,
     "De acuerdo. Continuamos."},
    {"override of the language beats the fallback",
     "{\"fr-FR\":{\"opted_out\":\"D'accord. Continuons.\"}}", "fr-FR", "es-ES",
     "opted_out", "", FLOW_ID_CUSTOMER_ID, 0, 0, true, "D'accord. Continuons."},
    {"fallback's override beats the fallback's built-in",
     "{\"en-US\":{\"opted_out\":\"Okay.\"}}", "fr-FR", "en-US", "opted_out", "",
     FLOW_ID_CUSTOMER_ID, 0, 0, true, "Okay."},
    {"identifier names follow the fallback for an unknown language",
     "{\"fr-FR\":{\"ask_identifier\":\"Entrez votre {identifierName}.\"}}",
     "fr-FR", "es-ES", "ask_identifier", "", FLOW_ID_ACCOUNT_NUMBER, 3, 0, true,
     "Entrez votre número de cuenta."},
    {"neither language known: built-in en-US", NULL, "fr-FR", "de-DE",
     "opted_out", "", FLOW_ID_CUSTOMER_ID, 0, 0, true,
     "No problem. Let's continue."},
    {"no languages at all: built-in en-US", NULL, NULL, NULL, "opted_out", "",
     FLOW_ID_CUSTOMER_ID, 0, 0, true, "No problem. Let's continue."},
    {"unknown promptId", NULL, "en-US", "en-US", "ask_pin", "",
     FLOW_ID_CUSTOMER_ID, 0, 0, false, ""},
    {"missing promptId", NULL, "en-US", "en-US", NULL, "", FLOW_ID_CUSTOMER_ID,
     0, 0, false, ""},
    /* Template mechanics. */
    {"section dropped when any placeholder in it is empty",
     "{\"en-US\":{\"opted_out\":\"[[{attemptsRemaining} {firstName}]]x\"}}",
     "en-US", "en-US", "opted_out", "", FLOW_ID_CUSTOMER_ID, 2, 0, true, "x"},
    {"0 attempts is a value, not an empty one",
     "{\"en-US\":{\"opted_out\":\"[[{attemptsRemaining} left]]\"}}", "en-US",
     "en-US", "opted_out", "", FLOW_ID_CUSTOMER_ID, 0, 0, true, "0 left"},
    {"several sections are independent",
     "{\"en-US\":{\"opted_out\":\"[[A {firstName}.]][[B "
     "{attemptsRemaining}.]]\"}}",
     "en-US", "en-US", "opted_out", "", FLOW_ID_CUSTOMER_ID, 1, 0, true,
     "B 1."},
    {"unknown placeholder is left as written",
     "{\"en-US\":{\"opted_out\":\"Say {foo} [[{bar}]].\"}}", "en-US", "en-US",
     "opted_out", "", FLOW_ID_CUSTOMER_ID, 0, 0, true, "Say {foo} {bar}."},
    {"unclosed section and brace are literal",
     "{\"en-US\":{\"opted_out\":\"a [[b {c\"}}", "en-US", "en-US", "opted_out",
     "", FLOW_ID_CUSTOMER_ID, 0, 0, true, "a [[b {c"},
    {"a name is never parsed as a template",
     "{\"en-US\":{\"opted_out\":\"Hi {customerName}.\"}}", "en-US", "en-US",
     "opted_out", "[[{firstName}]]", FLOW_ID_CUSTOMER_ID, 0, 0, true,
     "Hi [[{firstName}]]."},
    /* Truncation never splits a UTF-8 sequence and leaves no hole. */
    {"Hangul cut on a character boundary", NULL, "ko-KR", "en-US", "opted_out",
     "", FLOW_ID_CUSTOMER_ID, 0, 8, true, "알겠"},
    {"two-byte character cut whole", NULL, "es-ES", "en-US", "ask_identifier",
     "", FLOW_ID_CUSTOMER_ID, 0, 28, true, "Por favor, introduzca su n"},
    {"nothing appended after a cut",
     "{\"en-US\":{\"opted_out\":\"ab{customerName}cd\"}}", "en-US", "en-US",
     "opted_out", "한", FLOW_ID_CUSTOMER_ID, 0, 5, true, "ab"},
    {"exact fit is not a cut", NULL, "en-US", "en-US", "opted_out", "",
     FLOW_ID_CUSTOMER_ID, 0, 28, true, "No problem. Let's continue."},
    {"one byte holds only the terminator", NULL, "en-US", "en-US", "opted_out",
     "", FLOW_ID_CUSTOMER_ID, 0, 1, true, ""},
};

static void test_render(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof render_rows / sizeof render_rows[0]; i++) {
    const render_row *r = &render_rows[i];
    print_message("  [%zu] %s\n", i, r->name);
    json_t *overrides = load(r->overrides);
    prompt_vars vars = {.customer_name = r->customer_name,
                        .identifier_type = r->type,
                        .attempts_remaining = r->attempts};
    char out[PROMPT_TEXT_MAX];
    memset(out, 'x', sizeof out);
    size_t len = r->out_len ? r->out_len : sizeof out;
    bool ok = prompt_render(overrides, r->language, r->fallback, r->prompt_id,
                            &vars, out, len);
    json_decref(overrides);
    assert_int_equal(ok, r->ok);
    assert_string_equal(out, r->want);
    assert_true(strlen(out) < len);
    assert_true(utf8_valid(out));
  }
}

/* Without vars the renderer still produces the text (no name, first
 * identifier type). */
static void test_render_without_vars(void **state) {
  (void)state;
  char out[PROMPT_TEXT_MAX];
  assert_true(prompt_render(NULL, "en-US", "en-US", "ask_identifier", NULL, out,
                            sizeof out));
  assert_string_equal(
      out, "Please enter your customer number, followed by the pound key.");
  assert_false(
      prompt_render(NULL, "en-US", "en-US", "ask_identifier", NULL, out, 0));
}

/* Every built-in set covers every promptId, with and without a name, in
 * every identifier type: the text is non-empty, valid UTF-8, and has no
 * template syntax left in it. */
static void test_builtin_sets_complete(void **state) {
  (void)state;
  static const char *const langs[] = {"en-US", "es-ES", "ko-KR"};
  static const char *const names[] = {"", "Ana García", "김민준"};
  static const char *const want_ids[] = {"ask_identifier",
                                         "ask_identifier_retry",
                                         "ask_security",
                                         "ask_security_retry",
                                         "welcome_verified",
                                         "welcome_identified",
                                         "opted_out",
                                         "transfer_to_agent",
                                         "transfer_locked",
                                         "transfer_crm_unavailable",
                                         "ask_otp",
                                         "ask_otp_retry",
                                         "ask_otp_resent",
                                         "ask_otp_expired",
                                         "ask_otp_resend_failed"};
  const char *const *ids = prompt_ids();
  size_t n = 0;
  while (ids[n])
    n++;
  assert_int_equal(n, sizeof want_ids / sizeof want_ids[0]);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(ids[i], want_ids[i]);

  for (size_t l = 0; l < 3; l++) {
    assert_true(prompt_language_builtin(langs[l]));
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < 3; k++)
        for (int t = 0; t < 4; t++) {
          prompt_vars vars = {.customer_name = names[k],
                              .identifier_type = (flow_identifier_type)t,
                              .attempts_remaining = 2};
          char out[PROMPT_TEXT_MAX];
          /* A language's own text, never the en-US fallback. */
          assert_true(prompt_render(NULL, langs[l], "xx-XX", ids[i], &vars, out,
                                    sizeof out));
          assert_true(strlen(out) > 10);
          assert_true(utf8_valid(out));
          assert_null(strchr(out, '{'));
          assert_null(strstr(out, "[["));
          assert_null(strstr(out, "]]"));
          char en[PROMPT_TEXT_MAX];
          assert_true(prompt_render(NULL, "en-US", "en-US", ids[i], &vars, en,
                                    sizeof en));
          if (l > 0)
            assert_string_not_equal(out, en);
          if (k > 0 && strstr(ids[i], "security") && !strstr(ids[i], "retry"))
            assert_non_null(strstr(out, k == 1 ? "Ana" : names[k]));
        }
  }
}

/* ---------------------------------------------------------------------
 * Override validation.
 * ------------------------------------------------------------------- */

typedef struct {
  const char *json;
  const char *want_err; /* NULL = valid */
} check_row;

static const check_row check_rows[] = {
    {"{}", NULL},
    {"{\"en-US\":{}}", NULL},
    {"{\"en-US\":{\"ask_security\":\"[[Hello {firstName}. ]]PIN, please.\","
     "\"ask_identifier\":\"Your {identifierName}, please.\"}}",
     NULL},
    {"{\"fr\":{\"opted_out\":\"D'accord.\"}}", NULL},
    {"{\"ko-KR\":{\"opted_out\":\"[[{customerName} 고객님, ]]네.\"}}", NULL},
    {"[]", "serviceLines.retail.prompts: must be an object of languages"},
    {"{\"en-US\":\"hello\"}",
     "serviceLines.retail.prompts.en-US: must be an object of promptId to "
     "text"},
    {"{\"en-us\":{}}",
     "serviceLines.retail.prompts.en-us: language must be written like "
     "en-US"},
    {"{\"english\":{}}",
     "serviceLines.retail.prompts.english: language must be written like "
     "en-US"},
    {"{\"en-US\":{\"ask_pin\":\"PIN?\"}}",
     "serviceLines.retail.prompts.en-US.ask_pin: unknown promptId"},
    {"{\"en-US\":{\"opted_out\":5}}",
     "serviceLines.retail.prompts.en-US.opted_out: must be a string"},
    {"{\"en-US\":{\"opted_out\":null}}",
     "serviceLines.retail.prompts.en-US.opted_out: must be a string"},
    {"{\"en-US\":{\"opted_out\":\"[[Hello {firstName}. Go.\"}}",
     "serviceLines.retail.prompts.en-US.opted_out: [[ without ]]"},
    {"{\"en-US\":{\"opted_out\":\"Hello]] Go.\"}}",
     "serviceLines.retail.prompts.en-US.opted_out: ]] without [["},
    {"{\"en-US\":{\"opted_out\":\"[[a [[b]] c]]\"}}",
     "serviceLines.retail.prompts.en-US.opted_out: nested [[ ]] sections"},
    {"{\"en-US\":{\"opted_out\":\"Hello {firstName\"}}",
     "serviceLines.retail.prompts.en-US.opted_out: { without }"},
    {"{\"en-US\":{\"opted_out\":\"Hello {firstname}\"}}",
     "serviceLines.retail.prompts.en-US.opted_out: unknown placeholder "
     "{firstname} (known: {customerName}, {firstName}, {identifierName}, "
     "{attemptsRemaining}, {phoneLast2})"},
    /* The bad key is named even after good ones. */
    {"{\"en-US\":{\"opted_out\":\"ok\"},\"es-ES\":{\"welcome\":\"x\"}}",
     "serviceLines.retail.prompts.es-ES.welcome: unknown promptId"},
};

static void test_check_overrides(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof check_rows / sizeof check_rows[0]; i++) {
    const check_row *r = &check_rows[i];
    print_message("  [%zu] %s\n", i, r->json);
    json_t *j = load(r->json);
    char err[256] = "";
    bool ok = prompt_check_overrides(j, "serviceLines.retail.prompts", err,
                                     sizeof err);
    json_decref(j);
    assert_int_equal(ok, r->want_err == NULL);
    assert_string_equal(err, r->want_err ? r->want_err : "");
  }
}

/* The length limit sits exactly at what prompt_render can hold. */
static void test_check_overrides_length(void **state) {
  (void)state;
  static const struct {
    size_t len;
    bool ok;
  } cases[] = {{PROMPT_TEXT_MAX - 1, true}, {PROMPT_TEXT_MAX, false}};
  for (size_t i = 0; i < 2; i++) {
    char text[PROMPT_TEXT_MAX + 1];
    memset(text, 'a', cases[i].len);
    text[cases[i].len] = '\0';
    json_t *j = json_pack("{s:{s:s}}", "en-US", "opted_out", text);
    assert_non_null(j);
    char err[256] = "";
    assert_int_equal(prompt_check_overrides(j, "prompts", err, sizeof err),
                     cases[i].ok);
    json_decref(j);
    if (!cases[i].ok)
      assert_string_equal(err,
                          "prompts.en-US.opted_out: longer than 1023 bytes");
  }
  /* No error buffer: still a clean refusal. */
  json_t *bad = load("{\"en-US\":{\"nope\":\"x\"}}");
  assert_false(prompt_check_overrides(bad, "prompts", NULL, 0));
  json_decref(bad);
}

/* ---------------------------------------------------------------------
 * Language tags.
 * ------------------------------------------------------------------- */

typedef struct {
  const char *tag;
  const char *want; /* NULL = refused */
} language_row;

static const language_row language_rows[] = {
    {"en-US", "en-US"}, {"en-us", "en-US"}, {"EN_us", "en-US"}, {"es", "es-ES"},
    {"ES", "es-ES"},    {"ko", "ko-KR"},    {"ko_kr", "ko-KR"}, {"fr", "fr"},
    {"fr-ca", "fr-CA"}, {"en-GB", "en-GB"}, {"", NULL},         {NULL, NULL},
    {"e", NULL},        {"eng", NULL},      {"english", NULL},  {"e1", NULL},
    {"en-U5", NULL},    {"en US", NULL},    {"en-USA", NULL},   {"en--S", NULL},
    {"ñe", NULL},
};

static void test_canonical_language(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof language_rows / sizeof language_rows[0]; i++) {
    const language_row *r = &language_rows[i];
    char out[FLOW_LANGUAGE_MAX + 1] = "junk";
    print_message("  [%zu] %s\n", i, r->tag ? r->tag : "(null)");
    assert_int_equal(prompt_canonical_language(r->tag, out, sizeof out),
                     r->want != NULL);
    assert_string_equal(out, r->want ? r->want : "");
  }
  static const struct {
    const char *language;
    bool builtin;
  } builtin_rows[] = {{"en-US", true},  {"es-ES", true},  {"ko-KR", true},
                      {"en-us", false}, {"en-GB", false}, {"es", false},
                      {"", false},      {NULL, false}};
  for (size_t i = 0; i < sizeof builtin_rows / sizeof builtin_rows[0]; i++)
    assert_int_equal(prompt_language_builtin(builtin_rows[i].language),
                     builtin_rows[i].builtin);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render),
      cmocka_unit_test(test_render_without_vars),
      cmocka_unit_test(test_builtin_sets_complete),
      cmocka_unit_test(test_check_overrides),
      cmocka_unit_test(test_check_overrides_length),
      cmocka_unit_test(test_canonical_language),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
