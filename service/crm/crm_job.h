/*
 * crm_job: one CRM call (or the OAuth2 token fetch) inside the CRM client,
 * from submit to callback, and the curl easy handle of its current
 * attempt.
 *
 * Only the thread of the loop instance that runs a job touches it once it
 * is handed over (the submitter builds it first; see crm_inst.h). A job owns
 * its request copy (crm_http_request: the body may hold a security answer), its
 * attempt's header list (may hold a bearer token) and its response buffer (a
 * BUF_WIPE core/buf.h buffer: the token answer holds the token); each is wiped
 * before it is released.
 *
 * Easy handles are pooled per thread: a finished attempt's handle is reset
 * and kept for the next one on the same loop thread instead of being freed
 * (curl_easy_init() and its buffers cost an allocation storm per call
 * otherwise).
 */
#ifndef AUTHFLOW_CRM_JOB_H
#define AUTHFLOW_CRM_JOB_H

#include <curl/curl.h>
#include <stdbool.h>

#include "buf.h"
#include "crm.h"
#include "crm_client.h"
#include "flow.h"
#include "loop.h"

/* Answers larger than this are not a CRM answer we can use. */
#define CRM_JOB_RESPONSE_MAX (1024 * 1024)

struct crm_inst;

/* Where a job waits between attempts (crm_call: what its timer means). */
typedef enum {
  CRM_JOB_BUSY = 0, /* on the wire, or being handled */
  CRM_JOB_ADMIT,    /* submitted on its loop; admitted when the timer fires */
  CRM_JOB_RETRY,    /* a lookup retry's jitter */
  CRM_JOB_GATE,     /* waiting for a connection; the timer ends its budget */
  CRM_JOB_TOKEN,    /* waiting for the OAuth2 token; ditto */
} crm_job_wait;

typedef struct crm_job {
  struct crm_job *next, *prev;         /* the wait list the job is on */
  struct crm_job *all_next, *all_prev; /* its instance's jobs */
  struct crm_inst *inst;               /* the instance running it */
  loop_timer timer;                    /* what it waits for: `wait` */
  loop_task task; /* carries a submission to the internal loop */
  crm_job_wait wait;
  flow_crm_request req;
  crm_http_request http; /* body holds the answer for VERIFY: wiped */
  crm_client_done_fn done;
  void *user;
  CURL *easy;                 /* the attempt's handle; NULL between */
  struct curl_slist *headers; /* the attempt's headers; wiped */
  buf response;               /* the attempt's answer; BUF_WIPE */
  bool is_token;              /* the OAuth2 token fetch, not a call */
  bool is_probe;              /* the half-open breaker's probe */
  bool auth_retried;          /* already retried once after a 401 */
  bool sent;       /* an attempt's request went out (see crm_job_sent) */
  bool holds_slot; /* counted in the client's connections */
  int attempts;
  int curl_rc;        /* the last transfer's CURLcode */
  unsigned token_gen; /* the token generation this attempt used */
  double started_ms, deadline_ms, due_ms;
  double queued_ms; /* when it began waiting for a connection; 0: not */
} crm_job;

/* What every transfer is sent with: the profile's TLS options and proxy,
 * and the configured connect and whole-transfer timeouts. */
typedef struct {
  const crm_profile *profile;
  long connect_timeout_ms;
  long timeout_ms;
} crm_job_transport;

/* A zeroed job with an empty response buffer, or NULL (out of memory).
 * The caller owns it; release with crm_job_free. */
crm_job *crm_job_new(void);

/* Ends the current attempt: its handle leaves `multi` (when it was on it)
 * and goes back to the pool; headers and response are wiped and freed. The
 * job itself stays, ready for another attempt. */
void crm_job_end_attempt(crm_job *j, CURLM *multi);

/* Ends the attempt (as above), wipes the request copy and frees the job. */
void crm_job_free(crm_job *j, CURLM *multi);

/* Pushes j at the head of a singly linked list. */
void crm_job_push(crm_job **list, crm_job *j);

/*
 * Prepares j's next attempt: takes a pooled easy handle and gives it the
 * URL, the header list `h` (the job owns it from now on, even on failure),
 * the transport options with the whole transfer capped at timeout_ms, the
 * response buffer as the write target, and j->http's method and body (a
 * GET sends none). False (nothing to send) when `h` is NULL or no easy
 * handle could be made; crm_job_end_attempt or crm_job_free still
 * releases what was taken.
 */
bool crm_job_attach(crm_job *j, const char *url, struct curl_slist *h,
                    const crm_job_transport *t, long timeout_ms);

/* The HTTP status of an attempt that ended (ok_io: curl produced an
 * answer); 0 when it produced none or the answer was refused. */
long crm_job_status(const crm_job *j, bool ok_io);

/* Whether the attempt that just ended may have reached the CRM: it got an
 * HTTP status, sent request bytes, or got as far as the connection being
 * ready to send (curl's pretransfer time). False only when nothing can
 * have been sent (refused or unreachable connection, failed TLS
 * handshake). Errs on the side of "sent": a verification then counts. */
bool crm_job_sent(const crm_job *j);

/* Appends one "Name: value" line to `h` (NULL: starts a list). Out of
 * memory: frees (and wipes) `h` and returns NULL, so a list is never
 * leaked half-built; callers stop adding once it is NULL. */
struct curl_slist *crm_job_header_add(struct curl_slist *h, const char *line);

/* Frees a header list, wiping every line first (one may carry a token). */
void crm_job_headers_free(struct curl_slist *h);

/* Frees the calling thread's pooled easy handles (a loop thread, when its
 * instance is detached). */
void crm_job_pool_drain(void);

#endif
