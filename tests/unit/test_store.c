/*
 * store: against a private redis-server on a loopback port chosen at run
 * time. The group setup starts it and the group teardown kills it (a
 * crashed test run takes it along through PR_SET_PDEATHSIG). Each test
 * uses its own key prefix. The outage test runs last: it stops, kills and
 * restarts the server on the same port.
 *
 * Checks go through the store's API and, where the API cannot show it
 * (TTLs, the lock key, counters), through a separate raw connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis_server.h"
#include "store.h"
#include "store_codec.h"

#define SESSION_TTL 300
#define LOCK_MS 5000
#define LOCKOUT_MAX 3
#define LOCKOUT_WINDOW 600
#define TIMEOUT_MS 200

/* Which limit held a verify (store_begin); these tests set none. */
static store_limit lim;
static pid_t redis_pid = -1;
static int redis_port;
static redisContext *raw_ctx;
static char prefix[64];
static int test_serial;

/* ---------------------------------------------------------------------
 * The private redis-server.
 * ------------------------------------------------------------------- */

static int64_t now_ms(void) {
  return redis_test_now_ms();
}

static void sleep_ms(int ms) {
  redis_test_sleep_ms(ms);
}

static int free_port(void) {
  return redis_test_free_port();
}

/* Start redis-server on `port` and wait until it answers PING. */
static bool start_redis(int port) {
  redis_pid = redis_test_start(port);
  return redis_pid > 0;
}

static void stop_redis(void) {
  redis_test_stop(redis_pid);
  redis_pid = -1;
}

static void raw_disconnect(void) {
  redisFree(raw_ctx);
  raw_ctx = NULL;
}

static int group_setup(void **state) {
  (void)state;
  /* As in the service: a peer that hung up must not kill the process. */
  signal(SIGPIPE, SIG_IGN);
  redis_port = free_port();
  if (redis_port <= 0 || !start_redis(redis_port)) {
    fprintf(stderr, "test_store: cannot start redis-server\n");
    stop_redis();
    return -1;
  }
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  raw_disconnect();
  store_thread_cleanup();
  stop_redis();
  return 0;
}

static store_config test_config(void) {
  store_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.host, sizeof c.host, "127.0.0.1");
  c.port = redis_port;
  snprintf(c.key_prefix, sizeof c.key_prefix, "%s", prefix);
  c.session_ttl_seconds = SESSION_TTL;
  c.lock_ms = LOCK_MS;
  c.connect_timeout_ms = TIMEOUT_MS;
  c.command_timeout_ms = TIMEOUT_MS;
  c.lockout_max_failures = LOCKOUT_MAX;
  c.lockout_window_seconds = LOCKOUT_WINDOW;
  return c;
}

/* Per test: a fresh key prefix, so tests never see each other's keys. */
static int test_setup(void **state) {
  (void)state;
  snprintf(prefix, sizeof prefix, "authflow-test:%d:%d:", (int)getpid(),
           ++test_serial);
  store_config c = test_config();
  store_init(&c);
  return 0;
}

/* ---------------------------------------------------------------------
 * Raw access, for what the API does not show.
 * ------------------------------------------------------------------- */

/* Send a command on the test's own connection (made on first use). */
static redisReply *vraw(const char *fmt, va_list ap) {
  if (!raw_ctx) {
    raw_ctx = redisConnect("127.0.0.1", redis_port);
    assert_non_null(raw_ctx);
    assert_int_equal(raw_ctx->err, 0);
  }
  redisReply *r = redisvCommand(raw_ctx, fmt, ap);
  assert_non_null(r);
  return r;
}

static long long raw_int(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = vraw(fmt, ap);
  va_end(ap);
  assert_int_equal(r->type, REDIS_REPLY_INTEGER);
  long long v = r->integer;
  freeReplyObject(r);
  return v;
}

/* A string reply copied into out; "(nil)" for a missing key. */
static const char *raw_str(char *out, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = vraw(fmt, ap);
  va_end(ap);
  if (r->type == REDIS_REPLY_NIL)
    snprintf(out, len, "(nil)");
  else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
    snprintf(out, len, "%s", r->str);
  else
    fail_msg("unexpected raw reply type %d", r->type);
  freeReplyObject(r);
  return out;
}

static void raw_ok(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = vraw(fmt, ap);
  va_end(ap);
  if (r->type == REDIS_REPLY_ERROR)
    fail_msg("raw command failed: %s", r->str);
  freeReplyObject(r);
}

static const char *key(char *out, size_t len, const char *kind,
                       const char *id) {
  snprintf(out, len, "%s%s:%s", prefix, kind, id);
  return out;
}

/* ---------------------------------------------------------------------
 * Sessions.
 * ------------------------------------------------------------------- */

/* A session with every field set to something other than its zero. */
static void full_session(const char *id, flow_session *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->conversation_id, sizeof s->conversation_id, "%s", id);
  snprintf(s->service_line, sizeof s->service_line, "billing");
  snprintf(s->language, sizeof s->language, "es-ES");
  s->state = FLOW_STATE_AWAITING_SECURITY;
  s->outcome = FLOW_OUTCOME_VERIFY_FAILED;
  s->last_result = FLOW_RESULT_WRONG_ANSWER;
  s->method = FLOW_METHOD_IDENTIFIER;
  s->identified = true;
  s->verified = true;
  snprintf(s->customer_id, sizeof s->customer_id, "C-1001");
  snprintf(s->customer_name, sizeof s->customer_name,
           "Jos\xc3\xa9 M\xc3\xbcller \xea\xb9\x80\xeb\xaf\xbc\xec\xa4\x80");
  s->identify_attempts = 2;
  s->verify_attempts = 1;
  snprintf(s->ani_masked, sizeof s->ani_masked, "*******0116");
  s->created_ms = 1700000000123LL;
  s->updated_ms = 1700000004567LL;
}

