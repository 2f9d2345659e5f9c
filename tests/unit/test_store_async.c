/*
 * store_async: the loop operations against a private redis-server on a
 * loopback port chosen at run time (and, for the cut and held replies, a
 * TCP relay in front of it). A loop runs on its own thread; the test
 * thread posts each operation to it and waits for the callback, so every
 * assertion is made here while every store_async call and callback happens
 * on the loop thread.
 *
 * Checked: each operation answers what its blocking twin (store.h)
 * answers for the same data; a callback is never called before its
 * operation returned, always on the loop thread, exactly once; a Redis
 * restart within the grace fails nothing; a command written and then cut
 * (or left unanswered past the command timeout) is sent again, answered
 * as the first copy was, and ran once; past the grace operations fail at
 * once and a background
 * reconnect brings them back; detach completes everything pending.
 */
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loop.h"
#include "redis_server.h"
#include "redis_stand_ins.h"
#include "store.h"
#include "store_async.h"
#include "store_codec.h"

#define TIMEOUT_MS 200

static pid_t redis_pid = -1;
static int redis_port;
static char prefix[64];
static int test_serial;
static redisContext *raw_ctx;

/* ---------------------------------------------------------------------
 * Configuration and raw access.
 * ------------------------------------------------------------------- */

static store_config config_for(int port, int connect_ms, int command_ms) {
  store_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.host, sizeof c.host, "127.0.0.1");
  c.port = port;
  snprintf(c.key_prefix, sizeof c.key_prefix, "%s", prefix);
  c.session_ttl_seconds = 300;
  c.lock_ms = 5000;
  c.connect_timeout_ms = connect_ms;
  c.command_timeout_ms = command_ms;
  c.lockout_max_failures = 3;
  c.lockout_window_seconds = 600;
  c.report_stream_max_len = 1000;
  c.report_stream_max_age_seconds = 86400;
  c.report_counter_ttl_seconds = 3600;
  c.handoff_max_failures = 30;
  c.handoff_failure_window_seconds = 3600;
  return c;
}

/* A fresh key prefix (ending in `tag`) and the store configured for it. */
static void use_prefix(const char *tag, int port, int connect_ms,
                       int command_ms) {
  snprintf(prefix, sizeof prefix, "authflow-async:%d:%d:%s:", (int)getpid(),
           test_serial, tag);
  store_config c = config_for(port, connect_ms, command_ms);
  store_init(&c);
}

static redisReply *raw(const char *fmt, ...) {
  if (!raw_ctx) {
    raw_ctx = redisConnect("127.0.0.1", redis_port);
    assert_non_null(raw_ctx);
    assert_int_equal(raw_ctx->err, 0);
  }
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(raw_ctx, fmt, ap);
  va_end(ap);
  assert_non_null(r);
  return r;
}

static long long raw_int(const char *fmt, const char *a, const char *b) {
  redisReply *r = raw(fmt, a, b);
  long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                                                : -1;
  freeReplyObject(r);
  return v;
}

static bool lock_exists(const char *id) {
  return raw_int("EXISTS %slock:%s", prefix, id) == 1;
}

/* ---------------------------------------------------------------------
 * The loop thread.
 * ------------------------------------------------------------------- */

static loop *L;
static pthread_t loop_thread;

static void wait_sem(sem_t *s) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 30; /* a hang guard, not a measurement */
  while (sem_timedwait(s, &until) != 0)
    if (errno != EINTR)
      fail_msg("no callback within 30 s");
}

typedef struct {
  loop_task task;
  void (*fn)(void *);
  void *arg;
  sem_t done;
} on_loop_task;

static void on_loop_run(loop_task *t) {
  on_loop_task *c = (on_loop_task *)t;
  c->fn(c->arg);
  sem_post(&c->done);
}

/* Run fn(arg) on the loop thread and wait for it. */
static void on_loop(void (*fn)(void *), void *arg) {
  on_loop_task c = {.task.run = on_loop_run, .fn = fn, .arg = arg};
  sem_init(&c.done, 0, 0);
  loop_post(L, &c.task);
  wait_sem(&c.done);
  sem_destroy(&c.done);
}

static void *loop_main(void *arg) {
  loop_run(arg);
  return NULL;
}

static void attach_on_loop(void *arg) {
  char err[STORE_ERR_MAX];
  *(bool *)arg = store_async_attach(L, err, sizeof err);
}

static void detach_on_loop(void *arg) {
  (void)arg;
  store_async_detach();
}

static void loop_begin(void) {
  char err[STORE_ERR_MAX];
  L = loop_new(err, sizeof err);
  assert_non_null(L);
  assert_int_equal(pthread_create(&loop_thread, NULL, loop_main, L), 0);
  bool ok = false;
  on_loop(attach_on_loop, &ok);
  assert_true(ok);
}

