/*
 * report: time ranges, hour/day buckets, counters and rates, CSV escaping,
 * query decoding and what a commit records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pct.h"
#include "report.h"

static void test_parse_time(void **state) {
  (void)state;
  static const struct {
    const char *text;
    bool ok;
    int64_t want;
  } rows[] = {
      {"0", true, 0},
      {"1700000000", true, 1700000000},
      {"1970-01-01T00:00:00Z", true, 0},
      {"2024-05-01T10:00:00Z", true, 1714557600},
      {"2024-05-01T10:00Z", true, 1714557600},
      {"2024-05-01T10:00:00.987Z", true, 1714557600},
      {"2024-05-01T10:00:00+00:00", true, 1714557600},
      {"2024-05-01", true, 1714521600},
      {"2024-02-29T00:00:00Z", true, 1709164800},
      {"2023-02-29T00:00:00Z", false, 0},
      {"2024-05-01T10:00:00", false, 0},       /* no zone */
      {"2024-05-01T10:00:00+02:00", false, 0}, /* not UTC */
      {"2024-13-01T00:00:00Z", false, 0},
      {"2024-05-01T24:00:00Z", false, 0},
      {"2024-5-1", false, 0},
      {"", false, 0},
      {"-5", false, 0},
      {"12e3", false, 0},
      {"9999999999999", false, 0},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    int64_t t = -1;
    print_message("  %s\n", rows[i].text);
    assert_int_equal(report_parse_time(rows[i].text, &t), rows[i].ok);
    if (rows[i].ok)
      assert_int_equal(t, rows[i].want);
  }
}

static void test_format_and_hour_names(void **state) {
  (void)state;
  char iso[21], hour[REPORT_HOUR_LEN + 1];
  report_format_time(1714557600 + 3599, iso);
  assert_string_equal(iso, "2024-05-01T10:59:59Z");
  report_hour_name(1714557600 + 3599, hour);
  assert_string_equal(hour, "2024050110");
  report_hour_name(0, hour);
  assert_string_equal(hour, "1970010100");
  report_hour_name(1709251199, hour); /* 2024-02-29T23:59:59Z */
  assert_string_equal(hour, "2024022923");
  /* Round trip through the parser. */
  int64_t t;
  report_format_time(1234567890, iso);
  assert_true(report_parse_time(iso, &t));
  assert_int_equal(t, 1234567890);
}

static void test_buckets(void **state) {
  (void)state;
  report_bucket b;
  assert_true(report_parse_bucket(NULL, &b));
  assert_int_equal(b, REPORT_BUCKET_HOUR);
  assert_true(report_parse_bucket("day", &b));
  assert_int_equal(b, REPORT_BUCKET_DAY);
  assert_false(report_parse_bucket("week", &b));
  assert_int_equal(report_bucket_floor(1714557600 + 3599, REPORT_BUCKET_HOUR),
                   1714557600);
  assert_int_equal(report_bucket_floor(1714557600 + 3599, REPORT_BUCKET_DAY),
                   1714521600);
  assert_int_equal(report_bucket_seconds(REPORT_BUCKET_DAY), 86400);
  assert_int_equal(report_bucket_floor(-1, REPORT_BUCKET_HOUR), -3600);
}

static void test_range(void **state) {
  (void)state;
  int64_t f, t;
  const char *why = NULL;
  assert_true(report_range(NULL, NULL, 1000000, &f, &t, &why));
  assert_int_equal(t, 1000000);
  assert_int_equal(f, 1000000 - 86400);
  assert_true(report_range("2024-05-01", "", 1715000000, &f, &t, &why));
  assert_int_equal(f, 1714521600);
  assert_int_equal(t, 1715000000);
  assert_false(report_range("2024-05-02", "2024-05-01", 0, &f, &t, &why));
  assert_string_equal(why, "from must be before to");
  assert_false(report_range("0", "1800000000", 0, &f, &t, &why));
  assert_non_null(strstr(why, "400 days"));
  assert_false(report_range("soon", NULL, 0, &f, &t, &why));
  assert_non_null(strstr(why, "from"));
}

