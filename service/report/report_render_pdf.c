/*
 * .pdf with libharu: A4 landscape, for a manager to read. A summary: title,
 * range, zone, filters and when made; the totals; every rate with its
 * definition, numerator and denominator; where callers left the flow; a
 * chart of outcomes per bucket; then the buckets, channels and service
 * lines as tables. Interactions: the same heading, then a table (at most
 * REPORT_PDF_MAX_ROWS rows; report_make refuses more). Every page is
 * numbered "Page n of N".
 *
 * Text uses the built-in Helvetica in Windows-1252: a character it cannot
 * show (a non-Latin service-line label, a name) is printed as '?', and the
 * heading says that some characters were replaced; nothing else is cut
 * or corrupted.
 */
#include <hpdf.h>
#include <stdlib.h>
#include <string.h>

#include "report_make.h"
#include "report_render.h"

#define PAGE_W 842.0f
#define PAGE_H 595.0f
#define MARGIN 36.0f
#define ROW_H 12.0f
#define PAGES_MAX 1000

typedef struct {
  HPDF_Doc doc;
  HPDF_Font font, bold;
  HPDF_Page page;
  HPDF_Page pages[PAGES_MAX];
  size_t page_count;
  float y;
  bool failed, replaced;
  const report_doc *d;
  const char *title;
} pdf;

static void on_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user) {
  (void)error_no;
  (void)detail_no;
  ((pdf *)user)->failed = true;
}

/* Text at (x, y), converted to the font's encoding and cut to max_w
 * points (0: no limit). */
static void text_at(pdf *p, float x, float y, float size, bool bold,
                    const char *s, float max_w) {
  char t[512];
  report_text_latin(s, t, sizeof t, &p->replaced);
  HPDF_Page_SetFontAndSize(p->page, bold ? p->bold : p->font, size);
  size_t n = strlen(t);
  while (max_w > 0 && n > 0 && HPDF_Page_TextWidth(p->page, t) > max_w)
    t[--n] = '\0';
  HPDF_Page_BeginText(p->page);
  HPDF_Page_TextOut(p->page, x, y, t);
  HPDF_Page_EndText(p->page);
}

static void new_page(pdf *p) {
  if (p->page_count == PAGES_MAX) {
    p->failed = true;
    return;
  }
  p->page = HPDF_AddPage(p->doc);
  HPDF_Page_SetSize(p->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_LANDSCAPE);
  p->pages[p->page_count++] = p->page;
  p->y = PAGE_H - MARGIN;
}

/* Room for h more points on this page, or a new one. */
static void need(pdf *p, float h) {
  if (p->y - h < MARGIN + 14)
    new_page(p);
}

static bool pdf_open(pdf *p, const report_doc *d, const char *title) {
  memset(p, 0, sizeof *p);
  p->d = d;
  p->title = title;
  p->doc = HPDF_New(on_error, p);
  if (!p->doc)
    return false;
  HPDF_SetCompressionMode(p->doc, HPDF_COMP_ALL);
  p->font = HPDF_GetFont(p->doc, "Helvetica", "WinAnsiEncoding");
  p->bold = HPDF_GetFont(p->doc, "Helvetica-Bold", "WinAnsiEncoding");
  HPDF_SetInfoAttr(p->doc, HPDF_INFO_CREATOR, "authflow");
  HPDF_SetInfoAttr(p->doc, HPDF_INFO_TITLE, title);
  new_page(p);
  return !p->failed;
}

/* Title, range, zone, filters, when made. */
static void heading(pdf *p) {
  const report_params *rp = p->d->p;
  char from[24], to[24], made[24], line[512], filters[256];
  report_time_short(rp->zone, rp->from, from);
  report_time_short(rp->zone, rp->to, to);
  report_time_short(rp->zone, rp->made_at, made);
  report_filters_text(rp, filters, sizeof filters);
  text_at(p, MARGIN, p->y - 18, 18, true, p->title, 0);
  p->y -= 36;
  snprintf(line, sizeof line, "Range: %s to %s (end exclusive)   Time zone: %s",
           from, to, rp->zone_name);
  text_at(p, MARGIN, p->y, 10, false, line, 0);
  p->y -= 14;
  snprintf(line, sizeof line, "Filters: %s   Made at: %s", filters, made);
  text_at(p, MARGIN, p->y, 10, false, line, 0);
  p->y -= 22;
}

