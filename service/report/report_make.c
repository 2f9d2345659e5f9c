#include "report_make.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report_render.h"

/* Stream entries a JSON page may read while filtering (the cursor then
 * goes on); a file reads the whole range. */
#define PAGE_SCAN_MAX 20000
#define FILE_SCAN_MAX ((size_t)-1)

const report_rate_def report_rate_defs[REPORT_RATES] = {
    {"aniIdentificationRate", "ANI identification rate",
     "Sessions identified by the caller's number at start, of sessions "
     "started.",
     "startedAniIdentified", "started"},
    {"identificationRate", "Identification rate",
     "Completed sessions that identified the customer, of completed.",
     "identified", "completed"},
    {"verificationRate", "Verification rate",
     "Completed sessions that verified the customer, of completed.", "verified",
     "completed"},
    {"containmentRate", "Containment rate",
     "Completed sessions that did not transfer to an agent, of completed.",
     "completed - transferred", "completed"},
    {"transferRate", "Transfer rate",
     "Completed sessions that transferred to an agent, of completed.",
     "transferred", "completed"},
    {"optOutRate", "Opt-out rate",
     "Completed sessions where the caller asked for an agent, of completed.",
     "opted_out", "completed"},
    {"contextReuseRate", "Context reuse rate",
     "Completed sessions identified by a linked session or a handoff "
     "instead of asking again, of completed.",
     "contextReused", "completed"},
    {"averageAttempts", "Average attempts",
     "Identify and verify attempts per completed session.", "attempts",
     "completed"},
    {"averageDurationSeconds", "Average duration (s)",
     "Seconds from start to completion per completed session.",
     "durationSeconds", "completed"},
};

bool report_rate_value(const report_counts *c, size_t i, double *rate,
                       double *num, double *den) {
  double n = 0, d = (double)c->completed;
  switch (i) {
  case 0:
    n = (double)c->started_ani;
    d = (double)c->started;
    break;
  case 1:
    n = (double)c->identified;
    break;
  case 2:
    n = (double)c->verified;
    break;
  case 3:
    n = (double)(c->completed - c->transfer);
    break;
  case 4:
    n = (double)c->transfer;
    break;
  case 5:
    n = (double)c->outcome[FLOW_OUTCOME_OPTED_OUT];
    break;
  case 6:
    n = (double)c->context_reused;
    break;
  case 7:
    n = (double)c->attempts;
    break;
  default:
    n = (double)c->duration_ms / 1000.0;
    break;
  }
  *num = n;
  *den = d;
  *rate = d > 0 ? n / d : 0;
  return d > 0;
}

void report_funnel(const report_counts *c,
                   report_funnel_step out[REPORT_FUNNEL_STEPS]) {
  long long done = c->outcome[FLOW_OUTCOME_VERIFIED] +
                   c->outcome[FLOW_OUTCOME_IDENTIFIED_ONLY];
  long long open = c->started - c->completed;
  const report_funnel_step steps[REPORT_FUNNEL_STEPS] = {
      {"identifyFailed", "Identify failed",
       c->outcome[FLOW_OUTCOME_IDENTIFY_FAILED]},
      {"verifyFailed", "Verify failed", c->outcome[FLOW_OUTCOME_VERIFY_FAILED]},
      {"locked", "Locked", c->outcome[FLOW_OUTCOME_LOCKED]},
      {"optedOut", "Opted out", c->outcome[FLOW_OUTCOME_OPTED_OUT]},
      {"crmUnavailable", "CRM unavailable",
       c->outcome[FLOW_OUTCOME_CRM_UNAVAILABLE]},
      {"completed", "Completed (identified or verified)", done},
      {"notCompleted", "Not completed (hung up or still in the flow)",
       open > 0 ? open : 0},
  };
  memcpy(out, steps, sizeof steps);
}

/* text into out (n bytes), cut to fit. */
static void copy_cut(char *out, size_t n, const char *text) {
  size_t len = strnlen(text, n - 1);
  memcpy(out, text, len);
  out[len] = '\0';
}

void report_time_text(const tz_zone *zone, int64_t t, char out[32]) {
  tz_civil c;
  tz_local(zone, t, &c);
  char off[32] = "Z";
  if (c.offset != 0) {
    int32_t a = c.offset < 0 ? -c.offset : c.offset;
    snprintf(off, sizeof off, "%c%02d:%02d", c.offset < 0 ? '-' : '+',
             (int)(a / 3600), (int)(a / 60 % 60));
  }
  char text[96]; /* room for any int, so the compiler sees no cut */
  snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d%s",
           (int)(c.year % 10000), c.month, c.day, c.hour, c.minute, c.second,
           off);
  copy_cut(out, 32, text);
}

