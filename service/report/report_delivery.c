#include "report_delivery.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_make.h"
#include "report_render.h"
#include "store.h"

static report_format format_of(const char *name) {
  static const char *const names[] = {"json", "csv", "xlsx", "pdf"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0)
      return (report_format)i;
  return REPORT_FORMAT_PDF;
}

/* The report's request: the period, the zone, the schedule's filters. A
 * day is summarised by hour, longer periods by day. */
static void params_of(const report_delivery_job *j, int64_t now,
                      report_params *p) {
  memset(p, 0, sizeof *p);
  p->kind = strcmp(j->s->report, "summary") == 0 ? REPORT_KIND_SUMMARY
                                                 : REPORT_KIND_INTERACTIONS;
  p->format = format_of(j->s->format);
  p->from = j->period.from;
  p->to = j->period.to;
  p->zone = j->zone;
  snprintf(p->zone_name, sizeof p->zone_name, "%s", j->zone_name);
  p->bucket =
      j->s->every == CONFIG_EVERY_DAY ? REPORT_BUCKET_HOUR : REPORT_BUCKET_DAY;
  snprintf(p->line, sizeof p->line, "%s", j->s->service_line);
  snprintf(p->channel, sizeof p->channel, "%s", j->s->channel);
  p->limit = 1000;
  p->made_at = now;
}

/* "2 days 3 h" / "4 h 10 min" / "12 min". */
static void duration_text(int64_t s, char *out, size_t len) {
  int64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
  if (d > 0)
    snprintf(out, len, "%lld day%s %lld h", (long long)d, d == 1 ? "" : "s",
             (long long)h);
  else if (h > 0)
    snprintf(out, len, "%lld h %lld min", (long long)h, (long long)m);
  else
    snprintf(out, len, "%lld min", (long long)m);
}

static void subject_of(const report_delivery_job *j, bool late, char *out,
                       size_t len) {
  snprintf(out, len, "[authflow] %s: %s report for %s (%s)%s%s", j->s->name,
           j->s->report, j->period.label, j->zone_name, late ? " [late]" : "",
           j->manual ? " [run on demand]" : "");
}

/* One headline line: "Verified: 80 (88.9 % of completed)". */
static size_t headline(char *out, size_t len, const char *label, long long n,
                       long long of) {
  if (of > 0)
    return (size_t)snprintf(out, len, "%-26s %lld (%.1f %% of completed)\n",
                            label, n, 100.0 * (double)n / (double)of);
  return (size_t)snprintf(out, len, "%-26s %lld\n", label, n);
}

/* The mail's text: what the report is, whether it is late, the headline
 * numbers, and the attachment's name. */
static void body_of(const report_delivery_job *j, const report_file *f,
                    const report_delivery_outcome *o, char *out, size_t len) {
  char from[32], to[32], filters[160] = "none";
  report_time_text(j->zone, j->period.from, from);
  report_time_text(j->zone, j->period.to, to);
  if (j->s->service_line[0] || j->s->channel[0])
    snprintf(filters, sizeof filters, "%s%s%s%s",
             j->s->service_line[0] ? "service line " : "", j->s->service_line,
             j->s->service_line[0] && j->s->channel[0] ? ", channel "
             : j->s->channel[0]                        ? "channel "
                                                       : "",
             j->s->channel);
  size_t n = (size_t)snprintf(
      out, len,
      "authflow %s report \"%s\" for %s (%s)\n\nRange:   %s to %s "
      "(end exclusive)\nFilters: %s\n\n",
      j->s->report, j->s->name, j->period.label, j->zone_name, from, to,
      filters);
  if (o->late && n < len) {
    char due[32], late[48];
    report_time_text(j->zone, j->period.due, due);
    duration_text(o->late_seconds, late, sizeof late);
    n += (size_t)snprintf(out + n, len - n,
                          "LATE: this report was due %s and is sent %s "
                          "later (authflow was not running, or could not "
                          "reach the mail server, at the time).\n\n",
                          due, late);
  }
  if (j->manual && n < len)
    n += (size_t)snprintf(out + n, len - n,
                          "Sent on demand (POST /v1/reports/schedules/%s/run)."
                          "\n\n",
                          j->s->name);
  const report_counts *c = &f->total;
  if (strcmp(j->s->report, "summary") == 0 && n < len) {
    n += headline(out + n, len - n, "Started:", c->started, 0);
    n +=
        n < len ? headline(out + n, len - n, "Completed:", c->completed, 0) : 0;
    n += n < len ? headline(out + n, len - n, "Identified:", c->identified,
                            c->completed)
                 : 0;
    n += n < len ? headline(out + n, len - n, "Verified:", c->verified,
                            c->completed)
                 : 0;
    n += n < len ? headline(out + n, len - n,
                            "Contained (no agent):", c->completed - c->transfer,
                            c->completed)
                 : 0;
    n += n < len
             ? headline(out + n, len - n,
                        "Transferred to an agent:", c->transfer, c->completed)
             : 0;
  } else if (n < len) {
    n += (size_t)snprintf(out + n, len - n, "Interactions: %zu\n", f->rows);
  }
  if (n < len)
    snprintf(out + n, len - n,
             "\nThe report is attached: %s (%llu bytes).\n-- \nauthflow "
             "scheduled reports; see GET /v1/reports/deliveries\n",
             f->filename, (unsigned long long)f->size);
}

/* A report that could not be made: permanent when it never can be (more
 * rows than a file may hold), else worth another try. */
static void make_failed(report_status st, const report_why *why,
                        report_delivery_outcome *out) {
  out->status = st == REPORT_REFUSED ? REPORT_MAIL_REFUSED : REPORT_MAIL_RETRY;
  snprintf(out->error, sizeof out->error,
           "the report could not be made: %.200s",
           why->text[0] ? why->text : "unknown reason");
}

