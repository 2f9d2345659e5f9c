/*
 * config: the failed-attempt limit keys of issue 21 (identifyLimit.*,
 * lockout.withheldMaxFailures): their documented defaults, values landing
 * in their fields, and refusals that name the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static config cfg; /* large: keep it off the stack */

static bool load_text(const char *json, char *err, size_t err_len) {
  err[0] = '\0';
  return config_load_text(json, strlen(json), &cfg, err, err_len);
}

/* The defaults SECURITY.md states and justifies. */
static void defaults(void **state) {
  (void)state;
  char err[CONFIG_ERR_MAX];
  assert_true(load_text("{}", err, sizeof err));
  assert_int_equal(cfg.identify_global_max_per_minute, 60);
  assert_int_equal(cfg.identify_caller_max_failures, 10);
  assert_int_equal(cfg.identify_caller_window_seconds, 3600);
  assert_int_equal(cfg.identify_withheld_max_failures, 50);
  assert_int_equal(cfg.lockout_withheld_max_failures, 50);
  assert_int_equal(cfg.lockout_global_max_per_minute, 300);
  assert_int_equal(cfg.lockout_caller_max_failures, 10);
  config_free(&cfg);
}

static void values_applied(void **state) {
  (void)state;
  char err[CONFIG_ERR_MAX];
  assert_true(load_text(
      "{\"identifyLimit\":{\"globalMaxFailuresPerMinute\":0,"
      "\"callerMaxFailures\":7,\"callerWindowSeconds\":600,"
      "\"withheldMaxFailures\":200},\"lockout\":{\"withheldMaxFailures\":0}}",
      err, sizeof err));
  assert_int_equal(cfg.identify_global_max_per_minute, 0);
  assert_int_equal(cfg.identify_caller_max_failures, 7);
  assert_int_equal(cfg.identify_caller_window_seconds, 600);
  assert_int_equal(cfg.identify_withheld_max_failures, 200);
  assert_int_equal(cfg.lockout_withheld_max_failures, 0);
  config_free(&cfg);
}

typedef struct {
  const char *json;
  const char *message_has;
} refusal_row;

static const refusal_row refusals[] = {
    {"{\"identifyLimit\":{\"globalMaxFailuresPerMinute\":-1}}",
     "identifyLimit.globalMaxFailuresPerMinute: must be an integer"},
    {"{\"identifyLimit\":{\"callerMaxFailures\":10001}}",
     "identifyLimit.callerMaxFailures: must be an integer 0..10000"},
    {"{\"identifyLimit\":{\"callerWindowSeconds\":59}}",
     "identifyLimit.callerWindowSeconds: must be an integer 60..86400"},
    {"{\"identifyLimit\":{\"withheldMaxFailures\":\"50\"}}",
     "identifyLimit.withheldMaxFailures"},
    {"{\"identifyLimit\":{\"maxFailures\":3}}",
     "identifyLimit.maxFailures: unknown key"},
    {"{\"identifyLimit\":[]}", "identifyLimit"},
    {"{\"lockout\":{\"withheldMaxFailures\":-5}}",
     "lockout.withheldMaxFailures: must be an integer"},
};

static void refused_with_the_key(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    char err[CONFIG_ERR_MAX];
    bool ok = load_text(refusals[i].json, err, sizeof err);
    if (ok || !strstr(err, refusals[i].message_has))
      fail_msg("row %zu %s: ok=%d err='%s', wanted '%s'", i, refusals[i].json,
               ok, err, refusals[i].message_has);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults),
      cmocka_unit_test(values_applied),
      cmocka_unit_test(refused_with_the_key),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
