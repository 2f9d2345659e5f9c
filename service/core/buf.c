#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b, size_t max, int flags) {
  memset(b, 0, sizeof *b);
  b->max = max;
  b->wipe = (flags & BUF_WIPE) != 0;
}

static void release(buf *b) {
  if (b->p && b->wipe)
    explicit_bzero(b->p, b->cap);
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* Makes room for `extra` more bytes plus the NUL, doubling from 128. A
 * wiping buffer grows by malloc + copy + wipe, never realloc. */
static buf_status reserve(buf *b, size_t extra) {
  if (b->status != BUF_OK)
    return b->status;
  if (extra > b->max - b->len)
    return b->status = BUF_TOO_LARGE;
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return BUF_OK;
  size_t cap = b->cap ? b->cap : 128;
  while (cap < need)
    cap = cap > (size_t)-1 / 2 ? need : cap * 2;
  if (cap > b->max + 1)
    cap = b->max + 1;
  char *grown;
  if (b->wipe) {
    grown = malloc(cap);
    if (grown && b->p) {
      memcpy(grown, b->p, b->len + 1);
      explicit_bzero(b->p, b->cap);
      free(b->p);
    }
  } else {
    grown = realloc(b->p, cap);
  }
  if (!grown)
    return b->status = BUF_NO_MEMORY;
  b->p = grown;
  b->cap = cap;
  return BUF_OK;
}

buf_status buf_add(buf *b, const void *s, size_t n) {
  buf_status st = reserve(b, n);
  if (st != BUF_OK)
    return st;
  if (n)
    memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return BUF_OK;
}

buf_status buf_adds(buf *b, const char *s) {
  return buf_add(b, s, strlen(s));
}

buf_status buf_vaddf(buf *b, const char *fmt, va_list ap) {
  if (b->status != BUF_OK)
    return b->status;
  va_list again;
  va_copy(again, ap);
  /* One pass when the text fits the room already there; measure, grow and
   * format again only when it does not. */
  char *end = b->p ? b->p + b->len : NULL;
  size_t room = end ? b->cap - b->len : 0;
  int n = vsnprintf(end, room, fmt, ap);
  if (n < 0) {
    if (end)
      *end = '\0';
    va_end(again);
    return b->status = BUF_NO_MEMORY;
  }
  if ((size_t)n < room && (size_t)n <= b->max - b->len) {
    b->len += (size_t)n;
    va_end(again);
    return BUF_OK;
  }
  if (end)
    *end = '\0'; /* undo the partial text */
  buf_status st = reserve(b, (size_t)n);
  if (st == BUF_OK) {
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, again);
    b->len += (size_t)n;
  }
  va_end(again);
  return st;
}

buf_status buf_addf(buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  buf_status st = buf_vaddf(b, fmt, ap);
  va_end(ap);
  return st;
}

void buf_reset(buf *b) {
  if (b->p) {
    if (b->wipe)
      explicit_bzero(b->p, b->cap);
    b->p[0] = '\0';
  }
  b->len = 0;
  b->status = BUF_OK;
}

void buf_free(buf *b) {
  release(b);
  b->status = BUF_OK;
}

char *buf_take(buf *b, size_t *len, bool empty_ok) {
  char *out = NULL;
  size_t n = 0;
  if (b->status == BUF_OK && b->p) {
    out = b->p;
    n = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
  } else if (b->status == BUF_OK && empty_ok) {
    out = calloc(1, 1);
  }
  if (!out)
    release(b);
  b->status = BUF_OK;
  if (len)
    *len = n;
  return out;
}

const char *buf_str(const buf *b) {
  return b->p ? b->p : "";
}

size_t buf_len(const buf *b) {
  return b->len;
}

buf_status buf_state(const buf *b) {
  return b->status;
}
