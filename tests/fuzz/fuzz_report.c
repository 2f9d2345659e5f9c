/* Fuzz the report parsers that read untrusted text: a query's from/to
 * (report_parse_time_in, in UTC) and a counter field read back from Redis
 * (report_counts_add_scoped, with or without the quarter prefix).
 * Invariants: a parsed time is not before 1970 unless given in seconds; a
 * parsed field adds exactly `value` to one member, names a line without
 * '|' and a quarter in -1..3. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  int64_t t;
  if (report_parse_time_in(text, tz_utc(), &t) && t < -86400)
    abort();
  report_counts c = {0};
  report_scope scope;
  if (report_counts_add_scoped(&c, text, 7, &scope)) {
    long long sum = 0;
    const long long *m = (const long long *)&c;
    for (size_t i = 0; i < sizeof c / sizeof *m; i++)
      sum += m[i];
    if (sum != 7 || strchr(scope.line, '|') || scope.quarter < -1 ||
        scope.quarter > 3)
      abort();
  }
  free(text);
  return 0;
}
