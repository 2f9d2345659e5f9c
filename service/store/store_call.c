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

void store_call_read(store_read_kind read, bool want_link, const redisReply *r,
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
