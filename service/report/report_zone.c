#include "report_zone.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONE_FILE_MAX (256 * 1024) /* real ones are under 4 KB */

static struct {
  pthread_mutex_t mutex;
  size_t count;
  char name[REPORT_ZONE_CACHE_MAX][REPORT_ZONE_NAME_MAX + 1];
  tz_zone *zone[REPORT_ZONE_CACHE_MAX];
} cache = {.mutex = PTHREAD_MUTEX_INITIALIZER};

bool report_zone_name_ok(const char *name) {
  size_t n = strlen(name);
  return n > 0 && n <= REPORT_ZONE_NAME_MAX && name[0] != '/' &&
         name[0] != '-' &&
         strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789/_+-") == n;
}

/* Read and parse the zone file of `name`; NULL with a reason. */
static tz_zone *load(const char *name, char *err, size_t err_len) {
  const char *dir = getenv("TZDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/%s",
           dir && *dir ? dir : "/usr/share/zoneinfo", name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_len, "%s is not a time zone of the zone database", name);
    return NULL;
  }
  unsigned char *data = malloc(ZONE_FILE_MAX);
  size_t n = data ? fread(data, 1, ZONE_FILE_MAX, f) : 0;
  fclose(f);
  const char *why = "out of memory";
  tz_zone *z = data ? tz_parse(data, n, &why) : NULL;
  free(data);
  if (!z)
    snprintf(err, err_len, "%s: the zone file cannot be read: %s", name, why);
  return z;
}

const tz_zone *report_zone_get(const char *name, char *err, size_t err_len) {
  if (!report_zone_name_ok(name)) {
    snprintf(err, err_len, "not an IANA time zone name such as Europe/Madrid");
    return NULL;
  }
  pthread_mutex_lock(&cache.mutex);
  for (size_t i = 0; i < cache.count; i++)
    if (strcmp(cache.name[i], name) == 0) {
      tz_zone *z = cache.zone[i];
      pthread_mutex_unlock(&cache.mutex);
      return z;
    }
  /* Loaded under the lock: a few KB read once per zone. */
  tz_zone *z = load(name, err, err_len);
  const tz_zone *out = z;
  if (!z && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0))
    out = tz_utc();
  else if (z && cache.count < REPORT_ZONE_CACHE_MAX) {
    snprintf(cache.name[cache.count], sizeof cache.name[0], "%s", name);
    cache.zone[cache.count++] = z;
  } else if (z) {
    /* Full (more zones than the database holds): refuse, never leak. */
    tz_free(z);
    out = NULL;
    snprintf(err, err_len, "too many time zones in use");
  }
  pthread_mutex_unlock(&cache.mutex);
  return out;
}
