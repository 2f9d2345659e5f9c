/*
 * report_otp: one-time code counters and their rate (see report_otp.h).
 */
#include "report_otp.h"

#include <stdio.h>
#include <string.h>

size_t report_otp_counters(const flow_session *s,
                           report_otp_incr out[REPORT_OTP_COUNTERS]) {
  size_t n = 0;
  const otp_session *o = &s->otp;
  if (o->sends > 0) {
    out[n++] = (report_otp_incr){"otp_asked", 1};
    out[n++] = (report_otp_incr){"otp_sends", o->sends};
  }
  if (o->send_failures > 0)
    out[n++] = (report_otp_incr){"otp_send_failures", o->send_failures};
  if (o->passed & OTP_PASSED_OTP)
    out[n++] = (report_otp_incr){"otp_passed", 1};
  if (o->fell_back)
    out[n++] = (report_otp_incr){"otp_fallback", 1};
  return n;
}

void report_otp_methods(const flow_session *s, char *out, size_t out_len) {
  const char *names[2];
  size_t n = otp_passed_names(s->otp.passed, names);
  snprintf(out, out_len, "%s%s%s", n > 0 ? names[0] : "", n > 1 ? "," : "",
           n > 1 ? names[1] : "");
}

long long *report_otp_slot(report_otp_counts *c, const char *name) {
  static const struct {
    const char *name;
    size_t offset;
  } members[] = {
      {"otp_asked", offsetof(report_otp_counts, asked)},
      {"otp_sends", offsetof(report_otp_counts, sends)},
      {"otp_send_failures", offsetof(report_otp_counts, send_failures)},
      {"otp_passed", offsetof(report_otp_counts, passed)},
      {"otp_fallback", offsetof(report_otp_counts, fallbacks)},
  };
  for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
    if (strcmp(name, members[i].name) == 0)
      return (long long *)((char *)c + members[i].offset);
  return NULL;
}

static long long part(long long v, int sign, bool positive_only) {
  return positive_only && v < 0 ? 0 : sign * v;
}

void report_otp_combine(report_otp_counts *into, const report_otp_counts *add,
                        int sign, bool positive_only) {
  into->asked += part(add->asked, sign, positive_only);
  into->sends += part(add->sends, sign, positive_only);
  into->send_failures += part(add->send_failures, sign, positive_only);
  into->passed += part(add->passed, sign, positive_only);
  into->fallbacks += part(add->fallbacks, sign, positive_only);
}

bool report_otp_pass_rate(const report_otp_counts *c, double *rate) {
  if (c->asked <= 0)
    return false;
  *rate = (double)c->passed / (double)c->asked;
  return true;
}