/* A table row: cells at the given x positions, each cut to its width. */
static void row(pdf *p, size_t n, const float *x, const char *const *cells,
                bool bold, float size) {
  need(p, ROW_H);
  for (size_t i = 0; i < n; i++) {
    float w = (i + 1 < n ? x[i + 1] : PAGE_W - MARGIN) - x[i] - 4;
    text_at(p, x[i], p->y, size, bold, cells[i], w);
  }
  p->y -= ROW_H;
}

/* Footers ("Page n of N"), then save. */
static bool pdf_close(pdf *p, const char *path, char *err, size_t err_len) {
  for (size_t i = 0; i < p->page_count; i++) {
    p->page = p->pages[i];
    char foot[160];
    snprintf(foot, sizeof foot, "authflow %s  -  Page %zu of %zu%s", p->title,
             i + 1, p->page_count,
             p->replaced ? "  -  '?' marks characters this font cannot show"
                         : "");
    text_at(p, MARGIN, MARGIN - 12, 8, false, foot, 0);
  }
  if (!p->failed && HPDF_SaveToFile(p->doc, path) != HPDF_OK)
    p->failed = true;
  HPDF_Free(p->doc);
  if (p->failed)
    snprintf(err, err_len, "pdf: the document could not be written");
  return !p->failed;
}

static void fmt_ll(char *out, size_t n, long long v) {
  snprintf(out, n, "%lld", v);
}

/* ---------------------------------------------------------------------
 * Summary.
 * ------------------------------------------------------------------- */

static void totals(pdf *p, const report_counts *c) {
  const struct {
    const char *label;
    long long v;
  } boxes[] = {{"Started", c->started},       {"Completed", c->completed},
               {"Identified", c->identified}, {"Verified", c->verified},
               {"Transferred", c->transfer},  {"CRM errors", c->crm_errors}};
  float w = (PAGE_W - 2 * MARGIN) / 6;
  for (size_t i = 0; i < 6; i++) {
    char v[24];
    fmt_ll(v, sizeof v, boxes[i].v);
    float x = MARGIN + (float)i * w;
    HPDF_Page_SetRGBFill(p->page, 0.93f, 0.95f, 0.98f);
    HPDF_Page_Rectangle(p->page, x, p->y - 34, w - 6, 40);
    HPDF_Page_Fill(p->page);
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    text_at(p, x + 6, p->y - 8, 9, false, boxes[i].label, 0);
    text_at(p, x + 6, p->y - 28, 16, true, v, 0);
  }
  p->y -= 52;
}

static void rates(pdf *p, const report_counts *c) {
  static const float x[] = {MARGIN, MARGIN + 130, MARGIN + 180, MARGIN + 310};
  const char *head[] = {"Rate", "Value", "Numerator / denominator",
                        "Definition"};
  row(p, 4, x, head, true, 9);
  for (size_t i = 0; i < REPORT_RATES; i++) {
    const report_rate_def *def = &report_rate_defs[i];
    double v, n, d;
    char value[32], nd[64], defn[256];
    if (!report_rate_value(c, i, &v, &n, &d))
      snprintf(value, sizeof value, "n/a");
    else if (i >= 7)
      snprintf(value, sizeof value, "%.2f", v);
    else
      snprintf(value, sizeof value, "%.1f%%", v * 100);
    /* Seconds of duration are not whole: two decimals then, so a
     * numerator below one second does not print as 0. */
    snprintf(nd, sizeof nd,
             n == (double)(long long)n ? "%.0f / %.0f" : "%.2f / %.0f", n, d);
    snprintf(defn, sizeof defn, "%s (%s / %s)", def->definition, def->numerator,
             def->denominator);
    const char *cells[] = {def->label, value, nd, defn};
    row(p, 4, x, cells, false, 9);
  }
  p->y -= 10;
}

