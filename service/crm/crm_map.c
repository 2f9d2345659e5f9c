/*
 * crm_map: JSON Pointer (RFC 6901) lookups and the mapping of a CRM answer
 * to a flow_crm_result. Pure: no I/O, no logging.
 */
#include "crm_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void crm_map_default(crm_mapping *m) {
  memset(m, 0, sizeof *m);
  strcpy(m->list, "/customers");
  strcpy(m->id, "/id");
  strcpy(m->name, "/name");
  strcpy(m->verified, "/verified");
  strcpy(m->locked, "/locked");
  strcpy(m->phone, "/phone");
  m->ok_status[0] = 200;
  m->ok_count = 1;
}

bool crm_pointer_valid(const char *p) {
  if (!p)
    return false;
  if (*p == '\0')
    return true;
  if (*p != '/')
    return false;
  for (; *p; p++)
    if (*p == '~' && p[1] != '0' && p[1] != '1')
      return false;
  return true;
}

/* Decode one reference token p[0..n) ("~1" -> '/', "~0" -> '~') into out
 * (NUL-terminated). False when it does not fit. */
static bool decode_token(const char *p, size_t n, char *out, size_t out_len) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    if (c == '~') {
      c = p[i + 1] == '1' ? '/' : '~';
      i++;
    }
    if (o + 1 >= out_len)
      return false;
    out[o++] = c;
  }
  out[o] = '\0';
  return true;
}

static bool array_index(const char *t, size_t *out) {
  size_t n = strlen(t);
  if (n == 0 || n > 9 || (n > 1 && t[0] == '0'))
    return false;
  size_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (t[i] < '0' || t[i] > '9')
      return false;
    v = v * 10 + (size_t)(t[i] - '0');
  }
  *out = v;
  return true;
}

const json_t *crm_pointer_get(const json_t *root, const char *p) {
  if (!crm_pointer_valid(p))
    return NULL;
  const json_t *cur = root;
  while (cur && *p == '/') {
    p++;
    size_t n = strcspn(p, "/");
    char token[CRM_POINTER_MAX + 1];
    if (!decode_token(p, n, token, sizeof token))
      return NULL;
    p += n;
    if (json_is_object(cur)) {
      cur = json_object_get(cur, token);
    } else if (json_is_array(cur)) {
      size_t idx;
      cur = array_index(token, &idx) ? json_array_get(cur, idx) : NULL;
    } else {
      cur = NULL;
    }
  }
  return cur;
}

static bool status_in(const long *list, size_t n, long status) {
  for (size_t i = 0; i < n; i++)
    if (list[i] == status)
      return true;
  return false;
}

