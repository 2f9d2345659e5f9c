/*
 * crm_token: an OAuth2 client-credentials token shared by every loop
 * instance (thread-safe), and the single flight that fetches it. Each
 * client that needs one owns a crm_token: the CRM client (crm_client) and
 * the one-time code sender (otp_send, for otp.auth).
 *
 * One fetch at a time runs per token in the whole process, on the multi
 * handle of the instance that first needed it (crm_token_join answers
 * CRM_TOKEN_FETCH to exactly one caller). Calls that need the token wait
 * in their own instance; an instance with waiting calls subscribes to the
 * fetch (its crm_token_sub) and is told how it ended through the notify
 * hook given at start: with the new token, or failed (one fetch serves
 * them all; a failed fetch is not retried for them), or abandoned (the
 * fetching instance went away: they may start another). The token lives
 * in this module's memory only, is wiped when replaced or stopped, and is
 * refreshed once refresh_margin_ms (at most half its lifetime) is left, or
 * after a 401 (crm_token_refused).
 */
#ifndef AUTHFLOW_CRM_TOKEN_H
#define AUTHFLOW_CRM_TOKEN_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "crm_job.h"

/* How a fetch ended, for its subscribers. */
typedef enum {
  CRM_TOKEN_GOT = 1,   /* a new token is held */
  CRM_TOKEN_FAILED,    /* the fetch failed: the waiters fail */
  CRM_TOKEN_ABANDONED, /* the fetch never ended: the waiters may retry */
} crm_token_news;

/* An instance's subscription to the fetch in flight (embed, zeroed). */
typedef struct crm_token_sub {
  struct crm_token_sub *next;
  bool on;
} crm_token_sub;

/* Called under the token's lock for every subscriber but the fetcher when
 * a fetch ends (the subscription is over by then). Must not block nor call
 * back into this module. */
typedef void (*crm_token_notify_fn)(crm_token_sub *sub, crm_token_news news);

#define CRM_TOKEN_MAX 4096

/* One token and its fetch. Define it with CRM_TOKEN_INIT; the fields are
 * this module's (guarded by `mutex` but t and url, fixed while running). */
typedef struct crm_token {
  pthread_mutex_t mutex;
  const crm_job_transport *t;
  crm_token_notify_fn notify;
  char *url; /* auth.token_url with {baseUrl} rendered; heap */
  char token[CRM_TOKEN_MAX];
  double refresh_ms; /* refresh at or after this time */
  unsigned gen;
  bool fetching;
  crm_token_sub *subs; /* instances waiting for the fetch in flight */
} crm_token;

#define CRM_TOKEN_INIT                                                         \
  { .mutex = PTHREAD_MUTEX_INITIALIZER }

/*
 * Readies the token for a client start: forgets any token and, for an
 * OAuth2 profile, renders the token URL ("{baseUrl}/..." against
 * base_url, the one in use; NULL when the URL may not hold it). `t` is borrowed
 * until crm_token_stop. False with a reason in err when the URL cannot be
 * rendered. Not while calls run.
 */
bool crm_token_start(crm_token *tk, const crm_job_transport *t,
                     const char *base_url, crm_token_notify_fn notify,
                     char *err, size_t err_len);

/* Wipes the token and frees the token URL. Not while calls run. */
void crm_token_stop(crm_token *tk);

/* A token is held and not yet due for a refresh. */
bool crm_token_valid(crm_token *tk);

/* Appends "Authorization: Bearer <token>" to h (crm_job_header_add's
 * contract) and stores the token's generation in *gen. */
struct curl_slist *crm_token_add_header(crm_token *tk, struct curl_slist *h,
                                        unsigned *gen);

/* The CRM refused a call sent with generation `gen` (a 401): when that is
 * still the current token, it is refreshed before its next use. */
void crm_token_refused(crm_token *tk, unsigned gen);

typedef enum {
  CRM_TOKEN_VALID, /* a token is held now: no need to wait */
  CRM_TOKEN_WAIT,  /* a fetch is in flight; sub is subscribed to it */
  CRM_TOKEN_FETCH, /* the caller must run the fetch (crm_token_fetch_job) */
} crm_token_join_result;

/* An instance has a call needing the token: what it should do. */
crm_token_join_result crm_token_join(crm_token *tk, crm_token_sub *sub);

/* The fetch job (a client-credentials POST; its form holds the secret and
 * is wiped with the job) for the caller told CRM_TOKEN_FETCH to run, or
 * NULL when out of memory (then end the fetch: crm_token_fetch_end). */
crm_job *crm_token_fetch_job(crm_token *tk);

/*
 * The fetch job `t` ended (ok_io: it produced an HTTP answer). A usable
 * answer is HTTP 200 with a non-empty printable "access_token" and a
 * positive lifetime: it becomes the token (a new generation). Ends the
 * fetch and notifies the subscribers. Returns whether a token was got;
 * the caller frees t and hands its own waiters back.
 */
bool crm_token_fetch_done(crm_token *tk, crm_job *t, bool ok_io);

/* The fetch could not start (CRM_TOKEN_FAILED) or its instance is going
 * away (CRM_TOKEN_ABANDONED): it ends and the subscribers are told. */
void crm_token_fetch_end(crm_token *tk, crm_token_news news);

/* Ends sub's subscription (an instance going away). */
void crm_token_leave(crm_token *tk, crm_token_sub *sub);

#endif
