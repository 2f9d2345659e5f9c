#include "handoff_api.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "entropy.h"
#include "handoff.h"
#include "json_text.h"
#include "log.h"
#include "metrics.h"
#include "phone.h"
#include "request.h"
#include "store.h"

/* Draws before giving up: a collision with a live code is a 1 in 10^6
 * event at 10,000 live codes, so a fourth draw never happens in practice. */
#define DRAWS 4

/*
 * The handoff to store from a parsed body: customer, name, verified,
 * channel, time, and the line and number digest it is bound to. False with
 * the 400 filled when serviceLine is not configured or refuses handoffs,
 * phone is not a number, or a verified handoff names no phone while
 * handoff.requirePhoneForVerified is on.
 */
static bool build(const config *cfg, const request_body *req, flow_handoff *h,
                  const char **line_name, char number[HANDOFF_DIGEST_LEN + 1],
                  api_response *resp) {
  memset(h, 0, sizeof *h);
  number[0] = '\0';
  *line_name = "";
  const config_service_line *line = NULL;
  if (req->service_line) {
    line = config_find_service_line(cfg, req->service_line);
    if (!line) {
      api_reply_field_error(resp, "serviceLine",
                            "is not a configured service line");
      return false;
    }
    if (!line->policy.handoff) {
      /* Its callers could never redeem it: say so to the back end rather
       * than issue a code that only costs a caller an attempt. */
      api_reply_field_error(
          resp, "serviceLine",
          "does not accept handoffs (context.handoff is false)");
      return false;
    }
    *line_name = line->name;
  }
  if (req->phone) {
    /* National numbers take the bound line's country code, else the
     * first line's. */
    const config_service_line *cc = line ? line : &cfg->service_lines[0];
    char e164[PHONE_E164_MAX + 1];
    if (!phone_normalise(req->phone, cc->policy.default_country_code, e164,
                         sizeof e164)) {
      api_reply_field_error(
          resp, "phone", "must be a phone number, e.g. +13175550116 (E.164)");
      return false;
    }
    handoff_number_digest(cfg->handoff_secret, strlen(cfg->handoff_secret),
                          e164, number);
    explicit_bzero(e164, sizeof e164);
  }
  if (req->verified && !req->phone && cfg->handoff_require_phone) {
    /* A verified code with no number to redeem from is a bearer credential
     * for the customer: refused when the operator asked for binding. */
    metrics_handoff_refused(METRICS_HANDOFF_REFUSED_PHONE_REQUIRED);
    api_reply_field_error(resp, "phone",
                          "is required when verified is true "
                          "(handoff.requirePhoneForVerified)");
    return false;
  }
  snprintf(h->customer_id, sizeof h->customer_id, "%s", req->customer_id);
  snprintf(h->customer_name, sizeof h->customer_name, "%s",
           req->customer_name ? req->customer_name : "");
  snprintf(h->channel, sizeof h->channel, "%s",
           req->channel ? req->channel : "digital");
  h->verified = req->verified;
  h->created_ms = api_now_ms();
  return true;
}

/*
 * Draw a code and store the handoff under its digest, drawing again on a
 * collision with a live code. STORE_OK with `code` filled when *result is
 * STORE_PUT_ISSUED (else the refusal and *retry_after), or the store's
 * failure (STORE_EXISTS after DRAWS collisions; STORE_CORRUPT when the
 * kernel gave no random bits).
 */
static store_status issue(const config *cfg, const flow_handoff *h,
                          const char *line, const char *number,
                          const store_handoff_limits *lim,
                          char code[HANDOFF_CODE_DIGITS + 1],
                          store_put_result *result, int *retry_after, char *err,
                          size_t err_len) {
  store_status st = STORE_EXISTS;
  for (int draw = 0; draw < DRAWS && st == STORE_EXISTS; draw++) {
    uint64_t bits;
    do {
      if (!entropy_secret_u64(&bits)) {
        snprintf(err, err_len, "getrandom failed");
        return STORE_CORRUPT;
      }
    } while (!handoff_code_from_random(bits, code));
    bits = 0;
    char digest[HANDOFF_DIGEST_LEN + 1];
    handoff_code_digest(cfg->handoff_secret, strlen(cfg->handoff_secret), code,
                        digest);
    st = store_handoff_put(digest, h, line, number, lim, result, retry_after,
                           err, err_len);
  }
  return st;
}

