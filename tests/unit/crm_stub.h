/*
 * crm_stub: the in-process CRM stub and the completion recorder shared by
 * the crm_client unit tests (test_crm_client, test_crm_client_loop).
 * libmicrohttpd on 127.0.0.1, port 0, one thread per connection so a
 * delayed or held answer delays only its own request. GET
 * /crm/customers, POST /crm/customers/{id}/verify and the OAuth2 token
 * endpoint POST /crm/token.
 */
#ifndef AUTHFLOW_TEST_CRM_STUB_H
#define AUTHFLOW_TEST_CRM_STUB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crm_client.h"

#define MAX_CALLS 64
#define BIG_BODY (2 * 1024 * 1024)

/* ---- the stub CRM ---- */

static struct {
  struct MHD_Daemon *daemon;
  unsigned port;
  atomic_long delay_ms;
  atomic_int connections; /* distinct client connections opened */
  atomic_int requests;    /* requests that reached the handler */
  atomic_int in_flight;   /* requests in the handler now */
  atomic_int most_in_flight;
  pthread_mutex_t mutex; /* guards the fields below */
  pthread_cond_t cond;
  bool stopping;
  bool held; /* requests wait in the handler until released */
  char url[256], phone[64], body[256], accept[64], content_type[64],
      api_key[64];
  char order[8][16];      /* phones of the first requests, in arrival order */
  char authorization[64]; /* of the last request */
  /* The OAuth2 token endpoint (POST /crm/token). */
  atomic_int token_fetches;
  unsigned token_status; /* its answer's status; 0: 200 */
  bool token_held;       /* fetches wait in the handler until released */
} stub = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

typedef struct {
  char body[1024];
  size_t len;
} stub_ctx;

/* CLOCK_REALTIME `ms` from now, for pthread_cond_timedwait. */
static inline struct timespec deadline_after(long ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  return until;
}

/* Sleep `ms`, or less when the stub is being stopped. */
static void stub_sleep(long ms) {
  struct timespec until = deadline_after(ms);
  pthread_mutex_lock(&stub.mutex);
  while (!stub.stopping &&
         pthread_cond_timedwait(&stub.cond, &stub.mutex, &until) == 0)
    ;
  pthread_mutex_unlock(&stub.mutex);
}

static void copy_header(struct MHD_Connection *c, const char *name, char *out,
                        size_t out_len) {
  const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
  snprintf(out, out_len, "%s", v ? v : "");
}

