/*
 * handoff_api: POST /v1/handoffs (SPEC §7). A digital channel's back end,
 * holding a handoff key, vouches for a logged-in customer; the answer is a
 * one-time code the app shows and the caller keys in the IVR (redeemed by
 * POST /v1/sessions/{id}/handoff, in api).
 *
 * The code is made from getrandom(2) bits, stored only as an HMAC under
 * handoff.secret (with the customer, the verified flag, the channel, and
 * the service line and number it is bound to, if any) for
 * handoff.ttlSeconds, returned once in the 201 answer, and never logged.
 * Creation is limited per handoff key (handoff.keyMaxPerMinute, counted in
 * Redis under a keyed digest of the key) and over all keys and instances
 * (handoff.maxLiveCodes live at once: the guessing bound's N).
 */
#ifndef AUTHFLOW_HANDOFF_API_H
#define AUTHFLOW_HANDOFF_API_H

#include <stdbool.h>
#include <stddef.h>

#include "api_reply.h"
#include "config.h"
#include "flow.h"
#include "store.h"

/*
 * Handle one creation request whose key was already checked: handoff key
 * number `key_index` of cfg->handoff_keys. Fills *resp: 201
 * {"code","expiresInSeconds"} (rendered as text in a buffer that is wiped
 * before it is freed), 400 for a bad body (the message names the field;
 * also a verified handoff without `phone` under
 * handoff.requirePhoneForVerified), 429 rate_limited with Retry-After when
 * the key's handoff.keyMaxPerMinute is spent or handoff.maxLiveCodes codes
 * are live, 503 when Redis is down, 500 when no random bits or no free
 * code could be had. Every refusal by a limit is counted in
 * authflow_handoff_refused_total{reason}.
 */
void handoff_api_create(const config *cfg, int key_index, const char *body,
                        size_t len, api_response *resp);

/*
 * The caller's number as a digest under the handoff secret, kept with the
 * session to check a handoff bound to a number: "" without a usable ANI or
 * with handoffs off. The number itself is wiped, never kept.
 */
void handoff_api_number_digest(const config *cfg,
                               const config_service_line *line, const char *ani,
                               char out[FLOW_DIGEST_MAX + 1]);

/*
 * A caller keyed `raw` on session `s` of `line` (the identify attempt is
 * already counted). Input that cannot be a code, a line without handoffs,
 * handoffs off, or an attempt beyond the line's maxIdentifyAttempts never
 * reach the store: false, with h->status set for the flow and the metric
 * counted. Otherwise true, with the code's digest in `digest` for the
 * store's take script (it applies the guess limit and uses the handoff up
 * if it fits); h is zeroed. The code is wiped from every buffer here and
 * never logged.
 */
bool handoff_api_prepare(const config *cfg, const config_service_line *line,
                         const flow_session *s, const char *raw,
                         flow_handoff *h, char digest[FLOW_DIGEST_MAX + 1]);

/* The take script's result for session `s`: h->status for the flow, the
 * metric, and a warning when the guess limit trips. */
void handoff_api_taken(const config *cfg, const flow_session *s,
                       store_handoff_result taken, flow_handoff *h);

#endif
