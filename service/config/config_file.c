#include "config_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "config_error.h"
#include "config_json.h"
#include "config_lines.h"
#include "config_redis.h"
#include "config_reporting.h"
#include "config_value.h"
#include "crm_config.h"
#include "crm_template.h"

static const config_num_field server_nums[] = {
    {"port", CONFIG_NUM_INT, offsetof(config, port), 0, 65535},
    {"threads", CONFIG_NUM_INT, offsetof(config, threads), 0, 64},
    {"maxBodyBytes", CONFIG_NUM_SIZE, offsetof(config, max_body_bytes), 1024,
     1048576},
    {"connectionTimeoutSeconds", CONFIG_NUM_INT,
     offsetof(config, connection_timeout_seconds), 1, 600},
    {"maxConnections", CONFIG_NUM_INT, offsetof(config, max_connections), 16,
     100000},
};

static const config_num_field handoff_nums[] = {
    {"ttlSeconds", CONFIG_NUM_INT, offsetof(config, handoff_ttl_seconds), 1,
     86400},
    {"maxFailedRedemptions", CONFIG_NUM_INT,
     offsetof(config, handoff_max_failed_redemptions), 1, 100000},
    {"failedRedemptionWindowSeconds", CONFIG_NUM_INT,
     offsetof(config, handoff_failure_window_seconds), 1, 86400},
    {"maxLiveCodes", CONFIG_NUM_INT, offsetof(config, handoff_max_live_codes),
     1, 1000000},
    {"keyMaxPerMinute", CONFIG_NUM_INT,
     offsetof(config, handoff_key_max_per_minute), 0, 100000},
};

static const config_num_field redis_nums[] = {
    {"sessionTtlSeconds", CONFIG_NUM_INT, offsetof(config, session_ttl_seconds),
     60, 86400},
    {"connectTimeoutMs", CONFIG_NUM_INT,
     offsetof(config, redis_connect_timeout_ms), 10, 5000},
    {"commandTimeoutMs", CONFIG_NUM_INT,
     offsetof(config, redis_command_timeout_ms), 10, 5000},
    {"failoverWaitMs", CONFIG_NUM_INT, offsetof(config, redis_failover_wait_ms),
     0, 30000},
};

static const config_num_field lockout_nums[] = {
    {"maxFailures", CONFIG_NUM_INT, offsetof(config, lockout_max_failures), 1,
     100},
    {"windowSeconds", CONFIG_NUM_INT, offsetof(config, lockout_window_seconds),
     60, 86400},
    {"failureMemorySeconds", CONFIG_NUM_INT,
     offsetof(config, lockout_failure_memory_seconds), 60, 31536000},
    {"maxLockSeconds", CONFIG_NUM_INT,
     offsetof(config, lockout_max_lock_seconds), 60, 2592000},
    {"escalationResetSeconds", CONFIG_NUM_INT,
     offsetof(config, lockout_escalation_reset_seconds), 60, 31536000},
    {"globalMaxFailuresPerMinute", CONFIG_NUM_INT,
     offsetof(config, lockout_global_max_per_minute), 0, 1000000},
    {"callerMaxFailures", CONFIG_NUM_INT,
     offsetof(config, lockout_caller_max_failures), 0, 10000},
    {"callerWindowSeconds", CONFIG_NUM_INT,
     offsetof(config, lockout_caller_window_seconds), 60, 86400},
    {"withheldMaxFailures", CONFIG_NUM_INT,
     offsetof(config, lockout_withheld_max_failures), 0, 1000000},
};

/* Failed identifications, limited like failed verifications. */
static const config_num_field identify_limit_nums[] = {
    {"globalMaxFailuresPerMinute", CONFIG_NUM_INT,
     offsetof(config, identify_global_max_per_minute), 0, 1000000},
    {"callerMaxFailures", CONFIG_NUM_INT,
     offsetof(config, identify_caller_max_failures), 0, 10000},
    {"callerWindowSeconds", CONFIG_NUM_INT,
     offsetof(config, identify_caller_window_seconds), 60, 86400},
    {"withheldMaxFailures", CONFIG_NUM_INT,
     offsetof(config, identify_withheld_max_failures), 0, 1000000},
};

/* The lockout durations must grow: the cap at least the first lockout,
 * the memory of lockouts at least the cap; failures are remembered at
 * least as long as the first lockout lasts. */
