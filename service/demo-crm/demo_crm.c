/*
 * authflow-demo-crm: the reference CRM API of SPEC §4, served from a JSON
 * file of demo customers. Used by the demo and by the tests.
 *
 *   GET  /customers?phone=|customerId=|accountNumber=|trackingNumber=
 *        -> {"customers":[{"id":"..","name":"..","phone":"+1.."}, ...]}
 *        ("phone": the first of the customer's "phones", where one-time
 *        codes go; absent when it has none)
 *   POST /customers/{id}/verify {"answer":".."} -> {"verified":bool}
 *
 * Test controls (never part of a real CRM):
 *   GET  /_control/stats  -> {"requests","lookups","verifications",
 *                             "inFlight","maxInFlight"}
 *   POST /_control        {"delayMs":N,"fault":"none|error|garbage|hang"}
 *   POST /_control/reset  zeroes the counters
 * Faults: error answers 503 with a JSON body, garbage answers 200 with a
 * body that is not JSON, hang answers nothing for 60 s (or delayMs, if
 * longer). Counters count requests as they arrive, before any delay, so a
 * test can see exactly what reached the CRM. Control requests are not
 * counted.
 *
 * Security answers are never logged; request bodies (which hold them) are
 * wiped before they are freed.
 *
 * Event-driven: a small libmicrohttpd thread pool serves every connection,
 * and a delayed request is suspended and put on a timer heap that one timer
 * thread drains, so thousands of delayed requests cost no thread each and a
 * delay never serialises other requests. (It is the CRM stub of bench/: it
 * must stay cheap next to the service it measures.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX 65536
#define DELAY_MAX_MS 600000L
#define HANG_MS 60000L

typedef enum { FAULT_NONE = 0, FAULT_ERROR, FAULT_GARBAGE, FAULT_HANG } fault;

static json_t *customers; /* the file's "customers" array */
static _Atomic long delay_ms;
static _Atomic int current_fault;
static _Atomic long n_requests, n_lookups, n_verifications, in_flight,
    max_in_flight;

typedef struct {
  char body[BODY_MAX];
  size_t len;
  bool too_large;
  bool counted;    /* counters and in_flight taken (first full call) */
  bool delay_done; /* resumed by the timer thread: answer now */
} request_ctx;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             json_t *body) {
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  if (!text)
    return MHD_NO;
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
                                  const char *text) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* Delayed requests: a min-heap of (due time, connection) under
 * timer_mutex. The timer thread sleeps until the earliest is due, then
 * resumes it. Once stopping, nothing new is delayed and every pending
 * connection is resumed at once (MHD_stop_daemon() must not meet a
 * suspended connection), so a "hang" never holds a shutdown. */
typedef struct {
  long long due_ms;
  struct MHD_Connection *connection;
  request_ctx *ctx;
} delayed;

static pthread_mutex_t timer_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t timer_cond;
static delayed *heap;
static size_t heap_len, heap_cap;
static bool stopping;

static long long monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void heap_swap(size_t a, size_t b) {
  delayed t = heap[a];
  heap[a] = heap[b];
  heap[b] = t;
}

/* Caller holds timer_mutex. False when out of memory. */
static bool heap_push(delayed d) {
  if (heap_len == heap_cap) {
    size_t cap = heap_cap ? 2 * heap_cap : 256;
    delayed *grown = realloc(heap, cap * sizeof *grown);
    if (!grown)
      return false;
    heap = grown;
    heap_cap = cap;
  }
  size_t i = heap_len++;
  heap[i] = d;
  while (i > 0 && heap[(i - 1) / 2].due_ms > heap[i].due_ms) {
    heap_swap(i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
  return true;
}

/* Caller holds timer_mutex; heap_len > 0. */
static delayed heap_pop(void) {
  delayed top = heap[0];
  heap[0] = heap[--heap_len];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_len && heap[l].due_ms < heap[m].due_ms)
      m = l;
    if (r < heap_len && heap[r].due_ms < heap[m].due_ms)
      m = r;
    if (m == i)
      break;
    heap_swap(i, m);
    i = m;
  }
  return top;
}

