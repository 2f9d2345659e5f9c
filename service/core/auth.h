/*
 * auth: API keys on requests (pure, no I/O).
 *
 * A request is authorised when any of these carries a configured key:
 *   Authorization: Bearer <key>
 *   X-API-Key: <key>
 *   Authorization: Basic base64(<any user>:<key>)   (Genesys' Basic Auth
 *                                                    credential type)
 * The candidate and every configured key are compared as SHA-256 digests
 * (fixed 32 bytes, compared without an early exit), and every configured
 * key is compared every time, so timing reveals neither how much of a key
 * matched, nor which key it was, nor how long a key is: the work depends
 * on the candidate's own length and on the configured keys, which a
 * client cannot tell apart from the server's fixed costs.
 */
#ifndef AUTHFLOW_AUTH_H
#define AUTHFLOW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_KEY_MAX 256
#define AUTH_DIGEST_LEN 32 /* SHA-256 */

/*
 * True when a header carries one of `keys[0..key_count)`. `authorization`
 * and `x_api_key` are the raw header values or NULL.
 */
bool auth_check(const char (*keys)[AUTH_KEY_MAX + 1], size_t key_count,
                const char *authorization, const char *x_api_key);

/*
 * auth_check(), telling which key matched: its index in keys[], or -1
 * when none did (the first match when a key is listed twice). Every key is
 * compared whatever matches (the handoff route uses the index to rate-limit
 * per key).
 */
int auth_find(const char (*keys)[AUTH_KEY_MAX + 1], size_t key_count,
              const char *authorization, const char *x_api_key);

/* Compare two byte strings through their SHA-256 digests: true when
 * equal. The comparison walks 32 bytes whatever the lengths; hashing costs
 * time in each string's own length only. */
bool auth_equal_ct(const char *a, size_t a_len, const char *b, size_t b_len);

/* Two digests equal, compared in full (no early exit). */
bool auth_digest_equal(const unsigned char a[AUTH_DIGEST_LEN],
                       const unsigned char b[AUTH_DIGEST_LEN]);

/*
 * Decode standard base64 (RFC 4648, padding optional) from `in` into
 * `out` (NUL-terminated). Returns false on bad input or when it does not
 * fit.
 */
bool auth_base64_decode(const char *in, char *out, size_t out_len);

#endif
