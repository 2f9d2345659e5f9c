/*
 * store_types: the store's types and limits, shared by its blocking side
 * (store.h), its loop side (store_async.h) and the modules beneath them:
 * the configuration, the statuses every operation ends with, and what an
 * operation found (store_result).
 */
#ifndef AUTHFLOW_STORE_TYPES_H
#define AUTHFLOW_STORE_TYPES_H

#include <stdbool.h>
#include <stddef.h>

#include "flow.h"
#include "sentinel.h"

#define STORE_TOKEN_MAX 40
#define STORE_ERR_MAX 200

typedef struct {
  char host[256];
  int port;
  char password[256]; /* "" for none */
  int db;
  char key_prefix[64];
  int session_ttl_seconds;
  int lock_ms; /* must exceed the longest step (CRM budget + margin) */
  int connect_timeout_ms;
  int command_timeout_ms;
  int lockout_max_failures;
  int lockout_window_seconds;           /* the first lockout's length */
  int lockout_failure_memory_seconds;   /* failures count this long */
  int lockout_max_lock_seconds;         /* escalation cap */
  int lockout_escalation_reset_seconds; /* lockout count kept this long */
  int global_max_failures_per_minute;   /* per service line; 0 = off */
  int caller_max_failures;              /* 0 = off */
  int caller_window_seconds;
  int withheld_max_failures; /* calls with no usable ANI; 0 = off */
  /* Failed identifications (IDENTIFIER steps), counted like failed
   * verifications: per service line per minute, per caller number in a
   * window, and for all calls with no usable ANI together. 0 = off. */
  int identify_global_max_per_minute;
  int identify_caller_max_failures;
  int identify_caller_window_seconds;
  int identify_withheld_max_failures;
  /* Redis Sentinel: when sentinel_count > 0, host/port above are ignored
   * and the master of `master_name` is asked of the sentinels at every
   * (re)connect; the node reached must report ROLE master. */
  sentinel_addr sentinels[SENTINEL_MAX];
  size_t sentinel_count;
  char master_name[128];
  /* With sentinels: how long Redis may be without a usable master before
   * operations fail at once (store_wait_ms takes the longest of this,
   * wait_ms and connect_timeout_ms); meanwhile they re-ask the sentinels
   * and send again what they had sent, within their own give_up time. */
  int failover_wait_ms;
  /* How long an operation may wait for Redis to come back (a restart, a
   * crash and restart, a failover), resending what it had sent (see
   * "Idempotency" below): the step's budget. An outage older than this
   * fails operations at once. 0: connect_timeout_ms (or with Sentinel
   * failover_wait_ms, when longer); store_wait_ms() never gives less. */
  int wait_ms;
  /* Reporting (see report.h): the event stream is trimmed to about
   * report_stream_max_len entries and report_stream_max_age_seconds; the
   * hour counters expire report_counter_ttl_seconds after their last
   * update. */
  long report_stream_max_len;
  long report_stream_max_age_seconds;
  long report_counter_ttl_seconds;
  /* Where report reads go (store_report_use_target): report_host
   * "" = the primary like everything else; with report_sentinel_replica, a
   * replica of master_name that the sentinels name at each connect. */
  char report_host[256];
  int report_port;
  char report_password[256];
  int report_db;
  bool report_sentinel_replica;
  /* Handoff guess limit: at most handoff_max_failures failed redemptions
   * across all sessions per window of handoff_failure_window_seconds. */
  int handoff_max_failures;
  int handoff_failure_window_seconds;
} store_config;

typedef enum {
  STORE_OK = 0,
  STORE_EXISTS,          /* store_create: session already there */
  STORE_NOT_FOUND,       /* no such session */
  STORE_BUSY,            /* another step holds the lock */
  STORE_WRONG_STATE,     /* state not in the allowed mask; *out filled */
  STORE_LOCK_LOST,       /* commit/release: our lock expired or was taken */
  STORE_CUSTOMER_LOCKED, /* commit with check_lockout: nothing written */
  STORE_UNAVAILABLE,     /* Redis down, timed out, or answered an error */
  STORE_CORRUPT,         /* the stored session could not be decoded */
  STORE_DELETED,         /* store_create: deleted within the session TTL */
} store_status;

/* Which failed-attempt limit a verify or identifier step found reached
 * (store_begin). */
typedef enum {
  STORE_LIMIT_NONE = 0,
  STORE_LIMIT_GLOBAL,   /* the session's service line, per minute */
  STORE_LIMIT_CALLER,   /* the caller's own number */
  STORE_LIMIT_WITHHELD, /* the bucket of every call with no usable ANI */
} store_limit;

typedef enum {
  STORE_HANDOFF_REDEEMED = 0, /* *out filled; the handoff is gone */
  STORE_HANDOFF_NO_MATCH,     /* a failed redemption, counted */
  STORE_HANDOFF_TRIPPED,      /* the same, and it reached the guess limit */
  STORE_HANDOFF_LIMITED,      /* at the limit: not looked at, not counted */
} store_handoff_result;

/* What an operation found. Which fields are filled depends on it (see
 * each operation). */
typedef struct {
  store_status status;
  char err[STORE_ERR_MAX];
  /* create: the existing session (STORE_EXISTS); begin: the session after
   * the increment (STORE_OK, STORE_WRONG_STATE); get: the session. */
  flow_session session;
  flow_link link;             /* create with a linked_id, STORE_OK */
  bool customer_locked;       /* begin, STORE_OK */
  store_limit limit;          /* begin, STORE_OK */
  bool dropped;               /* commit: a report record was dropped */
  int lockout_level;          /* commit: lockout count a failure started */
  store_handoff_result taken; /* handoff take, STORE_OK */
  flow_handoff handoff;       /* handoff take, STORE_HANDOFF_REDEEMED */
  int otp_send;               /* otp send limits: a store_otp_verdict */
} store_result;

typedef void (*store_done_fn)(void *ctx, store_result *out);

/* Static name of a status, for logs. */
const char *store_status_name(store_status s);

#endif
