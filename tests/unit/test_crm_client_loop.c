/*
 * crm_client used from event loops (crm_client_attach) against the
 * in-process CRM stub (crm_stub.h): callbacks on the submitting loop's
 * thread and never inside the submit, one breaker, one connection cap and
 * one OAuth2 token for all loops, detach and stop with calls in flight.
 */
#include "crm_stub.h"
#include "loop.h"

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

static int teardown(void **state) {
  (void)state;
  int rc = stub_teardown(); /* detaches the loops still attached */
  stop_loops();
  return rc;
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
static void detach_only(void *arg) {
  (void)arg;
  crm_client_detach();
}

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
    /* The CRM had the request: a verification cut off here is sent, so it
     * is never given back (issue 21, finding 5). */
    assert_true(got.calls[i].result.sent);
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
    assert_true(got.calls[i].result.sent); /* on the wire when cut off */
    assert_true(pthread_equal(got.calls[i].thread, a->thread));
  }
  /* Stopped: the loop's thread cannot submit any more. */
  loop_submit s = {
      .req = lookup("+13175550116"), .calls = &got.calls[N], .n = 1};
  on_loop(a, submit_on_loop, &s);
  assert_false(s.accepted);
}

/* ---- one OAuth2 token for all loops ---- */

static void noop(void *arg) {
  (void)arg;
}

/* Returns once everything t had to do for what was posted before (a
 * submit's deferred admission included) has run. */
static void loop_sync(const test_loop *t) {
  on_loop(t, noop, NULL);
}

static void set_token_held(bool held) {
  pthread_mutex_lock(&stub.mutex);
  stub.token_held = held;
  pthread_cond_broadcast(&stub.cond);
  pthread_mutex_unlock(&stub.mutex);
}

/* Waits (at most 5 s) until `n` token fetches reached the stub. */
static bool wait_fetches(int n) {
  for (int i = 0; i < 500 && atomic_load(&stub.token_fetches) < n; i++)
    usleep(10 * 1000);
  return atomic_load(&stub.token_fetches) == n;
}

static void start_oauth2_client(void) {
  static crm_profile p;
  p = *crm_profile_reference();
  p.auth.kind = CRM_AUTH_OAUTH2;
  snprintf(p.auth.token_url, sizeof p.auth.token_url, "{baseUrl}/token");
  snprintf(p.auth.client_id, sizeof p.auth.client_id, "authflow");
  snprintf(p.auth.client_secret, sizeof p.auth.client_secret, "s3cret");
  p.auth.refresh_margin_ms = 30000;
  p.lookup_retries = 0;
  start_gated_client(&p);
}

/* A needs the token and fetches it (held at the CRM); B's call, needing it
 * too, waits for that fetch instead of starting its own: one fetch, both
 * calls go out with its token, each called back on its own loop. */
static void test_loop_token_is_shared(void **state) {
  (void)state;
  start_oauth2_client();
  test_loop *a = start_loop(0), *b = start_loop(1);
  set_token_held(true);
  loop_lookup(a, "+13175550116", &got.calls[0], 1);
  bool fetching = wait_fetches(1);
  loop_lookup(b, "+13175550116", &got.calls[1], 1);
  loop_sync(b);
  int fetches = atomic_load(&stub.token_fetches);
  set_token_held(false);
  assert_true(fetching);
  assert_int_equal(fetches, 1);
  assert_true(wait_done(2, 5000));
  assert_true(got.calls[0].result.ok);
  assert_true(got.calls[1].result.ok);
  assert_true(pthread_equal(got.calls[0].thread, a->thread));
  assert_true(pthread_equal(got.calls[1].thread, b->thread));
  assert_int_equal(atomic_load(&stub.token_fetches), 1);
  pthread_mutex_lock(&stub.mutex);
  assert_string_equal(stub.authorization, "Bearer tok-1");
  pthread_mutex_unlock(&stub.mutex);
}

/* The one fetch fails: the calls waiting for it on both loops fail
 * (CRM_FAIL_TOKEN), and no second fetch is made for them. */
static void test_loop_token_failure_fails_every_loop(void **state) {
  (void)state;
  start_oauth2_client();
  test_loop *a = start_loop(0), *b = start_loop(1);
  pthread_mutex_lock(&stub.mutex);
  stub.token_status = 500;
  pthread_mutex_unlock(&stub.mutex);
  set_token_held(true);
  loop_lookup(a, "+13175550116", &got.calls[0], 1);
  bool fetching = wait_fetches(1);
  loop_lookup(b, "+13175550116", &got.calls[1], 1);
  loop_sync(b);
  set_token_held(false);
  assert_true(fetching);
  assert_true(wait_done(2, 5000));
  for (int i = 0; i < 2; i++) {
    assert_false(got.calls[i].result.ok);
    assert_int_equal(got.calls[i].reason, CRM_FAIL_TOKEN);
    assert_int_equal(got.calls[i].attempts, 0);
  }
  assert_true(pthread_equal(got.calls[1].thread, b->thread));
  assert_int_equal(atomic_load(&stub.token_fetches), 1);
  /* Only the token endpoint was called. */
  assert_int_equal(atomic_load(&stub.requests), 1);
}

