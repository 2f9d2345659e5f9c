/*
 * tz: time zones from the system's zone database (TZif files, RFC 8536),
 * read without the C library's TZ machinery: setenv("TZ") + localtime()
 * is process-wide and not thread-safe, while reports run on their own
 * threads in zones chosen per request.
 *
 * tz_parse() is pure (bytes in, zone out) and is fuzzed; reading the file
 * is the caller's business (service/report/report_zone.c). A parsed zone
 * is immutable: any number of threads may use it at once.
 *
 * Offsets come from the file's 64-bit transition table (version 2+; a
 * version 1 file's 32-bit table otherwise) and, past its last transition,
 * from its footer (a POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0"),
 * so summer time is right in any year.
 */
#ifndef AUTHFLOW_TZ_H
#define AUTHFLOW_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tz_zone tz_zone;

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t tz_days_from_civil(int64_t y, int m, int d);
void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* floor(a / b) for b > 0. */
int64_t tz_floor_div(int64_t a, int64_t b);

/*
 * Parse a TZif file's bytes. Returns a new zone (free with tz_free), or
 * NULL with a static reason in *why (malformed, truncated, out of memory).
 * Never reads past data[len).
 */
tz_zone *tz_parse(const unsigned char *data, size_t len, const char **why);

/* The fixed zone UTC (never NULL; not to be freed: tz_free ignores it). */
const tz_zone *tz_utc(void);

void tz_free(tz_zone *z);

/* Offset from UTC in seconds (east positive) at unix time t. */
int32_t tz_offset(const tz_zone *z, int64_t t);

/* A local wall-clock time. */
typedef struct {
  int64_t year;
  int month, day, hour, minute, second; /* 1-based month and day */
  int weekday;                          /* 0 Sunday .. 6 Saturday */
  int32_t offset;                       /* seconds east of UTC */
} tz_civil;

/* The wall clock in z at unix time t. */
void tz_local(const tz_zone *z, int64_t t, tz_civil *out);

/*
 * The unix time the wall clock in z shows y-m-d h:mi:s. A time shown
 * twice (summer time ending) is the earlier one; a time never shown (the
 * hour skipped when summer time starts) is the moment after the gap,
 * read with the offset in force before it.
 */
int64_t tz_from_local(const tz_zone *z, int64_t y, int m, int d, int h, int mi,
                      int s);

#endif
