/*
 * store_async_conn: one hiredis async context per loop thread, driven by
 * the loop (one fd watcher whose events follow hiredis's addRead/delRead/
 * addWrite/delWrite hooks, and timers), with the queue of operations
 * waiting for it. See store_async_conn.h and the connection contract in
 * store_async.h.
 *
 * Phases: CONNECTING (a connection is being made; operations wait, each
 * until its give_up time, and all of them until the grace, the wait
 * budget, runs out), READY (operations are sent), DOWN (the grace ran
 * out: operations fail at once while a reconnect is tried every
 * RETRY_MS). A connection is ready once AUTH, SELECT, ROLE (Sentinel) and
 * the SCRIPT LOADs pipelined after the connect have all answered well.
 *
 * Sent again: an op whose connection broke under it, written or not, or
 * whose reply the command timeout gave up on, waits for the next
 * connection and is sent again there (until its give_up time, at most
 * MAX_TRIES times). That is safe because every script that writes is
 * applied once per idempotency token and answers a copy with the first
 * answer (store_script.c), and the others (GET, RELEASE, PING) may run
 * again.
 */
#include "store_async_conn.h"

#include "store_internal.h"
#include "store_reply.h"

#include <hiredis/async.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

/* Between reconnect attempts once one has failed. */
#define RETRY_MS 100
/* A bound on the copies of one op, whatever its give_up time. */
#define MAX_TRIES 16

typedef enum { PHASE_CONNECTING = 0, PHASE_READY, PHASE_DOWN } sa_phase;

typedef struct {
  loop *l;
  unsigned long id; /* this attach (a resolver's answer names it) */
  sa_phase phase;
  bool detaching;
  redisAsyncContext *ac; /* NULL: none */
  bool closing;          /* ac is being torn down (or failed) */
  loop_io io;
  int setup_left; /* handshake replies still awaited */
  char why[STORE_ERR_MAX];
  loop_timer retry_timer, grace_timer, setup_timer, cmd_timer, defer_timer,
      wait_timer;
  sa_op_list waiting, inflight, finished;
  char sha[STORE_SCRIPT_COUNT][41];
  bool resolving; /* a Sentinel resolver thread is running */
  pthread_t resolver;
} sa_state;

static _Thread_local sa_state *sa;
static atomic_ulong attach_serial;

/* ---------------------------------------------------------------------
 * Completing operations.
 * ------------------------------------------------------------------- */

void sa_complete(sa_op *op) {
  store_done_fn done = op->done;
  void *ctx = op->ctx;
  store_result *out = op->out;
  free(op); /* out is the caller's whenever done is set */
  if (done)
    done(ctx, out);
}

static void set_result(sa_op *op, store_status st, const char *msg) {
  op->out->status = st;
  snprintf(op->out->err, sizeof op->out->err, "%s", msg);
}

/* Fail op now (from the loop, never inside its operation function). */
static void fail_now(sa_op *op, const char *msg) {
  set_result(op, STORE_UNAVAILABLE, msg);
  sa_complete(op);
}

static void run_finished(void *arg) {
  sa_state *s = arg;
  sa_op *op;
  while ((op = sa_list_pop(&s->finished)))
    sa_complete(op);
}

void sa_fail_later(sa_op *op, store_status st, const char *msg) {
  set_result(op, st, msg);
  if (!sa) { /* not attached on this thread: there is no loop to use */
    sa_complete(op);
    return;
  }
  sa_list_push(&sa->finished, op);
  loop_timer_start(sa->l, &sa->defer_timer, 0, run_finished, sa);
}

/* Release the lock a begin op took on a record it could not read. */
static void let_go(const sa_op *begin) {
  store_call c;
  store_call_let_go(&c, begin->argv + SA_SCRIPT_PREFIX, begin->nkeys);
  sa_op *op = sa_op_new(&c, 0, NULL, NULL, NULL);
  if (op) /* out of memory: the lock expires by itself */
    sa_issue(op);
}

/* Read the reply r of an op that was answered with anything but an error
 * reply into op->out. */
