#include "metrics.h"
#include "otp_metrics.h"

#include "crm_client.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 64
#define METHOD_COUNT 5
#define LINK_VERDICTS FLOW_LINK_VERDICT_COUNT
#define OUTCOME_COUNT 8

static const unsigned tracked_statuses[] = {200, 201, 204, 400, 401, 403, 404,
                                            405, 409, 413, 415, 500, 503};
#define STATUS_COUNT (sizeof tracked_statuses / sizeof tracked_statuses[0] + 1)

/* Upper bounds in seconds; the +Inf bucket is the count. */
static const double buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define BUCKET_COUNT (sizeof buckets / sizeof buckets[0])

typedef struct {
  _Atomic uint64_t bucket[BUCKET_COUNT];
  _Atomic uint64_t count;
  _Atomic uint64_t sum_us;
} histogram;

static _Atomic uint64_t http_requests[ROUTE_COUNT][STATUS_COUNT];
static histogram http_latency[ROUTE_COUNT];
static _Atomic uint64_t crm_calls[2][2]; /* [lookup|verify][ok|error] */
static histogram crm_latency[2];
static _Atomic uint64_t redis_errors;
static _Atomic uint64_t report_dropped;
static _Atomic uint64_t lockouts; /* customers locked out */
/* [verify|identify][metrics_limit_scope] */
static _Atomic uint64_t limit_trips[2][METRICS_LIMIT_SCOPES];
static _Atomic uint64_t verify_unanswered; /* sent, no HTTP answer */
static _Atomic long crm_breaker;           /* crm_breaker_state */
static _Atomic uint64_t crm_breaker_opens; /* transitions to open */
static _Atomic uint64_t crm_events[3];     /* retry, token, fast fail */
static histogram crm_queue_wait;           /* per attempt, 0 included */
static _Atomic uint64_t crm_queued;        /* attempts that waited */
static _Atomic uint64_t crm_queue_expired; /* calls whose budget ran out */
static _Atomic long crm_queue_length;      /* calls waiting now */
static _Atomic uint64_t started[MAX_LINES][METHOD_COUNT];
static _Atomic uint64_t completed[MAX_LINES][OUTCOME_COUNT];
static _Atomic uint64_t handoffs_created;
static _Atomic uint64_t handoff_redemptions[METRICS_HANDOFF_RESULTS];
static _Atomic uint64_t handoff_trips;
static _Atomic uint64_t handoff_refusals[METRICS_HANDOFF_REFUSALS];
static _Atomic uint64_t context_links[LINK_VERDICTS];

static const char *const *line_names;
static size_t line_count;

void metrics_init(const char *const *names, size_t count) {
  line_names = names;
  line_count = count < MAX_LINES ? count : MAX_LINES;
}

static void observe(histogram *h, double seconds) {
  for (size_t i = 0; i < BUCKET_COUNT; i++)
    if (seconds <= buckets[i])
      atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
  uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6) : 0;
  atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

static size_t status_index(unsigned status) {
  for (size_t i = 0; i < STATUS_COUNT - 1; i++)
    if (tracked_statuses[i] == status)
      return i;
  return STATUS_COUNT - 1;
}

void metrics_http_request(route_id route, unsigned status, double seconds) {
  if ((unsigned)route >= ROUTE_COUNT)
    route = ROUTE_NOT_FOUND;
  atomic_fetch_add_explicit(&http_requests[route][status_index(status)], 1,
                            memory_order_relaxed);
  observe(&http_latency[route], seconds);
}

void metrics_crm_call(flow_crm_kind kind, bool ok, double seconds) {
  size_t op = kind == FLOW_CRM_VERIFY ? 1 : 0;
  atomic_fetch_add_explicit(&crm_calls[op][ok ? 0 : 1], 1,
                            memory_order_relaxed);
  observe(&crm_latency[op], seconds);
}

