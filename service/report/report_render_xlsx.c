/*
 * .xlsx with libxlsxwriter. A summary: a "Summary" sheet (totals, rates as
 * percentages with their definitions, the funnel, a chart of outcomes per
 * bucket), "Buckets", "By channel" and "By service line" as Excel tables
 * (frozen header, filters), and "About" (report, range, zone, filters,
 * when made). Interactions: written in constant-memory mode, row by row,
 * where tables are not allowed: a frozen header row with an autofilter.
 * Times are Excel date-times of the wall clock in the report's zone.
 */
#include <stdlib.h>
#include <string.h>
#include <xlsxwriter.h>

#include "report_render.h"

#define CELL_MAX 1024

typedef struct {
  lxw_workbook *wb;
  lxw_format *bold, *pct, *when, *num2, *wrap;
} book;

/* An Excel serial date-time of t's wall clock in zone. */
static double excel_time(const tz_zone *zone, int64_t t) {
  return (double)(t + tz_offset(zone, t)) / 86400.0 + 25569.0;
}

static void put_text(lxw_worksheet *ws, lxw_row_t r, lxw_col_t c, const char *s,
                     lxw_format *f) {
  char clean[CELL_MAX];
  report_text_utf8(s, clean, sizeof clean);
  worksheet_write_string(ws, r, c, clean, f);
}

static bool book_open(book *b, const char *path, bool constant_memory) {
  lxw_workbook_options o = {.constant_memory = constant_memory,
                            .tmpdir = getenv("TMPDIR")};
  b->wb = workbook_new_opt(path, &o);
  if (!b->wb)
    return false;
  b->bold = workbook_add_format(b->wb);
  format_set_bold(b->bold);
  b->pct = workbook_add_format(b->wb);
  format_set_num_format(b->pct, "0.0%");
  b->when = workbook_add_format(b->wb);
  format_set_num_format(b->when, "yyyy-mm-dd hh:mm:ss");
  b->num2 = workbook_add_format(b->wb);
  format_set_num_format(b->num2, "0.00");
  b->wrap = workbook_add_format(b->wb);
  format_set_text_wrap(b->wrap);
  return true;
}

static bool book_close(book *b, char *err, size_t err_len) {
  lxw_error e = workbook_close(b->wb);
  if (e != LXW_NO_ERROR)
    snprintf(err, err_len, "xlsx: %s", lxw_strerror(e));
  return e == LXW_NO_ERROR;
}

/* The "About" sheet. */
static void about_sheet(book *b, const report_doc *d, const char *title) {
  const report_params *p = d->p;
  lxw_worksheet *ws = workbook_add_worksheet(b->wb, "About");
  char from[32], to[32], made[32], filters[256];
  report_time_text(p->zone, p->from, from);
  report_time_text(p->zone, p->to, to);
  report_time_text(p->zone, p->made_at, made);
  report_filters_text(p, filters, sizeof filters);
  const char *rows[][2] = {{"Report", title},
                           {"From", from},
                           {"To (exclusive)", to},
                           {"Time zone", p->zone_name},
                           {"Filters", filters},
                           {"Made at", made},
                           {"Made by", "authflow " AUTHFLOW_VERSION}};
  worksheet_set_column(ws, 0, 0, 18, b->bold);
  worksheet_set_column(ws, 1, 1, 60, NULL);
  for (lxw_row_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    put_text(ws, r, 0, rows[r][0], b->bold);
    put_text(ws, r, 1, rows[r][1], NULL);
  }
}

/* ---------------------------------------------------------------------
 * Summary.
 * ------------------------------------------------------------------- */

#define COUNT_COLS 17 /* the counters of counts_row */

static const char *const count_headers[COUNT_COLS] = {
    "Started",          "Started ANI-identified",
    "Completed",        "Verified",
    "Identified only",  "Opted out",
    "Identify failed",  "Verify failed",
    "Locked",           "CRM unavailable",
    "Identified",       "Verified (auth)",
    "Transferred",      "CRM errors",
    "Context reused",   "Identification rate",
    "Verification rate"};

