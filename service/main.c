/*
 * authflow: caller identification and verification (ID&V) for Genesys
 * Cloud IVRs. See README.md.
 *
 * Threads: one event loop per core (http: each owns a libmicrohttpd
 * daemon, a non-blocking Redis connection and a curl multi handle, and
 * runs callers' steps start to end), the CRM client's internal loop (calls
 * from other threads: --check-crm), one offload thread (reports,
 * dashboard, metrics, handoff creation, with its own blocking Redis
 * connection), a short-lived Sentinel resolver thread when one is needed,
 * and this main thread, which only waits for signals and runs the orderly
 * shutdown.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include "api.h"
#include "config.h"
#include "crm_client.h"
#include "crm_template.h"
#include "entropy.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "report_mail.h"
#include "report_schedule.h"
#include "report_scheduler.h"
#include "report_zone.h"
#include "store.h"

/* A SIGTERM drain may take this long before connections are cut; well
 * inside Kubernetes' default 30 s grace period and the 10 s we promise. */
#define DRAIN_TIMEOUT_MS 8000
/* Extra time the session lock outlives the CRM budget, so a slow but
 * successful step can still commit. */
#define LOCK_MARGIN_MS 5000

static void usage(FILE *out) {
  fputs(
      "usage: authflow [--config FILE] [--check-config] [--check-crm\n"
      "                [--check-crm-value V]] [--check-smtp] [--healthcheck]\n"
      "                [--version] [--help]\n"
      "\n"
      "  --config FILE   JSON configuration (default: $AUTHFLOW_CONFIG, or\n"
      "                  built-in defaults). Environment variables\n"
      "                  AUTHFLOW_PORT, AUTHFLOW_REDIS_URL, AUTHFLOW_CRM_URL,\n"
      "                  AUTHFLOW_API_KEYS, AUTHFLOW_HANDOFF_KEYS,\n"
      "                  AUTHFLOW_REDIS_SENTINELS,\n"
      "                  AUTHFLOW_REDIS_MASTER_NAME, AUTHFLOW_LOG_LEVEL\n"
      "                  override it;\n"
      "                  AUTHFLOW_CALLER_HASH_KEY keys the per-number limit.\n"
      "  --check-config  validate the configuration and exit (0 valid, 1 not)\n"
      "  --check-crm     run one lookup by phone (--check-crm-value V,\n"
      "                  default +13175550116) against the configured CRM,\n"
      "                  print what was sent (secrets masked) and mapped\n"
      "  --check-smtp    connect to reporting.smtp, say EHLO, STARTTLS and\n"
      "                  authenticate as configured, send nothing; exit 0\n"
      "                  when all of that worked\n"
      "  --healthcheck   GET /healthz on the configured port and exit 0/1\n"
      "                  (for container HEALTHCHECKs; needs no curl binary)\n"
      "  --version       print the version\n"
      "  --help          print this help\n",
      out);
}

/* libcurl sink that discards the health answer body. */
static size_t discard(char *ptr, size_t size, size_t n, void *user) {
  return size * n;
}

/* GET http://127.0.0.1:<port>/healthz: 0 when it answers 200. */
static int run_healthcheck(const config *cfg) {
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", cfg->port);
  CURL *h = curl_easy_init();
  if (!h)
    return 1;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  long status = 0;
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  if (status != 200) {
    fprintf(stderr, "authflow: healthcheck %s: %s\n", url,
            rc == CURLE_OK ? "unexpected status" : curl_easy_strerror(rc));
    return 1;
  }
  return 0;
}

