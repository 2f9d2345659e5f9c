/*
 * flow: the ID&V state machine (SPEC §2).
 *
 * This module is pure: it does no I/O, reads no clock and allocates nothing.
 * Every input (the session as loaded, the caller's event, the CRM's answer,
 * the current time) is passed in, and every effect (the next session, the CRM
 * call to make, what to do with the cross-call lockout counter) is passed out.
 * The edges (api, store, crm_client) carry those effects out.
 *
 * A step runs in up to two phases:
 *   1. flow_plan()      decides from the session and the event. It either
 *                       finishes the step (no CRM needed) or names one CRM
 *                       request to make.
 *   2. flow_complete()  applies the CRM's answer to the planned session.
 *
 * Attempt accounting contract: for FLOW_EV_IDENTIFIER and FLOW_EV_SECURITY the
 * store has ALREADY counted the attempt (identify_attempts / verify_attempts
 * include this submission) before flow_plan() is called; see
 * flow_event_counter(). The flow refunds an identifier attempt when the CRM
 * fails. A verification is refunded only when its request was never sent
 * (flow_crm_result.sent false: connect failure, open breaker, no token,
 * budget spent before sending): one that reached the CRM and got any HTTP
 * answer, or timed out after it was sent, stays counted as an attempt and
 * as a lockout failure whatever the status mapping says (SPEC §6,
 * "guessing never pays"), so an unmapped status cannot be a free oracle.
 */
#ifndef AUTHFLOW_FLOW_H
#define AUTHFLOW_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLOW_CONVERSATION_ID_MAX 128
#define FLOW_NAME_MAX 64
#define FLOW_LANGUAGE_MAX 15
#define FLOW_CUSTOMER_ID_MAX 64
#define FLOW_CUSTOMER_NAME_MAX 128
#define FLOW_VALUE_MAX 64 /* a normalised identifier or E.164 number */
#define FLOW_MASKED_MAX 24
#define FLOW_ANSWER_MAX 32   /* longest security answer accepted, in digits */
#define FLOW_ANI_HASH_MAX 32 /* hex digits of the keyed ANI hash */
#define FLOW_CHANNEL_MAX 32
#define FLOW_DIGEST_MAX 64 /* hex HMAC-SHA256 */
#define FLOW_DEFAULT_CHANNEL "voice"

typedef enum {
  FLOW_STATE_AWAITING_IDENTIFIER = 0,
  FLOW_STATE_AWAITING_SECURITY,
  FLOW_STATE_COMPLETED,
} flow_state;

typedef enum {
  FLOW_NEXT_ASK_IDENTIFIER = 0,
  FLOW_NEXT_ASK_SECURITY,
  FLOW_NEXT_CONTINUE,
  FLOW_NEXT_TRANSFER_TO_AGENT,
} flow_next_action;

typedef enum {
  FLOW_AUTH_NOT_IDENTIFIED = 0,
  FLOW_AUTH_IDENTIFIED,
  FLOW_AUTH_IDENTIFIED_VERIFIED,
} flow_auth_status;

typedef enum {
  FLOW_METHOD_NONE = 0,
  FLOW_METHOD_ANI,
  FLOW_METHOD_IDENTIFIER,
  FLOW_METHOD_LINKED,  /* carried from a linked conversation (SPEC §7) */
  FLOW_METHOD_HANDOFF, /* a handoff code from a digital channel */
} flow_method;

typedef enum {
  FLOW_OUTCOME_PENDING = 0,
  FLOW_OUTCOME_VERIFIED,
  FLOW_OUTCOME_IDENTIFIED_ONLY,
  FLOW_OUTCOME_OPTED_OUT,
  FLOW_OUTCOME_IDENTIFY_FAILED,
  FLOW_OUTCOME_VERIFY_FAILED,
  FLOW_OUTCOME_LOCKED,
  FLOW_OUTCOME_CRM_UNAVAILABLE,
} flow_outcome;

typedef enum {
  FLOW_RESULT_NONE = 0,
  FLOW_RESULT_MATCH,
  FLOW_RESULT_NO_MATCH,
  FLOW_RESULT_MULTIPLE_MATCHES,
  FLOW_RESULT_INVALID_INPUT,
  FLOW_RESULT_WRONG_ANSWER,
  FLOW_RESULT_CRM_ERROR,
} flow_result;

typedef enum {
  FLOW_ID_CUSTOMER_ID = 0,
  FLOW_ID_ACCOUNT_NUMBER,
  FLOW_ID_TRACKING_NUMBER,
  FLOW_ID_PHONE,
} flow_identifier_type;