static void read_reply(sa_op *op, const redisReply *r) {
  store_result *out = op->out;
  if (op->kind == SA_OP_PING) {
    bool sentinel = store_cfg()->sentinel_count > 0;
    bool ok =
        sentinel ? store_reply_is_master(r)
                 : r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    out->status = ok ? STORE_OK : STORE_UNAVAILABLE;
    if (!ok && sentinel) {
      snprintf(out->err, sizeof out->err,
               "redis node is not a master (failover?)");
      sa_drop(out->err);
    } else if (!ok) {
      snprintf(out->err, sizeof out->err, "redis: unexpected PING reply");
    }
    return;
  }
  if (!store_reply_is_script(r)) {
    out->status = STORE_UNAVAILABLE;
    snprintf(out->err, sizeof out->err, "redis: unexpected script reply");
    return;
  }
  bool release = false;
  store_reply_read(op->read, op->want_link, r, out, &release);
  if (release)
    let_go(op);
}

/* ---------------------------------------------------------------------
 * Sending.
 * ------------------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *priv);

/* Hand one formatted command to hiredis with callback fn(priv); returns
 * its length, or 0 when hiredis refused it or memory ran out. */
static size_t send_argv(int argc, const char **argv, const size_t *lens,
                        redisCallbackFn *fn, void *priv) {
  char small[4096], *cmd = small;
  size_t len = store_call_format(argc, argv, lens, small, sizeof small);
  if (len > sizeof small) {
    cmd = malloc(len);
    if (!cmd)
      return 0;
    store_call_format(argc, argv, lens, cmd, len);
  }
  int rc = redisAsyncFormattedCommand(sa->ac, fn, priv, cmd, len);
  if (cmd != small)
    free(cmd);
  return rc == REDIS_OK ? len : 0;
}

static void on_cmd_timeout(void *arg);

/* Arm the command timer for the oldest command in flight (or stop it). */
static void arm_cmd_timer(void) {
  if (!sa->inflight.head) {
    loop_timer_stop(sa->l, &sa->cmd_timer);
    return;
  }
  loop_timer_start(sa->l, &sa->cmd_timer,
                   sa->inflight.head->deadline - loop_now_ms(), on_cmd_timeout,
                   sa);
}

/* Send op on the ready connection. */
static void send_op(sa_op *op) {
  if (op->kind == SA_OP_SCRIPT) {
    op->argv[0] = op->evaled ? "EVAL" : "EVALSHA";
    op->argv[1] =
        op->evaled ? store_script_source(op->script) : sa->sha[op->script];
    op->lens[0] = strlen(op->argv[0]);
    op->lens[1] = strlen(op->argv[1]);
  }
  if (send_argv(op->argc, op->argv, op->lens, on_reply, op) == 0) {
    /* Out of memory (or a context being torn down): may be inside the
     * operation's own call, so reported from the loop. */
    sa_fail_later(op, STORE_UNAVAILABLE,
                  "redis: the command could not be queued");
    return;
  }
  op->tries++;
  op->timed_out = false;
  op->deadline = loop_now_ms() + store_cfg()->command_timeout_ms;
  bool first = sa->inflight.head == NULL;
  sa_list_push(&sa->inflight, op);
  if (first)
    arm_cmd_timer();
}

static void on_wait_over(void *arg);

/* Arm the wait timer for the earliest give_up among the waiting ops, or
 * stop it when none waits. */
static void arm_wait_timer(void) {
  int64_t first = INT64_MAX;
  for (const sa_op *o = sa->waiting.head; o; o = o->next)
    if (o->give_up < first)
      first = o->give_up;
  if (first == INT64_MAX)
    loop_timer_stop(sa->l, &sa->wait_timer);
  else
    loop_timer_start(sa->l, &sa->wait_timer, first - loop_now_ms(),
                     on_wait_over, sa);
}

/* Queue op for the next connection; the wait timer fires at its give_up
 * time if that is the earliest (no scan when the timer is due sooner). */
static void wait_for_connection(sa_op *op) {
  sa_list_push(&sa->waiting, op);
  if (!loop_timer_armed(&sa->wait_timer) || sa->wait_timer.due_ms > op->give_up)
    loop_timer_start(sa->l, &sa->wait_timer, op->give_up - loop_now_ms(),
                     on_wait_over, sa);
}

/* The earliest give_up has come: the ops whose time is over fail (their
 * step's budget is spent), the others wait on. */