/* The loop running the fetch detaches: B's call, which waited for it, is
 * not failed: B fetches the token itself and its call goes out. */
static void test_loop_token_fetch_moves_when_its_loop_detaches(void **state) {
  (void)state;
  start_oauth2_client();
  test_loop *a = start_loop(0), *b = start_loop(1);
  set_token_held(true);
  loop_lookup(a, "+13175550116", &got.calls[0], 1);
  bool fetching = wait_fetches(1);
  loop_lookup(b, "+13175550116", &got.calls[1], 1);
  loop_sync(b);
  on_loop(a, detach_only, NULL);
  bool refetching = wait_fetches(2);
  set_token_held(false);
  assert_true(fetching && refetching);
  assert_true(wait_done(2, 5000));
  assert_int_equal(got.calls[0].reason, CRM_FAIL_STOPPING);
  assert_true(got.calls[1].result.ok);
  assert_true(pthread_equal(got.calls[1].thread, b->thread));
  pthread_mutex_lock(&stub.mutex);
  assert_string_equal(stub.authorization, "Bearer tok-2");
  pthread_mutex_unlock(&stub.mutex);
}

/* A detaches while its call holds the only connection and B's two wait:
 * the connection goes on to B, and is not lost: a call made after all
 * that still gets it. (The stub may still hold A's cut request when B's
 * arrives: the cap is on our side.) */
static void test_loop_detach_passes_its_connection_on(void **state) {
  (void)state;
  start_gated_client(NULL);
  test_loop *a = start_loop(0), *b = start_loop(1);
  set_held(true);
  loop_lookup(a, "+1001", &got.calls[0], 1);
  bool sent = wait_requests(1);
  loop_lookup(b, "+1002", &got.calls[1], 2);
  bool queued = wait_queued(2);
  on_loop(a, detach_only, NULL);
  bool passed_on = wait_requests(2);
  set_held(false);
  assert_true(sent && queued && passed_on);
  assert_true(wait_done(3, 5000));
  assert_int_equal(got.calls[0].reason, CRM_FAIL_STOPPING);
  assert_true(got.calls[1].result.ok);
  assert_true(got.calls[2].result.ok);
  flow_crm_request r = lookup("+1003");
  assert_true(submit(&r, NULL, &got.calls[3]));
  assert_true(wait_done(4, 5000));
  assert_true(got.calls[3].result.ok);
}

/* Calls on two loops race one loop's detach (one connection for both):
 * every call is called back exactly once (teardown checks), B's all
 * succeed, A's succeed or end as stopping, and the connection is free
 * after (a last call gets it). */
static void test_loop_calls_race_a_detach(void **state) {
  (void)state;
  enum { N = 20 };
  start_gated_client(NULL);
  test_loop *a = start_loop(0), *b = start_loop(1);
  atomic_store(&stub.delay_ms, 2);
  loop_lookup(a, "+1001", &got.calls[0], N);
  loop_lookup(b, "+1002", &got.calls[N], N);
  wait_requests(3);
  on_loop(a, detach_only, NULL);
  assert_true(wait_done(2 * N, 10000));
  for (int i = 0; i < N; i++)
    assert_true(got.calls[i].result.ok ||
                got.calls[i].reason == CRM_FAIL_STOPPING);
  for (int i = N; i < 2 * N; i++)
    assert_true(got.calls[i].result.ok);
  flow_crm_request r = lookup("+1003");
  assert_true(submit(&r, NULL, &got.calls[2 * N]));
  assert_true(wait_done(2 * N + 1, 5000));
  assert_true(got.calls[2 * N].result.ok);
  pthread_mutex_lock(&gate.mutex);
  assert_int_equal(gate.length, 0);
  pthread_mutex_unlock(&gate.mutex);
}

int main(void) {
  const struct CMUnitTest tests[] = {
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
      cmocka_unit_test_setup_teardown(test_loop_token_is_shared, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_loop_token_failure_fails_every_loop,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_loop_token_fetch_moves_when_its_loop_detaches, setup, teardown),
      cmocka_unit_test_setup_teardown(test_loop_detach_passes_its_connection_on,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_loop_calls_race_a_detach, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, stub_start, stub_stop);
}
