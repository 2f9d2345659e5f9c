/*
 * report_api: a report request's query string checked into a
 * report_params, the report made by report_make (service/report) on the
 * report thread, and its file handed to the answer (the loop sends it from
 * the file). Each refusal names the parameter to change.
 */
#include "report_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pct.h"
#include "report.h"
#include "report_make.h"
#include "report_zone.h"
#include "request.h"
#include "store.h"

#define PARAM_MAX 160
#define LIMIT_DEFAULT 50
#define LIMIT_MAX 1000

bool report_api_route(route_id id) {
  return id == ROUTE_REPORT_SUMMARY || id == ROUTE_REPORT_INTERACTIONS ||
         id == ROUTE_DASHBOARD;
}

bool report_api_key_route(route_id id) {
  return id == ROUTE_REPORT_SUMMARY || id == ROUTE_REPORT_INTERACTIONS ||
         id == ROUTE_REPORT_SCHEDULE_RUN || id == ROUTE_REPORT_DELIVERIES;
}

/* Decode parameter `name` into out ("" when absent). On a bad value fill a
 * 400 and return false. */
static bool param_or_reply(report_param_fn get, void *ctx, const char *name,
                           char *out, size_t out_len, api_response *resp) {
  const char *raw = get(ctx, name);
  out[0] = '\0';
  if (!raw)
    return true;
  if (pct_decode(raw, strlen(raw), PCT_PLUS_IS_SPACE, out, out_len) != PCT_OK)
    return api_reply_field_error(resp, name, "is not a valid value");
  return true;
}

static bool format_or_reply(report_param_fn get, void *ctx, report_format *out,
                            api_response *resp) {
  static const char *const names[] = {"json", "csv", "xlsx", "pdf"};
  char f[16];
  if (!param_or_reply(get, ctx, "format", f, sizeof f, resp))
    return false;
  if (!f[0]) {
    *out = REPORT_FORMAT_JSON;
    return true;
  }
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(f, names[i]) == 0) {
      *out = (report_format)i;
      return true;
    }
  return api_reply_field_error(resp, "format",
                               "must be json, csv, xlsx or pdf");
}

/* tz: an IANA zone (default reporting.timeZone). */
static bool zone_or_reply(const config *cfg, report_param_fn get, void *ctx,
                          report_params *p, api_response *resp) {
  char tz[PARAM_MAX];
  if (!param_or_reply(get, ctx, "tz", tz, sizeof tz, resp))
    return false;
  const char *name = tz[0] ? tz : cfg->report_time_zone;
  char err[160];
  size_t len = strlen(name);
  p->zone =
      len < sizeof p->zone_name ? report_zone_get(name, err, sizeof err) : NULL;
  if (!p->zone)
    return api_reply_field_error(
        resp, "tz", "must be an IANA time zone such as Europe/Madrid");
  memcpy(p->zone_name, name, len + 1);
  return true;
}

/* from/to in the zone (report_range_in's defaults and limits). */
static bool range_or_reply(report_param_fn get, void *ctx, report_params *p,
                           api_response *resp) {
  char f[PARAM_MAX], t[PARAM_MAX];
  const char *why = NULL;
  if (!param_or_reply(get, ctx, "from", f, sizeof f, resp) ||
      !param_or_reply(get, ctx, "to", t, sizeof t, resp))
    return false;
  if (!report_range_in(f, t, (int64_t)time(NULL), p->zone, &p->from, &p->to,
                       &why)) {
    api_error(resp, 400, "invalid_request", why);
    return false;
  }
  return true;
}

