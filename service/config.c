/*
 * config: defaults -> JSON file -> environment -> validation (SPEC §5).
 *
 * Every value is checked where it is read, so the first bad one stops the
 * load with "<full.key.path>: <reason>" (or "<VARIABLE>: <reason>" for the
 * environment). Integer keys are described by tables (key, type, offset,
 * bounds) so a key's range is written down exactly once. This module never
 * logs: the caller decides what to do with the message.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crm_config.h"
#include "prompt.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Defaults for a service line, used for every line and for the "default"
 * line that exists when the file names none. */
static const config_service_line line_defaults = {
    .name = "default",
    .policy =
        {
            .ani_lookup = true,
            .verification = true,
            .identifier_type = FLOW_ID_CUSTOMER_ID,
            .max_identify_attempts = 3,
            .max_verify_attempts = 3,
            .identifier_min_digits = 0,
            .identifier_max_digits = 0,
            .default_country_code = "1",
        },
    .default_language = "en-US",
    .prompts = NULL,
};

/* The built-in defaults: with no file and no environment, this (plus the
 * parsed redis_url and the "default" service line) is the configuration. */
static const config defaults = {
    .port = 8080,
    .bind_address = "0.0.0.0",
    .threads = 4, /* workers wait on Redis round trips: see README */
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
    .crm_base_url = "http://127.0.0.1:8081",
    .crm_connect_timeout_ms = 1000,
    .crm_timeout_ms = 3000,
    .crm_header_count = 0,
    .crm_max_connections = 64,
    .log_level = CONFIG_LOG_INFO,
    .report_stream_max_len = 100000,
    .report_stream_max_age_seconds = 2592000,
    .report_counter_retention_days = 90,
};

static const char api_key_rule[] =
    "must be 8..256 printable ASCII characters without spaces or commas";

/* Format an error into err and return false. */
static bool fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(char *err, size_t err_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
  return false;
}

/* ---------------------------------------------------------------------
 * Integer keys, described by tables.
 * ------------------------------------------------------------------- */

typedef enum { NUM_INT, NUM_LONG, NUM_SIZE } num_kind;

typedef struct {
  const char *key;
  num_kind kind;
  size_t offset; /* of the field in the struct the table is applied to */
  long min, max;
} num_field;

static const num_field server_nums[] = {
    {"port", NUM_INT, offsetof(config, port), 0, 65535},
    {"threads", NUM_INT, offsetof(config, threads), 1, 64},
    {"maxBodyBytes", NUM_SIZE, offsetof(config, max_body_bytes), 1024, 1048576},
    {"connectionTimeoutSeconds", NUM_INT,
     offsetof(config, connection_timeout_seconds), 1, 600},
    {"maxConnections", NUM_INT, offsetof(config, max_connections), 16, 100000},
};

static const num_field redis_nums[] = {
    {"sessionTtlSeconds", NUM_INT, offsetof(config, session_ttl_seconds), 60,
     86400},
    {"connectTimeoutMs", NUM_INT, offsetof(config, redis_connect_timeout_ms),
     10, 5000},
    {"commandTimeoutMs", NUM_INT, offsetof(config, redis_command_timeout_ms),
     10, 5000},
    {"failoverWaitMs", NUM_INT, offsetof(config, redis_failover_wait_ms), 0,
     30000},
};

static const num_field lockout_nums[] = {
    {"maxFailures", NUM_INT, offsetof(config, lockout_max_failures), 1, 100},
    {"windowSeconds", NUM_INT, offsetof(config, lockout_window_seconds), 60,
     86400},
};

static const num_field reporting_nums[] = {
    {"streamMaxLen", NUM_LONG, offsetof(config, report_stream_max_len), 100,
     10000000},
    {"streamMaxAgeSeconds", NUM_LONG,
     offsetof(config, report_stream_max_age_seconds), 3600, 31622400},
    {"counterRetentionDays", NUM_LONG,
     offsetof(config, report_counter_retention_days), 1, 400},
};

static const num_field crm_nums[] = {
    {"connectTimeoutMs", NUM_LONG, offsetof(config, crm_connect_timeout_ms), 50,
     10000},
    {"timeoutMs", NUM_LONG, offsetof(config, crm_timeout_ms), 100, 30000},
    {"maxConnections", NUM_LONG, offsetof(config, crm_max_connections), 1,
     1024},
};

/* Applied to a service line's flow_policy. */
static const num_field line_nums[] = {
    {"maxIdentifyAttempts", NUM_INT,
     offsetof(flow_policy, max_identify_attempts), 1, 10},
    {"maxVerifyAttempts", NUM_INT, offsetof(flow_policy, max_verify_attempts),
     1, 10},
    {"identifierMinDigits", NUM_INT,
     offsetof(flow_policy, identifier_min_digits), 0, FLOW_VALUE_MAX},
    {"identifierMaxDigits", NUM_INT,
     offsetof(flow_policy, identifier_max_digits), 0, FLOW_VALUE_MAX},
};

