/*
 * report_mail: one e-mail with a report attached, sent through libcurl's
 * SMTP and MIME interfaces (curl_mime), and the --check-smtp probe.
 *
 * TLS: an smtps:// URL is TLS from the first byte; an smtp:// URL must be
 * upgraded with STARTTLS (CURLUSESSL_ALL: a server that does not offer it
 * is a failure, never a silent plaintext send) unless the configuration
 * says "tls": "none". Certificates are verified (the system's CA store, or
 * smtp.caFile).
 *
 * Blocking: runs on the calling thread (the scheduler's, never a loop).
 * Low-level: never logs; the outcome comes back as a value.
 */
#ifndef AUTHFLOW_REPORT_MAIL_H
#define AUTHFLOW_REPORT_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_reporting.h"

typedef struct {
  const config_smtp *smtp;
  const char (*to)[CONFIG_MAIL_ADDRESS_MAX + 1];
  size_t to_count;
  const char *subject;    /* ASCII, one line */
  const char *body;       /* UTF-8 text */
  const char *message_id; /* "<...@...>" */
  /* The attachment: attach_size bytes of attach_fd from offset 0 (read
   * with pread; the descriptor stays the caller's). */
  int attach_fd;
  uint64_t attach_size;
  const char *attach_name;
  const char *attach_type;
  /* Called about once a second while the mail is in flight (may be
   * NULL): false aborts the send before the server accepts it. The
   * scheduler renews its claim here. */
  bool (*keep_going)(void *user);
  void *user;
} report_mail;

typedef enum {
  REPORT_MAIL_SENT = 0,
  REPORT_MAIL_RETRY,   /* a failure that may pass: no connection, a
                          timeout, a 4xx, TLS not offered */
  REPORT_MAIL_REFUSED, /* a permanent refusal: a 5xx reply */
  REPORT_MAIL_ABORTED, /* keep_going said stop */
} report_mail_status;

typedef struct {
  long smtp_code; /* the server's last reply code; 0 when none came */
  char text[256]; /* what failed (curl's words), or "" */
} report_mail_result;

/* Send m. The result's code is the last SMTP reply (250 on success). */
report_mail_status report_mail_send(const report_mail *m,
                                    report_mail_result *res);

/* Connect, say EHLO, upgrade to TLS as configured and authenticate (when
 * a username is set), then hang up: nothing is sent. */
report_mail_status report_mail_check(const config_smtp *smtp,
                                     report_mail_result *res);

#endif
