#include "log.h"

#include "json_text.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = LOG_INFO;
static _Atomic int out_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(log_level level) {
  atomic_store(&min_level, (int)level);
}

void log_set_fd(int fd) {
  atomic_store(&out_fd, fd);
}

bool log_enabled(log_level level) {
  return (int)level >= atomic_load(&min_level);
}

/* Appender over a fixed buffer: once full, further appends are dropped and
 * `truncated` is set, so a caller can mark the line. */
typedef struct {
  char *p;
  size_t len;
  size_t cap; /* bytes usable for text (one is kept for the NUL) */
  bool truncated;
} line_buf;

static void put_raw(line_buf *b, const char *s, size_t n) {
  if (b->truncated || b->len + n > b->cap) {
    b->truncated = true;
    return;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void put_str(line_buf *b, const char *s) {
  put_raw(b, s, strlen(s));
}

/* Write `s` as a JSON string body (without quotes). Control characters
 * are escaped; well-formed UTF-8 passes through; any other byte >= 0x80
 * (a stray continuation byte, a truncated or overlong sequence, Latin-1
 * from a client) is written as the escape \u00XX, so a strict parser
 * always accepts the line and the byte can still be read off it. */
static void put_escaped(line_buf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *end = (const unsigned char *)s + strlen(s);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char esc[7];
    if (*c == '"' || *c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*c;
      put_raw(b, esc, 2);
    } else if (*c < 0x20 || *c == 0x7f) {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[*c >> 4];
      esc[5] = hex[*c & 15];
      put_raw(b, esc, 6);
    } else if (*c < 0x80) {
      put_raw(b, (const char *)c, 1);
    } else {
      size_t n = json_text_utf8_len(c, (size_t)(end - c));
      if (n > 0) {
        put_raw(b, (const char *)c, n);
        c += n - 1;
      } else {
        memcpy(esc, "\\u00", 4);
        esc[4] = hex[*c >> 4];
        esc[5] = hex[*c & 15];
        put_raw(b, esc, 6);
      }
    }
  }
}

const char *log_method_name(const char *method) {
  static const char *const known[] = {"GET",     "HEAD",    "POST",
                                      "PUT",     "DELETE",  "PATCH",
                                      "OPTIONS", "CONNECT", "TRACE"};
  if (method)
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
      if (strcmp(method, known[i]) == 0)
        return known[i];
  return "other";
}

static void put_key(line_buf *b, const char *key) {
  put_str(b, ",\"");
  put_escaped(b, key);
  put_str(b, "\":");
}

size_t log_format(char *out, size_t out_len, int64_t time_ms, log_level level,
                  const char *msg, const log_field *fields, size_t n) {
  if (out_len == 0)
    return 0;
  /* Keep room for the truncation marker and closing brace. */
  static const char trunc_tail[] = ",\"truncated\":true}";
  line_buf b = {.p = out, .len = 0, .cap = out_len - 1, .truncated = false};
  if (b.cap > sizeof(trunc_tail))
    b.cap -= sizeof(trunc_tail);

  time_t secs = (time_t)(time_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char ts[48];
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(time_ms % 1000));
  put_str(&b, "{\"time\":\"");
  put_str(&b, ts);
  put_str(&b, "\",\"level\":\"");
  put_str(&b, level_names[level <= LOG_ERROR ? level : LOG_ERROR]);
  put_str(&b, "\",\"msg\":\"");
  put_escaped(&b, msg ? msg : "");
  put_str(&b, "\"");
  for (size_t i = 0; i < n && !b.truncated; i++) {
    /* A field that does not fit is dropped whole, so the line stays valid
     * JSON. */
    size_t field_start = b.len;
    char num[64];
    put_key(&b, fields[i].key);
    switch (fields[i].type) {
    case LOG_FIELD_STR:
      put_str(&b, "\"");
      put_escaped(&b, fields[i].s ? fields[i].s : "");
      put_str(&b, "\"");
      break;
    case LOG_FIELD_INT:
      snprintf(num, sizeof num, "%lld", (long long)fields[i].i);
      put_str(&b, num);
      break;
    case LOG_FIELD_DOUBLE:
      snprintf(num, sizeof num, "%.3f", fields[i].d);
      put_str(&b, num);
      break;
    case LOG_FIELD_BOOL:
      put_str(&b, fields[i].b ? "true" : "false");
      break;
    }
    if (b.truncated)
      b.len = field_start;
  }
  /* The reserved tail always fits: cap was reduced by its size. */
  b.cap = out_len - 1;
  if (b.truncated) {
    b.truncated = false;
    put_str(&b, trunc_tail);
  } else {
    put_str(&b, "}");
  }
  out[b.len] = '\0';
  return b.len;
}

void log_emit(log_level level, const char *msg, const log_field *fields,
              size_t n) {
  if (log_enabled(level))
    log_emit_always(level, msg, fields, n);
}

void log_emit_always(log_level level, const char *msg, const log_field *fields,
                     size_t n) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
  char line[LOG_LINE_MAX + 1];
  size_t len = log_format(line, sizeof line - 1, ms, level, msg, fields, n);
  line[len++] = '\n';
  /* One write per line keeps concurrent lines whole; a short write to a
   * full pipe is retried, an error is dropped (logging must not fail a
   * request). */
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(atomic_load(&out_fd), line + off, len - off);
    if (w <= 0)
      break;
    off += (size_t)w;
  }
}
