/*
 * otp_send: one curl multi handle per loop for SMS sends (see otp_send.h).
 *
 * With otp.auth oauth2 a send needs the gateway's token (crm_token, its
 * own token, separate from the CRM's): it waits in its loop's list,
 * bounded by its own timeout, behind the one fetch in flight anywhere in
 * the process, or starts that fetch on its loop's handle. How a fetch run
 * by another loop ended reaches this loop as mail (a loop task), as in
 * crm_client.
 */
#include "otp_send.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm_job.h"
#include "crm_loop.h"
#include "crm_template.h"
#include "crm_token.h"

#define CONTAINER_OF(ptr, type, member)                                        \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* An attempt needs at least this much of its send's time to be made. */
#define MIN_ATTEMPT_MS 50

static otp_send_config conf;
static crm_profile transport_profile; /* TLS verify on, no proxy; auth */
static crm_job_transport token_transport;
static crm_token token = CRM_TOKEN_INIT; /* otp.auth oauth2 */
static bool token_ready;                 /* its URL was rendered */

/* One loop's sends. Only its thread touches it, but for its mail (the
 * mail lock). */
typedef struct {
  loop *l;
  crm_loop *cl;
  crm_job *jobs;    /* every send (all_next / all_prev) */
  crm_job *waiting; /* sends waiting for the token (next / prev) */
  crm_job *fetch;   /* the token fetch running here, or NULL */
  crm_token_sub sub;
  loop_task mail;
  bool mail_posted;          /* mail is in the loop's queue */
  crm_token_news mail_token; /* 0: none */
  bool detached;             /* the mail task frees the shell */
} otp_loop;

static pthread_mutex_t mail_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local otp_loop *this_loop;

/* What a job reports to, kept in j->user. */
typedef struct {
  otp_send_done_fn done;
  void *ctx;
} waiter;

static bool oauth2(void) {
  return conf.auth && conf.auth->kind == CRM_AUTH_OAUTH2;
}

static void on_token_news(crm_token_sub *sub, crm_token_news news);

void otp_send_init(const otp_send_config *cfg) {
  crm_token_stop(&token);
  explicit_bzero(&transport_profile, sizeof transport_profile);
  conf = *cfg;
  transport_profile.tls_verify = true;
  token_ready = false;
  if (!oauth2())
    return;
  /* The token fetch is sent like a send: TLS verified, within timeoutMs. */
  transport_profile.auth = *conf.auth;
  transport_profile.budget_ms = conf.timeout_ms;
  token_transport = (crm_job_transport){.profile = &transport_profile,
                                        .connect_timeout_ms = conf.timeout_ms,
                                        .timeout_ms = conf.timeout_ms};
  char err[64];
  token_ready = crm_token_start(&token, &token_transport, NULL, on_token_news,
                                err, sizeof err);
}

/* ---------------------------------------------------------------------
 * Sends.
 * ------------------------------------------------------------------- */

static void unlink_waiting(otp_loop *o, crm_job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    o->waiting = j->next;
  if (j->next)
    j->next->prev = j->prev;
  j->next = j->prev = NULL;
}

/* End job j with `r`: callback, then the job (its body holds the code) is
 * wiped and freed. */
static void finish(otp_loop *o, crm_job *j, otp_send_result *r) {
  waiter *w = j->user;
  loop_timer_stop(o->l, &j->timer);
  if (j->wait == CRM_JOB_TOKEN)
    unlink_waiting(o, j);
  j->wait = CRM_JOB_BUSY;
  if (j->all_prev)
    j->all_prev->all_next = j->all_next;
  else
    o->jobs = j->all_next;
  if (j->all_next)
    j->all_next->all_prev = j->all_prev;
  r->latency_ms = crm_loop_now_ms() - j->started_ms;
  crm_job_free(j, o->cl ? crm_loop_multi(o->cl) : NULL);
  w->done(w->ctx, r);
  free(w);
}

static void fail(otp_loop *o, crm_job *j, bool token_failed) {
  otp_send_result r = {.token_failed = token_failed};
  finish(o, j, &r);
}

/* The attempt's header list: the operation's (rendered at submit), then
 * the auth line (the token's generation noted in the job). */
static struct curl_slist *attempt_headers(crm_job *j) {
  struct curl_slist *h = crm_job_header_add(NULL, "Expect:");
  for (size_t i = 0; h && i < j->http.header_count; i++)
    h = crm_job_header_add(h, j->http.headers[i]);
  if (h && oauth2()) {
    h = crm_token_add_header(&token, h, &j->token_gen);
  } else if (h) {
    char auth[CRM_SECRET_MAX * 2 + 64];
    if (crm_auth_header_line(conf.auth, auth, sizeof auth))
      h = crm_job_header_add(h, auth);
    explicit_bzero(auth, sizeof auth);
  }
  /* "Expect:" keeps curl from adding "Expect: 100-continue". */
  return h;
}

