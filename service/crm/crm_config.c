/*
 * crm_config: "crm" connector keys -> crm_profile. Pure apart from the
 * caller's secret resolver; never logs; error messages never hold a
 * secret value.
 */
#include "crm_config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_error.h"

const char *const crm_config_keys[] = {
    "operations", "auth",          "tls",     "proxy",
    "budgetMs",   "lookupRetries", "breaker", NULL};

typedef struct {
  crm_secret_fn fn;
  void *user;
  crm_profile *p;
} ctx;

/* The resolver, remembering every value it hands out for masking. */
static bool record(void *user, const char *kind, const char *name, char *out,
                   size_t out_len) {
  ctx *c = user;
  if (!c->fn || !c->fn(c->user, kind, name, out, out_len))
    return false;
  crm_profile *p = c->p;
  if (p && p->secret_count < CRM_MASK_MAX && out[0]) {
    snprintf(p->secrets[p->secret_count], sizeof p->secrets[0], "%s", out);
    p->secret_count++;
  }
  return true;
}

static bool known_keys(const json_t *obj, const char *path,
                       const char *const *keys, char *err, size_t err_len) {
  if (!json_is_object(obj))
    return config_error(err, err_len, "%s: must be an object", path);
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)obj, k, v) {
    bool ok = false;
    for (size_t i = 0; keys[i] && !ok; i++)
      ok = strcmp(keys[i], k) == 0;
    if (!ok)
      return config_error(err, err_len, "%s.%.60s: unknown key", path, k);
  }
  return true;
}

/* The JSON string `v` (named `where` in errors) into out, secrets
 * resolved. */
static bool resolve_str(ctx *c, const json_t *v, const char *where, char *out,
                        size_t out_len, char *err, size_t err_len) {
  if (!json_is_string(v) ||
      memchr(json_string_value(v), '\0', json_string_length(v)))
    return config_error(err, err_len, "%s: must be a string", where);
  char why[160];
  if (!crm_template_resolve_secrets(json_string_value(v), out, out_len, record,
                                    c, NULL, why, sizeof why))
    return config_error(err, err_len, "%s: %s", where, why);
  return true;
}

/* A string key (absent: out untouched), secrets resolved. */
static bool get_str(ctx *c, const json_t *obj, const char *key,
                    const char *path, char *out, size_t out_len, char *err,
                    size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  char where[160];
  snprintf(where, sizeof where, "%s.%s", path, key);
  return resolve_str(c, v, where, out, out_len, err, err_len);
}

static bool get_long(const json_t *obj, const char *key, const char *path,
                     long min, long max, long *out, char *err, size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_integer(v) || json_integer_value(v) < min ||
      json_integer_value(v) > max)
    return config_error(err, err_len, "%s.%s: must be an integer %ld..%ld",
                        path, key, min, max);
  *out = (long)json_integer_value(v);
  return true;
}

static bool get_statuses(const json_t *obj, const char *key, const char *path,
                         long *out, size_t *count, char *err, size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_array(v) || json_array_size(v) > CRM_STATUS_MAX)
    return config_error(err, err_len,
                        "%s.%s: must be an array of at most %d statuses", path,
                        key, CRM_STATUS_MAX);
  size_t i;
  const json_t *s;
  json_array_foreach(v, i, s) {
    if (!json_is_integer(s) || json_integer_value(s) < 100 ||
        json_integer_value(s) > 599)
      return config_error(err, err_len,
                          "%s.%s[%zu]: must be an HTTP status 100..599", path,
                          key, i);
    out[i] = (long)json_integer_value(s);
  }
  *count = json_array_size(v);
  return true;
}

