/*
 * store_report: the report reads: plain commands, not scripts (they only
 * read). See store_report.h.
 */
#include "store_report.h"
#include "decimal.h"

#include "store_conn.h"
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* Parse a whole decimal integer (possibly negative). */
static bool parse_count(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end)
    return false;
  *out = v;
  return true;
}

/* Hashes are read in batches of this many pipelined HGETALLs, so a long
 * range does not queue everything in the output buffer at once. */
#define HOURS_BATCH 256

/* Pass every integer field of one HGETALL reply to on_field. A key of
 * another type answers WRONGTYPE: it holds no counters. */
static void emit_hour_fields(const redisReply *r, size_t hour_index,
                             store_hour_field_fn on_field, void *user) {
  if (r->type != REDIS_REPLY_ARRAY)
    return;
  for (size_t j = 0; j + 1 < r->elements; j += 2) {
    const redisReply *f = r->element[j], *v = r->element[j + 1];
    long long value;
    if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
        parse_count(v->str, &value))
      on_field(user, hour_index, f->str, value);
  }
}

/* One pipelined batch on c: commands first..first+m-1, each built by
 * command into argv (using keybuf for any text it makes; it answers argc, or
 * 0 with err set when it could not), all appended, then each reply passed
 * to on_reply with its index. A failed append or read breaks the
 * connection; either failure answers STORE_UNAVAILABLE. */
enum { PIPE_ARGS = 6 };
typedef size_t (*pipe_command_fn)(void *user, size_t i,
                                  const char *argv[PIPE_ARGS],
                                  char keybuf[STORE_KEY_MAX], char *err,
                                  size_t err_len);
typedef void (*pipe_reply_fn)(void *user, size_t i, const redisReply *r);

static store_status pipelined(redisContext *c, size_t first, size_t m,
                              pipe_command_fn command, pipe_reply_fn on_reply,
                              void *user, char *err, size_t err_len) {
  for (size_t i = first; i < first + m; i++) {
    const char *argv[PIPE_ARGS];
    char keybuf[STORE_KEY_MAX];
    size_t argc = command(user, i, argv, keybuf, err, err_len);
    if (!argc)
      return STORE_UNAVAILABLE;
    if (redisAppendCommandArgv(c, (int)argc, argv, NULL) != REDIS_OK) {
      store_conn_broke(err, err_len);
      return STORE_UNAVAILABLE;
    }
  }
  for (size_t i = first; i < first + m; i++) {
    void *reply = NULL;
    if (redisGetReply(c, &reply) != REDIS_OK || !reply) {
      store_conn_broke(err, err_len);
      return STORE_UNAVAILABLE;
    }
    on_reply(user, i, reply);
    freeReplyObject(reply);
  }
  return STORE_OK;
}

typedef struct {
  const char (*hours)[REPORT_HOUR_LEN + 1];
  store_hour_field_fn on_field;
  void *user;
} hours_read;

/* HGETALL <prefix>report:h:<hour i>. */
static size_t hour_command(void *user, size_t i, const char *argv[PIPE_ARGS],
                           char keybuf[STORE_KEY_MAX], char *err,
                           size_t err_len) {
  const hours_read *h = user;
  if (!store_key(keybuf, STORE_KEY_MAX, "report:h", h->hours[i], err, err_len))
    return 0;
  argv[0] = "HGETALL";
  argv[1] = keybuf;
  return 2;
}

static void hour_reply(void *user, size_t i, const redisReply *r) {
  const hours_read *h = user;
  emit_hour_fields(r, i, h->on_field, h->user);
}

store_status store_report_hours(const char (*hours)[REPORT_HOUR_LEN + 1],
                                size_t n, store_hour_field_fn on_field,
                                void *user, char *err, size_t err_len) {
  redisContext *c = store_conn_get(err, err_len);
  if (!c)
    return STORE_UNAVAILABLE;
  hours_read h = {hours, on_field, user};
  for (size_t base = 0; base < n; base += HOURS_BATCH) {
    size_t m = n - base < HOURS_BATCH ? n - base : HOURS_BATCH;
    store_status st =
        pipelined(c, base, m, hour_command, hour_reply, &h, err, err_len);
    if (st != STORE_OK)
      return st;
  }
  return STORE_OK;
}