static void store_config_from(const config *cfg, store_config *sc) {
  memset(sc, 0, sizeof *sc);
  snprintf(sc->host, sizeof sc->host, "%s", cfg->redis_host);
  sc->port = cfg->redis_port;
  snprintf(sc->password, sizeof sc->password, "%s", cfg->redis_password);
  sc->db = cfg->redis_db;
  snprintf(sc->key_prefix, sizeof sc->key_prefix, "%s", cfg->key_prefix);
  sc->session_ttl_seconds = cfg->session_ttl_seconds;
  long crm_ms = cfg->crm_timeout_ms + cfg->crm_connect_timeout_ms;
  if (cfg->crm.budget_ms > crm_ms)
    crm_ms = cfg->crm.budget_ms;
  sc->lock_ms = (int)crm_ms + LOCK_MARGIN_MS;
  /* A commit may wait for Redis until the end of the step's budget, then
   * take a command timeout: the lock must still be ours. */
  long commit_by = config_step_budget_ms(cfg) + cfg->redis_command_timeout_ms;
  if (commit_by > sc->lock_ms)
    sc->lock_ms = (int)commit_by;
  sc->wait_ms = (int)config_step_budget_ms(cfg);
  sc->connect_timeout_ms = cfg->redis_connect_timeout_ms;
  sc->command_timeout_ms = cfg->redis_command_timeout_ms;
  sc->lockout_max_failures = cfg->lockout_max_failures;
  sc->lockout_window_seconds = cfg->lockout_window_seconds;
  sc->lockout_failure_memory_seconds = cfg->lockout_failure_memory_seconds;
  sc->lockout_max_lock_seconds = cfg->lockout_max_lock_seconds;
  sc->lockout_escalation_reset_seconds = cfg->lockout_escalation_reset_seconds;
  sc->global_max_failures_per_minute = cfg->lockout_global_max_per_minute;
  sc->caller_max_failures = cfg->lockout_caller_max_failures;
  sc->caller_window_seconds = cfg->lockout_caller_window_seconds;
  sc->withheld_max_failures = cfg->lockout_withheld_max_failures;
  sc->identify_global_max_per_minute = cfg->identify_global_max_per_minute;
  sc->identify_caller_max_failures = cfg->identify_caller_max_failures;
  sc->identify_caller_window_seconds = cfg->identify_caller_window_seconds;
  sc->identify_withheld_max_failures = cfg->identify_withheld_max_failures;
  memcpy(sc->sentinels, cfg->redis_sentinels, sizeof sc->sentinels);
  sc->sentinel_count = cfg->redis_sentinel_count;
  sc->failover_wait_ms = cfg->redis_failover_wait_ms;
  sc->report_stream_max_len = cfg->report_stream_max_len;
  sc->report_stream_max_age_seconds = cfg->report_stream_max_age_seconds;
  sc->report_counter_ttl_seconds = cfg->report_counter_retention_days * 86400;
  sc->handoff_max_failures = cfg->handoff_max_failed_redemptions;
  sc->handoff_failure_window_seconds = cfg->handoff_failure_window_seconds;
  snprintf(sc->master_name, sizeof sc->master_name, "%s",
           cfg->redis_master_name);
  snprintf(sc->report_host, sizeof sc->report_host, "%s",
           cfg->report_redis_host);
  sc->report_port = cfg->report_redis_port;
  snprintf(sc->report_password, sizeof sc->report_password, "%s",
           cfg->report_redis_password);
  sc->report_db = cfg->report_redis_db;
  sc->report_sentinel_replica = cfg->report_redis_sentinel_replica;
}

/* A CRM call that waited this long for a free connection, or one whose
 * budget ran out waiting, means crm.maxConnections is too small for the
 * load: warned about at most once per CRM_QUEUE_WARN_EVERY_S. */
#define CRM_QUEUE_WARN_MS 100
#define CRM_QUEUE_WARN_EVERY_S 10

static long crm_pool_size; /* crm.maxConnections, for the warning */
static _Atomic long crm_queue_length;

/* The queue warning, rate-limited across every loop (any thread: the one
 * that claims the slot writes the line). */
