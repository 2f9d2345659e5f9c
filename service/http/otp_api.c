/*
 * otp_api: sending and checking one-time codes at the edge (see
 * otp_api.h).
 */
#include "otp_api.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "loop.h"
#include "otp_metrics.h"
#include "otp_send.h"
#include "phone.h"

static const config *cfg;
static long step_budget_ms; /* config_step_budget_ms */

/* The process-wide budget (otp.maxSendsPerMinute): sends this minute. */
static pthread_mutex_t budget_mutex = PTHREAD_MUTEX_INITIALIZER;
static long long budget_minute;
static int budget_used;
static bool budget_warned;

void otp_api_init(const config *c) {
  cfg = c;
  step_budget_ms = config_step_budget_ms(c);
  if (c->otp.send_configured) {
    otp_send_config sc = {.op = &c->otp.send,
                          .auth = &c->otp.auth,
                          .timeout_ms = c->otp.timeout_ms};
    otp_send_init(&sc);
  }
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One send from this minute's budget; false when it is spent (the first
 * refusal of a minute is logged as a warning). */
static bool budget_take(void) {
  int max = cfg->otp.max_sends_per_minute;
  if (max <= 0)
    return true;
  long long minute = now_ms() / 60000;
  bool ok, warn = false;
  pthread_mutex_lock(&budget_mutex);
  if (minute != budget_minute) {
    budget_minute = minute;
    budget_used = 0;
    budget_warned = false;
  }
  ok = budget_used < max;
  if (ok)
    budget_used++;
  else if (!budget_warned)
    warn = budget_warned = true;
  pthread_mutex_unlock(&budget_mutex);
  if (warn)
    log_warn("otp send budget spent", LOG_INT("maxSendsPerMinute", max));
  return ok;
}

static const char *secret(size_t *len) {
  *len = strlen(cfg->otp.secret);
  return cfg->otp.secret;
}

void otp_api_note_phone(const config_service_line *line,
                        const flow_crm_result *result, flow_session *s) {
  char e164[PHONE_E164_MAX + 1];
  size_t n;
  const char *key = secret(&n);
  s->otp.phone[0] = '\0';
  s->otp.phone_last2[0] = '\0';
  if (!s->identified || !result->phone[0] || n == 0 ||
      !otp_method_uses_code(line->policy.otp.method))
    return;
  if (phone_normalise(result->phone, line->policy.default_country_code, e164,
                      sizeof e164))
    otp_phone_seal(key, n, s->conversation_id, e164, s->otp.phone,
                   s->otp.phone_last2);
  explicit_bzero(e164, sizeof e164);
}

void otp_api_code_digest(const flow_session *s, const char *code, char *out) {
  size_t n;
  const char *key = secret(&n);
  out[0] = '\0';
  if (n == 0 || !code || strlen(code) > OTP_LENGTH_MAX)
    return;
  otp_code_digest(key, n, s->conversation_id, s->otp.sends, code, out);
}

void otp_api_note_check(const flow_session *s) {
  switch (s->last_result) {
  case FLOW_RESULT_MATCH:
    otp_metrics_check(OTP_METRIC_MATCH);
    break;
  case FLOW_RESULT_WRONG_CODE:
    otp_metrics_check(OTP_METRIC_WRONG);
    break;
  case FLOW_RESULT_CODE_EXPIRED:
    otp_metrics_check(OTP_METRIC_EXPIRED);
    break;
  case FLOW_RESULT_INVALID_INPUT:
    otp_metrics_check(OTP_METRIC_INVALID);
    break;
  default:
    break;
  }
}

/* Apply the send's end to the step and hand it back. */
static void applied(otp_api_send_state *st, flow_otp_send_status status,
                    otp_metric_send metric) {
  otp_metrics_send(metric);
  if (status != FLOW_OTP_SENT)
    log_info("otp not sent",
             LOG_STR("conversationId", st->step->session.conversation_id),
             LOG_STR("reason",
                     metric == OTP_METRIC_NO_PHONE         ? "no_phone"
                     : metric == OTP_METRIC_SEND_FAILED    ? "send_failed"
                     : metric == OTP_METRIC_BUDGET         ? "budget"
                     : metric == OTP_METRIC_CUSTOMER_LIMIT ? "customer_limit"
                     : metric == OTP_METRIC_LOCKED         ? "locked"
                                                           : "phone_limit"));
  explicit_bzero(st->phone, sizeof st->phone);
  flow_otp_sent(&st->line->policy, st->step, status, st->digest, now_ms());
  st->then(st->ctx);
}

