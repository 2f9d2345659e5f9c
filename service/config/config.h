/*
 * config: the one configuration struct, loaded in layers (SPEC §5):
 *   built-in defaults -> JSON file (--config or AUTHFLOW_CONFIG) ->
 *   environment variables -> validation.
 * A bad value is rejected with a message that names the key, e.g.
 *   "serviceLines.retail.maxIdentifyAttempts: must be an integer 1..10".
 *
 * File shape (every key optional):
 * {
 *   "server":  {"port":8080, "bindAddress":"0.0.0.0", "threads":0,
 *               "maxBodyBytes":16384, "connectionTimeoutSeconds":15,
 *               "maxConnections":4096},
 *   "apiKeys": ["key1","key2"],
 *   "redis":   {"url":"redis://127.0.0.1:6379/0", "keyPrefix":"authflow:",
 *               "sessionTtlSeconds":3600, "connectTimeoutMs":200,
 *               "commandTimeoutMs":500},
 *   "lockout": {"maxFailures":5, "windowSeconds":900},
 *   "identifyLimit": {"globalMaxFailuresPerMinute":60,
 *                     "callerMaxFailures":10, "callerWindowSeconds":3600,
 *                     "withheldMaxFailures":50},
 *   "crm":     {"baseUrl":"http://127.0.0.1:8081", "connectTimeoutMs":1000,
 *               "timeoutMs":3000, "headers":["X-Env: prod"],
 *               "maxConnections":1024, "operations":{...}, "auth":{...},
 *               "tls":{...}, "proxy":"...", "budgetMs":4000,
 *               "lookupRetries":1, "breaker":{...}} (see crm_config.h;
 *               ${env:NAME} / ${file:/path} secrets there are resolved by
 *               config_load, refused by config_load_text),
 *   "log":     {"level":"info"},
 *   "reportKeys": ["key3"],   keys that may read the report endpoints only
 *   "handoffKeys": ["key4"],  keys that may create handoffs and nothing else
 *   "handoff": {"secret":"${env:HANDOFF_SECRET}", "ttlSeconds":300,
 *               "maxFailedRedemptions":30,
 *               "failedRedemptionWindowSeconds":3600,
 *               "maxLiveCodes":10000, "keyMaxPerMinute":600,
 *               "requirePhoneForVerified":false},
 *   "otp":     {"secret", "length", "ttlSeconds", "maxChecks", "maxSends",
 *               "maxSendsPerCustomerPerDay", "maxSendsPerPhonePerHour",
 *               "maxSendsPerMinute", "timeoutMs", "send":{...},
 *               "auth":{...}} (config_otp.h),
 *   "reporting": {"streamMaxLen":100000, "streamMaxAgeSeconds":2592000,
 *                 "counterRetentionDays":90, "exportMaxRows":1000000,
 *                 "timeZone":"UTC", "redisUrl":"redis://replica:6379/0",
 *                 "schedules":[...], "smtp":{...},
 *                 "scheduleTickSeconds":30, "scheduleLeaseSeconds":120}
 *                 (schedules and smtp: see config_reporting.h),
 *   "serviceLines": {
 *     "<name>": {"aniLookup":true, "verification":true,
 *                "identifierType":"customer_id", "maxIdentifyAttempts":3,
 *                "maxVerifyAttempts":3, "defaultLanguage":"en-US",
 *                "identifierMinDigits":0, "identifierMaxDigits":0,
 *                "defaultCountryCode":"1",
 *                "context": {"reuseSeconds":900, "handoff":true},
 *                "verificationMethod":"answer",
 *                "prompts": {"en-US": {"ask_identifier": "..."}}}
 *   }
 * }
 * Unknown keys are rejected (they are almost always typos). With no
 * serviceLines in the file, one line named "default" with the defaults above
 * exists.
 *
 * Sentinel: "redis": {"sentinels": ["10.0.0.1:26379", ...],
 *                     "masterName": "authflow"}; env AUTHFLOW_REDIS_SENTINELS
 * (comma-separated) and AUTHFLOW_REDIS_MASTER_NAME.
 *
 * Environment (override the file): AUTHFLOW_PORT, AUTHFLOW_REDIS_URL,
 * AUTHFLOW_CRM_URL, AUTHFLOW_API_KEYS (comma-separated), AUTHFLOW_LOG_LEVEL,
 * AUTHFLOW_HANDOFF_KEYS (comma-separated).
 * AUTHFLOW_CONFIG names the file when no --config is given.
 * A key belongs to one scope: the same key in two of apiKeys, reportKeys
 * and handoffKeys is refused. handoffKeys need handoff.secret.
 */