static void *timer_main(void *unused) {
  (void)unused;
  pthread_mutex_lock(&timer_mutex);
  for (;;) {
    long long now = monotonic_ms();
    while (heap_len > 0 && (stopping || heap[0].due_ms <= now)) {
      delayed d = heap_pop();
      d.ctx->delay_done = true;
      MHD_resume_connection(d.connection);
    }
    if (stopping)
      break;
    if (heap_len == 0) {
      pthread_cond_wait(&timer_cond, &timer_mutex);
      continue;
    }
    long long due = heap[0].due_ms;
    struct timespec until = {.tv_sec = (time_t)(due / 1000),
                             .tv_nsec = (long)(due % 1000) * 1000000};
    pthread_cond_timedwait(&timer_cond, &timer_mutex, &until);
  }
  pthread_mutex_unlock(&timer_mutex);
  return NULL;
}

/* Suspend `c` for `ms`. False when the server is stopping or out of
 * memory: the caller then answers (or drops) at once. Suspending under the
 * mutex means the timer thread cannot resume before the suspend. */
static bool delay_connection(struct MHD_Connection *c, request_ctx *ctx,
                             long ms) {
  pthread_mutex_lock(&timer_mutex);
  bool ok = !stopping &&
            heap_push((delayed){
                .due_ms = monotonic_ms() + ms, .connection = c, .ctx = ctx});
  if (ok) {
    MHD_suspend_connection(c);
    pthread_cond_signal(&timer_cond);
  }
  pthread_mutex_unlock(&timer_mutex);
  return ok;
}

static bool is_stopping(void) {
  pthread_mutex_lock(&timer_mutex);
  bool s = stopping;
  pthread_mutex_unlock(&timer_mutex);
  return s;
}

/* True when customer `c` has `value` in field `field` (a string, or for
 * "phones" an array of strings). */
static bool has_value(const json_t *c, const char *field, const char *value) {
  const json_t *v = json_object_get(c, field);
  if (json_is_string(v))
    return strcmp(json_string_value(v), value) == 0;
  size_t i;
  const json_t *item;
  json_array_foreach(v, i, item) {
    if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
      return true;
  }
  return false;
}

static enum MHD_Result lookup(struct MHD_Connection *c) {
  static const char *const params[][2] = {{"phone", "phones"},
                                          {"customerId", "customerId"},
                                          {"accountNumber", "accountNumber"},
                                          {"trackingNumber", "trackingNumber"}};
  json_t *found = json_array();
  bool any_param = false;
  for (size_t p = 0; p < 4; p++) {
    const char *value =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, params[p][0]);
    if (!value)
      continue;
    any_param = true;
    size_t i;
    json_t *cust;
    json_array_foreach(customers, i, cust) {
      if (!has_value(cust, params[p][1], value))
        continue;
      json_t *entry = json_object();
      json_t *name = json_object_get(cust, "name");
      json_object_set(entry, "id", json_object_get(cust, "id"));
      json_object_set_new(entry, "name",
                          json_is_string(name) ? json_copy(name)
                                               : json_string(""));
      /* The phone on file one-time codes go to: the first of "phones"
       * (SPEC §9); none when the customer has none. */
      json_t *mobile = json_array_get(json_object_get(cust, "phones"), 0);
      if (json_is_string(mobile))
        json_object_set(entry, "phone", mobile);
      json_array_append_new(found, entry);
    }
  }
  if (!any_param) {
    json_decref(found);
    return reply(c, 400,
                 json_pack("{s:s}", "error", "a lookup parameter is required"));
  }
  return reply(c, 200, json_pack("{s:o}", "customers", found));
}

