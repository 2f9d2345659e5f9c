/*
 * config_otp: "otp" and verificationMethod (see config_otp.h). The send
 * operation is a crm_operation checked with the connector's template
 * rules (crm_template), so it is escaped and masked like a CRM call.
 */
#include "config_otp.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_error.h"
#include "config_json.h"
#include "crm_config.h"

static const config_num_field otp_nums[] = {
    {"length", CONFIG_NUM_INT, offsetof(config_otp, length), OTP_LENGTH_MIN,
     OTP_LENGTH_MAX},
    {"ttlSeconds", CONFIG_NUM_INT, offsetof(config_otp, ttl_seconds), 5, 600},
    {"maxChecks", CONFIG_NUM_INT, offsetof(config_otp, max_checks), 1, 10},
    {"maxSends", CONFIG_NUM_INT, offsetof(config_otp, max_sends), 1, 10},
    {"maxSendsPerCustomerPerDay", CONFIG_NUM_INT,
     offsetof(config_otp, max_sends_per_customer_per_day), 0, 1000},
    {"maxSendsPerPhonePerHour", CONFIG_NUM_INT,
     offsetof(config_otp, max_sends_per_phone_per_hour), 0, 1000},
    {"maxSendsPerMinute", CONFIG_NUM_INT,
     offsetof(config_otp, max_sends_per_minute), 0, 1000000},
    {"timeoutMs", CONFIG_NUM_LONG, offsetof(config_otp, timeout_ms), 100,
     30000},
};

void config_otp_default(config_otp *o) {
  memset(o, 0, sizeof *o);
  o->length = 6;
  o->ttl_seconds = 300;
  o->max_checks = 3;
  o->max_sends = 3;
  o->max_sends_per_customer_per_day = 10;
  o->max_sends_per_phone_per_hour = 5;
  o->max_sends_per_minute = 300;
  o->timeout_ms = 3000;
  o->auth.refresh_margin_ms = 30000;
  snprintf(o->send.method, sizeof o->send.method, "POST");
  o->send.map.ok_status[0] = 200;
  o->send.map.ok_status[1] = 201;
  o->send.map.ok_status[2] = 202;
  o->send.map.ok_count = 3;
}

void config_otp_wipe(config_otp *o) {
  explicit_bzero(o->secret, sizeof o->secret);
  explicit_bzero(&o->auth, sizeof o->auth);
  explicit_bzero(o->send.headers, sizeof o->send.headers);
}

/* A string of `obj` at `path`.`key`, secrets resolved, into out. Absent
 * keeps out. */
static bool resolved(const json_t *obj, const char *path, const char *key,
                     crm_secret_fn fn, char *out, size_t out_len, char *err,
                     size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_string(v))
    return config_error(err, err_len, "%s.%s: must be a string", path, key);
  char why[160];
  if (!crm_template_resolve_secrets(json_string_value(v), out, out_len, fn,
                                    NULL, NULL, why, sizeof why))
    return config_error(err, err_len, "%s.%s: %s", path, key, why);
  return true;
}

static const char *const send_vars[] = {"phone", "code", "language",
                                        "serviceLine"};
static const char *const no_code_vars[] = {"phone", "language", "serviceLine"};

/* A template that may not hold {code}: it would reach access logs. */
static bool template_ok(const char *t, bool code_allowed, const char *where,
                        char *err, size_t err_len) {
  char why[128];
  if (!code_allowed && strstr(t, "{code"))
    return config_error(err, err_len,
                        "%s: {code} may only be used in otp.send.body (a URL "
                        "or header reaches access logs)",
                        where);
  if (!crm_template_check(t, code_allowed ? send_vars : no_code_vars,
                          code_allowed ? 4 : 3, why, sizeof why))
    return config_error(err, err_len, "%s: %s", where, why);
  return true;
}

static bool load_status(const json_t *s, crm_mapping *m, char *err,
                        size_t err_len) {
  const json_t *ok = json_object_get(s, "ok");
  if (!json_is_object(s) || json_object_size(s) != 1 || !json_is_array(ok) ||
      json_array_size(ok) == 0 || json_array_size(ok) > CRM_STATUS_MAX)
    return config_error(err, err_len,
                        "otp.send.status: must be {\"ok\": [1..%d statuses]}",
                        CRM_STATUS_MAX);
  m->ok_count = 0;
  for (size_t i = 0; i < json_array_size(ok); i++) {
    const json_t *v = json_array_get(ok, i);
    if (!json_is_integer(v) || json_integer_value(v) < 100 ||
        json_integer_value(v) > 599)
      return config_error(err, err_len,
                          "otp.send.status.ok[%zu]: must be an HTTP status", i);
    m->ok_status[m->ok_count++] = (long)json_integer_value(v);
  }
  return true;
}