static void on_wait_over(void *arg) {
  sa_state *s = arg;
  int64_t now = loop_now_ms();
  sa_op_list keep = {0}, over = {0};
  sa_op *op;
  while ((op = sa_list_pop(&s->waiting)))
    sa_list_push(op->give_up <= now ? &over : &keep, op);
  s->waiting = keep;
  arm_wait_timer();
  char msg[STORE_ERR_MAX];
  snprintf(msg, sizeof msg, "redis unavailable: %.180s",
           s->why[0] ? s->why : "no connection");
  while ((op = sa_list_pop(&over)))
    fail_now(op, msg);
}

void sa_issue(sa_op *op) {
  if (!sa)
    sa_fail_later(op, STORE_UNAVAILABLE,
                  "store_async: not attached on this thread");
  else if (sa->detaching)
    sa_fail_later(op, STORE_UNAVAILABLE, "store_async: detached");
  else if (sa->phase == PHASE_DOWN)
    sa_fail_later(op, STORE_UNAVAILABLE, "redis unavailable (reconnecting)");
  else if (sa->phase == PHASE_READY)
    send_op(op);
  else if (op->give_up <= loop_now_ms())
    sa_fail_later(op, STORE_UNAVAILABLE, "redis unavailable (reconnecting)");
  else
    wait_for_connection(op);
}

/* An op whose copy got no answer (its connection broke, written or not,
 * or timed out) is sent again: at once when a connection is ready, else
 * when the next one is. It fails instead when its time is over, it was
 * sent MAX_TRIES times, or there will be no next connection. */
static void requeue(sa_op *op, const char *msg) {
  if (sa->detaching || sa->phase == PHASE_DOWN || op->tries >= MAX_TRIES ||
      op->give_up <= loop_now_ms())
    fail_now(op, msg);
  else if (sa->phase == PHASE_READY)
    send_op(op);
  else
    wait_for_connection(op);
}

/* ---------------------------------------------------------------------
 * Losing and remaking the connection.
 * ------------------------------------------------------------------- */

static void on_retry(void *arg);
static void on_grace_over(void *arg);

/* How long operations wait for a connection being (re)made before Redis
 * counts as down (new operations then fail at once). */
static int grace_ms(void) {
  return store_wait_ms();
}

/* The current connection is going (or its attempt failed): once per
 * connection, stop its timers and plan the next attempt, at once when it
 * had been ready (the grace starts now), after RETRY_MS otherwise. */
static void connection_lost(void) {
  if (sa->closing)
    return;
  sa->closing = true;
  loop_timer_stop(sa->l, &sa->setup_timer);
  loop_timer_stop(sa->l, &sa->cmd_timer);
  if (sa->detaching)
    return;
  bool was_ready = sa->phase == PHASE_READY;
  if (was_ready) {
    sa->phase = PHASE_CONNECTING;
    loop_timer_start(sa->l, &sa->grace_timer, grace_ms(), on_grace_over, sa);
  }
  loop_timer_start(sa->l, &sa->retry_timer, was_ready ? 0 : RETRY_MS, on_retry,
                   sa);
}

/* An attempt that never got a context (resolver or connect failed). */
static void attempt_failed(void) {
  if (!sa->detaching)
    loop_timer_start(sa->l, &sa->retry_timer, RETRY_MS, on_retry, sa);
}

/* hiredis is freeing the context (or will, right after this callback):
 * forget it and stop watching its fd. */
static void context_gone(sa_state *s) {
  if (!s->ac)
    return;
  loop_io_stop(s->l, &s->io);
  s->ac = NULL;
  connection_lost();
}

void sa_drop(const char *why) {
  if (!sa || !sa->ac || sa->closing)
    return;
  snprintf(sa->why, sizeof sa->why, "%s", why);
  connection_lost();
  /* Inside a hiredis callback the free waits for it to return. */
  redisAsyncFree(sa->ac);
}

/* A command in flight got no answer within the command timeout: it fails
 * and the connection is remade (see on_reply for the others). */
static void on_cmd_timeout(void *arg) {
  sa_state *s = arg;
  sa_op *head = s->inflight.head;
  if (!head)
    return;
  if (head->deadline > loop_now_ms()) {
    arm_cmd_timer();
    return;
  }
  head->timed_out = true;
  sa_drop("redis: no answer within the command timeout");
}