static bool header_line_ok(const char *h) {
  const char *colon = strchr(h, ':');
  if (!colon || colon == h)
    return false;
  for (const char *p = h; p < colon; p++)
    if (!strchr("!#$%&'*+-.^_`|~", *p) &&
        !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9')))
      return false;
  for (const unsigned char *p = (const unsigned char *)h; *p; p++)
    if (*p < 0x20 && *p != '\t')
      return false;
  return true;
}

static bool url_template_ok(const char *u) {
  if (strncmp(u, "{baseUrl}", 9) != 0 && strncmp(u, "http://", 7) != 0 &&
      strncmp(u, "https://", 8) != 0)
    return false;
  for (const unsigned char *p = (const unsigned char *)u; *p; p++)
    if (*p <= 0x20 || *p == 0x7F || *p == '#')
      return false;
  return true;
}

static bool load_response(const json_t *r, const char *path, crm_mapping *m,
                          bool verify, char *err, size_t err_len) {
  static const char *const keys[] = {"list",      "id",         "name",
                                     "givenName", "familyName", "verified",
                                     "locked",    "phone",      NULL};
  if (!known_keys(r, path, keys, err, err_len))
    return false;
  struct {
    const char *key;
    char *field;
  } ptrs[] = {{"list", m->list},
              {"id", m->id},
              {"name", m->name},
              {"givenName", m->given_name},
              {"familyName", m->family_name},
              {"verified", m->verified},
              {"locked", m->locked},
              {"phone", m->phone}};
  bool named =
      json_object_get(r, "givenName") || json_object_get(r, "familyName");
  if (named && !json_object_get(r, "name"))
    m->name[0] = '\0'; /* given + family replace the default name */
  for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) {
    const json_t *v = json_object_get(r, ptrs[i].key);
    if (!v)
      continue;
    if (!json_is_string(v) || json_string_length(v) > CRM_POINTER_MAX ||
        !crm_pointer_valid(json_string_value(v)))
      return config_error(err, err_len,
                          "%s.%s: must be a JSON Pointer (\"\" or \"/a/0/b\", "
                          "at most %d characters)",
                          path, ptrs[i].key, CRM_POINTER_MAX);
    memcpy(ptrs[i].field, json_string_value(v), json_string_length(v) + 1);
  }
  (void)verify;
  return true;
}

/* The template variables an operation's url, body and headers may use. */
static const char *const lookup_vars[] = {"baseUrl", "value"};
static const char *const verify_vars[] = {"baseUrl", "customerId", "answer"};

typedef struct {
  const char *const *names;
  size_t count;
} op_vars;

/* The security answer may only go in the verify body: a URL or header
 * lands in CRM, proxy and load-balancer access logs. */
#define ANSWER_ONLY_IN_BODY                                                    \
  "{answer} may only be used in the body (a URL or header reaches CRM, "       \
  "proxy and load-balancer access logs)"

static bool has_answer(const char *tmpl) {
  return strstr(tmpl, "{answer") != NULL;
}

static op_vars vars_for(crm_op op) {
  return op == CRM_OP_VERIFY ? (op_vars){verify_vars, 3}
                             : (op_vars){lookup_vars, 2};
}

/* method, url and body of operation `o` (at `path`) into *d: a known
 * method, no body on GET, a URL template only the operation's variables
 * fill. */
static bool load_op_request(ctx *c, const json_t *o, const char *path,
                            crm_operation *d, op_vars vars, char *err,
                            size_t err_len) {
  char why[128];
  if (!get_str(c, o, "method", path, d->method, sizeof d->method, err,
               err_len) ||
      !get_str(c, o, "url", path, d->url, sizeof d->url, err, err_len) ||
      !get_str(c, o, "body", path, d->body, sizeof d->body, err, err_len))
    return false;
  if (strcmp(d->method, "GET") != 0 && strcmp(d->method, "POST") != 0 &&
      strcmp(d->method, "PUT") != 0 && strcmp(d->method, "PATCH") != 0)
    return config_error(err, err_len,
                        "%s.method: must be GET, POST, PUT or PATCH", path);
  if (strcmp(d->method, "GET") == 0 && d->body[0])
    return config_error(err, err_len, "%s.body: a GET sends no body (use POST)",
                        path);
  if (!url_template_ok(d->url))
    return config_error(err, err_len,
                        "%s.url: must start with {baseUrl}, http:// or "
                        "https:// and hold no spaces or '#'",
                        path);
  if (vars.names == verify_vars && has_answer(d->url))
    return config_error(err, err_len, "%s.url: " ANSWER_ONLY_IN_BODY, path);
  if (!crm_template_check(d->url, vars.names, vars.count, why, sizeof why))
    return config_error(err, err_len, "%s.url: %s", path, why);
  if (!crm_template_check(d->body, vars.names, vars.count, why, sizeof why))
    return config_error(err, err_len, "%s.body: %s", path, why);
  return true;
}