#ifndef AUTHFLOW_CONFIG_H
#define AUTHFLOW_CONFIG_H

#define CONFIG_TZ_NAME_MAX 64

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config_otp.h"
#include "config_reporting.h"
#include "crm.h"
#include "flow.h"
#include "sentinel.h"

#define CONFIG_ERR_MAX 256
#define CONFIG_URL_MAX 512
#define CONFIG_MAX_API_KEYS 32
#define CONFIG_API_KEY_MAX 256
#define CONFIG_MAX_SERVICE_LINES 64
#define CONFIG_MAX_CRM_HEADERS 16
/* handoff.secret: shorter is refused; shorter than the recommended length
 * starts with a warning (a Redis dump plus a guessable secret reveals the
 * live codes). */
#define CONFIG_HANDOFF_SECRET_MIN 16
#define CONFIG_HANDOFF_SECRET_RECOMMENDED 32
#define CONFIG_HANDOFF_SECRET_MAX 1024
/* apiKeys, reportKeys, handoffKeys: shorter is refused; shorter than the
 * recommended length starts with a warning (--check-config prints it). A
 * key is a bearer secret that anyone who reaches the port may guess at. */
#define CONFIG_API_KEY_MIN 16
#define CONFIG_API_KEY_RECOMMENDED 32

typedef struct {
  char name[FLOW_NAME_MAX + 1];
  flow_policy policy;
  char default_language[FLOW_LANGUAGE_MAX + 1]; /* canonical, e.g. en-US */
  json_t *prompts; /* owned; NULL when no overrides */
} config_service_line;

typedef enum {
  CONFIG_LOG_DEBUG = 0,
  CONFIG_LOG_INFO,
  CONFIG_LOG_WARN,
  CONFIG_LOG_ERROR,
} config_log_level;

