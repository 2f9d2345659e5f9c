#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"

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

static const config defaults = {
    .port = 8080,
    .bind_address = "0.0.0.0",
    .threads = 2,
    .max_body_bytes = 16384,
    .connection_timeout_seconds = 15,
    .max_connections = 4096,
    .redis_url = "redis://127.0.0.1:6379/0",
    .key_prefix = "authflow:",
    .session_ttl_seconds = 3600,
    .redis_connect_timeout_ms = 200,
    .redis_command_timeout_ms = 500,
    .lockout_max_failures = 5,
    .lockout_window_seconds = 900,
    .crm_base_url = "http://127.0.0.1:8081",
    .crm_connect_timeout_ms = 1000,
    .crm_timeout_ms = 3000,
    .crm_max_connections = 64,
    .log_level = CONFIG_LOG_INFO,
};

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
 * Typed readers: each names the full key on error.
 * ------------------------------------------------------------------- */

/* Refuse keys not in `known` (NULL-terminated). */
static bool only_known_keys(const json_t *obj, const char *path,
                            const char *const *known, char *err,
                            size_t err_len) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool ok = false;
    for (size_t i = 0; known[i]; i++)
      ok |= strcmp(key, known[i]) == 0;
    if (!ok)
      return fail(err, err_len, "%s%s%s: unknown key", path, *path ? "." : "",
                  key);
  }
  return true;
}

static bool read_int(const json_t *obj, const char *path, const char *key,
                     long min, long max, long *out, char *err, size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_integer(v) || json_integer_value(v) < min ||
      json_integer_value(v) > max)
    return fail(err, err_len, "%s.%s: must be an integer %ld..%ld", path, key,
                min, max);
  *out = (long)json_integer_value(v);
  return true;
}

static bool read_int_field(const json_t *obj, const char *path, const char *key,
                           long min, long max, int *out, char *err,
                           size_t err_len) {
  long v = *out;
  if (!read_int(obj, path, key, min, max, &v, err, err_len))
    return false;
  *out = (int)v;
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

/* A string of 1..max_len-1 bytes copied into out. */
static bool read_string(const json_t *obj, const char *path, const char *key,
                        char *out, size_t max_len, char *err, size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_string(v))
    return fail(err, err_len, "%s.%s: must be a string", path, key);
  if (json_string_length(v) == 0 || json_string_length(v) >= max_len)
    return fail(err, err_len, "%s.%s: must be 1..%zu characters", path, key,
                max_len - 1);
  memcpy(out, json_string_value(v), json_string_length(v) + 1);
  return true;
}

static const json_t *section(const json_t *root, const char *name,
                             const char *const *known, bool *ok, char *err,
                             size_t err_len) {
  const json_t *v = json_object_get(root, name);
  if (!v)
    return NULL;
  if (!json_is_object(v)) {
    *ok = fail(err, err_len, "%s: must be an object", name);
    return NULL;
  }
  if (!only_known_keys(v, name, known, err, err_len))
    *ok = false;
  return v;
}

/* ---------------------------------------------------------------------
 * Validation shared by the file and the environment.
 * ------------------------------------------------------------------- */

static bool api_key_ok(const char *key) {
  size_t n = strlen(key);
  if (n < 8 || n > CONFIG_API_KEY_MAX)
    return false;
  for (const char *p = key; *p; p++)
    if (*p <= ' ' || *p > '~' || *p == ',')
      return false;
  return true;
}