static void on_grace_over(void *arg) {
  sa_state *s = arg;
  if (s->phase != PHASE_CONNECTING)
    return;
  s->phase = PHASE_DOWN;
  char msg[STORE_ERR_MAX];
  snprintf(msg, sizeof msg, "redis unavailable: %.180s",
           s->why[0] ? s->why : "no connection");
  sa_op *op;
  loop_timer_stop(s->l, &s->wait_timer);
  while ((op = sa_list_pop(&s->waiting)))
    fail_now(op, msg);
}

/* A connection broke under op (reply NULL), or the command timeout gave
 * up on it: sent again on the next connection (requeue). A script that
 * writes may have run: its copy carries the same idempotency key and gets
 * the first one's answer. */
static void op_lost(sa_op *op) {
  connection_lost();
  requeue(op, op->timed_out ? "redis: no answer within the command timeout"
                            : "redis: connection lost");
}

/* An error reply to op. NOSCRIPT: sent again as EVAL. An error saying the
 * node is unusable: the connection is remade and op (which did not run)
 * waits for it. Any other: op fails. */
static void op_error(sa_op *op, const redisReply *r) {
  char msg[STORE_ERR_MAX];
  snprintf(msg, sizeof msg, "redis: %s", r->str);
  if (op->kind == SA_OP_SCRIPT && !op->evaled &&
      strncmp(r->str, "NOSCRIPT", 8) == 0) {
    op->evaled = true;
    send_op(op);
  } else if (store_reply_fatal(r->str)) {
    sa_drop(msg);
    requeue(op, msg);
  } else {
    fail_now(op, msg);
  }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv) {
  sa_op *op = priv;
  (void)ac;
  sa_list_remove(&sa->inflight, op);
  if (!reply) {
    op_lost(op);
    return;
  }
  const redisReply *r = reply;
  if (!sa->closing)
    arm_cmd_timer();
  if (r->type == REDIS_REPLY_ERROR) {
    op_error(op, r);
    return;
  }
  read_reply(op, r);
  sa_complete(op);
}

/* ---------------------------------------------------------------------
 * The handshake: AUTH, SELECT, ROLE (Sentinel), SCRIPT LOAD each script,
 * pipelined once connected.
 * ------------------------------------------------------------------- */

enum { STEP_AUTH = -3, STEP_SELECT = -2, STEP_ROLE = -1 };
/* What each handshake reply answers: a step above, or a script's index. */
static const int steps[3 + STORE_SCRIPT_COUNT] = {
    STEP_AUTH, STEP_SELECT, STEP_ROLE, 0, 1, 2, 3, 4, 5, 6, 7, 8};
_Static_assert(STORE_SCRIPT_COUNT == 9, "one steps[] entry per script");

static void became_ready(void) {
  loop_timer_stop(sa->l, &sa->setup_timer);
  loop_timer_stop(sa->l, &sa->grace_timer);
  loop_timer_stop(sa->l, &sa->wait_timer);
  sa->phase = PHASE_READY;
  sa->why[0] = '\0';
  sa_op_list waiting = sa->waiting;
  sa->waiting = (sa_op_list){0};
  sa_op *op;
  while ((op = sa_list_pop(&waiting)))
    send_op(op);
}

/* Whether handshake reply r to `step` is what it must be (a script's SHA
 * kept); false with why filled otherwise. */
static bool step_ok(int step, const redisReply *r) {
  static const char *const names[] = {"AUTH", "SELECT", "ROLE"};
  const char *name = step < 0 ? names[step - STEP_AUTH] : "SCRIPT LOAD";
  bool ok = r->type != REDIS_REPLY_ERROR;
  if (ok && step == STEP_ROLE)
    ok = store_reply_is_master(r);
  if (ok && step >= 0) {
    ok = r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok)
      memcpy(sa->sha[step], r->str, 41);
  }
  if (!ok && step == STEP_ROLE && r->type != REDIS_REPLY_ERROR)
    snprintf(sa->why, sizeof sa->why, "redis node is not a master (failover?)");
  else if (!ok)
    snprintf(sa->why, sizeof sa->why, "redis %s: %s", name,
             r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
  return ok;
}

