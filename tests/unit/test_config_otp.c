/*
 * config, one-time codes (SPEC §9): the "otp" section, every line's
 * verificationMethod and each lookup's response.phone, one row per
 * accepted or refused value (the message must name the key), and the otp
 * numbers given to every line's policy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define SEND                                                                   \
  "\"send\":{\"url\":\"https://sms.example/m\",\"body\":\"{\\\"to\\\":"        \
  "\\\"{phone}\\\",\\\"t\\\":\\\"{code}\\\"}\"}"
#define OTP_OK "\"otp\":{\"secret\":\"" SECRET "\"," SEND "}"
#define OAUTH2(more)                                                           \
  "{\"type\":\"oauth2\",\"tokenUrl\":\"https://sms.example/oauth/token\","     \
  "\"clientId\":\"sms-client\",\"clientSecret\":\"s3cr3t\"" more "}"
#define LINE(m) "\"serviceLines\":{\"b\":{\"verificationMethod\":\"" m "\"}}"

static config cfg; /* large: keep it off the stack */

typedef struct {
  const char *json;
  bool ok;
  const char *error_has;
} row;

static const row rows[] = {
    {"{}", true, NULL},
    {"{" OTP_OK "," LINE("otp") "}", true, NULL},
    {"{" OTP_OK "," LINE("answer_then_otp") "}", true, NULL},
    {"{" OTP_OK "," LINE("otp_or_answer") "}", true, NULL},
    {"{" LINE("answer") "}", true, NULL},
    {"{" LINE("sms") "}", false, "serviceLines.b.verificationMethod: must be"},
    {"{\"serviceLines\":{\"b\":{\"verificationMethod\":1}}}", false,
     "serviceLines.b.verificationMethod"},
    {"{" LINE("otp") "}", false,
     "otp.secret: required by serviceLines.b.verificationMethod otp"},
    {"{\"otp\":{\"secret\":\"" SECRET "\"}," LINE("otp") "}", false,
     "otp.send: required by serviceLines.b.verificationMethod otp"},
    /* a line that does not verify sends nothing: no secret needed */
    {"{\"serviceLines\":{\"b\":{\"verification\":false,"
     "\"verificationMethod\":\"otp\"}}}",
     true, NULL},
    {"{\"otp\":{\"secret\":\"short\"}}", false,
     "otp.secret: must be at least 16 bytes"},
    {"{\"otp\":{\"length\":3}}", false, "otp.length"},
    {"{\"otp\":{\"length\":11}}", false, "otp.length"},
    {"{\"otp\":{\"ttlSeconds\":601}}", false, "otp.ttlSeconds"},
    {"{\"otp\":{\"maxChecks\":0}}", false, "otp.maxChecks"},
    {"{\"otp\":{\"maxSends\":11}}", false, "otp.maxSends"},
    {"{\"otp\":{\"maxSendsPerMinute\":-1}}", false, "otp.maxSendsPerMinute"},
    {"{\"otp\":{\"sms\":1}}", false, "otp.sms"},
    {"{\"otp\":{\"send\":{\"url\":\"https://x/{code}\",\"body\":\"{code}\"}}}",
     false, "otp.send.url: {code} may only be used in otp.send.body"},
    {"{\"otp\":{\"send\":{\"url\":\"https://x/\",\"body\":\"{code}\","
     "\"headers\":[\"X-Code: {code}\"]}}}",
     false, "otp.send.headers[0]: {code} may only be used"},
    {"{\"otp\":{\"send\":{\"url\":\"https://x/\",\"body\":\"hello\"}}}", false,
     "otp.send.body: must hold {code}"},
    {"{\"otp\":{\"send\":{\"url\":\"https://x/\",\"body\":\"{code} {name}\"}}}",
     false, "otp.send.body"},
    {"{\"otp\":{\"send\":{\"url\":\"ftp://x/\",\"body\":\"{code}\"}}}", false,
     "otp.send.url: must be an http"},
    {"{\"otp\":{\"send\":{\"method\":\"GET\",\"url\":\"https://x/\","
     "\"body\":\"{code}\"}}}",
     false, "otp.send.method"},
    {"{\"otp\":{\"send\":{\"url\":\"https://x/\",\"body\":\"{code}\","
     "\"status\":{\"ok\":[]}}}}",
     false, "otp.send.status"},
    {"{\"otp\":{\"auth\":{\"type\":\"bearer\"}}}", false,
     "otp.auth.token: required for bearer auth"},
    {"{\"otp\":{\"auth\":{\"type\":\"basic\",\"username\":\"a:b\"}}}", false,
     "otp.auth.username: required for basic auth"},
    {"{\"otp\":{\"auth\":{\"type\":\"oauth\"}}}", false,
     "otp.auth.type: must be none, bearer, basic or oauth2"},
    {"{\"otp\":{\"auth\":{\"bogus\":1}}}", false,
     "otp.auth.bogus: unknown key"},
    /* oauth2, as crm.auth's: token URL, client id and secret required */
    {"{\"otp\":{\"auth\":" OAUTH2("") "}}", true, NULL},
    {"{\"otp\":{\"auth\":" OAUTH2(",\"scope\":\"sms.send\","
                                  "\"refreshMarginMs\":0") "}}",
     true, NULL},
    {"{\"otp\":{\"auth\":{\"type\":\"oauth2\"}}}", false,
     "otp.auth.tokenUrl: required for oauth2"},
    {"{\"otp\":{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"ftp://t/x\","
     "\"clientId\":\"i\",\"clientSecret\":\"s\"}}}",
     false, "otp.auth.tokenUrl: required for oauth2"},
    /* the gateway has no base URL: {baseUrl} is the CRM's */
    {"{\"otp\":{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":"
     "\"{baseUrl}/token\",\"clientId\":\"i\",\"clientSecret\":\"s\"}}}",
     false, "otp.auth.tokenUrl: required for oauth2"},
    {"{\"otp\":{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":"
     "\"https://t/{phone}\",\"clientId\":\"i\",\"clientSecret\":\"s\"}}}",
     false, "otp.auth.tokenUrl: required for oauth2"},
    {"{\"otp\":{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"https://t/x\","
     "\"clientSecret\":\"s\"}}}",
     false, "otp.auth.clientId: required for oauth2"},
    {"{\"otp\":{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"https://t/x\","
     "\"clientId\":\"i\"}}}",
     false, "otp.auth.clientSecret: required for oauth2"},
    {"{\"otp\":{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"https://t/x\","
     "\"clientId\":\"i\",\"clientSecret\":\"${env:AUTHFLOW_NO_SUCH_OTP}\"}}}",
     false,
     "otp.auth.clientSecret: secret ${env:AUTHFLOW_NO_SUCH_OTP} is not "
     "available"},
    {"{\"otp\":{\"auth\":" OAUTH2(",\"refreshMarginMs\":-1") "}}", false,
     "otp.auth.refreshMarginMs: must be an integer 0..600000"},
    {"{\"otp\":{\"auth\":" OAUTH2(",\"scope\":1") "}}", false,
     "otp.auth.scope: must be a string"},
    {"{\"otp\":{\"secret\":\"${env:NOPE}\"}}", false, "otp.secret"},
    {"{\"crm\":{\"operations\":{\"lookupPhone\":{\"response\":"
     "{\"phone\":\"/mobile\"}}}}}",
     true, NULL},
    {"{\"crm\":{\"operations\":{\"lookupPhone\":{\"response\":"
     "{\"phone\":\"mobile\"}}}}}",
     false, "crm.operations.lookupPhone.response.phone"},
};