static enum MHD_Result verify(struct MHD_Connection *c, const char *id,
                              request_ctx *ctx) {
  json_t *body = json_loadb(ctx->body, ctx->len, 0, NULL);
  const char *answer = json_string_value(json_object_get(body, "answer"));
  if (!answer) {
    json_decref(body);
    return reply(c, 400, json_pack("{s:s}", "error", "answer is required"));
  }
  size_t i;
  json_t *cust;
  json_array_foreach(customers, i, cust) {
    const json_t *cid = json_object_get(cust, "id");
    char idtext[64];
    if (json_is_integer(cid))
      snprintf(idtext, sizeof idtext, "%lld",
               (long long)json_integer_value(cid));
    else
      snprintf(idtext, sizeof idtext, "%s",
               json_is_string(cid) ? json_string_value(cid) : "");
    if (strcmp(idtext, id) == 0) {
      const char *expected = json_string_value(json_object_get(cust, "answer"));
      bool ok = expected && strcmp(expected, answer) == 0;
      json_decref(body);
      return reply(c, 200, json_pack("{s:b}", "verified", ok));
    }
  }
  json_decref(body);
  return reply(c, 404, json_pack("{s:s}", "error", "no such customer"));
}

static const char *const fault_names[] = {"none", "error", "garbage", "hang"};

/* The fault named `name`, or -1. */
static int parse_fault(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcmp(name, fault_names[i]) == 0)
      return i;
  return -1;
}

static enum MHD_Result control(struct MHD_Connection *c, const char *url,
                               const char *method, request_ctx *ctx) {
  if (strcmp(url, "/_control/stats") == 0)
    return reply(c, 200,
                 json_pack("{s:I, s:I, s:I, s:I, s:I}", "requests",
                           (json_int_t)n_requests, "lookups",
                           (json_int_t)n_lookups, "verifications",
                           (json_int_t)n_verifications, "inFlight",
                           (json_int_t)in_flight, "maxInFlight",
                           (json_int_t)max_in_flight));
  if (strcmp(url, "/_control/reset") == 0 && strcmp(method, "POST") == 0) {
    n_requests = n_lookups = n_verifications = 0;
    max_in_flight = in_flight;
    return reply(c, 200, json_pack("{s:b}", "reset", 1));
  }
  if (strcmp(url, "/_control") == 0 && strcmp(method, "POST") == 0) {
    /* An empty body changes nothing, like {}. */
    json_t *body =
        ctx->len ? json_loadb(ctx->body, ctx->len, 0, NULL) : json_object();
    json_t *d = json_object_get(body, "delayMs");
    const char *f = json_string_value(json_object_get(body, "fault"));
    int new_fault = f ? parse_fault(f) : current_fault;
    bool bad_delay = d && (!json_is_integer(d) || json_integer_value(d) < 0 ||
                           json_integer_value(d) > DELAY_MAX_MS);
    if (!json_is_object(body) || bad_delay || new_fault < 0) {
      json_decref(body);
      return reply(c, 400,
                   json_pack("{s:s}", "error",
                             "expected {\"delayMs\":0..600000,"
                             "\"fault\":\"none|error|garbage|hang\"}"));
    }
    if (d)
      delay_ms = (long)json_integer_value(d);
    current_fault = new_fault;
    json_decref(body);
    return reply(c, 200,
                 json_pack("{s:I, s:s}", "delayMs", (json_int_t)delay_ms,
                           "fault", fault_names[current_fault]));
  }
  return reply(c, 404, json_pack("{s:s}", "error", "no such control"));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)cls, (void)version;
  request_ctx *ctx = *con_cls;
  if (!ctx) {
    ctx = calloc(1, sizeof *ctx);
    if (!ctx)
      return MHD_NO;
    *con_cls = ctx;
    return MHD_YES;
  }
  if (*upload_size) {
    if (ctx->len + *upload_size > BODY_MAX - 1)
      ctx->too_large = true;
    else {
      memcpy(ctx->body + ctx->len, upload, *upload_size);
      ctx->len += *upload_size;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (strncmp(url, "/_control", 9) == 0)
    return control(c, url, method, ctx);
  if (ctx->too_large)
    return reply(c, 413, json_pack("{s:s}", "error", "too large"));

  bool is_lookup = strcmp(url, "/customers") == 0 && strcmp(method, "GET") == 0;
  const char *verify_suffix = "/verify";
  size_t ulen = strlen(url), slen = strlen(verify_suffix);
  bool is_verify = strcmp(method, "POST") == 0 &&
                   strncmp(url, "/customers/", 11) == 0 && ulen > 11 + slen &&
                   strcmp(url + ulen - slen, verify_suffix) == 0;
  if (!ctx->counted) {
    ctx->counted = true;
    n_requests++;
    if (is_lookup)
      n_lookups++;
    if (is_verify)
      n_verifications++;
    long now = ++in_flight;
    long seen = max_in_flight;
    while (now > seen &&
           !atomic_compare_exchange_weak(&max_in_flight, &seen, now))
      ;
  }

  long delay = delay_ms;
  int f = current_fault;
  if (f == FAULT_HANG)
    delay = delay > HANG_MS ? delay : HANG_MS;
  if (delay > 0 && !ctx->delay_done && delay_connection(c, ctx, delay))
    return MHD_YES; /* called again once the timer resumes it */
  enum MHD_Result result;
  if (is_stopping())
    result = MHD_NO; /* shutting down: drop the connection, answer nothing */
  else if (f == FAULT_ERROR)
    result = reply_text(c, 503, "{\"error\":\"demo fault: unavailable\"}");
  else if (f == FAULT_GARBAGE)
    result = reply_text(c, 200, "<html>this is not JSON");
  else if (is_lookup)
    result = lookup(c);
  else if (is_verify) {
    char id[128];
    size_t n = ulen - 11 - slen;
    snprintf(id, sizeof id, "%.*s", (int)(n < sizeof id ? n : sizeof id - 1),
             url + 11);
    result = verify(c, id, ctx);
  } else
    result = reply(c, 404, json_pack("{s:s}", "error", "not found"));
  in_flight--;
  return result;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)cls, (void)c, (void)toe;
  request_ctx *ctx = *con_cls;
  if (ctx)
    explicit_bzero(ctx->body, ctx->len);
  free(ctx);
  *con_cls = NULL;
}

