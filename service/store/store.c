/*
 * store: sessions, step locks and lockout counters in Redis.
 *
 * Every session operation is one Lua script (see the header for the keys,
 * store_script.h for the scripts), so each is atomic and one round trip.
 * Scripts report their outcome as an array whose first element is a status
 * word ("ok", "busy", ...) and whose second, when present, is the session:
 * its packed value, or the hash a session written by the previous version
 * still is (store_codec.h). Redis does not roll a script back when it fails
 * half way, so each script checks whatever could fail before its first
 * write.
 *
 * The session is decoded strictly (store_codec), not in Lua: an unknown
 * enum name, a number that is not plain decimal, a string too long for its
 * flow_session buffer or a missing field makes the record STORE_CORRUPT.
 *
 * The other store files: store_conn (the per-thread connection, reconnect
 * and Sentinel failover, PING), store_script (the Lua texts), store_codec
 * (session encoding), store_report (report arguments and reads), and
 * store_internal.h for what they share from here.
 */
#include "store.h"

#include "entropy.h"
#include "store_call.h"
#include "store_conn.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_init(const store_config *c) {
  store_cfg_set(c);
}

void store_thread_cleanup(void) {
  store_conn_thread_cleanup();
}

store_status store_ping(char *err, size_t err_len) {
  return store_conn_ping(err, err_len);
}

void store_new_token(char *token, size_t token_len) {
  entropy_hex(token, token_len, 16);
}

/* ---------------------------------------------------------------------
 * The blocking operations: a call run on this thread's connection.
 * ------------------------------------------------------------------- */

store_status store_create(const char *id, const char *token,
                          flow_session *existing, char *err, size_t err_len) {
  flow_link none;
  return store_create_linked(id, token, NULL, existing, &none, err, err_len);
}

store_status store_create_linked(const char *id, const char *token,
                                 const char *linked_id, flow_session *existing,
                                 flow_link *link, char *err, size_t err_len) {
  store_call c;
  store_result res = {0};
  store_status built =
      store_call_create(&c, id, token, linked_id, res.err, sizeof res.err);
  store_status st = store_conn_run(built, &c, &res, err, err_len);
  if (st == STORE_EXISTS)
    *existing = res.session;
  *link = res.link;
  return st;
}

store_status store_begin(const char *id, const char *token,
                         unsigned allowed_states, flow_attempt_counter counter,
                         flow_session *out, bool *customer_locked,
                         store_limit *limit, char *err, size_t err_len) {
  store_call c;
  store_result res = {0};
  store_status built = store_call_begin(&c, id, token, allowed_states, counter,
                                        res.err, sizeof res.err);
  store_status st = store_conn_run(built, &c, &res, err, err_len);
  *out = res.session;
  *customer_locked = res.customer_locked;
  *limit = res.limit;
  return st;
}

/*
 * Beyond the header's contract: STORE_CORRUPT when `s` holds a value that
 * could not be read back (nothing is sent) or the customer's lockout
 * counter is not a number (nothing written); in both cases the lock is
 * let go, so the caller has nothing to release.
 */
store_status store_commit(const flow_session *s, const char *token,
                          flow_lockout_effect lockout, bool check_lockout,
                          char *err, size_t err_len) {
  return store_commit_report(s, token, lockout, check_lockout, NULL, NULL, NULL,
                             err, err_len);
}

store_status store_commit_report(const flow_session *s, const char *token,
                                 flow_lockout_effect lockout,
                                 bool check_lockout, const report_record *rec,
                                 bool *dropped, int *lockout_level, char *err,
                                 size_t err_len) {
  store_call c;
  store_result res = {0};
  store_status built = store_call_commit(&c, s, token, lockout, check_lockout,
                                         rec, res.err, sizeof res.err);
  if (built == STORE_CORRUPT) {
    char ignored[STORE_ERR_MAX];
    store_release(s->conversation_id, token, ignored, sizeof ignored);
  }
  store_status st = store_conn_run(built, &c, &res, err, err_len);
  if (dropped)
    *dropped = res.dropped;
  if (lockout_level)
    *lockout_level = res.lockout_level;
  return st;
}

store_status store_release(const char *id, const char *token, char *err,
                           size_t err_len) {
  store_call c;
  store_result res = {0};
  store_status built =
      store_call_release(&c, id, token, res.err, sizeof res.err);
  return store_conn_run(built, &c, &res, err, err_len);
}

store_status store_get(const char *id, flow_session *out, char *err,
                       size_t err_len) {
  store_call c;
  store_result res = {0};
  store_status built = store_call_get(&c, id, res.err, sizeof res.err);
  store_status st = store_conn_run(built, &c, &res, err, err_len);
  *out = res.session;
  return st;
}

store_status store_delete(const char *id, char *err, size_t err_len) {
  store_call c;
  store_result res = {0};
  store_status built = store_call_delete(&c, id, res.err, sizeof res.err);
  return store_conn_run(built, &c, &res, err, err_len);
}