/* The counters of c from column col on: counts, then two rates. */
static void counts_row(const book *b, lxw_worksheet *ws, lxw_row_t r,
                       lxw_col_t col, const report_counts *c) {
  const long long v[] = {c->started,
                         c->started_ani,
                         c->completed,
                         c->outcome[FLOW_OUTCOME_VERIFIED],
                         c->outcome[FLOW_OUTCOME_IDENTIFIED_ONLY],
                         c->outcome[FLOW_OUTCOME_OPTED_OUT],
                         c->outcome[FLOW_OUTCOME_IDENTIFY_FAILED],
                         c->outcome[FLOW_OUTCOME_VERIFY_FAILED],
                         c->outcome[FLOW_OUTCOME_LOCKED],
                         c->outcome[FLOW_OUTCOME_CRM_UNAVAILABLE],
                         c->identified,
                         c->verified,
                         c->transfer,
                         c->crm_errors,
                         c->context_reused};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    worksheet_write_number(ws, r, (lxw_col_t)(col + i), (double)v[i], NULL);
  for (size_t i = 1; i <= 2; i++) {
    double rate, n, d;
    lxw_col_t at = (lxw_col_t)(col + sizeof v / sizeof v[0] + i - 1);
    if (report_rate_value(c, i, &rate, &n, &d))
      worksheet_write_number(ws, r, at, rate, b->pct);
    else
      worksheet_write_blank(ws, r, at, NULL);
  }
}

/* A table over rows 0..rows (header + rows) and columns 0..ncols-1. */
static void add_table(lxw_worksheet *ws, lxw_row_t rows, size_t ncols,
                      const char *const *headers, const char *name) {
  lxw_table_column cols[3 + COUNT_COLS];
  lxw_table_column *list[3 + COUNT_COLS + 1];
  for (size_t i = 0; i < ncols; i++) {
    cols[i] = (lxw_table_column){.header = (char *)headers[i]};
    list[i] = &cols[i];
  }
  list[ncols] = NULL;
  lxw_table_options o = {.name = (char *)name, .columns = list};
  worksheet_add_table(ws, 0, 0, rows > 0 ? rows : 1, (lxw_col_t)(ncols - 1),
                      &o);
  worksheet_freeze_panes(ws, 1, 0);
}

static void buckets_sheet(book *b, const report_doc *d,
                          const report_summary *s) {
  lxw_worksheet *ws = workbook_add_worksheet(b->wb, "Buckets");
  const char *headers[2 + COUNT_COLS] = {"Start", "End"};
  memcpy(headers + 2, count_headers, sizeof count_headers);
  worksheet_set_column(ws, 0, 1, 19, NULL);
  worksheet_set_column(ws, 2, 1 + COUNT_COLS, 12, NULL);
  for (size_t i = 0; i < s->bucket_count; i++) {
    lxw_row_t r = (lxw_row_t)(i + 1);
    worksheet_write_number(ws, r, 0, excel_time(d->p->zone, s->start[i]),
                           b->when);
    worksheet_write_number(ws, r, 1, excel_time(d->p->zone, s->start[i + 1]),
                           b->when);
    counts_row(b, ws, r, 2, &s->buckets[i]);
  }
  add_table(ws, (lxw_row_t)s->bucket_count, 2 + COUNT_COLS, headers, "Buckets");
}

