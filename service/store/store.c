/*
 * store: sessions, step locks and lockout counters in Redis.
 *
 * Every session operation is one Lua script (see the header for the keys,
 * store_script.h for the scripts), so each is atomic and one round trip.
 * Scripts report their outcome as an array whose first element is a status
 * word ("ok", "busy", ...) and whose second, when present, is the session
 * hash as HGETALL gives it. Redis does not roll a script back when it fails
 * half way, so each script checks whatever could fail before its first
 * write.
 *
 * The hash is decoded strictly (store_codec), not in Lua: an unknown enum
 * name, a number that is not plain decimal, a string too long for its
 * flow_session buffer or a missing field makes the record STORE_CORRUPT.
 *
 * The other store files: store_conn (the per-thread connection, reconnect
 * and Sentinel failover, PING), store_script (the Lua texts), store_codec
 * (session hash encoding), store_report (report arguments and reads), and
 * store_internal.h for what they share from here.
 */
#include "store.h"

#include "entropy.h"
#include "store_codec.h"
#include "store_conn.h"
#include "store_internal.h"
#include "store_report.h"

#include <stdio.h>
#include <string.h>

static store_config cfg;

void store_init(const store_config *c) {
  cfg = *c;
}

const store_config *store_cfg(void) {
  return &cfg;
}

void store_new_token(char *token, size_t token_len) {
  entropy_hex(token, token_len, 16);
}

bool store_key(char *out, size_t len, const char *kind, const char *id,
               char *err, size_t err_len) {
  int n = snprintf(out, len, "%s%s:%s", cfg.key_prefix, kind, id);
  if (n < 0 || (size_t)n >= len) {
    snprintf(err, err_len, "store: %s key too long", kind);
    return false;
  }
  return true;
}

store_status store_fail(store_status st, const char *msg, char *err,
                        size_t err_len) {
  snprintf(err, err_len, "%s", msg);
  return st;
}

/* The session and lock keys of a conversation. */
typedef struct {
  char session[STORE_KEY_MAX];
  char lock[STORE_KEY_MAX];
} session_keys;

/* Fill *k for conversation `id`; false (err filled) when a key is too
 * long. */
