#include "phone.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Withheld-number markers carriers and Genesys use in place of an ANI. */
static const char *const withheld[] = {
    "anonymous", "restricted", "private", "unavailable", "unknown",
    "withheld",  "blocked",    "none",    "null",        "undefined"};

static bool is_withheld(const char *s, size_t n) {
  for (size_t i = 0; i < sizeof withheld / sizeof withheld[0]; i++)
    if (strlen(withheld[i]) == n && strncasecmp(s, withheld[i], n) == 0)
      return true;
  return false;
}

/* Skip "tel:", "sip:" or "sips:" (any case, optional spaces after). */
static const char *skip_scheme(const char *s) {
  static const char *const schemes[] = {"tel:", "sips:", "sip:"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(schemes[i]);
    if (strncasecmp(s, schemes[i], n) == 0) {
      s += n;
      while (*s == ' ')
        s++;
      return s;
    }
  }
  return s;
}

/*
 * Reduce `raw` to its user part: drop a surrounding <...>, the URI scheme,
 * everything from '@' (SIP host) or ';' (parameters). Writes [start, end)
 * of that part.
 */
static void user_part(const char *raw, const char **start, const char **end) {
  const char *s = raw;
  while (*s == ' ' || *s == '\t' || *s == '"')
    s++;
  /* A display name before <...>: keep what is inside the brackets. */
  const char *lt = strchr(s, '<');
  if (lt)
    s = lt + 1;
  s = skip_scheme(s);
  const char *e = s;
  while (*e && *e != '@' && *e != ';' && *e != '>' && *e != '?')
    e++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '"'))
    e--;
  *start = s;
  *end = e;
}

bool phone_normalise(const char *raw, const char *default_country_code,
                     char *out, size_t out_len) {
  if (out_len > 0)
    out[0] = '\0';
  if (!raw || out_len < PHONE_E164_MAX + 1)
    return false;
  const char *s, *e;
  user_part(raw, &s, &e);
  if (s == e || is_withheld(s, (size_t)(e - s)))
    return false;

  /* Keep digits; allow the visual separators people and carriers use.
   * Anything else (a letter, a second '+') means this is not a number. */
  char digits[64];
  size_t n = 0;
  bool plus = false;
  for (const char *p = s; p < e; p++) {
    unsigned char c = (unsigned char)*p;
    if (isdigit(c)) {
      if (n + 1 >= sizeof digits)
        return false;
      digits[n++] = (char)c;
    } else if (c == '+' && n == 0 && !plus) {
      plus = true;
    } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
      return false;
    }
  }
  digits[n] = '\0';

  const char *cc = default_country_code ? default_country_code : "";
  char e164[64];
  if (plus) {
    snprintf(e164, sizeof e164, "%s", digits);
  } else if (n > 2 && digits[0] == '0' && digits[1] == '0') {
    snprintf(e164, sizeof e164, "%s", digits + 2); /* 00 international */
  } else if (strcmp(cc, "1") == 0 && n == 11 && digits[0] == '1') {
    snprintf(e164, sizeof e164, "%s", digits); /* NANP with its 1 */
  } else if (n > 1 && digits[0] == '0' && strcmp(cc, "1") != 0) {
    snprintf(e164, sizeof e164, "%s%s", cc, digits + 1); /* trunk 0 */
  } else {
    snprintf(e164, sizeof e164, "%s%s", cc, digits);
  }
  size_t len = strlen(e164);
  if (len < 8 || len > 15 || e164[0] == '0')
    return false;
  snprintf(out, out_len, "+%s", e164);
  return true;
}

void phone_mask(const char *value, char *out, size_t out_len) {
  if (out_len == 0)
    return;
  if (!value) {
    out[0] = '\0';
    return;
  }
  size_t n = strlen(value);
  /* Long values: keep the mask's length within out, last 4 intact. */
  size_t shown = n > 4 ? 4 : 0;
  size_t len = n < out_len - 1 ? n : out_len - 1;
  if (shown > len)
    shown = 0;
  size_t stars = len - shown;
  memset(out, '*', stars);
  memcpy(out + stars, value + n - shown, shown);
  out[len] = '\0';
}