/* Read every key of `nums` present in `obj` into `base`. A missing key keeps
 * its current value; a non-integer or out-of-range one is an error. */
static bool read_nums(const json_t *obj, const char *path,
                      const num_field *nums, size_t n, void *base, char *err,
                      size_t err_len) {
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_object_get(obj, nums[i].key);
    if (!v)
      continue;
    if (!json_is_integer(v) || json_integer_value(v) < nums[i].min ||
        json_integer_value(v) > nums[i].max)
      return fail(err, err_len, "%s.%s: must be an integer %ld..%ld", path,
                  nums[i].key, nums[i].min, nums[i].max);
    long value = (long)json_integer_value(v);
    char *field = (char *)base + nums[i].offset;
    switch (nums[i].kind) {
    case NUM_INT:
      *(int *)field = (int)value;
      break;
    case NUM_LONG:
      *(long *)field = value;
      break;
    case NUM_SIZE:
      *(size_t *)field = (size_t)value;
      break;
    }
  }
  return true;
}

/* ---------------------------------------------------------------------
 * Key and type checks.
 * ------------------------------------------------------------------- */

/* Refuse any key of `obj` that is neither in `nums` nor in `others`
 * (NULL-terminated): unknown keys are almost always typos. */
static bool only_known_keys(const json_t *obj, const char *path,
                            const num_field *nums, size_t n,
                            const char *const *others, char *err,
                            size_t err_len) {
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
      known = strcmp(key, nums[i].key) == 0;
    for (size_t i = 0; others && others[i] && !known; i++)
      known = strcmp(key, others[i]) == 0;
    if (!known)
      return fail(err, err_len, "%s%s%s: unknown key", path, *path ? "." : "",
                  key);
  }
  return true;
}

/* A string key: *out is the borrowed value, or left as is when absent. */
static bool read_str(const json_t *obj, const char *path, const char *key,
                     const char **out, char *err, size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_string(v))
    return fail(err, err_len, "%s.%s: must be a string", path, key);
  *out = json_string_value(v);
  return true;
}

static bool read_bool(const json_t *obj, const char *path, const char *key,
                      bool *out, char *err, size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_boolean(v))
    return fail(err, err_len, "%s.%s: must be true or false", path, key);
  *out = json_is_true(v);
  return true;
}

/* The object `root[name]`, or NULL when absent (*ok stays true) or invalid
 * (*ok becomes false and err says why). */
static const json_t *section(const json_t *root, const char *name,
                             const num_field *nums, size_t n,
                             const char *const *others, bool *ok, char *err,
                             size_t err_len) {
  const json_t *v = json_object_get(root, name);
  if (!v)
    return NULL;
  if (!json_is_object(v)) {
    *ok = fail(err, err_len, "%s: must be an object", name);
    return NULL;
  }
  if (!only_known_keys(v, name, nums, n, others, err, err_len)) {
    *ok = false;
    return NULL;
  }
  return v;
}

/* ---------------------------------------------------------------------
 * Value setters shared by the file and the environment. `where` is the key
 * path or the variable name used in the error.
 * ------------------------------------------------------------------- */

static bool printable_no_space(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] <= ' ' || s[i] > '~') /* also refuses bytes >= 0x80 */
      return false;
  return true;
}

/* Append one API key of `len` bytes (not NUL-terminated). */
static bool add_api_key(config *cfg, const char *key, size_t len,
                        const char *where, char *err, size_t err_len) {
  if (cfg->api_key_count >= CONFIG_MAX_API_KEYS)
    return fail(err, err_len, "%s: at most %d keys", where,
                CONFIG_MAX_API_KEYS);
  /* The key itself is a secret: never echo it into the message. */
  if (len < 8 || len > CONFIG_API_KEY_MAX || !printable_no_space(key, len) ||
      memchr(key, ',', len))
    return fail(err, err_len, "%s: %s", where, api_key_rule);
  char *slot = cfg->api_keys[cfg->api_key_count++];
  memcpy(slot, key, len);
  slot[len] = '\0';
  return true;
}

static bool set_port_text(config *cfg, const char *text, const char *where,
                          char *err, size_t err_len) {
  size_t n = strlen(text);
  char *end = NULL;
  long value = n > 0 && n <= 5 ? strtol(text, &end, 10) : -1;
  if (n == 0 || n > 5 || strspn(text, "0123456789") != n || *end != '\0' ||
      value > 65535)
    return fail(err, err_len, "%s: must be an integer 0..65535", where);
  cfg->port = (int)value;
  return true;
}

