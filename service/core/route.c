#include "route.h"

#include <string.h>

#include "pct.h"

typedef struct {
  route_id id;
  const char *method;
} route_method;

/* Each path shape and the methods it takes. {id} stands for one segment. */
typedef struct {
  const char *prefix; /* fixed text before the id (or whole path) */
  bool has_id;        /* one {id} segment follows the prefix */
  const char *suffix; /* fixed text after the id ("" for none) */
  const char *template_path;
  const char *allow;
  route_method methods[2];
} route_shape;

static const route_shape shapes[] = {
    {"/v1/sessions",
     false,
     "",
     "/v1/sessions",
     "POST",
     {{ROUTE_SESSIONS_CREATE, "POST"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/sessions/",
     true,
     "",
     "/v1/sessions/{id}",
     "GET, DELETE",
     {{ROUTE_SESSION_GET, "GET"}, {ROUTE_SESSION_DELETE, "DELETE"}}},
    {"/v1/sessions/",
     true,
     "/identifier",
     "/v1/sessions/{id}/identifier",
     "POST",
     {{ROUTE_SESSION_IDENTIFIER, "POST"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/sessions/",
     true,
     "/security",
     "/v1/sessions/{id}/security",
     "POST",
     {{ROUTE_SESSION_SECURITY, "POST"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/sessions/",
     true,
     "/opt-out",
     "/v1/sessions/{id}/opt-out",
     "POST",
     {{ROUTE_SESSION_OPT_OUT, "POST"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/sessions/",
     true,
     "/handoff",
     "/v1/sessions/{id}/handoff",
     "POST",
     {{ROUTE_SESSION_HANDOFF, "POST"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/sessions/",
     true,
     "/otp",
     "/v1/sessions/{id}/otp",
     "POST",
     {{ROUTE_SESSION_OTP, "POST"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/handoffs",
     false,
     "",
     "/v1/handoffs",
     "POST",
     {{ROUTE_HANDOFFS_CREATE, "POST"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/healthz",
     false,
     "",
     "/healthz",
     "GET",
     {{ROUTE_HEALTHZ, "GET"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/readyz",
     false,
     "",
     "/readyz",
     "GET",
     {{ROUTE_READYZ, "GET"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/metrics",
     false,
     "",
     "/metrics",
     "GET",
     {{ROUTE_METRICS, "GET"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/reports/summary",
     false,
     "",
     "/v1/reports/summary",
     "GET",
     {{ROUTE_REPORT_SUMMARY, "GET"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/reports/interactions",
     false,
     "",
     "/v1/reports/interactions",
     "GET",
     {{ROUTE_REPORT_INTERACTIONS, "GET"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/reports/schedules/",
     true,
     "/run",
     "/v1/reports/schedules/{name}/run",
     "POST",
     {{ROUTE_REPORT_SCHEDULE_RUN, "POST"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/v1/reports/deliveries",
     false,
     "",
     "/v1/reports/deliveries",
     "GET",
     {{ROUTE_REPORT_DELIVERIES, "GET"}, {ROUTE_NOT_FOUND, NULL}}},
    {"/dashboard",
     false,
     "",
     "/dashboard",
     "GET",
     {{ROUTE_DASHBOARD, "GET"}, {ROUTE_NOT_FOUND, NULL}}},
};

const char *route_template(route_id id) {
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (size_t m = 0; m < 2; m++)
      if (shapes[i].methods[m].method && shapes[i].methods[m].id == id)
        return shapes[i].template_path;
  return "other";
}

const char *route_id_method(route_id id) {
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (size_t m = 0; m < 2; m++)
      if (shapes[i].methods[m].method && shapes[i].methods[m].id == id)
        return shapes[i].methods[m].method;
  return "other";
}

static bool id_char_ok(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
}

const char *route_conversation_id_error(const char *id) {
  size_t len = strlen(id);
  if (len == 0)
    return "conversationId is empty";
  if (len > FLOW_CONVERSATION_ID_MAX)
    return "conversationId is longer than 128 characters";
  if (strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
    return "conversationId may not be '.' or '..'";
  for (size_t i = 0; i < len; i++)
    if (!id_char_ok((unsigned char)id[i]))
      return "conversationId may hold only letters, digits and . _ : -";
  return NULL;
}

/* Percent-decode the segment [seg, seg+len) into out (NUL-terminated) with
 * core/pct.h. Returns NULL on success or a static reason. Decoded bytes are
 * then validated by route_conversation_id_error, so "%2F" is refused there
 * rather than reinterpreted; "%00" cannot be held in a C string and gets
 * the same "may hold only" answer. */
static const char *decode_segment(const char *seg, size_t len, char *out,
                                  size_t out_len) {
  switch (pct_decode(seg, len, PCT_PLUS_IS_BYTE, out, out_len)) {
  case PCT_OK:
    return NULL;
  case PCT_BAD_ESCAPE:
    return "conversationId has a bad percent-escape";
  case PCT_NUL:
    return "conversationId may hold only letters, digits and . _ : -";
  case PCT_TOO_LONG:
    break;
  }
  return "conversationId is longer than 128 characters";
}

route_match_status route_parse(const char *method, const char *raw_path,
                               route_match *out) {
  memset(out, 0, sizeof *out);
  out->id = ROUTE_NOT_FOUND;
  out->template_path = "other";
  out->allow = "";
  if (!method || !raw_path)
    return ROUTE_MATCH_NOT_FOUND;
  size_t path_len = strlen(raw_path);

  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const route_shape *sh = &shapes[i];
    size_t plen = strlen(sh->prefix), slen = strlen(sh->suffix);
    if (path_len < plen || memcmp(raw_path, sh->prefix, plen) != 0)
      continue;
    const char *seg = raw_path + plen;
    size_t seg_len = path_len - plen;
    if (!sh->has_id) {
      if (seg_len != 0)
        continue;
    } else {
      /* The id is everything up to the suffix, and holds no '/'. */
      if (seg_len <= slen ||
          memcmp(seg + seg_len - slen, sh->suffix, slen) != 0)
        continue;
      seg_len -= slen;
      if (memchr(seg, '/', seg_len))
        continue;
    }
    out->template_path = sh->template_path;
    out->allow = sh->allow;
    route_id matched = ROUTE_NOT_FOUND;
    for (size_t m = 0; m < 2; m++)
      if (sh->methods[m].method && strcmp(sh->methods[m].method, method) == 0)
        matched = sh->methods[m].id;
    if (matched == ROUTE_NOT_FOUND)
      return ROUTE_MATCH_METHOD_NOT_ALLOWED;
    out->id = matched;
    if (sh->has_id) {
      const char *why = decode_segment(seg, seg_len, out->conversation_id,
                                       sizeof out->conversation_id);
      if (!why)
        why = route_conversation_id_error(out->conversation_id);
      if (why && matched == ROUTE_REPORT_SCHEDULE_RUN)
        why = "the schedule name may hold only letters, digits and _ . - "
              "(at most 64)";
      if (why) {
        out->conversation_id[0] = '\0';
        out->id_error = why;
        return ROUTE_MATCH_BAD_ID;
      }
    }
    return ROUTE_MATCH_OK;
  }
  return ROUTE_MATCH_NOT_FOUND;
}
