/*
 * config, context across channels (SPEC §7): handoffKeys, handoff.* and
 * serviceLines.<name>.context.*, one row per accepted or refused value
 * (the message must name the key), AUTHFLOW_HANDOFF_KEYS, and the secret
 * read from ${env:} and ${file:}.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define SECRET "0123456789abcdef0123456789abcdef" /* 32 bytes */
#define HKEY "handoff-key-0001"

static const char *const *fake_env;

static char *fake_getenv(const char *name) {
  for (size_t i = 0; fake_env && fake_env[i]; i += 2)
    if (strcmp(fake_env[i], name) == 0)
      return (char *)fake_env[i + 1];
  return NULL;
}

static config cfg; /* large: keep it off the stack */

typedef struct {
  const char *json;
  bool ok;
  const char *error_has; /* for refused rows: the key named */
} row;

static const row rows[] = {
    /* defaults: links for 900 s, handoffs accepted, no secret = off */
    {"{}", true, NULL},
    {"{\"handoff\":{\"secret\":\"" SECRET "\"}}", true, NULL},
    {"{\"handoffKeys\":[\"" HKEY "\"],\"handoff\":{\"secret\":\"" SECRET
     "\",\"ttlSeconds\":60,\"maxFailedRedemptions\":5,"
     "\"failedRedemptionWindowSeconds\":10}}",
     true, NULL},
    {"{\"handoffKeys\":[\"" HKEY "\"]}", false,
     "handoff.secret: required when handoffKeys are set"},
    {"{\"handoff\":{\"secret\":\"short\"}}", false,
     "handoff.secret: must be at least 16 bytes"},
    {"{\"handoff\":{\"secret\":42}}", false,
     "handoff.secret: must be a string"},
    {"{\"handoff\":{\"ttlSeconds\":0}}", false, "handoff.ttlSeconds"},
    {"{\"handoff\":{\"ttlSeconds\":86401}}", false, "handoff.ttlSeconds"},
    {"{\"handoff\":{\"maxFailedRedemptions\":0}}", false,
     "handoff.maxFailedRedemptions"},
    {"{\"handoff\":{\"failedRedemptionWindowSeconds\":\"1h\"}}", false,
     "handoff.failedRedemptionWindowSeconds"},
    /* the live cap, the per-key rate and the phone requirement */
    {"{\"handoff\":{\"maxLiveCodes\":1,\"keyMaxPerMinute\":0,"
     "\"requirePhoneForVerified\":true}}",
     true, NULL},
    {"{\"handoff\":{\"maxLiveCodes\":1000000,\"keyMaxPerMinute\":100000}}",
     true, NULL},
    {"{\"handoff\":{\"maxLiveCodes\":0}}", false,
     "handoff.maxLiveCodes: must be an integer 1..1000000"},
    {"{\"handoff\":{\"maxLiveCodes\":1000001}}", false, "handoff.maxLiveCodes"},
    {"{\"handoff\":{\"keyMaxPerMinute\":-1}}", false,
     "handoff.keyMaxPerMinute: must be an integer 0..100000"},
    {"{\"handoff\":{\"keyMaxPerMinute\":100001}}", false,
     "handoff.keyMaxPerMinute"},
    {"{\"handoff\":{\"requirePhoneForVerified\":\"yes\"}}", false,
     "handoff.requirePhoneForVerified: must be true or false"},
    {"{\"handoff\":{\"sekret\":\"x\"}}", false, "handoff.sekret: unknown key"},
    {"{\"handoff\":[]}", false, "handoff: must be an object"},
    {"{\"handoffKeys\":\"" HKEY "\"}", false, "handoffKeys: must be an array"},
    {"{\"handoffKeys\":[\"short\"],\"handoff\":{\"secret\":\"" SECRET "\"}}",
     false, "handoffKeys[0]"},
    {"{\"handoffKeys\":[7]}", false, "handoffKeys[0]: must be a string"},
    /* a key has one scope */
    {"{\"apiKeys\":[\"" HKEY "\"],\"handoffKeys\":[\"" HKEY
     "\"],\"handoff\":{\"secret\":\"" SECRET "\"}}",
     false, "handoffKeys[0]: is also an API or report key"},
    {"{\"reportKeys\":[\"" HKEY "\"],\"handoffKeys\":[\"" HKEY
     "\"],\"handoff\":{\"secret\":\"" SECRET "\"}}",
     false, "handoffKeys[0]: is also an API or report key"},
    /* a line's context */
    {"{\"serviceLines\":{\"a\":{\"context\":{\"reuseSeconds\":0,"
     "\"handoff\":false}}}}",
     true, NULL},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"reuseSeconds\":86400}}}}", true,
     NULL},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"reuseSeconds\":-1}}}}", false,
     "serviceLines.a.context.reuseSeconds: must be an integer 0..86400"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"reuseSeconds\":86401}}}}", false,
     "serviceLines.a.context.reuseSeconds"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"handoff\":\"yes\"}}}}", false,
     "serviceLines.a.context.handoff: must be true or false"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"window\":5}}}}", false,
     "serviceLines.a.context.window: unknown key"},
    {"{\"serviceLines\":{\"a\":{\"context\":true}}}", false,
     "serviceLines.a.context: must be an object"},
    /* context.acceptFrom (issue 21): lines and channels links come from */
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"serviceLines\":[\"a\",\"b\"],\"channels\":[\"voice\",\"callback\"]}}},"
     "\"b\":{}}}",
     true, NULL},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"channels\":[]}}}}}",
     true, NULL},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"serviceLines\":[\"a\",\"zz\"]}}}}}",
     false,
     "serviceLines.a.context.acceptFrom.serviceLines[1]: \"zz\" is not a "
     "configured service line"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"serviceLines\":[\"a b\"]}}}}}",
     false, "serviceLines.a.context.acceptFrom.serviceLines[0]: must be"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"channels\":[\"voice\",\"Web-Chat\"]}}}}}",
     false,
     "serviceLines.a.context.acceptFrom.channels[1]: must be a channel name"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"channels\":[7]}}}}}",
     false, "serviceLines.a.context.acceptFrom.channels[0]"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"channels\":\"voice\"}}}}}",
     false, "serviceLines.a.context.acceptFrom.channels: must be an array"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"channels\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\","
     "\"j\","
     "\"k\",\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"]}}}}}",
     false, "acceptFrom.channels: must be an array of at most 16"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
     "\"lines\":[\"a\"]}}}}}",
     false, "serviceLines.a.context.acceptFrom.lines: unknown key"},
    {"{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":[]}}}}", false,
     "serviceLines.a.context.acceptFrom: must be an object"},
};

