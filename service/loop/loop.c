/*
 * loop: epoll, a binary heap of timers and an eventfd-woken task queue.
 * See loop.h for the contract.
 */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Events taken from the kernel per round. */
#define LOOP_BATCH 64

struct loop {
  int epoll_fd;
  int wake_fd; /* eventfd: loop_post and loop_stop */
  atomic_bool stopping;
  /* Posted tasks: a FIFO guarded by the mutex (posts are rare: the
   * offload thread's answers and stops). */
  pthread_mutex_t mutex;
  loop_task *posted_head, *posted_tail;
  /* Timers: a min-heap on due_ms. */
  loop_timer **heap;
  size_t heap_len, heap_cap;
  /* The round being dispatched, so a watcher stopped by a callback can
   * have its pending events dropped. */
  struct epoll_event batch[LOOP_BATCH];
  int batch_len;
};

static _Thread_local loop *current_loop;

int64_t loop_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

loop *loop_current(void) {
  return current_loop;
}

loop *loop_new(char *err, size_t err_len) {
  loop *l = calloc(1, sizeof *l);
  if (!l) {
    snprintf(err, err_len, "loop: out of memory");
    return NULL;
  }
  l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  if (l->epoll_fd < 0 || l->wake_fd < 0 ||
      epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->wake_fd, &ev) != 0) {
    snprintf(err, err_len, "loop: %s", strerror(errno));
    if (l->epoll_fd >= 0)
      close(l->epoll_fd);
    if (l->wake_fd >= 0)
      close(l->wake_fd);
    free(l);
    return NULL;
  }
  pthread_mutex_init(&l->mutex, NULL);
  atomic_init(&l->stopping, false);
  return l;
}

void loop_free(loop *l) {
  if (!l)
    return;
  close(l->epoll_fd);
  close(l->wake_fd);
  pthread_mutex_destroy(&l->mutex);
  free(l->heap);
  free(l);
}

static void wake(loop *l) {
  uint64_t one = 1;
  /* EAGAIN: the counter is already non-zero, the loop will wake anyway. */
  ssize_t n = write(l->wake_fd, &one, sizeof one);
  (void)n;
}

void loop_stop(loop *l) {
  atomic_store(&l->stopping, true);
  wake(l);
}

void loop_post(loop *l, loop_task *task) {
  task->next = NULL;
  pthread_mutex_lock(&l->mutex);
  if (l->posted_tail)
    l->posted_tail->next = task;
  else
    l->posted_head = task;
  l->posted_tail = task;
  pthread_mutex_unlock(&l->mutex);
  wake(l);
}

/* Runs every task posted so far (not those they post in turn: those wait
 * for the next round, so a task reposting itself cannot starve I/O). */
static void run_posted(loop *l) {
  uint64_t count;
  ssize_t n = read(l->wake_fd, &count, sizeof count);
  (void)n;
  pthread_mutex_lock(&l->mutex);
  loop_task *t = l->posted_head;
  l->posted_head = l->posted_tail = NULL;
  pthread_mutex_unlock(&l->mutex);
  while (t) {
    loop_task *next = t->next;
    t->run(t);
    t = next;
  }
}

/* ---------------------------------------------------------------------
 * Watchers.
 * ------------------------------------------------------------------- */

bool loop_io_start(loop *l, loop_io *w, int fd, uint32_t events, loop_io_fn fn,
                   void *ctx) {
  w->fd = fd;
  w->events = events;
  w->fn = fn;
  w->ctx = ctx;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  w->active = epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
  return w->active;
}

bool loop_io_update(loop *l, loop_io *w, uint32_t events) {
  if (!w->active)
    return false;
  if (events == w->events)
    return true;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  if (epoll_ctl(l->epoll_fd, EPOLL_CTL_MOD, w->fd, &ev) != 0)
    return false;
  w->events = events;
  return true;
}

