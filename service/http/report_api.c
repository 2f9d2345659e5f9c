#include "report_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pct.h"
#include "report.h"
#include "request.h"
#include "store.h"

#define PARAM_MAX 160
#define LIMIT_DEFAULT 50
#define LIMIT_MAX 1000
/* Stream entries one interactions request may read while filtering, so a
 * rare filter over a long stream costs a bounded amount of Redis work;
 * the answer then carries a cursor to go on from. */
#define SCAN_MAX 20000
/* A CSV export reads the whole range; past this many stream entries it is
 * refused (400) rather than cut. */
#define EXPORT_SCAN_MAX 2000000
#define SCAN_BATCH 500

bool report_api_route(route_id id) {
  return id == ROUTE_REPORT_SUMMARY || id == ROUTE_REPORT_INTERACTIONS ||
         id == ROUTE_DASHBOARD;
}

bool report_api_key_route(route_id id) {
  return id == ROUTE_REPORT_SUMMARY || id == ROUTE_REPORT_INTERACTIONS;
}

/* Decode parameter `name` into out ("" when absent). On a bad value fill a
 * 400 and return false. */
static bool param_or_reply(report_param_fn get, void *ctx, const char *name,
                           char *out, size_t out_len, api_response *resp) {
  const char *raw = get(ctx, name);
  out[0] = '\0';
  if (!raw)
    return true;
  if (pct_decode(raw, strlen(raw), PCT_PLUS_IS_SPACE, out, out_len) != PCT_OK) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s is not a valid value", name);
    api_error(resp, 400, "invalid_request", msg);
    return false;
  }
  return true;
}

/* format: "" or json -> false, csv -> true; else a 400 (returns false). */
static bool format_param_or_reply(report_param_fn get, void *ctx, bool *csv,
                                  api_response *resp) {
  char f[16];
  if (!param_or_reply(get, ctx, "format", f, sizeof f, resp))
    return false;
  *csv = strcmp(f, "csv") == 0;
  if (*csv || !f[0] || strcmp(f, "json") == 0)
    return true;
  api_error(resp, 400, "invalid_request", "format must be json or csv");
  return false;
}

/* from/to (report_range's defaults and limits); else a 400 (returns
 * false). */
static bool range_params_or_reply(report_param_fn get, void *ctx, int64_t *from,
                                  int64_t *to, api_response *resp) {
  char f[PARAM_MAX], t[PARAM_MAX];
  const char *why = NULL;
  if (!param_or_reply(get, ctx, "from", f, sizeof f, resp) ||
      !param_or_reply(get, ctx, "to", t, sizeof t, resp))
    return false;
  if (!report_range(f, t, (int64_t)time(NULL), from, to, &why)) {
    api_error(resp, 400, "invalid_request", why);
    return false;
  }
  return true;
}

/* serviceLine: "" (all) or a configured line; else a 400 (returns
 * false). */
static bool line_param_or_reply(const config *cfg, report_param_fn get,
                                void *ctx, char *out, size_t out_len,
                                api_response *resp) {
  if (!param_or_reply(get, ctx, "serviceLine", out, out_len, resp))
    return false;
  if (out[0] && !config_find_service_line(cfg, out)) {
    api_error(resp, 400, "invalid_request",
              "serviceLine is not a configured service line");
    return false;
  }
  return true;
}

/* Answer 200 with the CSV in `b` (taking its bytes) as a download named
 * by `filename`, or 500 when the buffer failed. */
static void csv_answer(buf *b, const char *filename, api_response *resp) {
  size_t len;
  buf_status st = buf_state(b);
  char *text = buf_take(b, &len, false);
  if (!text) {
    api_error(resp, 500, "internal",
              st == BUF_TOO_LARGE ? "the report exceeds its size limit"
                                  : "out of memory");
    return;
  }
  resp->status = 200;
  resp->text = text;
  resp->text_len = len;
  resp->content_type = "text/csv; charset=utf-8";
  resp->content_disposition = filename;
}

