/*
 * store_internal: what the store_*.c files share and callers outside
 * service/store must not use (they use store.h): the configuration given
 * to store_init(), key naming, and the error-filling helper. The bottom of
 * the store: it depends on no other store file but store_types.h.
 */
#ifndef AUTHFLOW_STORE_INTERNAL_H
#define AUTHFLOW_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "store_types.h"

/* Room for "<prefix><kind>:<id>" with any prefix, kind and id we build. */
#define STORE_KEY_MAX                                                          \
  (64 + 16 + FLOW_CONVERSATION_ID_MAX + FLOW_CUSTOMER_ID_MAX)

/* Copy the configuration, normalised (store_init; before any thread uses
 * the store). */
void store_cfg_set(const store_config *c);

/* The configuration copied by store_init() (read-only afterwards). */
const store_config *store_cfg(void);

/* The script arguments that come from the configuration, written once by
 * store_init() (read-only afterwards) instead of formatted at every step:
 * the numbers in decimal, and the keys the scripts build on. */
typedef struct {
  char lock_ms[24], session_ttl[24], lockout_max[24], lockout_window[24],
      lockout_max_lock[24], escalation_reset[24], failure_memory[24],
      global_max[24], caller_max[24], caller_window[24], report_ttl[24],
      stream_max_len[24], withheld_max[24], id_global_max[24],
      id_caller_max[24], id_caller_window[24], id_withheld_max[24];
  const char *global_on;    /* "1" when the global limit is on, else "0" */
  const char *id_global_on; /* the same for failed identifications */
  char lockout_prefix[STORE_KEY_MAX];   /* "<prefix>lockout:" */
  char global_prefix[STORE_KEY_MAX];    /* "<prefix>limit:global:" */
  char caller_prefix[STORE_KEY_MAX];    /* "<prefix>limit:caller:" */
  char withheld_key[STORE_KEY_MAX];     /* "<prefix>limit:caller:withheld" */
  char id_global_prefix[STORE_KEY_MAX]; /* "<prefix>limit:idglobal:" */
  char id_caller_prefix[STORE_KEY_MAX]; /* "<prefix>limit:idcaller:" */
  char id_withheld_key[STORE_KEY_MAX];  /* "...limit:idcaller:withheld" */
} store_texts;

/* The wait budget (store_config.wait_ms): the most of connect_timeout_ms,
 * wait_ms and, with Sentinel, failover_wait_ms. */
int store_wait_ms(void);

/* The caller-bucket id of calls with no usable ANI (not hex, so it can
 * never be a number's keyed hash). */
#define STORE_WITHHELD "withheld"

/* The texts written by store_init(). */
const store_texts *store_cfg_texts(void);

/* Build "<prefix><kind>:<id>" into out[len]. False (err filled) when it does
 * not fit: a truncated key could name another conversation's record, so it
 * is never used. */
bool store_key(char *out, size_t len, const char *kind, const char *id,
               char *err, size_t err_len);

/* Fill err with `msg` and return `st`. */
store_status store_fail(store_status st, const char *msg, char *err,
                        size_t err_len);

#endif