static void loop_end(void) {
  on_loop(detach_on_loop, NULL);
  loop_stop(L);
  pthread_join(loop_thread, NULL);
  loop_free(L);
  L = NULL;
}

/* ---------------------------------------------------------------------
 * Operations: a request, run blocking or on the loop into a slot.
 * ------------------------------------------------------------------- */

typedef struct {
  store_result res;
  sem_t sem;
  int calls;     /* callbacks (loop thread) */
  bool early;    /* a callback came before the operation returned */
  bool off_loop; /* a callback came on another thread, or with another out */
} slot;

static void slot_init(slot *s) {
  memset(s, 0, sizeof *s);
  sem_init(&s->sem, 0, 0);
}

static void slot_done(void *ctx, store_result *out) {
  slot *s = ctx;
  s->calls++;
  if (loop_current() != L || out != &s->res)
    s->off_loop = true;
  sem_post(&s->sem);
}

/* Wait for s's callback; it must have come once, late, on the loop. */
static void slot_wait(slot *s) {
  wait_sem(&s->sem);
  assert_int_equal(s->calls, 1);
  assert_false(s->early);
  assert_false(s->off_loop);
  sem_destroy(&s->sem);
}

typedef enum {
  R_CREATE,
  R_BEGIN,
  R_COMMIT,
  R_RELEASE,
  R_GET,
  R_DELETE,
  R_TAKE,
  R_PING,
  R_RAW, /* setup on both sides: `id` is a raw command, %s the prefix */
  R_PUT, /* setup on both sides: store_handoff_put(id = digest, line) */
} req_kind;

typedef struct {
  req_kind kind;
  const char *id, *token, *linked; /* linked: create's link; take's number */
  unsigned states;
  flow_attempt_counter counter;
  /* commit: the session written (customer "" for none) */
  const char *customer;
  flow_state state;
  flow_lockout_effect lockout;
  bool check, report;
  bool bad_value; /* commit a session store_codec refuses */
  const char *line;
} req;

/* The session a commit request writes. */
static void req_session(const req *r, flow_session *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->conversation_id, sizeof s->conversation_id, "%s", r->id);
  snprintf(s->service_line, sizeof s->service_line, "billing");
  snprintf(s->language, sizeof s->language, "en-GB");
  s->state = r->state;
  s->identified = r->customer && r->customer[0];
  s->method = s->identified ? FLOW_METHOD_IDENTIFIER : FLOW_METHOD_NONE;
  snprintf(s->customer_id, sizeof s->customer_id, "%s",
           r->customer ? r->customer : "");
  snprintf(s->ani_masked, sizeof s->ani_masked, "*******0116");
  s->created_ms = 1700000000123LL;
  s->updated_ms = 1700000004567LL;
  if (r->bad_value)
    s->identify_attempts = -1;
}

static void run_sync(const req *r, store_result *out) {
  memset(out, 0, sizeof *out);
  char *err = out->err;
  size_t n = sizeof out->err;
  flow_session s;
  report_record rec;
  req_session(r, &s);
  report_build_record(&s, true, false, &rec);
  switch (r->kind) {
  case R_CREATE:
    out->status = store_create_linked(r->id, r->token, r->linked, &out->session,
                                      &out->link, err, n);
    break;
  case R_BEGIN:
    out->status =
        store_begin(r->id, r->token, r->states, r->counter, &out->session,
                    &out->customer_locked, &out->limit, err, n);
    break;
  case R_COMMIT:
    out->status = store_commit_report(&s, r->token, r->lockout, r->check,
                                      r->report ? &rec : NULL, &out->dropped,
                                      &out->lockout_level, err, n);
    break;
  case R_RELEASE: /* the async one has no answer: compared by the lock */
    store_release(r->id, r->token, err, n);
    memset(out, 0, sizeof *out);
    break;
  case R_GET:
    out->status = store_get(r->id, &out->session, err, n);
    break;
  case R_DELETE:
    out->status = store_delete(r->id, err, n);
    break;
  case R_TAKE:
    out->taken = STORE_HANDOFF_NO_MATCH;
    out->status = store_handoff_take(r->id, r->line, r->linked, &out->handoff,
                                     &out->taken, err, n);
    break;
  case R_PING:
    out->status = store_ping(err, n);
    break;
  case R_RAW:
  case R_PUT:
    break;
  }
}

/* How long an operation issued by issue() may wait for Redis (its
 * give_up time, from when it is issued); 0: the default. */
static int64_t wait_budget_ms;