/* ---------------------------------------------------------------------
 * Summary.
 * ------------------------------------------------------------------- */

typedef struct {
  const char *line;    /* "" for every line */
  const char *channel; /* "" for every channel */
  int64_t first_hour;  /* unix seconds of hours[0] */
  int64_t first_bucket;
  int64_t bucket_seconds;
  size_t bucket_count;
  report_counts *buckets;
  /* With channel=voice: per bucket, the all-channels counters minus every
   * channel's, i.e. what hours recorded before channels hold (voice). */
  report_counts *legacy;
  report_counts all;         /* all-channels counters, the whole range */
  report_channels *channels; /* byChannel, the whole range */
} summary_ctx;

static void on_hour_field(void *user, size_t hour_index, const char *field,
                          long long value) {
  summary_ctx *c = user;
  int64_t t = c->first_hour + (int64_t)hour_index * 3600;
  int64_t b = (t - c->first_bucket) / c->bucket_seconds;
  if (b < 0 || (size_t)b >= c->bucket_count)
    return;
  report_counts one = {0};
  report_scope scope;
  if (!report_counts_add_scoped(&one, field, value, &scope))
    return;
  if (c->line[0] && strcmp(c->line, scope.line) != 0)
    return;
  if (scope.channel[0]) {
    report_channels_add(c->channels, scope.channel, &one);
    if (c->channel[0] && strcmp(c->channel, scope.channel) == 0)
      report_counts_merge(&c->buckets[b], &one);
    if (c->legacy)
      report_counts_subtract(&c->legacy[b], &one);
    return;
  }
  report_counts_merge(&c->all, &one);
  if (!c->channel[0])
    report_counts_merge(&c->buckets[b], &one);
  if (c->legacy)
    report_counts_merge(&c->legacy[b], &one);
}

static json_t *rate_json(bool has, double v) {
  return has ? json_real(v) : json_null();
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
                   "passRate", rate_json(has, pass));
}

static json_t *counts_json(const report_counts *c, int64_t start, int64_t end) {
  report_rates r;
  report_compute_rates(c, &r);
  char s[21], e[21];
  report_format_time(start, s);
  report_format_time(end, e);
  json_t *outcomes = json_object();
  for (int o = 1; o < REPORT_OUTCOMES; o++)
    json_object_set_new(outcomes, flow_outcome_name((flow_outcome)o),
                        json_integer(c->outcome[o]));
  return json_pack(
      "{s:s, s:s, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, "
      "s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
      "start", s, "end", e, "started", (json_int_t)c->started,
      "startedAniIdentified", (json_int_t)c->started_ani, "completed",
      (json_int_t)c->completed, "outcomes", outcomes, "identified",
      (json_int_t)c->identified, "verified", (json_int_t)c->verified,
      "transferred", (json_int_t)c->transfer, "crmErrors",
      (json_int_t)c->crm_errors, "contextReused", (json_int_t)c->context_reused,
      "aniIdentificationRate", rate_json(r.has_started, r.ani_identification),
      "identificationRate", rate_json(r.has_completed, r.identification),
      "verificationRate", rate_json(r.has_completed, r.verification),
      "containmentRate", rate_json(r.has_completed, r.containment),
      "transferRate", rate_json(r.has_completed, r.transfer), "optOutRate",
      rate_json(r.has_completed, r.opt_out), "contextReuseRate",
      rate_json(r.has_completed, r.context_reuse), "averageAttempts",
      rate_json(r.has_completed, r.average_attempts), "averageDurationSeconds",
      rate_json(r.has_completed, r.average_duration_seconds), "otp",
      otp_json(&c->otp));
}

static void csv_rate(buf *b, bool has, double v) {
  if (has)
    buf_addf(b, ",%.4f", v);
  else
    buf_add(b, ",", 1);
}

/* One summary CSV row: `scope` (bucket, total or channel), its times,
 * line and channel names, then the counts and rates. */