void loop_io_stop(loop *l, loop_io *w) {
  if (!w->active)
    return;
  epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
  w->active = false;
  for (int i = 0; i < l->batch_len; i++)
    if (l->batch[i].data.ptr == w)
      l->batch[i].data.ptr = NULL, l->batch[i].events = 0;
}

/* ---------------------------------------------------------------------
 * Timers: a binary min-heap; t->slot is its index + 1.
 * ------------------------------------------------------------------- */

static void heap_place(loop *l, size_t i, loop_timer *t) {
  l->heap[i] = t;
  t->slot = i + 1;
}

static void sift_up(loop *l, size_t i) {
  loop_timer *t = l->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (l->heap[parent]->due_ms <= t->due_ms)
      break;
    heap_place(l, i, l->heap[parent]);
    i = parent;
  }
  heap_place(l, i, t);
}

static void sift_down(loop *l, size_t i) {
  loop_timer *t = l->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= l->heap_len)
      break;
    if (child + 1 < l->heap_len &&
        l->heap[child + 1]->due_ms < l->heap[child]->due_ms)
      child++;
    if (t->due_ms <= l->heap[child]->due_ms)
      break;
    heap_place(l, i, l->heap[child]);
    i = child;
  }
  heap_place(l, i, t);
}

void loop_timer_stop(loop *l, loop_timer *t) {
  if (!t->slot)
    return;
  size_t i = t->slot - 1;
  t->slot = 0;
  loop_timer *last = l->heap[--l->heap_len];
  if (i == l->heap_len)
    return;
  heap_place(l, i, last);
  sift_down(l, i);
  sift_up(l, last->slot - 1);
}

bool loop_timer_start(loop *l, loop_timer *t, int64_t delay_ms,
                      loop_timer_fn fn, void *ctx) {
  loop_timer_stop(l, t);
  if (l->heap_len == l->heap_cap) {
    size_t cap = l->heap_cap ? 2 * l->heap_cap : 64;
    loop_timer **grown = realloc(l->heap, cap * sizeof(loop_timer *));
    if (!grown)
      return false;
    l->heap = grown;
    l->heap_cap = cap;
  }
  t->fn = fn;
  t->ctx = ctx;
  t->due_ms = loop_now_ms() + (delay_ms > 0 ? delay_ms : 0);
  heap_place(l, l->heap_len++, t);
  sift_up(l, l->heap_len - 1);
  return true;
}

/* Fires every timer that is due; returns the wait until the next one in
 * ms (-1: none armed). Timers armed by these callbacks for "now" fire in
 * the next round. */
static int run_timers(loop *l) {
  int64_t now = loop_now_ms();
  size_t budget = l->heap_len;
  while (l->heap_len > 0 && l->heap[0]->due_ms <= now && budget-- > 0) {
    loop_timer *t = l->heap[0];
    loop_timer_stop(l, t);
    t->fn(t->ctx);
  }
  if (l->heap_len == 0)
    return -1;
  int64_t wait = l->heap[0]->due_ms - loop_now_ms();
  return wait <= 0 ? 0 : wait > 60000 ? 60000 : (int)wait;
}

/* ---------------------------------------------------------------------
 * Running.
 * ------------------------------------------------------------------- */

void loop_run(loop *l) {
  current_loop = l;
  while (!atomic_load(&l->stopping)) {
    int timeout = run_timers(l);
    int n = epoll_wait(l->epoll_fd, l->batch, LOOP_BATCH, timeout);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    l->batch_len = n;
    bool posted = false;
    for (int i = 0; i < n; i++) {
      loop_io *w = l->batch[i].data.ptr;
      uint32_t events = l->batch[i].events;
      if (!events)
        continue; /* its watcher was stopped this round */
      if (!w) {
        posted = true;
        continue;
      }
      w->fn(w->ctx, events);
    }
    l->batch_len = 0;
    if (posted)
      run_posted(l);
  }
  run_posted(l);
  current_loop = NULL;
}
