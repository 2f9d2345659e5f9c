#include "report.h"

#include "decimal.h"

#include "request.h"
#include "tz.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Civil time comes from core/tz (no C library time zone machinery, so the
 * results never depend on TZ). */
#define days_from_civil tz_days_from_civil
#define civil_from_days tz_civil_from_days
#define floor_div tz_floor_div

/* Writes `v` (0..10^width - 1) as exactly `width` digits at out. */
static void put_digits(char *out, int width, int64_t v) {
  for (int i = width - 1; i >= 0; i--, v /= 10)
    out[i] = (char)('0' + v % 10);
}

void report_hour_name(int64_t t, char out[REPORT_HOUR_LEN + 1]) {
  int64_t days = floor_div(t, 86400), y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  int hour = (int)((t - days * 86400) / 3600);
  if (y < 0) {
    /* Before year 0 (no caller asks): as printf writes it, cut to size. */
    char text[64];
    snprintf(text, sizeof text, "%04d%02d%02d%02d", (int)(y % 10000), m, d,
             hour);
    memcpy(out, text, REPORT_HOUR_LEN);
  } else {
    /* Every step records into its hour: digits by hand, not printf. */
    put_digits(out, 4, y % 10000);
    put_digits(out + 4, 2, m);
    put_digits(out + 6, 2, d);
    put_digits(out + 8, 2, hour);
  }
  out[REPORT_HOUR_LEN] = '\0';
}

void report_format_time(int64_t t, char out[21]) {
  int64_t days = floor_div(t, 86400), y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  int64_t sod = t - days * 86400;
  char text[64];
  snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ",
           (int)(y % 10000), m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
           (int)(sod % 60));
  memcpy(out, text, 20);
  out[20] = '\0';
}

bool report_parse_bucket(const char *text, report_bucket *out) {
  if (!text || !*text || strcmp(text, "hour") == 0) {
    *out = REPORT_BUCKET_HOUR;
    return true;
  }
  if (strcmp(text, "day") == 0) {
    *out = REPORT_BUCKET_DAY;
    return true;
  }
  return false;
}

int64_t report_bucket_seconds(report_bucket b) {
  return b == REPORT_BUCKET_DAY ? 86400 : 3600;
}

int64_t report_bucket_floor(int64_t t, report_bucket b) {
  int64_t s = report_bucket_seconds(b);
  return floor_div(t, s) * s;
}

/* Read exactly `n` digits at *p into *v and advance. */
static bool digits(const char **p, int n, int *v) {
  int x = 0;
  for (int i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return false;
    x = x * 10 + (c - '0');
  }
  *p += n;
  *v = x;
  return true;
}

/* A zone designator: Z, or +hh:mm / -hh:mm (also +hhmm), as seconds east
 * of UTC in *off; advances *p. */
static bool parse_zone(const char **p, int32_t *off) {
  if (**p == 'Z' || **p == 'z') {
    (*p)++;
    *off = 0;
    return true;
  }
  if (**p != '+' && **p != '-')
    return false;
  int sign = *(*p)++ == '-' ? -1 : 1, h, m;
  if (!digits(p, 2, &h))
    return false;
  if (**p == ':')
    (*p)++;
  if (!digits(p, 2, &m) || h > 23 || m > 59)
    return false;
  *off = sign * (h * 3600 + m * 60);
  return true;
}

static bool parse_iso(const char *p, const tz_zone *zone, int64_t *out) {
  int y, mo, d, h = 0, mi = 0, s = 0;
  if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
      !digits(&p, 2, &d))
    return false;
  bool zoned = false;
  int32_t off = 0;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
      return false;
    if (*p == ':') {
      p++;
      if (!digits(&p, 2, &s))
        return false;
      if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
          return false;
        while (*p >= '0' && *p <= '9')
          p++;
      }
    }
    /* A time with its own zone is that instant; without one it is a wall
     * clock time in the report's zone. */
    if (*p && !(zoned = parse_zone(&p, &off)))
      return false;
  } else if (*p == 'Z') {
    p++;
    zoned = true;
  }
  if (*p != '\0')
    return false;
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
      mi > 59 || s > 59)
    return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap)
    return false;
  if (zoned)
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off;
  else
    *out = tz_from_local(zone, y, mo, d, h, mi, s);
  return true;
}

