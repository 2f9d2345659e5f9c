/*
 * crm_template: placeholder rendering with escaping by position, secret
 * reference resolution and masking. Pure: no I/O, no logging. Buffers
 * that may hold a value (a security answer, a secret) are wiped whenever
 * they are dropped.
 */
#include "crm_template.h"

#include "json_text.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"

/* Rendering has no cap of its own: its output is bounded by its inputs (a
 * template from the profile and values of fixed size). Every buffer is
 * BUF_WIPE: it may hold a security answer or a secret. */
#define RENDER_MAX ((size_t)-1 / 2)

static bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9') || c == '_';
}

/* Quoting filters: applied to a value before the escaping for its
 * position, for query languages that put it inside a quoted literal. */
typedef enum {
  FILTER_NONE,
  FILTER_SOQL,  /* Salesforce SOQL/SOSL '...': backslash escapes */
  FILTER_ODATA, /* OData / SQL-style '...': a quote is doubled */
  FILTER_UNKNOWN,
} filter_kind;

/* A parsed placeholder "{name}" or "{name|filter}". */
typedef struct {
  size_t len; /* whole placeholder, both braces included; 0 = none */
  const char *name;
  size_t name_len;
  const char *filter; /* NULL when none */
  size_t filter_len;
} placeholder;

/* Parse the placeholder starting at s[0] == '{'. Returns false (ph->len
 * 0) when s does not start one: such text is literal. */
static bool parse_placeholder(const char *s, placeholder *ph) {
  memset(ph, 0, sizeof *ph);
  if (s[0] != '{' || !is_name_start(s[1]))
    return false;
  size_t i = 2;
  while (is_name_char(s[i]))
    i++;
  ph->name = s + 1;
  ph->name_len = i - 1;
  if (s[i] == '|' && is_name_start(s[i + 1])) {
    size_t f = i + 1;
    i += 2;
    while (is_name_char(s[i]))
      i++;
    ph->filter = s + f;
    ph->filter_len = i - f;
  }
  if (s[i] != '}')
    return false;
  ph->len = i + 1;
  return true;
}

static filter_kind filter_of(const placeholder *ph) {
  if (!ph->filter)
    return FILTER_NONE;
  if (ph->filter_len == 4 && memcmp(ph->filter, "soql", 4) == 0)
    return FILTER_SOQL;
  if (ph->filter_len == 5 && memcmp(ph->filter, "odata", 5) == 0)
    return FILTER_ODATA;
  return FILTER_UNKNOWN;
}

/* Percent-encode all but RFC 3986 unreserved characters: safe both as a
 * path segment and as a query component. In a path, a value that is "."
 * or ".." is encoded as %2E, so it can never be a dot segment (no path
 * traversal); '/' is always encoded. */
static void put_percent(buf *b, const char *v, bool in_path) {
  static const char hex[] = "0123456789ABCDEF";
  bool dots = in_path && (strcmp(v, ".") == 0 || strcmp(v, "..") == 0);
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    unsigned char ch = *p;
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
        (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
        ch == '~') {
      if (ch == '.' && dots) {
        buf_add(b, "%2E", 3);
        continue;
      }
      buf_add(b, (const char *)p, 1);
    } else {
      char enc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      buf_add(b, enc, 3);
    }
  }
}

/* JSON-string escaping; false on invalid UTF-8. */
static bool put_json(buf *b, const char *v) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)v;
  size_t n = strlen(v);
  for (size_t i = 0; i < n;) {
    unsigned char ch = p[i];
    if (ch == '"' || ch == '\\') {
      char esc[2] = {'\\', (char)ch};
      buf_add(b, esc, 2);
      i++;
    } else if (ch < 0x20 || ch == 0x7F) {
      char esc[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
      buf_add(b, esc, 6);
      i++;
    } else {
      size_t k = json_text_utf8_len(p + i, n - i);
      if (k == 0)
        return false;
      buf_add(b, (const char *)p + i, k);
      i += k;
    }
  }
  return true;
}

