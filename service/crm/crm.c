/*
 * crm: CRM requests built from a profile's templates and answers mapped by
 * its JSON Pointers; the default profile is the reference API of SPEC §4.
 * Pure: no I/O, no logging. The only heap copies of a security answer are
 * the request body (and any header rendered with {answer}), which
 * crm_http_request_free() wipes.
 */
#include "crm.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_template.h"

const char *crm_lookup_param(flow_identifier_type type) {
  switch (type) {
  case FLOW_ID_CUSTOMER_ID:
    return "customerId";
  case FLOW_ID_ACCOUNT_NUMBER:
    return "accountNumber";
  case FLOW_ID_TRACKING_NUMBER:
    return "trackingNumber";
  case FLOW_ID_PHONE:
    return "phone";
  }
  return "customerId";
}

static const char *const op_names[CRM_OP_COUNT] = {
    "lookupPhone", "lookupCustomerId", "lookupAccountNumber",
    "lookupTrackingNumber", "verify"};

const char *crm_op_name(crm_op op) {
  return op < CRM_OP_COUNT ? op_names[op] : "verify";
}

crm_op crm_op_for(const flow_crm_request *req) {
  if (req->kind == FLOW_CRM_VERIFY)
    return CRM_OP_VERIFY;
  switch (req->lookup_type) {
  case FLOW_ID_PHONE:
    return CRM_OP_LOOKUP_PHONE;
  case FLOW_ID_ACCOUNT_NUMBER:
    return CRM_OP_LOOKUP_ACCOUNT_NUMBER;
  case FLOW_ID_TRACKING_NUMBER:
    return CRM_OP_LOOKUP_TRACKING_NUMBER;
  case FLOW_ID_CUSTOMER_ID:
    break;
  }
  return CRM_OP_LOOKUP_CUSTOMER_ID;
}

void crm_profile_wipe(crm_profile *p) {
  explicit_bzero(p, sizeof *p);
}

void crm_profile_default(crm_profile *p) {
  static const flow_identifier_type types[] = {
      FLOW_ID_PHONE, FLOW_ID_CUSTOMER_ID, FLOW_ID_ACCOUNT_NUMBER,
      FLOW_ID_TRACKING_NUMBER};
  crm_profile_wipe(p);
  for (size_t i = 0; i < 4; i++) {
    crm_operation *op = &p->ops[i];
    snprintf(op->method, sizeof op->method, "GET");
    snprintf(op->url, sizeof op->url, "{baseUrl}/customers?%s={value}",
             crm_lookup_param(types[i]));
    crm_map_default(&op->map);
  }
  crm_operation *v = &p->ops[CRM_OP_VERIFY];
  snprintf(v->method, sizeof v->method, "POST");
  snprintf(v->url, sizeof v->url, "{baseUrl}/customers/{customerId}/verify");
  snprintf(v->body, sizeof v->body, "{\"answer\":\"{answer}\"}");
  crm_map_default(&v->map);
  p->auth.refresh_margin_ms = 30000;
  p->tls_verify = true;
  p->budget_ms = 4000;
  p->lookup_retries = 1;
  p->breaker_failures = 5;
  p->breaker_open_ms = 5000;
}

/* The default profile for crm_build_request()/crm_parse_response(): built
 * once, read-only afterwards. */
static crm_profile default_profile;
static pthread_once_t default_once_flag = PTHREAD_ONCE_INIT;

static void default_once(void) {
  crm_profile_default(&default_profile);
}

const crm_profile *crm_profile_reference(void) {
  pthread_once(&default_once_flag, default_once);
  return &default_profile;
}

/* Length of a NUL-terminated field of a fixed-size array, or 0 when the
 * array holds no terminator (an unusable value, never read past). */
static size_t field_len(const char *field, size_t size) {
  size_t n = strnlen(field, size);
  return n < size ? n : 0;
}

static void wipe_free(char *s, size_t n) {
  if (s)
    explicit_bzero(s, n);
  free(s);
}

bool crm_http_request_add_header(crm_http_request *r, const char *line) {
  char *copy = strdup(line);
  char **grown =
      copy ? realloc(r->headers, (r->header_count + 1) * sizeof *r->headers)
           : NULL;
  if (!grown) {
    wipe_free(copy, copy ? strlen(copy) : 0);
    return false;
  }
  r->headers = grown;
  r->headers[r->header_count++] = copy;
  return true;
}

static bool base64(const char *in, char *out, size_t out_len) {
  static const char tbl[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t n = strlen(in), o = 0;
  if ((n + 2) / 3 * 4 + 1 > out_len)
    return false;
  const unsigned char *p = (const unsigned char *)in;
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16;
    if (i + 1 < n)
      v |= (unsigned)p[i + 1] << 8;
    if (i + 2 < n)
      v |= p[i + 2];
    out[o++] = tbl[(v >> 18) & 63];
    out[o++] = tbl[(v >> 12) & 63];
    out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? tbl[v & 63] : '=';
  }
  out[o] = '\0';
  return true;
}