static void test_rows(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char err[CONFIG_ERR_MAX] = "";
    print_message("  [%zu] %s\n", i, rows[i].json);
    bool ok = config_load_text(rows[i].json, strlen(rows[i].json), &cfg, err,
                               sizeof err);
    if (ok != rows[i].ok)
      fail_msg("row %zu: ok=%d, err=%s", i, ok, err);
    if (ok)
      config_free(&cfg);
    else if (!strstr(err, rows[i].error_has))
      fail_msg("row %zu: '%s' does not name '%s'", i, err, rows[i].error_has);
  }
}

static void test_numbers_reach_every_line(void **state) {
  (void)state;
  static const char json[] =
      "{\"otp\":{\"secret\":\"" SECRET "\",\"length\":8,\"ttlSeconds\":120,"
      "\"maxChecks\":2,\"maxSends\":4," SEND "},"
      "\"serviceLines\":{\"a\":{},\"b\":{\"verificationMethod\":"
      "\"otp_or_answer\"}}}";
  char err[CONFIG_ERR_MAX] = "";
  assert_true(config_load_text(json, sizeof json - 1, &cfg, err, sizeof err));
  for (size_t i = 0; i < cfg.service_line_count; i++) {
    const otp_policy *p = &cfg.service_lines[i].policy.otp;
    assert_int_equal(p->length, 8);
    assert_int_equal(p->ttl_seconds, 120);
    assert_int_equal(p->max_checks, 2);
    assert_int_equal(p->max_sends, 4);
  }
  const config_service_line *b = config_find_service_line(&cfg, "b");
  assert_int_equal(b->policy.otp.method, OTP_METHOD_OTP_OR_ANSWER);
  assert_int_equal(config_find_service_line(&cfg, "a")->policy.otp.method,
                   OTP_METHOD_ANSWER);
  assert_true(cfg.otp.send_configured);
  assert_int_equal(cfg.otp.max_sends_per_customer_per_day, 10);
  assert_int_equal(cfg.otp.max_sends_per_phone_per_hour, 5);
  assert_int_equal(cfg.otp.max_sends_per_minute, 300);
  assert_string_equal(cfg.crm.ops[CRM_OP_LOOKUP_PHONE].map.phone, "/phone");
  config_free(&cfg);
  /* Defaults with no file: the answer, six digits, 300 s. */
  assert_true(config_load_text("{}", 2, &cfg, err, sizeof err));
  assert_int_equal(cfg.service_lines[0].policy.otp.method, OTP_METHOD_ANSWER);
  assert_int_equal(cfg.service_lines[0].policy.otp.length, 6);
  assert_int_equal(cfg.service_lines[0].policy.otp.ttl_seconds, 300);
  config_free(&cfg);
}

