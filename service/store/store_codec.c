/*
 * store_codec: flow_session <-> the packed session value, and the session
 * hash the previous version wrote; one table row per field (see
 * store_codec.h for the contract and the packed grammar).
 */
#include "store_codec.h"
#include "decimal.h"

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
  FIELD_OTP, /* otp_session as its text field (otp_state_format) */
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
    /* One-time codes (SPEC §9): absent from records written before them
     * (packed ones end before it), which read as no OTP state. */
    FIELD_OPT("otp", FIELD_OTP, otp),
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
  case FIELD_OTP:
    return otp_state_parse(v->str, v->len, dst);
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
    case FIELD_OTP:
      value = ""; /* the previous version had no OTP state */
      break;
    }
    /* The *_name functions give "" for a value outside the enum. */
    if (!value || (f->kind != FIELD_STR && f->kind != FIELD_OTP && !value[0])) {
      snprintf(err, err_len, "session to write has an invalid %s", f->name);
      return false;
    }
    out[2 * j] = f->name;
    out[2 * j + 1] = value;
  }
  return true;
}

/* ---------------------------------------------------------------------
 * The packed value (see store_codec.h for its grammar).
 * ------------------------------------------------------------------- */

/* fields[] rows in packed order: the header the scripts read first (state,
 * the two attempt counters, the ANI hash and the customer id), then the
 * rest in table order. */
static const unsigned char pack_order[] = {3,  11, 12, 21, 9,  0,  1,  2,
                                           4,  5,  6,  7,  8,  10, 13, 14,
                                           15, 16, 17, 18, 19, 20, 22};
_Static_assert(sizeof pack_order == FIELD_COUNT,
               "pack_order must list every row of fields[] once");

/* The text of one non-string field of *s (enum name, 0/1 or decimal),
 * into num[24] when it is a number; NULL when it holds a value decoding
 * would refuse (an enum outside its names, a negative number). */
static const char *token_of(const field_def *f, const flow_session *s,
                            char *num) {
  const void *src = (const char *)s + f->offset;
  const char *v = NULL;
  switch (f->kind) {
  case FIELD_STR:
  case FIELD_OTP:
    return NULL;
  case FIELD_STATE:
    v = flow_state_name(*(const flow_state *)src);
    break;
  case FIELD_OUTCOME:
    v = flow_outcome_name(*(const flow_outcome *)src);
    break;
  case FIELD_RESULT:
    v = flow_result_name(*(const flow_result *)src);
    break;
  case FIELD_METHOD:
    v = flow_method_name(*(const flow_method *)src);
    break;
  case FIELD_BOOL:
    return *(const bool *)src ? "1" : "0";
  case FIELD_INT:
    if (*(const int *)src < 0)
      return NULL;
    decimal_format(num, *(const int *)src);
    return num;
  case FIELD_I64:
    if (*(const int64_t *)src < 0)
      return NULL;
    decimal_format(num, (long long)*(const int64_t *)src);
    return num;
  }
  /* The *_name functions give "" for a value outside the enum. */
  return v && v[0] ? v : NULL;
}

bool store_session_pack(const flow_session *s, char *out, size_t cap,
                        size_t *len, char *err, size_t err_len) {
  size_t n = 0;
  if (cap < 2)
    goto too_long;
  out[n++] = STORE_PACKED_VERSION;
  for (size_t i = 0; i < FIELD_COUNT; i++) {
    const field_def *f = &fields[pack_order[i]];
    const char *src = (const char *)s + f->offset;
    char num[24], head[24], otp[OTP_STATE_MAX + 1];
    const char *body;
    size_t hl = 0, bl;
    if (f->kind == FIELD_OTP) {
      if (!otp_state_format((const otp_session *)(const void *)src, otp,
                            sizeof otp)) {
        snprintf(err, err_len, "session to write has an invalid %s", f->name);
        return false;
      }
      bl = strlen(otp);
      hl = decimal_format(head, (long long)bl);
      head[hl++] = ':';
      body = otp;
    } else if (f->kind == FIELD_STR) {
      const char *end = memchr(src, '\0', f->size);
      if (!end) {
        snprintf(err, err_len, "session to write has an invalid %s", f->name);
        return false;
      }
      bl = (size_t)(end - src);
      hl = decimal_format(head, (long long)bl);
      head[hl++] = ':';
      body = src;
    } else {
      body = token_of(f, s, num);
      if (!body) {
        snprintf(err, err_len, "session to write has an invalid %s", f->name);
        return false;
      }
      bl = strlen(body);
    }
    if (cap - n <= 1 + hl + bl)
      goto too_long;
    out[n++] = '|';
    memcpy(out + n, head, hl);
    memcpy(out + n + hl, body, bl);
    n += hl + bl;
  }
  out[n] = '\0';
  *len = n;
  return true;
too_long:
  snprintf(err, err_len, "session to write does not fit its buffer");
  return false;
}