static void named_sheet(book *b, const char *sheet, const char *what, size_t n,
                        const char *(*name_of)(const void *, size_t),
                        const void *src, const report_counts *counts) {
  lxw_worksheet *ws = workbook_add_worksheet(b->wb, sheet);
  const char *headers[1 + COUNT_COLS] = {what};
  memcpy(headers + 1, count_headers, sizeof count_headers);
  worksheet_set_column(ws, 0, 0, 24, NULL);
  worksheet_set_column(ws, 1, COUNT_COLS, 12, NULL);
  for (size_t i = 0; i < n; i++) {
    put_text(ws, (lxw_row_t)(i + 1), 0, name_of(src, i), NULL);
    counts_row(b, ws, (lxw_row_t)(i + 1), 1, &counts[i]);
  }
  add_table(ws, (lxw_row_t)n, 1 + COUNT_COLS, headers,
            strcmp(sheet, "By channel") == 0 ? "ByChannel" : "ByServiceLine");
}

static const char *channel_name(const void *src, size_t i) {
  return ((const report_channels *)src)->name[i];
}

static const char *line_name(const void *src, size_t i) {
  return ((const config *)src)->service_lines[i].name;
}

/* The "Summary" sheet: totals, rates, funnel and the chart. */
static void summary_sheet(book *b, const report_doc *d,
                          const report_summary *s) {
  lxw_worksheet *ws = workbook_add_worksheet(b->wb, "Summary");
  worksheet_set_column(ws, 0, 0, 30, NULL);
  worksheet_set_column(ws, 1, 3, 13, NULL);
  worksheet_set_column(ws, 4, 4, 70, b->wrap);
  char from[32], to[32], line[160];
  report_time_short(d->p->zone, d->p->from, from);
  report_time_short(d->p->zone, d->p->to, to);
  snprintf(line, sizeof line, "authflow summary, %s to %s (%s)", from, to,
           d->p->zone_name);
  put_text(ws, 0, 0, line, b->bold);
  const char *rate_headers[] = {"Rate", "Value", "Numerator", "Denominator",
                                "Definition"};
  for (lxw_col_t c = 0; c < 5; c++)
    worksheet_write_string(ws, 2, c, rate_headers[c], b->bold);
  lxw_row_t r = 3;
  for (size_t i = 0; i < REPORT_RATES; i++, r++) {
    const report_rate_def *def = &report_rate_defs[i];
    double v, n, den;
    bool has = report_rate_value(&s->total, i, &v, &n, &den);
    worksheet_write_string(ws, r, 0, def->label, NULL);
    if (has)
      worksheet_write_number(ws, r, 1, v, i >= 7 ? b->num2 : b->pct);
    else
      worksheet_write_string(ws, r, 1, "n/a", NULL);
    worksheet_write_number(ws, r, 2, n, NULL);
    worksheet_write_number(ws, r, 3, den, NULL);
    char text[256];
    snprintf(text, sizeof text, "%s (%s / %s)", def->definition, def->numerator,
             def->denominator);
    worksheet_write_string(ws, r, 4, text, b->wrap);
  }
  r++;
  worksheet_write_string(ws, r, 0, "Where callers left the flow", b->bold);
  worksheet_write_string(ws, r++, 1, "Sessions", b->bold);
  report_funnel_step steps[REPORT_FUNNEL_STEPS];
  report_funnel(&s->total, steps);
  for (size_t i = 0; i < REPORT_FUNNEL_STEPS; i++, r++) {
    worksheet_write_string(ws, r, 0, steps[i].label, NULL);
    worksheet_write_number(ws, r, 1, (double)steps[i].count, NULL);
  }
  worksheet_write_string(ws, r, 0, "Started", b->bold);
  worksheet_write_number(ws, r, 1, (double)s->total.started, b->bold);

  /* Outcomes per bucket, stacked: Buckets!F.. are the outcome columns. */
  lxw_chart *chart = workbook_add_chart(b->wb, LXW_CHART_COLUMN_STACKED);
  chart_title_set_name(chart, "Outcomes per bucket");
  lxw_row_t last = (lxw_row_t)(s->bucket_count ? s->bucket_count : 1);
  for (lxw_col_t c = 5; c <= 11; c++) {
    lxw_chart_series *ser = chart_add_series(chart, NULL, NULL);
    chart_series_set_categories(ser, "Buckets", 1, 0, last, 0);
    chart_series_set_values(ser, "Buckets", 1, c, last, c);
    chart_series_set_name(ser, count_headers[c - 2]);
  }
  lxw_chart_options co = {.x_scale = 1.6, .y_scale = 1.4};
  worksheet_insert_chart_opt(ws, 2, 6, chart, &co);
}

