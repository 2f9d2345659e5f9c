/*
 * store_codec: session hash <-> flow_session, one table row per field (see
 * store_codec.h for the contract).
 */
#include "store_codec.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef enum {
  FIELD_STR,
  FIELD_STATE,
  FIELD_OUTCOME,
  FIELD_RESULT,
  FIELD_METHOD,
  FIELD_BOOL,
  FIELD_INT,
  FIELD_I64,
} field_kind;

typedef struct {
  const char *name;
  field_kind kind;
  size_t offset;
  size_t size;   /* FIELD_STR: buffer size, NUL included */
  bool optional; /* added later: a record written before may lack it */
} field_def;

#define FIELD(wire, kind, member)                                              \
  {                                                                            \
    wire, kind, offsetof(flow_session, member),                                \
        sizeof(((flow_session *)0)->member), false                             \
  }
#define FIELD_OPT(wire, kind, member)                                          \
  {                                                                            \
    wire, kind, offsetof(flow_session, member),                                \
        sizeof(((flow_session *)0)->member), true                              \
  }

static const field_def fields[] = {
    FIELD("conversationId", FIELD_STR, conversation_id),
    FIELD("serviceLine", FIELD_STR, service_line),
    FIELD("language", FIELD_STR, language),
    FIELD("state", FIELD_STATE, state),
    FIELD("outcome", FIELD_OUTCOME, outcome),
    FIELD("lastResult", FIELD_RESULT, last_result),
    FIELD("method", FIELD_METHOD, method),
    FIELD("identified", FIELD_BOOL, identified),
    FIELD("verified", FIELD_BOOL, verified),
    FIELD("customerId", FIELD_STR, customer_id),
    FIELD("customerName", FIELD_STR, customer_name),
    FIELD("identifyAttempts", FIELD_INT, identify_attempts),
    FIELD("verifyAttempts", FIELD_INT, verify_attempts),
    FIELD("aniMasked", FIELD_STR, ani_masked),
    FIELD("createdMs", FIELD_I64, created_ms),
    FIELD("updatedMs", FIELD_I64, updated_ms),
    /* Context across channels (SPEC §7): absent from records written
     * before it, which read as voice, no proof time, no link. */
    FIELD_OPT("channel", FIELD_STR, channel),
    FIELD_OPT("contextMs", FIELD_I64, context_ms),
    FIELD_OPT("contextChannel", FIELD_STR, context_channel),
    FIELD_OPT("linkedConversationId", FIELD_STR, linked_conversation_id),
    FIELD_OPT("aniDigest", FIELD_STR, ani_digest),
    FIELD_OPT("aniHash", FIELD_STR, ani_hash),
};
#define FIELD_COUNT (sizeof fields / sizeof fields[0])
_Static_assert(FIELD_COUNT == STORE_SESSION_FIELDS,
               "STORE_SESSION_FIELDS must count the rows of fields[]");
_Static_assert(FIELD_COUNT <= 32, "decode tracks the fields seen in 32 bits");

/* Strict decimal: digits only (no sign, space or "0x"), within [0, max]. */
static bool parse_decimal(const char *s, int64_t max, int64_t *out) {
  if (!*s)
    return false;
  int64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    int d = *s - '0';
    if (d > max || v > (max - d) / 10) /* v * 10 + d > max */
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* Decode one value into its member. False when it is not valid. */
static bool decode_field(const field_def *f, const redisReply *v,
                         flow_session *s) {
  void *dst = (char *)s + f->offset;
  if (strlen(v->str) != v->len)
    return false; /* an embedded NUL */
  int64_t n;
  switch (f->kind) {
  case FIELD_STR:
    if (v->len >= f->size)
      return false;
    memcpy(dst, v->str, v->len + 1);
    return true;
  case FIELD_STATE:
    return flow_state_parse(v->str, dst);
  case FIELD_OUTCOME:
    return flow_outcome_parse(v->str, dst);
  case FIELD_RESULT:
    return flow_result_parse(v->str, dst);
  case FIELD_METHOD:
    return flow_method_parse(v->str, dst);
  case FIELD_BOOL:
    if (!parse_decimal(v->str, 1, &n))
      return false;
    *(bool *)dst = n == 1;
    return true;
  case FIELD_INT:
    if (!parse_decimal(v->str, INT_MAX, &n))
      return false;
    *(int *)dst = (int)n;
    return true;
  case FIELD_I64:
    return parse_decimal(v->str, INT64_MAX, dst);
  }
  return false;
}

/* Beyond the header's contract: unknown fields are ignored (a newer writer
 * may add some). */
bool store_session_decode(const redisReply *h, flow_session *s, char *err,
                          size_t err_len) {
  memset(s, 0, sizeof *s);
  if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0) {
    snprintf(err, err_len, "session is not a hash");
    return false;
  }
  uint32_t seen = 0;
  for (size_t i = 0; i + 1 < h->elements; i += 2) {
    const redisReply *k = h->element[i], *v = h->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
      snprintf(err, err_len, "session hash has a non-string entry");
      return false;
    }
    for (size_t j = 0; j < FIELD_COUNT; j++) {
      if (strcmp(k->str, fields[j].name) != 0)
        continue;
      if (!decode_field(&fields[j], v, s)) {
        snprintf(err, err_len, "session field %s is invalid", fields[j].name);
        return false;
      }
      seen |= 1u << j;
      break;
    }
  }
  for (size_t j = 0; j < FIELD_COUNT; j++)
    if (!(seen & (1u << j)) && !fields[j].optional) {
      snprintf(err, err_len, "session field %s is missing", fields[j].name);
      return false;
    }
  if (!s->channel[0])
    snprintf(s->channel, sizeof s->channel, "%s", FLOW_DEFAULT_CHANNEL);
  return true;
}

bool store_session_encode(const flow_session *s, const char **out,
                          store_session_texts *nums, char *err,
                          size_t err_len) {
  for (size_t j = 0; j < FIELD_COUNT; j++) {
    const field_def *f = &fields[j];
    const void *src = (const char *)s + f->offset;
    const char *value = NULL;
    char *num = nums->text[j];
    switch (f->kind) {
    case FIELD_STR:
      value = memchr(src, '\0', f->size) ? src : NULL;
      break;
    case FIELD_STATE:
      value = flow_state_name(*(const flow_state *)src);
      break;
    case FIELD_OUTCOME:
      value = flow_outcome_name(*(const flow_outcome *)src);
      break;
    case FIELD_RESULT:
      value = flow_result_name(*(const flow_result *)src);
      break;
    case FIELD_METHOD:
      value = flow_method_name(*(const flow_method *)src);
      break;
    case FIELD_BOOL:
      value = *(const bool *)src ? "1" : "0";
      break;
    case FIELD_INT:
      if (*(const int *)src >= 0) {
        snprintf(num, sizeof nums->text[j], "%d", *(const int *)src);
        value = num;
      }
      break;
    case FIELD_I64:
      if (*(const int64_t *)src >= 0) {
        snprintf(num, sizeof nums->text[j], "%lld",
                 (long long)*(const int64_t *)src);
        value = num;
      }
      break;
    }
    /* The *_name functions give "" for a value outside the enum. */
    if (!value || (f->kind != FIELD_STR && !value[0])) {
      snprintf(err, err_len, "session to write has an invalid %s", f->name);
      return false;
    }
    out[2 * j] = f->name;
    out[2 * j + 1] = value;
  }
  return true;
}
