/*
 * crm_client: one thread owns a curl multi handle and runs every CRM call
 * on it. Submitters on any thread append to a mutex-protected queue and
 * wake the thread through an eventfd; only the CRM thread touches
 * the easy handles, the retry and token-wait lists, the breaker and the
 * OAuth2 token. Finished easy handles are removed and cleaned up, but
 * their connections stay in the multi handle's connection cache, so the
 * next call to the same CRM reuses a kept-alive connection.
 *
 * The thread drives curl with its socket API on an epoll set, so one wake
 * costs in proportion to the sockets that are ready, not to the transfers
 * in flight: with 1,000 callers waiting on a slow CRM, curl_multi_poll()
 * and curl_multi_perform() would walk all 1,000 on every answer (bench/).
 */
#include "crm_client.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "crm.h"
#include "crm_template.h"

/* Answers larger than this are not a CRM answer we can use. */
#define RESPONSE_MAX (1024 * 1024)

/* Longest wait in epoll_wait() when nothing wakes it; curl's own timer
 * (timeouts, connect retries) and ours shorten it. */
#define POLL_MAX_MS 1000

/* An attempt needs at least this much of the budget to be worth making. */
#define MIN_ATTEMPT_MS 100

#define TOKEN_MAX 4096

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* curl_global_init() is not thread-safe: run it exactly once. */
static void curl_init_once(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One CRM call (or the OAuth2 token fetch), from submit to callback. Owned
 * by the queue, then by the CRM thread. */
typedef struct job {
  struct job *next, *prev;
  flow_crm_request req;
  crm_http_request http; /* body holds the answer for VERIFY: wiped */
  crm_client_done_fn done;
  void *user;
  CURL *easy;
  struct curl_slist *headers;
  char *response;
  size_t response_len;
  bool too_large;
  bool is_token; /* the OAuth2 token fetch, not a call */
  bool is_probe; /* the half-open breaker's probe */
  bool auth_retried;
  int attempts;
  unsigned token_gen; /* the token generation this attempt used */
  double started_ms, deadline_ms, due_ms;
} job;

static struct {
  pthread_t thread;
  pthread_mutex_t mutex;
  bool running;
  bool stopping;
  job *queued;        /* submitted, not yet admitted (singly linked) */
  job *active;        /* on the multi handle (doubly linked) */
  job *delayed;       /* waiting for a retry's due time (singly linked) */
  job *waiting;       /* waiting for an OAuth2 token (singly linked) */
  CURLM *multi;       /* touched only by the CRM thread */
  int epoll_fd;       /* curl's sockets and wake_fd */
  int wake_fd;        /* eventfd: submit and stop wake the thread */
  double curl_due_ms; /* when curl wants CURL_SOCKET_TIMEOUT; < 0: never */
  struct curl_slist *base_headers;
  crm_client_config cfg;
  const crm_profile *p;
  /* breaker */
  crm_breaker_state breaker;
  int failures;
  double open_until_ms;
  bool probe_in_flight;
  /* OAuth2 */
  char *token_url; /* auth.token_url with {baseUrl} rendered; heap */
  char token[TOKEN_MAX];
  double token_refresh_ms; /* refresh at or after this time */
  unsigned token_gen;
  bool fetching;
  unsigned rng;
} client = {.mutex = PTHREAD_MUTEX_INITIALIZER, .epoll_fd = -1, .wake_fd = -1};

static double now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

static void emit(crm_client_event ev, long value) {
  if (client.cfg.on_event)
    client.cfg.on_event(ev, value);
}

static size_t on_data(char *data, size_t size, size_t n, void *user) {
  job *j = user;
  size_t len = size * n;
  if (j->response_len + len > RESPONSE_MAX) {
    j->too_large = true;
    return 0; /* aborts the transfer: a CRM error */
  }
  char *grown = realloc(j->response, j->response_len + len + 1);
  if (!grown)
    return 0;
  j->response = grown;
  memcpy(j->response + j->response_len, data, len);
  j->response_len += len;
  j->response[j->response_len] = '\0';
  return len;
}

/* Free a header list, wiping lines first (they may carry a token). */
static void free_headers(struct curl_slist *h) {
  for (struct curl_slist *l = h; l; l = l->next)
    explicit_bzero(l->data, strlen(l->data));
  curl_slist_free_all(h);
}

/* Finished easy handles are reset and kept for the next attempt instead
 * of being freed: curl_easy_init() and its buffers cost an allocation
 * storm per call otherwise (perf: malloc/free were a fifth of the CRM
 * thread). Only the CRM thread touches the pool. */
#define IDLE_EASY_MAX 64
static CURL *idle_easy[IDLE_EASY_MAX];
static int idle_easy_count;

static CURL *take_easy(void) {
  return idle_easy_count > 0 ? idle_easy[--idle_easy_count] : curl_easy_init();
}

/* curl_easy_reset() drops every option (URL, headers, body pointer,
 * private pointer), so nothing of the last call is sent again. */
static void keep_easy(CURL *e) {
  if (idle_easy_count < IDLE_EASY_MAX) {
    curl_easy_reset(e);
    idle_easy[idle_easy_count++] = e;
  } else {
    curl_easy_cleanup(e);
  }
}

static void free_idle_easy(void) {
  while (idle_easy_count > 0)
    curl_easy_cleanup(idle_easy[--idle_easy_count]);
}

static void reset_attempt(job *j) {
  if (j->easy) {
    curl_multi_remove_handle(client.multi, j->easy);
    keep_easy(j->easy);
    j->easy = NULL;
  }
  free_headers(j->headers);
  j->headers = NULL;
  if (j->response)
    explicit_bzero(j->response, j->response_len);
  free(j->response);
  j->response = NULL;
  j->response_len = 0;
  j->too_large = false;
}

static void free_job(job *j) {
  reset_attempt(j);
  crm_http_request_free(&j->http);
  free(j);
}

static void set_breaker(crm_breaker_state s) {
  if (client.breaker != s) {
    client.breaker = s;
    emit(CRM_EVENT_BREAKER, (long)s);
  }
}

/* A call's final outcome feeds the breaker. */
static void breaker_record(const job *j, bool ok) {
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
    client.open_until_ms = now_ms() + (double)client.p->breaker_open_ms;
    set_breaker(CRM_BREAKER_OPEN);
  }
}

