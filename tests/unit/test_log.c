/* log: every line is one valid JSON object, whatever the values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "log.h"

static json_t *format_and_parse(const char *msg, const log_field *fields,
                                size_t n, size_t buf_len) {
  char line[LOG_LINE_MAX + 1];
  assert_true(buf_len <= sizeof line);
  size_t len =
      log_format(line, buf_len, 1795000000123LL, LOG_WARN, msg, fields, n);
  assert_int_equal(len, strlen(line));
  json_error_t err;
  json_t *root = json_loads(line, 0, &err);
  if (!root)
    fail_msg("not JSON: %s (%s)", line, err.text);
  return root;
}

static void test_log_fields(void **state) {
  (void)state;
  json_t *j = format_and_parse(
      "request",
      LOG_FIELDS(LOG_STR("route", "/v1/sessions"), LOG_INT("status", 409),
                 LOG_DBL("latencyMs", 1.5), LOG_BOOL("ok", true),
                 LOG_STR("weird", "q\"uote\\ nl\n tab\t \x01 Garc\xc3\xad"
                                  "a"),
                 LOG_STR("null", NULL)),
      LOG_LINE_MAX);
  assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
  assert_string_equal(json_string_value(json_object_get(j, "msg")), "request");
  assert_string_equal(json_string_value(json_object_get(j, "time")),
                      "2026-11-18T11:06:40.123Z");
  assert_int_equal(json_integer_value(json_object_get(j, "status")), 409);
  assert_true(json_is_true(json_object_get(j, "ok")));
  assert_true(json_real_value(json_object_get(j, "latencyMs")) == 1.5);
  assert_string_equal(json_string_value(json_object_get(j, "weird")),
                      "q\"uote\\ nl\n tab\t \x01 Garc\xc3\xad"
                      "a");
  assert_string_equal(json_string_value(json_object_get(j, "null")), "");
  json_decref(j);
}

/* A value too long for the line drops that field, keeps the line valid
 * and marks it truncated. */
static void test_log_truncation_keeps_json(void **state) {
  (void)state;
  char big[600];
  memset(big, '"', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  json_t *j =
      format_and_parse("m",
                       LOG_FIELDS(LOG_STR("a", "kept"), LOG_STR("big", big),
                                  LOG_STR("after", "dropped")),
                       256);
  assert_string_equal(json_string_value(json_object_get(j, "a")), "kept");
  assert_null(json_object_get(j, "big"));
  assert_true(json_is_true(json_object_get(j, "truncated")));
  json_decref(j);
}

/* Invalid UTF-8 never reaches the line raw: each bad byte is a \u00XX
 * escape, well-formed sequences pass, and a strict parser accepts it. */
static void test_log_invalid_utf8_escaped(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
    bool valid; /* well-formed: passes through raw */
  } rows[] = {
      {"Garc\xc3\xad"
       "a",
       "Garc\xc3\xad"
       "a",
       true},
      {"\xe2\x82\xac \xf0\x9f\x98\x80", "\xe2\x82\xac \xf0\x9f\x98\x80", true},
      {"G\xff"
       "T",
       "G\xc3\xbf"
       "T",
       false},                                             /* lone byte */
      {"\xc3", "\xc3\x83", false},                         /* truncated */
      {"\xc0\xaf", "\xc3\x80\xc2\xaf", false},             /* overlong */
      {"\xed\xa0\x80", "\xc3\xad\xc2\xa0\xc2\x80", false}, /* surrogate */
      {"\xf4\x90\x80\x80", "\xc3\xb4\xc2\x90\xc2\x80\xc2\x80", false},
      {"\x80"
       "abc",
       "\xc2\x80"
       "abc",
       false}, /* continuation */
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    char line[512];
    size_t n = log_format(line, sizeof line, 0, LOG_INFO, "m",
                          LOG_FIELDS(LOG_STR("v", rows[i].in)));
    json_error_t e;
    json_t *j = json_loadb(line, n, 0, &e);
    if (!j)
      fail_msg("row %zu not JSON: %s (%s)", i, line, e.text);
    /* The escape decodes to U+00XX, i.e. the byte's Latin-1 reading. */
    assert_string_equal(json_string_value(json_object_get(j, "v")),
                        rows[i].want);
    json_decref(j);
    bool raw_high = false;
    for (size_t k = 0; k < n; k++)
      raw_high = raw_high || (unsigned char)line[k] >= 0x80;
    assert_int_equal(raw_high, rows[i].valid);
  }
}

static void test_log_method_name(void **state) {
  (void)state;
  assert_string_equal(log_method_name("GET"), "GET");
  assert_string_equal(log_method_name("DELETE"), "DELETE");
  assert_string_equal(log_method_name("get"), "other");
  assert_string_equal(log_method_name("G\xffT"), "other");
  assert_string_equal(log_method_name("BREW"), "other");
  assert_string_equal(log_method_name(""), "other");
  assert_string_equal(log_method_name(NULL), "other");
}

static void test_log_level_filter(void **state) {
  (void)state;
  log_set_level(LOG_WARN);
  assert_false(log_enabled(LOG_INFO));
  assert_true(log_enabled(LOG_ERROR));
  log_set_level(LOG_DEBUG);
  assert_true(log_enabled(LOG_DEBUG));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_fields),
      cmocka_unit_test(test_log_truncation_keeps_json),
      cmocka_unit_test(test_log_level_filter),
      cmocka_unit_test(test_log_invalid_utf8_escaped),
      cmocka_unit_test(test_log_method_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