static void funnel(pdf *p, const report_counts *c) {
  static const float x[] = {MARGIN, MARGIN + 260};
  const char *head[] = {"Where callers left the flow", "Sessions"};
  row(p, 2, x, head, true, 9);
  report_funnel_step steps[REPORT_FUNNEL_STEPS];
  report_funnel(c, steps);
  for (size_t i = 0; i < REPORT_FUNNEL_STEPS; i++) {
    char v[24];
    fmt_ll(v, sizeof v, steps[i].count);
    const char *cells[] = {steps[i].label, v};
    row(p, 2, x, cells, false, 9);
  }
  char v[24];
  fmt_ll(v, sizeof v, c->started);
  const char *cells[] = {"Started", v};
  row(p, 2, x, cells, true, 9);
}

static const int chart_outcomes[] = {
    FLOW_OUTCOME_VERIFIED,       FLOW_OUTCOME_IDENTIFIED_ONLY,
    FLOW_OUTCOME_OPTED_OUT,      FLOW_OUTCOME_IDENTIFY_FAILED,
    FLOW_OUTCOME_VERIFY_FAILED,  FLOW_OUTCOME_LOCKED,
    FLOW_OUTCOME_CRM_UNAVAILABLE};
static const float chart_colors[][3] = {
    {0.16f, 0.55f, 0.27f}, {0.45f, 0.75f, 0.45f}, {0.95f, 0.65f, 0.15f},
    {0.85f, 0.35f, 0.25f}, {0.65f, 0.15f, 0.15f}, {0.35f, 0.35f, 0.35f},
    {0.35f, 0.45f, 0.80f}};
#define CHART_SERIES 7

/* Stacked bars of outcomes per bucket, with a legend. */
static void chart(pdf *p, const report_summary *s) {
  need(p, 260);
  text_at(p, MARGIN, p->y, 11, true, "Outcomes per bucket", 0);
  p->y -= 16;
  float left = MARGIN + 40, bottom = p->y - 200, w = PAGE_W - 2 * MARGIN - 40,
        h = 190;
  long long peak = 1;
  for (size_t i = 0; i < s->bucket_count; i++) {
    long long sum = 0;
    for (size_t k = 0; k < CHART_SERIES; k++)
      sum += s->buckets[i].outcome[chart_outcomes[k]];
    if (sum > peak)
      peak = sum;
  }
  HPDF_Page_SetLineWidth(p->page, 0.5f);
  HPDF_Page_MoveTo(p->page, left, bottom);
  HPDF_Page_LineTo(p->page, left + w, bottom);
  HPDF_Page_MoveTo(p->page, left, bottom);
  HPDF_Page_LineTo(p->page, left, bottom + h);
  HPDF_Page_Stroke(p->page);
  char label[24];
  fmt_ll(label, sizeof label, peak);
  text_at(p, MARGIN, bottom + h - 8, 8, false, label, 0);
  text_at(p, MARGIN, bottom, 8, false, "0", 0);
  size_t n = s->bucket_count ? s->bucket_count : 1;
  float slot = w / (float)n, bar = slot * 0.8f;
  for (size_t i = 0; i < s->bucket_count; i++) {
    float y = bottom;
    for (size_t k = 0; k < CHART_SERIES; k++) {
      long long v = s->buckets[i].outcome[chart_outcomes[k]];
      if (v <= 0)
        continue;
      float bh = h * (float)v / (float)peak;
      HPDF_Page_SetRGBFill(p->page, chart_colors[k][0], chart_colors[k][1],
                           chart_colors[k][2]);
      HPDF_Page_Rectangle(p->page, left + (float)i * slot + slot * 0.1f, y, bar,
                          bh);
      HPDF_Page_Fill(p->page);
      y += bh;
    }
  }
  HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
  if (s->bucket_count) {
    char a[24], b[24];
    report_time_short(p->d->p->zone, s->start[0], a);
    report_time_short(p->d->p->zone, s->start[s->bucket_count], b);
    text_at(p, left, bottom - 10, 7, false, a, 0);
    text_at(p, left + w - 60, bottom - 10, 7, false, b, 0);
  }
  p->y = bottom - 24;
  float x = MARGIN;
  for (size_t k = 0; k < CHART_SERIES; k++) {
    HPDF_Page_SetRGBFill(p->page, chart_colors[k][0], chart_colors[k][1],
                         chart_colors[k][2]);
    HPDF_Page_Rectangle(p->page, x, p->y, 8, 8);
    HPDF_Page_Fill(p->page);
    HPDF_Page_SetRGBFill(p->page, 0, 0, 0);
    text_at(p, x + 11, p->y, 8, false,
            flow_outcome_name((flow_outcome)chart_outcomes[k]), 0);
    x += 105;
  }
  p->y -= 22;
}

