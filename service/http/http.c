#include "http.h"
#include "http_response.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "buf.h"
#include "crm_client.h"
#include "entropy.h"
#include "handoff_api.h"
#include "log.h"
#include "loop.h"
#include "loop_pool.h"
#include "metrics.h"
#include "offload.h"
#include "otp_send.h"
#include "report_api.h"
#include "route.h"
#include "schedule_api.h"
#include "store.h"
#include "store_async.h"

#define REQUEST_ID_MAX 64
/* libmicrohttpd's per-connection pool: request line, headers and the read
 * buffer. Bodies are copied out as they arrive (capped separately), so the
 * pool needs room for headers only; 16 KiB instead of the 32 KiB default
 * takes ~14 MB off the RSS with 1,000 callers waiting on a slow CRM
 * (bench/). A request whose headers do not fit gets 431 from the library. */
#define CONNECTION_MEMORY (16 * 1024)
/* How much of an oversized chunked body is read and dropped before the
 * connection is closed without an answer. */
#define DISCARD_MAX (1024 * 1024)
/* Room for an offloaded request's query arguments (they came in a request
 * line that fits CONNECTION_MEMORY). */
#define ARGS_MAX CONNECTION_MEMORY
/* Offloaded requests that may wait on one queue at once; more are refused
 * with 503. Reports have a queue and thread of their own (lowest CPU
 * priority); /metrics and handoff creation another, which no number of
 * report requests can fill. The dashboard page needs neither. */
#define OFFLOAD_QUEUE_MAX 64
#define REPORT_NICE 19
static offload_queue report_queue = OFFLOAD_QUEUE_INIT;
static offload_queue ops_queue = OFFLOAD_QUEUE_INIT;

static const config *cfg;
static atomic_int in_flight;
static int bound_port;

/* check_headers_or_reply hands config's key arrays to auth_check through a
 * cast: their rows must be exactly as wide as auth expects, or keys would
 * be read at the wrong offsets. */
_Static_assert(sizeof cfg->api_keys[0] == sizeof(char[AUTH_KEY_MAX + 1]),
               "config api_keys rows must match auth_check's key stride");
_Static_assert(sizeof cfg->report_keys[0] == sizeof(char[AUTH_KEY_MAX + 1]),
               "config report_keys rows must match auth_check's key stride");

/* What each loop runs: its daemon, MHD's epoll fd in the loop's set, and a
 * timer for MHD's own timeouts (idle connections). */
typedef struct {
  loop *l;
  struct MHD_Daemon *daemon;
  loop_io io;
  loop_timer timer;
} server;

/* The server of the loop running on this thread (NULL elsewhere). */
static _Thread_local server *current_server;

typedef enum {
  PHASE_READING = 0, /* collecting the body */
  PHASE_STEPPING,    /* suspended; api's step owns the next move */
  PHASE_OFFLOADED,   /* suspended; the offload thread owns the next move */
  PHASE_ANSWERED,    /* resumed with `answer` filled */
  PHASE_RESPONDED,   /* a response is queued */
} request_phase;

/* One request's context: made on the first handler call, freed in
 * on_completed(). */
typedef struct {
  struct MHD_Connection *connection;
  server *srv;           /* the loop the connection belongs to */
  loop_task resume_task; /* a resume posted from another thread */
  struct timespec started;
  char request_id[REQUEST_ID_MAX + 1];
  const char *method; /* static name for logs */
  route_match route;
  route_match_status route_status;
  /* Body: capped at max_body_bytes and wiped on release (it may hold a
   * security answer). Once the buffer has failed (BUF_TOO_LARGE past the
   * cap, BUF_NO_MEMORY) the rest of the body is discarded unread. */
  buf body;
  size_t discarded; /* bytes thrown away after the buffer failed */
  _Atomic request_phase phase;
  api_step step;
  /* Offloaded requests (reports, dashboard, metrics, handoff creation):
   * the job and a copy of the query arguments ("name\0value\0" pairs:
   * the offload thread must not read the connection). */
  offload_job job;
  buf args;
  int handoff_key; /* POST /v1/handoffs: which handoff key (index) */
  /* The answer of a step or an offloaded request, made while suspended. */
  api_response answer;
  /* For the log line. */
  unsigned status;
  const char *outcome;
  const char *error;
} http_request;

