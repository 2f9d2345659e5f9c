/*
 * crm_token: a shared OAuth2 token behind its mutex. See crm_token.h.
 */
#include "crm_token.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_loop.h"
#include "crm_template.h"

bool crm_token_start(crm_token *tk, const crm_job_transport *t,
                     const char *base_url, crm_token_notify_fn notify,
                     char *err, size_t err_len) {
  crm_token_stop(tk);
  tk->t = t;
  tk->notify = notify;
  tk->refresh_ms = 0;
  tk->fetching = false;
  tk->subs = NULL;
  if (t->profile->auth.kind != CRM_AUTH_OAUTH2)
    return true;
  /* AUTHFLOW_CRM_URL may have replaced the file's base URL. */
  crm_template_var base = {"baseUrl", base_url ? base_url : "", true};
  tk->url = crm_template_render(t->profile->auth.token_url, CRM_TPL_URL, &base,
                                1, NULL);
  if (!tk->url) {
    snprintf(err, err_len, "cannot render the OAuth2 tokenUrl");
    return false;
  }
  return true;
}

void crm_token_stop(crm_token *tk) {
  explicit_bzero(tk->token, sizeof tk->token);
  free(tk->url);
  tk->url = NULL;
}

/* Under the lock. */
static bool valid_locked(const crm_token *tk) {
  return tk->token[0] && crm_loop_now_ms() < tk->refresh_ms;
}

bool crm_token_valid(crm_token *tk) {
  pthread_mutex_lock(&tk->mutex);
  bool valid = valid_locked(tk);
  pthread_mutex_unlock(&tk->mutex);
  return valid;
}

struct curl_slist *crm_token_add_header(crm_token *tk, struct curl_slist *h,
                                        unsigned *gen) {
  char line[CRM_TOKEN_MAX + 32];
  pthread_mutex_lock(&tk->mutex);
  snprintf(line, sizeof line, "Authorization: Bearer %s", tk->token);
  *gen = tk->gen;
  pthread_mutex_unlock(&tk->mutex);
  h = crm_job_header_add(h, line);
  explicit_bzero(line, sizeof line);
  return h;
}

void crm_token_refused(crm_token *tk, unsigned gen) {
  pthread_mutex_lock(&tk->mutex);
  if (gen == tk->gen)
    tk->refresh_ms = 0;
  pthread_mutex_unlock(&tk->mutex);
}

crm_token_join_result crm_token_join(crm_token *tk, crm_token_sub *sub) {
  pthread_mutex_lock(&tk->mutex);
  crm_token_join_result r = CRM_TOKEN_VALID;
  if (valid_locked(tk)) {
    r = CRM_TOKEN_VALID;
  } else if (tk->fetching) {
    if (!sub->on) {
      sub->on = true;
      sub->next = tk->subs;
      tk->subs = sub;
    }
    r = CRM_TOKEN_WAIT;
  } else {
    tk->fetching = true;
    r = CRM_TOKEN_FETCH;
  }
  pthread_mutex_unlock(&tk->mutex);
  return r;
}

/* Under the lock: the fetch is over; every subscriber is told. */
static void end_fetch(crm_token *tk, crm_token_news news) {
  tk->fetching = false;
  crm_token_sub *s = tk->subs;
  tk->subs = NULL;
  while (s) {
    crm_token_sub *next = s->next;
    s->on = false;
    s->next = NULL;
    tk->notify(s, news);
    s = next;
  }
}

void crm_token_fetch_end(crm_token *tk, crm_token_news news) {
  pthread_mutex_lock(&tk->mutex);
  end_fetch(tk, news);
  pthread_mutex_unlock(&tk->mutex);
}

void crm_token_leave(crm_token *tk, crm_token_sub *sub) {
  pthread_mutex_lock(&tk->mutex);
  crm_token_sub **link = &tk->subs;
  while (*link && *link != sub)
    link = &(*link)->next;
  if (*link)
    *link = sub->next;
  sub->on = false;
  sub->next = NULL;
  pthread_mutex_unlock(&tk->mutex);
}