static bool set_bind_address(config *cfg, const char *addr, const char *where,
                             char *err, size_t err_len) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (strlen(addr) >= sizeof cfg->bind_address ||
      (inet_pton(AF_INET, addr, buf) != 1 &&
       inet_pton(AF_INET6, addr, buf) != 1))
    return fail(
        err, err_len,
        "%s: must be an IPv4 or IPv6 address such as 0.0.0.0 or ::", where);
  memcpy(cfg->bind_address, addr, strlen(addr) + 1);
  return true;
}

/* The CRM base URL: http:// or https://, a host, no whitespace, query or
 * fragment (paths are appended to it); trailing '/' removed. */
static bool set_crm_url(config *cfg, const char *url, const char *where,
                        char *err, size_t err_len) {
  size_t n = strlen(url);
  size_t scheme = strncmp(url, "http://", 7) == 0    ? 7
                  : strncmp(url, "https://", 8) == 0 ? 8
                                                     : 0;
  if (scheme == 0 || n >= sizeof cfg->crm_base_url ||
      !printable_no_space(url, n) || strpbrk(url, "?#") ||
      url[scheme] == '\0' || url[scheme] == '/')
    return fail(err, err_len,
                "%s: must be an http:// or https:// URL with a host, without "
                "spaces, query or fragment",
                where);
  while (n > scheme && url[n - 1] == '/')
    n--;
  memcpy(cfg->crm_base_url, url, n);
  cfg->crm_base_url[n] = '\0';
  return true;
}

/* Parse into temporaries first so a bad URL leaves cfg as it was. */
static bool set_redis_url(config *cfg, const char *url, const char *where,
                          char *err, size_t err_len) {
  char why[128], host[sizeof cfg->redis_host],
      password[sizeof cfg->redis_password];
  int port, db;
  if (strlen(url) >= sizeof cfg->redis_url)
    return fail(err, err_len, "%s: longer than %d characters", where,
                CONFIG_URL_MAX);
  if (!config_parse_redis_url(url, host, sizeof host, &port, password,
                              sizeof password, &db, why, sizeof why))
    return fail(err, err_len, "%s: %s", where, why);
  memcpy(cfg->redis_url, url, strlen(url) + 1);
  memcpy(cfg->redis_host, host, sizeof host);
  memcpy(cfg->redis_password, password, sizeof password);
  cfg->redis_port = port;
  cfg->redis_db = db;
  return true;
}

static bool set_log_level(config *cfg, const char *level, const char *where,
                          char *err, size_t err_len) {
  static const char *const names[] = {
      [CONFIG_LOG_DEBUG] = "debug",
      [CONFIG_LOG_INFO] = "info",
      [CONFIG_LOG_WARN] = "warn",
      [CONFIG_LOG_ERROR] = "error",
  };
  for (size_t i = 0; i < COUNT(names); i++)
    if (strcmp(level, names[i]) == 0) {
      cfg->log_level = (config_log_level)i;
      return true;
    }
  return fail(err, err_len, "%s: must be debug, info, warn or error", where);
}

static bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "Name: value": a token name (RFC 9110), and no control character but TAB
 * anywhere, so a header can never split a request. */
static bool header_ok(const char *h) {
  const char *colon = strchr(h, ':');
  if (!colon || colon == h)
    return false;
  for (const char *p = h; p < colon; p++)
    if (!is_token_char(*p))
      return false;
  for (const char *p = colon; *p; p++)
    if ((*p > 0 && *p < ' ' && *p != '\t') || *p == 0x7f)
      return false;
  return true;
}

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool line_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > FLOW_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!is_name_char(name[i]))
      return false;
  return true;
}

/* ---------------------------------------------------------------------
 * File layer: one function per top-level section.
 * ------------------------------------------------------------------- */

static bool load_server(const json_t *root, config *cfg, char *err,
                        size_t err_len) {
  static const char *const others[] = {"bindAddress", NULL};
  bool ok = true;
  const json_t *s = section(root, "server", server_nums, COUNT(server_nums),
                            others, &ok, err, err_len);
  if (!s)
    return ok;
  const char *bind = NULL;
  if (!read_nums(s, "server", server_nums, COUNT(server_nums), cfg, err,
                 err_len) ||
      !read_str(s, "server", "bindAddress", &bind, err, err_len))
    return false;
  return !bind ||
         set_bind_address(cfg, bind, "server.bindAddress", err, err_len);
}

