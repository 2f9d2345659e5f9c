#include "api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crm.h"
#include "handoff_api.h"
#include "hmac.h"
#include "limit_api.h"
#include "log.h"
#include "metrics.h"
#include "otp_api.h"
#include "phone.h"
#include "prompt.h"
#include "ratelimit.h"
#include "readyz.h"
#include "report.h"
#include "request.h"
#include "session_json.h"

static const config *cfg;
static atomic_bool draining;
/* A step's budget and its reserve's part (config_step_budget_ms). */
static long budget_ms, reserve_ms;

/* Repeats of one CRM failure reason are rate-limited in the log. */
static pthread_mutex_t crm_log_mutex = PTHREAD_MUTEX_INITIALIZER;
static ratelimit crm_log_limit[CRM_FAIL_INTERNAL + 1];

void api_init(const config *c) {
  cfg = c;
  budget_ms = config_step_budget_ms(c);
  reserve_ms = config_step_reserve_ms(c);
  otp_api_init(c);
}

void api_set_draining(bool d) {
  atomic_store(&draining, d);
}

/*
 * One warn line for a failed CRM call (or a start that skipped the CRM
 * because it is known down: operation "start"): operation, reason, status,
 * latency and attempts, never the value asked about. The first
 * API_CRM_LOG_BURST of a reason per API_CRM_LOG_WINDOW_MS are written;
 * the next one written says how many were left out ("suppressed").
 */
static void log_crm_failure(const char *conversation_id, const char *operation,
                            const crm_client_info *info) {
  unsigned r = (unsigned)info->reason;
  if (r >= sizeof crm_log_limit / sizeof crm_log_limit[0])
    r = CRM_FAIL_INTERNAL;
  long suppressed = 0;
  pthread_mutex_lock(&crm_log_mutex);
  bool write =
      ratelimit_allow(&crm_log_limit[r], api_now_ms(), API_CRM_LOG_WINDOW_MS,
                      API_CRM_LOG_BURST, &suppressed);
  pthread_mutex_unlock(&crm_log_mutex);
  if (!write)
    return;
  log_warn("crm call failed", LOG_STR("operation", operation),
           LOG_STR("reason", crm_fail_reason_name((crm_fail_reason)r)),
           LOG_INT("httpStatus", info->http_status),
           LOG_DBL("latencyMs", info->latency_ms),
           LOG_INT("attempts", info->attempts),
           LOG_STR("conversationId", conversation_id),
           LOG_INT("suppressed", suppressed));
}

/* ---------------------------------------------------------------------
 * Answers.
 * ------------------------------------------------------------------- */

static size_t line_index(const config_service_line *line) {
  return (size_t)(line - cfg->service_lines);
}

/* This thread's answer buffer: every session answer of a loop is rendered
 * into it, so no buffer grows and no JSON tree is built per answer. Set up
 * as buf_init(SESSION_JSON_MAX, BUF_PLAIN) would (buf_free keeps the cap). */
static _Thread_local buf answer_text = {.max = SESSION_JSON_MAX};

void api_release_thread(void) {
  buf_free(&answer_text);
}

/* The fixed 16-key session answer (SPEC §3; session_json.h) as resp->text
 * ending in a newline: rendered in the thread's buffer, then copied once
 * to a block libmicrohttpd frees (the buffer cannot be lent: more answers
 * are rendered on this loop before this one is sent). A field that is not
 * UTF-8 (json_pack refused it too) or a failed buffer is a 500. */
static void render_session(const flow_session *s,
                           const config_service_line *line,
                           api_response *resp) {
  buf_reset(&answer_text);
  session_json_line where = {.policy = line ? &line->policy : NULL,
                             .prompts = line ? line->prompts : NULL,
                             .default_language =
                                 line ? line->default_language : NULL};
  char *text = NULL;
  size_t n = 0;
  if (session_json_render(&answer_text, s, &where) &&
      buf_add(&answer_text, "\n", 1) == BUF_OK) {
    n = buf_len(&answer_text);
    text = malloc(n + 1);
  }
  if (!text) {
    api_error(resp, 500, "internal", "could not render the answer");
    return;
  }
  memcpy(text, buf_str(&answer_text), n + 1);
  json_decref(resp->body);
  resp->body = NULL;
  free(resp->text);
  resp->text = text;
  resp->text_len = n;
  resp->content_type = "application/json";
  resp->status = 200;
  resp->outcome = flow_outcome_name(s->outcome);
}