/* Percent-encode for application/x-www-form-urlencoded. */
static void form_put(char *out, size_t out_len, const char *key,
                     const char *value) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = strlen(out);
  if (o && o + 1 < out_len)
    out[o++] = '&';
  for (const char *k = key; *k && o + 1 < out_len; k++)
    out[o++] = *k;
  if (o + 1 < out_len)
    out[o++] = '=';
  for (const unsigned char *v = (const unsigned char *)value;
       *v && o + 3 < out_len; v++) {
    if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
        (*v >= '0' && *v <= '9') || *v == '-' || *v == '.' || *v == '_' ||
        *v == '~') {
      out[o++] = (char)*v;
    } else {
      out[o++] = '%';
      out[o++] = hex[*v >> 4];
      out[o++] = hex[*v & 15];
    }
  }
  out[o] = '\0';
}

crm_job *crm_token_fetch_job(crm_token *tk) {
  const crm_auth *a = &tk->t->profile->auth;
  crm_job *t = crm_job_new();
  if (!t)
    return NULL;
  char form[3 * (sizeof a->client_id + sizeof a->client_secret +
                 sizeof a->scope) +
            64] = "";
  form_put(form, sizeof form, "grant_type", "client_credentials");
  form_put(form, sizeof form, "client_id", a->client_id);
  form_put(form, sizeof form, "client_secret", a->client_secret);
  if (a->scope[0])
    form_put(form, sizeof form, "scope", a->scope);
  t->is_token = true;
  snprintf(t->http.method, sizeof t->http.method, "POST");
  t->http.body = strdup(form);
  t->http.body_len = strlen(form);
  explicit_bzero(form, sizeof form);
  struct curl_slist *h = crm_job_header_add(
      NULL, "Content-Type: application/x-www-form-urlencoded");
  if (h)
    h = crm_job_header_add(h, "Accept: application/json");
  if (h)
    h = crm_job_header_add(h, "Expect:");
  long budget = tk->t->profile->budget_ms;
  long timeout = budget < tk->t->timeout_ms ? budget : tk->t->timeout_ms;
  if (!crm_job_attach(t, tk->url, h, tk->t, timeout) || !t->http.body) {
    crm_job_free(t, NULL);
    return NULL;
  }
  return t;
}

/* Token lifetime in seconds from "expires_in": a JSON integer, or a string
 * of digits (some servers send one); absent means 3600 (Salesforce sends
 * none). 0 when present but unusable. */
static long long token_life(const json_t *exp) {
  if (!exp)
    return 3600;
  if (json_is_integer(exp))
    return json_integer_value(exp);
  const char *s = json_string_value(exp);
  long long v = 0;
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 9)
    return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/* Keeps `v` as the token for `life` seconds when it is printable ASCII
 * without spaces and fits; false otherwise. Under the lock. */
static bool keep_token(crm_token *tk, const char *v, size_t len,
                       long long life) {
  if (len == 0 || len >= sizeof tk->token || life <= 0)
    return false;
  for (const unsigned char *c = (const unsigned char *)v; *c; c++)
    if (*c <= 0x20 || *c >= 0x7F)
      return false;
  /* Wipe the old token first: a shorter new one would leave its tail. */
  explicit_bzero(tk->token, sizeof tk->token);
  snprintf(tk->token, sizeof tk->token, "%s", v);
  double life_ms = (double)life * 1000.0;
  double margin = (double)tk->t->profile->auth.refresh_margin_ms;
  if (margin > life_ms / 2)
    margin = life_ms / 2;
  tk->refresh_ms = crm_loop_now_ms() + life_ms - margin;
  tk->gen++;
  return true;
}

bool crm_token_fetch_done(crm_token *tk, crm_job *t, bool ok_io) {
  long status = crm_job_status(t, ok_io);
  json_t *root = NULL;
  if (status == 200 && buf_len(&t->response) > 0)
    root = json_loadb(buf_str(&t->response), buf_len(&t->response), 0, NULL);
  const json_t *v = json_object_get(root, "access_token");
  long long life = token_life(json_object_get(root, "expires_in"));
  pthread_mutex_lock(&tk->mutex);
  bool got = json_is_string(v) &&
             keep_token(tk, json_string_value(v), json_string_length(v), life);
  end_fetch(tk, got ? CRM_TOKEN_GOT : CRM_TOKEN_FAILED);
  pthread_mutex_unlock(&tk->mutex);
  /* The tree holds a copy of the token: wipe it before it is freed (the
   * response buffer is wiped when the job is freed). */
  if (json_is_string(v))
    explicit_bzero((char *)json_string_value(v), json_string_length(v));
  json_decref(root);
  return got;
}
