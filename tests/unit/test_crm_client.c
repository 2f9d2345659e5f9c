/*
 * crm_client against an in-process CRM stub (libmicrohttpd on 127.0.0.1,
 * port 0, one thread per connection so a delayed answer delays only its
 * own request). Checks callbacks, concurrency, timeouts, refused
 * connections, keep-alive reuse, the answer-size cap, stop with calls
 * in flight, and the connection gate (max_connections); then the same
 * client used from event loops (crm_client_attach): callbacks on the
 * submitting loop's thread and never inside the submit, one breaker and
 * one connection cap for all loops, detach with calls in flight.
 */
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
#include "loop.h"

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
  char order[8][16]; /* phones of the first requests, in arrival order */
} stub = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

typedef struct {
  char body[1024];
  size_t len;
} stub_ctx;

/* Sleep `ms`, or less when the stub is being stopped. */
static void stub_sleep(long ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
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
  pthread_mutex_unlock(&stub.mutex);

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
static bool wait_done(int n, long ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&got.mutex);
  int rc = 0;
  while (got.done < n && rc == 0)
    rc = pthread_cond_timedwait(&got.cond, &got.mutex, &until);
  bool ok = got.done >= n;
  pthread_mutex_unlock(&got.mutex);
  return ok;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1000.0 + (double)t.tv_nsec / 1e6;
}

/* ---- per-test client ---- */

static const char *const extra_headers[] = {"X-Api-Key: test-key"};

