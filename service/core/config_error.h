/*
 * config_error: the one error reporter of the configuration loaders
 * (config and its layers, crm_config).
 *
 * A loader stops at the first bad value and says where and why:
 * "<key.path>: <reason>" (or "<VARIABLE>: <reason>" for the environment)
 * into the caller's buffer. Pure: formats text, never logs.
 */
#ifndef AUTHFLOW_CONFIG_ERROR_H
#define AUTHFLOW_CONFIG_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Format the message (printf-style: the key path, then the reason) into
 * err, truncated to err_len bytes with its NUL, and return false, so a
 * loader can `return config_error(err, err_len, "%s: ...", path)`. The
 * message must never hold a secret value.
 */
bool config_error(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