/* Puts j's attempt on the wire. False when it cannot (nothing went out). */
static bool put_on_wire(otp_loop *o, crm_job *j) {
  long left = (long)(j->deadline_ms - crm_loop_now_ms());
  if (left < MIN_ATTEMPT_MS)
    return false;
  crm_job_transport t = {.profile = &transport_profile,
                         .connect_timeout_ms = left,
                         .timeout_ms = left};
  j->wait = CRM_JOB_BUSY;
  return crm_job_attach(j, j->http.url, attempt_headers(j), &t, left) &&
         crm_loop_add(o->cl, j);
}

static void token_wait(otp_loop *o, crm_job *j);

/* j's next attempt goes out, or waits for the token. False when it can do
 * neither (j untouched but for its attempt's handle). */
static bool launch(otp_loop *o, crm_job *j) {
  if (oauth2() && !crm_token_valid(&token)) {
    if (!token_ready)
      return false;
    token_wait(o, j);
    return true;
  }
  return put_on_wire(o, j);
}

/* The sends waiting for the token go out (got, or the fetch they waited
 * for was abandoned: they try again) or fail. */
static void resume_waiting(otp_loop *o, crm_token_news news) {
  crm_job *w = o->waiting;
  o->waiting = NULL;
  while (w) {
    crm_job *j = w;
    w = j->next;
    j->next = j->prev = NULL;
    loop_timer_stop(o->l, &j->timer);
    j->wait = CRM_JOB_BUSY;
    if (news == CRM_TOKEN_FAILED || !launch(o, j))
      fail(o, j, news == CRM_TOKEN_FAILED);
  }
}

/* This loop runs the process's fetch of the gateway's token. */
static void start_fetch(otp_loop *o) {
  crm_job *t = crm_token_fetch_job(&token);
  if (t && crm_loop_add(o->cl, t)) {
    o->fetch = t;
    return;
  }
  if (t)
    crm_job_free(t, crm_loop_multi(o->cl));
  crm_token_fetch_end(&token, CRM_TOKEN_FAILED);
  resume_waiting(o, CRM_TOKEN_FAILED);
}

/* A submitted send that needs the token starts here, outside the submit
 * (its callback never runs inside otp_send_submit). */
static void on_admit_timer(void *ctx) {
  crm_job *j = ctx;
  j->wait = CRM_JOB_BUSY;
  if (!launch(this_loop, j))
    fail(this_loop, j, true);
}

/* A send's time ran out while it waited for the token. */
static void on_wait_timer(void *ctx) {
  crm_job *j = ctx;
  fail(this_loop, j, true);
}

/* j waits for the token (until its time ends), behind the fetch in flight
 * anywhere or one it starts here. */
static void token_wait(otp_loop *o, crm_job *j) {
  j->prev = NULL;
  j->next = o->waiting;
  if (o->waiting)
    o->waiting->prev = j;
  o->waiting = j;
  j->wait = CRM_JOB_TOKEN;
  double ms = j->deadline_ms - crm_loop_now_ms();
  loop_timer_start(o->l, &j->timer, ms <= 0 ? 0 : (int64_t)ms + 1,
                   on_wait_timer, j);
  switch (crm_token_join(&token, &o->sub)) {
  case CRM_TOKEN_WAIT:
    break;
  case CRM_TOKEN_VALID: /* fetched elsewhere meanwhile */
    resume_waiting(o, CRM_TOKEN_GOT);
    break;
  case CRM_TOKEN_FETCH:
    start_fetch(o);
    break;
  }
}

static void on_done(void *ctx, crm_job *j, bool ok_io) {
  otp_loop *o = ctx;
  if (j->is_token) {
    o->fetch = NULL;
    bool got = crm_token_fetch_done(&token, j, ok_io);
    crm_job_free(j, crm_loop_multi(o->cl));
    resume_waiting(o, got ? CRM_TOKEN_GOT : CRM_TOKEN_FAILED);
    return;
  }
  otp_send_result r = {.http_status = crm_job_status(j, ok_io)};
  if (r.http_status == 401 && oauth2() && !j->auth_retried) {
    /* The token expired early or was revoked: the gateway took no
     * message, so refreshing it and sending once more cannot deliver two
     * codes. */
    j->auth_retried = true;
    crm_token_refused(&token, j->token_gen);
    crm_job_end_attempt(j, crm_loop_multi(o->cl));
    if (!launch(o, j))
      fail(o, j, false);
    return;
  }
  for (size_t i = 0; i < conf.op->map.ok_count; i++)
    if (r.http_status == conf.op->map.ok_status[i])
      r.ok = true;
  finish(o, j, &r);
}

/* ---------------------------------------------------------------------
 * Mail: how a token fetch run by another loop ended.
 * ------------------------------------------------------------------- */

static void on_mail(loop_task *task) {
  otp_loop *o = CONTAINER_OF(task, otp_loop, mail);
  pthread_mutex_lock(&mail_mutex);
  o->mail_posted = false;
  bool detached = o->detached;
  crm_token_news news = o->mail_token;
  o->mail_token = 0;
  pthread_mutex_unlock(&mail_mutex);
  if (detached)
    free(o);
  else if (news)
    resume_waiting(o, news);
}

/* crm_token's notify (under the token's lock; the mail lock comes after
 * it, never before). A later fetch's news replaces one not yet read. */
