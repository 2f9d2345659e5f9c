#include "http_response.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The dashboard's Content-Security-Policy: its script and style are inline,
 * it fetches reports from this origin and draws with inline SVG. */
#define DASHBOARD_CSP                                                          \
  "default-src 'none'; script-src 'unsafe-inline'; style-src "                 \
  "'unsafe-inline'; connect-src 'self'; img-src 'self' data: blob:; "          \
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* libmicrohttpd's free for a response body: wiped first. */
static void wipe_free(void *body) {
  if (!body)
    return;
  explicit_bzero(body, malloc_usable_size(body));
  free(body);
}

/* A response owning `body` (malloc'd; wiped and freed by libmicrohttpd,
 * or here when no response could be made). */
static struct MHD_Response *response_owning(char *body, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer_with_free_callback_cls(len, body,
                                                             wipe_free, body);
  if (!r)
    wipe_free(body);
  return r;
}

/* `body` as one line of JSON ended by a newline, in a buffer of its own;
 * NULL when out of memory. The text jansson made is wiped before it is
 * freed. */
static char *json_line(const json_t *body, size_t *len) {
  char *json = json_dumps(body, JSON_COMPACT);
  if (!json)
    return NULL;
  size_t n = strlen(json);
  char *text = malloc(n + 2);
  if (text) {
    memcpy(text, json, n);
    text[n] = '\n';
    text[n + 1] = '\0';
    *len = n + 1;
  }
  explicit_bzero(json, n);
  free(json);
  return text;
}

/* The body of `resp` as a response (consuming it); *content_type is set
 * to the type to announce (NULL: none). */
static struct MHD_Response *body_of(api_response *resp,
                                    const char **content_type) {
  *content_type = "application/json";
  if (resp->has_file) {
    /* libmicrohttpd reads the file as it sends and closes it after. */
    struct MHD_Response *r =
        MHD_create_response_from_fd64(resp->file_size, resp->file_fd);
    if (!r)
      return NULL; /* api_response_free closes it */
    resp->has_file = false;
    *content_type = resp->content_type;
    return r;
  }
  if (resp->static_text) {
    *content_type = resp->content_type;
    return MHD_create_response_from_buffer(
        resp->static_len, (void *)resp->static_text, MHD_RESPMEM_PERSISTENT);
  }
  if (resp->text) {
    struct MHD_Response *r = response_owning(resp->text, resp->text_len);
    resp->text = NULL;
    *content_type = resp->content_type;
    return r;
  }
  if (resp->body) {
    size_t len = 0;
    char *text = json_line(resp->body, &len);
    return text ? response_owning(text, len) : NULL;
  }
  *content_type = NULL;
  return MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
}

void http_response_render(api_response *resp) {
  if (!resp->body || resp->text || resp->has_file)
    return;
  size_t len = 0;
  char *text = json_line(resp->body, &len);
  if (!text)
    return; /* left as a tree: http_response_make tries again */
  json_decref(resp->body);
  resp->body = NULL;
  resp->text = text;
  resp->text_len = len;
  resp->content_type = "application/json";
}

struct MHD_Response *http_response_make(api_response *resp,
                                        const char *request_id) {
  const char *content_type;
  struct MHD_Response *r = body_of(resp, &content_type);
  unsigned status = resp->status;
  const char *allow = resp->allow;
  char disposition[sizeof resp->content_disposition];
  memcpy(disposition, resp->content_disposition, sizeof disposition);
  unsigned retry_after = resp->retry_after;
  api_response_free(resp);
  if (!r)
    return NULL;
  if (content_type)
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  MHD_add_response_header(r, "X-Request-Id", request_id);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  /* Browser hardening: never sniffed, never framed; the one HTML page (the
   * self-contained dashboard, inline script and style, data from this
   * origin only) also gets a Content-Security-Policy. */
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  if (content_type && strncmp(content_type, "text/html", 9) == 0)
    MHD_add_response_header(r, "Content-Security-Policy", DASHBOARD_CSP);
  if (allow)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  if (status == 401)
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                            "Bearer realm=\"authflow\"");
  if (disposition[0])
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                            disposition);
  if (retry_after > 0) {
    char seconds[16];
    snprintf(seconds, sizeof seconds, "%u", retry_after);
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, seconds);
  }
  return r;
}