static void counts_csv(buf *b, const char *scope, const char *line,
                       const char *channel, const report_counts *c,
                       int64_t start, int64_t end) {
  report_rates r;
  report_compute_rates(c, &r);
  char s[21], e[21];
  report_format_time(start, s);
  report_format_time(end, e);
  buf_addf(b, "%s,%s,%s,", scope, s, e);
  report_csv_field(b, line[0] ? line : "all");
  buf_add(b, ",", 1);
  report_csv_field(b, channel[0] ? channel : "all");
  buf_addf(b, ",%lld,%lld,%lld", c->started, c->started_ani, c->completed);
  for (int o = 1; o < REPORT_OUTCOMES; o++)
    buf_addf(b, ",%lld", c->outcome[o]);
  buf_addf(b, ",%lld,%lld,%lld,%lld,%lld", c->identified, c->verified,
           c->transfer, c->crm_errors, c->context_reused);
  csv_rate(b, r.has_started, r.ani_identification);
  csv_rate(b, r.has_completed, r.identification);
  csv_rate(b, r.has_completed, r.verification);
  csv_rate(b, r.has_completed, r.containment);
  csv_rate(b, r.has_completed, r.transfer);
  csv_rate(b, r.has_completed, r.opt_out);
  csv_rate(b, r.has_completed, r.context_reuse);
  csv_rate(b, r.has_completed, r.average_attempts);
  csv_rate(b, r.has_completed, r.average_duration_seconds);
  /* one-time codes (report_otp.h) */
  double pass = 0;
  bool has_pass = report_otp_pass_rate(&c->otp, &pass);
  buf_addf(b, ",%lld,%lld,%lld,%lld,%lld", c->otp.asked, c->otp.sends,
           c->otp.send_failures, c->otp.passed, c->otp.fallbacks);
  csv_rate(b, has_pass, pass);
  buf_add(b, "\r\n", 2);
}

static void summary_csv_header(buf *b) {
  buf_addf(b, "scope,start,end,serviceLine,channel,started,"
              "startedAniIdentified,completed");
  for (int o = 1; o < REPORT_OUTCOMES; o++)
    buf_addf(b, ",outcome_%s", flow_outcome_name((flow_outcome)o));
  buf_addf(b, ",identified,verified,transferred,crmErrors,contextReused,"
              "aniIdentificationRate,identificationRate,"
              "verificationRate,containmentRate,transferRate,"
              "optOutRate,contextReuseRate,averageAttempts,"
              "averageDurationSeconds,otpAsked,otpSends,otpSendFailures,"
              "otpPassed,otpFallbacks,otpPassRate\r\n");
}

/* Free what read_summary_or_reply allocated (safe on a zeroed ctx). */
static void summary_free(summary_ctx *c) {
  free(c->buckets);
  free(c->legacy);
  free(c->channels);
  c->buckets = c->legacy = NULL;
  c->channels = NULL;
}

/* Read the hour counters covering c's buckets up to `to` into c->buckets
 * (filtered by line and channel), c->all and c->channels, all allocated
 * here (summary_free releases them). Hours recorded before channels were
 * counted are read as voice. On failure fills the answer (500 out of
 * memory, or the store error) and returns false with everything freed. */