/* Call back and release. `record` false for calls that never reached the
 * CRM because of the breaker or a stop. */
static void complete(job *j, const flow_crm_result *r, long status,
                     bool record) {
  if (record)
    breaker_record(j, r->ok);
  else if (j->is_probe)
    client.probe_in_flight = false;
  j->done(j->user, r, status, now_ms() - j->started_ms);
  free_job(j);
}

static void complete_failed(job *j, bool record) {
  flow_crm_result failed = {.ok = false};
  complete(j, &failed, 0, record);
}

static void unlink_active(job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    client.active = j->next;
  if (j->next)
    j->next->prev = j->prev;
  j->next = j->prev = NULL;
}

static void push(job **list, job *j) {
  j->prev = NULL;
  j->next = *list;
  *list = j;
}

static bool token_valid(void) {
  return client.token[0] && now_ms() < client.token_refresh_ms;
}

/* Common transport options. */
static void set_transport(CURL *e, long timeout_ms) {
  const crm_profile *p = client.p;
  long connect = client.cfg.connect_timeout_ms;
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   connect < timeout_ms ? connect : timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, p->tls_verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, p->tls_verify ? 2L : 0L);
  if (p->ca_file[0])
    curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file);
  if (p->client_cert[0])
    curl_easy_setopt(e, CURLOPT_SSLCERT, p->client_cert);
  if (p->client_key[0])
    curl_easy_setopt(e, CURLOPT_SSLKEY, p->client_key);
  /* The configuration alone decides: "" means no proxy, not even one from
   * http_proxy/https_proxy, and a configured proxy is used for the CRM
   * whatever NO_PROXY says (CURLOPT_NOPROXY "" overrides it). */
  curl_easy_setopt(e, CURLOPT_PROXY, p->proxy);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "");
}

static void start_token_fetch(void);

/* Percent-encode for application/x-www-form-urlencoded. */
static void form_put(char *out, size_t out_len, const char *key,
                     const char *value) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = strlen(out);
  if (o && o + 1 < out_len)
    out[o++] = '&';
  for (const char *k = key; *k && o + 1 < out_len; k++)
    out[o++] = *k;
  if (o + 1 < out_len)
    out[o++] = '=';
  for (const unsigned char *v = (const unsigned char *)value;
       *v && o + 3 < out_len; v++) {
    if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
        (*v >= '0' && *v <= '9') || *v == '-' || *v == '.' || *v == '_' ||
        *v == '~') {
      out[o++] = (char)*v;
    } else {
      out[o++] = '%';
      out[o++] = hex[*v >> 4];
      out[o++] = hex[*v & 15];
    }
  }
  out[o] = '\0';
}

