/*
 * report: the pure parts of supervisor reporting (no I/O, no clock).
 *
 * Recording. Each committed step may record, in the same Redis script that
 * commits the session (see store_commit_report()):
 *   - counters in one hash per UTC hour, "<prefix>report:h:<yyyymmddhh>",
 *     with fields "<q>|<serviceLine>|<counter>" (all channels) and, for the
 *     same increments, "<q>|<serviceLine>|<counter>@<channel>" (the
 *     session's channel, SPEC §7), where <q> (0..3) is the quarter of the
 *     UTC hour: every real UTC offset is a whole number of quarter hours
 *     (Asia/Kolkata +5:30, Asia/Kathmandu +5:45), so local hours and days
 *     are unions of quarters. Hours recorded before quarters were have
 *     fields without "<q>|": they count at the start of their hour. A channel
 * is [a-z0-9_] and a line name cannot hold
 *     '|' or '@', so both parse unambiguously; readers that do not know
 *     channels skip the '@' fields (their counter name is unknown);
 *   - for a session that has just completed, one event in the stream
 *     "<prefix>report:events" with the fields of report_build_record(),
 *     and its ID (the same ID, one empty field) in three filter index
 *     streams "<prefix>report:ix:o:<outcome>", "...:ix:l:<serviceLine>"
 *     and "...:ix:c:<channel>", so a filtered read walks only the events
 *     it matches; "<prefix>report:ixsince" holds the first indexed ID
 *     (events before it are found by the full scan).
 * The event holds only the masked ANI, enums and counts: never a security
 * answer, a raw ANI or an identifier, and not the customer's ID or name.
 *
 * Reading. Time ranges, hour/day buckets, the rates of a set of counters
 * and CSV escaping are here so they can be unit tested without Redis
 * (query strings are decoded by core/pct.h).
 */
#ifndef AUTHFLOW_REPORT_H
#define AUTHFLOW_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "flow.h"
#include "tz.h"

#define REPORT_HOUR_LEN 10      /* "yyyymmddhh" */
#define REPORT_SLOT_SECONDS 900 /* a quarter of an hour */
#define REPORT_MAX_INCRS 40     /* each counter twice: all channels, its own */
#define REPORT_FIELD_MAX (FLOW_NAME_MAX + FLOW_CHANNEL_MAX + 24)
#define REPORT_EVENT_FIELDS 14
/* Rows of report_record.event_value the filter indexes are named by. */
#define REPORT_EVENT_LINE 1
#define REPORT_EVENT_OUTCOME 2
#define REPORT_EVENT_CHANNEL 11
#define REPORT_OUTCOMES 8 /* flow_outcome values, PENDING included */
/* Longest range a summary reads: 400 days of hour buckets. */
#define REPORT_MAX_SPAN_SECONDS (400LL * 86400)

/* What one commit records. Built by report_build_record(). Counter names
 * (after "<line>|"): started, started_ani, completed, each final outcome
 * name, auth_identified, auth_verified, transfer, attempts, duration_ms,
 * crm_error, context_reused (completed with identificationMethod linked or
 * handoff); each also as "<counter>@<channel>". */
typedef struct {
  char hour[REPORT_HOUR_LEN + 1]; /* the counters' hour bucket (UTC) */
  char quarter;                   /* '0'..'3': the quarter of that hour */
  size_t incr_count;
  char incr_field[REPORT_MAX_INCRS][REPORT_FIELD_MAX];
  char incr_amount[REPORT_MAX_INCRS][24];
  size_t event_count; /* 0: no stream event */
  const char *event_name[REPORT_EVENT_FIELDS];
  char event_value[REPORT_EVENT_FIELDS][FLOW_CONVERSATION_ID_MAX + 1];
  int64_t now_ms; /* the step's time (for trimming the stream by age) */
} report_record;

/*
 * Fill *out for a commit of `s`. `started`: the commit ends a START step.
 * `completed`: the session is completed now and was not before the step.
 * When neither holds, out->incr_count and out->event_count are 0. Only
 * the first incr_count and event_count rows are filled.
 */
void report_build_record(const flow_session *s, bool started, bool completed,
                         report_record *out);

/* authStatus of a session, as the API derives it. */
flow_auth_status report_auth_status(const flow_session *s);

/* "yyyymmddhh" of the UTC hour holding `unix_seconds` (>= 0). */
void report_hour_name(int64_t unix_seconds, char out[REPORT_HOUR_LEN + 1]);

typedef enum { REPORT_BUCKET_HOUR = 0, REPORT_BUCKET_DAY } report_bucket;

/* "hour" or "day" (NULL or "" is hour). False for anything else. */
bool report_parse_bucket(const char *text, report_bucket *out);

/* Start of the bucket holding `t` (unix seconds, floor). */
int64_t report_bucket_floor(int64_t t, report_bucket b);
int64_t report_bucket_seconds(report_bucket b);

/*
 * A time: unix seconds ("1700000000") or ISO 8601 UTC
 * ("2024-05-01", "2024-05-01T10:00Z", "2024-05-01T10:00:00Z",
 * "2024-05-01T10:00:00.123Z", "+00:00" also accepted as the zone).
 * Fractions of a second are dropped. False when not one of those.
 */
bool report_parse_time(const char *text, int64_t *out);

/*
 * Like report_parse_time, in `zone`: a date alone is the zone's midnight,
 * a date-time without a designator is the zone's wall clock
 * (tz_from_local), and one with "Z" or "+hh:mm"/"-hh:mm" is that instant.
 */
bool report_parse_time_in(const char *text, const tz_zone *zone, int64_t *out);

