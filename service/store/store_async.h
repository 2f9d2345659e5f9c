/*
 * store_async: the session store's operations for event-loop threads
 * (see loop.h): the same Lua scripts, keys and replies as store.h, sent on
 * the calling loop's own non-blocking Redis connection (hiredis's async
 * API, driven by the loop's epoll set and timers). A caller's step never
 * blocks on Redis: it issues an operation and is called back.
 *
 * Callback contract: every operation calls `done(ctx, out)` exactly once,
 * on the calling loop's thread, never before the operation function has
 * returned (a failure found at once is still reported from the loop). The
 * arguments are copied when the operation is called; `out` is the caller's
 * and must stay valid until the callback. The fields of *out that an
 * operation does not name are left zeroed.
 *
 * Connection contract (per loop):
 *   - Connected at store_async_attach() (non-blocking); AUTH and SELECT go
 *     first. Scripts go as EVALSHA; a NOSCRIPT answer (nothing ran) is
 *     resent as EVAL.
 *   - Idempotent: every script that writes carries an idempotency key,
 *     a fresh token per operation, the same on every copy of it (see
 *     store_script_idempotent). Redis applies a token once and keeps its
 *     answer, so an operation whose connection broke after it was written,
 *     or whose reply did not come within commandTimeoutMs, is sent again
 *     on the next connection and gets the answer the first copy had:
 *     nothing (attempt, lockout or limit counter, report event or counter,
 *     handoff redemption) is applied twice.
 *   - Each operation has a `give_up` time (loop_now_ms() clock; 0 means
 *     connectTimeoutMs from now): until then it waits for a connection
 *     being (re)made and is sent again after a lost reply; after it, it
 *     fails with STORE_UNAVAILABLE. The caller passes its step's budget,
 *     so a Redis restart, crash or failover shorter than that costs no
 *     caller a failed step, and no loop is blocked meanwhile.
 *   - Once Redis has been away longer than the wait budget (store_config
 *     wait_ms, see store_wait_ms) operations fail at once with
 *     STORE_UNAVAILABLE (a fast 503) while a reconnect is retried in the
 *     background every 100 ms.
 *   - A command with no answer after commandTimeoutMs remakes the
 *     connection (it and the others in flight are sent again there).
 *   - With Sentinel, the master's address is asked of the sentinels off
 *     the loop (a resolver thread posts it back) and the node reached must
 *     answer ROLE master before any operation is sent to it.
 *
 * Exceptions: when memory runs out while an operation is being started,
 * its callback is called at once (STORE_UNAVAILABLE); an operation on a
 * thread that never attached completes at once the same way.
 *
 * Low-level module: it never logs. Failures are described in out->err.
 */
#ifndef AUTHFLOW_STORE_ASYNC_H
#define AUTHFLOW_STORE_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow.h"
#include "loop.h"
#include "report.h"
#include "store_types.h"

/* Makes the calling loop thread's connection (store_init first). False
 * with err filled only when out of memory: an unreachable Redis is not an
 * error here (operations wait for it or fail, as above). */
bool store_async_attach(loop *l, char *err, size_t err_len);

/* Closes the calling thread's connection: operations still waiting or in
 * flight complete with STORE_UNAVAILABLE before it returns (so do any
 * their callbacks issue). Call it from the loop thread but not from inside
 * a store callback (e.g. from a loop task, or after loop_run returned). A
 * Sentinel lookup in progress is waited for (at most the sentinels'
 * connect timeouts). */
void store_async_detach(void);

/* store_create_linked() (store.h): session, link. */
void store_create_async(const char *conversation_id, const char *token,
                        const char *linked_id, int64_t give_up,
                        store_result *out, store_done_fn done, void *ctx);

/* store_begin(): session, customer_locked, limit. */
void store_begin_async(const char *conversation_id, const char *token,
                       unsigned allowed_states, flow_attempt_counter counter,
                       int64_t give_up, store_result *out, store_done_fn done,
                       void *ctx);

/* The send limits of a one-time code (store_otp.c): STORE_OK with
 * out->otp_send telling whether a code may go to this customer and phone
 * (counted on both when it may). */
typedef enum {
  STORE_OTP_SEND_OK = 0,
  STORE_OTP_SEND_LOCKED,         /* the customer is locked out */
  STORE_OTP_SEND_CUSTOMER_LIMIT, /* otp.maxSendsPerCustomerPerDay */
  STORE_OTP_SEND_PHONE_LIMIT,    /* otp.maxSendsPerPhonePerHour */
} store_otp_verdict;
void store_otp_send_async(const char *customer_id, const char *phone_hash,
                          int per_customer, int per_phone, int64_t give_up,
                          store_result *out, store_done_fn done, void *ctx);

/* store_handoff_take(): taken, handoff. */
void store_handoff_take_async(const char *digest, const char *service_line,
                              const char *number_digest, int64_t give_up,
                              store_result *out, store_done_fn done, void *ctx);

/* store_commit_report() (rec may be NULL): dropped, lockout_level. */
void store_commit_async(const flow_session *session, const char *token,
                        flow_lockout_effect lockout, bool check_lockout,
                        const report_record *rec, int64_t give_up,
                        store_result *out, store_done_fn done, void *ctx);

/* store_release() with nobody waiting for the answer (error paths: the
 * lock expires by itself if this is lost). */
void store_release_async(const char *conversation_id, const char *token);

/* store_get(): session. */
void store_get_async(const char *conversation_id, int64_t give_up,
                     store_result *out, store_done_fn done, void *ctx);

/* store_delete(). */
void store_delete_async(const char *conversation_id, int64_t give_up,
                        store_result *out, store_done_fn done, void *ctx);

/* store_ping() on this loop's connection (PING, or ROLE with Sentinel);
 * it waits for a connection at most connectTimeoutMs. */
void store_ping_async(store_result *out, store_done_fn done, void *ctx);

#endif
