/*
 * log: one JSON object per line on stderr.
 *
 *   {"time":"2026-11-22T21:40:00.123Z","level":"info","msg":"request",
 *    "requestId":"...","method":"POST","route":"/v1/sessions",...}
 *
 * Each line is formatted into a local buffer and written with a single
 * write(2), so lines from different threads never interleave. Values are
 * JSON-escaped; a line longer than LOG_LINE_MAX is cut and marked
 * "truncated":true.
 *
 * PII contract: callers pass ANI and identifiers only through phone_mask()
 * (last 4 digits kept) and never pass security answers at all.
 */
#ifndef AUTHFLOW_LOG_H
#define AUTHFLOW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX 4096

typedef enum {
  LOG_DEBUG = 0,
  LOG_INFO,
  LOG_WARN,
  LOG_ERROR,
} log_level;

typedef enum {
  LOG_FIELD_STR = 0,
  LOG_FIELD_INT,
  LOG_FIELD_DOUBLE,
  LOG_FIELD_BOOL,
} log_field_type;

typedef struct {
  const char *key;
  log_field_type type;
  const char *s; /* STR; NULL is written as "" */
  int64_t i;     /* INT */
  double d;      /* DOUBLE */
  bool b;        /* BOOL */
} log_field;

#define LOG_STR(k, v) ((log_field){.key = (k), .type = LOG_FIELD_STR, .s = (v)})
#define LOG_INT(k, v) ((log_field){.key = (k), .type = LOG_FIELD_INT, .i = (v)})
#define LOG_DBL(k, v)                                                          \
  ((log_field){.key = (k), .type = LOG_FIELD_DOUBLE, .d = (v)})
#define LOG_BOOL(k, v)                                                         \
  ((log_field){.key = (k), .type = LOG_FIELD_BOOL, .b = (v)})

/* Lines below `min_level` are dropped. Call once at start-up. */
void log_set_level(log_level min_level);

/* Redirect output to `fd` (default 2). For tests. */
void log_set_fd(int fd);

bool log_enabled(log_level level);

/* Write one line with `msg` and `n` extra fields. */
void log_emit(log_level level, const char *msg, const log_field *fields,
              size_t n);

/* Write one line whatever the level filter says. For the few lifecycle
 * events an operator always needs (listening, draining, stopped). */
void log_emit_always(log_level level, const char *msg, const log_field *fields,
                     size_t n);

/* Format one line into `out` (what log_emit writes, without the newline).
 * `time_ms` is the unix time to print. Returns the length. For tests. */
size_t log_format(char *out, size_t out_len, int64_t time_ms, log_level level,
                  const char *msg, const log_field *fields, size_t n);

#define LOG_FIELDS(...)                                                        \
  (const log_field[]){__VA_ARGS__},                                            \
      sizeof((const log_field[]){__VA_ARGS__}) / sizeof(log_field)

#define log_debug(msg, ...) log_emit(LOG_DEBUG, (msg), LOG_FIELDS(__VA_ARGS__))
#define log_info(msg, ...) log_emit(LOG_INFO, (msg), LOG_FIELDS(__VA_ARGS__))
#define log_warn(msg, ...) log_emit(LOG_WARN, (msg), LOG_FIELDS(__VA_ARGS__))
#define log_error(msg, ...) log_emit(LOG_ERROR, (msg), LOG_FIELDS(__VA_ARGS__))
#define log_lifecycle(msg, ...)                                                \
  log_emit_always(LOG_INFO, (msg), LOG_FIELDS(__VA_ARGS__))

/* The request method as it may be logged: one of the standard methods by
 * its static name, anything else (unknown, lower-case, bytes >= 0x80)
 * "other". A client cannot put its own text in the log this way. */
const char *log_method_name(const char *method);

#endif
