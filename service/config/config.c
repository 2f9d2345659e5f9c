/*
 * config: defaults -> JSON file -> environment -> validation (SPEC §5).
 *
 * Every value is checked where it is read, so the first bad one stops the
 * load with "<full.key.path>: <reason>" (or "<VARIABLE>: <reason>" for the
 * environment), written by config_error(). The layers live apart:
 * config_file (the JSON file; service lines in config_lines), config_env
 * (the environment), config_redis (the Redis URL and Sentinels),
 * config_value (checks both layers share), config_json (the table-driven
 * JSON readers). This module never logs: the caller decides what to do
 * with the message.
 */
#include "config.h"

#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config_error.h"

#include "config_env.h"
#include "config_file.h"
#include "config_lines.h"

/* The built-in defaults: with no file and no environment, this (plus the
 * parsed redis_url and the "default" service line) is the configuration. */
static const config defaults = {
    .port = 8080,
    .bind_address = "0.0.0.0",
    .threads = 0, /* one event loop per online core (config_loop_count) */
    .max_body_bytes = 16384,
    .connection_timeout_seconds = 15,
    .max_connections = 4096,
    .api_key_count = 0,
    .redis_url = "redis://127.0.0.1:6379/0",
    .key_prefix = "authflow:",
    .session_ttl_seconds = 3600,
    .redis_connect_timeout_ms = 200,
    .redis_command_timeout_ms = 500,
    .redis_failover_wait_ms = 5000,
    .lockout_max_failures = 5,
    .lockout_window_seconds = 900,
    .lockout_failure_memory_seconds = 86400,
    .lockout_max_lock_seconds = 86400,
    .lockout_escalation_reset_seconds = 2592000,
    .lockout_global_max_per_minute = 300,
    .lockout_caller_max_failures = 10,
    .lockout_caller_window_seconds = 3600,
    .lockout_withheld_max_failures = 50,
    .identify_global_max_per_minute = 60,
    .identify_caller_max_failures = 10,
    .identify_caller_window_seconds = 3600,
    .identify_withheld_max_failures = 50,
    .crm_base_url = "http://127.0.0.1:8081",
    .crm_connect_timeout_ms = 1000,
    .crm_timeout_ms = 3000,
    .crm_header_count = 0,
    .crm_max_connections = 1024,
    .log_level = CONFIG_LOG_INFO,
    .report_stream_max_len = 100000,
    .report_stream_max_age_seconds = 2592000,
    .report_counter_retention_days = 90,
    .handoff_ttl_seconds = 300,
    .handoff_max_failed_redemptions = 30,
    .handoff_failure_window_seconds = 3600,
    .handoff_max_live_codes = 10000,
    .handoff_key_max_per_minute = 600,
    .handoff_require_phone = false,
    .report_export_max_rows = 1000000,
    .report_time_zone = "UTC",
    .genesys_action_timeout_seconds = 8,
};

/* The defaults, with redis_url parsed and the one "default" line. */
static void init_defaults(config *cfg) {
  char why[128];
  *cfg = defaults;
  /* Cannot fail: the default URL is a constant known to parse (the unit
   * test for defaults checks the parsed fields). */
  (void)config_parse_redis_url(cfg->redis_url, cfg->redis_host,
                               sizeof cfg->redis_host, &cfg->redis_port,
                               cfg->redis_password, sizeof cfg->redis_password,
                               &cfg->redis_db, why, sizeof why);
  config_lines_default(cfg);
  crm_profile_default(&cfg->crm);
  config_reporting_default(&cfg->reporting);
  config_otp_default(&cfg->otp);
}

/* True when `key` is one of keys[0..n). */
static bool key_listed(const char (*keys)[CONFIG_API_KEY_MAX + 1], size_t n,
                       const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(keys[i], key) == 0)
      return true;
  return false;
}

/*
 * Checks across sections, after every layer: a handoff key has that one
 * scope (a key that also opened sessions would defeat the 403 of SPEC §7),
 * and handoff keys need the secret codes are stored under.
 */