/* ---------------------------------------------------------------------
 * Steps. Each phase is started by the one before it, from its callback:
 *
 *   start:  create script -> plan -> [CRM] -> commit -> answer
 *   others: reserve script -> [handoff script] -> plan -> [CRM] -> commit
 *           -> answer
 *
 * A phase that ends the step (an answer, an error) calls finish().
 * ------------------------------------------------------------------- */

/* The step's answer is in *step->resp: hand it back. */
static void finish(api_step *step) {
  if (step->has_req) {
    request_free(&step->req);
    step->has_req = false;
  }
  explicit_bzero(step->answer, sizeof step->answer);
  step->done(step->done_ctx);
}

/* Gives back the step's session lock after a step that will not commit
 * (the session is left exactly as it was). Nobody waits for the answer:
 * a lost release only means the lock expires by itself. */
static void release_step(api_step *step) {
  store_release_async(step->conversation_id, step->token);
  step->lock_held = false;
}

/* Releases the lock, fills the store error and ends the step. */
static void fail_step(api_step *step, store_status st,
                      const flow_session *current) {
  if (step->lock_held)
    release_step(step);
  api_reply_store_error(step->resp, st, API_STORE_SESSIONS, current,
                        step->store.err);
  finish(step);
}

static void on_committed(void *ctx, store_result *out);

/* Commit `s` with its report data: started counters on a START step, the
 * completion (counters + stream event) when this step completes it. They
 * are written by the same script as the session, so a step is recorded
 * exactly when it commits. */
static void commit_recorded(api_step *step, flow_lockout_effect lockout,
                            bool check_lockout) {
  const flow_session *s = &step->finished.session;
  report_record rec;
  report_build_record(s, step->is_start,
                      s->state == FLOW_STATE_COMPLETED &&
                          step->state_before != FLOW_STATE_COMPLETED,
                      &rec);
  store_commit_async(s, step->token, lockout, check_lockout, &rec,
                     step->started_ms + budget_ms, &step->store, on_committed,
                     step);
}

static void commit_finished(void *ctx) {
  api_step *step = ctx;
  commit_recorded(step, step->finished.lockout, step->finished.check_lockout);
}

/* Write the step's result (step->finished) and answer with it; a step that
 * asks for a one-time code sends it first (otp_api). */
static void commit_and_render(api_step *step) {
  step->relocking = false;
  if (step->finished.otp_send)
    otp_api_send(&step->otp, step->line, &step->finished, step->started_ms,
                 commit_finished, step);
  else
    commit_finished(step);
}

/* The commit's answer. If the store reports the just-identified customer
 * locked, the session completes as LOCKED instead (one more round trip, on
 * that rare path only). */
static void on_committed(void *ctx, store_result *out) {
  api_step *step = ctx;
  const flow_session *final = &step->finished.session;
  if (out->lockout_level > 0) {
    metrics_lockout();
    log_warn("customer locked out",
             LOG_STR("conversationId", final->conversation_id),
             LOG_INT("lockout", out->lockout_level));
  }
  if (out->dropped) {
    metrics_report_dropped();
    log_warn("report event dropped",
             LOG_STR("conversationId", final->conversation_id));
  }
  if (out->status == STORE_CUSTOMER_LOCKED && !step->relocking) {
    flow_session locked;
    flow_lock_out(final, api_now_ms(), &locked);
    step->finished.session = locked;
    step->relocking = true;
    commit_recorded(step, FLOW_LOCKOUT_NONE, false);
    return;
  }
  if (out->status != STORE_OK) {
    /* Best effort: let the next step in rather than wait for expiry. */
    if (out->status != STORE_UNAVAILABLE && out->status != STORE_LOCK_LOST)
      step->lock_held = false;
    fail_step(step, out->status, final);
    return;
  }
  step->lock_held = false;
  size_t idx = line_index(step->line);
  if (step->is_start)
    metrics_session_started(idx, final->method);
  if (final->state == FLOW_STATE_COMPLETED &&
      step->state_before != FLOW_STATE_COMPLETED) {
    metrics_session_completed(idx, final->outcome);
    log_info("session completed",
             LOG_STR("conversationId", final->conversation_id),
             LOG_STR("serviceLine", final->service_line),
             LOG_STR("outcome", flow_outcome_name(final->outcome)),
             LOG_STR("method", flow_method_name(final->method)),
             LOG_INT("identifyAttempts", final->identify_attempts),
             LOG_INT("verifyAttempts", final->verify_attempts));
  }
  render_session(final, step->line, step->resp);
  finish(step);
}

