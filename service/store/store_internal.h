/*
 * store_internal: what the store_*.c files share and callers outside
 * service/store must not use (they use store.h): the configuration given
 * to store_init(), key naming, and the error-filling helper. Defined in
 * store.c.
 */
#ifndef AUTHFLOW_STORE_INTERNAL_H
#define AUTHFLOW_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

/* Room for "<prefix><kind>:<id>" with any prefix, kind and id we build. */
#define STORE_KEY_MAX                                                          \
  (64 + 16 + FLOW_CONVERSATION_ID_MAX + FLOW_CUSTOMER_ID_MAX)

/* The configuration copied by store_init() (read-only afterwards). */
const store_config *store_cfg(void);

/* Build "<prefix><kind>:<id>" into out[len]. False (err filled) when it does
 * not fit: a truncated key could name another conversation's record, so it
 * is never used. */
bool store_key(char *out, size_t len, const char *kind, const char *id,
               char *err, size_t err_len);

/* Fill err with `msg` and return `st`. */
store_status store_fail(store_status st, const char *msg, char *err,
                        size_t err_len);

#endif
