/*
 * store_conn: the calling thread's Redis connection, and the commands run
 * on it.
 *
 * Each thread gets its own connection (thread-local), made lazily with the
 * configured timeouts, AUTH, SELECT and, with Sentinel, the current master
 * asked of the sentinels; every script is loaded on it at once. Before a
 * kept connection carries a command it is checked (one poll() that does
 * not wait): one the peer has closed since its last use is replaced, with
 * nothing sent on it and no backoff. After an
 * I/O error or timeout the connection is dropped (its state is unknown)
 * and for RECONNECT_BACKOFF_MS calls fail at once instead of each paying
 * the timeouts again. An error reply that says the node is no longer a
 * usable master (READONLY, LOADING, MASTERDOWN) drops it too.
 *
 * Every function that fails fills `err` and never logs. Replies returned
 * belong to the caller (freeReplyObject).
 *
 * Internal to service/store: callers use store.h.
 */
#ifndef AUTHFLOW_STORE_CONN_H
#define AUTHFLOW_STORE_CONN_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "store_call.h"
#include "store_script.h"

/* store_thread_cleanup() and store_ping() (store.h). */
void store_conn_thread_cleanup(void);
store_status store_conn_ping(char *err, size_t err_len);

/* This thread's connection, connecting first if needed; NULL (err filled)
 * when Redis cannot be reached or is in its reconnect backoff. The context
 * stays owned by this module: use it only until the next store_conn_* call
 * that can drop it. */
redisContext *store_conn_get(char *err, size_t err_len);

/* The connection returned by store_conn_get() failed an I/O (error or
 * timeout): fill err, drop it and start the reconnect backoff. */
void store_conn_broke(char *err, size_t err_len);

/*
 * Run script `id` with `nkeys` keys then `nargs` args (all NUL-terminated).
 * Returns the reply, an array whose first element is a string (the status
 * word), or NULL with err filled: Redis unreachable past the wait budget,
 * or an error reply. A script that writes gets its idempotency key (a
 * fresh token) as its last KEY, the same on every copy, so while there is
 * no usable connection (never made, closed, reset, timed out, READONLY,
 * LOADING, MASTERDOWN) the call waits and sends it again, every 50 ms and
 * at once after a close, until the outage is older than store_wait_ms():
 * a copy whose first ran gets the first one's answer (store_script.c).
 * An outage already older than that gets one try, no wait.
 */
redisReply *store_conn_script(store_script_id id, const char *const *keys,
                              int nkeys, const char *const *args, int nargs,
                              char *err, size_t err_len);

/* Run one plain command (argv NUL-terminated), one that only reads: sent
 * again as store_conn_script() sends a script. Returns the reply, never an
 * error reply, or NULL with err filled. */
redisReply *store_conn_command(int argc, const char **argv, char *err,
                               size_t err_len);

/*
 * Run call c, whose builder returned `built`, on this thread's blocking
 * connection (store_conn) and read its reply into *res (zeroed by the
 * caller, read by store_reply_read); a builder failure ends it there. A
 * begin that took a lock on a record it cannot read lets it go here. Copies
 * res->err to err when set (err may be NULL with err_len 0); returns
 * res->status.
 */
store_status store_conn_run(store_status built, store_call *c,
                            store_result *res, char *err, size_t err_len);

/* This thread's connection goes to the report target from now on (see
 * store_report_use_target in store_report.h). */
void store_conn_use_report_target(void);

#endif
