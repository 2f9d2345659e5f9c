/*
 * crm_job: a CRM call's job, its attempt's easy handle and header list,
 * and the per-thread pool of idle easy handles. Runs on the thread of the
 * loop instance that owns the job (but for crm_job_new / crm_job_free on a
 * submission that was never handed over).
 */
#include "crm_job.h"

#include <stdlib.h>
#include <string.h>

/* Finished easy handles are reset and kept for the next attempt instead
 * of being freed (perf: malloc/free were a fifth of the CRM thread). One
 * pool per thread: each loop thread reuses its own handles. */
#define IDLE_EASY_MAX 64
static _Thread_local CURL *idle_easy[IDLE_EASY_MAX];
static _Thread_local int idle_easy_count;

static CURL *take_easy(void) {
  return idle_easy_count > 0 ? idle_easy[--idle_easy_count] : curl_easy_init();
}

/* curl_easy_reset() drops every option (URL, headers, body pointer,
 * private pointer), so nothing of the last call is sent again. */
static void keep_easy(CURL *e) {
  if (idle_easy_count < IDLE_EASY_MAX) {
    curl_easy_reset(e);
    idle_easy[idle_easy_count++] = e;
  } else {
    curl_easy_cleanup(e);
  }
}

void crm_job_pool_drain(void) {
  while (idle_easy_count > 0)
    curl_easy_cleanup(idle_easy[--idle_easy_count]);
}

crm_job *crm_job_new(void) {
  crm_job *j = calloc(1, sizeof *j);
  if (j)
    buf_init(&j->response, CRM_JOB_RESPONSE_MAX, BUF_WIPE);
  return j;
}

void crm_job_headers_free(struct curl_slist *h) {
  for (struct curl_slist *l = h; l; l = l->next)
    explicit_bzero(l->data, strlen(l->data));
  curl_slist_free_all(h);
}

struct curl_slist *crm_job_header_add(struct curl_slist *h, const char *line) {
  struct curl_slist *grown = curl_slist_append(h, line);
  if (!grown)
    crm_job_headers_free(h);
  return grown;
}

void crm_job_end_attempt(crm_job *j, CURLM *multi) {
  if (j->easy) {
    curl_multi_remove_handle(multi, j->easy);
    keep_easy(j->easy);
    j->easy = NULL;
  }
  crm_job_headers_free(j->headers);
  j->headers = NULL;
  buf_free(&j->response);
}

void crm_job_free(crm_job *j, CURLM *multi) {
  crm_job_end_attempt(j, multi);
  crm_http_request_free(&j->http);
  free(j);
}

void crm_job_push(crm_job **list, crm_job *j) {
  j->prev = NULL;
  j->next = *list;
  *list = j;
}

/* CURLOPT_WRITEFUNCTION: an answer past CRM_JOB_RESPONSE_MAX, or one that
 * finds no memory, aborts the transfer (a CRM error). */
static size_t on_data(char *data, size_t size, size_t n, void *user) {
  crm_job *j = user;
  size_t len = size * n;
  return buf_add(&j->response, data, len) == BUF_OK ? len : 0;
}

/* The profile's TLS options and proxy, and the timeouts. */
static void set_transport(CURL *e, const crm_job_transport *t,
                          long timeout_ms) {
  const crm_profile *p = t->profile;
  long connect = t->connect_timeout_ms;
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   connect < timeout_ms ? connect : timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, p->tls_verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, p->tls_verify ? 2L : 0L);
  if (p->ca_file[0])
    curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file);
  if (p->client_cert[0])
    curl_easy_setopt(e, CURLOPT_SSLCERT, p->client_cert);
  if (p->client_key[0])
    curl_easy_setopt(e, CURLOPT_SSLKEY, p->client_key);
  /* The configuration alone decides: "" means no proxy, not even one from
   * http_proxy/https_proxy, and a configured proxy is used for the CRM
   * whatever NO_PROXY says (CURLOPT_NOPROXY "" overrides it). */
  curl_easy_setopt(e, CURLOPT_PROXY, p->proxy);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "");
}

bool crm_job_attach(crm_job *j, const char *url, struct curl_slist *h,
                    const crm_job_transport *t, long timeout_ms) {
  CURL *e = take_easy();
  j->headers = h;
  j->easy = e;
  if (!e || !h)
    return false;
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, j);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  set_transport(e, t, timeout_ms);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
  const crm_http_request *r = &j->http;
  if (strcmp(r->method, "GET") != 0) {
    if (strcmp(r->method, "POST") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
  }
  return true;
}

bool crm_job_sent(const crm_job *j) {
  long status = 0, request_size = 0;
  curl_off_t pretransfer_us = 0;
  curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(j->easy, CURLINFO_REQUEST_SIZE, &request_size);
  curl_easy_getinfo(j->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
  return status > 0 || request_size > 0 || pretransfer_us > 0;
}

long crm_job_status(const crm_job *j, bool ok_io) {
  long status = 0;
  if (ok_io && buf_state(&j->response) == BUF_OK)
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
  return status;
}
