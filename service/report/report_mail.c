#include "report_mail.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The attachment, read from its descriptor as curl asks for it. */
typedef struct {
  int fd;
  uint64_t size, offset;
} attach_reader;

static size_t read_attachment(char *buf, size_t size, size_t n, void *arg) {
  attach_reader *a = arg;
  size_t want = size * n;
  if (a->offset >= a->size)
    return 0;
  if (want > a->size - a->offset)
    want = (size_t)(a->size - a->offset);
  ssize_t got = pread(a->fd, buf, want, (off_t)a->offset);
  if (got <= 0)
    return CURL_READFUNC_ABORT;
  a->offset += (uint64_t)got;
  return (size_t)got;
}

static int seek_attachment(void *arg, curl_off_t offset, int origin) {
  attach_reader *a = arg;
  if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > a->size)
    return CURL_SEEKFUNC_FAIL;
  a->offset = (uint64_t)offset;
  return CURL_SEEKFUNC_OK;
}

typedef struct {
  bool (*keep_going)(void *user);
  void *user;
  time_t last;
  bool aborted;
} progress_state;

/* CURLOPT_XFERINFOFUNCTION: curl calls it often, even while the server
 * is silent; keep_going is asked at most once a second. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow) {
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  progress_state *p = arg;
  time_t now = time(NULL);
  if (!p->keep_going || now == p->last)
    return 0;
  p->last = now;
  if (p->keep_going(p->user))
    return 0;
  p->aborted = true;
  return 1;
}

/* What every SMTP transfer shares: URL, TLS, credentials, timeouts. */
static void common_options(CURL *h, const config_smtp *s) {
  curl_easy_setopt(h, CURLOPT_URL, s->url);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)s->timeout_seconds);
  curl_easy_setopt(h, CURLOPT_USE_SSL,
                   (long)(s->tls_none ? CURLUSESSL_NONE : CURLUSESSL_ALL));
  if (s->ca_file[0])
    curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
  if (s->username[0]) {
    curl_easy_setopt(h, CURLOPT_USERNAME, s->username);
    curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
  }
}

/* A failed transfer's status: 5xx from the server is permanent. */
static report_mail_status classify(CURLcode rc, long code) {
  if (rc == CURLE_OK)
    return REPORT_MAIL_SENT;
  if (rc == CURLE_ABORTED_BY_CALLBACK)
    return REPORT_MAIL_ABORTED;
  return code >= 500 && code <= 599 ? REPORT_MAIL_REFUSED : REPORT_MAIL_RETRY;
}

static void finish(CURL *h, CURLcode rc, const char *errbuf,
                   report_mail_result *res) {
  res->smtp_code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->smtp_code);
  res->text[0] = '\0';
  if (rc != CURLE_OK)
    snprintf(res->text, sizeof res->text, "%s",
             errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* The mail's headers; NULL when out of memory. */
static struct curl_slist *mail_headers(const report_mail *m) {
  /* Room for the To: line: every recipient, folded one to a line so no
   * line passes the 998 characters RFC 5322 allows. */
  char line[CONFIG_SCHEDULE_TO_MAX * (CONFIG_MAIL_ADDRESS_MAX + 4) + 64],
      date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  struct curl_slist *list = NULL, *next;
  snprintf(line, sizeof line, "Date: %s", date);
  list = curl_slist_append(list, line);
  snprintf(line, sizeof line, "From: %s", m->smtp->from);
  next = list ? curl_slist_append(list, line) : NULL;
  size_t used = (size_t)snprintf(line, sizeof line, "To: ");
  for (size_t i = 0; i < m->to_count && used < sizeof line; i++)
    used += (size_t)snprintf(line + used, sizeof line - used, "%s%s",
                             i ? ",\r\n " : "", m->to[i]);
  next = next ? curl_slist_append(next, line) : NULL;
  snprintf(line, sizeof line, "Subject: %s", m->subject);
  next = next ? curl_slist_append(next, line) : NULL;
  snprintf(line, sizeof line, "Message-ID: %s", m->message_id);
  next = next ? curl_slist_append(next, line) : NULL;
  if (!next) {
    curl_slist_free_all(list);
    return NULL;
  }
  return list;
}

/* The body: the text part, then the report. */
static curl_mime *mail_mime(CURL *h, const report_mail *m, attach_reader *a) {
  curl_mime *mime = curl_mime_init(h);
  curl_mimepart *text = mime ? curl_mime_addpart(mime) : NULL;
  curl_mimepart *file = text ? curl_mime_addpart(mime) : NULL;
  if (!file || curl_mime_data(text, m->body, CURL_ZERO_TERMINATED) ||
      curl_mime_type(text, "text/plain; charset=utf-8") ||
      curl_mime_encoder(text, "quoted-printable") ||
      curl_mime_data_cb(file, (curl_off_t)m->attach_size, read_attachment,
                        seek_attachment, NULL, a) ||
      curl_mime_filename(file, m->attach_name) ||
      curl_mime_type(file, m->attach_type) ||
      curl_mime_encoder(file, "base64")) {
    curl_mime_free(mime);
    return NULL;
  }
  return mime;
}

report_mail_status report_mail_send(const report_mail *m,
                                    report_mail_result *res) {
  memset(res, 0, sizeof *res);
  CURL *h = curl_easy_init();
  attach_reader a = {.fd = m->attach_fd, .size = m->attach_size};
  struct curl_slist *rcpt = NULL, *headers = mail_headers(m);
  curl_mime *mime = h ? mail_mime(h, m, &a) : NULL;
  for (size_t i = 0; i < m->to_count; i++) {
    struct curl_slist *n = curl_slist_append(rcpt, m->to[i]);
    if (!n)
      break;
    rcpt = n;
  }
  if (!h || !mime || !headers || !rcpt) {
    snprintf(res->text, sizeof res->text, "out of memory");
    curl_mime_free(mime);
    curl_slist_free_all(headers);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    return REPORT_MAIL_RETRY;
  }
  char from[CONFIG_MAIL_ADDRESS_MAX + 3], errbuf[CURL_ERROR_SIZE] = "";
  snprintf(from, sizeof from, "<%s>", m->smtp->from);
  progress_state p = {.keep_going = m->keep_going, .user = m->user};
  common_options(h, m->smtp);
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &p);
  CURLcode rc = curl_easy_perform(h);
  finish(h, rc, errbuf, res);
  report_mail_status st =
      p.aborted ? REPORT_MAIL_ABORTED : classify(rc, res->smtp_code);
  curl_mime_free(mime);
  curl_slist_free_all(headers);
  curl_slist_free_all(rcpt);
  curl_easy_cleanup(h);
  return st;
}

report_mail_status report_mail_check(const config_smtp *smtp,
                                     report_mail_result *res) {
  memset(res, 0, sizeof *res);
  CURL *h = curl_easy_init();
  if (!h) {
    snprintf(res->text, sizeof res->text, "out of memory");
    return REPORT_MAIL_RETRY;
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  common_options(h, smtp);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  /* Greeting, EHLO, STARTTLS and AUTH are curl's connection phase for
   * SMTP: stopping there sends no mail. */
  curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  CURLcode rc = curl_easy_perform(h);
  finish(h, rc, errbuf, res);
  report_mail_status st = classify(rc, res->smtp_code);
  curl_easy_cleanup(h);
  return st;
}