static void warn_crm_queue(long wait_us, bool expired) {
  static _Atomic long long last;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long seen = atomic_load(&last);
  if ((seen && now.tv_sec - seen < CRM_QUEUE_WARN_EVERY_S) ||
      !atomic_compare_exchange_strong(&last, &seen, (long long)now.tv_sec))
    return;
  log_warn("CRM calls are waiting for a free connection; raise "
           "crm.maxConnections if the CRM can take more",
           LOG_INT("waitMs", wait_us / 1000), LOG_BOOL("budgetSpent", expired),
           LOG_INT("waiting", atomic_load(&crm_queue_length)),
           LOG_INT("maxConnections", crm_pool_size));
}

/* The breaker's settings, for its transition log lines. */
static const crm_profile *breaker_profile;

/* A log line for each breaker transition (the client itself never logs). */
static void log_breaker(long state) {
  if (!breaker_profile)
    return;
  if (state == CRM_BREAKER_OPEN)
    log_warn("crm breaker opened",
             LOG_INT("failures", breaker_profile->breaker_failures),
             LOG_INT("openMs", breaker_profile->breaker_open_ms));
  else if (state == CRM_BREAKER_HALF_OPEN)
    log_info("crm breaker half-open",
             LOG_INT("openMs", breaker_profile->breaker_open_ms));
  else
    log_info("crm breaker closed",
             LOG_INT("failures", breaker_profile->breaker_failures));
}

/* The CRM client's events (any loop's thread, concurrently): metrics, the
 * queue warning and the breaker's transitions. */
static void on_crm_event(crm_client_event event, long value) {
  metrics_crm_event((int)event, value);
  if (event == CRM_EVENT_BREAKER)
    log_breaker(value);
  else if (event == CRM_EVENT_QUEUE_LENGTH)
    atomic_store(&crm_queue_length, value);
  else if (event == CRM_EVENT_QUEUE_WAIT && value >= CRM_QUEUE_WARN_MS * 1000)
    warn_crm_queue(value, false);
  else if (event == CRM_EVENT_QUEUE_EXPIRED)
    warn_crm_queue(0, true);
}

/* Raises the soft limit on open files to the hard one: every caller on a
 * slow CRM holds two descriptors (its HTTP connection and a CRM
 * connection), so the usual soft limit of 1,024 is too few for the
 * defaults. Warns when even the hard limit is below what the
 * configuration may need. */
static void raise_fd_limit(const config *cfg) {
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
      getrlimit(RLIMIT_NOFILE, &lim);
  }
  rlim_t need = (rlim_t)cfg->max_connections +
                (rlim_t)cfg->crm_max_connections + 64 +
                (rlim_t)config_loop_count(cfg);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < need)
    log_warn("the open-file limit is below what server.maxConnections and "
             "crm.maxConnections may need; raise it (ulimit -n)",
             LOG_INT("limit", (int64_t)lim.rlim_cur),
             LOG_INT("needed", (int64_t)need));
}

/* The one place the CRM client's settings are made from the configuration
 * (the server and --check-crm differ only in max_connections and
 * on_event, which may be NULL). The client borrows `headers` (room for
 * CONFIG_MAX_CRM_HEADERS, filled here) and cfg until crm_client_stop(). */
static crm_client_config crm_client_config_from(
    const config *cfg, const char *headers[CONFIG_MAX_CRM_HEADERS],
    long max_connections, void (*on_event)(crm_client_event, long)) {
  for (size_t i = 0; i < cfg->crm_header_count; i++)
    headers[i] = cfg->crm_headers[i];
  crm_client_config cc = {.connect_timeout_ms = cfg->crm_connect_timeout_ms,
                          .timeout_ms = cfg->crm_timeout_ms,
                          .headers = headers,
                          .header_count = cfg->crm_header_count,
                          .max_connections = max_connections,
                          .profile = &cfg->crm,
                          .on_event = on_event};
  snprintf(cc.base_url, sizeof cc.base_url, "%s", cfg->crm_base_url);
  return cc;
}

/* --check-crm waits here for its one lookup to finish. */
typedef struct {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  bool done;
  flow_crm_result result;
  long status;
  double latency_ms;
  crm_fail_reason reason;
} check_wait;