static bool check_scopes(const config *cfg, char *err, size_t err_len) {
  for (size_t i = 0; i < cfg->handoff_key_count; i++)
    if (key_listed(cfg->api_keys, cfg->api_key_count, cfg->handoff_keys[i]) ||
        key_listed(cfg->report_keys, cfg->report_key_count,
                   cfg->handoff_keys[i]))
      return config_error(err, err_len,
                          "handoffKeys[%zu]: is also an API or report key (a "
                          "handoff key may do nothing else)",
                          i);
  if (cfg->handoff_key_count > 0 && !cfg->handoff_secret[0])
    return config_error(err, err_len,
                        "handoff.secret: required when handoffKeys are set "
                        "(codes are stored only as an HMAC under it)");
  return true;
}

/* One-time codes (SPEC §9): every line gets the otp numbers, and a line
 * that sends codes needs otp.secret and otp.send. */
static bool apply_otp(config *cfg, char *err, size_t err_len) {
  for (size_t i = 0; i < cfg->service_line_count; i++)
    if (!config_otp_apply(&cfg->otp, cfg->service_lines[i].name,
                          &cfg->service_lines[i].policy, err, err_len))
      return false;
  return true;
}

bool config_load_text(const char *json_text, size_t len, config *out, char *err,
                      size_t err_len) {
  init_defaults(out);
  bool ok = config_file_load_text(json_text, len, out, err, err_len) &&
            check_scopes(out, err, err_len) && apply_otp(out, err, err_len);
  if (!ok)
    config_free(out); /* a refused config is always left freed */
  return ok;
}

bool config_load(const char *path, char *(*getenv_fn)(const char *),
                 config *out, char *err, size_t err_len) {
  init_defaults(out);
  if (!path)
    path = config_env(getenv_fn, "AUTHFLOW_CONFIG");
  if ((path && !config_file_load(path, getenv_fn, out, err, err_len)) ||
      !config_env_apply(out, getenv_fn, err, err_len) ||
      !check_scopes(out, err, err_len) || !apply_otp(out, err, err_len)) {
    config_free(out);
    return false;
  }
  return true;
}

/* The first key of keys[0..n) shorter than the recommended length, or
 * -1. */
static long first_short(const char (*keys)[CONFIG_API_KEY_MAX + 1], size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strlen(keys[i]) < CONFIG_API_KEY_RECOMMENDED)
      return (long)i;
  return -1;
}

bool config_short_key_warning(const config *cfg, char *out, size_t out_len) {
  static const char *const names[] = {"apiKeys", "reportKeys", "handoffKeys"};
  const char(*lists[])[CONFIG_API_KEY_MAX + 1] = {
      cfg->api_keys, cfg->report_keys, cfg->handoff_keys};
  const size_t counts[] = {cfg->api_key_count, cfg->report_key_count,
                           cfg->handoff_key_count};
  for (size_t l = 0; l < 3; l++) {
    long i = first_short(lists[l], counts[l]);
    if (i < 0)
      continue;
    snprintf(out, out_len,
             "warning: %s[%ld] is shorter than %d characters; use at least "
             "32 random bytes (e.g. openssl rand -hex 32): a key is a "
             "bearer secret anyone who reaches the port can guess at",
             names[l], i, CONFIG_API_KEY_RECOMMENDED);
    return true;
  }
  return false;
}

long config_step_worst_case_ms(const config *cfg) {
  long redis = 2 * ((long)cfg->redis_connect_timeout_ms +
                    (long)cfg->redis_command_timeout_ms);
  long failover =
      cfg->redis_sentinel_count > 0 ? (long)cfg->redis_failover_wait_ms : 0;
  return cfg->crm.budget_ms + redis + failover;
}

