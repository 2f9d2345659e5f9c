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
#include "decimal.h"

#include "entropy.h"
#include "store_call.h"
#include "store_codec.h"
#include "store_conn.h"
#include "store_internal.h"
#include "store_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static store_config cfg;
static store_texts texts;
static size_t prefix_len;

/* Write "<prefix><kind>" into out[STORE_KEY_MAX] (store_init: the prefix
 * is under 64 bytes, so it always fits). */
static void prefixed(char *out, const char *kind) {
  char err[STORE_ERR_MAX];
  if (!store_key(out, STORE_KEY_MAX, kind, "", err, sizeof err))
    out[0] = '\0';
}

/* Fill `texts` from cfg (see store_texts). */
static void texts_fill(void) {
  decimal_format(texts.lock_ms, cfg.lock_ms);
  decimal_format(texts.session_ttl, cfg.session_ttl_seconds);
  decimal_format(texts.lockout_max, cfg.lockout_max_failures);
  decimal_format(texts.lockout_window, cfg.lockout_window_seconds);
  decimal_format(texts.lockout_max_lock, cfg.lockout_max_lock_seconds);
  decimal_format(texts.escalation_reset, cfg.lockout_escalation_reset_seconds);
  decimal_format(texts.failure_memory, cfg.lockout_failure_memory_seconds);
  decimal_format(texts.global_max, cfg.global_max_failures_per_minute);
  decimal_format(texts.caller_max, cfg.caller_max_failures);
  decimal_format(texts.caller_window, cfg.caller_window_seconds);
  decimal_format(texts.report_ttl, cfg.report_counter_ttl_seconds);
  decimal_format(texts.stream_max_len, cfg.report_stream_max_len);
  texts.global_on = cfg.global_max_failures_per_minute > 0 ? "1" : "0";
  prefixed(texts.lockout_prefix, "lockout");
  prefixed(texts.caller_prefix, "limit:caller");
  char err[STORE_ERR_MAX];
  if (!store_key(texts.global_key, sizeof texts.global_key, "limit", "global",
                 err, sizeof err))
    texts.global_key[0] = '\0';
}

void store_init(const store_config *c) {
  cfg = *c;
  /* Lockouts never shrink: a cap below the first lockout, or a memory of
   * lockouts shorter than the cap, is raised (config refuses both). */
  if (cfg.lockout_max_lock_seconds < cfg.lockout_window_seconds)
    cfg.lockout_max_lock_seconds = cfg.lockout_window_seconds;
  if (cfg.lockout_escalation_reset_seconds < cfg.lockout_max_lock_seconds)
    cfg.lockout_escalation_reset_seconds = cfg.lockout_max_lock_seconds;
  if (cfg.lockout_failure_memory_seconds < cfg.lockout_window_seconds)
    cfg.lockout_failure_memory_seconds = cfg.lockout_window_seconds;
  cfg.key_prefix[sizeof cfg.key_prefix - 1] = '\0';
  prefix_len = strlen(cfg.key_prefix);
  texts_fill();
}

const store_config *store_cfg(void) {
  return &cfg;
}

const store_texts *store_cfg_texts(void) {
  return &texts;
}

void store_new_token(char *token, size_t token_len) {
  entropy_hex(token, token_len, 16);
}

bool store_key(char *out, size_t len, const char *kind, const char *id,
               char *err, size_t err_len) {
  size_t kl = strlen(kind), il = strlen(id);
  if (prefix_len + kl + 1 + il >= len) {
    snprintf(err, err_len, "store: %s key too long", kind);
    return false;
  }
  memcpy(out, cfg.key_prefix, prefix_len);
  memcpy(out + prefix_len, kind, kl);
  out[prefix_len + kl] = ':';
  memcpy(out + prefix_len + kl + 1, id, il + 1);
  return true;
}

store_status store_fail(store_status st, const char *msg, char *err,
                        size_t err_len) {
  snprintf(err, err_len, "%s", msg);
  return st;
}

/* ---------------------------------------------------------------------
 * Status words: the one table shared by the scripts' replies and the log
 * names. A script's status word is the name of the store_status it means
 * ("unavailable" is never returned by a script).
 * ------------------------------------------------------------------- */