static void on_check_done(void *user, const flow_crm_result *result,
                          const crm_client_info *info) {
  check_wait *w = user;
  pthread_mutex_lock(&w->mutex);
  w->result = *result;
  w->status = info->http_status;
  w->latency_ms = info->latency_ms;
  w->reason = info->reason;
  w->done = true;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mutex);
}

/* Replace a URL's userinfo ("user:password@") in s (size bytes) by
 * "***@", as --check-config shows the CRM URL: it is a credential even
 * when it came from the file rather than a ${...} reference. */
static void mask_userinfo(char *s, size_t size) {
  char *scheme = strstr(s, "://");
  if (!scheme)
    return;
  char *host = scheme + 3;
  char *at = memrchr(host, '@', strcspn(host, "/?#"));
  if (!at || strlen(s) + 4 > size)
    return;
  memmove(host + 3, at, strlen(at) + 1);
  memcpy(host, "***", 3);
}

/* True when a header's name suggests its value is a secret (compared
 * case-insensitively): such values are masked whole in --check-crm output
 * even when written literally in the config. */
static bool secret_header(const char *line) {
  static const char *const hints[] = {
      "auth",   "token",   "key",       "secret",     "pass",
      "cookie", "session", "signature", "credential", "api"};
  const char *colon = strchr(line, ':');
  if (!colon)
    return false;
  char name[128];
  size_t n = (size_t)(colon - line);
  if (n >= sizeof name)
    return true; /* an odd, long name: mask rather than guess */
  for (size_t i = 0; i < n; i++)
    name[i] = (char)(line[i] >= 'A' && line[i] <= 'Z' ? line[i] + 32 : line[i]);
  name[n] = '\0';
  for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
    if (strstr(name, hints[i]))
      return true;
  return false;
}

/* Print a line with every configured secret and URL credential masked;
 * Authorization-like header values are masked whole (keeping the scheme),
 * and so are the values of headers whose names suggest a secret. */
static void print_masked(const char *prefix, const char *line,
                         const config *cfg) {
  bool is_header = strstr(prefix, "header") != NULL;
  const char *secrets[CRM_MASK_MAX];
  for (size_t i = 0; i < cfg->crm.secret_count; i++)
    secrets[i] = cfg->crm.secrets[i];
  char out[4096];
  if (strncasecmp(line, "Authorization:", 14) == 0 ||
      strncasecmp(line, "Proxy-Authorization:", 20) == 0) {
    const char *colon = strchr(line, ':');
    /* The scheme is kept: "Authorization: Bearer ***". A line that ends
     * at the colon has nothing after it to search. */
    const char *sp = colon[1] ? strchr(colon + 2, ' ') : NULL;
    snprintf(out, sizeof out, "%.*s ***",
             sp ? (int)(sp - line) : (int)(colon - line + 1), line);
  } else if (is_header && secret_header(line)) {
    snprintf(out, sizeof out, "%.*s: ***", (int)(strchr(line, ':') - line),
             line);
  } else {
    crm_template_mask(line, secrets, cfg->crm.secret_count, out, sizeof out);
    mask_userinfo(out, sizeof out);
  }
  printf("%s%s\n", prefix, out);
}

/* --check-crm's first half: print the request `req` would send, secrets
 * masked. False when it cannot be built. */
