/*
 * report_otp: the one-time code figures of supervisor reports (SPEC §9),
 * kept apart from report.c, which records and reads them with the rest.
 *
 * A completed session adds, after "<line>|" (and "@<channel>" as every
 * counter does):
 *   otp_asked          1 when at least one code went out in the call
 *   otp_sends          the codes that went out
 *   otp_send_failures  sends the SMS operation failed (delivery failures)
 *   otp_passed         1 when the caller passed a code
 *   otp_fallback       1 when no code could be had and the call fell back
 *                      (to the security answer or an agent)
 * By service line, so by its verificationMethod. Its stream event gains
 * "verificationMethods" ("answer", "otp", "answer,otp" or "") and
 * "otpSends". The OTP pass rate is otp_passed / otp_asked.
 *
 * Pure: no I/O. Never a code or a number: counts and method names only.
 */
#ifndef AUTHFLOW_REPORT_OTP_H
#define AUTHFLOW_REPORT_OTP_H

#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

#define REPORT_OTP_COUNTERS 5
#define REPORT_OTP_METHODS_MAX 16 /* "answer,otp" and the NUL */

typedef struct {
  const char *name; /* static */
  long long amount; /* > 0 */
} report_otp_incr;

/* The counts of report_otp_incr names, summed over hours and lines. */
typedef struct {
  long long asked;
  long long sends;
  long long send_failures;
  long long passed;
  long long fallbacks;
} report_otp_counts;

/* The counters a completed session `s` adds (only those above 0), into
 * out[0 .. REPORT_OTP_COUNTERS); returns how many. */
size_t report_otp_counters(const flow_session *s,
                           report_otp_incr out[REPORT_OTP_COUNTERS]);

/* The methods `s` passed as one event value ("answer,otp"). */
void report_otp_methods(const flow_session *s, char *out, size_t out_len);

/* The member of *c counter `name` adds to, or NULL when it is not one of
 * the names above. */
long long *report_otp_slot(report_otp_counts *c, const char *name);

/* into += sign * add, member by member (only positive members of add
 * when positive_only). */
void report_otp_combine(report_otp_counts *into, const report_otp_counts *add,
                        int sign, bool positive_only);

/* otp_passed / otp_asked: false (no rate) when nothing was asked. */
bool report_otp_pass_rate(const report_otp_counts *c, double *rate);

#endif
