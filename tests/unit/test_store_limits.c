/*
 * store: the failed-attempt limits of issue 21 in the begin and commit
 * scripts, against a private redis-server on a loopback port chosen at
 * run time. Each test uses its own key prefix.
 *
 * Checks go through the store's API (which limit a step found) and a raw
 * connection (the counters, their TTLs and the lock's reservation mark).
 */
#include <hiredis/hiredis.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "redis_server.h"
#include "store.h"
#include "store_codec.h"

#define MAX 3 /* every limit of the tests */
#define HASH "0123456789abcdef0123456789abcdef"
#define ID_STATES (1u << FLOW_STATE_AWAITING_IDENTIFIER)
#define SEC_STATES (1u << FLOW_STATE_AWAITING_SECURITY)

static pid_t redis_pid = -1;
static int redis_port;
static redisContext *raw_ctx;
static char prefix[64];
static int test_serial;

static int group_setup(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  redis_port = redis_test_free_port();
  redis_pid = redis_port > 0 ? redis_test_start(redis_port) : -1;
  if (redis_pid <= 0) {
    fprintf(stderr, "test_store_limits: cannot start redis-server\n");
    return -1;
  }
  raw_ctx = redisConnect("127.0.0.1", redis_port);
  return raw_ctx && !raw_ctx->err ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  redisFree(raw_ctx);
  store_thread_cleanup();
  redis_test_stop(redis_pid);
  return 0;
}

/* Per test: a fresh prefix, every limit at MAX. */
static int test_setup(void **state) {
  (void)state;
  snprintf(prefix, sizeof prefix, "limits-test:%d:%d:", (int)getpid(),
           ++test_serial);
  store_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.host, sizeof c.host, "127.0.0.1");
  c.port = redis_port;
  snprintf(c.key_prefix, sizeof c.key_prefix, "%s", prefix);
  c.session_ttl_seconds = 300;
  c.lock_ms = 5000;
  c.connect_timeout_ms = 200;
  c.command_timeout_ms = 200;
  c.lockout_max_failures = 5;
  c.lockout_window_seconds = 600;
  c.global_max_failures_per_minute = MAX;
  c.caller_max_failures = MAX;
  c.caller_window_seconds = 3600;
  c.withheld_max_failures = MAX;
  c.identify_global_max_per_minute = MAX;
  c.identify_caller_max_failures = MAX;
  c.identify_caller_window_seconds = 3600;
  c.identify_withheld_max_failures = MAX;
  store_init(&c);
  return 0;
}

/* A raw command's string or integer reply as text; "(nil)" when absent. */
static const char *raw(char *out, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(raw_ctx, fmt, ap);
  va_end(ap);
  assert_non_null(r);
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
    snprintf(out, len, "%s", r->str);
  else if (r->type == REDIS_REPLY_INTEGER)
    snprintf(out, len, "%lld", r->integer);
  else if (r->type == REDIS_REPLY_NIL)
    snprintf(out, len, "(nil)");
  else
    fail_msg("unexpected reply type %d", r->type);
  freeReplyObject(r);
  return out;
}

/* The value of "<prefix><name>" ("(nil)" when absent). */
static const char *get(const char *name) {
  static char v[128];
  return raw(v, sizeof v, "GET %s%s", prefix, name);
}

static void set(const char *name, const char *value) {
  char v[64];
  raw(v, sizeof v, "SET %s%s %s", prefix, name, value);
}

/* Create and commit a session on line "billing" for `ani_hash` ("" = no
 * usable ANI): awaiting the identifier, or with `customer` identified by
 * `method` and awaiting the security answer. With `legacy` it is written
 * as the previous version did, a hash. */
static void put(const char *id, const char *ani_hash, const char *customer,
                flow_method method, bool legacy) {
  flow_session s;
  memset(&s, 0, sizeof s);
  snprintf(s.conversation_id, sizeof s.conversation_id, "%s", id);
  snprintf(s.service_line, sizeof s.service_line, "billing");
  snprintf(s.language, sizeof s.language, "en-US");
  snprintf(s.ani_hash, sizeof s.ani_hash, "%s", ani_hash);
  snprintf(s.channel, sizeof s.channel, "voice");
  s.state = FLOW_STATE_AWAITING_IDENTIFIER;
  if (customer) {
    s.state = FLOW_STATE_AWAITING_SECURITY;
    s.identified = true;
    s.method = method;
    snprintf(s.customer_id, sizeof s.customer_id, "%s", customer);
  }
  char err[STORE_ERR_MAX] = "";
  if (legacy) {
    const char *argv[2 + 2 * STORE_SESSION_FIELDS];
    char k[256];
    store_session_texts nums;
    snprintf(k, sizeof k, "%ssession:%s", prefix, id);
    argv[0] = "HSET";
    argv[1] = k;
    assert_true(store_session_encode(&s, argv + 2, &nums, err, sizeof err));
    redisReply *r = redisCommandArgv(
        raw_ctx, (int)(sizeof argv / sizeof argv[0]), argv, NULL);
    assert_non_null(r);
    freeReplyObject(r);
    return;
  }
  char token[STORE_TOKEN_MAX + 1];
  flow_session existing;
  store_new_token(token, sizeof token);
  assert_int_equal(store_create(id, token, &existing, err, sizeof err),
                   STORE_OK);
  assert_int_equal(
      store_commit(&s, token, FLOW_LOCKOUT_NONE, false, err, sizeof err),
      STORE_OK);
}

