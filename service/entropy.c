#include "entropy.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>

#define POOL_BYTES 256

static _Thread_local unsigned char pool[POOL_BYTES];
static _Thread_local size_t pool_left; /* unread bytes at the pool's end */
static _Thread_local uint64_t fallback_counter;

static void refill(void) {
  if (getrandom(pool, sizeof pool, 0) == (ssize_t)sizeof pool) {
    pool_left = sizeof pool;
    return;
  }
  /* Unreachable in practice; see the header. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  for (size_t i = 0; i + 24 <= sizeof pool; i += 24) {
    fallback_counter++;
    memcpy(pool + i, &ts.tv_sec, 8);
    memcpy(pool + i + 8, &ts.tv_nsec, 8);
    memcpy(pool + i + 16, &fallback_counter, 8);
  }
  pool_left = sizeof pool - sizeof pool % 24;
}

static unsigned char next_byte(void) {
  if (pool_left == 0)
    refill();
  size_t at = sizeof pool - pool_left--;
  unsigned char b = pool[at];
  pool[at] = 0;
  return b;
}

void entropy_hex(char *out, size_t out_len, size_t random_bytes) {
  static const char hex[] = "0123456789abcdef";
  if (out_len == 0)
    return;
  size_t n = 0;
  for (size_t i = 0; i < random_bytes && n + 2 < out_len; i++) {
    unsigned char b = next_byte();
    out[n++] = hex[b >> 4];
    out[n++] = hex[b & 15];
  }
  out[n] = '\0';
}

bool entropy_secret_u64(uint64_t *out) {
  /* getrandom never returns fewer than 256 bytes once the pool is ready;
   * anything else (EINTR before it is, ENOSYS) is a refusal. */
  return getrandom(out, sizeof *out, 0) == (ssize_t)sizeof *out;
}