static bool read_summary_or_reply(summary_ctx *c, int64_t to,
                                  api_response *resp) {
  size_t hours = (size_t)((to - c->first_hour + 3599) / 3600);
  bool voice = strcmp(c->channel, FLOW_DEFAULT_CHANNEL) == 0;
  char(*names)[REPORT_HOUR_LEN + 1] = calloc(hours, sizeof *names);
  c->buckets = calloc(c->bucket_count, sizeof *c->buckets);
  c->legacy = voice ? calloc(c->bucket_count, sizeof *c->legacy) : NULL;
  c->channels = calloc(1, sizeof *c->channels);
  if (!names || !c->buckets || (voice && !c->legacy) || !c->channels) {
    free(names);
    summary_free(c);
    api_error(resp, 500, "internal", "out of memory");
    return false;
  }
  for (size_t i = 0; i < hours; i++)
    report_hour_name(c->first_hour + (int64_t)i * 3600, names[i]);
  char err[STORE_ERR_MAX];
  store_status st =
      store_report_hours((const char(*)[REPORT_HOUR_LEN + 1]) names, hours,
                         on_hour_field, c, err, sizeof err);
  free(names);
  if (st != STORE_OK) {
    summary_free(c);
    api_reply_store_error(resp, st, API_STORE_REPORTS, NULL, err);
    return false;
  }
  for (size_t i = 0; c->legacy && i < c->bucket_count; i++)
    report_counts_merge_positive(&c->buckets[i], &c->legacy[i]);
  report_channels_finish(c->channels, &c->all);
  return true;
}

/* The summary as a CSV download: one row per bucket, the total, then one
 * row per channel over the whole range. */
static void render_summary_csv(const summary_ctx *c, const report_counts *total,
                               int64_t from, int64_t to, api_response *resp) {
  buf b;
  buf_init(&b, REPORT_TEXT_MAX, BUF_PLAIN);
  summary_csv_header(&b);
  for (size_t i = 0; i < c->bucket_count; i++) {
    int64_t s = c->first_bucket + (int64_t)i * c->bucket_seconds;
    counts_csv(&b, "bucket", c->line, c->channel, &c->buckets[i], s,
               s + c->bucket_seconds);
  }
  counts_csv(&b, "total", c->line, c->channel, total, from, to);
  const report_channels *ch = c->channels;
  for (size_t i = 0; i < ch->count; i++)
    counts_csv(&b, "channel", c->line, ch->name[i], &ch->counts[i], from, to);
  csv_answer(&b, "attachment; filename=\"authflow-summary.csv\"", resp);
}

/* byChannel: one counts object per channel over [from, to), by name. */
static json_t *by_channel_json(const report_channels *ch, int64_t from,
                               int64_t to) {
  json_t *list = json_array();
  for (size_t i = 0; i < ch->count; i++) {
    json_t *one = json_object();
    json_object_set_new(one, "channel", json_string(ch->name[i]));
    json_t *counts = counts_json(&ch->counts[i], from, to);
    json_object_update(one, counts);
    json_decref(counts);
    json_array_append_new(list, one);
  }
  return list;
}

/* The summary as JSON: range, bucket, filters, lines, total, every bucket
 * and byChannel. */
static void render_summary_json(const config *cfg, const summary_ctx *c,
                                report_bucket bucket,
                                const report_counts *total, int64_t from,
                                int64_t to, api_response *resp) {
  json_t *list = json_array(), *lines = json_array();
  for (size_t i = 0; i < c->bucket_count; i++) {
    int64_t s = c->first_bucket + (int64_t)i * c->bucket_seconds;
    json_array_append_new(
        list, counts_json(&c->buckets[i], s, s + c->bucket_seconds));
  }
  for (size_t i = 0; i < cfg->service_line_count; i++)
    json_array_append_new(lines, json_string(cfg->service_lines[i].name));
  char f[21], t[21];
  report_format_time(from, f);
  report_format_time(to, t);
  resp->body =
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "from", f,
                "to", t, "bucket", bucket == REPORT_BUCKET_DAY ? "day" : "hour",
                "serviceLine", c->line[0] ? c->line : "all", "channel",
                c->channel[0] ? c->channel : "all", "serviceLines", lines,
                "total", counts_json(total, from, to), "buckets", list,
                "byChannel", by_channel_json(c->channels, from, to));
  resp->status = 200;
  if (!resp->body)
    api_error(resp, 500, "internal", "could not render the report");
}

/* channel: "" (all) or a channel name ([a-z0-9_]{1,32}); else a 400
 * (returns false). */
