/*
 * store_schedule: seen / claim / renew / settle and the deliveries list.
 * See store_schedule.h. The scripts are sent with EVAL (at most a few per
 * schedule and tick: not worth a slot among the step scripts).
 */
#include "store_schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decimal.h"
#include "entropy.h"
#include "store_conn.h"
#include "store_internal.h"

/* KEYS[1] seen; ARGV[1] now. */
static const char script_seen[] = "redis.call('SET', KEYS[1], ARGV[1], 'NX') "
                                  "return redis.call('GET', KEYS[1])";

/* KEYS[1] done, KEYS[2] claim; ARGV[1] token, ARGV[2] lease ms. A claim
 * already ours is 'taken' again: the blocking connection sends a command
 * again after a lost reply (store_conn_command), and the copy must not
 * read our own claim as another replica's. */
static const char script_claim[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end "
    "if redis.call('GET', KEYS[2]) == ARGV[1] then "
    "redis.call('PEXPIRE', KEYS[2], ARGV[2]) return 'taken' end "
    "if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then "
    "return 'taken' end "
    "return 'held'";

/* KEYS[1] claim; ARGV[1] token, ARGV[2] lease ms. */
static const char script_renew[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end "
    "return 0";

/* KEYS[1] done, KEYS[2] claim, KEYS[3] deliveries; ARGV[1] token,
 * ARGV[2] record, ARGV[3] done TTL s, ARGV[4] list max. An empty done key
 * (a run on demand) only adds to the list. A copy sent again after a lost
 * reply finds its own record already done and adds nothing twice. */
static const char script_settle[] =
    "if KEYS[1] ~= '' then "
    "if redis.call('GET', KEYS[1]) == ARGV[2] then return 1 end "
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) "
    "if redis.call('GET', KEYS[2]) == ARGV[1] then "
    "redis.call('DEL', KEYS[2]) end end "
    "redis.call('LPUSH', KEYS[3], ARGV[2]) "
    "redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1) "
    "return 1";

/* "<prefix>report:schedule:<name>:<period>:<what>" (period NULL: no
 * period part). */
static bool schedule_key(char *out, const char *name, const char *period,
                         const char *what, char *err, size_t err_len) {
  char id[160];
  int n = period ? snprintf(id, sizeof id, "%s:%s:%s", name, period, what)
                 : snprintf(id, sizeof id, "%s:%s", name, what);
  if (n < 0 || (size_t)n >= sizeof id) {
    snprintf(err, err_len, "store: schedule key too long");
    return false;
  }
  return store_key(out, STORE_KEY_MAX, "report:schedule", id, err, err_len);
}

store_status store_schedule_seen(const char *name, int64_t now,
                                 int64_t *first_seen, char *err,
                                 size_t err_len) {
  char key[STORE_KEY_MAX], num[24];
  if (!schedule_key(key, name, NULL, "seen", err, err_len))
    return STORE_UNAVAILABLE;
  decimal_format(num, (long long)now);
  const char *argv[] = {"EVAL", script_seen, "1", key, num};
  redisReply *r = store_conn_command(5, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  char *end = NULL;
  long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, &end, 10) : 0;
  bool ok = end && end != r->str && *end == '\0';
  freeReplyObject(r);
  if (!ok)
    return store_fail(STORE_CORRUPT, "schedule: first-seen is not a number",
                      err, err_len);
  *first_seen = v;
  return STORE_OK;
}

store_status store_schedule_claim(const char *name, const char *period,
                                  const char *token, long lease_ms,
                                  store_claim *out, char *err, size_t err_len) {
  char done[STORE_KEY_MAX], claim[STORE_KEY_MAX], ms[24];
  if (!schedule_key(done, name, period, "done", err, err_len) ||
      !schedule_key(claim, name, period, "claim", err, err_len))
    return STORE_UNAVAILABLE;
  decimal_format(ms, lease_ms);
  const char *argv[] = {"EVAL", script_claim, "2", done, claim, token, ms};
  redisReply *r = store_conn_command(7, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = STORE_OK;
  if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "taken") == 0)
    *out = STORE_CLAIM_TAKEN;
  else if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "done") == 0)
    *out = STORE_CLAIM_DONE;
  else if (r->type == REDIS_REPLY_STRING && strcmp(r->str, "held") == 0)
    *out = STORE_CLAIM_HELD;
  else
    st = store_fail(STORE_CORRUPT, "schedule: unexpected claim reply", err,
                    err_len);
  freeReplyObject(r);
  return st;
}

store_status store_schedule_renew(const char *name, const char *period,
                                  const char *token, long lease_ms, bool *held,
                                  char *err, size_t err_len) {
  char claim[STORE_KEY_MAX], ms[24];
  if (!schedule_key(claim, name, period, "claim", err, err_len))
    return STORE_UNAVAILABLE;
  decimal_format(ms, lease_ms);
  const char *argv[] = {"EVAL", script_renew, "1", claim, token, ms};
  redisReply *r = store_conn_command(6, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  *held = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  freeReplyObject(r);
  return STORE_OK;
}

store_status store_schedule_settle(const char *name, const char *period,
                                   const char *token, const char *record,
                                   char *err, size_t err_len) {
  char done[STORE_KEY_MAX] = "", claim[STORE_KEY_MAX] = "", list[STORE_KEY_MAX],
       ttl[24], max[24];
  if ((period && (!schedule_key(done, name, period, "done", err, err_len) ||
                  !schedule_key(claim, name, period, "claim", err, err_len))) ||
      !store_key(list, sizeof list, "report", "deliveries", err, err_len))
    return STORE_UNAVAILABLE;
  decimal_format(ttl, STORE_SCHEDULE_DONE_TTL_SECONDS);
  decimal_format(max, STORE_DELIVERIES_MAX);
  const char *argv[] = {"EVAL", script_settle,      "3",    done, claim,
                        list,   token ? token : "", record, ttl,  max};
  redisReply *r = store_conn_command(10, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  freeReplyObject(r);
  return STORE_OK;
}

store_status store_schedule_deliveries(
    size_t max, void (*on_record)(void *user, const char *json, size_t len),
    void *user, char *err, size_t err_len) {
  char list[STORE_KEY_MAX], last[24];
  if (!store_key(list, sizeof list, "report", "deliveries", err, err_len))
    return STORE_UNAVAILABLE;
  decimal_format(last, max > 0 ? (long long)max - 1 : 0);
  const char *argv[] = {"LRANGE", list, "0", last};
  redisReply *r = store_conn_command(4, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  if (r->type == REDIS_REPLY_ARRAY)
    for (size_t i = 0; i < r->elements && i < max; i++)
      if (r->element[i]->type == REDIS_REPLY_STRING)
        on_record(user, r->element[i]->str, r->element[i]->len);
  freeReplyObject(r);
  return STORE_OK;
}

void store_schedule_token(char *out, size_t out_len) {
  char host[64] = "host", hex[17];
  if (gethostname(host, sizeof host) != 0)
    snprintf(host, sizeof host, "host");
  host[sizeof host - 1] = '\0';
  entropy_hex(hex, sizeof hex, 8);
  snprintf(out, out_len, "%s/%ld/%s", host, (long)getpid(), hex);
}
