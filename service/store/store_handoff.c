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

store_status store_handoff_put(const char *digest, const flow_handoff *h,
                               const char *service_line,
                               const char *number_digest, int ttl_seconds,
                               char *err, size_t err_len) {
  char key[STORE_KEY_MAX], ttl[16], created[24];
  if (!handoff_key(key, sizeof key, digest, err, err_len))
    return STORE_UNAVAILABLE;
  snprintf(ttl, sizeof ttl, "%d", ttl_seconds);
  snprintf(created, sizeof created, "%lld", (long long)h->created_ms);
  const char *keys[] = {key};
  const char *args[] = {ttl,
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
      store_conn_script(STORE_SCRIPT_HANDOFF_PUT, keys, 1, args,
                        (int)(sizeof args / sizeof args[0]), err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = store_reply_said(r, "ok") ? STORE_OK
                    : store_reply_said(r, "exists")
                        ? STORE_EXISTS
                        : store_reply_unexpected(r, err, err_len);
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