/* The operation's "headers": "Name: value" lines, secrets resolved. */
static bool load_op_headers(ctx *c, const json_t *h, const char *path,
                            crm_operation *d, op_vars vars, char *err,
                            size_t err_len) {
  if (!json_is_array(h) || json_array_size(h) > CRM_OP_HEADERS_MAX)
    return config_error(err, err_len,
                        "%s.headers: must be an array of at most %d strings",
                        path, CRM_OP_HEADERS_MAX);
  d->header_count = 0;
  for (size_t i = 0; i < json_array_size(h); i++) {
    char where[128], why[128];
    snprintf(where, sizeof where, "%s.headers[%zu]", path, i);
    if (!resolve_str(c, json_array_get(h, i), where, d->headers[i],
                     sizeof d->headers[i], err, err_len))
      return false;
    if (!header_line_ok(d->headers[i]))
      return config_error(err, err_len,
                          "%s: must be \"Name: value\" without line breaks",
                          where);
    if (vars.names == verify_vars && has_answer(d->headers[i]))
      return config_error(err, err_len, "%s: " ANSWER_ONLY_IN_BODY, where);
    if (!crm_template_check(d->headers[i], vars.names, vars.count, why,
                            sizeof why))
      return config_error(err, err_len, "%s: %s", where, why);
    d->header_count = i + 1;
  }
  return true;
}

/* The operation's "status" lists (at `sub`): noMatch for lookups only,
 * wrongAnswer for verify only, at least one ok status, and no status in
 * two lists. */
static bool load_op_status(const json_t *s, const char *sub, crm_mapping *m,
                           bool verify, char *err, size_t err_len) {
  static const char *const skeys[] = {"ok", "noMatch", "wrongAnswer", NULL};
  if (!known_keys(s, sub, skeys, err, err_len) ||
      !get_statuses(s, "ok", sub, m->ok_status, &m->ok_count, err, err_len) ||
      !get_statuses(s, "noMatch", sub, m->no_match_status, &m->no_match_count,
                    err, err_len) ||
      !get_statuses(s, "wrongAnswer", sub, m->wrong_answer_status,
                    &m->wrong_answer_count, err, err_len))
    return false;
  if ((verify && m->no_match_count) || (!verify && m->wrong_answer_count))
    return config_error(err, err_len, "%s: %s applies to %s only", sub,
                        verify ? "noMatch" : "wrongAnswer",
                        verify ? "lookups" : "verify");
  if (m->ok_count == 0)
    return config_error(err, err_len,
                        "%s.ok: must hold at least one status (else every "
                        "answer is a CRM error)",
                        sub);
  /* One status, one meaning. */
  for (size_t i = 0; i < m->ok_count; i++) {
    long st = m->ok_status[i];
    for (size_t k = 0; k < m->no_match_count; k++)
      if (m->no_match_status[k] == st)
        return config_error(err, err_len, "%s: %ld is in both ok and noMatch",
                            sub, st);
    for (size_t k = 0; k < m->wrong_answer_count; k++)
      if (m->wrong_answer_status[k] == st)
        return config_error(err, err_len,
                            "%s: %ld is in both ok and wrongAnswer", sub, st);
  }
  return true;
}

/* crm.operations.<op>: request, headers, response mapping, statuses, in
 * that order (the first bad key stops the load). */
