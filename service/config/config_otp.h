/*
 * config_otp: the "otp" section and each line's verificationMethod (SPEC
 * §9), kept apart from config_file and config_lines.
 *
 *   "otp": {"secret": "${env:OTP_SECRET}",   codes and phones are kept
 *                                            only under it (>= 16 bytes)
 *           "length": 6, "ttlSeconds": 300, "maxChecks": 3, "maxSends": 3,
 *           "maxSendsPerCustomerPerDay": 10, "maxSendsPerPhonePerHour": 5,
 *           "maxSendsPerMinute": 300, "timeoutMs": 3000,
 *           "send": {"method": "POST", "url": "https://.../Messages.json",
 *                    "headers": ["Content-Type: application/json"],
 *                    "body": "{\"to\":\"{phone}\",\"text\":\"... {code}\"}",
 *                    "status": {"ok": [200, 201, 202]}},
 *           "auth": {"type": "none|bearer|basic|oauth2", "token",
 *                    "username", "password", "tokenUrl", "clientId",
 *                    "clientSecret", "scope", "refreshMarginMs"}}
 *                    (read and checked as crm.auth is: crm_config_auth)
 *   "serviceLines": {"<name>": {"verificationMethod": "otp", ...}}
 *
 * Templates take {phone} (E.164), {code} (the body only: a URL or header
 * reaches access logs), {language} and {serviceLine}; a body holding
 * {code} is required. ${env:}/${file:} are resolved in every string.
 */
#ifndef AUTHFLOW_CONFIG_OTP_H
#define AUTHFLOW_CONFIG_OTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "crm.h"
#include "crm_template.h"
#include "flow.h"

#define CONFIG_OTP_SECRET_MIN 16
#define CONFIG_OTP_SECRET_MAX 1024

typedef struct {
  char secret[CONFIG_OTP_SECRET_MAX + 1]; /* "" = no codes can be sent */
  int length;
  int ttl_seconds;
  int max_checks;
  int max_sends;
  int max_sends_per_customer_per_day; /* 0 = off */
  int max_sends_per_phone_per_hour;   /* 0 = off */
  int max_sends_per_minute;           /* process-wide budget; 0 = off */
  long timeout_ms;                    /* the whole send */
  bool send_configured;               /* otp.send given */
  crm_operation send; /* method, url, headers, body; map.ok_status */
  crm_auth auth;      /* none, bearer, basic or oauth2 */
} config_otp;

/* The defaults (no send configured). */
void config_otp_default(config_otp *o);

/* Read "otp" of `root` (absent: defaults stay). Secrets through `fn` (NULL
 * refuses them). False with "otp.<key>: <reason>" in err. */
bool config_otp_load(const json_t *root, config_otp *o, crm_secret_fn fn,
                     char *err, size_t err_len);

/* A line's "verificationMethod" (absent: answer). */
bool config_otp_line(const json_t *line, const char *path, flow_policy *p,
                     char *err, size_t err_len);

/* After every layer: give line `name`'s policy the otp numbers, and refuse
 * an OTP method without otp.secret and otp.send. */
bool config_otp_apply(const config_otp *o, const char *name, flow_policy *p,
                      char *err, size_t err_len);

/* Wipe the secret and the auth. */
void config_otp_wipe(config_otp *o);

#endif
