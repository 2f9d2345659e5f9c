/*
 * store_handoff: handoff codes in Redis (SPEC §7) for the offload thread's
 * blocking connection (store_conn): one script each to put a handoff and
 * to take it (store_script.c). Redis holds a handoff under the HMAC of its
 * code, never the code. The loop's take is store_handoff_take_async
 * (store_async.h), built and read the same way (store_call, store_reply).
 *
 * Low-level module: it never logs. Failures are described in `err`.
 */
#ifndef AUTHFLOW_STORE_HANDOFF_H
#define AUTHFLOW_STORE_HANDOFF_H

#include <stddef.h>

#include "flow.h"
#include "store_types.h"

/*
 * Store a handoff under `digest` (hex HMAC of its code) for ttl_seconds:
 * h's customer, name, verified flag, channel and created_ms, plus the
 * service line and number digest it is bound to ("" or NULL: any).
 * STORE_EXISTS when that digest is already live (draw another code).
 */
store_status store_handoff_put(const char *digest, const flow_handoff *h,
                               const char *service_line,
                               const char *number_digest, int ttl_seconds,
                               char *err, size_t err_len);

/*
 * Redeem the handoff under `digest` for a session on `service_line` whose
 * number digest is `number_digest` ("" or NULL: no usable ANI), in one
 * script: the guess limit first, then the handoff is read and deleted if
 * its line and number fit. Exactly one of any number of racing calls for
 * one handoff gets STORE_HANDOFF_REDEEMED. STORE_OK with *result, or
 * STORE_UNAVAILABLE.
 */
store_status store_handoff_take(const char *digest, const char *service_line,
                                const char *number_digest, flow_handoff *out,
                                store_handoff_result *result, char *err,
                                size_t err_len);

#endif
