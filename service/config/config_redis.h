/*
 * config_redis: the Redis connection settings of the configuration: the
 * URL (config_parse_redis_url, declared in config.h, lives here), the
 * Sentinel addresses and master name.
 *
 * Each setter takes `where`, the key path or variable name its error
 * names, and leaves cfg untouched when it refuses the value (the Sentinel
 * lists excepted: a refused list leaves the count at the entries read).
 */
#ifndef AUTHFLOW_CONFIG_REDIS_H
#define AUTHFLOW_CONFIG_REDIS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Set redis_url and the host, port, password and db parsed from it. */
bool config_set_redis_url(config *cfg, const char *url, const char *where,
                          char *err, size_t err_len);

/* A Sentinel master name: 1..127 printable characters without spaces. */
/* reporting.redisUrl: a redis:// URL, or "sentinel:replica" (which needs
 * redis.sentinels, so it is read after the redis section). */
bool config_set_report_redis_url(config *cfg, const char *url,
                                 const char *where, char *err, size_t err_len);

bool config_set_master_name(config *cfg, const char *name, const char *where,
                            char *err, size_t err_len);

/* redis.sentinels: a JSON array of 1..SENTINEL_MAX "host:port" strings. */
bool config_set_sentinels_json(config *cfg, const json_t *sentinels, char *err,
                               size_t err_len);

/* AUTHFLOW_REDIS_SENTINELS: "host:port,host:port" (empty entries skipped,
 * at least one address). */
bool config_set_sentinels_text(config *cfg, const char *v, char *err,
                               size_t err_len);

#endif
