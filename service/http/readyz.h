/*
 * readyz: GET /readyz answered from a short per-loop cache.
 *
 * /readyz needs no key, so anyone who reaches the port can send it. Each
 * answer used to cost a Redis round trip (PING); now each event loop keeps
 * the last answer for READYZ_CACHE_MS and asks Redis again only after
 * that, so a flood of /readyz costs Redis at most one PING per loop per
 * READYZ_CACHE_MS (about 10 commands a second per loop), however many
 * requests arrive. Requests that come while that loop's PING is in flight
 * wait for it and share its answer. The price: a Redis outage (or
 * recovery) shows in /readyz up to READYZ_CACHE_MS late, far below any
 * probe period.
 *
 * Loop-thread only: the cache is the calling loop thread's own.
 */
#ifndef AUTHFLOW_READYZ_H
#define AUTHFLOW_READYZ_H

#include "api.h"

/* How long a loop reuses its last readiness answer. */
#define READYZ_CACHE_MS 100

/*
 * Answer GET /readyz for `step` (api_handle has set step->resp, done and
 * done_ctx; draining is checked by the caller). Fills *step->resp and
 * returns API_RESPOND when this loop's answer is fresh; otherwise returns
 * API_PENDING and calls step->done(step->done_ctx) once a PING answered
 * (one PING per loop at a time, shared by every waiting request). `step`
 * must stay in place until then.
 */
api_status readyz_handle(api_step *step);

#endif
