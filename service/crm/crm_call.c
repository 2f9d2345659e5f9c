/*
 * crm_call: scheduling of CRM calls on one loop instance. See crm_call.h
 * and, for the contract, crm_client.h.
 *
 * A call is on its instance's job list from the moment it joins until its
 * callback, and at any time in at most one wait, which its one timer
 * bounds (crm_job_wait): admission (deferred from submit), a retry's
 * jitter, the gate's queue, the token's waiters. Connections are the
 * gate's: a call holds one while its attempt is on the wire, and one that
 * frees goes straight to the next call waiting (give_back).
 */
#include "crm_call.h"

#include <stdint.h>
#include <string.h>

#include "crm_breaker.h"

/* An attempt needs at least this much of the budget to be worth making. */
#define MIN_ATTEMPT_MS 100

static void emit(const crm_inst *in, crm_client_event ev, long value) {
  if (in->sh->cfg.on_event)
    in->sh->cfg.on_event(ev, value);
}

/* Why a transfer that ended (ok_io: with an HTTP answer `status`) gave no
 * usable answer. */
static crm_fail_reason transfer_reason(const crm_job *j, bool ok_io,
                                       long status) {
  if (ok_io)
    return status < 200 || status > 299 ? CRM_FAIL_HTTP_STATUS
                                        : CRM_FAIL_UNPARSEABLE;
  switch ((CURLcode)j->curl_rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_GOT_NOTHING:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
    return CRM_FAIL_REFUSED;
  case CURLE_OPERATION_TIMEDOUT:
    return CRM_FAIL_TIMEOUT;
  default:
    return CRM_FAIL_TRANSPORT;
  }
}

static void jobs_add(crm_inst *in, crm_job *j) {
  j->inst = in;
  j->all_prev = NULL;
  j->all_next = in->jobs;
  if (in->jobs)
    in->jobs->all_prev = j;
  in->jobs = j;
}

static void jobs_remove(crm_inst *in, crm_job *j) {
  if (j->all_prev)
    j->all_prev->all_next = j->all_next;
  else
    in->jobs = j->all_next;
  if (j->all_next)
    j->all_next->all_prev = j->all_prev;
  j->all_next = j->all_prev = NULL;
}

/* Call back and release. `record` false for calls that never reached the
 * CRM because of the breaker, the gate or a stop. */
static void complete(crm_job *j, const flow_crm_result *r, long status,
                     crm_fail_reason reason, bool record) {
  if (record)
    crm_breaker_record(j->is_probe, r->ok);
  else
    crm_breaker_forget(j->is_probe);
  crm_inst *in = j->inst;
  if (in) {
    loop_timer_stop(in->l, &j->timer);
    jobs_remove(in, j);
  }
  crm_client_info info = {.reason = r->ok ? CRM_FAIL_NONE : reason,
                          .http_status = status,
                          .attempts = j->attempts,
                          .latency_ms = crm_loop_now_ms() - j->started_ms};
  j->done(j->user, r, &info);
  crm_job_free(j, in ? crm_loop_multi(in->cl) : NULL);
}

/* A call that ends without a usable answer; `sent` says whether an earlier
 * attempt of it reached the CRM (a verify that did still counts). */
static void complete_failed(crm_job *j, crm_fail_reason reason, bool record) {
  flow_crm_result failed = {.ok = false, .sent = j->sent};
  complete(j, &failed, 0, reason, record);
}

void crm_call_fail_alone(crm_job *j, crm_fail_reason reason) {
  complete_failed(j, reason, false);
}

static void on_job_timer(void *ctx);

/* j waits (`wait`) until the monotonic ms `at`. False when out of memory
 * (j is not waiting). */
static bool arm(crm_inst *in, crm_job *j, crm_job_wait wait, double at) {
  double ms = at - crm_loop_now_ms();
  int64_t delay = ms <= 0 ? 0 : (int64_t)ms + 1;
  j->wait = wait;
  if (loop_timer_start(in->l, &j->timer, delay, on_job_timer, j))
    return true;
  j->wait = CRM_JOB_BUSY;
  return false;
}