static void context_rows(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char err[CONFIG_ERR_MAX] = "";
    bool ok = config_load_text(rows[i].json, strlen(rows[i].json), &cfg, err,
                               sizeof err);
    if (ok != rows[i].ok)
      fail_msg("row %zu (%s): %s", i, rows[i].json, ok ? "accepted" : err);
    if (!ok && !strstr(err, rows[i].error_has))
      fail_msg("row %zu: '%s' lacks '%s'", i, err, rows[i].error_has);
    if (!ok)
      assert_null(strstr(err, SECRET)); /* the secret is never echoed */
    config_free(&cfg);
  }
}

static void context_values(void **state) {
  (void)state;
  char err[CONFIG_ERR_MAX];
  const char *text = "{}";
  assert_true(config_load_text(text, strlen(text), &cfg, err, sizeof err));
  assert_int_equal(cfg.service_lines[0].policy.context_reuse_seconds, 900);
  assert_true(cfg.service_lines[0].policy.handoff);
  assert_int_equal(cfg.handoff_ttl_seconds, 300);
  assert_int_equal(cfg.handoff_max_failed_redemptions, 30);
  assert_int_equal(cfg.handoff_failure_window_seconds, 3600);
  assert_int_equal(cfg.handoff_max_live_codes, 10000);
  assert_int_equal(cfg.handoff_key_max_per_minute, 600);
  assert_false(cfg.handoff_require_phone);
  assert_string_equal(cfg.handoff_secret, "");
  config_free(&cfg);

  text = "{\"handoff\":{\"maxLiveCodes\":50,\"keyMaxPerMinute\":7,"
         "\"requirePhoneForVerified\":true}}";
  assert_true(config_load_text(text, strlen(text), &cfg, err, sizeof err));
  assert_int_equal(cfg.handoff_max_live_codes, 50);
  assert_int_equal(cfg.handoff_key_max_per_minute, 7);
  assert_true(cfg.handoff_require_phone);
  config_free(&cfg);

  text = "{\"handoffKeys\":[\"" HKEY "\"],\"handoff\":{\"secret\":\"" SECRET
         "\",\"ttlSeconds\":60},\"serviceLines\":{\"a\":{\"context\":{"
         "\"reuseSeconds\":30,\"handoff\":false}}}}";
  assert_true(config_load_text(text, strlen(text), &cfg, err, sizeof err));
  assert_int_equal(cfg.handoff_key_count, 1);
  assert_string_equal(cfg.handoff_keys[0], HKEY);
  assert_string_equal(cfg.handoff_secret, SECRET);
  assert_int_equal(cfg.handoff_ttl_seconds, 60);
  assert_int_equal(cfg.service_lines[0].policy.context_reuse_seconds, 30);
  assert_false(cfg.service_lines[0].policy.handoff);
  config_free(&cfg);
  /* config_free wipes the secret and the keys */
  assert_string_equal(cfg.handoff_secret, "");
  assert_int_equal(cfg.handoff_key_count, 0);
}

