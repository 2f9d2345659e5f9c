/*
 * report_render: the renderers behind report_make, one file per format
 * (report_render_text.c: json and csv; report_render_xlsx.c;
 * report_render_pdf.c). Internal to service/report.
 *
 * A summary is rendered from its report_summary in one call. Interactions
 * are streamed: open, one call per row as the scan finds it, close.
 * Renderers write to `f` (json, csv) or to the file at `path` (xlsx, pdf:
 * the libraries write files themselves). Each returns false with a reason
 * in err when it could not write.
 */
#ifndef AUTHFLOW_REPORT_RENDER_H
#define AUTHFLOW_REPORT_RENDER_H

#include <stdio.h>

#include "report_query.h"

typedef struct {
  const config *cfg;
  const report_params *p;
} report_doc;

/* "2024-03-10T01:30:00-05:00": t's wall clock in p's zone, with its
 * offset ("Z" in UTC). */
void report_time_text(const tz_zone *zone, int64_t t, char out[32]);

/* "2024-03-10 01:30" (no offset), for printed tables. */
void report_time_short(const tz_zone *zone, int64_t t, char out[24]);

/* `in` as valid UTF-8 without control characters (each bad byte becomes
 * '?'), cut to fit out_len (>= 1) on a character boundary. */
void report_text_utf8(const char *in, char *out, size_t out_len);

/* `in` in Windows-1252 (the PDF's built-in fonts): every character that
 * has no glyph there becomes '?', so it shows as replaced; *replaced is set
 * when one did. */
void report_text_latin(const char *in, char *out, size_t out_len,
                       bool *replaced);

/* The filters of p in words ("service line retail, channel all"). */
void report_filters_text(const report_params *p, char *out, size_t out_len);

/* The definition, numerator and denominator of each rate. */
typedef struct {
  const char *key;        /* JSON name, e.g. "identificationRate" */
  const char *label;      /* "Identification rate" */
  const char *definition; /* one sentence */
  const char *numerator, *denominator; /* counter names */
} report_rate_def;
#define REPORT_RATES 9
extern const report_rate_def report_rate_defs[REPORT_RATES];

/* Rate i of c (report_rate_defs order), its numerator and denominator;
 * false when the denominator is 0 (the rate is undefined). */
bool report_rate_value(const report_counts *c, size_t i, double *rate,
                       double *num, double *den);

/* The funnel: where callers left the flow. */
#define REPORT_FUNNEL_STEPS 7
typedef struct {
  const char *key, *label;
  long long count;
} report_funnel_step;
void report_funnel(const report_counts *c,
                   report_funnel_step out[REPORT_FUNNEL_STEPS]);

bool report_summary_json(FILE *f, const report_doc *d, const report_summary *s);
bool report_summary_csv(FILE *f, const report_doc *d, const report_summary *s);
bool report_summary_xlsx(const char *path, const report_doc *d,
                         const report_summary *s, char *err, size_t err_len);
bool report_summary_pdf(const char *path, const report_doc *d,
                        const report_summary *s, char *err, size_t err_len);

/* A streamed interactions file. */
typedef struct report_rows_writer report_rows_writer;
typedef struct {
  report_rows_writer *(*open)(FILE *f, const char *path, const report_doc *d,
                              char *err, size_t err_len);
  bool (*row)(report_rows_writer *w, const report_row *r);
  /* Finish (keep true) or abandon the file; frees w. */
  bool (*close)(report_rows_writer *w, const report_scan_result *res, bool keep,
                char *err, size_t err_len);
} report_rows_ops;

extern const report_rows_ops report_rows_json, report_rows_csv,
    report_rows_xlsx, report_rows_pdf;

#endif
