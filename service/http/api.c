#include "api.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "crm.h"
#include "handoff_api.h"
#include "hmac.h"
#include "log.h"
#include "metrics.h"
#include "phone.h"
#include "prompt.h"
#include "ratelimit.h"
#include "report.h"
#include "request.h"

static const config *cfg;
static atomic_bool draining;

/* Repeats of one CRM failure reason are rate-limited in the log. */
static pthread_mutex_t crm_log_mutex = PTHREAD_MUTEX_INITIALIZER;
static ratelimit crm_log_limit[CRM_FAIL_INTERNAL + 1];

void api_init(const config *c) {
  cfg = c;
}

void api_set_draining(bool d) {
  atomic_store(&draining, d);
}

int64_t api_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

void api_response_free(api_response *resp) {
  json_decref(resp->body);
  free(resp->text);
  resp->body = NULL;
  resp->text = NULL;
}

void api_error(api_response *resp, unsigned status, const char *code,
               const char *message) {
  resp->status = status;
  resp->error = code;
  json_decref(resp->body);
  resp->body = json_pack("{s:s, s:s}", "error", code, "message", message);
}

bool api_reply_field_error(api_response *resp, const char *key,
                           const char *problem) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s %s", key, problem);
  api_error(resp, 400, "invalid_request", msg);
  return false;
}

bool api_parse_request_or_reply(request_kind kind, const char *body, size_t len,
                                request_body *req, api_response *resp) {
  request_status st = request_parse(kind, body, len, req);
  if (st == REQUEST_OK)
    return true;
  api_error(resp, 400,
            st == REQUEST_INVALID_JSON ? "invalid_json" : "invalid_request",
            req->message);
  return false;
}

/* ---------------------------------------------------------------------
 * Answers.
 * ------------------------------------------------------------------- */

static size_t line_index(const config_service_line *line) {
  return (size_t)(line - cfg->service_lines);
}

/* Render the fixed 16-key session answer. Every key is always present
 * and never null (SPEC §3). */
static void render_session(const flow_session *s,
                           const config_service_line *line,
                           api_response *resp) {
  flow_view view;
  static const flow_policy no_policy = {.max_identify_attempts = 1,
                                        .max_verify_attempts = 1};
  const flow_policy *policy = line ? &line->policy : &no_policy;
  flow_view_of(policy, s, &view);

  char text[PROMPT_TEXT_MAX];
  /* No name before verification unless the line opted in (SPEC §6);
   * customerName below is still filled, for the agent's screen. */
  prompt_vars vars = {.customer_name = view.speak_name ? s->customer_name : "",
                      .identifier_type = policy->identifier_type,
                      .attempts_remaining = view.attempts_remaining};
  prompt_render(line ? line->prompts : NULL, s->language,
                line ? line->default_language : "en-US", view.prompt_id, &vars,
                text, sizeof text);

  json_decref(resp->body);
  resp->body = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:s, s:s, s:i, s:s, "
      "s:s, s:s, s:s}",
      "conversationId", s->conversation_id, "serviceLine", s->service_line,
      "language", s->language, "state", flow_state_name(s->state), "nextAction",
      flow_next_action_name(view.next_action), "authStatus",
      flow_auth_status_name(view.auth_status), "identified", s->identified,
      "verified", s->verified, "identificationMethod",
      flow_method_name(s->method), "outcome", flow_outcome_name(s->outcome),
      "lastResult", flow_result_name(s->last_result), "attemptsRemaining",
      view.attempts_remaining, "promptId", view.prompt_id, "promptText", text,
      "customerId", s->customer_id, "customerName", s->customer_name);
  resp->status = resp->body ? 200 : 500;
  resp->outcome = flow_outcome_name(s->outcome);
  if (!resp->body)
    api_error(resp, 500, "internal", "could not render the answer");
}

/* The words that differ between the two stores (the messages and log
 * lines each has always had). */