/* The CRM's answer (on the loop's thread): the flow completes the step,
 * which is then committed. */
static void on_crm_done(void *ctx, const flow_crm_result *result,
                        const crm_client_info *info) {
  api_step *step = ctx;
  explicit_bzero(step->answer, sizeof step->answer);
  metrics_crm_call(step->crm.kind, result->ok, info->latency_ms / 1000.0);
  if (!result->ok)
    log_crm_failure(step->conversation_id, crm_op_name(crm_op_for(&step->crm)),
                    info);
  flow_complete(&step->line->policy, &step->planned.session, &step->crm, result,
                api_now_ms(), &step->finished);
  if (step->crm.kind == FLOW_CRM_LOOKUP)
    otp_api_note_phone(step->line, result, &step->finished.session);
  limit_api_completed(&step->finished);
  commit_and_render(step);
}

/* Either finish the planned step now or ask the CRM first. The parsed body
 * is let go here: the answer (VERIFY) is copied for the CRM call only. */
static void run_plan(api_step *step, flow_plan_status ps) {
  if (ps == FLOW_PLAN_NEED_CRM) {
    step->crm = step->planned.crm;
    if (step->crm.kind == FLOW_CRM_VERIFY && step->req.answer)
      snprintf(step->answer, sizeof step->answer, "%s", step->req.answer);
  }
  request_free(&step->req);
  step->has_req = false;
  if (ps != FLOW_PLAN_NEED_CRM) {
    step->finished = step->planned;
    commit_and_render(step);
    return;
  }
  bool queued = crm_client_submit(&step->crm, step->answer, on_crm_done, step);
  explicit_bzero(step->answer, sizeof step->answer);
  if (!queued) {
    flow_crm_result failed = {.ok = false};
    crm_client_info info = {.reason = CRM_FAIL_INTERNAL};
    on_crm_done(step, &failed, &info);
  }
}

/* The session's language: the line's default when none was asked for or
 * the asked one has no prompts. Returns false after filling a 400 when
 * `requested` is not a language tag. */
static bool canonical_language_or_reply(const config_service_line *line,
                                        const char *requested, char *out,
                                        size_t out_len, api_response *resp) {
  if (!requested || !*requested) {
    snprintf(out, out_len, "%s", line->default_language);
    return true;
  }
  if (!prompt_canonical_language(requested, out, out_len))
    return api_reply_field_error(resp, "language",
                                 "must be a language tag such as en-US");
  /* A language with no prompts at all falls back to the line's default,
   * so the caller still hears something they can act on. */
  if (!prompt_language_builtin(out) &&
      !(line->prompts && json_object_get(line->prompts, out)))
    snprintf(out, out_len, "%s", line->default_language);
  return true;
}

/* What became of a link, for operators (the link itself is not PII). */
static void note_link(const api_step *step, const char *linked,
                      flow_link_verdict verdict) {
  metrics_context_link(verdict);
  if (verdict == FLOW_LINK_NONE)
    return;
  log_info("linked conversation",
           LOG_STR("conversationId", step->conversation_id),
           LOG_STR("linkedConversationId", linked),
           LOG_STR("link", flow_link_verdict_name(verdict)));
}

