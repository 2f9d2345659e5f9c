#include "crm_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm.h"

/* Answers larger than this are not a CRM answer we can use. */
#define RESPONSE_MAX (1024 * 1024)

/* One CRM call, from submit to callback. Owned by the queue, then by the
 * CRM thread. */
typedef struct job {
  struct job *next, *prev;
  flow_crm_request req;
  crm_http_request http; /* body holds the answer for VERIFY: wiped */
  crm_client_done_fn done;
  void *user;
  CURL *easy;
  char *response;
  size_t response_len;
  bool too_large;
  struct timespec started;
} job;

static struct {
  pthread_t thread;
  pthread_mutex_t mutex;
  bool running;
  bool stopping;
  job *queued;  /* submitted, not yet on the multi handle (singly linked) */
  job *active;  /* on the multi handle (doubly linked) */
  CURLM *multi; /* touched only by the CRM thread (and wakeup) */
  struct curl_slist *headers;
  crm_client_config cfg;
} client = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static double ms_since(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - since->tv_sec) * 1000.0 +
         (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static size_t on_data(char *data, size_t size, size_t n, void *user) {
  job *j = user;
  size_t len = size * n;
  if (j->response_len + len > RESPONSE_MAX) {
    j->too_large = true;
    return 0; /* aborts the transfer: a CRM error */
  }
  char *grown = realloc(j->response, j->response_len + len + 1);
  if (!grown)
    return 0;
  j->response = grown;
  memcpy(j->response + j->response_len, data, len);
  j->response_len += len;
  j->response[j->response_len] = '\0';
  return len;
}

static void free_job(job *j) {
  crm_http_request_free(&j->http);
  free(j->response);
  free(j);
}

/* Finish a job: map the answer, call back, release everything. `ok_io`
 * false means the transfer never produced an answer. */
static void finish(job *j, bool ok_io) {
  long status = 0;
  if (j->easy) {
    if (ok_io)
      curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(client.multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
  }
  flow_crm_result result;
  crm_parse_response(&j->req, ok_io && !j->too_large ? status : 0, j->response,
                     j->response_len, &result);
  j->done(j->user, &result, status, ms_since(&j->started));
  free_job(j);
}

static void unlink_active(job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    client.active = j->next;
  if (j->next)
    j->next->prev = j->prev;
  j->next = j->prev = NULL;
}

/* Put a queued job on the multi handle. On failure it is finished as a
 * CRM error at once. */
static void start_job(job *j) {
  CURL *e = curl_easy_init();
  if (!e) {
    finish(j, false);
    return;
  }
  j->easy = e;
  curl_easy_setopt(e, CURLOPT_URL, j->http.url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, j);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, client.headers);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, client.cfg.connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, client.cfg.timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (strcmp(j->http.method, "POST") == 0) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->http.body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)j->http.body_len);
  }
  if (curl_multi_add_handle(client.multi, e) != CURLM_OK) {
    finish(j, false);
    return;
  }
  j->next = client.active;
  j->prev = NULL;
  if (client.active)
    client.active->prev = j;
  client.active = j;
}

/* The CRM thread: owns the multi handle until stop. */
static void *run(void *arg) {
  for (;;) {
    pthread_mutex_lock(&client.mutex);
    job *taken = client.queued;
    client.queued = NULL;
    bool stopping = client.stopping;
    pthread_mutex_unlock(&client.mutex);
    /* The queue is pushed at the head: reverse it to start the oldest
     * first. */
    job *incoming = NULL;
    while (taken) {
      job *next = taken->next;
      taken->next = incoming;
      incoming = taken;
      taken = next;
    }

    while (incoming) {
      job *j = incoming;
      incoming = j->next;
      j->next = NULL;
      if (stopping)
        finish(j, false);
      else
        start_job(j);
    }
    if (stopping)
      break;

    int running = 0;
    curl_multi_perform(client.multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(client.multi, &left))) {
      if (msg->msg != CURLMSG_DONE)
        continue;
      job *j = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
      CURLcode rc = msg->data.result;
      unlink_active(j);
      finish(j, rc == CURLE_OK);
    }
    curl_multi_poll(client.multi, NULL, 0, 1000, NULL);
  }
  /* Stopping: everything still in flight ends as a CRM error, so every
   * submitter gets its callback. */
  while (client.active) {
    job *j = client.active;
    unlink_active(j);
    finish(j, false);
  }
  return NULL;
}

bool crm_client_start(const crm_client_config *cfg, char *err, size_t err_len) {
  client.cfg = *cfg;
  client.multi = curl_multi_init();
  if (!client.multi) {
    snprintf(err, err_len, "curl_multi_init failed");
    return false;
  }
  curl_multi_setopt(client.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    cfg->max_connections);
  curl_multi_setopt(client.multi, CURLMOPT_MAXCONNECTS, cfg->max_connections);
  struct curl_slist *h = NULL;
  h = curl_slist_append(h, "Accept: application/json");
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");
  for (size_t i = 0; h && i < cfg->header_count; i++)
    h = curl_slist_append(h, cfg->headers[i]);
  if (!h) {
    curl_multi_cleanup(client.multi);
    snprintf(err, err_len, "out of memory");
    return false;
  }
  client.headers = h;
  client.stopping = false;
  if (pthread_create(&client.thread, NULL, run, NULL) != 0) {
    curl_slist_free_all(h);
    curl_multi_cleanup(client.multi);
    snprintf(err, err_len, "cannot start the CRM thread");
    return false;
  }
  client.running = true;
  return true;
}

bool crm_client_submit(const flow_crm_request *req, const char *answer,
                       crm_client_done_fn done, void *user) {
  job *j = calloc(1, sizeof *j);
  if (!j)
    return false;
  j->req = *req;
  j->done = done;
  j->user = user;
  clock_gettime(CLOCK_MONOTONIC, &j->started);
  if (!crm_build_request(client.cfg.base_url, req, answer, &j->http)) {
    free(j);
    return false;
  }
  pthread_mutex_lock(&client.mutex);
  bool accepted = client.running && !client.stopping;
  if (accepted) {
    j->next = client.queued;
    client.queued = j;
    /* Under the mutex, so crm_client_stop() cannot free the multi handle
     * between our check and the wakeup. */
    curl_multi_wakeup(client.multi);
  }
  pthread_mutex_unlock(&client.mutex);
  if (!accepted)
    free_job(j);
  return accepted;
}

void crm_client_stop(void) {
  pthread_mutex_lock(&client.mutex);
  bool was_running = client.running;
  client.stopping = true;
  pthread_mutex_unlock(&client.mutex);
  if (!was_running)
    return;
  curl_multi_wakeup(client.multi);
  pthread_join(client.thread, NULL);
  pthread_mutex_lock(&client.mutex);
  client.running = false;
  pthread_mutex_unlock(&client.mutex);
  curl_multi_cleanup(client.multi);
  client.multi = NULL;
  curl_slist_free_all(client.headers);
  client.headers = NULL;
}