void report_time_short(const tz_zone *zone, int64_t t, char out[24]) {
  tz_civil c;
  tz_local(zone, t, &c);
  char text[96];
  snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d", (int)(c.year % 10000),
           c.month, c.day, c.hour, c.minute);
  copy_cut(out, 24, text);
}

const char *report_format_content_type(report_format f) {
  switch (f) {
  case REPORT_FORMAT_CSV:
    return "text/csv; charset=utf-8";
  case REPORT_FORMAT_XLSX:
    return "application/"
           "vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  case REPORT_FORMAT_PDF:
    return "application/pdf";
  default:
    return "application/json";
  }
}

const char *report_format_extension(report_format f) {
  static const char *const ext[] = {"json", "csv", "xlsx", "pdf"};
  return ext[f];
}

/* A new empty file in the spool directory: its path in path, its
 * descriptor returned (-1 on failure). */
static int spool_file(char *path, size_t path_len) {
  const char *dir = getenv("TMPDIR");
  snprintf(path, path_len, "%s/authflow-report-XXXXXX",
           dir && *dir ? dir : "/tmp");
  return mkostemp(path, O_CLOEXEC);
}

static void make_filename(const report_params *p, report_file *out) {
  tz_civil a, b;
  tz_local(p->zone, p->from, &a);
  tz_local(p->zone, p->to - 1, &b);
  char zone[REPORT_ZONE_NAME_MAX + 1];
  snprintf(zone, sizeof zone, "%s", p->zone_name);
  for (char *z = zone; *z; z++)
    if (*z == '/')
      *z = '-';
  snprintf(out->filename, sizeof out->filename,
           "authflow-%s_%04d-%02d-%02d_%04d-%02d-%02d_%s.%s",
           p->kind == REPORT_KIND_SUMMARY ? "summary" : "interactions",
           (int)(a.year % 10000), a.month, a.day, (int)(b.year % 10000),
           b.month, b.day, zone, report_format_extension(p->format));
}

/* Render the summary of p into the file at path (its descriptor fd). */
static report_status make_summary(const report_doc *d, const char *path, int fd,
                                  report_file *out, report_why *why) {
  report_summary s;
  store_status st =
      report_summary_read(d->cfg, d->p, &s, why->text, sizeof why->text);
  if (st != STORE_OK) {
    why->store_st = st;
    return REPORT_STORE;
  }
  out->total = s.total;
  bool ok = false;
  FILE *f = NULL;
  switch (d->p->format) {
  case REPORT_FORMAT_XLSX:
    ok = report_summary_xlsx(path, d, &s, why->text, sizeof why->text);
    break;
  case REPORT_FORMAT_PDF:
    ok = report_summary_pdf(path, d, &s, why->text, sizeof why->text);
    break;
  default:
    f = fdopen(dup(fd), "w");
    ok = f &&
         (d->p->format == REPORT_FORMAT_CSV ? report_summary_csv(f, d, &s)
                                            : report_summary_json(f, d, &s));
    ok = f && fclose(f) == 0 && ok;
    if (!ok)
      snprintf(why->text, sizeof why->text, "cannot write the report: %s",
               strerror(errno));
  }
  report_summary_free(&s);
  return ok ? REPORT_OK : REPORT_FAILED;
}

typedef struct {
  const report_rows_ops *ops;
  report_rows_writer *w;
} rows_ctx;

static bool on_row(void *user, const report_row *r) {
  rows_ctx *c = user;
  return c->ops->row(c->w, r);
}