/* Pass one XREVRANGE entry (id, [field, value, ...]) to on_event, with at
 * most its first 32 string pairs. A malformed entry is skipped. */
static void emit_event(const redisReply *e, store_event_fn on_event,
                       void *user) {
  enum { MAX_FIELDS = 32 };
  if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
      e->element[0]->type != REDIS_REPLY_STRING ||
      e->element[1]->type != REDIS_REPLY_ARRAY)
    return;
  const redisReply *kv = e->element[1];
  const char *names[MAX_FIELDS], *values[MAX_FIELDS];
  size_t nf = 0;
  for (size_t j = 0; j + 1 < kv->elements && nf < MAX_FIELDS; j += 2)
    if (kv->element[j]->type == REDIS_REPLY_STRING &&
        kv->element[j + 1]->type == REDIS_REPLY_STRING) {
      names[nf] = kv->element[j]->str;
      values[nf++] = kv->element[j + 1]->str;
    }
  on_event(user, e->element[0]->str, nf, names, values);
}

/* XREVRANGE key end start COUNT count: its array reply (the caller frees
 * it), or NULL with *st and err set: STORE_UNAVAILABLE, or STORE_CORRUPT
 * with the message `corrupt` when the reply is not an array. */
static redisReply *xrevrange(const char *key, const char *end,
                             const char *start, size_t count,
                             const char *corrupt, store_status *st, char *err,
                             size_t err_len) {
  char num[24];
  snprintf(num, sizeof num, "%zu", count);
  const char *argv[] = {"XREVRANGE", key, end, start, "COUNT", num};
  redisReply *r = store_conn_command(6, argv, err, err_len);
  *st = STORE_UNAVAILABLE;
  if (!r)
    return NULL;
  if (r->type != REDIS_REPLY_ARRAY) {
    freeReplyObject(r);
    *st = store_fail(STORE_CORRUPT, corrupt, err, err_len);
    return NULL;
  }
  *st = STORE_OK;
  return r;
}

store_status store_report_events(const char *end, const char *start,
                                 size_t count, store_event_fn on_event,
                                 void *user, size_t *returned, char *err,
                                 size_t err_len) {
  *returned = 0;
  char key[STORE_KEY_MAX];
  if (!store_key(key, sizeof key, "report", "events", err, err_len))
    return STORE_UNAVAILABLE;
  store_status st;
  redisReply *r =
      xrevrange(key, end, start, count, "report stream: unexpected reply", &st,
                err, err_len);
  if (!r)
    return st;
  for (size_t i = 0; i < r->elements; i++)
    emit_event(r->element[i], on_event, user);
  *returned = r->elements;
  freeReplyObject(r);
  return STORE_OK;
}

store_status store_report_first_event(char *out, size_t out_len, char *err,
                                      size_t err_len) {
  out[0] = '\0';
  char key[STORE_KEY_MAX];
  if (!store_key(key, sizeof key, "report", "events", err, err_len))
    return STORE_UNAVAILABLE;
  const char *argv[] = {"XRANGE", key, "-", "+", "COUNT", "1"};
  redisReply *r = store_conn_command(6, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
      r->element[0]->type == REDIS_REPLY_ARRAY &&
      r->element[0]->elements >= 1 &&
      r->element[0]->element[0]->type == REDIS_REPLY_STRING)
    snprintf(out, out_len, "%s", r->element[0]->element[0]->str);
  freeReplyObject(r);
  return STORE_OK;
}

