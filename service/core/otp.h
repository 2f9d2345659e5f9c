/*
 * otp: one-time codes sent to the phone on file (SPEC §9), the pure parts:
 * the verification methods a service line may ask for, the code drawn from
 * random bytes the caller supplies, the keyed hash a code is kept as, the
 * phone on file sealed for the session, and the session's OTP state as one
 * text field (what store_codec writes).
 *
 * Pure: no I/O, no clock, no allocation, no logging. The edge (http's
 * otp_api) draws the random bytes, holds the secret and sends the SMS.
 *
 * Secrets: a code exists in clear only between otp_code_make() and the SMS
 * request that carries it (the edge wipes both); the session keeps
 * otp_code_digest() of it: HMAC-SHA256(otp.secret, "otp-code:" ||
 * conversationId || ":" || send number || ":" || code). The secret is not
 * in Redis, so a Redis dump does not give the 10^length candidates a
 * check to run offline; binding the conversation and the send number makes
 * each digest good for one code of one call. The phone on file is kept
 * sealed under the same secret (otp_phone_seal), never in clear.
 */
#ifndef AUTHFLOW_OTP_H
#define AUTHFLOW_OTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OTP_LENGTH_MIN 4
#define OTP_LENGTH_MAX 10
#define OTP_DIGEST_HEX 64 /* hex HMAC-SHA256 */
#define OTP_PHONE_MAX 16  /* "+" and at most 15 digits (E.164) */
/* A sealed phone: 16 padded bytes XOR a keyed pad, then 8 bytes of MAC,
 * all in hex. */
#define OTP_SEALED_HEX 48
#define OTP_LIMIT_HASH_HEX 32 /* the phone's key in the per-phone limit */
/* The state field: "passed,sends,checks,expiresMs,digest,sealed,last2,
 * sendFailures,fellBack". */
#define OTP_STATE_MAX 200
/* Random bytes otp_code_make() is given: enough that running out (fewer
 * than `length` of them below 250) has odds under 10^-50. */
#define OTP_RANDOM_BYTES 64

/* How a service line verifies (serviceLines.<name>.verificationMethod). */
typedef enum {
  OTP_METHOD_ANSWER = 0,      /* the security answer (the default) */
  OTP_METHOD_OTP,             /* a one-time code only */
  OTP_METHOD_ANSWER_THEN_OTP, /* the answer, then a code */
  OTP_METHOD_OTP_OR_ANSWER,   /* a code; the answer when no code can go */
} otp_method;

/* The methods a caller passed, as bits of otp_session.passed. */
#define OTP_PASSED_ANSWER 1u
#define OTP_PASSED_OTP 2u

/* The per-line rules the flow applies (built from config: the line's
 * method and the otp.* numbers). */
typedef struct {
  otp_method method;
  int length;      /* digits, OTP_LENGTH_MIN..OTP_LENGTH_MAX */
  int ttl_seconds; /* a code's life */
  int max_checks;  /* wrong entries one code takes before it is void */
  int max_sends;   /* codes sent per call */
} otp_policy;

/* The OTP part of a session, as kept in the store. Never the code, never
 * the phone in clear. */
typedef struct {
  unsigned passed;                 /* OTP_PASSED_* */
  int sends;                       /* codes sent in this call */
  int checks;                      /* wrong entries of the live code */
  int64_t expires_ms;              /* of the live code; 0 when none is live */
  char digest[OTP_DIGEST_HEX + 1]; /* the live code's; "" none */
  char phone[OTP_SEALED_HEX + 1];  /* the phone on file, sealed; "" none */
  char phone_last2[3];             /* for the prompt; "" none */
  int send_failures; /* sends the SMS operation failed (reports) */
  bool fell_back;    /* no code could be had: the answer or an agent */
} otp_session;

/* What a submitted code is, against the session's live one. */
typedef enum {
  OTP_CHECK_MATCH = 0,
  OTP_CHECK_WRONG,   /* a live code, and this is not it */
  OTP_CHECK_EXPIRED, /* no live code: expired, void or never sent */
  OTP_CHECK_INVALID, /* not `length` digits: cannot be a code */
} otp_check_result;

/* Wire names: "answer", "otp", "answer_then_otp", "otp_or_answer". */
const char *otp_method_name(otp_method m);
bool otp_method_parse(const char *s, otp_method *out);

/* Whether a method sends codes at all. */
bool otp_method_uses_code(otp_method m);

/*
 * Draw a code of `length` digits (OTP_LENGTH_MIN..MAX) from rand[0 .. n)
 * by rejection sampling (a byte of 250 or more is skipped, so every digit
 * is uniform). out holds OTP_LENGTH_MAX + 1. False (out "") when the bytes
 * run out or the length is out of range.
 */
bool otp_code_make(const unsigned char *rand, size_t n, int length, char *out);

/* Whether `code` is exactly `length` ASCII digits. */
bool otp_code_well_formed(const char *code, int length);

/*
 * The keyed hash a code is kept as (see above): hex into
 * out[OTP_DIGEST_HEX + 1]. `send` is the number of the send that issued it
 * (1 for the first).
 */
void otp_code_digest(const char *secret, size_t secret_len,
                     const char *conversation_id, int send, const char *code,
                     char *out);

/*
 * A submitted code against the session: MATCH when it is well formed, a
 * code is live at now_ms and `digest` (otp_code_digest of the submission
 * under the session's current send number) equals the live one (compared
 * in constant time).
 */
otp_check_result otp_check(const otp_session *s, int length, const char *code,
                           const char *digest, int64_t now_ms);

/*
 * Seal an E.164 number for conversation `conversation_id` into
 * out[OTP_SEALED_HEX + 1] and its last two digits into last2[3]. False
 * (out "") when `e164` is not "+" and 1..15 digits.
 */
bool otp_phone_seal(const char *secret, size_t secret_len,
                    const char *conversation_id, const char *e164, char *out,
                    char *last2);

/* Open a sealed number into out[OTP_PHONE_MAX + 1]. False (out "") when it
 * was not sealed under this secret for this conversation. */
bool otp_phone_open(const char *secret, size_t secret_len,
                    const char *conversation_id, const char *sealed, char *out);

/* The per-phone send limit's key for a number: hex HMAC cut to
 * OTP_LIMIT_HASH_HEX digits, into out[OTP_LIMIT_HASH_HEX + 1]. */
void otp_phone_limit_hash(const char *secret, size_t secret_len,
                          const char *e164, char *out);

/*
 * The state as one text field (store_codec): false when it holds what
 * otp_state_parse would refuse or does not fit out_len. An empty state
 * (all zero) is written as "" so sessions without OTP stay as they were.
 */
bool otp_state_format(const otp_session *s, char *out, size_t out_len);

/* Parse text[0 .. len) (no NUL needed) into *s (zeroed first); "" is the
 * empty state. False on anything otp_state_format would not write. */
bool otp_state_parse(const char *text, size_t len, otp_session *s);

/* The methods of `passed` as wire names in order ("answer", then "otp"):
 * fills names[0 .. 2) and returns how many. */
size_t otp_passed_names(unsigned passed, const char *names[2]);

#endif
