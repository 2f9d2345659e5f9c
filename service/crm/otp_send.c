/*
 * otp_send: one curl multi handle per loop for SMS sends (see otp_send.h).
 */
#include "otp_send.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crm_job.h"
#include "crm_loop.h"
#include "crm_template.h"

static otp_send_config conf;
static crm_profile transport_profile; /* TLS verify on, no proxy */

/* This loop thread's handle and the sends it runs. */
static _Thread_local crm_loop *cl;
static _Thread_local crm_job *running;

/* What a job reports to, kept in j->user. */
typedef struct {
  otp_send_done_fn done;
  void *ctx;
} waiter;

void otp_send_init(const otp_send_config *cfg) {
  conf = *cfg;
  memset(&transport_profile, 0, sizeof transport_profile);
  transport_profile.tls_verify = true;
}

static void unlink_job(crm_job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    running = j->next;
  if (j->next)
    j->next->prev = j->prev;
}

/* End job j with `r`: callback, then the job (its body holds the code) is
 * wiped and freed. */
static void finish(crm_job *j, otp_send_result *r) {
  waiter *w = j->user;
  unlink_job(j);
  r->latency_ms = crm_loop_now_ms() - j->started_ms;
  crm_job_free(j, cl ? crm_loop_multi(cl) : NULL);
  w->done(w->ctx, r);
  free(w);
}

static void on_done(void *ctx, crm_job *j, bool ok_io) {
  (void)ctx;
  otp_send_result r = {.http_status = crm_job_status(j, ok_io)};
  for (size_t i = 0; i < conf.op->map.ok_count; i++)
    if (r.http_status == conf.op->map.ok_status[i])
      r.ok = true;
  finish(j, &r);
}

bool otp_send_attach(loop *l, char *err, size_t err_len) {
  if (!conf.op)
    return true; /* no send configured: nothing to attach */
  cl = crm_loop_open(l, 64, 4, on_done, NULL);
  if (!cl)
    snprintf(err, err_len, "otp_send: could not make a curl multi handle");
  return cl != NULL;
}

void otp_send_detach(void) {
  while (running) {
    otp_send_result r = {0};
    finish(running, &r);
  }
  crm_loop_close(cl);
  cl = NULL;
  crm_job_pool_drain();
}

/* The request's header list: the operation's headers, then the auth line. */
static struct curl_slist *headers_for(const crm_template_var *vars, size_t n) {
  struct curl_slist *h = NULL;
  bool any = false;
  for (size_t i = 0; i < conf.op->header_count; i++) {
    size_t len;
    char *line =
        crm_template_render(conf.op->headers[i], CRM_TPL_HEADER, vars, n, &len);
    if (!line) {
      crm_job_headers_free(h);
      return NULL;
    }
    h = crm_job_header_add(h, line);
    explicit_bzero(line, len);
    free(line);
    if (!h)
      return NULL;
    any = true;
  }
  char auth[CRM_SECRET_MAX * 2 + 64];
  if (crm_auth_header_line(conf.auth, auth, sizeof auth)) {
    h = crm_job_header_add(h, auth);
    any = true;
  }
  explicit_bzero(auth, sizeof auth);
  /* Keep curl from adding "Expect: 100-continue" (and give a list). */
  if (h || !any)
    h = crm_job_header_add(h, "Expect:");
  return h;
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

bool otp_send_submit(const char *phone, const char *code, const char *language,
                     const char *service_line, long timeout_ms,
                     otp_send_done_fn done, void *ctx) {
  if (!cl || !conf.op)
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
  struct curl_slist *h =
      j->http.url && j->http.body ? headers_for(url_vars, 3) : NULL;
  if (timeout_ms <= 0 || timeout_ms > conf.timeout_ms)
    timeout_ms = conf.timeout_ms;
  crm_job_transport t = {.profile = &transport_profile,
                         .connect_timeout_ms = timeout_ms,
                         .timeout_ms = timeout_ms};
  j->started_ms = crm_loop_now_ms();
  if (!h || !crm_job_attach(j, j->http.url, h, &t, timeout_ms) ||
      !crm_loop_add(cl, j)) {
    crm_job_free(j, crm_loop_multi(cl));
    free(w);
    return false;
  }
  j->prev = NULL;
  j->next = running;
  if (running)
    running->prev = j;
  running = j;
  return true;
}
