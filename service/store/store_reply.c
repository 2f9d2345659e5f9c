/*
 * store_reply: the reading of every script's reply (see store_reply.h):
 * the status words, the session as a script returns it, and one reader
 * per operation.
 */
#include "store_reply.h"

#include "store_codec.h"
#include "store_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool store_reply_is_master(const redisReply *r) {
  return r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
         r->element[0]->type == REDIS_REPLY_STRING &&
         strcmp(r->element[0]->str, "master") == 0;
}

bool store_reply_is_script(const redisReply *r) {
  return r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
         r->element[0]->type == REDIS_REPLY_STRING;
}

bool store_reply_fatal(const char *msg) {
  return strncmp(msg, "READONLY", 8) == 0 || strncmp(msg, "LOADING", 7) == 0 ||
         strncmp(msg, "MASTERDOWN", 10) == 0;
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
  bool ok = v->type == REDIS_REPLY_STRING
                ? store_session_unpack(v->str, v->len, out, err, err_len)
                : store_session_decode(v, out, err, err_len);
  /* A locked session is never verified. Versions before issue 21 could
   * store one as locked AND verified (a verified handoff or link for a
   * locked-out customer); it is read, answered, linked and rewritten as
   * not verified. */
  if (ok && out->outcome == FLOW_OUTCOME_LOCKED)
    out->verified = false;
  return ok;
}

/* Decode the session that is the reply's second element into *out; false
 * (err filled when it was there) when it is absent or bad. */
static bool reply_session(const redisReply *r, flow_session *out, char *err,
                          size_t err_len) {
  return r->elements >= 2 && decode_session(r->element[1], out, err, err_len);
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
  return strcmp(w->str, "global") == 0     ? STORE_LIMIT_GLOBAL
         : strcmp(w->str, "caller") == 0   ? STORE_LIMIT_CALLER
         : strcmp(w->str, "withheld") == 0 ? STORE_LIMIT_WITHHELD
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

/* The reply's status word is `word`. */
bool store_reply_said(const redisReply *r, const char *word) {
  return strcmp(r->element[0]->str, word) == 0;
}

store_status store_reply_unexpected(const redisReply *r, char *err,
                                    size_t err_len) {
  snprintf(err, err_len, "redis: unexpected script status '%s'",
           r->element[0]->str);
  return STORE_UNAVAILABLE;
}

/* Strict decimal ms (digits only, no overflow). */
static bool parse_ms(const char *s, int64_t *out) {
  int64_t v = 0;
  if (!*s)
    return false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (INT64_MAX - (*s - '0')) / 10)
      return false;
    v = v * 10 + (*s - '0');
  }
  *out = v;
  return true;
}

/* Copy a reply string into a fixed field; false when it does not fit. */
static bool copy_str(char *dst, size_t size, const redisReply *v) {
  if (v->len >= size || strlen(v->str) != v->len)
    return false;
  memcpy(dst, v->str, v->len + 1);
  return true;
}

/* Read a handoff hash into *h. False when a field is missing or does not
 * fit (a record this code did not write). */
static bool decode_handoff(const redisReply *a, flow_handoff *h) {
  memset(h, 0, sizeof *h);
  unsigned seen = 0;
  for (size_t i = 0; i + 1 < a->elements; i += 2) {
    const redisReply *k = a->element[i], *v = a->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      return false;
    if (!strcmp(k->str, "customerId"))
      seen |= copy_str(h->customer_id, sizeof h->customer_id, v) ? 1u : 0u;
    else if (!strcmp(k->str, "customerName"))
      seen |= copy_str(h->customer_name, sizeof h->customer_name, v) ? 2u : 0u;
    else if (!strcmp(k->str, "verified")) {
      h->verified = !strcmp(v->str, "1");
      seen |= 4u;
    } else if (!strcmp(k->str, "channel"))
      seen |= copy_str(h->channel, sizeof h->channel, v) ? 8u : 0u;
    else if (!strcmp(k->str, "createdMs"))
      seen |= parse_ms(v->str, &h->created_ms) ? 16u : 0u;
  }
  return seen == 31u && h->customer_id[0] != '\0';
}

void store_read_handoff_take(const redisReply *r, store_result *out) {
  out->status = STORE_OK;
  out->taken = STORE_HANDOFF_NO_MATCH;
  if (store_reply_said(r, "ok")) {
    /* Used up either way: a record we cannot read is not honoured. */
    if (r->elements >= 2 && r->element[1]->type == REDIS_REPLY_ARRAY &&
        decode_handoff(r->element[1], &out->handoff))
      out->taken = STORE_HANDOFF_REDEEMED;
  } else if (store_reply_said(r, "tripped")) {
    out->taken = STORE_HANDOFF_TRIPPED;
  } else if (store_reply_said(r, "limited")) {
    out->taken = STORE_HANDOFF_LIMITED;
  } else if (!store_reply_said(r, "no_match")) {
    out->status = store_reply_unexpected(r, out->err, sizeof out->err);
  }
}

void store_reply_read(store_read_kind read, bool want_link, const redisReply *r,
                      store_result *out, bool *let_go) {
  *let_go = false;
  switch (read) {
  case STORE_READ_CREATE:
    store_read_create(r, want_link, out);
    break;
  case STORE_READ_BEGIN:
    store_read_begin(r, out, let_go);
    break;
  case STORE_READ_COMMIT:
    store_read_commit(r, out);
    break;
  case STORE_READ_RELEASE:
    store_read_release(r, out);
    break;
  case STORE_READ_GET:
    store_read_get(r, out);
    break;
  case STORE_READ_DELETE:
    store_read_delete(r, out);
    break;
  case STORE_READ_HANDOFF_TAKE:
    store_read_handoff_take(r, out);
    break;
  case STORE_READ_OTP_SEND:
    store_read_otp_send(r, out);
    break;
  }
}