/* Stream the interactions of p into the file at path. */
static report_status make_interactions(const report_doc *d, const char *path,
                                       int fd, report_file *out,
                                       report_why *why) {
  const report_params *p = d->p;
  static const report_rows_ops *const ops[] = {
      &report_rows_json, &report_rows_csv, &report_rows_xlsx, &report_rows_pdf};
  bool page = p->format == REPORT_FORMAT_JSON;
  size_t max_rows = page ? p->limit : (size_t)d->cfg->report_export_max_rows;
  if (p->format == REPORT_FORMAT_PDF && max_rows > REPORT_PDF_MAX_ROWS)
    max_rows = REPORT_PDF_MAX_ROWS;
  if (p->format == REPORT_FORMAT_XLSX && max_rows > REPORT_XLSX_MAX_ROWS)
    max_rows = REPORT_XLSX_MAX_ROWS;
  FILE *f = NULL;
  if (p->format == REPORT_FORMAT_JSON || p->format == REPORT_FORMAT_CSV) {
    f = fdopen(dup(fd), "w");
    if (!f) {
      snprintf(why->text, sizeof why->text, "cannot write the report");
      return REPORT_FAILED;
    }
  }
  rows_ctx c = {.ops = ops[p->format]};
  c.w = c.ops->open(f, path, d, why->text, sizeof why->text);
  if (!c.w) {
    if (f)
      fclose(f);
    return REPORT_FAILED;
  }
  report_scan_result res;
  store_status st =
      report_scan(p, max_rows, page ? PAGE_SCAN_MAX : FILE_SCAN_MAX, on_row, &c,
                  &res, why->text, sizeof why->text);
  bool refused = !page && (res.more || res.next[0]);
  bool keep = st == STORE_OK && !res.write_failed && !refused;
  char cerr[128] = "";
  bool closed = c.ops->close(c.w, &res, keep, cerr, sizeof cerr);
  if (f && fclose(f) != 0)
    closed = false;
  out->rows = res.matched;
  if (st != STORE_OK) {
    why->store_st = st;
    return REPORT_STORE;
  }
  if (refused) {
    /* Never cut a file: refuse it and say what to change. */
    if (p->format == REPORT_FORMAT_PDF && max_rows == REPORT_PDF_MAX_ROWS)
      snprintf(why->text, sizeof why->text,
               "format=pdf lists at most %d interactions; use format=xlsx "
               "or csv, or narrow from/to or add a filter",
               REPORT_PDF_MAX_ROWS);
    else
      snprintf(why->text, sizeof why->text,
               "from/to: the export would hold more than %zu interactions "
               "(reporting.exportMaxRows); narrow from/to or add a filter",
               max_rows);
    return REPORT_REFUSED;
  }
  if (res.write_failed || !closed) {
    snprintf(why->text, sizeof why->text, "cannot write the report%s%s",
             cerr[0] ? ": " : "", cerr);
    return REPORT_FAILED;
  }
  return REPORT_OK;
}

report_status report_make(const config *cfg, const report_params *p,
                          report_file *out, report_why *why) {
  memset(out, 0, sizeof *out);
  out->fd = -1;
  why->text[0] = '\0';
  why->store_st = STORE_OK;
  char path[512];
  int fd = spool_file(path, sizeof path);
  if (fd < 0) {
    snprintf(why->text, sizeof why->text,
             "cannot create a temporary file for the report: %s",
             strerror(errno));
    return REPORT_FAILED;
  }
  /* json and csv are written through fd, unlinked at once; xlsx and pdf
   * by their libraries to path, opened again when they are done. */
  bool by_path =
      p->format == REPORT_FORMAT_XLSX || p->format == REPORT_FORMAT_PDF;
  if (!by_path)
    unlink(path);
  report_doc d = {.cfg = cfg, .p = p};
  report_status rs = p->kind == REPORT_KIND_SUMMARY
                         ? make_summary(&d, path, fd, out, why)
                         : make_interactions(&d, path, fd, out, why);
  if (by_path) {
    close(fd);
    fd = rs == REPORT_OK ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    unlink(path);
    if (rs == REPORT_OK && fd < 0) {
      snprintf(why->text, sizeof why->text, "cannot reopen the report: %s",
               strerror(errno));
      rs = REPORT_FAILED;
    }
  }
  struct stat sb;
  if (rs == REPORT_OK && fstat(fd, &sb) != 0) {
    snprintf(why->text, sizeof why->text, "cannot read the report back");
    rs = REPORT_FAILED;
  }
  if (rs != REPORT_OK) {
    if (fd >= 0)
      close(fd);
    return rs;
  }
  (void)lseek(fd, 0, SEEK_SET);
  out->fd = fd;
  out->size = (uint64_t)sb.st_size;
  out->content_type = report_format_content_type(p->format);
  make_filename(p, out);
  return REPORT_OK;
}

void report_file_close(report_file *out) {
  if (out->fd >= 0)
    close(out->fd);
  out->fd = -1;
}
