/*
 * crm_token: the OAuth2 client-credentials token of the CRM client, and
 * the single flight that fetches it.
 *
 * One token fetch at a time runs on the loop's multi handle; calls that
 * need a token wait behind it (crm_token_wait) and are all handed back
 * together through the resume callback: with the new token, or failed when
 * the fetch fails (one fetch serves them all; a failed fetch is not
 * retried for them). The token lives in this module's memory only, is
 * wiped when replaced or stopped, and is refreshed once refresh_margin_ms
 * (at most half its lifetime) is left, or after a 401 (crm_token_refused).
 * Everything runs on the CRM thread, but start/stop (before the thread
 * starts, after it is joined).
 */
#ifndef AUTHFLOW_CRM_TOKEN_H
#define AUTHFLOW_CRM_TOKEN_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "crm_job.h"

/* What the client does with a call that waited for the token: send it
 * (got_token) or finish it as a failed CRM call. */
typedef void (*crm_token_resume_fn)(crm_job *j, bool got_token);

/*
 * Readies the token for a client start: forgets any token and, for an
 * OAuth2 profile, renders the token URL ("{baseUrl}/..." against
 * base_url, the one in use). `t` is borrowed until crm_token_stop. False
 * with a reason in err when the URL cannot be rendered.
 */
bool crm_token_start(const crm_job_transport *t, const char *base_url,
                     crm_token_resume_fn resume, char *err, size_t err_len);

/* Wipes the token and frees the token URL. */
void crm_token_stop(void);

/* A token is held and not yet due for a refresh. */
bool crm_token_valid(void);

/* Appends "Authorization: Bearer <token>" to h (crm_job_header_add's
 * contract) and stores the token's generation in *gen. */
struct curl_slist *crm_token_add_header(struct curl_slist *h, unsigned *gen);

/* The CRM refused a call sent with generation `gen` (a 401): when that is
 * still the current token, it is refreshed before its next use. */
void crm_token_refused(unsigned gen);

/* Queues j behind the token fetch, starting one when none is in flight.
 * j comes back through the resume callback (maybe before this returns,
 * when the fetch cannot even start). */
void crm_token_wait(crm_job *j);

/*
 * The fetch job `t` ended (ok_io: it produced an HTTP answer). A usable
 * answer is HTTP 200 with a non-empty printable "access_token" and a
 * positive lifetime: it becomes the token (a new generation). Frees t.
 * Returns whether a token was got; the caller reports it, then hands the
 * waiters back with crm_token_resume_all.
 */
bool crm_token_fetch_done(crm_job *t, bool ok_io);

/* Hands every waiting call back through the resume callback, with
 * got_token (the one way waiters leave but expiry and stop). */
void crm_token_resume_all(bool got_token);

/* Fails (resume, false) the waiters whose budget ends at or before now.
 * Returns the earliest budget end of those left, or `next` if sooner. */
double crm_token_expire(double now, double next);

/* For stopping: the fetch job is dropped (freed, no fetch in flight). */
void crm_token_drop_fetch(crm_job *t);

/* For stopping: takes the waiting calls (singly linked) away. */
crm_job *crm_token_take_waiters(void);

#endif
