/*
 * store_async_op: one operation of the loop store (store_async.h) as
 * data: its own copy of the command, ready for hiredis, with the
 * idempotency key a script that writes carries on every copy, its
 * give_up time and its callback; and the lists an op waits in on its
 * connection (store_async_conn).
 *
 * Internal to service/store: callers use store_async.h.
 */
#ifndef AUTHFLOW_STORE_ASYNC_OP_H
#define AUTHFLOW_STORE_ASYNC_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "store_call.h"
#include "store_types.h"

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

/* A FIFO of ops linked through their `next`. */
typedef struct {
  sa_op *head, *tail;
} sa_op_list;

/* Append op to q. */
void sa_list_push(sa_op_list *q, sa_op *op);

/* Take q's first op (NULL when empty). */
sa_op *sa_list_pop(sa_op_list *q);

/* Remove op from q (replies come in order: it is nearly always the
 * head). */
void sa_list_remove(sa_op_list *q, const sa_op *op);

#endif