bool report_parse_time_in(const char *text, const tz_zone *zone, int64_t *out) {
  if (!text || !*text)
    return false;
  size_t n = strlen(text);
  if (strspn(text, "0123456789") == n) {
    if (n > 12) /* beyond year 33000: not a time anyone means */
      return false;
    *out = (int64_t)strtoll(text, NULL, 10);
    return true;
  }
  return parse_iso(text, zone, out);
}

bool report_parse_time(const char *text, int64_t *out) {
  return report_parse_time_in(text, tz_utc(), out);
}

bool report_range_in(const char *from_text, const char *to_text, int64_t now,
                     const tz_zone *zone, int64_t *from, int64_t *to,
                     const char **why) {
  int64_t t = now + 1, f; /* exclusive: the current second is in */
  if (to_text && *to_text && !report_parse_time_in(to_text, zone, &t)) {
    *why = "to must be unix seconds or an ISO 8601 date or time";
    return false;
  }
  f = t - 86400;
  if (from_text && *from_text && !report_parse_time_in(from_text, zone, &f)) {
    *why = "from must be unix seconds or an ISO 8601 date or time";
    return false;
  }
  if (f >= t) {
    *why = "from must be before to";
    return false;
  }
  if (t - f > REPORT_MAX_SPAN_SECONDS) {
    *why = "from..to may span at most 400 days";
    return false;
  }
  *from = f;
  *to = t;
  return true;
}

bool report_range(const char *from_text, const char *to_text, int64_t now,
                  int64_t *from, int64_t *to, const char **why) {
  return report_range_in(from_text, to_text, now, tz_utc(), from, to, why);
}

/* ---------------------------------------------------------------------
 * Recording.
 * ------------------------------------------------------------------- */

flow_auth_status report_auth_status(const flow_session *s) {
  if (flow_session_verified(s))
    return FLOW_AUTH_IDENTIFIED_VERIFIED;
  return s->identified ? FLOW_AUTH_IDENTIFIED : FLOW_AUTH_NOT_IDENTIFIED;
}

/*
 * Every commit builds a record, so its text is put together by hand
 * rather than with snprintf (which showed in profiles): put_text appends
 * `s` at dst[*at], cut like snprintf would to fit `cap` bytes with the
 * NUL, and advances *at.
 */
static void put_text(char *dst, size_t cap, size_t *at, const char *s) {
  size_t n = strlen(s);
  if (n > cap - 1 - *at)
    n = cap - 1 - *at;
  memcpy(dst + *at, s, n);
  *at += n;
  dst[*at] = '\0';
}

/* A counter of the session's line in the record's quarter of the hour, for
 * all channels ("<q>|<line>|<counter>") and for its own
 * ("<q>|<line>|<counter>@<channel>"). */
static void add_incr(report_record *r, const flow_session *s,
                     const char *counter, long long amount) {
  if (r->incr_count + 2 > REPORT_MAX_INCRS)
    return;
  const char *channel = s->channel[0] ? s->channel : FLOW_DEFAULT_CHANNEL;
  char *all = r->incr_field[r->incr_count];
  char *own = r->incr_field[r->incr_count + 1];
  size_t n = 0;
  char quarter[3] = {r->quarter, '|', '\0'};
  put_text(all, REPORT_FIELD_MAX, &n, quarter);
  put_text(all, REPORT_FIELD_MAX, &n, s->service_line);
  put_text(all, REPORT_FIELD_MAX, &n, "|");
  put_text(all, REPORT_FIELD_MAX, &n, counter);
  memcpy(own, all, n + 1);
  put_text(own, REPORT_FIELD_MAX, &n, "@");
  put_text(own, REPORT_FIELD_MAX, &n, channel);
  decimal_format(r->incr_amount[r->incr_count], amount);
  memcpy(r->incr_amount[r->incr_count + 1], r->incr_amount[r->incr_count],
         sizeof r->incr_amount[0]);
  r->incr_count += 2;
}

