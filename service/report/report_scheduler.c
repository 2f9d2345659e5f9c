/*
 * report_scheduler: see report_scheduler.h. One thread; its state is its
 * own but for the queue of runs on demand (under `mutex`).
 */
#include "report_scheduler.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "report_delivery.h"
#include "store_schedule.h"

/* Reports are made at the lowest CPU priority, as on the report thread:
 * callers' steps go first. */
#define SCHEDULER_NICE 19
#define ACTIVE_MAX 64   /* periods this replica works on at once */
#define MANUAL_MAX 16   /* runs on demand waiting */
#define SETTLED_KEEP 16 /* settled periods remembered per schedule */

/* A period this replica holds the claim of (or a run on demand). */
typedef struct {
  bool used;
  size_t sched; /* index in cfg->reporting.list */
  report_period period;
  bool manual;
  char token[128];
  int attempts;
  int64_t next_at;    /* unix seconds of the next attempt */
  int64_t renewed_at; /* monotonic seconds of the last renewal */
  char *record;       /* settled, but not yet written to Redis */
  report_delivery_outcome last;
} delivery;

static struct {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  pthread_t thread;
  bool running, stopping;
  const config *cfg;
  struct {
    size_t sched;
    report_period period;
  } manual[MANUAL_MAX];
  size_t manual_count;
  /* The scheduler thread's own: */
  delivery active[ACTIVE_MAX];
  int64_t first_seen[CONFIG_MAX_SCHEDULES];
  bool seen_known[CONFIG_MAX_SCHEDULES];
  char settled[CONFIG_MAX_SCHEDULES][SETTLED_KEEP][16];
  size_t settled_next[CONFIG_MAX_SCHEDULES];
  int64_t redis_warned_at;
} S = {.mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* The delivery whose mail is in flight (keep_going's). */
static delivery *sending;

static int64_t mono_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec;
}

static bool stopping(void) {
  pthread_mutex_lock(&S.mutex);
  bool s = S.stopping;
  pthread_mutex_unlock(&S.mutex);
  return s;
}

/* A Redis failure, warned about at most once a minute. */
static void warn_redis(const char *what, const char *err) {
  int64_t now = mono_seconds();
  if (S.redis_warned_at && now - S.redis_warned_at < 60)
    return;
  S.redis_warned_at = now;
  log_warn("report scheduler: redis unavailable", LOG_STR("doing", what),
           LOG_STR("error", err));
}

static const config_schedule *sched_of(const delivery *d) {
  return &S.cfg->reporting.list[d->sched];
}

static long lease_ms(void) {
  return (long)S.cfg->reporting.lease_seconds * 1000L;
}

/* Renew d's claim if a third of the lease has passed since the last
 * renewal. False when the claim is no longer ours, or when Redis could
 * not be asked and the lease may have run out since the last renewal
 * (another replica may hold it now); true while it surely still runs. */
static bool renew(delivery *d, bool force) {
  if (d->manual)
    return true;
  int64_t now = mono_seconds();
  if (!force && now - d->renewed_at < S.cfg->reporting.lease_seconds / 3)
    return true;
  char err[STORE_ERR_MAX];
  bool held = true;
  if (store_schedule_renew(sched_of(d)->name, d->period.key, d->token,
                           lease_ms(), &held, err, sizeof err) != STORE_OK) {
    warn_redis("renewing a claim", err);
    return now - d->renewed_at < S.cfg->reporting.lease_seconds - 1;
  }
  if (held)
    d->renewed_at = now;
  return held;
}

/* report_delivery's keep_going: the claim is still ours and we are not
 * shutting down. */
static bool keep_going(void *user) {
  (void)user;
  return !stopping() && (!sending || renew(sending, false));
}

static void drop(delivery *d) {
  free(d->record);
  memset(d, 0, sizeof *d);
}

static bool remember_settled(size_t i, const char *key) {
  for (size_t k = 0; k < SETTLED_KEEP; k++)
    if (strcmp(S.settled[i][k], key) == 0)
      return true;
  snprintf(S.settled[i][S.settled_next[i]], sizeof S.settled[i][0], "%s", key);
  S.settled_next[i] = (S.settled_next[i] + 1) % SETTLED_KEEP;
  return false;
}

/* Write d's record (its done-marker, the deliveries list) and let it go;
 * kept for the next tick when Redis cannot take it now (the claim is
 * still renewed meanwhile, so no other replica resends). */
static void write_settled(delivery *d) {
  char err[STORE_ERR_MAX];
  const config_schedule *s = sched_of(d);
  if (store_schedule_settle(s->name, d->manual ? NULL : d->period.key, d->token,
                            d->record, err, sizeof err) != STORE_OK) {
    warn_redis("recording a delivery", err);
    return;
  }
  if (!d->manual)
    remember_settled(d->sched, d->period.key);
  drop(d);
}

static void settle(delivery *d, const report_delivery_job *j,
                   const char *result, int64_t now) {
  metrics_report_delivery(result);
  d->record = report_delivery_record(j, &d->last, result, d->attempts, now);
  if (!d->record) {
    drop(d); /* no memory: the claim expires and another replica tries */
    return;
  }
  write_settled(d);
}

static int64_t backoff(const config_smtp *m, int attempts) {
  int64_t wait = m->retry_initial_seconds;
  for (int i = 1; i < attempts && wait < m->retry_max_seconds; i++)
    wait *= 2;
  return wait < m->retry_max_seconds ? wait : m->retry_max_seconds;
}

static const char *status_name(report_mail_status st) {
  switch (st) {
  case REPORT_MAIL_SENT:
    return "sent";
  case REPORT_MAIL_REFUSED:
    return "refused";
  case REPORT_MAIL_ABORTED:
    return "aborted";
  default:
    return "retry";
  }
}

/* One attempt at d, then what follows from it. */
static void attempt(delivery *d, int64_t now) {
  const config_schedule *s = sched_of(d);
  const char *zone_name = NULL;
  char err[160];
  report_delivery_job j = {
      .cfg = S.cfg,
      .s = s,
      .zone = report_schedule_zone(S.cfg, s, &zone_name, err, sizeof err),
      .zone_name = zone_name,
      .period = d->period,
      .manual = d->manual,
      .keep_going = keep_going};
  if (!j.zone) { /* checked at start-up: cannot happen */
    drop(d);
    return;
  }
  d->attempts++;
  sending = d;
  report_delivery_attempt(&j, now, &d->last);
  sending = NULL;
  const report_delivery_outcome *o = &d->last;
  log_emit(o->status == REPORT_MAIL_SENT ? LOG_INFO : LOG_WARN,
           "report delivery attempt",
           LOG_FIELDS(LOG_STR("schedule", s->name),
                      LOG_STR("period", d->period.label),
                      LOG_STR("trigger", d->manual ? "manual" : "schedule"),
                      LOG_INT("attempt", d->attempts),
                      LOG_STR("result", status_name(o->status)),
                      LOG_INT("smtpCode", o->smtp_code),
                      LOG_BOOL("late", o->late), LOG_STR("error", o->error),
                      LOG_INT("bytes", (int64_t)o->bytes)));
  int64_t done_at = (int64_t)time(NULL);
  switch (o->status) {
  case REPORT_MAIL_SENT:
    settle(d, &j, "sent", done_at);
    return;
  case REPORT_MAIL_REFUSED:
    settle(d, &j, "refused", done_at);
    return;
  case REPORT_MAIL_ABORTED:
    /* The claim was lost or we are stopping: the claim's holder (or,
     * after the lease, another replica) sends it. */
    drop(d);
    return;
  default:
    break;
  }
  if (d->attempts >= S.cfg->reporting.smtp.max_attempts) {
    settle(d, &j, "failed", done_at);
    return;
  }
  metrics_report_delivery("retry");
  d->next_at = done_at + backoff(&S.cfg->reporting.smtp, d->attempts);
}

static delivery *free_slot(void) {
  for (size_t i = 0; i < ACTIVE_MAX; i++)
    if (!S.active[i].used)
      return &S.active[i];
  return NULL;
}

static bool working_on(size_t sched, const char *key) {
  for (size_t i = 0; i < ACTIVE_MAX; i++)
    if (S.active[i].used && !S.active[i].manual && S.active[i].sched == sched &&
        strcmp(S.active[i].period.key, key) == 0)
      return true;
  return false;
}

/* Claim each due period of schedule i that nobody settled or holds. */
static void claim_due(size_t i, int64_t now) {
  const config_schedule *s = &S.cfg->reporting.list[i];
  char err[STORE_ERR_MAX];
  if (!S.seen_known[i]) {
    if (store_schedule_seen(s->name, now, &S.first_seen[i], err, sizeof err) !=
        STORE_OK) {
      warn_redis("recording a schedule", err);
      return;
    }
    S.seen_known[i] = true;
  }
  const tz_zone *z = report_schedule_zone(S.cfg, s, NULL, err, sizeof err);
  if (!z)
    return;
  report_period due[REPORT_SCHEDULE_DUE_MAX];
  size_t n = report_schedule_due_periods(
      s->every, z, s->at_minute, now, S.first_seen[i],
      REPORT_SCHEDULE_MAX_LATE_SECONDS, due, REPORT_SCHEDULE_DUE_MAX);
  for (size_t k = 0; k < n; k++) {
    const report_period *p = &due[k];
    bool settled = false;
    for (size_t m = 0; m < SETTLED_KEEP; m++)
      settled = settled || strcmp(S.settled[i][m], p->key) == 0;
    delivery *d = free_slot();
    if (settled || working_on(i, p->key) || !d)
      continue;
    store_schedule_token(d->token, sizeof d->token);
    store_claim c;
    if (store_schedule_claim(s->name, p->key, d->token, lease_ms(), &c, err,
                             sizeof err) != STORE_OK) {
      warn_redis("claiming a period", err);
      d->token[0] = '\0';
      return;
    }
    if (c == STORE_CLAIM_DONE)
      remember_settled(i, p->key);
    if (c != STORE_CLAIM_TAKEN) {
      d->token[0] = '\0';
      continue;
    }
    d->used = true;
    d->sched = i;
    d->period = *p;
    d->next_at = now;
    d->renewed_at = mono_seconds();
  }
}

/* Runs on demand, moved from the queue to the active set. */
static void take_manual(int64_t now) {
  pthread_mutex_lock(&S.mutex);
  size_t taken = 0;
  for (; taken < S.manual_count; taken++) {
    delivery *d = free_slot();
    if (!d)
      break;
    d->used = true;
    d->manual = true;
    d->sched = S.manual[taken].sched;
    d->period = S.manual[taken].period;
    d->next_at = now;
  }
  memmove(S.manual, S.manual + taken,
          (S.manual_count - taken) * sizeof S.manual[0]);
  S.manual_count -= taken;
  pthread_mutex_unlock(&S.mutex);
}

/* One pass; returns the seconds until the next thing to do. */
static int64_t tick(void) {
  int64_t now = (int64_t)time(NULL);
  take_manual(now);
  for (size_t i = 0; i < ACTIVE_MAX; i++) {
    delivery *d = &S.active[i];
    /* A settled period's record is written whoever holds the claim now:
     * its done-marker is what stops another replica from resending. */
    if (d->used && d->record) {
      write_settled(d);
    } else if (d->used && !renew(d, false)) {
      log_warn("report scheduler: claim lost",
               LOG_STR("schedule", sched_of(d)->name),
               LOG_STR("period", d->period.label));
      drop(d);
    }
  }
  for (size_t i = 0; i < S.cfg->reporting.count && !stopping(); i++)
    claim_due(i, now);
  int64_t wait = S.cfg->reporting.tick_seconds;
  for (size_t i = 0; i < ACTIVE_MAX && !stopping(); i++) {
    delivery *d = &S.active[i];
    now = (int64_t)time(NULL);
    if (d->used && !d->record && d->next_at <= now)
      attempt(d, now);
    if (d->used && !d->record && d->next_at - now < wait)
      wait = d->next_at - now;
  }
  return wait < 1 ? 1 : wait;
}

static void *run(void *arg) {
  (void)arg;
  (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), SCHEDULER_NICE);
  pthread_mutex_lock(&S.mutex);
  while (!S.stopping) {
    pthread_mutex_unlock(&S.mutex);
    int64_t wait = tick();
    pthread_mutex_lock(&S.mutex);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)wait;
    while (!S.stopping && S.manual_count == 0 &&
           pthread_cond_timedwait(&S.cond, &S.mutex, &until) != ETIMEDOUT)
      ;
  }
  pthread_mutex_unlock(&S.mutex);
  for (size_t i = 0; i < ACTIVE_MAX; i++)
    drop(&S.active[i]);
  store_thread_cleanup();
  return NULL;
}