static bool load_send(const json_t *s, config_otp *o, crm_secret_fn fn,
                      char *err, size_t err_len) {
  static const char *const keys[] = {"method", "url",    "headers",
                                     "body",   "status", NULL};
  crm_operation *d = &o->send;
  if (!json_is_object(s))
    return config_error(err, err_len, "otp.send: must be an object");
  if (!config_only_known_keys(s, "otp.send", NULL, 0, keys, err, err_len) ||
      !resolved(s, "otp.send", "method", fn, d->method, sizeof d->method, err,
                err_len) ||
      !resolved(s, "otp.send", "url", fn, d->url, sizeof d->url, err,
                err_len) ||
      !resolved(s, "otp.send", "body", fn, d->body, sizeof d->body, err,
                err_len))
    return false;
  if (strcmp(d->method, "POST") != 0 && strcmp(d->method, "PUT") != 0)
    return config_error(err, err_len, "otp.send.method: must be POST or PUT");
  if (strncmp(d->url, "http://", 7) != 0 && strncmp(d->url, "https://", 8) != 0)
    return config_error(err, err_len,
                        "otp.send.url: must be an http:// or https:// URL");
  if (!strstr(d->body, "{code}"))
    return config_error(err, err_len,
                        "otp.send.body: must hold {code} (the message)");
  if (!template_ok(d->url, false, "otp.send.url", err, err_len) ||
      !template_ok(d->body, true, "otp.send.body", err, err_len))
    return false;
  const json_t *h = json_object_get(s, "headers");
  if (h && (!json_is_array(h) || json_array_size(h) > CRM_OP_HEADERS_MAX))
    return config_error(err, err_len,
                        "otp.send.headers: must be an array of at most %d "
                        "strings",
                        CRM_OP_HEADERS_MAX);
  for (size_t i = 0; h && i < json_array_size(h); i++) {
    char where[48];
    snprintf(where, sizeof where, "otp.send.headers[%zu]", i);
    const json_t *v = json_array_get(h, i);
    char why[160];
    if (!json_is_string(v) ||
        !crm_template_resolve_secrets(json_string_value(v), d->headers[i],
                                      sizeof d->headers[i], fn, NULL, NULL, why,
                                      sizeof why) ||
        !strchr(d->headers[i], ':'))
      return config_error(err, err_len, "%s: must be \"Name: value\"", where);
    if (!template_ok(d->headers[i], false, where, err, err_len))
      return false;
    d->header_count = i + 1;
  }
  const json_t *st = json_object_get(s, "status");
  if (st && !load_status(st, &d->map, err, err_len))
    return false;
  o->send_configured = true;
  return true;
}

bool config_otp_load(const json_t *root, config_otp *o, crm_secret_fn fn,
                     char *err, size_t err_len) {
  static const char *const others[] = {"secret", "send", "auth", NULL};
  bool ok = true;
  const json_t *s = config_section(
      root, "otp", otp_nums, CONFIG_COUNT(otp_nums), others, &ok, err, err_len);
  if (!s)
    return ok;
  if (!config_read_nums(s, "otp", otp_nums, CONFIG_COUNT(otp_nums), o, err,
                        err_len) ||
      !resolved(s, "otp", "secret", fn, o->secret, sizeof o->secret, err,
                err_len))
    return false;
  if (o->secret[0] && strlen(o->secret) < CONFIG_OTP_SECRET_MIN) {
    explicit_bzero(o->secret, sizeof o->secret);
    return config_error(err, err_len,
                        "otp.secret: must be at least %d bytes (a long random "
                        "value, the same on every instance)",
                        CONFIG_OTP_SECRET_MIN);
  }
  const json_t *send = json_object_get(s, "send");
  const json_t *auth = json_object_get(s, "auth");
  return (!send || load_send(send, o, fn, err, err_len)) &&
         (!auth ||
          crm_config_auth(auth, "otp.auth", &o->auth, fn, NULL, err, err_len));
}

bool config_otp_line(const json_t *line, const char *path, flow_policy *p,
                     char *err, size_t err_len) {
  const char *m = NULL;
  if (!config_read_str(line, path, "verificationMethod", &m, err, err_len))
    return false;
  if (m && !otp_method_parse(m, &p->otp.method))
    return config_error(err, err_len,
                        "%s.verificationMethod: must be answer, otp, "
                        "answer_then_otp or otp_or_answer",
                        path);
  return true;
}

bool config_otp_apply(const config_otp *o, const char *name, flow_policy *p,
                      char *err, size_t err_len) {
  p->otp.length = o->length;
  p->otp.ttl_seconds = o->ttl_seconds;
  p->otp.max_checks = o->max_checks;
  p->otp.max_sends = o->max_sends;
  if (!p->verification || !otp_method_uses_code(p->otp.method))
    return true;
  if (!o->secret[0])
    return config_error(err, err_len,
                        "otp.secret: required by serviceLines.%s."
                        "verificationMethod %s (codes are kept only as a "
                        "keyed hash under it)",
                        name, otp_method_name(p->otp.method));
  if (!o->send_configured)
    return config_error(err, err_len,
                        "otp.send: required by serviceLines.%s."
                        "verificationMethod %s",
                        name, otp_method_name(p->otp.method));
  return true;
}