static const char *const status_names[] = {
    [STORE_OK] = "ok",
    [STORE_EXISTS] = "exists",
    [STORE_NOT_FOUND] = "not_found",
    [STORE_BUSY] = "busy",
    [STORE_WRONG_STATE] = "wrong_state",
    [STORE_LOCK_LOST] = "lock_lost",
    [STORE_CUSTOMER_LOCKED] = "customer_locked",
    [STORE_UNAVAILABLE] = "unavailable",
    [STORE_CORRUPT] = "corrupt",
    [STORE_DELETED] = "deleted",
};
#define STATUS_COUNT (sizeof status_names / sizeof status_names[0])

/* A mask bit for status_of()'s `expected`. */
#define ST(s) (1u << (s))

#define LOCK_LOST_MSG "lock expired or taken"

const char *store_status_name(store_status s) {
  return (unsigned)s < STATUS_COUNT ? status_names[s] : "unknown";
}

/*
 * The store_status named by script reply r's status word. A word that is
 * not the name of a status in `expected` (a mask of ST(status)) is a
 * script/code mismatch: STORE_UNAVAILABLE with err filled. Expected
 * statuses fill nothing: each caller says what its script meant.
 */
static store_status status_of(const redisReply *r, unsigned expected, char *err,
                              size_t err_len) {
  const char *word = r->element[0]->str;
  for (unsigned s = 0; s < STATUS_COUNT; s++)
    if ((expected & ST(s)) && strcmp(word, status_names[s]) == 0)
      return (store_status)s;
  snprintf(err, err_len, "redis: unexpected script status '%s'", word);
  return STORE_UNAVAILABLE;
}

/* Decode a session as a script returns it: its packed value (a string),
 * or a hash the previous version wrote (HGETALL's array). False, err
 * filled, when it cannot be read. */
static bool decode_session(const redisReply *v, flow_session *out, char *err,
                           size_t err_len) {
  if (v->type == REDIS_REPLY_STRING)
    return store_session_unpack(v->str, v->len, out, err, err_len);
  return store_session_decode(v, out, err, err_len);
}

/* Decode the session that is the reply's second element into *out; false
 * (err filled when it was there) when it is absent or bad. */
static bool reply_session(const redisReply *r, flow_session *out, char *err,
                          size_t err_len) {
  return r->elements >= 2 && decode_session(r->element[1], out, err, err_len);
}

/* ---------------------------------------------------------------------
 * Requests: one builder per operation (see store_call.h).
 * ------------------------------------------------------------------- */

store_status store_call_create(store_call *c, const char *id, const char *token,
                               const char *linked_id, char *err,
                               size_t err_len) {
  bool want_link = linked_id && *linked_id;
  store_call_start(c, STORE_SCRIPT_CREATE, STORE_READ_CREATE);
  c->want_link = want_link;
  /* Without a link the third key is the session again (see script_create). */
  if (!store_call_key(c, "session", id, err, err_len) ||
      !store_call_key(c, "lock", id, err, err_len) ||
      !store_call_key(c, "session", want_link ? linked_id : id, err, err_len) ||
      !store_call_key(c, "deleted", id, err, err_len))
    return STORE_UNAVAILABLE;
  store_call_arg(c, token);
  store_call_arg(c, texts.lock_ms);
  store_call_arg(c, want_link ? "1" : "0");
  store_call_arg(c, texts.lockout_prefix);
  store_call_arg(c, texts.lockout_max);
  return store_call_built(c, err, err_len);
}

store_status store_call_begin(store_call *c, const char *id, const char *token,
                              unsigned allowed_states,
                              flow_attempt_counter counter, char *err,
                              size_t err_len) {
  store_call_start(c, STORE_SCRIPT_BEGIN, STORE_READ_BEGIN);
  if (!store_call_key(c, "session", id, err, err_len) ||
      !store_call_key(c, "lock", id, err, err_len))
    return STORE_UNAVAILABLE;
  store_call_arg(c, token);
  store_call_arg(c, texts.lock_ms);
  store_call_arg(c, counter == FLOW_COUNTER_IDENTIFY ? "identifyAttempts"
                    : counter == FLOW_COUNTER_VERIFY ? "verifyAttempts"
                                                     : "");
  store_call_arg(c, texts.lockout_prefix);
  store_call_arg(c, texts.lockout_max);
  store_call_arg(c, texts.failure_memory);
  store_call_arg(c, texts.global_key);
  store_call_arg(c, texts.global_max);
  store_call_arg(c, texts.caller_prefix);
  store_call_arg(c, texts.caller_max);
  store_call_arg(c, texts.caller_window);
  for (int s = FLOW_STATE_AWAITING_IDENTIFIER; s <= FLOW_STATE_COMPLETED; s++)
    if (allowed_states & (1u << s))
      store_call_arg(c, flow_state_name((flow_state)s));
  return store_call_built(c, err, err_len);
}

