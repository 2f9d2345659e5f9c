/*
 * store: sessions, step locks and lockout counters in Redis.
 *
 * Every operation but PING is one Lua script (see the header for the
 * keys), so each is atomic and one round trip. Scripts report their
 * outcome as an array whose first element is a status word ("ok", "busy",
 * ...) and whose second, when present, is the session hash as HGETALL
 * gives it. Redis does not roll a script back when it fails half way, so
 * each script checks whatever could fail before its first write.
 *
 * The hash is decoded strictly here, not in Lua: an unknown enum name, a
 * number that is not plain decimal, a string too long for its flow_session
 * buffer or a missing field makes the record STORE_CORRUPT.
 */
#include "store.h"

#include "entropy.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* After a failed connect or a broken connection, calls fail at once for
 * this long instead of each paying the timeouts again. */
#define RECONNECT_BACKOFF_MS 100
#define KEY_MAX (64 + 16 + FLOW_CONVERSATION_ID_MAX + FLOW_CUSTOMER_ID_MAX)

static store_config cfg;

/* ---------------------------------------------------------------------
 * Scripts.
 * ------------------------------------------------------------------- */

/* KEYS: session, lock. ARGV: token, lock_ms. */
static const char script_create[] =
    "local t = redis.call('TYPE', KEYS[1]).ok\n"
    "if t == 'hash' then\n"
    "  return {'exists', redis.call('HGETALL', KEYS[1])}\n"
    "elseif t ~= 'none' then\n"
    "  return {'corrupt'}\n"
    "end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'busy'}\n"
    "end\n"
    "return {'ok'}\n";

/* KEYS: session, lock. ARGV: token, lock_ms, counter field or '',
 * lockout key prefix, lockout max, allowed state names..., lockout window.
 * A verify attempt also counts a lockout failure for the customer here,
 * before the CRM is asked, so parallel guesses across sessions cannot all
 * reach the CRM before the first failure is recorded; the lock's value
 * becomes "<token>:r" to tell commit that a failure is reserved (commit
 * keeps it for a wrong answer, clears the counter on success, and gives it
 * back when no verification failed: CRM error, invalid input).
 * The lockout key is built here, not passed in KEYS, because the customer
 * is only known from the hash; that is fine on a single master (and with
 * Sentinel) but would not be on Redis Cluster.
 * Whatever can fail once the lock is taken (a lockout counter or attempt
 * counter that is not an integer) is caught, the lock let go again and
 * 'corrupt' returned; the increment is the last write. */
static const char script_begin[] =
    "local t = redis.call('TYPE', KEYS[1]).ok\n"
    "if t == 'none' then return {'not_found'} end\n"
    "if t ~= 'hash' then return {'corrupt'} end\n"
    "if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {'busy'}\n"
    "end\n"
    "local state = redis.call('HGET', KEYS[1], 'state')\n"
    "local allowed = false\n"
    "for i = 6, #ARGV - 1 do if ARGV[i] == state then allowed = true end end\n"
    "if not allowed then\n"
    "  redis.call('DEL', KEYS[2])\n"
    "  return {'wrong_state', redis.call('HGETALL', KEYS[1])}\n"
    "end\n"
    "local locked = 0\n"
    "local cid = redis.call('HGET', KEYS[1], 'customerId')\n"
    "if cid and cid ~= '' then\n"
    "  local n = redis.pcall('GET', ARGV[4] .. cid)\n"
    "  if type(n) == 'table' or (n and not string.match(n, '^%d+$')) then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "    return {'corrupt'}\n"
    "  end\n"
    "  if tonumber(n or '0') >= tonumber(ARGV[5]) then locked = 1 end\n"
    "end\n"
    "if ARGV[3] ~= '' then\n"
    "  local c = redis.call('HGET', KEYS[1], ARGV[3])\n"
    "  local r = c and string.match(c, '^%d+$') and\n"
    "            redis.pcall('HINCRBY', KEYS[1], ARGV[3], 1)\n"
    "  if type(r) ~= 'number' then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "    return {'corrupt'}\n"
    "  end\n"
    "end\n"
    "if ARGV[3] == 'verifyAttempts' and locked == 0 and cid and cid ~= '' "
    "then\n"
    "  local lk = ARGV[4] .. cid\n"
    "  if redis.call('INCR', lk) == 1 or redis.call('TTL', lk) < 0 then\n"
    "    redis.call('EXPIRE', lk, ARGV[#ARGV])\n"
    "  end\n"
    "  redis.call('SET', KEYS[2], ARGV[1] .. ':r', 'XX', 'KEEPTTL')\n"
    "end\n"
    "return {'ok', redis.call('HGETALL', KEYS[1]), locked}\n";

/* KEYS: session, lock, lockout counter, report hour hash, report stream,
 * report dropped counter. ARGV: token, ttl, effect ('none'|'fail'|'clear'),
 * check_lockout ('0'|'1'), lockout max, window seconds, R, then R report
 * arguments, then field, value, ... of the session.
 * Report arguments (R = 0: record nothing): counter ttl, N, N pairs of
 * (hash field, increment), stream max length, stream min ID, E, E pairs of
 * (event field, value). Recording runs after the session is written and
 * uses pcall: a report key of the wrong type, or any other recording
 * error, must not fail the caller's step; it is counted in the dropped
 * counter and reported as the reply's second element ('1').
 * A lockout counter that is not an integer is found before any write:
 * 'corrupt', the lock let go, nothing written. The lockout window starts
 * at the first failure: EXPIRE is set only when INCR made the key (or,
 * defensively, if it somehow has no TTL), never pushed back by later
 * failures. */