static void on_setup(redisAsyncContext *ac, void *reply, void *priv) {
  (void)ac;
  if (!reply || sa->closing)
    return; /* the connection is going: connection_lost() has it */
  if (!step_ok(*(const int *)priv, reply)) {
    char why[STORE_ERR_MAX];
    snprintf(why, sizeof why, "%s", sa->why);
    sa_drop(why);
  } else if (--sa->setup_left == 0) {
    became_ready();
  }
}

/* Queue one handshake command; false when it could not be queued. */
static bool setup_command(int argc, const char **argv, int step_index) {
  size_t lens[3];
  for (int i = 0; i < argc; i++)
    lens[i] = strlen(argv[i]);
  if (send_argv(argc, argv, lens, on_setup, (void *)&steps[step_index]) == 0)
    return false;
  sa->setup_left++;
  return true;
}

static void on_connect(const redisAsyncContext *ac, int status) {
  if (status != REDIS_OK) {
    snprintf(sa->why, sizeof sa->why, "redis connect: %s",
             ac->errstr ? ac->errstr : "failed");
    context_gone(sa); /* hiredis frees it when this returns */
    return;
  }
  const store_config *cfg = store_cfg();
  char db[16];
  snprintf(db, sizeof db, "%d", cfg->db);
  bool ok = true;
  if (cfg->password[0])
    ok = setup_command(2, (const char *[]){"AUTH", cfg->password}, 0);
  if (ok && cfg->db != 0)
    ok = setup_command(2, (const char *[]){"SELECT", db}, 1);
  if (ok && cfg->sentinel_count > 0)
    ok = setup_command(1, (const char *[]){"ROLE"}, 2);
  for (int i = 0; ok && i < STORE_SCRIPT_COUNT; i++)
    ok =
        setup_command(3,
                      (const char *[]){"SCRIPT", "LOAD",
                                       store_script_source((store_script_id)i)},
                      3 + i);
  if (!ok)
    sa_drop("redis: out of memory");
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  (void)ac;
  (void)status;
  context_gone(sa);
}

/* ---------------------------------------------------------------------
 * The loop adapter: hiredis's event hooks on one fd watcher.
 * ------------------------------------------------------------------- */

static void ev_set(void *priv, uint32_t add, uint32_t del) {
  sa_state *s = priv;
  if (s->io.active)
    loop_io_update(s->l, &s->io, (s->io.events | add) & ~del);
}

static void ev_add_read(void *priv) {
  ev_set(priv, EPOLLIN, 0);
}
static void ev_del_read(void *priv) {
  ev_set(priv, 0, EPOLLIN);
}
static void ev_add_write(void *priv) {
  ev_set(priv, EPOLLOUT, 0);
}
static void ev_del_write(void *priv) {
  ev_set(priv, 0, EPOLLOUT);
}
static void ev_cleanup(void *priv) {
  context_gone(priv);
}

/* Reads before writes: a peer that closed is noticed before anything is
 * written to it (so a command waiting to be written is sent again on the
 * next connection instead of being lost on this one). */
static void on_io(void *priv, uint32_t events) {
  sa_state *s = priv;
  redisAsyncContext *ac = s->ac;
  if (!ac)
    return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    redisAsyncHandleRead(ac);
    if (s->ac != ac)
      return; /* freed */
  }
  if (events & EPOLLOUT)
    redisAsyncHandleWrite(ac);
}

static void on_setup_timeout(void *arg) {
  (void)arg;
  sa_drop("redis: no connection within the connect timeout");
}

/* Start a non-blocking connect to host:port. */
static void open_context(const char *host, int port) {
  redisAsyncContext *ac = redisAsyncConnect(host, port);
  if (!ac || ac->err) {
    snprintf(sa->why, sizeof sa->why, "redis connect %s:%d: %s", host, port,
             ac ? ac->errstr : "out of memory");
    if (ac)
      redisAsyncFree(ac);
    attempt_failed();
    return;
  }
  if (!loop_io_start(sa->l, &sa->io, ac->c.fd, 0, on_io, sa)) {
    snprintf(sa->why, sizeof sa->why, "redis: cannot watch the socket");
    redisAsyncFree(ac);
    attempt_failed();
    return;
  }
  sa->ac = ac;
  sa->closing = false;
  sa->setup_left = 0;
  ac->ev.data = sa;
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  redisAsyncSetConnectCallback(ac, on_connect); /* asks for write events */
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  const store_config *cfg = store_cfg();
  loop_timer_start(sa->l, &sa->setup_timer,
                   (int64_t)cfg->connect_timeout_ms + cfg->command_timeout_ms,
                   on_setup_timeout, sa);
}