/* otp.auth oauth2 is read as crm.auth's, with its default refresh margin
 * (a text load refuses ${env:}: the integration test resolves one). */
static void test_oauth2_auth(void **state) {
  (void)state;
  static const char json[] =
      "{\"otp\":{\"secret\":\"" SECRET "\"," SEND ",\"auth\":{\"type\":"
      "\"oauth2\",\"tokenUrl\":\"http://127.0.0.1:1/token\",\"clientId\":"
      "\"sms-client\",\"clientSecret\":"
      "\"s3cr3t\",\"scope\":\"sms\"}}," LINE("otp") "}";
  char err[CONFIG_ERR_MAX] = "";
  if (!config_load_text(json, sizeof json - 1, &cfg, err, sizeof err))
    fail_msg("%s", err);
  assert_int_equal(cfg.otp.auth.kind, CRM_AUTH_OAUTH2);
  assert_string_equal(cfg.otp.auth.token_url, "http://127.0.0.1:1/token");
  assert_string_equal(cfg.otp.auth.client_id, "sms-client");
  assert_string_equal(cfg.otp.auth.client_secret, "s3cr3t");
  assert_string_equal(cfg.otp.auth.scope, "sms");
  assert_int_equal(cfg.otp.auth.refresh_margin_ms, 30000);
  config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows),
      cmocka_unit_test(test_numbers_reach_every_line),
      cmocka_unit_test(test_oauth2_auth),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
