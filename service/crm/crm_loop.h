/*
 * crm_loop: one curl multi handle driven by a service/loop event loop.
 * curl's multi socket API mirrors its interest in each socket as a
 * loop_io watcher (CURLMOPT_SOCKETFUNCTION) and its timer as a loop_timer
 * (CURLMOPT_TIMERFUNCTION), so a wake costs in proportion to the sockets
 * that are ready, not to the transfers in flight (with 1,000 callers on a
 * slow CRM, curl_multi_poll() would walk all 1,000 on every answer).
 *
 * After curl has acted on a socket or its timer, every finished transfer
 * is handed to the `done` callback, outside any curl callback: it may add
 * and remove easy handles. Finished handles leave the multi handle but
 * their connections stay in its cache, so the next call to the same CRM
 * reuses a kept-alive connection.
 *
 * Everything here runs on the loop's thread (or before it starts).
 */
#ifndef AUTHFLOW_CRM_LOOP_H
#define AUTHFLOW_CRM_LOOP_H

#include <curl/curl.h>
#include <stdbool.h>

#include "crm_job.h"
#include "loop.h"

typedef struct crm_loop crm_loop;

/* A finished transfer of j (ok_io: it produced an HTTP answer; j->curl_rc
 * holds curl's result). j's handle is still on the multi handle. */
typedef void (*crm_loop_done_fn)(void *ctx, crm_job *j, bool ok_io);

/* A multi handle on l using at most max_connections to the CRM host at
 * once and keeping at most max_idle alive after use, or NULL when it
 * cannot be made. */
crm_loop *crm_loop_open(loop *l, long max_connections, long max_idle,
                        crm_loop_done_fn done, void *ctx);

/* Cleans up the multi handle (every easy handle must have left it) and
 * stops and frees its watchers and timer. Safe with NULL. */
void crm_loop_close(crm_loop *cl);

/* The multi handle (for crm_job_end_attempt / crm_job_free). */
CURLM *crm_loop_multi(const crm_loop *cl);

/* Puts j's attached easy handle on the multi handle. False when curl
 * refuses it (j is untouched). */
bool crm_loop_add(crm_loop *cl, crm_job *j);

/* Milliseconds on the monotonic clock (sub-millisecond precision): the one
 * time base of the client's deadlines, breaker and token expiry. */
double crm_loop_now_ms(void);

#endif
