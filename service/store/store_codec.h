/*
 * store_codec: a flow_session as the Redis hash it is stored in, one field
 * per flow_session member, named as the wire names in store_codec.c.
 *
 * Decoding is strict, done here and not in Lua: an unknown enum name, a
 * number that is not plain decimal, a string too long for its flow_session
 * buffer or a missing field makes the record unreadable. Encoding refuses
 * what decoding would refuse, so a bad record is never written.
 *
 * Internal to service/store: callers use store.h.
 */
#ifndef AUTHFLOW_STORE_CODEC_H
#define AUTHFLOW_STORE_CODEC_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

/* How many fields a session hash has (field, value pairs for HSET). */
#define STORE_SESSION_FIELDS 22

/* Decimal texts of the numeric fields while a session is encoded. */
typedef struct {
  char text[STORE_SESSION_FIELDS][24];
} store_session_texts;

/*
 * Decode an HGETALL array `h` into *s (zeroed first). False, err filled,
 * when `h` is not a hash or any field is missing or invalid.
 */
bool store_session_decode(const redisReply *h, flow_session *s, char *err,
                          size_t err_len);

/*
 * Fill out[0 .. 2*STORE_SESSION_FIELDS) with field, value pairs for HSET.
 * The values point into *s, static names or *nums, so both must outlive
 * out. False (err filled) when the session holds something
 * store_session_decode() would refuse.
 */
bool store_session_encode(const flow_session *s, const char **out,
                          store_session_texts *nums, char *err, size_t err_len);

#endif
