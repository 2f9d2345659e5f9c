#include "crm.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Percent-encode everything but RFC 3986 unreserved characters, so the
 * value is safe as a query component or a path segment ("+" becomes %2B,
 * "/" becomes %2F, CR/LF cannot reach a header). Returns the number of
 * bytes written, or 0 if it does not fit. */
static size_t percent_encode(const char *in, char *out, size_t out_len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
    bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
                 *p == '_' || *p == '~';
    size_t need = plain ? 1 : 3;
    if (o + need >= out_len)
      return 0;
    if (plain) {
      out[o++] = (char)*p;
    } else {
      out[o++] = '%';
      out[o++] = hex[*p >> 4];
      out[o++] = hex[*p & 15];
    }
  }
  out[o] = '\0';
  return o;
}

bool crm_build_request(const char *base_url, const flow_crm_request *req,
                       const char *answer, crm_http_request *out) {
  memset(out, 0, sizeof *out);
  char encoded[3 * FLOW_CUSTOMER_ID_MAX + 1];
  size_t url_len;
  if (req->kind == FLOW_CRM_LOOKUP) {
    if (!percent_encode(req->lookup_value, encoded, sizeof encoded))
      return false;
    const char *param = crm_lookup_param(req->lookup_type);
    url_len = strlen(base_url) + strlen(param) + strlen(encoded) + 32;
    out->url = malloc(url_len);
    if (!out->url)
      return false;
    snprintf(out->url, url_len, "%s/customers?%s=%s", base_url, param, encoded);
    snprintf(out->method, sizeof out->method, "GET");
    return true;
  }
  if (req->kind != FLOW_CRM_VERIFY || !answer ||
      !percent_encode(req->customer_id, encoded, sizeof encoded))
    return false;
  url_len = strlen(base_url) + strlen(encoded) + 32;
  out->url = malloc(url_len);
  json_t *body = json_pack("{s:s}", "answer", answer);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  if (!out->url || !text) {
    free(text);
    crm_http_request_free(out);
    return false;
  }
  snprintf(out->url, url_len, "%s/customers/%s/verify", base_url, encoded);
  snprintf(out->method, sizeof out->method, "POST");
  out->body = text;
  out->body_len = strlen(text);
  return true;
}

void crm_http_request_free(crm_http_request *req) {
  if (req->body)
    explicit_bzero(req->body, req->body_len);
  free(req->body);
  free(req->url);
  memset(req, 0, sizeof *req);
}

/* Copy a customer id that may be a JSON string or integer. */
static bool copy_id(const json_t *v, char *out, size_t out_len) {
  if (json_is_string(v)) {
    size_t n = json_string_length(v);
    if (n == 0 || n >= out_len)
      return false;
    memcpy(out, json_string_value(v), n + 1);
    return true;
  }
  if (json_is_integer(v)) {
    int n = snprintf(out, out_len, "%lld", (long long)json_integer_value(v));
    return n > 0 && (size_t)n < out_len;
  }
  return false;
}

static void parse_lookup(const json_t *root, flow_crm_result *out) {
  const json_t *list = json_object_get(root, "customers");
  if (!json_is_array(list))
    return;
  size_t count = json_array_size(list);
  /* Every entry must be usable, or the answer as a whole is not. */
  for (size_t i = 0; i < count; i++) {
    const json_t *c = json_array_get(list, i);
    char id[FLOW_CUSTOMER_ID_MAX + 1];
    if (!json_is_object(c) || !copy_id(json_object_get(c, "id"), id, sizeof id))
      return;
    const json_t *name = json_object_get(c, "name");
    if (name && !json_is_null(name) &&
        (!json_is_string(name) ||
         json_string_length(name) > FLOW_CUSTOMER_NAME_MAX))
      return;
    if (i == 0) {
      memcpy(out->customer_id, id, sizeof id);
      if (json_is_string(name))
        memcpy(out->customer_name, json_string_value(name),
               json_string_length(name) + 1);
    }
  }
  out->match_count = count > 1000 ? 1000 : (int)count;
  out->ok = true;
}

static void parse_verify(const json_t *root, flow_crm_result *out) {
  const json_t *verified = json_object_get(root, "verified");
  const json_t *locked = json_object_get(root, "locked");
  if (!json_is_boolean(verified) || (locked && !json_is_boolean(locked)))
    return;
  out->verified = json_is_true(verified);
  out->locked = locked && json_is_true(locked);
  out->ok = true;
}

void crm_parse_response(const flow_crm_request *req, long http_status,
                        const char *body, size_t body_len,
                        flow_crm_result *out) {
  memset(out, 0, sizeof *out);
  if (http_status != 200 || !body)
    return;
  json_t *root = json_loadb(body, body_len, 0, NULL);
  if (!json_is_object(root)) {
    json_decref(root);
    return;
  }
  if (req->kind == FLOW_CRM_LOOKUP)
    parse_lookup(root, out);
  else if (req->kind == FLOW_CRM_VERIFY)
    parse_verify(root, out);
  json_decref(root);
  if (!out->ok) {
    /* Leave nothing half-filled from an answer we refused. */
    memset(out, 0, sizeof *out);
  }
}
