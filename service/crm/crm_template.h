/*
 * crm_template: request templates and secret references for the CRM
 * connector (pure: no I/O, no logging, no globals; fuzzed).
 *
 * A template is literal text with placeholders "{name}" (name: a letter,
 * then letters, digits or '_'). Any other '{' is literal, so JSON bodies
 * such as {"answer":"{answer}"} need no escaping. Each value is escaped for
 * where it lands:
 *   CRM_TPL_URL    before the template's first literal '?': path-segment
 *                  escaping; after it: query-component escaping. Both
 *                  percent-encode everything but RFC 3986 unreserved
 *                  characters, so '/', '?', '&', '=', '+', '#' and CR/LF
 *                  never reach the URL unencoded; in the path a value
 *                  "." or ".." is encoded as %2E (no dot segments).
 *   CRM_TPL_BODY   JSON-string escaping (the template supplies the quotes);
 *                  invalid UTF-8 is refused.
 *   CRM_TPL_HEADER the value verbatim; control characters are refused.
 * A variable marked `raw` (trusted configuration such as {baseUrl}) is
 * inserted verbatim anywhere.
 *
 * A placeholder may name a quoting filter, "{name|soql}" or "{name|odata}",
 * for a value that lands inside a query language's '...' literal (a SOQL
 * WHERE clause in a URL, say). The filter runs first, then the escaping
 * for the position: "{value|soql}" with O'Brien in a URL query renders
 * O%5C%27Brien, which the CRM decodes to O\'Brien, still inside the
 * literal. soql: \ ' " get a backslash, newline/CR/tab/BS/FF become
 * \n \r \t \b \f; odata: ' is doubled. Other control characters are
 * refused. Percent- or JSON-escaping alone would not do: the CRM decodes
 * them before it parses the query.
 *
 * Secret references "${env:NAME}" and "${file:/path}" are replaced by
 * crm_template_resolve_secrets() through a caller-supplied resolver (the
 * caller does the I/O), once, at configuration load.
 */
#ifndef AUTHFLOW_CRM_TEMPLATE_H
#define AUTHFLOW_CRM_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  CRM_TPL_URL,
  CRM_TPL_BODY,
  CRM_TPL_HEADER,
} crm_template_target;

typedef struct {
  const char *name;  /* placeholder name without braces */
  const char *value; /* NUL-terminated; NULL means "not available" */
  bool raw;          /* trusted: inserted without escaping */
} crm_template_var;

/*
 * Render `tmpl` for `target`. Returns a heap string the caller owns (and,
 * when a value was secret, must wipe before free), with its length in
 * *len_out; or NULL when a placeholder names no variable (or one whose
 * value is NULL), a value cannot be escaped for its place, or memory runs
 * out. Intermediate buffers holding values are wiped.
 */
char *crm_template_render(const char *tmpl, crm_template_target target,
                          const crm_template_var *vars, size_t var_count,
                          size_t *len_out);

/*
 * Check a template at load: every placeholder must be one of `allowed`
 * (count `n`), name a known filter if any, and use a quoting filter when
 * it directly follows a ' (or %27), i.e. sits in a quoted literal. On
 * failure writes the reason into err and returns false.
 */
bool crm_template_check(const char *tmpl, const char *const *allowed, size_t n,
                        char *err, size_t err_len);

/*
 * Resolver for secret references: `kind` is "env" or "file", `name` the
 * variable name or path. Writes the secret (NUL-terminated) into out and
 * returns true, or returns false when it is missing or does not fit.
 */
typedef bool (*crm_secret_fn)(void *user, const char *kind, const char *name,
                              char *out, size_t out_len);

/*
 * Copy `in` to out (out_len bytes) with every ${env:NAME} and ${file:PATH}
 * replaced through `fn`. *had_secret (may be NULL) tells whether any was.
 * Secrets holding control characters are refused. Returns false with the
 * reason in err (never the secret). `fn` may be NULL: then any reference
 * is an error. out is wiped on failure.
 */
bool crm_template_resolve_secrets(const char *in, char *out, size_t out_len,
                                  crm_secret_fn fn, void *user,
                                  bool *had_secret, char *err, size_t err_len);

/*
 * Copy `in` to out with every occurrence of each non-empty secret replaced
 * by "***" (for --check-crm output). Truncates to out_len.
 */
void crm_template_mask(const char *in, const char *const *secrets, size_t n,
                       char *out, size_t out_len);

#endif