static void start_client(unsigned port, long timeout_ms) {
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
static bool submit(const flow_crm_request *r, const char *answer, call *c) {
  in_submit = true;
  bool ok = crm_client_submit(r, answer, on_done, c);
  in_submit = false;
  return ok;
}

/* Waits (at most 5 s) until `n` requests reached the stub. */
static bool wait_requests(int n) {
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
  pthread_mutex_lock(&stub.mutex);
  memset(stub.order, 0, sizeof stub.order);
  pthread_mutex_unlock(&stub.mutex);
  return 0;
}

static void stop_loops(void);

static int teardown(void **state) {
  (void)state;
  crm_client_stop();
  stop_loops();
  atomic_store(&stub.delay_ms, 0);
  return got.duplicate == 0 ? 0 : -1;
}

static flow_crm_request lookup(const char *phone) {
  flow_crm_request r = {.kind = FLOW_CRM_LOOKUP, .lookup_type = FLOW_ID_PHONE};
  snprintf(r.lookup_value, sizeof r.lookup_value, "%s", phone);
  return r;
}

static flow_crm_request verify(const char *id) {
  flow_crm_request r = {.kind = FLOW_CRM_VERIFY};
  snprintf(r.customer_id, sizeof r.customer_id, "%s", id);
  return r;
}

/* ---- event loops (crm_client_attach) ---- */

/* A loop on its own thread, attached to the client. */
typedef struct {
  loop *l;
  pthread_t thread;
  atomic_bool attached;
  atomic_bool ready;
} test_loop;

#define MAX_LOOPS 2
static test_loop loops[MAX_LOOPS];

static void *loop_main(void *arg) {
  test_loop *t = arg;
  char err[128] = "";
  atomic_store(&t->attached, crm_client_attach(t->l, err, sizeof err));
  atomic_store(&t->ready, true);
  loop_run(t->l);
  return NULL;
}

/* Starts loops[i] and attaches it (the client must be running). */
static test_loop *start_loop(int i) {
  test_loop *t = &loops[i];
  char err[128];
  t->l = loop_new(err, sizeof err);
  assert_non_null(t->l);
  atomic_store(&t->ready, false);
  assert_int_equal(pthread_create(&t->thread, NULL, loop_main, t), 0);
  while (!atomic_load(&t->ready))
    usleep(1000);
  assert_true(atomic_load(&t->attached));
  return t;
}

/* Stops the loops started (after crm_client_stop, which detached them). */
static void stop_loops(void) {
  for (int i = 0; i < MAX_LOOPS; i++) {
    if (!loops[i].l)
      continue;
    loop_stop(loops[i].l);
    pthread_join(loops[i].thread, NULL);
    loop_free(loops[i].l);
    loops[i].l = NULL;
  }
}

/* A function run on a loop's thread by on_loop(), which waits for it. */
typedef struct {
  loop_task task; /* first: the task is the struct */
  void (*fn)(void *arg);
  void *arg;
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  bool done;
} loop_call;

static void run_loop_call(loop_task *task) {
  loop_call *c = (loop_call *)task;
  c->fn(c->arg);
  pthread_mutex_lock(&c->mutex);
  c->done = true;
  pthread_cond_signal(&c->cond);
  pthread_mutex_unlock(&c->mutex);
}

static void on_loop(const test_loop *t, void (*fn)(void *arg), void *arg) {
  loop_call c = {.task.run = run_loop_call,
                 .fn = fn,
                 .arg = arg,
                 .mutex = PTHREAD_MUTEX_INITIALIZER,
                 .cond = PTHREAD_COND_INITIALIZER};
  loop_post(t->l, &c.task);
  pthread_mutex_lock(&c.mutex);
  while (!c.done)
    pthread_cond_wait(&c.cond, &c.mutex);
  pthread_mutex_unlock(&c.mutex);
}

/* What a loop submits: `n` requests, each to its own call slot. */
typedef struct {
  flow_crm_request req;
  const char *answer;
  call *calls;
  int n;
  bool accepted;   /* every submit returned true */
  int done_inside; /* callbacks that had run when the submits returned */
} loop_submit;

static void submit_on_loop(void *arg) {
  loop_submit *s = arg;
  s->accepted = true;
  for (int i = 0; i < s->n; i++)
    s->accepted &= submit(&s->req, s->answer, &s->calls[i]);
  pthread_mutex_lock(&got.mutex);
  for (int i = 0; i < s->n; i++)
    s->done_inside += s->calls[i].called;
  pthread_mutex_unlock(&got.mutex);
}

/* Submits n copies of req on t's thread. */
static void loop_lookup(const test_loop *t, const char *phone, call *calls,
                        int n) {
  loop_submit s = {.req = lookup(phone), .calls = calls, .n = n};
  on_loop(t, submit_on_loop, &s);
  assert_true(s.accepted);
  assert_int_equal(s.done_inside, 0);
}

/* ---- tests ---- */

static void test_lookup_result_via_callback(void **state) {
  (void)state;
  start_client(stub.port, 2000);
  flow_crm_request r = lookup("+13175550116");
  assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[0]));
  assert_true(wait_done(1, 5000));
  call *c = &got.calls[0];
  assert_true(c->result.ok);
  assert_int_equal(c->status, 200);
  assert_int_equal(c->result.match_count, 1);
  assert_string_equal(c->result.customer_id, "100234");
  assert_string_equal(c->result.customer_name, "Ana Garc\xc3\xad"
                                               "a");
  assert_true(c->latency_ms >= 0.0 && c->latency_ms < 5000.0);
  pthread_mutex_lock(&stub.mutex);
  assert_string_equal(stub.url, "GET /crm/customers");
  /* "+" arrived as "+", not as a space: it was sent as %2B. */
  assert_string_equal(stub.phone, "+13175550116");
  assert_string_equal(stub.accept, "application/json");
  assert_string_equal(stub.api_key, "test-key");
  pthread_mutex_unlock(&stub.mutex);
}

