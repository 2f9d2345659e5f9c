#include "report_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const report_row_columns[REPORT_ROW_COLUMNS] = {
    "conversationId",       "serviceLine",      "outcome",        "authStatus",
    "identificationMethod", "identifyAttempts", "verifyAttempts", "attempts",
    "durationMs",           "timeMs",           "aniMasked",      "channel"};
#define COL_CHANNEL 11

/* ---------------------------------------------------------------------
 * Buckets in the report's zone.
 * ------------------------------------------------------------------- */

int64_t report_bucket_start(const report_params *p, int64_t t) {
  tz_civil c;
  tz_local(p->zone, t, &c);
  if (p->bucket == REPORT_BUCKET_HOUR) {
    /* Every offset is whole minutes, so the local hour starts this many
     * seconds before t (a repeated hour is a bucket of its own). */
    return t - (c.minute * 60 + c.second);
  }
  return tz_from_local(p->zone, c.year, c.month, c.day, 0, 0, 0);
}

int64_t report_bucket_next(const report_params *p, int64_t b) {
  /* An hour, or a day of 23 to 25 hours: 26 h on is always in the next
   * day, and 1 h on in the next hour. */
  int64_t step = p->bucket == REPORT_BUCKET_HOUR ? 3600 : 26 * 3600;
  int64_t n = report_bucket_start(p, b + step);
  return n > b ? n : b + 3600;
}

/* ---------------------------------------------------------------------
 * Summary.
 * ------------------------------------------------------------------- */

typedef struct {
  const config *cfg;
  const report_params *p;
  report_summary *s;
  int64_t first_hour;
  /* With channel=voice: per bucket, the all-channels counters minus every
   * channel's, i.e. what hours recorded before channels hold (voice). */
  report_counts *legacy;
  report_counts all; /* all-channels counters, the whole range */
} summary_ctx;