void metrics_crm_event(int event, long value) {
  switch ((crm_client_event)event) {
  case CRM_EVENT_BREAKER:
    atomic_store(&crm_breaker, value);
    if (value == CRM_BREAKER_OPEN)
      atomic_fetch_add_explicit(&crm_breaker_opens, 1, memory_order_relaxed);
    break;
  case CRM_EVENT_RETRY:
    atomic_fetch_add_explicit(&crm_events[0], 1, memory_order_relaxed);
    break;
  case CRM_EVENT_TOKEN_FETCH:
    if (value)
      atomic_fetch_add_explicit(&crm_events[1], 1, memory_order_relaxed);
    break;
  case CRM_EVENT_FAST_FAIL:
    atomic_fetch_add_explicit(&crm_events[2], 1, memory_order_relaxed);
    break;
  case CRM_EVENT_QUEUE_WAIT:
    if (value > 0)
      atomic_fetch_add_explicit(&crm_queued, 1, memory_order_relaxed);
    observe(&crm_queue_wait, (double)value / 1e6);
    break;
  case CRM_EVENT_QUEUE_LENGTH:
    atomic_store(&crm_queue_length, value);
    break;
  case CRM_EVENT_QUEUE_EXPIRED:
    atomic_fetch_add_explicit(&crm_queue_expired, 1, memory_order_relaxed);
    break;
  }
}

void metrics_redis_error(void) {
  atomic_fetch_add_explicit(&redis_errors, 1, memory_order_relaxed);
}

void metrics_session_started(size_t line, flow_method method) {
  if (line < MAX_LINES && (unsigned)method < METHOD_COUNT)
    atomic_fetch_add_explicit(&started[line][method], 1, memory_order_relaxed);
}

void metrics_session_completed(size_t line, flow_outcome outcome) {
  if (line < MAX_LINES && (unsigned)outcome < OUTCOME_COUNT)
    atomic_fetch_add_explicit(&completed[line][outcome], 1,
                              memory_order_relaxed);
}

void metrics_lockout(void) {
  atomic_fetch_add_explicit(&lockouts, 1, memory_order_relaxed);
}

void metrics_limit_trip(bool identify, metrics_limit_scope scope) {
  if ((unsigned)scope < METRICS_LIMIT_SCOPES)
    atomic_fetch_add_explicit(&limit_trips[identify ? 1 : 0][scope], 1,
                              memory_order_relaxed);
}

void metrics_verify_unanswered(void) {
  atomic_fetch_add_explicit(&verify_unanswered, 1, memory_order_relaxed);
}

void metrics_report_dropped(void) {
  atomic_fetch_add_explicit(&report_dropped, 1, memory_order_relaxed);
}

void metrics_handoff_created(void) {
  atomic_fetch_add_explicit(&handoffs_created, 1, memory_order_relaxed);
}

void metrics_handoff_redemption(metrics_handoff_result result) {
  if ((unsigned)result < METRICS_HANDOFF_RESULTS)
    atomic_fetch_add_explicit(&handoff_redemptions[result], 1,
                              memory_order_relaxed);
}

void metrics_handoff_refused(metrics_handoff_refusal reason) {
  if ((unsigned)reason < METRICS_HANDOFF_REFUSALS)
    atomic_fetch_add_explicit(&handoff_refusals[reason], 1,
                              memory_order_relaxed);
}

void metrics_handoff_limiter_trip(void) {
  atomic_fetch_add_explicit(&handoff_trips, 1, memory_order_relaxed);
}

void metrics_context_link(flow_link_verdict verdict) {
  if ((unsigned)verdict < LINK_VERDICTS && verdict != FLOW_LINK_NONE)
    atomic_fetch_add_explicit(&context_links[verdict], 1, memory_order_relaxed);
}

/* Scheduled report deliveries (report_scheduler), by result. */
static const char *const delivery_results[] = {"sent", "retry", "refused",
                                               "failed"};
#define DELIVERY_RESULTS 4
static _Atomic uint64_t deliveries[DELIVERY_RESULTS];