static void add_event(report_record *r, const char *name, const char *value) {
  if (r->event_count >= REPORT_EVENT_FIELDS)
    return;
  r->event_name[r->event_count] = name;
  size_t n = 0;
  put_text(r->event_value[r->event_count], sizeof r->event_value[0], &n, value);
  r->event_count++;
}

static void add_event_int(report_record *r, const char *name, long long v) {
  char text[24];
  decimal_format(text, v);
  add_event(r, name, text);
}

void report_build_record(const flow_session *s, bool started, bool completed,
                         report_record *out) {
  /* Only the counts and the header: the rows past the counts are never
   * read (clearing ~8 KB on every step showed in profiles). */
  out->incr_count = 0;
  out->event_count = 0;
  int64_t now = s->updated_ms > 0 ? s->updated_ms : s->created_ms;
  if (now < 0)
    now = 0;
  out->now_ms = now;
  report_hour_name(now / 1000, out->hour);
  out->quarter = (char)('0' + (now / 1000) % 3600 / REPORT_SLOT_SECONDS);
  const char *line = s->service_line;
  if (started) {
    add_incr(out, s, "started", 1);
    if (s->identified && s->method == FLOW_METHOD_ANI)
      add_incr(out, s, "started_ani", 1);
    /* A CRM failure at start costs the caller nothing (the flow asks for
     * an identifier) but is still a CRM error worth reporting. */
    if (s->last_result == FLOW_RESULT_CRM_ERROR &&
        s->state != FLOW_STATE_COMPLETED)
      add_incr(out, s, "crm_error", 1);
  }
  if (!completed)
    return;
  long long attempts = (long long)s->identify_attempts + s->verify_attempts;
  long long duration = s->updated_ms > s->created_ms && s->created_ms > 0
                           ? (long long)(s->updated_ms - s->created_ms)
                           : 0;
  add_incr(out, s, "completed", 1);
  add_incr(out, s, flow_outcome_name(s->outcome), 1);
  if (s->identified)
    add_incr(out, s, "auth_identified", 1);
  if (flow_session_verified(s))
    add_incr(out, s, "auth_verified", 1);
  if (flow_outcome_is_transfer(s->outcome))
    add_incr(out, s, "transfer", 1);
  if (attempts > 0)
    add_incr(out, s, "attempts", attempts);
  if (duration > 0)
    add_incr(out, s, "duration_ms", duration);
  if (s->outcome == FLOW_OUTCOME_CRM_UNAVAILABLE)
    add_incr(out, s, "crm_error", 1);
  if (s->method == FLOW_METHOD_LINKED || s->method == FLOW_METHOD_HANDOFF)
    add_incr(out, s, "context_reused", 1);
  report_otp_incr otp[REPORT_OTP_COUNTERS]; /* one-time codes */
  for (size_t i = 0, n = report_otp_counters(s, otp); i < n; i++)
    add_incr(out, s, otp[i].name, otp[i].amount);

  add_event(out, "conversationId", s->conversation_id);
  add_event(out, "serviceLine", line);
  add_event(out, "outcome", flow_outcome_name(s->outcome));
  add_event(out, "authStatus", flow_auth_status_name(report_auth_status(s)));
  add_event(out, "identificationMethod", flow_method_name(s->method));
  add_event_int(out, "identifyAttempts", s->identify_attempts);
  add_event_int(out, "verifyAttempts", s->verify_attempts);
  add_event_int(out, "attempts", attempts);
  add_event_int(out, "durationMs", duration);
  add_event_int(out, "timeMs", (long long)now);
  add_event(out, "aniMasked", s->ani_masked);
  add_event(out, "channel", s->channel[0] ? s->channel : FLOW_DEFAULT_CHANNEL);
  add_event(out, "contextChannel", s->context_channel);
  add_event(out, "linkedConversationId", s->linked_conversation_id);
  char methods[REPORT_OTP_METHODS_MAX]; /* one-time codes (report_otp.h) */
  report_otp_methods(s, methods, sizeof methods);
  add_event(out, "verificationMethods", methods);
  add_event_int(out, "otpSends", s->otp.sends);
}