static double elapsed_seconds(const struct timespec *since) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - since->tv_sec) +
         (double)(now.tv_nsec - since->tv_nsec) / 1e9;
}

/* Accept a caller's request ID only if it is short and plain, so it is
 * safe to echo in a header and a log line. */
static bool request_id_ok(const char *id) {
  size_t n = strlen(id);
  if (n == 0 || n > REQUEST_ID_MAX)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
          c == ':'))
      return false;
  }
  return true;
}

static void assign_request_id(http_request *rq) {
  static const char *const headers[] = {"X-Request-Id", "ININ-Correlation-Id"};
  for (size_t i = 0; i < 2; i++) {
    const char *v = MHD_lookup_connection_value(rq->connection, MHD_HEADER_KIND,
                                                headers[i]);
    if (v && request_id_ok(v)) {
      snprintf(rq->request_id, sizeof rq->request_id, "%s", v);
      return;
    }
  }
  entropy_hex(rq->request_id, sizeof rq->request_id, 12);
}

/* Queue `resp` on the connection and record what the log line needs.
 * Consumes resp's buffers. */
static enum MHD_Result send_response(http_request *rq, api_response *resp) {
  rq->status = resp->status;
  rq->outcome = resp->outcome;
  rq->error = resp->error;
  struct MHD_Response *r = http_response_make(resp, rq->request_id);
  atomic_store(&rq->phase, PHASE_RESPONDED);
  if (!r)
    return MHD_NO; /* out of memory: drop the connection */
  enum MHD_Result ok = MHD_queue_response(rq->connection, rq->status, r);
  MHD_destroy_response(r);
  return ok;
}

/* Queue an error answer {"error":code,"message":message} (with Allow on a
 * 405). Returns what queuing it returned. */
static enum MHD_Result send_error(http_request *rq, unsigned status,
                                  const char *code, const char *message) {
  api_response resp = {0};
  api_error(&resp, status, code, message);
  if (status == 405)
    resp.allow = rq->route.allow;
  return send_response(rq, &resp);
}

static void serve_soon(server *s);

/* Resumes the connection on its own loop's thread. libmicrohttpd in
 * external-epoll mode takes a resume into account only at its next
 * MHD_run, so the loop runs it at once (from a zero timer: never inside
 * the MHD_run that may be on the stack). */
static void resume_here(http_request *rq) {
  MHD_resume_connection(rq->connection);
  serve_soon(rq->srv);
}

static void run_resume_task(loop_task *task) {
  resume_here(
      (http_request *)((char *)task - offsetof(http_request, resume_task)));
}

/* Wakes a suspended request from any thread: directly on its own loop's
 * thread, else through a task posted to that loop. */
static void resume(http_request *rq) {
  if (loop_current() == rq->srv->l) {
    resume_here(rq);
    return;
  }
  rq->resume_task.run = run_resume_task;
  loop_post(rq->srv->l, &rq->resume_task);
}

/* True when the request carries a JSON body type (or none at all). */
static bool content_type_ok(struct MHD_Connection *c) {
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!ct || !*ct)
    return true;
  size_t n = strcspn(ct, ";");
  while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
    n--;
  if (n == strlen("application/json") &&
      strncasecmp(ct, "application/json", n) == 0)
    return true;
  /* Structured syntax suffix, e.g. application/vnd.x+json. */
  return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static bool is_v1(route_id id) {
  return id != ROUTE_HEALTHZ && id != ROUTE_READYZ && id != ROUTE_NOT_FOUND &&
         id != ROUTE_DASHBOARD;
}

typedef enum { SCOPE_OK = 0, SCOPE_FORBIDDEN, SCOPE_UNKNOWN } key_scope;

static bool key_in(const char (*keys)[CONFIG_API_KEY_MAX + 1], size_t n,
                   const char *authz, const char *xkey) {
  return auth_check((const char(*)[AUTH_KEY_MAX + 1]) keys, n, authz, xkey);
}