static void test_verify_and_errors(void **state) {
  (void)state;
  start_client(stub.port, 2000);
  flow_crm_request v = verify("100234");
  flow_crm_request e = lookup("+1500");
  assert_true(crm_client_submit(&v, "1234", on_done, &got.calls[0]));
  assert_true(wait_done(1, 5000));
  pthread_mutex_lock(&stub.mutex);
  assert_string_equal(stub.url, "POST /crm/customers/100234/verify");
  assert_string_equal(stub.body, "{\"answer\":\"1234\"}");
  assert_string_equal(stub.content_type, "application/json");
  pthread_mutex_unlock(&stub.mutex);
  assert_true(crm_client_submit(&v, "9999", on_done, &got.calls[1]));
  assert_true(crm_client_submit(&e, NULL, on_done, &got.calls[2]));
  assert_true(wait_done(3, 5000));
  assert_true(got.calls[0].result.ok);
  assert_true(got.calls[0].result.verified);
  assert_true(got.calls[1].result.ok);
  assert_false(got.calls[1].result.verified);
  /* A 5xx is a CRM error; the status still reaches the callback. */
  assert_false(got.calls[2].result.ok);
  assert_int_equal(got.calls[2].status, 500);
  /* ... and the reason, for the caller's log line. */
  assert_int_equal(got.calls[2].reason, CRM_FAIL_HTTP_STATUS);
  assert_int_equal(got.calls[0].reason, CRM_FAIL_NONE);
  assert_string_equal(crm_fail_reason_name(CRM_FAIL_HTTP_STATUS),
                      "http_status");
}

static void test_concurrent_calls(void **state) {
  (void)state;
  enum { N = 20, DELAY = 300 };
  start_client(stub.port, 5000);
  atomic_store(&stub.delay_ms, DELAY);
  double t0 = now_ms();
  for (int i = 0; i < N; i++) {
    flow_crm_request r = lookup("+13175550116");
    assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[i]));
  }
  assert_true(wait_done(N, 10000));
  double elapsed = now_ms() - t0;
  for (int i = 0; i < N; i++) {
    assert_true(got.calls[i].result.ok);
    assert_true(got.calls[i].latency_ms >= DELAY - 50);
  }
  /* Run one after another they would take N * DELAY = 6 s. */
  if (elapsed >= 2000.0)
    fail_msg("%d calls took %.0f ms: not concurrent", N, elapsed);
  assert_int_equal(atomic_load(&stub.requests), N);
}

static void test_timeout_respected(void **state) {
  (void)state;
  start_client(stub.port, 300);
  atomic_store(&stub.delay_ms, 3000);
  double t0 = now_ms();
  flow_crm_request r = lookup("+13175550116");
  assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[0]));
  assert_true(wait_done(1, 5000));
  double elapsed = now_ms() - t0;
  assert_false(got.calls[0].result.ok);
  assert_int_equal(got.calls[0].status, 0);
  assert_int_equal(got.calls[0].reason, CRM_FAIL_TIMEOUT);
  assert_true(got.calls[0].attempts >= 1);
  assert_true(got.calls[0].latency_ms >= 250.0);
  if (elapsed > 1500.0 || got.calls[0].latency_ms > 1500.0)
    fail_msg("a 300 ms timeout took %.0f ms", elapsed);
}

static void test_connection_refused(void **state) {
  (void)state;
  /* A port that was just free and has nothing listening. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  start_client(ntohs(a.sin_port), 3000);
  double t0 = now_ms();
  flow_crm_request r = lookup("+13175550116");
  assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[0]));
  assert_true(wait_done(1, 5000));
  assert_false(got.calls[0].result.ok);
  assert_int_equal(got.calls[0].status, 0);
  assert_int_equal(got.calls[0].reason, CRM_FAIL_REFUSED);
  if (now_ms() - t0 > 1000.0)
    fail_msg("refused connection took %.0f ms", now_ms() - t0);
}

static void test_connection_reused(void **state) {
  (void)state;
  enum { N = 6 };
  start_client(stub.port, 2000);
  for (int i = 0; i < N; i++) {
    flow_crm_request r = i % 2 ? verify("100234") : lookup("+13175550116");
    assert_true(crm_client_submit(&r, "1234", on_done, &got.calls[i]));
    assert_true(wait_done(i + 1, 5000));
    assert_true(got.calls[i].result.ok);
  }
  assert_int_equal(atomic_load(&stub.requests), N);
  /* Sequential calls, GET and POST, all over one kept-alive connection. */
  assert_int_equal(atomic_load(&stub.connections), 1);
}

