/*
 * store_async_conn: the calling loop thread's non-blocking Redis
 * connection behind store_async.h (hiredis's async API on a `loop`), and
 * the operations queued on it.
 *
 * An operation (sa_op) holds its own copy of the command. Handed to
 * sa_issue(), it is sent at once when the connection is ready, waits for
 * it while it is being (re)made within the reconnect grace, or fails with
 * STORE_UNAVAILABLE from the loop (never inline) once Redis is down. Its
 * reply is read by store_reply_read() and its callback called exactly
 * once, on the loop thread (see the connection contract in
 * store_async.h).
 *
 * Internal to service/store: callers use store_async.h.
 */
#ifndef AUTHFLOW_STORE_ASYNC_CONN_H
#define AUTHFLOW_STORE_ASYNC_CONN_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "store_async_op.h"
#include "store_types.h"

/* Send op, queue it, or fail it from the loop (see above). */
void sa_issue(sa_op *op);

/* Complete op with status `st` and message `msg` from the loop, never
 * inline: for failures found before anything was sent. */
void sa_fail_later(sa_op *op, store_status st, const char *msg);

/* Complete op now: call its callback (if any) and free it. */
void sa_complete(sa_op *op);

/* Drop the current connection because reply text `why` says it is not
 * usable (READONLY, not a master, ...): it is remade. */
void sa_drop(const char *why);

/* store_async_attach() and store_async_detach() (store_async.h). */
bool sa_attach(loop *l, char *err, size_t err_len);
void sa_detach(void);

#endif