/* START's body beyond the base fields: channel (default voice) and a
 * well-formed linkedConversationId. False with the 400 filled. */
static bool start_context_or_reply(const request_body *req, flow_session *in,
                                   api_response *resp) {
  snprintf(in->channel, sizeof in->channel, "%s",
           req->channel ? req->channel : FLOW_DEFAULT_CHANNEL);
  if (req->linked_conversation_id &&
      route_conversation_id_error(req->linked_conversation_id))
    return api_reply_field_error(
        resp, "linkedConversationId",
        "must be 1..128 of A-Z a-z 0-9 . _ : - (not . or ..)");
  return true;
}

/* The keyed hash the per-caller failed-verification limit counts under:
 * hex HMAC-SHA256(key, "limit-ani:" || E.164), cut to FLOW_ANI_HASH_MAX
 * digits. "" when the ANI is missing or not a usable number. The number
 * itself is never stored (SPEC §6). */
static void caller_hash(const flow_policy *policy, const char *ani, char *out,
                        size_t out_len) {
  char e164[PHONE_E164_MAX + 1], msg[PHONE_E164_MAX + 16];
  char hex[HMAC_SHA256_HEX_LEN + 1];
  out[0] = '\0';
  if (!ani ||
      !phone_normalise(ani, policy->default_country_code, e164, sizeof e164))
    return;
  int n = snprintf(msg, sizeof msg, "limit-ani:%s", e164);
  hmac_sha256_hex(cfg->caller_hash_key, strlen(cfg->caller_hash_key), msg,
                  (size_t)n, hex);
  snprintf(out, out_len, "%.*s", FLOW_ANI_HASH_MAX, hex);
  explicit_bzero(e164, sizeof e164);
  explicit_bzero(msg, sizeof msg);
}
/* The create script's answer: an existing session is answered as it is;
 * a new one is planned with its link (if any) and the caller's number. */
static void on_created(void *ctx, store_result *out) {
  api_step *step = ctx;
  const request_body *req = &step->req;
  if (out->status == STORE_EXISTS) {
    /* A transferred call starting again keeps its state (SPEC §2.8). */
    render_session(&out->session,
                   config_find_service_line(cfg, out->session.service_line),
                   step->resp);
    finish(step);
    return;
  }
  if (out->status != STORE_OK) {
    fail_step(step, out->status, NULL);
    return;
  }
  step->lock_held = true;
  step->is_start = true;
  step->state_before = FLOW_STATE_AWAITING_IDENTIFIER;
  flow_session *in = &step->session;
  snprintf(in->conversation_id, sizeof in->conversation_id, "%s",
           step->conversation_id);
  snprintf(in->service_line, sizeof in->service_line, "%s", step->line->name);
  handoff_api_number_digest(cfg, step->line, req->ani, in->ani_digest);
  in->created_ms = api_now_ms();
  caller_hash(&step->line->policy, req->ani, in->ani_hash, sizeof in->ani_hash);
  flow_event ev = {.kind = FLOW_EV_START,
                   .ani = req->ani,
                   .link = req->linked_conversation_id ? &out->link : NULL,
                   .crm_down = crm_client_known_down(),
                   .now_ms = api_now_ms()};
  flow_plan_status ps =
      flow_start(&step->line->policy, in, &ev, &step->planned);
  note_link(step, req->linked_conversation_id, step->planned.link);
  if (ev.crm_down && ps == FLOW_PLAN_DONE &&
      step->planned.session.outcome == FLOW_OUTCOME_CRM_UNAVAILABLE) {
    crm_client_info down = {.reason = CRM_FAIL_BREAKER_OPEN};
    log_crm_failure(step->conversation_id, "start", &down);
  }
  if (req->ani && log_enabled(LOG_DEBUG))
    log_debug("start", LOG_STR("conversationId", step->conversation_id),
              LOG_STR("aniMasked", step->planned.session.ani_masked),
              LOG_BOOL("aniLookup", ps == FLOW_PLAN_NEED_CRM));
  run_plan(step, ps);
}