/* Decode a token (no '|') v[0 .. len) into its member. */
static bool unpack_token(const field_def *f, const char *v, size_t len,
                         flow_session *s) {
  char buf[32];
  if (len == 0 || len >= sizeof buf)
    return false;
  memcpy(buf, v, len);
  buf[len] = '\0';
  redisReply r = {.type = REDIS_REPLY_STRING, .str = buf, .len = len};
  return decode_field(f, &r, s);
}

/* Decode one packed field at v[*at .. n) (its leading '|' already passed)
 * into *s, moving *at past it. */
static bool unpack_field(const field_def *f, const char *v, size_t n,
                         size_t *at, flow_session *s) {
  size_t i = *at;
  if (f->kind == FIELD_OTP) {
    size_t len = 0, digits = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9' && digits < 4; i++, digits++)
      len = len * 10 + (size_t)(v[i] - '0');
    if (digits == 0 || i >= n || v[i] != ':' || len > n - i - 1)
      return false;
    *at = i + 1 + len;
    return otp_state_parse(v + i + 1, len,
                           (otp_session *)((char *)s + f->offset));
  }
  if (f->kind != FIELD_STR) {
    const char *bar = memchr(v + i, '|', n - i);
    size_t end = bar ? (size_t)(bar - v) : n;
    *at = end;
    return unpack_token(f, v + i, end - i, s);
  }
  size_t len = 0, digits = 0;
  for (; i < n && v[i] >= '0' && v[i] <= '9' && digits < 4; i++, digits++)
    len = len * 10 + (size_t)(v[i] - '0');
  if (digits == 0 || i >= n || v[i] != ':' || len >= f->size || len > n - i - 1)
    return false;
  i++;
  memcpy((char *)s + f->offset, v + i, len);
  ((char *)s + f->offset)[len] = '\0';
  *at = i + len;
  return true;
}

/* Beyond the header's contract: what follows the last known field is
 * ignored when it starts with '|' (a newer writer may append fields). */
bool store_session_unpack(const char *v, size_t n, flow_session *s, char *err,
                          size_t err_len) {
  memset(s, 0, sizeof *s);
  if (n < 1 || v[0] != STORE_PACKED_VERSION || memchr(v, '\0', n)) {
    snprintf(err, err_len, "session value is not a packed session");
    return false;
  }
  size_t at = 1;
  for (size_t i = 0; i < FIELD_COUNT; i++) {
    const field_def *f = &fields[pack_order[i]];
    if (at >= n && f->kind == FIELD_OTP)
      break; /* packed before one-time codes existed */
    if (at >= n || v[at] != '|') {
      snprintf(err, err_len, "session value ends before %s", f->name);
      return false;
    }
    at++;
    if (!unpack_field(f, v, n, &at, s)) {
      snprintf(err, err_len, "session field %s is invalid", f->name);
      return false;
    }
  }
  if (at < n && v[at] != '|') {
    snprintf(err, err_len, "session value has trailing bytes");
    return false;
  }
  if (!s->channel[0])
    snprintf(s->channel, sizeof s->channel, "%s", FLOW_DEFAULT_CHANNEL);
  return true;
}
