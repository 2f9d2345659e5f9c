/*
 * otp_metrics: the one-time code counters of /metrics (SPEC §9), kept
 * apart from metrics.c, which renders them with the rest. Labels are
 * fixed words, never a code, a number or a customer.
 */
#ifndef AUTHFLOW_OTP_METRICS_H
#define AUTHFLOW_OTP_METRICS_H

#include "buf.h"

typedef enum {
  OTP_METRIC_SENT = 0,    /* the SMS operation accepted a code */
  OTP_METRIC_SEND_FAILED, /* it did not (delivery failure) */
  OTP_METRIC_NO_PHONE,    /* no phone on file */
  OTP_METRIC_CUSTOMER_LIMIT,
  OTP_METRIC_PHONE_LIMIT,
  OTP_METRIC_BUDGET, /* the process-wide budget was spent */
  OTP_METRIC_LOCKED, /* the customer is locked out: no code */
  OTP_METRIC_SEND_RESULTS
} otp_metric_send;

typedef enum {
  OTP_METRIC_MATCH = 0,
  OTP_METRIC_WRONG,
  OTP_METRIC_EXPIRED,
  OTP_METRIC_INVALID,
  OTP_METRIC_CHECK_RESULTS
} otp_metric_check;

void otp_metrics_send(otp_metric_send r);
void otp_metrics_check(otp_metric_check r);
/* Append the counters in Prometheus text format. */
void otp_metrics_render(buf *out);

#endif