/* The header list of a call's attempt: the client's, the request's, and
 * the bearer token for OAuth2 (its generation noted in the job). */
static struct curl_slist *call_headers(const crm_inst *in, crm_job *j) {
  struct curl_slist *h = NULL;
  for (const struct curl_slist *b = in->sh->base_headers; b; b = b->next) {
    h = crm_job_header_add(h, b->data);
    if (!h)
      return NULL;
  }
  for (size_t i = 0; h && i < j->http.header_count; i++)
    h = crm_job_header_add(h, j->http.headers[i]);
  if (h && in->sh->p->auth.kind == CRM_AUTH_OAUTH2)
    h = crm_token_add_header(in->sh->token, h, &j->token_gen);
  return h;
}

/* µs j waited at the gate for this attempt (0 when it did not); resets
 * the wait. */
static long queue_wait_us(crm_job *j) {
  if (j->queued_ms <= 0)
    return 0;
  double waited = crm_loop_now_ms() - j->queued_ms;
  j->queued_ms = 0;
  return waited > 0 ? (long)(waited * 1000.0) : 0;
}

/* A call whose budget ran out at the gate: the CRM never saw it, so the
 * breaker does not count it. */
static void gate_expired(const crm_inst *in, crm_job *j) {
  emit(in, CRM_EVENT_QUEUE_WAIT, queue_wait_us(j));
  emit(in, CRM_EVENT_QUEUE_EXPIRED, 1);
  complete_failed(j, CRM_FAIL_BUDGET, false);
}

static bool needs_token(const crm_inst *in) {
  return in->sh->p->auth.kind == CRM_AUTH_OAUTH2 &&
         !crm_token_valid(in->sh->token);
}

/* Puts the attempt of j, which holds a connection, on the wire. False when
 * it cannot (j is finished as a failure; the connection is free again). */
static bool send_attempt(crm_inst *in, crm_job *j) {
  const crm_shared *sh = in->sh;
  long budget = (long)(j->deadline_ms - crm_loop_now_ms());
  long timeout = budget < sh->cfg.timeout_ms ? budget : sh->cfg.timeout_ms;
  j->wait = CRM_JOB_BUSY;
  if (!crm_job_attach(j, j->http.url, call_headers(in, j), &sh->transport,
                      timeout)) {
    complete_failed(j, CRM_FAIL_INTERNAL, true);
    return false;
  }
  j->attempts++;
  if (!crm_loop_add(in->cl, j)) {
    complete_failed(j, CRM_FAIL_INTERNAL, true);
    return false;
  }
  j->holds_slot = true;
  emit(in, CRM_EVENT_QUEUE_WAIT, queue_wait_us(j));
  return true;
}

static void token_wait(crm_inst *in, crm_job *j);

/* j, taken off the gate's queue, was given a connection: it goes out
 * (true), or the connection is free again (false: its budget is spent,
 * the token is missing, or it could not be sent). */
static bool use_slot(crm_inst *in, crm_job *j) {
  loop_timer_stop(in->l, &j->timer);
  j->wait = CRM_JOB_BUSY;
  if (j->deadline_ms - crm_loop_now_ms() < MIN_ATTEMPT_MS) {
    gate_expired(in, j);
    return false;
  }
  if (needs_token(in)) {
    token_wait(in, j);
    return false;
  }
  return send_attempt(in, j);
}

/* A connection this instance held is free: it goes to the call that has
 * waited longest (maybe here), or back to the gate. */
static void give_back(crm_inst *in) {
  crm_job *j;
  while ((j = crm_gate_release(&in->gate)) && !use_slot(in, j))
    ;
}

/* Puts a call's next attempt on the wire, or behind the token fetch, or
 * in the gate's queue when every connection is busy. Finishes it as a
 * failure when the budget is spent. */
