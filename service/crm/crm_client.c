/*
 * crm_client: one thread owns the CRM event loop (crm_loop: curl's multi
 * socket API on epoll) and runs every CRM call on it. Submitters on any
 * thread append to a mutex-protected queue and wake the loop; only the
 * CRM thread touches the jobs (crm_job), the retry list, the breaker and
 * the OAuth2 token (crm_token).
 *
 * This file is the scheduling: admission through the breaker, the
 * connection gate (at most max_connections calls on the wire, the rest
 * wait oldest first), each attempt's launch, what an ended transfer means (401
 * retry, lookup retry, completion), the retry timers, and the thread's start
 * and stop.
 */
#include "crm_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm.h"
#include "crm_job.h"
#include "crm_loop.h"
#include "crm_token.h"

/* An attempt needs at least this much of the budget to be worth making. */
#define MIN_ATTEMPT_MS 100

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* curl_global_init() is not thread-safe: run it exactly once. */
static void curl_init_once(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static struct {
  pthread_t thread;
  pthread_mutex_t mutex;
  bool running;
  bool stopping;
  crm_job *queued;  /* submitted, not yet admitted (singly linked) */
  crm_job *delayed; /* waiting for a retry's due time (singly linked) */
  /* The gate: calls waiting for a connection (FIFO), their count, the
   * earliest time one of them may run out of budget, and the calls now on
   * the wire (CRM thread only). */
  crm_job *gate_head, *gate_tail;
  long gate_len;
  double gate_next_expiry_ms;
  long in_use;
  struct curl_slist *base_headers;
  crm_client_config cfg;
  const crm_profile *p;
  crm_job_transport transport;
  /* breaker */
  crm_breaker_state breaker;
  int failures;
  double open_until_ms;
  bool probe_in_flight;
  unsigned rng;
} client = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static void emit(crm_client_event ev, long value) {
  if (client.cfg.on_event)
    client.cfg.on_event(ev, value);
}

/* What crm_client_known_down() reads from other threads: the monotonic ms
 * until which the breaker stays open, 0 when it is not open. */
static _Atomic int64_t open_until_public;

bool crm_client_known_down(void) {
  int64_t until = atomic_load(&open_until_public);
  return until > 0 && crm_loop_now_ms() < (double)until;
}

static void set_breaker(crm_breaker_state s) {
  atomic_store(&open_until_public,
               s == CRM_BREAKER_OPEN ? (int64_t)client.open_until_ms : 0);
  if (client.breaker != s) {
    client.breaker = s;
    emit(CRM_EVENT_BREAKER, (long)s);
  }
}

/* A call's final outcome feeds the breaker. */
static void breaker_record(const crm_job *j, bool ok) {
  if (j->is_probe)
    client.probe_in_flight = false;
  if (client.p->breaker_failures <= 0)
    return;
  if (ok) {
    client.failures = 0;
    set_breaker(CRM_BREAKER_CLOSED);
    return;
  }
  client.failures++;
  if (client.breaker == CRM_BREAKER_HALF_OPEN ||
      client.failures >= client.p->breaker_failures) {
    client.open_until_ms =
        crm_loop_now_ms() + (double)client.p->breaker_open_ms;
    set_breaker(CRM_BREAKER_OPEN);
  }
}

const char *crm_fail_reason_name(crm_fail_reason r) {
  static const char *const names[] = {
      [CRM_FAIL_NONE] = "none",
      [CRM_FAIL_REFUSED] = "refused",
      [CRM_FAIL_TIMEOUT] = "timeout",
      [CRM_FAIL_TRANSPORT] = "transport",
      [CRM_FAIL_HTTP_STATUS] = "http_status",
      [CRM_FAIL_UNPARSEABLE] = "unparseable",
      [CRM_FAIL_BREAKER_OPEN] = "breaker_open",
      [CRM_FAIL_TOKEN] = "token",
      [CRM_FAIL_BUDGET] = "budget",
      [CRM_FAIL_STOPPING] = "stopping",
      [CRM_FAIL_INTERNAL] = "internal",
  };
  return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "internal";
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

/* Call back and release. `record` false for calls that never reached the
 * CRM because of the breaker or a stop. */
static void complete(crm_job *j, const flow_crm_result *r, long status,
                     crm_fail_reason reason, bool record) {
  if (record)
    breaker_record(j, r->ok);
  else if (j->is_probe)
    client.probe_in_flight = false;
  crm_client_info info = {.reason = r->ok ? CRM_FAIL_NONE : reason,
                          .http_status = status,
                          .attempts = j->attempts,
                          .latency_ms = crm_loop_now_ms() - j->started_ms};
  j->done(j->user, r, &info);
  crm_job_free(j, crm_loop_multi());
}

/* A call that ends without a usable answer; `sent` says whether an earlier
 * attempt of it reached the CRM (a verify that did still counts). */
static void complete_failed(crm_job *j, crm_fail_reason reason, bool record) {
  flow_crm_result failed = {.ok = false, .sent = j->sent};
  complete(j, &failed, 0, reason, record);
}

/* The header list of a call's attempt: the client's, the request's, and
 * the bearer token for OAuth2 (its generation noted in the job). */
static struct curl_slist *call_headers(crm_job *j) {
  struct curl_slist *h = NULL;
  for (const struct curl_slist *b = client.base_headers; b; b = b->next) {
    h = crm_job_header_add(h, b->data);
    if (!h)
      return NULL;
  }
  for (size_t i = 0; h && i < j->http.header_count; i++)
    h = crm_job_header_add(h, j->http.headers[i]);
  if (h && client.p->auth.kind == CRM_AUTH_OAUTH2)
    h = crm_token_add_header(h, &j->token_gen);
  return h;
}

/* Puts j at the tail of the gate's queue (its wait starts now). */
static void gate_push(crm_job *j) {
  j->next = j->prev = NULL;
  j->queued_ms = crm_loop_now_ms();
  if (client.gate_tail)
    client.gate_tail->next = j;
  else
    client.gate_head = j;
  client.gate_tail = j;
  double expiry = j->deadline_ms - MIN_ATTEMPT_MS;
  if (client.gate_len == 0 || expiry < client.gate_next_expiry_ms)
    client.gate_next_expiry_ms = expiry;
  emit(CRM_EVENT_QUEUE_LENGTH, ++client.gate_len);
}

/* Takes the gate's whole queue (oldest first); the gate is empty after. */
static crm_job *gate_take_all(void) {
  crm_job *all = client.gate_head;
  client.gate_head = client.gate_tail = NULL;
  if (client.gate_len > 0) {
    client.gate_len = 0;
    emit(CRM_EVENT_QUEUE_LENGTH, 0);
  }
  return all;
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
static void gate_expired(crm_job *j) {
  emit(CRM_EVENT_QUEUE_WAIT, queue_wait_us(j));
  emit(CRM_EVENT_QUEUE_EXPIRED, 1);
  complete_failed(j, CRM_FAIL_BUDGET, false);
}

/* Put a call's next attempt on the multi handle (or behind the token
 * fetch, or in the gate's queue when every connection is busy). Finishes
 * it as a failure when the budget is spent. */
static void launch(crm_job *j) {
  double left = j->deadline_ms - crm_loop_now_ms();
  if (left < MIN_ATTEMPT_MS) {
    complete_failed(j, CRM_FAIL_BUDGET, true);
    return;
  }
  if (client.p->auth.kind == CRM_AUTH_OAUTH2 && !crm_token_valid()) {
    crm_token_wait(j);
    return;
  }
  if (client.in_use >= client.cfg.max_connections) {
    gate_push(j);
    return;
  }
  long budget = (long)left;
  long timeout =
      budget < client.cfg.timeout_ms ? budget : client.cfg.timeout_ms;
  if (!crm_job_attach(j, j->http.url, call_headers(j), &client.transport,
                      timeout)) {
    complete_failed(j, CRM_FAIL_INTERNAL, true);
    return;
  }
  j->attempts++;
  if (!crm_loop_add(j)) {
    complete_failed(j, CRM_FAIL_INTERNAL, true);
    return;
  }
  j->holds_slot = true;
  client.in_use++;
  emit(CRM_EVENT_QUEUE_WAIT, queue_wait_us(j));
}

/* crm_token's resume callback: a call that waited for the token. */
static void resume_after_token(crm_job *j, bool got_token) {
  if (got_token)
    launch(j);
  else
    complete_failed(j, CRM_FAIL_TOKEN, true);
}

/* Jitter of 50..150 ms for a retry (xorshift; no security use). */
static double jitter_ms(void) {
  unsigned x = client.rng ? client.rng : 2463534242u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  client.rng = x;
  return 50.0 + (double)(x % 101);
}

/* A transfer ended (ok_io: it produced an HTTP answer). */
static void transfer_done(crm_job *j, bool ok_io) {
  if (j->is_token) {
    bool got = crm_token_fetch_done(j, ok_io);
    emit(CRM_EVENT_TOKEN_FETCH, got ? 1 : 0);
    crm_token_resume_all(got);
    return;
  }
  if (crm_job_sent(j))
    j->sent = true;
  if (j->holds_slot) {
    j->holds_slot = false;
    client.in_use--;
  }
  long status = crm_job_status(j, ok_io);
  if (status == 401 && client.p->auth.kind == CRM_AUTH_OAUTH2 &&
      !j->auth_retried) {
    /* The token expired early or was revoked: refresh once, retry once. */
    j->auth_retried = true;
    crm_token_refused(j->token_gen);
    crm_job_end_attempt(j, crm_loop_multi());
    launch(j);
    return;
  }
  flow_crm_result r;
  crm_map(client.p, &j->req, status, buf_str(&j->response),
          buf_len(&j->response), &r);
  r.sent = j->sent;
  double left = j->deadline_ms - crm_loop_now_ms();
  double wait = jitter_ms(); /* the same wait is checked and used */
  if (!r.ok && j->http.idempotent && j->attempts <= client.p->lookup_retries &&
      left > wait + MIN_ATTEMPT_MS) {
    crm_job_end_attempt(j, crm_loop_multi());
    j->due_ms = crm_loop_now_ms() + wait;
    emit(CRM_EVENT_RETRY, 1);
    crm_job_push(&client.delayed, j);
    return;
  }
  complete(j, &r, status, transfer_reason(j, ok_io, status), true);
}

/* A newly submitted call: the breaker decides whether it goes out. */
static void admit(crm_job *j) {
  if (client.p->breaker_failures > 0 && client.breaker != CRM_BREAKER_CLOSED) {
    if (client.breaker == CRM_BREAKER_OPEN &&
        crm_loop_now_ms() >= client.open_until_ms)
      set_breaker(CRM_BREAKER_HALF_OPEN);
    if (client.breaker == CRM_BREAKER_OPEN || client.probe_in_flight) {
      emit(CRM_EVENT_FAST_FAIL, 1);
      complete_failed(j, CRM_FAIL_BREAKER_OPEN, false);
      return;
    }
    j->is_probe = true;
    client.probe_in_flight = true;
  }
  launch(j);
}

/* Calls waiting at the gate take the connections that are free, oldest
 * first; one whose budget is spent fails instead. */
static void gate_drain(void) {
  while (client.gate_head && client.in_use < client.cfg.max_connections) {
    crm_job *j = client.gate_head;
    client.gate_head = j->next;
    if (!client.gate_head)
      client.gate_tail = NULL;
    j->next = NULL;
    emit(CRM_EVENT_QUEUE_LENGTH, --client.gate_len);
    if (j->deadline_ms - crm_loop_now_ms() < MIN_ATTEMPT_MS)
      gate_expired(j);
    else
      launch(j);
  }
}

/* Calls at the gate whose budget is spent fail (without waiting for a
 * connection to free). Returns `next`, or the earliest time another one
 * will be spent when that comes sooner. */
static double gate_expire(double now, double next) {
  if (client.gate_head && now >= client.gate_next_expiry_ms) {
    crm_job *expired = NULL, *last = NULL;
    double earliest = next;
    crm_job **link = &client.gate_head;
    while (*link) {
      crm_job *j = *link;
      if (j->deadline_ms - now < MIN_ATTEMPT_MS) {
        *link = j->next;
        crm_job_push(&expired, j);
        client.gate_len--;
        continue;
      }
      if (j->deadline_ms - MIN_ATTEMPT_MS < earliest)
        earliest = j->deadline_ms - MIN_ATTEMPT_MS;
      last = j;
      link = &j->next;
    }
    client.gate_tail = last;
    client.gate_next_expiry_ms = earliest;
    if (expired)
      emit(CRM_EVENT_QUEUE_LENGTH, client.gate_len);
    while (expired) {
      crm_job *j = expired;
      expired = j->next;
      gate_expired(j);
    }
  }
  if (client.gate_head && client.gate_next_expiry_ms < next)
    next = client.gate_next_expiry_ms;
  return next;
}

/* Due retries go out; token waiters past their budget fail. Returns the
 * ms until the next due retry or budget end (CRM_LOOP_WAIT_MAX_MS if
 * none). */
static int run_timers(void) {
  double now = crm_loop_now_ms(), next = now + CRM_LOOP_WAIT_MAX_MS;
  crm_job *due = NULL, *keep = NULL;
  while (client.delayed) {
    crm_job *j = client.delayed;
    client.delayed = j->next;
    if (j->due_ms <= now) {
      crm_job_push(&due, j);
    } else {
      if (j->due_ms < next)
        next = j->due_ms;
      crm_job_push(&keep, j);
    }
  }
  client.delayed = keep;
  while (due) {
    crm_job *j = due;
    due = j->next;
    launch(j);
  }
  next = crm_token_expire(now, next);
  next = gate_expire(now, next);
  int wait = (int)(next - crm_loop_now_ms()) + 1;
  return wait < 0                      ? 0
         : wait > CRM_LOOP_WAIT_MAX_MS ? CRM_LOOP_WAIT_MAX_MS
                                       : wait;
}

/* Stopping: a list of calls ends as CRM errors (never counted by the
 * breaker), so every submitter gets its callback. */
static void fail_list(crm_job *list) {
  while (list) {
    crm_job *j = list;
    list = j->next;
    complete_failed(j, CRM_FAIL_STOPPING, false);
  }
}

/* Takes the submitted calls, oldest first (the queue is pushed at the
 * head), and reports whether the client is stopping. */
static crm_job *take_queued(bool *stopping) {
  pthread_mutex_lock(&client.mutex);
  crm_job *taken = client.queued;
  client.queued = NULL;
  *stopping = client.stopping;
  pthread_mutex_unlock(&client.mutex);
  crm_job *oldest_first = NULL;
  while (taken) {
    crm_job *next = taken->next;
    taken->next = oldest_first;
    oldest_first = taken;
    taken = next;
  }
  return oldest_first;
}

/* The CRM thread: owns the loop until stop. */
static void *run(void *arg) {
  (void)arg;
  for (;;) {
    bool stopping;
    crm_job *incoming = take_queued(&stopping);
    while (incoming) {
      crm_job *j = incoming;
      incoming = j->next;
      j->next = NULL;
      if (stopping)
        complete_failed(j, CRM_FAIL_STOPPING, false);
      else
        admit(j);
    }
    if (stopping)
      break;
    bool ok_io;
    crm_job *done;
    while ((done = crm_loop_next_done(&ok_io)))
      transfer_done(done, ok_io);
    gate_drain();
    crm_loop_run_once(run_timers());
  }
  /* Everything still in flight or waiting ends as a CRM error. */
  crm_job *j;
  while ((j = crm_loop_take_active())) {
    if (j->is_token)
      crm_token_drop_fetch(j);
    else
      complete_failed(j, CRM_FAIL_STOPPING, false);
  }
  crm_job *delayed = client.delayed;
  client.delayed = NULL;
  fail_list(delayed);
  fail_list(gate_take_all());
  fail_list(crm_token_take_waiters());
  crm_job_pool_drain();
  return NULL;
}

/* The headers every call sends, then the configured ones. NULL when out of
 * memory. */
static struct curl_slist *base_headers(const crm_client_config *cfg) {
  struct curl_slist *h = crm_job_header_add(NULL, "Accept: application/json");
  if (h)
    h = crm_job_header_add(h, "Content-Type: application/json");
  if (h)
    h = crm_job_header_add(h, "Expect:");
  for (size_t i = 0; h && i < cfg->header_count; i++)
    h = crm_job_header_add(h, cfg->headers[i]);
  return h;
}

/* The client's state for a new run of the thread (the token too). */
static bool reset_state(const crm_client_config *cfg, char *err,
                        size_t err_len) {
  client.cfg = *cfg;
  client.p = cfg->profile ? cfg->profile : crm_profile_reference();
  client.transport = (crm_job_transport){
      .profile = client.p,
      .connect_timeout_ms = cfg->connect_timeout_ms,
      .timeout_ms = cfg->timeout_ms,
  };
  if (!crm_token_start(&client.transport, cfg->base_url, resume_after_token,
                       err, err_len))
    return false;
  client.breaker = CRM_BREAKER_CLOSED;
  atomic_store(&open_until_public, 0);
  client.failures = 0;
  client.probe_in_flight = false;
  client.gate_head = client.gate_tail = NULL;
  client.gate_len = 0;
  client.in_use = 0;
  client.rng = (unsigned)crm_loop_now_ms() | 1u;
  return true;
}

/* Opens the loop, builds the base headers and starts the thread; on
 * failure everything made here is released again. */
static bool start_thread(const crm_client_config *cfg, char *err,
                         size_t err_len) {
  if (!crm_loop_open(cfg->max_connections)) {
    snprintf(err, err_len, "cannot set up the CRM event loop");
    return false;
  }
  client.base_headers = base_headers(cfg);
  if (!client.base_headers) {
    crm_loop_close();
    snprintf(err, err_len, "out of memory");
    return false;
  }
  pthread_mutex_lock(&client.mutex);
  client.stopping = false;
  pthread_mutex_unlock(&client.mutex);
  if (pthread_create(&client.thread, NULL, run, NULL) != 0) {
    crm_job_headers_free(client.base_headers);
    client.base_headers = NULL;
    crm_loop_close();
    snprintf(err, err_len, "cannot start the CRM thread");
    return false;
  }
  return true;
}

bool crm_client_start(const crm_client_config *cfg, char *err, size_t err_len) {
  pthread_once(&curl_once, curl_init_once);
  if (curl_init_rc != CURLE_OK) {
    snprintf(err, err_len, "curl_global_init failed: %s",
             curl_easy_strerror(curl_init_rc));
    return false;
  }
  pthread_mutex_lock(&client.mutex);
  bool already = client.running;
  pthread_mutex_unlock(&client.mutex);
  if (already) {
    snprintf(err, err_len, "the CRM client is already running");
    return false;
  }
  if (!reset_state(cfg, err, err_len) || !start_thread(cfg, err, err_len))
    return false;
  pthread_mutex_lock(&client.mutex);
  client.running = true;
  pthread_mutex_unlock(&client.mutex);
  return true;
}

bool crm_client_submit(const flow_crm_request *req, const char *answer,
                       crm_client_done_fn done, void *user) {
  crm_job *j = crm_job_new();
  if (!j)
    return false;
  j->req = *req;
  j->done = done;
  j->user = user;
  j->started_ms = crm_loop_now_ms();
  pthread_mutex_lock(&client.mutex);
  /* The request is built under the mutex: the base URL and profile belong
   * to the running client and a concurrent stop/start must not change them
   * under us. It is cheap (one URL, a few headers, one small body). */
  bool accepted =
      client.running && !client.stopping &&
      crm_build(client.p, client.cfg.base_url, req, answer, &j->http);
  if (accepted) {
    j->deadline_ms = j->started_ms + (double)client.p->budget_ms;
    j->next = client.queued;
    client.queued = j;
    /* Under the mutex, so crm_client_stop() cannot close the eventfd
     * between our check and the wakeup. */
    crm_loop_wake();
  }
  pthread_mutex_unlock(&client.mutex);
  if (!accepted)
    crm_job_free(j, NULL);
  return accepted;
}

/* Must not be called from a completion callback (it joins the thread that
 * runs them). */
void crm_client_stop(void) {
  pthread_mutex_lock(&client.mutex);
  bool was_running = client.running;
  client.stopping = true;
  pthread_mutex_unlock(&client.mutex);
  if (!was_running)
    return;
  crm_loop_wake();
  pthread_join(client.thread, NULL);
  pthread_mutex_lock(&client.mutex);
  client.running = false;
  pthread_mutex_unlock(&client.mutex);
  crm_loop_close();
  crm_job_headers_free(client.base_headers);
  client.base_headers = NULL;
  crm_token_stop();
}