/* Begin a step on `id`: STORE_OK expected; its session, the limit it
 * found and its token (for commit). */
typedef struct {
  flow_session s;
  bool customer_locked;
  store_limit limit;
  char token[STORE_TOKEN_MAX + 1];
} begun;

static begun begin(const char *id, unsigned states,
                   flow_attempt_counter counter) {
  begun b;
  char err[STORE_ERR_MAX] = "";
  store_new_token(b.token, sizeof b.token);
  store_status st = store_begin(id, b.token, states, counter, &b.s,
                                &b.customer_locked, &b.limit, err, sizeof err);
  if (st != STORE_OK)
    fail_msg("begin %s: %s (%s)", id, store_status_name(st), err);
  return b;
}

static void commit(begun *b, flow_lockout_effect effect) {
  char err[STORE_ERR_MAX] = "";
  store_status st =
      store_commit(&b->s, b->token, effect, false, err, sizeof err);
  if (st != STORE_OK)
    fail_msg("commit: %s (%s)", store_status_name(st), err);
}

/* The lock's value after the token: "" (nothing reserved), ":r", ":i". */
static const char *mark(const char *id, const begun *b) {
  char k[256];
  snprintf(k, sizeof k, "lock:%s", id);
  const char *v = get(k);
  assert_memory_equal(v, b->token, strlen(b->token));
  return v + strlen(b->token);
}

/* A failed identification keeps the caller's reservation and counts the
 * line (a minute); a match gives the reservation back. */
static void test_identify_counts(void **state) {
  (void)state;
  put("c1", HASH, NULL, FLOW_METHOD_NONE, false);
  begun b = begin("c1", ID_STATES, FLOW_COUNTER_IDENTIFIER);
  assert_int_equal(b.limit, STORE_LIMIT_NONE);
  assert_string_equal(mark("c1", &b), ":i");
  assert_string_equal(get("limit:idcaller:" HASH), "1");
  commit(&b, FLOW_LOCKOUT_IDENTIFY_FAILURE);
  assert_string_equal(get("limit:idcaller:" HASH), "1");
  assert_string_equal(get("limit:idglobal:billing"), "1");
  char ttl[32];
  int t = atoi(raw(ttl, sizeof ttl, "TTL %slimit:idglobal:billing", prefix));
  assert_true(t > 0 && t <= 60);

  b = begin("c1", ID_STATES, FLOW_COUNTER_IDENTIFIER);
  assert_string_equal(get("limit:idcaller:" HASH), "2");
  commit(&b, FLOW_LOCKOUT_NONE); /* a match (or a CRM fault) */
  assert_string_equal(get("limit:idcaller:" HASH), "1");
  assert_string_equal(get("limit:idglobal:billing"), "1");
  /* A handoff code spends an identify attempt outside these limits. */
  b = begin("c1", ID_STATES, FLOW_COUNTER_IDENTIFY);
  assert_string_equal(mark("c1", &b), "");
  commit(&b, FLOW_LOCKOUT_NONE);
  assert_string_equal(get("limit:idcaller:" HASH), "1");
}

/* Each identification limit holds an identifier step: nothing reserved,
 * the attempt still counted (the flow gives it back for shared ones). */
static void test_identify_limits_hold(void **state) {
  (void)state;
  put("own", HASH, NULL, FLOW_METHOD_NONE, false);
  put("anon", "", NULL, FLOW_METHOD_NONE, false);
  set("limit:idcaller:" HASH, "3");
  begun b = begin("own", ID_STATES, FLOW_COUNTER_IDENTIFIER);
  assert_int_equal(b.limit, STORE_LIMIT_CALLER);
  assert_string_equal(mark("own", &b), "");
  assert_int_equal(b.s.identify_attempts, 1);
  commit(&b, FLOW_LOCKOUT_NONE);
  assert_string_equal(get("limit:idcaller:" HASH), "3");

  /* No usable ANI: the shared bucket, whatever the number would be. */
  b = begin("anon", ID_STATES, FLOW_COUNTER_IDENTIFIER);
  assert_int_equal(b.limit, STORE_LIMIT_NONE);
  commit(&b, FLOW_LOCKOUT_IDENTIFY_FAILURE);
  assert_string_equal(get("limit:idcaller:withheld"), "1");
  set("limit:idcaller:withheld", "3");
  b = begin("anon", ID_STATES, FLOW_COUNTER_IDENTIFIER);
  assert_int_equal(b.limit, STORE_LIMIT_WITHHELD);
  commit(&b, FLOW_LOCKOUT_NONE);

  /* The line's limit, for every caller on it; a handoff is not held. */
  set("limit:idcaller:withheld", "0");
  set("limit:idglobal:billing", "3");
  b = begin("anon", ID_STATES, FLOW_COUNTER_IDENTIFIER);
  assert_int_equal(b.limit, STORE_LIMIT_GLOBAL);
  commit(&b, FLOW_LOCKOUT_NONE);
  b = begin("anon", ID_STATES, FLOW_COUNTER_IDENTIFY);
  assert_int_equal(b.limit, STORE_LIMIT_NONE);
  commit(&b, FLOW_LOCKOUT_NONE);
}