static bool channel_param_or_reply(report_param_fn get, void *ctx, char *out,
                                   size_t out_len, api_response *resp) {
  if (!param_or_reply(get, ctx, "channel", out, out_len, resp))
    return false;
  if (out[0] && !request_channel_ok(out)) {
    api_error(resp, 400, "invalid_request",
              "channel must be 1..32 characters of a-z, 0-9 and _");
    return false;
  }
  return true;
}

/* GET /v1/reports/summary: validate, read the hour counters, render. */
static void handle_summary(const config *cfg, report_param_fn get, void *ctx,
                           api_response *resp) {
  int64_t from, to;
  char line[FLOW_NAME_MAX + 1], bucket_text[16];
  char channel[PARAM_MAX];
  report_bucket bucket;
  bool csv;
  if (!range_params_or_reply(get, ctx, &from, &to, resp) ||
      !line_param_or_reply(cfg, get, ctx, line, sizeof line, resp) ||
      !channel_param_or_reply(get, ctx, channel, sizeof channel, resp) ||
      !format_param_or_reply(get, ctx, &csv, resp) ||
      !param_or_reply(get, ctx, "bucket", bucket_text, sizeof bucket_text,
                      resp))
    return;
  if (!report_parse_bucket(bucket_text, &bucket)) {
    api_error(resp, 400, "invalid_request", "bucket must be hour or day");
    return;
  }
  /* Counters are kept per hour, so the range is widened to whole hours. */
  summary_ctx c = {.line = line,
                   .channel = channel,
                   .first_hour = report_bucket_floor(from, REPORT_BUCKET_HOUR),
                   .first_bucket = report_bucket_floor(from, bucket),
                   .bucket_seconds = report_bucket_seconds(bucket)};
  c.bucket_count =
      (size_t)((to - c.first_bucket + c.bucket_seconds - 1) / c.bucket_seconds);
  if (!read_summary_or_reply(&c, to, resp))
    return;
  report_counts total = {0};
  for (size_t i = 0; i < c.bucket_count; i++)
    report_counts_merge(&total, &c.buckets[i]);
  if (csv)
    render_summary_csv(&c, &total, from, to, resp);
  else
    render_summary_json(cfg, &c, bucket, &total, from, to, resp);
  summary_free(&c);
}

/* ---------------------------------------------------------------------
 * Interactions.
 * ------------------------------------------------------------------- */

typedef struct {
  const char *line, *outcome, *auth_status, *channel, *conversation_id;
  size_t limit;
  bool csv;
  json_t *items;
  buf *buf;
  size_t matched;
  bool more;
  char last_returned[48]; /* ID of the last item in the answer */
  char last_scanned[48];  /* ID of the last entry read */
} interactions_ctx;

static const char *field_of(size_t n, const char *const *names,
                            const char *const *values, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return values[i];
  return "";
}

static long long int_of(const char *s) {
  char *end;
  long long v = strtoll(s, &end, 10);
  return end != s && !*end ? v : 0;
}

static const char *const event_columns[] = {
    "conversationId",       "serviceLine",      "outcome",        "authStatus",
    "identificationMethod", "identifyAttempts", "verifyAttempts", "attempts",
    "durationMs",           "timeMs",           "aniMasked",      "channel"};
#define EVENT_COLUMNS (sizeof event_columns / sizeof event_columns[0])
#define EVENT_CHANNEL 11 /* index of "channel" in event_columns */