static void test_oversized_answer(void **state) {
  (void)state;
  start_client(stub.port, 5000);
  flow_crm_request r = lookup("+1999");
  assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[0]));
  assert_true(wait_done(1, 5000));
  assert_false(got.calls[0].result.ok);
}

static void test_stop_with_calls_in_flight(void **state) {
  (void)state;
  enum { N = 3 };
  start_client(stub.port, 30000);
  atomic_store(&stub.delay_ms, 10000);
  for (int i = 0; i < N; i++) {
    flow_crm_request r = verify("100234");
    assert_true(crm_client_submit(&r, "1234", on_done, &got.calls[i]));
  }
  /* Wait until the stub holds them all. */
  for (int i = 0; i < 500 && atomic_load(&stub.requests) < N; i++)
    usleep(10 * 1000);
  assert_int_equal(atomic_load(&stub.requests), N);
  double t0 = now_ms();
  crm_client_stop();
  double elapsed = now_ms() - t0;
  /* Every callback ran before stop returned, as a CRM error. */
  pthread_mutex_lock(&got.mutex);
  int done = got.done;
  pthread_mutex_unlock(&got.mutex);
  assert_int_equal(done, N);
  for (int i = 0; i < N; i++) {
    assert_true(got.calls[i].called);
    assert_false(got.calls[i].result.ok);
  }
  if (elapsed > 2000.0)
    fail_msg("stop took %.0f ms", elapsed);
  /* Stopped: nothing is accepted, and a second stop is harmless. */
  flow_crm_request r = lookup("+13175550116");
  assert_false(crm_client_submit(&r, NULL, on_done, &got.calls[N]));
  crm_client_stop();
}

/* ---- the connection gate ---- */

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

static void set_held(bool held) {
  pthread_mutex_lock(&stub.mutex);
  stub.held = held;
  pthread_cond_broadcast(&stub.cond);
  pthread_mutex_unlock(&stub.mutex);
}

/* Waits (at most 5 s) until one call is at the stub and one at the gate. */
static bool wait_one_sent_one_queued(void) {
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&gate.mutex);
    long queued = gate.length;
    pthread_mutex_unlock(&gate.mutex);
    if (queued == 1 && atomic_load(&stub.requests) == 1)
      return true;
    usleep(10 * 1000);
  }
  return false;
}

static void start_gated_client(const crm_profile *p) {
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

/* max_connections 1 and a CRM that holds its answer: the second call waits
 * at the gate (it never reaches the CRM meanwhile), goes out once the
 * first ends, and is the one attempt reported as having waited. */
static void test_gate_queues_past_max_connections(void **state) {
  (void)state;
  start_gated_client(NULL);
  set_held(true);
  flow_crm_request r = lookup("+13175550116");
  assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[0]));
  assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[1]));
  bool queued = wait_one_sent_one_queued();
  set_held(false);
  assert_true(queued);
  assert_true(wait_done(2, 5000));
  assert_true(got.calls[0].result.ok);
  assert_true(got.calls[1].result.ok);
  assert_int_equal(atomic_load(&stub.requests), 2);
  pthread_mutex_lock(&gate.mutex);
  assert_int_equal(gate.waits, 2);
  assert_int_equal(gate.waited, 1);
  assert_int_equal(gate.longest_queue, 1);
  assert_int_equal(gate.length, 0);
  assert_int_equal(gate.expired, 0);
  pthread_mutex_unlock(&gate.mutex);
}

/* The wait at the gate counts against the call's budget: with the only
 * connection held, the queued call fails when its budget runs out, while
 * the first is still at the CRM, and the CRM never sees it. */
