/*
 * offload: a FIFO of jobs under a mutex, and one thread that takes them
 * one at a time. The thread's Redis connection (store_conn keeps one per
 * thread) is its own, freed when the thread exits.
 */
#include "offload.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The offload thread's nice value: the lowest priority. */
#define OFFLOAD_NICE 19

static struct {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  pthread_t thread;
  bool running;
  bool stopping;
  offload_job *head, *tail;
  size_t queued, max_queued;
} off = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* The oldest job, waiting for one; NULL once stopping with none left. */
static offload_job *take(void) {
  pthread_mutex_lock(&off.mutex);
  while (!off.head && !off.stopping)
    pthread_cond_wait(&off.cond, &off.mutex);
  offload_job *j = off.head;
  if (j) {
    off.head = j->next;
    if (!off.head)
      off.tail = NULL;
    off.queued--;
    j->next = NULL;
  }
  pthread_mutex_unlock(&off.mutex);
  return j;
}

static void *run(void *arg) {
  (void)arg;
  /* The lowest CPU priority for this thread only (Linux nice is per
   * thread): on a busy machine the workers' steps go first. A weight, not
   * a ban, so the jobs still run. Failing to lower it changes nothing
   * else. */
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), OFFLOAD_NICE);
  offload_job *j;
  while ((j = take()))
    j->run(j);
  return NULL;
}

bool offload_start(size_t max_queued, char *err, size_t err_len) {
  pthread_mutex_lock(&off.mutex);
  bool already = off.running;
  off.stopping = false;
  off.max_queued = max_queued;
  pthread_mutex_unlock(&off.mutex);
  if (already) {
    snprintf(err, err_len, "the offload thread is already running");
    return false;
  }
  if (pthread_create(&off.thread, NULL, run, NULL) != 0) {
    snprintf(err, err_len, "cannot start the offload thread");
    return false;
  }
  pthread_mutex_lock(&off.mutex);
  off.running = true;
  pthread_mutex_unlock(&off.mutex);
  return true;
}

bool offload_submit(offload_job *job) {
  pthread_mutex_lock(&off.mutex);
  bool ok = off.running && !off.stopping && off.queued < off.max_queued;
  if (ok) {
    job->next = NULL;
    if (off.tail)
      off.tail->next = job;
    else
      off.head = job;
    off.tail = job;
    off.queued++;
    pthread_cond_signal(&off.cond);
  }
  pthread_mutex_unlock(&off.mutex);
  return ok;
}

void offload_stop(void) {
  pthread_mutex_lock(&off.mutex);
  bool was_running = off.running;
  off.stopping = true;
  pthread_cond_signal(&off.cond);
  pthread_mutex_unlock(&off.mutex);
  if (!was_running)
    return;
  pthread_join(off.thread, NULL); /* it empties the queue first */
  pthread_mutex_lock(&off.mutex);
  off.running = false;
  pthread_mutex_unlock(&off.mutex);
}