static bool has_control(const char *v) {
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p < 0x20 || *p == 0x7F)
      return true;
  return false;
}

/*
 * Apply a quoting filter to `v`, appending to `out`. SOQL: backslash,
 * quote and double quote get a backslash; newline, CR, tab, backspace and
 * form feed become SOQL's escape sequences (\n \r \t \b \f), so a value
 * can never end its '...' literal. ODATA: a quote is doubled. Any other
 * control character is refused (false), as is an unknown filter.
 */
static bool apply_filter(filter_kind f, const char *v, buf *out) {
  for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
    unsigned char ch = *p;
    if (f == FILTER_SOQL) {
      static const char from[] = "\\'\"\n\r\t\b\f";
      static const char to[] = "\\'\"nrtbf";
      const char *hit = ch ? strchr(from, ch) : NULL;
      if (hit) {
        char esc[2] = {'\\', to[hit - from]};
        buf_add(out, esc, 2);
        continue;
      }
    } else if (f == FILTER_ODATA) {
      if (ch == '\'') {
        buf_add(out, "''", 2);
        continue;
      }
    } else {
      return false;
    }
    if (ch < 0x20 || ch == 0x7F)
      return false;
    buf_add(out, (const char *)p, 1);
  }
  return buf_state(out) == BUF_OK;
}

static const crm_template_var *find_var(const crm_template_var *vars, size_t n,
                                        const char *name, size_t name_len) {
  for (size_t i = 0; i < n; i++)
    if (vars[i].name && strlen(vars[i].name) == name_len &&
        memcmp(vars[i].name, name, name_len) == 0)
      return &vars[i];
  return NULL;
}

char *crm_template_render(const char *tmpl, crm_template_target target,
                          const crm_template_var *vars, size_t var_count,
                          size_t *len_out) {
  buf b, filtered;
  bool in_query = false, ok = true;
  if (!tmpl)
    return NULL;
  buf_init(&b, RENDER_MAX, BUF_WIPE);
  buf_init(&filtered, RENDER_MAX, BUF_WIPE);
  for (const char *s = tmpl; *s && ok && buf_state(&b) == BUF_OK;) {
    placeholder ph;
    if (!parse_placeholder(s, &ph)) {
      if (*s == '?')
        in_query = true;
      buf_add(&b, s, 1);
      s++;
      continue;
    }
    const crm_template_var *v = find_var(vars, var_count, ph.name, ph.name_len);
    s += ph.len;
    if (!v || !v->value) {
      ok = false;
      continue;
    }
    const char *value = v->value;
    filter_kind f = filter_of(&ph);
    if (f != FILTER_NONE) {
      ok = apply_filter(f, v->value, &filtered);
      value = buf_str(&filtered);
    }
    if (!ok) {
      /* refused by the filter, or out of memory */
    } else if (v->raw) {
      buf_adds(&b, value);
    } else if (target == CRM_TPL_URL) {
      put_percent(&b, value, !in_query);
    } else if (target == CRM_TPL_BODY) {
      ok = put_json(&b, value);
    } else {
      ok = !has_control(value);
      if (ok)
        buf_adds(&b, value);
    }
    buf_free(&filtered);
  }
  buf_free(&filtered);
  if (!ok) {
    buf_free(&b);
    return NULL;
  }
  /* NULL when the buffer failed; an empty template renders as "". */
  return buf_take(&b, len_out, true);
}

static bool quoted_before(const char *tmpl, const char *at) {
  if (at > tmpl && at[-1] == '\'')
    return true;
  return at - tmpl >= 3 && at[-3] == '%' && at[-2] == '2' && at[-1] == '7';
}