static void test_gate_wait_spends_the_budget(void **state) {
  (void)state;
  static crm_profile p;
  p = *crm_profile_reference();
  p.budget_ms = 300;
  p.lookup_retries = 0;
  p.breaker_failures = 0;
  start_gated_client(&p);
  set_held(true);
  flow_crm_request r = lookup("+13175550116");
  /* Back to back: the second call's budget ends before the first's
   * transfer times out, so it can only end at the gate. */
  assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[0]));
  assert_true(crm_client_submit(&r, NULL, on_done, &got.calls[1]));
  pthread_mutex_lock(&got.mutex);
  while (!got.calls[1].called)
    pthread_cond_wait(&got.cond, &got.mutex); /* bounded by the budget */
  pthread_mutex_unlock(&got.mutex);
  set_held(false);
  assert_false(got.calls[1].result.ok);
  assert_true(wait_done(2, 5000));
  assert_int_equal(atomic_load(&stub.requests), 1);
  pthread_mutex_lock(&gate.mutex);
  assert_int_equal(gate.expired, 1);
  assert_int_equal(gate.length, 0);
  pthread_mutex_unlock(&gate.mutex);
}

static void test_submit_refused_when_not_running(void **state) {
  (void)state;
  flow_crm_request r = lookup("+13175550116");
  assert_false(crm_client_submit(&r, NULL, on_done, &got.calls[0]));
  /* An unusable request is refused even when running. */
  start_client(stub.port, 2000);
  flow_crm_request empty = lookup("");
  assert_false(crm_client_submit(&empty, NULL, on_done, &got.calls[0]));
  flow_crm_request v = verify("100234");
  assert_false(crm_client_submit(&v, NULL, on_done, &got.calls[0]));
  /* Started twice is an error, not a second thread. */
  crm_client_config cfg = {.timeout_ms = 1000, .max_connections = 1};
  char err[128] = "";
  assert_false(crm_client_start(&cfg, err, sizeof err));
  assert_true(err[0] != '\0');
  usleep(50 * 1000);
  pthread_mutex_lock(&got.mutex);
  assert_int_equal(got.done, 0);
  pthread_mutex_unlock(&got.mutex);
}

/* ---- from event loops ---- */

/* A call submitted on an attached loop runs there: its callback comes on
 * that loop's thread, after the submit returned. A call submitted from
 * another thread still runs, on the internal CRM thread. */
static void test_loop_call_runs_on_its_loop(void **state) {
  (void)state;
  start_client(stub.port, 2000);
  test_loop *a = start_loop(0);
  loop_lookup(a, "+13175550116", &got.calls[0], 1);
  assert_true(wait_done(1, 5000));
  call *c = &got.calls[0];
  assert_true(c->result.ok);
  assert_string_equal(c->result.customer_id, "100234");
  assert_true(pthread_equal(c->thread, a->thread));
  assert_false(c->inside_submit);
  flow_crm_request r = lookup("+13175550116");
  assert_true(submit(&r, NULL, &got.calls[1]));
  assert_true(wait_done(2, 5000));
  assert_true(got.calls[1].result.ok);
  assert_false(pthread_equal(got.calls[1].thread, a->thread));
  assert_false(pthread_equal(got.calls[1].thread, pthread_self()));
  assert_false(got.calls[1].inside_submit);
}

/* A failure known at once (a budget too small for any attempt) is still
 * called back later, on the loop, not inside the submit. */
static void test_loop_immediate_failure_is_deferred(void **state) {
  (void)state;
  static crm_profile p;
  p = *crm_profile_reference();
  p.budget_ms = 50;
  start_gated_client(&p);
  test_loop *a = start_loop(0);
  loop_lookup(a, "+13175550116", &got.calls[0], 1);
  assert_true(wait_done(1, 5000));
  assert_false(got.calls[0].result.ok);
  assert_int_equal(got.calls[0].reason, CRM_FAIL_BUDGET);
  assert_int_equal(got.calls[0].attempts, 0);
  assert_true(pthread_equal(got.calls[0].thread, a->thread));
  assert_false(got.calls[0].inside_submit);
  assert_int_equal(atomic_load(&stub.requests), 0);
}