static bool load_op(ctx *c, const json_t *o, crm_op op, char *err,
                    size_t err_len) {
  static const char *const keys[] = {"method",   "url",    "headers", "body",
                                     "response", "status", NULL};
  bool verify = op == CRM_OP_VERIFY;
  op_vars vars = vars_for(op);
  char path[96], sub[128];
  snprintf(path, sizeof path, "crm.operations.%s", crm_op_name(op));
  crm_operation *d = &c->p->ops[op];
  if (!known_keys(o, path, keys, err, err_len) ||
      !load_op_request(c, o, path, d, vars, err, err_len))
    return false;
  const json_t *h = json_object_get(o, "headers");
  if (h && !load_op_headers(c, h, path, d, vars, err, err_len))
    return false;
  const json_t *r = json_object_get(o, "response");
  snprintf(sub, sizeof sub, "%s.response", path);
  if (r && !load_response(r, sub, &d->map, verify, err, err_len))
    return false;
  const json_t *s = json_object_get(o, "status");
  snprintf(sub, sizeof sub, "%s.status", path);
  return !s || load_op_status(s, sub, &d->map, verify, err, err_len);
}

/* An auth object at `path` into *d; base_url: its tokenUrl may start
 * with {baseUrl} (the CRM's). */
static bool load_auth(ctx *c, const json_t *a, const char *path, bool base_url,
                      crm_auth *d, char *err, size_t err_len) {
  static const char *const keys[] = {
      "type",     "token",        "username", "password",        "tokenUrl",
      "clientId", "clientSecret", "scope",    "refreshMarginMs", NULL};
  char type[16] = "none";
  if (!known_keys(a, path, keys, err, err_len) ||
      !get_str(c, a, "type", path, type, sizeof type, err, err_len) ||
      !get_str(c, a, "token", path, d->token, sizeof d->token, err, err_len) ||
      !get_str(c, a, "username", path, d->username, sizeof d->username, err,
               err_len) ||
      !get_str(c, a, "password", path, d->password, sizeof d->password, err,
               err_len) ||
      !get_str(c, a, "tokenUrl", path, d->token_url, sizeof d->token_url, err,
               err_len) ||
      !get_str(c, a, "clientId", path, d->client_id, sizeof d->client_id, err,
               err_len) ||
      !get_str(c, a, "clientSecret", path, d->client_secret,
               sizeof d->client_secret, err, err_len) ||
      !get_str(c, a, "scope", path, d->scope, sizeof d->scope, err, err_len) ||
      !get_long(a, "refreshMarginMs", path, 0, 600000, &d->refresh_margin_ms,
                err, err_len))
    return false;
  if (strcmp(type, "none") == 0) {
    d->kind = CRM_AUTH_NONE;
  } else if (strcmp(type, "bearer") == 0) {
    if (!d->token[0])
      return config_error(err, err_len, "%s.token: required for bearer auth",
                          path);
    d->kind = CRM_AUTH_BEARER;
  } else if (strcmp(type, "basic") == 0) {
    if (!d->username[0] || strchr(d->username, ':'))
      return config_error(err, err_len,
                          "%s.username: required for basic auth, without ':'",
                          path);
    d->kind = CRM_AUTH_BASIC;
  } else if (strcmp(type, "oauth2") == 0) {
    /* The CRM's token URL is rendered by crm_client against the running
     * base URL (so AUTHFLOW_CRM_URL moves it too): only {baseUrl} may
     * appear, and only there. */
    static const char *const token_vars[] = {"baseUrl"};
    char why[128];
    if (!url_template_ok(d->token_url) ||
        (!base_url && strncmp(d->token_url, "{baseUrl}", 9) == 0) ||
        !crm_template_check(d->token_url, token_vars, base_url ? 1 : 0, why,
                            sizeof why))
      return config_error(err, err_len,
                          base_url
                              ? "%s.tokenUrl: required for oauth2: an http(s) "
                                "URL or {baseUrl}/..., no spaces, '#' or other "
                                "placeholders"
                              : "%s.tokenUrl: required for oauth2: an http(s) "
                                "URL, no spaces, '#' or placeholders",
                          path);
    if (!d->client_id[0])
      return config_error(err, err_len, "%s.clientId: required for oauth2",
                          path);
    if (!d->client_secret[0])
      return config_error(err, err_len, "%s.clientSecret: required for oauth2",
                          path);
    d->kind = CRM_AUTH_OAUTH2;
  } else {
    return config_error(err, err_len,
                        "%s.type: must be none, bearer, basic or oauth2", path);
  }
  /* Auth secrets are masked in --check-crm output whether or not they came
   * from ${...}. */
  const char *const sec[] = {d->token, d->password, d->client_secret};
  for (size_t i = 0; c->p && i < 3; i++)
    if (sec[i][0] && c->p->secret_count < CRM_MASK_MAX)
      snprintf(c->p->secrets[c->p->secret_count++], sizeof c->p->secrets[0],
               "%s", sec[i]);
  return true;
}

