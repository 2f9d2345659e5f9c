/*
 * crm_gate: the CRM client's process-wide connection cap. At most
 * max_connections calls are on the wire at once, over all loop instances
 * together (every call goes to the one CRM host). A call that finds them
 * all busy waits in its own instance's FIFO queue; a connection that frees
 * goes to the call that has waited longest on any instance: to the
 * releasing instance's own call at once, or granted to another instance,
 * which is woken to use it (its notify hook, called under the gate's lock).
 *
 * Each instance has one queue (crm_gate_queue, embedded in it). Its fields
 * are the gate's, guarded by the gate's lock; every function here takes
 * it. Queued jobs are linked through next/prev and touched by other
 * threads only to read the head's queued_ms.
 *
 * The total of waiting calls is reported as CRM_EVENT_QUEUE_LENGTH under
 * the lock, so the reports come in order: the last one is the length.
 */
#ifndef AUTHFLOW_CRM_GATE_H
#define AUTHFLOW_CRM_GATE_H

#include <stdbool.h>

#include "crm_client.h"
#include "crm_job.h"

typedef struct crm_gate_queue {
  crm_job *head, *tail; /* waiting calls, oldest first */
  long len;
  long granted; /* connections handed to this queue, not yet taken */
  bool open;    /* registered: may be given connections */
  struct crm_gate_queue *next_open;
  /* Wakes the queue's owner to take its grants (crm_gate_take_granted). */
  void (*notify)(struct crm_gate_queue *q);
} crm_gate_queue;

/* Empties the gate (no queue open, no connection in use) with its cap
 * (>= 1) and event sink (may be NULL). Not while calls run. */
void crm_gate_start(long max_connections,
                    void (*on_event)(crm_client_event event, long value));

/* Registers q (zeroed but for notify) to wait for and be given
 * connections. */
void crm_gate_open(crm_gate_queue *q, void (*notify)(crm_gate_queue *q));

/* Takes a connection for j (true), or puts j at the tail of q's queue
 * with j->queued_ms set to now (false). */
bool crm_gate_acquire(crm_gate_queue *q, crm_job *j);

/* Gives a connection back. It goes to the call that has waited longest on
 * any open queue: when that is q's, it is taken off q and returned (the
 * caller now holds the connection for it); another queue's is granted
 * (notify). NULL: the connection went elsewhere or is free. */
crm_job *crm_gate_release(crm_gate_queue *q);

/* Takes q's oldest call for one of q's granted connections; NULL when no
 * grant is left. Grants q has no call for are passed on (as release). */
crm_job *crm_gate_take_granted(crm_gate_queue *q);

/* j leaves q's queue without a connection (its budget ran out). */
void crm_gate_leave(crm_gate_queue *q, crm_job *j);

/* Unregisters q: its waiting calls leave the queue (they stay the
 * caller's to finish) and its grants are passed on. */
void crm_gate_close(crm_gate_queue *q);

#endif
