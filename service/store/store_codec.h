/*
 * store_codec: a flow_session as the one string value it is stored in (the
 * packed form), and as the hash the previous version stored it in (one
 * field per flow_session member, named as the wire names in
 * store_codec.c), which is still read so sessions written before an
 * upgrade go on.
 *
 * The packed form is text (no NUL), so a script can read its header with
 * string.match and rewrite an attempt counter by concatenation:
 *
 *   value  = "1" 22( "|" field ) [ "|" otp ] [ "|" anything ]
 *   field  = string / token
 *   string = length ":" bytes   ; length in decimal, bytes exactly that many
 *   token  = 1*( any byte but "|" )  ; enum name, "0"/"1", decimal number
 *
 * The first five fields are the header the scripts read: state (its name),
 * identifyAttempts, verifyAttempts (decimal), aniHash and customerId
 * (strings); the rest follow in the order of the field table, the OTP
 * state (otp.h, a string field) last: a value packed before it existed
 * ends without it and reads as no OTP state. "1" is the
 * format version: a change the scripts or an older reader cannot take
 * gets another; fields may be appended without one (they are ignored).
 *
 * Decoding is strict, done here and not in Lua: an unknown enum name, a
 * number that is not plain decimal, a string too long for its flow_session
 * buffer, a missing field or an embedded NUL makes the record unreadable.
 * Encoding refuses what decoding would refuse, so a bad record is never
 * written.
 *
 * Internal to service/store: callers use store.h.
 */
#ifndef AUTHFLOW_STORE_CODEC_H
#define AUTHFLOW_STORE_CODEC_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

/* How many fields a session has (field, value pairs for HSET). */
#define STORE_SESSION_FIELDS 23

/* The packed form's version byte. */
#define STORE_PACKED_VERSION '1'

/* Room for any packed session: every string at its longest with its
 * length, the longest names and numbers, separators and the NUL. */
#define STORE_PACKED_MAX 1536

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
 * The previous version's writer, kept so the rolling-upgrade tests can
 * write a session as it did. Fill out[0 .. 2*STORE_SESSION_FIELDS) with
 * field, value pairs for HSET.
 * The values point into *s, static names or *nums, so both must outlive
 * out. False (err filled) when the session holds something
 * store_session_decode() would refuse.
 */
bool store_session_encode(const flow_session *s, const char **out,
                          store_session_texts *nums, char *err, size_t err_len);

/*
 * Write *s packed into out[0 .. cap) (NUL-terminated), its length to *len.
 * False (err filled) when the session holds something
 * store_session_unpack() would refuse, or it does not fit.
 */
bool store_session_pack(const flow_session *s, char *out, size_t cap,
                        size_t *len, char *err, size_t err_len);

/*
 * Decode the packed value v[0 .. n) into *s (zeroed first). False, err
 * filled, when it is not a packed session or any field is invalid.
 */
bool store_session_unpack(const char *v, size_t n, flow_session *s, char *err,
                          size_t err_len);

#endif