bool crm_config_auth(const json_t *a, const char *path, crm_auth *d,
                     crm_secret_fn fn, void *user, char *err, size_t err_len) {
  ctx c = {fn, user, NULL};
  return load_auth(&c, a, path, false, d, err, err_len);
}

static bool load_rest(ctx *c, const json_t *crm, char *err, size_t err_len) {
  crm_profile *p = c->p;
  const json_t *tls = json_object_get(crm, "tls");
  if (tls) {
    static const char *const keys[] = {"verify", "caFile", "clientCert",
                                       "clientKey", NULL};
    const json_t *v = json_object_get(tls, "verify");
    if (!known_keys(tls, "crm.tls", keys, err, err_len) ||
        !get_str(c, tls, "caFile", "crm.tls", p->ca_file, sizeof p->ca_file,
                 err, err_len) ||
        !get_str(c, tls, "clientCert", "crm.tls", p->client_cert,
                 sizeof p->client_cert, err, err_len) ||
        !get_str(c, tls, "clientKey", "crm.tls", p->client_key,
                 sizeof p->client_key, err, err_len))
      return false;
    if (v && !json_is_boolean(v))
      return config_error(err, err_len,
                          "crm.tls.verify: must be true or false");
    if (v)
      p->tls_verify = json_is_true(v);
    /* A key alone is a mistake (a cert file may hold its key, so the
     * reverse is fine). */
    if (p->client_key[0] && !p->client_cert[0])
      return config_error(err, err_len,
                          "crm.tls.clientKey: needs crm.tls.clientCert");
  }
  if (!get_str(c, crm, "proxy", "crm", p->proxy, sizeof p->proxy, err, err_len))
    return false;
  if (p->proxy[0] && ((strncmp(p->proxy, "http://", 7) != 0 &&
                       strncmp(p->proxy, "https://", 8) != 0) ||
                      !url_template_ok(p->proxy) || strchr(p->proxy, '{')))
    return config_error(err, err_len,
                        "crm.proxy: must be an http:// or https:// URL without "
                        "spaces");
  long retries = p->lookup_retries;
  const json_t *timeout = json_object_get(crm, "timeoutMs");
  long timeout_ms = json_is_integer(timeout) ? (long)json_integer_value(timeout)
                                             : CRM_CONFIG_DEFAULT_TIMEOUT_MS;
  if (!json_object_get(crm, "budgetMs") && p->budget_ms < timeout_ms)
    p->budget_ms = timeout_ms; /* the default budget never cuts timeoutMs */
  if (!get_long(crm, "budgetMs", "crm", 200, 60000, &p->budget_ms, err,
                err_len) ||
      !get_long(crm, "lookupRetries", "crm", 0, 2, &retries, err, err_len))
    return false;
  /* The budget bounds the whole step: one below the per-request timeout
   * would silently cut every request short. */
  if (p->budget_ms < timeout_ms)
    return config_error(err, err_len,
                        "crm.budgetMs: must be at least crm.timeoutMs (%ld)",
                        timeout_ms);
  p->lookup_retries = (int)retries;
  const json_t *b = json_object_get(crm, "breaker");
  if (b) {
    static const char *const keys[] = {"failures", "openMs", NULL};
    long failures = p->breaker_failures;
    if (!known_keys(b, "crm.breaker", keys, err, err_len) ||
        !get_long(b, "failures", "crm.breaker", 0, 1000, &failures, err,
                  err_len) ||
        !get_long(b, "openMs", "crm.breaker", 100, 600000, &p->breaker_open_ms,
                  err, err_len))
      return false;
    p->breaker_failures = (int)failures;
  }
  return true;
}