static void launch(crm_inst *in, crm_job *j) {
  j->wait = CRM_JOB_BUSY;
  if (in->stopping) {
    complete_failed(j, CRM_FAIL_STOPPING, false);
    return;
  }
  if (j->deadline_ms - crm_loop_now_ms() < MIN_ATTEMPT_MS) {
    complete_failed(j, CRM_FAIL_BUDGET, true);
    return;
  }
  if (needs_token(in)) {
    token_wait(in, j);
    return;
  }
  if (!crm_gate_acquire(&in->gate, j)) {
    /* Its budget ends at the gate unless a connection comes first. */
    arm(in, j, CRM_JOB_GATE, j->deadline_ms - MIN_ATTEMPT_MS);
    return;
  }
  if (!send_attempt(in, j))
    give_back(in);
}

/* The calls waiting for the token go out (got, or the fetch they waited
 * for was abandoned: they try again) or fail. */
static void resume_waiters(crm_inst *in, crm_token_news news) {
  crm_job *w = in->token_waiters;
  in->token_waiters = NULL;
  while (w) {
    crm_job *j = w;
    w = j->next;
    j->next = j->prev = NULL;
    loop_timer_stop(in->l, &j->timer);
    j->wait = CRM_JOB_BUSY;
    if (news == CRM_TOKEN_FAILED)
      complete_failed(j, CRM_FAIL_TOKEN, true);
    else
      launch(in, j);
  }
}

/* This instance runs the process's token fetch. */
static void start_fetch(crm_inst *in) {
  crm_job *t = crm_token_fetch_job(in->sh->token);
  if (t && crm_loop_add(in->cl, t)) {
    t->inst = in;
    in->fetch = t;
    return;
  }
  if (t)
    crm_job_free(t, crm_loop_multi(in->cl));
  /* Cannot fetch: every call waiting for it fails. */
  crm_token_fetch_end(in->sh->token, CRM_TOKEN_FAILED);
  resume_waiters(in, CRM_TOKEN_FAILED);
}

/* j waits for the token (until its budget ends), behind the fetch in
 * flight anywhere or one it starts here. */
static void token_wait(crm_inst *in, crm_job *j) {
  j->prev = NULL;
  j->next = in->token_waiters;
  if (in->token_waiters)
    in->token_waiters->prev = j;
  in->token_waiters = j;
  arm(in, j, CRM_JOB_TOKEN, j->deadline_ms);
  switch (crm_token_join(in->sh->token, &in->token_sub)) {
  case CRM_TOKEN_WAIT:
    break;
  case CRM_TOKEN_VALID: /* fetched elsewhere meanwhile */
    resume_waiters(in, CRM_TOKEN_GOT);
    break;
  case CRM_TOKEN_FETCH:
    start_fetch(in);
    break;
  }
}

static void unlink_waiter(crm_inst *in, crm_job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    in->token_waiters = j->next;
  if (j->next)
    j->next->prev = j->prev;
  j->next = j->prev = NULL;
}

/* Jitter of 50..150 ms for a retry (xorshift; no security use). */
static double jitter_ms(crm_inst *in) {
  unsigned x = in->rng ? in->rng : 2463534242u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  in->rng = x;
  return 50.0 + (double)(x % 101);
}

/* The token fetch ended. */
static void fetch_done(crm_inst *in, crm_job *t, bool ok_io) {
  in->fetch = NULL;
  bool got = crm_token_fetch_done(in->sh->token, t, ok_io);
  crm_job_free(t, crm_loop_multi(in->cl));
  emit(in, CRM_EVENT_TOKEN_FETCH, got ? 1 : 0);
  resume_waiters(in, got ? CRM_TOKEN_GOT : CRM_TOKEN_FAILED);
}

