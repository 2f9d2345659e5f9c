/*
 * json_text: JSON text written straight into a core/buf.h buffer, with no
 * jansson tree in between (the hot answers: see session_json.h).
 *
 * Strings come out byte for byte as jansson's json_dumps writes them
 * (without JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH): '"' and '\' get a
 * backslash; \b \f \n \r \t their short escapes; any other control
 * character below 0x20 is \u00XX (upper-case hex); everything else,
 * well-formed UTF-8 included, is copied as it is. Text that is not
 * well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF) is refused, as json_pack refuses it: the output is never
 * invalid JSON.
 */
#ifndef AUTHFLOW_JSON_TEXT_H
#define AUTHFLOW_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/*
 * Append the NUL-terminated `s` as a quoted JSON string. False when `s` is
 * not well-formed UTF-8 (then b holds part of it: the caller drops the
 * whole text) or when the buffer has failed (buf_state tells which).
 */
bool json_text_string(buf *b, const char *s);

/* Append `v` in decimal (as jansson writes an integer). Returns the
 * buffer's status. */
buf_status json_text_int(buf *b, long long v);

/* Length of the well-formed UTF-8 sequence starting at s[0] (`left` bytes
 * readable, left >= 1), or 0 when it is not one. ASCII is 1. */
size_t json_text_utf8_len(const unsigned char *s, size_t left);

#endif
