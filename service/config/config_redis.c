#include "config_redis.h"

#include <string.h>

#include "config_error.h"
#include "config_value.h"
#include "pct.h"

/* Parse into temporaries first so a bad URL leaves cfg as it was. */
bool config_set_redis_url(config *cfg, const char *url, const char *where,
                          char *err, size_t err_len) {
  char why[128], host[sizeof cfg->redis_host],
      password[sizeof cfg->redis_password];
  int port, db;
  if (strlen(url) >= sizeof cfg->redis_url)
    return config_error(err, err_len, "%s: longer than %d characters", where,
                        CONFIG_URL_MAX);
  if (!config_parse_redis_url(url, host, sizeof host, &port, password,
                              sizeof password, &db, why, sizeof why))
    return config_error(err, err_len, "%s: %s", where, why);
  memcpy(cfg->redis_url, url, strlen(url) + 1);
  memcpy(cfg->redis_host, host, sizeof host);
  memcpy(cfg->redis_password, password, sizeof password);
  cfg->redis_port = port;
  cfg->redis_db = db;
  return true;
}

bool config_set_report_redis_url(config *cfg, const char *url,
                                 const char *where, char *err, size_t err_len) {
  if (strcmp(url, "sentinel:replica") == 0) {
    if (cfg->redis_sentinel_count == 0)
      return config_error(err, err_len,
                          "%s: sentinel:replica needs redis.sentinels", where);
    cfg->report_redis_sentinel_replica = true;
    memcpy(cfg->report_redis_url, url, strlen(url) + 1);
    return true;
  }
  char why[128], host[sizeof cfg->report_redis_host],
      password[sizeof cfg->report_redis_password];
  int port, db;
  if (strlen(url) >= sizeof cfg->report_redis_url)
    return config_error(err, err_len, "%s: longer than %d characters", where,
                        CONFIG_URL_MAX);
  if (!config_parse_redis_url(url, host, sizeof host, &port, password,
                              sizeof password, &db, why, sizeof why))
    return config_error(err, err_len, "%s: %s (or \"sentinel:replica\")", where,
                        why);
  memcpy(cfg->report_redis_url, url, strlen(url) + 1);
  memcpy(cfg->report_redis_host, host, sizeof host);
  memcpy(cfg->report_redis_password, password, sizeof password);
  explicit_bzero(password, sizeof password);
  cfg->report_redis_port = port;
  cfg->report_redis_db = db;
  cfg->report_redis_sentinel_replica = false;
  return true;
}

bool config_set_master_name(config *cfg, const char *name, const char *where,
                            char *err, size_t err_len) {
  size_t n = strlen(name);
  if (n == 0 || n >= sizeof cfg->redis_master_name ||
      !config_printable_no_space(name, n))
    return config_error(
        err, err_len, "%s: must be 1..%zu printable characters without spaces",
        where, sizeof cfg->redis_master_name - 1);
  memcpy(cfg->redis_master_name, name, n + 1);
  return true;
}

bool config_set_sentinels_json(config *cfg, const json_t *sentinels, char *err,
                               size_t err_len) {
  if (!json_is_array(sentinels) || json_array_size(sentinels) == 0 ||
      json_array_size(sentinels) > SENTINEL_MAX)
    return config_error(err, err_len,
                        "redis.sentinels: must be an array of 1..%d "
                        "\"host:port\" strings",
                        SENTINEL_MAX);
  size_t i;
  const json_t *item;
  json_array_foreach(sentinels, i, item) {
    char why[128];
    if (!json_is_string(item) ||
        !sentinel_parse_addr(json_string_value(item), &cfg->redis_sentinels[i],
                             why, sizeof why))
      return config_error(err, err_len, "redis.sentinels[%zu]: %s", i,
                          json_is_string(item) ? why : "must be a string");
  }
  cfg->redis_sentinel_count = json_array_size(sentinels);
  return true;
}