/* The line's verification limit is the session's line's, read from the
 * packed value and from a hash the previous version wrote; a shared
 * limit still reserves the customer's failure and the caller's (the flow
 * decides), and a held step's commit gives both back. */
static void test_verify_line_limit(void **state) {
  (void)state;
  put("v1", HASH, "C-1", FLOW_METHOD_IDENTIFIER, false);
  put("v2", HASH, "C-2", FLOW_METHOD_IDENTIFIER, true);
  set("limit:global:other", "3");
  begun b = begin("v1", SEC_STATES, FLOW_COUNTER_VERIFY);
  assert_int_equal(b.limit, STORE_LIMIT_NONE);
  commit(&b, FLOW_LOCKOUT_NONE);

  set("limit:global:billing", "3");
  for (int legacy = 0; legacy < 2; legacy++) {
    const char *id = legacy ? "v2" : "v1";
    const char *lk = legacy ? "lockout:C-2" : "lockout:C-1";
    b = begin(id, SEC_STATES, FLOW_COUNTER_VERIFY);
    assert_int_equal(b.limit, STORE_LIMIT_GLOBAL);
    assert_false(b.customer_locked);
    assert_string_equal(mark(id, &b), ":r");
    assert_string_equal(get(lk), "1");
    assert_string_equal(get("limit:caller:" HASH), "1");
    commit(&b, FLOW_LOCKOUT_NONE); /* held */
    assert_string_equal(get(lk), "0");
    assert_string_equal(get("limit:caller:" HASH), "0");
    assert_string_equal(get("limit:global:billing"), "3");
  }
}

/* A timeout after sending counts for the customer only; a wrong answer
 * for the customer, the caller and the line. */
static void test_unanswered(void **state) {
  (void)state;
  put("t1", HASH, "C-1", FLOW_METHOD_ANI, false);
  begun b = begin("t1", SEC_STATES, FLOW_COUNTER_VERIFY);
  commit(&b, FLOW_LOCKOUT_RECORD_UNANSWERED);
  assert_string_equal(get("lockout:C-1"), "1");
  assert_string_equal(get("limit:caller:" HASH), "0");
  assert_string_equal(get("limit:global:billing"), "(nil)");

  put("t2", HASH, "C-1", FLOW_METHOD_ANI, false);
  b = begin("t2", SEC_STATES, FLOW_COUNTER_VERIFY);
  commit(&b, FLOW_LOCKOUT_RECORD_FAILURE);
  assert_string_equal(get("lockout:C-1"), "2");
  assert_string_equal(get("limit:caller:" HASH), "1");
  assert_string_equal(get("limit:global:billing"), "1");
}

/* A number at its own limit reserves nothing; the withheld bucket is
 * shared and reserves (the flow holds every such caller). */
static void test_verify_caller_and_withheld(void **state) {
  (void)state;
  put("n1", HASH, "C-1", FLOW_METHOD_IDENTIFIER, false);
  put("w1", "", "C-2", FLOW_METHOD_IDENTIFIER, false);
  set("limit:caller:" HASH, "3");
  begun b = begin("n1", SEC_STATES, FLOW_COUNTER_VERIFY);
  assert_int_equal(b.limit, STORE_LIMIT_CALLER);
  assert_string_equal(mark("n1", &b), "");
  assert_string_equal(get("lockout:C-1"), "(nil)");
  commit(&b, FLOW_LOCKOUT_NONE);

  b = begin("w1", SEC_STATES, FLOW_COUNTER_VERIFY);
  assert_int_equal(b.limit, STORE_LIMIT_NONE);
  commit(&b, FLOW_LOCKOUT_RECORD_FAILURE);
  assert_string_equal(get("limit:caller:withheld"), "1");
  set("limit:caller:withheld", "3");
  b = begin("w1", SEC_STATES, FLOW_COUNTER_VERIFY);
  assert_int_equal(b.limit, STORE_LIMIT_WITHHELD);
  assert_string_equal(mark("w1", &b), ":r");
  commit(&b, FLOW_LOCKOUT_NONE);
  assert_string_equal(get("limit:caller:withheld"), "3");
  assert_string_equal(get("lockout:C-2"), "1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_identify_counts, test_setup),
      cmocka_unit_test_setup(test_identify_limits_hold, test_setup),
      cmocka_unit_test_setup(test_verify_line_limit, test_setup),
      cmocka_unit_test_setup(test_unanswered, test_setup),
      cmocka_unit_test_setup(test_verify_caller_and_withheld, test_setup),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