static enum MHD_Result stub_reply(struct MHD_Connection *c, unsigned status,
                                  const char *text, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* POST /crm/token: "tok-<n>" for the n-th fetch, unless token_status
 * says otherwise; held while token_held. */
static enum MHD_Result stub_token(struct MHD_Connection *c) {
  int n = atomic_fetch_add(&stub.token_fetches, 1) + 1;
  pthread_mutex_lock(&stub.mutex);
  while (stub.token_held && !stub.stopping)
    pthread_cond_wait(&stub.cond, &stub.mutex);
  unsigned status = stub.token_status ? stub.token_status : 200;
  pthread_mutex_unlock(&stub.mutex);
  atomic_fetch_sub(&stub.in_flight, 1);
  char body[96];
  snprintf(body, sizeof body,
           "{\"access_token\":\"tok-%d\",\"expires_in\":3600}", n);
  return stub_reply(c, status, body, strlen(body));
}

static enum MHD_Result stub_handler(void *cls, struct MHD_Connection *c,
                                    const char *url, const char *method,
                                    const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls) {
  (void)cls, (void)version;
  stub_ctx *ctx = *con_cls;
  if (!ctx) {
    ctx = calloc(1, sizeof *ctx);
    *con_cls = ctx;
    return ctx ? MHD_YES : MHD_NO;
  }
  if (*upload_size) {
    size_t n = *upload_size;
    if (n > sizeof ctx->body - 1 - ctx->len)
      n = sizeof ctx->body - 1 - ctx->len;
    memcpy(ctx->body + ctx->len, upload, n);
    ctx->len += n;
    *upload_size = 0;
    return MHD_YES;
  }
  int nth = atomic_fetch_add(&stub.requests, 1);
  int now_in = atomic_fetch_add(&stub.in_flight, 1) + 1;
  int most = atomic_load(&stub.most_in_flight);
  while (now_in > most &&
         !atomic_compare_exchange_weak(&stub.most_in_flight, &most, now_in))
    ;
  const char *phone =
      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "phone");
  pthread_mutex_lock(&stub.mutex);
  if (nth < 8)
    snprintf(stub.order[nth], sizeof stub.order[nth], "%s", phone ? phone : "");
  snprintf(stub.url, sizeof stub.url, "%s %s", method, url);
  snprintf(stub.phone, sizeof stub.phone, "%s", phone ? phone : "");
  snprintf(stub.body, sizeof stub.body, "%.*s", (int)ctx->len, ctx->body);
  copy_header(c, "Accept", stub.accept, sizeof stub.accept);
  copy_header(c, "Content-Type", stub.content_type, sizeof stub.content_type);
  copy_header(c, "X-Api-Key", stub.api_key, sizeof stub.api_key);
  copy_header(c, "Authorization", stub.authorization,
              sizeof stub.authorization);
  pthread_mutex_unlock(&stub.mutex);
  if (strcmp(url, "/crm/token") == 0)
    return stub_token(c);

  long delay = atomic_load(&stub.delay_ms);
  if (delay > 0)
    stub_sleep(delay);
  pthread_mutex_lock(&stub.mutex);
  while (stub.held && !stub.stopping)
    pthread_cond_wait(&stub.cond, &stub.mutex);
  pthread_mutex_unlock(&stub.mutex);
  atomic_fetch_sub(&stub.in_flight, 1);

  if (strcmp(method, "GET") == 0 && strcmp(url, "/crm/customers") == 0) {
    if (phone && strcmp(phone, "+13175550116") == 0) {
      static const char one[] =
          "{\"customers\":[{\"id\":\"100234\",\"name\":\"Ana Garc\xc3\xad"
          "a\"}]}";
      return stub_reply(c, 200, one, strlen(one));
    }
    if (phone && strcmp(phone, "+1500") == 0)
      return stub_reply(c, 500, "{\"error\":\"down\"}", 16);
    if (phone && strcmp(phone, "+1999") == 0) {
      /* Valid JSON, but larger than any CRM answer the client accepts. */
      char *big = malloc(BIG_BODY);
      if (!big)
        return MHD_NO;
      memset(big, ' ', BIG_BODY);
      memcpy(big, "{\"customers\":[]}", 16);
      struct MHD_Response *r =
          MHD_create_response_from_buffer(BIG_BODY, big, MHD_RESPMEM_MUST_FREE);
      enum MHD_Result ok = MHD_queue_response(c, 200, r);
      MHD_destroy_response(r);
      return ok;
    }
    return stub_reply(c, 200, "{\"customers\":[]}", 16);
  }
  if (strcmp(method, "POST") == 0 &&
      strcmp(url, "/crm/customers/100234/verify") == 0) {
    bool right =
        ctx->len == 17 && memcmp(ctx->body, "{\"answer\":\"1234\"}", 17) == 0;
    const char *text = right ? "{\"verified\":true}" : "{\"verified\":false}";
    return stub_reply(c, 200, text, strlen(text));
  }
  return stub_reply(c, 404, "{\"error\":\"not found\"}", 21);
}

static void stub_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                           enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  free(*con_cls);
  *con_cls = NULL;
}

static void stub_connection(void *cls, struct MHD_Connection *c,
                            void **socket_context,
                            enum MHD_ConnectionNotificationCode toe) {
  (void)cls, (void)c, (void)socket_context;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED)
    atomic_fetch_add(&stub.connections, 1);
}