static bool load_api_keys(const json_t *root, config *cfg, char *err,
                          size_t err_len) {
  const json_t *keys = json_object_get(root, "apiKeys");
  if (!keys)
    return true;
  if (!json_is_array(keys))
    return fail(err, err_len, "apiKeys: must be an array of strings");
  if (json_array_size(keys) > CONFIG_MAX_API_KEYS)
    return fail(err, err_len, "apiKeys: at most %d keys", CONFIG_MAX_API_KEYS);
  size_t i;
  const json_t *k;
  json_array_foreach(keys, i, k) {
    char where[32];
    snprintf(where, sizeof where, "apiKeys[%zu]", i);
    if (!json_is_string(k))
      return fail(err, err_len, "%s: must be a string", where);
    if (!add_api_key(cfg, json_string_value(k), json_string_length(k), where,
                     err, err_len))
      return false;
  }
  return true;
}

/* A Sentinel master name: 1..127 printable characters without spaces. */
static bool set_master_name(config *cfg, const char *name, const char *where,
                            char *err, size_t err_len) {
  size_t n = strlen(name);
  if (n == 0 || n >= sizeof cfg->redis_master_name ||
      !printable_no_space(name, n))
    return fail(err, err_len,
                "%s: must be 1..%zu printable characters without spaces", where,
                sizeof cfg->redis_master_name - 1);
  memcpy(cfg->redis_master_name, name, n + 1);
  return true;
}

/* AUTHFLOW_REDIS_SENTINELS: "host:port,host:port". */
static bool set_sentinels_env(config *cfg, const char *v, char *err,
                              size_t err_len) {
  cfg->redis_sentinel_count = 0;
  while (*v) {
    size_t n = strcspn(v, ",");
    char item[SENTINEL_HOST_MAX + 16], why[128];
    if (n > 0) {
      if (n >= sizeof item || cfg->redis_sentinel_count >= SENTINEL_MAX)
        return fail(err, err_len,
                    "AUTHFLOW_REDIS_SENTINELS: at most %d host:port entries",
                    SENTINEL_MAX);
      memcpy(item, v, n);
      item[n] = '\0';
      if (!sentinel_parse_addr(item,
                               &cfg->redis_sentinels[cfg->redis_sentinel_count],
                               why, sizeof why))
        return fail(err, err_len, "AUTHFLOW_REDIS_SENTINELS: %s", why);
      cfg->redis_sentinel_count++;
    }
    v += n;
    if (*v == ',')
      v++;
  }
  if (cfg->redis_sentinel_count == 0)
    return fail(err, err_len, "AUTHFLOW_REDIS_SENTINELS: holds no address");
  return true;
}

static bool load_redis(const json_t *root, config *cfg, char *err,
                       size_t err_len) {
  static const char *const others[] = {"url", "keyPrefix", "sentinels",
                                       "masterName", NULL};
  bool ok = true;
  const json_t *s = section(root, "redis", redis_nums, COUNT(redis_nums),
                            others, &ok, err, err_len);
  if (!s)
    return ok;
  const char *url = NULL, *prefix = NULL;
  if (!read_nums(s, "redis", redis_nums, COUNT(redis_nums), cfg, err,
                 err_len) ||
      !read_str(s, "redis", "url", &url, err, err_len) ||
      !read_str(s, "redis", "keyPrefix", &prefix, err, err_len))
    return false;
  if (url && !set_redis_url(cfg, url, "redis.url", err, err_len))
    return false;
  if (prefix) {
    size_t n = strlen(prefix);
    if (n == 0 || n >= sizeof cfg->key_prefix || !printable_no_space(prefix, n))
      return fail(err, err_len,
                  "redis.keyPrefix: must be 1..%zu printable ASCII characters "
                  "without spaces",
                  sizeof cfg->key_prefix - 1);
    memcpy(cfg->key_prefix, prefix, n + 1);
  }
  const json_t *sentinels = json_object_get(s, "sentinels");
  if (sentinels) {
    if (!json_is_array(sentinels) || json_array_size(sentinels) == 0 ||
        json_array_size(sentinels) > SENTINEL_MAX)
      return fail(err, err_len,
                  "redis.sentinels: must be an array of 1..%d \"host:port\" "
                  "strings",
                  SENTINEL_MAX);
    size_t i;
    const json_t *item;
    json_array_foreach(sentinels, i, item) {
      char why[128];
      if (!json_is_string(item) ||
          !sentinel_parse_addr(json_string_value(item),
                               &cfg->redis_sentinels[i], why, sizeof why))
        return fail(err, err_len, "redis.sentinels[%zu]: %s", i,
                    json_is_string(item) ? why : "must be a string");
    }
    cfg->redis_sentinel_count = json_array_size(sentinels);
  }
  const char *master = NULL;
  if (!read_str(s, "redis", "masterName", &master, err, err_len) ||
      (master &&
       !set_master_name(cfg, master, "redis.masterName", err, err_len)))
    return false;
  return true;
}