/* The commit script's keys: session, lock, the customer's lockout counter,
 * the report hour hash, stream and dropped counter, the customer's lockout
 * count, the global and the caller's failure counters, then the report
 * filter indexes of the event (outcome, service line, channel) and the
 * "indexed since" marker. False (err filled) when a key is too long. */
static bool commit_keys(store_call *c, const flow_session *s,
                        const report_record *rec, char *err, size_t err_len) {
  /* With no customer the lockout key is never read or written; name a key
   * that cannot be a customer's so the script's key list stays fixed. */
  const char *cid = s->customer_id[0] ? s->customer_id : "-none-";
  const char *id = s->conversation_id;
  if (!store_call_key(c, "session", id, err, err_len) ||
      !store_call_key(c, "lock", id, err, err_len) ||
      !store_call_key(c, "lockout", cid, err, err_len) ||
      !store_call_key(c, "report:h", rec ? rec->hour : "none", err, err_len) ||
      !store_call_key(c, "report", "events", err, err_len) ||
      !store_call_key(c, "report", "dropped", err, err_len) ||
      !store_call_key(c, "lockouts", cid, err, err_len))
    return false;
  store_call_raw_key(c, texts.global_key);
  bool event = rec && rec->event_count > REPORT_EVENT_CHANNEL;
  return store_call_key(c, "limit:caller",
                        s->ani_hash[0] ? s->ani_hash : "-none-", err,
                        err_len) &&
         store_call_key(c, "report:ix:o",
                        event ? rec->event_value[REPORT_EVENT_OUTCOME] : "-",
                        err, err_len) &&
         store_call_key(c, "report:ix:l",
                        event ? rec->event_value[REPORT_EVENT_LINE] : "-", err,
                        err_len) &&
         store_call_key(c, "report:ix:c",
                        event ? rec->event_value[REPORT_EVENT_CHANNEL] : "-",
                        err, err_len) &&
         store_call_key(c, "report", "ixsince", err, err_len);
}

/* The commit script's first COMMIT_HEAD arguments (see script_commit),
 * written to head[]; nrep is how many report arguments follow them. */
#define COMMIT_HEAD 12
static void commit_head_args(store_call *c, const char **head,
                             const flow_session *s, const char *token,
                             flow_lockout_effect lockout, bool check_lockout,
                             int nrep) {
  head[0] = token;
  head[1] = texts.session_ttl;
  head[2] = !s->customer_id[0]                       ? "none"
            : lockout == FLOW_LOCKOUT_RECORD_FAILURE ? "fail"
            : lockout == FLOW_LOCKOUT_CLEAR          ? "clear"
                                                     : "none";
  head[3] = check_lockout && s->customer_id[0] ? "1" : "0";
  head[4] = texts.lockout_max;
  head[5] = texts.lockout_window;
  head[6] = texts.lockout_max_lock;
  head[7] = texts.escalation_reset;
  head[8] = texts.global_on;
  head[9] = cfg.caller_max_failures > 0 && s->ani_hash[0] ? "1" : "0";
  head[10] = texts.failure_memory;
  head[11] = store_call_num(c, nrep);
}

store_status store_call_commit(store_call *c, const flow_session *s,
                               const char *token, flow_lockout_effect lockout,
                               bool check_lockout, const report_record *rec,
                               char *err, size_t err_len) {
  store_call_start(c, STORE_SCRIPT_COMMIT, STORE_READ_COMMIT);
  if (!commit_keys(c, s, rec, err, err_len))
    return STORE_UNAVAILABLE;
  const char **head = c->argv + c->argc;
  int nrep = store_report_args(rec, head + COMMIT_HEAD, &c->report_texts);
  const char *packed = store_call_pack(c, s, err, err_len);
  if (!packed)
    return STORE_CORRUPT;
  head[COMMIT_HEAD + nrep] = packed;
  commit_head_args(c, head, s, token, lockout, check_lockout, nrep);
  c->argc += COMMIT_HEAD + nrep + 1;
  return store_call_built(c, err, err_len);
}

