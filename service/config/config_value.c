#include "config_value.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "config_error.h"
#include "config_json.h"

/* CONFIG_API_KEY_MIN..CONFIG_API_KEY_MAX */
static const char api_key_rule[] =
    "must be 16..256 printable ASCII characters without spaces or commas "
    "(use at least 32 random bytes, e.g. openssl rand -hex 32)";
_Static_assert(CONFIG_API_KEY_MIN == 16 && CONFIG_API_KEY_MAX == 256,
               "api_key_rule names the bounds");

bool config_printable_no_space(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] <= ' ' || s[i] > '~') /* also refuses bytes >= 0x80 */
      return false;
  return true;
}

bool config_is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool config_header_ok(const char *h) {
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

bool config_add_key(char (*keys)[CONFIG_API_KEY_MAX + 1], size_t *count,
                    const char *key, size_t len, const char *where, char *err,
                    size_t err_len) {
  if (*count >= CONFIG_MAX_API_KEYS)
    return config_error(err, err_len, "%s: at most %d keys", where,
                        CONFIG_MAX_API_KEYS);
  /* The key itself is a secret: never echo it into the message. */
  if (len < CONFIG_API_KEY_MIN || len > CONFIG_API_KEY_MAX ||
      !config_printable_no_space(key, len) || memchr(key, ',', len))
    return config_error(err, err_len, "%s: %s", where, api_key_rule);
  char *slot = keys[(*count)++];
  memcpy(slot, key, len);
  slot[len] = '\0';
  return true;
}

bool config_set_port_text(config *cfg, const char *text, const char *where,
                          char *err, size_t err_len) {
  size_t n = strlen(text);
  char *end = NULL;
  long value = n > 0 && n <= 5 ? strtol(text, &end, 10) : -1;
  if (n == 0 || n > 5 || strspn(text, "0123456789") != n || *end != '\0' ||
      value > 65535)
    return config_error(err, err_len, "%s: must be an integer 0..65535", where);
  cfg->port = (int)value;
  return true;
}

bool config_set_bind_address(config *cfg, const char *addr, const char *where,
                             char *err, size_t err_len) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (strlen(addr) >= sizeof cfg->bind_address ||
      (inet_pton(AF_INET, addr, buf) != 1 &&
       inet_pton(AF_INET6, addr, buf) != 1))
    return config_error(
        err, err_len,
        "%s: must be an IPv4 or IPv6 address such as 0.0.0.0 or ::", where);
  memcpy(cfg->bind_address, addr, strlen(addr) + 1);
  return true;
}

bool config_set_crm_url(config *cfg, const char *url, const char *where,
                        char *err, size_t err_len) {
  size_t n = strlen(url);
  size_t scheme = strncmp(url, "http://", 7) == 0    ? 7
                  : strncmp(url, "https://", 8) == 0 ? 8
                                                     : 0;
  if (scheme == 0 || n >= sizeof cfg->crm_base_url ||
      !config_printable_no_space(url, n) || strpbrk(url, "?#") ||
      url[scheme] == '\0' || url[scheme] == '/')
    return config_error(err, err_len,
                        "%s: must be an http:// or https:// URL with a host, "
                        "without spaces, query or fragment",
                        where);
  while (n > scheme && url[n - 1] == '/')
    n--;
  memcpy(cfg->crm_base_url, url, n);
  cfg->crm_base_url[n] = '\0';
  return true;
}

bool config_set_log_level(config *cfg, const char *level, const char *where,
                          char *err, size_t err_len) {
  static const char *const names[] = {
      [CONFIG_LOG_DEBUG] = "debug",
      [CONFIG_LOG_INFO] = "info",
      [CONFIG_LOG_WARN] = "warn",
      [CONFIG_LOG_ERROR] = "error",
  };
  for (size_t i = 0; i < CONFIG_COUNT(names); i++)
    if (strcmp(level, names[i]) == 0) {
      cfg->log_level = (config_log_level)i;
      return true;
    }
  return config_error(err, err_len, "%s: must be debug, info, warn or error",
                      where);
}