/* ---------------------------------------------------------------------
 * Sentinel: the master's address is asked off the loop, by a resolver
 * thread using the blocking sentinel.c, and posted back.
 * ------------------------------------------------------------------- */

typedef struct {
  loop_task task; /* first: the task is the job */
  loop *l;
  unsigned long id;
  bool ok;
  char host[256];
  int port;
  char err[STORE_ERR_MAX];
} resolve_job;

/* On the loop: use the answer if the attach that asked is still here. The
 * job is freed either way. */
static void resolve_done(loop_task *task) {
  resolve_job *job = (resolve_job *)task;
  if (sa && sa->id == job->id && sa->resolving) {
    pthread_join(sa->resolver, NULL); /* it has posted: about to end */
    sa->resolving = false;
    if (job->ok) {
      open_context(job->host, job->port);
    } else {
      snprintf(sa->why, sizeof sa->why, "%s", job->err);
      attempt_failed();
    }
  }
  free(job);
}

static void *resolve_main(void *arg) {
  resolve_job *job = arg;
  const store_config *cfg = store_cfg();
  job->ok = sentinel_find_master(cfg->sentinels, cfg->sentinel_count,
                                 cfg->master_name, cfg->connect_timeout_ms,
                                 job->host, sizeof job->host, &job->port,
                                 job->err, sizeof job->err);
  loop_post(job->l, &job->task);
  return NULL;
}

static void resolve_start(void) {
  resolve_job *job = calloc(1, sizeof *job);
  if (!job) {
    snprintf(sa->why, sizeof sa->why, "store_async: out of memory");
    attempt_failed();
    return;
  }
  job->task.run = resolve_done;
  job->l = sa->l;
  job->id = sa->id;
  if (pthread_create(&sa->resolver, NULL, resolve_main, job) != 0) {
    free(job);
    snprintf(sa->why, sizeof sa->why, "store_async: cannot start a thread");
    attempt_failed();
    return;
  }
  sa->resolving = true;
}

/* ---------------------------------------------------------------------
 * Attempts, attach and detach.
 * ------------------------------------------------------------------- */

static void on_retry(void *arg) {
  sa_state *s = arg;
  if (s->ac || s->resolving) { /* still going: try again later */
    loop_timer_start(s->l, &s->retry_timer, RETRY_MS, on_retry, s);
    return;
  }
  const store_config *cfg = store_cfg();
  if (cfg->sentinel_count > 0)
    resolve_start();
  else
    open_context(cfg->host, cfg->port);
}

bool sa_attach(loop *l, char *err, size_t err_len) {
  if (sa)
    return true;
  sa_state *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, err_len, "store_async: out of memory");
    return false;
  }
  s->l = l;
  s->id = atomic_fetch_add(&attach_serial, 1) + 1;
  s->phase = PHASE_CONNECTING;
  sa = s;
  loop_timer_start(l, &s->grace_timer, grace_ms(), on_grace_over, s);
  on_retry(s);
  return true;
}

void sa_detach(void) {
  sa_state *s = sa;
  if (!s)
    return;
  s->detaching = true;
  loop_timer_stop(s->l, &s->retry_timer);
  loop_timer_stop(s->l, &s->grace_timer);
  loop_timer_stop(s->l, &s->setup_timer);
  loop_timer_stop(s->l, &s->cmd_timer);
  loop_timer_stop(s->l, &s->wait_timer);
  if (s->resolving) {
    pthread_join(s->resolver, NULL); /* its answer finds nobody */
    s->resolving = false;
  }
  if (s->ac) {
    connection_lost();
    redisAsyncFree(s->ac); /* in flight: completed with NULL replies */
  }
  /* Callbacks may issue more: those fail into `finished` too. */
  while (s->waiting.head || s->finished.head) {
    sa_op *op;
    while ((op = sa_list_pop(&s->waiting)))
      fail_now(op, "store_async: detached");
    run_finished(s);
  }
  loop_timer_stop(s->l, &s->defer_timer);
  sa = NULL;
  free(s);
}
