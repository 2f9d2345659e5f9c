/*
 * phone: ANI normalisation to E.164 and masking (see phone.h).
 *
 * The parser is deliberately forgiving about decoration (URI schemes,
 * brackets, display names, SIP host and parameters, visual separators) and
 * strict about the number itself: letters in the user part, a '+' that is
 * not leading, or an implausible length all mean "no ANI". A wrong "no ANI"
 * only costs the caller keying an identifier; a wrong number would look up
 * somebody else.
 */
#include "phone.h"

#include <string.h>
#include <strings.h>

/* Withheld-number markers carriers and Genesys send in place of an ANI. */
static const char *const withheld[] = {
    "anonymous", "restricted", "private", "unavailable", "unknown",
    "withheld",  "blocked",    "none",    "null",        "undefined"};

static bool is_withheld(const char *s, size_t n) {
  for (size_t i = 0; i < sizeof withheld / sizeof withheld[0]; i++)
    if (strlen(withheld[i]) == n && strncasecmp(s, withheld[i], n) == 0)
      return true;
  return false;
}

static bool is_space(char c) {
  return c == ' ' || c == '\t';
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Skip "tel:", "sip:" or "sips:" in any case, and blanks after it. */
static const char *skip_scheme(const char *s) {
  static const char *const schemes[] = {"tel:", "sips:", "sip:"};
  for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
    size_t n = strlen(schemes[i]);
    if (strncasecmp(s, schemes[i], n) == 0) {
      s += n;
      while (is_space(*s))
        s++;
      return s;
    }
  }
  return s;
}

/*
 * Reduce `raw` to the user part of the address: what is inside <...> when
 * there is one (a display name may precede it), without the URI scheme,
 * and up to the SIP host ('@'), URI parameters (';'), headers ('?') or the
 * closing '>'. Writes the part as [*start, *end).
 */
static void user_part(const char *raw, const char **start, const char **end) {
  const char *s = raw;
  const char *lt = strchr(s, '<');
  if (lt)
    s = lt + 1;
  while (is_space(*s) || *s == '"')
    s++;
  s = skip_scheme(s);
  const char *e = s;
  while (*e && *e != '@' && *e != ';' && *e != '>' && *e != '?')
    e++;
  while (e > s && (is_space(e[-1]) || e[-1] == '"'))
    e--;
  *start = s;
  *end = e;
}

/* A country calling code as config holds it: 1..3 digits, no leading 0. */
static bool country_code_ok(const char *cc) {
  size_t n = cc ? strlen(cc) : 0;
  if (n < 1 || n > 3 || cc[0] == '0')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!is_digit(cc[i]))
      return false;
  return true;
}

/*
 * Collect the digits of [s, e) into `digits` (capacity `cap`, NUL
 * terminated), noting a leading '+'. Blanks, '-', '.', '(' and ')' are
 * visual separators; any other character means this is not a number.
 */
static bool collect_digits(const char *s, const char *e, char *digits,
                           size_t cap, bool *plus) {
  size_t n = 0;
  *plus = false;
  for (const char *p = s; p < e; p++) {
    if (is_digit(*p)) {
      if (n + 1 >= cap)
        return false;
      digits[n++] = *p;
    } else if (*p == '+' && n == 0 && !*plus) {
      *plus = true;
    } else if (!is_space(*p) && *p != '-' && *p != '.' && *p != '(' &&
               *p != ')') {
      return false;
    }
  }
  digits[n] = '\0';
  return true;
}

/*
 * Turn the collected digits into country code + national number (no '+')
 * in `e164`. International forms ('+', "00") carry their own country code;
 * national ones take `cc`, without a trunk '0' (except in NANP, which has
 * none), and an 11-digit NANP number already starting with 1 is kept. A
 * national number with no usable `cc` cannot be completed.
 */
static bool to_international(const char *digits, bool plus, const char *cc,
                             char *e164, size_t cap) {
  size_t n = strlen(digits);
  const char *national = digits;
  if (plus || (n > 2 && digits[0] == '0' && digits[1] == '0')) {
    const char *rest = plus ? digits : digits + 2;
    if (strlen(rest) + 1 > cap)
      return false;
    memcpy(e164, rest, strlen(rest) + 1);
    return true;
  }
  if (!country_code_ok(cc))
    return false;
  bool nanp = strcmp(cc, "1") == 0;
  if (nanp && n == 11 && digits[0] == '1') {
    memcpy(e164, digits, n + 1);
    return true;
  }
  if (!nanp && n > 1 && digits[0] == '0')
    national++;
  size_t ccn = strlen(cc), nn = strlen(national);
  if (ccn + nn + 1 > cap)
    return false;
  memcpy(e164, cc, ccn);
  memcpy(e164 + ccn, national, nn + 1);
  return true;
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

  char digits[64], e164[64];
  bool plus;
  if (!collect_digits(s, e, digits, sizeof digits, &plus) ||
      !to_international(digits, plus, default_country_code, e164, sizeof e164))
    return false;
  size_t len = strlen(e164);
  if (len < 8 || len > 15 || e164[0] == '0')
    return false; /* E.164 allows 15 digits; no country code starts 0 */
  out[0] = '+';
  memcpy(out + 1, e164, len + 1);
  return true;
}

/*
 * Mask all but the last 4 characters. When the mask would not fit, its
 * leading stars are dropped so the output still ends in the last 4.
 */
void phone_mask(const char *value, char *out, size_t out_len) {
  if (out_len == 0)
    return;
  size_t n = value ? strlen(value) : 0;
  size_t shown = n > 4 ? 4 : 0;
  size_t len = n < out_len - 1 ? n : out_len - 1;
  if (shown > len)
    shown = 0; /* too little room to show 4 without the mask */
  size_t stars = len - shown;
  memset(out, '*', stars);
  if (shown)
    memcpy(out + stars, value + n - shown, shown);
  out[len] = '\0';
}
