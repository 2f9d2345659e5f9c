/*
 * crm_client: one thread owns a curl multi handle and runs every CRM call
 * on it. Submitters on any thread append to a mutex-protected queue and
 * wake the thread with curl_multi_wakeup(); only the CRM thread touches
 * the easy handles and (but for wakeup) the multi handle. Finished easy
 * handles are removed and cleaned up, but their connections stay in the
 * multi handle's connection cache, so the next call to the same CRM reuses
 * a kept-alive connection.
 */
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

/* Longest wait in curl_multi_poll() when nothing wakes it; curl shortens
 * it further for its own timers (timeouts, connect retries). */
#define POLL_MAX_MS 1000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* curl_global_init() is not thread-safe: run it exactly once. */
static void curl_init_once(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

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
  (void)arg;
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
      char *priv = NULL;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      job *j = (job *)priv;
      CURLcode rc = msg->data.result;
      unlink_active(j);
      finish(j, rc == CURLE_OK);
    }
    curl_multi_poll(client.multi, NULL, 0, POLL_MAX_MS, NULL);
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
  pthread_once(&curl_once, curl_init_once);
  if (curl_init_rc != CURLE_OK) {
    snprintf(err, err_len, "curl_global_init failed: %s",
             curl_easy_strerror(curl_init_rc));
    return false;
  }
  pthread_mutex_lock(&client.mutex);
  bool already = client.running;
  pthread_mutex_unlock(&client.mutex);
  if (already) {
    snprintf(err, err_len, "the CRM client is already running");
    return false;
  }
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
  pthread_mutex_lock(&client.mutex);
  client.stopping = false;
  pthread_mutex_unlock(&client.mutex);
  if (pthread_create(&client.thread, NULL, run, NULL) != 0) {
    curl_slist_free_all(h);
    client.headers = NULL;
    curl_multi_cleanup(client.multi);
    client.multi = NULL;
    snprintf(err, err_len, "cannot start the CRM thread");
    return false;
  }
  pthread_mutex_lock(&client.mutex);
  client.running = true;
  pthread_mutex_unlock(&client.mutex);
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
  pthread_mutex_lock(&client.mutex);
  /* The request is built under the mutex: the base URL belongs to the
   * running client and a concurrent stop/start must not change it under
   * us. It is cheap (one URL, and one small body for VERIFY). */
  bool accepted = client.running && !client.stopping &&
                  crm_build_request(client.cfg.base_url, req, answer, &j->http);
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

/* Must not be called from a completion callback (it joins the thread that
 * runs them). */
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