/* A report made on a thread of its own (make_thread). */
typedef struct {
  const config *cfg;
  report_params p;
  report_file f;
  report_why why;
  report_status st;
  bool done;
  pthread_mutex_t mutex;
  pthread_cond_t cond;
} make_job;

/* Reads go where reports read (reporting.redisUrl: a replica), not to the
 * primary the scheduler's claims need; the thread and its connection last
 * one report. */
static void *make_thread(void *arg) {
  make_job *m = arg;
  store_report_use_target();
  report_status st = report_make(m->cfg, &m->p, &m->f, &m->why);
  store_thread_cleanup();
  pthread_mutex_lock(&m->mutex);
  m->st = st;
  m->done = true;
  pthread_cond_signal(&m->cond);
  pthread_mutex_unlock(&m->mutex);
  return NULL;
}

/* Make the report of p, asking keep_going about once a second meanwhile
 * (the scheduler renews its claim there, so a report that takes longer
 * than the lease keeps it). The report cannot be cut short: when
 * keep_going says stop, the file is made, then dropped (*stopped). */
static report_status make_report(const report_delivery_job *j,
                                 const report_params *p, report_file *f,
                                 report_why *why, bool *stopped) {
  make_job m = {.cfg = j->cfg,
                .p = *p,
                .mutex = PTHREAD_MUTEX_INITIALIZER,
                .cond = PTHREAD_COND_INITIALIZER};
  *stopped = false;
  pthread_t t;
  if (pthread_create(&t, NULL, make_thread, &m) != 0)
    return report_make(j->cfg, p, f, why); /* on this thread, then */
  pthread_mutex_lock(&m.mutex);
  while (!m.done) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    if (pthread_cond_timedwait(&m.cond, &m.mutex, &until) == ETIMEDOUT &&
        !m.done && j->keep_going) {
      pthread_mutex_unlock(&m.mutex);
      *stopped = *stopped || !j->keep_going(j->user);
      pthread_mutex_lock(&m.mutex);
    }
  }
  pthread_mutex_unlock(&m.mutex);
  pthread_join(t, NULL);
  *f = m.f;
  *why = m.why;
  if (*stopped && m.st == REPORT_OK)
    report_file_close(f);
  return m.st;
}

void report_delivery_attempt(const report_delivery_job *j, int64_t now,
                             report_delivery_outcome *out) {
  memset(out, 0, sizeof *out);
  out->late_seconds = now - j->period.due;
  out->late =
      !j->manual && out->late_seconds > REPORT_SCHEDULE_LATE_AFTER_SECONDS;
  report_params p;
  params_of(j, now, &p);
  report_file f;
  report_why why = {.text = ""};
  bool stopped = false;
  report_status st = make_report(j, &p, &f, &why, &stopped);
  if (stopped) {
    out->status = REPORT_MAIL_ABORTED;
    snprintf(out->error, sizeof out->error,
             "stopped while the report was made");
    return;
  }
  if (st != REPORT_OK) {
    make_failed(st, &why, out);
    return;
  }
  snprintf(out->filename, sizeof out->filename, "%s", f.filename);
  out->bytes = f.size;
  char subject[256], body[2048], message_id[256];
  subject_of(j, out->late, subject, sizeof subject);
  body_of(j, &f, out, body, sizeof body);
  /* A scheduled period's mail always has the same Message-ID, so a
   * receiving system that drops duplicates drops a resend. */
  if (j->manual)
    snprintf(message_id, sizeof message_id, "<authflow.%s.%s.%lld@authflow>",
             j->s->name, j->period.key, (long long)now);
  else
    snprintf(message_id, sizeof message_id, "<authflow.%s.%s@authflow>",
             j->s->name, j->period.key);
  report_mail m = {.smtp = &j->cfg->reporting.smtp,
                   .to = j->s->to,
                   .to_count = j->s->to_count,
                   .subject = subject,
                   .body = body,
                   .message_id = message_id,
                   .attach_fd = f.fd,
                   .attach_size = f.size,
                   .attach_name = f.filename,
                   .attach_type = f.content_type,
                   .keep_going = j->keep_going,
                   .user = j->user};
  report_mail_result r;
  out->status = report_mail_send(&m, &r);
  out->smtp_code = r.smtp_code;
  snprintf(out->error, sizeof out->error, "%s", r.text);
  report_file_close(&f);
}

char *report_delivery_record(const report_delivery_job *j,
                             const report_delivery_outcome *o,
                             const char *result, int attempts, int64_t now) {
  char from[32], to[32], at[32];
  report_time_text(j->zone, j->period.from, from);
  report_time_text(j->zone, j->period.to, to);
  report_time_text(tz_utc(), now, at);
  json_t *rcpt = json_array();
  for (size_t i = 0; rcpt && i < j->s->to_count; i++)
    json_array_append_new(rcpt, json_string(j->s->to[i]));
  json_t *rec = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:o, s:s, s:i, s:s, "
      "s:I, s:b, s:s, s:s, s:I}",
      "schedule", j->s->name, "trigger", j->manual ? "manual" : "schedule",
      "report", j->s->report, "format", j->s->format, "timeZone", j->zone_name,
      "period", "label", j->period.label, "from", from, "to", to, "recipients",
      rcpt ? rcpt : json_array(), "result", result, "attempts", attempts,
      "time", at, "smtpCode", (json_int_t)o->smtp_code, "late", o->late,
      "error", o->error, "file", o->filename, "bytes", (json_int_t)o->bytes);
  char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
  json_decref(rec);
  return text;
}
