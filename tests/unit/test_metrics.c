/* metrics_render: the Prometheus text, written into a core/buf. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "metrics.h"

static const char *const lines[] = {"retail", "business"};

static void renders_counters_and_families(void **state) {
  (void)state;
  metrics_init(lines, 2);
  metrics_http_request(ROUTE_SESSIONS_CREATE, 200, 0.003);
  metrics_http_request(ROUTE_SESSIONS_CREATE, 200, 0.003);
  metrics_http_request(ROUTE_METRICS, 418, 0.001); /* untracked status */
  /* GET and DELETE share a template: the method keeps them apart. */
  metrics_http_request(ROUTE_SESSION_GET, 404, 0.001);
  metrics_http_request(ROUTE_SESSION_DELETE, 404, 0.001);
  metrics_crm_call(FLOW_CRM_VERIFY, false, 0.2);
  metrics_session_completed(1, FLOW_OUTCOME_VERIFIED);
  metrics_report_delivery("retry");
  metrics_report_delivery("retry");
  metrics_report_delivery("sent");
  metrics_report_delivery("bogus"); /* not a result: not counted */
  buf out;
  buf_init(&out, 1 << 20, BUF_PLAIN);
  assert_int_equal(metrics_render(&out), BUF_OK);
  const char *t = buf_str(&out);
  assert_int_equal(strlen(t), buf_len(&out));
  assert_non_null(strstr(t, "authflow_build_info{version=\""));
  assert_non_null(strstr(t, "authflow_http_requests_total{method=\"POST\","
                            "route=\"/v1/sessions\",status=\"200\"} 2\n"));
  assert_non_null(strstr(t, "status=\"other\"} 1\n"));
  assert_non_null(strstr(t, "{method=\"GET\",route=\"/v1/sessions/{id}\","
                            "status=\"404\"} 1\n"));
  assert_non_null(strstr(t, "{method=\"DELETE\",route=\"/v1/sessions/{id}\","
                            "status=\"404\"} 1\n"));
  assert_non_null(strstr(t, "authflow_http_request_duration_seconds_count{"
                            "method=\"DELETE\",route=\"/v1/sessions/{id}\"} "
                            "1\n"));
  assert_non_null(strstr(t, "authflow_crm_requests_total{operation=\"verify\","
                            "result=\"error\"} 1\n"));
  assert_non_null(
      strstr(t, "authflow_sessions_completed_total{service_line=\"business\","
                "outcome=\"verified\"} 1\n"));
  assert_non_null(
      strstr(t, "authflow_report_deliveries_total{result=\"retry\"} 2\n"));
  assert_non_null(
      strstr(t, "authflow_report_deliveries_total{result=\"sent\"} 1\n"));
  assert_non_null(
      strstr(t, "authflow_report_deliveries_total{result=\"refused\"} 0\n"));
  assert_null(strstr(t, "bogus"));
  /* Every family is there, in order, each with its HELP and TYPE. */
  static const char *const families[] = {
      "authflow_build_info",
      "authflow_http_requests_total",
      "authflow_http_request_duration_seconds",
      "authflow_crm_requests_total",
      "authflow_crm_request_duration_seconds",
      "authflow_redis_errors_total",
      "authflow_report_events_dropped_total",
      "authflow_crm_breaker_state",
      "authflow_crm_breaker_opens_total",
      "authflow_crm_retries_total",
      "authflow_crm_token_fetches_total",
      "authflow_crm_fast_failures_total",
      "authflow_sessions_started_total",
      "authflow_sessions_completed_total",
      "authflow_report_deliveries_total"};
  const char *at = t;
  for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
    char help[96], type[96];
    snprintf(help, sizeof help, "# HELP %s ", families[i]);
    snprintf(type, sizeof type, "# TYPE %s ", families[i]);
    const char *h = strstr(at, help);
    assert_non_null(h);
    assert_non_null(strstr(h, type));
    at = h;
  }
  assert_int_equal(t[buf_len(&out) - 1], '\n');
  buf_free(&out);
}

/* A cap too small is the buffer's first failure, reported as such. */
static void reports_the_buffer_failure(void **state) {
  (void)state;
  metrics_init(lines, 2);
  buf out;
  buf_init(&out, 200, BUF_PLAIN);
  assert_int_equal(metrics_render(&out), BUF_TOO_LARGE);
  assert_null(buf_take(&out, NULL, false));
  buf_free(&out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(renders_counters_and_families),
      cmocka_unit_test(reports_the_buffer_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
