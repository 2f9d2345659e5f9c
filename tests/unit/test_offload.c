/*
 * offload: jobs run once each, oldest first, on a thread that is not the
 * submitter's; the queue bound refuses the job past it; stop runs what is
 * still queued; nothing is accepted when not running.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "offload.h"

static offload_queue queue = OFFLOAD_QUEUE_INIT;

#define JOBS 8

typedef struct {
  offload_job job;
  int index;
} test_job;

static struct {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  bool gate_open;  /* the first job waits here until the test opens it */
  int order[JOBS]; /* indexes in the order they ran */
  int ran;
  int runs[JOBS];     /* times each job ran */
  bool on_caller;     /* a job ran on the submitting thread */
  bool first_running; /* job 0 has the thread */
  pthread_t caller;
} seen = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void run_job(offload_job *job) {
  test_job *t = (test_job *)job;
  pthread_mutex_lock(&seen.mutex);
  if (pthread_equal(pthread_self(), seen.caller))
    seen.on_caller = true;
  if (t->index == 0) {
    seen.first_running = true;
    pthread_cond_broadcast(&seen.cond);
  }
  while (t->index == 0 && !seen.gate_open)
    pthread_cond_wait(&seen.cond, &seen.mutex);
  seen.order[seen.ran++] = t->index;
  seen.runs[t->index]++;
  pthread_cond_broadcast(&seen.cond);
  pthread_mutex_unlock(&seen.mutex);
}

static void open_gate(void) {
  pthread_mutex_lock(&seen.mutex);
  seen.gate_open = true;
  pthread_cond_broadcast(&seen.cond);
  pthread_mutex_unlock(&seen.mutex);
}

static void reset(void) {
  pthread_mutex_lock(&seen.mutex);
  seen.gate_open = false;
  seen.first_running = false;
  seen.ran = 0;
  seen.on_caller = false;
  memset(seen.runs, 0, sizeof seen.runs);
  seen.caller = pthread_self();
  pthread_mutex_unlock(&seen.mutex);
}

/* Job 0 holds the thread; the next max_queued wait; one more is refused.
 * Opened, all accepted ones run once, in order, off the caller's thread. */
static void test_fifo_bound_and_order(void **state) {
  (void)state;
  reset();
  char err[64];
  assert_true(offload_start(&queue, JOBS - 2, 19, err, sizeof err));
  test_job jobs[JOBS];
  for (int i = 0; i < JOBS; i++)
    jobs[i] = (test_job){.job.run = run_job, .index = i};
  assert_true(offload_submit(&queue, &jobs[0].job));
  pthread_mutex_lock(&seen.mutex);
  while (!seen.first_running)
    pthread_cond_wait(&seen.cond, &seen.mutex);
  pthread_mutex_unlock(&seen.mutex);
  for (int i = 1; i < JOBS - 1; i++)
    assert_true(offload_submit(&queue, &jobs[i].job));
  assert_false(offload_submit(&queue, &jobs[JOBS - 1].job));
  open_gate();
  offload_stop(&queue);
  assert_int_equal(seen.ran, JOBS - 1);
  for (int i = 0; i < JOBS - 1; i++) {
    assert_int_equal(seen.order[i], i);
    assert_int_equal(seen.runs[i], 1);
  }
  assert_false(seen.on_caller);
}

/* Not running: refused, and stop is harmless (twice too). */
static void test_refused_when_stopped(void **state) {
  (void)state;
  reset();
  test_job j = {.job.run = run_job, .index = 1};
  assert_false(offload_submit(&queue, &j.job));
  offload_stop(&queue);
  offload_stop(&queue);
  assert_int_equal(seen.ran, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fifo_bound_and_order),
      cmocka_unit_test(test_refused_when_stopped),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