/* One breaker for the process: failures on loop A open it for loop B,
 * whose call fails at once (on B, not inside its submit) without
 * reaching the CRM. */
static void test_loop_breaker_is_shared(void **state) {
  (void)state;
  static crm_profile p;
  p = *crm_profile_reference();
  p.lookup_retries = 0;
  p.breaker_failures = 2;
  p.breaker_open_ms = 60000;
  start_gated_client(&p);
  test_loop *a = start_loop(0), *b = start_loop(1);
  loop_lookup(a, "+1500", &got.calls[0], 2);
  assert_true(wait_done(2, 5000));
  assert_int_equal(got.calls[0].reason, CRM_FAIL_HTTP_STATUS);
  assert_int_equal(got.calls[1].reason, CRM_FAIL_HTTP_STATUS);
  assert_true(crm_client_known_down());
  loop_lookup(b, "+13175550116", &got.calls[2], 1);
  assert_true(wait_done(3, 5000));
  call *c = &got.calls[2];
  assert_false(c->result.ok);
  assert_int_equal(c->reason, CRM_FAIL_BREAKER_OPEN);
  assert_int_equal(c->attempts, 0);
  assert_true(pthread_equal(c->thread, b->thread));
  assert_false(c->inside_submit);
  assert_int_equal(atomic_load(&stub.requests), 2);
  pthread_mutex_lock(&gate.mutex);
  assert_int_equal(gate.opened, 1);
  assert_int_equal(gate.fast_fails, 1);
  pthread_mutex_unlock(&gate.mutex);
}

/* Waits (at most 5 s) until `n` calls wait at the gate. */
static bool wait_queued(long n) {
  for (int i = 0; i < 500; i++) {
    pthread_mutex_lock(&gate.mutex);
    long queued = gate.length;
    pthread_mutex_unlock(&gate.mutex);
    if (queued == n)
      return true;
    usleep(10 * 1000);
  }
  return false;
}

/* max_connections 1 is one connection for both loops: while A's call is
 * at the CRM, B's and A's next wait; the freed connection goes to the
 * call that waited longest (B's, though A freed it), and at no time are
 * two calls at the CRM. */
static void test_loop_connection_cap_is_shared(void **state) {
  (void)state;
  start_gated_client(NULL);
  test_loop *a = start_loop(0), *b = start_loop(1);
  set_held(true);
  loop_lookup(a, "+1001", &got.calls[0], 1);
  bool sent = wait_requests(1);
  loop_lookup(b, "+1002", &got.calls[1], 1);
  bool queued_b = wait_queued(1);
  loop_lookup(a, "+1003", &got.calls[2], 1);
  bool queued_a = wait_queued(2);
  int requests = atomic_load(&stub.requests);
  set_held(false);
  assert_true(sent && queued_b && queued_a);
  assert_int_equal(requests, 1);
  assert_true(wait_done(3, 5000));
  for (int i = 0; i < 3; i++)
    assert_true(got.calls[i].result.ok);
  assert_int_equal(atomic_load(&stub.most_in_flight), 1);
  pthread_mutex_lock(&stub.mutex);
  assert_string_equal(stub.order[0], "+1001");
  assert_string_equal(stub.order[1], "+1002");
  assert_string_equal(stub.order[2], "+1003");
  pthread_mutex_unlock(&stub.mutex);
  assert_true(pthread_equal(got.calls[1].thread, b->thread));
  assert_true(pthread_equal(got.calls[2].thread, a->thread));
  pthread_mutex_lock(&gate.mutex);
  assert_int_equal(gate.waits, 3);
  assert_int_equal(gate.waited, 2);
  assert_int_equal(gate.length, 0);
  pthread_mutex_unlock(&gate.mutex);
}

