/*
 * config_env: the environment layer of the configuration (SPEC §5), read
 * over the file layer: AUTHFLOW_PORT, AUTHFLOW_REDIS_URL, AUTHFLOW_CRM_URL,
 * AUTHFLOW_LOG_LEVEL, AUTHFLOW_API_KEYS, AUTHFLOW_REDIS_SENTINELS,
 * AUTHFLOW_REDIS_MASTER_NAME. An empty variable counts as unset (Compose
 * and Kubernetes make those). Errors name the variable.
 */
#ifndef AUTHFLOW_CONFIG_ENV_H
#define AUTHFLOW_CONFIG_ENV_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* The value of `name` through getenv_fn, or NULL when unset or empty. */
const char *config_env(char *(*getenv_fn)(const char *), const char *name);

/* Apply every variable that is set, then check what needs both layers (a
 * Sentinel list needs a master name). */
bool config_env_apply(config *cfg, char *(*getenv_fn)(const char *), char *err,
                      size_t err_len);

#endif
