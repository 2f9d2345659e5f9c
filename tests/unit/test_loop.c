/* loop: timers fire in due order, watchers see their fd, a watcher or
 * timer stopped by a callback is not called again, tasks posted from
 * another thread run on the loop's thread in order, loop_stop ends
 * loop_run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loop.h"
#include "loop_pool.h"

typedef struct {
  loop *l;
  int order[16];
  int fired;
  int stop_after;
} timer_log;

typedef struct {
  timer_log *log;
  int id;
} timer_ctx;

static void on_timer(void *ctx) {
  timer_ctx *t = ctx;
  t->log->order[t->log->fired++] = t->id;
  if (t->log->fired == t->log->stop_after)
    loop_stop(t->log->l);
}

static loop *new_loop(void) {
  char err[128];
  loop *l = loop_new(err, sizeof err);
  assert_non_null(l);
  return l;
}

static void timers_fire_in_due_order(void **state) {
  (void)state;
  loop *l = new_loop();
  timer_log log = {.l = l, .stop_after = 4};
  loop_timer timers[5];
  timer_ctx ctx[5];
  static const int delays[5] = {30, 5, 20, 10, 1000};
  memset(timers, 0, sizeof timers);
  for (int i = 0; i < 5; i++) {
    ctx[i] = (timer_ctx){.log = &log, .id = i};
    assert_true(loop_timer_start(l, &timers[i], delays[i], on_timer, &ctx[i]));
  }
  /* Disarm one, re-arm another later than it was. */
  loop_timer_stop(l, &timers[3]);
  assert_false(loop_timer_armed(&timers[3]));
  assert_true(loop_timer_start(l, &timers[1], 40, on_timer, &ctx[1]));
  assert_true(loop_timer_start(l, &timers[3], 35, on_timer, &ctx[3]));
  loop_run(l);
  assert_int_equal(log.fired, 4);
  assert_int_equal(log.order[0], 2);
  assert_int_equal(log.order[1], 0);
  assert_int_equal(log.order[2], 3);
  assert_int_equal(log.order[3], 1);
  assert_true(loop_timer_armed(&timers[4]));
  loop_free(l);
}

typedef struct {
  loop *l;
  loop_io a, b;
  int calls_a, calls_b;
} pipe_ctx;

/* a's callback stops b, whose fd is ready in the same round: b must not
 * be called. */
static void on_a(void *ctx, uint32_t events) {
  pipe_ctx *p = ctx;
  assert_true(events & EPOLLIN);
  p->calls_a++;
  loop_io_stop(p->l, &p->b);
  loop_io_stop(p->l, &p->a);
  loop_stop(p->l);
}

static void on_b(void *ctx, uint32_t events) {
  pipe_ctx *p = ctx;
  (void)events;
  p->calls_b++;
  loop_io_stop(p->l, &p->a);
  loop_io_stop(p->l, &p->b);
  loop_stop(p->l);
}

static void stopped_watcher_is_not_called(void **state) {
  (void)state;
  int fa[2], fb[2];
  assert_int_equal(pipe(fa), 0);
  assert_int_equal(pipe(fb), 0);
  pipe_ctx p = {.l = new_loop()};
  assert_true(loop_io_start(p.l, &p.a, fa[0], EPOLLIN, on_a, &p));
  assert_true(loop_io_start(p.l, &p.b, fb[0], EPOLLIN, on_b, &p));
  assert_int_equal(write(fa[1], "x", 1), 1);
  assert_int_equal(write(fb[1], "x", 1), 1);
  loop_run(p.l);
  /* Exactly one of them ran: whichever came first stopped the other. */
  assert_int_equal(p.calls_a + p.calls_b, 1);
  loop_free(p.l);
  close(fa[0]), close(fa[1]), close(fb[0]), close(fb[1]);
}

typedef struct {
  loop_task task;
  loop *l;
  int index;
  int *seen;
  int *count;
  pthread_t *ran_on;
} posted;

static void run_posted_task(loop_task *task) {
  posted *p = (posted *)task;
  p->seen[(*p->count)++] = p->index;
  *p->ran_on = pthread_self();
  if (p->index == 9)
    loop_stop(p->l);
}