static void assert_session_equal(const flow_session *a, const flow_session *b) {
  assert_string_equal(a->conversation_id, b->conversation_id);
  assert_string_equal(a->service_line, b->service_line);
  assert_string_equal(a->language, b->language);
  assert_int_equal(a->state, b->state);
  assert_int_equal(a->outcome, b->outcome);
  assert_int_equal(a->last_result, b->last_result);
  assert_int_equal(a->method, b->method);
  assert_int_equal(a->identified, b->identified);
  assert_int_equal(a->verified, b->verified);
  assert_string_equal(a->customer_id, b->customer_id);
  assert_string_equal(a->customer_name, b->customer_name);
  assert_int_equal(a->identify_attempts, b->identify_attempts);
  assert_int_equal(a->verify_attempts, b->verify_attempts);
  assert_string_equal(a->ani_masked, b->ani_masked);
  assert_true(a->created_ms == b->created_ms);
  assert_true(a->updated_ms == b->updated_ms);
}

/* Create and commit a session: awaiting the identifier, no attempts used,
 * or, with `customer`, identified and awaiting security. */
static void put_session(const char *id, const char *customer,
                        flow_session *out) {
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX] = "";
  flow_session existing;
  store_new_token(token, sizeof token);
  store_status st = store_create(id, token, &existing, err, sizeof err);
  if (st != STORE_OK)
    fail_msg("create %s: %s (%s)", id, store_status_name(st), err);
  full_session(id, out);
  out->identify_attempts = 0;
  out->verify_attempts = 0;
  out->outcome = FLOW_OUTCOME_PENDING;
  out->last_result = FLOW_RESULT_NONE;
  out->verified = false;
  if (customer) {
    snprintf(out->customer_id, sizeof out->customer_id, "%s", customer);
  } else {
    out->state = FLOW_STATE_AWAITING_IDENTIFIER;
    out->identified = false;
    out->method = FLOW_METHOD_NONE;
    out->customer_id[0] = '\0';
    out->customer_name[0] = '\0';
  }
  st = store_commit(out, token, FLOW_LOCKOUT_NONE, false, err, sizeof err);
  if (st != STORE_OK)
    fail_msg("commit %s: %s (%s)", id, store_status_name(st), err);
}

#define ALL_STATES                                                             \
  ((1u << FLOW_STATE_AWAITING_IDENTIFIER) |                                    \
   (1u << FLOW_STATE_AWAITING_SECURITY) | (1u << FLOW_STATE_COMPLETED))

static bool lock_exists(const char *id) {
  char k[256];
  return raw_int("EXISTS %s", key(k, sizeof k, "lock", id)) == 1;
}

/* The session stored under `id`, read raw (GET) and unpacked: a check
 * that it is one packed string, whatever the API makes of it. */
static flow_session stored(const char *id) {
  char k[256], err[STORE_ERR_MAX] = "";
  flow_session s;
  redisReply *r = NULL;
  key(k, sizeof k, "session", id);
  const char *argv[] = {"GET", k};
  r = redisCommandArgv(raw_ctx, 2, argv, NULL);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_STRING);
  if (!store_session_unpack(r->str, r->len, &s, err, sizeof err))
    fail_msg("stored %s: %s", id, err);
  freeReplyObject(r);
  return s;
}

/* Write *s under `id` as the previous version did: a hash of one field
 * per member (store_session_encode), with the session TTL. */
static void put_legacy_session(const char *id, const flow_session *s) {
  char k[256], err[STORE_ERR_MAX] = "";
  const char *argv[2 + 2 * STORE_SESSION_FIELDS];
  store_session_texts nums;
  key(k, sizeof k, "session", id);
  argv[0] = "HSET";
  argv[1] = k;
  if (!store_session_encode(s, argv + 2, &nums, err, sizeof err))
    fail_msg("encode %s: %s", id, err);
  raw_int("EXISTS %s", k); /* connects the raw context */
  redisReply *r = redisCommandArgv(raw_ctx, (int)(sizeof argv / sizeof argv[0]),
                                   argv, NULL);
  assert_non_null(r);
  assert_int_equal(r->type, REDIS_REPLY_INTEGER);
  freeReplyObject(r);
  raw_ok("EXPIRE %s %d", k, SESSION_TTL);
}

/* The session put_session() writes, as the previous version's hash. */
static void put_legacy(const char *id, flow_session *out) {
  full_session(id, out);
  out->identify_attempts = 0;
  out->verify_attempts = 0;
  out->outcome = FLOW_OUTCOME_PENDING;
  out->last_result = FLOW_RESULT_NONE;
  out->verified = false;
  out->state = FLOW_STATE_AWAITING_IDENTIFIER;
  out->identified = false;
  out->method = FLOW_METHOD_NONE;
  out->customer_id[0] = '\0';
  out->customer_name[0] = '\0';
  put_legacy_session(id, out);
}

/* ---------------------------------------------------------------------
 * Tests.
 * ------------------------------------------------------------------- */

static void test_token(void **state) {
  (void)state;
  char a[STORE_TOKEN_MAX + 1], b[STORE_TOKEN_MAX + 1];
  store_new_token(a, sizeof a);
  store_new_token(b, sizeof b);
  assert_int_equal(strlen(a), 32);
  assert_int_equal(strspn(a, "0123456789abcdef"), 32);
  assert_string_not_equal(a, b);
  char small[5] = "xxxx";
  store_new_token(small, sizeof small);
  assert_int_equal(strlen(small), 4);
  store_new_token(small, 0); /* must not write */
  assert_int_equal(strlen(small), 4);
}

static void test_status_names(void **state) {
  (void)state;
  assert_string_equal(store_status_name(STORE_OK), "ok");
  assert_string_equal(store_status_name(STORE_CUSTOMER_LOCKED),
                      "customer_locked");
  assert_string_equal(store_status_name(STORE_CORRUPT), "corrupt");
  assert_string_equal(store_status_name((store_status)99), "unknown");
}

static void test_ping(void **state) {
  (void)state;
  char err[STORE_ERR_MAX] = "";
  assert_int_equal(store_ping(err, sizeof err), STORE_OK);
}

/* create: OK with the lock, BUSY for a racer; after commit, EXISTS with
 * every field as written (UTF-8 included) and no lock taken. */