/* Which linked sessions a line takes context from
 * (serviceLines.<name>.context.acceptFrom): the linked session's service
 * line and channel must each be listed, unless that list is not
 * restricted. All zero (the default): any line, any channel. */
#define FLOW_ACCEPT_LINES_MAX 32
#define FLOW_ACCEPT_CHANNELS_MAX 16
typedef struct {
  bool lines_restricted;
  int line_count;
  char lines[FLOW_ACCEPT_LINES_MAX][FLOW_NAME_MAX + 1];
  bool channels_restricted;
  int channel_count;
  char channels[FLOW_ACCEPT_CHANNELS_MAX][FLOW_CHANNEL_MAX + 1];
} flow_link_accept;

/* Per service line rules, built from config. */
typedef struct {
  bool ani_lookup;
  bool verification;
  flow_identifier_type identifier_type;
  int max_identify_attempts; /* >= 1 */
  int max_verify_attempts;   /* >= 1 */
  /* Accepted identifier length in digits; 0 means the type's default
   * (see flow_identifier_default_lengths()). */
  int identifier_min_digits;
  int identifier_max_digits;
  /* Country calling code used to complete national numbers ("1", "34",
   * "82"): digits only, 1..3 of them. */
  char default_country_code[4];
  /* Speak the customer's name (ask_security, welcome_identified) before
   * the caller proved who they are. Off by default: anyone who spoofs a
   * caller number would learn whose number it is (see flow_view). */
  bool greet_before_verification;
  /* Context across channels (SPEC §7): how long an identification or
   * verification may be carried to a linked conversation (0: links off),
   * and whether handoff codes are accepted on this line. */
  int context_reuse_seconds;
  bool handoff;
  flow_link_accept accept_from; /* links taken only from these */
  /* A start while the CRM is known to be down (flow_event.crm_down): ask
   * for an identifier anyway (true) or complete at once as crm_unavailable
   * with a transfer (false, the default): digits that cannot be checked
   * are not worth the caller's time. */
  bool ask_when_crm_down;
} flow_policy;

/* The session as kept in the store. Security answers and raw ANI or
 * identifiers are never part of it. */
typedef struct {
  char conversation_id[FLOW_CONVERSATION_ID_MAX + 1];
  char service_line[FLOW_NAME_MAX + 1];
  char language[FLOW_LANGUAGE_MAX + 1];
  flow_state state;
  flow_outcome outcome;
  flow_result last_result;
  flow_method method;
  bool identified;
  bool verified;
  char customer_id[FLOW_CUSTOMER_ID_MAX + 1];
  char customer_name[FLOW_CUSTOMER_NAME_MAX + 1];
  int identify_attempts; /* attempts used, including a reserved one */
  int verify_attempts;
  char ani_masked[FLOW_MASKED_MAX + 1]; /* "" or e.g. "*******0116" */
  /* Keyed hash of the caller's E.164 number (hex), never the number: the
   * per-caller failed-verification limit is counted under it. "" when the
   * call came without a usable ANI. Set by the edge before flow_start(). */
  char ani_hash[FLOW_ANI_HASH_MAX + 1];
  int64_t created_ms; /* unix ms, set at start */
  int64_t updated_ms;
  /* Context across channels (SPEC §7). */
  char channel[FLOW_CHANNEL_MAX + 1]; /* "voice" unless the start said */
  /* Unix ms of the ORIGINAL identification, or verification once
   * verified, that the customer context rests on; 0 when none. A link or
   * handoff carries the original time, so a chain never extends it. */
  int64_t context_ms;
  /* Where a carried context came from: the linked session's channel or
   * the handoff's; "" otherwise. */
  char context_channel[FLOW_CHANNEL_MAX + 1];
  /* The conversation a link was taken from; "" when none was used. */
  char linked_conversation_id[FLOW_CONVERSATION_ID_MAX + 1];
  /* hex HMAC-SHA256 of the caller's E.164 number under the handoff
   * secret ("" without a usable ANI or secret), to check a handoff bound
   * to a number; never the number itself. */
  char ani_digest[FLOW_DIGEST_MAX + 1];
} flow_session;

typedef enum {
  FLOW_EV_START = 0,
  FLOW_EV_IDENTIFIER,
  FLOW_EV_SECURITY,
  FLOW_EV_OPT_OUT,
  FLOW_EV_HANDOFF, /* a handoff code, already looked up by the store */
} flow_event_kind;

/* START with a linkedConversationId: what the store read of the linked
 * session, in the same script that created the new one. */
