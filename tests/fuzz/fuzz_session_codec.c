/* Fuzz the two session decoders of store_codec: the packed value (the
 * input as it is) and the previous version's hash (the input split at
 * '\n' into field, value, ... as HGETALL gives them). Invariants: a
 * session either decoder accepts packs, unpacks, and packs again to the
 * very same value (bytes past a string's NUL are not compared: a hash
 * with a field twice leaves some); what pack writes starts with "1|" and
 * the state's name, and holds no NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Pack s, check the header, unpack and compare. */
static void round_trip(const flow_session *s) {
  char packed[STORE_PACKED_MAX], again[STORE_PACKED_MAX], err[200];
  size_t len, len2;
  flow_session back;
  if (!store_session_pack(s, packed, sizeof packed, &len, err, sizeof err))
    abort(); /* a decoded session is always writable */
  if (strlen(packed) != len || strncmp(packed, "1|", 2) != 0)
    abort();
  size_t state = strspn(packed + 2, "abcdefghijklmnopqrstuvwxyz_");
  if (state == 0 || packed[2 + state] != '|')
    abort();
  if (!store_session_unpack(packed, len, &back, err, sizeof err) ||
      !store_session_pack(&back, again, sizeof again, &len2, err, sizeof err) ||
      len2 != len || memcmp(packed, again, len) != 0)
    abort();
}

/* The input as an HGETALL reply: '\n' separates elements. */
static void as_hash(const uint8_t *data, size_t size) {
  enum { MAX = 64 };
  redisReply elems[MAX], *ptrs[MAX];
  char *copy = malloc(size + 1);
  if (!copy)
    return;
  memcpy(copy, data, size);
  copy[size] = '\0';
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= size && n < MAX; i++) {
    if (i < size && copy[i] != '\n')
      continue;
    copy[i] = '\0';
    elems[n] = (redisReply){
        .type = REDIS_REPLY_STRING, .str = copy + start, .len = i - start};
    ptrs[n] = &elems[n];
    n++;
    start = i + 1;
  }
  n -= n % 2;
  redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = n, .element = ptrs};
  flow_session s;
  char err[200];
  if (store_session_decode(&arr, &s, err, sizeof err))
    round_trip(&s);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  flow_session s;
  char err[200];
  if (store_session_unpack((const char *)data, size, &s, err, sizeof err))
    round_trip(&s);
  as_hash(data, size);
  return 0;
}