/* Many calls from two loops against a cap of 1: never two at the CRM. */
static void test_loop_connection_cap_holds_under_load(void **state) {
  (void)state;
  enum { N = 12 };
  static crm_profile p;
  p = *crm_profile_reference();
  p.budget_ms = 20000;
  start_gated_client(&p);
  test_loop *a = start_loop(0), *b = start_loop(1);
  atomic_store(&stub.delay_ms, 20);
  loop_lookup(a, "+13175550116", &got.calls[0], N);
  loop_lookup(b, "+13175550116", &got.calls[N], N);
  assert_true(wait_done(2 * N, 10000));
  for (int i = 0; i < 2 * N; i++)
    assert_true(got.calls[i].result.ok);
  assert_int_equal(atomic_load(&stub.requests), 2 * N);
  assert_int_equal(atomic_load(&stub.most_in_flight), 1);
}

/* On a loop, detach with calls at the CRM: each is called back once, on
 * the loop, before detach returns, as a CRM error; a submission from the
 * thread afterwards goes to the internal loop. */
static void detach_now(void *arg) {
  int *done_after = arg;
  crm_client_detach();
  pthread_mutex_lock(&got.mutex);
  *done_after = got.done;
  pthread_mutex_unlock(&got.mutex);
}

static void test_loop_detach_ends_calls_in_flight(void **state) {
  (void)state;
  enum { N = 3 };
  start_client(stub.port, 30000);
  test_loop *a = start_loop(0);
  set_held(true);
  loop_submit s = {
      .req = verify("100234"), .answer = "1234", .calls = got.calls, .n = N};
  on_loop(a, submit_on_loop, &s);
  assert_true(s.accepted);
  bool all_sent = wait_requests(N);
  int done_after = -1;
  on_loop(a, detach_now, &done_after);
  set_held(false);
  assert_true(all_sent);
  assert_int_equal(done_after, N);
  for (int i = 0; i < N; i++) {
    assert_true(got.calls[i].called);
    assert_false(got.calls[i].result.ok);
    assert_int_equal(got.calls[i].reason, CRM_FAIL_STOPPING);
    assert_true(pthread_equal(got.calls[i].thread, a->thread));
  }
  loop_lookup(a, "+13175550116", &got.calls[N], 1);
  assert_true(wait_done(N + 1, 5000));
  assert_true(got.calls[N].result.ok);
  assert_false(pthread_equal(got.calls[N].thread, a->thread));
}

/* crm_client_stop with calls in flight on an attached loop: the loop is
 * asked to detach, every callback runs (on the loop) before stop
 * returns. */
static void test_loop_stop_ends_calls_in_flight(void **state) {
  (void)state;
  enum { N = 3 };
  start_client(stub.port, 30000);
  test_loop *a = start_loop(0);
  set_held(true);
  loop_lookup(a, "+13175550116", got.calls, N);
  bool all_sent = wait_requests(N);
  crm_client_stop();
  set_held(false);
  assert_true(all_sent);
  pthread_mutex_lock(&got.mutex);
  int done = got.done;
  pthread_mutex_unlock(&got.mutex);
  assert_int_equal(done, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(got.calls[i].reason, CRM_FAIL_STOPPING);
    assert_true(pthread_equal(got.calls[i].thread, a->thread));
  }
  /* Stopped: the loop's thread cannot submit any more. */
  loop_submit s = {
      .req = lookup("+13175550116"), .calls = &got.calls[N], .n = 1};
  on_loop(a, submit_on_loop, &s);
  assert_false(s.accepted);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_lookup_result_via_callback, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_verify_and_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_calls, setup, teardown),
      cmocka_unit_test_setup_teardown(test_timeout_respected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_reused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_oversized_answer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_with_calls_in_flight, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_gate_queues_past_max_connections,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_gate_wait_spends_the_budget, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_submit_refused_when_not_running,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_loop_call_runs_on_its_loop, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_loop_immediate_failure_is_deferred,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_loop_breaker_is_shared, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_loop_connection_cap_is_shared, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_loop_connection_cap_holds_under_load,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_loop_detach_ends_calls_in_flight,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_loop_stop_ends_calls_in_flight,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, stub_start, stub_stop);
}