typedef struct {
  loop *l;
  posted tasks[10];
} poster_args;

static void *poster(void *arg) {
  poster_args *a = arg;
  for (int i = 0; i < 10; i++)
    loop_post(a->l, &a->tasks[i].task);
  return NULL;
}

static void posts_run_on_the_loop_thread_in_order(void **state) {
  (void)state;
  poster_args a = {.l = new_loop()};
  int seen[10], count = 0;
  pthread_t ran_on = 0;
  for (int i = 0; i < 10; i++)
    a.tasks[i] = (posted){.task.run = run_posted_task,
                          .l = a.l,
                          .index = i,
                          .seen = seen,
                          .count = &count,
                          .ran_on = &ran_on};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, poster, &a), 0);
  loop_run(a.l);
  pthread_join(th, NULL);
  assert_int_equal(count, 10);
  for (int i = 0; i < 10; i++)
    assert_int_equal(seen[i], i);
  assert_true(pthread_equal(ran_on, pthread_self()));
  assert_null(loop_current());
  loop_free(a.l);
}

/* What the pool's start and each functions saw, per loop. */
typedef struct {
  pthread_t started_on[3], each_on[3];
  loop *loops[3];
  int starts, eaches;
  pthread_mutex_t mutex;
} pool_log;

static bool on_pool_start(loop *l, size_t i, void *ctx, char *err,
                          size_t err_len) {
  (void)err, (void)err_len;
  pool_log *p = ctx;
  /* Started one after the other: loop i sees exactly i starts before it. */
  assert_int_equal(p->starts, (int)i);
  p->started_on[i] = pthread_self();
  p->loops[i] = l;
  p->starts++;
  return true;
}

static bool on_pool_each(loop *l, size_t i, void *ctx, char *err,
                         size_t err_len) {
  (void)err, (void)err_len;
  pool_log *p = ctx;
  pthread_mutex_lock(&p->mutex);
  p->each_on[i] = pthread_self();
  p->eaches++;
  pthread_mutex_unlock(&p->mutex);
  assert_ptr_equal(loop_current(), l);
  return true;
}

static bool fail_second(loop *l, size_t i, void *ctx, char *err,
                        size_t err_len) {
  (void)l, (void)ctx;
  if (i == 1) {
    snprintf(err, err_len, "no room");
    return false;
  }
  return true;
}

/* Counts the loops undone after a failed start. */
static bool on_abort_count(loop *l, size_t i, void *ctx, char *err,
                           size_t err_len) {
  (void)l, (void)err, (void)err_len;
  assert_int_equal(i, 0); /* only loop 0 had started */
  (*(int *)ctx)++;
  return true;
}

static void pool_runs_each_on_its_own_thread(void **state) {
  (void)state;
  pool_log p = {.mutex = PTHREAD_MUTEX_INITIALIZER};
  char err[128];
  loop_pool *pool =
      loop_pool_start(3, on_pool_start, NULL, &p, err, sizeof err);
  assert_non_null(pool);
  assert_int_equal(p.starts, 3);
  loop_pool_each(pool, on_pool_each, &p);
  /* Every each ran before loop_pool_each returned, each on the thread
   * that started its loop, and the three threads differ. */
  assert_int_equal(p.eaches, 3);
  for (int i = 0; i < 3; i++) {
    assert_true(pthread_equal(p.each_on[i], p.started_on[i]));
    assert_false(pthread_equal(p.started_on[i], pthread_self()));
  }
  assert_false(pthread_equal(p.started_on[0], p.started_on[1]));
  assert_false(pthread_equal(p.started_on[1], p.started_on[2]));
  loop_pool_stop(pool);
  /* A failed start undoes and stops what was started and says why. */
  int aborted = 0;
  assert_null(loop_pool_start(3, fail_second, on_abort_count, &aborted, err,
                              sizeof err));
  assert_string_equal(err, "no room");
  assert_int_equal(aborted, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(timers_fire_in_due_order),
      cmocka_unit_test(stopped_watcher_is_not_called),
      cmocka_unit_test(posts_run_on_the_loop_thread_in_order),
      cmocka_unit_test(pool_runs_each_on_its_own_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
