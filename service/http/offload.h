/*
 * offload: queues of jobs, each with one thread of its own, apart from the
 * event loops, that run the requests that may block and that no caller's
 * step waits for. http keeps two: one for reports (which may take seconds
 * and run at the lowest CPU priority) and one for /metrics and handoff
 * creation, so no number of report requests can delay or refuse those.
 *
 * A queue's thread may run at a lower CPU priority (`nice`): when the
 * cores are busy, callers' steps go first and the queue takes what is
 * left (a weight, not a ban: its jobs still run). Jobs run one at a time,
 * oldest first. The caller owns each job (it is usually embedded in a
 * request) and must keep it alive until its run function has been called;
 * run is called exactly once per accepted job, on the queue's thread (or,
 * for jobs still queued at stop, before offload_stop returns).
 */
#ifndef AUTHFLOW_OFFLOAD_H
#define AUTHFLOW_OFFLOAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct offload_job {
  struct offload_job *next;
  void (*run)(struct offload_job *job);
} offload_job;

/* A queue: define one statically with OFFLOAD_QUEUE_INIT; its fields are
 * internal. */
typedef struct {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  pthread_t thread;
  bool running;
  bool stopping;
  offload_job *head, *tail;
  size_t queued, max_queued;
  int nice;
} offload_queue;

#define OFFLOAD_QUEUE_INIT                                                     \
  { .mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER }

/* Start q's thread at CPU priority `nice` (0 normal, 19 lowest); at most
 * max_queued jobs may wait at once. False with a reason in err. */
bool offload_start(offload_queue *q, size_t max_queued, int nice, char *err,
                   size_t err_len);

/* Queue a job. False (run never called) when not running or when
 * max_queued jobs already wait. Safe from any thread. */
bool offload_submit(offload_queue *q, offload_job *job);

/* Run every job still queued, then stop and join the thread. Safe to call
 * twice, or without a start. */
void offload_stop(offload_queue *q);

#endif