static void test_create_and_round_trip(void **state) {
  (void)state;
  char t1[STORE_TOKEN_MAX + 1], t2[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session existing, written, got;
  store_new_token(t1, sizeof t1);
  store_new_token(t2, sizeof t2);

  assert_int_equal(store_create("conv-1", t1, &existing, err, sizeof err),
                   STORE_OK);
  assert_true(lock_exists("conv-1"));
  assert_int_equal(store_create("conv-1", t2, &existing, err, sizeof err),
                   STORE_BUSY);
  assert_int_equal(store_get("conv-1", &got, err, sizeof err), STORE_NOT_FOUND);

  full_session("conv-1", &written);
  assert_int_equal(
      store_commit(&written, t1, FLOW_LOCKOUT_NONE, false, err, sizeof err),
      STORE_OK);
  assert_false(lock_exists("conv-1"));

  assert_int_equal(store_create("conv-1", t2, &existing, err, sizeof err),
                   STORE_EXISTS);
  assert_session_equal(&existing, &written);
  assert_false(lock_exists("conv-1"));

  assert_int_equal(store_get("conv-1", &got, err, sizeof err), STORE_OK);
  assert_session_equal(&got, &written);

  /* One packed string, its header first, the enums under their wire
   * names. */
  char k[256], v[1024];
  assert_string_equal(
      raw_str(v, sizeof v, "TYPE %s", key(k, sizeof k, "session", "conv-1")),
      "string");
  raw_str(v, sizeof v, "GET %s", k);
  assert_int_equal(strncmp(v, "1|awaiting_security|2|1|0:|6:C-1001|", 36), 0);
  assert_non_null(strstr(v, "|verify_failed|"));
  flow_session raw = stored("conv-1");
  assert_session_equal(&raw, &written);
}

static void test_ttls(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX], k[256];
  flow_session s, out;
  bool locked;
  put_session("conv-ttl", NULL, &s);
  long long ttl = raw_int("TTL %s", key(k, sizeof k, "session", "conv-ttl"));
  assert_true(ttl > 0 && ttl <= SESSION_TTL);

  store_new_token(token, sizeof token);
  assert_int_equal(store_begin("conv-ttl", token, ALL_STATES, 0, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_OK);
  long long pttl = raw_int("PTTL %s", key(k, sizeof k, "lock", "conv-ttl"));
  assert_true(pttl > 0 && pttl <= LOCK_MS);
  char v[64];
  assert_string_equal(raw_str(v, sizeof v, "GET %s", k), token);

  /* commit refreshes the TTL */
  raw_ok("EXPIRE %s 5", key(k, sizeof k, "session", "conv-ttl"));
  assert_int_equal(
      store_commit(&out, token, FLOW_LOCKOUT_NONE, false, err, sizeof err),
      STORE_OK);
  ttl = raw_int("TTL %s", k);
  assert_true(ttl > 5 && ttl <= SESSION_TTL);
}

/* begin reserves the attempt in Redis, before the caller does anything. */
static void test_begin_counts_attempts(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX], k[256];
  flow_session s, out;
  bool locked = true;
  put_session("conv-2", NULL, &s);
  key(k, sizeof k, "session", "conv-2");

  store_new_token(token, sizeof token);
  assert_int_equal(store_begin("conv-2", token,
                               1u << FLOW_STATE_AWAITING_IDENTIFIER, 1, &out,
                               &locked, &lim, err, sizeof err),
                   STORE_OK);
  assert_false(locked);
  assert_int_equal(out.identify_attempts, 1);
  assert_int_equal(out.verify_attempts, 0);
  assert_int_equal(stored("conv-2").identify_attempts, 1);
  assert_session_equal(&out, (flow_session[]){stored("conv-2")});
  /* the rewrite kept the session's TTL */
  long long ttl = raw_int("TTL %s", k);
  assert_true(ttl > 0 && ttl <= SESSION_TTL);
  assert_int_equal(store_release("conv-2", token, err, sizeof err), STORE_OK);

  store_new_token(token, sizeof token);
  assert_int_equal(store_begin("conv-2", token, ALL_STATES, 2, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_OK);
  assert_int_equal(out.identify_attempts, 1);
  assert_int_equal(out.verify_attempts, 1);
  assert_int_equal(stored("conv-2").verify_attempts, 1);
  assert_int_equal(stored("conv-2").identify_attempts, 1);
  assert_int_equal(store_release("conv-2", token, err, sizeof err), STORE_OK);

  /* counter 0 (opt-out) counts nothing */
  store_new_token(token, sizeof token);
  assert_int_equal(store_begin("conv-2", token, ALL_STATES, 0, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_OK);
  assert_int_equal(out.identify_attempts, 1);
  assert_int_equal(out.verify_attempts, 1);
  assert_int_equal(store_release("conv-2", token, err, sizeof err), STORE_OK);
}

static void test_begin_wrong_state(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session s, out;
  bool locked;
  put_session("conv-3", NULL, &s);
  store_new_token(token, sizeof token);
  assert_int_equal(store_begin("conv-3", token,
                               1u << FLOW_STATE_AWAITING_SECURITY, 1, &out,
                               &locked, &lim, err, sizeof err),
                   STORE_WRONG_STATE);
  assert_int_equal(out.state, FLOW_STATE_AWAITING_IDENTIFIER);
  assert_int_equal(out.identify_attempts, 0);
  assert_int_equal(stored("conv-3").identify_attempts, 0);
  assert_false(lock_exists("conv-3"));
  /* nothing allowed at all is also just a wrong state */
  assert_int_equal(
      store_begin("conv-3", token, 0, 0, &out, &locked, &lim, err, sizeof err),
      STORE_WRONG_STATE);
  assert_false(lock_exists("conv-3"));
}

static void test_begin_busy_and_not_found(void **state) {
  (void)state;
  char a[STORE_TOKEN_MAX + 1], b[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session s, out;
  bool locked;
  put_session("conv-4", NULL, &s);
  store_new_token(a, sizeof a);
  store_new_token(b, sizeof b);
  assert_int_equal(store_begin("conv-4", a, ALL_STATES, 1, &out, &locked, &lim,
                               err, sizeof err),
                   STORE_OK);
  assert_int_equal(store_begin("conv-4", b, ALL_STATES, 1, &out, &locked, &lim,
                               err, sizeof err),
                   STORE_BUSY);
  /* the loser counted nothing */
  assert_int_equal(store_get("conv-4", &out, err, sizeof err), STORE_OK);
  assert_int_equal(out.identify_attempts, 1);
  assert_int_equal(store_begin("no-such-conv", b, ALL_STATES, 1, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_NOT_FOUND);
  assert_false(lock_exists("no-such-conv"));
}

/* commit with a token that is not the lock's: LOCK_LOST, nothing written,
 * the holder's lock untouched. The holder's commit releases the lock. */
static void test_commit_lock(void **state) {
  (void)state;
  char a[STORE_TOKEN_MAX + 1], b[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX],
      k[256], v[64];
  flow_session s, out, changed, got;
  bool locked;
  put_session("conv-5", NULL, &s);
  store_new_token(a, sizeof a);
  store_new_token(b, sizeof b);
  assert_int_equal(store_begin("conv-5", a, ALL_STATES, 0, &out, &locked, &lim,
                               err, sizeof err),
                   STORE_OK);
  changed = out;
  changed.state = FLOW_STATE_COMPLETED;
  changed.updated_ms += 1000;

  err[0] = '\0';
  assert_int_equal(
      store_commit(&changed, b, FLOW_LOCKOUT_NONE, false, err, sizeof err),
      STORE_LOCK_LOST);
  assert_true(strlen(err) > 0);
  assert_int_equal(store_get("conv-5", &got, err, sizeof err), STORE_OK);
  assert_session_equal(&got, &out);
  assert_string_equal(
      raw_str(v, sizeof v, "GET %s", key(k, sizeof k, "lock", "conv-5")), a);

  /* commit replaces the whole value: a field appended by a newer writer
   * (read and ignored) is gone */
  raw_ok("APPEND %s |stale", key(k, sizeof k, "session", "conv-5"));
  assert_int_equal(store_get("conv-5", &got, err, sizeof err), STORE_OK);
  assert_session_equal(&got, &out);
  assert_int_equal(
      store_commit(&changed, a, FLOW_LOCKOUT_NONE, false, err, sizeof err),
      STORE_OK);
  char whole[1024];
  assert_null(strstr(raw_str(whole, sizeof whole, "GET %s", k), "stale"));
  assert_false(lock_exists("conv-5"));
  assert_int_equal(store_get("conv-5", &got, err, sizeof err), STORE_OK);
  assert_session_equal(&got, &changed);
  /* a second commit with the spent token finds no lock */
  assert_int_equal(
      store_commit(&changed, a, FLOW_LOCKOUT_NONE, false, err, sizeof err),
      STORE_LOCK_LOST);
  /* and the next step gets in */
  assert_int_equal(store_begin("conv-5", b, ALL_STATES, 0, &out, &locked, &lim,
                               err, sizeof err),
                   STORE_OK);
}

static void test_release_own_token_only(void **state) {
  (void)state;
  char a[STORE_TOKEN_MAX + 1], b[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session s, out;
  bool locked;
  put_session("conv-6", NULL, &s);
  store_new_token(a, sizeof a);
  store_new_token(b, sizeof b);
  assert_int_equal(store_begin("conv-6", a, ALL_STATES, 0, &out, &locked, &lim,
                               err, sizeof err),
                   STORE_OK);
  assert_int_equal(store_release("conv-6", b, err, sizeof err),
                   STORE_LOCK_LOST);
  assert_true(lock_exists("conv-6"));
  assert_int_equal(store_release("conv-6", a, err, sizeof err), STORE_OK);
  assert_false(lock_exists("conv-6"));
  assert_int_equal(store_release("conv-6", a, err, sizeof err),
                   STORE_LOCK_LOST);
}

static void test_delete(void **state) {
  (void)state;
  char a[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session s, out;
  bool locked;
  put_session("conv-7", NULL, &s);
  store_new_token(a, sizeof a);
  assert_int_equal(store_begin("conv-7", a, ALL_STATES, 0, &out, &locked, &lim,
                               err, sizeof err),
                   STORE_OK);
  assert_int_equal(store_delete("conv-7", err, sizeof err), STORE_OK);
  assert_false(lock_exists("conv-7"));
  assert_int_equal(store_get("conv-7", &out, err, sizeof err), STORE_NOT_FOUND);
  assert_int_equal(store_delete("conv-7", err, sizeof err), STORE_NOT_FOUND);
  assert_int_equal(store_begin("conv-7", a, ALL_STATES, 0, &out, &locked, &lim,
                               err, sizeof err),
                   STORE_NOT_FOUND);
}

/* One security attempt on `id`: begin (reporting the lockout) and commit
 * with `effect`. */
static bool security_step(const char *id, flow_lockout_effect effect) {
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session out;
  bool locked = false;
  store_new_token(token, sizeof token);
  store_status st = store_begin(id, token, ALL_STATES, 2, &out, &locked, &lim,
                                err, sizeof err);
  if (st != STORE_OK)
    fail_msg("begin: %s (%s)", store_status_name(st), err);
  st = store_commit(&out, token, effect, false, err, sizeof err);
  if (st != STORE_OK)
    fail_msg("commit: %s (%s)", store_status_name(st), err);
  return locked;
}

/* Failures across calls lock the customer out; the window starts at the
 * first failure and is not pushed back by later ones. */
static void test_lockout(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX], k[256], v[32];
  flow_session s, out, got;
  bool locked = false;
  put_session("call-1", "C-77", &s);
  key(k, sizeof k, "lockout", "C-77");

  assert_false(security_step("call-1", FLOW_LOCKOUT_RECORD_FAILURE));
  assert_string_equal(raw_str(v, sizeof v, "GET %s", k), "1");
  long long ttl = raw_int("TTL %s", k);
  assert_true(ttl > 0 && ttl <= LOCKOUT_WINDOW);

  /* Pretend the window is nearly over: a later failure must not restart
   * it. */
  raw_ok("PEXPIRE %s 100000", k);
  assert_false(security_step("call-1", FLOW_LOCKOUT_RECORD_FAILURE));
  assert_string_equal(raw_str(v, sizeof v, "GET %s", k), "2");
  long long pttl = raw_int("PTTL %s", k);
  assert_true(pttl > 0 && pttl <= 100000);

  /* A second call for the same customer shares the counter. */
  put_session("call-2", "C-77", &s);
  assert_false(security_step("call-2", FLOW_LOCKOUT_RECORD_FAILURE));
  assert_string_equal(raw_str(v, sizeof v, "GET %s", k), "3");

  /* At the threshold begin reports it... */
  store_new_token(token, sizeof token);
  assert_int_equal(store_begin("call-1", token, ALL_STATES, 0, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_OK);
  assert_true(locked);
  /* ...and a commit that checks writes nothing and keeps the lock. */
  flow_session changed = out;
  changed.state = FLOW_STATE_COMPLETED;
  changed.verified = false;
  assert_int_equal(
      store_commit(&changed, token, FLOW_LOCKOUT_NONE, true, err, sizeof err),
      STORE_CUSTOMER_LOCKED);
  assert_int_equal(store_get("call-1", &got, err, sizeof err), STORE_OK);
  assert_session_equal(&got, &out);
  assert_true(lock_exists("call-1"));
  assert_string_equal(raw_str(v, sizeof v, "GET %s", k), "3");

  /* CLEAR (a verification succeeded) forgets the failures. */
  assert_int_equal(
      store_commit(&changed, token, FLOW_LOCKOUT_CLEAR, false, err, sizeof err),
      STORE_OK);
  assert_int_equal(raw_int("EXISTS %s", k), 0);
  assert_false(lock_exists("call-1"));
  assert_false(security_step("call-2", FLOW_LOCKOUT_NONE));

  /* Other customers are not affected; no customer means no counter. */
  assert_int_equal(raw_int("EXISTS %s", key(k, sizeof k, "lockout", "")), 0);
}

/* A record that does not decode is STORE_CORRUPT, from every reader, and
 * begin leaves no lock behind. One row per way to spoil a field. */
typedef struct {
  const char *field;
  const char *value; /* NULL: delete the field */
} corrupt_row;

static const corrupt_row corrupt_rows[] = {
    {"state", "bogus"},
    {"state", ""},
    {"state", "AWAITING_IDENTIFIER"},
    {"outcome", "pending "},
    {"lastResult", "MATCH"},
    {"method", "sms"},
    {"identified", "2"},
    {"verified", "yes"},
    {"verified", ""},
    {"identifyAttempts", "-1"},
    {"identifyAttempts", "1x"},
    {"identifyAttempts", "abc"},
    {"verifyAttempts", "+1"},
    {"verifyAttempts", " 1"},
    {"verifyAttempts", "99999999999"},
    {"createdMs", "99999999999999999999"},
    {"updatedMs", "0x10"},
    {"language", "en-US-much-too-long"},
    {"aniMasked", "*************************0116"},
    {"customerName", /* 129 bytes: one more than fits */
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"state", NULL},
    {"updatedMs", NULL},
    {"customerId", NULL},
};

/* Every reader refuses the record: get and create say CORRUPT, begin too
 * and leaves no lock (whether its script or the decoder found it). */
static void assert_corrupt_everywhere(const char *id, const char *what) {
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX] = "";
  flow_session out;
  bool locked;
  store_status st = store_get(id, &out, err, sizeof err);
  if (st != STORE_CORRUPT)
    fail_msg("%s: get gave %s", what, store_status_name(st));
  assert_true(strlen(err) > 0);
  store_new_token(token, sizeof token);
  st = store_begin(id, token, ALL_STATES, 1, &out, &locked, &lim, err,
                   sizeof err);
  if (st != STORE_CORRUPT)
    fail_msg("%s: begin gave %s", what, store_status_name(st));
  if (lock_exists(id))
    fail_msg("%s: begin left the lock held", what);
  st = store_create(id, token, &out, err, sizeof err);
  if (st != STORE_CORRUPT)
    fail_msg("%s: create gave %s", what, store_status_name(st));
}

/* A session hash written by the previous version, one field broken. */
static void test_corrupt_legacy_table(void **state) {
  (void)state;
  char id[32], k[256], what[128];
  flow_session s;
  for (size_t i = 0; i < sizeof corrupt_rows / sizeof corrupt_rows[0]; i++) {
    const corrupt_row *row = &corrupt_rows[i];
    snprintf(id, sizeof id, "corrupt-%zu", i);
    put_legacy(id, &s);
    key(k, sizeof k, "session", id);
    if (row->value)
      raw_ok("HSET %s %s %s", k, row->field, row->value);
    else
      raw_ok("HDEL %s %s", k, row->field);
    snprintf(what, sizeof what, "row %zu %s='%s'", i, row->field,
             row->value ? row->value : "(deleted)");
    assert_corrupt_everywhere(id, what);
  }
}

/* A packed value (see store_codec.h) with `from` replaced by `to` (its
 * first occurrence; from NULL: the whole value is `to`). */
typedef struct {
  const char *from, *to;
} packed_row;

static const packed_row packed_rows[] = {
    {NULL, ""},
    {NULL, "1"},
    {NULL, "x"},
    {"1|awaiting", "2|awaiting"},
    {"1|awaiting", "|awaiting"},
    {"|awaiting_identifier|", "|bogus|"},
    {"|awaiting_identifier|", "||"},
    {"|awaiting_identifier|", "|AWAITING_IDENTIFIER|"},
    {"identifier|0|0|", "identifier|-1|0|"},
    {"identifier|0|0|", "identifier|1x|0|"},
    {"identifier|0|0|", "identifier|0|+1|"},
    {"identifier|0|0|", "identifier|0|99999999999|"},
    {"identifier|0|0|", "identifier|0|"},
    {"identifier|0|0|0:|0:|", "identifier|0|0|0:|999:|"},
    {"identifier|0|0|0:|0:|", "identifier|0|0|0|0:|"},
    {"|pending|", "|pending |"},
    {"|pending|none|", "|pending|MATCH|"},
    {"|none|none|0|0|", "|none|sms|0|0|"},
    {"|none|none|0|0|", "|none|none|2|0|"},
    {"|none|none|0|0|", "|none|none|0|yes|"},
    {"|none|none|0|0|", "|none|none|0||"},
    {"|1700000000123|", "|99999999999999999999|"},
    {"|1700000004567|", "|0x10|"},
    {"5:es-ES", "19:en-US-much-too-long"},
    {"11:*******0116", "29:*************************0116"},
    {"7:billing", "8:billing"},
    {"7:billing", "6:billing"},
    {"7:billing", "7billing"},
    {"7:billing", "x:billing"},
    /* Two fields short: the OTP state alone may be missing (a value
     * packed before one-time codes), aniDigest may not. */
    {"|0|0:|0:|0:|0:", "|0|0:|0:"},
    {"|0|0:|0:|0:", "|0|0:|0:|0:x"},
};

static void test_corrupt_packed_table(void **state) {
  (void)state;
  char id[32], k[256], v[1024], what[160];
  flow_session s;
  for (size_t i = 0; i < sizeof packed_rows / sizeof packed_rows[0]; i++) {
    const packed_row *row = &packed_rows[i];
    snprintf(id, sizeof id, "packed-%zu", i);
    put_session(id, NULL, &s);
    raw_str(v, sizeof v, "GET %s", key(k, sizeof k, "session", id));
    char out[1100];
    if (!row->from) {
      snprintf(out, sizeof out, "%s", row->to);
    } else {
      const char *at = strstr(v, row->from);
      if (!at)
        fail_msg("row %zu: '%s' not in '%s'", i, row->from, v);
      snprintf(out, sizeof out, "%.*s%s%s", (int)(at - v), v, row->to,
               at + strlen(row->from));
    }
    raw_ok("SET %s %s", k, out);
    snprintf(what, sizeof what, "packed row %zu '%.120s'", i, out);
    assert_corrupt_everywhere(id, what);
  }
}

/* A value with a NUL inside would read back shorter than it is. */
static void test_corrupt_embedded_nul(void **state) {
  (void)state;
  char err[STORE_ERR_MAX], k[256], v[1024];
  flow_session s, out;
  put_legacy("conv-nul", &s);
  raw_ok("HSET %s customerName %b", key(k, sizeof k, "session", "conv-nul"),
         "ab\0cd", (size_t)5);
  assert_int_equal(store_get("conv-nul", &out, err, sizeof err), STORE_CORRUPT);
  /* packed: the same length, one byte of the service line a NUL */
  put_session("conv-nul2", NULL, &s);
  raw_str(v, sizeof v, "GET %s", key(k, sizeof k, "session", "conv-nul2"));
  char *at = strstr(v, "7:billing");
  assert_non_null(at);
  at[5] = '\0';
  raw_ok("SET %s %b", k, v, strlen(v) + 1 + strlen(at + 6));
  assert_corrupt_everywhere("conv-nul2", "packed NUL");
}

/* Rolling upgrade: a session the previous version wrote (a hash) is read,
 * linked to and stepped (its attempt counted in the hash), and its commit
 * writes the packed form. */
static void test_legacy_session_steps(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX], k[256], v[64];
  flow_session legacy, out, got;
  flow_link link;
  bool locked = true;
  full_session("conv-old", &legacy);
  legacy.verify_attempts = 0;
  put_legacy_session("conv-old", &legacy);
  key(k, sizeof k, "session", "conv-old");

  assert_int_equal(store_get("conv-old", &got, err, sizeof err), STORE_OK);
  assert_session_equal(&got, &legacy);
  store_new_token(token, sizeof token);
  assert_int_equal(store_create("conv-old", token, &got, err, sizeof err),
                   STORE_EXISTS);
  assert_session_equal(&got, &legacy);
  assert_int_equal(store_create_linked("conv-new", token, "conv-old", &got,
                                       &link, err, sizeof err),
                   STORE_OK);
  assert_true(link.found);
  assert_false(link.customer_locked);
  assert_session_equal(&link.session, &legacy);
  assert_int_equal(store_release("conv-new", token, err, sizeof err), STORE_OK);

  /* a verify attempt: counted in the hash, the lockout reserved */
  assert_int_equal(store_begin("conv-old", token,
                               1u << FLOW_STATE_AWAITING_SECURITY, 2, &out,
                               &locked, &lim, err, sizeof err),
                   STORE_OK);
  assert_false(locked);
  assert_int_equal(out.verify_attempts, 1);
  assert_string_equal(raw_str(v, sizeof v, "TYPE %s", k), "hash");
  assert_string_equal(raw_str(v, sizeof v, "HGET %s verifyAttempts", k), "1");
  char lk[256];
  assert_string_equal(
      raw_str(v, sizeof v, "GET %s", key(lk, sizeof lk, "lockout", "C-1001")),
      "1");

  out.state = FLOW_STATE_COMPLETED;
  out.outcome = FLOW_OUTCOME_VERIFIED;
  out.updated_ms += 1;
  assert_int_equal(
      store_commit(&out, token, FLOW_LOCKOUT_CLEAR, false, err, sizeof err),
      STORE_OK);
  assert_string_equal(raw_str(v, sizeof v, "TYPE %s", k), "string");
  got = stored("conv-old");
  assert_session_equal(&got, &out);
  long long ttl = raw_int("TTL %s", k);
  assert_true(ttl > 0 && ttl <= SESSION_TTL);
  assert_false(lock_exists("conv-old"));
}

/* A key of another type where the session should be. */
static void test_corrupt_wrong_type(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX], k[256];
  flow_session out;
  bool locked;
  raw_ok("RPUSH %s x", key(k, sizeof k, "session", "conv-list"));
  assert_corrupt_everywhere("conv-list", "a list");
  raw_ok("SET %s x", key(k, sizeof k, "session", "conv-str"));
  store_new_token(token, sizeof token);
  assert_int_equal(store_get("conv-str", &out, err, sizeof err), STORE_CORRUPT);
  assert_int_equal(store_create("conv-str", token, &out, err, sizeof err),
                   STORE_CORRUPT);
  assert_int_equal(store_begin("conv-str", token, ALL_STATES, 1, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_CORRUPT);
  assert_false(lock_exists("conv-str"));
}

/* A lockout counter that is not a number: nothing written, no lock left. */
static void test_corrupt_lockout_counter(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX], k[256];
  flow_session s, out, got;
  bool locked;
  put_session("conv-lc", "C-88", &s);
  raw_ok("SET %s abc", key(k, sizeof k, "lockout", "C-88"));
  store_new_token(token, sizeof token);
  assert_int_equal(store_begin("conv-lc", token, ALL_STATES, 2, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_CORRUPT);
  assert_false(lock_exists("conv-lc"));
  assert_int_equal(store_get("conv-lc", &got, err, sizeof err), STORE_OK);
  assert_int_equal(got.verify_attempts, 0);

  /* Through commit: the lock is taken while the counter is still fine. */
  raw_ok("DEL %s", k);
  assert_int_equal(store_begin("conv-lc", token, ALL_STATES, 2, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_OK);
  raw_ok("SET %s abc", k);
  flow_session changed = out;
  changed.state = FLOW_STATE_COMPLETED;
  assert_int_equal(store_commit(&changed, token, FLOW_LOCKOUT_RECORD_FAILURE,
                                false, err, sizeof err),
                   STORE_CORRUPT);
  assert_false(lock_exists("conv-lc"));
  assert_int_equal(store_get("conv-lc", &got, err, sizeof err), STORE_OK);
  assert_session_equal(&got, &out);
}

/* A session the store could not read back is never written. */
static void test_commit_refuses_invalid_session(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session s, out, got;
  bool locked;
  put_session("conv-inv", NULL, &s);
  store_new_token(token, sizeof token);
  assert_int_equal(store_begin("conv-inv", token, ALL_STATES, 0, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_OK);
  flow_session bad = out;
  bad.state = (flow_state)7;
  assert_int_equal(
      store_commit(&bad, token, FLOW_LOCKOUT_NONE, false, err, sizeof err),
      STORE_CORRUPT);
  assert_non_null(strstr(err, "state"));
  assert_false(lock_exists("conv-inv"));
  bad = out;
  bad.verify_attempts = -1;
  assert_int_equal(
      store_commit(&bad, token, FLOW_LOCKOUT_NONE, false, err, sizeof err),
      STORE_CORRUPT);
  assert_int_equal(store_get("conv-inv", &got, err, sizeof err), STORE_OK);
  assert_session_equal(&got, &out);
}

/* Ids that would make a key longer than the store's buffers are refused,
 * never truncated onto another conversation's key. */
static void test_overlong_id(void **state) {
  (void)state;
  char id[400], token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX] = "";
  flow_session out;
  memset(id, 'x', sizeof id - 1);
  id[sizeof id - 1] = '\0';
  store_new_token(token, sizeof token);
  assert_int_equal(store_create(id, token, &out, err, sizeof err),
                   STORE_UNAVAILABLE);
  assert_non_null(strstr(err, "too long"));
}

/* The server forgets its scripts (SCRIPT FLUSH): the next call falls back
 * to EVAL and works. */
static void test_noscript_fallback(void **state) {
  (void)state;
  char err[STORE_ERR_MAX];
  flow_session s, out;
  put_session("conv-ns", NULL, &s);
  raw_ok("SCRIPT FLUSH");
  assert_int_equal(store_get("conv-ns", &out, err, sizeof err), STORE_OK);
  assert_session_equal(&out, &s);
  assert_int_equal(store_delete("conv-ns", err, sizeof err), STORE_OK);
}

static long long connected_clients(void) {
  char info[4096];
  raw_str(info, sizeof info, "INFO clients");
  const char *p = strstr(info, "connected_clients:");
  assert_non_null(p);
  return atoll(p + strlen("connected_clients:"));
}

/* A demoted master answers writes with READONLY: STORE_UNAVAILABLE with
 * the reason, and the connection is dropped so the next call reconnects
 * (to the new master, with Sentinel). */
static void test_readonly_drops_connection(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX], port[16];
  flow_session s, out;
  bool locked;
  put_session("conv-ro", NULL, &s);
  long long before = connected_clients();
  int nowhere = free_port();
  snprintf(port, sizeof port, "%d", nowhere);
  raw_ok("REPLICAOF 127.0.0.1 %s", port);
  store_new_token(token, sizeof token);
  store_status st = store_begin("conv-ro", token, ALL_STATES, 1, &out, &locked,
                                &lim, err, sizeof err);
  raw_ok("REPLICAOF NO ONE");
  assert_int_equal(st, STORE_UNAVAILABLE);
  assert_non_null(strstr(err, "READONLY"));
  long long after = before;
  for (int i = 0; i < 50 && after >= before; i++) {
    sleep_ms(20);
    after = connected_clients();
  }
  assert_int_equal(after, before - 1);
  /* and the store is back at once */
  assert_int_equal(store_begin("conv-ro", token, ALL_STATES, 1, &out, &locked,
                               &lim, err, sizeof err),
                   STORE_OK);
  assert_int_equal(out.identify_attempts, 1);
}

/* Many requests for one session at the same moment: one gets the step,
 * the others are told BUSY. Each thread has its own connection. */
enum { RACERS = 16 };

typedef struct {
  pthread_barrier_t *barrier;
  const char *id;
  bool create;
  store_status result;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session out;
  bool locked;
  store_new_token(token, sizeof token);
  /* connect first, so the race is about the lock, not about connecting */
  store_ping(err, sizeof err);
  pthread_barrier_wait(r->barrier);
  if (r->create)
    r->result = store_create(r->id, token, &out, err, sizeof err);
  else
    r->result = store_begin(r->id, token, ALL_STATES, 1, &out, &locked, &lim,
                            err, sizeof err);
  store_thread_cleanup();
  return NULL;
}

static void run_race(const char *id, bool create) {
  pthread_barrier_t barrier;
  pthread_t threads[RACERS];
  racer racers[RACERS];
  pthread_barrier_init(&barrier, NULL, RACERS);
  for (int i = 0; i < RACERS; i++) {
    racers[i] = (racer){.barrier = &barrier, .id = id, .create = create};
    assert_int_equal(pthread_create(&threads[i], NULL, race, &racers[i]), 0);
  }
  int ok = 0, busy = 0;
  for (int i = 0; i < RACERS; i++) {
    pthread_join(threads[i], NULL);
    ok += racers[i].result == STORE_OK;
    busy += racers[i].result == STORE_BUSY;
  }
  pthread_barrier_destroy(&barrier);
  assert_int_equal(ok, 1);
  assert_int_equal(busy, RACERS - 1);
}

static void test_concurrent_steps(void **state) {
  (void)state;
  flow_session s;
  run_race("conv-race-new", true);
  put_session("conv-race", NULL, &s);
  run_race("conv-race", false);
  /* only the winner's attempt was counted */
  assert_int_equal(stored("conv-race").identify_attempts, 1);
}

/* Call `op` and check it gives STORE_UNAVAILABLE with a reason within
 * `limit_ms`. */
#define ASSERT_UNAVAILABLE_WITHIN(limit_ms, op)                                \
  do {                                                                         \
    err[0] = '\0';                                                             \
    int64_t t0_ = now_ms();                                                    \
    store_status st_ = (op);                                                   \
    int64_t took_ = now_ms() - t0_;                                            \
    if (st_ != STORE_UNAVAILABLE || took_ >= (limit_ms))                       \
      fail_msg("%s: %s after %lld ms (limit %d)", #op, store_status_name(st_), \
               (long long)took_, (limit_ms));                                  \
    assert_true(strlen(err) > 0);                                              \
  } while (0)

/* Redis hangs, then dies, then comes back on the same port: calls wait
 * and retry within the wait budget (here connect_timeout_ms), fail with
 * STORE_UNAVAILABLE once it is spent, fail fast once the outage is older
 * than it, and work again afterwards, with no re-init. Runs last: the
 * restarted server is empty. */
static void test_outage_and_recovery(void **state) {
  (void)state;
  char token[STORE_TOKEN_MAX + 1], err[STORE_ERR_MAX];
  flow_session s, out;
  bool locked;
  put_session("conv-down", NULL, &s);
  raw_disconnect();
  assert_int_equal(store_ping(err, sizeof err), STORE_OK);
  store_new_token(token, sizeof token);

  /* Hung server: the command timeout bounds each try, the wait budget
   * the retries. */
  assert_int_equal(kill(redis_pid, SIGSTOP), 0);
  ASSERT_UNAVAILABLE_WITHIN(4 * TIMEOUT_MS + 200,
                            store_get("conv-down", &out, err, sizeof err));
  /* Right after a failure, a ping does not even try (the backoff). */
  ASSERT_UNAVAILABLE_WITHIN(50, store_ping(err, sizeof err));
  /* Past the budget, a script tries once: one command timeout at most. */
  sleep_ms(TIMEOUT_MS + 50);
  ASSERT_UNAVAILABLE_WITHIN(2 * TIMEOUT_MS + 100,
                            store_begin("conv-down", token, ALL_STATES, 1, &out,
                                        &locked, &lim, err, sizeof err));
  ASSERT_UNAVAILABLE_WITHIN(50,
                            store_begin("conv-down", token, ALL_STATES, 1, &out,
                                        &locked, &lim, err, sizeof err));

  /* Dead server: connection refused, at once. */
  stop_redis();
  sleep_ms(150);
  ASSERT_UNAVAILABLE_WITHIN(200, store_get("conv-down", &out, err, sizeof err));
  ASSERT_UNAVAILABLE_WITHIN(50, store_get("conv-down", &out, err, sizeof err));

  /* Back on the same port: the same thread recovers by itself. */
  assert_true(start_redis(redis_port));
  sleep_ms(150);
  assert_int_equal(store_ping(err, sizeof err), STORE_OK);
  assert_int_equal(store_get("conv-down", &out, err, sizeof err),
                   STORE_NOT_FOUND);
  put_session("conv-up", NULL, &s);
  assert_int_equal(store_get("conv-up", &out, err, sizeof err), STORE_OK);
  assert_session_equal(&out, &s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token),
      cmocka_unit_test(test_status_names),
      cmocka_unit_test_setup(test_ping, test_setup),
      cmocka_unit_test_setup(test_create_and_round_trip, test_setup),
      cmocka_unit_test_setup(test_ttls, test_setup),
      cmocka_unit_test_setup(test_begin_counts_attempts, test_setup),
      cmocka_unit_test_setup(test_begin_wrong_state, test_setup),
      cmocka_unit_test_setup(test_begin_busy_and_not_found, test_setup),
      cmocka_unit_test_setup(test_commit_lock, test_setup),
      cmocka_unit_test_setup(test_release_own_token_only, test_setup),
      cmocka_unit_test_setup(test_delete, test_setup),
      cmocka_unit_test_setup(test_lockout, test_setup),
      cmocka_unit_test_setup(test_corrupt_legacy_table, test_setup),
      cmocka_unit_test_setup(test_corrupt_packed_table, test_setup),
      cmocka_unit_test_setup(test_legacy_session_steps, test_setup),
      cmocka_unit_test_setup(test_corrupt_embedded_nul, test_setup),
      cmocka_unit_test_setup(test_corrupt_wrong_type, test_setup),
      cmocka_unit_test_setup(test_corrupt_lockout_counter, test_setup),
      cmocka_unit_test_setup(test_commit_refuses_invalid_session, test_setup),
      cmocka_unit_test_setup(test_overlong_id, test_setup),
      cmocka_unit_test_setup(test_noscript_fallback, test_setup),
      cmocka_unit_test_setup(test_readonly_drops_connection, test_setup),
      cmocka_unit_test_setup(test_concurrent_steps, test_setup),
      cmocka_unit_test_setup(test_outage_and_recovery, test_setup),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