typedef struct {
  /* server */
  int port;
  char bind_address[64];
  int threads; /* event loops; 0: one per online core */
  size_t max_body_bytes;
  int connection_timeout_seconds;
  int max_connections;
  /* auth */
  char api_keys[CONFIG_MAX_API_KEYS][CONFIG_API_KEY_MAX + 1];
  size_t api_key_count;
  /* redis: url is parsed into the fields below it */
  char redis_url[CONFIG_URL_MAX + 1];
  char redis_host[256];
  int redis_port;
  char redis_password[256];
  int redis_db;
  char key_prefix[64];
  int session_ttl_seconds;
  int redis_connect_timeout_ms;
  int redis_command_timeout_ms;
  /* Redis Sentinel (optional): with sentinels, the master named
   * redis_master_name is asked of them at every (re)connect and the URL's
   * host and port are not used (its password and db still are). */
  sentinel_addr redis_sentinels[SENTINEL_MAX];
  size_t redis_sentinel_count;
  char redis_master_name[128];
  int redis_failover_wait_ms;
  /* lockout across calls */
  int lockout_max_failures;
  int lockout_window_seconds; /* the first lockout's length */
  /* failures count toward a lockout for this long from the first one (a
   * success clears them): longer than a lockout, so guessing just under
   * maxFailures per lockout window still ends in a lockout */
  int lockout_failure_memory_seconds;
  /* each lockout after the first doubles, up to this (seconds) */
  int lockout_max_lock_seconds;
  /* how long the count of a customer's lockouts is kept */
  int lockout_escalation_reset_seconds;
  /* failed verifications over all customers per minute, counted per
   * service line; 0 = off */
  int lockout_global_max_per_minute;
  /* failed verifications per caller number (keyed hash); 0 = off */
  int lockout_caller_max_failures;
  int lockout_caller_window_seconds;
  /* the same, for all calls with no usable ANI together (one bucket, so
   * withholding the number is no way around the per-number limit) */
  int lockout_withheld_max_failures;
  /* "identifyLimit": failed identifications (no match, several matches,
   * invalid digits), per service line per minute, per caller number per
   * window, and for all calls with no usable ANI together; 0 = off */
  int identify_global_max_per_minute;
  int identify_caller_max_failures;
  int identify_caller_window_seconds;
  int identify_withheld_max_failures;
  /* AUTHFLOW_CALLER_HASH_KEY (HMAC key for caller numbers); "" = unset,
   * main() then makes a random one */
  char caller_hash_key[CONFIG_API_KEY_MAX + 1];
  /* crm */
  char crm_base_url[CONFIG_URL_MAX + 1]; /* no trailing '/' */
  long crm_connect_timeout_ms;
  long crm_timeout_ms;
  char crm_headers[CONFIG_MAX_CRM_HEADERS][CONFIG_URL_MAX + 1];
  size_t crm_header_count;
  long crm_max_connections;
  /* the connector: operations, mapping, auth, TLS, resilience (crm.h,
   * keys in crm_config.h); secrets resolved, wiped by config_free() */
  crm_profile crm;
  /* log */
  config_log_level log_level;
  /* reporting: report_keys may read reports and nothing else (api_keys
   * may read them too) */
  char report_keys[CONFIG_MAX_API_KEYS][CONFIG_API_KEY_MAX + 1];
  size_t report_key_count;
  long report_stream_max_len;
  long report_stream_max_age_seconds;
  long report_counter_retention_days;
  /* handoffs (SPEC §7): handoff_keys may create handoffs and nothing
   * else; codes are stored as HMACs under handoff_secret ("" = handoffs
   * off: no key can create one and every redemption is refused unchecked);
   * at most handoff_max_failed_redemptions failed redemptions across all
   * sessions per handoff_failure_window_seconds. */
  char handoff_keys[CONFIG_MAX_API_KEYS][CONFIG_API_KEY_MAX + 1];
  size_t handoff_key_count;
  char handoff_secret[CONFIG_HANDOFF_SECRET_MAX + 1];
  int handoff_ttl_seconds;
  int handoff_max_failed_redemptions;
  int handoff_failure_window_seconds;
  /* at most handoff_max_live_codes codes live at once over every key and
   * instance (the guessing bound is computed from it); each handoff key
   * creates at most handoff_key_max_per_minute a minute (0: no limit);
   * with handoff_require_phone, a verified handoff must name the phone it
   * may be redeemed from */
  int handoff_max_live_codes;
  int handoff_key_max_per_minute;
  bool handoff_require_phone;
  long report_export_max_rows; /* most rows one export holds */
  /* reporting.timeZone: the IANA zone reports use when a request names
   * none (checked against the zone database at start-up by main) */
  char report_time_zone[CONFIG_TZ_NAME_MAX + 1];
  /* reporting.schedules, reporting.smtp and the scheduler's tick and
   * lease (config_reporting.h); SMTP secrets wiped by config_free() */
  config_reporting reporting;
  /* reporting.redisUrl: where reports read ("" = the primary, as every
   * step): a redis:// URL (a replica), or "sentinel:replica" (a replica of
   * redis.masterName, asked of redis.sentinels at each connect) */
  char report_redis_url[CONFIG_URL_MAX + 1];
  char report_redis_host[256];
  int report_redis_port;
  char report_redis_password[256];
  int report_redis_db;
  bool report_redis_sentinel_replica;
  /* genesys: the data actions' timeoutSeconds (--check-config warns when
   * a step could outlast it; see config_step_worst_case_ms) */
  long genesys_action_timeout_seconds;
  /* one-time codes (SPEC §9; config_otp.h) */
  config_otp otp;
  /* service lines */
  config_service_line service_lines[CONFIG_MAX_SERVICE_LINES];
  size_t service_line_count;
} config;