/* Authorization for BEARER and BASIC (secret: wiped by the caller). */
static bool static_auth_header(const crm_auth *a, char *out, size_t out_len) {
  if (a->kind == CRM_AUTH_BEARER) {
    int n = snprintf(out, out_len, "Authorization: Bearer %s", a->token);
    return n > 0 && (size_t)n < out_len;
  }
  char pair[sizeof a->username + sizeof a->password + 2];
  char enc[(sizeof pair + 2) / 3 * 4 + 1];
  snprintf(pair, sizeof pair, "%s:%s", a->username, a->password);
  bool ok = base64(pair, enc, sizeof enc);
  int n = ok ? snprintf(out, out_len, "Authorization: Basic %s", enc) : -1;
  explicit_bzero(pair, sizeof pair);
  explicit_bzero(enc, sizeof enc);
  return n > 0 && (size_t)n < out_len;
}

bool crm_auth_header_line(const crm_auth *a, char *out, size_t out_len) {
  return (a->kind == CRM_AUTH_BEARER || a->kind == CRM_AUTH_BASIC) &&
         static_auth_header(a, out, out_len);
}

bool crm_build(const crm_profile *p, const char *base_url,
               const flow_crm_request *req, const char *answer,
               crm_http_request *out) {
  memset(out, 0, sizeof *out);
  if (!base_url ||
      (req->kind != FLOW_CRM_LOOKUP && req->kind != FLOW_CRM_VERIFY))
    return false;
  bool verify = req->kind == FLOW_CRM_VERIFY;
  const char *value = verify ? req->customer_id : req->lookup_value;
  size_t vsize = verify ? sizeof req->customer_id : sizeof req->lookup_value;
  if (field_len(value, vsize) == 0 || (verify && !answer))
    return false;
  const crm_operation *op = &p->ops[crm_op_for(req)];
  crm_template_var vars[] = {
      {"baseUrl", base_url, true},
      {"value", verify ? NULL : value, false},
      {"customerId", verify ? value : NULL, false},
      {"answer", verify ? answer : NULL, false},
  };
  size_t nv = sizeof vars / sizeof vars[0];
  size_t len = 0;
  out->url = crm_template_render(op->url, CRM_TPL_URL, vars, nv, &len);
  bool ok = out->url != NULL;
  if (ok && op->body[0]) {
    out->body =
        crm_template_render(op->body, CRM_TPL_BODY, vars, nv, &out->body_len);
    ok = out->body != NULL;
  }
  for (size_t i = 0; ok && i < op->header_count; i++) {
    char *h =
        crm_template_render(op->headers[i], CRM_TPL_HEADER, vars, nv, &len);
    ok = h && crm_http_request_add_header(out, h);
    wipe_free(h, h ? len : 0);
  }
  if (ok &&
      (p->auth.kind == CRM_AUTH_BEARER || p->auth.kind == CRM_AUTH_BASIC)) {
    char line[CRM_SECRET_MAX * 2 + 64];
    ok = static_auth_header(&p->auth, line, sizeof line) &&
         crm_http_request_add_header(out, line);
    explicit_bzero(line, sizeof line);
  }
  if (!ok) {
    crm_http_request_free(out);
    return false;
  }
  snprintf(out->method, sizeof out->method, "%s", op->method);
  out->idempotent = !verify;
  return true;
}

void crm_map(const crm_profile *p, const flow_crm_request *req,
             long http_status, const char *body, size_t body_len,
             flow_crm_result *out) {
  if (req->kind != FLOW_CRM_LOOKUP && req->kind != FLOW_CRM_VERIFY) {
    memset(out, 0, sizeof *out);
    return;
  }
  crm_map_response(&p->ops[crm_op_for(req)].map, req->kind == FLOW_CRM_VERIFY,
                   http_status, body, body_len, out);
}

/* The default operation only (the whole profile is large). */
bool crm_build_request(const char *base_url, const flow_crm_request *req,
                       const char *answer, crm_http_request *out) {
  pthread_once(&default_once_flag, default_once);
  return crm_build(&default_profile, base_url, req, answer, out);
}

void crm_http_request_free(crm_http_request *req) {
  if (req->body)
    explicit_bzero(req->body, req->body_len);
  free(req->body);
  free(req->url);
  for (size_t i = 0; i < req->header_count; i++)
    wipe_free(req->headers[i], strlen(req->headers[i]));
  free(req->headers);
  memset(req, 0, sizeof *req);
}

void crm_parse_response(const flow_crm_request *req, long http_status,
                        const char *body, size_t body_len,
                        flow_crm_result *out) {
  pthread_once(&default_once_flag, default_once);
  crm_map(&default_profile, req, http_status, body, body_len, out);
}
