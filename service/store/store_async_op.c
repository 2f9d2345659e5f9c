/*
 * store_async_op: an operation of the loop store as data: its own copy of
 * the command (the idempotency key added), and the lists it waits in. See
 * store_async_op.h.
 */
#include "store_async_op.h"
#include "decimal.h"

#include "entropy.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sa_op *sa_op_new(const store_call *c, int64_t give_up, store_result *out,
                 store_done_fn done, void *ctx) {
  const char *ping[] = {store_cfg()->sentinel_count > 0 ? "ROLE" : "PING"};
  const char *src[STORE_CALL_ARGV_MAX + 1];
  char idem[STORE_KEY_MAX] = "", token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  int n = 1, prefix = 0, nkeys = 0;
  if (!c) {
    src[0] = ping[0];
  } else {
    prefix = SA_SCRIPT_PREFIX;
    nkeys = c->nkeys;
    n = 0;
    for (int i = 0; i < c->nkeys; i++)
      src[n++] = c->argv[i];
    if (store_script_idempotent(c->script)) {
      entropy_hex(token, sizeof token, 16);
      if (!store_key(idem, sizeof idem, "idem", token, err, sizeof err))
        return NULL; /* cannot happen: the prefix is under 64 bytes */
      src[n++] = idem;
      nkeys++;
    }
    for (int i = c->nkeys; i < c->argc; i++)
      src[n++] = c->argv[i];
  }
  size_t text = 0;
  for (int i = 0; i < n; i++)
    text += strlen(src[i]) + 1;
  size_t slots = (size_t)prefix + (size_t)n;
  size_t own = out ? 0 : sizeof(store_result);
  sa_op *op = calloc(1, sizeof *op + own +
                            slots * (sizeof(char *) + sizeof(size_t)) + text);
  if (!op)
    return NULL;
  char *p = (char *)(op + 1);
  op->out = out ? out : (store_result *)p;
  p += own;
  op->argv = (const char **)(void *)p;
  op->lens = (size_t *)(void *)(p + slots * sizeof(char *));
  char *t = p + slots * (sizeof(char *) + sizeof(size_t));
  for (int i = 0; i < n; i++) {
    size_t len = strlen(src[i]);
    memcpy(t, src[i], len + 1);
    op->argv[prefix + i] = t;
    op->lens[prefix + i] = len;
    t += len + 1;
  }
  op->argc = prefix + n;
  op->kind = c ? SA_OP_SCRIPT : SA_OP_PING;
  if (c) {
    op->script = c->script;
    op->read = c->read;
    op->want_link = c->want_link;
    op->nkeys = nkeys;
    op->argv[2] = op->numkeys;
    op->lens[2] = decimal_format(op->numkeys, nkeys);
  }
  op->give_up =
      give_up > 0 ? give_up : loop_now_ms() + store_cfg()->connect_timeout_ms;
  op->done = done;
  op->ctx = ctx;
  return op;
}

void sa_list_push(sa_op_list *q, sa_op *op) {
  op->next = NULL;
  if (q->tail)
    q->tail->next = op;
  else
    q->head = op;
  q->tail = op;
}

sa_op *sa_list_pop(sa_op_list *q) {
  sa_op *op = q->head;
  if (op) {
    q->head = op->next;
    if (!q->head)
      q->tail = NULL;
    op->next = NULL;
  }
  return op;
}

/* Remove op from q (replies come in order: it is nearly always the
 * head). */
void sa_list_remove(sa_op_list *q, const sa_op *op) {
  sa_op *prev = NULL;
  for (sa_op *o = q->head; o; prev = o, o = o->next) {
    if (o != op)
      continue;
    if (prev)
      prev->next = o->next;
    else
      q->head = o->next;
    if (q->tail == o)
      q->tail = prev;
    o->next = NULL;
    return;
  }
}
