/*
 * store_schedule: what makes a scheduled report go out exactly once
 * however many replicas run, kept in Redis (the primary, never a report
 * replica). Keys, under the prefix P:
 *
 *   P report:schedule:<name>:seen         unix seconds the schedule was
 *                                         first seen by any replica (SET NX;
 *                                         no TTL)
 *   P report:schedule:<name>:<period>:claim  the replica sending that
 *                                         period: "<host>/<pid>/<random>",
 *                                         PX = the lease, renewed while it
 *                                         works
 *   P report:schedule:<name>:<period>:done   the delivery record once the
 *                                         period is settled (sent, refused
 *                                         or given up), EX 40 days
 *   P report:deliveries                   the last STORE_DELIVERIES_MAX
 *                                         delivery records (JSON), newest
 *                                         first
 *
 * Each operation is one command or one small EVAL, on the calling
 * thread's blocking connection (store_conn.h). Never logs.
 */
#ifndef AUTHFLOW_STORE_SCHEDULE_H
#define AUTHFLOW_STORE_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_DELIVERIES_MAX 200
/* A settled period is remembered longer than any period can be late
 * (7 days) after the longest period (a month). */
#define STORE_SCHEDULE_DONE_TTL_SECONDS (40 * 86400)

/* When schedule `name` was first seen: set to `now` unless a replica
 * recorded it already; *first_seen is the recorded value. */
store_status store_schedule_seen(const char *name, int64_t now,
                                 int64_t *first_seen, char *err,
                                 size_t err_len);

typedef enum {
  STORE_CLAIM_TAKEN = 0, /* ours now, for lease_ms */
  STORE_CLAIM_HELD,      /* another replica holds it */
  STORE_CLAIM_DONE,      /* the period is settled already */
} store_claim;

/* Claim period `period` of schedule `name` with `token` for lease_ms,
 * unless it is settled or claimed. */
store_status store_schedule_claim(const char *name, const char *period,
                                  const char *token, long lease_ms,
                                  store_claim *out, char *err, size_t err_len);

/* Extend our claim to lease_ms from now. *held is false when the claim is
 * no longer ours (it expired and another replica took it). */
store_status store_schedule_renew(const char *name, const char *period,
                                  const char *token, long lease_ms, bool *held,
                                  char *err, size_t err_len);

/*
 * Settle a period: its done-marker holds `record` (JSON text), the claim
 * is released if still ours, and the record heads the deliveries list.
 * `period` NULL (a run on demand): only the list.
 */
store_status store_schedule_settle(const char *name, const char *period,
                                   const char *token, const char *record,
                                   char *err, size_t err_len);

/* Pass the newest `max` delivery records (JSON text) to on_record. */
store_status store_schedule_deliveries(
    size_t max, void (*on_record)(void *user, const char *json, size_t len),
    void *user, char *err, size_t err_len);

/* A claim token: "<host>/<pid>/<16 hex digits>" into out[out_len]. */
void store_schedule_token(char *out, size_t out_len);

#endif