/* START: everything that can be refused without Redis is refused here;
 * then the create script (which also reads a linked session). */
static api_status handle_start(const char *body, size_t len, api_step *step,
                               api_response *resp) {
  request_body *req = &step->req;
  step->has_req = true;
  if (!api_parse_request_or_reply(REQUEST_START, body, len, req, resp))
    return API_RESPOND;
  const char *id_problem = route_conversation_id_error(req->conversation_id);
  if (id_problem) {
    api_error(resp, 400, "invalid_request", id_problem);
    return API_RESPOND;
  }
  snprintf(step->conversation_id, sizeof step->conversation_id, "%s",
           req->conversation_id);
  step->line = config_find_service_line(cfg, req->service_line);
  if (!step->line) {
    api_reply_field_error(resp, "serviceLine",
                          "is not a configured service line");
    return API_RESPOND;
  }
  flow_session *in = &step->session;
  memset(in, 0, sizeof *in);
  if (!canonical_language_or_reply(step->line, req->language, in->language,
                                   sizeof in->language, resp) ||
      !start_context_or_reply(req, in, resp))
    return API_RESPOND;
  store_new_token(step->token, sizeof step->token);
  store_create_async(step->conversation_id, step->token,
                     req->linked_conversation_id, step->started_ms + reserve_ms,
                     &step->store, on_created, step);
  return API_PENDING;
}

/* What a planned step logs before it runs: a failed-attempt limit found
 * reached (warn, with a metric), and at debug level the masked
 * identifier. */
static void log_step_start(const api_step *step, store_limit limit,
                           const flow_event *ev) {
  if (limit != STORE_LIMIT_NONE)
    limit_api_note(step->conversation_id, ev->kind, limit,
                   step->planned.crm.kind == FLOW_CRM_NONE);
  if (ev->kind == FLOW_EV_IDENTIFIER && log_enabled(LOG_DEBUG)) {
    char masked[FLOW_MASKED_MAX + 1];
    phone_mask(ev->identifier, masked, sizeof masked);
    log_debug("identifier", LOG_STR("conversationId", step->conversation_id),
              LOG_STR("identifierMasked", masked));
  }
}

/* The session as reserved (step->session) and the event, planned. */
static void plan_step(api_step *step, const flow_handoff *handoff,
                      bool customer_locked, store_limit limit) {
  const request_body *req = &step->req;
  char otp_digest[OTP_DIGEST_HEX + 1] = "";
  if (step->kind == FLOW_EV_OTP)
    otp_api_code_digest(&step->session, req->code, otp_digest);
  flow_event ev = {.kind = step->kind,
                   .otp_code = req->code,
                   .otp_digest = otp_digest,
                   .identifier = req->identifier,
                   .has_identifier_type = req->has_identifier_type,
                   .identifier_type = req->identifier_type,
                   .answer = req->answer,
                   .handoff = handoff,
                   .hold = limit_api_hold(limit),
                   .now_ms = api_now_ms()};
  flow_plan_status ps = flow_plan(&step->line->policy, &step->session, &ev,
                                  customer_locked, &step->planned);
  if (ps == FLOW_PLAN_WRONG_STATE) {
    fail_step(step, STORE_WRONG_STATE, &step->session);
    return;
  }
  if (step->kind == FLOW_EV_OTP)
    otp_api_note_check(&step->planned.session);
  log_step_start(step, limit, &ev);
  run_plan(step, ps);
}

/* The handoff script's answer (HANDOFF only). */
static void on_handoff_taken(void *ctx, store_result *out) {
  api_step *step = ctx;
  if (out->status != STORE_OK) {
    fail_step(step, out->status, &step->session);
    return;
  }
  handoff_api_taken(cfg, &step->session, out->taken, &out->handoff);
  plan_step(step, &out->handoff, false, STORE_LIMIT_NONE);
}

