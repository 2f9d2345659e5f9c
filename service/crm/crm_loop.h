/*
 * crm_loop: the CRM thread's event loop. curl's multi socket API runs on
 * an epoll set (CURLMOPT_SOCKETFUNCTION mirrors curl's interest in each
 * socket, CURLMOPT_TIMERFUNCTION its timer), and an eventfd in the same
 * set lets other threads wake the loop. One wake costs in proportion to
 * the sockets that are ready, not to the transfers in flight: with 1,000
 * callers waiting on a slow CRM, curl_multi_poll() and
 * curl_multi_perform() would walk all 1,000 on every answer (bench/).
 *
 * The loop also keeps the list of jobs on the multi handle. Finished easy
 * handles leave it, but their connections stay in the multi handle's
 * connection cache, so the next call to the same CRM reuses a kept-alive
 * connection. Everything here but crm_loop_wake runs on the CRM thread
 * (or before it starts / after it is joined).
 */
#ifndef AUTHFLOW_CRM_LOOP_H
#define AUTHFLOW_CRM_LOOP_H

#include <curl/curl.h>
#include <stdbool.h>

#include "crm_job.h"

/* Longest wait for events when nothing wakes the loop; curl's own timer
 * (timeouts, connect retries) and the caller's shorten it. */
#define CRM_LOOP_WAIT_MAX_MS 1000

/* Makes the epoll set, the eventfd and the multi handle (at most
 * max_connections per host and in its cache). False when any of them
 * cannot be made (nothing is left open). */
bool crm_loop_open(long max_connections);

/* Cleans up the multi handle (it may still report sockets), then closes
 * the epoll set and the eventfd. Safe when not open. */
void crm_loop_close(void);

/* The multi handle (for crm_job_end_attempt / crm_job_free). */
CURLM *crm_loop_multi(void);

/* Wakes the loop from any thread. Callers must know the loop is open
 * (crm_client holds its mutex across the check and the wake). */
void crm_loop_wake(void);

/* Puts j's attached easy handle on the multi handle and j on the active
 * list. False when curl refuses it (j is untouched). */
bool crm_loop_add(crm_job *j);

/* Waits up to wait_ms (less when curl's timer is due sooner) for a socket
 * or a wake, then lets curl act on what is ready and on its timer. */
void crm_loop_run_once(int wait_ms);

/* The next finished transfer, taken off the active list, with ok_io set
 * when it produced an HTTP answer; NULL when none is left. */
crm_job *crm_loop_next_done(bool *ok_io);

/* Takes any job off the active list (for stopping); NULL when empty. */
crm_job *crm_loop_take_active(void);

/* Milliseconds on the monotonic clock: the one time base of the CRM
 * thread's deadlines, timers, breaker and token expiry. */
double crm_loop_now_ms(void);

#endif