static void test_counts_and_rates(void **state) {
  (void)state;
  report_counts c = {0};
  char line[FLOW_NAME_MAX + 1];
  assert_true(
      report_counts_add_field(&c, "retail|started", 10, line, sizeof line));
  assert_string_equal(line, "retail");
  assert_true(
      report_counts_add_field(&c, "retail|started_ani", 4, line, sizeof line));
  assert_true(
      report_counts_add_field(&c, "retail|completed", 8, line, sizeof line));
  assert_true(
      report_counts_add_field(&c, "retail|verified", 5, line, sizeof line));
  assert_true(
      report_counts_add_field(&c, "retail|opted_out", 1, line, sizeof line));
  assert_true(report_counts_add_field(&c, "retail|verify_failed", 2, line,
                                      sizeof line));
  assert_true(report_counts_add_field(&c, "retail|auth_identified", 7, line,
                                      sizeof line));
  assert_true(report_counts_add_field(&c, "retail|auth_verified", 5, line,
                                      sizeof line));
  assert_true(
      report_counts_add_field(&c, "retail|transfer", 2, line, sizeof line));
  assert_true(
      report_counts_add_field(&c, "retail|attempts", 12, line, sizeof line));
  assert_true(report_counts_add_field(&c, "retail|duration_ms", 80000, line,
                                      sizeof line));
  /* Unknown counters and malformed fields are not counted. */
  assert_false(
      report_counts_add_field(&c, "retail|pending_x", 1, line, sizeof line));
  assert_false(report_counts_add_field(&c, "nobar", 1, line, sizeof line));
  assert_false(report_counts_add_field(&c, "|started", 1, line, sizeof line));
  assert_int_equal(c.outcome[FLOW_OUTCOME_VERIFIED], 5);
  assert_int_equal(c.verified, 5);

  report_rates r;
  report_compute_rates(&c, &r);
  assert_true(r.has_started && r.has_completed);
  assert_float_equal(r.ani_identification, 0.4, 1e-9);
  assert_float_equal(r.identification, 7.0 / 8, 1e-9);
  assert_float_equal(r.verification, 5.0 / 8, 1e-9);
  assert_float_equal(r.containment, 6.0 / 8, 1e-9);
  assert_float_equal(r.transfer, 2.0 / 8, 1e-9);
  assert_float_equal(r.opt_out, 1.0 / 8, 1e-9);
  assert_float_equal(r.average_attempts, 1.5, 1e-9);
  assert_float_equal(r.average_duration_seconds, 10.0, 1e-9);

  report_counts sum = {0};
  report_counts_merge(&sum, &c);
  report_counts_merge(&sum, &c);
  assert_int_equal(sum.started, 20);
  assert_int_equal(sum.outcome[FLOW_OUTCOME_OPTED_OUT], 2);

  report_counts empty = {0};
  report_compute_rates(&empty, &r);
  assert_false(r.has_started);
  assert_false(r.has_completed);
}

static void test_csv(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
  } rows[] = {
      {"plain", "plain"},
      {"", ""},
      {"a,b", "\"a,b\""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"two\nlines", "\"two\nlines\""},
      {"=HYPERLINK(1)", "'=HYPERLINK(1)"},
      {"-2+3", "'-2+3"},
      {"@x,y", "\"'@x,y\""},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    buf b;
    buf_init(&b, REPORT_TEXT_MAX, BUF_PLAIN);
    report_csv_field(&b, rows[i].in);
    assert_int_equal(buf_state(&b), BUF_OK);
    assert_string_equal(buf_str(&b), rows[i].want);
    buf_free(&b);
  }
  /* A field that would pass the cap fails the buffer, never truncates. */
  buf b;
  buf_init(&b, 4, BUF_PLAIN);
  report_csv_field(&b, "a,b");
  assert_int_equal(buf_state(&b), BUF_TOO_LARGE);
  buf_free(&b);
}

/* Query-string values are decoded by core/pct.h with '+' as a space. */
static bool query_decode(const char *in, char *out, size_t out_len) {
  return pct_decode(in, strlen(in), PCT_PLUS_IS_SPACE, out, out_len) == PCT_OK;
}

static void test_url_decode(void **state) {
  (void)state;
  char out[32];
  assert_true(query_decode("2024-05-01T10%3A00%3A00Z", out, sizeof out));
  assert_string_equal(out, "2024-05-01T10:00:00Z");
  assert_true(query_decode("a+b%2Bc", out, sizeof out));
  assert_string_equal(out, "a b+c");
  assert_false(query_decode("bad%2", out, sizeof out));
  assert_false(query_decode("bad%zz", out, sizeof out));
  assert_false(query_decode("nul%00", out, sizeof out));
  assert_false(query_decode("0123456789", out, 5));
}