bool report_scheduler_start(const config *cfg, char *err, size_t err_len) {
  if (cfg->reporting.count == 0)
    return true;
  pthread_mutex_lock(&S.mutex);
  S.cfg = cfg;
  S.stopping = false;
  bool ok = pthread_create(&S.thread, NULL, run, NULL) == 0;
  S.running = ok;
  pthread_mutex_unlock(&S.mutex);
  if (!ok)
    snprintf(err, err_len, "cannot start the report scheduler thread");
  return ok;
}

void report_scheduler_stop(void) {
  pthread_mutex_lock(&S.mutex);
  bool was = S.running;
  S.stopping = true;
  S.running = false;
  pthread_cond_broadcast(&S.cond);
  pthread_mutex_unlock(&S.mutex);
  if (was)
    pthread_join(S.thread, NULL);
}

report_run_status report_scheduler_run_now(const char *name,
                                           report_period *period) {
  pthread_mutex_lock(&S.mutex);
  report_run_status st = REPORT_RUN_OFF;
  const config_schedule *s =
      S.running ? report_schedule_find(S.cfg, name) : NULL;
  char err[160];
  const tz_zone *z =
      s ? report_schedule_zone(S.cfg, s, NULL, err, sizeof err) : NULL;
  if (S.running && !z) {
    st = REPORT_RUN_UNKNOWN;
  } else if (S.running && S.manual_count == MANUAL_MAX) {
    st = REPORT_RUN_FULL;
  } else if (S.running) {
    report_period_last_complete(s->every, z, s->at_minute, (int64_t)time(NULL),
                                period);
    S.manual[S.manual_count].sched = (size_t)(s - S.cfg->reporting.list);
    S.manual[S.manual_count++].period = *period;
    pthread_cond_signal(&S.cond);
    st = REPORT_RUN_QUEUED;
  }
  pthread_mutex_unlock(&S.mutex);
  return st;
}