static void on_event(void *user, const char *id, size_t n,
                     const char *const *names, const char *const *values) {
  interactions_ctx *c = user;
  snprintf(c->last_scanned, sizeof c->last_scanned, "%s", id);
  if (c->more)
    return;
  const char *v[EVENT_COLUMNS];
  for (size_t i = 0; i < EVENT_COLUMNS; i++)
    v[i] = field_of(n, names, values, event_columns[i]);
  /* Events recorded before channels were are voice calls. */
  if (!v[EVENT_CHANNEL][0])
    v[EVENT_CHANNEL] = FLOW_DEFAULT_CHANNEL;
  /* A locked call is never verified; versions before issue 21 recorded a
   * verified handoff or link for a locked-out customer as verified. */
  if (strcmp(v[2], "locked") == 0 && strcmp(v[3], "identified_verified") == 0)
    v[3] = "identified";
  if ((c->line[0] && strcmp(v[1], c->line) != 0) ||
      (c->outcome[0] && strcmp(v[2], c->outcome) != 0) ||
      (c->auth_status[0] && strcmp(v[3], c->auth_status) != 0) ||
      (c->channel[0] && strcmp(v[EVENT_CHANNEL], c->channel) != 0) ||
      (c->conversation_id[0] && strcmp(v[0], c->conversation_id) != 0))
    return;
  if (c->matched == c->limit) {
    c->more = true;
    return;
  }
  c->matched++;
  snprintf(c->last_returned, sizeof c->last_returned, "%s", id);
  char when[21];
  report_format_time(int_of(v[9]) / 1000, when);
  if (c->csv) {
    buf *b = c->buf;
    report_csv_field(b, id);
    buf_addf(b, ",%s", when);
    for (size_t i = 0; i < EVENT_COLUMNS; i++) {
      buf_add(b, ",", 1);
      report_csv_field(b, v[i]);
    }
    buf_add(b, "\r\n", 2);
    return;
  }
  json_array_append_new(
      c->items,
      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, "
                "s:I, s:s, s:s}",
                "id", id, "time", when, "conversationId", v[0], "serviceLine",
                v[1], "outcome", v[2], "authStatus", v[3],
                "identificationMethod", v[4], "identifyAttempts",
                (json_int_t)int_of(v[5]), "verifyAttempts",
                (json_int_t)int_of(v[6]), "attempts", (json_int_t)int_of(v[7]),
                "durationMs", (json_int_t)int_of(v[8]), "timeMs",
                (json_int_t)int_of(v[9]), "aniMasked", v[10], "channel",
                v[EVENT_CHANNEL]));
}

/* A stream ID: digits '-' digits. */
static bool stream_id_ok(const char *s) {
  size_t a = strspn(s, "0123456789");
  if (a == 0 || a > 20 || s[a] != '-')
    return false;
  size_t b = strspn(s + a + 1, "0123456789");
  return b > 0 && b <= 20 && s[a + 1 + b] == '\0';
}

static bool auth_status_ok(const char *s) {
  for (int a = FLOW_AUTH_NOT_IDENTIFIED; a <= FLOW_AUTH_IDENTIFIED_VERIFIED;
       a++)
    if (strcmp(s, flow_auth_status_name((flow_auth_status)a)) == 0)
      return true;
  return false;
}

/* An interactions request's parameters, checked. */
typedef struct {
  int64_t from, to;
  char line[FLOW_NAME_MAX + 1], outcome[32], auth[32];
  char channel[PARAM_MAX];
  char conversation_id[FLOW_CONVERSATION_ID_MAX + 1]; /* "" for any */
  char cursor[48]; /* "" for the first page; not used by a CSV export */
  size_t limit;    /* a CSV export: reporting.exportMaxRows */
  size_t scan_max; /* stream entries one request may read */
  bool csv;
} interactions_query;