static bool add_api_key(config *cfg, const char *key, size_t len,
                        const char *where, char *err, size_t err_len) {
  if (cfg->api_key_count >= CONFIG_MAX_API_KEYS)
    return fail(err, err_len, "%s: at most %d keys", where,
                CONFIG_MAX_API_KEYS);
  if (len > CONFIG_API_KEY_MAX)
    return fail(err, err_len,
                "%s: each key must be 8..256 printable characters without "
                "spaces or commas",
                where);
  char *slot = cfg->api_keys[cfg->api_key_count];
  memcpy(slot, key, len);
  slot[len] = '\0';
  if (!api_key_ok(slot)) {
    memset(slot, 0, CONFIG_API_KEY_MAX + 1);
    return fail(err, err_len,
                "%s: each key must be 8..256 printable characters without "
                "spaces or commas",
                where);
  }
  cfg->api_key_count++;
  return true;
}

static bool set_crm_url(config *cfg, const char *url, const char *where,
                        char *err, size_t err_len) {
  size_t n = strlen(url);
  if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
      n >= sizeof cfg->crm_base_url || strpbrk(url, " \r\n\t"))
    return fail(err, err_len, "%s: must be an http:// or https:// URL", where);
  while (n > 0 && url[n - 1] == '/')
    n--;
  memcpy(cfg->crm_base_url, url, n);
  cfg->crm_base_url[n] = '\0';
  return true;
}

static bool set_redis_url(config *cfg, const char *url, const char *where,
                          char *err, size_t err_len) {
  char why[128];
  if (strlen(url) >= sizeof cfg->redis_url)
    return fail(err, err_len, "%s: too long", where);
  if (!config_parse_redis_url(url, cfg->redis_host, sizeof cfg->redis_host,
                              &cfg->redis_port, cfg->redis_password,
                              sizeof cfg->redis_password, &cfg->redis_db, why,
                              sizeof why))
    return fail(err, err_len, "%s: %s", where, why);
  snprintf(cfg->redis_url, sizeof cfg->redis_url, "%s", url);
  return true;
}

static bool set_log_level(config *cfg, const char *level, const char *where,
                          char *err, size_t err_len) {
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (int i = 0; i < 4; i++)
    if (strcmp(level, names[i]) == 0) {
      cfg->log_level = (config_log_level)i;
      return true;
    }
  return fail(err, err_len, "%s: must be debug, info, warn or error", where);
}

static bool key_prefix_ok(const char *p) {
  for (; *p; p++)
    if (*p <= ' ' || *p > '~')
      return false;
  return true;
}

static bool name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > FLOW_NAME_MAX)
    return false;
  for (const char *p = name; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
      return false;
  return true;
}

/* ---------------------------------------------------------------------
 * File layer.
 * ------------------------------------------------------------------- */

static bool load_server(const json_t *root, config *cfg, char *err,
                        size_t err_len) {
  static const char *const known[] = {"port",
                                      "bindAddress",
                                      "threads",
                                      "maxBodyBytes",
                                      "connectionTimeoutSeconds",
                                      "maxConnections",
                                      NULL};
  bool ok = true;
  const json_t *s = section(root, "server", known, &ok, err, err_len);
  if (!ok || !s)
    return ok;
  long body = (long)cfg->max_body_bytes;
  if (!read_int_field(s, "server", "port", 0, 65535, &cfg->port, err,
                      err_len) ||
      !read_string(s, "server", "bindAddress", cfg->bind_address,
                   sizeof cfg->bind_address, err, err_len) ||
      !read_int_field(s, "server", "threads", 1, 64, &cfg->threads, err,
                      err_len) ||
      !read_int(s, "server", "maxBodyBytes", 1024, 1048576, &body, err,
                err_len) ||
      !read_int_field(s, "server", "connectionTimeoutSeconds", 1, 600,
                      &cfg->connection_timeout_seconds, err, err_len) ||
      !read_int_field(s, "server", "maxConnections", 16, 100000,
                      &cfg->max_connections, err, err_len))
    return false;
  cfg->max_body_bytes = (size_t)body;
  return true;
}