/* Issue r on the loop thread into s (s->res is the operation's out). */
static void issue(const req *r, slot *s) {
  int64_t g = wait_budget_ms > 0 ? loop_now_ms() + wait_budget_ms : 0;
  flow_session sess;
  report_record rec;
  req_session(r, &sess);
  report_build_record(&sess, true, false, &rec);
  store_result *o = &s->res;
  switch (r->kind) {
  case R_CREATE:
    store_create_async(r->id, r->token, r->linked, g, o, slot_done, s);
    break;
  case R_BEGIN:
    store_begin_async(r->id, r->token, r->states, r->counter, g, o, slot_done,
                      s);
    break;
  case R_COMMIT:
    store_commit_async(&sess, r->token, r->lockout, r->check,
                       r->report ? &rec : NULL, g, o, slot_done, s);
    break;
  case R_RELEASE:
    store_release_async(r->id, r->token);
    store_ping_async(o, slot_done, s); /* answered after the release */
    break;
  case R_GET:
    store_get_async(r->id, g, o, slot_done, s);
    break;
  case R_DELETE:
    store_delete_async(r->id, g, o, slot_done, s);
    break;
  case R_TAKE:
    store_handoff_take_async(r->id, r->line, r->linked, g, o, slot_done, s);
    break;
  case R_PING:
  case R_RAW:
  case R_PUT:
    store_ping_async(o, slot_done, s);
    break;
  }
  s->early = s->early || s->calls > 0;
}

typedef struct {
  const req *r;
  slot *s;
  int n;
} issue_batch;

static void issue_on_loop(void *arg) {
  issue_batch *b = arg;
  for (int i = 0; i < b->n; i++)
    issue(&b->r[i], &b->s[i]);
}

/* Issue n requests on the loop in one go (not waiting for answers). */
static void issue_n(const req *r, slot *s, int n) {
  for (int i = 0; i < n; i++)
    slot_init(&s[i]);
  issue_batch b = {r, s, n};
  on_loop(issue_on_loop, &b);
}

static void wait_n(slot *s, int n) {
  for (int i = 0; i < n; i++)
    slot_wait(&s[i]);
}

/* Run n requests on the loop (issued in one go) and wait for them all. */
static void run_async_n(const req *r, slot *s, int n) {
  issue_n(r, s, n);
  wait_n(s, n);
}

static store_status run_async(const req *r, store_result *out) {
  slot s;
  run_async_n(r, &s, 1);
  if (r->kind == R_RELEASE)
    memset(&s.res, 0, sizeof s.res);
  *out = s.res;
  return s.res.status;
}

/* ---------------------------------------------------------------------
 * The same answers as the blocking store.
 * ------------------------------------------------------------------- */

#define ALL_STATES                                                             \
  ((1u << FLOW_STATE_AWAITING_IDENTIFIER) |                                    \
   (1u << FLOW_STATE_AWAITING_SECURITY) | (1u << FLOW_STATE_COMPLETED))
#define SEC (1u << FLOW_STATE_AWAITING_SECURITY)
#define IDENT (1u << FLOW_STATE_AWAITING_IDENTIFIER)
#define A "conv-a"
#define B "conv-b"
#define LONG_ID                                                                \
  "x123456789x123456789x123456789x123456789x123456789x123456789x123456789"     \
  "x123456789x123456789x123456789x123456789x123456789x123456789x123456789"     \
  "x123456789x123456789x123456789x123456789x123456789x123456789x123456789"     \
  "x123456789x123456789x123456789x123456789x123456789x123456789x123456789"     \
  "x123456789x123456789x123456789x123456789x123456789x123456789x123456789"
#define AWAIT_SEC(tok, effect, rep)                                            \
  {                                                                            \
    .kind = R_COMMIT, .id = A, .token = tok, .customer = "C-9",                \
    .state = FLOW_STATE_AWAITING_SECURITY, .lockout = effect, .report = rep    \
  }

#define OLD "conv-old"
#define LEGACY_HSET                                                            \
  "HSET %ssession:" OLD " conversationId " OLD " serviceLine billing "         \
  "language en-GB state awaiting_security outcome pending lastResult none "    \
  "method identifier identified 1 verified 0 customerId C-7 customerName "     \
  "Ann identifyAttempts 1 verifyAttempts 0 aniMasked *******0116 createdMs "   \
  "1700000000123 updatedMs 1700000004567"

/* A walk through every operation and answer; run once blocking and once
 * on the loop, each under its own key prefix. */