/* Copy a customer id that may be a JSON string or integer. */
static bool copy_id(const json_t *v, char *out, size_t out_len) {
  if (json_is_string(v)) {
    size_t n = json_string_length(v);
    if (n == 0 || n >= out_len || memchr(json_string_value(v), '\0', n))
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

/* An optional name part: absent or null is "", a string must fit. */
static bool name_part(const json_t *v, const char **out, size_t *len) {
  *out = "";
  *len = 0;
  if (!v || json_is_null(v))
    return true;
  if (!json_is_string(v) || json_string_length(v) > FLOW_CUSTOMER_NAME_MAX ||
      memchr(json_string_value(v), '\0', json_string_length(v)))
    return false;
  *out = json_string_value(v);
  *len = json_string_length(v);
  return true;
}

/* One match: id and name into id/name (name_len bytes). */
static bool map_match(const crm_mapping *m, const json_t *c, char *id,
                      size_t id_len, char *name, size_t name_len) {
  if (!json_is_object(c) || !copy_id(crm_pointer_get(c, m->id), id, id_len))
    return false;
  const char *a, *b;
  size_t an, bn;
  if (m->name[0]) {
    if (!name_part(crm_pointer_get(c, m->name), &a, &an))
      return false;
    b = "";
    bn = 0;
  } else {
    const json_t *g =
        m->given_name[0] ? crm_pointer_get(c, m->given_name) : NULL;
    const json_t *f =
        m->family_name[0] ? crm_pointer_get(c, m->family_name) : NULL;
    if (!name_part(g, &a, &an) || !name_part(f, &b, &bn))
      return false;
  }
  size_t total = an + (an && bn ? 1 : 0) + bn;
  if (total >= name_len)
    return false;
  memcpy(name, a, an);
  size_t o = an;
  if (an && bn)
    name[o++] = ' ';
  memcpy(name + o, b, bn);
  name[total] = '\0';
  return true;
}

/* The first match's phone on file (SPEC §9): a string that fits, else ""
 * (no phone on file is an answer, not a fault). */
static void map_phone(const crm_mapping *m, const json_t *c,
                      flow_crm_result *out) {
  const json_t *v = m->phone[0] ? crm_pointer_get(c, m->phone) : NULL;
  out->phone[0] = '\0';
  if (json_is_string(v) && json_string_length(v) < sizeof out->phone &&
      !memchr(json_string_value(v), '\0', json_string_length(v)))
    memcpy(out->phone, json_string_value(v), json_string_length(v) + 1);
}

static void map_lookup(const crm_mapping *m, const json_t *root,
                       flow_crm_result *out) {
  const json_t *list = crm_pointer_get(root, m->list);
  char id[FLOW_CUSTOMER_ID_MAX + 1], name[FLOW_CUSTOMER_NAME_MAX + 1];
  if (json_is_object(list)) {
    if (!map_match(m, list, id, sizeof id, name, sizeof name))
      return;
    memcpy(out->customer_id, id, sizeof id);
    memcpy(out->customer_name, name, sizeof name);
    map_phone(m, list, out);
    out->match_count = 1;
    out->ok = true;
    return;
  }
  if (!json_is_array(list))
    return;
  size_t count = json_array_size(list);
  /* Every entry must be usable, or the answer as a whole is not. */
  for (size_t i = 0; i < count; i++) {
    if (!map_match(m, json_array_get(list, i), id, sizeof id, name,
                   sizeof name))
      return;
    if (i == 0) {
      memcpy(out->customer_id, id, sizeof id);
      memcpy(out->customer_name, name, sizeof name);
      map_phone(m, json_array_get(list, i), out);
    }
  }
  out->match_count = count > 1000 ? 1000 : (int)count;
  out->ok = true;
}

static void map_verify(const crm_mapping *m, const json_t *root,
                       flow_crm_result *out) {
  const json_t *verified = crm_pointer_get(root, m->verified);
  const json_t *locked = m->locked[0] ? crm_pointer_get(root, m->locked) : NULL;
  if (!json_is_boolean(verified) || (locked && !json_is_boolean(locked)))
    return;
  out->verified = json_is_true(verified);
  out->locked = locked && json_is_true(locked);
  out->ok = true;
}

void crm_map_response(const crm_mapping *m, bool verify, long status,
                      const char *body, size_t body_len, flow_crm_result *out) {
  memset(out, 0, sizeof *out);
  if (status <= 0)
    return;
  if (!verify && status_in(m->no_match_status, m->no_match_count, status)) {
    out->ok = true; /* no match: match_count 0 */
    return;
  }
  if (verify &&
      status_in(m->wrong_answer_status, m->wrong_answer_count, status)) {
    out->ok = true; /* verified = false */
    return;
  }
  if (!status_in(m->ok_status, m->ok_count, status) || !body)
    return;
  json_t *root = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);
  if (json_is_object(root) || json_is_array(root)) {
    if (verify)
      map_verify(m, root, out);
    else
      map_lookup(m, root, out);
  }
  json_decref(root);
  if (!out->ok)
    memset(out, 0, sizeof *out); /* nothing half-filled from a refusal */
}
