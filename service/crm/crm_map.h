/*
 * crm_map: a CRM answer mapped to a flow_crm_result by JSON Pointers
 * (RFC 6901) and status-code semantics (pure: no I/O, no logging; fuzzed).
 *
 * Lookup: `list` points at an array of matches or at one object (one
 * match); within a match, `id` (JSON string or integer) and either `name`
 * or `given_name` + `family_name` (joined by a space). Verify: `verified`
 * (boolean) and optional `locked` (boolean; absent means false). A lookup's
 * `phone` (the first match's phone on file) is copied when it is a string.
 * Statuses: ok_status are parsed as above; no_match_status means a lookup
 * with no match, wrong_answer_status a verify that failed; anything else
 * (5xx, 0 = transfer failed, ...) is a CRM error (result.ok = false).
 * Defaults (crm_map_default) are the reference CRM API of SPEC §4.
 */
#ifndef AUTHFLOW_CRM_MAP_H
#define AUTHFLOW_CRM_MAP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

#define CRM_POINTER_MAX 128
#define CRM_STATUS_MAX 8

typedef struct {
  char list[CRM_POINTER_MAX + 1]; /* "" = the whole document */
  char id[CRM_POINTER_MAX + 1];
  char name[CRM_POINTER_MAX + 1]; /* "" = use given/family (or none) */
  char given_name[CRM_POINTER_MAX + 1];
  char family_name[CRM_POINTER_MAX + 1];
  char verified[CRM_POINTER_MAX + 1];
  char locked[CRM_POINTER_MAX + 1]; /* "" = not mapped */
  /* lookups: the customer's mobile number, where one-time codes go (SPEC
   * §9); "" = not mapped. A value that is not a string is no phone. */
  char phone[CRM_POINTER_MAX + 1];
  long ok_status[CRM_STATUS_MAX];
  size_t ok_count;
  long no_match_status[CRM_STATUS_MAX];
  size_t no_match_count;
  long wrong_answer_status[CRM_STATUS_MAX];
  size_t wrong_answer_count;
} crm_mapping;

/* The reference API's mapping: /customers, /id, /name, /verified, /locked;
 * only 200 parsed, no other status has a meaning. */
void crm_map_default(crm_mapping *m);

/* True when `p` is a syntactically valid JSON Pointer ("" or "/..." with
 * '~' only in "~0" / "~1"). */
bool crm_pointer_valid(const char *p);

/* The value at pointer `p` in `root` (borrowed), or NULL when absent or
 * when `p` is invalid. Array indexes are decimal without leading zeros. */
const json_t *crm_pointer_get(const json_t *root, const char *p);

/*
 * Map an answer. `verify` selects the verify mapping, else lookup. `body`
 * need not be NUL-terminated and may be NULL. Never fails: an unusable
 * answer is result.ok = false with the rest zeroed. Duplicate keys are
 * refused.
 */
void crm_map_response(const crm_mapping *m, bool verify, long status,
                      const char *body, size_t body_len, flow_crm_result *out);

#endif