static const req walk[] = {
    {.kind = R_PING},
    {.kind = R_CREATE, .id = A, .token = "t1"},
    {.kind = R_COMMIT, .id = A, .token = "t1", .customer = ""},
    {.kind = R_CREATE, .id = A, .token = "t2"},
    {.kind = R_CREATE, .id = B, .token = "t3", .linked = A},
    {.kind = R_COMMIT, .id = B, .token = "t3", .customer = "", .report = true},
    {.kind = R_BEGIN,
     .id = A,
     .token = "t4",
     .states = ALL_STATES,
     .counter = FLOW_COUNTER_IDENTIFY},
    {.kind = R_BEGIN, .id = A, .token = "t5", .states = ALL_STATES},
    AWAIT_SEC("t5", FLOW_LOCKOUT_NONE, false),
    AWAIT_SEC("t4", FLOW_LOCKOUT_NONE, true),
    {.kind = R_BEGIN,
     .id = A,
     .token = "t6",
     .states = SEC,
     .counter = FLOW_COUNTER_VERIFY},
    AWAIT_SEC("t6", FLOW_LOCKOUT_RECORD_FAILURE, true),
    {.kind = R_BEGIN,
     .id = A,
     .token = "t7",
     .states = SEC,
     .counter = FLOW_COUNTER_VERIFY},
    AWAIT_SEC("t7", FLOW_LOCKOUT_RECORD_FAILURE, false),
    {.kind = R_BEGIN,
     .id = A,
     .token = "t8",
     .states = SEC,
     .counter = FLOW_COUNTER_VERIFY},
    AWAIT_SEC("t8", FLOW_LOCKOUT_RECORD_FAILURE, true),
    {.kind = R_BEGIN,
     .id = A,
     .token = "t9",
     .states = SEC,
     .counter = FLOW_COUNTER_VERIFY},
    {.kind = R_COMMIT,
     .id = A,
     .token = "t9",
     .customer = "C-9",
     .state = FLOW_STATE_COMPLETED,
     .check = true},
    {.kind = R_RELEASE, .id = A, .token = "t9"},
    {.kind = R_RELEASE, .id = A, .token = "t9"},
    {.kind = R_BEGIN,
     .id = A,
     .token = "t10",
     .states = IDENT,
     .counter = FLOW_COUNTER_IDENTIFY},
    {.kind = R_BEGIN, .id = "nope", .token = "t11", .states = ALL_STATES},
    {.kind = R_GET, .id = A},
    {.kind = R_GET, .id = B},
    {.kind = R_GET, .id = "nope"},
    {.kind = R_RAW, .id = "SET %ssession:conv-bad x"},
    {.kind = R_GET, .id = "conv-bad"},
    {.kind = R_CREATE, .id = "conv-bad", .token = "t12"},
    {.kind = R_BEGIN, .id = "conv-bad", .token = "t12", .states = ALL_STATES},
    {.kind = R_RAW, .id = "HSET %ssession:conv-half state awaiting_identifier"},
    {.kind = R_BEGIN, .id = "conv-half", .token = "t13", .states = ALL_STATES},
    {.kind = R_CREATE, .id = "conv-c", .token = "t14"},
    {.kind = R_COMMIT, .id = "conv-c", .token = "t14", .bad_value = true},
    {.kind = R_PUT, .id = "d1", .line = "billing"},
    {.kind = R_TAKE, .id = "d1", .line = "sales"},
    {.kind = R_TAKE, .id = "d1", .line = "billing"},
    {.kind = R_TAKE, .id = "d1", .line = "billing"},
    {.kind = R_DELETE, .id = B},
    {.kind = R_DELETE, .id = B},
    {.kind = R_CREATE, .id = B, .token = "t15"},
    {.kind = R_GET, .id = LONG_ID},
    {.kind = R_CREATE, .id = A, .token = "t16", .linked = LONG_ID},
    /* Rolling upgrade: a session as an older version wrote it (a hash,
     * without the fields added since), read, linked to and stepped; the
     * commit writes it packed. */
    {.kind = R_RAW, .id = LEGACY_HSET},
    {.kind = R_GET, .id = OLD},
    {.kind = R_CREATE, .id = "conv-new", .token = "t17", .linked = OLD},
    {.kind = R_RELEASE, .id = "conv-new", .token = "t17"},
    {.kind = R_BEGIN,
     .id = OLD,
     .token = "t18",
     .states = SEC,
     .counter = FLOW_COUNTER_VERIFY},
    {.kind = R_COMMIT,
     .id = OLD,
     .token = "t18",
     .customer = "C-7",
     .state = FLOW_STATE_COMPLETED,
     .lockout = FLOW_LOCKOUT_CLEAR},
    {.kind = R_GET, .id = OLD},
};
#define WALK_STEPS ((int)(sizeof walk / sizeof walk[0]))

/* What a step left: its answer and whether its conversation is locked. */
typedef struct {
  store_result res;
  bool locked;
} outcome;

static void setup_step(const req *r) {
  if (r->kind == R_RAW) {
    freeReplyObject(raw(r->id, prefix));
  } else if (r->kind == R_PUT) {
    flow_handoff h = {.verified = true, .created_ms = 1700000000000LL};
    snprintf(h.customer_id, sizeof h.customer_id, "C-9");
    snprintf(h.customer_name, sizeof h.customer_name, "Ann");
    snprintf(h.channel, sizeof h.channel, "web");
    char err[STORE_ERR_MAX];
    store_handoff_limits lim = {.ttl_seconds = 600, .max_live = 100};
    store_put_result put;
    int wait;
    assert_int_equal(store_handoff_put(r->id, &h, r->line, NULL, &lim, &put,
                                       &wait, err, sizeof err),
                     STORE_OK);
    assert_int_equal(put, STORE_PUT_ISSUED);
  }
}

