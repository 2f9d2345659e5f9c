/*
 * config_value: checks and setters for the values the file and the
 * environment layers share (port, bind address, CRM URL, log level, API
 * and report keys), plus the character classes behind them.
 *
 * Each setter takes `where`, the key path ("server.port") or variable
 * name ("AUTHFLOW_PORT") its error names, and leaves cfg untouched when
 * it refuses the value. A key is a secret: no message ever echoes one.
 */
#ifndef AUTHFLOW_CONFIG_VALUE_H
#define AUTHFLOW_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* True when s[0..n) is printable ASCII without spaces (bytes >= 0x80 and
 * control characters refused). */
bool config_printable_no_space(const char *s, size_t n);

/* A-Z a-z 0-9 _ . - (host names, service line names). */
bool config_is_name_char(char c);

/* "Name: value": a token name (RFC 9110), and no control character but
 * TAB anywhere, so a header can never split a request. */
bool config_header_ok(const char *h);

/* Append the key key[0..len) (not NUL-terminated) to keys[*count]:
 * 8..CONFIG_API_KEY_MAX printable characters, no space or comma, at most
 * CONFIG_MAX_API_KEYS keys. */
bool config_add_key(char (*keys)[CONFIG_API_KEY_MAX + 1], size_t *count,
                    const char *key, size_t len, const char *where, char *err,
                    size_t err_len);

/* The port as decimal text, 0..65535 (0: any free port). */
bool config_set_port_text(config *cfg, const char *text, const char *where,
                          char *err, size_t err_len);

/* An IPv4 or IPv6 address literal. */
bool config_set_bind_address(config *cfg, const char *addr, const char *where,
                             char *err, size_t err_len);

/* The CRM base URL: http:// or https://, a host, no whitespace, query or
 * fragment (paths are appended to it); trailing '/' removed. */
bool config_set_crm_url(config *cfg, const char *url, const char *where,
                        char *err, size_t err_len);

/* debug, info, warn or error. */
bool config_set_log_level(config *cfg, const char *level, const char *where,
                          char *err, size_t err_len);

#endif
