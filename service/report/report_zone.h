/*
 * report_zone: time zones by IANA name, read from the system's zone
 * database (TZif files under $TZDIR, default /usr/share/zoneinfo; the
 * container image carries tzdata) and parsed by core/tz.
 *
 * Zones are loaded once and kept for the life of the process (a few KB
 * each, at most REPORT_ZONE_CACHE_MAX of them: every zone there is), so any
 * thread may use a returned zone without a lock. Thread-safe.
 */
#ifndef AUTHFLOW_REPORT_ZONE_H
#define AUTHFLOW_REPORT_ZONE_H

#include <stdbool.h>
#include <stddef.h>

#include "tz.h"

#define REPORT_ZONE_CACHE_MAX 1024 /* tzdata holds about 600 */
#define REPORT_ZONE_NAME_MAX 64

/* True when `name` is shaped like an IANA zone name ("Area/City",
 * letters, digits, '/', '_', '+', '-'; no leading '/', no "..") and no
 * longer than REPORT_ZONE_NAME_MAX. Nothing is read. */
bool report_zone_name_ok(const char *name);

/*
 * The zone named `name`, or NULL with the reason in err (not a zone name,
 * not in the zone database, or its file is malformed). "UTC" is always
 * known, even without a zone database. The zone is never freed.
 */
const tz_zone *report_zone_get(const char *name, char *err, size_t err_len);

#endif