static void on_sent(void *ctx, const otp_send_result *r) {
  otp_api_send_state *st = ctx;
  if (!r->ok)
    log_warn("otp send failed",
             LOG_STR("conversationId", st->step->session.conversation_id),
             LOG_INT("httpStatus", r->http_status),
             LOG_STR("reason", r->token_failed ? "token" : "send"),
             LOG_DBL("latencyMs", r->latency_ms));
  applied(st, r->ok ? FLOW_OTP_SENT : FLOW_OTP_SEND_FAILED,
          r->ok ? OTP_METRIC_SENT : OTP_METRIC_SEND_FAILED);
}

/* The limits said yes: draw the code, keep its hash, send it. */
static void draw_and_send(otp_api_send_state *st) {
  unsigned char rnd[OTP_RANDOM_BYTES];
  char code[OTP_LENGTH_MAX + 1];
  const flow_session *s = &st->step->session;
  size_t n;
  const char *key = secret(&n);
  bool ok = getrandom(rnd, sizeof rnd, 0) == (ssize_t)sizeof rnd &&
            otp_code_make(rnd, sizeof rnd, st->line->policy.otp.length, code);
  explicit_bzero(rnd, sizeof rnd);
  if (ok) {
    otp_code_digest(key, n, s->conversation_id, s->otp.sends + 1, code,
                    st->digest);
    long left = cfg->crm.budget_ms - (long)(loop_now_ms() - st->started_ms);
    if (left > cfg->otp.timeout_ms)
      left = cfg->otp.timeout_ms;
    ok = left >= OTP_API_MIN_SEND_MS &&
         otp_send_submit(st->phone, code, s->language, s->service_line, left,
                         on_sent, st);
  }
  explicit_bzero(code, sizeof code);
  if (!ok)
    applied(st, FLOW_OTP_SEND_FAILED, OTP_METRIC_SEND_FAILED);
}

static void on_limits(void *ctx, store_result *out) {
  otp_api_send_state *st = ctx;
  if (out->status != STORE_OK) {
    log_warn("otp send limits unavailable", LOG_STR("error", out->err));
    applied(st, FLOW_OTP_SEND_FAILED, OTP_METRIC_SEND_FAILED);
    return;
  }
  switch ((store_otp_verdict)out->otp_send) {
  case STORE_OTP_SEND_OK:
    draw_and_send(st);
    return;
  case STORE_OTP_SEND_LOCKED:
    /* No code for a locked-out customer: the commit finds it locked. */
    st->step->check_lockout = true;
    applied(st, FLOW_OTP_LIMITED, OTP_METRIC_LOCKED);
    return;
  case STORE_OTP_SEND_CUSTOMER_LIMIT:
  case STORE_OTP_SEND_PHONE_LIMIT: {
    bool customer = out->otp_send == STORE_OTP_SEND_CUSTOMER_LIMIT;
    log_warn("otp send limit reached",
             LOG_STR("scope", customer ? "customer" : "phone"),
             LOG_STR("conversationId", st->step->session.conversation_id));
    applied(st, FLOW_OTP_LIMITED,
            customer ? OTP_METRIC_CUSTOMER_LIMIT : OTP_METRIC_PHONE_LIMIT);
    return;
  }
  }
  applied(st, FLOW_OTP_SEND_FAILED, OTP_METRIC_SEND_FAILED);
}

void otp_api_send(otp_api_send_state *st, const config_service_line *line,
                  flow_step *step, int64_t started_ms, otp_api_then_fn then,
                  void *ctx) {
  memset(st, 0, sizeof *st);
  st->started_ms = started_ms;
  st->line = line;
  st->step = step;
  st->then = then;
  st->ctx = ctx;
  size_t n;
  const char *key = secret(&n);
  const flow_session *s = &step->session;
  if (n == 0 || !s->otp.phone[0] ||
      !otp_phone_open(key, n, s->conversation_id, s->otp.phone, st->phone)) {
    applied(st, FLOW_OTP_NO_PHONE, OTP_METRIC_NO_PHONE);
    return;
  }
  if (!budget_take()) {
    applied(st, FLOW_OTP_BUDGET, OTP_METRIC_BUDGET);
    return;
  }
  char phone_hash[OTP_LIMIT_HASH_HEX + 1];
  otp_phone_limit_hash(key, n, st->phone, phone_hash);
  store_otp_send_async(s->customer_id, phone_hash,
                       cfg->otp.max_sends_per_customer_per_day,
                       cfg->otp.max_sends_per_phone_per_hour,
                       started_ms + step_budget_ms, &st->store, on_limits, st);
}
