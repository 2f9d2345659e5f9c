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
#include <stdlib.h>
#include <string.h>

static store_config cfg;

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

/* The session, lock and tombstone keys of a conversation. */
typedef struct {
  char session[STORE_KEY_MAX];
  char lock[STORE_KEY_MAX];
  char deleted[STORE_KEY_MAX];
} session_keys;

/* Fill *k for conversation `id`; false (err filled) when a key is too
 * long. */
static bool keys_for(session_keys *k, const char *id, char *err,
                     size_t err_len) {
  return store_key(k->session, sizeof k->session, "session", id, err,
                   err_len) &&
         store_key(k->lock, sizeof k->lock, "lock", id, err, err_len) &&
         store_key(k->deleted, sizeof k->deleted, "deleted", id, err, err_len);
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
  const char *keys[] = {k.session, k.lock, want_link ? linked_key : k.session,
                        k.deleted};
  const char *args[] = {token, lock_ms, want_link ? "1" : "0", prefix, max};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_CREATE, keys, 4, args, 5, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = status_of(r,
                              ST(STORE_OK) | ST(STORE_BUSY) | ST(STORE_EXISTS) |
                                  ST(STORE_CORRUPT) | ST(STORE_DELETED),
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
                                 bool *customer_locked, store_limit *limit,
                                 char *err, size_t err_len) {
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
    const redisReply *w = r->elements >= 4 ? r->element[3] : NULL;
    if (w && w->type == REDIS_REPLY_STRING)
      *limit = strcmp(w->str, "global") == 0   ? STORE_LIMIT_GLOBAL
               : strcmp(w->str, "caller") == 0 ? STORE_LIMIT_CALLER
                                               : STORE_LIMIT_NONE;
  }
  freeReplyObject(r);
  return st;
}

/* The begin script's numbers and key names (see script_begin). */
typedef struct {
  char lock_ms[16], max[16], memory[16], gmax[16], cmax[16], cwindow[16];
  char prefix[STORE_KEY_MAX], global[STORE_KEY_MAX], caller[STORE_KEY_MAX];
} begin_texts;

static void begin_texts_fill(begin_texts *t) {
  snprintf(t->prefix, sizeof t->prefix, "%slockout:", cfg.key_prefix);
  snprintf(t->global, sizeof t->global, "%slimit:global", cfg.key_prefix);
  snprintf(t->caller, sizeof t->caller, "%slimit:caller:", cfg.key_prefix);
  snprintf(t->lock_ms, sizeof t->lock_ms, "%d", cfg.lock_ms);
  snprintf(t->max, sizeof t->max, "%d", cfg.lockout_max_failures);
  snprintf(t->memory, sizeof t->memory, "%d",
           cfg.lockout_failure_memory_seconds);
  snprintf(t->gmax, sizeof t->gmax, "%d", cfg.global_max_failures_per_minute);
  snprintf(t->cmax, sizeof t->cmax, "%d", cfg.caller_max_failures);
  snprintf(t->cwindow, sizeof t->cwindow, "%d", cfg.caller_window_seconds);
}