void metrics_report_delivery(const char *result) {
  for (int i = 0; i < DELIVERY_RESULTS; i++)
    if (strcmp(result, delivery_results[i]) == 0)
      atomic_fetch_add_explicit(&deliveries[i], 1, memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *v) {
  return atomic_load_explicit(v, memory_order_relaxed);
}

/* Service line names come from config and are [A-Za-z0-9_.-], so they
 * need no label escaping. `labels`: the label list without braces (e.g.
 * `method="GET",route="/healthz"`), or NULL for a histogram without any. */
static void emit_histogram(buf *o, const char *name, const char *labels,
                           histogram *h) {
  char lbl[200] = "", set[204] = "";
  if (labels) {
    snprintf(lbl, sizeof lbl, "%s,", labels);
    snprintf(set, sizeof set, "{%s}", labels);
  }
  for (size_t i = 0; i < BUCKET_COUNT; i++)
    buf_addf(o, "%s_bucket{%sle=\"%g\"} %llu\n", name, lbl, buckets[i],
             (unsigned long long)load(&h->bucket[i]));
  uint64_t count = load(&h->count);
  buf_addf(o, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, lbl,
           (unsigned long long)count);
  buf_addf(o, "%s_sum%s %.6f\n", name, set, (double)load(&h->sum_us) / 1e6);
  buf_addf(o, "%s_count%s %llu\n", name, set, (unsigned long long)count);
}

/* HTTP requests by route and status, and their latency. */
static void render_http(buf *o) {
  buf_adds(o, "# HELP authflow_http_requests_total HTTP requests by method, "
              "route and status.\n"
              "# TYPE authflow_http_requests_total counter\n");
  for (int r = 0; r < ROUTE_COUNT; r++)
    for (size_t s = 0; s < STATUS_COUNT; s++) {
      uint64_t v = load(&http_requests[r][s]);
      if (v == 0)
        continue;
      char status[8];
      if (s < STATUS_COUNT - 1)
        snprintf(status, sizeof status, "%u", tracked_statuses[s]);
      else
        snprintf(status, sizeof status, "other");
      buf_addf(o,
               "authflow_http_requests_total{method=\"%s\",route=\"%s\","
               "status=\"%s\"} %llu\n",
               route_id_method((route_id)r), route_template((route_id)r),
               status, (unsigned long long)v);
    }
  buf_adds(o, "# HELP authflow_http_request_duration_seconds HTTP request "
              "latency by method and route.\n"
              "# TYPE authflow_http_request_duration_seconds histogram\n");
  for (int r = 0; r < ROUTE_COUNT; r++)
    if (load(&http_latency[r].count) > 0) {
      char labels[96];
      snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"",
               route_id_method((route_id)r), route_template((route_id)r));
      emit_histogram(o, "authflow_http_request_duration_seconds", labels,
                     &http_latency[r]);
    }
}

/* CRM calls by operation and result, and their latency. */
static void render_crm_calls(buf *o) {
  static const char *const ops[2] = {"lookup", "verify"};
  buf_adds(o, "# HELP authflow_crm_requests_total CRM calls by operation and "
              "result.\n# TYPE authflow_crm_requests_total counter\n");
  for (int op = 0; op < 2; op++)
    for (int ok = 0; ok < 2; ok++)
      buf_addf(o,
               "authflow_crm_requests_total{operation=\"%s\",result=\"%s\"} "
               "%llu\n",
               ops[op], ok == 0 ? "ok" : "error",
               (unsigned long long)load(&crm_calls[op][ok]));
  buf_adds(o, "# HELP authflow_crm_request_duration_seconds CRM call latency.\n"
              "# TYPE authflow_crm_request_duration_seconds histogram\n");
  for (int op = 0; op < 2; op++) {
    char labels[32];
    snprintf(labels, sizeof labels, "operation=\"%s\"", ops[op]);
    emit_histogram(o, "authflow_crm_request_duration_seconds", labels,
                   &crm_latency[op]);
  }
  buf_adds(o, "# HELP authflow_crm_queue_wait_seconds Time each CRM attempt "
              "waited for a free connection (crm.maxConnections); 0 when "
              "one was free.\n"
              "# TYPE authflow_crm_queue_wait_seconds histogram\n");
  emit_histogram(o, "authflow_crm_queue_wait_seconds", NULL, &crm_queue_wait);
  buf_addf(o,
           "# HELP authflow_crm_queued_total CRM attempts that waited for a "
           "free connection.\n# TYPE authflow_crm_queued_total counter\n"
           "authflow_crm_queued_total %llu\n"
           "# HELP authflow_crm_queue_expired_total CRM calls whose budget "
           "ran out while they waited for a connection.\n"
           "# TYPE authflow_crm_queue_expired_total counter\n"
           "authflow_crm_queue_expired_total %llu\n"
           "# HELP authflow_crm_queue_length CRM calls waiting for a free "
           "connection now.\n# TYPE authflow_crm_queue_length gauge\n"
           "authflow_crm_queue_length %ld\n",
           (unsigned long long)load(&crm_queued),
           (unsigned long long)load(&crm_queue_expired),
           atomic_load(&crm_queue_length));
}