/*
 * The 201 body, {"code","expiresInSeconds"}, as text in a wiping buffer:
 * no jansson tree ever holds the code (its strings are freed unwiped).
 * False when it could not be rendered (out of memory).
 */
static bool reply_code(const config *cfg, const char *code,
                       api_response *resp) {
  buf b;
  buf_init(&b, 128, BUF_WIPE);
  buf_adds(&b, "{\"code\":");
  json_text_string(&b, code);
  buf_adds(&b, ",\"expiresInSeconds\":");
  json_text_int(&b, cfg->handoff_ttl_seconds);
  buf_adds(&b, "}\n");
  size_t n = 0;
  char *text = buf_state(&b) == BUF_OK ? buf_take(&b, &n, false) : NULL;
  buf_free(&b);
  if (!text)
    return false;
  resp->status = 201;
  resp->text = text; /* wiped before it is freed (http_response) */
  resp->text_len = n;
  resp->content_type = "application/json";
  return true;
}

/* A refused creation: 429 rate_limited with Retry-After, counted, and a
 * warning that names the limit (never the key). */
static void reply_refused(const config *cfg, store_put_result result,
                          int retry_after, int key_index, api_response *resp) {
  bool full = result == STORE_PUT_FULL;
  char msg[200];
  if (full)
    snprintf(msg, sizeof msg,
             "%d handoff codes are live (handoff.maxLiveCodes); try again in "
             "%d s",
             cfg->handoff_max_live_codes, retry_after);
  else
    snprintf(msg, sizeof msg,
             "this key created %d handoffs this minute "
             "(handoff.keyMaxPerMinute); try again in %d s",
             cfg->handoff_key_max_per_minute, retry_after);
  api_error(resp, 429, "rate_limited", msg);
  resp->retry_after = (unsigned)retry_after;
  metrics_handoff_refused(full ? METRICS_HANDOFF_REFUSED_LIVE_CAP
                               : METRICS_HANDOFF_REFUSED_RATE_LIMITED);
  log_warn(
      full ? "handoff refused: live codes at the cap"
           : "handoff refused: key over its rate limit",
      LOG_STR("key", full ? "handoff.maxLiveCodes" : "handoff.keyMaxPerMinute"),
      LOG_INT("handoffKey", key_index),
      LOG_INT("retryAfterSeconds", retry_after));
}

void handoff_api_create(const config *cfg, int key_index, const char *body,
                        size_t len, api_response *resp) {
  request_body req;
  if (!api_parse_request_or_reply(REQUEST_HANDOFF_CREATE, body, len, &req,
                                  resp)) {
    request_free(&req);
    return;
  }
  flow_handoff h;
  const char *line = "";
  char number[HANDOFF_DIGEST_LEN + 1], code[HANDOFF_CODE_DIGITS + 1] = "";
  char key_id[HANDOFF_DIGEST_LEN + 1] = "";
  char err[STORE_ERR_MAX];
  if (!cfg->handoff_secret[0] || key_index < 0 ||
      (size_t)key_index >= cfg->handoff_key_count) {
    /* config refuses handoff keys without a secret, and http passes the
     * key it matched: not reached. */
    api_error(resp, 500, "internal", "handoffs are not configured");
  } else if (build(cfg, &req, &h, &line, number, resp)) {
    handoff_key_id(cfg->handoff_secret, strlen(cfg->handoff_secret),
                   cfg->handoff_keys[key_index], key_id);
    store_handoff_limits lim = {.ttl_seconds = cfg->handoff_ttl_seconds,
                                .max_live = cfg->handoff_max_live_codes,
                                .key_max_per_minute =
                                    cfg->handoff_key_max_per_minute,
                                .key_id = key_id};
    store_put_result result = STORE_PUT_ISSUED;
    int retry_after = 0;
    store_status st = issue(cfg, &h, line, number, &lim, code, &result,
                            &retry_after, err, sizeof err);
    if (st != STORE_OK) {
      api_reply_store_error(resp, st, API_STORE_HANDOFFS, NULL, err);
    } else if (result != STORE_PUT_ISSUED) {
      reply_refused(cfg, result, retry_after, key_index, resp);
    } else if (!reply_code(cfg, code, resp)) {
      api_error(resp, 500, "internal", "could not render the answer");
    } else {
      metrics_handoff_created();
      log_info("handoff created", LOG_STR("serviceLine", line),
               LOG_STR("channel", h.channel), LOG_BOOL("verified", h.verified),
               LOG_BOOL("boundToNumber", number[0] != '\0'),
               LOG_INT("ttlSeconds", cfg->handoff_ttl_seconds));
    }
  }
  explicit_bzero(code, sizeof code);
  request_free(&req);
}

