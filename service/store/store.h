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
 *   P limit:global              failed verifications, all customers, in
 *                               a minute from the first
 *   P limit:caller:{aniHash}    failed verifications from one caller
 *                               number (keyed hash), in a window
 *   P deleted:{conversationId}  tombstone of a deleted session (no data)
 *   P handoff:code:{digest}     a live handoff (SPEC §7), keyed by the
 *                               HMAC of its code, with handoff.ttlSeconds
 *                               as TTL; the code itself is never stored
 *   P handoff:failures          failed redemptions across all sessions in
 *                               the current fixed window (the guess limit)
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
 * connection (thread-local), made lazily and remade after an error. While
 * Redis is down a reconnect is tried at most every 100 ms; calls in between
 * fail at once with STORE_UNAVAILABLE. Connect and command timeouts bound
 * every call, so a dead Redis costs at most connect+command timeout.
 *
 * Low-level module: it never logs. Failures are described in `err`.
 */
#ifndef AUTHFLOW_STORE_H
#define AUTHFLOW_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "flow.h"
#include "report.h"
#include "sentinel.h"

#define STORE_TOKEN_MAX 40
#define STORE_ERR_MAX 200

typedef struct {
  char host[256];
  int port;
  char password[256]; /* "" for none */
  int db;
  char key_prefix[64];
  int session_ttl_seconds;
  int lock_ms; /* must exceed the longest step (CRM budget + margin) */
  int connect_timeout_ms;
  int command_timeout_ms;
  int lockout_max_failures;
  int lockout_window_seconds;           /* the first lockout's length */
  int lockout_failure_memory_seconds;   /* failures count this long */
  int lockout_max_lock_seconds;         /* escalation cap */
  int lockout_escalation_reset_seconds; /* lockout count kept this long */
  int global_max_failures_per_minute;   /* 0 = off */
  int caller_max_failures;              /* 0 = off */
  int caller_window_seconds;
  /* Redis Sentinel: when sentinel_count > 0, host/port above are ignored
   * and the master of `master_name` is asked of the sentinels at every
   * (re)connect; the node reached must report ROLE master. */
  sentinel_addr sentinels[SENTINEL_MAX];
  size_t sentinel_count;
  char master_name[128];
  /* With sentinels: how long an operation that found no usable master
   * keeps re-asking the sentinels and retrying, so a step in flight during
   * a failover completes on the promoted replica instead of failing. A
   * script that was sent and whose reply was lost is never run again (it
   * may have run): that step fails as unavailable. */
  int failover_wait_ms;
  /* Reporting (see report.h): the event stream is trimmed to about
   * report_stream_max_len entries and report_stream_max_age_seconds; the
   * hour counters expire report_counter_ttl_seconds after their last
   * update. */
  long report_stream_max_len;
  long report_stream_max_age_seconds;
  long report_counter_ttl_seconds;
  /* Where report reads go (store_conn_use_report_target): report_host
   * "" = the primary like everything else; with report_sentinel_replica, a
   * replica of master_name that the sentinels name at each connect. */
  char report_host[256];
  int report_port;
  char report_password[256];
  int report_db;
  bool report_sentinel_replica;
  /* Handoff guess limit: at most handoff_max_failures failed redemptions
   * across all sessions per window of handoff_failure_window_seconds. */
  int handoff_max_failures;
  int handoff_failure_window_seconds;
} store_config;

typedef enum {
  STORE_OK = 0,
  STORE_EXISTS,          /* store_create: session already there */
  STORE_NOT_FOUND,       /* no such session */
  STORE_BUSY,            /* another step holds the lock */
  STORE_WRONG_STATE,     /* state not in the allowed mask; *out filled */
  STORE_LOCK_LOST,       /* commit/release: our lock expired or was taken */
  STORE_CUSTOMER_LOCKED, /* commit with check_lockout: nothing written */
  STORE_UNAVAILABLE,     /* Redis down, timed out, or answered an error */
  STORE_CORRUPT,         /* the stored session could not be decoded */
  STORE_DELETED,         /* store_create: deleted within the session TTL */
} store_status;

/* Copy the configuration (call once, before any other thread uses the
 * store). */
void store_init(const store_config *cfg);

/* Close the calling thread's connection, if any. */
void store_thread_cleanup(void);

/* Fill `token` (STORE_TOKEN_MAX+1 bytes) with a fresh random lock token. */
void store_new_token(char *token, size_t token_len);

/* Which failed-verification limit held a verify step (store_begin). */
typedef enum {
  STORE_LIMIT_NONE = 0,
  STORE_LIMIT_GLOBAL, /* all customers, per minute */
  STORE_LIMIT_CALLER, /* one caller number */
} store_limit;

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
 * Store a handoff under `digest` (hex HMAC of its code) for ttl_seconds:
 * h's customer, name, verified flag, channel and created_ms, plus the
 * service line and number digest it is bound to ("" or NULL: any).
 * STORE_EXISTS when that digest is already live (draw another code).
 */
