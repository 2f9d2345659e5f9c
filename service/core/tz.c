#include "tz.h"

#include <stdlib.h>
#include <string.h>

/* Limits well above any real zone (America/New_York: 236 transitions, 6
 * types), so a hostile file cannot make us allocate much. */
#define TZ_MAX_TIMES 4000
#define TZ_MAX_TYPES 256
#define TZ_MAX_CHARS 512
#define TZ_MAX_LEAPS 256
#define TZ_FOOTER_MAX 128
/* Offsets beyond +-26 h are not real (RFC 8536 §3.2 allows up to 25:59). */
#define TZ_MAX_OFFSET (26 * 3600)

/* One rule date of a POSIX TZ string: Jn, n or Mm.w.d, and a time of day
 * (seconds, may be negative or past 24 h). */
typedef struct {
  char kind; /* 'J', 'N' (zero-based day) or 'M' */
  int day, month, week, weekday;
  int32_t time;
} tz_rule_date;

struct tz_zone {
  size_t n_trans;
  int64_t *trans;  /* ascending */
  uint8_t *idx;    /* the type each transition switches to */
  int32_t *utoff;  /* per type */
  int32_t initial; /* before the first transition (type 0) */
  /* The footer, for times past the last transition. */
  bool has_footer, footer_dst;
  int32_t std_off, dst_off; /* east positive */
  tz_rule_date start, end;
  bool is_static; /* tz_utc(): never freed */
};

int64_t tz_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* H. Hinnant's "chrono-compatible low-level date algorithms". */
int64_t tz_days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* ---------------------------------------------------------------------
 * The footer: a POSIX TZ string (RFC 8536 §3.3, POSIX.1 8.3 TZ).
 * ------------------------------------------------------------------- */

/* A zone abbreviation: <...> or three or more letters. */
static bool posix_name(const char **p) {
  const char *s = *p;
  if (*s == '<') {
    const char *close = strchr(s, '>');
    if (!close || close - s < 4)
      return false;
    *p = close + 1;
    return true;
  }
  size_t n = 0;
  while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z'))
    n++;
  if (n < 3)
    return false;
  *p = s + n;
  return true;
}

/* A number of at most `max_digits` digits, up to `max`. */
static bool posix_num(const char **p, int max_digits, int max, int *out) {
  int v = 0, n = 0;
  while (**p >= '0' && **p <= '9' && n < max_digits) {
    v = v * 10 + (**p - '0');
    (*p)++;
    n++;
  }
  if (n == 0 || v > max)
    return false;
  *out = v;
  return true;
}

/* [+-]hh[:mm[:ss]] in seconds; hours up to `max_hours`. */
static bool posix_time(const char **p, int max_hours, int32_t *out) {
  int sign = 1, h, m = 0, s = 0;
  if (**p == '+' || **p == '-')
    sign = *(*p)++ == '-' ? -1 : 1;
  if (!posix_num(p, 3, max_hours, &h))
    return false;
  if (**p == ':') {
    (*p)++;
    if (!posix_num(p, 2, 59, &m))
      return false;
    if (**p == ':') {
      (*p)++;
      if (!posix_num(p, 2, 59, &s))
        return false;
    }
  }
  *out = sign * (h * 3600 + m * 60 + s);
  return true;
}

/* ",Jn|n|Mm.w.d[/time]" */
static bool posix_rule_date(const char **p, tz_rule_date *r) {
  if (*(*p)++ != ',')
    return false;
  r->time = 2 * 3600;
  if (**p == 'J') {
    (*p)++;
    r->kind = 'J';
    if (!posix_num(p, 3, 365, &r->day) || r->day < 1)
      return false;
  } else if (**p == 'M') {
    (*p)++;
    r->kind = 'M';
    if (!posix_num(p, 2, 12, &r->month) || r->month < 1 || *(*p)++ != '.' ||
        !posix_num(p, 1, 5, &r->week) || r->week < 1 || *(*p)++ != '.' ||
        !posix_num(p, 1, 6, &r->weekday))
      return false;
  } else {
    r->kind = 'N';
    if (!posix_num(p, 3, 365, &r->day))
      return false;
  }
  if (**p == '/') {
    (*p)++;
    return posix_time(p, 167, &r->time);
  }
  return true;
}

/* Parse the footer `s` (NUL-terminated) into z. An empty footer means
 * "no rule": the last transition's type lasts. */