static void assert_same(int step, const outcome *s, const outcome *a) {
  if (s->res.status != a->res.status || strcmp(s->res.err, a->res.err) != 0)
    fail_msg("step %d: blocking %s '%s', loop %s '%s'", step,
             store_status_name(s->res.status), s->res.err,
             store_status_name(a->res.status), a->res.err);
  if (memcmp(&s->res.session, &a->res.session, sizeof s->res.session) != 0 ||
      memcmp(&s->res.link, &a->res.link, sizeof s->res.link) != 0 ||
      memcmp(&s->res.handoff, &a->res.handoff, sizeof s->res.handoff) != 0)
    fail_msg("step %d: the records differ", step);
  if (s->res.customer_locked != a->res.customer_locked ||
      s->res.limit != a->res.limit || s->res.dropped != a->res.dropped ||
      s->res.lockout_level != a->res.lockout_level ||
      s->res.taken != a->res.taken || s->locked != a->locked)
    fail_msg("step %d: the flags differ", step);
}

static void test_same_answers(void **state) {
  (void)state;
  use_prefix("a", redis_port, TIMEOUT_MS, TIMEOUT_MS);
  loop_begin();
  static outcome sync_out[WALK_STEPS], loop_out[WALK_STEPS];
  for (int i = 0; i < WALK_STEPS; i++) {
    const req *r = &walk[i];
    use_prefix("s", redis_port, TIMEOUT_MS, TIMEOUT_MS);
    setup_step(r);
    run_sync(r, &sync_out[i].res);
    sync_out[i].locked = lock_exists(r->id ? r->id : "-");
    use_prefix("a", redis_port, TIMEOUT_MS, TIMEOUT_MS);
    setup_step(r);
    run_async(r, &loop_out[i].res);
    /* A release a reader started (begin on an unreadable record) goes
     * before the ping's answer. */
    req ping = {.kind = R_PING};
    store_result ignored;
    run_async(&ping, &ignored);
    loop_out[i].locked = lock_exists(r->id ? r->id : "-");
    assert_same(i, &sync_out[i], &loop_out[i]);
  }
  loop_end();
  /* The walk reached the answers it was written for. */
  assert_int_equal(sync_out[3].res.status, STORE_EXISTS);
  assert_true(sync_out[4].res.link.found);
  assert_int_equal(sync_out[6].res.session.identify_attempts, 1);
  assert_int_equal(sync_out[7].res.status, STORE_BUSY);
  assert_int_equal(sync_out[8].res.status, STORE_LOCK_LOST);
  assert_int_equal(sync_out[15].res.lockout_level, 1);
  assert_true(sync_out[16].res.customer_locked);
  assert_int_equal(sync_out[17].res.status, STORE_CUSTOMER_LOCKED);
  assert_true(sync_out[17].locked);
  assert_false(sync_out[18].locked);
  assert_int_equal(sync_out[20].res.status, STORE_WRONG_STATE);
  assert_int_equal(sync_out[21].res.status, STORE_NOT_FOUND);
  assert_int_equal(sync_out[26].res.status, STORE_CORRUPT);
  assert_int_equal(sync_out[30].res.status, STORE_CORRUPT);
  assert_false(sync_out[30].locked);
  assert_int_equal(sync_out[32].res.status, STORE_CORRUPT);
  assert_int_equal(sync_out[34].res.taken, STORE_HANDOFF_NO_MATCH);
  assert_int_equal(sync_out[35].res.taken, STORE_HANDOFF_REDEEMED);
  assert_string_equal(sync_out[35].res.handoff.customer_id, "C-9");
  assert_int_equal(sync_out[39].res.status, STORE_DELETED);
  assert_int_equal(sync_out[40].res.status, STORE_UNAVAILABLE);
  assert_int_equal(sync_out[41].res.status, STORE_UNAVAILABLE);
  /* The session written as a hash was read, linked and stepped... */
  for (int i = 43; i <= 48; i++)
    assert_int_equal(loop_out[i].res.status, STORE_OK);
  assert_string_equal(loop_out[43].res.session.customer_name, "Ann");
  assert_string_equal(loop_out[43].res.session.channel, "voice");
  assert_true(loop_out[44].res.link.found);
  assert_string_equal(loop_out[44].res.link.session.customer_id, "C-7");
  assert_int_equal(loop_out[46].res.session.verify_attempts, 1);
  assert_int_equal(loop_out[46].res.session.identify_attempts, 1);
  assert_int_equal(loop_out[48].res.session.state, FLOW_STATE_COMPLETED);
  /* ...and is packed now (the prefix is the loop side's). */
  redisReply *t = raw("TYPE %ssession:" OLD, prefix);
  assert_string_equal(t->str, "string");
  freeReplyObject(t);
}