/* crm.headers are read by config.c as literal text: a ${env:}/${file:}
 * reference there would be sent to the CRM as written. Secret headers
 * belong in crm.auth or an operation's headers, where they are resolved. */
static bool plain_base_headers(const json_t *crm, char *err, size_t err_len) {
  const json_t *h = json_object_get(crm, "headers");
  for (size_t i = 0; json_is_array(h) && i < json_array_size(h); i++) {
    const char *line = json_string_value(json_array_get(h, i));
    if (line && (strstr(line, "${env:") || strstr(line, "${file:")))
      return config_error(
          err, err_len,
          "crm.headers[%zu]: ${env:}/${file:} are not resolved here; "
          "put the header in crm.auth or an operation's headers",
          i);
  }
  return true;
}

static bool is_auth_header(const char *line) {
  return strncasecmp(line, "Authorization:", 14) == 0;
}

/* With crm.auth set, authflow writes the Authorization header itself: a
 * second one in crm.headers or an operation's headers would be sent too,
 * and which one the CRM reads is anyone's guess. */
static bool no_auth_header(const json_t *crm, const crm_profile *p, char *err,
                           size_t err_len) {
  const json_t *h = json_object_get(crm, "headers");
  for (size_t i = 0; json_is_array(h) && i < json_array_size(h); i++) {
    const char *line = json_string_value(json_array_get(h, i));
    if (line && is_auth_header(line))
      return config_error(err, err_len,
                          "crm.headers[%zu]: Authorization is set by crm.auth",
                          i);
  }
  for (int op = 0; op < CRM_OP_COUNT; op++)
    for (size_t i = 0; i < p->ops[op].header_count; i++)
      if (is_auth_header(p->ops[op].headers[i]))
        return config_error(
            err, err_len,
            "crm.operations.%s.headers[%zu]: Authorization is set by "
            "crm.auth",
            crm_op_name((crm_op)op), i);
  return true;
}

bool crm_config_load(const json_t *crm, crm_profile *p, crm_secret_fn fn,
                     void *user, char *err, size_t err_len) {
  ctx c = {fn, user, p};
  bool ok = true;
  const json_t *ops = json_object_get(crm, "operations");
  if (ops) {
    static const char *const names[] = {
        "lookupPhone",          "lookupCustomerId", "lookupAccountNumber",
        "lookupTrackingNumber", "verify",           NULL};
    ok = known_keys(ops, "crm.operations", names, err, err_len);
    for (int op = 0; ok && op < CRM_OP_COUNT; op++) {
      const json_t *o = json_object_get(ops, crm_op_name((crm_op)op));
      if (o)
        ok = load_op(&c, o, (crm_op)op, err, err_len);
    }
  }
  const json_t *auth = json_object_get(crm, "auth");
  if (ok && auth)
    ok = load_auth(&c, auth, "crm.auth", true, &p->auth, err, err_len);
  if (ok)
    ok = load_rest(&c, crm, err, err_len);
  if (ok)
    ok = plain_base_headers(crm, err, err_len);
  if (ok && p->auth.kind != CRM_AUTH_NONE)
    ok = no_auth_header(crm, p, err, err_len);
  if (ok && p->auth.kind == CRM_AUTH_OAUTH2) {
    /* 401 is how an OAuth2 CRM says "token expired": it cannot also mean a
     * wrong answer. */
    const crm_mapping *m = &p->ops[CRM_OP_VERIFY].map;
    for (size_t i = 0; i < m->wrong_answer_count; i++)
      if (m->wrong_answer_status[i] == 401)
        ok = config_error(
            err, err_len,
            "crm.operations.verify.status.wrongAnswer: 401 cannot mean "
            "a wrong answer with oauth2 auth (it means token expired)");
  }
  if (!ok)
    crm_profile_wipe(p);
  return ok;
}
