/*
 * hmac: SHA-256 and HMAC-SHA256, written from FIPS 180-4 §6.2 and RFC 2104.
 * Checked against the FIPS examples and the RFC 4231 vectors in
 * tests/unit/test_hmac.c.
 */
#include "hmac.h"

#include <string.h>

static const uint32_t k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, unsigned n) {
  return (x >> n) | (x << (32 - n));
}

/* Wipe memory in a way the compiler may not drop as a dead store. */
static void wipe(void *p, size_t n) {
  volatile unsigned char *v = p;
  while (n--)
    *v++ = 0;
}

/* One 64-byte block into the running hash (FIPS 180-4 §6.2.2). */
static void compress(uint32_t h[8], const unsigned char block[64]) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++)
    w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
           (uint32_t)block[4 * t + 2] << 8 | (uint32_t)block[4 * t + 3];
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6],
           hh = h[7];
  for (int t = 0; t < 64; t++) {
    uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    uint32_t ch = (e & f) ^ (~e & g);
    uint32_t t1 = hh + s1 + ch + k[t] + w[t];
    uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
    uint32_t t2 = s0 + maj;
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
  wipe(w, sizeof w);
}

void hmac_sha256_init(hmac_sha256_ctx *ctx) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                 0xa54ff53a, 0x510e527f, 0x9b05688c,
                                 0x1f83d9ab, 0x5be0cd19};
  memcpy(ctx->h, iv, sizeof iv);
  ctx->total_len = 0;
  ctx->block_len = 0;
}

void hmac_sha256_update(hmac_sha256_ctx *ctx, const void *data, size_t len) {
  const unsigned char *p = data;
  ctx->total_len += len;
  while (len > 0) {
    size_t take = 64 - ctx->block_len;
    if (take > len)
      take = len;
    memcpy(ctx->block + ctx->block_len, p, take);
    ctx->block_len += take;
    p += take;
    len -= take;
    if (ctx->block_len == 64) {
      compress(ctx->h, ctx->block);
      ctx->block_len = 0;
    }
  }
}

/* Pad (a 1 bit, zeros, the length in bits as 64-bit big endian), emit the
 * digest big endian, and wipe the context. */
void hmac_sha256_final(hmac_sha256_ctx *ctx,
                       unsigned char out[HMAC_SHA256_LEN]) {
  uint64_t bits = ctx->total_len * 8;
  ctx->block[ctx->block_len++] = 0x80;
  if (ctx->block_len > 56) {
    memset(ctx->block + ctx->block_len, 0, 64 - ctx->block_len);
    compress(ctx->h, ctx->block);
    ctx->block_len = 0;
  }
  memset(ctx->block + ctx->block_len, 0, 56 - ctx->block_len);
  for (int i = 0; i < 8; i++)
    ctx->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
  compress(ctx->h, ctx->block);
  for (int i = 0; i < 8; i++) {
    out[4 * i] = (unsigned char)(ctx->h[i] >> 24);
    out[4 * i + 1] = (unsigned char)(ctx->h[i] >> 16);
    out[4 * i + 2] = (unsigned char)(ctx->h[i] >> 8);
    out[4 * i + 3] = (unsigned char)ctx->h[i];
  }
  wipe(ctx, sizeof *ctx);
}

void hmac_sha256(const void *data, size_t len,
                 unsigned char out[HMAC_SHA256_LEN]) {
  hmac_sha256_ctx ctx;
  hmac_sha256_init(&ctx);
  hmac_sha256_update(&ctx, data, len);
  hmac_sha256_final(&ctx, out);
}

/* HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)), K0 the key padded
 * to the block size (hashed first when longer). */
void hmac_sha256_mac(const void *key, size_t key_len, const void *msg,
                     size_t msg_len, unsigned char out[HMAC_SHA256_LEN]) {
  unsigned char k0[64] = {0}, pad[64], inner[HMAC_SHA256_LEN];
  if (key_len > sizeof k0)
    hmac_sha256(key, key_len, k0);
  else if (key_len > 0)
    memcpy(k0, key, key_len);
  hmac_sha256_ctx ctx;
  for (size_t i = 0; i < sizeof pad; i++)
    pad[i] = k0[i] ^ 0x36;
  hmac_sha256_init(&ctx);
  hmac_sha256_update(&ctx, pad, sizeof pad);
  hmac_sha256_update(&ctx, msg, msg_len);
  hmac_sha256_final(&ctx, inner);
  for (size_t i = 0; i < sizeof pad; i++)
    pad[i] = k0[i] ^ 0x5c;
  hmac_sha256_init(&ctx);
  hmac_sha256_update(&ctx, pad, sizeof pad);
  hmac_sha256_update(&ctx, inner, sizeof inner);
  hmac_sha256_final(&ctx, out);
  wipe(k0, sizeof k0);
  wipe(pad, sizeof pad);
  wipe(inner, sizeof inner);
}

void hmac_sha256_hex(const void *key, size_t key_len, const void *msg,
                     size_t msg_len, char out[HMAC_SHA256_HEX_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char mac[HMAC_SHA256_LEN];
  hmac_sha256_mac(key, key_len, msg, msg_len, mac);
  for (size_t i = 0; i < sizeof mac; i++) {
    out[2 * i] = hex[mac[i] >> 4];
    out[2 * i + 1] = hex[mac[i] & 15];
  }
  out[HMAC_SHA256_HEX_LEN] = '\0';
  wipe(mac, sizeof mac);
}
