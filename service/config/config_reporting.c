#include "config_reporting.h"

#include <stdio.h>
#include <string.h>

#include "config_error.h"
#include "config_json.h"
#include "config_value.h"
#include "request.h"

const char *const config_reporting_keys[] = {
    "schedules", "smtp", "scheduleTickSeconds", "scheduleLeaseSeconds", NULL};

void config_reporting_default(config_reporting *r) {
  memset(r, 0, sizeof *r);
  r->smtp.timeout_seconds = 120;
  r->smtp.max_attempts = 8;
  r->smtp.retry_initial_seconds = 30;
  r->smtp.retry_max_seconds = 1800;
  r->tick_seconds = 30;
  r->lease_seconds = 120;
}

void config_reporting_wipe(config_reporting *r) {
  explicit_bzero(r->smtp.username, sizeof r->smtp.username);
  explicit_bzero(r->smtp.password, sizeof r->smtp.password);
  /* The URL may carry user:password@. */
  explicit_bzero(r->smtp.url, sizeof r->smtp.url);
}

bool config_parse_hhmm(const char *t, int *minutes) {
  for (int i = 0; i < 5; i++)
    if (i == 2 ? t[i] != ':' : (t[i] < '0' || t[i] > '9'))
      return false;
  if (t[5] != '\0')
    return false;
  int h = (t[0] - '0') * 10 + (t[1] - '0');
  int m = (t[3] - '0') * 10 + (t[4] - '0');
  if (h > 23 || m > 59)
    return false;
  *minutes = h * 60 + m;
  return true;
}

/* A plain address "local@domain": printable ASCII without spaces, and
 * none of the characters that would let it reach into a header or the
 * SMTP envelope (<>,;"()\ and control characters). */
static bool address_ok(const char *a) {
  size_t n = strlen(a);
  if (n < 3 || n > CONFIG_MAIL_ADDRESS_MAX || !config_printable_no_space(a, n))
    return false;
  if (strpbrk(a, "<>,;\"()\\[]:"))
    return false;
  const char *at = strchr(a, '@');
  return at && at != a && at[1] && !strchr(at + 1, '@');
}

/* Copy string key `key` of `obj` into out[out_len] ("" kept when absent
 * and not required). `what` ends "must be ..." messages. */
static bool read_text(const json_t *obj, const char *path, const char *key,
                      bool required, char *out, size_t out_len, char *err,
                      size_t err_len) {
  const char *v = NULL;
  if (!config_read_str(obj, path, key, &v, err, err_len))
    return false;
  if (!v)
    return !required ||
           config_error(err, err_len, "%s.%s: is required", path, key);
  if (strlen(v) >= out_len)
    return config_error(err, err_len, "%s.%s: at most %zu characters", path,
                        key, out_len - 1);
  memcpy(out, v, strlen(v) + 1);
  return true;
}

/* One of `names` (NULL-terminated) -> its index in *out. */
static bool read_choice(const json_t *obj, const char *path, const char *key,
                        const char *const *names, const char *list, int *out,
                        char *err, size_t err_len) {
  char v[32];
  if (!read_text(obj, path, key, true, v, sizeof v, err, err_len))
    return false;
  for (int i = 0; names[i]; i++)
    if (strcmp(v, names[i]) == 0) {
      *out = i;
      return true;
    }
  return config_error(err, err_len, "%s.%s: must be %s", path, key, list);
}

static bool name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > CONFIG_SCHEDULE_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!config_is_name_char(s[i]))
      return false;
  return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* "to": 1..CONFIG_SCHEDULE_TO_MAX plain addresses. */
static bool read_recipients(const json_t *obj, const char *path,
                            config_schedule *s, char *err, size_t err_len) {
  const json_t *to = json_object_get(obj, "to");
  if (!to)
    return config_error(err, err_len, "%s.to: is required", path);
  if (!json_is_array(to) || json_array_size(to) == 0 ||
      json_array_size(to) > CONFIG_SCHEDULE_TO_MAX)
    return config_error(err, err_len,
                        "%s.to: must be an array of 1..%d e-mail addresses",
                        path, CONFIG_SCHEDULE_TO_MAX);
  size_t i;
  const json_t *a;
  json_array_foreach(to, i, a) {
    if (!json_is_string(a) || !address_ok(json_string_value(a)))
      return config_error(err, err_len,
                          "%s.to[%zu]: must be a plain e-mail address such as "
                          "supervisors@example.com",
                          path, i);
    memcpy(s->to[i], json_string_value(a), json_string_length(a) + 1);
  }
  s->to_count = json_array_size(to);
  return true;
}