/* ---------------------------------------------------------------------
 * Counters and rates.
 * ------------------------------------------------------------------- */

/* The member of *c that counter `name` adds to; NULL for an unknown one. */
static long long *counter_slot(report_counts *c, const char *name) {
  static const struct {
    const char *name;
    size_t offset;
  } members[] = {
      {"started", offsetof(report_counts, started)},
      {"started_ani", offsetof(report_counts, started_ani)},
      {"completed", offsetof(report_counts, completed)},
      {"auth_identified", offsetof(report_counts, identified)},
      {"auth_verified", offsetof(report_counts, verified)},
      {"transfer", offsetof(report_counts, transfer)},
      {"attempts", offsetof(report_counts, attempts)},
      {"duration_ms", offsetof(report_counts, duration_ms)},
      {"crm_error", offsetof(report_counts, crm_errors)},
      {"context_reused", offsetof(report_counts, context_reused)},
  };
  for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
    if (strcmp(name, members[i].name) == 0)
      return (long long *)((char *)c + members[i].offset);
  flow_outcome oc;
  if (flow_outcome_parse(name, &oc) && (unsigned)oc < REPORT_OUTCOMES)
    return &c->outcome[oc];
  return report_otp_slot(&c->otp, name); /* one-time codes, or NULL */
}

bool report_counts_add_scoped(report_counts *c, const char *field,
                              long long value, report_scope *scope) {
  /* "<q>|" first: a quarter (a line name holds no '|', so a field with
   * one bar is the old hourly shape, even for a line named "0"). */
  scope->quarter = -1;
  if (field[0] >= '0' && field[0] <= '3' && field[1] == '|' &&
      strchr(field + 2, '|')) {
    scope->quarter = field[0] - '0';
    field += 2;
  }
  const char *bar = strrchr(field, '|');
  if (!bar || bar != strchr(field, '|') || bar == field ||
      (size_t)(bar - field) >= sizeof scope->line)
    return false;
  char name[REPORT_FIELD_MAX];
  const char *at = strchr(bar + 1, '@');
  size_t name_len = at ? (size_t)(at - bar - 1) : strlen(bar + 1);
  if (name_len >= sizeof name || (at && !request_channel_ok(at + 1)))
    return false;
  memcpy(name, bar + 1, name_len);
  name[name_len] = '\0';
  long long *slot = counter_slot(c, name);
  if (!slot)
    return false;
  memcpy(scope->line, field, (size_t)(bar - field));
  scope->line[bar - field] = '\0';
  snprintf(scope->channel, sizeof scope->channel, "%s", at ? at + 1 : "");
  *slot += value;
  return true;
}

bool report_counts_add_field(report_counts *c, const char *field,
                             long long value, char *line, size_t line_len) {
  report_counts one = {0};
  report_scope scope;
  if (!report_counts_add_scoped(&one, field, value, &scope) ||
      scope.channel[0] || strlen(scope.line) >= line_len)
    return false;
  snprintf(line, line_len, "%s", scope.line);
  report_counts_merge(c, &one);
  return true;
}

/* What one member of `add` contributes: its value times `sign`, or 0
 * when only positive values count and it is not. */
static long long part(long long v, int sign, bool positive_only) {
  return positive_only && v < 0 ? 0 : sign * v;
}