/* Put a call's next attempt on the multi handle (or behind the token
 * fetch). Finishes it as a failure when the budget is spent. */
static void launch(job *j) {
  double left = j->deadline_ms - now_ms();
  if (left < MIN_ATTEMPT_MS) {
    complete_failed(j, true);
    return;
  }
  if (client.p->auth.kind == CRM_AUTH_OAUTH2 && !token_valid()) {
    push(&client.waiting, j);
    start_token_fetch();
    return;
  }
  CURL *e = take_easy();
  struct curl_slist *h = NULL;
  for (const struct curl_slist *b = client.base_headers; b; b = b->next)
    h = curl_slist_append(h, b->data);
  for (size_t i = 0; h && i < j->http.header_count; i++)
    h = curl_slist_append(h, j->http.headers[i]);
  if (h && client.p->auth.kind == CRM_AUTH_OAUTH2) {
    char line[TOKEN_MAX + 32];
    snprintf(line, sizeof line, "Authorization: Bearer %s", client.token);
    h = curl_slist_append(h, line);
    explicit_bzero(line, sizeof line);
    j->token_gen = client.token_gen;
  }
  j->headers = h;
  j->easy = e;
  if (!e || !h) {
    complete_failed(j, true);
    return;
  }
  j->attempts++;
  curl_easy_setopt(e, CURLOPT_URL, j->http.url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, j);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  long budget = (long)left;
  set_transport(e, budget < client.cfg.timeout_ms ? budget
                                                  : client.cfg.timeout_ms);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
  if (strcmp(j->http.method, "GET") != 0) {
    if (strcmp(j->http.method, "POST") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->http.method);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->http.body ? j->http.body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)j->http.body_len);
  }
  if (curl_multi_add_handle(client.multi, e) != CURLM_OK) {
    complete_failed(j, true);
    return;
  }
  j->next = client.active;
  j->prev = NULL;
  if (client.active)
    client.active->prev = j;
  client.active = j;
}

/* One token fetch at a time; calls wait in client.waiting. */
static void start_token_fetch(void) {
  if (client.fetching)
    return;
  const crm_auth *a = &client.p->auth;
  job *t = calloc(1, sizeof *t);
  char form[3 * (sizeof a->client_id + sizeof a->client_secret +
                 sizeof a->scope) +
            64] = "";
  form_put(form, sizeof form, "grant_type", "client_credentials");
  form_put(form, sizeof form, "client_id", a->client_id);
  form_put(form, sizeof form, "client_secret", a->client_secret);
  if (a->scope[0])
    form_put(form, sizeof form, "scope", a->scope);
  CURL *e = t ? take_easy() : NULL;
  if (t) {
    t->is_token = true;
    t->http.body = strdup(form);
    t->http.body_len = strlen(form);
    t->headers = curl_slist_append(
        NULL, "Content-Type: application/x-www-form-urlencoded");
    if (t->headers)
      t->headers = curl_slist_append(t->headers, "Accept: application/json");
    if (t->headers)
      t->headers = curl_slist_append(t->headers, "Expect:");
    t->easy = e;
  }
  explicit_bzero(form, sizeof form);
  if (!t || !e || !t->http.body || !t->headers) {
    if (t)
      free_job(t);
    /* Cannot fetch: every waiting call fails. */
    while (client.waiting) {
      job *j = client.waiting;
      client.waiting = j->next;
      complete_failed(j, true);
    }
    return;
  }
  client.fetching = true;
  curl_easy_setopt(e, CURLOPT_URL, client.token_url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  long budget = client.p->budget_ms;
  set_transport(e, budget < client.cfg.timeout_ms ? budget
                                                  : client.cfg.timeout_ms);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->http.body);
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)t->http.body_len);
  if (curl_multi_add_handle(client.multi, e) != CURLM_OK) {
    client.fetching = false;
    free_job(t);
    while (client.waiting) {
      job *j = client.waiting;
      client.waiting = j->next;
      complete_failed(j, true);
    }
    return;
  }
  push(&client.active, t);
  if (t->next)
    t->next->prev = t;
}

/* Token lifetime in seconds from "expires_in": a JSON integer, or a string
 * of digits (some servers send one); absent means 3600 (Salesforce sends
 * none). 0 when present but unusable. */