static const char script_commit[] =
    "local held = redis.call('GET', KEYS[2])\n"
    "if held ~= ARGV[1] and held ~= ARGV[1] .. ':r' then\n"
    "  return {'lock_lost'}\n"
    "end\n"
    "local reserved = held ~= ARGV[1]\n"
    "local cur = false\n"
    "if ARGV[3] == 'fail' or ARGV[4] == '1' then\n"
    "  cur = redis.call('GET', KEYS[3])\n"
    "  if cur and not string.match(cur, '^%d+$') then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "    return {'corrupt'}\n"
    "  end\n"
    "end\n"
    "if ARGV[4] == '1' and tonumber(cur or '0') >= tonumber(ARGV[5]) then\n"
    "  return {'customer_locked'}\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "local rn = tonumber(ARGV[7])\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 8 + rn))\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[2])\n"
    "if ARGV[3] == 'fail' and not reserved then\n"
    "  local n = redis.call('INCR', KEYS[3])\n"
    "  if n == 1 or redis.call('TTL', KEYS[3]) < 0 then\n"
    "    redis.call('EXPIRE', KEYS[3], ARGV[6])\n"
    "  end\n"
    "elseif ARGV[3] == 'clear' then\n"
    "  redis.call('DEL', KEYS[3])\n"
    "elseif ARGV[3] ~= 'fail' and reserved then\n"
    "  local n = tonumber(redis.call('GET', KEYS[3]) or '0')\n"
    "  if n > 0 then redis.call('DECR', KEYS[3]) end\n"
    "end\n"
    "redis.call('DEL', KEYS[2])\n"
    "if rn == 0 then return {'ok', '0'} end\n"
    "local failed = false\n"
    "local function bad(x) return type(x) == 'table' and x.err ~= nil end\n"
    "local nc, i = tonumber(ARGV[9]), 10\n"
    "for _ = 1, nc do\n"
    "  if bad(redis.pcall('HINCRBY', KEYS[4], ARGV[i], ARGV[i + 1])) then\n"
    "    failed = true\n"
    "  end\n"
    "  i = i + 2\n"
    "end\n"
    "if nc > 0 and bad(redis.pcall('EXPIRE', KEYS[4], ARGV[8])) then\n"
    "  failed = true\n"
    "end\n"
    "local ne = tonumber(ARGV[i + 2])\n"
    "if ne > 0 then\n"
    "  local x = redis.pcall('XADD', KEYS[5], 'MAXLEN', '~', ARGV[i], '*',\n"
    "                        unpack(ARGV, i + 3, i + 2 + 2 * ne))\n"
    "  if bad(x) then\n"
    "    failed = true\n"
    "  else\n"
    "    redis.pcall('XTRIM', KEYS[5], 'MINID', '~', ARGV[i + 1])\n"
    "  end\n"
    "end\n"
    "if failed then\n"
    "  redis.pcall('INCR', KEYS[6])\n"
    "  return {'ok', '1'}\n"
    "end\n"
    "return {'ok', '0'}\n";

/* KEYS: lock. ARGV: token. */
static const char script_release[] =
    "local held = redis.call('GET', KEYS[1])\n"
    "if held == ARGV[1] or held == ARGV[1] .. ':r' then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return {'ok'}\n"
    "end\n"
    "return {'lock_lost'}\n";

/* KEYS: session. */
static const char script_get[] =
    "local t = redis.call('TYPE', KEYS[1]).ok\n"
    "if t == 'none' then return {'not_found'} end\n"
    "if t ~= 'hash' then return {'corrupt'} end\n"
    "return {'ok', redis.call('HGETALL', KEYS[1])}\n";

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
  SCRIPT_GET,
  SCRIPT_DELETE,
  SCRIPT_COUNT
};
static const char *const scripts[SCRIPT_COUNT] = {script_create, script_begin,
                                                  script_commit, script_release,
                                                  script_get,    script_delete};

/* ---------------------------------------------------------------------
 * Connections: one per thread, remade after any I/O error.
 * ------------------------------------------------------------------- */

