/* api_reply_store_error: the one map from store failures to answers, the
 * same for the session endpoints and the report endpoints (SPEC §3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "buf.h"
#include "log.h"
#include "metrics.h"

/* authflow_redis_errors_total as /metrics renders it. */
static long long redis_errors(void) {
  buf out;
  buf_init(&out, 1 << 20, BUF_PLAIN);
  assert_int_equal(metrics_render(&out), BUF_OK);
  const char *p = strstr(buf_str(&out), "\nauthflow_redis_errors_total ");
  assert_non_null(p);
  long long n = strtoll(p + strlen("\nauthflow_redis_errors_total "), NULL, 10);
  buf_free(&out);
  return n;
}

/* Everything the log has written to `fd` since clear_log, as a string. */
static void read_log(int fd, char *out, size_t out_len) {
  ssize_t n = pread(fd, out, out_len - 1, 0);
  assert_true(n >= 0);
  out[n] = '\0';
}

static void clear_log(int fd) {
  assert_int_equal(ftruncate(fd, 0), 0);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
}

typedef struct {
  store_status st;
  unsigned status;
  const char *code;
  bool counts_redis_error;
  const char *log_session, *log_report; /* NULL: nothing logged */
} row;

static const row table[] = {
    {STORE_NOT_FOUND, 404, "not_found", false, NULL, NULL},
    {STORE_BUSY, 409, "busy", false, NULL, NULL},
    {STORE_LOCK_LOST, 409, "busy", false, NULL, NULL},
    {STORE_WRONG_STATE, 409, "wrong_state", false, NULL, NULL},
    {STORE_UNAVAILABLE, 503, "unavailable", true, "redis unavailable",
     "report read failed"},
    {STORE_CORRUPT, 500, "internal", false, "session record unreadable",
     "report record unreadable"},
    /* Not failures: a caller that lets one through gets a 500, never a
     * 503 that would blame Redis. */
    {STORE_OK, 500, "internal", false, "unexpected store status",
     "unexpected store status"},
    {STORE_EXISTS, 500, "internal", false, "unexpected store status",
     "unexpected store status"},
    {STORE_CUSTOMER_LOCKED, 500, "internal", false, "unexpected store status",
     "unexpected store status"},
};

static void one_map_for_both_stores(void **state) {
  (void)state;
  FILE *log = tmpfile();
  assert_non_null(log);
  log_set_fd(fileno(log));
  flow_session current = {.state = FLOW_STATE_AWAITING_SECURITY};
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    for (int subject = API_STORE_SESSIONS; subject <= API_STORE_REPORTS;
         subject++) {
      const row *r = &table[i];
      clear_log(fileno(log));
      long long before = redis_errors();
      api_response resp = {0};
      api_reply_store_error(&resp, r->st, (api_store_subject)subject, &current,
                            "detail-from-store");
      assert_int_equal(resp.status, r->status);
      assert_string_equal(resp.error, r->code);
      assert_non_null(resp.body);
      assert_string_equal(
          json_string_value(json_object_get(resp.body, "error")), r->code);
      assert_non_null(json_string_value(json_object_get(resp.body, "message")));
      /* Only wrong_state carries the session's state. */
      json_t *st = json_object_get(resp.body, "state");
      if (r->st == STORE_WRONG_STATE)
        assert_string_equal(json_string_value(st), "awaiting_security");
      else
        assert_null(st);
      assert_int_equal(redis_errors() - before, r->counts_redis_error ? 1 : 0);
      char text[2048];
      read_log(fileno(log), text, sizeof text);
      const char *want =
          subject == API_STORE_SESSIONS ? r->log_session : r->log_report;
      if (want) {
        assert_non_null(strstr(text, want));
        assert_non_null(strstr(text, "detail-from-store"));
      } else {
        assert_string_equal(text, "");
      }
      api_response_free(&resp);
    }
  }
  log_set_fd(2);
  fclose(log);
}

/* The message names the store that failed. */
static void message_names_the_store(void **state) {
  (void)state;
  api_response resp = {0};
  api_reply_store_error(&resp, STORE_UNAVAILABLE, API_STORE_SESSIONS, NULL, "");
  assert_string_equal(json_string_value(json_object_get(resp.body, "message")),
                      "session store unavailable; retry");
  api_reply_store_error(&resp, STORE_UNAVAILABLE, API_STORE_REPORTS, NULL, "");
  assert_string_equal(json_string_value(json_object_get(resp.body, "message")),
                      "report store unavailable; retry");
  api_response_free(&resp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(one_map_for_both_stores),
      cmocka_unit_test(message_names_the_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
