/*
 * store_handoff: handoff codes in Redis (SPEC §7), one script each to put
 * a handoff and to take it (see store_script.c). Redis holds a handoff
 * under the HMAC of its code, never the code.
 */
#include "store_handoff.h"

#include "store_call.h"
#include "store_conn.h"
#include "store_internal.h"
#include "store_reply.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The handoff record's key: "<prefix>handoff:code:<digest>". */
static bool handoff_key(char *out, size_t len, const char *digest, char *err,
                        size_t err_len) {
  return store_key(out, len, "handoff:code", digest, err, err_len);
}

/* The refusal's wait in seconds (element 1): at least 1. */
static int wait_seconds(const redisReply *r) {
  if (r->elements < 2 || r->element[1]->type != REDIS_REPLY_INTEGER ||
      r->element[1]->integer < 1)
    return 1;
  return r->element[1]->integer > 86400 ? 86400 : (int)r->element[1]->integer;
}

store_status store_handoff_put(const char *digest, const flow_handoff *h,
                               const char *service_line,
                               const char *number_digest,
                               const store_handoff_limits *lim,
                               store_put_result *result, int *retry_after,
                               char *err, size_t err_len) {
  char key[STORE_KEY_MAX], live[STORE_KEY_MAX], rate[STORE_KEY_MAX];
  char ttl[16], max_live[16], per_key[16], created[24];
  *result = STORE_PUT_ISSUED;
  *retry_after = 0;
  if (!handoff_key(key, sizeof key, digest, err, err_len) ||
      !store_key(live, sizeof live, "handoff", "live", err, err_len) ||
      !store_key(rate, sizeof rate, "handoff:rate",
                 lim->key_id && lim->key_id[0] ? lim->key_id : "-", err,
                 err_len))
    return STORE_UNAVAILABLE;
  snprintf(ttl, sizeof ttl, "%d", lim->ttl_seconds);
  snprintf(max_live, sizeof max_live, "%d", lim->max_live);
  snprintf(per_key, sizeof per_key, "%d", lim->key_max_per_minute);
  snprintf(created, sizeof created, "%lld", (long long)h->created_ms);
  const char *keys[] = {key, live, rate};
  const char *args[] = {ttl,
                        max_live,
                        per_key,
                        "60",
                        digest,
                        "customerId",
                        h->customer_id,
                        "customerName",
                        h->customer_name,
                        "verified",
                        h->verified ? "1" : "0",
                        "channel",
                        h->channel,
                        "serviceLine",
                        service_line ? service_line : "",
                        "numberDigest",
                        number_digest ? number_digest : "",
                        "createdMs",
                        created};
  redisReply *r =
      store_conn_script(STORE_SCRIPT_HANDOFF_PUT, keys, 3, args,
                        (int)(sizeof args / sizeof args[0]), err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = STORE_OK;
  if (store_reply_said(r, "rate_limited") || store_reply_said(r, "full")) {
    *result =
        store_reply_said(r, "full") ? STORE_PUT_FULL : STORE_PUT_RATE_LIMITED;
    *retry_after = wait_seconds(r);
  } else if (store_reply_said(r, "exists")) {
    st = STORE_EXISTS;
  } else if (!store_reply_said(r, "ok")) {
    st = store_reply_unexpected(r, err, err_len);
  }
  freeReplyObject(r);
  return st;
}

store_status store_handoff_take(const char *digest, const char *service_line,
                                const char *number_digest, flow_handoff *out,
                                store_handoff_result *result, char *err,
                                size_t err_len) {
  store_call c;
  store_result res = {0};
  res.taken = STORE_HANDOFF_NO_MATCH;
  store_status built = store_call_handoff_take(
      &c, digest, service_line, number_digest, res.err, sizeof res.err);
  store_status st = store_conn_run(built, &c, &res, err, err_len);
  *out = res.handoff;
  *result = res.taken;
  return st;
}