/* ---------------------------------------------------------------------
 * Outages.
 * ------------------------------------------------------------------- */

static store_status ping_async(char *err, size_t err_len) {
  req ping = {.kind = R_PING};
  store_result res;
  store_status st = run_async(&ping, &res);
  snprintf(err, err_len, "%s", res.err);
  return st;
}

/* Creates of ids "<tag>-0" ... */
#define BATCH 6
static void create_batch(req *r, char (*ids)[32], const char *tag) {
  for (int i = 0; i < BATCH; i++) {
    snprintf(ids[i], sizeof ids[i], "%s-%d", tag, i);
    r[i] = (req){.kind = R_CREATE, .id = ids[i], .token = "tok"};
  }
}

/* On the loop: kill Redis, then (before the loop has seen the close) hand
 * the batch to the connection it does not know is dead yet. */
static void kill_then_issue(void *arg) {
  redis_test_stop(redis_pid);
  redis_pid = -1;
  issue_on_loop(arg);
}

/* Redis killed and started again within the grace (connectTimeoutMs):
 * every operation issued meanwhile waits for the new connection and
 * succeeds, each run once: those handed to the dead connection were never
 * written (the close is read before anything is written) and are sent
 * again on the new one. */
static void test_restart_within_grace(void **state) {
  (void)state;
  char err[STORE_ERR_MAX], ids[BATCH][32];
  use_prefix("r", redis_port, 10000, 2000);
  loop_begin();
  assert_int_equal(ping_async(err, sizeof err), STORE_OK);
  req r[BATCH];
  slot s[BATCH];
  create_batch(r, ids, "restart");
  for (int i = 0; i < BATCH; i++)
    slot_init(&s[i]);
  issue_batch b = {r, s, BATCH};
  on_loop(kill_then_issue, &b);
  redisFree(raw_ctx);
  raw_ctx = NULL;
  redis_pid = redis_test_start(redis_port);
  assert_true(redis_pid > 0);
  wait_n(s, BATCH);
  for (int i = 0; i < BATCH; i++) {
    if (s[i].res.status != STORE_OK)
      fail_msg("%s: %s (%s)", ids[i], store_status_name(s[i].res.status),
               s[i].res.err);
    assert_true(lock_exists(ids[i]));
  }
  loop_end();
}

/* Nothing listens: an operation waits out the grace and fails; later ones
 * fail at once (another message) while a reconnect goes on in the
 * background, which finds Redis once it is there. */
static void test_down_past_grace(void **state) {
  (void)state;
  char err[STORE_ERR_MAX];
  int port = redis_test_free_port();
  use_prefix("d", port, 300, 300);
  loop_begin();
  assert_int_equal(ping_async(err, sizeof err), STORE_UNAVAILABLE);
  assert_true(strncmp(err, "redis unavailable: redis connect", 32) == 0);
  /* The wait budget is spent: later ones fail at once. */
  assert_int_equal(ping_async(err, sizeof err), STORE_UNAVAILABLE);
  assert_string_equal(err, "redis unavailable (reconnecting)");
  pid_t pid = redis_test_start(port);
  assert_true(pid > 0);
  store_status st = STORE_UNAVAILABLE;
  for (int i = 0; i < 200 && st != STORE_OK; i++) {
    st = ping_async(err, sizeof err);
    if (st != STORE_OK)
      redis_test_sleep_ms(50);
  }
  assert_int_equal(st, STORE_OK);
  loop_end();
  redis_test_stop(pid);
}

/* Ping until the (re)made connection answers (a bounded wait for the
 * background reconnect; not a measurement). */
static void ping_until_ok(void) {
  char err[STORE_ERR_MAX];
  store_status st = STORE_UNAVAILABLE;
  for (int i = 0; i < 200 && st != STORE_OK; i++) {
    st = ping_async(err, sizeof err);
    if (st != STORE_OK)
      redis_test_sleep_ms(50);
  }
  if (st != STORE_OK)
    fail_msg("no connection: %s", err);
}

/* A session "<id>" awaiting its identifier, written straight to Redis. */
static void put_session(const char *tag, const char *id) {
  use_prefix(tag, redis_port, TIMEOUT_MS, TIMEOUT_MS);
  req r[] = {{.kind = R_CREATE, .id = id, .token = "put"},
             {.kind = R_COMMIT, .id = id, .token = "put", .customer = ""}};
  store_result res;
  for (int i = 0; i < 2; i++) {
    run_sync(&r[i], &res);
    assert_int_equal(res.status, STORE_OK);
  }
  store_thread_cleanup();
}

