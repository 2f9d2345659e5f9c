#include "config_env.h"

#include <string.h>

#include "config_error.h"
#include "config_redis.h"
#include "config_value.h"

const char *config_env(char *(*getenv_fn)(const char *), const char *name) {
  const char *v = getenv_fn(name);
  return v && *v ? v : NULL;
}

/* AUTHFLOW_API_KEYS (and AUTHFLOW_HANDOFF_KEYS) replace the file's keys:
 * rotation is done by listing old and new there. Blanks around entries and
 * empty entries are skipped, but a value with no key at all is refused: it
 * would silently lock every client out. */
static bool set_keys_env(const char *var, char (*keys)[CONFIG_API_KEY_MAX + 1],
                         size_t *count, const char *v, char *err,
                         size_t err_len) {
  memset(keys, 0, sizeof(char[CONFIG_MAX_API_KEYS][CONFIG_API_KEY_MAX + 1]));
  *count = 0;
  while (*v) {
    size_t n = strcspn(v, ",");
    const char *s = v;
    size_t len = n;
    while (len > 0 && (*s == ' ' || *s == '\t'))
      s++, len--;
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
      len--;
    if (len > 0 && !config_add_key(keys, count, s, len, var, err, err_len))
      return false;
    v += n;
    if (*v == ',')
      v++;
  }
  if (*count == 0)
    return config_error(err, err_len,
                        "%s: holds no key (only commas and blanks)", var);
  return true;
}

bool config_env_apply(config *cfg, char *(*getenv_fn)(const char *), char *err,
                      size_t err_len) {
  const char *v;
  if ((v = config_env(getenv_fn, "AUTHFLOW_PORT")) &&
      !config_set_port_text(cfg, v, "AUTHFLOW_PORT", err, err_len))
    return false;
  if ((v = config_env(getenv_fn, "AUTHFLOW_REDIS_URL")) &&
      !config_set_redis_url(cfg, v, "AUTHFLOW_REDIS_URL", err, err_len))
    return false;
  if ((v = config_env(getenv_fn, "AUTHFLOW_CRM_URL")) &&
      !config_set_crm_url(cfg, v, "AUTHFLOW_CRM_URL", err, err_len))
    return false;
  if ((v = config_env(getenv_fn, "AUTHFLOW_LOG_LEVEL")) &&
      !config_set_log_level(cfg, v, "AUTHFLOW_LOG_LEVEL", err, err_len))
    return false;
  if ((v = config_env(getenv_fn, "AUTHFLOW_API_KEYS")) &&
      !set_keys_env("AUTHFLOW_API_KEYS", cfg->api_keys, &cfg->api_key_count, v,
                    err, err_len))
    return false;
  if ((v = config_env(getenv_fn, "AUTHFLOW_HANDOFF_KEYS")) &&
      !set_keys_env("AUTHFLOW_HANDOFF_KEYS", cfg->handoff_keys,
                    &cfg->handoff_key_count, v, err, err_len))
    return false;
  if ((v = config_env(getenv_fn, "AUTHFLOW_CALLER_HASH_KEY"))) {
    size_t n = strlen(v);
    if (n < 16 || n >= sizeof cfg->caller_hash_key)
      return config_error(err, err_len,
                          "AUTHFLOW_CALLER_HASH_KEY: must be 16..%zu bytes",
                          sizeof cfg->caller_hash_key - 1);
    memcpy(cfg->caller_hash_key, v, n + 1);
  }
  if ((v = config_env(getenv_fn, "AUTHFLOW_REDIS_SENTINELS")) &&
      !config_set_sentinels_text(cfg, v, err, err_len))
    return false;
  if ((v = config_env(getenv_fn, "AUTHFLOW_REDIS_MASTER_NAME")) &&
      !config_set_master_name(cfg, v, "AUTHFLOW_REDIS_MASTER_NAME", err,
                              err_len))
    return false;
  if (cfg->redis_sentinel_count > 0 && !cfg->redis_master_name[0])
    return config_error(
        err, err_len,
        "redis.masterName: required when sentinels are configured");
  return true;
}