/* One limit-trip counter family, by scope. */
static void render_trips(buf *o, const char *name, const char *help,
                         _Atomic uint64_t *trips) {
  static const char *const scopes[METRICS_LIMIT_SCOPES] = {"global", "caller",
                                                           "withheld"};
  buf_addf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
  for (unsigned i = 0; i < METRICS_LIMIT_SCOPES; i++)
    buf_addf(o, "%s{scope=\"%s\"} %llu\n", name, scopes[i],
             (unsigned long long)load(&trips[i]));
}

/* Lockouts and failed-attempt limit trips (SPEC §6): for alerts. */
static void render_guessing(buf *o) {
  buf_addf(o,
           "# HELP authflow_lockouts_total Customers locked out after "
           "lockout.maxFailures failed verifications (each lockout once).\n"
           "# TYPE authflow_lockouts_total counter\n"
           "authflow_lockouts_total %llu\n"
           "# HELP authflow_verify_unanswered_total Verifications sent that "
           "got no HTTP answer (timeouts): counted for the customer, not "
           "toward any limit.\n"
           "# TYPE authflow_verify_unanswered_total counter\n"
           "authflow_verify_unanswered_total %llu\n",
           (unsigned long long)load(&lockouts),
           (unsigned long long)load(&verify_unanswered));
  render_trips(o, "authflow_verify_limit_trips_total",
               "Security answers that found a failed-verification limit "
               "reached: global (the service line, per minute), caller (one "
               "caller number) or withheld (all calls with no usable ANI).",
               limit_trips[0]);
  render_trips(o, "authflow_identify_limit_trips_total",
               "Identifiers held (to an agent, no CRM lookup) by a "
               "failed-identification limit: global (the service line, per "
               "minute), caller (one caller number) or withheld (all calls "
               "with no usable ANI).",
               limit_trips[1]);
}

/* The single-value counters and gauges: Redis errors, dropped report
 * events, and the CRM connector's breaker, retries, tokens, fast fails. */
static void render_counters(buf *o) {
  buf_addf(o,
           "# HELP authflow_redis_errors_total Redis calls that failed.\n"
           "# TYPE authflow_redis_errors_total counter\n"
           "authflow_redis_errors_total %llu\n",
           (unsigned long long)load(&redis_errors));
  buf_addf(o,
           "# HELP authflow_report_events_dropped_total Report events this "
           "process could not record (the caller's step still succeeded).\n"
           "# TYPE authflow_report_events_dropped_total counter\n"
           "authflow_report_events_dropped_total %llu\n",
           (unsigned long long)load(&report_dropped));
  buf_addf(o,
           "# HELP authflow_crm_breaker_state CRM circuit breaker: 0 closed, 1 "
           "open (failing fast), 2 half-open (probing).\n"
           "# TYPE authflow_crm_breaker_state gauge\n"
           "authflow_crm_breaker_state %ld\n"
           "# HELP authflow_crm_breaker_opens_total Times the CRM breaker "
           "opened.\n# TYPE authflow_crm_breaker_opens_total counter\n"
           "authflow_crm_breaker_opens_total %llu\n"
           "# HELP authflow_crm_retries_total CRM lookups retried.\n"
           "# TYPE authflow_crm_retries_total counter\n"
           "authflow_crm_retries_total %llu\n"
           "# HELP authflow_crm_token_fetches_total OAuth2 tokens fetched.\n"
           "# TYPE authflow_crm_token_fetches_total counter\n"
           "authflow_crm_token_fetches_total %llu\n"
           "# HELP authflow_crm_fast_failures_total CRM calls refused by the "
           "open breaker.\n# TYPE authflow_crm_fast_failures_total counter\n"
           "authflow_crm_fast_failures_total %llu\n",
           atomic_load(&crm_breaker),
           (unsigned long long)load(&crm_breaker_opens),
           (unsigned long long)load(&crm_events[0]),
           (unsigned long long)load(&crm_events[1]),
           (unsigned long long)load(&crm_events[2]));
}