static long long attempts(const char *id) {
  redisReply *r = raw("GET %ssession:%s", prefix, id);
  flow_session s;
  char err[STORE_ERR_MAX];
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  assert_true(store_session_unpack(r->str, r->len, &s, err, sizeof err));
  freeReplyObject(r);
  return s.identify_attempts;
}

/* A begin (it counts an identify attempt) written whole, whose reply is
 * lost with its connection (CUT) or never comes (HOLD, past the command
 * timeout; a get is written behind it): it is sent again on the next
 * connection with the same idempotency key and answered as the first copy
 * was (OK, the lock its own), and it ran once: one attempt counted. Without
 * the key the copy would find its own lock (busy) or count twice. */
static void written_then_lost(const char *tag, relay_mode mode) {
  put_session(tag, "lost-1");
  assert_true(relay_start(redis_port));
  use_prefix(tag, relay.port, 300, 300);
  wait_budget_ms = 5000;
  loop_begin();
  ping_until_ok();
  atomic_store(&relay.mode, mode);
  req r[] = {{.kind = R_BEGIN,
              .id = "lost-1",
              .token = "t",
              .states = ALL_STATES,
              .counter = FLOW_COUNTER_IDENTIFY},
             {.kind = R_GET, .id = "lost-1"}};
  slot s[2];
  int n = mode == RELAY_HOLD_ONCE ? 2 : 1;
  run_async_n(r, s, n);
  for (int i = 0; i < n; i++)
    if (s[i].res.status != STORE_OK)
      fail_msg("op %d: %s (%s)", i, store_status_name(s[i].res.status),
               s[i].res.err);
  assert_int_equal(s[0].res.session.identify_attempts, 1);
  assert_true(atomic_load(&relay.swallowed) >= 1);
  assert_true(lock_exists("lost-1"));
  assert_int_equal(attempts("lost-1"), 1);
  wait_budget_ms = 0;
  loop_end();
  relay_stop();
}

static void test_written_then_cut(void **state) {
  (void)state;
  written_then_lost("cut", RELAY_CUT_ONCE);
}

static void test_written_then_timed_out(void **state) {
  (void)state;
  written_then_lost("held", RELAY_HOLD_ONCE);
}

/* The blocking twin (the offload thread's connection): a begin whose reply
 * the relay loses with the connection is sent again on a new connection
 * with the same idempotency key and answered as the first copy was. */
static void test_blocking_written_then_cut(void **state) {
  (void)state;
  put_session("bcut", "lost-2");
  assert_true(relay_start(redis_port));
  use_prefix("bcut", relay.port, 300, 300);
  req ping = {.kind = R_PING};
  store_result res;
  run_sync(&ping, &res);
  assert_int_equal(res.status, STORE_OK);
  atomic_store(&relay.mode, RELAY_CUT_ONCE);
  req begin = {.kind = R_BEGIN,
               .id = "lost-2",
               .token = "t",
               .states = ALL_STATES,
               .counter = FLOW_COUNTER_IDENTIFY};
  run_sync(&begin, &res);
  if (res.status != STORE_OK)
    fail_msg("%s (%s)", store_status_name(res.status), res.err);
  assert_int_equal(atomic_load(&relay.swallowed), 1);
  assert_int_equal(res.session.identify_attempts, 1);
  assert_int_equal(attempts("lost-2"), 1);
  store_thread_cleanup();
  relay_stop();
}

/* ---------------------------------------------------------------------
 * Sentinel: a stand-in sentinel (redis_stand_ins.h) names the node to use;
 * a node is made a replica (of a port where nothing listens) or a master
 * with REPLICAOF.
 * ------------------------------------------------------------------- */

/* Run a command on the node at `port` (its own short connection). */
static redisReply *node_command(int port, const char *fmt, ...) {
  redisContext *c = redisConnect("127.0.0.1", port);
  assert_true(c && !c->err);
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  redisFree(c);
  assert_non_null(r);
  assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
  return r;
}

static void make_replica(int port) {
  freeReplyObject(
      node_command(port, "REPLICAOF 127.0.0.1 %d", redis_test_free_port()));
}

static void make_master(int port) {
  freeReplyObject(node_command(port, "REPLICAOF NO ONE"));
}

static bool lock_on(int port, const char *id) {
  redisReply *r = node_command(port, "EXISTS %slock:%s", prefix, id);
  bool found = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
  freeReplyObject(r);
  return found;
}

/* The stand-in sentinel first names a replica: the handshake's ROLE
 * refuses it and the operation waits (neither sent there nor failed)
 * while the sentinel is asked again; once it names the master the
 * operation runs there. Then a failover: the master turns replica
 * (READONLY to the next script, which did not run: the connection is
 * dropped and the script waits) and the sentinel names the promoted
 * node, where the script runs once. */
