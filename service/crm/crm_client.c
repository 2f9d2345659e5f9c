/*
 * crm_client: the public face of the CRM client. It holds what every
 * instance shares (crm_shared), the registry of loop instances and their
 * mail, the internal loop thread, and start/stop, attach/detach and
 * submit. The calls themselves are crm_call's; the breaker, the gate and
 * the token are process-wide modules (crm_breaker, crm_gate, crm_token).
 *
 * Locks: the client's mutex guards the registry, the running/stopping
 * flags and every instance's mail. The gate and the token post mail while
 * holding their own lock (gate -> client, token -> client); the client's
 * lock is never held while taking theirs.
 */
#include "crm_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm.h"
#include "crm_breaker.h"
#include "crm_call.h"
#include "crm_inst.h"
#include "crm_job.h"
#include "crm_loop.h"
#include "crm_token.h"
#include "loop.h"

#define CONTAINER_OF(ptr, type, member)                                        \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* curl_global_init() is not thread-safe: run it exactly once. */
static void curl_init_once(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static struct {
  pthread_mutex_t mutex;
  pthread_cond_t detached; /* an instance left the registry */
  bool running;
  bool stopping;
  crm_inst *insts; /* attached instances, the internal one included */
  crm_shared sh;
  loop *internal; /* serves submissions from other threads */
  crm_inst *internal_inst;
  pthread_t thread;
} client = {.mutex = PTHREAD_MUTEX_INITIALIZER,
            .detached = PTHREAD_COND_INITIALIZER};

/* The CRM's OAuth2 token (crm.auth type oauth2). */
static crm_token token = CRM_TOKEN_INIT;

/* The instance of the loop running on this thread, if attached. */
static _Thread_local crm_inst *this_inst;

const char *crm_fail_reason_name(crm_fail_reason r) {
  static const char *const names[] = {
      [CRM_FAIL_NONE] = "none",
      [CRM_FAIL_REFUSED] = "refused",
      [CRM_FAIL_TIMEOUT] = "timeout",
      [CRM_FAIL_TRANSPORT] = "transport",
      [CRM_FAIL_HTTP_STATUS] = "http_status",
      [CRM_FAIL_UNPARSEABLE] = "unparseable",
      [CRM_FAIL_BREAKER_OPEN] = "breaker_open",
      [CRM_FAIL_TOKEN] = "token",
      [CRM_FAIL_BUDGET] = "budget",
      [CRM_FAIL_STOPPING] = "stopping",
      [CRM_FAIL_INTERNAL] = "internal",
  };
  return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "internal";
}

bool crm_client_known_down(void) {
  return crm_breaker_known_down();
}

/* ---------------------------------------------------------------------
 * Mail: what other threads tell an instance, delivered on its loop.
 * ------------------------------------------------------------------- */

/* Under the client's lock: makes sure the instance's mail task is queued
 * on its loop. */
static void post_mail(crm_inst *in) {
  if (in->mail_posted || in->detached)
    return;
  in->mail_posted = true;
  loop_post(in->l, &in->mail_task);
}

/* The mail task, on the instance's loop. A detached instance's shell is
 * freed here (its mail was queued when it detached). */
static void on_mail(loop_task *task) {
  crm_inst *in = CONTAINER_OF(task, crm_inst, mail_task);
  pthread_mutex_lock(&client.mutex);
  in->mail_posted = false;
  bool detached = in->detached, granted = in->mail_granted,
       detach = in->mail_detach;
  crm_token_news news = in->mail_token;
  in->mail_granted = in->mail_detach = false;
  in->mail_token = 0;
  pthread_mutex_unlock(&client.mutex);
  if (detached) {
    free(in);
    return;
  }
  if (news)
    crm_call_token_news(in, news);
  if (granted)
    crm_call_granted(in);
  if (detach && this_inst == in)
    crm_client_detach();
}

/* crm_gate's notify: connections were granted to the instance's calls. */
static void on_granted(crm_gate_queue *q) {
  crm_inst *in = CONTAINER_OF(q, crm_inst, gate);
  pthread_mutex_lock(&client.mutex);
  in->mail_granted = true;
  post_mail(in);
  pthread_mutex_unlock(&client.mutex);
}

/* crm_token's notify: the fetch the instance's calls waited for ended. A
 * later fetch's news replaces an earlier one not yet read. */
static void on_token_news(crm_token_sub *sub, crm_token_news news) {
  crm_inst *in = CONTAINER_OF(sub, crm_inst, token_sub);
  pthread_mutex_lock(&client.mutex);
  in->mail_token = news;
  post_mail(in);
  pthread_mutex_unlock(&client.mutex);
}

/* ---------------------------------------------------------------------
 * Instances.
 * ------------------------------------------------------------------- */

/* A new instance on l, registered, or NULL with the reason in err. */
static crm_inst *inst_new(loop *l, char *err, size_t err_len) {
  crm_inst *in = calloc(1, sizeof *in);
  if (!in) {
    snprintf(err, err_len, "out of memory");
    return NULL;
  }
  in->l = l;
  in->sh = &client.sh;
  const crm_client_config *cfg = &client.sh.cfg;
  long loops = cfg->loops > 1 ? cfg->loops : 1;
  long idle = (cfg->max_connections + loops - 1) / loops;
  in->cl = crm_loop_open(l, cfg->max_connections, idle > 0 ? idle : 1,
                         crm_call_transfer_done, in);
  if (!in->cl) {
    free(in);
    snprintf(err, err_len, "cannot set up a curl multi handle");
    return NULL;
  }
  in->rng = (unsigned)crm_loop_now_ms() ^ (unsigned)(uintptr_t)in;
  in->rng |= 1u;
  in->mail_task.run = on_mail;
  pthread_mutex_lock(&client.mutex);
  bool ok = client.running && !client.stopping;
  if (ok) {
    in->next_inst = client.insts;
    client.insts = in;
  }
  pthread_mutex_unlock(&client.mutex);
  if (!ok) {
    crm_loop_close(in->cl);
    free(in);
    snprintf(err, err_len, "the CRM client is not running");
    return NULL;
  }
  /* Not under the client's lock (the gate's comes first). A detach asked
   * for meanwhile runs on l, after this returns. */
  crm_gate_open(&in->gate, on_granted);
  return in;
}

bool crm_client_attach(loop *l, char *err, size_t err_len) {
  if (this_inst) {
    snprintf(err, err_len, "this thread's loop is already attached");
    return false;
  }
  crm_inst *in = inst_new(l, err, err_len);
  if (!in)
    return false;
  this_inst = in;
  return true;
}

void crm_client_detach(void) {
  crm_inst *in = this_inst;
  if (!in || in->stopping)
    return;
  /* Callbacks run now; a submission they make is refused (stopping). */
  crm_call_stop_all(in);
  crm_loop_close(in->cl);
  in->cl = NULL;
  crm_job_pool_drain();
  this_inst = NULL;
  pthread_mutex_lock(&client.mutex);
  crm_inst **link = &client.insts;
  while (*link && *link != in)
    link = &(*link)->next_inst;
  if (*link)
    *link = in->next_inst;
  in->detached = true;
  bool free_now = !in->mail_posted;
  pthread_cond_broadcast(&client.detached);
  pthread_mutex_unlock(&client.mutex);
  if (free_now)
    free(in);
}

/* ---------------------------------------------------------------------
 * The internal loop: submissions from threads that are not attached.
 * ------------------------------------------------------------------- */

static void *run_internal(void *arg) {
  this_inst = arg;
  loop_run(client.internal);
  crm_client_detach(); /* when the loop ended some other way */
  return NULL;
}

/* A submission posted from another thread, on the internal loop. */
static void on_submitted(loop_task *task) {
  crm_job *j = CONTAINER_OF(task, crm_job, task);
  crm_inst *in = this_inst;
  if (!in || in->stopping || !crm_call_enter(in, j, false))
    crm_call_fail_alone(j, CRM_FAIL_STOPPING);
}

/* The headers every call sends, then the configured ones. NULL when out of
 * memory. */
static struct curl_slist *base_headers(const crm_client_config *cfg) {
  struct curl_slist *h = crm_job_header_add(NULL, "Accept: application/json");
  if (h)
    h = crm_job_header_add(h, "Content-Type: application/json");
  if (h)
    h = crm_job_header_add(h, "Expect:");
  for (size_t i = 0; h && i < cfg->header_count; i++)
    h = crm_job_header_add(h, cfg->headers[i]);
  return h;
}

/* The shared state for a new run (the breaker, the gate and the token
 * too). False with a reason in err. */
static bool reset_shared(const crm_client_config *cfg, char *err,
                         size_t err_len) {
  crm_shared *sh = &client.sh;
  sh->cfg = *cfg;
  sh->p = cfg->profile ? cfg->profile : crm_profile_reference();
  sh->transport = (crm_job_transport){
      .profile = sh->p,
      .connect_timeout_ms = cfg->connect_timeout_ms,
      .timeout_ms = cfg->timeout_ms,
  };
  sh->token = &token;
  if (!crm_token_start(&token, &sh->transport, cfg->base_url, on_token_news,
                       err, err_len))
    return false;
  crm_breaker_start(sh->p, cfg->on_event);
  crm_gate_start(cfg->max_connections, cfg->on_event);
  sh->base_headers = base_headers(cfg);
  if (!sh->base_headers) {
    crm_token_stop(&token);
    snprintf(err, err_len, "out of memory");
    return false;
  }
  return true;
}

static void release_shared(void) {
  crm_job_headers_free(client.sh.base_headers);
  client.sh.base_headers = NULL;
  crm_token_stop(&token);
}

/* Makes the internal loop, its instance and its thread (the client is
 * marked running first: an instance registers only then). */
static bool start_internal(char *err, size_t err_len) {
  client.internal = loop_new(err, err_len);
  if (!client.internal)
    return false;
  pthread_mutex_lock(&client.mutex);
  client.running = true;
  client.stopping = false;
  pthread_mutex_unlock(&client.mutex);
  client.internal_inst = inst_new(client.internal, err, err_len);
  if (client.internal_inst && pthread_create(&client.thread, NULL, run_internal,
                                             client.internal_inst) == 0)
    return true;
  if (client.internal_inst) {
    snprintf(err, err_len, "cannot start the CRM thread");
    /* Never ran: detach it from here (nothing runs on it). */
    this_inst = client.internal_inst;
    crm_client_detach();
  }
  pthread_mutex_lock(&client.mutex);
  client.running = false;
  pthread_mutex_unlock(&client.mutex);
  loop_free(client.internal);
  client.internal = NULL;
  return false;
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
  if (!reset_shared(cfg, err, err_len))
    return false;
  if (!start_internal(err, err_len)) {
    release_shared();
    return false;
  }
  return true;
}

/* A job for req, built against the running client's settings, or NULL
 * (out of memory, or a request the connector cannot make). */
static crm_job *job_for(const flow_crm_request *req, const char *answer,
                        crm_client_done_fn done, void *user) {
  crm_job *j = crm_job_new();
  if (!j)
    return NULL;
  j->req = *req;
  j->done = done;
  j->user = user;
  j->started_ms = crm_loop_now_ms();
  j->deadline_ms = j->started_ms + (double)client.sh.p->budget_ms;
  if (!crm_build(client.sh.p, client.sh.cfg.base_url, req, answer, &j->http)) {
    crm_job_free(j, NULL);
    return NULL;
  }
  return j;
}

bool crm_client_submit(const flow_crm_request *req, const char *answer,
                       crm_client_done_fn done, void *user) {
  crm_inst *in = this_inst;
  if (in) {
    /* The client runs at least until this instance is detached. */
    if (in->stopping)
      return false;
    crm_job *j = job_for(req, answer, done, user);
    if (j && crm_call_enter(in, j, true))
      return true;
    if (j)
      crm_job_free(j, NULL);
    return false;
  }
  pthread_mutex_lock(&client.mutex);
  /* Built under the lock: the settings belong to the running client and a
   * concurrent stop must not free them under us. */
  crm_job *j = client.running && !client.stopping
                   ? job_for(req, answer, done, user)
                   : NULL;
  if (j) {
    j->task.run = on_submitted;
    /* Under the lock, so crm_client_stop() cannot free the loop between
     * our check and the post. */
    loop_post(client.internal, &j->task);
  }
  pthread_mutex_unlock(&client.mutex);
  return j != NULL;
}

void crm_client_stop(void) {
  pthread_mutex_lock(&client.mutex);
  bool stop = client.running && !client.stopping;
  if (stop) {
    client.stopping = true;
    for (crm_inst *in = client.insts; in; in = in->next_inst) {
      in->mail_detach = true;
      post_mail(in);
    }
  }
  pthread_mutex_unlock(&client.mutex);
  if (!stop)
    return;
  crm_client_detach(); /* when called on an attached loop's thread */
  pthread_mutex_lock(&client.mutex);
  while (client.insts)
    pthread_cond_wait(&client.detached, &client.mutex);
  pthread_mutex_unlock(&client.mutex);
  loop_stop(client.internal);
  pthread_join(client.thread, NULL);
  loop_free(client.internal);
  client.internal = NULL;
  client.internal_inst = NULL;
  release_shared();
  pthread_mutex_lock(&client.mutex);
  client.running = false;
  client.stopping = false;
  pthread_mutex_unlock(&client.mutex);
}