bool report_summary_xlsx(const char *path, const report_doc *d,
                         const report_summary *s, char *err, size_t err_len) {
  book b;
  if (!book_open(&b, path, false)) {
    snprintf(err, err_len, "xlsx: cannot create the workbook");
    return false;
  }
  summary_sheet(&b, d, s);
  buckets_sheet(&b, d, s);
  named_sheet(&b, "By channel", "Channel", s->channels->count, channel_name,
              s->channels, s->channels->counts);
  named_sheet(&b, "By service line", "Service line", s->line_count, line_name,
              d->cfg, s->lines);
  about_sheet(&b, d, "Summary");
  return book_close(&b, err, err_len);
}

/* ---------------------------------------------------------------------
 * Interactions, in constant-memory mode.
 * ------------------------------------------------------------------- */

struct report_rows_writer {
  book b;
  lxw_worksheet *ws;
  const report_doc *d;
  lxw_row_t row;
};

static report_rows_writer *xlsx_open(FILE *f, const char *path,
                                     const report_doc *d, char *err,
                                     size_t err_len) {
  (void)f;
  report_rows_writer *w = calloc(1, sizeof *w);
  if (!w || !book_open(&w->b, path, true)) {
    free(w);
    snprintf(err, err_len, "xlsx: cannot create the workbook");
    return NULL;
  }
  w->d = d;
  w->ws = workbook_add_worksheet(w->b.wb, "Interactions");
  worksheet_freeze_panes(w->ws, 1, 0);
  worksheet_set_column(w->ws, 0, 1, 20, NULL);
  worksheet_set_column(w->ws, 2, 1 + REPORT_ROW_COLUMNS, 16, NULL);
  worksheet_write_string(w->ws, 0, 0, "id", w->b.bold);
  worksheet_write_string(w->ws, 0, 1, "time", w->b.bold);
  for (size_t i = 0; i < REPORT_ROW_COLUMNS; i++)
    worksheet_write_string(w->ws, 0, (lxw_col_t)(i + 2), report_row_columns[i],
                           w->b.bold);
  return w;
}

static bool xlsx_row(report_rows_writer *w, const report_row *r) {
  lxw_row_t at = ++w->row;
  if (at >= LXW_ROW_MAX)
    return false;
  put_text(w->ws, at, 0, r->id, NULL);
  worksheet_write_number(
      w->ws, at, 1, excel_time(w->d->p->zone, r->time_ms / 1000), w->b.when);
  for (size_t i = 0; i < REPORT_ROW_COLUMNS; i++) {
    lxw_col_t c = (lxw_col_t)(i + 2);
    bool number = i >= 5 && i <= 9;
    if (number)
      worksheet_write_number(w->ws, at, c, strtod(r->v[i], NULL), NULL);
    else
      put_text(w->ws, at, c, r->v[i], NULL);
  }
  return true;
}

static bool xlsx_close(report_rows_writer *w, const report_scan_result *res,
                       bool keep, char *err, size_t err_len) {
  (void)res;
  worksheet_autofilter(w->ws, 0, 0, w->row, 1 + REPORT_ROW_COLUMNS);
  about_sheet(&w->b, w->d, "Interactions");
  /* Closed either way (it owns temporary files); an abandoned file is
   * unlinked by report_make. */
  bool ok = book_close(&w->b, err, err_len);
  free(w);
  return !keep || ok;
}

const report_rows_ops report_rows_xlsx = {xlsx_open, xlsx_row, xlsx_close};