/* Sessions started and completed, per service line. */
static void render_sessions(buf *o) {
  buf_adds(o, "# HELP authflow_sessions_started_total Sessions started by "
              "service line and identification method.\n"
              "# TYPE authflow_sessions_started_total counter\n");
  for (size_t l = 0; l < line_count; l++)
    for (int m = 0; m < METHOD_COUNT; m++)
      buf_addf(o,
               "authflow_sessions_started_total{service_line=\"%s\","
               "method=\"%s\"} %llu\n",
               line_names[l], flow_method_name((flow_method)m),
               (unsigned long long)load(&started[l][m]));
  buf_adds(o, "# HELP authflow_sessions_completed_total Sessions completed by "
              "service line and outcome.\n"
              "# TYPE authflow_sessions_completed_total counter\n");
  for (size_t l = 0; l < line_count; l++)
    for (int oc = 1; oc < OUTCOME_COUNT; oc++)
      buf_addf(o,
               "authflow_sessions_completed_total{service_line=\"%s\","
               "outcome=\"%s\"} %llu\n",
               line_names[l], flow_outcome_name((flow_outcome)oc),
               (unsigned long long)load(&completed[l][oc]));
}

/* Handoffs and links (SPEC §7). */
static void render_context(buf *o) {
  static const char *const results[METRICS_HANDOFF_RESULTS] = {
      "redeemed", "no_match", "invalid_input",
      "limited",  "disabled", "no_attempts"};
  buf_addf(o,
           "# HELP authflow_handoffs_created_total Handoff codes issued.\n"
           "# TYPE authflow_handoffs_created_total counter\n"
           "authflow_handoffs_created_total %llu\n"
           "# HELP authflow_handoff_redemptions_total Handoff codes keyed by "
           "callers, by result.\n"
           "# TYPE authflow_handoff_redemptions_total counter\n",
           (unsigned long long)load(&handoffs_created));
  for (int r = 0; r < METRICS_HANDOFF_RESULTS; r++)
    buf_addf(o, "authflow_handoff_redemptions_total{result=\"%s\"} %llu\n",
             results[r], (unsigned long long)load(&handoff_redemptions[r]));
  buf_addf(o,
           "# HELP authflow_handoff_limiter_trips_total Times failed "
           "redemptions reached the guess limit "
           "(handoff.maxFailedRedemptions).\n"
           "# TYPE authflow_handoff_limiter_trips_total counter\n"
           "authflow_handoff_limiter_trips_total %llu\n"
           "# HELP authflow_context_links_total Starts with a "
           "linkedConversationId, by what became of the link.\n"
           "# TYPE authflow_context_links_total counter\n",
           (unsigned long long)load(&handoff_trips));
  for (int v = FLOW_LINK_USED; v < LINK_VERDICTS; v++)
    buf_addf(o, "authflow_context_links_total{result=\"%s\"} %llu\n",
             flow_link_verdict_name((flow_link_verdict)v),
             (unsigned long long)load(&context_links[v]));
  static const char *const reasons[METRICS_HANDOFF_REFUSALS] = {
      "rate_limited", "live_cap", "phone_required"};
  buf_addf(o, "# HELP authflow_handoff_refused_total Handoff creations "
              "refused, by the limit that refused them.\n"
              "# TYPE authflow_handoff_refused_total counter\n");
  for (int r = 0; r < METRICS_HANDOFF_REFUSALS; r++)
    buf_addf(o, "authflow_handoff_refused_total{reason=\"%s\"} %llu\n",
             reasons[r], (unsigned long long)load(&handoff_refusals[r]));
}

static void render_deliveries(buf *o) {
  buf_adds(o, "# HELP authflow_report_deliveries_total Scheduled report "
              "mails by result: sent, retry (an attempt failed and will be "
              "tried again), refused (a permanent 5xx), failed (attempts "
              "used up).\n"
              "# TYPE authflow_report_deliveries_total counter\n");
  for (int r = 0; r < DELIVERY_RESULTS; r++)
    buf_addf(o, "authflow_report_deliveries_total{result=\"%s\"} %llu\n",
             delivery_results[r], (unsigned long long)load(&deliveries[r]));
}

buf_status metrics_render(buf *out) {
  buf_addf(out,
           "# HELP authflow_build_info Build information.\n"
           "# TYPE authflow_build_info gauge\n"
           "authflow_build_info{version=\"%s\"} 1\n",
           AUTHFLOW_VERSION);
  render_http(out);
  render_crm_calls(out);
  render_counters(out);
  render_guessing(out);
  render_sessions(out);
  render_context(out);
  render_deliveries(out);
  otp_metrics_render(out); /* one-time codes (SPEC §9) */
  return buf_state(out);
}