store_status store_begin(const char *id, const char *token,
                         unsigned allowed_states, flow_attempt_counter counter,
                         flow_session *out, bool *customer_locked,
                         store_limit *limit, char *err, size_t err_len) {
  *customer_locked = false;
  *limit = STORE_LIMIT_NONE;
  memset(out, 0, sizeof *out);
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  begin_texts t = {0};
  begin_texts_fill(&t);
  const char *args[11 + FLOW_STATE_COMPLETED + 1] = {
      token,
      t.lock_ms,
      counter == FLOW_COUNTER_IDENTIFY ? "identifyAttempts"
      : counter == FLOW_COUNTER_VERIFY ? "verifyAttempts"
                                       : "",
      t.prefix,
      t.max,
      t.memory,
      t.global,
      t.gmax,
      t.caller,
      t.cmax,
      t.cwindow};
  int nargs = 11;
  for (int s = FLOW_STATE_AWAITING_IDENTIFIER; s <= FLOW_STATE_COMPLETED; s++)
    if (allowed_states & (1u << s))
      args[nargs++] = flow_state_name((flow_state)s);
  const char *keys[] = {k.session, k.lock};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_BEGIN, keys, 2, args, nargs, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  return begin_result(r, id, token, out, customer_locked, limit, err, err_len);
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

/* The commit script's keys beyond session and lock: the customer's
 * lockout counter, the report hour hash, stream and dropped counter. */
typedef struct {
  char lockout[STORE_KEY_MAX], hour[STORE_KEY_MAX], stream[STORE_KEY_MAX],
      dropped[STORE_KEY_MAX], level[STORE_KEY_MAX], global[STORE_KEY_MAX],
      caller[STORE_KEY_MAX];
} commit_keys;

/* Fill *k for session `s` and report `rec` (may be NULL); false (err
 * filled) when a key is too long. */
static bool commit_keys_for(commit_keys *k, const flow_session *s,
                            const report_record *rec, char *err,
                            size_t err_len) {
  /* With no customer the lockout key is never read or written; name a key
   * that cannot be a customer's so the script's key list stays fixed. */
  const char *cid = s->customer_id[0] ? s->customer_id : "-none-";
  return store_key(k->lockout, sizeof k->lockout, "lockout", cid, err,
                   err_len) &&
         store_key(k->level, sizeof k->level, "lockouts", cid, err, err_len) &&
         store_key(k->global, sizeof k->global, "limit", "global", err,
                   err_len) &&
         store_key(k->caller, sizeof k->caller, "limit:caller",
                   s->ani_hash[0] ? s->ani_hash : "-none-", err, err_len) &&
         store_key(k->hour, sizeof k->hour, "report:h",
                   rec ? rec->hour : "none", err, err_len) &&
         store_key(k->stream, sizeof k->stream, "report", "events", err,
                   err_len) &&
         store_key(k->dropped, sizeof k->dropped, "report", "dropped", err,
                   err_len);
}

/* The commit script's first COMMIT_HEAD arguments (see script_commit),
 * with the numbers they need kept in *txt. */
#define COMMIT_HEAD 12
typedef struct {
  char ttl[16], max[16], window[16], max_lock[16], reset[16], memory[16];
  char rn[16];
} commit_texts;

static void commit_head_args(const flow_session *s, const char *token,
                             flow_lockout_effect lockout, bool check_lockout,
                             int nrep, const char **args, commit_texts *txt) {
  snprintf(txt->ttl, sizeof txt->ttl, "%d", cfg.session_ttl_seconds);
  snprintf(txt->max, sizeof txt->max, "%d", cfg.lockout_max_failures);
  snprintf(txt->window, sizeof txt->window, "%d", cfg.lockout_window_seconds);
  snprintf(txt->max_lock, sizeof txt->max_lock, "%d",
           cfg.lockout_max_lock_seconds);
  snprintf(txt->reset, sizeof txt->reset, "%d",
           cfg.lockout_escalation_reset_seconds);
  snprintf(txt->memory, sizeof txt->memory, "%d",
           cfg.lockout_failure_memory_seconds);
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
  args[6] = txt->max_lock;
  args[7] = txt->reset;
  args[8] = cfg.global_max_failures_per_minute > 0 ? "1" : "0";
  args[9] = cfg.caller_max_failures > 0 && s->ani_hash[0] ? "1" : "0";
  args[10] = txt->memory;
  args[11] = txt->rn;
}

/* The commit script's reply as a status, with *dropped (may be NULL) set
 * when report data was dropped. Frees r. */
static store_status commit_result(redisReply *r, bool *dropped,
                                  int *lockout_level, char *err,
                                  size_t err_len) {
  store_status st = status_of(r,
                              ST(STORE_OK) | ST(STORE_LOCK_LOST) |
                                  ST(STORE_CUSTOMER_LOCKED) | ST(STORE_CORRUPT),
                              err, err_len);
  if (st == STORE_OK && dropped && r->elements >= 2 &&
      r->element[1]->type == REDIS_REPLY_STRING &&
      strcmp(r->element[1]->str, "1") == 0)
    *dropped = true;
  if (st == STORE_OK && lockout_level && r->elements >= 3 &&
      r->element[2]->type == REDIS_REPLY_STRING)
    *lockout_level = (int)strtol(r->element[2]->str, NULL, 10);
  if (st == STORE_LOCK_LOST)
    store_fail(st, LOCK_LOST_MSG, err, err_len);
  else if (st == STORE_CORRUPT)
    store_fail(st, "lockout counter is not a number", err, err_len);
  freeReplyObject(r);
  return st;
}

store_status store_commit_report(const flow_session *s, const char *token,
                                 flow_lockout_effect lockout,
                                 bool check_lockout, const report_record *rec,
                                 bool *dropped, int *lockout_level, char *err,
                                 size_t err_len) {
  if (dropped)
    *dropped = false;
  if (lockout_level)
    *lockout_level = 0;
  session_keys k;
  commit_keys ck;
  if (!keys_for(&k, s->conversation_id, err, err_len) ||
      !commit_keys_for(&ck, s, rec, err, err_len))
    return STORE_UNAVAILABLE;
  store_session_texts nums = {0};
  store_report_texts rtxt;
  commit_texts ctxt = {0};
  const char
      *args[COMMIT_HEAD + STORE_REPORT_ARGS_MAX + 2 * STORE_SESSION_FIELDS];
  int nrep = store_report_args(rec, args + COMMIT_HEAD, &rtxt);
  if (!store_session_encode(s, args + COMMIT_HEAD + nrep, &nums, err,
                            err_len)) {
    char ignored[STORE_ERR_MAX];
    store_release(s->conversation_id, token, ignored, sizeof ignored);
    return STORE_CORRUPT;
  }
  commit_head_args(s, token, lockout, check_lockout, nrep, args, &ctxt);
  const char *keys[] = {k.session,  k.lock,   ck.lockout, ck.hour,  ck.stream,
                        ck.dropped, ck.level, ck.global,  ck.caller};
  redisReply *r = store_conn_script(
      STORE_SCRIPT_COMMIT, keys, 9, args,
      COMMIT_HEAD + nrep + 2 * STORE_SESSION_FIELDS, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  return commit_result(r, dropped, lockout_level, err, err_len);
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
  char ttl[16];
  snprintf(ttl, sizeof ttl, "%d", cfg.session_ttl_seconds);
  const char *keys[] = {k.session, k.lock, k.deleted}, *args[] = {ttl};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_DELETE, keys, 3, args, 1, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st =
      status_of(r, ST(STORE_OK) | ST(STORE_NOT_FOUND), err, err_len);
  freeReplyObject(r);
  return st;
}
