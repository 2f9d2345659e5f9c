/*
 * crm_breaker: the CRM client's one circuit breaker, shared by every loop
 * instance (thread-safe). After breaker_failures consecutive failed calls
 * (on any loops) it opens: calls fail at once for breaker_open_ms; then
 * one probe call is let through (half-open), whose success closes it and
 * whose failure opens it again. breaker_failures <= 0: no breaker.
 *
 * Transitions are reported (CRM_EVENT_BREAKER) under the breaker's lock,
 * so the reports come in the order of the transitions: the last one is the
 * state.
 */
#ifndef AUTHFLOW_CRM_BREAKER_H
#define AUTHFLOW_CRM_BREAKER_H

#include <stdbool.h>

#include "crm.h"
#include "crm_client.h"

/* Closes the breaker and sets its profile (borrowed until the next start)
 * and event sink (may be NULL). Not while calls run. */
void crm_breaker_start(const crm_profile *p,
                       void (*on_event)(crm_client_event event, long value));

/* Whether a new call may go out now; *probe is set when it is the
 * half-open breaker's probe (report its end with crm_breaker_record or
 * crm_breaker_forget). False: refused, the caller fails it at once. */
bool crm_breaker_admit(bool *probe);

/* A call's final outcome (it reached the CRM, or tried to). */
void crm_breaker_record(bool probe, bool ok);

/* A call that ends without counting (stopping): a probe frees its place. */
void crm_breaker_forget(bool probe);

/* The breaker is open and its openMs has not run out. Any thread. */
bool crm_breaker_known_down(void);

#endif
