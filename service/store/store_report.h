/*
 * store_report: the report side of the store. The hour counter hashes
 * ("<prefix>report:h:<yyyymmddhh>"), the event stream
 * ("<prefix>report:events") and the dropped counter
 * ("<prefix>report:dropped") are written by the commit script, from the
 * arguments built here, and read back by store_report_hours(),
 * store_report_events() and store_report_dropped() (declared in store.h,
 * defined in store_report.c) with plain commands.
 *
 * Internal to service/store: callers use store.h.
 */
#ifndef AUTHFLOW_STORE_REPORT_H
#define AUTHFLOW_STORE_REPORT_H

#include "report.h"

/* The most report arguments store_report_args() writes. */
#define STORE_REPORT_ARGS_MAX                                                  \
  (5 + 2 * REPORT_MAX_INCRS + 2 * REPORT_EVENT_FIELDS)

/* Decimal texts of the report arguments that change per step (the
 * configured ones are written once: store_cfg_texts()). */
typedef struct {
  char nc[24], minid[24], ne[24];
} store_report_texts;

/*
 * Write the commit script's report arguments for `rec` (see script_commit
 * in store_script.c) to out[0 .. STORE_REPORT_ARGS_MAX), pointing into rec
 * and *txt, which must outlive out. Returns how many were written: 0 when
 * rec is NULL or records nothing.
 */
int store_report_args(const report_record *rec, const char **out,
                      store_report_texts *txt);

#endif