long config_step_budget_ms(const config *cfg) {
  long ms = cfg->genesys_action_timeout_seconds * 1000 - CONFIG_STEP_MARGIN_MS;
  return ms > cfg->redis_connect_timeout_ms ? ms
                                            : cfg->redis_connect_timeout_ms;
}

long config_step_reserve_ms(const config *cfg) {
  long ms = config_step_budget_ms(cfg) - cfg->crm.budget_ms -
            cfg->redis_command_timeout_ms;
  return ms > cfg->redis_connect_timeout_ms ? ms
                                            : cfg->redis_connect_timeout_ms;
}

bool config_timeout_warning(const config *cfg, char *out, size_t out_len) {
  long worst = config_step_worst_case_ms(cfg);
  long limit = cfg->genesys_action_timeout_seconds * 1000;
  if (worst < limit)
    return false;
  char failover[64] = "";
  if (cfg->redis_sentinel_count > 0)
    snprintf(failover, sizeof failover, " + redis.failoverWaitMs %d",
             cfg->redis_failover_wait_ms);
  snprintf(out, out_len,
           "warning: one step may take %ld ms (crm.budgetMs %ld + 2 x "
           "(redis.connectTimeoutMs %d + redis.commandTimeoutMs %d)%s), not "
           "less than the Genesys data action timeout of %ld s "
           "(genesys.dataActionTimeoutSeconds): Genesys would take the "
           "Timeout path while the step still runs. Lower the budget or "
           "raise the actions' timeoutSeconds (and this key with it).",
           worst, cfg->crm.budget_ms, cfg->redis_connect_timeout_ms,
           cfg->redis_command_timeout_ms, failover,
           cfg->genesys_action_timeout_seconds);
  return true;
}

void config_free(config *cfg) {
  for (size_t i = 0;
       i < cfg->service_line_count && i < CONFIG_MAX_SERVICE_LINES; i++) {
    json_decref(cfg->service_lines[i].prompts);
    cfg->service_lines[i].prompts = NULL;
  }
  cfg->service_line_count = 0;
  /* Secrets do not outlive the configuration. */
  crm_profile_wipe(&cfg->crm);
  config_reporting_wipe(&cfg->reporting);
  explicit_bzero(cfg->api_keys, sizeof cfg->api_keys);
  cfg->api_key_count = 0;
  explicit_bzero(cfg->report_keys, sizeof cfg->report_keys);
  cfg->report_key_count = 0;
  explicit_bzero(cfg->handoff_keys, sizeof cfg->handoff_keys);
  cfg->handoff_key_count = 0;
  explicit_bzero(cfg->handoff_secret, sizeof cfg->handoff_secret);
  config_otp_wipe(&cfg->otp);
  explicit_bzero(cfg->redis_password, sizeof cfg->redis_password);
  explicit_bzero(cfg->report_redis_password, sizeof cfg->report_redis_password);
  explicit_bzero(cfg->report_redis_url, sizeof cfg->report_redis_url);
  explicit_bzero(cfg->caller_hash_key, sizeof cfg->caller_hash_key);
  /* Both URLs may carry user:password@. */
  explicit_bzero(cfg->redis_url, sizeof cfg->redis_url);
  explicit_bzero(cfg->crm_base_url, sizeof cfg->crm_base_url);
}

const config_service_line *config_find_service_line(const config *cfg,
                                                    const char *name) {
  if (!name)
    return NULL;
  for (size_t i = 0; i < cfg->service_line_count; i++)
    if (strcmp(cfg->service_lines[i].name, name) == 0)
      return &cfg->service_lines[i];
  return NULL;
}

int config_loop_count(const config *c) {
  if (c->threads > 0)
    return c->threads;
  /* The cores this process may run on (a cpuset narrows them; a CPU quota
   * does not: containers with a limit set server.threads). */
  cpu_set_t set;
  long cores = sched_getaffinity(0, sizeof set, &set) == 0
                   ? CPU_COUNT(&set)
                   : sysconf(_SC_NPROCESSORS_ONLN);
  return cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
}
