/*
 * hmac: SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), pure and
 * dependency-free, for storing handoff codes and caller numbers only as
 * keyed digests (SPEC §7). Not a general crypto library: one-shot and
 * incremental SHA-256, one-shot HMAC, and lowercase hex output.
 *
 * Nothing here allocates or keeps state between calls. Intermediate
 * buffers that held key or message material are wiped before returning.
 */
#ifndef AUTHFLOW_HMAC_H
#define AUTHFLOW_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define HMAC_SHA256_LEN 32
#define HMAC_SHA256_HEX_LEN 64

/* Incremental SHA-256. Initialise with hmac_sha256_init(), feed with
 * hmac_sha256_update() any number of times, finish once with
 * hmac_sha256_final() (which wipes the context). */
typedef struct {
  uint32_t h[8];
  uint64_t total_len; /* bytes fed so far */
  unsigned char block[64];
  size_t block_len;
} hmac_sha256_ctx;

void hmac_sha256_init(hmac_sha256_ctx *ctx);
void hmac_sha256_update(hmac_sha256_ctx *ctx, const void *data, size_t len);
void hmac_sha256_final(hmac_sha256_ctx *ctx,
                       unsigned char out[HMAC_SHA256_LEN]);

/* SHA-256 of data[0..len). */
void hmac_sha256(const void *data, size_t len,
                 unsigned char out[HMAC_SHA256_LEN]);

/* HMAC-SHA256 of msg[0..msg_len) under key[0..key_len) (any length; keys
 * longer than the 64-byte block are hashed first, RFC 2104). */
void hmac_sha256_mac(const void *key, size_t key_len, const void *msg,
                     size_t msg_len, unsigned char out[HMAC_SHA256_LEN]);

/* The same, written as 64 lowercase hex digits and a NUL. */
void hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
                     size_t msg_len, char out[HMAC_SHA256_HEX_LEN + 1]);

#endif
