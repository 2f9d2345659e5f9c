/*
 * limit_api: see limit_api.h.
 */
#include "limit_api.h"

#include <pthread.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"

/* While a shared limit holds, every step of every caller on the line
 * trips it: the warning is written for the first LIMIT_LOG_BURST of a
 * (kind, scope) per LIMIT_LOG_WINDOW_MS, and the next one written says how
 * many were left out ("suppressed"). The metric counts every one. */
#define LIMIT_LOG_BURST 10
#define LIMIT_LOG_WINDOW_MS 10000

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static ratelimit log_limit[2][METRICS_LIMIT_SCOPES];

flow_hold limit_api_hold(store_limit limit) {
  switch (limit) {
  case STORE_LIMIT_CALLER:
    return FLOW_HOLD_CALLER;
  case STORE_LIMIT_GLOBAL:
  case STORE_LIMIT_WITHHELD:
    return FLOW_HOLD_SHARED;
  case STORE_LIMIT_NONE:
    break;
  }
  return FLOW_HOLD_NONE;
}

void limit_api_note(const char *conversation_id, flow_event_kind kind,
                    store_limit limit, bool held) {
  metrics_limit_scope scope;
  const char *name;
  switch (limit) {
  case STORE_LIMIT_GLOBAL:
    scope = METRICS_LIMIT_GLOBAL;
    name = "global";
    break;
  case STORE_LIMIT_CALLER:
    scope = METRICS_LIMIT_CALLER;
    name = "caller";
    break;
  case STORE_LIMIT_WITHHELD:
    scope = METRICS_LIMIT_WITHHELD;
    name = "withheld";
    break;
  case STORE_LIMIT_NONE:
  default:
    return;
  }
  bool identify = kind == FLOW_EV_IDENTIFIER;
  metrics_limit_trip(identify, scope);
  long suppressed = 0;
  pthread_mutex_lock(&log_mutex);
  bool write =
      ratelimit_allow(&log_limit[identify ? 1 : 0][scope], api_now_ms(),
                      LIMIT_LOG_WINDOW_MS, LIMIT_LOG_BURST, &suppressed);
  pthread_mutex_unlock(&log_mutex);
  if (!write)
    return;
  log_warn(identify ? "identification limit reached"
                    : "verification limit reached",
           LOG_STR("scope", name), LOG_BOOL("held", held),
           LOG_STR("conversationId", conversation_id),
           LOG_INT("suppressed", suppressed));
}

void limit_api_completed(const flow_step *done) {
  if (done->lockout == FLOW_LOCKOUT_RECORD_UNANSWERED)
    metrics_verify_unanswered();
}
