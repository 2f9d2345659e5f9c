/*
 * loop: one event loop. An epoll set of file descriptors, timers, and a
 * queue of tasks other threads post to it (woken through an eventfd).
 *
 * authflow runs one loop per core (see http.h). A loop owns every handle
 * its callers' steps use: its libmicrohttpd daemon, its Redis connection
 * and its curl multi handle all register their sockets and timers here, so
 * a step runs from request to answer on one thread and never blocks.
 *
 * Threading contract: a loop is run by exactly one thread (loop_run).
 * Every function here except loop_post() and loop_stop() must be called on
 * that thread (or before it starts). Callbacks run on that thread, one at a
 * time, and must not block.
 *
 * Watchers and timers are caller-owned structs (no allocation per event);
 * they must stay valid while registered. A watcher or timer may be stopped
 * (and its memory freed) from any callback, including its own: events
 * already collected for it in the current round are dropped.
 *
 * Low-level module: it never logs.
 */
#ifndef AUTHFLOW_LOOP_H
#define AUTHFLOW_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct loop loop;

/* An fd watcher. `events` are EPOLLIN/EPOLLOUT bits; the callback gets
 * the bits that fired (EPOLLERR/EPOLLHUP included). */
typedef void (*loop_io_fn)(void *ctx, uint32_t events);
typedef struct {
  int fd;
  uint32_t events;
  bool active;
  loop_io_fn fn;
  void *ctx;
} loop_io;

/* A one-shot timer. */
typedef void (*loop_timer_fn)(void *ctx);
typedef struct {
  int64_t due_ms; /* loop_now_ms() time it fires at */
  size_t slot;    /* position in the loop's heap + 1; 0: not armed */
  loop_timer_fn fn;
  void *ctx;
} loop_timer;

/* A task run once on the loop's thread (intrusive: embed it). */
typedef struct loop_task {
  struct loop_task *next;
  void (*run)(struct loop_task *task);
} loop_task;

/* A new loop, or NULL with the reason in err (out of descriptors or
 * memory). */
loop *loop_new(char *err, size_t err_len);

/* Runs the loop on the calling thread until loop_stop(). Tasks posted
 * before the stop are run before it returns. */
void loop_run(loop *l);

/* Asks the loop to return from loop_run() (any thread). */
void loop_stop(loop *l);

/* Frees a loop that is not running. Watchers and timers still registered
 * are forgotten, not called. */
void loop_free(loop *l);

/* The loop the calling thread is running, or NULL. */
loop *loop_current(void);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t loop_now_ms(void);

/* Starts watching fd for `events` (EPOLLIN and/or EPOLLOUT; 0 is allowed:
 * errors and hang-ups only). False when the kernel refused (errno set). */
bool loop_io_start(loop *l, loop_io *w, int fd, uint32_t events, loop_io_fn fn,
                   void *ctx);

/* Changes a started watcher's events. */
bool loop_io_update(loop *l, loop_io *w, uint32_t events);

/* Stops a watcher (no-op when not started). Call before closing its fd. */
void loop_io_stop(loop *l, loop_io *w);

/* Arms t to call fn(ctx) delay_ms from now (re-arms an armed timer).
 * False only when out of memory. */
bool loop_timer_start(loop *l, loop_timer *t, int64_t delay_ms,
                      loop_timer_fn fn, void *ctx);

/* Disarms t (no-op when not armed). */
void loop_timer_stop(loop *l, loop_timer *t);

static inline bool loop_timer_armed(const loop_timer *t) {
  return t->slot != 0;
}

/* Queues task to run on the loop's thread, from any thread, waking it.
 * Tasks run in the order posted. */
void loop_post(loop *l, loop_task *task);

#endif
