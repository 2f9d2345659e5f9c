/*
 * report_query: what a report asks (report_params) and the data it reads
 * from the store: a summary's counters in buckets of the report's zone,
 * or the interactions of a range, newest first, passed row by row.
 *
 * Runs on a thread that may block (the report thread), with the store's
 * per-thread blocking connection. Every Redis command it sends is short:
 * one hour's counter hash, or REPORT_SCAN_BATCH stream entries.
 */
#ifndef AUTHFLOW_REPORT_QUERY_H
#define AUTHFLOW_REPORT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "report.h"
#include "report_zone.h"
#include "store.h"
#include "tz.h"

typedef enum { REPORT_KIND_SUMMARY = 0, REPORT_KIND_INTERACTIONS } report_kind;

typedef enum {
  REPORT_FORMAT_JSON = 0,
  REPORT_FORMAT_CSV,
  REPORT_FORMAT_XLSX,
  REPORT_FORMAT_PDF
} report_format;

/* Stream entries one XREVRANGE reads: about 0.1-0.15 ms inside Redis
 * (500 took 1.2-1.5 ms, and every caller's step waits behind it). */
#define REPORT_SCAN_BATCH 50
/* How long after the first indexed event the filter indexes are taken to
 * hold every event (see report_scan): the longest rolling upgrade from a
 * release without them; before that the stream itself is read. */
#define REPORT_INDEX_GRACE_MS (3600LL * 1000)
/* Hour buckets are refused past this span (a 400-day hourly summary is
 * 9,600 buckets nobody reads); day buckets go to the full 400 days. */
#define REPORT_HOUR_BUCKET_MAX_SECONDS (31LL * 86400)

/* A report request, checked (report_api fills it from a query string; a
 * scheduler fills it directly). */
typedef struct {
  report_kind kind;
  report_format format;
  int64_t from, to;    /* [from, to), unix seconds */
  const tz_zone *zone; /* from report_zone_get(); never freed */
  char zone_name[REPORT_ZONE_NAME_MAX + 1];
  report_bucket bucket; /* summary */
  /* Filters; "" for all. outcome, auth and conversation_id filter
   * interactions only. */
  char line[FLOW_NAME_MAX + 1];
  char channel[FLOW_CHANNEL_MAX + 1];
  char outcome[32];
  char auth[32];
  char conversation_id[FLOW_CONVERSATION_ID_MAX + 1];
  /* Interactions as JSON come in pages of `limit` from `cursor` ("" for
   * the first); every other format holds the whole range, up to
   * reporting.exportMaxRows, and is refused rather than cut past it. */
  size_t limit;
  char cursor[48];
  int64_t made_at; /* unix seconds the file says it was made */
} report_params;

/* A summary's data. Bucket i covers [start[i], start[i + 1]). */
typedef struct {
  size_t bucket_count;
  int64_t *start; /* bucket_count + 1 boundaries */
  report_counts *buckets;
  report_counts total;
  report_channels *channels; /* byChannel over the range */
  size_t line_count;         /* cfg's service lines, in config order */
  report_counts *lines;      /* byServiceLine over the range */
} report_summary;

/*
 * Read the summary of p into *out (allocated here; report_summary_free
 * releases it, also after a failure). Returns STORE_OK, a store error with
 * its reason in err, or STORE_UNAVAILABLE with "out of memory".
 */
store_status report_summary_read(const config *cfg, const report_params *p,
                                 report_summary *out, char *err,
                                 size_t err_len);

void report_summary_free(report_summary *s);

/* Bucket boundaries of p's range in its zone: the start of the bucket
 * holding t, and the start of the one after the bucket starting at b. */
int64_t report_bucket_start(const report_params *p, int64_t t);
int64_t report_bucket_next(const report_params *p, int64_t b);

/* One interaction, as the event stream holds it. */
#define REPORT_ROW_COLUMNS 12
typedef struct {
  const char *id;                    /* the stream entry ID */
  int64_t time_ms;                   /* when it completed */
  const char *v[REPORT_ROW_COLUMNS]; /* report_row_columns order */
} report_row;

/* Column names of report_row.v ("conversationId", ..., "channel"). */
extern const char *const report_row_columns[REPORT_ROW_COLUMNS];
#define REPORT_COL_DURATION 8
#define REPORT_COL_TIME 9

/* Called per matching row; false stops the scan (a write failed). */
typedef bool (*report_row_fn)(void *user, const report_row *row);

typedef struct {
  size_t matched; /* rows passed to on_row */
  bool more;      /* another row matched past `max_rows` */
  bool write_failed;
  char next[48]; /* the next page's cursor; "" when there is none */
} report_scan_result;

/*
 * Pass the interactions of p (filters applied), newest first, to on_row:
 * with an outcome, service line or channel filter, through the smallest of
 * their indexes (and the stream itself for events older than the indexes);
 * at most max_rows of them, then stop as soon as one more matches (->more).
 * JSON pages also stop after scan_max stream entries (the cursor then
 * goes on from there). STORE_OK, or a store error with its reason in err.
 */
store_status report_scan(const report_params *p, size_t max_rows,
                         size_t scan_max, report_row_fn on_row, void *user,
                         report_scan_result *out, char *err, size_t err_len);

#endif