store_status store_call_release(store_call *c, const char *id,
                                const char *token, char *err, size_t err_len) {
  store_call_start(c, STORE_SCRIPT_RELEASE, STORE_READ_RELEASE);
  if (!store_call_key(c, "lock", id, err, err_len))
    return STORE_UNAVAILABLE;
  store_call_arg(c, token);
  return store_call_built(c, err, err_len);
}

void store_call_let_go(store_call *c, const char *const *begin_argv,
                       int begin_nkeys) {
  store_call_start(c, STORE_SCRIPT_RELEASE, STORE_READ_RELEASE);
  store_call_raw_key(c, begin_argv[1]);
  store_call_arg(c, begin_argv[begin_nkeys]);
}

store_status store_call_get(store_call *c, const char *id, char *err,
                            size_t err_len) {
  store_call_start(c, STORE_SCRIPT_GET, STORE_READ_GET);
  if (!store_call_key(c, "session", id, err, err_len))
    return STORE_UNAVAILABLE;
  return store_call_built(c, err, err_len);
}

store_status store_call_delete(store_call *c, const char *id, char *err,
                               size_t err_len) {
  store_call_start(c, STORE_SCRIPT_DELETE, STORE_READ_DELETE);
  if (!store_call_key(c, "session", id, err, err_len) ||
      !store_call_key(c, "lock", id, err, err_len) ||
      !store_call_key(c, "deleted", id, err, err_len))
    return STORE_UNAVAILABLE;
  store_call_arg(c, texts.session_ttl);
  return store_call_built(c, err, err_len);
}

/* ---------------------------------------------------------------------
 * Replies: one reader per operation (see store_call.h).
 * ------------------------------------------------------------------- */

/* The linked session of a create reply that took the lock ({'ok', packed
 * value, hash or {}, locked}). A record that cannot be read is a link to
 * nothing usable: the start goes on as without it. */
static void reply_link(const redisReply *r, flow_link *link) {
  char ignored[STORE_ERR_MAX];
  const redisReply *v = r->elements >= 3 ? r->element[1] : NULL;
  if (v &&
      (v->type == REDIS_REPLY_STRING ||
       (v->type == REDIS_REPLY_ARRAY && v->elements > 0)) &&
      decode_session(v, &link->session, ignored, sizeof ignored))
    link->found = true;
  link->customer_locked = link->found &&
                          r->element[2]->type == REDIS_REPLY_INTEGER &&
                          r->element[2]->integer == 1;
}

void store_read_create(const redisReply *r, bool want_link, store_result *out) {
  char *err = out->err;
  size_t err_len = sizeof out->err;
  store_status st = status_of(r,
                              ST(STORE_OK) | ST(STORE_BUSY) | ST(STORE_EXISTS) |
                                  ST(STORE_CORRUPT) | ST(STORE_DELETED),
                              err, err_len);
  if (st == STORE_EXISTS && !reply_session(r, &out->session, err, err_len))
    st = STORE_CORRUPT;
  else if (st == STORE_CORRUPT)
    store_fail(st, "session key holds another type", err, err_len);
  else if (st == STORE_OK && want_link)
    reply_link(r, &out->link);
  out->status = st;
}

/* A begin reply's fourth element: the limit that held a verify. */
static store_limit reply_limit(const redisReply *r) {
  const redisReply *w = r->elements >= 4 ? r->element[3] : NULL;
  if (!w || w->type != REDIS_REPLY_STRING)
    return STORE_LIMIT_NONE;
  return strcmp(w->str, "global") == 0   ? STORE_LIMIT_GLOBAL
         : strcmp(w->str, "caller") == 0 ? STORE_LIMIT_CALLER
                                         : STORE_LIMIT_NONE;
}

void store_read_begin(const redisReply *r, store_result *out, bool *let_go) {
  char *err = out->err;
  size_t err_len = sizeof out->err;
  store_status st =
      status_of(r,
                ST(STORE_NOT_FOUND) | ST(STORE_BUSY) | ST(STORE_CORRUPT) |
                    ST(STORE_OK) | ST(STORE_WRONG_STATE),
                err, err_len);
  if (st == STORE_CORRUPT) {
    store_fail(st, "session or lockout counter is malformed", err, err_len);
  } else if ((st == STORE_OK || st == STORE_WRONG_STATE) &&
             !reply_session(r, &out->session, err, err_len)) {
    /* Took the lock on a record nobody can read: let it go, so the
     * caller has nothing to release. */
    *let_go = st == STORE_OK;
    st = STORE_CORRUPT;
  } else if (st == STORE_OK) {
    out->customer_locked = r->elements >= 3 &&
                           r->element[2]->type == REDIS_REPLY_INTEGER &&
                           r->element[2]->integer == 1;
    out->limit = reply_limit(r);
  }
  out->status = st;
}