/* Read and check every parameter into *q; else a 400 (returns false). */
static bool interactions_query_or_reply(const config *cfg, report_param_fn get,
                                        void *ctx, interactions_query *q,
                                        api_response *resp) {
  char limit_text[16];
  if (!range_params_or_reply(get, ctx, &q->from, &q->to, resp) ||
      !line_param_or_reply(cfg, get, ctx, q->line, sizeof q->line, resp) ||
      !channel_param_or_reply(get, ctx, q->channel, sizeof q->channel, resp) ||
      !format_param_or_reply(get, ctx, &q->csv, resp) ||
      !param_or_reply(get, ctx, "outcome", q->outcome, sizeof q->outcome,
                      resp) ||
      !param_or_reply(get, ctx, "authStatus", q->auth, sizeof q->auth, resp) ||
      !param_or_reply(get, ctx, "limit", limit_text, sizeof limit_text, resp) ||
      !param_or_reply(get, ctx, "cursor", q->cursor, sizeof q->cursor, resp) ||
      !param_or_reply(get, ctx, "conversationId", q->conversation_id,
                      sizeof q->conversation_id, resp))
    return false;
  const char *id_problem = q->conversation_id[0]
                               ? route_conversation_id_error(q->conversation_id)
                               : NULL;
  if (id_problem) {
    api_error(resp, 400, "invalid_request", id_problem);
    return false;
  }
  flow_outcome oc;
  if (q->outcome[0] &&
      (!flow_outcome_parse(q->outcome, &oc) || oc == FLOW_OUTCOME_PENDING)) {
    api_error(resp, 400, "invalid_request",
              "outcome must be a final outcome such as verified");
    return false;
  }
  if (q->auth[0] && !auth_status_ok(q->auth)) {
    api_error(resp, 400, "invalid_request",
              "authStatus must be identified_verified, identified or "
              "not_identified");
    return false;
  }
  long limit = LIMIT_DEFAULT;
  if (limit_text[0]) {
    char *end;
    limit = strtol(limit_text, &end, 10);
    if (*end || limit < 1 || limit > LIMIT_MAX) {
      api_error(resp, 400, "invalid_request", "limit must be 1..1000");
      return false;
    }
  }
  q->limit = (size_t)limit;
  q->scan_max = SCAN_MAX;
  if (q->csv) {
    /* An export holds the whole range: no page, no cursor. */
    q->limit = (size_t)cfg->report_export_max_rows;
    q->scan_max = EXPORT_SCAN_MAX;
    q->cursor[0] = '\0';
  }
  if (q->cursor[0] && !stream_id_ok(q->cursor)) {
    api_error(resp, 400, "invalid_request",
              "cursor must be a nextCursor from an earlier answer");
    return false;
  }
  return true;
}

/*
 * Read the event stream newest first, SCAN_BATCH entries at a time, from
 * the query's end (or just below its cursor) down to its start, feeding
 * on_event, until one more item than the limit matched (so another page is
 * known to exist), the range is exhausted, or SCAN_MAX entries were read.
 * Sets *next to the next page's cursor (NULL when there is none). On a
 * store failure fills its answer and returns false.
 */
static bool scan_interactions_or_reply(const interactions_query *q,
                                       interactions_ctx *c, const char **next,
                                       api_response *resp) {
  /* Stream IDs are the commit's time in ms: [from, to) maps to IDs
   * from*1000 .. to*1000-1 (a bare ms as the end means its last entry). */
  char end[64], start[32];
  snprintf(start, sizeof start, "%lld", (long long)q->from * 1000);
  if (q->cursor[0])
    snprintf(end, sizeof end, "(%s", q->cursor);
  else
    snprintf(end, sizeof end, "%lld", (long long)q->to * 1000 - 1);
  size_t scanned = 0, got = 0;
  bool exhausted = false;
  char err[STORE_ERR_MAX];
  while (!c->more && c->matched < c->limit + 1 && scanned < q->scan_max) {
    store_status st = store_report_events(end, start, SCAN_BATCH, on_event, c,
                                          &got, err, sizeof err);
    if (st != STORE_OK) {
      api_reply_store_error(resp, st, API_STORE_REPORTS, NULL, err);
      return false;
    }
    scanned += got;
    if (got < SCAN_BATCH) {
      exhausted = true;
      break;
    }
    snprintf(end, sizeof end, "(%s", c->last_scanned);
  }
  /* Stopped by the scan cap: the next page goes on from where it stopped,
   * even with fewer items than the limit. */
  *next = NULL;
  if (c->more)
    *next = c->last_returned;
  else if (!exhausted && c->last_scanned[0])
    *next = c->last_scanned;
  return true;
}

