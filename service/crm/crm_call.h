/*
 * crm_call: the life of CRM calls on one loop instance, from admission to
 * callback. Admission through the shared breaker, the wait for the shared
 * OAuth2 token, the process-wide connection gate, each attempt's launch,
 * what an ended transfer means (401 retry, lookup retry with jitter,
 * completion), and the timers that bound every wait by the call's budget.
 * See crm_client.h for the contract these keep.
 *
 * Everything here runs on the instance's loop thread.
 */
#ifndef AUTHFLOW_CRM_CALL_H
#define AUTHFLOW_CRM_CALL_H

#include <stdbool.h>

#include "crm_inst.h"
#include "crm_job.h"

/* A submitted call joins the instance: admitted now, or (defer) from a
 * zero-delay timer, so its callback never runs inside the submit. */
/* False (the job is not taken) only when out of memory. */
bool crm_call_enter(crm_inst *in, crm_job *j, bool defer);

/* Ends a call that never joined an instance (callback, then freed). */
void crm_call_fail_alone(crm_job *j, crm_fail_reason reason);

/* crm_loop's done callback (ctx: the instance). */
void crm_call_transfer_done(void *ctx, crm_job *j, bool ok_io);

/* Mail: the gate granted connections to the instance's waiting calls. */
void crm_call_granted(crm_inst *in);

/* Mail: the token fetch the instance's waiting calls wait for ended. */
void crm_call_token_news(crm_inst *in, crm_token_news news);

/* Detaching: the instance leaves the gate and the token fetch, and every
 * call it still runs ends with CRM_FAIL_STOPPING (callbacks run now). A
 * call whose request already went out (crm_job_sent) ends with `sent`
 * true: the CRM may have counted it, so it is never given back. */
void crm_call_stop_all(crm_inst *in);

#endif