static void test_sentinel_master_only(void **state) {
  (void)state;
  int other_port = redis_test_free_port();
  pid_t other = redis_test_start(other_port);
  assert_true(other > 0);
  make_replica(other_port);
  assert_true(sentinel_start(other_port));
  use_prefix("sent", redis_port, 300, 1000);
  store_config c = config_for(redis_port, 300, 1000);
  c.sentinel_count = 1;
  snprintf(c.sentinels[0].host, sizeof c.sentinels[0].host, "127.0.0.1");
  c.sentinels[0].port = sentinel.port;
  snprintf(c.master_name, sizeof c.master_name, "m");
  c.failover_wait_ms = 20000;
  store_init(&c);
  wait_budget_ms = 20000;
  loop_begin();

  req r[] = {{.kind = R_CREATE, .id = "sent-1", .token = "t"},
             {.kind = R_CREATE, .id = "sent-2", .token = "t"}};
  slot s[2];
  issue_n(&r[0], &s[0], 1);
  for (int i = 0; i < 200 && atomic_load(&sentinel.asks) < 3; i++)
    redis_test_sleep_ms(20);
  assert_true(atomic_load(&sentinel.asks) >= 3);
  assert_int_equal(sem_trywait(&s[0].sem), -1); /* still waiting */
  atomic_store(&sentinel.answer, redis_port);
  wait_n(&s[0], 1);
  assert_int_equal(s[0].res.status, STORE_OK);
  assert_true(lock_on(redis_port, "sent-1"));
  assert_false(lock_on(other_port, "sent-1"));

  make_master(other_port);
  make_replica(redis_port);
  atomic_store(&sentinel.answer, other_port);
  run_async_n(&r[1], &s[1], 1);
  make_master(redis_port);
  assert_int_equal(s[1].res.status, STORE_OK);
  assert_true(lock_on(other_port, "sent-2"));
  assert_false(lock_on(redis_port, "sent-2"));
  char err[STORE_ERR_MAX];
  assert_int_equal(ping_async(err, sizeof err), STORE_OK);
  wait_budget_ms = 0;
  loop_end();
  sentinel_stop();
  redis_test_stop(other);
}

/* ---------------------------------------------------------------------
 * Detach.
 * ------------------------------------------------------------------- */

typedef struct {
  const req *r;
  slot *s;
  int n;
  bool all_done; /* every callback came before detach returned */
} detach_case;

static void issue_then_detach(void *arg) {
  detach_case *d = arg;
  for (int i = 0; i < d->n; i++)
    issue(&d->r[i], &d->s[i]);
  store_async_detach();
  d->all_done = true;
  for (int i = 0; i < d->n; i++)
    d->all_done = d->all_done && d->s[i].calls == 1;
}

static void detach_with_pending(const char *tag) {
  char ids[BATCH][32];
  req r[BATCH];
  slot s[BATCH];
  create_batch(r, ids, tag);
  for (int i = 0; i < BATCH; i++)
    slot_init(&s[i]);
  detach_case d = {r, s, BATCH, false};
  on_loop(issue_then_detach, &d);
  assert_true(d.all_done);
  wait_n(s, BATCH);
  for (int i = 0; i < BATCH; i++)
    assert_int_equal(s[i].res.status, STORE_UNAVAILABLE);
}

/* Operations in flight (Redis up) or waiting (Redis down) when the loop
 * detaches all complete, as unavailable, before detach returns. */
static void test_detach_completes_pending(void **state) {
  (void)state;
  char err[STORE_ERR_MAX];
  use_prefix("x", redis_port, 300, 300);
  loop_begin();
  assert_int_equal(ping_async(err, sizeof err), STORE_OK);
  detach_with_pending("up");
  loop_end();

  use_prefix("y", redis_test_free_port(), 5000, 300);
  loop_begin();
  detach_with_pending("down");
  loop_end();
}

/* ---------------------------------------------------------------------
 * Main.
 * ------------------------------------------------------------------- */

static int group_setup(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  redis_port = redis_test_free_port();
  redis_pid = redis_port > 0 ? redis_test_start(redis_port) : -1;
  if (redis_pid <= 0) {
    fprintf(stderr, "test_store_async: cannot start redis-server\n");
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  redisFree(raw_ctx);
  raw_ctx = NULL;
  store_thread_cleanup();
  redis_test_stop(redis_pid);
  return 0;
}

static int test_setup(void **state) {
  (void)state;
  test_serial++;
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_same_answers, test_setup),
      cmocka_unit_test_setup(test_down_past_grace, test_setup),
      cmocka_unit_test_setup(test_detach_completes_pending, test_setup),
      cmocka_unit_test_setup(test_written_then_cut, test_setup),
      cmocka_unit_test_setup(test_written_then_timed_out, test_setup),
      cmocka_unit_test_setup(test_blocking_written_then_cut, test_setup),
      cmocka_unit_test_setup(test_sentinel_master_only, test_setup),
      cmocka_unit_test_setup(test_restart_within_grace, test_setup),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