static bool print_crm_request(const config *cfg, const flow_crm_request *req) {
  crm_http_request http;
  if (!crm_build(&cfg->crm, cfg->crm_base_url, req, NULL, &http)) {
    fprintf(stderr, "authflow: cannot build the lookupPhone request\n");
    return false;
  }
  printf("operation: %s\n", crm_op_name(crm_op_for(req)));
  printf("request: %s ", http.method);
  print_masked("", http.url, cfg);
  print_masked("  header: ", "Accept: application/json", cfg);
  print_masked("  header: ", "Content-Type: application/json", cfg);
  for (size_t i = 0; i < cfg->crm_header_count; i++)
    print_masked("  header: ", cfg->crm_headers[i], cfg);
  for (size_t i = 0; i < http.header_count; i++)
    print_masked("  header: ", http.headers[i], cfg);
  if (cfg->crm.auth.kind == CRM_AUTH_OAUTH2) {
    print_masked("  header: ", "Authorization: Bearer <token>", cfg);
    print_masked("  token from: ", cfg->crm.auth.token_url, cfg);
  }
  if (http.body)
    print_masked("  body: ", http.body, cfg);
  crm_http_request_free(&http);
  return true;
}

/* --check-crm: print the lookup by phone of `value`, send it through the
 * CRM client as the server would, and print what came back and how it
 * mapped. 0 when the CRM answered and the answer mapped. */
static int run_check_crm(const config *cfg, const char *value) {
  flow_crm_request req = {.kind = FLOW_CRM_LOOKUP,
                          .lookup_type = FLOW_ID_PHONE};
  snprintf(req.lookup_value, sizeof req.lookup_value, "%s", value);
  if (!print_crm_request(cfg, &req))
    return 1;
  const char *headers[CONFIG_MAX_CRM_HEADERS];
  crm_client_config cc = crm_client_config_from(cfg, headers, 1, NULL);
  char err[256];
  if (!crm_client_start(&cc, err, sizeof err)) {
    fprintf(stderr, "authflow: %s\n", err);
    return 1;
  }
  check_wait w = {.mutex = PTHREAD_MUTEX_INITIALIZER,
                  .cond = PTHREAD_COND_INITIALIZER};
  if (crm_client_submit(&req, NULL, on_check_done, &w)) {
    pthread_mutex_lock(&w.mutex);
    while (!w.done)
      pthread_cond_wait(&w.cond, &w.mutex); /* bounded by the budget */
    pthread_mutex_unlock(&w.mutex);
  }
  crm_client_stop();
  printf("crm replied: status %ld in %.0f ms\n", w.status, w.latency_ms);
  if (w.done && !w.result.ok)
    printf("failure: %s\n", crm_fail_reason_name(w.reason));
  printf("mapped: ok=%s matches=%d customerId=\"%s\" customerName=\"%s\"\n",
         w.result.ok ? "true" : "false", w.result.match_count,
         w.result.customer_id, w.result.customer_name);
  return w.done && w.result.ok ? 0 : 1;
}

/* --check-smtp: what a mail would go through, up to authentication. */
static int run_check_smtp(const config *cfg) {
  const config_smtp *m = &cfg->reporting.smtp;
  if (!m->url[0]) {
    fprintf(stderr, "authflow: --check-smtp: reporting.smtp is not set\n");
    return 1;
  }
  char shown[sizeof m->url + 4];
  snprintf(shown, sizeof shown, "%s", m->url);
  mask_userinfo(shown, sizeof shown);
  report_mail_result r;
  report_mail_status st = report_mail_check(m, &r);
  printf("smtp %s: %s (last reply %ld; tls %s; %s)\n", shown,
         st == REPORT_MAIL_SENT ? "OK, connected and nothing sent" : "FAILED",
         r.smtp_code,
         m->tls_none                           ? "off (tls: none)"
         : strncmp(m->url, "smtps://", 8) == 0 ? "implicit"
                                               : "STARTTLS required",
         m->username[0] ? "authenticated" : "no authentication configured");
  if (st != REPORT_MAIL_SENT)
    fprintf(stderr, "authflow: --check-smtp: %s\n", r.text);
  return st == REPORT_MAIL_SENT ? 0 : 1;
}

/* A plaintext mail server: the reports (customer outcomes, staff
 * addresses) and the SMTP password cross the network readable. */
static void warn_smtp(const config *cfg) {
  if (cfg->reporting.smtp.url[0] && cfg->reporting.smtp.tls_none)
    log_warn("reporting.smtp.tls is none: report mails and the SMTP "
             "password are sent in plaintext",
             LOG_STR("key", "reporting.smtp.tls"));
}