bool crm_template_check(const char *tmpl, const char *const *allowed, size_t n,
                        char *err, size_t err_len) {
  for (const char *s = tmpl; *s;) {
    placeholder ph;
    if (!parse_placeholder(s, &ph)) {
      s++;
      continue;
    }
    int shown = (int)(ph.len - 2 > 40 ? 40 : ph.len - 2);
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
      known = strlen(allowed[i]) == ph.name_len &&
              memcmp(allowed[i], ph.name, ph.name_len) == 0;
    if (!known) {
      snprintf(err, err_len, "unknown placeholder {%.*s}", shown, s + 1);
      return false;
    }
    filter_kind f = filter_of(&ph);
    if (f == FILTER_UNKNOWN) {
      snprintf(err, err_len, "unknown filter in {%.*s} (known: |soql, |odata)",
               shown, s + 1);
      return false;
    }
    /* A value inside a quoted literal must be quoted for that language:
     * percent- or JSON-escaping alone lets a ' in the value end the
     * literal once the CRM has decoded the request. */
    if (f == FILTER_NONE && quoted_before(tmpl, s)) {
      snprintf(err, err_len,
               "{%.*s} is inside a '...' literal: write {%.*s|soql} (or "
               "|odata) so a quote in the value cannot end it",
               shown, s + 1, shown, s + 1);
      return false;
    }
    s += ph.len;
  }
  return true;
}

bool crm_template_resolve_secrets(const char *in, char *out, size_t out_len,
                                  crm_secret_fn fn, void *user,
                                  bool *had_secret, char *err, size_t err_len) {
  size_t o = 0;
  if (had_secret)
    *had_secret = false;
  if (out_len == 0)
    return false;
  for (const char *s = in; *s;) {
    bool env = strncmp(s, "${env:", 6) == 0;
    bool file = strncmp(s, "${file:", 7) == 0;
    if (!env && !file) {
      if (o + 1 >= out_len)
        goto too_long;
      out[o++] = *s++;
      continue;
    }
    const char *name = s + (env ? 6 : 7);
    const char *end = strchr(name, '}');
    char ref[512], secret[4096];
    if (!end || end == name || (size_t)(end - name) >= sizeof ref) {
      snprintf(err, err_len, "a ${%s:...} reference is not closed or empty",
               env ? "env" : "file");
      goto failed;
    }
    memcpy(ref, name, (size_t)(end - name));
    ref[end - name] = '\0';
    if (!fn || !fn(user, env ? "env" : "file", ref, secret, sizeof secret)) {
      explicit_bzero(secret, sizeof secret);
      snprintf(err, err_len, "secret ${%s:%.200s} is not available",
               env ? "env" : "file", ref);
      goto failed;
    }
    size_t n = strnlen(secret, sizeof secret);
    bool bad = n == sizeof secret || has_control(secret);
    /* A secret that does not fit is an error, never silently dropped. */
    bool fits = o + n + 1 <= out_len;
    if (!bad && fits) {
      memcpy(out + o, secret, n);
      o += n;
    }
    explicit_bzero(secret, sizeof secret);
    if (bad) {
      snprintf(err, err_len,
               "secret ${%s:%.200s} is too long or holds control characters",
               env ? "env" : "file", ref);
      goto failed;
    }
    if (!fits)
      goto too_long;
    if (had_secret)
      *had_secret = true;
    s = end + 1;
  }
  out[o] = '\0';
  return true;
too_long:
  snprintf(err, err_len, "too long (at most %zu bytes)", out_len - 1);
failed:
  explicit_bzero(out, out_len);
  return false;
}

void crm_template_mask(const char *in, const char *const *secrets, size_t n,
                       char *out, size_t out_len) {
  size_t o = 0;
  if (out_len == 0)
    return;
  for (const char *s = in; *s && o + 1 < out_len;) {
    size_t hit = 0;
    for (size_t i = 0; i < n && !hit; i++) {
      size_t k = secrets[i] ? strlen(secrets[i]) : 0;
      if (k > 0 && strncmp(s, secrets[i], k) == 0)
        hit = k;
    }
    if (hit) {
      for (const char *m = "***"; *m && o + 1 < out_len; m++)
        out[o++] = *m;
      s += hit;
    } else {
      out[o++] = *s++;
    }
  }
  out[o] = '\0';
}
