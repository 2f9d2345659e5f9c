#include "ratelimit.h"

bool ratelimit_allow(ratelimit *r, int64_t now_ms, int64_t window_ms, int burst,
                     long *suppressed) {
  if (!r->started || now_ms - r->window_start_ms >= window_ms ||
      now_ms < r->window_start_ms) {
    r->started = true;
    r->window_start_ms = now_ms;
    r->in_window = 0;
  }
  if (r->in_window >= burst) {
    r->suppressed++;
    return false;
  }
  r->in_window++;
  *suppressed = r->suppressed;
  r->suppressed = 0;
  return true;
}