/*
 * Load the full layered configuration. `path` may be NULL (then
 * AUTHFLOW_CONFIG is used if set, else defaults only). `getenv_fn` is the
 * environment lookup (pass getenv; tests pass a fake). On success fills
 * *out and returns true; the caller must config_free() it. On failure
 * writes a message naming the key into err, leaves nothing allocated and
 * returns false.
 */
bool config_load(const char *path, char *(*getenv_fn)(const char *),
                 config *out, char *err, size_t err_len);

/* Same as config_load's file layer but from text already in memory (for
 * tests and the fuzzer); no environment layer. */
bool config_load_text(const char *json_text, size_t len, config *out, char *err,
                      size_t err_len);

/* Release what config_load*() allocated; safe on a zeroed struct. */
void config_free(config *cfg);

/*
 * The longest one step can take, in ms: the CRM budget (crm.budgetMs) plus
 * two Redis round trips of at most connect + command timeout each, plus
 * redis.failoverWaitMs when Sentinel is used.
 */
long config_step_worst_case_ms(const config *cfg);

/* Kept between a step's budget and the Genesys data action timeout: the
 * network both ways and Genesys's own handling. */
#define CONFIG_STEP_MARGIN_MS 500

/*
 * A step's budget, in ms from its arrival: the Genesys data action timeout
 * (genesys.dataActionTimeoutSeconds) less CONFIG_STEP_MARGIN_MS, never
 * below redis.connectTimeoutMs (at the defaults 7500 ms, of which the
 * reserve below may wait 3000). A step that finds Redis away (a restart,
 * a crash, a failover) waits for it within this budget, resending what it
 * had sent, and answers before Genesys gives up on it.
 */
long config_step_budget_ms(const config *cfg);

/*
 * The part of that budget a step's reserve (create, reserve and handoff
 * scripts, before any CRM call) may wait for Redis: the budget less the
 * CRM budget and one command timeout for the commit, never below
 * redis.connectTimeoutMs. The commit may wait until the whole budget.
 */
long config_step_reserve_ms(const config *cfg);

/*
 * When that worst case is not below the Genesys data actions' timeout
 * (genesys.dataActionTimeoutSeconds), write a one-line warning naming the
 * keys into out and return true (--check-config prints it); else false.
 */
bool config_timeout_warning(const config *cfg, char *out, size_t out_len);

/*
 * When a configured key (apiKeys, reportKeys or handoffKeys) is shorter
 * than CONFIG_API_KEY_RECOMMENDED, write a one-line warning naming the
 * list and the position (never the key) into out and return true; else
 * false. Start-up logs it and --check-config prints it.
 */
bool config_short_key_warning(const config *cfg, char *out, size_t out_len);

/* The service line called `name`, or NULL. */
/* How many event loops (threads serving callers' steps) to run:
 * server.threads, or when that is 0 one per online core (1..64). */
int config_loop_count(const config *cfg);

const config_service_line *config_find_service_line(const config *cfg,
                                                    const char *name);

/*
 * Parse "redis://[:password@]host[:port][/db]" (also "redis://user:pw@...",
 * user ignored). Returns false with a reason in err.
 */
bool config_parse_redis_url(const char *url, char *host, size_t host_len,
                            int *port, char *password, size_t password_len,
                            int *db, char *err, size_t err_len);

#endif
