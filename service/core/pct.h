/*
 * pct: the one percent-decoder (RFC 3986 %XX escapes).
 *
 * Used for path segments (route), query strings (report, with '+' as a
 * space) and the Redis URL's password (config). A decoded NUL is always
 * refused: no caller can hold one in a C string.
 */
#ifndef AUTHFLOW_PCT_H
#define AUTHFLOW_PCT_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  PCT_OK = 0,
  PCT_BAD_ESCAPE, /* '%' not followed by two hex digits */
  PCT_NUL,        /* the escape %00 */
  PCT_TOO_LONG    /* the decoded text and its NUL do not fit out_len */
} pct_status;

enum { PCT_PLUS_IS_BYTE = 0, PCT_PLUS_IS_SPACE = 1 };

/* The value of one hex digit, or -1. */
int pct_hex_value(char c);

/* Decodes in[0..n) into out (NUL-terminated, at most out_len bytes with
 * the NUL). With PCT_PLUS_IS_SPACE a '+' becomes ' ' (form encoding). On
 * failure out holds "" (when out_len > 0). */
pct_status pct_decode(const char *in, size_t n, int flags, char *out,
                      size_t out_len);

#endif