typedef struct {
  bool found;           /* the linked session exists and could be read */
  flow_session session; /* as stored; never changed */
  bool customer_locked; /* its customer is at the lockout threshold now */
} flow_link;

/* What became of a link, for logs and metrics. */
typedef enum {
  FLOW_LINK_NONE = 0,       /* no link was asked for */
  FLOW_LINK_USED,           /* the context was carried */
  FLOW_LINK_LOCKED,         /* carried, but the customer is locked out */
  FLOW_LINK_OFF,            /* reuseSeconds is 0 on this line */
  FLOW_LINK_UNKNOWN,        /* no such session */
  FLOW_LINK_IN_PROGRESS,    /* the linked session has not completed */
  FLOW_LINK_NOT_IDENTIFIED, /* it never identified anyone */
  FLOW_LINK_EXPIRED,        /* its original proof is reuseSeconds old */
  FLOW_LINK_NOT_ACCEPTED,   /* its line or channel is not in acceptFrom */
  FLOW_LINK_OTHER_NUMBER,   /* carried as identified only: a verified
                               session, but this call's number is not the
                               linked call's (or either was withheld) */
} flow_link_verdict;
#define FLOW_LINK_VERDICT_COUNT 10

/* HANDOFF: what the store found for the keyed code. The code itself is
 * never part of it. */
typedef enum {
  FLOW_HANDOFF_REDEEMED = 0, /* a live handoff matched and is now used up */
  FLOW_HANDOFF_NO_MATCH,     /* wrong, used, expired, other line/number */
  FLOW_HANDOFF_INVALID,      /* input that cannot be a code */
  FLOW_HANDOFF_REFUSED,      /* not checked: guess limit reached,
                                handoffs off on this line, or the
                                identify attempts already spent */
} flow_handoff_status;

typedef struct {
  flow_handoff_status status;
  char customer_id[FLOW_CUSTOMER_ID_MAX + 1]; /* REDEEMED */
  char customer_name[FLOW_CUSTOMER_NAME_MAX + 1];
  bool verified;
  char channel[FLOW_CHANNEL_MAX + 1];
  int64_t created_ms; /* when the digital channel vouched */
} flow_handoff;

/*
 * A failed-attempt limit the store found reached when it reserved an
 * IDENTIFIER or SECURITY step (see store_begin):
 *   CALLER  the caller's own number is at its limit: the step completes
 *           as the caller's failure would (identify_failed, or locked for
 *           a security answer), with no CRM call; its attempt stays spent.
 *   SHARED  a limit many callers share is at its limit (failures on this
 *           service line across all calls, or calls with no usable ANI):
 *           the caller did nothing wrong, so the step is answered like a
 *           CRM that cannot be asked (crm_unavailable, lastResult none, to
 *           an agent), its attempt given back and no failure recorded for
 *           anyone. A security answer from a caller identified by their
 *           own number on file (method ani) is still checked: the store
 *           reserved its failure as for any verification.
 */
typedef enum {
  FLOW_HOLD_NONE = 0,
  FLOW_HOLD_CALLER,
  FLOW_HOLD_SHARED,
} flow_hold;

/* A caller's step. Strings are borrowed for the duration of the call. */
typedef struct {
  flow_event_kind kind;
  const char *ani;             /* START: raw ANI as Genesys sent it, or NULL */
  const flow_link *link;       /* START: NULL when no link was asked for */
  const flow_handoff *handoff; /* HANDOFF */
  const char *identifier;      /* IDENTIFIER: the digits the caller keyed */
  bool has_identifier_type;
  flow_identifier_type identifier_type; /* IDENTIFIER, if has_... */
  const char *answer;                   /* SECURITY: never copied by flow */
  bool crm_down;  /* START: the CRM is known to be down (breaker open) */
  flow_hold hold; /* IDENTIFIER, SECURITY: a failed-attempt limit reached */
  int64_t now_ms;
} flow_event;

typedef enum {
  FLOW_CRM_NONE = 0,
  FLOW_CRM_LOOKUP, /* find customers by lookup_type = lookup_value */
  FLOW_CRM_VERIFY, /* check the event's answer for customer_id */
} flow_crm_kind;

typedef struct {
  flow_crm_kind kind;
  bool from_ani; /* LOOKUP made by START from the caller's ANI */
  flow_identifier_type lookup_type;           /* LOOKUP; PHONE for ANI */
  char lookup_value[FLOW_VALUE_MAX + 1];      /* LOOKUP: normalised */
  char customer_id[FLOW_CUSTOMER_ID_MAX + 1]; /* VERIFY */
} flow_crm_request;