/*
 * Key scopes (SPEC §3, §7): apiKeys open the session endpoints, /metrics
 * and the reports; reportKeys the reports only; handoffKeys POST
 * /v1/handoffs only, which no other key opens. A configured key used
 * outside its scope is FORBIDDEN (403), any other is UNKNOWN (401). The
 * lists that open the route are compared first (a caller's step needs only
 * apiKeys); the others only for a refusal, to tell 403 from 401. Each list
 * is compared in full, in constant time. On the handoff route
 * *handoff_key is the index of the handoff key used (-1: none), for its
 * per-key rate limit.
 */
static key_scope key_scope_check(route_id id, const char *authz,
                                 const char *xkey, int *handoff_key) {
  bool handoff_route = id == ROUTE_HANDOFFS_CREATE;
  bool report_route = !handoff_route && report_api_key_route(id);
  /* Mailing a report on demand is for supervisors: the session key that
   * Genesys holds may not. */
  bool report_only = id == ROUTE_REPORT_SCHEDULE_RUN;
  *handoff_key = handoff_route ? auth_find((const char(*)[AUTH_KEY_MAX + 1])
                                               cfg->handoff_keys,
                                           cfg->handoff_key_count, authz, xkey)
                               : -1;
  if (handoff_route
          ? *handoff_key >= 0
          : (!report_only &&
             key_in(cfg->api_keys, cfg->api_key_count, authz, xkey)) ||
                (report_route &&
                 key_in(cfg->report_keys, cfg->report_key_count, authz, xkey)))
    return SCOPE_OK;
  bool elsewhere =
      ((handoff_route || report_only) &&
       key_in(cfg->api_keys, cfg->api_key_count, authz, xkey)) ||
      (!report_route &&
       key_in(cfg->report_keys, cfg->report_key_count, authz, xkey)) ||
      (!handoff_route &&
       key_in(cfg->handoff_keys, cfg->handoff_key_count, authz, xkey));
  return elsewhere ? SCOPE_FORBIDDEN : SCOPE_UNKNOWN;
}

/*
 * First call for a request: route, authorise and check the headers, so
 * that anything we will refuse is refused before its body is read.
 * Returns MHD_YES to go on reading (nothing queued), or the result of
 * queuing the refusal it has already sent.
 */