bool config_set_sentinels_text(config *cfg, const char *v, char *err,
                               size_t err_len) {
  cfg->redis_sentinel_count = 0;
  while (*v) {
    size_t n = strcspn(v, ",");
    char item[SENTINEL_HOST_MAX + 16], why[128];
    if (n > 0) {
      if (n >= sizeof item || cfg->redis_sentinel_count >= SENTINEL_MAX)
        return config_error(
            err, err_len,
            "AUTHFLOW_REDIS_SENTINELS: at most %d host:port entries",
            SENTINEL_MAX);
      memcpy(item, v, n);
      item[n] = '\0';
      if (!sentinel_parse_addr(item,
                               &cfg->redis_sentinels[cfg->redis_sentinel_count],
                               why, sizeof why))
        return config_error(err, err_len, "AUTHFLOW_REDIS_SENTINELS: %s", why);
      cfg->redis_sentinel_count++;
    }
    v += n;
    if (*v == ',')
      v++;
  }
  if (cfg->redis_sentinel_count == 0)
    return config_error(err, err_len,
                        "AUTHFLOW_REDIS_SENTINELS: holds no address");
  return true;
}

/* ---------------------------------------------------------------------
 * The URL.
 * ------------------------------------------------------------------- */

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

/* The host at *p: "[IPv6]" or a name; *p is moved past it. */
static bool parse_host(const char **p, char *host, size_t host_len, char *err,
                       size_t err_len) {
  const char *host_start = *p, *host_end;
  if (**p == '[') {
    host_start = *p + 1;
    host_end = strchr(host_start, ']');
    if (!host_end)
      return config_error(err, err_len, "missing ']' after the IPv6 address");
    for (const char *h = host_start; h < host_end; h++)
      if (pct_hex_value(*h) < 0 && *h != ':' && *h != '.')
        return config_error(err, err_len, "bad IPv6 address");
    *p = host_end + 1;
  } else {
    host_end = *p + strcspn(*p, ":/");
    for (const char *h = host_start; h < host_end; h++)
      if (!config_is_name_char(*h))
        return config_error(err, err_len, "bad character in the host");
    *p = host_end;
  }
  size_t hn = (size_t)(host_end - host_start);
  if (hn == 0 || hn >= host_len)
    return config_error(err, err_len, "missing or too long host");
  memcpy(host, host_start, hn);
  host[hn] = '\0';
  return true;
}

/* ":port" and "/db" after the host, both optional. */
static bool parse_port_db(const char *p, int *port, int *db, char *err,
                          size_t err_len) {
  if (*p == ':') {
    size_t n = strcspn(p + 1, "/");
    long v = 0;
    if (!parse_digits(p + 1, n, 5, &v) || v < 1 || v > 65535)
      return config_error(err, err_len, "port must be 1..65535");
    *port = (int)v;
    p += 1 + n;
  }
  if (*p == '/') {
    p++;
    long v = 0; /* "host/" means database 0 */
    if (*p && (!parse_digits(p, strlen(p), 3, &v) || v > 255))
      return config_error(err, err_len, "database must be 0..255");
    *db = (int)v;
  } else if (*p) {
    return config_error(err, err_len, "unexpected text after the host");
  }
  return true;
}

bool config_parse_redis_url(const char *url, char *host, size_t host_len,
                            int *port, char *password, size_t password_len,
                            int *db, char *err, size_t err_len) {
  static const char scheme[] = "redis://";
  if (!url || strncmp(url, scheme, sizeof scheme - 1) != 0)
    return config_error(err, err_len,
                        "must start with redis:// (rediss:// and unix "
                        "sockets are not supported)");
  const char *p = url + sizeof scheme - 1;
  *port = 6379;
  *db = 0;
  if (password_len > 0)
    password[0] = '\0';
  /* userinfo: "[user]:password@" or "password@"; user is ignored. The last
   * '@' ends it, since the host part can never hold one. The password is
   * percent-decoded as redis-cli does, so '@', ':' and '/' can be written
   * %40, %3A, %2F ('+' stays '+'; %00 is refused). */
  const char *at = strrchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    if (pct_decode(pw, (size_t)(at - pw), PCT_PLUS_IS_BYTE, password,
                   password_len) != PCT_OK)
      return config_error(err, err_len,
                          "password too long or badly %%-encoded");
    p = at + 1;
  }
  return parse_host(&p, host, host_len, err, err_len) &&
         parse_port_db(p, port, db, err, err_len);
}