static long long token_life(const json_t *exp) {
  if (!exp)
    return 3600;
  if (json_is_integer(exp))
    return json_integer_value(exp);
  const char *s = json_string_value(exp);
  long long v = 0;
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 9)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/*
 * The token fetch ended. A usable answer is HTTP 200 with a non-empty
 * printable "access_token" and a positive lifetime: it becomes the token
 * (a new generation), refreshed once refresh_margin_ms (at most half its
 * lifetime) is left. Every waiting call then goes out with it, or fails
 * when there is none: one fetch serves them all, and a failed fetch is not
 * retried for them (each caller's step fails fast, inside its budget).
 */
static void token_done(job *t, bool ok_io) {
  long status = 0;
  if (ok_io && !t->too_large)
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  bool got = false;
  if (status == 200 && t->response) {
    json_t *root = json_loadb(t->response, t->response_len, 0, NULL);
    const json_t *tok = json_object_get(root, "access_token");
    long long life = token_life(json_object_get(root, "expires_in"));
    if (json_is_string(tok) && json_string_length(tok) > 0 &&
        json_string_length(tok) < sizeof client.token && life > 0) {
      const char *v = json_string_value(tok);
      bool clean = true;
      for (const unsigned char *c = (const unsigned char *)v; *c; c++)
        clean = clean && *c > 0x20 && *c < 0x7F;
      if (clean) {
        snprintf(client.token, sizeof client.token, "%s", v);
        double life_ms = (double)life * 1000.0;
        double margin = (double)client.p->auth.refresh_margin_ms;
        if (margin > life_ms / 2)
          margin = life_ms / 2;
        client.token_refresh_ms = now_ms() + life_ms - margin;
        client.token_gen++;
        got = true;
      }
    }
    /* The tree holds a copy of the token: wipe it before it is freed (the
     * response buffer is wiped by free_job). */
    if (json_is_string(tok))
      explicit_bzero((char *)json_string_value(tok), json_string_length(tok));
    json_decref(root);
  }
  client.fetching = false;
  free_job(t);
  emit(CRM_EVENT_TOKEN_FETCH, got ? 1 : 0);
  job *w = client.waiting;
  client.waiting = NULL;
  while (w) {
    job *j = w;
    w = w->next;
    j->next = NULL;
    if (got)
      launch(j);
    else
      complete_failed(j, true);
  }
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
static void transfer_done(job *j, bool ok_io) {
  if (j->is_token) {
    token_done(j, ok_io);
    return;
  }
  long status = 0;
  if (ok_io && !j->too_large)
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status == 401 && client.p->auth.kind == CRM_AUTH_OAUTH2 &&
      !j->auth_retried) {
    /* The token expired early or was revoked: refresh once, retry once. */
    j->auth_retried = true;
    if (j->token_gen == client.token_gen)
      client.token_refresh_ms = 0;
    reset_attempt(j);
    launch(j);
    return;
  }
  flow_crm_result r;
  crm_map(client.p, &j->req, status, j->response, j->response_len, &r);
  double left = j->deadline_ms - now_ms();
  if (!r.ok && j->http.idempotent && j->attempts <= client.p->lookup_retries &&
      left > jitter_ms() + MIN_ATTEMPT_MS) {
    reset_attempt(j);
    j->due_ms = now_ms() + jitter_ms();
    emit(CRM_EVENT_RETRY, 1);
    push(&client.delayed, j);
    return;
  }
  complete(j, &r, status, true);
}

/* A newly submitted call: the breaker decides whether it goes out. */
static void admit(job *j) {
  if (client.p->breaker_failures > 0 && client.breaker != CRM_BREAKER_CLOSED) {
    if (client.breaker == CRM_BREAKER_OPEN && now_ms() >= client.open_until_ms)
      set_breaker(CRM_BREAKER_HALF_OPEN);
    if (client.breaker == CRM_BREAKER_OPEN || client.probe_in_flight) {
      emit(CRM_EVENT_FAST_FAIL, 1);
      complete_failed(j, false);
      return;
    }
    j->is_probe = true;
    client.probe_in_flight = true;
  }
  launch(j);
}

/* Due retries go out; token waiters past their budget fail. Returns the
 * ms until the next due retry (POLL_MAX_MS if none). */