static const struct {
  const char *unavailable_log, *unavailable, *corrupt_log, *corrupt;
} store_words[] = {
    [API_STORE_SESSIONS] = {"redis unavailable",
                            "session store unavailable; retry",
                            "session record unreadable",
                            "the stored session could not be read"},
    [API_STORE_REPORTS] = {"report read failed",
                           "report store unavailable; retry",
                           "report record unreadable",
                           "the stored report could not be read"},
    [API_STORE_HANDOFFS] = {"redis unavailable",
                            "handoff store unavailable; retry",
                            "handoff record unreadable",
                            "the handoff could not be stored"},
};

void api_reply_store_error(api_response *resp, store_status st,
                           api_store_subject subject,
                           const flow_session *current, const char *err) {
  const char *name = store_status_name(st);
  switch (st) {
  case STORE_NOT_FOUND:
    api_error(resp, 404, "not_found", "no session with that conversationId");
    return;
  case STORE_BUSY:
    api_error(resp, 409, "busy",
              "another step of this session is in progress; retry");
    return;
  case STORE_WRONG_STATE:
    api_error(resp, 409, "wrong_state",
              "that step is not allowed in the session's current state");
    if (current)
      json_object_set_new(resp->body, "state",
                          json_string(flow_state_name(current->state)));
    return;
  case STORE_LOCK_LOST:
    api_error(resp, 409, "busy",
              "the step took longer than its lock allows; retry");
    return;
  case STORE_UNAVAILABLE:
    metrics_redis_error();
    log_warn(store_words[subject].unavailable_log, LOG_STR("status", name),
             LOG_STR("error", err));
    api_error(resp, 503, "unavailable", store_words[subject].unavailable);
    return;
  case STORE_CORRUPT:
    log_error(store_words[subject].corrupt_log, LOG_STR("status", name),
              LOG_STR("error", err));
    api_error(resp, 500, "internal", store_words[subject].corrupt);
    return;
  case STORE_DELETED:
    /* A deleted conversation is over: it reads as completed. */
    api_error(resp, 409, "wrong_state",
              "that conversation was deleted; it cannot start again");
    json_object_set_new(resp->body, "state",
                        json_string(flow_state_name(FLOW_STATE_COMPLETED)));
    return;
  case STORE_OK:
  case STORE_EXISTS:
  case STORE_CUSTOMER_LOCKED:
    break;
  }
  log_error("unexpected store status", LOG_STR("status", name),
            LOG_STR("error", err));
  api_error(resp, 500, "internal", "unexpected store status");
}

/* ---------------------------------------------------------------------
 * Steps.
 * ------------------------------------------------------------------- */

/* Commit `s` with its report data: started counters on a START step, the
 * completion (counters + stream event) when this step completes it. They
 * are written by the same script as the session, so a step is recorded
 * exactly when it commits. */
static store_status commit_recorded(const api_step *step, const flow_session *s,
                                    flow_lockout_effect lockout,
                                    bool check_lockout, char *err,
                                    size_t err_len) {
  report_record rec;
  bool dropped = false;
  int lockout_level = 0;
  report_build_record(s, step->is_start,
                      s->state == FLOW_STATE_COMPLETED &&
                          step->state_before != FLOW_STATE_COMPLETED,
                      &rec);
  store_status st =
      store_commit_report(s, step->token, lockout, check_lockout, &rec,
                          &dropped, &lockout_level, err, err_len);
  if (lockout_level > 0) {
    metrics_lockout();
    log_warn("customer locked out",
             LOG_STR("conversationId", s->conversation_id),
             LOG_INT("lockout", lockout_level));
  }
  if (dropped) {
    metrics_report_dropped();
    log_warn("report event dropped",
             LOG_STR("conversationId", s->conversation_id));
  }
  return st;
}

/* Gives back the step's session lock after a step that will not commit
 * (the session is left exactly as it was). A failed release is not worth
 * an answer of its own: the lock expires by itself. */
static void release_step(api_step *step) {
  char ignored[STORE_ERR_MAX];
  store_release(step->conversation_id, step->token, ignored, sizeof ignored);
  step->lock_held = false;
}

/*
 * Write the step's result and answer with it. Handles the lockout check
 * the flow asked for: if the store reports the just-identified customer
 * locked, the session completes as LOCKED instead (one more round trip,
 * on that rare path only).
 */
