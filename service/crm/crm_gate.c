/*
 * crm_gate: one count of connections in use and the list of instance
 * queues, behind a mutex. See crm_gate.h.
 */
#include "crm_gate.h"

#include <pthread.h>
#include <stddef.h>

#include "crm_loop.h"

static struct {
  pthread_mutex_t mutex;
  long max;
  long in_use;  /* on the wire, or granted and not yet taken */
  long waiting; /* over all queues */
  crm_gate_queue *open;
  void (*on_event)(crm_client_event event, long value);
} gate = {.mutex = PTHREAD_MUTEX_INITIALIZER};

void crm_gate_start(long max_connections,
                    void (*on_event)(crm_client_event event, long value)) {
  pthread_mutex_lock(&gate.mutex);
  gate.max = max_connections > 0 ? max_connections : 1;
  gate.in_use = 0;
  gate.waiting = 0;
  gate.open = NULL;
  gate.on_event = on_event;
  pthread_mutex_unlock(&gate.mutex);
}

/* Under the lock: the total changed by `delta`. */
static void count_waiting(long delta) {
  gate.waiting += delta;
  if (delta && gate.on_event)
    gate.on_event(CRM_EVENT_QUEUE_LENGTH, gate.waiting);
}

void crm_gate_open(crm_gate_queue *q, void (*notify)(crm_gate_queue *q)) {
  pthread_mutex_lock(&gate.mutex);
  q->head = q->tail = NULL;
  q->len = q->granted = 0;
  q->notify = notify;
  q->open = true;
  q->next_open = gate.open;
  gate.open = q;
  pthread_mutex_unlock(&gate.mutex);
}

/* Under the lock: unlinks j from q's queue. */
static void unlink_job(crm_gate_queue *q, crm_job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    q->head = j->next;
  if (j->next)
    j->next->prev = j->prev;
  else
    q->tail = j->prev;
  j->next = j->prev = NULL;
  q->len--;
  count_waiting(-1);
}

bool crm_gate_acquire(crm_gate_queue *q, crm_job *j) {
  pthread_mutex_lock(&gate.mutex);
  /* Calls wait only while every connection is taken, so a free one means
   * nobody is waiting for it. */
  bool taken = gate.in_use < gate.max;
  if (taken) {
    gate.in_use++;
  } else {
    j->queued_ms = crm_loop_now_ms();
    j->next = NULL;
    j->prev = q->tail;
    if (q->tail)
      q->tail->next = j;
    else
      q->head = j;
    q->tail = j;
    q->len++;
    count_waiting(1);
  }
  pthread_mutex_unlock(&gate.mutex);
  return taken;
}

/* Under the lock: the open queue whose oldest call has waited longest
 * (that of a granted queue counts from its first call without a grant),
 * or NULL when no call waits without a grant. */
static crm_gate_queue *oldest_waiter(void) {
  crm_gate_queue *best = NULL;
  double best_ms = 0;
  for (crm_gate_queue *q = gate.open; q; q = q->next_open) {
    if (q->len <= q->granted)
      continue;
    const crm_job *j = q->head;
    for (long i = 0; i < q->granted; i++)
      j = j->next;
    if (!best || j->queued_ms < best_ms) {
      best = q;
      best_ms = j->queued_ms;
    }
  }
  return best;
}

/* Under the lock: a connection nobody here will use goes to the oldest
 * waiter elsewhere (granted) or back to the pool. `self` is the queue
 * giving it away (not granted to again: it has no call for it). */
static void pass_on(const crm_gate_queue *self) {
  crm_gate_queue *q = oldest_waiter();
  if (!q || q == self) {
    gate.in_use--;
    return;
  }
  if (q->granted++ == 0)
    q->notify(q);
}

crm_job *crm_gate_release(crm_gate_queue *q) {
  pthread_mutex_lock(&gate.mutex);
  crm_job *mine = NULL;
  crm_gate_queue *to = oldest_waiter();
  if (to == q && q->granted == 0) {
    mine = q->head;
    unlink_job(q, mine);
  } else if (to) {
    if (to->granted++ == 0)
      to->notify(to);
  } else {
    gate.in_use--;
  }
  pthread_mutex_unlock(&gate.mutex);
  return mine;
}

crm_job *crm_gate_take_granted(crm_gate_queue *q) {
  pthread_mutex_lock(&gate.mutex);
  crm_job *j = NULL;
  if (q->granted > 0 && q->head) {
    q->granted--;
    j = q->head;
    unlink_job(q, j);
  }
  while (q->granted > 0) { /* no call left for them */
    q->granted--;
    pass_on(q);
  }
  pthread_mutex_unlock(&gate.mutex);
  return j;
}

void crm_gate_leave(crm_gate_queue *q, crm_job *j) {
  pthread_mutex_lock(&gate.mutex);
  unlink_job(q, j);
  /* A grant waiting for this queue may now have no call left: it is
   * passed on when the owner takes its grants. */
  pthread_mutex_unlock(&gate.mutex);
}

void crm_gate_close(crm_gate_queue *q) {
  pthread_mutex_lock(&gate.mutex);
  crm_gate_queue **link = &gate.open;
  while (*link && *link != q)
    link = &(*link)->next_open;
  if (*link)
    *link = q->next_open;
  q->open = false;
  while (q->head)
    unlink_job(q, q->head);
  while (q->granted > 0) {
    q->granted--;
    pass_on(q);
  }
  pthread_mutex_unlock(&gate.mutex);
}