typedef struct {
  redisContext *ctx;
  char sha[SCRIPT_COUNT][41];
  int64_t failed_at_ms; /* 0: no recent failure */
  bool peer_closed;     /* the last failure was the peer closing */
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

/* Threads we do not own (libmicrohttpd's pool) end without calling
 * store_thread_cleanup(), so each connection is also registered under a
 * pthread key whose destructor frees it when its thread exits. */
static pthread_key_t conn_key;
static pthread_once_t conn_key_once = PTHREAD_ONCE_INIT;

static void free_at_thread_exit(void *ctx) {
  redisFree(ctx);
}

static void make_conn_key(void) {
  pthread_key_create(&conn_key, free_at_thread_exit);
}

static void adopt_connection(redisContext *c) {
  pthread_once(&conn_key_once, make_conn_key);
  pthread_setspecific(conn_key, c);
  conn.ctx = c;
}

static void drop_connection(void) {
  if (conn.ctx) {
    pthread_once(&conn_key_once, make_conn_key);
    pthread_setspecific(conn_key, NULL);
  }
  redisFree(conn.ctx); /* NULL is fine */
  conn.ctx = NULL;
}

void store_thread_cleanup(void) {
  drop_connection();
  conn.failed_at_ms = 0;
}

/* The connection broke (I/O error or timeout): its state is unknown, so
 * it is never reused, and reconnects back off. */
static void connection_broke(char *err, size_t err_len) {
  snprintf(err, err_len, "redis: %s",
           conn.ctx && conn.ctx->errstr[0] ? conn.ctx->errstr : "I/O error");
  /* Closed by the peer (Redis restarted, or an idle connection was cut) is
   * worth one immediate retry on a fresh connection; a timeout is not, so a
   * hung Redis still fails within the command timeout. */
  conn.peer_closed = conn.ctx && (conn.ctx->err == REDIS_ERR_EOF ||
                                  (conn.ctx->err == REDIS_ERR_IO &&
                                   (errno == ECONNRESET || errno == EPIPE)));
  drop_connection();
  conn.failed_at_ms = monotonic_ms();
}

/* Run one command during connection setup; true when it is not an error.
 * Fills err otherwise. Frees r. */
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

/* Load every script in one pipelined round trip and keep their SHAs. */
static bool load_scripts(redisContext *c, char *err, size_t err_len) {
  for (int i = 0; i < SCRIPT_COUNT; i++)
    if (redisAppendCommand(c, "SCRIPT LOAD %s", scripts[i]) != REDIS_OK) {
      snprintf(err, err_len, "redis SCRIPT LOAD: %s", c->errstr);
      return false;
    }
  bool ok = true;
  for (int i = 0; i < SCRIPT_COUNT; i++) {
    void *reply = NULL;
    if (redisGetReply(c, &reply) != REDIS_OK) {
      snprintf(err, err_len, "redis SCRIPT LOAD: %s", c->errstr);
      return false; /* the context is unusable; the caller frees it */
    }
    redisReply *r = reply;
    if (ok && r->type == REDIS_REPLY_STRING && r->len == 40) {
      memcpy(conn.sha[i], r->str, 41);
    } else if (ok) {
      snprintf(err, err_len, "redis SCRIPT LOAD: %s",
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
      ok = false;
    }
    freeReplyObject(r);
  }
  return ok;
}

/*
 * Make sure this thread has a working connection with the scripts loaded.
 * Within RECONNECT_BACKOFF_MS of a failure it does not try and fails at
 * once, so a dead Redis does not cost every request the timeouts.
 */
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
    conn.failed_at_ms = monotonic_ms();
    return false;
  }
  bool ok = redisSetTimeout(c, ms_to_tv(cfg.command_timeout_ms)) == REDIS_OK;
  if (!ok)
    snprintf(err, err_len, "redis: cannot set the command timeout");
  if (ok && cfg.password[0])
    ok = setup_command(c, "AUTH", redisCommand(c, "AUTH %s", cfg.password), err,
                       err_len);
  if (ok && cfg.db != 0)
    ok = setup_command(c, "SELECT", redisCommand(c, "SELECT %d", cfg.db), err,
                       err_len);
  if (ok && cfg.sentinel_count > 0)
    ok = is_master(c, err, err_len);
  if (ok)
    ok = load_scripts(c, err, err_len);
  if (!ok) {
    redisFree(c);
    conn.failed_at_ms = monotonic_ms();
    return false;
  }
  adopt_connection(c);
  conn.failed_at_ms = 0;
  return true;
}

/* Error replies after which this connection must not be used again: the
 * node is a replica now, still loading, or has lost its master. The next
 * call reconnects (through Sentinel, when configured). */
static bool error_is_fatal(const char *msg) {
  return strncmp(msg, "READONLY", 8) == 0 || strncmp(msg, "LOADING", 7) == 0 ||
         strncmp(msg, "MASTERDOWN", 10) == 0;
}

/* Turn an error reply into err (and drop the connection if it is fatal).
 * Frees r. */
static void error_reply(redisReply *r, char *err, size_t err_len) {
  snprintf(err, err_len, "redis: %s", r->str);
  if (error_is_fatal(r->str))
    drop_connection();
  freeReplyObject(r);
}

/*
 * Run script `id` with `nkeys` keys then `nargs` args (all NUL-terminated).
 * Returns the reply, an array whose first element is the status word (the
 * caller frees it), or NULL with err filled: Redis unreachable, timed out
 * (the connection is then dropped) or answered an error.
 */
