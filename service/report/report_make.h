/*
 * report_make: a whole report, read and rendered into a file, on the
 * calling thread (which may block: never an event loop). This is the API
 * for anything that makes reports: the HTTP endpoints (report_api) and a
 * scheduler that mails them.
 *
 *   report_params p = {.kind = REPORT_KIND_SUMMARY,
 *                      .format = REPORT_FORMAT_XLSX, .from = f, .to = t,
 *                      .zone = report_zone_get("Asia/Seoul", e, n),
 *                      .zone_name = "Asia/Seoul",
 *                      .bucket = REPORT_BUCKET_DAY, .made_at = now};
 *   report_file out;
 *   if (report_make(cfg, &p, &out, &why) == REPORT_OK) {
 *     ... read out.fd (out.size bytes from offset 0), attach it as
 *     out.filename with out.content_type; out.total holds the headline
 *     numbers of a summary, out.rows the rows of an interactions file ...
 *     report_file_close(&out);
 *   }
 *
 * The file is an unlinked temporary file (under $TMPDIR, default /tmp):
 * it vanishes when its descriptor is closed, and a report is never held
 * whole in memory (an interactions .xlsx is written in libxlsxwriter's
 * constant-memory mode).
 */
#ifndef AUTHFLOW_REPORT_MAKE_H
#define AUTHFLOW_REPORT_MAKE_H

#include <stdint.h>

#include "report_query.h"

/* Most interactions a PDF lists: a printed report, not an export (the
 * .xlsx and .csv hold up to reporting.exportMaxRows). */
#define REPORT_PDF_MAX_ROWS 5000
/* An Excel sheet's rows, less the header. */
#define REPORT_XLSX_MAX_ROWS 1048575

typedef struct {
  int fd;                   /* positioned at 0; the caller owns it */
  uint64_t size;            /* bytes */
  const char *content_type; /* static */
  /* "authflow-<report>_<first day>_<last day>_<zone>.<ext>": the
   * report, its range (local dates, inclusive) and its zone ('/' -> '-') */
  char filename[192];
  report_counts total; /* summary: the range's totals (headline numbers) */
  size_t rows;         /* interactions: rows in the file */
} report_file;

typedef enum {
  REPORT_OK = 0,
  REPORT_REFUSED, /* the request cannot be answered as asked (a 400):
                     more rows than a file may hold; *why says which
                     parameter to change */
  REPORT_STORE,   /* the store failed: *store_st, reason in *why */
  REPORT_FAILED,  /* no memory, no disk, a library failed: *why */
} report_status;

typedef struct {
  char text[256];
  store_status store_st; /* with REPORT_STORE */
} report_why;

/* Read and render report p into *out (REPORT_OK), or say why not. */
report_status report_make(const config *cfg, const report_params *p,
                          report_file *out, report_why *why);

/* Close out->fd (the temporary file goes with it). Safe twice. */
void report_file_close(report_file *out);

/* The MIME type and file extension of a format. */
const char *report_format_content_type(report_format f);
const char *report_format_extension(report_format f);

#endif