static void usage(void) {
  fprintf(stderr, "usage: authflow-demo-crm [--port N] [--bind ADDR] "
                  "[--customers FILE] [--delay-ms N] "
                  "[--fault none|error|garbage|hang]\n");
}

/* Parse a whole decimal number in [min, max]. */
static bool parse_long(const char *text, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

typedef struct {
  long port;
  const char *bind_addr;
  const char *file;
} options;

/* Reads the command line into *o (and the delay and fault globals).
 * False after printing what is wrong and the usage. */
static bool parse_options(int argc, char **argv, options *o) {
  for (int i = 1; i < argc; i++) {
    const char *opt = argv[i], *val = i + 1 < argc ? argv[++i] : NULL;
    long n = 0;
    int f = -1;
    bool ok = true;
    if (!val)
      ok = false;
    else if (!strcmp(opt, "--port"))
      ok = parse_long(val, 0, 65535, &o->port);
    else if (!strcmp(opt, "--bind"))
      o->bind_addr = val;
    else if (!strcmp(opt, "--customers"))
      o->file = val;
    else if (!strcmp(opt, "--delay-ms") &&
             (ok = parse_long(val, 0, DELAY_MAX_MS, &n)))
      delay_ms = n;
    else if (!strcmp(opt, "--fault") && (ok = (f = parse_fault(val)) >= 0))
      current_fault = f;
    else
      ok = false;
    if (!ok) {
      fprintf(stderr, "authflow-demo-crm: bad option %s %s\n", opt,
              val ? val : "");
      usage();
      return false;
    }
  }
  return true;
}

/* Loads the customers file; sets `customers` to its array and returns the
 * document (the caller releases it), or NULL after printing why. */
static json_t *load_customers(const char *file) {
  json_error_t jerr;
  json_t *root = json_load_file(file, 0, &jerr);
  customers = json_object_get(root, "customers");
  if (!json_is_array(customers)) {
    fprintf(stderr, "authflow-demo-crm: %s: %s\n", file,
            root ? "no \"customers\" array" : jerr.text);
    json_decref(root);
    return NULL;
  }
  return root;
}

/* The listening address: --bind takes an IPv4 or IPv6 address literal. */
typedef struct {
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
  struct sockaddr *addr;
  unsigned mhd_flag; /* MHD_USE_IPv6 for an IPv6 address */
} listen_addr;

static bool parse_bind(const options *o, listen_addr *l) {
  memset(l, 0, sizeof *l);
  l->v4.sin_family = AF_INET;
  l->v4.sin_port = htons((uint16_t)o->port);
  l->v6.sin6_family = AF_INET6;
  l->v6.sin6_port = htons((uint16_t)o->port);
  l->addr = (struct sockaddr *)&l->v4;
  if (inet_pton(AF_INET, o->bind_addr, &l->v4.sin_addr) == 1)
    return true;
  if (inet_pton(AF_INET6, o->bind_addr, &l->v6.sin6_addr) != 1) {
    fprintf(stderr, "authflow-demo-crm: bad --bind %s\n", o->bind_addr);
    return false;
  }
  l->addr = (struct sockaddr *)&l->v6;
  l->mhd_flag = MHD_USE_IPv6;
  return true;
}

/* Blocks SIGTERM/SIGINT (left in *stop for sigwait) in every thread made
 * from here on, and starts the timer thread that resumes delayed
 * requests. */
static bool start_timer(sigset_t *stop, pthread_t *timer) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&timer_cond, &ca);
  pthread_condattr_destroy(&ca);
  sigemptyset(stop);
  sigaddset(stop, SIGTERM);
  sigaddset(stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, stop, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (pthread_create(timer, NULL, timer_main, NULL) != 0) {
    fprintf(stderr, "authflow-demo-crm: cannot start the timer thread\n");
    return false;
  }
  return true;
}

