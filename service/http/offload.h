/*
 * offload: one thread, apart from the HTTP server's workers, that runs the
 * requests that may take long and that no caller's step waits for:
 * reports, the dashboard and /metrics. A report scan over a long stream
 * holds the thread (and its own Redis connection) for as long as it
 * takes, while every worker stays free for callers' steps.
 *
 * The thread runs at the lowest CPU priority (nice 19): when the cores are
 * busy, callers' steps go first and reports take what is left (a weight,
 * not a ban: they still run). Jobs run one at a time, oldest first. The caller
 * owns each job (it is usually embedded in a request) and must keep it alive
 * until its run function has been called; run is called exactly once per
 * accepted job, on the offload thread (or, for jobs still queued at stop,
 * before offload_stop returns).
 */
#ifndef AUTHFLOW_OFFLOAD_H
#define AUTHFLOW_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>

typedef struct offload_job {
  struct offload_job *next;
  void (*run)(struct offload_job *job);
} offload_job;

/* Start the thread; at most max_queued jobs may wait at once. False with
 * a reason in err. */
bool offload_start(size_t max_queued, char *err, size_t err_len);

/* Queue a job. False (run never called) when not running or when
 * max_queued jobs already wait. Safe from any thread. */
bool offload_submit(offload_job *job);

/* Run every job still queued, then stop and join the thread. Safe to call
 * twice, or without a start. */
void offload_stop(void);

#endif
