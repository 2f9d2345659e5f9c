/*
 * schedule_api: the endpoints of scheduled reports. The run takes
 * reportKeys only (the session key Genesys holds gets 403); the list
 * takes what the other reports take (see http.c's key scopes).
 *
 *   POST /v1/reports/schedules/{name}/run   202: a run on demand of that
 *                                           schedule for its last complete
 *                                           period is queued on the
 *                                           scheduler thread
 *   GET  /v1/reports/deliveries?limit=&schedule=
 *                                           the configured schedules and
 *                                           the newest delivery records
 *
 * Runs on the report thread (it may read Redis).
 */
#ifndef AUTHFLOW_SCHEDULE_API_H
#define AUTHFLOW_SCHEDULE_API_H

#include <stdbool.h>

#include "api.h"
#include "config.h"
#include "report_api.h"
#include "route.h"

/* True for the routes schedule_api_handle() serves. */
bool schedule_api_route(route_id id);

/* Serve a schedule route (the caller authorised it); fills *resp. */
void schedule_api_handle(const config *cfg, const route_match *route,
                         report_param_fn get, void *ctx, api_response *resp);

#endif