static redisReply *run_script_once(int id, const char *const *keys, int nkeys,
                                   const char *const *args, int nargs,
                                   char *err, size_t err_len) {
  enum { MAX_ARGV = 160 };
  if (3 + nkeys + nargs > MAX_ARGV) {
    snprintf(err, err_len, "store: too many script arguments");
    return NULL;
  }
  if (!connect_if_needed(err, err_len))
    return NULL;
  const char *argv[MAX_ARGV];
  size_t argvlen[MAX_ARGV];
  char numkeys[16];
  snprintf(numkeys, sizeof numkeys, "%d", nkeys);
  int argc = 0;
  argv[argc++] = "EVALSHA";
  argv[argc++] = conn.sha[id];
  argv[argc++] = numkeys;
  for (int i = 0; i < nkeys; i++)
    argv[argc++] = keys[i];
  for (int i = 0; i < nargs; i++)
    argv[argc++] = args[i];
  for (int i = 0; i < argc; i++)
    argvlen[i] = strlen(argv[i]);

  redisReply *r = redisCommandArgv(conn.ctx, argc, argv, argvlen);
  if (r && r->type == REDIS_REPLY_ERROR &&
      strncmp(r->str, "NOSCRIPT", 8) == 0) {
    /* The server lost its script cache (SCRIPT FLUSH, restart behind the
     * same connection): EVAL the source, which caches it again under the
     * same SHA. */
    freeReplyObject(r);
    argv[0] = "EVAL";
    argv[1] = scripts[id];
    argvlen[0] = 4;
    argvlen[1] = strlen(scripts[id]);
    r = redisCommandArgv(conn.ctx, argc, argv, argvlen);
  }
  if (!r) {
    connection_broke(err, err_len);
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    error_reply(r, err, err_len);
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

/*
 * Run a script; with Sentinel, ride out a failover: while the connection is
 * gone (no connection, I/O error, or the node turned replica), wait and
 * retry until failover_wait_ms has passed. Each retry reconnects, asking
 * the sentinels for the current master. Script replies (including error
 * replies that are not about the connection) are never retried.
 *
 * A retried commit whose first try did run but whose reply was lost finds
 * its lock gone and reports STORE_LOCK_LOST; the session was written.
 */
static redisReply *run_script(int id, const char *const *keys, int nkeys,
                              const char *const *args, int nargs, char *err,
                              size_t err_len) {
  int64_t deadline = monotonic_ms() + cfg.failover_wait_ms;
  for (int attempt = 0;; attempt++) {
    bool was_connected = conn.ctx != NULL;
    conn.peer_closed = false;
    redisReply *r = run_script_once(id, keys, nkeys, args, nargs, err, err_len);
    if (!r && attempt == 0 && was_connected && conn.peer_closed) {
      /* The connection this thread kept was dead (Redis restarted since
       * its last use): try once more on a new one before failing. */
      conn.failed_at_ms = 0;
      continue;
    }
    if (r || cfg.sentinel_count == 0 || conn.ctx != NULL ||
        monotonic_ms() >= deadline)
      return r;
    /* The connection was dropped: wait out the reconnect backoff. */
    struct timespec pause = {.tv_sec = 0,
                             .tv_nsec = RECONNECT_BACKOFF_MS * 1000000L};
    nanosleep(&pause, NULL);
    conn.failed_at_ms = 0;
  }
}

/* The script's status word. */
static const char *status_word(const redisReply *r) {
  return r->element[0]->str;
}

/* ---------------------------------------------------------------------
 * Session hash <-> flow_session, one table row per field.
 * ------------------------------------------------------------------- */

typedef enum {
  FIELD_STR,
  FIELD_STATE,
  FIELD_OUTCOME,
  FIELD_RESULT,
  FIELD_METHOD,
  FIELD_BOOL,
  FIELD_INT,
  FIELD_I64,
} field_kind;

typedef struct {
  const char *name;
  field_kind kind;
  size_t offset;
  size_t size; /* FIELD_STR: buffer size, NUL included */
} field_def;

#define FIELD(wire, kind, member)                                              \
  {                                                                            \
    wire, kind, offsetof(flow_session, member),                                \
        sizeof(((flow_session *)0)->member)                                    \
  }

static const field_def fields[] = {
    FIELD("conversationId", FIELD_STR, conversation_id),
    FIELD("serviceLine", FIELD_STR, service_line),
    FIELD("language", FIELD_STR, language),
    FIELD("state", FIELD_STATE, state),
    FIELD("outcome", FIELD_OUTCOME, outcome),
    FIELD("lastResult", FIELD_RESULT, last_result),
    FIELD("method", FIELD_METHOD, method),
    FIELD("identified", FIELD_BOOL, identified),
    FIELD("verified", FIELD_BOOL, verified),
    FIELD("customerId", FIELD_STR, customer_id),
    FIELD("customerName", FIELD_STR, customer_name),
    FIELD("identifyAttempts", FIELD_INT, identify_attempts),
    FIELD("verifyAttempts", FIELD_INT, verify_attempts),
    FIELD("aniMasked", FIELD_STR, ani_masked),
    FIELD("createdMs", FIELD_I64, created_ms),
    FIELD("updatedMs", FIELD_I64, updated_ms),
};
#define FIELD_COUNT (sizeof fields / sizeof fields[0])

/* Strict decimal: digits only (no sign, space or "0x"), within [0, max]. */
static bool parse_decimal(const char *s, int64_t max, int64_t *out) {
  if (!*s)
    return false;
  int64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    int d = *s - '0';
    if (d > max || v > (max - d) / 10) /* v * 10 + d > max */
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* Decode one value into its member. False when it is not valid. */
static bool decode_field(const field_def *f, const redisReply *v,
                         flow_session *s) {
  void *dst = (char *)s + f->offset;
  if (strlen(v->str) != v->len)
    return false; /* an embedded NUL */
  int64_t n;
  switch (f->kind) {
  case FIELD_STR:
    if (v->len >= f->size)
      return false;
    memcpy(dst, v->str, v->len + 1);
    return true;
  case FIELD_STATE:
    return flow_state_parse(v->str, dst);
  case FIELD_OUTCOME:
    return flow_outcome_parse(v->str, dst);
  case FIELD_RESULT:
    return flow_result_parse(v->str, dst);
  case FIELD_METHOD:
    return flow_method_parse(v->str, dst);
  case FIELD_BOOL:
    if (!parse_decimal(v->str, 1, &n))
      return false;
    *(bool *)dst = n == 1;
    return true;
  case FIELD_INT:
    if (!parse_decimal(v->str, INT_MAX, &n))
      return false;
    *(int *)dst = (int)n;
    return true;
  case FIELD_I64:
    return parse_decimal(v->str, INT64_MAX, dst);
  }
  return false;
}

/*
 * Decode an HGETALL array into *s. Every field must be present and valid;
 * unknown fields are ignored (a newer writer may add some).
 */
static bool decode_session(const redisReply *h, flow_session *s, char *err,
                           size_t err_len) {
  memset(s, 0, sizeof *s);
  if (h->type != REDIS_REPLY_ARRAY || h->elements % 2 != 0) {
    snprintf(err, err_len, "session is not a hash");
    return false;
  }
  uint32_t seen = 0;
  for (size_t i = 0; i + 1 < h->elements; i += 2) {
    const redisReply *k = h->element[i], *v = h->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
      snprintf(err, err_len, "session hash has a non-string entry");
      return false;
    }
    for (size_t j = 0; j < FIELD_COUNT; j++) {
      if (strcmp(k->str, fields[j].name) != 0)
        continue;
      if (!decode_field(&fields[j], v, s)) {
        snprintf(err, err_len, "session field %s is invalid", fields[j].name);
        return false;
      }
      seen |= 1u << j;
      break;
    }
  }
  for (size_t j = 0; j < FIELD_COUNT; j++)
    if (!(seen & (1u << j))) {
      snprintf(err, err_len, "session field %s is missing", fields[j].name);
      return false;
    }
  return true;
}

/* Decimal texts of the numeric fields while a session is encoded. */
typedef struct {
  char text[FIELD_COUNT][24];
} number_texts;

/*
 * Fill out[0 .. 2*FIELD_COUNT) with field, value pairs for HSET. The values
 * point into *s, static names or *nums. False (err filled) when the
 * session holds something decode_session() would refuse, so a bad record
 * is never written.
 */
static bool encode_session(const flow_session *s, const char **out,
                           number_texts *nums, char *err, size_t err_len) {
  for (size_t j = 0; j < FIELD_COUNT; j++) {
    const field_def *f = &fields[j];
    const void *src = (const char *)s + f->offset;
    const char *value = NULL;
    char *num = nums->text[j];
    switch (f->kind) {
    case FIELD_STR:
      value = memchr(src, '\0', f->size) ? src : NULL;
      break;
    case FIELD_STATE:
      value = flow_state_name(*(const flow_state *)src);
      break;
    case FIELD_OUTCOME:
      value = flow_outcome_name(*(const flow_outcome *)src);
      break;
    case FIELD_RESULT:
      value = flow_result_name(*(const flow_result *)src);
      break;
    case FIELD_METHOD:
      value = flow_method_name(*(const flow_method *)src);
      break;
    case FIELD_BOOL:
      value = *(const bool *)src ? "1" : "0";
      break;
    case FIELD_INT:
      if (*(const int *)src >= 0) {
        snprintf(num, sizeof nums->text[j], "%d", *(const int *)src);
        value = num;
      }
      break;
    case FIELD_I64:
      if (*(const int64_t *)src >= 0) {
        snprintf(num, sizeof nums->text[j], "%lld",
                 (long long)*(const int64_t *)src);
        value = num;
      }
      break;
    }
    /* The *_name functions give "" for a value outside the enum. */
    if (!value || (f->kind != FIELD_STR && !value[0])) {
      snprintf(err, err_len, "session to write has an invalid %s", f->name);
      return false;
    }
    out[2 * j] = f->name;
    out[2 * j + 1] = value;
  }
  return true;
}

/* ---------------------------------------------------------------------
 * Operations.
 * ------------------------------------------------------------------- */

void store_new_token(char *token, size_t token_len) {
  entropy_hex(token, token_len, 16);
}

/* Build "<prefix><kind>:<id>". False when it does not fit: a truncated key
 * could name another conversation's record, so it is never used. */
static bool key_for(char *out, size_t len, const char *kind, const char *id,
                    char *err, size_t err_len) {
  int n = snprintf(out, len, "%s%s:%s", cfg.key_prefix, kind, id);
  if (n < 0 || (size_t)n >= len) {
    snprintf(err, err_len, "store: %s key too long", kind);
    return false;
  }
  return true;
}

/* The session and lock keys of a conversation. */
typedef struct {
  char session[KEY_MAX];
  char lock[KEY_MAX];
} session_keys;

static bool keys_for(session_keys *k, const char *id, char *err,
                     size_t err_len) {
  return key_for(k->session, sizeof k->session, "session", id, err, err_len) &&
         key_for(k->lock, sizeof k->lock, "lock", id, err, err_len);
}

/* Fill err with `msg` and return `st`. */
static store_status fail_with(store_status st, const char *msg, char *err,
                              size_t err_len) {
  snprintf(err, err_len, "%s", msg);
  return st;
}

/* A status word the caller did not expect: a script/code mismatch. */
static store_status unexpected(const redisReply *r, char *err, size_t err_len) {
  snprintf(err, err_len, "redis: unexpected script status '%s'",
           status_word(r));
  return STORE_UNAVAILABLE;
}

store_status store_create(const char *id, const char *token,
                          flow_session *existing, char *err, size_t err_len) {
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  char lock_ms[16];
  snprintf(lock_ms, sizeof lock_ms, "%d", cfg.lock_ms);
  const char *keys[] = {k.session, k.lock}, *args[] = {token, lock_ms};
  redisReply *r = run_script(SCRIPT_CREATE, keys, 2, args, 2, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  const char *w = status_word(r);
  store_status st;
  if (!strcmp(w, "ok"))
    st = STORE_OK;
  else if (!strcmp(w, "busy"))
    st = STORE_BUSY;
  else if (!strcmp(w, "exists"))
    st = r->elements >= 2 &&
                 decode_session(r->element[1], existing, err, err_len)
             ? STORE_EXISTS
             : STORE_CORRUPT;
  else if (!strcmp(w, "corrupt"))
    st = fail_with(STORE_CORRUPT, "session key is not a hash", err, err_len);
  else
    st = unexpected(r, err, err_len);
  freeReplyObject(r);
  return st;
}

store_status store_begin(const char *id, const char *token,
                         unsigned allowed_states, flow_attempt_counter counter,
                         flow_session *out, bool *customer_locked, char *err,
                         size_t err_len) {
  *customer_locked = false;
  memset(out, 0, sizeof *out);
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  char lock_ms[16], prefix[KEY_MAX], max[16], window[16];
  snprintf(prefix, sizeof prefix, "%slockout:", cfg.key_prefix);
  snprintf(lock_ms, sizeof lock_ms, "%d", cfg.lock_ms);
  snprintf(max, sizeof max, "%d", cfg.lockout_max_failures);
  snprintf(window, sizeof window, "%d", cfg.lockout_window_seconds);
  const char *args[5 + FLOW_STATE_COMPLETED + 1 + 1] = {
      token, lock_ms,
      counter == FLOW_COUNTER_IDENTIFY ? "identifyAttempts"
      : counter == FLOW_COUNTER_VERIFY ? "verifyAttempts"
                                       : "",
      prefix, max};
  int nargs = 5;
  for (int s = FLOW_STATE_AWAITING_IDENTIFIER; s <= FLOW_STATE_COMPLETED; s++)
    if (allowed_states & (1u << s))
      args[nargs++] = flow_state_name((flow_state)s);
  args[nargs++] = window; /* always last: the script reads ARGV[#ARGV] */
  const char *keys[] = {k.session, k.lock};
  redisReply *r = run_script(SCRIPT_BEGIN, keys, 2, args, nargs, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  const char *w = status_word(r);
  store_status st;
  if (!strcmp(w, "not_found")) {
    st = STORE_NOT_FOUND;
  } else if (!strcmp(w, "busy")) {
    st = STORE_BUSY;
  } else if (!strcmp(w, "corrupt")) {
    snprintf(err, err_len, "session or lockout counter is malformed");
    st = STORE_CORRUPT;
  } else if (strcmp(w, "ok") != 0 && strcmp(w, "wrong_state") != 0) {
    st = unexpected(r, err, err_len);
  } else if (r->elements < 2 ||
             !decode_session(r->element[1], out, err, err_len)) {
    st = STORE_CORRUPT;
    if (!strcmp(w, "ok")) {
      /* We hold the lock on a record we cannot read: let it go, so the
       * caller has nothing to release. */
      char ignored[STORE_ERR_MAX];
      freeReplyObject(r);
      store_release(id, token, ignored, sizeof ignored);
      return st;
    }
  } else if (!strcmp(w, "wrong_state")) {
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

/*
 * Beyond the header's contract: STORE_CORRUPT when `s` holds a value that
 * could not be read back (nothing is sent) or the customer's lockout
 * counter is not a number (nothing written); in both cases the lock is
 * let go, so the caller has nothing to release.
 */
store_status store_commit(const flow_session *s, const char *token,
                          flow_lockout_effect lockout, bool check_lockout,
                          char *err, size_t err_len) {
  return store_commit_report(s, token, lockout, check_lockout, NULL, NULL, err,
                             err_len);
}

/* Report arguments of the commit script (see script_commit), with the
 * numbers they need kept in *txt. Returns how many were written to out. */
typedef struct {
  char ttl[24], nc[16], maxlen[24], minid[32], ne[16];
} report_texts;

static int report_args(const report_record *rec, const char **out,
                       report_texts *txt) {
  if (!rec || (rec->incr_count == 0 && rec->event_count == 0))
    return 0;
  int n = 0;
  snprintf(txt->ttl, sizeof txt->ttl, "%ld", cfg.report_counter_ttl_seconds);
  snprintf(txt->nc, sizeof txt->nc, "%zu", rec->incr_count);
  out[n++] = txt->ttl;
  out[n++] = txt->nc;
  for (size_t i = 0; i < rec->incr_count; i++) {
    out[n++] = rec->incr_field[i];
    out[n++] = rec->incr_amount[i];
  }
  long long minid =
      (long long)rec->now_ms - cfg.report_stream_max_age_seconds * 1000LL;
  snprintf(txt->maxlen, sizeof txt->maxlen, "%ld", cfg.report_stream_max_len);
  snprintf(txt->minid, sizeof txt->minid, "%lld", minid > 0 ? minid : 0);
  snprintf(txt->ne, sizeof txt->ne, "%zu", rec->event_count);
  out[n++] = txt->maxlen;
  out[n++] = txt->minid;
  out[n++] = txt->ne;
  for (size_t i = 0; i < rec->event_count; i++) {
    out[n++] = rec->event_name[i];
    out[n++] = rec->event_value[i];
  }
  return n;
}

#define REPORT_ARGS_MAX (5 + 2 * REPORT_MAX_INCRS + 2 * REPORT_EVENT_FIELDS)

store_status store_commit_report(const flow_session *s, const char *token,
                                 flow_lockout_effect lockout,
                                 bool check_lockout, const report_record *rec,
                                 bool *dropped, char *err, size_t err_len) {
  if (dropped)
    *dropped = false;
  session_keys k;
  char okey[KEY_MAX], hkey[KEY_MAX], skey[KEY_MAX], dkey[KEY_MAX];
  if (!keys_for(&k, s->conversation_id, err, err_len))
    return STORE_UNAVAILABLE;
  /* With no customer the lockout key is never read or written; name a key
   * that cannot be a customer's so the script's key list stays fixed. */
  if (!key_for(okey, sizeof okey, "lockout",
               s->customer_id[0] ? s->customer_id : "-none-", err, err_len) ||
      !key_for(hkey, sizeof hkey, "report:h", rec ? rec->hour : "none", err,
               err_len) ||
      !key_for(skey, sizeof skey, "report", "events", err, err_len) ||
      !key_for(dkey, sizeof dkey, "report", "dropped", err, err_len))
    return STORE_UNAVAILABLE;
  char ttl[16], max[16], window[16], rn[16];
  number_texts nums = {0};
  report_texts rtxt;
  const char *args[7 + REPORT_ARGS_MAX + 2 * FIELD_COUNT];
  int nrep = report_args(rec, args + 7, &rtxt);
  if (!encode_session(s, args + 7 + nrep, &nums, err, err_len)) {
    char ignored[STORE_ERR_MAX];
    store_release(s->conversation_id, token, ignored, sizeof ignored);
    return STORE_CORRUPT;
  }
  snprintf(ttl, sizeof ttl, "%d", cfg.session_ttl_seconds);
  snprintf(max, sizeof max, "%d", cfg.lockout_max_failures);
  snprintf(window, sizeof window, "%d", cfg.lockout_window_seconds);
  snprintf(rn, sizeof rn, "%d", nrep);
  args[0] = token;
  args[1] = ttl;
  args[2] = !s->customer_id[0]                       ? "none"
            : lockout == FLOW_LOCKOUT_RECORD_FAILURE ? "fail"
            : lockout == FLOW_LOCKOUT_CLEAR          ? "clear"
                                                     : "none";
  args[3] = check_lockout && s->customer_id[0] ? "1" : "0";
  args[4] = max;
  args[5] = window;
  args[6] = rn;
  const char *keys[] = {k.session, k.lock, okey, hkey, skey, dkey};
  redisReply *r = run_script(SCRIPT_COMMIT, keys, 6, args,
                             (int)(7 + nrep + 2 * FIELD_COUNT), err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  const char *w = status_word(r);
  store_status st;
  if (!strcmp(w, "ok")) {
    st = STORE_OK;
    if (dropped && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_STRING &&
        strcmp(r->element[1]->str, "1") == 0)
      *dropped = true;
  } else if (!strcmp(w, "lock_lost"))
    st = fail_with(STORE_LOCK_LOST, "lock expired or taken", err, err_len);
  else if (!strcmp(w, "customer_locked"))
    st = STORE_CUSTOMER_LOCKED;
  else if (!strcmp(w, "corrupt"))
    st = fail_with(STORE_CORRUPT, "lockout counter is not a number", err,
                   err_len);
  else
    st = unexpected(r, err, err_len);
  freeReplyObject(r);
  return st;
}

store_status store_release(const char *id, const char *token, char *err,
                           size_t err_len) {
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  const char *keys[] = {k.lock}, *args[] = {token};
  redisReply *r = run_script(SCRIPT_RELEASE, keys, 1, args, 1, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  const char *w = status_word(r);
  store_status st;
  if (!strcmp(w, "ok"))
    st = STORE_OK;
  else if (!strcmp(w, "lock_lost"))
    st = fail_with(STORE_LOCK_LOST, "lock expired or taken", err, err_len);
  else
    st = unexpected(r, err, err_len);
  freeReplyObject(r);
  return st;
}

store_status store_get(const char *id, flow_session *out, char *err,
                       size_t err_len) {
  memset(out, 0, sizeof *out);
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  const char *keys[] = {k.session};
  redisReply *r = run_script(SCRIPT_GET, keys, 1, NULL, 0, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  const char *w = status_word(r);
  store_status st;
  if (!strcmp(w, "not_found"))
    st = STORE_NOT_FOUND;
  else if (!strcmp(w, "corrupt"))
    st = fail_with(STORE_CORRUPT, "session key is not a hash", err, err_len);
  else if (!strcmp(w, "ok"))
    st = r->elements >= 2 && decode_session(r->element[1], out, err, err_len)
             ? STORE_OK
             : STORE_CORRUPT;
  else
    st = unexpected(r, err, err_len);
  freeReplyObject(r);
  return st;
}

store_status store_delete(const char *id, char *err, size_t err_len) {
  session_keys k;
  if (!keys_for(&k, id, err, err_len))
    return STORE_UNAVAILABLE;
  const char *keys[] = {k.session, k.lock};
  redisReply *r = run_script(SCRIPT_DELETE, keys, 2, NULL, 0, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  const char *w = status_word(r);
  store_status st = !strcmp(w, "ok")          ? STORE_OK
                    : !strcmp(w, "not_found") ? STORE_NOT_FOUND
                                              : unexpected(r, err, err_len);
  freeReplyObject(r);
  return st;
}

store_status store_ping(char *err, size_t err_len) {
  if (!connect_if_needed(err, err_len))
    return STORE_UNAVAILABLE;
  redisReply *r = redisCommand(conn.ctx, "PING");
  if (!r) {
    connection_broke(err, err_len);
    return STORE_UNAVAILABLE;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    error_reply(r, err, err_len);
    return STORE_UNAVAILABLE;
  }
  bool ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
  if (!ok)
    snprintf(err, err_len, "redis: unexpected PING reply");
  freeReplyObject(r);
  return ok ? STORE_OK : STORE_UNAVAILABLE;
}

/* ---------------------------------------------------------------------
 * Report reads: plain commands, not scripts (they only read).
 * ------------------------------------------------------------------- */

/* Parse a whole decimal integer (possibly negative). */
static bool parse_count(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end)
    return false;
  *out = v;
  return true;
}

/* Hashes are read in batches of this many pipelined HGETALLs, so a long
 * range does not queue everything in the output buffer at once. */
#define HOURS_BATCH 256

store_status store_report_hours(const char (*hours)[REPORT_HOUR_LEN + 1],
                                size_t n, store_hour_field_fn on_field,
                                void *user, char *err, size_t err_len) {
  if (!connect_if_needed(err, err_len))
    return STORE_UNAVAILABLE;
  for (size_t base = 0; base < n; base += HOURS_BATCH) {
    size_t m = n - base < HOURS_BATCH ? n - base : HOURS_BATCH;
    for (size_t i = 0; i < m; i++) {
      char key[KEY_MAX];
      if (!key_for(key, sizeof key, "report:h", hours[base + i], err, err_len))
        return STORE_UNAVAILABLE;
      if (redisAppendCommand(conn.ctx, "HGETALL %s", key) != REDIS_OK) {
        connection_broke(err, err_len);
        return STORE_UNAVAILABLE;
      }
    }
    for (size_t i = 0; i < m; i++) {
      void *reply = NULL;
      if (redisGetReply(conn.ctx, &reply) != REDIS_OK || !reply) {
        connection_broke(err, err_len);
        return STORE_UNAVAILABLE;
      }
      redisReply *r = reply;
      /* A key of another type answers WRONGTYPE: it holds no counters. */
      if (r->type == REDIS_REPLY_ARRAY)
        for (size_t j = 0; j + 1 < r->elements; j += 2) {
          const redisReply *f = r->element[j], *v = r->element[j + 1];
          long long value;
          if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING &&
              parse_count(v->str, &value))
            on_field(user, base + i, f->str, value);
        }
      freeReplyObject(r);
    }
  }
  return STORE_OK;
}

/* Run one plain command; NULL with err filled on failure (as scripts). */
static redisReply *run_command(int argc, const char **argv, char *err,
                               size_t err_len) {
  if (!connect_if_needed(err, err_len))
    return NULL;
  redisReply *r = redisCommandArgv(conn.ctx, argc, argv, NULL);
  if (!r) {
    connection_broke(err, err_len);
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    error_reply(r, err, err_len);
    return NULL;
  }
  return r;
}

store_status store_report_events(const char *end, const char *start,
                                 size_t count, store_event_fn on_event,
                                 void *user, size_t *returned, char *err,
                                 size_t err_len) {
  *returned = 0;
  char key[KEY_MAX], num[24];
  if (!key_for(key, sizeof key, "report", "events", err, err_len))
    return STORE_UNAVAILABLE;
  snprintf(num, sizeof num, "%zu", count);
  const char *argv[] = {"XREVRANGE", key, end, start, "COUNT", num};
  redisReply *r = run_command(6, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  if (r->type != REDIS_REPLY_ARRAY) {
    freeReplyObject(r);
    return fail_with(STORE_CORRUPT, "report stream: unexpected reply", err,
                     err_len);
  }
  enum { MAX_FIELDS = 32 };
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
      continue;
    const redisReply *kv = e->element[1];
    const char *names[MAX_FIELDS], *values[MAX_FIELDS];
    size_t nf = 0;
    for (size_t j = 0; j + 1 < kv->elements && nf < MAX_FIELDS; j += 2)
      if (kv->element[j]->type == REDIS_REPLY_STRING &&
          kv->element[j + 1]->type == REDIS_REPLY_STRING) {
        names[nf] = kv->element[j]->str;
        values[nf++] = kv->element[j + 1]->str;
      }
    on_event(user, e->element[0]->str, nf, names, values);
  }
  *returned = r->elements;
  freeReplyObject(r);
  return STORE_OK;
}

store_status store_report_dropped(long long *out, char *err, size_t err_len) {
  *out = 0;
  char key[KEY_MAX];
  if (!key_for(key, sizeof key, "report", "dropped", err, err_len))
    return STORE_UNAVAILABLE;
  const char *argv[] = {"GET", key};
  redisReply *r = run_command(2, argv, err, err_len);
  if (!r)
    return STORE_UNAVAILABLE;
  if (r->type == REDIS_REPLY_STRING && !parse_count(r->str, out))
    *out = 0;
  freeReplyObject(r);
  return STORE_OK;
}

const char *store_status_name(store_status s) {
  static const char *const names[] = {
      "ok",        "exists",          "not_found",   "busy",   "wrong_state",
      "lock_lost", "customer_locked", "unavailable", "corrupt"};
  return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}