void crm_call_transfer_done(void *ctx, crm_job *j, bool ok_io) {
  crm_inst *in = ctx;
  if (j->is_token) {
    fetch_done(in, j, ok_io);
    return;
  }
  const crm_profile *p = in->sh->p;
  if (crm_job_sent(j))
    j->sent = true;
  bool held = j->holds_slot;
  j->holds_slot = false;
  long status = crm_job_status(j, ok_io);
  flow_crm_result r;
  crm_map(p, &j->req, status, buf_str(&j->response), buf_len(&j->response), &r);
  r.sent = j->sent;
  r.answered = status > 0;
  crm_fail_reason reason = transfer_reason(j, ok_io, status);
  bool unauthorized = status == 401 && p->auth.kind == CRM_AUTH_OAUTH2;
  double left = j->deadline_ms - crm_loop_now_ms();
  double wait = jitter_ms(in); /* the same wait is checked and used */
  bool retry = !r.ok && j->http.idempotent &&
               j->attempts <= p->lookup_retries && left > wait + MIN_ATTEMPT_MS;
  if ((unauthorized && !j->auth_retried) || retry)
    crm_job_end_attempt(j, crm_loop_multi(in->cl));
  if (held)
    give_back(in);
  if (unauthorized && !j->auth_retried) {
    /* The token expired early or was revoked: refresh once, retry once. */
    j->auth_retried = true;
    crm_token_refused(in->sh->token, j->token_gen);
    launch(in, j);
  } else if (retry) {
    emit(in, CRM_EVENT_RETRY, 1);
    if (!arm(in, j, CRM_JOB_RETRY, crm_loop_now_ms() + wait))
      complete_failed(j, CRM_FAIL_INTERNAL, true);
  } else {
    complete(j, &r, status, reason, true);
  }
}

/* A newly submitted call: the breaker decides whether it goes out. */
static void admit(crm_inst *in, crm_job *j) {
  bool probe = false;
  if (!in->stopping && !crm_breaker_admit(&probe)) {
    emit(in, CRM_EVENT_FAST_FAIL, 1);
    complete_failed(j, CRM_FAIL_BREAKER_OPEN, false);
    return;
  }
  j->is_probe = probe;
  launch(in, j);
}

static void on_job_timer(void *ctx) {
  crm_job *j = ctx;
  crm_inst *in = j->inst;
  crm_job_wait wait = j->wait;
  j->wait = CRM_JOB_BUSY;
  switch (wait) {
  case CRM_JOB_ADMIT:
    admit(in, j);
    break;
  case CRM_JOB_RETRY:
    launch(in, j);
    break;
  case CRM_JOB_GATE:
    crm_gate_leave(&in->gate, j);
    gate_expired(in, j);
    break;
  case CRM_JOB_TOKEN: /* its budget ran out waiting */
    unlink_waiter(in, j);
    complete_failed(j, CRM_FAIL_TOKEN, true);
    break;
  case CRM_JOB_BUSY:
    break;
  }
}

bool crm_call_enter(crm_inst *in, crm_job *j, bool defer) {
  jobs_add(in, j);
  if (!defer) {
    admit(in, j);
    return true;
  }
  if (arm(in, j, CRM_JOB_ADMIT, 0))
    return true;
  jobs_remove(in, j);
  j->inst = NULL;
  return false;
}

void crm_call_granted(crm_inst *in) {
  crm_job *j;
  while ((j = crm_gate_take_granted(&in->gate)))
    if (!use_slot(in, j))
      give_back(in);
}

void crm_call_token_news(crm_inst *in, crm_token_news news) {
  resume_waiters(in, news);
}

void crm_call_stop_all(crm_inst *in) {
  in->stopping = true;
  crm_gate_close(&in->gate); /* its queue is emptied, its grants go on */
  crm_token_leave(in->sh->token, &in->token_sub);
  in->token_waiters = NULL;
  if (in->fetch) {
    crm_token_fetch_end(in->sh->token, CRM_TOKEN_ABANDONED);
    crm_job_free(in->fetch, crm_loop_multi(in->cl));
    in->fetch = NULL;
  }
  while (in->jobs) {
    crm_job *j = in->jobs;
    j->next = j->prev = NULL;
    if (j->holds_slot) {
      /* On the wire: a request that went out may have been checked by the
       * CRM, so it is reported sent (a verification then stays counted,
       * as after a timeout) even though the answer is cut off here. */
      if (crm_job_sent(j))
        j->sent = true;
      j->holds_slot = false;
      /* The queue is closed: the connection goes to another instance. */
      crm_gate_release(&in->gate);
    }
    complete_failed(j, CRM_FAIL_STOPPING, false);
  }
}
