/*
 * The text formats: JSON (the API's own shape) and CSV (RFC 4180, with
 * report_csv_field's formula guard).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json_text.h"
#include "report_render.h"

void report_text_utf8(const char *in, char *out, size_t out_len) {
  const unsigned char *s = (const unsigned char *)in;
  size_t left = strlen(in), n = 0;
  while (left > 0) {
    size_t k = json_text_utf8_len(s, left);
    bool bad = k == 0 || (k == 1 && (*s < 0x20 || *s == 0x7f));
    size_t take = bad ? 1 : k;
    if (n + (bad ? 1 : k) + 1 > out_len)
      break;
    if (bad)
      out[n++] = '?';
    else {
      memcpy(out + n, s, k);
      n += k;
    }
    s += take;
    left -= take;
  }
  out[n] = '\0';
}

/* The Windows-1252 byte of code point cp, or 0 when it has none. */
static unsigned char cp1252_of(unsigned long cp) {
  static const unsigned short high[32] = {
      0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
      0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
      0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};
  if ((cp >= 0x20 && cp < 0x7f) || (cp >= 0xa0 && cp <= 0xff))
    return (unsigned char)cp;
  for (int i = 0; i < 32; i++)
    if (high[i] && high[i] == cp)
      return (unsigned char)(0x80 + i);
  return 0;
}

void report_text_latin(const char *in, char *out, size_t out_len,
                       bool *replaced) {
  const unsigned char *s = (const unsigned char *)in;
  size_t left = strlen(in), n = 0;
  while (left > 0 && n + 1 < out_len) {
    size_t k = json_text_utf8_len(s, left);
    unsigned long cp = 0;
    if (k == 1)
      cp = s[0];
    else if (k == 2)
      cp = (unsigned long)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    else if (k == 3)
      cp = (unsigned long)(s[0] & 0x0f) << 12 |
           (unsigned long)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    unsigned char c = k ? cp1252_of(cp) : 0;
    if (!c) {
      c = '?';
      *replaced = true;
    }
    out[n++] = (char)c;
    s += k ? k : 1;
    left -= k ? k : 1;
  }
  out[n] = '\0';
}

void report_filters_text(const report_params *p, char *out, size_t out_len) {
  snprintf(out, out_len, "service line %s, channel %s%s%s%s%s",
           p->line[0] ? p->line : "all", p->channel[0] ? p->channel : "all",
           p->outcome[0] ? ", outcome " : "", p->outcome,
           p->auth[0] ? ", authStatus " : "", p->auth);
}

/* ---------------------------------------------------------------------
 * Summary as JSON.
 * ------------------------------------------------------------------- */

static json_t *rate_json(const report_counts *c, size_t i) {
  double r, n, d;
  return report_rate_value(c, i, &r, &n, &d) ? json_real(r) : json_null();
}

/* One-time codes (SPEC §9; report_otp.h): sends, delivery failures,
 * fallbacks and the pass rate (passed / asked), of completed sessions. */
static json_t *otp_json(const report_otp_counts *o) {
  double pass = 0;
  bool has = report_otp_pass_rate(o, &pass);
  return json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "asked",
                   (json_int_t)o->asked, "sends", (json_int_t)o->sends,
                   "sendFailures", (json_int_t)o->send_failures, "passed",
                   (json_int_t)o->passed, "fallbacks", (json_int_t)o->fallbacks,
                   "passRate", has ? json_real(pass) : json_null());
}