/* What the CRM answered, as the connector mapped it. */
typedef struct {
  bool ok; /* false: 5xx, timeout, unreachable or unparseable */
  /* The request went out: an HTTP answer came back (any status), or the
   * connection was made and the transfer then failed or timed out. False
   * only when nothing can have reached the CRM (connect failure, open
   * breaker, no OAuth2 token, budget spent before sending). A VERIFY that
   * was sent always counts (see the contract above). */
  bool sent;
  int match_count;                            /* LOOKUP */
  char customer_id[FLOW_CUSTOMER_ID_MAX + 1]; /* LOOKUP, first match */
  char customer_name[FLOW_CUSTOMER_NAME_MAX + 1];
  bool verified; /* VERIFY */
  bool locked;   /* VERIFY: the CRM itself reports the customer locked */
  /* An HTTP status came back (any status). A VERIFY that was sent but
   * got none (it timed out) still counts for the customer, but not toward
   * the caller's or the line's limits (FLOW_LOCKOUT_RECORD_UNANSWERED):
   * a slow CRM alone must not hold every caller. */
  bool answered;
} flow_crm_result;

/* What the store must do with the cross-call failure counters when it
 * commits the session. */
typedef enum {
  FLOW_LOCKOUT_NONE = 0,
  /* a verification failed (wrong answer, or any HTTP answer the mapping
   * does not know): count it for the customer, the caller's number and
   * the service line */
  FLOW_LOCKOUT_RECORD_FAILURE,
  FLOW_LOCKOUT_CLEAR, /* verified: forget earlier failures */
  /* a verification sent that got no HTTP answer (a timeout): count it for
   * the customer only (SPEC §6: it may have been checked), never toward
   * the caller's or the line's limit */
  FLOW_LOCKOUT_RECORD_UNANSWERED,
  /* an identifier matched nobody or several, or was not valid: count it
   * toward the caller's and the line's failed-identification limits */
  FLOW_LOCKOUT_IDENTIFY_FAILURE,
} flow_lockout_effect;

typedef enum {
  FLOW_PLAN_DONE = 0,    /* out->session is final for this step */
  FLOW_PLAN_NEED_CRM,    /* make out->crm, then call flow_complete() */
  FLOW_PLAN_WRONG_STATE, /* the event is not allowed in this state */
} flow_plan_status;

typedef struct {
  flow_session session; /* next session (DONE) or planned one (NEED_CRM) */
  flow_crm_request crm;
  flow_lockout_effect lockout;
  /* True when the store must check the customer's lockout counter while
   * committing (a customer was just identified and must now verify). If the
   * store finds the customer locked it writes nothing and the caller applies
   * flow_lock_out() instead. */
  bool check_lockout;
  flow_link_verdict link; /* START only */
} flow_step;

/* The derived view an API answer is made from. */
typedef struct {
  flow_next_action next_action;
  flow_auth_status auth_status;
  int attempts_remaining;
  const char *prompt_id; /* static string */
  /* May the prompt say the customer's name? Only once verified, or when
   * the service line opted in (greet_before_verification). The API answer
   * still carries customerName for the agent's screen; the IVR must not
   * speak it. */
  bool speak_name;
} flow_view;

/*
 * Start a new session. `session_in` holds conversation_id, service_line,
 * language, created_ms, ani_hash, channel and ani_digest already filled
 * by the caller; the rest is ignored.
 * With event->link, a usable link (SPEC §7) carries the linked customer
 * with no CRM call: DONE, completed (verified / identified_only / locked)
 * or awaiting_security. A linked conversation ID is a bearer credential,
 * so its verification is carried only when the linked session completed
 * verified AND this call's ani_hash is the linked call's (both non-empty:
 * a withheld number matches nothing); otherwise only the identification
 * is (out->link FLOW_LINK_OTHER_NUMBER, lastResult no_match). A link from
 * a line or channel the policy's accept_from does not list is ignored.
 * out->link says what became of the link; an unusable one is ignored and
 * the start goes on as without it.
 * Result: DONE (a link, no usable ANI or aniLookup off) or NEED_CRM (ANI
 * lookup). Never WRONG_STATE.
 */
flow_plan_status flow_start(const flow_policy *policy,
                            const flow_session *session_in,
                            const flow_event *event, flow_step *out);

