/*
 * route: the request path and method -> endpoint (pure, no I/O).
 *
 * The server hands over the raw path, before any percent-decoding, so that
 * an encoded '/' ("%2F") cannot split or join path segments. route_parse()
 * decodes the conversation ID segment itself and validates it.
 */
#ifndef AUTHFLOW_ROUTE_H
#define AUTHFLOW_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

typedef enum {
  ROUTE_NOT_FOUND = 0,
  ROUTE_SESSIONS_CREATE,     /* POST   /v1/sessions */
  ROUTE_SESSION_GET,         /* GET    /v1/sessions/{id} */
  ROUTE_SESSION_DELETE,      /* DELETE /v1/sessions/{id} */
  ROUTE_SESSION_IDENTIFIER,  /* POST   /v1/sessions/{id}/identifier */
  ROUTE_SESSION_SECURITY,    /* POST   /v1/sessions/{id}/security */
  ROUTE_SESSION_OPT_OUT,     /* POST   /v1/sessions/{id}/opt-out */
  ROUTE_HEALTHZ,             /* GET    /healthz */
  ROUTE_READYZ,              /* GET    /readyz */
  ROUTE_METRICS,             /* GET    /metrics */
  ROUTE_REPORT_SUMMARY,      /* GET    /v1/reports/summary */
  ROUTE_REPORT_INTERACTIONS, /* GET   /v1/reports/interactions */
  ROUTE_DASHBOARD,           /* GET    /dashboard (no key: holds no data) */
  ROUTE_SESSION_HANDOFF,     /* POST   /v1/sessions/{id}/handoff */
  ROUTE_HANDOFFS_CREATE,     /* POST   /v1/handoffs (handoff keys only) */
  /* POST /v1/reports/schedules/{name}/run (the name is in the match's
   * conversation_id: the same segment rules) */
  ROUTE_REPORT_SCHEDULE_RUN,
  ROUTE_REPORT_DELIVERIES, /* GET    /v1/reports/deliveries */
  ROUTE_SESSION_OTP,       /* POST   /v1/sessions/{id}/otp (SPEC §9) */
  ROUTE_COUNT
} route_id;

typedef enum {
  ROUTE_MATCH_OK = 0,
  ROUTE_MATCH_NOT_FOUND,          /* no such path */
  ROUTE_MATCH_METHOD_NOT_ALLOWED, /* path exists; see allow */
  ROUTE_MATCH_BAD_ID,             /* path shape fits, the ID does not */
} route_match_status;

typedef struct {
  route_id id;
  /* The path's template, for logs and metrics labels: "/v1/sessions/{id}".
   * For NOT_FOUND it is "other" so label sets stay bounded. Static. */
  const char *template_path;
  /* Methods the path accepts, e.g. "GET, DELETE" (for 405's Allow). */
  const char *allow;
  /* Decoded and validated conversation ID ("" when the route has none). */
  char conversation_id[FLOW_CONVERSATION_ID_MAX + 1];
  /* Why the ID was refused (BAD_ID), static. */
  const char *id_error;
} route_match;

/*
 * Match `method` and `raw_path` (query string already removed; not
 * percent-decoded). A trailing '/' is not accepted. Never fails for want of
 * memory; any input, however long or odd, gets a status.
 */
route_match_status route_parse(const char *method, const char *raw_path,
                               route_match *out);

/*
 * Check a conversation ID: 1..FLOW_CONVERSATION_ID_MAX characters of
 * [A-Za-z0-9._:-], and not "." or "..". Returns NULL when valid, else a
 * static reason.
 */
const char *route_conversation_id_error(const char *id);

/* Template path of a route id, static ("other" for ROUTE_NOT_FOUND). */
const char *route_template(route_id id);

/* The method of a route id, static ("GET", ...; "other" for
 * ROUTE_NOT_FOUND). Two ids share a template (GET and DELETE on
 * /v1/sessions/{id}), never a template and a method. */
const char *route_id_method(route_id id);

#endif
