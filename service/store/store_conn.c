/*
 * store_conn: one Redis connection per thread, remade after any I/O error
 * (see store_conn.h for the contract), and the script and command runners
 * built on it.
 */
#include "store_conn.h"

#include "store_internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* After a failed connect or a broken connection, calls fail at once for
 * this long instead of each paying the timeouts again. */
#define RECONNECT_BACKOFF_MS 100

typedef struct {
  redisContext *ctx;
  char sha[STORE_SCRIPT_COUNT][41];
  int64_t failed_at_ms; /* 0: no recent failure */
  bool peer_closed;     /* the last failure was the peer closing */
} connection;

static _Thread_local connection conn;
/* This thread reads reports from the report target (see store.h). */
static _Thread_local bool report_target;

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval ms_to_tv(int ms) {
  return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
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

/* Make `c` this thread's connection (freed at thread exit if nobody drops
 * it first). */
static void adopt_connection(redisContext *c) {
  pthread_once(&conn_key_once, make_conn_key);
  pthread_setspecific(conn_key, c);
  conn.ctx = c;
}

/* Free this thread's connection, if any, and unregister it. */
static void drop_connection(void) {
  if (conn.ctx) {
    pthread_once(&conn_key_once, make_conn_key);
    pthread_setspecific(conn_key, NULL);
  }
  redisFree(conn.ctx); /* NULL is fine */
  conn.ctx = NULL;
}

void store_conn_use_report_target(void) {
  const store_config *cfg = store_cfg();
  if (!cfg->report_host[0] && !cfg->report_sentinel_replica)
    return;
  if (!report_target && conn.ctx)
    drop_connection();
  report_target = true;
}

void store_thread_cleanup(void) {
  drop_connection();
  conn.failed_at_ms = 0;
}

/* The connection broke (I/O error or timeout): its state is unknown, so
 * it is never reused, and reconnects back off. */
void store_conn_broke(char *err, size_t err_len) {
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

bool store_reply_is_master(const redisReply *r) {
  return r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
         r->element[0]->type == REDIS_REPLY_STRING &&
         strcmp(r->element[0]->str, "master") == 0;
}

/* The node we reached must be a master: during a failover a sentinel can
 * still name the old one for a moment. */
static bool is_master(redisContext *c, char *err, size_t err_len) {
  redisReply *r = redisCommand(c, "ROLE");
  bool ok = store_reply_is_master(r);
  if (!ok)
    snprintf(err, err_len, "redis node is not a master (failover?)");
  freeReplyObject(r);
  return ok;
}

/* Load every script in one pipelined round trip and keep their SHAs in
 * conn.sha. False (err filled) on any failure; the caller frees `c`. */
static bool load_scripts(redisContext *c, char *err, size_t err_len) {
  for (int i = 0; i < STORE_SCRIPT_COUNT; i++)
    if (redisAppendCommand(c, "SCRIPT LOAD %s",
                           store_script_source((store_script_id)i)) !=
        REDIS_OK) {
      snprintf(err, err_len, "redis SCRIPT LOAD: %s", c->errstr);
      return false;
    }
  bool ok = true;
  for (int i = 0; i < STORE_SCRIPT_COUNT; i++) {
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

/* Open a context to the master: the configured host, or the one the
 * sentinels name. NULL (err filled) when none could be reached; the
 * failure is then recorded for the backoff, dated `started` when no
 * sentinel named a master, and now when the connect itself failed. */
static redisContext *open_context(const store_config *cfg, int64_t started,
                                  char *err, size_t err_len) {
  char host[256];
  int port = cfg->port;
  snprintf(host, sizeof host, "%s", cfg->host);
  bool found = true;
  if (report_target && cfg->report_sentinel_replica)
    found = sentinel_find_replica(cfg->sentinels, cfg->sentinel_count,
                                  cfg->master_name, cfg->connect_timeout_ms,
                                  host, sizeof host, &port, err, err_len);
  else if (report_target) {
    snprintf(host, sizeof host, "%s", cfg->report_host);
    port = cfg->report_port;
  } else if (cfg->sentinel_count > 0)
    found = sentinel_find_master(cfg->sentinels, cfg->sentinel_count,
                                 cfg->master_name, cfg->connect_timeout_ms,
                                 host, sizeof host, &port, err, err_len);
  if (!found) {
    conn.failed_at_ms = started;
    return NULL;
  }
  redisContext *c =
      redisConnectWithTimeout(host, port, ms_to_tv(cfg->connect_timeout_ms));
  if (!c || c->err) {
    snprintf(err, err_len, "redis connect %s:%d: %s", host, port,
             c ? c->errstr : "out of memory");
    redisFree(c);
    conn.failed_at_ms = monotonic_ms();
    return NULL;
  }
  return c;
}

/* Make a fresh context usable: command timeout, AUTH, SELECT, the master
 * check with Sentinel, and the scripts loaded. False (err filled) when any
 * step fails; the caller frees `c`. */
static bool prepare_context(redisContext *c, const store_config *cfg, char *err,
                            size_t err_len) {
  bool ok = redisSetTimeout(c, ms_to_tv(cfg->command_timeout_ms)) == REDIS_OK;
  if (!ok)
    snprintf(err, err_len, "redis: cannot set the command timeout");
  /* A report replica named by URL has its own password and db; one named
   * by the sentinels shares the master's. It is no master and runs no
   * script: reports only read. */
  bool own = report_target && !cfg->report_sentinel_replica;
  const char *password = own ? cfg->report_password : cfg->password;
  int db = own ? cfg->report_db : cfg->db;
  if (ok && password[0])
    ok = setup_command(c, "AUTH", redisCommand(c, "AUTH %s", password), err,
                       err_len);
  if (ok && db != 0)
    ok = setup_command(c, "SELECT", redisCommand(c, "SELECT %d", db), err,
                       err_len);
  if (report_target)
    return ok;
  if (ok && cfg->sentinel_count > 0)
    ok = is_master(c, err, err_len);
  if (ok)
    ok = load_scripts(c, err, err_len);
  return ok;
}

/*
 * True when this thread's kept connection is known to be unusable before
 * anything is sent on it. Between two commands Redis owes us nothing, so
 * a socket with something to read holds the peer's close (EOF or reset:
 * Redis restarted, died, or an idle connection was cut) or bytes nobody
 * asked for; either way the connection must not carry a command. Costs
 * one poll() that does not wait. A close that arrives after this check is
 * the caller's to handle (see store_conn_script).
 */
static bool kept_connection_dead(void) {
  struct pollfd p = {.fd = conn.ctx->fd, .events = POLLIN};
  return poll(&p, 1, 0) != 0; /* readable, hung up, error, or poll failed */
}

/*
 * Make sure this thread has a working connection with the scripts loaded.
 * A kept connection found dead before use is replaced at once (nothing was
 * sent on it, so this is no failure and starts no backoff). Within
 * RECONNECT_BACKOFF_MS of a failure it does not try and fails at once, so
 * a dead Redis does not cost every request the timeouts.
 */
static bool connect_if_needed(char *err, size_t err_len) {
  if (conn.ctx && kept_connection_dead())
    drop_connection();
  if (conn.ctx)
    return true;
  int64_t now = monotonic_ms();
  if (conn.failed_at_ms && now - conn.failed_at_ms < RECONNECT_BACKOFF_MS) {
    snprintf(err, err_len, "redis unavailable (reconnecting)");
    return false;
  }
  const store_config *cfg = store_cfg();
  redisContext *c = open_context(cfg, now, err, err_len);
  if (!c)
    return false;
  if (!prepare_context(c, cfg, err, err_len)) {
    redisFree(c);
    conn.failed_at_ms = monotonic_ms();
    return false;
  }
  adopt_connection(c);
  conn.failed_at_ms = 0;
  return true;
}

bool store_reply_is_script(const redisReply *r) {
  return r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
         r->element[0]->type == REDIS_REPLY_STRING;
}

redisContext *store_conn_get(char *err, size_t err_len) {
  return connect_if_needed(err, err_len) ? conn.ctx : NULL;
}

bool store_reply_fatal(const char *msg) {
  return strncmp(msg, "READONLY", 8) == 0 || strncmp(msg, "LOADING", 7) == 0 ||
         strncmp(msg, "MASTERDOWN", 10) == 0;
}

/*
 * Vet the reply of a command just run on this thread's connection: NULL
 * (no reply: the connection broke) and error replies become NULL with err
 * filled, dropping the connection when the error says it is unusable; r is
 * then freed. Any other reply is returned as is.
 */
static redisReply *vet_reply(redisReply *r, char *err, size_t err_len) {
  if (!r) {
    store_conn_broke(err, err_len);
    return NULL;
  }
  if (r->type == REDIS_REPLY_ERROR) {
    snprintf(err, err_len, "redis: %s", r->str);
    if (store_reply_fatal(r->str))
      drop_connection();
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

/*
 * Send one command on this thread's connection and read its reply, as
 * redisCommandArgv() does, but in two phases so the caller knows what a
 * failure means. *sent becomes true once the whole command has left for
 * Redis: from then on a missing reply (EOF, reset, timeout) says nothing
 * about whether Redis ran it. A failure while writing leaves *sent false:
 * Redis only runs a command it has received whole, so it did not run.
 * Returns the reply, or NULL when the connection failed (ctx->err set).
 */
static redisReply *exchange(int argc, const char **argv, const size_t *argvlen,
                            bool *sent) {
  *sent = false;
  if (redisAppendCommandArgv(conn.ctx, argc, argv, argvlen) != REDIS_OK)
    return NULL;
  int done = 0;
  do {
    if (redisBufferWrite(conn.ctx, &done) != REDIS_OK)
      return NULL;
  } while (!done);
  *sent = true;
  void *reply = NULL;
  if (redisGetReply(conn.ctx, &reply) != REDIS_OK)
    return NULL;
  return reply;
}

/*
 * Run script `id` once with `nkeys` keys then `nargs` args, by SHA, and by
 * source if the server answers NOSCRIPT. Returns the reply, an array whose
 * first element is the status word (the caller frees it), or NULL with err
 * filled: Redis unreachable, timed out (the connection is then dropped) or
 * answered an error. *may_have_run is true when the reply is missing after
 * the command was sent: Redis may have run the script, so it must not be
 * run again. It is false for every other NULL (not connected, the write
 * failed, or an error reply: Redis refused the script or it failed).
 */
static redisReply *run_script_once(store_script_id id, const char *const *keys,
                                   int nkeys, const char *const *args,
                                   int nargs, bool *may_have_run, char *err,
                                   size_t err_len) {
  *may_have_run = false;
  enum { MAX_ARGV = 256 };
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

  bool sent = false;
  redisReply *r = exchange(argc, argv, argvlen, &sent);
  if (r && r->type == REDIS_REPLY_ERROR &&
      strncmp(r->str, "NOSCRIPT", 8) == 0) {
    /* The server lost its script cache (SCRIPT FLUSH, restart behind the
     * same connection): EVAL the source, which caches it again under the
     * same SHA. */
    freeReplyObject(r);
    argv[0] = "EVAL";
    argv[1] = store_script_source(id);
    argvlen[0] = 4;
    argvlen[1] = strlen(argv[1]);
    r = exchange(argc, argv, argvlen, &sent);
  }
  *may_have_run = !r && sent;
  r = vet_reply(r, err, err_len);
  if (r && !store_reply_is_script(r)) {
    snprintf(err, err_len, "redis: unexpected script reply");
    freeReplyObject(r);
    return NULL;
  }
  return r;
}

/*
 * Beyond the header's contract: a command is run again only when it
 * cannot have run. The one retry on a fresh connection is for a write
 * that found the connection closed by the peer (a close noticed before
 * the write is handled by connect_if_needed, which needs no retry). With
 * Sentinel, ride out a failover: while there is no usable master (no
 * connection, a write that failed, or the node refused the script as a
 * replica, loading or without its master), wait and retry until
 * failover_wait_ms has passed; each retry reconnects, asking the sentinels
 * for the current master. A script sent whose reply never came (EOF,
 * reset, timeout) is never retried, failover or not: Redis may have run
 * it (a begin would then find its own lock, a commit its lock gone), so
 * the caller gets the failure and the state is for the next step to read.
 */
redisReply *store_conn_script(store_script_id id, const char *const *keys,
                              int nkeys, const char *const *args, int nargs,
                              char *err, size_t err_len) {
  const store_config *cfg = store_cfg();
  int64_t deadline = monotonic_ms() + cfg->failover_wait_ms;
  for (int attempt = 0;; attempt++) {
    bool may_have_run = false;
    conn.peer_closed = false;
    redisReply *r = run_script_once(id, keys, nkeys, args, nargs, &may_have_run,
                                    err, err_len);
    if (r || may_have_run)
      return r;
    if (attempt == 0 && conn.peer_closed) {
      /* The write found the connection closed: nothing reached Redis, so
       * try once more on a new connection before failing. */
      conn.failed_at_ms = 0;
      continue;
    }
    if (cfg->sentinel_count == 0 || conn.ctx != NULL ||
        monotonic_ms() >= deadline)
      return r;
    /* The connection was dropped: wait out the reconnect backoff. */
    struct timespec pause = {.tv_sec = 0,
                             .tv_nsec = RECONNECT_BACKOFF_MS * 1000000L};
    nanosleep(&pause, NULL);
    conn.failed_at_ms = 0;
  }
}

redisReply *store_conn_command(int argc, const char **argv, char *err,
                               size_t err_len) {
  if (!connect_if_needed(err, err_len))
    return NULL;
  return vet_reply(redisCommandArgv(conn.ctx, argc, argv, NULL), err, err_len);
}

/* Ask once (see store_ping). Sets *replace when the failure was this
 * thread's connection itself: closed by the peer, or a node that is no
 * longer the master (the connection is then dropped). */
static store_status check_once(bool *replace, char *err, size_t err_len) {
  bool sentinel = store_cfg()->sentinel_count > 0;
  const char *argv[] = {sentinel ? "ROLE" : "PING"};
  conn.peer_closed = false;
  *replace = false;
  redisReply *r = store_conn_command(1, argv, err, err_len);
  if (!r) {
    *replace = conn.peer_closed;
    return STORE_UNAVAILABLE;
  }
  bool ok = sentinel
                ? store_reply_is_master(r)
                : r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
  freeReplyObject(r);
  if (ok)
    return STORE_OK;
  if (sentinel) {
    snprintf(err, err_len, "redis node is not a master (failover?)");
    drop_connection();
    *replace = true;
  } else {
    snprintf(err, err_len, "redis: unexpected PING reply");
  }
  return STORE_UNAVAILABLE;
}

store_status store_ping(char *err, size_t err_len) {
  bool kept = conn.ctx != NULL, replace = false;
  store_status st = check_once(&replace, err, err_len);
  if (st != STORE_OK && kept && replace) {
    /* The check is read-only, so asking again is harmless; the new
     * connection reaches the current master (through the sentinels). */
    conn.failed_at_ms = 0;
    st = check_once(&replace, err, err_len);
  }
  return st;
}