store_status store_report_dropped(long long *out, char *err, size_t err_len) {
  *out = 0;
  char key[STORE_KEY_MAX];
  if (!store_key(key, sizeof key, "report", "dropped", err, err_len))
    return STORE_UNAVAILABLE;
  const char *argv[] = {"GET", key};
  redisReply *r = store_conn_command(2, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  if (r->type == REDIS_REPLY_STRING && !parse_count(r->str, out))
    *out = 0;
  freeReplyObject(r);
  return STORE_OK;
}

/* "<prefix>report:ix:<kind>:<value>" into key. */
static bool index_key(char *key, const char *kind, const char *value, char *err,
                      size_t err_len) {
  char kindname[32];
  snprintf(kindname, sizeof kindname, "report:ix:%s", kind);
  return store_key(key, STORE_KEY_MAX, kindname, value, err, err_len);
}

store_status store_report_index_len(const char *kind, const char *value,
                                    long long *out, char *err, size_t err_len) {
  *out = 0;
  char key[STORE_KEY_MAX];
  if (!index_key(key, kind, value, err, err_len))
    return STORE_UNAVAILABLE;
  const char *argv[] = {"XLEN", key};
  redisReply *r = store_conn_command(2, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  if (r->type == REDIS_REPLY_INTEGER)
    *out = r->integer;
  freeReplyObject(r);
  return STORE_OK;
}

store_status store_report_index_ids(const char *kind, const char *value,
                                    const char *end, const char *start,
                                    size_t count,
                                    char (*ids)[STORE_STREAM_ID_MAX + 1],
                                    size_t *n, char *err, size_t err_len) {
  *n = 0;
  char key[STORE_KEY_MAX];
  if (!index_key(key, kind, value, err, err_len))
    return STORE_UNAVAILABLE;
  store_status st;
  redisReply *r =
      xrevrange(key, end, start, count, "report index: unexpected reply", &st,
                err, err_len);
  if (!r)
    return st;
  for (size_t i = 0; i < r->elements && *n < count; i++) {
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
        e->element[0]->type == REDIS_REPLY_STRING &&
        e->element[0]->len <= STORE_STREAM_ID_MAX)
      snprintf(ids[(*n)++], STORE_STREAM_ID_MAX + 1, "%s", e->element[0]->str);
  }
  freeReplyObject(r);
  return STORE_OK;
}

typedef struct {
  const char *key;
  const char (*ids)[STORE_STREAM_ID_MAX + 1];
  store_event_fn on_event;
  void *user;
} events_read;

/* XRANGE <key> <id i> <id i> COUNT 1. */
static size_t event_command(void *user, size_t i, const char *argv[PIPE_ARGS],
                            char keybuf[STORE_KEY_MAX], char *err,
                            size_t err_len) {
  (void)keybuf;
  (void)err;
  (void)err_len;
  const events_read *e = user;
  argv[0] = "XRANGE";
  argv[1] = e->key;
  argv[2] = e->ids[i];
  argv[3] = e->ids[i];
  argv[4] = "COUNT";
  argv[5] = "1";
  return 6;
}

static void event_reply(void *user, size_t i, const redisReply *r) {
  (void)i;
  const events_read *e = user;
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
    emit_event(r->element[0], e->on_event, e->user);
}

store_status store_report_events_at(const char (*ids)[STORE_STREAM_ID_MAX + 1],
                                    size_t n, store_event_fn on_event,
                                    void *user, char *err, size_t err_len) {
  char key[STORE_KEY_MAX];
  if (!store_key(key, sizeof key, "report", "events", err, err_len))
    return STORE_UNAVAILABLE;
  redisContext *c = store_conn_get(err, err_len);
  if (!c)
    return STORE_UNAVAILABLE;
  events_read e = {key, ids, on_event, user};
  return pipelined(c, 0, n, event_command, event_reply, &e, err, err_len);
}

store_status store_report_index_since(char *out, size_t out_len, char *err,
                                      size_t err_len) {
  out[0] = '\0';
  char key[STORE_KEY_MAX];
  if (!store_key(key, sizeof key, "report", "ixsince", err, err_len))
    return STORE_UNAVAILABLE;
  const char *argv[] = {"GET", key};
  redisReply *r = store_conn_command(2, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  if (r->type == REDIS_REPLY_STRING && r->len < out_len)
    snprintf(out, out_len, "%s", r->str);
  freeReplyObject(r);
  return STORE_OK;
}

void store_report_use_target(void) {
  store_conn_use_report_target();
}
