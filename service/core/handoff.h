/*
 * handoff: the pure parts of handoff codes (SPEC §7): making a code from
 * random bits, reading what a caller keyed, and the keyed digests under
 * which codes and caller numbers are stored. No I/O: the random bits, the
 * secret and the store are the caller's.
 *
 * A code is HANDOFF_CODE_DIGITS decimal digits, uniform over all 10^10
 * values. It is never stored: Redis holds only
 * hex(HMAC-SHA256(secret, "code:" || code)), and a number a handoff is
 * bound to only as hex(HMAC-SHA256(secret, "ani:" || E.164)). The two
 * prefixes keep the kinds of digest apart (and "key:" names a handoff key).
 */
#ifndef AUTHFLOW_HANDOFF_H
#define AUTHFLOW_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hmac.h"

#define HANDOFF_CODE_DIGITS 10
#define HANDOFF_DIGEST_LEN HMAC_SHA256_HEX_LEN /* 64 hex digits */

/*
 * Turn 64 uniformly random bits into a code, by rejection: values at or
 * above the largest multiple of 10^10 that fits in 64 bits are refused
 * (false; draw again), so every code is equally likely. `out` gets the
 * digits, zero-padded, and a NUL.
 */
bool handoff_code_from_random(uint64_t random_bits,
                              char out[HANDOFF_CODE_DIGITS + 1]);

/*
 * Read what a caller keyed: spaces and '-' are dropped (codes may be shown
 * grouped, "123 456 7890"); what remains must be exactly
 * HANDOFF_CODE_DIGITS ASCII digits. False otherwise (out is then "").
 */
bool handoff_code_normalise(const char *raw, char out[HANDOFF_CODE_DIGITS + 1]);

/* hex(HMAC-SHA256(secret, "code:" || code)). */
void handoff_code_digest(const char *secret, size_t secret_len,
                         const char *code, char out[HANDOFF_DIGEST_LEN + 1]);

/* hex(HMAC-SHA256(secret, "ani:" || e164)). */
void handoff_number_digest(const char *secret, size_t secret_len,
                           const char *e164, char out[HANDOFF_DIGEST_LEN + 1]);

/* hex(HMAC-SHA256(secret, "key:" || key)): the name under which a handoff
 * key's creations are counted (its rate limit), so the key itself never
 * reaches Redis. Keys up to 256 bytes. */
void handoff_key_id(const char *secret, size_t secret_len, const char *key,
                    char out[HANDOFF_DIGEST_LEN + 1]);

#endif
