/*
 * store_async: the operations of store_async.h. Each builds the same call
 * as its blocking twin in store.c (store_call.h), copies it into an op
 * and issues it on this loop thread's connection (store_async_conn); the
 * reply is read by the same reader (store_reply).
 */
#include "store_async.h"

#include "store_async_conn.h"
#include "store_call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

bool store_async_attach(loop *l, char *err, size_t err_len) {
  return sa_attach(l, err, err_len);
}

void store_async_detach(void) {
  sa_detach();
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

void store_otp_send_async(const char *customer_id, const char *phone_hash,
                          int per_customer, int per_phone, int64_t give_up,
                          store_result *out, store_done_fn done, void *ctx) {
  store_call c;
  memset(out, 0, sizeof *out);
  store_status built =
      store_call_otp_send(&c, customer_id, phone_hash, per_customer, per_phone,
                          out->err, sizeof out->err);
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
