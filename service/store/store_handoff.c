/*
 * store_handoff: handoff codes in Redis (SPEC §7), one script each to put
 * a handoff and to take it (see store_script.c). Redis holds a handoff
 * under the HMAC of its code, never the code.
 */
#include "store.h"

#include "store_call.h"
#include "store_conn.h"
#include "store_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The handoff record's key: "<prefix>handoff:code:<digest>". */
static bool handoff_key(char *out, size_t len, const char *digest, char *err,
                        size_t err_len) {
  return store_key(out, len, "handoff:code", digest, err, err_len);
}

/* The reply's status word is `word`. */
static bool said(const redisReply *r, const char *word) {
  return strcmp(r->element[0]->str, word) == 0;
}

static store_status unexpected(const redisReply *r, char *err, size_t err_len) {
  snprintf(err, err_len, "redis: unexpected script status '%s'",
           r->element[0]->str);
  return STORE_UNAVAILABLE;
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
  if (said(r, "rate_limited") || said(r, "full")) {
    *result = said(r, "full") ? STORE_PUT_FULL : STORE_PUT_RATE_LIMITED;
    *retry_after = wait_seconds(r);
  } else if (said(r, "exists")) {
    st = STORE_EXISTS;
  } else if (!said(r, "ok")) {
    st = unexpected(r, err, err_len);
  }
  freeReplyObject(r);
  return st;
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

void store_read_handoff_take(const redisReply *r, store_result *out) {
  out->status = STORE_OK;
  out->taken = STORE_HANDOFF_NO_MATCH;
  if (said(r, "ok")) {
    /* Used up either way: a record we cannot read is not honoured. */
    if (r->elements >= 2 && r->element[1]->type == REDIS_REPLY_ARRAY &&
        decode_handoff(r->element[1], &out->handoff))
      out->taken = STORE_HANDOFF_REDEEMED;
  } else if (said(r, "tripped")) {
    out->taken = STORE_HANDOFF_TRIPPED;
  } else if (said(r, "limited")) {
    out->taken = STORE_HANDOFF_LIMITED;
  } else if (!said(r, "no_match")) {
    out->status = unexpected(r, out->err, sizeof out->err);
  }
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
  store_status st = store_call_run(built, &c, &res, err, err_len);
  *out = res.handoff;
  *result = res.taken;
  return st;
}
