/*
 * limit_api: the failed-attempt limits at the API edge. The store checks
 * them when it reserves an identifier or security step and names the one
 * it found reached (store_limit); this module turns that into what the
 * flow does with the step (flow_hold), and records it: a metric by scope
 * and a warning, so an operator sees a limit trip before callers report
 * it (SECURITY.md lists each limit, its default and its metric).
 */
#ifndef AUTHFLOW_LIMIT_API_H
#define AUTHFLOW_LIMIT_API_H

#include <stdbool.h>

#include "flow.h"
#include "store.h"

/* The hold a limit means: the caller's own number holds the step as the
 * caller's failure would; a shared limit (the line's, or the bucket of
 * calls with no usable ANI) holds it as a CRM that cannot be asked. */
flow_hold limit_api_hold(store_limit limit);

/*
 * A step of `kind` (IDENTIFIER or SECURITY) found `limit` reached: count
 * it (authflow_identify_limit_trips_total or
 * authflow_verify_limit_trips_total, by scope) and warn with the scope and
 * whether the step was held (false: a caller identified by their number
 * on file was still verified under a shared limit); the warnings are
 * rate-limited per kind and scope, the count is not. Nothing for
 * STORE_LIMIT_NONE. Thread-safe.
 */
void limit_api_note(const char *conversation_id, flow_event_kind kind,
                    store_limit limit, bool held);

/* A step's CRM answer was applied: a verification that got no HTTP answer
 * is counted (authflow_verify_unanswered_total). */
void limit_api_completed(const flow_step *done);

#endif
