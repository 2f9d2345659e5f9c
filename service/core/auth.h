/*
 * auth: API keys on requests (pure, no I/O).
 *
 * A request is authorised when any of these carries a configured key:
 *   Authorization: Bearer <key>
 *   X-API-Key: <key>
 *   Authorization: Basic base64(<any user>:<key>)   (Genesys' Basic Auth
 *                                                    credential type)
 * Keys are compared in constant time with respect to their content, and
 * every configured key is compared every time, so timing reveals neither
 * how much of a key matched nor which key it was.
 */
#ifndef AUTHFLOW_AUTH_H
#define AUTHFLOW_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_KEY_MAX 256

/*
 * True when a header carries one of `keys[0..key_count)`. `authorization`
 * and `x_api_key` are the raw header values or NULL.
 */
bool auth_check(const char (*keys)[AUTH_KEY_MAX + 1], size_t key_count,
                const char *authorization, const char *x_api_key);

/* Compare two byte strings in time that depends only on their lengths
 * (and on max_len): true when equal. */
bool auth_equal_ct(const char *a, size_t a_len, const char *b, size_t b_len);

/*
 * Decode standard base64 (RFC 4648, padding optional) from `in` into
 * `out` (NUL-terminated). Returns false on bad input or when it does not
 * fit.
 */
bool auth_base64_decode(const char *in, char *out, size_t out_len);

#endif