static bool load_lockout(const json_t *root, config *cfg, char *err,
                         size_t err_len) {
  bool ok = true;
  const json_t *s = section(root, "lockout", lockout_nums, COUNT(lockout_nums),
                            NULL, &ok, err, err_len);
  if (!s)
    return ok;
  return read_nums(s, "lockout", lockout_nums, COUNT(lockout_nums), cfg, err,
                   err_len);
}

static bool load_reporting(const json_t *root, config *cfg, char *err,
                           size_t err_len) {
  bool ok = true;
  const json_t *s = section(root, "reporting", reporting_nums,
                            COUNT(reporting_nums), NULL, &ok, err, err_len);
  if (!s)
    return ok;
  return read_nums(s, "reporting", reporting_nums, COUNT(reporting_nums), cfg,
                   err, err_len);
}

/* "reportKeys": same rules as apiKeys; these keys read reports only. */
static bool load_report_keys(const json_t *root, config *cfg, char *err,
                             size_t err_len) {
  const json_t *keys = json_object_get(root, "reportKeys");
  if (!keys)
    return true;
  if (!json_is_array(keys))
    return fail(err, err_len, "reportKeys: must be an array of strings");
  if (json_array_size(keys) > CONFIG_MAX_API_KEYS)
    return fail(err, err_len, "reportKeys: at most %d keys",
                CONFIG_MAX_API_KEYS);
  size_t i;
  const json_t *k;
  json_array_foreach(keys, i, k) {
    size_t len = json_string_length(k);
    const char *key = json_string_value(k);
    if (!json_is_string(k))
      return fail(err, err_len, "reportKeys[%zu]: must be a string", i);
    /* The key itself is a secret: never echo it into the message. */
    if (len < 8 || len > CONFIG_API_KEY_MAX || !printable_no_space(key, len) ||
        memchr(key, ',', len))
      return fail(err, err_len, "reportKeys[%zu]: %s", i, api_key_rule);
    memcpy(cfg->report_keys[cfg->report_key_count], key, len);
    cfg->report_keys[cfg->report_key_count++][len] = '\0';
  }
  return true;
}

static bool load_crm_headers(const json_t *headers, config *cfg, char *err,
                             size_t err_len) {
  if (!json_is_array(headers))
    return fail(err, err_len, "crm.headers: must be an array of strings");
  if (json_array_size(headers) > CONFIG_MAX_CRM_HEADERS)
    return fail(err, err_len, "crm.headers: at most %d headers",
                CONFIG_MAX_CRM_HEADERS);
  cfg->crm_header_count = 0;
  size_t i;
  const json_t *h;
  json_array_foreach(headers, i, h) {
    if (!json_is_string(h))
      return fail(err, err_len, "crm.headers[%zu]: must be a string", i);
    if (json_string_length(h) > CONFIG_URL_MAX ||
        !header_ok(json_string_value(h)))
      return fail(err, err_len,
                  "crm.headers[%zu]: must be \"Name: value\" (token name, no "
                  "line breaks, at most %d characters)",
                  i, CONFIG_URL_MAX);
    memcpy(cfg->crm_headers[i], json_string_value(h),
           json_string_length(h) + 1);
    cfg->crm_header_count = i + 1;
  }
  return true;
}

/* Set by config_load() for its file layer, so ${env:NAME} and
 * ${file:/path} secrets in "crm" can be resolved; NULL (text loads: tests,
 * the fuzzer) refuses them. */
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

static bool load_crm(const json_t *root, config *cfg, char *err,
                     size_t err_len) {
  static const char *const others[] = {
      "baseUrl", "headers",  "operations",    "auth",    "tls",
      "proxy",   "budgetMs", "lookupRetries", "breaker", NULL};
  bool ok = true;
  const json_t *s = section(root, "crm", crm_nums, COUNT(crm_nums), others, &ok,
                            err, err_len);
  if (!s)
    return ok;
  const char *url = NULL;
  if (!read_nums(s, "crm", crm_nums, COUNT(crm_nums), cfg, err, err_len) ||
      !read_str(s, "crm", "baseUrl", &url, err, err_len))
    return false;
  if (url && !set_crm_url(cfg, url, "crm.baseUrl", err, err_len))
    return false;
  const json_t *headers = json_object_get(s, "headers");
  if (headers && !load_crm_headers(headers, cfg, err, err_len))
    return false;
  return crm_config_load(s, &cfg->crm, resolve_secret, NULL, err, err_len);
}

static bool load_log(const json_t *root, config *cfg, char *err,
                     size_t err_len) {
  static const char *const others[] = {"level", NULL};
  bool ok = true;
  const json_t *s = section(root, "log", NULL, 0, others, &ok, err, err_len);
  if (!s)
    return ok;
  const char *level = NULL;
  if (!read_str(s, "log", "level", &level, err, err_len))
    return false;
  return !level || set_log_level(cfg, level, "log.level", err, err_len);
}

