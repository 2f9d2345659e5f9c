/*
 * crm_breaker: one breaker behind a mutex. See crm_breaker.h.
 */
#include "crm_breaker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "crm_loop.h"

static struct {
  pthread_mutex_t mutex;
  const crm_profile *p;
  void (*on_event)(crm_client_event event, long value);
  crm_breaker_state state;
  int failures;
  double open_until_ms;
  bool probe_in_flight;
} br = {.mutex = PTHREAD_MUTEX_INITIALIZER};

/* What crm_breaker_known_down() reads without the lock: the monotonic ms
 * until which the breaker stays open, 0 when it is not open. */
static _Atomic int64_t open_until_public;

void crm_breaker_start(const crm_profile *p,
                       void (*on_event)(crm_client_event event, long value)) {
  pthread_mutex_lock(&br.mutex);
  br.p = p;
  br.on_event = on_event;
  br.state = CRM_BREAKER_CLOSED;
  br.failures = 0;
  br.open_until_ms = 0;
  br.probe_in_flight = false;
  atomic_store(&open_until_public, 0);
  pthread_mutex_unlock(&br.mutex);
}

bool crm_breaker_known_down(void) {
  int64_t until = atomic_load(&open_until_public);
  return until > 0 && crm_loop_now_ms() < (double)until;
}

/* Under the lock. */
static void set_state(crm_breaker_state s) {
  atomic_store(&open_until_public,
               s == CRM_BREAKER_OPEN ? (int64_t)br.open_until_ms : 0);
  if (br.state != s) {
    br.state = s;
    if (br.on_event)
      br.on_event(CRM_EVENT_BREAKER, (long)s);
  }
}

bool crm_breaker_admit(bool *probe) {
  *probe = false;
  pthread_mutex_lock(&br.mutex);
  bool ok = true;
  if (br.p->breaker_failures > 0 && br.state != CRM_BREAKER_CLOSED) {
    if (br.state == CRM_BREAKER_OPEN && crm_loop_now_ms() >= br.open_until_ms)
      set_state(CRM_BREAKER_HALF_OPEN);
    if (br.state == CRM_BREAKER_OPEN || br.probe_in_flight) {
      ok = false;
    } else {
      *probe = true;
      br.probe_in_flight = true;
    }
  }
  pthread_mutex_unlock(&br.mutex);
  return ok;
}

void crm_breaker_record(bool probe, bool ok) {
  pthread_mutex_lock(&br.mutex);
  if (probe)
    br.probe_in_flight = false;
  if (br.p->breaker_failures > 0) {
    if (ok) {
      br.failures = 0;
      set_state(CRM_BREAKER_CLOSED);
    } else if (++br.failures >= br.p->breaker_failures ||
               br.state == CRM_BREAKER_HALF_OPEN) {
      br.open_until_ms = crm_loop_now_ms() + (double)br.p->breaker_open_ms;
      set_state(CRM_BREAKER_OPEN);
    }
  }
  pthread_mutex_unlock(&br.mutex);
}

void crm_breaker_forget(bool probe) {
  if (!probe)
    return;
  pthread_mutex_lock(&br.mutex);
  br.probe_in_flight = false;
  pthread_mutex_unlock(&br.mutex);
}