/*
 * Plan an IDENTIFIER, SECURITY, OPT_OUT or HANDOFF event on a loaded
 * session. For all but OPT_OUT the store has already reserved the attempt
 * (see above; HANDOFF spends an identify attempt).
 * HANDOFF is always DONE: a redeemed handoff identifies its customer
 * (verified when it says so) and completes, or asks for the security
 * answer; anything else is a failed identify attempt that keeps the
 * session's state (no_match, or invalid_input), until the attempts are
 * spent (identify_failed).
 * `customer_locked` is what the store read of the session's customer's
 * lockout counter (only meaningful for SECURITY); a locked customer
 * completes with FLOW_OUTCOME_LOCKED and no CRM call. event->hold (for
 * IDENTIFIER and SECURITY) is a failed-attempt limit the store found
 * reached (see flow_hold). out->lockout tells the store what to count:
 * a failed identification (FLOW_LOCKOUT_IDENTIFY_FAILURE, no match,
 * several matches or invalid digits), a failed verification, or nothing.
 */
flow_plan_status flow_plan(const flow_policy *policy,
                           const flow_session *session, const flow_event *event,
                           bool customer_locked, flow_step *out);

/*
 * Apply the CRM's answer to a step that returned NEED_CRM. `planned` is
 * out->session from flow_start()/flow_plan(); `request` is out->crm.
 * Fills `out` (its crm.kind is always FLOW_CRM_NONE).
 */
void flow_complete(const flow_policy *policy, const flow_session *planned,
                   const flow_crm_request *request,
                   const flow_crm_result *result, int64_t now_ms,
                   flow_step *out);

/* The customer the store reported locked at commit time: complete the
 * session as LOCKED (identification kept, transfer to an agent). A locked
 * session is never verified: a verification carried by a handoff or a
 * link is dropped, so neither the answer nor a later link can show it. */
void flow_lock_out(const flow_session *session, int64_t now_ms,
                   flow_session *out);

/* Whether the session counts as verified: identified, verified, and not
 * completed as locked. Every view of a session (the answer, GET, reports,
 * a link) asks this, never `verified` alone: a locked session is never
 * verified, even one stored so by an older version. */
bool flow_session_verified(const flow_session *s);

/* Derive nextAction, authStatus, attemptsRemaining and promptId. */
void flow_view_of(const flow_policy *policy, const flow_session *session,
                  flow_view *out);

/* Which states an event may be submitted in, as a bit mask of
 * (1u << flow_state). */
unsigned flow_event_allowed_states(flow_event_kind kind);

/* The attempt counter the store reserves for an event before planning. */
typedef enum {
  FLOW_COUNTER_NONE = 0,     /* START, OPT_OUT: no attempt counted */
  FLOW_COUNTER_IDENTIFY = 1, /* identify_attempts (HANDOFF) */
  FLOW_COUNTER_VERIFY = 2,   /* verify_attempts */
  /* identify_attempts, and the failed-identification limits are checked
   * (IDENTIFIER; a handoff code has a guess limit of its own) */
  FLOW_COUNTER_IDENTIFIER = 3,
} flow_attempt_counter;

flow_attempt_counter flow_event_counter(flow_event_kind kind);

/*
 * Validate and normalise the digits a caller keyed for an identifier of
 * `type`. Spaces and '-' are tolerated and dropped; anything else that is
 * not a digit, or a length outside the policy's bounds, is invalid. Phone
 * identifiers are normalised to E.164 ("+13175550116") with the policy's
 * country code. Returns false when invalid.
 */
bool flow_normalise_identifier(const flow_policy *policy,
                               flow_identifier_type type, const char *raw,
                               char *out, size_t out_len);

/* Default digit bounds for a type (used when the policy leaves them 0). */
void flow_identifier_default_lengths(flow_identifier_type type, int *min,
                                     int *max);

/* Enum <-> wire-name conversions (the strings of SPEC §3). The *_name
 * functions return static strings; the *_parse functions return false on an
 * unknown name and leave *out untouched. */
const char *flow_state_name(flow_state v);
const char *flow_next_action_name(flow_next_action v);
const char *flow_auth_status_name(flow_auth_status v);
const char *flow_method_name(flow_method v);
const char *flow_outcome_name(flow_outcome v);
const char *flow_result_name(flow_result v);
const char *flow_identifier_type_name(flow_identifier_type v);
const char *flow_link_verdict_name(flow_link_verdict v);
const char *flow_handoff_status_name(flow_handoff_status v);
bool flow_state_parse(const char *s, flow_state *out);
bool flow_method_parse(const char *s, flow_method *out);
bool flow_outcome_parse(const char *s, flow_outcome *out);
bool flow_result_parse(const char *s, flow_result *out);
bool flow_identifier_type_parse(const char *s, flow_identifier_type *out);

/* Transfer outcomes are the ones that send the caller to an agent. */
bool flow_outcome_is_transfer(flow_outcome v);

#endif