/* The string keys of a service line, checked after the integers. */
static bool load_line_strings(const json_t *obj, const char *path,
                              config_service_line *line, char *err,
                              size_t err_len) {
  flow_policy *p = &line->policy;
  const char *type = NULL, *language = NULL, *cc = NULL;
  if (!read_bool(obj, path, "aniLookup", &p->ani_lookup, err, err_len) ||
      !read_bool(obj, path, "verification", &p->verification, err, err_len) ||
      !read_str(obj, path, "identifierType", &type, err, err_len) ||
      !read_str(obj, path, "defaultLanguage", &language, err, err_len) ||
      !read_str(obj, path, "defaultCountryCode", &cc, err, err_len))
    return false;
  if (type && !flow_identifier_type_parse(type, &p->identifier_type))
    return fail(err, err_len,
                "%s.identifierType: must be customer_id, account_number, "
                "tracking_number or phone",
                path);
  if (language && !prompt_canonical_language(language, line->default_language,
                                             sizeof line->default_language))
    return fail(err, err_len,
                "%s.defaultLanguage: must be a language tag such as en-US, "
                "es-ES or ko",
                path);
  if (cc) {
    size_t n = strlen(cc);
    if (n == 0 || n > 3 || strspn(cc, "0123456789") != n || cc[0] == '0')
      return fail(err, err_len,
                  "%s.defaultCountryCode: must be 1..3 digits not starting "
                  "with 0, e.g. \"1\" or \"34\"",
                  path);
    memcpy(p->default_country_code, cc, n + 1);
  }
  return true;
}

/* Digit bounds as the flow will apply them (0 = the type's default) must
 * leave at least one length acceptable. */
static bool check_line_digits(const char *path, const flow_policy *p, char *err,
                              size_t err_len) {
  int min, max;
  flow_identifier_default_lengths(p->identifier_type, &min, &max);
  if (p->identifier_min_digits > 0)
    min = p->identifier_min_digits;
  if (p->identifier_max_digits > 0)
    max = p->identifier_max_digits;
  if (min <= max)
    return true;
  if (p->identifier_min_digits > 0 && p->identifier_max_digits > 0)
    return fail(err, err_len,
                "%s.identifierMinDigits: must not exceed identifierMaxDigits",
                path);
  return fail(err, err_len,
              "%s.%s: leaves no valid length (%s defaults to %d..%d digits)",
              path,
              p->identifier_min_digits > 0 ? "identifierMinDigits"
                                           : "identifierMaxDigits",
              flow_identifier_type_name(p->identifier_type), min, max);
}

/* Fill *line from serviceLines.<name>. On failure line->prompts is NULL,
 * since the copy is the last thing made. */
static bool load_line(const char *name, const json_t *obj,
                      config_service_line *line, char *err, size_t err_len) {
  static const char *const others[] = {"aniLookup",
                                       "verification",
                                       "identifierType",
                                       "defaultLanguage",
                                       "defaultCountryCode",
                                       "prompts",
                                       NULL};
  char path[FLOW_NAME_MAX + 16];
  *line = line_defaults;
  if (!line_name_ok(name))
    return fail(err, err_len,
                "serviceLines.%.*s: a service line name must be 1..%d of "
                "A-Z a-z 0-9 _ . -",
                FLOW_NAME_MAX, name, FLOW_NAME_MAX);
  snprintf(path, sizeof path, "serviceLines.%s", name);
  memcpy(line->name, name, strlen(name) + 1);
  if (!json_is_object(obj))
    return fail(err, err_len, "%s: must be an object", path);
  if (!only_known_keys(obj, path, line_nums, COUNT(line_nums), others, err,
                       err_len) ||
      !read_nums(obj, path, line_nums, COUNT(line_nums), &line->policy, err,
                 err_len) ||
      !load_line_strings(obj, path, line, err, err_len) ||
      !check_line_digits(path, &line->policy, err, err_len))
    return false;
  const json_t *prompts = json_object_get(obj, "prompts");
  if (!prompts)
    return true;
  char prefix[sizeof path + 8];
  snprintf(prefix, sizeof prefix, "%s.prompts", path);
  if (!prompt_check_overrides(prompts, prefix, err, err_len))
    return false;
  line->prompts = json_deep_copy(prompts);
  if (!line->prompts)
    return fail(err, err_len, "%s: out of memory", prefix);
  return true;
}

