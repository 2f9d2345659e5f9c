/*
 * crm_config: the connector keys of the "crm" config section read into a
 * crm_profile (pure: the caller's resolver does any I/O for secrets; no
 * logging). Keys (all optional; absent ones keep crm_profile_default()):
 *   "operations": {"lookupPhone"|"lookupCustomerId"|"lookupAccountNumber"|
 *                  "lookupTrackingNumber"|"verify": {
 *       "method": "GET", "url": "{baseUrl}/...{value}...",
 *       "headers": ["Name: value"], "body": "{\"answer\":\"{answer}\"}",
 *       "response": {"list":"/records", "id":"/Id", "name":"/Name",
 *                    "givenName":"/First", "familyName":"/Last",
 *                    "verified":"/ok", "locked":"/locked",
 *                    "phone":"/mobile"},
 *       "status": {"ok":[200], "noMatch":[404], "wrongAnswer":[403]}}},
 *   "auth": {"type":"none|bearer|basic|oauth2", "token", "username",
 *            "password", "tokenUrl" (may start with {baseUrl}), "clientId",
 *            "clientSecret", "scope", "refreshMarginMs"},
 *   "tls": {"verify":true, "caFile", "clientCert", "clientKey"},
 *   "proxy": "http://127.0.0.1:3128",
 *   "budgetMs": 4000 (or timeoutMs when larger; never below it),
 *   "lookupRetries": 1,
 *   "breaker": {"failures":5, "openMs":5000}
 * Any string may hold ${env:NAME} / ${file:/path}, resolved here through
 * `fn`; every resolved value is remembered in p->secrets for masking.
 */
#ifndef AUTHFLOW_CRM_CONFIG_H
#define AUTHFLOW_CRM_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "crm.h"
#include "crm_template.h"

/* config.c's default crm.timeoutMs. The budget is checked against the
 * section's timeoutMs, or this when the section has none (test_crm_config
 * checks the two agree). */
#define CRM_CONFIG_DEFAULT_TIMEOUT_MS 3000

/* Keys this module reads from the "crm" object (NULL-terminated): the
 * config file layer accepts these plus its own in its unknown-key check,
 * so a connector key is listed here and nowhere else. */
extern const char *const crm_config_keys[];

/*
 * Read the connector keys of `crm` (the section object) into *p, which
 * must hold defaults (or an earlier layer). Returns false with
 * "crm.<key.path>: <reason>" in err (written by config_error()); *p is
 * then wiped.
 */
bool crm_config_load(const json_t *crm, crm_profile *p, crm_secret_fn fn,
                     void *user, char *err, size_t err_len);

/*
 * Read an auth object shaped like crm.auth (type none, bearer, basic or
 * oauth2 and their keys, checked alike) at `path` (e.g. "otp.auth") into
 * *d, which holds defaults. Its oauth2 tokenUrl must be an absolute
 * http(s) URL ({baseUrl} is the CRM's). False with "<path>.<key>: <reason>"
 * in err; *d may then hold resolved secrets: the caller wipes it.
 */
bool crm_config_auth(const json_t *a, const char *path, crm_auth *d,
                     crm_secret_fn fn, void *user, char *err, size_t err_len);

#endif
