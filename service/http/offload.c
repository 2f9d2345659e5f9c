/*
 * offload: a FIFO of jobs under a mutex per queue, and one thread per queue
 * that takes them one at a time. The thread's Redis connection (store_conn
 * keeps one per thread) is its own, freed when the thread exits.
 */
#include "offload.h"

#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The oldest job, waiting for one; NULL once stopping with none left. */
static offload_job *take(offload_queue *q) {
  pthread_mutex_lock(&q->mutex);
  while (!q->head && !q->stopping)
    pthread_cond_wait(&q->cond, &q->mutex);
  offload_job *j = q->head;
  if (j) {
    q->head = j->next;
    if (!q->head)
      q->tail = NULL;
    q->queued--;
    j->next = NULL;
  }
  pthread_mutex_unlock(&q->mutex);
  return j;
}

static void *run(void *arg) {
  offload_queue *q = arg;
  /* The priority for this thread only (Linux nice is per thread). Failing
   * to lower it changes nothing else. */
  if (q->nice)
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), q->nice);
  offload_job *j;
  while ((j = take(q)))
    j->run(j);
  return NULL;
}

bool offload_start(offload_queue *q, size_t max_queued, int nice, char *err,
                   size_t err_len) {
  pthread_mutex_lock(&q->mutex);
  bool already = q->running;
  q->stopping = false;
  q->max_queued = max_queued;
  q->nice = nice;
  pthread_mutex_unlock(&q->mutex);
  if (already) {
    snprintf(err, err_len, "the offload thread is already running");
    return false;
  }
  if (pthread_create(&q->thread, NULL, run, q) != 0) {
    snprintf(err, err_len, "cannot start an offload thread");
    return false;
  }
  pthread_mutex_lock(&q->mutex);
  q->running = true;
  pthread_mutex_unlock(&q->mutex);
  return true;
}

bool offload_submit(offload_queue *q, offload_job *job) {
  pthread_mutex_lock(&q->mutex);
  bool ok = q->running && !q->stopping && q->queued < q->max_queued;
  if (ok) {
    job->next = NULL;
    if (q->tail)
      q->tail->next = job;
    else
      q->head = job;
    q->tail = job;
    q->queued++;
    pthread_cond_signal(&q->cond);
  }
  pthread_mutex_unlock(&q->mutex);
  return ok;
}

void offload_stop(offload_queue *q) {
  pthread_mutex_lock(&q->mutex);
  bool was_running = q->running;
  q->stopping = true;
  pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->mutex);
  if (!was_running)
    return;
  pthread_join(q->thread, NULL); /* it empties the queue first */
  pthread_mutex_lock(&q->mutex);
  q->running = false;
  pthread_mutex_unlock(&q->mutex);
}
