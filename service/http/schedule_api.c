#include "schedule_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pct.h"
#include "report_render.h"
#include "report_schedule.h"
#include "report_scheduler.h"
#include "store_schedule.h"

#define DELIVERIES_DEFAULT 50

bool schedule_api_route(route_id id) {
  return id == ROUTE_REPORT_SCHEDULE_RUN || id == ROUTE_REPORT_DELIVERIES;
}

static const char *every_name(config_every e) {
  return e == CONFIG_EVERY_DAY    ? "day"
         : e == CONFIG_EVERY_WEEK ? "week"
                                  : "month";
}

/* {"label","from","to"} of p in zone z (times with their offsets). */
static json_t *period_json(const tz_zone *z, const report_period *p) {
  char from[32], to[32], due[32];
  report_time_text(z, p->from, from);
  report_time_text(z, p->to, to);
  report_time_text(z, p->due, due);
  return json_pack("{s:s, s:s, s:s, s:s}", "label", p->label, "from", from,
                   "to", to, "due", due);
}

static void handle_run(const config *cfg, const route_match *route,
                       api_response *resp) {
  const config_schedule *s = report_schedule_find(cfg, route->conversation_id);
  if (!s) {
    api_error(resp, 404, "not_found", "no schedule has that name");
    return;
  }
  report_period p;
  switch (report_scheduler_run_now(s->name, &p)) {
  case REPORT_RUN_QUEUED:
    break;
  case REPORT_RUN_UNKNOWN:
    api_error(resp, 404, "not_found", "no schedule has that name");
    return;
  case REPORT_RUN_FULL:
    api_error(resp, 503, "unavailable",
              "too many runs on demand are waiting; try again");
    return;
  case REPORT_RUN_OFF:
  default:
    api_error(resp, 503, "unavailable", "the report scheduler is stopping");
    return;
  }
  const char *zone_name = NULL;
  char err[160];
  const tz_zone *z = report_schedule_zone(cfg, s, &zone_name, err, sizeof err);
  resp->status = 202;
  resp->body = json_pack("{s:s, s:s, s:s, s:o}", "schedule", s->name, "status",
                         "queued", "timeZone", zone_name, "period",
                         z ? period_json(z, &p) : json_null());
}

/* One configured schedule, with the period it sends next. */
static json_t *schedule_json(const config *cfg, const config_schedule *s,
                             int64_t now) {
  const char *zone_name = NULL;
  char err[160], at[8];
  const tz_zone *z = report_schedule_zone(cfg, s, &zone_name, err, sizeof err);
  snprintf(at, sizeof at, "%02d:%02d", s->at_minute / 60 % 100,
           s->at_minute % 60);
  json_t *to = json_array();
  for (size_t i = 0; to && i < s->to_count; i++)
    json_array_append_new(to, json_string(s->to[i]));
  report_period next = {.label = ""};
  if (z) {
    /* The last complete period, unless it is due already (sent, or being
     * sent): then the current one, due once it ends. */
    report_period_last_complete(s->every, z, s->at_minute, now, &next);
    if (next.due <= now)
      report_period_at(s->every, z, s->at_minute, now, &next);
  }
  return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:o}", "name",
                   s->name, "report", s->report, "format", s->format, "every",
                   every_name(s->every), "at", at, "timeZone", zone_name, "to",
                   to ? to : json_array(), "serviceLine", s->service_line,
                   "channel", s->channel, "next",
                   z ? period_json(z, &next) : json_null());
}

typedef struct {
  json_t *list;
  const char *only; /* "" or a schedule name */
} deliveries_ctx;

/* A record from Redis into the answer; a malformed one is skipped. */
static void add_record(void *user, const char *text, size_t len) {
  deliveries_ctx *c = user;
  json_t *rec = json_loadb(text, len, 0, NULL);
  const char *name = json_string_value(json_object_get(rec, "schedule"));
  if (json_is_object(rec) && name &&
      (!c->only[0] || strcmp(name, c->only) == 0))
    json_array_append(c->list, rec);
  json_decref(rec);
}

static void handle_deliveries(const config *cfg, report_param_fn get, void *ctx,
                              api_response *resp) {
  const char *raw_limit = get ? get(ctx, "limit") : NULL;
  const char *raw_only = get ? get(ctx, "schedule") : NULL;
  char only[CONFIG_SCHEDULE_NAME_MAX + 1] = "";
  long limit = DELIVERIES_DEFAULT;
  if (raw_limit) {
    char *end;
    limit = strtol(raw_limit, &end, 10);
    if (*end || end == raw_limit || limit < 1 || limit > STORE_DELIVERIES_MAX) {
      api_reply_field_error(resp, "limit", "must be 1..200");
      return;
    }
  }
  if (raw_only && (pct_decode(raw_only, strlen(raw_only), PCT_PLUS_IS_SPACE,
                              only, sizeof only) != PCT_OK ||
                   !report_schedule_find(cfg, only))) {
    api_reply_field_error(resp, "schedule", "is not a configured schedule");
    return;
  }
  deliveries_ctx c = {.list = json_array(), .only = only};
  char err[STORE_ERR_MAX];
  /* Filtering by schedule reads the whole (short) list. */
  store_status st =
      store_schedule_deliveries(only[0] ? STORE_DELIVERIES_MAX : (size_t)limit,
                                add_record, &c, err, sizeof err);
  if (st != STORE_OK) {
    json_decref(c.list);
    api_reply_store_error(resp, st, API_STORE_REPORTS, NULL, err);
    return;
  }
  while (json_array_size(c.list) > (size_t)limit)
    json_array_remove(c.list, json_array_size(c.list) - 1);
  json_t *schedules = json_array();
  int64_t now = (int64_t)time(NULL);
  for (size_t i = 0; schedules && i < cfg->reporting.count; i++)
    json_array_append_new(schedules,
                          schedule_json(cfg, &cfg->reporting.list[i], now));
  resp->status = 200;
  resp->body =
      json_pack("{s:o, s:o}", "schedules", schedules ? schedules : json_array(),
                "deliveries", c.list ? c.list : json_array());
}

void schedule_api_handle(const config *cfg, const route_match *route,
                         report_param_fn get, void *ctx, api_response *resp) {
  if (route->id == ROUTE_REPORT_SCHEDULE_RUN)
    handle_run(cfg, route, resp);
  else if (route->id == ROUTE_REPORT_DELIVERIES)
    handle_deliveries(cfg, get, ctx, resp);
  else
    api_error(resp, 404, "not_found", "no such endpoint");
}