static json_t *counts_json(const tz_zone *zone, const report_counts *c,
                           int64_t start, int64_t end) {
  char s[32], e[32];
  report_time_text(zone, start, s);
  report_time_text(zone, end, e);
  json_t *outcomes = json_object();
  for (int o = 1; o < REPORT_OUTCOMES; o++)
    json_object_set_new(outcomes, flow_outcome_name((flow_outcome)o),
                        json_integer(c->outcome[o]));
  json_t *j = json_pack(
      "{s:s, s:s, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I}", "start", s,
      "end", e, "started", (json_int_t)c->started, "startedAniIdentified",
      (json_int_t)c->started_ani, "completed", (json_int_t)c->completed,
      "outcomes", outcomes, "identified", (json_int_t)c->identified, "verified",
      (json_int_t)c->verified, "transferred", (json_int_t)c->transfer,
      "crmErrors", (json_int_t)c->crm_errors, "contextReused",
      (json_int_t)c->context_reused);
  for (size_t i = 0; j && i < REPORT_RATES; i++)
    json_object_set_new(j, report_rate_defs[i].key, rate_json(c, i));
  if (j)
    json_object_set_new(j, "otp", otp_json(&c->otp)); /* one-time codes */
  return j;
}

/* rates: each with its definition, numerator and denominator. */
static json_t *rates_json(const report_counts *c) {
  json_t *list = json_array();
  for (size_t i = 0; i < REPORT_RATES; i++) {
    const report_rate_def *r = &report_rate_defs[i];
    double v, n, d;
    bool has = report_rate_value(c, i, &v, &n, &d);
    json_array_append_new(
        list, json_pack("{s:s, s:s, s:s, s:o, s:s, s:f, s:s, s:f}", "name",
                        r->key, "label", r->label, "definition", r->definition,
                        "value", has ? json_real(v) : json_null(), "numerator",
                        r->numerator, "numeratorValue", n, "denominator",
                        r->denominator, "denominatorValue", d));
  }
  return list;
}

static json_t *funnel_json(const report_counts *c) {
  report_funnel_step steps[REPORT_FUNNEL_STEPS];
  report_funnel(c, steps);
  json_t *list = json_array();
  for (size_t i = 0; i < REPORT_FUNNEL_STEPS; i++)
    json_array_append_new(list, json_pack("{s:s, s:s, s:I}", "step",
                                          steps[i].key, "label", steps[i].label,
                                          "count", (json_int_t)steps[i].count));
  return list;
}

bool report_summary_json(FILE *f, const report_doc *d,
                         const report_summary *s) {
  const report_params *p = d->p;
  const tz_zone *z = p->zone;
  json_t *buckets = json_array(), *lines = json_array(),
         *by_line = json_array(), *by_channel = json_array();
  for (size_t i = 0; i < s->bucket_count; i++)
    json_array_append_new(
        buckets, counts_json(z, &s->buckets[i], s->start[i], s->start[i + 1]));
  for (size_t i = 0; i < d->cfg->service_line_count; i++) {
    const char *name = d->cfg->service_lines[i].name;
    json_array_append_new(lines, json_string(name));
    json_t *one = counts_json(z, &s->lines[i], p->from, p->to);
    json_object_set_new(one, "serviceLine", json_string(name));
    json_array_append_new(by_line, one);
  }
  for (size_t i = 0; i < s->channels->count; i++) {
    json_t *one = counts_json(z, &s->channels->counts[i], p->from, p->to);
    json_object_set_new(one, "channel", json_string(s->channels->name[i]));
    json_array_append_new(by_channel, one);
  }
  char from[32], to[32];
  report_time_text(z, p->from, from);
  report_time_text(z, p->to, to);
  json_t *root = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
      "from", from, "to", to, "timeZone", p->zone_name, "bucket",
      p->bucket == REPORT_BUCKET_DAY ? "day" : "hour", "serviceLine",
      p->line[0] ? p->line : "all", "channel",
      p->channel[0] ? p->channel : "all", "serviceLines", lines, "total",
      counts_json(z, &s->total, p->from, p->to), "rates", rates_json(&s->total),
      "funnel", funnel_json(&s->total), "buckets", buckets, "byChannel",
      by_channel, "byServiceLine", by_line);
  if (!root)
    return false;
  bool ok = json_dumpf(root, f, JSON_COMPACT) == 0 && fputc('\n', f) != EOF;
  json_decref(root);
  return ok;
}

/* ---------------------------------------------------------------------
 * Summary as CSV.
 * ------------------------------------------------------------------- */