static bool load_api_keys(const json_t *root, config *cfg, char *err,
                          size_t err_len) {
  const json_t *keys = json_object_get(root, "apiKeys");
  if (!keys)
    return true;
  if (!json_is_array(keys))
    return fail(err, err_len, "apiKeys: must be an array of strings");
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

static bool load_redis(const json_t *root, config *cfg, char *err,
                       size_t err_len) {
  static const char *const known[] = {"url",
                                      "keyPrefix",
                                      "sessionTtlSeconds",
                                      "connectTimeoutMs",
                                      "commandTimeoutMs",
                                      NULL};
  bool ok = true;
  const json_t *s = section(root, "redis", known, &ok, err, err_len);
  if (!ok || !s)
    return ok;
  char url[CONFIG_URL_MAX + 1] = "";
  if (!read_string(s, "redis", "url", url, sizeof url, err, err_len) ||
      (url[0] && !set_redis_url(cfg, url, "redis.url", err, err_len)) ||
      !read_string(s, "redis", "keyPrefix", cfg->key_prefix,
                   sizeof cfg->key_prefix, err, err_len) ||
      !read_int_field(s, "redis", "sessionTtlSeconds", 60, 86400,
                      &cfg->session_ttl_seconds, err, err_len) ||
      !read_int_field(s, "redis", "connectTimeoutMs", 10, 5000,
                      &cfg->redis_connect_timeout_ms, err, err_len) ||
      !read_int_field(s, "redis", "commandTimeoutMs", 10, 5000,
                      &cfg->redis_command_timeout_ms, err, err_len))
    return false;
  if (!key_prefix_ok(cfg->key_prefix))
    return fail(err, err_len,
                "redis.keyPrefix: must be printable, without spaces");
  return true;
}

static bool load_lockout(const json_t *root, config *cfg, char *err,
                         size_t err_len) {
  static const char *const known[] = {"maxFailures", "windowSeconds", NULL};
  bool ok = true;
  const json_t *s = section(root, "lockout", known, &ok, err, err_len);
  if (!ok || !s)
    return ok;
  return read_int_field(s, "lockout", "maxFailures", 1, 100,
                        &cfg->lockout_max_failures, err, err_len) &&
         read_int_field(s, "lockout", "windowSeconds", 60, 86400,
                        &cfg->lockout_window_seconds, err, err_len);
}

/* "Name: value" with a token name and no CR/LF anywhere. */
static bool header_ok(const char *h) {
  const char *colon = strchr(h, ':');
  if (!colon || colon == h || strpbrk(h, "\r\n"))
    return false;
  for (const char *p = h; p < colon; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~", *p)))
      return false;
  return true;
}

static bool load_crm(const json_t *root, config *cfg, char *err,
                     size_t err_len) {
  static const char *const known[] = {"baseUrl",        "connectTimeoutMs",
                                      "timeoutMs",      "headers",
                                      "maxConnections", NULL};
  bool ok = true;
  const json_t *s = section(root, "crm", known, &ok, err, err_len);
  if (!ok || !s)
    return ok;
  char url[CONFIG_URL_MAX + 1] = "";
  if (!read_string(s, "crm", "baseUrl", url, sizeof url, err, err_len) ||
      (url[0] && !set_crm_url(cfg, url, "crm.baseUrl", err, err_len)) ||
      !read_int(s, "crm", "connectTimeoutMs", 50, 10000,
                &cfg->crm_connect_timeout_ms, err, err_len) ||
      !read_int(s, "crm", "timeoutMs", 100, 30000, &cfg->crm_timeout_ms, err,
                err_len) ||
      !read_int(s, "crm", "maxConnections", 1, 1024, &cfg->crm_max_connections,
                err, err_len))
    return false;
  const json_t *headers = json_object_get(s, "headers");
  if (!headers)
    return true;
  if (!json_is_array(headers))
    return fail(err, err_len, "crm.headers: must be an array of strings");
  size_t i;
  const json_t *h;
  json_array_foreach(headers, i, h) {
    if (i >= CONFIG_MAX_CRM_HEADERS)
      return fail(err, err_len, "crm.headers: at most %d headers",
                  CONFIG_MAX_CRM_HEADERS);
    if (!json_is_string(h) || json_string_length(h) > CONFIG_URL_MAX ||
        !header_ok(json_string_value(h)))
      return fail(err, err_len,
                  "crm.headers[%zu]: must be \"Name: value\" without line "
                  "breaks",
                  i);
    snprintf(cfg->crm_headers[i], sizeof cfg->crm_headers[i], "%s",
             json_string_value(h));
    cfg->crm_header_count = i + 1;
  }
  return true;
}

static bool load_log(const json_t *root, config *cfg, char *err,
                     size_t err_len) {
  static const char *const known[] = {"level", NULL};
  bool ok = true;
  const json_t *s = section(root, "log", known, &ok, err, err_len);
  if (!ok || !s)
    return ok;
  char level[16] = "";
  if (!read_string(s, "log", "level", level, sizeof level, err, err_len))
    return false;
  return !level[0] || set_log_level(cfg, level, "log.level", err, err_len);
}

static bool load_line(const char *name, const json_t *obj,
                      config_service_line *line, char *err, size_t err_len) {
  static const char *const known[] = {"aniLookup",
                                      "verification",
                                      "identifierType",
                                      "maxIdentifyAttempts",
                                      "maxVerifyAttempts",
                                      "defaultLanguage",
                                      "identifierMinDigits",
                                      "identifierMaxDigits",
                                      "defaultCountryCode",
                                      "prompts",
                                      NULL};
  char path[FLOW_NAME_MAX + 32];
  snprintf(path, sizeof path, "serviceLines.%s", name);
  *line = line_defaults;
  if (!name_ok(name))
    return fail(err, err_len,
                "%s: service line names are 1..64 of A-Z a-z 0-9 _ . -", path);
  snprintf(line->name, sizeof line->name, "%s", name);
  if (!json_is_object(obj))
    return fail(err, err_len, "%s: must be an object", path);
  if (!only_known_keys(obj, path, known, err, err_len))
    return false;
  flow_policy *p = &line->policy;
  char type[32] = "", language[32] = "", cc[8] = "";
  if (!read_bool(obj, path, "aniLookup", &p->ani_lookup, err, err_len) ||
      !read_bool(obj, path, "verification", &p->verification, err, err_len) ||
      !read_string(obj, path, "identifierType", type, sizeof type, err,
                   err_len) ||
      !read_int_field(obj, path, "maxIdentifyAttempts", 1, 10,
                      &p->max_identify_attempts, err, err_len) ||
      !read_int_field(obj, path, "maxVerifyAttempts", 1, 10,
                      &p->max_verify_attempts, err, err_len) ||
      !read_string(obj, path, "defaultLanguage", language, sizeof language, err,
                   err_len) ||
      !read_int_field(obj, path, "identifierMinDigits", 0, FLOW_VALUE_MAX,
                      &p->identifier_min_digits, err, err_len) ||
      !read_int_field(obj, path, "identifierMaxDigits", 0, FLOW_VALUE_MAX,
                      &p->identifier_max_digits, err, err_len) ||
      !read_string(obj, path, "defaultCountryCode", cc, sizeof cc, err,
                   err_len))
    return false;
  if (type[0] && !flow_identifier_type_parse(type, &p->identifier_type))
    return fail(err, err_len,
                "%s.identifierType: must be customer_id, account_number, "
                "tracking_number or phone",
                path);
  if (language[0] &&
      !prompt_canonical_language(language, line->default_language,
                                 sizeof line->default_language))
    return fail(err, err_len,
                "%s.defaultLanguage: must be a language tag such as en-US",
                path);
  if (p->identifier_min_digits && p->identifier_max_digits &&
      p->identifier_min_digits > p->identifier_max_digits)
    return fail(err, err_len,
                "%s.identifierMinDigits: must not exceed identifierMaxDigits",
                path);
  if (cc[0]) {
    size_t n = strlen(cc);
    if (n > 3 || strspn(cc, "0123456789") != n || cc[0] == '0')
      return fail(err, err_len,
                  "%s.defaultCountryCode: must be 1..3 digits, e.g. \"1\"",
                  path);
    memcpy(p->default_country_code, cc, n + 1); /* n <= 3 checked above */
  }
  const json_t *prompts = json_object_get(obj, "prompts");
  if (prompts) {
    char prefix[FLOW_NAME_MAX + 40];
    snprintf(prefix, sizeof prefix, "%s.prompts", path);
    if (!prompt_check_overrides(prompts, prefix, err, err_len))
      return false;
    line->prompts = json_deep_copy(prompts);
    if (!line->prompts)
      return fail(err, err_len, "%s: out of memory", prefix);
  }
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
  cfg->service_line_count = 0;
  const char *name;
  json_t *obj;
  json_object_foreach((json_t *)lines, name, obj) {
    config_service_line *line = &cfg->service_lines[cfg->service_line_count];
    bool ok = load_line(name, obj, line, err, err_len);
    /* Count it even on failure so config_free releases its prompts. */
    cfg->service_line_count++;
    if (!ok)
      return false;
  }
  return true;
}

static bool load_root(const json_t *root, config *cfg, char *err,
                      size_t err_len) {
  static const char *const known[] = {"server",       "apiKeys", "redis",
                                      "lockout",      "crm",     "log",
                                      "serviceLines", NULL};
  if (!json_is_object(root))
    return fail(err, err_len, "the configuration must be a JSON object");
  return only_known_keys(root, "", known, err, err_len) &&
         load_server(root, cfg, err, err_len) &&
         load_api_keys(root, cfg, err, err_len) &&
         load_redis(root, cfg, err, err_len) &&
         load_lockout(root, cfg, err, err_len) &&
         load_crm(root, cfg, err, err_len) &&
         load_log(root, cfg, err, err_len) &&
         load_lines(root, cfg, err, err_len);
}

/* Start from the defaults (with the parsed Redis URL and one line). */
static void init_defaults(config *cfg) {
  *cfg = defaults;
  char why[64];
  config_parse_redis_url(cfg->redis_url, cfg->redis_host,
                         sizeof cfg->redis_host, &cfg->redis_port,
                         cfg->redis_password, sizeof cfg->redis_password,
                         &cfg->redis_db, why, sizeof why);
  cfg->service_lines[0] = line_defaults;
  cfg->service_line_count = 1;
}

bool config_load_text(const char *json_text, size_t len, config *out, char *err,
                      size_t err_len) {
  init_defaults(out);
  json_error_t jerr;
  json_t *root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return fail(err, err_len, "invalid JSON at line %d, column %d: %s",
                jerr.line, jerr.column, jerr.text);
  bool ok = load_root(root, out, err, err_len);
  json_decref(root);
  if (!ok)
    config_free(out);
  return ok;
}

/* ---------------------------------------------------------------------
 * Environment layer.
 * ------------------------------------------------------------------- */

static const char *env(char *(*getenv_fn)(const char *), const char *name) {
  const char *v = getenv_fn(name);
  return v && *v ? v : NULL;
}

static bool apply_env(config *cfg, char *(*getenv_fn)(const char *), char *err,
                      size_t err_len) {
  const char *v;
  if ((v = env(getenv_fn, "AUTHFLOW_PORT"))) {
    char *end;
    errno = 0;
    long port = strtol(v, &end, 10);
    if (errno || *end || port < 0 || port > 65535)
      return fail(err, err_len, "AUTHFLOW_PORT: must be an integer 0..65535");
    cfg->port = (int)port;
  }
  if ((v = env(getenv_fn, "AUTHFLOW_REDIS_URL")) &&
      !set_redis_url(cfg, v, "AUTHFLOW_REDIS_URL", err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_CRM_URL")) &&
      !set_crm_url(cfg, v, "AUTHFLOW_CRM_URL", err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_LOG_LEVEL")) &&
      !set_log_level(cfg, v, "AUTHFLOW_LOG_LEVEL", err, err_len))
    return false;
  if ((v = env(getenv_fn, "AUTHFLOW_API_KEYS"))) {
    /* The environment replaces the file's keys (rotation is done by
     * listing both keys there). */
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
      if (len > 0 &&
          !add_api_key(cfg, s, len, "AUTHFLOW_API_KEYS", err, err_len))
        return false;
      v += n;
      if (*v == ',')
        v++;
    }
  }
  return true;
}

bool config_load(const char *path, char *(*getenv_fn)(const char *),
                 config *out, char *err, size_t err_len) {
  if (!path)
    path = env(getenv_fn, "AUTHFLOW_CONFIG");
  if (path) {
    FILE *f = fopen(path, "rb");
    if (!f)
      return fail(err, err_len, "%s: cannot open: %s", path, strerror(errno));
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!root)
      return fail(err, err_len, "%s: invalid JSON at line %d, column %d: %s",
                  path, jerr.line, jerr.column, jerr.text);
    init_defaults(out);
    char why[CONFIG_ERR_MAX];
    bool ok = load_root(root, out, why, sizeof why);
    json_decref(root);
    if (!ok) {
      config_free(out);
      return fail(err, err_len, "%s: %s", path, why);
    }
  } else {
    init_defaults(out);
  }
  if (!apply_env(out, getenv_fn, err, err_len)) {
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
  memset(cfg->api_keys, 0, sizeof cfg->api_keys);
  memset(cfg->redis_password, 0, sizeof cfg->redis_password);
  cfg->api_key_count = 0;
  cfg->service_line_count = 0;
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

bool config_parse_redis_url(const char *url, char *host, size_t host_len,
                            int *port, char *password, size_t password_len,
                            int *db, char *err, size_t err_len) {
  static const char scheme[] = "redis://";
  if (strncmp(url, scheme, sizeof scheme - 1) != 0)
    return fail(err, err_len, "must start with redis://");
  const char *p = url + sizeof scheme - 1;
  *port = 6379;
  *db = 0;
  if (password_len > 0)
    password[0] = '\0';
  const char *at = strrchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p; /* "user:pw@" or "pw@" */
    size_t n = (size_t)(at - pw);
    if (n >= password_len)
      return fail(err, err_len, "password too long");
    memcpy(password, pw, n);
    password[n] = '\0';
    p = at + 1;
  }
  const char *host_start = p, *host_end;
  if (*p == '[') {
    host_start = p + 1;
    host_end = strchr(host_start, ']');
    if (!host_end)
      return fail(err, err_len, "missing ']' in IPv6 host");
    p = host_end + 1;
  } else {
    host_end = p + strcspn(p, ":/");
    p = host_end;
  }
  size_t hn = (size_t)(host_end - host_start);
  if (hn == 0 || hn >= host_len)
    return fail(err, err_len, "missing or too long host");
  memcpy(host, host_start, hn);
  host[hn] = '\0';
  if (*p == ':') {
    char *end;
    long v = strtol(p + 1, &end, 10);
    if (end == p + 1 || v < 1 || v > 65535 || (*end && *end != '/'))
      return fail(err, err_len, "port must be 1..65535");
    *port = (int)v;
    p = end;
  }
  if (*p == '/') {
    p++;
    if (*p) {
      char *end;
      long v = strtol(p, &end, 10);
      if (end == p || *end || v < 0 || v > 255)
        return fail(err, err_len, "database must be 0..255");
      *db = (int)v;
    }
  } else if (*p) {
    return fail(err, err_len, "unexpected text after the host");
  }
  return true;
}