/* The bucket holding slot time t, or -1 outside the range. */
static long bucket_of(const report_summary *s, int64_t t) {
  if (t < s->start[0] || t >= s->start[s->bucket_count])
    return -1;
  size_t lo = 0, hi = s->bucket_count;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->start[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  return (long)lo;
}

static long line_of(const config *cfg, const char *line) {
  for (size_t i = 0; i < cfg->service_line_count; i++)
    if (strcmp(cfg->service_lines[i].name, line) == 0)
      return (long)i;
  return -1;
}

static void on_hour_field(void *user, size_t hour_index, const char *field,
                          long long value) {
  summary_ctx *c = user;
  report_counts one = {0};
  report_scope scope;
  if (!report_counts_add_scoped(&one, field, value, &scope))
    return;
  /* A quarter's counters count in the bucket holding the quarter; an old
   * hourly field in the bucket holding its hour's start. */
  int64_t t = c->first_hour + (int64_t)hour_index * 3600 +
              (scope.quarter > 0 ? scope.quarter * REPORT_SLOT_SECONDS : 0);
  report_summary *s = c->s;
  long b = bucket_of(s, t);
  if (b < 0 || t >= c->p->to)
    return;
  const char *want_channel = c->p->channel;
  bool channel_match = want_channel[0]
                           ? strcmp(scope.channel, want_channel) == 0
                           : !scope.channel[0];
  long li = line_of(c->cfg, scope.line);
  if (li >= 0 && channel_match)
    report_counts_merge(&s->lines[li], &one);
  if (c->p->line[0] && strcmp(c->p->line, scope.line) != 0)
    return;
  if (scope.channel[0]) {
    report_channels_add(s->channels, scope.channel, &one);
    if (channel_match)
      report_counts_merge(&s->buckets[b], &one);
    if (c->legacy)
      report_counts_subtract(&c->legacy[b], &one);
    return;
  }
  report_counts_merge(&c->all, &one);
  if (!want_channel[0])
    report_counts_merge(&s->buckets[b], &one);
  if (c->legacy)
    report_counts_merge(&c->legacy[b], &one);
}

void report_summary_free(report_summary *s) {
  free(s->start);
  free(s->buckets);
  free(s->channels);
  free(s->lines);
  memset(s, 0, sizeof *s);
}

/* The bucket boundaries of p's range into s->start. */
static bool make_buckets(const report_params *p, report_summary *s) {
  size_t cap = 64, n = 0;
  s->start = malloc(cap * sizeof *s->start);
  if (!s->start)
    return false;
  int64_t b = report_bucket_start(p, p->from);
  for (;;) {
    if (n + 1 >= cap) {
      int64_t *grown = realloc(s->start, 2 * cap * sizeof *grown);
      if (!grown)
        return false;
      s->start = grown;
      cap *= 2;
    }
    s->start[n++] = b;
    if (b >= p->to)
      break;
    b = report_bucket_next(p, b);
  }
  s->bucket_count = n - 1;
  return true;
}

store_status report_summary_read(const config *cfg, const report_params *p,
                                 report_summary *s, char *err, size_t err_len) {
  memset(s, 0, sizeof *s);
  summary_ctx c = {.cfg = cfg, .p = p, .s = s};
  bool voice = strcmp(p->channel, FLOW_DEFAULT_CHANNEL) == 0;
  if (!make_buckets(p, s))
    goto no_memory;
  s->buckets = calloc(s->bucket_count, sizeof *s->buckets);
  s->channels = calloc(1, sizeof *s->channels);
  s->line_count = cfg->service_line_count;
  s->lines = calloc(s->line_count ? s->line_count : 1, sizeof *s->lines);
  c.legacy = voice ? calloc(s->bucket_count, sizeof *c.legacy) : NULL;
  /* Every UTC hour touching [start[0], to). */
  c.first_hour = tz_floor_div(s->start[0], 3600) * 3600;
  size_t hours = (size_t)((p->to - c.first_hour + 3599) / 3600);
  char(*names)[REPORT_HOUR_LEN + 1] = calloc(hours, sizeof *names);
  if (!s->buckets || !s->channels || !s->lines || (voice && !c.legacy) ||
      !names) {
    free(names);
    free(c.legacy);
    goto no_memory;
  }
  for (size_t i = 0; i < hours; i++)
    report_hour_name(c.first_hour + (int64_t)i * 3600, names[i]);
  store_status st =
      store_report_hours((const char(*)[REPORT_HOUR_LEN + 1]) names, hours,
                         on_hour_field, &c, err, err_len);
  free(names);
  if (st == STORE_OK) {
    for (size_t i = 0; c.legacy && i < s->bucket_count; i++)
      report_counts_merge_positive(&s->buckets[i], &c.legacy[i]);
    report_channels_finish(s->channels, &c.all);
    for (size_t i = 0; i < s->bucket_count; i++)
      report_counts_merge(&s->total, &s->buckets[i]);
  }
  free(c.legacy);
  return st;
no_memory:
  report_summary_free(s);
  snprintf(err, err_len, "out of memory");
  return STORE_UNAVAILABLE;
}

/* ---------------------------------------------------------------------
 * Interactions.
 * ------------------------------------------------------------------- */

typedef struct {
  const report_params *p;
  size_t max_rows;
  report_row_fn on_row;
  void *user;
  report_scan_result *out;
  char last_returned[48];
  char last_scanned[48];
} scan_ctx;

static const char *field_of(size_t n, const char *const *names,
                            const char *const *values, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return values[i];
  return "";
}

static void on_event(void *user, const char *id, size_t n,
                     const char *const *names, const char *const *values) {
  scan_ctx *c = user;
  report_scan_result *out = c->out;
  snprintf(c->last_scanned, sizeof c->last_scanned, "%s", id);
  if (out->more || out->write_failed)
    return;
  report_row row = {.id = id};
  for (size_t i = 0; i < REPORT_ROW_COLUMNS; i++)
    row.v[i] = field_of(n, names, values, report_row_columns[i]);
  /* Events recorded before channels were are voice calls. */
  if (!row.v[COL_CHANNEL][0])
    row.v[COL_CHANNEL] = FLOW_DEFAULT_CHANNEL;
  const report_params *p = c->p;
  if ((p->line[0] && strcmp(row.v[1], p->line) != 0) ||
      (p->outcome[0] && strcmp(row.v[2], p->outcome) != 0) ||
      (p->auth[0] && strcmp(row.v[3], p->auth) != 0) ||
      (p->channel[0] && strcmp(row.v[COL_CHANNEL], p->channel) != 0) ||
      (p->conversation_id[0] && strcmp(row.v[0], p->conversation_id) != 0))
    return;
  if (out->matched == c->max_rows) {
    out->more = true;
    return;
  }
  row.time_ms = strtoll(row.v[REPORT_COL_TIME], NULL, 10);
  if (!c->on_row(c->user, &row)) {
    out->write_failed = true;
    return;
  }
  out->matched++;
  snprintf(c->last_returned, sizeof c->last_returned, "%s", id);
}

/* The ms part of a stream ID ("1714521600000-3" -> 1714521600000). */
static long long id_ms(const char *id) {
  return strtoll(id, NULL, 10);
}

/* The filter index to walk: of the outcome, service line and channel
 * filters given, the one with the fewest entries; *kind NULL for none. */
static store_status pick_index(const report_params *p, const char **kind,
                               const char **value, char *err, size_t err_len) {
  const char *kinds[] = {"o", "l", "c"};
  const char *values[] = {p->outcome, p->line, p->channel};
  long long best = -1;
  *kind = NULL;
  for (size_t i = 0; i < 3; i++) {
    if (!values[i][0])
      continue;
    long long n;
    store_status st =
        store_report_index_len(kinds[i], values[i], &n, err, err_len);
    if (st != STORE_OK)
      return st;
    if (best < 0 || n < best) {
      best = n;
      *kind = kinds[i];
      *value = values[i];
    }
  }
  return STORE_OK;
}

/* Walk index kind:value from `end` down to `start`, feeding the events it
 * names to on_event. *done: the index segment was read to its start. */
static store_status scan_index(scan_ctx *c, const char *kind, const char *value,
                               char *end, size_t end_len, const char *start,
                               size_t scan_max, size_t *scanned, bool *done,
                               char *err, size_t err_len) {
  char ids[REPORT_SCAN_BATCH][STORE_STREAM_ID_MAX + 1];
  *done = false;
  while (!c->out->more && !c->out->write_failed && *scanned < scan_max) {
    size_t n;
    store_status st = store_report_index_ids(
        kind, value, end, start, REPORT_SCAN_BATCH, ids, &n, err, err_len);
    if (st == STORE_OK && n > 0)
      st = store_report_events_at((const char(*)[STORE_STREAM_ID_MAX + 1]) ids,
                                  n, on_event, c, err, err_len);
    if (st != STORE_OK)
      return st;
    *scanned += n;
    if (n > 0 && !c->out->more)
      snprintf(c->last_scanned, sizeof c->last_scanned, "%s", ids[n - 1]);
    if (n < REPORT_SCAN_BATCH) {
      *done = true;
      return STORE_OK;
    }
    snprintf(end, end_len, "(%s", ids[n - 1]);
  }
  return STORE_OK;
}

/* Walk the event stream itself from `end` down to `start`. *done: read to
 * its start (or the stream's oldest entry). */
static store_status scan_stream(scan_ctx *c, const char *first, char *end,
                                size_t end_len, const char *start,
                                size_t scan_max, size_t *scanned, bool *done,
                                char *err, size_t err_len) {
  /* Redis walks the whole stream for a reverse range that ends below its
   * oldest entry (7-18 ms over 20,000 events in SLOWLOG), so the scan
   * stops at the oldest entry instead of asking past it. */
  *done = !first[0];
  while (!*done && !c->out->more && !c->out->write_failed &&
         *scanned < scan_max) {
    size_t got = 0;
    store_status st = store_report_events(end, start, REPORT_SCAN_BATCH,
                                          on_event, c, &got, err, err_len);
    if (st != STORE_OK)
      return st;
    *scanned += got;
    if (got < REPORT_SCAN_BATCH || strcmp(c->last_scanned, first) == 0) {
      *done = true;
      break;
    }
    snprintf(end, end_len, "(%s", c->last_scanned);
  }
  return STORE_OK;
}

store_status report_scan(const report_params *p, size_t max_rows,
                         size_t scan_max, report_row_fn on_row, void *user,
                         report_scan_result *out, char *err, size_t err_len) {
  memset(out, 0, sizeof *out);
  scan_ctx c = {
      .p = p, .max_rows = max_rows, .on_row = on_row, .user = user, .out = out};
  /* Stream IDs are the commit's time in ms: [from, to) maps to IDs
   * from*1000 .. to*1000-1 (a bare ms as the end means its last entry). */
  char end[64], start[32], first[48], since[48];
  long long from_ms = (long long)p->from * 1000;
  snprintf(start, sizeof start, "%lld", from_ms);
  if (p->cursor[0])
    snprintf(end, sizeof end, "(%s", p->cursor);
  else
    snprintf(end, sizeof end, "%lld", (long long)p->to * 1000 - 1);
  const char *kind = NULL, *value = NULL;
  store_status st = store_report_first_event(first, sizeof first, err, err_len);
  if (st == STORE_OK)
    st = pick_index(p, &kind, &value, err, err_len);
  if (st == STORE_OK && kind)
    st = store_report_index_since(since, sizeof since, err, err_len);
  if (st != STORE_OK)
    return st;
  /* The indexes are trusted from REPORT_INDEX_GRACE_MS after the first
   * indexed event: during a rolling upgrade, replicas of the release
   * before them still record events that no index holds. */
  if (kind && since[0])
    snprintf(since, sizeof since, "%lld-0",
             id_ms(since) + REPORT_INDEX_GRACE_MS);
  size_t scanned = 0;
  bool done = false, need_stream = true;
  /* A filter walks its index down to the first indexed event, then the
   * stream itself for what is older (recorded before the indexes were). */
  if (kind && since[0] && (!p->cursor[0] || id_ms(p->cursor) >= id_ms(since))) {
    bool older = id_ms(since) > from_ms;
    st = scan_index(&c, kind, value, end, sizeof end, older ? since : start,
                    scan_max, &scanned, &done, err, err_len);
    if (st != STORE_OK)
      return st;
    need_stream = done && older;
    if (need_stream) {
      snprintf(end, sizeof end, "(%s", since);
      done = false;
    }
  }
  if (need_stream) {
    st = scan_stream(&c, first, end, sizeof end, start, scan_max, &scanned,
                     &done, err, err_len);
    if (st != STORE_OK)
      return st;
  }
  /* Stopped by the scan cap: the next page goes on from where it
   * stopped, even with fewer rows than the limit. */
  if (out->more)
    snprintf(out->next, sizeof out->next, "%s", c.last_returned);
  else if (!done && c.last_scanned[0])
    snprintf(out->next, sizeof out->next, "%s", c.last_scanned);
  return STORE_OK;
}
