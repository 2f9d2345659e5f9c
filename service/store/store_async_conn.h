/*
 * store_async_conn: the calling loop thread's non-blocking Redis
 * connection behind store_async.h (hiredis's async API on a `loop`), and
 * the operations queued on it.
 *
 * An operation (sa_op) holds its own copy of the command. Handed to
 * sa_issue(), it is sent at once when the connection is ready, waits for
 * it while it is being (re)made within the reconnect grace, or fails with
 * STORE_UNAVAILABLE from the loop (never inline) once Redis is down. Its
 * reply is read by sa_read_reply() (store_async.c) and its callback called
 * exactly once, on the loop thread (see the connection contract in
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

#include "store_async.h"
#include "store_call.h"

typedef enum {
  SA_OP_SCRIPT = 0, /* EVALSHA (EVAL after NOSCRIPT) of a store_call */
  SA_OP_PING,       /* PING, or ROLE with Sentinel */
} sa_op_kind;

/* Slots before a script op's keys: command, SHA or source, numkeys. */
#define SA_SCRIPT_PREFIX 3

typedef struct sa_op {
  struct sa_op *next;
  sa_op_kind kind;
  store_script_id script;
  store_read_kind read;
  bool want_link;
  int tries;      /* how many times it was sent */
  bool evaled;    /* NOSCRIPT: sent as EVAL */
  bool timed_out; /* the command timeout fired on it */
  int nkeys;
  int argc;          /* argv[0 .. argc): the command as sent */
  const char **argv; /* owned copies (the prefix slots excepted) */
  size_t *lens;
  char numkeys[16];
  uint64_t end;     /* byte offset on its connection where it ends */
  int64_t deadline; /* loop_now_ms() of its command timeout */
  int64_t give_up;  /* loop_now_ms() after which it waits no more */
  store_result *out;
  store_done_fn done; /* NULL: nobody waits (release) */
  void *ctx;
} sa_op;

/* A new op for call c (NULL: a plain PING/ROLE), or NULL when out of
 * memory. With out NULL the op gets a result of its own (nobody reads
 * it). A script that writes (store_script_idempotent) gets its
 * idempotency key, a fresh token, as its last KEY: every copy of the op
 * sends the same. `give_up` is the loop time after which it no longer
 * waits for a connection or is sent again (0: connectTimeoutMs from
 * now). */
sa_op *sa_op_new(const store_call *c, int64_t give_up, store_result *out,
                 store_done_fn done, void *ctx);

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

/* Read the reply r of an op that was answered with anything but an error
 * reply into op->out (store_async.c). */
void sa_read_reply(sa_op *op, const redisReply *r);

#endif
