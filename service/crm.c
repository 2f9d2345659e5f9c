/*
 * crm: the reference CRM API of SPEC §4 as requests and answers. Pure: no
 * I/O, no logging. The only heap copies of a security answer are the
 * request body, which crm_http_request_free() wipes.
 */
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

/* Percent-encode the first `in_len` bytes of `in`: everything but RFC 3986
 * unreserved characters, so the value is safe as a query component or a
 * path segment ("+" becomes %2B, "/" becomes %2F, CR/LF cannot reach a
 * header). Returns the number of bytes written, or 0 if the value is empty
 * or does not fit. */
static size_t percent_encode(const char *in, size_t in_len, char *out,
                             size_t out_len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  for (size_t i = 0; i < in_len; i++) {
    unsigned char ch = (unsigned char)in[i];
    bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
                 ch == '_' || ch == '~';
    size_t need = plain ? 1 : 3;
    if (o + need >= out_len)
      return 0;
    if (plain) {
      out[o++] = (char)ch;
    } else {
      out[o++] = '%';
      out[o++] = hex[ch >> 4];
      out[o++] = hex[ch & 15];
    }
  }
  out[o] = '\0';
  return o;
}

/* Length of a NUL-terminated field of a fixed-size array, or 0 when the
 * array holds no terminator (an unusable value, never read past). */
static size_t field_len(const char *field, size_t size) {
  size_t n = strnlen(field, size);
  return n < size ? n : 0;
}

/* Length of the valid UTF-8 sequence starting at s[0] (at most `left`
 * bytes available), or 0 if it is not valid UTF-8 (overlong forms,
 * surrogates and code points above U+10FFFF are refused). */
static size_t utf8_seq_len(const unsigned char *s, size_t left) {
  if (s[0] < 0x80)
    return 1;
  size_t n;
  unsigned cp;
  if ((s[0] & 0xE0) == 0xC0) {
    n = 2;
    cp = s[0] & 0x1Fu;
  } else if ((s[0] & 0xF0) == 0xE0) {
    n = 3;
    cp = s[0] & 0x0Fu;
  } else if ((s[0] & 0xF8) == 0xF0) {
    n = 4;
    cp = s[0] & 0x07u;
  } else {
    return 0;
  }
  if (n > left)
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3Fu);
  }
  static const unsigned min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

/* Build {"answer":"<escaped>"} in a buffer we own, so the only copies of
 * the answer are ours to wipe (a jansson json_t would free its copy
 * without wiping it). Returns NULL on invalid UTF-8 or allocation failure;
 * *len_out gets the body length. */
static char *verify_body(const char *answer, size_t *len_out) {
  static const char prefix[] = "{\"answer\":\"", suffix[] = "\"}";
  static const char hex[] = "0123456789abcdef";
  size_t in_len = strlen(answer);
  /* Worst case every byte becomes \u00XX. */
  size_t cap = sizeof prefix + 6 * in_len + sizeof suffix;
  char *out = malloc(cap);
  if (!out)
    return NULL;
  size_t o = sizeof prefix - 1;
  memcpy(out, prefix, o);
  const unsigned char *p = (const unsigned char *)answer;
  for (size_t i = 0; i < in_len;) {
    unsigned char ch = p[i];
    if (ch == '"' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = (char)ch;
      i++;
    } else if (ch < 0x20 || ch == 0x7F) {
      memcpy(out + o, "\\u00", 4);
      out[o + 4] = hex[ch >> 4];
      out[o + 5] = hex[ch & 15];
      o += 6;
      i++;
    } else {
      size_t n = utf8_seq_len(p + i, in_len - i);
      if (n == 0) {
        explicit_bzero(out, cap);
        free(out);
        return NULL;
      }
      memcpy(out + o, p + i, n);
      o += n;
      i += n;
    }
  }
  memcpy(out + o, suffix, sizeof suffix); /* with its NUL */
  o += sizeof suffix - 1;
  *len_out = o;
  return out;
}

bool crm_build_request(const char *base_url, const flow_crm_request *req,
                       const char *answer, crm_http_request *out) {
  memset(out, 0, sizeof *out);
  /* Both values are at most 64 bytes; each byte encodes to at most 3. */
  char encoded[3 * (FLOW_VALUE_MAX > FLOW_CUSTOMER_ID_MAX
                        ? FLOW_VALUE_MAX
                        : FLOW_CUSTOMER_ID_MAX) +
               1];
  if (!base_url)
    return false;
  size_t url_len;
  if (req->kind == FLOW_CRM_LOOKUP) {
    size_t n = field_len(req->lookup_value, sizeof req->lookup_value);
    if (!percent_encode(req->lookup_value, n, encoded, sizeof encoded))
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
  if (req->kind != FLOW_CRM_VERIFY || !answer)
    return false;
  size_t n = field_len(req->customer_id, sizeof req->customer_id);
  if (!percent_encode(req->customer_id, n, encoded, sizeof encoded))
    return false;
  url_len = strlen(base_url) + strlen(encoded) + 32;
  out->url = malloc(url_len);
  out->body = verify_body(answer, &out->body_len);
  if (!out->url || !out->body) {
    crm_http_request_free(out);
    return false;
  }
  snprintf(out->url, url_len, "%s/customers/%s/verify", base_url, encoded);
  snprintf(out->method, sizeof out->method, "POST");
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
  /* Duplicate keys are refused: {"verified":false,"verified":true} must
   * not be read either way. */
  json_t *root = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
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