/* The reserve script's answer: the session locked, its attempt counted. */
static void on_reserved(void *ctx, store_result *out) {
  api_step *step = ctx;
  if (out->status != STORE_OK) {
    fail_step(step, out->status, &out->session);
    return;
  }
  step->lock_held = true;
  step->session = out->session;
  step->state_before = out->session.state;
  step->line = config_find_service_line(cfg, out->session.service_line);
  if (!step->line) {
    release_step(step);
    api_error(step->resp, 500, "internal",
              "the session's service line is no longer configured");
    finish(step);
    return;
  }
  if (step->kind != FLOW_EV_HANDOFF) {
    plan_step(step, NULL, out->customer_locked, out->limit);
    return;
  }
  /* The reserve checked the state. */
  char digest[FLOW_DIGEST_MAX + 1];
  if (!handoff_api_prepare(cfg, step->line, &step->session, step->req.code,
                           &out->handoff, digest)) {
    plan_step(step, &out->handoff, false, STORE_LIMIT_NONE);
    return;
  }
  store_handoff_take_async(
      digest, step->session.service_line, step->session.ani_digest,
      step->started_ms + reserve_ms, &step->store, on_handoff_taken, step);
  explicit_bzero(digest, sizeof digest);
}

/* IDENTIFIER, SECURITY, OPT_OUT and HANDOFF on an existing session: the
 * body is checked, then the reserve script takes the lock. */
static api_status handle_session_step(const route_match *route,
                                      flow_event_kind kind, const char *body,
                                      size_t len, api_step *step,
                                      api_response *resp) {
  static const request_kind kinds[] = {
      [FLOW_EV_IDENTIFIER] = REQUEST_IDENTIFIER,
      [FLOW_EV_SECURITY] = REQUEST_SECURITY,
      [FLOW_EV_OPT_OUT] = REQUEST_OPT_OUT,
      [FLOW_EV_HANDOFF] = REQUEST_HANDOFF,
      [FLOW_EV_OTP] = REQUEST_OTP,
      [FLOW_EV_OTP_RESEND] = REQUEST_OTP,
  };
  step->has_req = true;
  if (!api_parse_request_or_reply(kinds[kind], body, len, &step->req, resp))
    return API_RESPOND;
  if (kind == FLOW_EV_OTP && step->req.resend)
    kind = FLOW_EV_OTP_RESEND; /* {"resend": true} asks for a new code */
  step->kind = kind;
  snprintf(step->conversation_id, sizeof step->conversation_id, "%s",
           route->conversation_id);
  store_new_token(step->token, sizeof step->token);
  store_begin_async(step->conversation_id, step->token,
                    flow_event_allowed_states(kind), flow_event_counter(kind),
                    step->started_ms + reserve_ms, &step->store, on_reserved,
                    step);
  return API_PENDING;
}

static void on_got(void *ctx, store_result *out) {
  api_step *step = ctx;
  if (out->status != STORE_OK) {
    fail_step(step, out->status, &out->session);
    return;
  }
  render_session(&out->session,
                 config_find_service_line(cfg, out->session.service_line),
                 step->resp);
  finish(step);
}

static void on_deleted(void *ctx, store_result *out) {
  api_step *step = ctx;
  if (out->status != STORE_OK) {
    fail_step(step, out->status, NULL);
    return;
  }
  step->resp->status = 204;
  finish(step);
}

/* GET, DELETE and readyz: one store call each. */
static api_status handle_simple(const route_match *route, api_step *step,
                                api_response *resp) {
  switch (route->id) {
  case ROUTE_SESSION_GET:
    store_get_async(route->conversation_id, step->started_ms + budget_ms,
                    &step->store, on_got, step);
    return API_PENDING;
  case ROUTE_SESSION_DELETE:
    store_delete_async(route->conversation_id, step->started_ms + budget_ms,
                       &step->store, on_deleted, step);
    return API_PENDING;
  default:
    break;
  }
  if (atomic_load(&draining)) {
    resp->status = 503;
    resp->body =
        json_pack("{s:s, s:s}", "status", "draining", "redis", "unknown");
    return API_RESPOND;
  }
  return readyz_handle(step);
}

