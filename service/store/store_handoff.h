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

/* What limits a handoff's creation (SPEC §7; config handoff.*). */
typedef struct {
  int ttl_seconds;        /* the code's lifetime */
  int max_live;           /* most live codes over every key and instance */
  int key_max_per_minute; /* most creations per key a minute; 0: no limit */
  const char *key_id;     /* the creating key's id (a keyed digest) */
} store_handoff_limits;

typedef enum {
  STORE_PUT_ISSUED = 0,   /* stored; the code is live */
  STORE_PUT_RATE_LIMITED, /* the key's creations this minute are spent */
  STORE_PUT_FULL,         /* max_live codes are live */
} store_put_result;

/*
 * Store a handoff under `digest` (hex HMAC of its code) for
 * lim->ttl_seconds: h's customer, name, verified flag, channel and
 * created_ms, plus the service line and number digest it is bound to (""
 * or NULL: any), in one script that also counts the creation against its
 * key and holds the live cap, so racing creations on every instance never
 * pass either limit. STORE_OK with *result; on a refusal *retry_after is
 * the seconds until a creation can succeed (>= 1). STORE_EXISTS when that
 * digest is already live (draw another code; nothing counted).
 */
store_status store_handoff_put(const char *digest, const flow_handoff *h,
                               const char *service_line,
                               const char *number_digest,
                               const store_handoff_limits *lim,
                               store_put_result *result, int *retry_after,
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