store_status store_handoff_put(const char *digest, const flow_handoff *h,
                               const char *service_line,
                               const char *number_digest, int ttl_seconds,
                               char *err, size_t err_len);

typedef enum {
  STORE_HANDOFF_REDEEMED = 0, /* *out filled; the handoff is gone */
  STORE_HANDOFF_NO_MATCH,     /* a failed redemption, counted */
  STORE_HANDOFF_TRIPPED,      /* the same, and it reached the guess limit */
  STORE_HANDOFF_LIMITED,      /* at the limit: not looked at, not counted */
} store_handoff_result;

/*
 * Redeem the handoff under `digest` for a session on `service_line` whose
 * number digest is `number_digest` ("" or NULL: no usable ANI), in one
 * script: the guess limit first, then the handoff is read and deleted if
 * its line and number fit. Exactly one of any number of racing calls for
 * one handoff gets STORE_HANDOFF_REDEEMED. STORE_OK with *result, or
 * STORE_UNAVAILABLE.
 */
store_status store_handoff_take(const char *digest, const char *service_line,
                                const char *number_digest, flow_handoff *out,
                                store_handoff_result *result, char *err,
                                size_t err_len);

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
 * leaves it counted, which errs on the safe side. The global and
 * per-caller failure counters are reserved the same way; when a verify
 * finds either at its limit, *customer_locked is set (the step completes
 * as locked, nothing is reserved) and *limit names it.
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

/* Called for every integer field of an hour hash; hour_index indexes the
 * `hours` array passed to store_report_hours(). */
typedef void (*store_hour_field_fn)(void *user, size_t hour_index,
                                    const char *field, long long value);

/*
 * Read the hour counter hashes named by hours[0..n) ("yyyymmddhh"),
 * pipelined; a missing hash has no fields. Fields whose value is not an
 * integer are skipped.
 */
store_status store_report_hours(const char (*hours)[REPORT_HOUR_LEN + 1],
                                size_t n, store_hour_field_fn on_field,
                                void *user, char *err, size_t err_len);

/* One stream entry: `id` and its field names and values (n of each). */
typedef void (*store_event_fn)(void *user, const char *id, size_t n,
                               const char *const *names,
                               const char *const *values);

/*
 * XREVRANGE over the event stream from `end` down to `start` (stream IDs or
 * "+", "-", "(" for exclusive), at most `count` entries, newest first.
 * *returned gets how many entries were read.
 */
store_status store_report_events(const char *end, const char *start,
                                 size_t count, store_event_fn on_event,
                                 void *user, size_t *returned, char *err,
                                 size_t err_len);

/* From now on this thread's blocking connection reads reports from the
 * report target (store_config.report_host or a Sentinel replica) instead
 * of the primary; nothing changes when none is configured. Only for a
 * thread that runs nothing but report reads (a replica refuses writes and
 * holds no scripts). */
void store_conn_use_report_target(void);

/* Report filter indexes (see report.h): `kind` is "o" (outcome), "l"
 * (service line) or "c" (channel), `value` the filter's value. */
#define STORE_STREAM_ID_MAX 47

/* XLEN of one index (0 when absent). */
store_status store_report_index_len(const char *kind, const char *value,
                                    long long *out, char *err, size_t err_len);

/* Up to `count` IDs of one index, newest first, from `end` down to
 * `start` (XREVRANGE bounds, "(" for exclusive); *n gets how many. */
store_status store_report_index_ids(const char *kind, const char *value,
                                    const char *end, const char *start,
                                    size_t count,
                                    char (*ids)[STORE_STREAM_ID_MAX + 1],
                                    size_t *n, char *err, size_t err_len);

/* The events with IDs ids[0..n) (pipelined XRANGE id id), in that order,
 * to on_event; an ID no longer in the stream (trimmed) is skipped. */
store_status store_report_events_at(const char (*ids)[STORE_STREAM_ID_MAX + 1],
                                    size_t n, store_event_fn on_event,
                                    void *user, char *err, size_t err_len);

/* The first event ID the indexes hold ("" when nothing was indexed yet):
 * events before it are in no index. */
store_status store_report_index_since(char *out, size_t out_len, char *err,
                                      size_t err_len);

/* The ID of the stream's oldest event into out ("" when the stream is
 * empty or absent): XRANGE - + COUNT 1. */
store_status store_report_first_event(char *out, size_t out_len, char *err,
                                      size_t err_len);

/* The "<prefix>report:dropped" counter (0 when absent). */
store_status store_report_dropped(long long *out, char *err, size_t err_len);

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

/* Static name of a status, for logs. */
const char *store_status_name(store_status s);

#endif