/* serviceLine: "" (all) or a configured line; channel: "" or a channel. */
static bool filters_or_reply(const config *cfg, report_param_fn get, void *ctx,
                             report_params *p, api_response *resp) {
  if (!param_or_reply(get, ctx, "serviceLine", p->line, sizeof p->line, resp) ||
      !param_or_reply(get, ctx, "channel", p->channel, sizeof p->channel, resp))
    return false;
  if (p->line[0] && !config_find_service_line(cfg, p->line))
    return api_reply_field_error(resp, "serviceLine",
                                 "is not a configured service line");
  if (p->channel[0] && !request_channel_ok(p->channel))
    return api_reply_field_error(resp, "channel",
                                 "must be 1..32 characters of a-z, 0-9 and _");
  return true;
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

static bool summary_or_reply(report_param_fn get, void *ctx, report_params *p,
                             api_response *resp) {
  char bucket[16];
  if (!param_or_reply(get, ctx, "bucket", bucket, sizeof bucket, resp))
    return false;
  if (!report_parse_bucket(bucket, &p->bucket))
    return api_reply_field_error(resp, "bucket", "must be hour or day");
  if (p->bucket == REPORT_BUCKET_HOUR &&
      p->to - p->from > REPORT_HOUR_BUCKET_MAX_SECONDS)
    return api_reply_field_error(
        resp, "bucket",
        "hour covers at most 31 days; use bucket=day or narrow from/to");
  return true;
}

static bool interactions_or_reply(report_param_fn get, void *ctx,
                                  report_params *p, api_response *resp) {
  char limit_text[16];
  if (!param_or_reply(get, ctx, "outcome", p->outcome, sizeof p->outcome,
                      resp) ||
      !param_or_reply(get, ctx, "authStatus", p->auth, sizeof p->auth, resp) ||
      !param_or_reply(get, ctx, "limit", limit_text, sizeof limit_text, resp) ||
      !param_or_reply(get, ctx, "cursor", p->cursor, sizeof p->cursor, resp) ||
      !param_or_reply(get, ctx, "conversationId", p->conversation_id,
                      sizeof p->conversation_id, resp))
    return false;
  const char *id_problem = p->conversation_id[0]
                               ? route_conversation_id_error(p->conversation_id)
                               : NULL;
  if (id_problem) {
    api_error(resp, 400, "invalid_request", id_problem);
    return false;
  }
  flow_outcome oc;
  if (p->outcome[0] &&
      (!flow_outcome_parse(p->outcome, &oc) || oc == FLOW_OUTCOME_PENDING))
    return api_reply_field_error(resp, "outcome",
                                 "must be a final outcome such as verified");
  if (p->auth[0] && !auth_status_ok(p->auth))
    return api_reply_field_error(resp, "authStatus",
                                 "must be identified_verified, identified or "
                                 "not_identified");
  long limit = LIMIT_DEFAULT;
  if (limit_text[0]) {
    char *end;
    limit = strtol(limit_text, &end, 10);
    if (*end || limit < 1 || limit > LIMIT_MAX)
      return api_reply_field_error(resp, "limit", "must be 1..1000");
  }
  p->limit = (size_t)limit;
  if (p->format != REPORT_FORMAT_JSON)
    p->cursor[0] = '\0'; /* a file holds the whole range: no page */
  if (p->cursor[0] && !stream_id_ok(p->cursor))
    return api_reply_field_error(resp, "cursor",
                                 "must be a nextCursor from an earlier answer");
  return true;
}

/* Make the report and hand its file to the answer. */
static void answer(const config *cfg, const report_params *p,
                   api_response *resp) {
  report_file out;
  report_why why;
  switch (report_make(cfg, p, &out, &why)) {
  case REPORT_OK:
    break;
  case REPORT_REFUSED:
    api_error(resp, 400, "invalid_request", why.text);
    return;
  case REPORT_STORE:
    api_reply_store_error(resp, why.store_st, API_STORE_REPORTS, NULL,
                          why.text);
    return;
  case REPORT_FAILED:
  default:
    api_error(resp, 500, "internal", "the report could not be made");
    return;
  }
  resp->status = 200;
  resp->has_file = true;
  resp->file_fd = out.fd;
  resp->file_size = out.size;
  resp->content_type = out.content_type;
  snprintf(resp->content_disposition, sizeof resp->content_disposition,
           "%s; filename=\"%s\"",
           p->format == REPORT_FORMAT_JSON ? "inline" : "attachment",
           out.filename);
}

static void handle_report(const config *cfg, route_id id, report_param_fn get,
                          void *ctx, api_response *resp) {
  report_params p = {.made_at = (int64_t)time(NULL)};
  p.kind = id == ROUTE_REPORT_SUMMARY ? REPORT_KIND_SUMMARY
                                      : REPORT_KIND_INTERACTIONS;
  if (!format_or_reply(get, ctx, &p.format, resp) ||
      !zone_or_reply(cfg, get, ctx, &p, resp) ||
      !range_or_reply(get, ctx, &p, resp) ||
      !filters_or_reply(cfg, get, ctx, &p, resp))
    return;
  if (p.kind == REPORT_KIND_SUMMARY
          ? !summary_or_reply(get, ctx, &p, resp)
          : !interactions_or_reply(get, ctx, &p, resp))
    return;
  answer(cfg, &p, resp);
}

void report_api_handle(const config *cfg, route_id id, report_param_fn get,
                       void *ctx, api_response *resp) {
  switch (id) {
  case ROUTE_REPORT_SUMMARY:
  case ROUTE_REPORT_INTERACTIONS:
    handle_report(cfg, id, get, ctx, resp);
    return;
  case ROUTE_DASHBOARD:
    /* Constant bytes, never copied: served on the loop. */
    resp->status = 200;
    resp->static_text = (const char *)report_dashboard_html;
    resp->static_len = report_dashboard_html_len;
    resp->content_type = "text/html; charset=utf-8";
    return;
  default:
    api_error(resp, 404, "not_found", "no such endpoint");
    return;
  }
}