/* Most bytes a /metrics answer may take; the render is bounded far below
 * it (fixed tables, at most 64 service lines). */
#define METRICS_MAX (4 * 1024 * 1024)

/* GET /metrics: this process's metrics plus the dropped-event counter kept
 * in Redis. The counter covers every instance; it is left out (not failed)
 * when Redis does not answer. Any buffer failure is a 500. */
static void handle_metrics(api_response *resp) {
  buf out;
  buf_init(&out, METRICS_MAX, BUF_PLAIN);
  metrics_render(&out);
  char err[STORE_ERR_MAX];
  long long dropped;
  if (buf_state(&out) == BUF_OK &&
      store_report_dropped(&dropped, err, sizeof err) == STORE_OK)
    buf_addf(&out,
             "# HELP authflow_report_events_dropped_redis Report "
             "events no instance could record (Redis counter).\n"
             "# TYPE authflow_report_events_dropped_redis gauge\n"
             "authflow_report_events_dropped_redis %lld\n",
             dropped);
  buf_status st = buf_state(&out);
  resp->text = buf_take(&out, &resp->text_len, false);
  if (!resp->text) {
    api_error(resp, 500, "internal",
              st == BUF_TOO_LARGE ? "metrics exceed their size limit"
                                  : "out of memory");
    return;
  }
  resp->status = 200;
  resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static api_status dispatch(const route_match *route, const char *body,
                           size_t body_len, api_step *step,
                           api_response *resp) {
  switch (route->id) {
  case ROUTE_SESSIONS_CREATE:
    return handle_start(body, body_len, step, resp);
  case ROUTE_SESSION_IDENTIFIER:
    return handle_session_step(route, FLOW_EV_IDENTIFIER, body, body_len, step,
                               resp);
  case ROUTE_SESSION_SECURITY:
    return handle_session_step(route, FLOW_EV_SECURITY, body, body_len, step,
                               resp);
  case ROUTE_SESSION_OPT_OUT:
    return handle_session_step(route, FLOW_EV_OPT_OUT, body, body_len, step,
                               resp);
  case ROUTE_SESSION_HANDOFF:
    return handle_session_step(route, FLOW_EV_HANDOFF, body, body_len, step,
                               resp);
  case ROUTE_SESSION_OTP:
    return handle_session_step(route, FLOW_EV_OTP, body, body_len, step, resp);
  case ROUTE_SESSION_GET:
  case ROUTE_SESSION_DELETE:
  case ROUTE_READYZ:
    return handle_simple(route, step, resp);
  case ROUTE_HEALTHZ:
    resp->status = 200;
    resp->body = json_pack("{s:s}", "status", "ok");
    return API_RESPOND;
  case ROUTE_METRICS:
    handle_metrics(resp);
    return API_RESPOND;
  case ROUTE_HANDOFFS_CREATE: /* served by handoff_api (see http.c) */
  case ROUTE_REPORT_SUMMARY:  /* served by report_api (see http.c) */
  case ROUTE_REPORT_INTERACTIONS:
  case ROUTE_REPORT_SCHEDULE_RUN:
  case ROUTE_REPORT_DELIVERIES:
  case ROUTE_DASHBOARD:
  case ROUTE_NOT_FOUND:
  case ROUTE_COUNT:
    break;
  }
  api_error(resp, 404, "not_found", "no such endpoint");
  return API_RESPOND;
}

api_status api_handle(const route_match *route, const char *body,
                      size_t body_len, api_step *step, api_response *resp,
                      api_done_fn done, void *ctx) {
  step->resp = resp;
  step->done = done;
  step->done_ctx = ctx;
  step->started_ms = loop_now_ms();
  api_status st = dispatch(route, body, body_len, step, resp);
  if (st == API_RESPOND && step->has_req) {
    request_free(&step->req);
    step->has_req = false;
  }
  return st;
}

void api_step_abort(api_step *step) {
  explicit_bzero(step->answer, sizeof step->answer);
  if (step->has_req) {
    request_free(&step->req);
    step->has_req = false;
  }
  if (step->lock_held)
    release_step(step);
}