static bool parse_footer(tz_zone *z, const char *s) {
  if (!*s)
    return true;
  int32_t west;
  if (!posix_name(&s) || !posix_time(&s, 24, &west))
    return false;
  z->std_off = -west;
  z->has_footer = true;
  if (!*s)
    return true;
  if (!posix_name(&s))
    return false;
  z->footer_dst = true;
  z->dst_off = z->std_off + 3600;
  if (*s && *s != ',') {
    if (!posix_time(&s, 24, &west))
      return false;
    z->dst_off = -west;
  }
  /* Without rules POSIX leaves the dates to the implementation; TZif
   * footers always carry them. */
  return posix_rule_date(&s, &z->start) && posix_rule_date(&s, &z->end) &&
         *s == '\0';
}

/* Unix time of a rule date in year y, its time read with offset `off`. */
static int64_t rule_time(const tz_rule_date *r, int64_t y, int32_t off) {
  int64_t days;
  if (r->kind == 'J')
    days = tz_days_from_civil(y, 1, 1) + r->day - 1 +
           (is_leap(y) && r->day >= 60 ? 1 : 0);
  else if (r->kind == 'N')
    days = tz_days_from_civil(y, 1, 1) + r->day;
  else {
    int64_t first = tz_days_from_civil(y, r->month, 1);
    int wday = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    int d = 1 + (r->weekday - wday + 7) % 7 + (r->week - 1) * 7;
    while (d > month_days(y, r->month))
      d -= 7;
    days = first + d - 1;
  }
  return days * 86400 + r->time - off;
}

static int32_t footer_offset(const tz_zone *z, int64_t t) {
  if (!z->footer_dst)
    return z->std_off;
  int64_t y;
  int m, d;
  tz_civil_from_days(tz_floor_div(t + z->std_off, 86400), &y, &m, &d);
  int64_t start = rule_time(&z->start, y, z->std_off);
  int64_t end = rule_time(&z->end, y, z->dst_off);
  bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? z->dst_off : z->std_off;
}

/* ---------------------------------------------------------------------
 * The TZif body.
 * ------------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static int64_t be64(const unsigned char *p) {
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct {
  uint32_t isut, isstd, leap, time, type, chars;
} tzif_counts;

/* The 44-byte header at data; false when it is not one. */
static bool read_header(const unsigned char *data, size_t len, int *version,
                        tzif_counts *c) {
  if (len < 44 || memcmp(data, "TZif", 4) != 0)
    return false;
  *version = data[4] == 0 ? 1 : data[4] - '0';
  c->isut = be32(data + 20);
  c->isstd = be32(data + 24);
  c->leap = be32(data + 28);
  c->time = be32(data + 32);
  c->type = be32(data + 36);
  c->chars = be32(data + 40);
  return c->type >= 1 && c->type <= TZ_MAX_TYPES && c->time <= TZ_MAX_TIMES &&
         c->chars <= TZ_MAX_CHARS && c->leap <= TZ_MAX_LEAPS &&
         (c->isut == 0 || c->isut == c->type) &&
         (c->isstd == 0 || c->isstd == c->type);
}

/* Bytes of the data block after a header with counts c and times of
 * `tsize` bytes. */
static size_t block_len(const tzif_counts *c, size_t tsize) {
  return c->time * tsize + c->time + c->type * 6 + c->chars +
         c->leap * (tsize + 4) + c->isstd + c->isut;
}

/* Fill z's tables from the data block at p (already known to fit). */
static const char *read_block(tz_zone *z, const unsigned char *p,
                              const tzif_counts *c, size_t tsize) {
  z->n_trans = c->time;
  z->trans = malloc((c->time ? c->time : 1) * sizeof *z->trans);
  z->idx = malloc(c->time ? c->time : 1);
  z->utoff = malloc(c->type * sizeof *z->utoff);
  if (!z->trans || !z->idx || !z->utoff)
    return "out of memory";
  for (uint32_t i = 0; i < c->time; i++) {
    const unsigned char *q = p + i * tsize;
    z->trans[i] = tsize == 8 ? be64(q) : (int64_t)(int32_t)be32(q);
    if (i > 0 && z->trans[i] <= z->trans[i - 1])
      return "transition times are not ascending";
  }
  p += c->time * tsize;
  for (uint32_t i = 0; i < c->time; i++) {
    z->idx[i] = p[i];
    if (p[i] >= c->type)
      return "a transition names a type that does not exist";
  }
  p += c->time;
  for (uint32_t i = 0; i < c->type; i++) {
    int32_t off = (int32_t)be32(p + i * 6);
    if (off > TZ_MAX_OFFSET || off < -TZ_MAX_OFFSET)
      return "a UTC offset is out of range";
    if (p[i * 6 + 4] > 1 || p[i * 6 + 5] >= (c->chars ? c->chars : 1))
      return "a local time type is malformed";
    z->utoff[i] = off;
  }
  z->initial = z->utoff[0];
  return NULL;
}

