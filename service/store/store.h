/*
 * store: sessions in Redis (hiredis).
 *
 * Keys, under the configured prefix P:
 *   P session:{conversationId}  the flow_session as one packed string
 *                               (store_codec.h), with TTL; a hash written
 *                               by an older version is still read
 *   P lock:{conversationId}     step lock: random token, PX = lock_ms
 *   P lockout:{customerId}      failed verifications across calls, with
 *                               the lockout window (then the lockout's
 *                               length) as TTL
 *   P lockouts:{customerId}     how often that customer was locked out
 *                               (each lockout doubles, up to a cap)
 *   P limit:global:{line}       failed verifications on one service
 *                               line, all customers, in a minute from the
 *                               first
 *   P limit:caller:{aniHash}    failed verifications from one caller
 *                               number (keyed hash), in a window;
 *                               {aniHash} is "withheld" for every call
 *                               with no usable ANI (one shared bucket)
 *   P limit:idglobal:{line}     failed identifications on one service
 *                               line, in a minute from the first
 *   P limit:idcaller:{aniHash}  failed identifications from one caller
 *                               number (or "withheld"), in a window
 *   P deleted:{conversationId}  tombstone of a deleted session (no data)
 *   P handoff:code:{digest}     a live handoff (SPEC §7), keyed by the
 *                               HMAC of its code, with handoff.ttlSeconds
 *                               as TTL; the code itself is never stored
 *   P handoff:failures          failed redemptions across all sessions in
 *                               the current fixed window (the guess limit)
 *   P handoff:live              sorted set: the digest of every live code,
 *                               scored by its expiry (ms); the live cap
 *   P handoff:rate:{keyId}      creations by one handoff key in the current
 *                               fixed window (keyId: a keyed digest of the
 *                               key, never the key)
 *
 * Every operation is one Lua script (EVALSHA, loaded once per connection,
 * falling back to EVAL on NOSCRIPT), so a step costs two round trips: one
 * to lock and reserve, one to commit and unlock.
 *
 * Concurrency contract: a step holds the session's lock from
 * store_begin()/store_create() until store_commit()/store_release(). A
 * racing step gets STORE_BUSY. The attempt a step will spend is counted in
 * Redis inside store_begin(), before any CRM call, so no number of
 * parallel requests gets more CRM calls than the attempt limit.
 *
 * Threading: each thread that calls these functions gets its own
 * connection (thread-local), made lazily and remade after an error.
 *
 * Idempotency and waits: every script that writes carries a fresh token
 * per call and Redis applies a token once, keeping its answer (see
 * store_script_idempotent). So when Redis restarts, crashes or fails over,
 * or a reply is lost, a call waits and sends its command again within the
 * wait budget (store_config.wait_ms), and gets the answer the first copy
 * had: nothing is applied twice. Once Redis has been away longer than
 * that, calls try once (a reconnect at most every 100 ms) and fail with
 * STORE_UNAVAILABLE at once.
 *
 * Low-level module: it never logs. Failures are described in `err`.
 */
#ifndef AUTHFLOW_STORE_H
#define AUTHFLOW_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "flow.h"
#include "store_handoff.h"
#include "store_report.h"
#include "store_types.h"

/* Copy the configuration (call once, before any other thread uses the
 * store). */
void store_init(const store_config *cfg);

/* Close the calling thread's connection, if any. */
void store_thread_cleanup(void);

/* Fill `token` (STORE_TOKEN_MAX+1 bytes) with a fresh random lock token. */
void store_new_token(char *token, size_t token_len);

/*
 * Begin a START step. If the session exists: STORE_EXISTS with *existing
 * filled and no lock taken. If it was deleted within the session TTL:
 * STORE_DELETED (a tombstone; it may not start again). Otherwise take the
 * lock with `token`: STORE_OK (caller must later commit or release) or
 * STORE_BUSY.
 */
store_status store_create(const char *conversation_id, const char *token,
                          flow_session *existing, char *err, size_t err_len);

/*
 * store_create() for a START with a `linked_id` (NULL or "": none): the
 * same script also reads that session, never changing it. On STORE_OK
 * *link says whether it was found (and readable), holds it, and whether
 * its customer is locked out now (SPEC §7).
 */
