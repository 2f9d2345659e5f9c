/*
 * phone: telephone numbers as Genesys sends them (pure, no I/O).
 *
 * ANI arrives in many shapes: "tel:+13175550116", "tel: +1 317 555 0116",
 * "sip:+13175550116@host;user=phone", "<sip:...>", "+1-317-555-0116",
 * "3175550116", and for withheld numbers "anonymous", "sip:anonymous@...",
 * "Restricted", "" and so on. phone_normalise() turns the usable ones into
 * E.164 and says "no ANI" for the rest.
 */
#ifndef AUTHFLOW_PHONE_H
#define AUTHFLOW_PHONE_H

#include <stdbool.h>
#include <stddef.h>

/* Longest E.164 text: '+' and 15 digits. */
#define PHONE_E164_MAX 16

/*
 * Normalise `raw` (NUL-terminated, may be NULL) to E.164 in `out`.
 * National numbers (no '+') are completed with `default_country_code`
 * (digits, e.g. "1"): a leading "00" is taken as an international prefix,
 * a single leading trunk '0' is dropped, and NANP numbers with 11 digits
 * starting with the country code are accepted as they are.
 * Returns false for anonymous/withheld/empty ANI and anything that is not a
 * plausible number (letters in the user part, fewer than 8 or more than 15
 * digits after normalising). `out` must hold PHONE_E164_MAX + 1 bytes; on
 * false it holds "".
 */
bool phone_normalise(const char *raw, const char *default_country_code,
                     char *out, size_t out_len);

/*
 * Mask a number or identifier for logs and reports: every character but the
 * last 4 becomes '*'; values of 4 characters or fewer become all '*'.
 * `value` may be NULL (gives ""). Always NUL-terminates `out` (truncating a
 * long value's mask from the left so the last 4 survive).
 */
void phone_mask(const char *value, char *out, size_t out_len);

#endif