/* Append `s` as one CSV field to f. */
static void csv_field(FILE *f, const char *s) {
  /* Most fields need neither quotes nor the formula guard. */
  if (!strpbrk(s, ",\"\r\n") && !strchr("=+-@\t\r", s[0] ? s[0] : 'x')) {
    fputs(s, f);
    return;
  }
  buf b;
  buf_init(&b, 4096, BUF_PLAIN);
  report_csv_field(&b, s);
  if (buf_state(&b) == BUF_OK)
    fwrite(buf_str(&b), 1, buf_len(&b), f);
  buf_free(&b);
}

static void counts_csv(FILE *f, const tz_zone *z, const char *scope,
                       const char *line, const char *channel,
                       const report_counts *c, int64_t start, int64_t end) {
  char s[32], e[32];
  report_time_text(z, start, s);
  report_time_text(z, end, e);
  fprintf(f, "%s,%s,%s,", scope, s, e);
  csv_field(f, line[0] ? line : "all");
  fputc(',', f);
  csv_field(f, channel[0] ? channel : "all");
  fprintf(f, ",%lld,%lld,%lld", c->started, c->started_ani, c->completed);
  for (int o = 1; o < REPORT_OUTCOMES; o++)
    fprintf(f, ",%lld", c->outcome[o]);
  fprintf(f, ",%lld,%lld,%lld,%lld,%lld", c->identified, c->verified,
          c->transfer, c->crm_errors, c->context_reused);
  for (size_t i = 0; i < REPORT_RATES; i++) {
    double r, n, d;
    if (report_rate_value(c, i, &r, &n, &d))
      fprintf(f, ",%.4f", r);
    else
      fputc(',', f);
  }
  /* one-time codes (report_otp.h) */
  double pass = 0;
  bool has_pass = report_otp_pass_rate(&c->otp, &pass);
  fprintf(f, ",%lld,%lld,%lld,%lld,%lld,", c->otp.asked, c->otp.sends,
          c->otp.send_failures, c->otp.passed, c->otp.fallbacks);
  if (has_pass)
    fprintf(f, "%.4f", pass);
  fputs("\r\n", f);
}

bool report_summary_csv(FILE *f, const report_doc *d, const report_summary *s) {
  const report_params *p = d->p;
  fputs("scope,start,end,serviceLine,channel,started,startedAniIdentified,"
        "completed",
        f);
  for (int o = 1; o < REPORT_OUTCOMES; o++)
    fprintf(f, ",outcome_%s", flow_outcome_name((flow_outcome)o));
  fputs(",identified,verified,transferred,crmErrors,contextReused", f);
  for (size_t i = 0; i < REPORT_RATES; i++)
    fprintf(f, ",%s", report_rate_defs[i].key);
  fputs(",otpAsked,otpSends,otpSendFailures,otpPassed,otpFallbacks,"
        "otpPassRate\r\n",
        f);
  for (size_t i = 0; i < s->bucket_count; i++)
    counts_csv(f, p->zone, "bucket", p->line, p->channel, &s->buckets[i],
               s->start[i], s->start[i + 1]);
  counts_csv(f, p->zone, "total", p->line, p->channel, &s->total, p->from,
             p->to);
  for (size_t i = 0; i < s->channels->count; i++)
    counts_csv(f, p->zone, "channel", p->line, s->channels->name[i],
               &s->channels->counts[i], p->from, p->to);
  for (size_t i = 0; i < s->line_count; i++)
    counts_csv(f, p->zone, "serviceLine", d->cfg->service_lines[i].name,
               p->channel, &s->lines[i], p->from, p->to);
  return !ferror(f);
}

/* ---------------------------------------------------------------------
 * Interactions: a JSON page, or a CSV export.
 * ------------------------------------------------------------------- */

struct report_rows_writer {
  FILE *f;
  const report_doc *d;
  size_t rows;
};

static long long int_of(const char *s) {
  char *end;
  long long v = strtoll(s, &end, 10);
  return end != s && !*end ? v : 0;
}