store_status store_create_linked(const char *conversation_id, const char *token,
                                 const char *linked_id, flow_session *existing,
                                 flow_link *link, char *err, size_t err_len);

/*
 * Begin an IDENTIFIER/SECURITY/OPT_OUT step: take the lock, check the state
 * is in `allowed_states` (mask of 1u << flow_state), and, when `counter` is
 * FLOW_COUNTER_IDENTIFY or FLOW_COUNTER_VERIFY, increment that attempt
 * counter in Redis.
 * *out is the session after the increment. *customer_locked is set when the
 * session's customer has reached the lockout threshold. For a verify
 * attempt on a customer not locked, one lockout failure is counted now,
 * before the CRM is asked; store_commit() keeps it (RECORD_FAILURE), clears
 * the counter (CLEAR) or gives it back (NONE). A step that never commits
 * leaves it counted, which errs on the safe side. The caller's failure
 * counter (its number's, or the shared one of calls with no usable ANI)
 * is reserved the same way; the line's is counted at commit only.
 * *limit names a limit found reached (flow.h, flow_hold): for a verify, a
 * number at its own limit reserves nothing (the step completes locked);
 * the line's or the withheld bucket's limit reserves as usual and lets the
 * flow decide (a caller identified by their number on file is still
 * verified). With FLOW_COUNTER_IDENTIFIER the failed-identification
 * limits are checked the same way (any one reached: nothing reserved) and
 * the caller's counter reserved; commit keeps it for
 * FLOW_LOCKOUT_IDENTIFY_FAILURE and gives it back otherwise.
 * STORE_OK: lock held. STORE_WRONG_STATE: *out filled, no lock held, no
 * increment. STORE_NOT_FOUND / STORE_BUSY / STORE_UNAVAILABLE / CORRUPT.
 */
store_status store_begin(const char *conversation_id, const char *token,
                         unsigned allowed_states, flow_attempt_counter counter,
                         flow_session *out, bool *customer_locked,
                         store_limit *limit, char *err, size_t err_len);

/*
 * Write `session` (the whole value, TTL refreshed), apply `lockout` to the
 * session's customer's counter, and release the lock — atomically, only if
 * we still hold the lock (else STORE_LOCK_LOST, nothing written).
 * With check_lockout, if the customer is at or over the threshold, nothing
 * is written, the lock stays held and STORE_CUSTOMER_LOCKED is returned.
 */
store_status store_commit(const flow_session *session, const char *token,
                          flow_lockout_effect lockout, bool check_lockout,
                          char *err, size_t err_len);

/*
 * store_commit(), plus the report data of `rec` (NULL: none), recorded in
 * the same script after the session is written: the hour counters and,
 * when rec->event_count > 0, one stream event. Recording failures (e.g. a
 * report key of the wrong type) never fail the commit: they are counted in
 * "<prefix>report:dropped" and *dropped (may be NULL) is set to true.
 * *lockout_level (may be NULL) is set to the customer's lockout count when
 * this commit's failure started a lockout, else 0.
 */
store_status store_commit_report(const flow_session *session, const char *token,
                                 flow_lockout_effect lockout,
                                 bool check_lockout, const report_record *rec,
                                 bool *dropped, int *lockout_level, char *err,
                                 size_t err_len);

/* Release the lock without writing (error paths). */
store_status store_release(const char *conversation_id, const char *token,
                           char *err, size_t err_len);

/* Read a session without locking. */
store_status store_get(const char *conversation_id, flow_session *out,
                       char *err, size_t err_len);

/* Delete the session and its lock, leaving a tombstone for the session TTL
 * (see store_create). STORE_NOT_FOUND if it did not exist. */
store_status store_delete(const char *conversation_id, char *err,
                          size_t err_len);

/* Whether this thread can use the store now, with the configured
 * timeouts: PING, or with Sentinel ROLE, which must say master (a demoted
 * master still answers PING but refuses every write). A kept connection
 * found closed (before or while asking) or no longer a master is replaced
 * and asked once more, so a connection left over from before a restart or
 * a failover does not make a healthy store look down. STORE_OK or
 * STORE_UNAVAILABLE (err filled). */
store_status store_ping(char *err, size_t err_len);

#endif