void handoff_api_number_digest(const config *cfg,
                               const config_service_line *line, const char *ani,
                               char out[FLOW_DIGEST_MAX + 1]) {
  char e164[PHONE_E164_MAX + 1];
  out[0] = '\0';
  if (cfg->handoff_secret[0] &&
      phone_normalise(ani, line->policy.default_country_code, e164,
                      sizeof e164))
    handoff_number_digest(cfg->handoff_secret, strlen(cfg->handoff_secret),
                          e164, out);
  explicit_bzero(e164, sizeof e164);
}

bool handoff_api_prepare(const config *cfg, const config_service_line *line,
                         const flow_session *s, const char *raw,
                         flow_handoff *h, char digest[FLOW_DIGEST_MAX + 1]) {
  memset(h, 0, sizeof *h);
  char code[HANDOFF_CODE_DIGITS + 1];
  if (!handoff_code_normalise(raw, code)) {
    h->status = FLOW_HANDOFF_INVALID;
    metrics_handoff_redemption(METRICS_HANDOFF_INVALID_INPUT);
    return false;
  }
  if (!cfg->handoff_secret[0] || !line->policy.handoff) {
    explicit_bzero(code, sizeof code);
    h->status = FLOW_HANDOFF_REFUSED;
    metrics_handoff_redemption(METRICS_HANDOFF_DISABLED);
    return false;
  }
  if (s->identify_attempts > line->policy.max_identify_attempts) {
    /* This attempt is beyond the line's identify attempts (a call
     * identified on its last one, now asked the security answer): a code
     * keyed now is not looked at, so no call checks more codes than
     * maxIdentifyAttempts. The flow then sends it to an agent. */
    explicit_bzero(code, sizeof code);
    h->status = FLOW_HANDOFF_REFUSED;
    metrics_handoff_redemption(METRICS_HANDOFF_NO_ATTEMPTS);
    return false;
  }
  _Static_assert(HANDOFF_DIGEST_LEN <= FLOW_DIGEST_MAX,
                 "a handoff digest must fit the digest buffer");
  handoff_code_digest(cfg->handoff_secret, strlen(cfg->handoff_secret), code,
                      digest);
  explicit_bzero(code, sizeof code);
  return true;
}

void handoff_api_taken(const config *cfg, const flow_session *s,
                       store_handoff_result taken, flow_handoff *h) {
  static const metrics_handoff_result counted[] = {
      [STORE_HANDOFF_REDEEMED] = METRICS_HANDOFF_REDEEMED,
      [STORE_HANDOFF_NO_MATCH] = METRICS_HANDOFF_NO_MATCH,
      [STORE_HANDOFF_TRIPPED] = METRICS_HANDOFF_NO_MATCH,
      [STORE_HANDOFF_LIMITED] = METRICS_HANDOFF_LIMITED,
  };
  metrics_handoff_redemption(counted[taken]);
  h->status = taken == STORE_HANDOFF_REDEEMED  ? FLOW_HANDOFF_REDEEMED
              : taken == STORE_HANDOFF_LIMITED ? FLOW_HANDOFF_REFUSED
                                               : FLOW_HANDOFF_NO_MATCH;
  if (taken == STORE_HANDOFF_TRIPPED) {
    metrics_handoff_limiter_trip();
    log_warn(
        "handoff guess limit reached: redemptions are refused unchecked "
        "until the window ends; callers fall back to normal ID&V",
        LOG_STR("conversationId", s->conversation_id),
        LOG_INT("maxFailedRedemptions", cfg->handoff_max_failed_redemptions),
        LOG_INT("windowSeconds", cfg->handoff_failure_window_seconds));
  }
}
