/*
 * store_call: the request half every operation shares (argv and the text
 * area its keys and numbers live in), and the dispatch to each
 * operation's reply reader. See store_call.h.
 */
#include "store_call.h"
#include "decimal.h"

#include "store_internal.h"

#include <stdio.h>
#include <string.h>

void store_call_start(store_call *c, store_script_id id, store_read_kind read) {
  c->script = id;
  c->read = read;
  c->want_link = false;
  c->bad = false;
  c->nkeys = 0;
  c->argc = 0;
  c->used = 0;
}

/* Append s to argv; a full argv marks the call bad (never with the
 * builders here: STORE_CALL_ARGV_MAX is their most). */
static void push(store_call *c, const char *s) {
  if (c->argc >= STORE_CALL_ARGV_MAX) {
    c->bad = true;
    return;
  }
  c->argv[c->argc++] = s;
}

/* Write "<prefix><kind>:<id>" into the text area and append it; false
 * (err filled) when it is too long. */
static bool push_key(store_call *c, const char *kind, const char *id, char *err,
                     size_t err_len) {
  size_t room = sizeof c->text - c->used;
  if (room > STORE_KEY_MAX)
    room = STORE_KEY_MAX;
  char *out = c->text + c->used;
  if (!store_key(out, room, kind, id, err, err_len))
    return false;
  c->used += strlen(out) + 1;
  push(c, out);
  return true;
}

bool store_call_key(store_call *c, const char *kind, const char *id, char *err,
                    size_t err_len) {
  if (!push_key(c, kind, id, err, err_len))
    return false;
  c->nkeys = c->argc;
  return true;
}

bool store_call_key_arg(store_call *c, const char *kind, const char *id,
                        char *err, size_t err_len) {
  return push_key(c, kind, id, err, err_len);
}

void store_call_raw_key(store_call *c, const char *key) {
  push(c, key);
  c->nkeys = c->argc;
}

store_status store_call_built(const store_call *c, char *err, size_t err_len) {
  if (!c->bad)
    return STORE_OK;
  snprintf(err, err_len, "store: request too large");
  return STORE_UNAVAILABLE;
}

void store_call_arg(store_call *c, const char *s) {
  push(c, s);
}

const char *store_call_num(store_call *c, long long v) {
  if (sizeof c->text - c->used < 24) {
    c->bad = true;
    return "0";
  }
  char *s = c->text + c->used;
  c->used += decimal_format(s, v) + 1;
  return s;
}

int store_call_report_args(const report_record *rec, const char **out,
                           store_report_texts *txt) {
  if (!rec || (rec->incr_count == 0 && rec->event_count == 0))
    return 0;
  const store_config *cfg = store_cfg();
  const store_texts *fixed = store_cfg_texts();
  int n = 0;
  decimal_format(txt->nc, (long long)rec->incr_count);
  out[n++] = fixed->report_ttl;
  out[n++] = txt->nc;
  for (size_t i = 0; i < rec->incr_count; i++) {
    out[n++] = rec->incr_field[i];
    out[n++] = rec->incr_amount[i];
  }
  long long minid =
      (long long)rec->now_ms - cfg->report_stream_max_age_seconds * 1000LL;
  decimal_format(txt->minid, minid > 0 ? minid : 0);
  decimal_format(txt->ne, (long long)rec->event_count);
  out[n++] = fixed->stream_max_len;
  out[n++] = txt->minid;
  out[n++] = txt->ne;
  for (size_t i = 0; i < rec->event_count; i++) {
    out[n++] = rec->event_name[i];
    out[n++] = rec->event_value[i];
  }
  return n;
}

/* Append "<mark><n>\r\n" at out + at when it fits in cap; returns the
 * new length either way. */
static size_t put_head(char *out, size_t cap, size_t at, char mark, size_t n) {
  char num[24];
  size_t len = decimal_format(num, (long long)n);
  if (at + 1 + len + 2 <= cap) {
    out[at] = mark;
    memcpy(out + at + 1, num, len);
    out[at + 1 + len] = '\r';
    out[at + 2 + len] = '\n';
  }
  return at + 1 + len + 2;
}

size_t store_call_format(int argc, const char *const *argv, const size_t *lens,
                         char *out, size_t cap) {
  size_t at = put_head(out, cap, 0, '*', (size_t)argc);
  for (int i = 0; i < argc; i++) {
    at = put_head(out, cap, at, '$', lens[i]);
    if (at + lens[i] + 2 <= cap) {
      memcpy(out + at, argv[i], lens[i]);
      out[at + lens[i]] = '\r';
      out[at + lens[i] + 1] = '\n';
    }
    at += lens[i] + 2;
  }
  return at;
}

const char *store_call_pack(store_call *c, const flow_session *s, char *err,
                            size_t err_len) {
  size_t room = sizeof c->text - c->used, len;
  if (room > STORE_PACKED_MAX)
    room = STORE_PACKED_MAX;
  char *out = c->text + c->used;
  if (!store_session_pack(s, out, room, &len, err, err_len))
    return NULL;
  c->used += len + 1;
  return out;
}