static enum MHD_Result
check_headers_or_reply(http_request *rq, const char *method, const char *url) {
  rq->route_status = route_parse(method, url, &rq->route);
  switch (rq->route_status) {
  case ROUTE_MATCH_NOT_FOUND:
    return send_error(rq, 404, "not_found", "no such endpoint");
  case ROUTE_MATCH_METHOD_NOT_ALLOWED:
    return send_error(rq, 405, "method_not_allowed",
                      "that method is not allowed on this endpoint");
  case ROUTE_MATCH_BAD_ID:
  case ROUTE_MATCH_OK:
    break;
  }
  /* /metrics carries operational data: it needs a key like /v1. */
  if (is_v1(rq->route.id)) {
    const char *authz = MHD_lookup_connection_value(
        rq->connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *xkey = MHD_lookup_connection_value(
        rq->connection, MHD_HEADER_KIND, "X-API-Key");
    switch (key_scope_check(rq->route.id, authz, xkey, &rq->handoff_key)) {
    case SCOPE_OK:
      break;
    case SCOPE_FORBIDDEN:
      return send_error(rq, 403, "forbidden",
                        "this key may not be used on this endpoint");
    case SCOPE_UNKNOWN:
      return send_error(rq, 401, "unauthorized",
                        "a valid API key is required (Bearer, X-API-Key or "
                        "Basic)");
    }
  }
  if (rq->route_status == ROUTE_MATCH_BAD_ID)
    return send_error(rq, 400, "invalid_request", rq->route.id_error);
  const char *cl = MHD_lookup_connection_value(rq->connection, MHD_HEADER_KIND,
                                               MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl) {
    char *end;
    unsigned long long announced = strtoull(cl, &end, 10);
    if (*end == '\0' && announced > cfg->max_body_bytes)
      return send_error(rq, 413, "payload_too_large",
                        "request body exceeds the size limit");
  }
  if (!content_type_ok(rq->connection))
    return send_error(rq, 415, "unsupported_media_type",
                      "request bodies must be application/json");
  return MHD_YES;
}

/* MHD_KeyValueIterator: appends one query argument to rq->args (an
 * argument without a value is left out, as if absent). */
static enum MHD_Result copy_arg(void *ctx, enum MHD_ValueKind kind,
                                const char *key, const char *value) {
  (void)kind;
  http_request *rq = ctx;
  if (value) {
    buf_add(&rq->args, key, strlen(key) + 1);
    buf_add(&rq->args, value, strlen(value) + 1);
  }
  return MHD_YES;
}

/* A query parameter from the copy, raw (keep_raw_path leaves it
 * percent-encoded); the first one of that name, NULL when absent. */
static const char *query_param(void *ctx, const char *name) {
  const http_request *rq = ctx;
  const char *p = buf_str(&rq->args), *end = p + buf_len(&rq->args);
  while (p < end) {
    const char *key = p;
    const char *value = key + strlen(key) + 1;
    p = value + strlen(value) + 1;
    if (strcmp(key, name) == 0)
      return value;
  }
  return NULL;
}

/* The routes served on the offload thread, with blocking calls: none of
 * them is a caller's step, and each may take long (a report scan, Redis
 * for /metrics, a handoff code drawn and stored). */
static bool offloaded_route(route_id id) {
  return report_api_key_route(id) || id == ROUTE_METRICS ||
         id == ROUTE_HANDOFFS_CREATE;
}

/* Runs on the offload thread: make the answer and wake the connection
 * (suspended, so the request cannot be freed meanwhile). */
static void run_offloaded(offload_job *job) {
  http_request *rq =
      (http_request *)((char *)job - offsetof(http_request, job));
  if (schedule_api_route(rq->route.id)) {
    /* Reads only (the deliveries list); a run is queued in memory. */
    store_report_use_target();
    schedule_api_handle(cfg, &rq->route, query_param, rq, &rq->answer);
  } else if (report_api_route(rq->route.id)) {
    store_report_use_target(); /* this thread reads reports only */
    report_api_handle(cfg, rq->route.id, query_param, rq, &rq->answer);
  } else if (rq->route.id == ROUTE_HANDOFFS_CREATE) {
    handoff_api_create(cfg, rq->handoff_key, buf_str(&rq->body),
                       buf_len(&rq->body), &rq->answer);
  } else
    api_handle(&rq->route, buf_str(&rq->body), buf_len(&rq->body), &rq->step,
               &rq->answer, NULL, NULL); /* answered at once */
  buf_free(&rq->body);
  /* The loop only sends bytes: a JSON answer is written out here. */
  http_response_render(&rq->answer);
  atomic_store(&rq->phase, PHASE_ANSWERED);
  resume(rq);
}

/* Hands the request to the offload thread (suspending the connection
 * first, so the resume cannot come before it). A 503 when the offload
 * queue is full. */
static enum MHD_Result offload(http_request *rq) {
  buf_init(&rq->args, ARGS_MAX, BUF_PLAIN);
  MHD_get_connection_values(rq->connection, MHD_GET_ARGUMENT_KIND, copy_arg,
                            rq);
  if (buf_state(&rq->args) != BUF_OK) {
    buf_free(&rq->args);
    return send_error(rq, 500, "internal", "out of memory");
  }
  rq->job.run = run_offloaded;
  atomic_store(&rq->phase, PHASE_OFFLOADED);
  MHD_suspend_connection(rq->connection);
  bool report = report_api_key_route(rq->route.id);
  if (!offload_submit(report ? &report_queue : &ops_queue, &rq->job)) {
    buf_free(&rq->body);
    api_error(&rq->answer, 503, "unavailable",
              report ? "too many report requests at once; try again"
                     : "too many requests at once; try again");
    atomic_store(&rq->phase, PHASE_ANSWERED);
    resume(rq);
  }
  return MHD_YES;
}

/* api's step filled rq->answer (on this loop's thread): wake the
 * connection to send it. */
static void on_step_done(void *ctx) {
  http_request *rq = ctx;
  atomic_store(&rq->phase, PHASE_ANSWERED);
  resume(rq);
}

/* The body is complete: run the request through api. A body past the cap
 * is a 413; a body we had no memory for is a 500, never a 413. */
static enum MHD_Result on_body_complete(http_request *rq) {
  switch (buf_state(&rq->body)) {
  case BUF_OK:
    break;
  case BUF_TOO_LARGE:
    buf_free(&rq->body);
    return send_error(rq, 413, "payload_too_large",
                      "request body exceeds the size limit");
  case BUF_NO_MEMORY:
    buf_free(&rq->body);
    return send_error(rq, 500, "internal", "out of memory");
  }
  if (offloaded_route(rq->route.id))
    return offload(rq); /* the offload thread frees the body */
  if (rq->route.id == ROUTE_DASHBOARD) {
    /* Constant bytes: answered on the loop, no queue. */
    buf_free(&rq->body);
    report_api_handle(cfg, rq->route.id, NULL, NULL, &rq->answer);
    return send_response(rq, &rq->answer);
  }
  api_status st = api_handle(&rq->route, buf_str(&rq->body), buf_len(&rq->body),
                             &rq->step, &rq->answer, on_step_done, rq);
  buf_free(&rq->body);
  if (st == API_RESPOND)
    return send_response(rq, &rq->answer);
  /* api calls on_step_done from a later loop callback, never from inside
   * api_handle, so the suspend always comes first. */
  atomic_store(&rq->phase, PHASE_STEPPING);
  MHD_suspend_connection(rq->connection);
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  http_request *rq = *con_cls;
  if (!rq) {
    rq = calloc(1, sizeof *rq);
    if (!rq)
      return MHD_NO;
    *con_cls = rq;
    buf_init(&rq->body, cfg->max_body_bytes, BUF_WIPE);
    atomic_fetch_add(&in_flight, 1);
    rq->connection = connection;
    rq->srv = current_server;
    clock_gettime(CLOCK_MONOTONIC, &rq->started);
    rq->method = log_method_name(method);
    assign_request_id(rq);
    return check_headers_or_reply(rq, method, url);
  }
  request_phase phase = atomic_load(&rq->phase);
  if (phase == PHASE_RESPONDED) {
    /* Refused early: discard whatever body still arrives. */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (phase == PHASE_ANSWERED) {
    buf_free(&rq->args);
    return send_response(rq, &rq->answer);
  }
  if (phase == PHASE_STEPPING || phase == PHASE_OFFLOADED)
    return MHD_YES; /* spurious call while suspended */
  if (*upload_data_size > 0) {
    /* libmicrohttpd cannot answer in the middle of an upload, so a body
     * found too large (chunked, no Content-Length) is read to its end and
     * thrown away, then refused with 413 (or 500 when memory ran out). A
     * client that streams on past DISCARD_MAX is cut off instead, so it
     * cannot hold a worker forever. */
    if (buf_state(&rq->body) != BUF_OK) {
      rq->discarded += *upload_data_size;
      *upload_data_size = 0;
      return rq->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
    }
    buf_add(&rq->body, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  return on_body_complete(rq);
}

static void on_completed(void *cls, struct MHD_Connection *connection,
                         void **con_cls, enum MHD_RequestTerminationCode toe) {
  http_request *rq = *con_cls;
  if (!rq)
    return;
  *con_cls = NULL;
  api_step_abort(&rq->step);
  double seconds = elapsed_seconds(&rq->started);
  unsigned status = rq->status ? rq->status : 499; /* client went away */
  metrics_http_request(rq->route.id, status, seconds);
  log_emit(
      status >= 500 ? LOG_WARN : LOG_INFO, "request",
      LOG_FIELDS(
          LOG_STR("requestId", rq->request_id), LOG_STR("method", rq->method),
          LOG_STR("route", rq->route.template_path), LOG_INT("status", status),
          LOG_DBL("latencyMs", seconds * 1000.0),
          LOG_STR("conversationId", rq->step.conversation_id[0]
                                        ? rq->step.conversation_id
                                        : rq->route.conversation_id),
          LOG_STR("outcome", rq->outcome ? rq->outcome : ""),
          LOG_STR("error", rq->error ? rq->error : ""),
          LOG_BOOL("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)));
  buf_free(&rq->body);
  buf_free(&rq->args);
  api_response_free(&rq->answer);
  explicit_bzero(rq, sizeof *rq);
  free(rq);
  atomic_fetch_sub(&in_flight, 1);
}

/* Hand handlers the path exactly as sent: route_parse decodes the ID
 * segment itself, so an encoded '/' cannot change the route. */
static size_t keep_raw_path(void *cls, struct MHD_Connection *c, char *uri) {
  return strlen(uri);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  char text[512];
  vsnprintf(text, sizeof text, fmt, ap);
  size_t n = strlen(text);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
    text[--n] = '\0';
  log_warn("http server", LOG_STR("detail", text));
}

/* ---------------------------------------------------------------------
 * The loops: one per core, each with its own libmicrohttpd daemon in
 * external-epoll mode on the shared port (SO_REUSEPORT: the kernel spreads
 * new connections over the loops' listening sockets).
 * ------------------------------------------------------------------- */

static loop_pool *pool;
static server *servers;
static size_t server_count;
static struct sockaddr_storage listen_addr;
static unsigned daemon_flags;

static void serve(void *ctx, uint32_t events);

/* Let MHD do what is ready, then arm the timer for its next timeout. */
static void serve_timer(void *ctx) {
  serve(ctx, 0);
}

static void serve_soon(server *s) {
  loop_timer_start(s->l, &s->timer, 0, serve_timer, s);
}

static void serve(void *ctx, uint32_t events) {
  (void)events;
  server *s = ctx;
  MHD_run(s->daemon);
  MHD_UNSIGNED_LONG_LONG timeout;
  if (MHD_get_timeout(s->daemon, &timeout) == MHD_YES)
    loop_timer_start(s->l, &s->timer,
                     timeout > 60000 ? 60000 : (int64_t)timeout, serve_timer,
                     s);
  else
    loop_timer_stop(s->l, &s->timer);
}

/* Starts loop `index`'s daemon on the shared port (the first loop's bound
 * port when the configured one is 0) and watches its epoll fd. */
static bool start_daemon(server *s, size_t index, char *err, size_t err_len) {
  struct sockaddr_storage addr = listen_addr;
  uint16_t port = (uint16_t)(index == 0 ? cfg->port : bound_port);
  if (addr.ss_family == AF_INET6)
    ((struct sockaddr_in6 *)&addr)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)&addr)->sin_port = htons(port);
  unsigned per_loop = (unsigned)cfg->max_connections / (unsigned)server_count;
  s->daemon = MHD_start_daemon(
      daemon_flags, port, NULL, NULL, on_request, NULL,
      /* The logger goes first, and only once: MHD logs through its own
       * stderr logger until it has seen it (and complains when it comes
       * later, or comes again). */
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, /* keep first */
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
      MHD_OPTION_CONNECTION_LIMIT, per_loop > 0 ? per_loop : 1u,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout_seconds,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_UNESCAPE_CALLBACK, keep_raw_path, NULL,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
      MHD_OPTION_END);
  if (!s->daemon) {
    snprintf(err, err_len, "could not listen on %s:%d", cfg->bind_address,
             cfg->port);
    return false;
  }
  if (index == 0) {
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = info ? info->port : cfg->port;
  }
  const union MHD_DaemonInfo *epoll_info =
      MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
  if (!epoll_info ||
      !loop_io_start(s->l, &s->io, epoll_info->epoll_fd, EPOLLIN, serve, s)) {
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    snprintf(err, err_len, "could not watch the server's sockets");
    return false;
  }
  return true;
}

/* On loop `index`'s thread: its Redis connection, its CRM instance and its
 * daemon. A failure undoes what was done here (a loop left attached would
 * make crm_client_stop wait for it forever). */
static bool start_server(loop *l, size_t index, void *ctx, char *err,
                         size_t err_len) {
  (void)ctx;
  server *s = &servers[index];
  s->l = l;
  current_server = s;
  if (!store_async_attach(l, err, err_len))
    return false;
  if (!crm_client_attach(l, err, err_len)) {
    store_async_detach();
    return false;
  }
  if (!otp_send_attach(l, err, err_len)) { /* one-time codes (SPEC §9) */
    crm_client_detach();
    store_async_detach();
    return false;
  }
  if (!start_daemon(s, index, err, err_len)) {
    otp_send_detach();
    crm_client_detach();
    store_async_detach();
    return false;
  }
  serve(s, 0);
  return true;
}

/* The listening address from server.bindAddress (port set per daemon),
 * with MHD_USE_IPv6 added to daemon_flags for an IPv6 address. */
static bool listen_address(const config *c, char *err, size_t err_len) {
  memset(&listen_addr, 0, sizeof listen_addr);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&listen_addr;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&listen_addr;
  if (inet_pton(AF_INET, c->bind_address, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, c->bind_address, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    daemon_flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, err_len, "server.bindAddress: not an IP address: %s",
             c->bind_address);
    return false;
  }
  return true;
}

/* Stops loop `index`'s daemon (on its thread), closing its connections. */
static bool stop_server(loop *l, size_t index, void *ctx, char *err,
                        size_t err_len) {
  (void)ctx, (void)err, (void)err_len;
  server *s = &servers[index];
  if (!s->daemon)
    return true;
  /* Steps still waiting on Redis fail (503) and resume their
   * connections; MHD_run takes the resumes in (the daemon must not stop
   * with a connection still suspended) and queues their answers. */
  store_async_detach();
  otp_send_detach(); /* a step waiting on an SMS fails the same way */
  MHD_run(s->daemon);
  loop_io_stop(l, &s->io);
  loop_timer_stop(l, &s->timer);
  MHD_stop_daemon(s->daemon);
  s->daemon = NULL;
  api_release_thread(); /* no answer is rendered on this loop any more */
  return true;
}

/* Undoes a loop's start_server when a later loop could not start. */
static bool abort_server(loop *l, size_t index, void *ctx, char *err,
                         size_t err_len) {
  crm_client_detach();
  return stop_server(l, index, ctx, err, err_len);
}

bool http_start(const config *c, char *err, size_t err_len) {
  cfg = c;
  daemon_flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (!listen_address(c, err, err_len))
    return false;
  server_count = (size_t)config_loop_count(c);
  servers = calloc(server_count, sizeof *servers);
  if (!servers) {
    snprintf(err, err_len, "out of memory");
    return false;
  }
  if (!offload_start(&report_queue, OFFLOAD_QUEUE_MAX, REPORT_NICE, err,
                     err_len) ||
      !offload_start(&ops_queue, OFFLOAD_QUEUE_MAX, 0, err, err_len)) {
    offload_stop(&report_queue);
    free(servers);
    servers = NULL;
    return false;
  }
  pool = loop_pool_start(server_count, start_server, abort_server, NULL, err,
                         err_len);
  if (!pool) {
    offload_stop(&report_queue);
    offload_stop(&ops_queue);
    free(servers);
    servers = NULL;
    return false;
  }
  return true;
}

int http_port(void) {
  return bound_port;
}

static bool quiesce_server(loop *l, size_t index, void *ctx, char *err,
                           size_t err_len) {
  (void)l, (void)ctx, (void)err, (void)err_len;
  server *s = &servers[index];
  if (s->daemon) {
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
      close(fd);
  }
  return true;
}

void http_quiesce(void) {
  if (pool)
    loop_pool_each(pool, quiesce_server, NULL);
}

bool http_wait_idle(int timeout_ms) {
  for (int waited = 0; atomic_load(&in_flight) > 0; waited += 10) {
    if (waited >= timeout_ms)
      return false;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return true;
}

void http_stop(void) {
  /* Offloaded requests still queued are answered first (a suspended
   * connection must be resumed before the daemon stops). */
  offload_stop(&report_queue);
  offload_stop(&ops_queue);
  if (pool) {
    loop_pool_each(pool, stop_server, NULL);
    loop_pool_stop(pool);
  }
  pool = NULL;
  free(servers);
  servers = NULL;
  server_count = 0;
}