void tz_free(tz_zone *z) {
  if (!z || z->is_static)
    return;
  free(z->trans);
  free(z->idx);
  free(z->utoff);
  free(z);
}

tz_zone *tz_parse(const unsigned char *data, size_t len, const char **why) {
  int version;
  tzif_counts c;
  if (!read_header(data, len, &version, &c)) {
    *why = "not a TZif file, or its counts are out of range";
    return NULL;
  }
  size_t v1 = block_len(&c, 4);
  if (len - 44 < v1) {
    *why = "the file is truncated";
    return NULL;
  }
  const unsigned char *p = data + 44;
  size_t tsize = 4;
  const unsigned char *end = data + len;
  if (version >= 2) {
    p += v1;
    int v2version;
    if (!read_header(p, (size_t)(end - p), &v2version, &c) ||
        (size_t)(end - p) - 44 < block_len(&c, 8)) {
      *why = "the version 2 part is truncated or malformed";
      return NULL;
    }
    p += 44;
    tsize = 8;
  }
  tz_zone *z = calloc(1, sizeof *z);
  if (!z) {
    *why = "out of memory";
    return NULL;
  }
  const char *problem = read_block(z, p, &c, tsize);
  if (!problem && version >= 2) {
    /* The footer: "\n<TZ string>\n". */
    const unsigned char *f = p + block_len(&c, 8);
    char footer[TZ_FOOTER_MAX];
    size_t n = 0;
    if (f >= end || *f != '\n')
      problem = "the footer is missing";
    else {
      for (f++; f < end && *f != '\n' && n + 1 < sizeof footer; f++)
        footer[n++] = (char)*f;
      footer[n] = '\0';
      if (f >= end || *f != '\n' || memchr(footer, '\0', n))
        problem = "the footer is malformed or too long";
      else if (!parse_footer(z, footer))
        problem = "the footer's TZ string is malformed";
    }
  }
  if (problem) {
    tz_free(z);
    *why = problem;
    return NULL;
  }
  return z;
}

const tz_zone *tz_utc(void) {
  static const tz_zone utc = {.is_static = true};
  return &utc;
}

int32_t tz_offset(const tz_zone *z, int64_t t) {
  size_t n = z->n_trans;
  if (n == 0)
    return z->has_footer ? footer_offset(z, t) : z->initial;
  if (t < z->trans[0])
    return z->initial;
  if (t >= z->trans[n - 1] && z->has_footer)
    return footer_offset(z, t);
  size_t lo = 0, hi = n; /* the last transition <= t */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (z->trans[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  return z->utoff[z->idx[lo]];
}

void tz_local(const tz_zone *z, int64_t t, tz_civil *out) {
  out->offset = tz_offset(z, t);
  int64_t local = t + out->offset;
  int64_t days = tz_floor_div(local, 86400);
  int64_t sod = local - days * 86400;
  tz_civil_from_days(days, &out->year, &out->month, &out->day);
  out->hour = (int)(sod / 3600);
  out->minute = (int)(sod / 60 % 60);
  out->second = (int)(sod % 60);
  out->weekday = (int)((days % 7 + 11) % 7);
}

int64_t tz_from_local(const tz_zone *z, int64_t y, int m, int d, int h, int mi,
                      int s) {
  int64_t wall = tz_days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s;
  /* The offsets in force a day either side: transitions are further apart
   * than that in every real zone. */
  int32_t before = tz_offset(z, wall - 86400 - TZ_MAX_OFFSET);
  int32_t after = tz_offset(z, wall + 86400 + TZ_MAX_OFFSET);
  int64_t ta = wall - before, tb = wall - after;
  bool a_ok = tz_offset(z, ta) == before, b_ok = tz_offset(z, tb) == after;
  if (a_ok && b_ok)
    return ta < tb ? ta : tb;
  if (a_ok)
    return ta;
  if (b_ok)
    return tb;
  return ta; /* in the gap: read with the offset before it */
}