/* context.acceptFrom as the flow reads it: absent is unrestricted; a
 * list given (even empty) restricts. */
static void accept_from_values(void **state) {
  (void)state;
  char err[CONFIG_ERR_MAX];
  const char *text =
      "{\"serviceLines\":{\"a\":{\"context\":{\"acceptFrom\":{"
      "\"serviceLines\":[\"b\",\"a\"],\"channels\":[]}}},\"b\":{}}}";
  assert_true(config_load_text(text, strlen(text), &cfg, err, sizeof err));
  const config_service_line *a = config_find_service_line(&cfg, "a");
  const config_service_line *b = config_find_service_line(&cfg, "b");
  assert_non_null(a);
  assert_non_null(b);
  assert_true(a->policy.accept_from.lines_restricted);
  assert_int_equal(a->policy.accept_from.line_count, 2);
  assert_string_equal(a->policy.accept_from.lines[0], "b");
  assert_string_equal(a->policy.accept_from.lines[1], "a");
  assert_true(a->policy.accept_from.channels_restricted);
  assert_int_equal(a->policy.accept_from.channel_count, 0);
  assert_false(b->policy.accept_from.lines_restricted);
  assert_false(b->policy.accept_from.channels_restricted);
  config_free(&cfg);
}

/* The secret from ${env:} and ${file:}; AUTHFLOW_HANDOFF_KEYS replaces the
 * file's keys and is checked against the secret too. */
static void secret_and_env(void **state) {
  (void)state;
  char path[64], secret_path[64], err[CONFIG_ERR_MAX];
  snprintf(secret_path, sizeof secret_path, "/tmp/authflow-ho-secret-XXXXXX");
  int fd = mkstemp(secret_path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, SECRET "\n", strlen(SECRET) + 1),
                   (ssize_t)strlen(SECRET) + 1);
  close(fd);

  char text[512];
  snprintf(text, sizeof text, "{\"handoff\":{\"secret\":\"${file:%s}\"}}",
           secret_path);
  snprintf(path, sizeof path, "/tmp/authflow-ho-config-XXXXXX");
  fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  static const char *const keys_env[] = {"AUTHFLOW_HANDOFF_KEYS",
                                         " " HKEY " , handoff-key-0002", NULL};
  fake_env = keys_env;
  assert_true(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_string_equal(cfg.handoff_secret, SECRET); /* newline dropped */
  assert_int_equal(cfg.handoff_key_count, 2);
  assert_string_equal(cfg.handoff_keys[1], "handoff-key-0002");
  config_free(&cfg);

  /* ${env:} too; a missing variable is an error naming the key */
  snprintf(text, sizeof text,
           "{\"handoff\":{\"secret\":\"${env:HO_SECRET}\"}}");
  fd = open(path, O_WRONLY | O_TRUNC);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  static const char *const secret_env[] = {"HO_SECRET", SECRET, NULL};
  fake_env = secret_env;
  assert_true(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_string_equal(cfg.handoff_secret, SECRET);
  config_free(&cfg);
  fake_env = NULL;
  assert_false(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "handoff.secret"));

  /* handoff keys from the environment without a secret are refused */
  snprintf(text, sizeof text, "{}");
  fd = open(path, O_WRONLY | O_TRUNC);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  fake_env = keys_env;
  assert_false(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "handoff.secret: required"));
  static const char *const empty_keys[] = {"AUTHFLOW_HANDOFF_KEYS", " , ",
                                           NULL};
  fake_env = empty_keys;
  assert_false(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "AUTHFLOW_HANDOFF_KEYS"));
  fake_env = NULL;
  unlink(path);
  unlink(secret_path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(context_rows),
      cmocka_unit_test(context_values),
      cmocka_unit_test(accept_from_values),
      cmocka_unit_test(secret_and_env),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