static void test_build_record(void **state) {
  (void)state;
  flow_session s = {0};
  snprintf(s.conversation_id, sizeof s.conversation_id, "c-1");
  snprintf(s.service_line, sizeof s.service_line, "retail");
  snprintf(s.customer_id, sizeof s.customer_id, "100234");
  snprintf(s.customer_name, sizeof s.customer_name, "Ana");
  snprintf(s.ani_masked, sizeof s.ani_masked, "*******0116");
  s.state = FLOW_STATE_AWAITING_SECURITY;
  s.method = FLOW_METHOD_ANI;
  s.identified = true;
  s.created_ms = 1714557600000;
  s.updated_ms = 1714557600500;

  report_record r;
  report_build_record(&s, false, false, &r);
  assert_int_equal(r.incr_count, 0);
  assert_int_equal(r.event_count, 0);

  report_build_record(&s, true, false, &r);
  assert_string_equal(r.hour, "2024050110");
  /* Each counter for all channels and for the session's (voice when the
   * session names none). */
  assert_int_equal(r.incr_count, 4);
  assert_string_equal(r.incr_field[0], "retail|started");
  assert_string_equal(r.incr_field[1], "retail|started@voice");
  assert_string_equal(r.incr_field[2], "retail|started_ani");
  assert_string_equal(r.incr_field[3], "retail|started_ani@voice");
  assert_int_equal(r.event_count, 0);

  s.state = FLOW_STATE_COMPLETED;
  s.outcome = FLOW_OUTCOME_VERIFIED;
  s.verified = true;
  s.verify_attempts = 2;
  s.updated_ms = 1714557612500;
  report_build_record(&s, false, true, &r);
  assert_int_equal(r.event_count, REPORT_EVENT_FIELDS);
  bool saw_duration = false, saw_attempts = false;
  for (size_t i = 0; i < r.incr_count; i++) {
    if (!strcmp(r.incr_field[i], "retail|duration_ms")) {
      assert_string_equal(r.incr_amount[i], "12500");
      saw_duration = true;
    }
    if (!strcmp(r.incr_field[i], "retail|attempts")) {
      assert_string_equal(r.incr_amount[i], "2");
      saw_attempts = true;
    }
  }
  assert_true(saw_duration && saw_attempts);
  /* The event carries the masked ANI and enums, never the customer. */
  for (size_t i = 0; i < r.event_count; i++) {
    assert_null(strstr(r.event_value[i], "100234"));
    assert_null(strstr(r.event_value[i], "Ana"));
    if (!strcmp(r.event_name[i], "authStatus"))
      assert_string_equal(r.event_value[i], "identified_verified");
    if (!strcmp(r.event_name[i], "aniMasked"))
      assert_string_equal(r.event_value[i], "*******0116");
  }
  assert_int_equal(report_auth_status(&s), FLOW_AUTH_IDENTIFIED_VERIFIED);
}

/* Context across channels: the channel in every counter's second field
 * and in the event, and context_reused for linked and handoff sessions
 * only. A reader that knows no channels skips the '@' fields. */
static void test_build_record_channels(void **state) {
  (void)state;
  flow_session s = {0};
  snprintf(s.conversation_id, sizeof s.conversation_id, "c-2");
  snprintf(s.service_line, sizeof s.service_line, "retail");
  snprintf(s.channel, sizeof s.channel, "callback");
  snprintf(s.context_channel, sizeof s.context_channel, "chat");
  snprintf(s.linked_conversation_id, sizeof s.linked_conversation_id, "c-1");
  s.state = FLOW_STATE_COMPLETED;
  s.outcome = FLOW_OUTCOME_VERIFIED;
  s.identified = s.verified = true;
  s.created_ms = 1714557600000;
  s.updated_ms = 1714557600100;
  static const struct {
    flow_method method;
    bool reused;
  } rows[] = {{FLOW_METHOD_LINKED, true},
              {FLOW_METHOD_HANDOFF, true},
              {FLOW_METHOD_ANI, false},
              {FLOW_METHOD_IDENTIFIER, false}};
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    s.method = rows[i].method;
    report_record r;
    report_build_record(&s, true, true, &r);
    assert_true(r.incr_count < REPORT_MAX_INCRS);
    int reused = 0, reused_ch = 0, completed_ch = 0, all_ch = 0;
    for (size_t j = 0; j < r.incr_count; j++) {
      reused += !strcmp(r.incr_field[j], "retail|context_reused");
      reused_ch += !strcmp(r.incr_field[j], "retail|context_reused@callback");
      completed_ch += !strcmp(r.incr_field[j], "retail|completed@callback");
      all_ch += strstr(r.incr_field[j], "@callback") != NULL;
      report_counts c = {0};
      char line[FLOW_NAME_MAX + 1];
      if (strchr(r.incr_field[j], '@'))
        assert_false(
            report_counts_add_field(&c, r.incr_field[j], 1, line, sizeof line));
    }
    assert_int_equal(reused, rows[i].reused);
    assert_int_equal(reused_ch, rows[i].reused);
    assert_int_equal(completed_ch, 1);
    assert_int_equal(all_ch * 2, (int)r.incr_count);
    const char *channel = NULL, *context = NULL, *linked = NULL;
    for (size_t j = 0; j < r.event_count; j++) {
      if (!strcmp(r.event_name[j], "channel"))
        channel = r.event_value[j];
      if (!strcmp(r.event_name[j], "contextChannel"))
        context = r.event_value[j];
      if (!strcmp(r.event_name[j], "linkedConversationId"))
        linked = r.event_value[j];
    }
    assert_string_equal(channel, "callback");
    assert_string_equal(context, "chat");
    assert_string_equal(linked, "c-1");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_time),
      cmocka_unit_test(test_format_and_hour_names),
      cmocka_unit_test(test_buckets),
      cmocka_unit_test(test_range),
      cmocka_unit_test(test_counts_and_rates),
      cmocka_unit_test(test_csv),
      cmocka_unit_test(test_url_decode),
      cmocka_unit_test(test_build_record),
      cmocka_unit_test(test_build_record_channels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
