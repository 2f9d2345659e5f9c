/*
 * store_otp: the send limits of one-time codes (SPEC §9), checked and
 * counted in one script before a code goes out. Keys, under the prefix P:
 *   P otp:customer:{customerId}  codes sent to a customer, for a day from
 *                                the first
 *   P otp:phone:{phoneHash}      codes sent to a phone (keyed hash of the
 *                                number, never the number), for an hour
 * The customer's lockout counter is read too: a locked-out customer gets
 * no code (the commit then completes the session as locked). The script
 * (script_otp_send) is in store_script.c with the others; the loop's
 * operation is store_otp_send_async (store_async.c).
 */
#include "store_async.h"
#include "store_call.h"
#include "store_internal.h"
#include "store_reply.h"

#include <stdio.h>
#include <string.h>

store_status store_call_otp_send(store_call *c, const char *customer_id,
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
