/*
 * authflow-demo-crm: the reference CRM API of SPEC §4, served from a JSON
 * file of demo customers. Used by the demo and by the tests.
 *
 *   GET  /customers?phone=|customerId=|accountNumber=|trackingNumber=
 *        -> {"customers":[{"id":"..","name":".."}, ...]}
 *   POST /customers/{id}/verify {"answer":".."} -> {"verified":bool}
 *
 * Test controls (never part of a real CRM):
 *   GET  /_control/stats  -> {"requests","lookups","verifications",
 *                             "inFlight","maxInFlight"}
 *   POST /_control        {"delayMs":N,"fault":"none|error|garbage|hang"}
 *   POST /_control/reset  zeroes the counters
 * Counters count requests as they arrive, before any delay, so a test can
 * see exactly what reached the CRM.
 *
 * One thread per connection, so a delay never serialises other requests.
 */
#include <arpa/inet.h>
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
  bool counted;
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

static void sleep_ms(long ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  while (nanosleep(&ts, &ts) != 0)
    ;
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
      if (has_value(cust, params[p][1], value))
        json_array_append_new(
            found, json_pack("{s:O, s:O}", "id", json_object_get(cust, "id"),
                             "name", json_object_get(cust, "name")));
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
    json_t *body = json_loadb(ctx->body, ctx->len, 0, NULL);
    json_t *d = json_object_get(body, "delayMs");
    if (json_is_integer(d))
      delay_ms = (long)json_integer_value(d);
    const char *f = json_string_value(json_object_get(body, "fault"));
    if (f) {
      static const char *const names[] = {"none", "error", "garbage", "hang"};
      for (int i = 0; i < 4; i++)
        if (strcmp(f, names[i]) == 0)
          current_fault = i;
    }
    json_decref(body);
    return reply(c, 200,
                 json_pack("{s:I, s:i}", "delayMs", (json_int_t)delay_ms,
                           "fault", current_fault));
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

  long delay = delay_ms;
  int f = current_fault;
  if (f == FAULT_HANG)
    delay = delay > 60000 ? delay : 60000;
  if (delay > 0)
    sleep_ms(delay);
  enum MHD_Result result;
  if (f == FAULT_ERROR)
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
  free(*con_cls);
  *con_cls = NULL;
}

int main(int argc, char **argv) {
  int port = 8081;
  const char *bind_addr = "127.0.0.1";
  const char *file = "deploy/local/customers.json";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc)
      port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--bind") && i + 1 < argc)
      bind_addr = argv[++i];
    else if (!strcmp(argv[i], "--customers") && i + 1 < argc)
      file = argv[++i];
    else if (!strcmp(argv[i], "--delay-ms") && i + 1 < argc)
      delay_ms = atol(argv[++i]);
    else if (!strcmp(argv[i], "--fault") && i + 1 < argc) {
      const char *f = argv[++i];
      current_fault = !strcmp(f, "error")     ? FAULT_ERROR
                      : !strcmp(f, "garbage") ? FAULT_GARBAGE
                      : !strcmp(f, "hang")    ? FAULT_HANG
                                              : FAULT_NONE;
    } else {
      fprintf(stderr, "usage: authflow-demo-crm [--port N] [--bind ADDR] "
                      "[--customers FILE] [--delay-ms N] "
                      "[--fault none|error|garbage|hang]\n");
      return 2;
    }
  }
  json_error_t jerr;
  json_t *root = json_load_file(file, 0, &jerr);
  customers = json_object_get(root, "customers");
  if (!json_is_array(customers)) {
    fprintf(stderr, "authflow-demo-crm: %s: %s\n", file,
            root ? "no \"customers\" array" : jerr.text);
    return 1;
  }
  struct sockaddr_in addr = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
    fprintf(stderr, "authflow-demo-crm: bad --bind %s\n", bind_addr);
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
          MHD_USE_AUTO,
      (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
      MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
      MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "authflow-demo-crm: cannot listen on %s:%d\n", bind_addr,
            port);
    return 1;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("listening on %s:%d\n", bind_addr, info ? info->port : port);
  fflush(stdout);
  int sig;
  sigwait(&stop, &sig);
  MHD_stop_daemon(d);
  json_decref(root);
  return 0;
}
