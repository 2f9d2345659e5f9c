#include "store.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* After a failed connect, calls fail at once for this long instead of
 * each paying the connect timeout again. */
#define RECONNECT_BACKOFF_MS 100
#define KEY_MAX (64 + 16 + FLOW_CONVERSATION_ID_MAX + FLOW_CUSTOMER_ID_MAX)

static store_config cfg;

/* ---------------------------------------------------------------------
 * Scripts. Each store operation is one of these, so it is atomic and one
 * round trip.
 * ------------------------------------------------------------------- */

/* KEYS: session, lock. ARGV: token, lock_ms. */
static const char script_create[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"
    "  return {'exists', redis.call('HGETALL', KEYS[1])}\n"
    "end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'busy'}\n"
    "end\n"
    "return {'ok'}\n";

/* KEYS: session, lock. ARGV: token, lock_ms, counter field or '',
 * lockout key prefix, lockout max, allowed state names... */
static const char script_begin[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'busy'}\n"
    "end\n"
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "local allowed = false\n"
    "for i = 6, #ARGV do if ARGV[i] == state then allowed = true end end\n"
    "if not allowed then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  return {'wrong_state', redis.call('HGETALL', KEYS[1])}\n"
    "end\n"
    "if ARGV[3] ~= '' then redis.call('HINCRBY', KEYS[1], ARGV[3], 1) end\n"
    "local locked = 0\n"
    "local cid = redis.call('HGET', KEYS[1], 'customerId')\n"
    "if cid and cid ~= '' then\n"
    "  local n = tonumber(redis.call('GET', ARGV[4] .. cid) or '0') or 0\n"
    "  if n >= tonumber(ARGV[5]) then locked = 1 end\n"
    "end\n"
    "return {'ok', redis.call('HGETALL', KEYS[1]), locked}\n";

/* KEYS: session, lock, lockout counter. ARGV: token, ttl, effect
 * ('none'|'fail'|'clear'), check_lockout ('0'|'1'), lockout max, window
 * seconds, field, value, ... */
static const char script_commit[] =
    "if redis.call('GET', KEYS[2]) ~= ARGV[1] then return {'lock_lost'} end\n"
    "if ARGV[4] == '1' then\n"
    "  local n = tonumber(redis.call('GET', KEYS[3]) or '0') or 0\n"
    "  if n >= tonumber(ARGV[5]) then return {'customer_locked'} end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 7))\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
    "if ARGV[3] == 'fail' then\n"
    "  local n = redis.call('INCR', KEYS[3])\n"
    "  if n == 1 or redis.call('TTL', KEYS[3]) < 0 then\n"
    "    redis.call('EXPIRE', KEYS[3], ARGV[6])\n"
    "  end\n"
    "elseif ARGV[3] == 'clear' then\n"
    "  redis.call('DEL', KEYS[3])\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "return {'ok'}\n";

/* KEYS: lock. ARGV: token. */
static const char script_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return {'ok'}\n"
    "end\n"
    "return {'lock_lost'}\n";

/* KEYS: session, lock. */
static const char script_delete[] = "local n = redis.call('DEL', KEYS[1])\n"
                                    "redis.call('DEL', KEYS[2])\n"
                                    "if n == 0 then return {'not_found'} end\n"
                                    "return {'ok'}\n";

enum {
  SCRIPT_CREATE = 0,
  SCRIPT_BEGIN,
  SCRIPT_COMMIT,
  SCRIPT_RELEASE,
  SCRIPT_DELETE,
  SCRIPT_COUNT
};
static const char *const scripts[SCRIPT_COUNT] = {
    script_create, script_begin, script_commit, script_release, script_delete};

/* ---------------------------------------------------------------------
 * Connections: one per thread, remade after any I/O error.
 * ------------------------------------------------------------------- */

typedef struct {
  redisContext *ctx;
  char sha[SCRIPT_COUNT][41];
  int64_t failed_at_ms; /* 0: no recent failure */
} connection;

static _Thread_local connection conn;

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_to_tv(int ms) {
  return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

void store_init(const store_config *c) {
  cfg = *c;
}

static void drop_connection(void) {
  if (conn.ctx)
    redisFree(conn.ctx);
  conn.ctx = NULL;
}

void store_thread_cleanup(void) {
  drop_connection();
}

/* Run one command during connection setup; true when it is not an error.
 * Fills err otherwise. */
static bool setup_command(redisContext *c, const char *what, redisReply *r,
                          char *err, size_t err_len) {
  if (!r) {
    snprintf(err, err_len, "redis %s: %s", what, c->errstr);
    return false;
  }
  bool ok = r->type != REDIS_REPLY_ERROR;
  if (!ok)
    snprintf(err, err_len, "redis %s: %s", what, r->str);
  freeReplyObject(r);
  return ok;
}

/* The node we reached must be a master: during a failover a sentinel can
 * still name the old one for a moment. */
static bool is_master(redisContext *c, char *err, size_t err_len) {
  redisReply *r = redisCommand(c, "ROLE");
  bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[0]->str, "master") == 0;
  if (!ok)
    snprintf(err, err_len, "redis node is not a master (failover?)");
  freeReplyObject(r);
  return ok;
}

/* Make sure this thread has a working connection with scripts loaded. */
static bool connect_if_needed(char *err, size_t err_len) {
  if (conn.ctx)
    return true;
  int64_t now = monotonic_ms();
  if (conn.failed_at_ms && now - conn.failed_at_ms < RECONNECT_BACKOFF_MS) {
    snprintf(err, err_len, "redis unavailable (reconnecting)");
    return false;
  }
  char host[256];
  int port = cfg.port;
  snprintf(host, sizeof host, "%s", cfg.host);
  if (cfg.sentinel_count > 0 &&
      !sentinel_find_master(cfg.sentinels, cfg.sentinel_count, cfg.master_name,
                            cfg.connect_timeout_ms, host, sizeof host, &port,
                            err, err_len)) {
    conn.failed_at_ms = now;
    return false;
  }
  redisContext *c =
      redisConnectWithTimeout(host, port, ms_to_tv(cfg.connect_timeout_ms));
  if (!c || c->err) {
    snprintf(err, err_len, "redis connect %s:%d: %s", host, port,
             c ? c->errstr : "out of memory");
    redisFree(c);
    conn.failed_at_ms = now;
    return false;
  }
  redisSetTimeout(c, ms_to_tv(cfg.command_timeout_ms));
  bool ok = true;
  if (cfg.password[0])
    ok = setup_command(c, "AUTH", redisCommand(c, "AUTH %s", cfg.password), err,
                       err_len);
  if (ok && cfg.db != 0)
    ok = setup_command(c, "SELECT", redisCommand(c, "SELECT %d", cfg.db), err,
                       err_len);
  if (ok && cfg.sentinel_count > 0)
    ok = is_master(c, err, err_len);
  for (int i = 0; ok && i < SCRIPT_COUNT; i++) {
    redisReply *r = redisCommand(c, "SCRIPT LOAD %s", scripts[i]);
    ok = r && r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok)
      memcpy(conn.sha[i], r->str, 41);
    else
      snprintf(err, err_len, "redis SCRIPT LOAD: %s",
               r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
    freeReplyObject(r);
  }
  if (!ok) {
    redisFree(c);
    conn.failed_at_ms = now;
    return false;
  }
  conn.ctx = c;
  conn.failed_at_ms = 0;
  return true;
}

/* Errors after which this connection must not be used again: the node is
 * a replica now, still loading, or has lost its master. */
static bool error_is_fatal(const char *msg) {
  return strncmp(msg, "READONLY", 8) == 0 || strncmp(msg, "LOADING", 7) == 0 ||
         strncmp(msg, "MASTERDOWN", 10) == 0;
}

/*
 * Run script `id` with `nkeys` keys then args. Returns the reply (caller
 * frees) or NULL with err filled and the connection dropped if it broke.
 */
static redisReply *run_script(int id, const char **keys, int nkeys,
                              const char **args, int nargs, char *err,
                              size_t err_len) {
  if (!connect_if_needed(err, err_len))
    return NULL;
  enum { MAX_ARGV = 64 };
  const char *argv[MAX_ARGV];
  size_t argvlen[MAX_ARGV];
  char numkeys[8];
  snprintf(numkeys, sizeof numkeys, "%d", nkeys);
  int argc = 0;
  argv[argc++] = "EVALSHA";
  argv[argc++] = conn.sha[id];
  argv[argc++] = numkeys;
  for (int i = 0; i < nkeys && argc < MAX_ARGV; i++)
    argv[argc++] = keys[i];
  for (int i = 0; i < nargs && argc < MAX_ARGV; i++)
    argv[argc++] = args[i];
  for (int i = 0; i < argc; i++)
    argvlen[i] = strlen(argv[i]);

  redisReply *r = redisCommandArgv(conn.ctx, argc, argv, argvlen);
  if (r && r->type == REDIS_REPLY_ERROR &&
      strncmp(r->str, "NOSCRIPT", 8) == 0) {
    /* The server lost its script cache (SCRIPT FLUSH): EVAL the source,
     * which also caches it again under the same SHA. */
    freeReplyObject(r);
    argv[0] = "EVAL";
    argv[1] = scripts[id];
    argvlen[0] = 4;
    argvlen[1] = strlen(scripts[id]);
    r = redisCommandArgv(conn.ctx, argc, argv, argvlen);
  }
  if (!r) {
    snprintf(err, err_len, "redis: %s", conn.ctx->errstr);
    drop_connection();
    conn.failed_at_ms = monotonic_ms();
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    snprintf(err, err_len, "redis: %s", r->str);
    if (error_is_fatal(r->str))
      drop_connection();
    freeReplyObject(r);
    return NULL;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
      r->element[0]->type != REDIS_REPLY_STRING) {
    snprintf(err, err_len, "redis: unexpected script reply");
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

/* ---------------------------------------------------------------------
 * Session hash <-> flow_session.
 * ------------------------------------------------------------------- */

static void key_for(char *out, size_t len, const char *kind, const char *id) {
  snprintf(out, len, "%s%s:%s", cfg.key_prefix, kind, id);
}

static bool copy_str(char *dst, size_t dst_len, const char *src,
                     size_t src_len) {
  if (src_len >= dst_len)
    return false;
  memcpy(dst, src, src_len);
  dst[src_len] = '\0';
  return true;
}

static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) {
  char *end;
  if (!*s)
    return false;
  long long v = strtoll(s, &end, 10);
  if (*end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

/* Decode an HGETALL array. Every field must be present and valid. */
static bool decode_session(const redisReply *h, flow_session *s, char *err,
                           size_t err_len) {
  memset(s, 0, sizeof *s);
  if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0) {
    snprintf(err, err_len, "session is not a hash");
    return false;
  }
  unsigned seen = 0;
  for (size_t i = 0; i + 1 < h->elements; i += 2) {
    const redisReply *k = h->element[i], *v = h->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    const char *f = k->str, *val = v->str;
    int64_t n = 0;
    bool ok = true;
    unsigned bit = 0;
    if (!strcmp(f, "conversationId"))
      bit = 1u << 0,
      ok = copy_str(s->conversation_id, sizeof s->conversation_id, val, v->len);
    else if (!strcmp(f, "serviceLine"))
      bit = 1u << 1,
      ok = copy_str(s->service_line, sizeof s->service_line, val, v->len);
    else if (!strcmp(f, "language"))
      bit = 1u << 2,
      ok = copy_str(s->language, sizeof s->language, val, v->len);
    else if (!strcmp(f, "state"))
      bit = 1u << 3, ok = flow_state_parse(val, &s->state);
    else if (!strcmp(f, "outcome"))
      bit = 1u << 4, ok = flow_outcome_parse(val, &s->outcome);
    else if (!strcmp(f, "lastResult"))
      bit = 1u << 5, ok = flow_result_parse(val, &s->last_result);
    else if (!strcmp(f, "method"))
      bit = 1u << 6, ok = flow_method_parse(val, &s->method);
    else if (!strcmp(f, "identified"))
      bit = 1u << 7, ok = parse_i64(val, 0, 1, &n), s->identified = n;
    else if (!strcmp(f, "verified"))
      bit = 1u << 8, ok = parse_i64(val, 0, 1, &n), s->verified = n;
    else if (!strcmp(f, "customerId"))
      bit = 1u << 9,
      ok = copy_str(s->customer_id, sizeof s->customer_id, val, v->len);
    else if (!strcmp(f, "customerName"))
      bit = 1u << 10,
      ok = copy_str(s->customer_name, sizeof s->customer_name, val, v->len);
    else if (!strcmp(f, "identifyAttempts"))
      bit = 1u << 11, ok = parse_i64(val, 0, 1000, &n),
      s->identify_attempts = (int)n;
    else if (!strcmp(f, "verifyAttempts"))
      bit = 1u << 12, ok = parse_i64(val, 0, 1000, &n),
      s->verify_attempts = (int)n;
    else if (!strcmp(f, "aniMasked"))
      bit = 1u << 13,
      ok = copy_str(s->ani_masked, sizeof s->ani_masked, val, v->len);
    else if (!strcmp(f, "createdMs"))
      bit = 1u << 14, ok = parse_i64(val, 0, INT64_MAX, &s->created_ms);
    else if (!strcmp(f, "updatedMs"))
      bit = 1u << 15, ok = parse_i64(val, 0, INT64_MAX, &s->updated_ms);
    if (!ok) {
      snprintf(err, err_len, "session field %s is invalid", f);
      return false;
    }
    seen |= bit;
  }
  if (seen != 0xffffu) {
    snprintf(err, err_len, "session hash lacks fields (mask %04x)", seen);
    return false;
  }
  return true;
}

/* Field/value strings for HSET; numbers go into `nums`. Returns count. */
enum { SESSION_FIELDS = 16 };
static int encode_session(const flow_session *s, const char **out,
                          char nums[6][24]) {
  snprintf(nums[0], 24, "%d", s->identified ? 1 : 0);
  snprintf(nums[1], 24, "%d", s->verified ? 1 : 0);
  snprintf(nums[2], 24, "%d", s->identify_attempts);
  snprintf(nums[3], 24, "%d", s->verify_attempts);
  snprintf(nums[4], 24, "%lld", (long long)s->created_ms);
  snprintf(nums[5], 24, "%lld", (long long)s->updated_ms);
  const char *pairs[SESSION_FIELDS * 2] = {
      "conversationId",
      s->conversation_id,
      "serviceLine",
      s->service_line,
      "language",
      s->language,
      "state",
      flow_state_name(s->state),
      "outcome",
      flow_outcome_name(s->outcome),
      "lastResult",
      flow_result_name(s->last_result),
      "method",
      flow_method_name(s->method),
      "identified",
      nums[0],
      "verified",
      nums[1],
      "customerId",
      s->customer_id,
      "customerName",
      s->customer_name,
      "identifyAttempts",
      nums[2],
      "verifyAttempts",
      nums[3],
      "aniMasked",
      s->ani_masked,
      "createdMs",
      nums[4],
      "updatedMs",
      nums[5],
  };
  memcpy(out, pairs, sizeof pairs);
  return SESSION_FIELDS * 2;
}

/* ---------------------------------------------------------------------
 * Operations.
 * ------------------------------------------------------------------- */

void store_new_token(char *token, size_t token_len) {
  unsigned char raw[16];
  if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
    /* Practically unreachable; a clock-derived token still keeps steps
     * apart, it is not a secret. */
    int64_t t = monotonic_ms();
    memset(raw, 0, sizeof raw);
    memcpy(raw, &t, sizeof t);
  }
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
  for (size_t i = 0; i < sizeof raw && n + 2 < token_len; i++) {
    token[n++] = hex[raw[i] >> 4];
    token[n++] = hex[raw[i] & 15];
  }
  token[n] = '\0';
}

static bool status_is(const redisReply *r, const char *name) {
  return strcmp(r->element[0]->str, name) == 0;
}

store_status store_create(const char *id, const char *token,
                          flow_session *existing, char *err, size_t err_len) {
  char skey[KEY_MAX], lkey[KEY_MAX], lock_ms[16];
  key_for(skey, sizeof skey, "session", id);
  key_for(lkey, sizeof lkey, "lock", id);
  snprintf(lock_ms, sizeof lock_ms, "%d", cfg.lock_ms);
  const char *keys[] = {skey, lkey}, *args[] = {token, lock_ms};
  redisReply *r = run_script(SCRIPT_CREATE, keys, 2, args, 2, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = STORE_OK;
  if (status_is(r, "exists"))
    st = r->elements >= 2 &&
                 decode_session(r->element[1], existing, err, err_len)
             ? STORE_EXISTS
             : STORE_CORRUPT;
  else if (status_is(r, "busy"))
    st = STORE_BUSY;
  freeReplyObject(r);
  return st;
}

store_status store_begin(const char *id, const char *token,
                         unsigned allowed_states, int counter,
                         flow_session *out, bool *customer_locked, char *err,
                         size_t err_len) {
  char skey[KEY_MAX], lkey[KEY_MAX], lock_ms[16], prefix[KEY_MAX], max[16];
  key_for(skey, sizeof skey, "session", id);
  key_for(lkey, sizeof lkey, "lock", id);
  snprintf(prefix, sizeof prefix, "%slockout:", cfg.key_prefix);
  snprintf(lock_ms, sizeof lock_ms, "%d", cfg.lock_ms);
  snprintf(max, sizeof max, "%d", cfg.lockout_max_failures);
  const char *args[5 + 3] = {token, lock_ms,
                             counter == 1   ? "identifyAttempts"
                             : counter == 2 ? "verifyAttempts"
                                            : "",
                             prefix, max};
  int nargs = 5;
  for (int st = FLOW_STATE_AWAITING_IDENTIFIER; st <= FLOW_STATE_COMPLETED;
       st++)
    if (allowed_states & (1u << st))
      args[nargs++] = flow_state_name((flow_state)st);
  const char *keys[] = {skey, lkey};
  *customer_locked = false;
  memset(out, 0, sizeof *out);
  redisReply *r = run_script(SCRIPT_BEGIN, keys, 2, args, nargs, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st;
  if (status_is(r, "not_found")) {
    st = STORE_NOT_FOUND;
  } else if (status_is(r, "busy")) {
    st = STORE_BUSY;
  } else if (r->elements < 2 ||
             !decode_session(r->element[1], out, err, err_len)) {
    st = STORE_CORRUPT;
    if (status_is(r, "ok")) {
      /* We hold the lock on a record we cannot read: let it go. */
      freeReplyObject(r);
      char ignored[STORE_ERR_MAX];
      store_release(id, token, ignored, sizeof ignored);
      return STORE_CORRUPT;
    }
  } else if (status_is(r, "wrong_state")) {
    st = STORE_WRONG_STATE;
  } else {
    st = STORE_OK;
    *customer_locked = r->elements >= 3 &&
                       r->element[2]->type == REDIS_REPLY_INTEGER &&
                       r->element[2]->integer == 1;
  }
  freeReplyObject(r);
  return st;
}

store_status store_commit(const flow_session *s, const char *token,
                          flow_lockout_effect lockout, bool check_lockout,
                          char *err, size_t err_len) {
  char skey[KEY_MAX], lkey[KEY_MAX], okey[KEY_MAX];
  key_for(skey, sizeof skey, "session", s->conversation_id);
  key_for(lkey, sizeof lkey, "lock", s->conversation_id);
  /* With no customer the lockout key is never touched; name a key that
   * cannot be a customer's so the script's key list stays fixed. */
  key_for(okey, sizeof okey, "lockout",
          s->customer_id[0] ? s->customer_id : "-none-");
  char ttl[16], max[16], window[16], nums[6][24];
  snprintf(ttl, sizeof ttl, "%d", cfg.session_ttl_seconds);
  snprintf(max, sizeof max, "%d", cfg.lockout_max_failures);
  snprintf(window, sizeof window, "%d", cfg.lockout_window_seconds);
  const char *args[6 + SESSION_FIELDS * 2];
  args[0] = token;
  args[1] = ttl;
  args[2] = !s->customer_id[0]                       ? "none"
            : lockout == FLOW_LOCKOUT_RECORD_FAILURE ? "fail"
            : lockout == FLOW_LOCKOUT_CLEAR          ? "clear"
                                                     : "none";
  args[3] = check_lockout && s->customer_id[0] ? "1" : "0";
  args[4] = max;
  args[5] = window;
  int n = 6 + encode_session(s, args + 6, nums);
  const char *keys[] = {skey, lkey, okey};
  redisReply *r = run_script(SCRIPT_COMMIT, keys, 3, args, n, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = status_is(r, "ok")                ? STORE_OK
                    : status_is(r, "customer_locked") ? STORE_CUSTOMER_LOCKED
                                                      : STORE_LOCK_LOST;
  freeReplyObject(r);
  return st;
}

store_status store_release(const char *id, const char *token, char *err,
                           size_t err_len) {
  char lkey[KEY_MAX];
  key_for(lkey, sizeof lkey, "lock", id);
  const char *keys[] = {lkey}, *args[] = {token};
  redisReply *r = run_script(SCRIPT_RELEASE, keys, 1, args, 1, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = status_is(r, "ok") ? STORE_OK : STORE_LOCK_LOST;
  freeReplyObject(r);
  return st;
}

store_status store_get(const char *id, flow_session *out, char *err,
                       size_t err_len) {
  memset(out, 0, sizeof *out);
  if (!connect_if_needed(err, err_len))
    return STORE_UNAVAILABLE;
  char skey[KEY_MAX];
  key_for(skey, sizeof skey, "session", id);
  redisReply *r = redisCommand(conn.ctx, "HGETALL %s", skey);
  if (!r) {
    snprintf(err, err_len, "redis: %s", conn.ctx->errstr);
    drop_connection();
    conn.failed_at_ms = monotonic_ms();
    return STORE_UNAVAILABLE;
  }
  store_status st;
  if (r->type == REDIS_REPLY_ERROR) {
    snprintf(err, err_len, "redis: %s", r->str);
    if (error_is_fatal(r->str))
      drop_connection();
    st = STORE_UNAVAILABLE;
  } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
    st = STORE_NOT_FOUND;
  } else {
    st = decode_session(r, out, err, err_len) ? STORE_OK : STORE_CORRUPT;
  }
  freeReplyObject(r);
  return st;
}

store_status store_delete(const char *id, char *err, size_t err_len) {
  char skey[KEY_MAX], lkey[KEY_MAX];
  key_for(skey, sizeof skey, "session", id);
  key_for(lkey, sizeof lkey, "lock", id);
  const char *keys[] = {skey, lkey};
  redisReply *r = run_script(SCRIPT_DELETE, keys, 2, NULL, 0, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  store_status st = status_is(r, "ok") ? STORE_OK : STORE_NOT_FOUND;
  freeReplyObject(r);
  return st;
}

store_status store_ping(char *err, size_t err_len) {
  if (!connect_if_needed(err, err_len))
    return STORE_UNAVAILABLE;
  redisReply *r = redisCommand(conn.ctx, "PING");
  if (!r) {
    snprintf(err, err_len, "redis: %s", conn.ctx->errstr);
    drop_connection();
    conn.failed_at_ms = monotonic_ms();
    return STORE_UNAVAILABLE;
  }
  bool ok = r->type == REDIS_REPLY_STATUS;
  if (!ok) {
    snprintf(err, err_len, "redis: %s",
             r->type == REDIS_REPLY_ERROR ? r->str : "unexpected PING reply");
    if (r->type == REDIS_REPLY_ERROR && error_is_fatal(r->str))
      drop_connection();
  }
  freeReplyObject(r);
  return ok ? STORE_OK : STORE_UNAVAILABLE;
}

const char *store_status_name(store_status s) {
  static const char *const names[] = {
      "ok",        "exists",          "not_found",   "busy",   "wrong_state",
      "lock_lost", "customer_locked", "unavailable", "corrupt"};
  return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}
