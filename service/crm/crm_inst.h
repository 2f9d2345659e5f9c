/*
 * crm_inst: one loop's CRM client instance (internal to the client).
 *
 * Each attached loop, and the client's internal loop, has one: its own
 * curl multi handle on the loop (crm_loop), the calls it runs (crm_job),
 * its queue at the connection gate and its calls waiting for the OAuth2
 * token. Only the loop's thread touches an instance, but for its mail:
 * what other threads tell it (connections granted by the gate, how a token
 * fetch ended, a request to detach), guarded by the client's lock and
 * delivered as one loop task (crm_client.c).
 *
 * What the instances share, fixed from crm_client_start to
 * crm_client_stop, is crm_shared; the breaker, the gate and the token are
 * process-wide modules of their own (crm_breaker, crm_gate, crm_token).
 */
#ifndef AUTHFLOW_CRM_INST_H
#define AUTHFLOW_CRM_INST_H

#include <curl/curl.h>
#include <stdbool.h>

#include "crm.h"
#include "crm_client.h"
#include "crm_gate.h"
#include "crm_job.h"
#include "crm_loop.h"
#include "crm_token.h"
#include "loop.h"

/* The running client's settings (read-only while it runs). */
typedef struct {
  crm_client_config cfg;
  const crm_profile *p;
  crm_job_transport transport;
  struct curl_slist *base_headers; /* every call's, then the configured */
  crm_token *token;                /* the OAuth2 token (crm_client's) */
} crm_shared;

typedef struct crm_inst {
  loop *l;
  crm_loop *cl;
  const crm_shared *sh;
  crm_job *jobs;          /* every call it runs (all_next / all_prev) */
  crm_job *token_waiters; /* calls waiting for the token (next / prev) */
  crm_job *fetch;         /* the token fetch running here, or NULL */
  crm_gate_queue gate;    /* its calls waiting for a connection */
  crm_token_sub token_sub;
  unsigned rng;
  bool stopping; /* detaching: calls end with CRM_FAIL_STOPPING */
  /* Mail (the client's lock). */
  loop_task mail_task;
  bool mail_posted; /* mail_task is in the loop's queue */
  bool mail_granted;
  bool mail_detach;
  crm_token_news mail_token; /* 0: none */
  bool detached;             /* the mail task frees the shell */
  struct crm_inst *next_inst;
} crm_inst;

#endif