static struct MHD_Daemon *start_daemon(const options *o, const listen_addr *l) {
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
          MHD_ALLOW_SUSPEND_RESUME | l->mhd_flag,
      (uint16_t)o->port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
      l->addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 4000u,
      MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_LISTEN_BACKLOG_SIZE,
      4096u, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "authflow-demo-crm: cannot listen on %s:%ld\n",
            o->bind_addr, o->port);
    return NULL;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("listening on %s:%ld\n", o->bind_addr,
         info ? (long)info->port : o->port);
  fflush(stdout);
  return d;
}

/* Resume every delayed request first (they are then dropped unanswered):
 * MHD_stop_daemon() must not meet a suspended connection. */
static void stop_all(pthread_t timer, struct MHD_Daemon *d) {
  pthread_mutex_lock(&timer_mutex);
  stopping = true;
  pthread_cond_signal(&timer_cond);
  pthread_mutex_unlock(&timer_mutex);
  pthread_join(timer, NULL);
  MHD_stop_daemon(d);
  free(heap);
}

int main(int argc, char **argv) {
  options o = {.port = 8081,
               .bind_addr = "127.0.0.1",
               .file = "deploy/local/customers.json"};
  if (!parse_options(argc, argv, &o))
    return 2;
  json_t *root = load_customers(o.file);
  if (!root)
    return 1;
  listen_addr l;
  if (!parse_bind(&o, &l)) {
    json_decref(root);
    return 2;
  }
  sigset_t stop;
  pthread_t timer;
  if (!start_timer(&stop, &timer)) {
    json_decref(root);
    return 1;
  }
  struct MHD_Daemon *d = start_daemon(&o, &l);
  if (!d) {
    json_decref(root);
    return 1;
  }
  int sig;
  sigwait(&stop, &sig);
  stop_all(timer, d);
  json_decref(root);
  return 0;
}
