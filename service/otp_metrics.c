/*
 * otp_metrics: counters for one-time codes (see otp_metrics.h).
 */
#include "otp_metrics.h"

#include <stdatomic.h>
#include <stdint.h>

static _Atomic uint64_t sends[OTP_METRIC_SEND_RESULTS];
static _Atomic uint64_t checks[OTP_METRIC_CHECK_RESULTS];

void otp_metrics_send(otp_metric_send r) {
  if ((unsigned)r < OTP_METRIC_SEND_RESULTS)
    atomic_fetch_add_explicit(&sends[r], 1, memory_order_relaxed);
}

void otp_metrics_check(otp_metric_check r) {
  if ((unsigned)r < OTP_METRIC_CHECK_RESULTS)
    atomic_fetch_add_explicit(&checks[r], 1, memory_order_relaxed);
}

void otp_metrics_render(buf *o) {
  static const char *const send_names[OTP_METRIC_SEND_RESULTS] = {
      "sent",        "send_failed", "no_phone", "customer_limit",
      "phone_limit", "budget",      "locked"};
  static const char *const check_names[OTP_METRIC_CHECK_RESULTS] = {
      "match", "wrong", "expired", "invalid_input"};
  buf_addf(o, "# HELP authflow_otp_sends_total One-time code sends, by "
              "result (no_phone, the limits and budget: nothing was sent).\n"
              "# TYPE authflow_otp_sends_total counter\n");
  for (int i = 0; i < OTP_METRIC_SEND_RESULTS; i++)
    buf_addf(o, "authflow_otp_sends_total{result=\"%s\"} %llu\n", send_names[i],
             (unsigned long long)atomic_load_explicit(&sends[i],
                                                      memory_order_relaxed));
  buf_addf(o, "# HELP authflow_otp_checks_total One-time codes keyed by "
              "callers, by result.\n"
              "# TYPE authflow_otp_checks_total counter\n");
  for (int i = 0; i < OTP_METRIC_CHECK_RESULTS; i++)
    buf_addf(o, "authflow_otp_checks_total{result=\"%s\"} %llu\n",
             check_names[i],
             (unsigned long long)atomic_load_explicit(&checks[i],
                                                      memory_order_relaxed));
}