/* Keep secrets out of crash dumps: no core file (soft and hard limit 0)
 * and not dumpable, which also stops same-user processes from attaching
 * a debugger or reading our memory through /proc. Called first thing,
 * before the configuration (which holds secrets) is read. */
static void no_core_dumps(void) {
  struct rlimit none = {0, 0};
  (void)setrlimit(RLIMIT_CORE, &none);
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Set when main() made a random caller hash key (none configured). */
static bool caller_key_generated;

/* Start-up warnings about guessing (SPEC §6): a verify operation that maps
 * no wrongAnswer status turns every wrong answer a CRM answers with an
 * error status into crm_unavailable (still counted, but the caller goes
 * to an agent after one try); a random caller hash key makes the
 * per-number limit per instance; a key shorter than 32 characters is
 * easier to guess than it should be. */
static void warn_guessing(const config *cfg) {
  const crm_operation *v = &cfg->crm.ops[CRM_OP_VERIFY];
  const crm_operation *ref = &crm_profile_reference()->ops[CRM_OP_VERIFY];
  /* The reference API answers a wrong answer 200 {"verified":false}; a
   * verify operation configured otherwise is the operator's to map. */
  bool custom = strcmp(v->url, ref->url) != 0 ||
                strcmp(v->method, ref->method) != 0 ||
                strcmp(v->body, ref->body) != 0 ||
                strcmp(v->map.verified, ref->map.verified) != 0 ||
                v->map.ok_count != ref->map.ok_count ||
                v->header_count != ref->header_count;
  if (custom && v->map.wrong_answer_count == 0)
    log_warn("crm verify maps no wrong answer",
             LOG_STR("key", "crm.operations.verify.status.wrongAnswer"),
             LOG_STR("pointer", v->map.verified),
             LOG_STR("detail",
                     "a wrong answer must come back as an ok status with the "
                     "verified pointer false; any other answer still counts "
                     "as a failed attempt but ends the call as "
                     "crm_unavailable"));
  if (cfg->handoff_secret[0] &&
      strlen(cfg->handoff_secret) < CONFIG_HANDOFF_SECRET_RECOMMENDED)
    log_warn("short handoff secret", LOG_STR("key", "handoff.secret"),
             LOG_STR("detail", "use at least 32 random bytes: with a short or "
                               "guessable secret, a copy of Redis reveals the "
                               "live handoff codes"));
  char short_key[256];
  if (config_short_key_warning(cfg, short_key, sizeof short_key))
    log_warn("short API key", LOG_STR("detail", short_key));
  if (caller_key_generated && cfg->lockout_caller_max_failures > 0)
    log_warn("no caller hash key",
             LOG_STR("detail", "AUTHFLOW_CALLER_HASH_KEY is not set: a random "
                               "key was made, so lockout.callerMaxFailures "
                               "counts per instance and restarts empty"));
}

/* Serve until SIGTERM/SIGINT, then drain. Returns the exit status. */
static int serve(const config *cfg) {
  /* Block the stop signals in every thread; this one takes them with
   * sigwait. SIGPIPE is ignored: a client that hangs up is not fatal. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  signal(SIGPIPE, SIG_IGN);

  log_set_level((log_level)cfg->log_level);
  raise_fd_limit(cfg);
  crm_pool_size = cfg->crm_max_connections;
  store_config sc;
  store_config_from(cfg, &sc);
  store_init(&sc);

  const char *headers[CONFIG_MAX_CRM_HEADERS];
  breaker_profile = &cfg->crm;
  crm_client_config cc = crm_client_config_from(
      cfg, headers, cfg->crm_max_connections, on_crm_event);
  cc.loops = config_loop_count(cfg);
  char err[256];
  if (!crm_client_start(&cc, err, sizeof err)) {
    log_error("crm client failed to start", LOG_STR("error", err));
    return 1;
  }

  const char *names[CONFIG_MAX_SERVICE_LINES];
  for (size_t i = 0; i < cfg->service_line_count; i++)
    names[i] = cfg->service_lines[i].name;
  metrics_init(names, cfg->service_line_count);
  api_init(cfg);
  if (!http_start(cfg, err, sizeof err)) {
    log_error("server failed to start", LOG_STR("error", err));
    crm_client_stop();
    return 1;
  }
  if (cfg->api_key_count == 0)
    log_warn("no API keys configured: every /v1 request will get 401; set "
             "AUTHFLOW_API_KEYS",
             LOG_INT("apiKeys", 0));
  if (!cfg->handoff_secret[0])
    log_info("handoffs off: no handoff.secret, so no code can be created "
             "and every redemption is refused unchecked",
             LOG_INT("handoffKeys", (int64_t)cfg->handoff_key_count));
  warn_guessing(cfg);
  warn_smtp(cfg);
  if (!report_scheduler_start(cfg, err, sizeof err)) {
    log_error("report scheduler failed to start", LOG_STR("error", err));
    http_quiesce();
    crm_client_stop();
    http_stop();
    return 1;
  }
  log_lifecycle("listening", LOG_INT("port", http_port()),
                LOG_BOOL("dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1),
                LOG_STR("version", AUTHFLOW_VERSION),
                LOG_INT("loops", config_loop_count(cfg)),
                LOG_INT("serviceLines", (int64_t)cfg->service_line_count));

  int sig = 0;
  while (sigwait(&stop, &sig) != 0)
    ;
  /* Refuse new work first, then say so: whoever reads "draining" in the
   * log finds readyz 503 and the listener closed. */
  api_set_draining(true);
  http_quiesce();
  log_lifecycle("draining",
                LOG_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  report_scheduler_stop();
  bool idle = http_wait_idle(DRAIN_TIMEOUT_MS);
  /* Any step still waiting on the CRM is finished as a CRM failure and
   * answered before the server stops. A verification whose request was
   * already written stays counted (the CRM may have checked it); only one
   * never sent costs the caller no attempt. */
  crm_client_stop();
  if (!idle)
    idle = http_wait_idle(1000);
  http_stop();
  store_thread_cleanup();
  log_lifecycle("stopped", LOG_BOOL("drained", idle));
  return 0;
}

/* A random caller hash key (32 bytes as hex) for a process that was given
 * none. It keys the HMAC of caller numbers kept in Redis, so it is a
 * secret: drawn straight from getrandom (entropy_secret_u64), never from
 * entropy_hex's clock fallback. False when the kernel could not supply it. */
static bool make_caller_hash_key(config *cfg) {
  char *out = cfg->caller_hash_key;
  for (int i = 0; i < 4; i++) {
    uint64_t v;
    if (!entropy_secret_u64(&v)) {
      explicit_bzero(cfg->caller_hash_key, sizeof cfg->caller_hash_key);
      return false;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)v);
    out += 16;
    explicit_bzero(&v, sizeof v);
  }
  caller_key_generated = true;
  return true;
}

/* --check-config's answer for a valid configuration. The CRM URL may
 * carry credentials (user:password@): it is printed without them. */
static void print_config_summary(const config *cfg) {
  /* Room for the "***" mask_userinfo writes in place of the userinfo. */
  char crm_shown[sizeof cfg->crm_base_url + 4];
  snprintf(crm_shown, sizeof crm_shown, "%s", cfg->crm_base_url);
  mask_userinfo(crm_shown, sizeof crm_shown);
  printf("configuration OK: %zu service line(s), %zu API key(s), redis "
         "%s:%d%s, crm %s, handoffs %s (%zu handoff key(s))\n",
         cfg->service_line_count, cfg->api_key_count, cfg->redis_host,
         cfg->redis_port, cfg->redis_sentinel_count ? " (via sentinels)" : "",
         crm_shown, cfg->handoff_secret[0] ? "on" : "off",
         cfg->handoff_key_count);
  char from[300] = "the primary";
  if (cfg->report_redis_sentinel_replica)
    snprintf(from, sizeof from, "a replica the sentinels name");
  else if (cfg->report_redis_host[0])
    snprintf(from, sizeof from, "the replica %s:%d", cfg->report_redis_host,
             cfg->report_redis_port);
  printf("reports: time zone %s, read from %s\n", cfg->report_time_zone, from);
  char warning[512];
  if (config_timeout_warning(cfg, warning, sizeof warning))
    printf("%s\n", warning);
  if (cfg->handoff_secret[0] &&
      strlen(cfg->handoff_secret) < CONFIG_HANDOFF_SECRET_RECOMMENDED)
    printf("warning: handoff.secret is shorter than %d bytes; use a long "
           "random value\n",
           CONFIG_HANDOFF_SECRET_RECOMMENDED);
  if (config_short_key_warning(cfg, warning, sizeof warning))
    printf("%s\n", warning);
  if (cfg->reporting.count > 0)
    printf("%zu report schedule(s), mailed through reporting.smtp\n",
           cfg->reporting.count);
  if (cfg->reporting.smtp.url[0] && cfg->reporting.smtp.tls_none)
    printf("warning: reporting.smtp.tls is none: report mails and the SMTP "
           "password go in plaintext\n");
}

int main(int argc, char **argv) {
  no_core_dumps();
  const char *config_path = NULL;
  bool check_only = false, healthcheck = false, check_crm = false,
       check_smtp = false;
  const char *check_crm_value = "+13175550116";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if (strcmp(argv[i], "--check-config") == 0) {
      check_only = true;
    } else if (strcmp(argv[i], "--check-crm") == 0) {
      check_crm = true;
    } else if (strcmp(argv[i], "--check-crm-value") == 0 && i + 1 < argc) {
      check_crm_value = argv[++i];
    } else if (strcmp(argv[i], "--check-smtp") == 0) {
      check_smtp = true;
    } else if (strcmp(argv[i], "--healthcheck") == 0) {
      healthcheck = true;
    } else if (strcmp(argv[i], "--version") == 0) {
      printf("authflow %s\n", AUTHFLOW_VERSION);
      return 0;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "authflow: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }

  static config cfg; /* large: keep it off the stack */
  char err[CONFIG_ERR_MAX];
  if (!config_load(config_path, getenv, &cfg, err, sizeof err)) {
    fprintf(stderr, "authflow: invalid configuration: %s\n", err);
    return 1;
  }
  /* The zone reports use by default must be in the zone database. */
  if (!report_zone_get(cfg.report_time_zone, err, sizeof err)) {
    fprintf(stderr, "authflow: invalid configuration: reporting.timeZone: %s\n",
            err);
    config_free(&cfg);
    return 1;
  }
  /* Each schedule's zone and service line. */
  if (!report_schedule_check(&cfg, err, sizeof err)) {
    fprintf(stderr, "authflow: invalid configuration: %s\n", err);
    config_free(&cfg);
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc;
  if (check_only) {
    print_config_summary(&cfg);
    rc = 0;
  } else if (check_smtp) {
    rc = run_check_smtp(&cfg);
  } else if (check_crm) {
    rc = run_check_crm(&cfg, check_crm_value);
  } else if (healthcheck) {
    rc = run_healthcheck(&cfg);
  } else {
    if (!cfg.caller_hash_key[0] && !make_caller_hash_key(&cfg)) {
      log_error("no caller hash key: getrandom failed and "
                "AUTHFLOW_CALLER_HASH_KEY is not set",
                LOG_STR("key", "AUTHFLOW_CALLER_HASH_KEY"));
      rc = 1;
    } else {
      rc = serve(&cfg);
    }
  }
  config_free(&cfg);
  curl_global_cleanup();
  return rc;
}