/* A table of counters: a first column (a time range or a name), then
 * started, completed, each outcome and two rates. */
static void counts_table(pdf *p, const char *title, const char *first, size_t n,
                         const char *(*name_of)(void *, size_t), void *src,
                         const report_counts *counts) {
  need(p, 3 * ROW_H + 10);
  text_at(p, MARGIN, p->y, 11, true, title, 0);
  p->y -= 16;
  float x[13];
  x[0] = MARGIN;
  x[1] = MARGIN + 150;
  for (size_t i = 2; i < 13; i++)
    x[i] = x[i - 1] + 50;
  const char *head[13] = {
      first,         "Started",     "Completed",   "Verified", "Ident. only",
      "Opted out",   "Ident. fail", "Verif. fail", "Locked",   "CRM unav.",
      "Transferred", "Ident. rate", "Verif. rate"};
  row(p, 13, x, head, true, 8);
  for (size_t i = 0; i < n; i++) {
    const report_counts *c = &counts[i];
    char v[12][24];
    const long long nums[] = {c->started,
                              c->completed,
                              c->outcome[FLOW_OUTCOME_VERIFIED],
                              c->outcome[FLOW_OUTCOME_IDENTIFIED_ONLY],
                              c->outcome[FLOW_OUTCOME_OPTED_OUT],
                              c->outcome[FLOW_OUTCOME_IDENTIFY_FAILED],
                              c->outcome[FLOW_OUTCOME_VERIFY_FAILED],
                              c->outcome[FLOW_OUTCOME_LOCKED],
                              c->outcome[FLOW_OUTCOME_CRM_UNAVAILABLE],
                              c->transfer};
    for (size_t k = 0; k < 10; k++)
      fmt_ll(v[k], sizeof v[k], nums[k]);
    for (size_t k = 0; k < 2; k++) {
      double r, num, den;
      if (report_rate_value(c, k + 1, &r, &num, &den))
        snprintf(v[10 + k], sizeof v[0], "%.1f%%", r * 100);
      else
        snprintf(v[10 + k], sizeof v[0], "n/a");
    }
    const char *cells[13] = {name_of(src, i)};
    for (size_t k = 0; k < 12; k++)
      cells[k + 1] = v[k];
    row(p, 13, x, cells, false, 8);
  }
  p->y -= 12;
}

typedef struct {
  const report_doc *d;
  const report_summary *s;
  char text[64];
} bucket_names;

static const char *bucket_name(void *src, size_t i) {
  bucket_names *b = src;
  char a[24], e[24];
  report_time_short(b->d->p->zone, b->s->start[i], a);
  report_time_short(b->d->p->zone, b->s->start[i + 1], e);
  if (b->d->p->bucket == REPORT_BUCKET_DAY)
    snprintf(b->text, sizeof b->text, "%.10s", a); /* the local date */
  else
    snprintf(b->text, sizeof b->text, "%s - %s", a, e + 11);
  return b->text;
}

static const char *channel_name(void *src, size_t i) {
  return ((report_channels *)src)->name[i];
}

