/*
 * crm_client against an in-process CRM stub (crm_stub.h), submitting from
 * threads that are not event loops (the calls run on the client's internal
 * loop thread). Checks callbacks, concurrency, timeouts, refused
 * connections, keep-alive reuse, the answer-size cap, stop with calls in
 * flight, and the connection gate (max_connections). The same client on
 * event loops: test_crm_client_loop.c.
 */
#include "crm_stub.h"

static int teardown(void **state) {
  (void)state;
  return stub_teardown();
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
  };
  return cmocka_run_group_tests(tests, stub_start, stub_stop);
}
