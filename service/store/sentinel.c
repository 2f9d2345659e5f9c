#include "sentinel.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

bool sentinel_parse_addr(const char *text, sentinel_addr *out, char *err,
                         size_t err_len) {
  memset(out, 0, sizeof *out);
  const char *host = text, *host_end, *port_text = NULL;
  if (text[0] == '[') {
    host = text + 1;
    host_end = strchr(host, ']');
    if (!host_end) {
      snprintf(err, err_len, "'%s': missing ']'", text);
      return false;
    }
    if (host_end[1] == ':')
      port_text = host_end + 2;
    else if (host_end[1] != '\0') {
      snprintf(err, err_len, "'%s': expected ':' after ']'", text);
      return false;
    }
  } else {
    host_end = strrchr(text, ':');
    if (host_end)
      port_text = host_end + 1;
    else
      host_end = text + strlen(text);
  }
  size_t host_len = (size_t)(host_end - host);
  if (host_len == 0 || host_len > SENTINEL_HOST_MAX) {
    snprintf(err, err_len, "'%s': bad host", text);
    return false;
  }
  memcpy(out->host, host, host_len);
  out->host[host_len] = '\0';
  out->port = 26379;
  if (port_text) {
    char *end;
    long p = strtol(port_text, &end, 10);
    if (*port_text == '\0' || *end != '\0' || p < 1 || p > 65535) {
      snprintf(err, err_len, "'%s': port must be 1..65535", text);
      return false;
    }
    out->port = (int)p;
  }
  return true;
}

/* Ask one sentinel. Returns true with the address, false with err. */
static bool ask(const sentinel_addr *s, const char *master_name, int timeout_ms,
                char *host, size_t host_len, int *port, char *err,
                size_t err_len) {
  struct timeval tv = {.tv_sec = timeout_ms / 1000,
                       .tv_usec = (timeout_ms % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
  if (!c || c->err) {
    snprintf(err, err_len, "sentinel %s:%d: %s", s->host, s->port,
             c ? c->errstr : "out of memory");
    redisFree(c);
    return false;
  }
  redisSetTimeout(c, tv);
  redisReply *r =
      redisCommand(c, "SENTINEL get-master-addr-by-name %s", master_name);
  bool ok = false;
  if (!r) {
    snprintf(err, err_len, "sentinel %s:%d: %s", s->host, s->port, c->errstr);
  } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[0]->type == REDIS_REPLY_STRING &&
             r->element[1]->type == REDIS_REPLY_STRING) {
    long p = strtol(r->element[1]->str, NULL, 10);
    if (p > 0 && p <= 65535 && r->element[0]->len < host_len) {
      snprintf(host, host_len, "%s", r->element[0]->str);
      *port = (int)p;
      ok = true;
    } else {
      snprintf(err, err_len, "sentinel %s:%d: unusable address", s->host,
               s->port);
    }
  } else {
    snprintf(err, err_len, "sentinel %s:%d does not know master '%s'", s->host,
             s->port, master_name);
  }
  freeReplyObject(r);
  redisFree(c);
  return ok;
}

bool sentinel_find_master(const sentinel_addr *sentinels, size_t count,
                          const char *master_name, int timeout_ms, char *host,
                          size_t host_len, int *port, char *err,
                          size_t err_len) {
  if (count == 0) {
    snprintf(err, err_len, "no sentinels configured");
    return false;
  }
  for (size_t i = 0; i < count; i++)
    if (ask(&sentinels[i], master_name, timeout_ms, host, host_len, port, err,
            err_len))
      return true;
  return false; /* err holds the last sentinel's reason */
}

/* Field `name` of a flat SENTINEL REPLICAS entry, or NULL. */
static const char *entry_field(const redisReply *e, const char *name) {
  for (size_t j = 0; j + 1 < e->elements; j += 2)
    if (e->element[j]->type == REDIS_REPLY_STRING &&
        e->element[j + 1]->type == REDIS_REPLY_STRING &&
        strcmp(e->element[j]->str, name) == 0)
      return e->element[j + 1]->str;
  return NULL;
}

/* A healthy replica in the SENTINEL REPLICAS reply r. */
static bool pick_replica(const redisReply *r, char *host, size_t host_len,
                         int *port) {
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
    const redisReply *e = r->element[i];
    if (e->type != REDIS_REPLY_ARRAY)
      continue;
    const char *ip = entry_field(e, "ip"), *p = entry_field(e, "port");
    const char *flags = entry_field(e, "flags");
    const char *link = entry_field(e, "master-link-status");
    if (!ip || !p || !flags || strstr(flags, "s_down") ||
        strstr(flags, "o_down") || strstr(flags, "disconnected") ||
        (link && strcmp(link, "ok") != 0) || strlen(ip) >= host_len)
      continue;
    long n = strtol(p, NULL, 10);
    if (n < 1 || n > 65535)
      continue;
    snprintf(host, host_len, "%s", ip);
    *port = (int)n;
    return true;
  }
  return false;
}

bool sentinel_find_replica(const sentinel_addr *sentinels, size_t count,
                           const char *master_name, int timeout_ms, char *host,
                           size_t host_len, int *port, char *err,
                           size_t err_len) {
  snprintf(err, err_len, "no sentinels configured");
  struct timeval tv = {.tv_sec = timeout_ms / 1000,
                       .tv_usec = (timeout_ms % 1000) * 1000};
  for (size_t i = 0; i < count; i++) {
    const sentinel_addr *s = &sentinels[i];
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
    if (!c || c->err) {
      snprintf(err, err_len, "sentinel %s:%d: %s", s->host, s->port,
               c ? c->errstr : "out of memory");
      redisFree(c);
      continue;
    }
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "SENTINEL replicas %s", master_name);
    bool ok = r && pick_replica(r, host, host_len, port);
    if (!ok)
      snprintf(err, err_len, "sentinel %s:%d names no healthy replica of '%s'",
               s->host, s->port, master_name);
    freeReplyObject(r);
    redisFree(c);
    if (ok)
      return true;
  }
  return false;
}