static int run_timers(void) {
  double now = now_ms(), next = now + POLL_MAX_MS;
  job *due = NULL, *keep = NULL;
  while (client.delayed) {
    job *j = client.delayed;
    client.delayed = j->next;
    if (j->due_ms <= now) {
      push(&due, j);
    } else {
      if (j->due_ms < next)
        next = j->due_ms;
      push(&keep, j);
    }
  }
  client.delayed = keep;
  while (due) {
    job *j = due;
    due = j->next;
    launch(j);
  }
  job *w = client.waiting, *still = NULL;
  client.waiting = NULL;
  while (w) {
    job *j = w;
    w = w->next;
    if (j->deadline_ms <= now) {
      complete_failed(j, true);
    } else {
      push(&still, j);
      if (j->deadline_ms < next)
        next = j->deadline_ms;
    }
  }
  /* Append the survivors to anything launch() queued meanwhile. */
  while (still) {
    job *j = still;
    still = j->next;
    push(&client.waiting, j);
  }
  int wait = (int)(next - now_ms()) + 1;
  return wait < 0 ? 0 : wait > POLL_MAX_MS ? POLL_MAX_MS : wait;
}

static void fail_list(job **list, bool detach) {
  while (*list) {
    job *j = *list;
    if (detach)
      unlink_active(j);
    else
      *list = j->next;
    if (j->is_token) {
      client.fetching = false;
      free_job(j);
    } else {
      complete_failed(j, false);
    }
  }
}

/* Hand every finished transfer to transfer_done (which may start a retry
 * or complete the job). */
static void finish_transfers(void) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(client.multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    char *priv = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    job *j = (job *)priv;
    CURLcode rc = msg->data.result;
    unlink_active(j);
    transfer_done(j, rc == CURLE_OK);
  }
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in a socket in the
 * epoll set. socketp is non-NULL once the socket is in the set (curl
 * forgets it when the socket is removed). Errors are ignored: a socket
 * curl already closed has left the epoll set by itself. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *unused,
                          void *socketp) {
  (void)easy, (void)unused;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(client.epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    return 0;
  }
  struct epoll_event ev = {.data.fd = fd};
  if (what & CURL_POLL_IN)
    ev.events |= EPOLLIN;
  if (what & CURL_POLL_OUT)
    ev.events |= EPOLLOUT;
  if (socketp) {
    epoll_ctl(client.epoll_fd, EPOLL_CTL_MOD, fd, &ev);
  } else if (epoll_ctl(client.epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ||
             epoll_ctl(client.epoll_fd, EPOLL_CTL_MOD, fd, &ev) == 0) {
    curl_multi_assign(client.multi, fd, &client);
  }
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl wants CURL_SOCKET_TIMEOUT after timeout_ms
 * (-1: no timer). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *unused) {
  (void)multi, (void)unused;
  client.curl_due_ms = timeout_ms < 0 ? -1 : now_ms() + (double)timeout_ms;
  return 0;
}

static void wake(void) {
  uint64_t one = 1;
  if (write(client.wake_fd, &one, sizeof one) < 0) {
    /* EAGAIN: the counter is already non-zero, so the thread will wake. */
  }
}

/* The CRM thread: owns the multi handle until stop. */
static void *run(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&client.mutex);
    job *taken = client.queued;
    client.queued = NULL;
    bool stopping = client.stopping;
    pthread_mutex_unlock(&client.mutex);
    /* The queue is pushed at the head: reverse it to start the oldest
     * first. */
    job *incoming = NULL;
    while (taken) {
      job *next = taken->next;
      taken->next = incoming;
      incoming = taken;
      taken = next;
    }
    while (incoming) {
      job *j = incoming;
      incoming = j->next;
      j->next = NULL;
      if (stopping)
        complete_failed(j, false);
      else
        admit(j);
    }
    if (stopping)
      break;

    finish_transfers();
    int wait = run_timers();
    if (client.curl_due_ms >= 0) {
      double until = client.curl_due_ms - now_ms();
      int curl_wait = until <= 0 ? 0 : (int)until + 1;
      if (curl_wait < wait)
        wait = curl_wait;
    }
    struct epoll_event ready[64];
    int n = epoll_wait(client.epoll_fd, ready, 64, wait);
    int running = 0;
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == client.wake_fd) {
        uint64_t count;
        if (read(fd, &count, sizeof count) < 0) {
          /* EAGAIN: another read took it; nothing to do. */
        }
        continue;
      }
      uint32_t ev = ready[i].events;
      int flags = 0;
      if (ev & (EPOLLIN | EPOLLHUP))
        flags |= CURL_CSELECT_IN;
      if (ev & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
      if (ev & EPOLLERR)
        flags |= CURL_CSELECT_ERR;
      curl_multi_socket_action(client.multi, fd, flags, &running);
    }
    if (client.curl_due_ms >= 0 && now_ms() >= client.curl_due_ms) {
      client.curl_due_ms = -1; /* on_curl_timer may set a new one */
      curl_multi_socket_action(client.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
  }
  /* Stopping: everything still in flight or waiting ends as a CRM error,
   * so every submitter gets its callback. */
  fail_list(&client.active, true);
  fail_list(&client.delayed, false);
  fail_list(&client.waiting, false);
  free_idle_easy();
  return NULL;
}