static void commit_and_render(api_step *step, const flow_step *result,
                              api_response *resp) {
  char err[STORE_ERR_MAX];
  const flow_session *final = &result->session;
  flow_session locked;
  store_status st = commit_recorded(step, final, result->lockout,
                                    result->check_lockout, err, sizeof err);
  if (st == STORE_CUSTOMER_LOCKED) {
    flow_lock_out(final, api_now_ms(), &locked);
    final = &locked;
    st =
        commit_recorded(step, final, FLOW_LOCKOUT_NONE, false, err, sizeof err);
  }
  if (st != STORE_OK) {
    if (st == STORE_UNAVAILABLE || st == STORE_LOCK_LOST) {
      /* Best effort: let the next step in rather than wait for expiry. */
      release_step(step);
    }
    step->lock_held = false;
    api_reply_store_error(resp, st, API_STORE_SESSIONS, final, err);
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
  render_session(final, step->line, resp);
}

/* Either finish the planned step now or hand its CRM call to the caller. */
static api_status plan_outcome(api_step *step, flow_plan_status ps,
                               const char *answer, api_response *resp) {
  if (ps == FLOW_PLAN_NEED_CRM) {
    step->crm = step->planned.crm;
    if (step->crm.kind == FLOW_CRM_VERIFY && answer)
      snprintf(step->answer, sizeof step->answer, "%s", answer);
    return API_NEED_CRM;
  }
  commit_and_render(step, &step->planned, resp);
  return API_RESPOND;
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

/*
 * The keyed hash the per-caller failed-verification limit counts under:
 * hex HMAC-SHA256(key, "limit-ani:" || E.164), cut to FLOW_ANI_HASH_MAX
 * digits. "" when the ANI is missing or not a usable number. The number
 * itself is never stored (SPEC §6).
 */
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
static api_status handle_start(const char *body, size_t len, api_step *step,
                               api_response *resp) {
  request_body req;
  api_status result = API_RESPOND;
  if (!api_parse_request_or_reply(REQUEST_START, body, len, &req, resp))
    goto done;
  const char *id_problem = route_conversation_id_error(req.conversation_id);
  if (id_problem) {
    api_error(resp, 400, "invalid_request", id_problem);
    goto done;
  }
  snprintf(step->conversation_id, sizeof step->conversation_id, "%s",
           req.conversation_id);
  step->line = config_find_service_line(cfg, req.service_line);
  if (!step->line) {
    api_reply_field_error(resp, "serviceLine",
                          "is not a configured service line");
    goto done;
  }
  flow_session session_in = {0};
  if (!canonical_language_or_reply(step->line, req.language,
                                   session_in.language,
                                   sizeof session_in.language, resp) ||
      !start_context_or_reply(&req, &session_in, resp))
    goto done;

  char err[STORE_ERR_MAX];
  flow_session existing;
  flow_link link;
  store_new_token(step->token, sizeof step->token);
  store_status st = store_create_linked(step->conversation_id, step->token,
                                        req.linked_conversation_id, &existing,
                                        &link, err, sizeof err);
  if (st == STORE_EXISTS) {
    /* A transferred call starting again keeps its state (SPEC §2.8). */
    render_session(&existing,
                   config_find_service_line(cfg, existing.service_line), resp);
    goto done;
  }
  if (st != STORE_OK) {
    api_reply_store_error(resp, st, API_STORE_SESSIONS, NULL, err);
    goto done;
  }
  step->lock_held = true;
  step->is_start = true;
  step->state_before = FLOW_STATE_AWAITING_IDENTIFIER;

  snprintf(session_in.conversation_id, sizeof session_in.conversation_id, "%s",
           step->conversation_id);
  snprintf(session_in.service_line, sizeof session_in.service_line, "%s",
           step->line->name);
  handoff_api_number_digest(cfg, step->line, req.ani, session_in.ani_digest);
  session_in.created_ms = api_now_ms();
  caller_hash(&step->line->policy, req.ani, session_in.ani_hash,
              sizeof session_in.ani_hash);
  flow_event ev = {.kind = FLOW_EV_START,
                   .ani = req.ani,
                   .link = req.linked_conversation_id ? &link : NULL,
                   .crm_down = crm_client_known_down(),
                   .now_ms = api_now_ms()};
  flow_plan_status ps =
      flow_start(&step->line->policy, &session_in, &ev, &step->planned);
  note_link(step, req.linked_conversation_id, step->planned.link);
  if (ev.crm_down && ps == FLOW_PLAN_DONE &&
      step->planned.session.outcome == FLOW_OUTCOME_CRM_UNAVAILABLE) {
    crm_client_info down = {.reason = CRM_FAIL_BREAKER_OPEN};
    log_crm_failure(step->conversation_id, "start", &down);
  }
  if (req.ani && log_enabled(LOG_DEBUG))
    log_debug("start", LOG_STR("conversationId", step->conversation_id),
              LOG_STR("aniMasked", step->planned.session.ani_masked),
              LOG_BOOL("aniLookup", ps == FLOW_PLAN_NEED_CRM));
  result = plan_outcome(step, ps, NULL, resp);
done:
  request_free(&req);
  return result;
}

/* What a planned step logs before it runs: a verification limit that
 * tripped (warn, with a metric), and at debug level the masked
 * identifier. */
static void log_step_start(const api_step *step, store_limit limit,
                           const flow_event *ev) {
  if (limit != STORE_LIMIT_NONE) {
    metrics_verify_limit_trip(limit == STORE_LIMIT_CALLER);
    log_warn(
        "verification limit reached",
        LOG_STR("scope", limit == STORE_LIMIT_CALLER ? "caller" : "global"),
        LOG_STR("conversationId", step->conversation_id));
  }
  if (ev->kind == FLOW_EV_IDENTIFIER && log_enabled(LOG_DEBUG)) {
    char masked[FLOW_MASKED_MAX + 1];
    phone_mask(ev->identifier, masked, sizeof masked);
    log_debug("identifier", LOG_STR("conversationId", step->conversation_id),
              LOG_STR("identifierMasked", masked));
  }
}

/* IDENTIFIER, SECURITY, OPT_OUT and HANDOFF on an existing session. */
static api_status handle_session_step(const route_match *route,
                                      flow_event_kind kind, const char *body,
                                      size_t len, api_step *step,
                                      api_response *resp) {
  static const request_kind kinds[] = {
      [FLOW_EV_IDENTIFIER] = REQUEST_IDENTIFIER,
      [FLOW_EV_SECURITY] = REQUEST_SECURITY,
      [FLOW_EV_OPT_OUT] = REQUEST_OPT_OUT,
      [FLOW_EV_HANDOFF] = REQUEST_HANDOFF,
  };
  request_body req;
  api_status result = API_RESPOND;
  if (!api_parse_request_or_reply(kinds[kind], body, len, &req, resp))
    goto done;
  flow_event ev = {.kind = kind,
                   .identifier = req.identifier,
                   .has_identifier_type = req.has_identifier_type,
                   .identifier_type = req.identifier_type,
                   .answer = req.answer};

  snprintf(step->conversation_id, sizeof step->conversation_id, "%s",
           route->conversation_id);
  char err[STORE_ERR_MAX];
  flow_session session;
  bool customer_locked = false;
  store_limit limit = STORE_LIMIT_NONE;
  store_new_token(step->token, sizeof step->token);
  store_status st =
      store_begin(step->conversation_id, step->token,
                  flow_event_allowed_states(kind), flow_event_counter(kind),
                  &session, &customer_locked, &limit, err, sizeof err);
  if (st != STORE_OK) {
    api_reply_store_error(resp, st, API_STORE_SESSIONS, &session, err);
    goto done;
  }
  step->lock_held = true;
  step->state_before = session.state;
  step->line = config_find_service_line(cfg, session.service_line);
  if (!step->line) {
    release_step(step);
    api_error(resp, 500, "internal",
              "the session's service line is no longer configured");
    goto done;
  }
  flow_handoff handoff;
  if (kind == FLOW_EV_HANDOFF) { /* store_begin checked the state */
    st = handoff_api_take(cfg, step->line, &session, req.code, &handoff, err,
                          sizeof err);
    if (st != STORE_OK) {
      release_step(step);
      api_reply_store_error(resp, st, API_STORE_SESSIONS, &session, err);
      goto done;
    }
    ev.handoff = &handoff;
  }
  ev.now_ms = api_now_ms();
  flow_plan_status ps = flow_plan(&step->line->policy, &session, &ev,
                                  customer_locked, &step->planned);
  if (ps == FLOW_PLAN_WRONG_STATE) {
    release_step(step);
    api_reply_store_error(resp, STORE_WRONG_STATE, API_STORE_SESSIONS, &session,
                          err);
    goto done;
  }
  log_step_start(step, limit, &ev);
  result = plan_outcome(step, ps, ev.answer, resp);
done:
  request_free(&req);
  return result;
}

static void handle_get(const route_match *route, api_response *resp) {
  char err[STORE_ERR_MAX];
  flow_session s;
  store_status st = store_get(route->conversation_id, &s, err, sizeof err);
  if (st != STORE_OK) {
    api_reply_store_error(resp, st, API_STORE_SESSIONS, &s, err);
    return;
  }
  render_session(&s, config_find_service_line(cfg, s.service_line), resp);
}

static void handle_delete(const route_match *route, api_response *resp) {
  char err[STORE_ERR_MAX];
  store_status st = store_delete(route->conversation_id, err, sizeof err);
  if (st != STORE_OK) {
    api_reply_store_error(resp, st, API_STORE_SESSIONS, NULL, err);
    return;
  }
  resp->status = 204;
}

static void handle_readyz(api_response *resp) {
  char err[STORE_ERR_MAX];
  if (atomic_load(&draining)) {
    resp->status = 503;
    resp->body =
        json_pack("{s:s, s:s}", "status", "draining", "redis", "unknown");
    return;
  }
  store_status st = store_ping(err, sizeof err);
  resp->status = st == STORE_OK ? 200 : 503;
  resp->body = json_pack("{s:s, s:s}", "status",
                         st == STORE_OK ? "ready" : "unavailable", "redis",
                         st == STORE_OK ? "ok" : "unavailable");
  if (st != STORE_OK)
    metrics_redis_error();
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

api_status api_handle(const route_match *route, const char *body,
                      size_t body_len, api_step *step, api_response *resp) {
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
  case ROUTE_HANDOFFS_CREATE:
    handoff_api_create(cfg, body, body_len, resp);
    return API_RESPOND;
  case ROUTE_SESSION_GET:
    handle_get(route, resp);
    return API_RESPOND;
  case ROUTE_SESSION_DELETE:
    handle_delete(route, resp);
    return API_RESPOND;
  case ROUTE_HEALTHZ:
    resp->status = 200;
    resp->body = json_pack("{s:s}", "status", "ok");
    return API_RESPOND;
  case ROUTE_READYZ:
    handle_readyz(resp);
    return API_RESPOND;
  case ROUTE_METRICS:
    handle_metrics(resp);
    return API_RESPOND;
  case ROUTE_REPORT_SUMMARY: /* served by report_api (see http.c) */
  case ROUTE_REPORT_INTERACTIONS:
  case ROUTE_DASHBOARD:
  case ROUTE_NOT_FOUND:
  case ROUTE_COUNT:
    break;
  }
  api_error(resp, 404, "not_found", "no such endpoint");
  return API_RESPOND;
}

void api_crm_done(api_step *step, const flow_crm_result *result,
                  const crm_client_info *info, api_response *resp) {
  explicit_bzero(step->answer, sizeof step->answer);
  if (!result->ok)
    log_crm_failure(step->conversation_id, crm_op_name(crm_op_for(&step->crm)),
                    info);
  flow_step done;
  flow_complete(&step->line->policy, &step->planned.session, &step->crm, result,
                api_now_ms(), &done);
  commit_and_render(step, &done, resp);
}

void api_step_abort(api_step *step) {
  explicit_bzero(step->answer, sizeof step->answer);
  if (step->lock_held)
    release_step(step);
}
