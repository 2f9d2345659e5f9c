/*
 * store_otp: the send limits of one-time codes (SPEC §9), checked and
 * counted in one script before a code goes out. Keys, under the prefix P:
 *   P otp:customer:{customerId}  codes sent to a customer, for a day from
 *                                the first
 *   P otp:phone:{phoneHash}      codes sent to a phone (keyed hash of the
 *                                number, never the number), for an hour
 * The customer's lockout counter is read too: a locked-out customer gets
 * no code (the commit then completes the session as locked).
 */
#include "store_async.h"
#include "store_call.h"
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

/* KEYS: 1 customer counter, 2 phone counter, 3 the customer's lockout
 * counter. ARGV: 1 per-customer limit (0 = off), 2 per-phone limit (0 =
 * off), 3 lockout max. Reply: {'ok'} (counted on both), {'locked'},
 * {'customer'} or {'phone'} (at that limit: nothing counted). A counter
 * that is not a number counts as the limit (the safe reading). Fixed
 * windows from the first send: EXPIRE only when INCR made the key. */
const char store_otp_script_source[] =
    "local function num(k)\n"
    "  local v = redis.pcall('GET', k)\n"
    "  if type(v) == 'table' or (v and not string.match(v, '^%d+$')) then\n"
    "    return nil\n"
    "  end\n"
    "  return tonumber(v or '0')\n"
    "end\n"
    "local l = num(KEYS[3])\n"
    "if not l or l >= tonumber(ARGV[3]) then return {'locked'} end\n"
    "local cm, pm = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local c, p = num(KEYS[1]), num(KEYS[2])\n"
    "if cm > 0 and (not c or c >= cm) then return {'customer'} end\n"
    "if pm > 0 and (not p or p >= pm) then return {'phone'} end\n"
    "local function bump(k, ttl)\n"
    "  local n = redis.call('INCR', k)\n"
    "  if n == 1 or redis.call('TTL', k) < 0 then redis.call('EXPIRE', k, "
    "ttl) end\n"
    "end\n"
    "if cm > 0 then bump(KEYS[1], 86400) end\n"
    "if pm > 0 then bump(KEYS[2], 3600) end\n"
    "return {'ok'}\n";

static store_status build(store_call *c, const char *customer_id,
                          const char *phone_hash, int per_customer,
                          int per_phone, char *err, size_t err_len) {
  store_call_start(c, STORE_SCRIPT_OTP_SEND, STORE_READ_OTP_SEND);
  if (!store_call_key(c, "otp:customer", customer_id, err, err_len) ||
      !store_call_key(c, "otp:phone", phone_hash, err, err_len) ||
      !store_call_key(c, "lockout", customer_id, err, err_len))
    return STORE_UNAVAILABLE;
  store_call_int(c, per_customer);
  store_call_int(c, per_phone);
  store_call_int(c, store_cfg()->lockout_max_failures);
  return store_call_built(c, err, err_len);
}

void store_read_otp_send(const redisReply *r, store_result *out) {
  static const struct {
    const char *word;
    store_otp_verdict verdict;
  } words[] = {{"ok", STORE_OTP_SEND_OK},
               {"locked", STORE_OTP_SEND_LOCKED},
               {"customer", STORE_OTP_SEND_CUSTOMER_LIMIT},
               {"phone", STORE_OTP_SEND_PHONE_LIMIT}};
  const char *w = r->element[0]->str;
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strcmp(w, words[i].word) == 0) {
      out->status = STORE_OK;
      out->otp_send = words[i].verdict;
      return;
    }
  out->status = STORE_UNAVAILABLE;
  snprintf(out->err, sizeof out->err, "redis: unexpected otp reply");
}

void store_otp_send_async(const char *customer_id, const char *phone_hash,
                          int per_customer, int per_phone, store_result *out,
                          store_done_fn done, void *ctx) {
  store_call c;
  memset(out, 0, sizeof *out);
  store_status built = build(&c, customer_id, phone_hash, per_customer,
                             per_phone, out->err, sizeof out->err);
  store_async_start(built, &c, out, done, ctx);
}