static void close_fds(void) {
  if (client.epoll_fd >= 0)
    close(client.epoll_fd);
  if (client.wake_fd >= 0)
    close(client.wake_fd);
  client.epoll_fd = client.wake_fd = -1;
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
  client.cfg = *cfg;
  client.p = cfg->profile ? cfg->profile : crm_profile_reference();
  /* The token URL may be "{baseUrl}/...": rendered against the base URL in
   * use (AUTHFLOW_CRM_URL may have replaced the file's). */
  free(client.token_url);
  client.token_url = NULL;
  if (client.p->auth.kind == CRM_AUTH_OAUTH2) {
    crm_template_var base = {"baseUrl", cfg->base_url, true};
    client.token_url = crm_template_render(client.p->auth.token_url,
                                           CRM_TPL_URL, &base, 1, NULL);
    if (!client.token_url) {
      snprintf(err, err_len, "cannot render crm.auth.tokenUrl");
      return false;
    }
  }
  client.breaker = CRM_BREAKER_CLOSED;
  client.failures = 0;
  client.probe_in_flight = false;
  explicit_bzero(client.token, sizeof client.token);
  client.token_refresh_ms = 0;
  client.fetching = false;
  client.rng = (unsigned)now_ms() | 1u;
  client.curl_due_ms = -1;
  client.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  client.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event wake_ev = {.events = EPOLLIN, .data.fd = client.wake_fd};
  if (client.epoll_fd < 0 || client.wake_fd < 0 ||
      epoll_ctl(client.epoll_fd, EPOLL_CTL_ADD, client.wake_fd, &wake_ev) !=
          0 ||
      !(client.multi = curl_multi_init())) {
    close_fds();
    snprintf(err, err_len, "cannot set up the CRM event loop");
    return false;
  }
  curl_multi_setopt(client.multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(client.multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(client.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    cfg->max_connections);
  curl_multi_setopt(client.multi, CURLMOPT_MAXCONNECTS, cfg->max_connections);
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "Accept: application/json");
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  for (size_t i = 0; h && i < cfg->header_count; i++)
    h = curl_slist_append(h, cfg->headers[i]);
  if (!h) {
    curl_multi_cleanup(client.multi);
    client.multi = NULL;
    close_fds();
    snprintf(err, err_len, "out of memory");
    return false;
  }
  client.base_headers = h;
  pthread_mutex_lock(&client.mutex);
  client.stopping = false;
  pthread_mutex_unlock(&client.mutex);
  if (pthread_create(&client.thread, NULL, run, NULL) != 0) {
    curl_slist_free_all(h);
    client.base_headers = NULL;
    curl_multi_cleanup(client.multi);
    client.multi = NULL;
    close_fds();
    snprintf(err, err_len, "cannot start the CRM thread");
    return false;
  }
  pthread_mutex_lock(&client.mutex);
  client.running = true;
  pthread_mutex_unlock(&client.mutex);
  return true;
}

bool crm_client_submit(const flow_crm_request *req, const char *answer,
                       crm_client_done_fn done, void *user) {
  job *j = calloc(1, sizeof *j);
  if (!j)
    return false;
  j->req = *req;
  j->done = done;
  j->user = user;
  j->started_ms = now_ms();
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
    wake();
  }
  pthread_mutex_unlock(&client.mutex);
  if (!accepted)
    free_job(j);
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
  wake();
  pthread_join(client.thread, NULL);
  pthread_mutex_lock(&client.mutex);
  client.running = false;
  pthread_mutex_unlock(&client.mutex);
  curl_multi_cleanup(client.multi); /* may still call on_curl_socket */
  client.multi = NULL;
  close_fds();
  curl_slist_free_all(client.base_headers);
  client.base_headers = NULL;
  explicit_bzero(client.token, sizeof client.token);
  free(client.token_url);
  client.token_url = NULL;
}