/* The filters and the zone: syntax only (see config_reporting.h). */
static bool read_schedule_options(const json_t *obj, const char *path,
                                  config_schedule *s, char *err,
                                  size_t err_len) {
  if (!read_text(obj, path, "timeZone", false, s->time_zone,
                 sizeof s->time_zone, err, err_len) ||
      !read_text(obj, path, "serviceLine", false, s->service_line,
                 sizeof s->service_line, err, err_len) ||
      !read_text(obj, path, "channel", false, s->channel, sizeof s->channel,
                 err, err_len))
    return false;
  if (json_object_get(obj, "timeZone") && !s->time_zone[0])
    return config_error(err, err_len,
                        "%s.timeZone: must be an IANA time zone name", path);
  if (s->channel[0] && !request_channel_ok(s->channel))
    return config_error(err, err_len,
                        "%s.channel: must be 1..32 characters of a-z, 0-9 "
                        "and _",
                        path);
  return true;
}

static bool read_schedule(const json_t *obj, const char *path,
                          config_schedule *s, char *err, size_t err_len) {
  static const char *const keys[] = {
      "name", "report",   "format",      "every",   "at",
      "to",   "timeZone", "serviceLine", "channel", NULL};
  static const char *const reports[] = {"summary", "interactions", NULL};
  static const char *const formats[] = {"json", "csv", "xlsx", "pdf", NULL};
  static const char *const every[] = {"day", "week", "month", NULL};
  if (!json_is_object(obj))
    return config_error(err, err_len, "%s: must be an object", path);
  int report = 0, format = 0, ev = 0;
  char at[16];
  if (!config_only_known_keys(obj, path, NULL, 0, keys, err, err_len) ||
      !read_text(obj, path, "name", true, s->name, sizeof s->name, err,
                 err_len))
    return false;
  if (!name_ok(s->name))
    return config_error(err, err_len,
                        "%s.name: must be 1..%d characters of A-Z a-z 0-9 _ . "
                        "-",
                        path, CONFIG_SCHEDULE_NAME_MAX);
  if (!read_choice(obj, path, "report", reports, "summary or interactions",
                   &report, err, err_len) ||
      !read_choice(obj, path, "format", formats, "json, csv, xlsx or pdf",
                   &format, err, err_len) ||
      !read_choice(obj, path, "every", every, "day, week or month", &ev, err,
                   err_len) ||
      !read_text(obj, path, "at", true, at, sizeof at, err, err_len))
    return false;
  if (report == 1 && format == 0)
    return config_error(err, err_len,
                        "%s.format: an interactions report is mailed as csv, "
                        "xlsx or pdf (json comes in pages)",
                        path);
  if (!config_parse_hhmm(at, &s->at_minute))
    return config_error(err, err_len, "%s.at: must be HH:MM (00:00..23:59)",
                        path);
  snprintf(s->report, sizeof s->report, "%s", reports[report]);
  snprintf(s->format, sizeof s->format, "%s", formats[format]);
  s->every = (config_every)ev;
  return read_recipients(obj, path, s, err, err_len) &&
         read_schedule_options(obj, path, s, err, err_len);
}

static bool read_schedules(const json_t *list, config_reporting *r, char *err,
                           size_t err_len) {
  if (!json_is_array(list) || json_array_size(list) > CONFIG_MAX_SCHEDULES)
    return config_error(err, err_len,
                        "reporting.schedules: must be an array of at most %d "
                        "schedules",
                        CONFIG_MAX_SCHEDULES);
  size_t i;
  const json_t *obj;
  json_array_foreach(list, i, obj) {
    char path[48];
    snprintf(path, sizeof path, "reporting.schedules[%zu]", i);
    config_schedule *s = &r->list[i];
    memset(s, 0, sizeof *s);
    if (!read_schedule(obj, path, s, err, err_len))
      return false;
    for (size_t j = 0; j < i; j++)
      if (strcmp(r->list[j].name, s->name) == 0)
        return config_error(err, err_len,
                            "%s.name: \"%s\" is already the name of "
                            "reporting.schedules[%zu]",
                            path, s->name, j);
    r->count = i + 1;
  }
  return true;
}

static const config_num_field smtp_nums[] = {
    {"timeoutSeconds", CONFIG_NUM_INT, offsetof(config_smtp, timeout_seconds),
     5, 3600},
    {"maxAttempts", CONFIG_NUM_INT, offsetof(config_smtp, max_attempts), 1,
     100},
    {"retryInitialSeconds", CONFIG_NUM_INT,
     offsetof(config_smtp, retry_initial_seconds), 1, 3600},
    {"retryMaxSeconds", CONFIG_NUM_INT,
     offsetof(config_smtp, retry_max_seconds), 1, 86400},
};

/* "url": smtp:// or smtps://, a host, no whitespace or control
 * characters. */