static bool load_lines(const json_t *root, config *cfg, char *err,
                       size_t err_len) {
  const json_t *lines = json_object_get(root, "serviceLines");
  if (!lines)
    return true;
  if (!json_is_object(lines) || json_object_size(lines) == 0)
    return fail(err, err_len,
                "serviceLines: must be an object with at least one line");
  if (json_object_size(lines) > CONFIG_MAX_SERVICE_LINES)
    return fail(err, err_len, "serviceLines: at most %d lines",
                CONFIG_MAX_SERVICE_LINES);
  /* The file's lines replace the built-in "default" one. */
  cfg->service_line_count = 0;
  const char *name;
  const json_t *obj;
  json_object_foreach((json_t *)lines, name, obj) {
    config_service_line *line = &cfg->service_lines[cfg->service_line_count];
    bool ok = load_line(name, obj, line, err, err_len);
    cfg->service_line_count++; /* so config_free releases its prompts */
    if (!ok)
      return false;
  }
  return true;
}

static bool load_root(const json_t *root, config *cfg, char *err,
                      size_t err_len) {
  static const char *const others[] = {
      "server", "apiKeys",      "redis",     "lockout",    "crm",
      "log",    "serviceLines", "reporting", "reportKeys", NULL};
  if (!json_is_object(root))
    return fail(err, err_len, "the configuration must be a JSON object");
  return only_known_keys(root, "", NULL, 0, others, err, err_len) &&
         load_server(root, cfg, err, err_len) &&
         load_api_keys(root, cfg, err, err_len) &&
         load_redis(root, cfg, err, err_len) &&
         load_lockout(root, cfg, err, err_len) &&
         load_crm(root, cfg, err, err_len) &&
         load_log(root, cfg, err, err_len) &&
         load_reporting(root, cfg, err, err_len) &&
         load_report_keys(root, cfg, err, err_len) &&
         load_lines(root, cfg, err, err_len);
}

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
  cfg->service_lines[0] = line_defaults;
  cfg->service_line_count = 1;
  crm_profile_default(&cfg->crm);
}

/* jansson's error text ends with " near '<token>'": the token can be part of
 * a secret (an API key or password in a malformed file), so it is cut off
 * before the text reaches a message; line and column still locate it. */
static const char *parse_error_text(json_error_t *jerr) {
  char *near = strstr(jerr->text, " near ");
  if (near)
    *near = '\0';
  return jerr->text;
}

bool config_load_text(const char *json_text, size_t len, config *out, char *err,
                      size_t err_len) {
  init_defaults(out);
  json_error_t jerr;
  json_t *root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
  bool ok = root ? load_root(root, out, err, err_len)
                 : fail(err, err_len, "invalid JSON at line %d, column %d: %s",
                        jerr.line, jerr.column, parse_error_text(&jerr));
  json_decref(root);
  if (!ok)
    config_free(out); /* a refused config is always left freed */
  return ok;
}

/* The file layer of config_load: errors carry the path. */
static bool load_file(const char *path, config *out, char *err,
                      size_t err_len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    return fail(err, err_len, "%s: is a directory, not a JSON file", path);
  }
  json_error_t jerr;
  json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
  fclose(f);
  if (!root)
    return fail(err, err_len, "%s: invalid JSON at line %d, column %d: %s",
                path, jerr.line, jerr.column, parse_error_text(&jerr));
  char why[CONFIG_ERR_MAX];
  bool ok = load_root(root, out, why, sizeof why);
  json_decref(root);
  if (!ok)
    return fail(err, err_len, "%s (in %s)", why, path);
  return true;
}

/* ---------------------------------------------------------------------
 * Environment layer.
 * ------------------------------------------------------------------- */

/* An empty variable counts as unset (Compose and Kubernetes make those). */
static const char *env(char *(*getenv_fn)(const char *), const char *name) {
  const char *v = getenv_fn(name);
  return v && *v ? v : NULL;
}

/* AUTHFLOW_API_KEYS replaces the file's keys: rotation is done by listing
 * old and new there. Blanks around entries and empty entries are skipped,
 * but a value with no key at all is refused: it would silently lock every
 * client out. */
static bool set_api_keys_env(config *cfg, const char *v, char *err,
                             size_t err_len) {
  static const char var[] = "AUTHFLOW_API_KEYS";
  memset(cfg->api_keys, 0, sizeof cfg->api_keys);
  cfg->api_key_count = 0;
  while (*v) {
    size_t n = strcspn(v, ",");
    const char *s = v;
    size_t len = n;
    while (len > 0 && (*s == ' ' || *s == '\t'))
      s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
      len--;
    if (len > 0 && !add_api_key(cfg, s, len, var, err, err_len))
      return false;
    v += n;
    if (*v == ',')
      v++;
  }
  if (cfg->api_key_count == 0)
    return fail(err, err_len, "%s: holds no key (only commas and blanks)", var);
  return true;
}

