/*
 * report_api: the supervisor report endpoints and the dashboard page.
 *
 *   GET /v1/reports/summary       counters per hour/day bucket and rates
 *   GET /v1/reports/interactions  completed sessions, newest first
 *   GET /dashboard                the embedded HTML page (no data in it)
 *
 * Query parameters come through `get` (raw, still percent-encoded; the
 * server hands them over undecoded) and are decoded here. format=
 * json|csv|xlsx|pdf and tz= (an IANA zone) apply to both reports; the
 * report is made by service/report/report_make.h, on the report thread,
 * into a file the answer sends. The dashboard is served on the loop (its
 * bytes are constant; `get` may be NULL for it).
 */
#ifndef AUTHFLOW_REPORT_API_H
#define AUTHFLOW_REPORT_API_H

#include <stdbool.h>
#include <stddef.h>

#include "api_reply.h"
#include "config.h"
#include "route.h"

/* The page, generated at build time from service/dashboard.html. */
extern const unsigned char report_dashboard_html[];
extern const size_t report_dashboard_html_len;

/* A query parameter's raw value, or NULL when absent. */
typedef const char *(*report_param_fn)(void *ctx, const char *name);

/* True for the routes report_api_handle() serves. */
bool report_api_route(route_id id);

/* True for the routes a reportKeys key may call. */
bool report_api_key_route(route_id id);

/* Serve a report route (caller authorised it); fills *resp. */
void report_api_handle(const config *cfg, route_id id, report_param_fn get,
                       void *ctx, api_response *resp);

#endif