static bool read_smtp_url(const json_t *s, config_smtp *m, char *err,
                          size_t err_len) {
  if (!read_text(s, "reporting.smtp", "url", true, m->url, sizeof m->url, err,
                 err_len))
    return false;
  size_t n = strlen(m->url);
  bool plain = strncmp(m->url, "smtp://", 7) == 0;
  bool tls = strncmp(m->url, "smtps://", 8) == 0;
  const char *host = m->url + (tls ? 8 : 7);
  if ((!plain && !tls) || !config_printable_no_space(m->url, n) || !*host ||
      *host == '/' || *host == ':') {
    explicit_bzero(m->url, sizeof m->url);
    return config_error(err, err_len,
                        "reporting.smtp.url: must be smtp://host[:port] or "
                        "smtps://host[:port]");
  }
  return true;
}

/* username / password: ${env:}/${file:} resolved; never echoed. */
static bool read_smtp_secret(const json_t *s, const char *key, char *out,
                             size_t out_len, crm_secret_fn secret, char *err,
                             size_t err_len) {
  const json_t *v = json_object_get(s, key);
  if (!v)
    return true;
  if (!json_is_string(v))
    return config_error(err, err_len, "reporting.smtp.%s: must be a string",
                        key);
  char why[160];
  if (!crm_template_resolve_secrets(json_string_value(v), out, out_len, secret,
                                    NULL, NULL, why, sizeof why))
    return config_error(err, err_len, "reporting.smtp.%s: %s", key, why);
  return true;
}

static bool read_smtp(const json_t *s, config_smtp *m, crm_secret_fn secret,
                      char *err, size_t err_len) {
  static const char *const others[] = {"url", "from",   "username", "password",
                                       "tls", "caFile", NULL};
  if (!json_is_object(s))
    return config_error(err, err_len, "reporting.smtp: must be an object");
  char tls[16] = "required";
  if (!config_only_known_keys(s, "reporting.smtp", smtp_nums,
                              CONFIG_COUNT(smtp_nums), others, err, err_len) ||
      !config_read_nums(s, "reporting.smtp", smtp_nums, CONFIG_COUNT(smtp_nums),
                        m, err, err_len) ||
      !read_smtp_url(s, m, err, err_len) ||
      !read_text(s, "reporting.smtp", "from", true, m->from, sizeof m->from,
                 err, err_len) ||
      !read_text(s, "reporting.smtp", "tls", false, tls, sizeof tls, err,
                 err_len) ||
      !read_text(s, "reporting.smtp", "caFile", false, m->ca_file,
                 sizeof m->ca_file, err, err_len))
    return false;
  if (!address_ok(m->from))
    return config_error(err, err_len,
                        "reporting.smtp.from: must be a plain e-mail address");
  if (strcmp(tls, "none") == 0)
    m->tls_none = true;
  else if (strcmp(tls, "required") != 0)
    return config_error(err, err_len,
                        "reporting.smtp.tls: must be required or none");
  if (m->tls_none && strncmp(m->url, "smtps://", 8) == 0)
    return config_error(err, err_len,
                        "reporting.smtp.tls: none contradicts an smtps:// url");
  if (m->retry_max_seconds < m->retry_initial_seconds)
    return config_error(err, err_len,
                        "reporting.smtp.retryMaxSeconds: must be at least "
                        "retryInitialSeconds (%d)",
                        m->retry_initial_seconds);
  return read_smtp_secret(s, "username", m->username, sizeof m->username,
                          secret, err, err_len) &&
         read_smtp_secret(s, "password", m->password, sizeof m->password,
                          secret, err, err_len);
}

static const config_num_field tick_nums[] = {
    {"scheduleTickSeconds", CONFIG_NUM_INT,
     offsetof(config_reporting, tick_seconds), 1, 3600},
    {"scheduleLeaseSeconds", CONFIG_NUM_INT,
     offsetof(config_reporting, lease_seconds), 3, 86400},
};

bool config_reporting_load(const json_t *s, config_reporting *r,
                           crm_secret_fn secret, char *err, size_t err_len) {
  if (!config_read_nums(s, "reporting", tick_nums, CONFIG_COUNT(tick_nums), r,
                        err, err_len))
    return false;
  /* A claim is renewed at every tick: it must outlive a few of them. */
  if (r->lease_seconds < 3 * r->tick_seconds)
    return config_error(err, err_len,
                        "reporting.scheduleLeaseSeconds: must be at least 3 x "
                        "scheduleTickSeconds (%d)",
                        3 * r->tick_seconds);
  const json_t *list = json_object_get(s, "schedules");
  if (list && !read_schedules(list, r, err, err_len))
    return false;
  const json_t *smtp = json_object_get(s, "smtp");
  if (smtp && !read_smtp(smtp, &r->smtp, secret, err, err_len)) {
    config_reporting_wipe(r);
    return false;
  }
  if (r->count > 0 && !r->smtp.url[0])
    return config_error(err, err_len,
                        "reporting.smtp: required when reporting.schedules "
                        "are set");
  return true;
}
