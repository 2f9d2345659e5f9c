/*
 * limit_api: see limit_api.h.
 */
#include "limit_api.h"

#include "log.h"
#include "metrics.h"

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
  log_warn(identify ? "identification limit reached"
                    : "verification limit reached",
           LOG_STR("scope", name), LOG_BOOL("held", held),
           LOG_STR("conversationId", conversation_id));
}

void limit_api_completed(const flow_step *done) {
  if (done->lockout == FLOW_LOCKOUT_RECORD_UNANSWERED)
    metrics_verify_unanswered();
}
