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
      {"2024-05-01T10:00:00", true, 1714557600}, /* the zone: UTC */
      {"2024-05-01T10:00:00+02:00", true, 1714550400},
      {"2024-05-01T10:00:00+0530", true, 1714537800},
      {"2024-05-01T10:00:00+25:00", false, 0},
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
  /* The default end is exclusive and past the current second. */
  assert_true(report_range(NULL, NULL, 1000000, &f, &t, &why));
  assert_int_equal(t, 1000001);
  assert_int_equal(f, 1000001 - 86400);
  assert_true(report_range("2024-05-01", "", 1715000000, &f, &t, &why));
  assert_int_equal(f, 1714521600);
  assert_int_equal(t, 1715000001);
  assert_true(report_range(NULL, "1715000000", 1715000000, &f, &t, &why));
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
  assert_string_equal(r.incr_field[0], "0|retail|started");
  assert_string_equal(r.incr_field[1], "0|retail|started@voice");
  assert_string_equal(r.incr_field[2], "0|retail|started_ani");
  assert_string_equal(r.incr_field[3], "0|retail|started_ani@voice");
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
    if (!strcmp(r.incr_field[i], "0|retail|duration_ms")) {
      assert_string_equal(r.incr_amount[i], "12500");
      saw_duration = true;
    }
    if (!strcmp(r.incr_field[i], "0|retail|attempts")) {
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
      reused += !strcmp(r.incr_field[j], "0|retail|context_reused");
      reused_ch += !strcmp(r.incr_field[j], "0|retail|context_reused@callback");
      completed_ch += !strcmp(r.incr_field[j], "0|retail|completed@callback");
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

/* Both shapes of counter field, as a table: what is counted, for which
 * line and channel, and what is refused. */
static void test_counts_add_scoped(void **state) {
  (void)state;
  static const struct {
    const char *field;
    bool ok;
    const char *line, *channel;
    size_t member; /* offsetof the member that grows */
  } rows[] = {
      {"retail|started", true, "retail", "", offsetof(report_counts, started)},
      {"retail|started@voice", true, "retail", "voice",
       offsetof(report_counts, started)},
      {"retail|context_reused", true, "retail", "",
       offsetof(report_counts, context_reused)},
      {"retail|context_reused@web_chat2", true, "retail", "web_chat2",
       offsetof(report_counts, context_reused)},
      {"a-b|crm_error@x", true, "a-b", "x",
       offsetof(report_counts, crm_errors)},
      {"retail|verified@app", true, "retail", "app",
       offsetof(report_counts, outcome) +
           FLOW_OUTCOME_VERIFIED * sizeof(long long)},
      {"retail|started@", false, "", "", 0},
      {"retail|started@Voice", false, "", "", 0},
      {"retail|started@a-b", false, "", "", 0},
      {"retail|started@voice@voice", false, "", "", 0},
      {"retail|started@abcdefghijabcdefghijabcdefghijabc", false, "", "", 0},
      {"retail|started@abcdefghijabcdefghijabcdefghijab", true, "retail",
       "abcdefghijabcdefghijabcdefghijab", offsetof(report_counts, started)},
      {"retail|nope@voice", false, "", "", 0},
      {"retail|@voice", false, "", "", 0},
      {"|started@voice", false, "", "", 0},
      {"started@voice", false, "", "", 0},
      /* With the quarter of the hour first. */
      {"2|retail|started@voice", true, "retail", "voice",
       offsetof(report_counts, started)},
      {"3|retail|completed", true, "retail", "",
       offsetof(report_counts, completed)},
      {"0|started", true, "0", "", offsetof(report_counts, started)},
      {"4|retail|started", false, "", "", 0},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    report_counts c = {0}, zero = {0};
    report_scope scope;
    bool ok = report_counts_add_scoped(&c, rows[i].field, 3, &scope);
    assert_int_equal(ok, rows[i].ok);
    if (!ok) {
      assert_memory_equal(&c, &zero, sizeof c);
      continue;
    }
    assert_string_equal(scope.line, rows[i].line);
    assert_string_equal(scope.channel, rows[i].channel);
    assert_int_equal(scope.quarter,
                     rows[i].field[1] == '|' && strchr(rows[i].field + 2, '|')
                         ? rows[i].field[0] - '0'
                         : -1);
    long long *grown = (long long *)((char *)&c + rows[i].member);
    assert_int_equal(*grown, 3);
    *grown = 0;
    assert_memory_equal(&c, &zero, sizeof c);
    /* The all-channels reader takes only the plain shape. */
    char line[FLOW_NAME_MAX + 1];
    report_counts d = {0};
    assert_int_equal(
        report_counts_add_field(&d, rows[i].field, 1, line, sizeof line),
        rows[i].channel[0] == '\0');
  }
}

/* contextReuseRate is over completed, null (has_completed false) with
 * none; subtract and merge_positive work member by member. */
static void test_context_reuse_rate_and_arithmetic(void **state) {
  (void)state;
  report_counts c = {.completed = 8, .context_reused = 2, .started = 10};
  report_rates r;
  report_compute_rates(&c, &r);
  assert_true(r.has_completed);
  assert_float_equal(r.context_reuse, 0.25, 1e-9);
  report_counts none = {.started = 3, .context_reused = 0};
  report_compute_rates(&none, &r);
  assert_false(r.has_completed);
  assert_float_equal(r.context_reuse, 0, 0);

  report_counts a = {.started = 5, .context_reused = 1, .crm_errors = 2};
  a.outcome[FLOW_OUTCOME_LOCKED] = 4;
  report_counts b = {.started = 7, .context_reused = 1};
  b.outcome[FLOW_OUTCOME_LOCKED] = 1;
  report_counts_subtract(&a, &b);
  assert_int_equal(a.started, -2);
  assert_int_equal(a.context_reused, 0);
  assert_int_equal(a.crm_errors, 2);
  assert_int_equal(a.outcome[FLOW_OUTCOME_LOCKED], 3);
  report_counts into = {.started = 1};
  report_counts_merge_positive(&into, &a);
  assert_int_equal(into.started, 1); /* -2 counts as 0 */
  assert_int_equal(into.crm_errors, 2);
  assert_int_equal(into.outcome[FLOW_OUTCOME_LOCKED], 3);
  report_counts_merge(&into, &a);
  assert_int_equal(into.started, -1);
}

/* byChannel: sorted by name whatever the arrival order, duplicates merged,
 * the sum kept over every channel (also those past the cap), and what the
 * all-channels counters hold beyond the channels' sum given to voice. */
static void test_channels(void **state) {
  (void)state;
  report_channels *t = calloc(1, sizeof *t);
  assert_non_null(t);
  static const struct {
    const char *channel;
    long long started;
  } adds[] = {{"web", 2}, {"app", 1}, {"voice", 4}, {"web", 3}, {"chat", 1}};
  for (size_t i = 0; i < sizeof adds / sizeof adds[0]; i++) {
    report_counts one = {.started = adds[i].started};
    report_channels_add(t, adds[i].channel, &one);
  }
  static const char *const order[] = {"app", "chat", "voice", "web"};
  static const long long started[] = {1, 1, 4, 5};
  assert_int_equal(t->count, 4);
  for (size_t i = 0; i < 4; i++) {
    assert_string_equal(t->name[i], order[i]);
    assert_int_equal(t->counts[i].started, started[i]);
  }
  assert_int_equal(t->sum.started, 11);
  /* 15 started in all: 4 of them in hours before channels were counted. */
  report_counts all = {.started = 15};
  report_channels_finish(t, &all);
  assert_int_equal(t->count, 4);
  assert_int_equal(t->counts[2].started, 8);
  /* Nothing beyond the channels' sum: no voice row is invented. */
  report_channels *u = calloc(1, sizeof *u);
  assert_non_null(u);
  report_counts one = {.started = 2, .completed = 1};
  report_channels_add(u, "app", &one);
  report_channels_finish(u, &one);
  assert_int_equal(u->count, 1);
  assert_string_equal(u->name[0], "app");
  /* Only legacy counters: voice appears. */
  memset(u, 0, sizeof *u);
  report_channels_finish(u, &one);
  assert_int_equal(u->count, 1);
  assert_string_equal(u->name[0], "voice");
  assert_int_equal(u->counts[0].completed, 1);
  /* Past the cap a new channel is left out of the table, not the sum. */
  memset(u, 0, sizeof *u);
  for (int i = 0; i < REPORT_CHANNELS_MAX + 5; i++) {
    char name[16];
    snprintf(name, sizeof name, "c%03d", REPORT_CHANNELS_MAX + 4 - i);
    report_channels_add(u, name, &one);
  }
  assert_int_equal(u->count, REPORT_CHANNELS_MAX);
  assert_true(u->truncated);
  assert_int_equal(u->sum.started, 2LL * (REPORT_CHANNELS_MAX + 5));
  for (size_t i = 1; i < u->count; i++)
    assert_true(strcmp(u->name[i - 1], u->name[i]) < 0);
  report_counts total = u->sum;
  report_channels_finish(u, &total);
  assert_int_equal(u->count, REPORT_CHANNELS_MAX); /* no voice invented */
  free(t);
  free(u);
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
      cmocka_unit_test(test_counts_add_scoped),
      cmocka_unit_test(test_context_reuse_rate_and_arithmetic),
      cmocka_unit_test(test_channels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