void store_call_int(store_call *c, long long v) {
  push(c, store_call_num(c, v));
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
  store_call_arg(c, store_cfg_texts()->lock_ms);
  store_call_arg(c, want_link ? "1" : "0");
  store_call_arg(c, store_cfg_texts()->lockout_prefix);
  store_call_arg(c, store_cfg_texts()->lockout_max);
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
  store_call_arg(c, store_cfg_texts()->lock_ms);
  store_call_arg(c, counter == FLOW_COUNTER_IDENTIFY ||
                            counter == FLOW_COUNTER_IDENTIFIER
                        ? "identifyAttempts"
                    : counter == FLOW_COUNTER_VERIFY ? "verifyAttempts"
                                                     : "");
  store_call_arg(c, store_cfg_texts()->lockout_prefix);
  store_call_arg(c, store_cfg_texts()->lockout_max);
  store_call_arg(c, store_cfg_texts()->failure_memory);
  const store_texts *t = store_cfg_texts();
  store_call_arg(c, t->global_prefix);
  store_call_arg(c, t->global_max);
  store_call_arg(c, t->caller_prefix);
  store_call_arg(c, t->caller_max);
  store_call_arg(c, t->caller_window);
  store_call_arg(c, t->withheld_key);
  store_call_arg(c, t->withheld_max);
  store_call_arg(c, counter == FLOW_COUNTER_IDENTIFIER ? "1" : "0");
  store_call_arg(c, t->id_global_prefix);
  store_call_arg(c, t->id_global_max);
  store_call_arg(c, t->id_caller_prefix);
  store_call_arg(c, t->id_caller_max);
  store_call_arg(c, t->id_caller_window);
  store_call_arg(c, t->id_withheld_key);
  store_call_arg(c, t->id_withheld_max);
  for (int s = FLOW_STATE_AWAITING_IDENTIFIER; s <= FLOW_STATE_AWAITING_OTP;
       s++)
    if (allowed_states & (1u << s))
      store_call_arg(c, flow_state_name((flow_state)s));
  return store_call_built(c, err, err_len);
}

/* The commit script's keys: session, lock, the customer's lockout counter,
 * the report hour hash, stream and dropped counter, the customer's lockout
 * count, the line's and the caller's failed-verification counters, the
 * line's and the caller's failed-identification counters (the caller's
 * are the shared "withheld" ones without a usable ANI), then the report
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
  const char *caller = s->ani_hash[0] ? s->ani_hash : STORE_WITHHELD;
  bool event = rec && rec->event_count > REPORT_EVENT_CHANNEL;
  return store_call_key(c, "limit:global", s->service_line, err, err_len) &&
         store_call_key(c, "limit:caller", caller, err, err_len) &&
         store_call_key(c, "limit:idglobal", s->service_line, err, err_len) &&
         store_call_key(c, "limit:idcaller", caller, err, err_len) &&
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

/* The commit script's effect word for `lockout` (see script_commit). */
static const char *effect_word(const flow_session *s,
                               flow_lockout_effect lockout) {
  if (lockout == FLOW_LOCKOUT_IDENTIFY_FAILURE)
    return "idfail";
  if (!s->customer_id[0])
    return "none";
  switch (lockout) {
  case FLOW_LOCKOUT_RECORD_FAILURE:
    return "fail";
  case FLOW_LOCKOUT_RECORD_UNANSWERED:
    return "unanswered";
  case FLOW_LOCKOUT_CLEAR:
    return "clear";
  case FLOW_LOCKOUT_NONE:
  case FLOW_LOCKOUT_IDENTIFY_FAILURE:
    break;
  }
  return "none";
}

/* The commit script's first COMMIT_HEAD arguments (see script_commit),
 * written to head[]; nrep is how many report arguments follow them. */
#define COMMIT_HEAD 13
static void commit_head_args(store_call *c, const char **head,
                             const flow_session *s, const char *token,
                             flow_lockout_effect lockout, bool check_lockout,
                             int nrep) {
  head[0] = token;
  head[1] = store_cfg_texts()->session_ttl;
  head[2] = effect_word(s, lockout);
  head[3] = check_lockout && s->customer_id[0] ? "1" : "0";
  head[4] = store_cfg_texts()->lockout_max;
  head[5] = store_cfg_texts()->lockout_window;
  head[6] = store_cfg_texts()->lockout_max_lock;
  head[7] = store_cfg_texts()->escalation_reset;
  head[8] = store_cfg_texts()->global_on;
  const store_config *cfg = store_cfg();
  int caller_max =
      s->ani_hash[0] ? cfg->caller_max_failures : cfg->withheld_max_failures;
  head[9] = caller_max > 0 ? "1" : "0";
  head[10] = store_cfg_texts()->failure_memory;
  head[11] = store_cfg_texts()->id_global_on;
  head[12] = store_call_num(c, nrep);
}

store_status store_call_commit(store_call *c, const flow_session *s,
                               const char *token, flow_lockout_effect lockout,
                               bool check_lockout, const report_record *rec,
                               char *err, size_t err_len) {
  store_call_start(c, STORE_SCRIPT_COMMIT, STORE_READ_COMMIT);
  if (!commit_keys(c, s, rec, err, err_len))
    return STORE_UNAVAILABLE;
  const char **head = c->argv + c->argc;
  int nrep = store_call_report_args(rec, head + COMMIT_HEAD, &c->report_texts);
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
  store_call_arg(c, store_cfg_texts()->session_ttl);
  return store_call_built(c, err, err_len);
}

store_status store_call_handoff_take(store_call *c, const char *digest,
                                     const char *service_line,
                                     const char *number_digest, char *err,
                                     size_t err_len) {
  const store_config *cfg = store_cfg();
  store_call_start(c, STORE_SCRIPT_HANDOFF_TAKE, STORE_READ_HANDOFF_TAKE);
  if (!store_call_key(c, "handoff:code", digest, err, err_len) ||
      !store_call_key(c, "handoff", "failures", err, err_len) ||
      !store_call_key(c, "handoff", "live", err, err_len))
    return STORE_UNAVAILABLE;
  store_call_int(c, cfg->handoff_max_failures);
  store_call_int(c, cfg->handoff_failure_window_seconds);
  store_call_arg(c, service_line);
  store_call_arg(c, number_digest ? number_digest : "");
  store_call_arg(c, digest);
  return store_call_built(c, err, err_len);
}
