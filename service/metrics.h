/*
 * metrics: process counters and histograms, rendered in the Prometheus
 * text format (version 0.0.4) for GET /metrics.
 *
 * Every label set is bounded: routes and statuses come from fixed tables,
 * service lines from config (indexes into config's array), outcomes and
 * methods from flow's enums. Updates are lock-free atomics and safe from
 * any thread.
 */
#ifndef AUTHFLOW_METRICS_H
#define AUTHFLOW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "flow.h"
#include "route.h"

/* Remember the service line names (borrowed; must outlive the process's
 * use of metrics). Call once before serving. */
void metrics_init(const char *const *service_line_names, size_t count);

void metrics_http_request(route_id route, unsigned status, double seconds);
void metrics_crm_call(flow_crm_kind kind, bool ok, double seconds);
void metrics_redis_error(void);
/* CRM connector events (crm_client's on_event): breaker state gauge and
 * retry / token fetch / fast-fail counters. */
void metrics_crm_event(int event, long value);
void metrics_session_started(size_t service_line_index, flow_method method);
void metrics_session_completed(size_t service_line_index, flow_outcome outcome);
/* A completed step whose report recording failed (the step itself
 * committed). */
void metrics_report_dropped(void);
/* A customer was just locked out (authflow_lockouts_total). */
void metrics_lockout(void);
/* Which failed-attempt limit a step found reached. */
typedef enum {
  METRICS_LIMIT_GLOBAL = 0, /* the service line's, per minute */
  METRICS_LIMIT_CALLER,     /* the caller's own number */
  METRICS_LIMIT_WITHHELD,   /* the bucket of calls with no usable ANI */
  METRICS_LIMIT_SCOPES
} metrics_limit_scope;

/* A security answer (identify false: authflow_verify_limit_trips_total)
 * or an identifier (authflow_identify_limit_trips_total) found a
 * failed-attempt limit reached. */
void metrics_limit_trip(bool identify, metrics_limit_scope scope);
/* A verification was sent and got no HTTP answer (a timeout): counted for
 * the customer, not toward any limit (authflow_verify_unanswered_total). */
void metrics_verify_unanswered(void);

/* Context across channels (SPEC §7). */
typedef enum {
  METRICS_HANDOFF_REDEEMED = 0,
  METRICS_HANDOFF_NO_MATCH,      /* wrong, used, expired, other line/number */
  METRICS_HANDOFF_INVALID_INPUT, /* could not be a code */
  METRICS_HANDOFF_LIMITED,       /* refused unchecked: guess limit reached */
  METRICS_HANDOFF_DISABLED,      /* refused unchecked: off on the line */
  METRICS_HANDOFF_NO_ATTEMPTS,   /* refused unchecked: no attempts left */
  METRICS_HANDOFF_RESULTS
} metrics_handoff_result;

void metrics_handoff_created(void);
void metrics_handoff_redemption(metrics_handoff_result result);
/* A failed redemption reached the guess limit. */
void metrics_handoff_limiter_trip(void);
/* Why POST /v1/handoffs refused to issue a code (SPEC §7 limits). */
typedef enum {
  METRICS_HANDOFF_REFUSED_RATE_LIMITED = 0, /* handoff.keyMaxPerMinute */
  METRICS_HANDOFF_REFUSED_LIVE_CAP,         /* handoff.maxLiveCodes */
  METRICS_HANDOFF_REFUSED_PHONE_REQUIRED,   /* requirePhoneForVerified */
  METRICS_HANDOFF_REFUSALS
} metrics_handoff_refusal;

void metrics_handoff_refused(metrics_handoff_refusal reason);
/* What became of a start's linkedConversationId. */
void metrics_context_link(flow_link_verdict verdict);

/* A scheduled report mail's attempt or end: result "sent", "retry",
 * "refused" or "failed" (authflow_report_deliveries_total{result}). */
void metrics_report_delivery(const char *result);

/* Append everything to `out`. Returns out's status: BUF_OK, or its first
 * failure (BUF_TOO_LARGE past its cap, BUF_NO_MEMORY), in which case the
 * text is incomplete and must not be served. */
buf_status metrics_render(buf *out);

#endif
