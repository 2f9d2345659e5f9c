/*
 * config_reporting: the scheduled reports and the mail server they go
 * through, read from the "reporting" section of the config file:
 *
 *   "reporting": {
 *     "schedules": [
 *       {"name": "daily-summary", "report": "summary", "format": "xlsx",
 *        "every": "day", "at": "07:00", "timeZone": "Asia/Seoul",
 *        "to": ["supervisors@example.com"], "serviceLine": "banking",
 *        "channel": "voice"}],
 *     "smtp": {"url": "smtp://mail.example.com:587",
 *              "from": "authflow@example.com",
 *              "username": "${env:SMTP_USER}",
 *              "password": "${file:/run/secrets/smtp}",
 *              "tls": "required", "caFile": "/etc/ssl/ca.pem",
 *              "timeoutSeconds": 120, "maxAttempts": 8,
 *              "retryInitialSeconds": 30, "retryMaxSeconds": 1800},
 *     "scheduleTickSeconds": 30, "scheduleLeaseSeconds": 120
 *   }
 *
 * "timeZone" (default reporting.timeZone), "serviceLine" and "channel"
 are optional. Only the syntax is checked
 * here: that a zone is in the zone database and that a service line is
 * configured is checked once the whole file is read
 * (report_schedule_check). Errors name the key, e.g.
 * "reporting.schedules[1].at: must be HH:MM (00:00..23:59)". The
 * username and password may be ${env:NAME} or ${file:/path} references,
 * resolved here and wiped by config_free().
 */
#ifndef AUTHFLOW_CONFIG_REPORTING_H
#define AUTHFLOW_CONFIG_REPORTING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "crm_template.h"
#include "flow.h"

#define CONFIG_MAX_SCHEDULES 32
#define CONFIG_SCHEDULE_NAME_MAX 64
#define CONFIG_SCHEDULE_TO_MAX 16 /* recipients per schedule */
#define CONFIG_MAIL_ADDRESS_MAX 254
#define CONFIG_SMTP_URL_MAX 512
#define CONFIG_SMTP_SECRET_MAX 512

typedef enum {
  CONFIG_EVERY_DAY = 0,
  CONFIG_EVERY_WEEK, /* Monday to Sunday */
  CONFIG_EVERY_MONTH
} config_every;

typedef struct {
  char name[CONFIG_SCHEDULE_NAME_MAX + 1]; /* [A-Za-z0-9._-], unique */
  char report[16];                         /* "summary" or "interactions" */
  char format[8];                          /* "json", "csv", "xlsx", "pdf" */
  config_every every;
  int at_minute;      /* minutes after local midnight, 0..1439 */
  char time_zone[65]; /* "" = reporting.timeZone */
  char to[CONFIG_SCHEDULE_TO_MAX][CONFIG_MAIL_ADDRESS_MAX + 1];
  size_t to_count;                      /* >= 1 */
  char service_line[FLOW_NAME_MAX + 1]; /* filter; "" = all */
  char channel[FLOW_CHANNEL_MAX + 1];   /* filter; "" = all */
} config_schedule;

typedef struct {
  char url[CONFIG_SMTP_URL_MAX + 1]; /* "" = no mail server configured */
  char from[CONFIG_MAIL_ADDRESS_MAX + 1];
  char username[CONFIG_SMTP_SECRET_MAX + 1]; /* resolved; "" = no AUTH */
  char password[CONFIG_SMTP_SECRET_MAX + 1]; /* resolved */
  bool tls_none;     /* "tls": "none": plaintext allowed (warned about) */
  char ca_file[256]; /* "" = the system's CA store */
  int timeout_seconds;
  int max_attempts;
  int retry_initial_seconds;
  int retry_max_seconds;
} config_smtp;

typedef struct {
  config_schedule list[CONFIG_MAX_SCHEDULES];
  size_t count;
  config_smtp smtp;
  int tick_seconds;  /* how often each replica looks for due periods */
  int lease_seconds; /* a claim on a period lives this long unrenewed */
} config_reporting;

/* The defaults (no schedules, no mail server). */
void config_reporting_default(config_reporting *r);

/* The keys of "reporting" this module reads (NULL-terminated), for the
 * section's unknown-key check. */
extern const char *const config_reporting_keys[];

/*
 * Read the keys of config_reporting_keys present in the "reporting"
 * object `s` into *r. `secret` resolves ${env:}/${file:} references in
 * smtp.username and smtp.password (NULL refuses them). False with
 * "reporting.<key>: <reason>" in err; nothing allocated either way.
 */
bool config_reporting_load(const json_t *s, config_reporting *r,
                           crm_secret_fn secret, char *err, size_t err_len);

/* "HH:MM" (two digits each, 00:00..23:59) -> minutes after midnight. */
bool config_parse_hhmm(const char *text, int *minutes);

/* Wipe the SMTP credentials. */
void config_reporting_wipe(config_reporting *r);

#endif
