/*
 * ratelimit: how many of a repeated event to report (pure: the caller
 * passes the time and holds any lock).
 *
 * Time runs in windows of `window_ms`, each starting with the first event
 * after the previous one ended. In a window the first `burst` events are
 * let through; the rest are counted. The next event let through carries
 * the count of those left out since the one before it, so nothing is lost
 * from the record: events = let through + the counts they carry (+ the
 * count still pending).
 */
#ifndef AUTHFLOW_RATELIMIT_H
#define AUTHFLOW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  bool started;
  int64_t window_start_ms;
  int in_window;   /* events let through in this window */
  long suppressed; /* left out since the last one let through */
} ratelimit;

/*
 * One event at `now_ms`. True: report it, and *suppressed is how many were
 * left out since the last one reported (the count starts again). False:
 * leave it out (it is counted). A zeroed ratelimit is ready to use.
 */
bool ratelimit_allow(ratelimit *r, int64_t now_ms, int64_t window_ms, int burst,
                     long *suppressed);

#endif