/* into += sign * add, member by member. */
static void counts_combine(report_counts *into, const report_counts *add,
                           int sign, bool positive_only) {
  into->started += part(add->started, sign, positive_only);
  into->started_ani += part(add->started_ani, sign, positive_only);
  into->completed += part(add->completed, sign, positive_only);
  for (size_t i = 0; i < REPORT_OUTCOMES; i++)
    into->outcome[i] += part(add->outcome[i], sign, positive_only);
  into->identified += part(add->identified, sign, positive_only);
  into->verified += part(add->verified, sign, positive_only);
  into->transfer += part(add->transfer, sign, positive_only);
  into->attempts += part(add->attempts, sign, positive_only);
  into->duration_ms += part(add->duration_ms, sign, positive_only);
  into->crm_errors += part(add->crm_errors, sign, positive_only);
  into->context_reused += part(add->context_reused, sign, positive_only);
  report_otp_combine(&into->otp, &add->otp, sign, positive_only);
}

void report_counts_merge(report_counts *into, const report_counts *add) {
  counts_combine(into, add, 1, false);
}

void report_counts_subtract(report_counts *into, const report_counts *sub) {
  counts_combine(into, sub, -1, false);
}

void report_counts_merge_positive(report_counts *into,
                                  const report_counts *add) {
  counts_combine(into, add, 1, true);
}

void report_channels_add(report_channels *t, const char *channel,
                         const report_counts *one) {
  report_counts_merge(&t->sum, one);
  size_t lo = 0, hi = t->count;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int cmp = strcmp(t->name[mid], channel);
    if (cmp == 0) {
      report_counts_merge(&t->counts[mid], one);
      return;
    }
    if (cmp < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (t->count == REPORT_CHANNELS_MAX) {
    t->truncated = true;
    return;
  }
  size_t tail = t->count - lo;
  memmove(t->name[lo + 1], t->name[lo], tail * sizeof t->name[0]);
  memmove(&t->counts[lo + 1], &t->counts[lo], tail * sizeof t->counts[0]);
  snprintf(t->name[lo], sizeof t->name[0], "%s", channel);
  t->counts[lo] = *one;
  t->count++;
}

void report_channels_finish(report_channels *t, const report_counts *all) {
  report_counts rest = *all, positive = {0};
  report_counts_subtract(&rest, &t->sum);
  report_counts_merge_positive(&positive, &rest);
  static const report_counts none = {0};
  if (memcmp(&positive, &none, sizeof none) != 0)
    report_channels_add(t, FLOW_DEFAULT_CHANNEL, &positive);
}

void report_compute_rates(const report_counts *c, report_rates *out) {
  memset(out, 0, sizeof *out);
  out->has_started = c->started > 0;
  if (out->has_started)
    out->ani_identification = (double)c->started_ani / (double)c->started;
  out->has_completed = c->completed > 0;
  if (!out->has_completed)
    return;
  double n = (double)c->completed;
  out->identification = (double)c->identified / n;
  out->verification = (double)c->verified / n;
  out->transfer = (double)c->transfer / n;
  out->containment = (double)(c->completed - c->transfer) / n;
  out->opt_out = (double)c->outcome[FLOW_OUTCOME_OPTED_OUT] / n;
  out->context_reuse = (double)c->context_reused / n;
  out->average_attempts = (double)c->attempts / n;
  out->average_duration_seconds = (double)c->duration_ms / 1000.0 / n;
}

/* ---------------------------------------------------------------------
 * Text.
 * ------------------------------------------------------------------- */

void report_csv_field(buf *b, const char *s) {
  bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
                 s[0] == '\t' || s[0] == '\r';
  bool quote = strpbrk(s, ",\"\r\n") != NULL;
  if (quote)
    buf_add(b, "\"", 1);
  if (formula)
    buf_add(b, "'", 1);
  /* Runs up to and including each quote, then the quote doubled: one
   * append per run, not per byte (an export writes millions of fields). */
  for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
    buf_add(b, s, (size_t)(q - s) + 1);
    buf_add(b, "\"", 1);
  }
  buf_adds(b, s);
  if (quote)
    buf_add(b, "\"", 1);
}
