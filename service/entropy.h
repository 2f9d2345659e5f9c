/*
 * entropy: random hex strings for lock tokens and request IDs.
 *
 * Each thread keeps a small pool of bytes from getrandom(2) and refills it
 * when spent, so a request costs no system call for its IDs (two per step
 * before, measured with strace under bench/). The bytes are the kernel's
 * CSPRNG output, never stretched: a pool byte is used once and wiped.
 */
#ifndef AUTHFLOW_ENTROPY_H
#define AUTHFLOW_ENTROPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Write 2 * random_bytes lowercase hex digits and a NUL into out, or as
 * many whole bytes as fit in out_len - 1 characters. Never fails: should
 * getrandom fail (it does not once the kernel pool is initialised), the
 * clock and a per-thread counter keep values distinct, which is all lock
 * tokens and request IDs need from uniqueness; nothing derives secrets
 * from them. */
void entropy_hex(char *out, size_t out_len, size_t random_bytes);

/* 64 bits straight from getrandom(2), for secrets (handoff codes): no
 * pool, no fallback. False when the kernel could not supply them; the
 * caller must then refuse to make the secret. */
bool entropy_secret_u64(uint64_t *out);

#endif