static bool check_lockout(const config *cfg, char *err, size_t err_len) {
  if (cfg->lockout_failure_memory_seconds < cfg->lockout_window_seconds)
    return config_error(err, err_len,
                        "lockout.failureMemorySeconds: must be at least "
                        "lockout.windowSeconds (%d)",
                        cfg->lockout_window_seconds);
  if (cfg->lockout_max_lock_seconds < cfg->lockout_window_seconds)
    return config_error(err, err_len,
                        "lockout.maxLockSeconds: must be at least "
                        "lockout.windowSeconds (%d)",
                        cfg->lockout_window_seconds);
  if (cfg->lockout_escalation_reset_seconds < cfg->lockout_max_lock_seconds)
    return config_error(err, err_len,
                        "lockout.escalationResetSeconds: must be at least "
                        "lockout.maxLockSeconds (%d)",
                        cfg->lockout_max_lock_seconds);
  return true;
}

static const config_num_field reporting_nums[] = {
    {"streamMaxLen", CONFIG_NUM_LONG, offsetof(config, report_stream_max_len),
     100, 10000000},
    {"streamMaxAgeSeconds", CONFIG_NUM_LONG,
     offsetof(config, report_stream_max_age_seconds), 3600, 31622400},
    {"counterRetentionDays", CONFIG_NUM_LONG,
     offsetof(config, report_counter_retention_days), 1, 400},
    /* exports are spooled to a temporary file, never held in memory */
    {"exportMaxRows", CONFIG_NUM_LONG, offsetof(config, report_export_max_rows),
     100, 10000000},
};

/* "reporting": its numbers and "timeZone", an IANA name such as
 * "Europe/Madrid" (its syntax here; main checks it names a zone that the
 * zone database holds). */
static bool resolve_secret(void *user, const char *kind, const char *name,
                           char *out, size_t out_len);

