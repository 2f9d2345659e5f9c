/*
 * store_async: the operations of store_async.h. Each builds the same call
 * as its blocking twin in store.c (store_call.h), copies it into an op
 * and issues it on this loop thread's connection (store_async_conn); the
 * reply is read by the same reader.
 */
#include "store_async.h"
#include "decimal.h"

#include "store_async_conn.h"
#include "store_conn.h"
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
      store_new_token(token, sizeof token);
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
  op->give_up = give_up > 0 ? give_up
                            : loop_now_ms() + store_cfg()->connect_timeout_ms;
  op->done = done;
  op->ctx = ctx;
  return op;
}

/*
 * Start the operation built into c (`built`: its builder's status; a
 * failure is reported from the loop without sending anything). When
 * memory runs out the callback is called at once with STORE_UNAVAILABLE:
 * the one case it is not deferred.
 */
static void start(store_status built, const store_call *c, int64_t give_up,
                  store_result *out, store_done_fn done, void *ctx) {
  sa_op *op = sa_op_new(built == STORE_OK ? c : NULL, give_up, out, done, ctx);
  if (!op) {
    if (out) {
      out->status = STORE_UNAVAILABLE;
      snprintf(out->err, sizeof out->err, "store_async: out of memory");
    }
    if (done)
      done(ctx, out);
    return;
  }
  if (built != STORE_OK) {
    char msg[STORE_ERR_MAX];
    snprintf(msg, sizeof msg, "%s", out ? out->err : "");
    sa_fail_later(op, built, msg);
  } else
    sa_issue(op);
}

/* Release the lock a begin op took on a record it could not read. */
static void let_go(const sa_op *begin) {
  store_call c;
  store_call_let_go(&c, begin->argv + SA_SCRIPT_PREFIX, begin->nkeys);
  start(STORE_OK, &c, 0, NULL, NULL, NULL);
}

void sa_read_reply(sa_op *op, const redisReply *r) {
  store_result *out = op->out;
  if (op->kind == SA_OP_PING) {
    bool sentinel = store_cfg()->sentinel_count > 0;
    bool ok =
        sentinel ? store_reply_is_master(r)
                 : r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    out->status = ok ? STORE_OK : STORE_UNAVAILABLE;
    if (!ok && sentinel) {
      snprintf(out->err, sizeof out->err,
               "redis node is not a master (failover?)");
      sa_drop(out->err);
    } else if (!ok) {
      snprintf(out->err, sizeof out->err, "redis: unexpected PING reply");
    }
    return;
  }
  if (!store_reply_is_script(r)) {
    out->status = STORE_UNAVAILABLE;
    snprintf(out->err, sizeof out->err, "redis: unexpected script reply");
    return;
  }
  bool release = false;
  store_call_read(op->read, op->want_link, r, out, &release);
  if (release)
    let_go(op);
}

void store_create_async(const char *conversation_id, const char *token,
                        const char *linked_id, int64_t give_up,
                        store_result *out, store_done_fn done, void *ctx) {
  store_call c;
  memset(out, 0, sizeof *out);
  store_status built = store_call_create(&c, conversation_id, token, linked_id,
                                         out->err, sizeof out->err);
  start(built, &c, give_up, out, done, ctx);
}

void store_begin_async(const char *conversation_id, const char *token,
                       unsigned allowed_states, flow_attempt_counter counter,
                       int64_t give_up, store_result *out, store_done_fn done,
                       void *ctx) {
  store_call c;
  memset(out, 0, sizeof *out);
  store_status built =
      store_call_begin(&c, conversation_id, token, allowed_states, counter,
                       out->err, sizeof out->err);
  start(built, &c, give_up, out, done, ctx);
}

void store_handoff_take_async(const char *digest, const char *service_line,
                              const char *number_digest, int64_t give_up,
                              store_result *out, store_done_fn done,
                              void *ctx) {
  store_call c;
  memset(out, 0, sizeof *out);
  out->taken = STORE_HANDOFF_NO_MATCH;
  store_status built = store_call_handoff_take(
      &c, digest, service_line, number_digest, out->err, sizeof out->err);
  start(built, &c, give_up, out, done, ctx);
}

/* Beyond the header: as store_commit(), a session holding a value that
 * could not be read back is STORE_CORRUPT with nothing sent, and the lock
 * is let go. */
void store_commit_async(const flow_session *session, const char *token,
                        flow_lockout_effect lockout, bool check_lockout,
                        const report_record *rec, int64_t give_up,
                        store_result *out, store_done_fn done, void *ctx) {
  store_call c;
  memset(out, 0, sizeof *out);
  store_status built =
      store_call_commit(&c, session, token, lockout, check_lockout, rec,
                        out->err, sizeof out->err);
  if (built == STORE_CORRUPT)
    store_release_async(session->conversation_id, token);
  start(built, &c, give_up, out, done, ctx);
}

void store_release_async(const char *conversation_id, const char *token) {
  store_call c;
  char err[STORE_ERR_MAX];
  if (store_call_release(&c, conversation_id, token, err, sizeof err) ==
      STORE_OK)
    start(STORE_OK, &c, 0, NULL, NULL, NULL);
}

void store_get_async(const char *conversation_id, int64_t give_up,
                     store_result *out, store_done_fn done, void *ctx) {
  store_call c;
  memset(out, 0, sizeof *out);
  store_status built =
      store_call_get(&c, conversation_id, out->err, sizeof out->err);
  start(built, &c, give_up, out, done, ctx);
}

void store_delete_async(const char *conversation_id, int64_t give_up,
                        store_result *out, store_done_fn done, void *ctx) {
  store_call c;
  memset(out, 0, sizeof *out);
  store_status built =
      store_call_delete(&c, conversation_id, out->err, sizeof out->err);
  start(built, &c, give_up, out, done, ctx);
}

void store_ping_async(store_result *out, store_done_fn done, void *ctx) {
  memset(out, 0, sizeof *out);
  start(STORE_OK, NULL, 0, out, done, ctx);
}