void store_read_commit(const redisReply *r, store_result *out) {
  char *err = out->err;
  size_t err_len = sizeof out->err;
  store_status st = status_of(r,
                              ST(STORE_OK) | ST(STORE_LOCK_LOST) |
                                  ST(STORE_CUSTOMER_LOCKED) | ST(STORE_CORRUPT),
                              err, err_len);
  if (st == STORE_OK && r->elements >= 2 &&
      r->element[1]->type == REDIS_REPLY_STRING &&
      strcmp(r->element[1]->str, "1") == 0)
    out->dropped = true;
  if (st == STORE_OK && r->elements >= 3 &&
      r->element[2]->type == REDIS_REPLY_STRING)
    out->lockout_level = (int)strtol(r->element[2]->str, NULL, 10);
  if (st == STORE_LOCK_LOST)
    store_fail(st, LOCK_LOST_MSG, err, err_len);
  else if (st == STORE_CORRUPT)
    store_fail(st, "lockout counter is not a number", err, err_len);
  out->status = st;
}

void store_read_release(const redisReply *r, store_result *out) {
  store_status st = status_of(r, ST(STORE_OK) | ST(STORE_LOCK_LOST), out->err,
                              sizeof out->err);
  if (st == STORE_LOCK_LOST)
    store_fail(st, LOCK_LOST_MSG, out->err, sizeof out->err);
  out->status = st;
}

void store_read_get(const redisReply *r, store_result *out) {
  char *err = out->err;
  size_t err_len = sizeof out->err;
  store_status st = status_of(
      r, ST(STORE_NOT_FOUND) | ST(STORE_CORRUPT) | ST(STORE_OK), err, err_len);
  if (st == STORE_CORRUPT)
    store_fail(st, "session key holds another type", err, err_len);
  else if (st == STORE_OK && !reply_session(r, &out->session, err, err_len))
    st = STORE_CORRUPT;
  out->status = st;
}

void store_read_delete(const redisReply *r, store_result *out) {
  out->status = status_of(r, ST(STORE_OK) | ST(STORE_NOT_FOUND), out->err,
                          sizeof out->err);
}

/* ---------------------------------------------------------------------
 * The blocking operations: a call run on this thread's connection.
 * ------------------------------------------------------------------- */

store_status store_call_run(store_status built, store_call *c,
                            store_result *res, char *err, size_t err_len) {
  res->status = built;
  if (built == STORE_OK) {
    redisReply *r =
        store_conn_script(c->script, c->argv, c->nkeys, c->argv + c->nkeys,
                          c->argc - c->nkeys, res->err, sizeof res->err);
    bool let_go = false;
    if (r)
      store_call_read(c->read, c->want_link, r, res, &let_go);
    else
      res->status = STORE_UNAVAILABLE;
    freeReplyObject(r);
    if (let_go) {
      store_call release;
      store_result ignored = {0};
      store_call_let_go(&release, c->argv, c->nkeys);
      store_call_run(STORE_OK, &release, &ignored, NULL, 0);
    }
  }
  if (res->err[0] && err_len > 0)
    snprintf(err, err_len, "%s", res->err);
  return res->status;
}

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
  store_status st = store_call_run(built, &c, &res, err, err_len);
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
  store_status st = store_call_run(built, &c, &res, err, err_len);
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
  store_status st = store_call_run(built, &c, &res, err, err_len);
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
  return store_call_run(built, &c, &res, err, err_len);
}

store_status store_get(const char *id, flow_session *out, char *err,
                       size_t err_len) {
  store_call c;
  store_result res = {0};
  store_status built = store_call_get(&c, id, res.err, sizeof res.err);
  store_status st = store_call_run(built, &c, &res, err, err_len);
  *out = res.session;
  return st;
}

store_status store_delete(const char *id, char *err, size_t err_len) {
  store_call c;
  store_result res = {0};
  store_status built = store_call_delete(&c, id, res.err, sizeof res.err);
  return store_call_run(built, &c, &res, err, err_len);
}