static void on_token_news(crm_token_sub *sub, crm_token_news news) {
  otp_loop *o = CONTAINER_OF(sub, otp_loop, sub);
  pthread_mutex_lock(&mail_mutex);
  o->mail_token = news;
  if (!o->mail_posted && !o->detached) {
    o->mail_posted = true;
    loop_post(o->l, &o->mail);
  }
  pthread_mutex_unlock(&mail_mutex);
}

/* ---------------------------------------------------------------------
 * Attach, detach, submit.
 * ------------------------------------------------------------------- */

bool otp_send_attach(loop *l, char *err, size_t err_len) {
  if (!conf.op)
    return true; /* no send configured: nothing to attach */
  otp_loop *o = calloc(1, sizeof *o);
  if (o) {
    o->l = l;
    o->mail.run = on_mail;
    o->cl = crm_loop_open(l, 64, 4, on_done, o);
  }
  if (!o || !o->cl) {
    free(o);
    snprintf(err, err_len, "otp_send: could not make a curl multi handle");
    return false;
  }
  this_loop = o;
  return true;
}

void otp_send_detach(void) {
  otp_loop *o = this_loop;
  if (!o)
    return;
  if (oauth2()) {
    crm_token_leave(&token, &o->sub);
    if (o->fetch) {
      /* Another loop's sends may start the fetch again. */
      crm_token_fetch_end(&token, CRM_TOKEN_ABANDONED);
      crm_job_free(o->fetch, crm_loop_multi(o->cl));
      o->fetch = NULL;
    }
  }
  while (o->jobs)
    fail(o, o->jobs, false);
  crm_loop_close(o->cl);
  o->cl = NULL;
  this_loop = NULL;
  crm_job_pool_drain();
  pthread_mutex_lock(&mail_mutex);
  o->detached = true;
  bool free_now = !o->mail_posted;
  pthread_mutex_unlock(&mail_mutex);
  if (free_now)
    free(o);
}

/* A form-encoded body (Twilio's Messages API) takes its values
 * percent-encoded ("+1..." must reach it as %2B1...), not JSON-escaped. */
static bool form_body(void) {
  for (size_t i = 0; i < conf.op->header_count; i++)
    if (strncasecmp(conf.op->headers[i], "Content-Type:", 13) == 0 &&
        strstr(conf.op->headers[i], "x-www-form-urlencoded"))
      return true;
  return false;
}

/* The operation's headers, rendered, into j's request. */
static bool render_headers(crm_job *j, const crm_template_var *vars, size_t n) {
  for (size_t i = 0; i < conf.op->header_count; i++) {
    size_t len;
    char *line =
        crm_template_render(conf.op->headers[i], CRM_TPL_HEADER, vars, n, &len);
    bool ok = line && crm_http_request_add_header(&j->http, line);
    if (line)
      explicit_bzero(line, len);
    free(line);
    if (!ok)
      return false;
  }
  return true;
}

bool otp_send_submit(const char *phone, const char *code, const char *language,
                     const char *service_line, long timeout_ms,
                     otp_send_done_fn done, void *ctx) {
  otp_loop *o = this_loop;
  if (!o || !conf.op)
    return false;
  const crm_template_var vars[] = {{"phone", phone, false},
                                   {"code", code, false},
                                   {"language", language, false},
                                   {"serviceLine", service_line, false}};
  /* {code} is refused in the URL and headers at load; pass it to the body
   * only all the same. */
  const crm_template_var url_vars[] = {vars[0], vars[2], vars[3]};
  crm_job *j = crm_job_new();
  waiter *w = malloc(sizeof *w);
  if (!j || !w) {
    free(w);
    if (j)
      crm_job_free(j, NULL);
    return false;
  }
  *w = (waiter){done, ctx};
  j->user = w;
  snprintf(j->http.method, sizeof j->http.method, "%s", conf.op->method);
  size_t ulen;
  j->http.url =
      crm_template_render(conf.op->url, CRM_TPL_URL, url_vars, 3, &ulen);
  j->http.body = crm_template_render(conf.op->body,
                                     form_body() ? CRM_TPL_URL : CRM_TPL_BODY,
                                     vars, 4, &j->http.body_len);
  if (timeout_ms <= 0 || timeout_ms > conf.timeout_ms)
    timeout_ms = conf.timeout_ms;
  j->started_ms = crm_loop_now_ms();
  j->deadline_ms = j->started_ms + (double)timeout_ms;
  bool ok = j->http.url && j->http.body && render_headers(j, url_vars, 3);
  if (ok && oauth2() && !crm_token_valid(&token))
    ok = token_ready && loop_timer_start(o->l, &j->timer, 0, on_admit_timer, j);
  else if (ok)
    ok = put_on_wire(o, j);
  if (!ok) {
    /* Nothing waits and nothing went out: done is never called. */
    crm_job_free(j, crm_loop_multi(o->cl));
    free(w);
    return false;
  }
  if (loop_timer_armed(&j->timer))
    j->wait = CRM_JOB_ADMIT;
  j->all_prev = NULL;
  j->all_next = o->jobs;
  if (o->jobs)
    o->jobs->all_prev = j;
  o->jobs = j;
  return true;
}