static report_rows_writer *text_open(FILE *f, const char *path,
                                     const report_doc *d, char *err,
                                     size_t err_len) {
  (void)path;
  report_rows_writer *w = calloc(1, sizeof *w);
  if (!w) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  w->f = f;
  w->d = d;
  return w;
}

static report_rows_writer *json_open(FILE *f, const char *path,
                                     const report_doc *d, char *err,
                                     size_t err_len) {
  report_rows_writer *w = text_open(f, path, d, err, err_len);
  if (!w)
    return NULL;
  char from[32], to[32];
  report_time_text(d->p->zone, d->p->from, from);
  report_time_text(d->p->zone, d->p->to, to);
  json_t *zone = json_string(d->p->zone_name);
  char *zone_text = json_dumps(zone, JSON_ENCODE_ANY);
  fprintf(f, "{\"from\":\"%s\",\"to\":\"%s\",\"timeZone\":%s,\"items\":[", from,
          to, zone_text ? zone_text : "null");
  free(zone_text);
  json_decref(zone);
  return w;
}

static bool json_row(report_rows_writer *w, const report_row *r) {
  char when[32];
  report_time_text(w->d->p->zone, r->time_ms / 1000, when);
  const char *const *v = r->v;
  json_t *j = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s}",
      "id", r->id, "time", when, "conversationId", v[0], "serviceLine", v[1],
      "outcome", v[2], "authStatus", v[3], "identificationMethod", v[4],
      "identifyAttempts", (json_int_t)int_of(v[5]), "verifyAttempts",
      (json_int_t)int_of(v[6]), "attempts", (json_int_t)int_of(v[7]),
      "durationMs", (json_int_t)int_of(v[8]), "timeMs",
      (json_int_t)int_of(v[9]), "aniMasked", v[10], "channel", v[11]);
  if (!j)
    return false;
  if (w->rows++)
    fputc(',', w->f);
  bool ok = json_dumpf(j, w->f, JSON_COMPACT) == 0;
  json_decref(j);
  return ok;
}

static bool json_close(report_rows_writer *w, const report_scan_result *res,
                       bool keep, char *err, size_t err_len) {
  (void)err;
  (void)err_len;
  bool ok = true;
  if (keep) {
    fprintf(w->f, "],\"count\":%zu,\"nextCursor\":", w->rows);
    if (res->next[0])
      fprintf(w->f, "\"%s\"}\n", res->next); /* digits and '-' only */
    else
      fputs("null}\n", w->f);
    ok = !ferror(w->f);
  }
  free(w);
  return ok;
}

static report_rows_writer *csv_open(FILE *f, const char *path,
                                    const report_doc *d, char *err,
                                    size_t err_len) {
  report_rows_writer *w = text_open(f, path, d, err, err_len);
  if (!w)
    return NULL;
  fputs("id,time", f);
  for (size_t i = 0; i < REPORT_ROW_COLUMNS; i++)
    fprintf(f, ",%s", report_row_columns[i]);
  fputs("\r\n", f);
  return w;
}

static bool csv_row(report_rows_writer *w, const report_row *r) {
  char when[32];
  report_time_text(w->d->p->zone, r->time_ms / 1000, when);
  csv_field(w->f, r->id);
  fprintf(w->f, ",%s", when);
  for (size_t i = 0; i < REPORT_ROW_COLUMNS; i++) {
    fputc(',', w->f);
    csv_field(w->f, r->v[i]);
  }
  fputs("\r\n", w->f);
  w->rows++;
  return !ferror(w->f);
}

static bool csv_close(report_rows_writer *w, const report_scan_result *res,
                      bool keep, char *err, size_t err_len) {
  (void)res;
  (void)err;
  (void)err_len;
  bool ok = !keep || !ferror(w->f);
  free(w);
  return ok;
}

const report_rows_ops report_rows_json = {json_open, json_row, json_close};
const report_rows_ops report_rows_csv = {csv_open, csv_row, csv_close};