static const char *line_name(void *src, size_t i) {
  return ((const config *)src)->service_lines[i].name;
}

bool report_summary_pdf(const char *path, const report_doc *d,
                        const report_summary *s, char *err, size_t err_len) {
  pdf *p = malloc(sizeof *p);
  if (!p || !pdf_open(p, d, "Summary report")) {
    if (p && p->doc)
      HPDF_Free(p->doc);
    free(p);
    snprintf(err, err_len, "pdf: cannot create the document");
    return false;
  }
  heading(p);
  totals(p, &s->total);
  rates(p, &s->total);
  funnel(p, &s->total);
  new_page(p);
  chart(p, s);
  bucket_names names = {.d = d, .s = s};
  counts_table(p, "Buckets", "Bucket", s->bucket_count, bucket_name, &names,
               s->buckets);
  counts_table(p, "By channel", "Channel", s->channels->count, channel_name,
               s->channels, s->channels->counts);
  counts_table(p, "By service line", "Service line", s->line_count, line_name,
               (void *)d->cfg, s->lines);
  bool ok = pdf_close(p, path, err, err_len);
  free(p);
  return ok;
}

/* ---------------------------------------------------------------------
 * Interactions.
 * ------------------------------------------------------------------- */

struct report_rows_writer {
  pdf p;
  char path[512];
};

static const float irow_x[] = {
    MARGIN,       MARGIN + 78,  MARGIN + 248, MARGIN + 338, MARGIN + 393,
    MARGIN + 473, MARGIN + 563, MARGIN + 618, MARGIN + 658, MARGIN + 703};
#define IROW_COLS 10

static void irow_header(pdf *p) {
  const char *head[IROW_COLS] = {
      "Time",       "Conversation",   "Service line", "Channel",
      "Outcome",    "Auth status",    "Method",       "Attempts",
      "Duration s", "Caller (masked)"};
  row(p, IROW_COLS, irow_x, head, true, 8);
}

static report_rows_writer *pdf_rows_open(FILE *f, const char *path,
                                         const report_doc *d, char *err,
                                         size_t err_len) {
  (void)f;
  report_rows_writer *w = malloc(sizeof *w);
  if (!w || !pdf_open(&w->p, d, "Interactions report")) {
    if (w && w->p.doc)
      HPDF_Free(w->p.doc);
    free(w);
    snprintf(err, err_len, "pdf: cannot create the document");
    return NULL;
  }
  snprintf(w->path, sizeof w->path, "%s", path);
  heading(&w->p);
  irow_header(&w->p);
  return w;
}

static bool pdf_rows_row(report_rows_writer *w, const report_row *r) {
  pdf *p = &w->p;
  if (p->y - ROW_H < MARGIN + 14) {
    new_page(p);
    irow_header(p);
  }
  char when[24], dur[24];
  report_time_short(p->d->p->zone, r->time_ms / 1000, when);
  snprintf(dur, sizeof dur, "%.1f", strtod(r->v[8], NULL) / 1000.0);
  const char *cells[IROW_COLS] = {when,    r->v[0], r->v[1], r->v[11],
                                  r->v[2], r->v[3], r->v[4], r->v[7],
                                  dur,     r->v[10]};
  row(p, IROW_COLS, irow_x, cells, false, 7.5f);
  return !p->failed;
}

static bool pdf_rows_close(report_rows_writer *w, const report_scan_result *res,
                           bool keep, char *err, size_t err_len) {
  pdf *p = &w->p;
  bool ok = true;
  if (keep) {
    char line[64];
    snprintf(line, sizeof line, "%zu interactions", res->matched);
    need(p, ROW_H * 2);
    p->y -= 6;
    text_at(p, MARGIN, p->y, 9, true, line, 0);
    ok = pdf_close(p, w->path, err, err_len);
  } else {
    HPDF_Free(p->doc);
  }
  free(w);
  return ok;
}

const report_rows_ops report_rows_pdf = {pdf_rows_open, pdf_rows_row,
                                         pdf_rows_close};
