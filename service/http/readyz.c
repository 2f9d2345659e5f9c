#include "readyz.h"

#include <time.h>

#include "metrics.h"
#include "store_async.h"

/* This loop's readiness: the last PING's answer and when it came, and the
 * requests waiting for the PING in flight (linked through readyz_next). */
typedef struct {
  bool known;      /* a PING has answered on this loop */
  bool ok;         /* its answer */
  int64_t at_ms;   /* when (monotonic) */
  bool pinging;    /* a PING is in flight */
  api_step *first; /* waiting for it, newest first */
  store_result out;
} readyz_cache;

static _Thread_local readyz_cache cache;

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The answer for a readiness of `ok` (the body readyz always had). */
static void fill(api_response *resp, bool ok) {
  resp->status = ok ? 200 : 503;
  resp->body = json_pack("{s:s, s:s}", "status", ok ? "ready" : "unavailable",
                         "redis", ok ? "ok" : "unavailable");
}

/* The PING answered: keep it, and answer every request that waited. A
 * failed PING is one Redis error, however many requests shared it. */
static void on_pinged(void *ctx, store_result *out) {
  (void)ctx;
  cache.ok = out->status == STORE_OK;
  cache.known = true;
  cache.at_ms = monotonic_ms();
  cache.pinging = false;
  if (!cache.ok)
    metrics_redis_error();
  api_step *step = cache.first;
  cache.first = NULL;
  while (step) {
    api_step *next = step->readyz_next;
    step->readyz_next = NULL;
    fill(step->resp, cache.ok);
    step->done(step->done_ctx);
    step = next;
  }
}

api_status readyz_handle(api_step *step) {
  if (cache.known && !cache.pinging &&
      monotonic_ms() - cache.at_ms < READYZ_CACHE_MS) {
    fill(step->resp, cache.ok);
    return API_RESPOND;
  }
  step->readyz_next = cache.first;
  cache.first = step;
  if (!cache.pinging) {
    cache.pinging = true;
    store_ping_async(&cache.out, on_pinged, NULL);
  }
  return API_PENDING;
}
