#include "loop_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define POOL_ERR_MAX 256

/* A posted `each` call, and the count of loops still running it. */
typedef struct {
  loop_task task;
  loop *l;
  size_t index;
  loop_pool_fn fn;
  void *ctx;
  pthread_mutex_t *mutex;
  pthread_cond_t *cond;
  size_t *left;
} each_task;

/* One thread's start-up handshake with loop_pool_start, and its slot for
 * loop_pool_each's task. */
typedef struct {
  loop *l;
  size_t index;
  pthread_t thread;
  bool joinable;
  loop_pool_fn on_start;
  void *ctx;
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  bool started, ok;
  char err[POOL_ERR_MAX];
  each_task each;
} member;

struct loop_pool {
  size_t n;
  member *members;
};

static void *member_main(void *arg) {
  member *m = arg;
  bool ok = m->on_start(m->l, m->index, m->ctx, m->err, sizeof m->err);
  pthread_mutex_lock(&m->mutex);
  m->ok = ok;
  m->started = true;
  pthread_cond_signal(&m->cond);
  pthread_mutex_unlock(&m->mutex);
  if (ok)
    loop_run(m->l);
  return NULL;
}

/* Starts member m's thread and waits for its on_start. */
static bool member_start(member *m, char *err, size_t err_len) {
  pthread_mutex_init(&m->mutex, NULL);
  pthread_cond_init(&m->cond, NULL);
  m->l = loop_new(err, err_len);
  if (!m->l)
    return false;
  if (pthread_create(&m->thread, NULL, member_main, m) != 0) {
    snprintf(err, err_len, "loop pool: could not start a thread");
    return false;
  }
  m->joinable = true;
  pthread_mutex_lock(&m->mutex);
  while (!m->started)
    pthread_cond_wait(&m->cond, &m->mutex);
  pthread_mutex_unlock(&m->mutex);
  if (!m->ok)
    snprintf(err, err_len, "%s", m->err);
  return m->ok;
}

loop_pool *loop_pool_start(size_t n, loop_pool_fn on_start,
                           loop_pool_fn on_abort, void *ctx, char *err,
                           size_t err_len) {
  loop_pool *p = calloc(1, sizeof *p);
  member *members = p ? calloc(n, sizeof *members) : NULL;
  if (!members) {
    free(p);
    snprintf(err, err_len, "loop pool: out of memory");
    return NULL;
  }
  p->members = members;
  for (size_t i = 0; i < n; i++) {
    members[i] = (member){.index = i, .on_start = on_start, .ctx = ctx};
    p->n = i + 1;
    if (!member_start(&members[i], err, err_len)) {
      /* Undo on the loops that did start (each on its own thread, while
       * it still runs); the failed one undid its own. */
      p->n = i;
      if (on_abort && i > 0)
        loop_pool_each(p, on_abort, ctx);
      p->n = i + 1;
      loop_pool_stop(p);
      return NULL;
    }
  }
  return p;
}

static void run_each(loop_task *task) {
  each_task *t = (each_task *)task;
  char ignored[POOL_ERR_MAX];
  t->fn(t->l, t->index, t->ctx, ignored, sizeof ignored);
  pthread_mutex_lock(t->mutex);
  if (--*t->left == 0)
    pthread_cond_signal(t->cond);
  pthread_mutex_unlock(t->mutex);
}

void loop_pool_each(loop_pool *p, loop_pool_fn fn, void *ctx) {
  pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
  size_t left = p->n;
  for (size_t i = 0; i < p->n; i++) {
    each_task *t = &p->members[i].each;
    *t = (each_task){.task.run = run_each,
                     .l = p->members[i].l,
                     .index = i,
                     .fn = fn,
                     .ctx = ctx,
                     .mutex = &mutex,
                     .cond = &cond,
                     .left = &left};
    loop_post(t->l, &t->task);
  }
  pthread_mutex_lock(&mutex);
  while (left > 0)
    pthread_cond_wait(&cond, &mutex);
  pthread_mutex_unlock(&mutex);
}

void loop_pool_stop(loop_pool *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->n; i++) {
    member *m = &p->members[i];
    if (m->joinable) {
      loop_stop(m->l);
      pthread_join(m->thread, NULL);
    }
    loop_free(m->l);
    pthread_mutex_destroy(&m->mutex);
    pthread_cond_destroy(&m->cond);
  }
  free(p->members);
  free(p);
}