/* The CSV's header row: the stream ID, the time, then every column. */
static void interactions_csv_header(buf *b) {
  buf_addf(b, "id,time");
  for (size_t i = 0; i < EVENT_COLUMNS; i++)
    buf_addf(b, ",%s", event_columns[i]);
  buf_add(b, "\r\n", 2);
}

/* Answer with what the scan gathered: the CSV download (a 400 instead when
 * the range holds more than an export may: it is never cut), or JSON with the
 * range, count, items and nextCursor. Consumes c->items and c->buf. */
static void render_interactions(const interactions_query *q,
                                interactions_ctx *c, const char *next,
                                api_response *resp) {
  if (q->csv) {
    json_decref(c->items);
    if (next) {
      /* Never cut an export: refuse it and say why. */
      buf_free(c->buf);
      char msg[192];
      if (c->more)
        snprintf(msg, sizeof msg,
                 "the export would hold more than %zu interactions "
                 "(reporting.exportMaxRows); narrow from/to or add a filter",
                 q->limit);
      else
        snprintf(msg, sizeof msg,
                 "the range holds more than %d events to read; narrow "
                 "from/to",
                 EXPORT_SCAN_MAX);
      api_error(resp, 400, "invalid_request", msg);
      return;
    }
    csv_answer(c->buf, "attachment; filename=\"authflow-interactions.csv\"",
               resp);
    return;
  }
  buf_free(c->buf);
  char f[21], t[21];
  report_format_time(q->from, f);
  report_format_time(q->to, t);
  resp->body =
      json_pack("{s:s, s:s, s:I, s:o, s:o}", "from", f, "to", t, "count",
                (json_int_t)json_array_size(c->items), "items", c->items,
                "nextCursor", next ? json_string(next) : json_null());
  resp->status = 200;
  if (!resp->body)
    api_error(resp, 500, "internal", "could not render the report");
}

/* GET /v1/reports/interactions: validate, scan, render. */
static void handle_interactions(const config *cfg, report_param_fn get,
                                void *ctx, api_response *resp) {
  interactions_query q;
  if (!interactions_query_or_reply(cfg, get, ctx, &q, resp))
    return;
  buf b;
  buf_init(&b, REPORT_TEXT_MAX, BUF_PLAIN);
  interactions_ctx c = {.line = q.line,
                        .outcome = q.outcome,
                        .auth_status = q.auth,
                        .channel = q.channel,
                        .conversation_id = q.conversation_id,
                        .limit = q.limit,
                        .csv = q.csv,
                        .items = json_array(),
                        .buf = &b};
  if (q.csv)
    interactions_csv_header(&b);
  const char *next;
  if (!scan_interactions_or_reply(&q, &c, &next, resp)) {
    json_decref(c.items);
    buf_free(&b);
    return;
  }
  render_interactions(&q, &c, next, resp);
}

void report_api_handle(const config *cfg, route_id id, report_param_fn get,
                       void *ctx, api_response *resp) {
  switch (id) {
  case ROUTE_REPORT_SUMMARY:
    handle_summary(cfg, get, ctx, resp);
    return;
  case ROUTE_REPORT_INTERACTIONS:
    handle_interactions(cfg, get, ctx, resp);
    return;
  case ROUTE_DASHBOARD:
    resp->status = 200;
    resp->text = malloc(report_dashboard_html_len + 1);
    if (!resp->text) {
      api_error(resp, 500, "internal", "out of memory");
      return;
    }
    memcpy(resp->text, report_dashboard_html, report_dashboard_html_len + 1);
    resp->text_len = report_dashboard_html_len;
    resp->content_type = "text/html; charset=utf-8";
    return;
  default:
    api_error(resp, 404, "not_found", "no such endpoint");
    return;
  }
}