/* "2024-05-01T10:00:00Z" (21 bytes with the NUL). */
void report_format_time(int64_t unix_seconds, char out[21]);

/*
 * The range [from, to) of a report, in unix seconds. Absent (NULL or "")
 * `to` is `now` + 1: the end of the current second, so what completed in
 * it is included (the end is exclusive); absent `from` is to - 24 h. Refused
 * (static reason in *why): unparseable, from >= to, or longer than
 * REPORT_MAX_SPAN_SECONDS.
 */
bool report_range(const char *from_text, const char *to_text, int64_t now,
                  int64_t *from, int64_t *to, const char **why);

/* report_range with from/to read in `zone` (report_parse_time_in). Each
 * reason starts with the parameter it is about. */
bool report_range_in(const char *from_text, const char *to_text, int64_t now,
                     const tz_zone *zone, int64_t *from, int64_t *to,
                     const char **why);

/* Counters of one service line (or all) over some hours. */
typedef struct {
  long long started;
  long long started_ani; /* identified by ANI at start */
  long long completed;
  long long outcome[REPORT_OUTCOMES]; /* completed, by flow_outcome */
  long long identified;               /* completed and identified */
  long long verified;                 /* completed and verified */
  long long transfer;                 /* completed to an agent */
  long long attempts;                 /* identify + verify, of completed */
  long long duration_ms;              /* sum, of completed */
  long long crm_errors;
  long long context_reused; /* completed, identified by linked/handoff */
} report_counts;

/*
 * Split a counter hash field "<line>|<counter>" and add `value` to the
 * matching member of *c. False (nothing added) for a field of another
 * shape, an unknown counter, or a per-channel field (see
 * report_counts_add_scoped). *line gets the line name.
 */
bool report_counts_add_field(report_counts *c, const char *field,
                             long long value, char *line, size_t line_len);

/* What a counter field counts over: its service line, and its channel
 * ("" for the all-channels field "<line>|<counter>"). */
typedef struct {
  char line[FLOW_NAME_MAX + 1];
  char channel[FLOW_CHANNEL_MAX + 1];
  int quarter; /* 0..3, or -1 for a field of the old hourly shape */
} report_scope;

/*
 * Like report_counts_add_field, for both shapes of field:
 * "<line>|<counter>" (all channels) and "<line>|<counter>@<channel>" (one
 * channel, [a-z0-9_]{1,32}), each with or without a leading "<q>|". False
 * (nothing added) for any other shape or an unknown counter; else *scope says
 * whose counter it was.
 */
bool report_counts_add_scoped(report_counts *c, const char *field,
                              long long value, report_scope *scope);

void report_counts_merge(report_counts *into, const report_counts *add);

/* into -= sub, member by member (may go below 0). */
void report_counts_subtract(report_counts *into, const report_counts *sub);

/* Add `add` to *into, counting a negative member of `add` as 0. */
void report_counts_merge_positive(report_counts *into,
                                  const report_counts *add);

/*
 * Per-channel counters of a summary (byChannel): at most
 * REPORT_CHANNELS_MAX channels, kept sorted by name. Hours recorded before
 * channels were counted have only the all-channels fields; their sessions
 * were all voice calls, so report_channels_finish() gives that remainder
 * (all minus the sum of every channel) to "voice".
 */
#define REPORT_CHANNELS_MAX 100
typedef struct {
  size_t count;
  bool truncated; /* a channel past REPORT_CHANNELS_MAX was left out */
  char name[REPORT_CHANNELS_MAX][FLOW_CHANNEL_MAX + 1];
  report_counts counts[REPORT_CHANNELS_MAX];
  report_counts sum; /* every channel's, those left out included */
} report_channels;

/* Add `one` to the counters of `channel` (inserted in name order when
 * new) and to t->sum. A new channel when the table is full only sets
 * t->truncated. */
void report_channels_add(report_channels *t, const char *channel,
                         const report_counts *one);

/* Give the default channel ("voice") what `all` (the all-channels
 * counters over the same hours and lines) holds beyond t->sum. */
void report_channels_finish(report_channels *t, const report_counts *all);

/* Rates of a set of counters; a rate whose denominator is 0 has its
 * `has_*` false (rendered as null / empty). Rates are 0..1. */
typedef struct {
  bool has_completed;        /* completed > 0: the rates below are defined */
  bool has_started;          /* started > 0: ani_identification is defined */
  double ani_identification; /* started_ani / started */
  double identification;     /* identified / completed */
  double verification;       /* verified / completed */
  double containment;        /* (completed - transfer) / completed */
  double transfer;           /* transfer / completed */
  double opt_out;            /* opted_out / completed */
  double context_reuse;      /* context_reused / completed */
  double average_attempts;   /* attempts / completed */
  double average_duration_seconds;
} report_rates;

void report_compute_rates(const report_counts *c, report_rates *out);

/*
 * CSV answers are built in a core/buf.h buffer (BUF_PLAIN: reports hold no
 * secret) capped at REPORT_TEXT_MAX. The cap is far above what the
 * request limits allow (400 days of hourly rows, or an export of at most
 * 150,000 interactions of at most ~400 bytes each: reporting.exportMaxRows),
 * so it only guards against a bug, never cuts a valid answer.
 */
#define REPORT_TEXT_MAX ((size_t)64 * 1024 * 1024)

/*
 * Append `s` as one CSV field (RFC 4180): quoted when it holds a comma,
 * quote, CR or LF, with quotes doubled. A text that a spreadsheet would
 * run as a formula (starting with = + - @ TAB or CR) gets a leading '.
 * A failure sticks in the buffer (buf_state).
 */
void report_csv_field(buf *b, const char *s);

#endif