static int stub_start(void **state) {
  (void)state;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  stub.daemon =
      MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
                           MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO,
                       0, NULL, NULL, stub_handler, NULL, MHD_OPTION_SOCK_ADDR,
                       (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED,
                       stub_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
                       stub_connection, NULL, MHD_OPTION_END);
  if (!stub.daemon)
    return -1;
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(stub.daemon, MHD_DAEMON_INFO_BIND_PORT);
  stub.port = info ? info->port : 0;
  return stub.port ? 0 : -1;
}

static int stub_stop(void **state) {
  (void)state;
  pthread_mutex_lock(&stub.mutex);
  stub.stopping = true;
  pthread_cond_broadcast(&stub.cond);
  pthread_mutex_unlock(&stub.mutex);
  MHD_stop_daemon(stub.daemon);
  return 0;
}

/* ---- completions ---- */

typedef struct {
  bool called;
  flow_crm_result result;
  long status;
  double latency_ms;
  crm_fail_reason reason;
  int attempts;
  pthread_t thread;   /* the callback's */
  bool inside_submit; /* the callback ran inside crm_client_submit */
} call;

/* Set on a thread while it is inside crm_client_submit (submit()). */
static _Thread_local bool in_submit;

static struct {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int done;
  call calls[MAX_CALLS];
  int duplicate; /* a callback ran twice for one call */
} got = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_done(void *user, const flow_crm_result *result,
                    const crm_client_info *info) {
  call *c = user;
  pthread_mutex_lock(&got.mutex);
  if (c->called)
    got.duplicate++;
  c->called = true;
  c->result = *result;
  c->status = info->http_status;
  c->latency_ms = info->latency_ms;
  c->reason = info->reason;
  c->attempts = info->attempts;
  c->thread = pthread_self();
  c->inside_submit = in_submit;
  got.done++;
  pthread_cond_broadcast(&got.cond);
  pthread_mutex_unlock(&got.mutex);
}

/* Wait until `n` callbacks have run in total, at most `ms`. */
static inline bool wait_done(int n, long ms) {
  struct timespec until = deadline_after(ms);
  pthread_mutex_lock(&got.mutex);
  int rc = 0;
  while (got.done < n && rc == 0)
    rc = pthread_cond_timedwait(&got.cond, &got.mutex, &until);
  bool ok = got.done >= n;
  pthread_mutex_unlock(&got.mutex);
  return ok;
}

static inline double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* ---- per-test client ---- */

static const char *const extra_headers[] = {"X-Api-Key: test-key"};

static inline void start_client(unsigned port, long timeout_ms) {
  crm_client_config cfg = {.connect_timeout_ms = 1000,
                           .timeout_ms = timeout_ms,
                           .headers = extra_headers,
                           .header_count = 1,
                           .max_connections = 32};
  snprintf(cfg.base_url, sizeof cfg.base_url, "http://127.0.0.1:%u/crm", port);
  char err[128] = "";
  if (!crm_client_start(&cfg, err, sizeof err))
    fail_msg("crm_client_start: %s", err);
}

/* crm_client_submit, marking the thread as inside it. */
static inline bool submit(const flow_crm_request *r, const char *answer,
                          call *c) {
  in_submit = true;
  bool ok = crm_client_submit(r, answer, on_done, c);
  in_submit = false;
  return ok;
}

/* Waits (at most 5 s) until `n` requests reached the stub. */
static inline bool wait_requests(int n) {
  for (int i = 0; i < 500 && atomic_load(&stub.requests) < n; i++)
    usleep(10 * 1000);
  return atomic_load(&stub.requests) >= n;
}

