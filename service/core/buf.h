/*
 * buf: one capped, growable byte buffer (in the style of curl's dynbuf).
 *
 * A buf is always NUL-terminated once it holds anything, never grows past
 * the cap given to buf_init, and remembers the first failure: after one,
 * every append is a no-op that returns the same status, so a caller may
 * append many pieces and check once at the end (buf_status).
 *
 * Secrets: a buf made with BUF_WIPE never leaves its bytes behind. It grows
 * by copying (realloc would free the old block unwiped) and buf_free /
 * buf_reset wipe what they release. Use it for anything that may hold a
 * security answer, a handoff code, a token or a secret.
 *
 * The failure kinds are kept apart: BUF_TOO_LARGE means the cap was
 * reached (a 413 or a "too long" for the caller), BUF_NO_MEMORY means
 * malloc failed (a 500); one is never reported as the other.
 */
#ifndef AUTHFLOW_BUF_H
#define AUTHFLOW_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum { BUF_OK = 0, BUF_TOO_LARGE, BUF_NO_MEMORY } buf_status;

enum { BUF_PLAIN = 0, BUF_WIPE = 1 };

typedef struct {
  char *p;           /* NULL until the first byte; then NUL-terminated */
  size_t len;        /* bytes held, excluding the terminating NUL */
  size_t cap;        /* bytes allocated */
  size_t max;        /* most bytes it may hold (excluding the NUL) */
  bool wipe;         /* BUF_WIPE: explicit_bzero before every release */
  buf_status status; /* the first failure, sticky */
} buf;

/* Prepares an empty buffer that may hold up to max bytes. Allocates
 * nothing. */
void buf_init(buf *b, size_t max, int flags);

/* Appends n bytes of s. Returns the buffer's status: BUF_OK, or the first
 * failure (then nothing was appended, now or later). */
buf_status buf_add(buf *b, const void *s, size_t n);

/* Appends a NUL-terminated string. */
buf_status buf_adds(buf *b, const char *s);

/* Appends printf-style output (format checked by the compiler). */
buf_status buf_addf(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
buf_status buf_vaddf(buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Empties the buffer, keeping its memory (wiped first with BUF_WIPE) and
 * clearing a failure. */
void buf_reset(buf *b);

/* Releases the memory (wiped first with BUF_WIPE); the buffer is empty and
 * usable again with the same cap. */
void buf_free(buf *b);

/* Hands the bytes to the caller, who frees them (and wipes them first if
 * they are secret); the buffer is left empty. Returns NULL when the buffer
 * failed or holds nothing and `empty_ok` is false; with `empty_ok` an
 * empty buffer yields a fresh "" (NULL only when that malloc fails). */
char *buf_take(buf *b, size_t *len, bool empty_ok);

/* The bytes ("" when empty; never NULL) and their count. */
const char *buf_str(const buf *b);
size_t buf_len(const buf *b);
buf_status buf_state(const buf *b);

#endif