static bool keys_for(session_keys *k, const char *id, char *err,
                     size_t err_len) {
  return store_key(k->session, sizeof k->session, "session", id, err,
                   err_len) &&
         store_key(k->lock, sizeof k->lock, "lock", id, err, err_len);
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

/* Decode the session hash that is the reply's second element into *out;
 * false (err filled when the hash was there) when it is absent or bad. */
static bool reply_session(const redisReply *r, flow_session *out, char *err,
                          size_t err_len) {
  return r->elements >= 2 &&
         store_session_decode(r->element[1], out, err, err_len);
}

/* ---------------------------------------------------------------------
 * Operations.
 * ------------------------------------------------------------------- */

store_status store_create(const char *id, const char *token,
                          flow_session *existing, char *err, size_t err_len) {
  flow_link none;
  return store_create_linked(id, token, NULL, existing, &none, err, err_len);
}

/* The linked session of a create reply that took the lock ({'ok', hash or
 * {}, locked}). A record that cannot be read is a link to nothing usable:
 * the start goes on as without it. */
static void reply_link(const redisReply *r, flow_link *link) {
  char ignored[STORE_ERR_MAX];
  if (r->elements >= 3 && r->element[1]->type == REDIS_REPLY_ARRAY &&
      r->element[1]->elements > 0 &&
      store_session_decode(r->element[1], &link->session, ignored,
                           sizeof ignored))
    link->found = true;
  link->customer_locked = link->found &&
                          r->element[2]->type == REDIS_REPLY_INTEGER &&
                          r->element[2]->integer == 1;
}

store_status store_create_linked(const char *id, const char *token,
                                 const char *linked_id, flow_session *existing,
                                 flow_link *link, char *err, size_t err_len) {
  memset(link, 0, sizeof *link);
  session_keys k;
  char linked_key[STORE_KEY_MAX];
  bool want_link = linked_id && *linked_id;
  if (!keys_for(&k, id, err, err_len) ||
      (want_link && !store_key(linked_key, sizeof linked_key, "session",
                               linked_id, err, err_len)))
    return STORE_UNAVAILABLE;
  char lock_ms[16], prefix[STORE_KEY_MAX], max[16];
  snprintf(lock_ms, sizeof lock_ms, "%d", cfg.lock_ms);
  snprintf(prefix, sizeof prefix, "%slockout:", cfg.key_prefix);
  snprintf(max, sizeof max, "%d", cfg.lockout_max_failures);
  const char *keys[] = {k.session, k.lock, want_link ? linked_key : k.session};
  const char *args[] = {token, lock_ms, want_link ? "1" : "0", prefix, max};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_CREATE, keys, 3, args, 5, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = status_of(
      r, ST(STORE_OK) | ST(STORE_BUSY) | ST(STORE_EXISTS) | ST(STORE_CORRUPT),
      err, err_len);
  if (st == STORE_EXISTS && !reply_session(r, existing, err, err_len))
    st = STORE_CORRUPT;
  else if (st == STORE_CORRUPT)
    store_fail(st, "session key is not a hash", err, err_len);
  else if (st == STORE_OK && want_link)
    reply_link(r, link);
  freeReplyObject(r);
  return st;
}

/*
 * The begin script's reply as a status (see store_begin() in store.h), with
 * *out and *customer_locked filled. Frees r. When the script took the lock
 * but the session cannot be decoded, the lock is let go here, so the caller
 * has nothing to release.
 */
static store_status begin_result(redisReply *r, const char *id,
                                 const char *token, flow_session *out,
                                 bool *customer_locked, char *err,
                                 size_t err_len) {
  store_status st =
      status_of(r,
                ST(STORE_NOT_FOUND) | ST(STORE_BUSY) | ST(STORE_CORRUPT) |
                    ST(STORE_OK) | ST(STORE_WRONG_STATE),
                err, err_len);
  if (st == STORE_CORRUPT) {
    store_fail(st, "session or lockout counter is malformed", err, err_len);
  } else if ((st == STORE_OK || st == STORE_WRONG_STATE) &&
             !reply_session(r, out, err, err_len)) {
    freeReplyObject(r);
    if (st == STORE_OK) {
      /* We hold the lock on a record we cannot read: let it go, so the
       * caller has nothing to release. */
      char ignored[STORE_ERR_MAX];
      store_release(id, token, ignored, sizeof ignored);
    }
    return STORE_CORRUPT;
  } else if (st == STORE_OK) {
    *customer_locked = r->elements >= 3 &&
                       r->element[2]->type == REDIS_REPLY_INTEGER &&
                       r->element[2]->integer == 1;
  }
  freeReplyObject(r);
  return st;
}

store_status store_begin(const char *id, const char *token,
                         unsigned allowed_states, flow_attempt_counter counter,
                         flow_session *out, bool *customer_locked, char *err,
                         size_t err_len) {
  *customer_locked = false;
  memset(out, 0, sizeof *out);
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  char lock_ms[16], prefix[STORE_KEY_MAX], max[16], window[16];
  snprintf(prefix, sizeof prefix, "%slockout:", cfg.key_prefix);
  snprintf(lock_ms, sizeof lock_ms, "%d", cfg.lock_ms);
  snprintf(max, sizeof max, "%d", cfg.lockout_max_failures);
  snprintf(window, sizeof window, "%d", cfg.lockout_window_seconds);
  const char *args[5 + FLOW_STATE_COMPLETED + 1 + 1] = {
      token, lock_ms,
      counter == FLOW_COUNTER_IDENTIFY ? "identifyAttempts"
      : counter == FLOW_COUNTER_VERIFY ? "verifyAttempts"
                                       : "",
      prefix, max};
  int nargs = 5;
  for (int s = FLOW_STATE_AWAITING_IDENTIFIER; s <= FLOW_STATE_COMPLETED; s++)
    if (allowed_states & (1u << s))
      args[nargs++] = flow_state_name((flow_state)s);
  args[nargs++] = window; /* always last: the script reads ARGV[#ARGV] */
  const char *keys[] = {k.session, k.lock};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_BEGIN, keys, 2, args, nargs, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  return begin_result(r, id, token, out, customer_locked, err, err_len);
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
  return store_commit_report(s, token, lockout, check_lockout, NULL, NULL, err,
                             err_len);
}

/* The commit script's keys beyond session and lock: the customer's
 * lockout counter, the report hour hash, stream and dropped counter. */
typedef struct {
  char lockout[STORE_KEY_MAX], hour[STORE_KEY_MAX], stream[STORE_KEY_MAX],
      dropped[STORE_KEY_MAX];
} commit_keys;

/* Fill *k for session `s` and report `rec` (may be NULL); false (err
 * filled) when a key is too long. */
static bool commit_keys_for(commit_keys *k, const flow_session *s,
                            const report_record *rec, char *err,
                            size_t err_len) {
  /* With no customer the lockout key is never read or written; name a key
   * that cannot be a customer's so the script's key list stays fixed. */
  return store_key(k->lockout, sizeof k->lockout, "lockout",
                   s->customer_id[0] ? s->customer_id : "-none-", err,
                   err_len) &&
         store_key(k->hour, sizeof k->hour, "report:h",
                   rec ? rec->hour : "none", err, err_len) &&
         store_key(k->stream, sizeof k->stream, "report", "events", err,
                   err_len) &&
         store_key(k->dropped, sizeof k->dropped, "report", "dropped", err,
                   err_len);
}

/* The commit script's first seven arguments (see script_commit), with the
 * numbers they need kept in *txt. */
typedef struct {
  char ttl[16], max[16], window[16], rn[16];
} commit_texts;

static void commit_head_args(const flow_session *s, const char *token,
                             flow_lockout_effect lockout, bool check_lockout,
                             int nrep, const char **args, commit_texts *txt) {
  snprintf(txt->ttl, sizeof txt->ttl, "%d", cfg.session_ttl_seconds);
  snprintf(txt->max, sizeof txt->max, "%d", cfg.lockout_max_failures);
  snprintf(txt->window, sizeof txt->window, "%d", cfg.lockout_window_seconds);
  snprintf(txt->rn, sizeof txt->rn, "%d", nrep);
  args[0] = token;
  args[1] = txt->ttl;
  args[2] = !s->customer_id[0]                       ? "none"
            : lockout == FLOW_LOCKOUT_RECORD_FAILURE ? "fail"
            : lockout == FLOW_LOCKOUT_CLEAR          ? "clear"
                                                     : "none";
  args[3] = check_lockout && s->customer_id[0] ? "1" : "0";
  args[4] = txt->max;
  args[5] = txt->window;
  args[6] = txt->rn;
}

/* The commit script's reply as a status, with *dropped (may be NULL) set
 * when report data was dropped. Frees r. */
static store_status commit_result(redisReply *r, bool *dropped, char *err,
                                  size_t err_len) {
  store_status st = status_of(r,
                              ST(STORE_OK) | ST(STORE_LOCK_LOST) |
                                  ST(STORE_CUSTOMER_LOCKED) | ST(STORE_CORRUPT),
                              err, err_len);
  if (st == STORE_OK && dropped && r->elements >= 2 &&
      r->element[1]->type == REDIS_REPLY_STRING &&
      strcmp(r->element[1]->str, "1") == 0)
    *dropped = true;
  else if (st == STORE_LOCK_LOST)
    store_fail(st, LOCK_LOST_MSG, err, err_len);
  else if (st == STORE_CORRUPT)
    store_fail(st, "lockout counter is not a number", err, err_len);
  freeReplyObject(r);
  return st;
}

store_status store_commit_report(const flow_session *s, const char *token,
                                 flow_lockout_effect lockout,
                                 bool check_lockout, const report_record *rec,
                                 bool *dropped, char *err, size_t err_len) {
  if (dropped)
    *dropped = false;
  session_keys k;
  commit_keys ck;
  if (!keys_for(&k, s->conversation_id, err, err_len) ||
      !commit_keys_for(&ck, s, rec, err, err_len))
    return STORE_UNAVAILABLE;
  store_session_texts nums = {0};
  store_report_texts rtxt;
  commit_texts ctxt = {0};
  const char *args[7 + STORE_REPORT_ARGS_MAX + 2 * STORE_SESSION_FIELDS];
  int nrep = store_report_args(rec, args + 7, &rtxt);
  if (!store_session_encode(s, args + 7 + nrep, &nums, err, err_len)) {
    char ignored[STORE_ERR_MAX];
    store_release(s->conversation_id, token, ignored, sizeof ignored);
    return STORE_CORRUPT;
  }
  commit_head_args(s, token, lockout, check_lockout, nrep, args, &ctxt);
  const char *keys[] = {k.session, k.lock,    ck.lockout,
                        ck.hour,   ck.stream, ck.dropped};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_COMMIT, keys, 6, args,
                        7 + nrep + 2 * STORE_SESSION_FIELDS, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  return commit_result(r, dropped, err, err_len);
}

store_status store_release(const char *id, const char *token, char *err,
                           size_t err_len) {
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  const char *keys[] = {k.lock}, *args[] = {token};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_RELEASE, keys, 1, args, 1, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st =
      status_of(r, ST(STORE_OK) | ST(STORE_LOCK_LOST), err, err_len);
  if (st == STORE_LOCK_LOST)
    store_fail(st, LOCK_LOST_MSG, err, err_len);
  freeReplyObject(r);
  return st;
}

store_status store_get(const char *id, flow_session *out, char *err,
                       size_t err_len) {
  memset(out, 0, sizeof *out);
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  const char *keys[] = {k.session};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_GET, keys, 1, NULL, 0, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = status_of(
      r, ST(STORE_NOT_FOUND) | ST(STORE_CORRUPT) | ST(STORE_OK), err, err_len);
  if (st == STORE_CORRUPT)
    store_fail(st, "session key is not a hash", err, err_len);
  else if (st == STORE_OK && !reply_session(r, out, err, err_len))
    st = STORE_CORRUPT;
  freeReplyObject(r);
  return st;
}

store_status store_delete(const char *id, char *err, size_t err_len) {
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  const char *keys[] = {k.session, k.lock};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_DELETE, keys, 2, NULL, 0, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st =
      status_of(r, ST(STORE_OK) | ST(STORE_NOT_FOUND), err, err_len);
  freeReplyObject(r);
  return st;
}