static int setup(void **state) {
  (void)state;
  pthread_mutex_lock(&got.mutex);
  memset(got.calls, 0, sizeof got.calls);
  got.done = 0;
  got.duplicate = 0;
  pthread_mutex_unlock(&got.mutex);
  atomic_store(&stub.delay_ms, 0);
  atomic_store(&stub.connections, 0);
  atomic_store(&stub.requests, 0);
  atomic_store(&stub.in_flight, 0);
  atomic_store(&stub.most_in_flight, 0);
  atomic_store(&stub.token_fetches, 0);
  pthread_mutex_lock(&stub.mutex);
  memset(stub.order, 0, sizeof stub.order);
  stub.authorization[0] = '\0';
  pthread_mutex_unlock(&stub.mutex);
  return 0;
}

/* Stops the client; the test passes only if no callback ran twice. */
static int stub_teardown(void) {
  crm_client_stop();
  atomic_store(&stub.delay_ms, 0);
  pthread_mutex_lock(&stub.mutex);
  stub.held = stub.token_held = false;
  stub.token_status = 0;
  pthread_cond_broadcast(&stub.cond);
  pthread_mutex_unlock(&stub.mutex);
  return got.duplicate == 0 ? 0 : -1;
}

static inline flow_crm_request lookup(const char *phone) {
  flow_crm_request r = {.kind = FLOW_CRM_LOOKUP, .lookup_type = FLOW_ID_PHONE};
  snprintf(r.lookup_value, sizeof r.lookup_value, "%s", phone);
  return r;
}

static inline flow_crm_request verify(const char *id) {
  flow_crm_request r = {.kind = FLOW_CRM_VERIFY};
  snprintf(r.customer_id, sizeof r.customer_id, "%s", id);
  return r;
}

/* ---- client events, and a client with one connection ---- */

static struct {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int waits;          /* CRM_EVENT_QUEUE_WAIT events */
  int waited;         /* ... of which with a wait > 0 */
  long length;        /* last CRM_EVENT_QUEUE_LENGTH */
  long longest_queue; /* largest CRM_EVENT_QUEUE_LENGTH */
  int expired;        /* CRM_EVENT_QUEUE_EXPIRED events */
  int opened;         /* CRM_EVENT_BREAKER events to open */
  int fast_fails;     /* CRM_EVENT_FAST_FAIL events */
} gate = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void on_gate_event(crm_client_event ev, long value) {
  pthread_mutex_lock(&gate.mutex);
  if (ev == CRM_EVENT_QUEUE_WAIT) {
    gate.waits++;
    gate.waited += value > 0;
  } else if (ev == CRM_EVENT_QUEUE_LENGTH) {
    gate.length = value;
    if (value > gate.longest_queue)
      gate.longest_queue = value;
  } else if (ev == CRM_EVENT_QUEUE_EXPIRED) {
    gate.expired++;
  } else if (ev == CRM_EVENT_BREAKER) {
    gate.opened += value == CRM_BREAKER_OPEN;
  } else if (ev == CRM_EVENT_FAST_FAIL) {
    gate.fast_fails++;
  }
  pthread_cond_broadcast(&gate.cond);
  pthread_mutex_unlock(&gate.mutex);
}

static inline void set_held(bool held) {
  pthread_mutex_lock(&stub.mutex);
  stub.held = held;
  pthread_cond_broadcast(&stub.cond);
  pthread_mutex_unlock(&stub.mutex);
}

static inline void start_gated_client(const crm_profile *p) {
  pthread_mutex_lock(&gate.mutex);
  memset(&gate.waits, 0, sizeof gate - offsetof(__typeof__(gate), waits));
  pthread_mutex_unlock(&gate.mutex);
  crm_client_config cfg = {.connect_timeout_ms = 1000,
                           .timeout_ms = 5000,
                           .max_connections = 1,
                           .profile = p,
                           .on_event = on_gate_event};
  snprintf(cfg.base_url, sizeof cfg.base_url, "http://127.0.0.1:%u/crm",
           stub.port);
  char err[128] = "";
  if (!crm_client_start(&cfg, err, sizeof err))
    fail_msg("crm_client_start: %s", err);
}

#endif
