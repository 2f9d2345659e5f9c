/*
 * decimal: a long long in plain decimal, without printf (the hot paths
 * format numbers per step: Redis arguments, the session value, the answer,
 * the report record).
 */
#ifndef AUTHFLOW_DECIMAL_H
#define AUTHFLOW_DECIMAL_H

#include <stddef.h>

/* Room for any long long: a sign, 19 digits and the NUL. */
#define DECIMAL_MAX 21

/* Writes `v` in decimal ('-' first when negative, no leading zeros) and a
 * NUL into out (at least DECIMAL_MAX bytes); returns the length without
 * the NUL. LLONG_MIN included. */
size_t decimal_format(char *out, long long v);

#endif