static bool apply_env(config *cfg, char *(*getenv_fn)(const char *), char *err,
                      size_t err_len) {
  const char *v;
  if ((v = env(getenv_fn, "AUTHFLOW_PORT")) &&
      !set_port_text(cfg, v, "AUTHFLOW_PORT", err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_REDIS_URL")) &&
      !set_redis_url(cfg, v, "AUTHFLOW_REDIS_URL", err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_CRM_URL")) &&
      !set_crm_url(cfg, v, "AUTHFLOW_CRM_URL", err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_LOG_LEVEL")) &&
      !set_log_level(cfg, v, "AUTHFLOW_LOG_LEVEL", err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_API_KEYS")) &&
      !set_api_keys_env(cfg, v, err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_REDIS_SENTINELS")) &&
      !set_sentinels_env(cfg, v, err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_REDIS_MASTER_NAME")) &&
      !set_master_name(cfg, v, "AUTHFLOW_REDIS_MASTER_NAME", err, err_len))
    return false;
  if (cfg->redis_sentinel_count > 0 && !cfg->redis_master_name[0])
    return fail(err, err_len,
                "redis.masterName: required when sentinels are configured");
  return true;
}

bool config_load(const char *path, char *(*getenv_fn)(const char *),
                 config *out, char *err, size_t err_len) {
  init_defaults(out);
  if (!path)
    path = env(getenv_fn, "AUTHFLOW_CONFIG");
  secret_getenv = getenv_fn;
  bool file_ok = !path || load_file(path, out, err, err_len);
  secret_getenv = NULL;
  if (!file_ok || !apply_env(out, getenv_fn, err, err_len)) {
    config_free(out);
    return false;
  }
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
  memset(cfg->api_keys, 0, sizeof cfg->api_keys);
  cfg->api_key_count = 0;
  memset(cfg->report_keys, 0, sizeof cfg->report_keys);
  cfg->report_key_count = 0;
  memset(cfg->redis_password, 0, sizeof cfg->redis_password);
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

/* ---------------------------------------------------------------------
 * Redis URL.
 * ------------------------------------------------------------------- */

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decode s[0..n) into out (as redis-cli does for the password), so
 * '@', ':' and '/' can be written %40, %3A, %2F. */
static bool percent_decode(const char *s, size_t n, char *out, size_t out_len) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n)
        return false;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) /* no NUL inside */
        return false;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (o + 1 >= out_len)
      return false;
    out[o++] = c;
  }
  out[o] = '\0';
  return true;
}

/* Digits only (no sign, no blanks), at most `max_digits` of them. */
static bool parse_digits(const char *s, size_t n, size_t max_digits,
                         long *out) {
  if (n == 0 || n > max_digits)
    return false;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool config_parse_redis_url(const char *url, char *host, size_t host_len,
                            int *port, char *password, size_t password_len,
                            int *db, char *err, size_t err_len) {
  static const char scheme[] = "redis://";
  if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0)
    return fail(err, err_len,
                "must start with redis:// (rediss:// and unix "
                "sockets are not supported)");
  const char *p = url + sizeof scheme - 1;
  *port = 6379;
  *db = 0;
  if (password_len > 0)
    password[0] = '\0';
  /* userinfo: "[user]:password@" or "password@"; user is ignored. The last
   * '@' ends it, since the host part can never hold one. */
  const char *at = strrchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    if (!percent_decode(pw, (size_t)(at - pw), password, password_len))
      return fail(err, err_len, "password too long or badly %%-encoded");
    p = at + 1;
  }
  const char *host_start = p, *host_end;
  if (*p == '[') {
    host_start = p + 1;
    host_end = strchr(host_start, ']');
    if (!host_end)
      return fail(err, err_len, "missing ']' after the IPv6 address");
    for (const char *h = host_start; h < host_end; h++)
      if (hex_value(*h) < 0 && *h != ':' && *h != '.')
        return fail(err, err_len, "bad IPv6 address");
    p = host_end + 1;
  } else {
    host_end = p + strcspn(p, ":/");
    for (const char *h = host_start; h < host_end; h++)
      if (!is_name_char(*h))
        return fail(err, err_len, "bad character in the host");
    p = host_end;
  }
  size_t hn = (size_t)(host_end - host_start);
  if (hn == 0 || hn >= host_len)
    return fail(err, err_len, "missing or too long host");
  memcpy(host, host_start, hn);
  host[hn] = '\0';
  if (*p == ':') {
    size_t n = strcspn(p + 1, "/");
    long v = 0;
    if (!parse_digits(p + 1, n, 5, &v) || v < 1 || v > 65535)
      return fail(err, err_len, "port must be 1..65535");
    *port = (int)v;
    p += 1 + n;
  }
  if (*p == '/') {
    p++;
    long v = 0; /* "host/" means database 0 */
    if (*p && (!parse_digits(p, strlen(p), 3, &v) || v > 255))
      return fail(err, err_len, "database must be 0..255");
    *db = (int)v;
  } else if (*p) {
    return fail(err, err_len, "unexpected text after the host");
  }
  return true;
}
