/*
 * store_internal: the configuration every store file reads, the script
 * arguments written from it once, and key naming (see store_internal.h).
 */
#include "store_internal.h"
#include "decimal.h"

#include <stdio.h>
#include <string.h>

static store_config cfg;
static store_texts texts;
static size_t prefix_len;

/* Write "<prefix><kind>" into out[STORE_KEY_MAX] (store_init: the prefix
 * is under 64 bytes, so it always fits). */
static void prefixed(char *out, const char *kind) {
  char err[STORE_ERR_MAX];
  if (!store_key(out, STORE_KEY_MAX, kind, "", err, sizeof err))
    out[0] = '\0';
}

/* Fill `texts` from cfg (see store_texts). */
static void texts_fill(void) {
  decimal_format(texts.lock_ms, cfg.lock_ms);
  decimal_format(texts.session_ttl, cfg.session_ttl_seconds);
  decimal_format(texts.lockout_max, cfg.lockout_max_failures);
  decimal_format(texts.lockout_window, cfg.lockout_window_seconds);
  decimal_format(texts.lockout_max_lock, cfg.lockout_max_lock_seconds);
  decimal_format(texts.escalation_reset, cfg.lockout_escalation_reset_seconds);
  decimal_format(texts.failure_memory, cfg.lockout_failure_memory_seconds);
  decimal_format(texts.global_max, cfg.global_max_failures_per_minute);
  decimal_format(texts.caller_max, cfg.caller_max_failures);
  decimal_format(texts.caller_window, cfg.caller_window_seconds);
  decimal_format(texts.report_ttl, cfg.report_counter_ttl_seconds);
  decimal_format(texts.stream_max_len, cfg.report_stream_max_len);
  decimal_format(texts.withheld_max, cfg.withheld_max_failures);
  decimal_format(texts.id_global_max, cfg.identify_global_max_per_minute);
  decimal_format(texts.id_caller_max, cfg.identify_caller_max_failures);
  decimal_format(texts.id_caller_window, cfg.identify_caller_window_seconds);
  decimal_format(texts.id_withheld_max, cfg.identify_withheld_max_failures);
  texts.global_on = cfg.global_max_failures_per_minute > 0 ? "1" : "0";
  texts.id_global_on = cfg.identify_global_max_per_minute > 0 ? "1" : "0";
  prefixed(texts.lockout_prefix, "lockout");
  prefixed(texts.global_prefix, "limit:global");
  prefixed(texts.caller_prefix, "limit:caller");
  prefixed(texts.id_global_prefix, "limit:idglobal");
  prefixed(texts.id_caller_prefix, "limit:idcaller");
  char err[STORE_ERR_MAX];
  if (!store_key(texts.withheld_key, sizeof texts.withheld_key, "limit:caller",
                 STORE_WITHHELD, err, sizeof err))
    texts.withheld_key[0] = '\0';
  if (!store_key(texts.id_withheld_key, sizeof texts.id_withheld_key,
                 "limit:idcaller", STORE_WITHHELD, err, sizeof err))
    texts.id_withheld_key[0] = '\0';
}

void store_cfg_set(const store_config *c) {
  cfg = *c;
  /* Lockouts never shrink: a cap below the first lockout, or a memory of
   * lockouts shorter than the cap, is raised (config refuses both). */
  if (cfg.lockout_max_lock_seconds < cfg.lockout_window_seconds)
    cfg.lockout_max_lock_seconds = cfg.lockout_window_seconds;
  if (cfg.lockout_escalation_reset_seconds < cfg.lockout_max_lock_seconds)
    cfg.lockout_escalation_reset_seconds = cfg.lockout_max_lock_seconds;
  if (cfg.lockout_failure_memory_seconds < cfg.lockout_window_seconds)
    cfg.lockout_failure_memory_seconds = cfg.lockout_window_seconds;
  cfg.key_prefix[sizeof cfg.key_prefix - 1] = '\0';
  prefix_len = strlen(cfg.key_prefix);
  texts_fill();
}

const store_config *store_cfg(void) {
  return &cfg;
}

int store_wait_ms(void) {
  int ms = cfg.connect_timeout_ms;
  if (cfg.wait_ms > ms)
    ms = cfg.wait_ms;
  if (cfg.sentinel_count > 0 && cfg.failover_wait_ms > ms)
    ms = cfg.failover_wait_ms;
  return ms;
}

const store_texts *store_cfg_texts(void) {
  return &texts;
}

bool store_key(char *out, size_t len, const char *kind, const char *id,
               char *err, size_t err_len) {
  size_t kl = strlen(kind), il = strlen(id);
  if (prefix_len + kl + 1 + il >= len) {
    snprintf(err, err_len, "store: %s key too long", kind);
    return false;
  }
  memcpy(out, cfg.key_prefix, prefix_len);
  memcpy(out + prefix_len, kind, kl);
  out[prefix_len + kl] = ':';
  memcpy(out + prefix_len + kl + 1, id, il + 1);
  return true;
}

store_status store_fail(store_status st, const char *msg, char *err,
                        size_t err_len) {
  snprintf(err, err_len, "%s", msg);
  return st;
}