static bool load_reporting(const json_t *root, config *cfg, char *err,
                           size_t err_len) {
  const char *others[8] = {"timeZone", "redisUrl"};
  for (size_t i = 0; config_reporting_keys[i] && i + 3 < CONFIG_COUNT(others);
       i++)
    others[i + 2] = config_reporting_keys[i];
  bool ok = true;
  const json_t *s =
      config_section(root, "reporting", reporting_nums,
                     CONFIG_COUNT(reporting_nums), others, &ok, err, err_len);
  if (!s)
    return ok;
  const char *tz = NULL, *url = NULL;
  if (!config_read_nums(s, "reporting", reporting_nums,
                        CONFIG_COUNT(reporting_nums), cfg, err, err_len) ||
      !config_read_str(s, "reporting", "timeZone", &tz, err, err_len) ||
      !config_read_str(s, "reporting", "redisUrl", &url, err, err_len) ||
      (url && !config_set_report_redis_url(cfg, url, "reporting.redisUrl", err,
                                           err_len)) ||
      !config_reporting_load(s, &cfg->reporting, resolve_secret, err, err_len))
    return false;
  if (!tz)
    return true;
  size_t n = strlen(tz);
  if (n == 0 || n > CONFIG_TZ_NAME_MAX ||
      strspn(tz, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789/_+-") != n ||
      tz[0] == '/' || strstr(tz, ".."))
    return config_error(err, err_len,
                        "reporting.timeZone: must be an IANA time zone name "
                        "such as Europe/Madrid");
  memcpy(cfg->report_time_zone, tz, n + 1);
  return true;
}

/* Only --check-config uses it: the Genesys data actions' timeoutSeconds. */
static const config_num_field genesys_nums[] = {
    {"dataActionTimeoutSeconds", CONFIG_NUM_LONG,
     offsetof(config, genesys_action_timeout_seconds), 1, 60},
};

static const config_num_field crm_nums[] = {
    {"connectTimeoutMs", CONFIG_NUM_LONG,
     offsetof(config, crm_connect_timeout_ms), 50, 10000},
    {"timeoutMs", CONFIG_NUM_LONG, offsetof(config, crm_timeout_ms), 100,
     30000},
    {"maxConnections", CONFIG_NUM_LONG, offsetof(config, crm_max_connections),
     1, 16384},
};

/* ---------------------------------------------------------------------
 * One function per top-level section.
 * ------------------------------------------------------------------- */

static bool load_server(const json_t *root, config *cfg, char *err,
                        size_t err_len) {
  static const char *const others[] = {"bindAddress", NULL};
  bool ok = true;
  const json_t *s =
      config_section(root, "server", server_nums, CONFIG_COUNT(server_nums),
                     others, &ok, err, err_len);
  if (!s)
    return ok;
  const char *bind = NULL;
  if (!config_read_nums(s, "server", server_nums, CONFIG_COUNT(server_nums),
                        cfg, err, err_len) ||
      !config_read_str(s, "server", "bindAddress", &bind, err, err_len))
    return false;
  return !bind ||
         config_set_bind_address(cfg, bind, "server.bindAddress", err, err_len);
}

/* A section made of integer keys only ("lockout", "reporting"). */
static bool load_nums_section(const json_t *root, const char *name,
                              const config_num_field *nums, size_t n,
                              config *cfg, char *err, size_t err_len) {
  bool ok = true;
  const json_t *s =
      config_section(root, name, nums, n, NULL, &ok, err, err_len);
  if (!s)
    return ok;
  return config_read_nums(s, name, nums, n, cfg, err, err_len);
}

/* "apiKeys", "reportKeys" and "handoffKeys": arrays of keys appended to
 * keys[*count] (report keys may read the report endpoints only, handoff
 * keys may create handoffs only). */
static bool load_key_list(const json_t *root, const char *name,
                          char (*keys)[CONFIG_API_KEY_MAX + 1], size_t *count,
                          char *err, size_t err_len) {
  const json_t *list = json_object_get(root, name);
  if (!list)
    return true;
  if (!json_is_array(list))
    return config_error(err, err_len, "%s: must be an array of strings", name);
  if (json_array_size(list) > CONFIG_MAX_API_KEYS)
    return config_error(err, err_len, "%s: at most %d keys", name,
                        CONFIG_MAX_API_KEYS);
  size_t i;
  const json_t *k;
  json_array_foreach(list, i, k) {
    char where[48];
    snprintf(where, sizeof where, "%s[%zu]", name, i);
    if (!json_is_string(k))
      return config_error(err, err_len, "%s: must be a string", where);
    if (!config_add_key(keys, count, json_string_value(k),
                        json_string_length(k), where, err, err_len))
      return false;
  }
  return true;
}

static bool set_key_prefix(config *cfg, const char *prefix, char *err,
                           size_t err_len) {
  size_t n = strlen(prefix);
  if (n == 0 || n >= sizeof cfg->key_prefix ||
      !config_printable_no_space(prefix, n))
    return config_error(err, err_len,
                        "redis.keyPrefix: must be 1..%zu printable ASCII "
                        "characters without spaces",
                        sizeof cfg->key_prefix - 1);
  memcpy(cfg->key_prefix, prefix, n + 1);
  return true;
}

static bool load_redis(const json_t *root, config *cfg, char *err,
                       size_t err_len) {
  static const char *const others[] = {"url", "keyPrefix", "sentinels",
                                       "masterName", NULL};
  bool ok = true;
  const json_t *s =
      config_section(root, "redis", redis_nums, CONFIG_COUNT(redis_nums),
                     others, &ok, err, err_len);
  if (!s)
    return ok;
  const char *url = NULL, *prefix = NULL, *master = NULL;
  if (!config_read_nums(s, "redis", redis_nums, CONFIG_COUNT(redis_nums), cfg,
                        err, err_len) ||
      !config_read_str(s, "redis", "url", &url, err, err_len) ||
      !config_read_str(s, "redis", "keyPrefix", &prefix, err, err_len))
    return false;
  if (url && !config_set_redis_url(cfg, url, "redis.url", err, err_len))
    return false;
  if (prefix && !set_key_prefix(cfg, prefix, err, err_len))
    return false;
  const json_t *sentinels = json_object_get(s, "sentinels");
  if (sentinels && !config_set_sentinels_json(cfg, sentinels, err, err_len))
    return false;
  return config_read_str(s, "redis", "masterName", &master, err, err_len) &&
         (!master || config_set_master_name(cfg, master, "redis.masterName",
                                            err, err_len));
}

static bool load_crm_headers(const json_t *headers, config *cfg, char *err,
                             size_t err_len) {
  if (!json_is_array(headers))
    return config_error(err, err_len,
                        "crm.headers: must be an array of strings");
  if (json_array_size(headers) > CONFIG_MAX_CRM_HEADERS)
    return config_error(err, err_len, "crm.headers: at most %d headers",
                        CONFIG_MAX_CRM_HEADERS);
  cfg->crm_header_count = 0;
  size_t i;
  const json_t *h;
  json_array_foreach(headers, i, h) {
    if (!json_is_string(h))
      return config_error(err, err_len, "crm.headers[%zu]: must be a string",
                          i);
    if (json_string_length(h) > CONFIG_URL_MAX ||
        !config_header_ok(json_string_value(h)))
      return config_error(err, err_len,
                          "crm.headers[%zu]: must be \"Name: value\" (token "
                          "name, no line breaks, at most %d characters)",
                          i, CONFIG_URL_MAX);
    memcpy(cfg->crm_headers[i], json_string_value(h),
           json_string_length(h) + 1);
    cfg->crm_header_count = i + 1;
  }
  return true;
}

/* Set by config_file_load() for its load, so ${env:NAME} and ${file:/path}
 * secrets in "crm" can be resolved; NULL (text loads: tests, the fuzzer)
 * refuses them. */
static _Thread_local char *(*secret_getenv)(const char *);

/* crm_secret_fn for crm_config: the environment, or a file's contents
 * (one trailing newline removed). */
static bool resolve_secret(void *user, const char *kind, const char *name,
                           char *out, size_t out_len) {
  (void)user;
  if (!secret_getenv)
    return false;
  if (strcmp(kind, "env") == 0) {
    const char *v = secret_getenv(name);
    if (!v || strlen(v) >= out_len)
      return false;
    memcpy(out, v, strlen(v) + 1);
    return true;
  }
  FILE *f = fopen(name, "rb");
  if (!f)
    return false;
  size_t n = fread(out, 1, out_len, f);
  bool more = n == out_len || fgetc(f) != EOF;
  fclose(f);
  if (more) {
    explicit_bzero(out, out_len);
    return false;
  }
  out[n] = '\0';
  if (n > 0 && out[n - 1] == '\n')
    out[--n] = '\0';
  if (n > 0 && out[n - 1] == '\r')
    out[--n] = '\0';
  return strlen(out) == n;
}

/* The keys of "crm" besides its integers: this module's own, then the
 * connector's (crm_config_keys), NULL-terminated in others[cap]. */
static void crm_other_keys(const char **others, size_t cap) {
  static const char *const own[] = {"baseUrl", "headers"};
  size_t n = 0;
  for (size_t i = 0; i < CONFIG_COUNT(own) && n + 1 < cap; i++)
    others[n++] = own[i];
  for (size_t i = 0; crm_config_keys[i] && n + 1 < cap; i++)
    others[n++] = crm_config_keys[i];
  others[n] = NULL;
}

static bool load_crm(const json_t *root, config *cfg, char *err,
                     size_t err_len) {
  const char *others[32];
  crm_other_keys(others, CONFIG_COUNT(others));
  bool ok = true;
  const json_t *s = config_section(
      root, "crm", crm_nums, CONFIG_COUNT(crm_nums), others, &ok, err, err_len);
  if (!s)
    return ok;
  const char *url = NULL;
  if (!config_read_nums(s, "crm", crm_nums, CONFIG_COUNT(crm_nums), cfg, err,
                        err_len) ||
      !config_read_str(s, "crm", "baseUrl", &url, err, err_len))
    return false;
  if (url && !config_set_crm_url(cfg, url, "crm.baseUrl", err, err_len))
    return false;
  const json_t *headers = json_object_get(s, "headers");
  if (headers && !load_crm_headers(headers, cfg, err, err_len))
    return false;
  return crm_config_load(s, &cfg->crm, resolve_secret, NULL, err, err_len);
}

/* "handoff" (SPEC §7): the secret (${env:}/${file:} resolved, at least
 * CONFIG_HANDOFF_SECRET_MIN bytes, never echoed), code lifetime, the guess
 * limit, the live cap, the per-key rate and the phone requirement. */
static bool load_handoff(const json_t *root, config *cfg, char *err,
                         size_t err_len) {
  static const char *const others[] = {"secret", "requirePhoneForVerified",
                                       NULL};
  bool ok = true;
  const json_t *s =
      config_section(root, "handoff", handoff_nums, CONFIG_COUNT(handoff_nums),
                     others, &ok, err, err_len);
  if (!s)
    return ok;
  if (!config_read_nums(s, "handoff", handoff_nums, CONFIG_COUNT(handoff_nums),
                        cfg, err, err_len) ||
      !config_read_bool(s, "handoff", "requirePhoneForVerified",
                        &cfg->handoff_require_phone, err, err_len))
    return false;
  const json_t *secret = json_object_get(s, "secret");
  if (!secret)
    return true;
  if (!json_is_string(secret))
    return config_error(err, err_len, "handoff.secret: must be a string");
  char why[160];
  if (!crm_template_resolve_secrets(json_string_value(secret),
                                    cfg->handoff_secret,
                                    sizeof cfg->handoff_secret, resolve_secret,
                                    NULL, NULL, why, sizeof why))
    return config_error(err, err_len, "handoff.secret: %s", why);
  if (strlen(cfg->handoff_secret) < CONFIG_HANDOFF_SECRET_MIN) {
    explicit_bzero(cfg->handoff_secret, sizeof cfg->handoff_secret);
    return config_error(err, err_len,
                        "handoff.secret: must be at least %d bytes (a long "
                        "random value, the same on every instance)",
                        CONFIG_HANDOFF_SECRET_MIN);
  }
  return true;
}

static bool load_log(const json_t *root, config *cfg, char *err,
                     size_t err_len) {
  static const char *const others[] = {"level", NULL};
  bool ok = true;
  const json_t *s =
      config_section(root, "log", NULL, 0, others, &ok, err, err_len);
  if (!s)
    return ok;
  const char *level = NULL;
  if (!config_read_str(s, "log", "level", &level, err, err_len))
    return false;
  return !level || config_set_log_level(cfg, level, "log.level", err, err_len);
}

static bool load_root(const json_t *root, config *cfg, char *err,
                      size_t err_len) {
  static const char *const others[] = {
      "server",      "apiKeys", "redis",         "lockout",   "crm",
      "log",         "genesys", "serviceLines",  "reporting", "reportKeys",
      "handoffKeys", "handoff", "identifyLimit", "otp",       NULL};
  if (!json_is_object(root))
    return config_error(err, err_len,
                        "the configuration must be a JSON object");
  return config_only_known_keys(root, "", NULL, 0, others, err, err_len) &&
         load_server(root, cfg, err, err_len) &&
         load_key_list(root, "apiKeys", cfg->api_keys, &cfg->api_key_count, err,
                       err_len) &&
         load_redis(root, cfg, err, err_len) &&
         load_nums_section(root, "lockout", lockout_nums,
                           CONFIG_COUNT(lockout_nums), cfg, err, err_len) &&
         check_lockout(cfg, err, err_len) &&
         load_nums_section(root, "identifyLimit", identify_limit_nums,
                           CONFIG_COUNT(identify_limit_nums), cfg, err,
                           err_len) &&
         load_crm(root, cfg, err, err_len) &&
         load_log(root, cfg, err, err_len) &&
         load_nums_section(root, "genesys", genesys_nums,
                           CONFIG_COUNT(genesys_nums), cfg, err, err_len) &&
         load_reporting(root, cfg, err, err_len) &&
         load_key_list(root, "reportKeys", cfg->report_keys,
                       &cfg->report_key_count, err, err_len) &&
         load_key_list(root, "handoffKeys", cfg->handoff_keys,
                       &cfg->handoff_key_count, err, err_len) &&
         load_handoff(root, cfg, err, err_len) &&
         config_otp_load(root, &cfg->otp, resolve_secret, err, err_len) &&
         config_lines_load(root, cfg, err, err_len);
}

/* ---------------------------------------------------------------------
 * Parsing.
 * ------------------------------------------------------------------- */

/* jansson's error text ends with " near '<token>'": the token can be part of
 * a secret (an API key or password in a malformed file), so it is cut off
 * before the text reaches a message; line and column still locate it. */
static const char *parse_error_text(json_error_t *jerr) {
  char *near = strstr(jerr->text, " near ");
  if (near)
    *near = '\0';
  return jerr->text;
}

bool config_file_load_text(const char *json_text, size_t len, config *cfg,
                           char *err, size_t err_len) {
  json_error_t jerr;
  json_t *root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
  bool ok =
      root
          ? load_root(root, cfg, err, err_len)
          : config_error(err, err_len, "invalid JSON at line %d, column %d: %s",
                         jerr.line, jerr.column, parse_error_text(&jerr));
  json_decref(root);
  return ok;
}

/* config_file_load with secret_getenv set. */
static bool load_file(const char *path, config *cfg, char *err,
                      size_t err_len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return config_error(err, err_len, "%s: cannot open: %s", path,
                        strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    return config_error(err, err_len, "%s: is a directory, not a JSON file",
                        path);
  }
  json_error_t jerr;
  json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
  fclose(f);
  if (!root)
    return config_error(err, err_len,
                        "%s: invalid JSON at line %d, column %d: %s", path,
                        jerr.line, jerr.column, parse_error_text(&jerr));
  char why[CONFIG_ERR_MAX];
  bool ok = load_root(root, cfg, why, sizeof why);
  json_decref(root);
  if (!ok)
    return config_error(err, err_len, "%s (in %s)", why, path);
  return true;
}

bool config_file_load(const char *path, char *(*getenv_fn)(const char *),
                      config *cfg, char *err, size_t err_len) {
  secret_getenv = getenv_fn;
  bool ok = load_file(path, cfg, err, err_len);
  secret_getenv = NULL;
  return ok;
}
