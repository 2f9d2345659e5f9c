/*
 * flow, context across channels (SPEC §7): START with a linked session
 * and HANDOFF events, as a table of (policy, linked session or handoff
 * lookup, session as loaded) rows with the expected plan, session, store
 * effects and link verdict. Times are unix ms; the window is 900 s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flow.h"

#define NOW 10000000           /* the step's time */
#define WINDOW_MS (900 * 1000) /* context.reuseSeconds = 900 */

static const flow_policy verify_on = {.ani_lookup = true,
                                      .verification = true,
                                      .identifier_type = FLOW_ID_CUSTOMER_ID,
                                      .max_identify_attempts = 3,
                                      .max_verify_attempts = 3,
                                      .default_country_code = "1",
                                      .context_reuse_seconds = 900,
                                      .handoff = true};
static const flow_policy verify_off = {.ani_lookup = true,
                                       .verification = false,
                                       .identifier_type = FLOW_ID_CUSTOMER_ID,
                                       .max_identify_attempts = 3,
                                       .max_verify_attempts = 3,
                                       .default_country_code = "1",
                                       .context_reuse_seconds = 900,
                                       .handoff = true};
/* context.acceptFrom: links from the banking and retail lines over voice
 * or chat; from banking only; from retail over voice only. */
static const flow_policy accept_both = {
    .ani_lookup = true,
    .verification = true,
    .identifier_type = FLOW_ID_CUSTOMER_ID,
    .max_identify_attempts = 3,
    .max_verify_attempts = 3,
    .default_country_code = "1",
    .context_reuse_seconds = 900,
    .handoff = true,
    .accept_from = {.lines_restricted = true,
                    .line_count = 2,
                    .lines = {"banking", "retail"},
                    .channels_restricted = true,
                    .channel_count = 2,
                    .channels = {"voice", "chat"}}};
static const flow_policy accept_banking = {
    .ani_lookup = true,
    .verification = true,
    .identifier_type = FLOW_ID_CUSTOMER_ID,
    .max_identify_attempts = 3,
    .max_verify_attempts = 3,
    .default_country_code = "1",
    .context_reuse_seconds = 900,
    .handoff = true,
    .accept_from = {
        .lines_restricted = true, .line_count = 1, .lines = {"banking"}}};
static const flow_policy accept_voice = {
    .ani_lookup = true,
    .verification = true,
    .identifier_type = FLOW_ID_CUSTOMER_ID,
    .max_identify_attempts = 3,
    .max_verify_attempts = 3,
    .default_country_code = "1",
    .context_reuse_seconds = 900,
    .handoff = true,
    .accept_from = {.channels_restricted = true,
                    .channel_count = 1,
                    .channels = {"voice"}}};
static const flow_policy links_off = {.ani_lookup = true,
                                      .verification = true,
                                      .identifier_type = FLOW_ID_CUSTOMER_ID,
                                      .max_identify_attempts = 3,
                                      .max_verify_attempts = 3,
                                      .default_country_code = "1",
                                      .context_reuse_seconds = 0,
                                      .handoff = true};

/* The linked session as the store read it. */
typedef enum {
  L_NONE,            /* no link asked for */
  L_MISSING,         /* asked for, not found */
  L_VERIFIED,        /* completed verified, proof at NOW - 60 s */
  L_IDENTIFIED,      /* completed identified_only, proof at NOW - 60 s */
  L_IN_PROGRESS,     /* awaiting_security, identified */
  L_NOBODY,          /* completed opted_out, never identified */
  L_OLD,             /* completed verified, proof exactly the window ago */
  L_CHAIN,           /* completed verified by a link, original proof too old
                        although the linked session itself is recent */
  L_ZERO_TIME,       /* completed verified, no proof time recorded */
  L_LOCKED_VERIFIED, /* completed locked but stored verified (a record an
                        older version wrote for a verified handoff or link
                        of a locked-out customer) */
  L_NO_NUMBER,       /* completed verified, from a withheld number */
} linked_id;

/* The keyed hash of the linked call's number (make_linked) and another. */
#define SAME_NUMBER "0123456789abcdef0123456789abcdef"
#define OTHER_NUMBER "fedcba9876543210fedcba9876543210"

static void make_linked(linked_id id, flow_link *l) {
  memset(l, 0, sizeof *l);
  if (id == L_MISSING)
    return;
  l->found = true;
  flow_session *s = &l->session;
  snprintf(s->conversation_id, sizeof s->conversation_id, "conv-before");
  snprintf(s->service_line, sizeof s->service_line, "retail");
  snprintf(s->channel, sizeof s->channel, "chat");
  snprintf(s->customer_id, sizeof s->customer_id, "100234");
  snprintf(s->customer_name, sizeof s->customer_name, "Ana García");
  s->identified = true;
  s->verified = true;
  s->method = FLOW_METHOD_ANI;
  s->state = FLOW_STATE_COMPLETED;
  s->outcome = FLOW_OUTCOME_VERIFIED;
  s->created_ms = NOW - 120000;
  s->updated_ms = NOW - 60000;
  s->context_ms = NOW - 60000;
  snprintf(s->ani_hash, sizeof s->ani_hash, SAME_NUMBER);
  switch (id) {
  case L_IDENTIFIED:
    s->verified = false;
    s->outcome = FLOW_OUTCOME_IDENTIFIED_ONLY;
    break;
  case L_IN_PROGRESS:
    s->verified = false;
    s->state = FLOW_STATE_AWAITING_SECURITY;
    s->outcome = FLOW_OUTCOME_PENDING;
    break;
  case L_NOBODY:
    s->identified = s->verified = false;
    s->customer_id[0] = s->customer_name[0] = '\0';
    s->outcome = FLOW_OUTCOME_OPTED_OUT;
    s->context_ms = 0;
    break;
  case L_OLD:
    s->context_ms = NOW - WINDOW_MS;
    break;
  case L_CHAIN:
    s->method = FLOW_METHOD_LINKED;
    s->created_ms = NOW - 1000;
    s->updated_ms = NOW - 1000;
    s->context_ms = NOW - WINDOW_MS - 1;
    break;
  case L_ZERO_TIME:
    s->context_ms = 0;
    break;
  case L_LOCKED_VERIFIED:
    s->outcome = FLOW_OUTCOME_LOCKED;
    break;
  case L_NO_NUMBER:
    s->ani_hash[0] = '\0';
    break;
  case L_NONE:
  case L_MISSING:
  case L_VERIFIED:
    break;
  }
}

typedef struct {
  const char *name;
  const flow_policy *policy;
  linked_id linked;
  bool locked;     /* the linked customer is locked out now */
  const char *ani; /* START's ANI */
  /* expected */
  flow_plan_status plan;
  flow_link_verdict verdict;
  flow_state state;
  flow_outcome outcome;
  flow_method method;
  bool identified, verified, check_lockout;
  int64_t context_ms;
  const char *context_channel;
  const char *linked_id;
  /* This call's keyed number hash (NULL: the linked call's), and the
   * lastResult expected when it is given. */
  const char *number;
  flow_result result;
} start_row;

#define AWAIT_ID FLOW_STATE_AWAITING_IDENTIFIER
#define AWAIT_SEC FLOW_STATE_AWAITING_SECURITY
#define DONE FLOW_STATE_COMPLETED

static const start_row start_rows[] = {
    {"no link: the start runs as before (ANI lookup)", &verify_on, L_NONE,
     false, "+13175550116", FLOW_PLAN_NEED_CRM, FLOW_LINK_NONE, AWAIT_ID,
     FLOW_OUTCOME_PENDING, FLOW_METHOD_NONE, false, false, false, 0, "", "",
     NULL, FLOW_RESULT_NONE},
    {"verified link: completes verified with no CRM call", &verify_on,
     L_VERIFIED, false, "+13175550116", FLOW_PLAN_DONE, FLOW_LINK_USED, DONE,
     FLOW_OUTCOME_VERIFIED, FLOW_METHOD_LINKED, true, true, true, NOW - 60000,
     "chat", "conv-before", NULL, FLOW_RESULT_NONE},
    {"verified link on a line without verification: verified", &verify_off,
     L_VERIFIED, false, NULL, FLOW_PLAN_DONE, FLOW_LINK_USED, DONE,
     FLOW_OUTCOME_VERIFIED, FLOW_METHOD_LINKED, true, true, true, NOW - 60000,
     "chat", "conv-before", NULL, FLOW_RESULT_NONE},
    {"identified-only link, verification on: asks only the security answer",
     &verify_on, L_IDENTIFIED, false, "+13175550116", FLOW_PLAN_DONE,
     FLOW_LINK_USED, AWAIT_SEC, FLOW_OUTCOME_PENDING, FLOW_METHOD_LINKED, true,
     false, true, NOW - 60000, "chat", "conv-before", NULL, FLOW_RESULT_NONE},
    {"identified-only link, verification off: identified_only", &verify_off,
     L_IDENTIFIED, false, NULL, FLOW_PLAN_DONE, FLOW_LINK_USED, DONE,
     FLOW_OUTCOME_IDENTIFIED_ONLY, FLOW_METHOD_LINKED, true, false, false,
     NOW - 60000, "chat", "conv-before", NULL, FLOW_RESULT_NONE},
    {"customer locked out since: completes locked, not verified", &verify_on,
     L_VERIFIED, true, NULL, FLOW_PLAN_DONE, FLOW_LINK_LOCKED, DONE,
     FLOW_OUTCOME_LOCKED, FLOW_METHOD_LINKED, true, false, false, NOW - 60000,
     "chat", "conv-before", NULL, FLOW_RESULT_NONE},
    {"links off on the line: ignored, ANI lookup as before", &links_off,
     L_VERIFIED, false, "+13175550116", FLOW_PLAN_NEED_CRM, FLOW_LINK_OFF,
     AWAIT_ID, FLOW_OUTCOME_PENDING, FLOW_METHOD_NONE, false, false, false, 0,
     "", "", NULL, FLOW_RESULT_NONE},
    {"unknown link: ignored", &verify_on, L_MISSING, false, NULL,
     FLOW_PLAN_DONE, FLOW_LINK_UNKNOWN, AWAIT_ID, FLOW_OUTCOME_PENDING,
     FLOW_METHOD_NONE, false, false, false, 0, "", "", NULL, FLOW_RESULT_NONE},
    {"linked session still in progress: ignored", &verify_on, L_IN_PROGRESS,
     false, NULL, FLOW_PLAN_DONE, FLOW_LINK_IN_PROGRESS, AWAIT_ID,
     FLOW_OUTCOME_PENDING, FLOW_METHOD_NONE, false, false, false, 0, "", "",
     NULL, FLOW_RESULT_NONE},
    {"linked session never identified anyone: ignored", &verify_on, L_NOBODY,
     false, NULL, FLOW_PLAN_DONE, FLOW_LINK_NOT_IDENTIFIED, AWAIT_ID,
     FLOW_OUTCOME_PENDING, FLOW_METHOD_NONE, false, false, false, 0, "", "",
     NULL, FLOW_RESULT_NONE},
    {"proof exactly reuseSeconds old: expired, ignored", &verify_on, L_OLD,
     false, "+13175550116", FLOW_PLAN_NEED_CRM, FLOW_LINK_EXPIRED, AWAIT_ID,
     FLOW_OUTCOME_PENDING, FLOW_METHOD_NONE, false, false, false, 0, "", "",
     NULL, FLOW_RESULT_NONE},
    {"a chain of links never extends the window (original proof counts)",
     &verify_on, L_CHAIN, false, NULL, FLOW_PLAN_DONE, FLOW_LINK_EXPIRED,
     AWAIT_ID, FLOW_OUTCOME_PENDING, FLOW_METHOD_NONE, false, false, false, 0,
     "", "", NULL, FLOW_RESULT_NONE},
    {"no proof time recorded: expired", &verify_on, L_ZERO_TIME, false, NULL,
     FLOW_PLAN_DONE, FLOW_LINK_EXPIRED, AWAIT_ID, FLOW_OUTCOME_PENDING,
     FLOW_METHOD_NONE, false, false, false, 0, "", "", NULL, FLOW_RESULT_NONE},
    {"a locked customer on an expired link is not looked at", &verify_on, L_OLD,
     true, NULL, FLOW_PLAN_DONE, FLOW_LINK_EXPIRED, AWAIT_ID,
     FLOW_OUTCOME_PENDING, FLOW_METHOD_NONE, false, false, false, 0, "", "",
     NULL, FLOW_RESULT_NONE},
    /* A linked ID is a bearer credential: the verification goes with the
     * caller's number only (issue 21, finding 4). */
    {.name = "verified link from the same number: verified",
     .policy = &verify_on,
     .linked = L_VERIFIED,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_USED,
     .state = DONE,
     .outcome = FLOW_OUTCOME_VERIFIED,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .verified = true,
     .check_lockout = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = SAME_NUMBER,
     .result = FLOW_RESULT_MATCH},
    {.name = "verified link from another number: identified, asks security",
     .policy = &verify_on,
     .linked = L_VERIFIED,
     .ani = "+13125550142",
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_OTHER_NUMBER,
     .state = AWAIT_SEC,
     .outcome = FLOW_OUTCOME_PENDING,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .check_lockout = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = OTHER_NUMBER,
     .result = FLOW_RESULT_NO_MATCH},
    {.name = "verified link, this call's number withheld: identified only",
     .policy = &verify_on,
     .linked = L_VERIFIED,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_OTHER_NUMBER,
     .state = AWAIT_SEC,
     .outcome = FLOW_OUTCOME_PENDING,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .check_lockout = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = "",
     .result = FLOW_RESULT_NO_MATCH},
    {.name = "verified link, both numbers withheld: no match, identified only",
     .policy = &verify_on,
     .linked = L_NO_NUMBER,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_OTHER_NUMBER,
     .state = AWAIT_SEC,
     .outcome = FLOW_OUTCOME_PENDING,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .check_lockout = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = "",
     .result = FLOW_RESULT_NO_MATCH},
    {.name = "verified link from another number, no verification on the "
             "line: identified_only",
     .policy = &verify_off,
     .linked = L_VERIFIED,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_OTHER_NUMBER,
     .state = DONE,
     .outcome = FLOW_OUTCOME_IDENTIFIED_ONLY,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = OTHER_NUMBER,
     .result = FLOW_RESULT_NO_MATCH},
    {.name = "identified-only link from another number: nothing withheld",
     .policy = &verify_on,
     .linked = L_IDENTIFIED,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_USED,
     .state = AWAIT_SEC,
     .outcome = FLOW_OUTCOME_PENDING,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .check_lockout = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = OTHER_NUMBER,
     .result = FLOW_RESULT_MATCH},
    /* A locked session is never verified, not even as a link, also when
     * an older version stored it verified (issue 21, finding 1). */
    {.name = "linked session locked but stored verified, lockout over: "
             "identified only, asks security",
     .policy = &verify_on,
     .linked = L_LOCKED_VERIFIED,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_USED,
     .state = AWAIT_SEC,
     .outcome = FLOW_OUTCOME_PENDING,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .check_lockout = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = SAME_NUMBER,
     .result = FLOW_RESULT_MATCH},
    {.name = "linked session locked but stored verified, still locked: locked",
     .policy = &verify_on,
     .linked = L_LOCKED_VERIFIED,
     .locked = true,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_LOCKED,
     .state = DONE,
     .outcome = FLOW_OUTCOME_LOCKED,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = SAME_NUMBER,
     .result = FLOW_RESULT_NONE},
    /* context.acceptFrom: the linked session's line and channel. */
    {.name = "acceptFrom lists its line and channel: carried",
     .policy = &accept_both,
     .linked = L_VERIFIED,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_USED,
     .state = DONE,
     .outcome = FLOW_OUTCOME_VERIFIED,
     .method = FLOW_METHOD_LINKED,
     .identified = true,
     .verified = true,
     .check_lockout = true,
     .context_ms = NOW - 60000,
     .context_channel = "chat",
     .linked_id = "conv-before",
     .number = SAME_NUMBER,
     .result = FLOW_RESULT_MATCH},
    {.name = "acceptFrom does not list its line: ignored, ANI lookup",
     .policy = &accept_banking,
     .linked = L_VERIFIED,
     .ani = "+13175550116",
     .plan = FLOW_PLAN_NEED_CRM,
     .verdict = FLOW_LINK_NOT_ACCEPTED,
     .state = AWAIT_ID,
     .outcome = FLOW_OUTCOME_PENDING,
     .method = FLOW_METHOD_NONE,
     .context_channel = "",
     .linked_id = "",
     .number = SAME_NUMBER,
     .result = FLOW_RESULT_NONE},
    {.name = "acceptFrom does not list its channel: ignored",
     .policy = &accept_voice,
     .linked = L_VERIFIED,
     .plan = FLOW_PLAN_DONE,
     .verdict = FLOW_LINK_NOT_ACCEPTED,
     .state = AWAIT_ID,
     .outcome = FLOW_OUTCOME_PENDING,
     .method = FLOW_METHOD_NONE,
     .context_channel = "",
     .linked_id = "",
     .number = SAME_NUMBER,
     .result = FLOW_RESULT_NONE},
};

static void test_start_with_link(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof start_rows / sizeof start_rows[0]; i++) {
    const start_row *r = &start_rows[i];
    print_message("row: %s\n", r->name);
    flow_link link;
    make_linked(r->linked, &link);
    link.customer_locked = r->locked;
    flow_session in = {0};
    snprintf(in.conversation_id, sizeof in.conversation_id, "conv-now");
    snprintf(in.service_line, sizeof in.service_line, "retail");
    snprintf(in.language, sizeof in.language, "en-US");
    in.created_ms = NOW;
    snprintf(in.ani_hash, sizeof in.ani_hash, "%s",
             r->number ? r->number : SAME_NUMBER);
    flow_session before = link.session;
    flow_event ev = {.kind = FLOW_EV_START,
                     .ani = r->ani,
                     .link = r->linked == L_NONE ? NULL : &link,
                     .now_ms = NOW};
    flow_step out;
    assert_int_equal(flow_start(r->policy, &in, &ev, &out), r->plan);
    assert_int_equal(out.link, r->verdict);
    const flow_session *s = &out.session;
    assert_int_equal(s->state, r->state);
    assert_int_equal(s->outcome, r->outcome);
    assert_int_equal(s->method, r->method);
    assert_int_equal(s->identified, r->identified);
    assert_int_equal(s->verified, r->verified);
    assert_int_equal(out.check_lockout, r->check_lockout);
    assert_int_equal(s->context_ms, r->context_ms);
    assert_string_equal(s->context_channel, r->context_channel);
    assert_string_equal(s->linked_conversation_id, r->linked_id);
    if (r->number)
      assert_int_equal(s->last_result, r->result);
    /* Never verified where the view would not say so. */
    assert_int_equal(flow_session_verified(s), r->verified);
    flow_view view;
    flow_view_of(r->policy, s, &view);
    assert_int_equal(view.auth_status == FLOW_AUTH_IDENTIFIED_VERIFIED,
                     r->verified);
    assert_string_equal(s->channel, "voice"); /* the default */
    assert_string_equal(s->customer_id, r->identified ? "100234" : "");
    assert_int_equal(s->identify_attempts, 0);
    assert_int_equal(s->verify_attempts, 0);
    /* A link never costs a CRM call, and never changes the linked one. */
    if (r->verdict == FLOW_LINK_USED || r->verdict == FLOW_LINK_LOCKED ||
        r->verdict == FLOW_LINK_OTHER_NUMBER)
      assert_int_equal(out.crm.kind, FLOW_CRM_NONE);
    assert_memory_equal(&before, &link.session, sizeof before);
    if (r->ani)
      assert_string_equal(s->ani_masked + strlen(s->ani_masked) - 4,
                          r->ani + strlen(r->ani) - 4);
  }
}

/* ---------------------------------------------------------------------
 * HANDOFF.
 * ------------------------------------------------------------------- */

typedef enum {
  H_REDEEMED_VERIFIED,
  H_REDEEMED_ID_ONLY,
  H_NO_MATCH,
  H_INVALID,
  H_REFUSED
} handoff_id;

typedef enum { F_ASK_ID, F_ASK_SEC, F_DONE } from_id;

typedef struct {
  const char *name;
  const flow_policy *policy;
  from_id from;
  int id_used; /* as loaded, this submission included */
  handoff_id handoff;
  /* expected */
  flow_plan_status plan;
  flow_state state;
  flow_outcome outcome;
  flow_result result;
  flow_method method;
  const char *customer;
  bool verified, check_lockout;
  const char *prompt;
} handoff_row;

static const handoff_row handoff_rows[] = {
    {"verified handoff: completes verified", &verify_on, F_ASK_ID, 1,
     H_REDEEMED_VERIFIED, FLOW_PLAN_DONE, DONE, FLOW_OUTCOME_VERIFIED,
     FLOW_RESULT_MATCH, FLOW_METHOD_HANDOFF, "200777", true, true,
     "welcome_verified"},
    {"unverified handoff, verification on: asks the security answer",
     &verify_on, F_ASK_ID, 1, H_REDEEMED_ID_ONLY, FLOW_PLAN_DONE, AWAIT_SEC,
     FLOW_OUTCOME_PENDING, FLOW_RESULT_MATCH, FLOW_METHOD_HANDOFF, "200777",
     false, true, "ask_security"},
    {"unverified handoff, verification off: identified_only", &verify_off,
     F_ASK_ID, 1, H_REDEEMED_ID_ONLY, FLOW_PLAN_DONE, DONE,
     FLOW_OUTCOME_IDENTIFIED_ONLY, FLOW_RESULT_MATCH, FLOW_METHOD_HANDOFF,
     "200777", false, false, "welcome_identified"},
    {"verified handoff while asking security: the handoff's customer",
     &verify_on, F_ASK_SEC, 1, H_REDEEMED_VERIFIED, FLOW_PLAN_DONE, DONE,
     FLOW_OUTCOME_VERIFIED, FLOW_RESULT_MATCH, FLOW_METHOD_HANDOFF, "200777",
     true, true, "welcome_verified"},
    {"wrong code: no_match, ask the identifier again", &verify_on, F_ASK_ID, 1,
     H_NO_MATCH, FLOW_PLAN_DONE, AWAIT_ID, FLOW_OUTCOME_PENDING,
     FLOW_RESULT_NO_MATCH, FLOW_METHOD_NONE, "", false, false,
     "ask_identifier_retry"},
    {"input that cannot be a code: invalid_input", &verify_on, F_ASK_ID, 2,
     H_INVALID, FLOW_PLAN_DONE, AWAIT_ID, FLOW_OUTCOME_PENDING,
     FLOW_RESULT_INVALID_INPUT, FLOW_METHOD_NONE, "", false, false,
     "ask_identifier_retry"},
    {"refused (guess limit): costs the attempt like a wrong code", &verify_on,
     F_ASK_ID, 1, H_REFUSED, FLOW_PLAN_DONE, AWAIT_ID, FLOW_OUTCOME_PENDING,
     FLOW_RESULT_NO_MATCH, FLOW_METHOD_NONE, "", false, false,
     "ask_identifier_retry"},
    {"wrong code on the last attempt: identify_failed", &verify_on, F_ASK_ID, 3,
     H_NO_MATCH, FLOW_PLAN_DONE, DONE, FLOW_OUTCOME_IDENTIFY_FAILED,
     FLOW_RESULT_NO_MATCH, FLOW_METHOD_NONE, "", false, false,
     "transfer_to_agent"},
    {"wrong code while asking security: stays there, identification kept",
     &verify_on, F_ASK_SEC, 1, H_NO_MATCH, FLOW_PLAN_DONE, AWAIT_SEC,
     FLOW_OUTCOME_PENDING, FLOW_RESULT_NO_MATCH, FLOW_METHOD_ANI, "100234",
     false, false, "ask_security"},
    {"completed session: wrong state", &verify_on, F_DONE, 0,
     H_REDEEMED_VERIFIED, FLOW_PLAN_WRONG_STATE, DONE, FLOW_OUTCOME_VERIFIED,
     FLOW_RESULT_MATCH, FLOW_METHOD_ANI, "100234", true, false,
     "welcome_verified"},
};

static void make_handoff(handoff_id id, flow_handoff *h) {
  memset(h, 0, sizeof *h);
  h->status = id == H_NO_MATCH  ? FLOW_HANDOFF_NO_MATCH
              : id == H_INVALID ? FLOW_HANDOFF_INVALID
              : id == H_REFUSED ? FLOW_HANDOFF_REFUSED
                                : FLOW_HANDOFF_REDEEMED;
  if (h->status != FLOW_HANDOFF_REDEEMED)
    return;
  snprintf(h->customer_id, sizeof h->customer_id, "200777");
  snprintf(h->customer_name, sizeof h->customer_name, "Bo Kim");
  snprintf(h->channel, sizeof h->channel, "app");
  h->verified = id == H_REDEEMED_VERIFIED;
  h->created_ms = NOW - 30000;
}

static void make_loaded(from_id from, int id_used, flow_session *s) {
  memset(s, 0, sizeof *s);
  snprintf(s->conversation_id, sizeof s->conversation_id, "conv-1");
  snprintf(s->service_line, sizeof s->service_line, "retail");
  snprintf(s->language, sizeof s->language, "en-US");
  snprintf(s->channel, sizeof s->channel, "voice");
  s->identify_attempts = id_used;
  s->state = AWAIT_ID;
  if (from == F_ASK_ID)
    return;
  s->identified = true;
  s->method = FLOW_METHOD_ANI;
  s->last_result = FLOW_RESULT_MATCH;
  s->context_ms = NOW - 5000;
  snprintf(s->customer_id, sizeof s->customer_id, "100234");
  s->state = AWAIT_SEC;
  if (from == F_DONE) {
    s->state = DONE;
    s->verified = true;
    s->outcome = FLOW_OUTCOME_VERIFIED;
  }
}

static void test_handoff_events(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof handoff_rows / sizeof handoff_rows[0]; i++) {
    const handoff_row *r = &handoff_rows[i];
    print_message("row: %s\n", r->name);
    flow_session loaded;
    flow_handoff h;
    make_loaded(r->from, r->id_used, &loaded);
    make_handoff(r->handoff, &h);
    flow_event ev = {.kind = FLOW_EV_HANDOFF, .handoff = &h, .now_ms = NOW};
    flow_step out;
    assert_int_equal(flow_plan(r->policy, &loaded, &ev, false, &out), r->plan);
    const flow_session *s = &out.session;
    assert_int_equal(s->state, r->state);
    assert_int_equal(s->outcome, r->outcome);
    assert_int_equal(s->last_result, r->result);
    assert_int_equal(s->method, r->method);
    assert_string_equal(s->customer_id, r->customer);
    assert_int_equal(s->verified, r->verified);
    assert_int_equal(out.check_lockout, r->check_lockout);
    assert_int_equal(out.crm.kind, FLOW_CRM_NONE);
    assert_int_equal(out.lockout, FLOW_LOCKOUT_NONE);
    assert_int_equal(s->identify_attempts, r->id_used);
    if (r->method == FLOW_METHOD_HANDOFF) {
      /* The digital channel's time is the original proof. */
      assert_int_equal(s->context_ms, NOW - 30000);
      assert_string_equal(s->context_channel, "app");
      assert_string_equal(s->customer_name, "Bo Kim");
    }
    flow_view view;
    flow_view_of(r->policy, s, &view);
    assert_string_equal(view.prompt_id, r->prompt);
  }
}

/* A verified handoff redeemed for a customer the store then finds locked
 * (check_lockout at commit): flow_lock_out leaves it locked and NOT
 * verified, so neither the answer nor a later link shows it verified
 * (issue 21, finding 1). */
static void test_locked_handoff_is_not_verified(void **state) {
  (void)state;
  flow_session loaded;
  flow_handoff h;
  make_loaded(F_ASK_ID, 1, &loaded);
  make_handoff(H_REDEEMED_VERIFIED, &h);
  flow_event ev = {.kind = FLOW_EV_HANDOFF, .handoff = &h, .now_ms = NOW};
  flow_step out;
  assert_int_equal(flow_plan(&verify_on, &loaded, &ev, false, &out),
                   FLOW_PLAN_DONE);
  assert_true(out.check_lockout);
  flow_session locked;
  flow_lock_out(&out.session, NOW + 1, &locked);
  assert_int_equal(locked.outcome, FLOW_OUTCOME_LOCKED);
  assert_false(locked.verified);
  flow_view view;
  flow_view_of(&verify_on, &locked, &view);
  assert_int_equal(view.auth_status, FLOW_AUTH_IDENTIFIED);
  assert_string_equal(view.prompt_id, "transfer_locked");
  /* Linked later, once the lockout is over, from the same number: the
   * customer is carried as identified only. */
  flow_link link = {.found = true, .session = locked};
  snprintf(link.session.ani_hash, sizeof link.session.ani_hash, SAME_NUMBER);
  flow_session in = {0};
  snprintf(in.conversation_id, sizeof in.conversation_id, "conv-later");
  snprintf(in.ani_hash, sizeof in.ani_hash, SAME_NUMBER);
  flow_event start = {.kind = FLOW_EV_START, .link = &link, .now_ms = NOW + 2};
  assert_int_equal(flow_start(&verify_on, &in, &start, &out), FLOW_PLAN_DONE);
  assert_int_equal(out.link, FLOW_LINK_USED);
  assert_int_equal(out.session.state, AWAIT_SEC);
  assert_false(out.session.verified);
  assert_string_equal(out.session.customer_id, "200777");
}

/* HANDOFF is allowed where the caller is being asked something, and it
 * spends an identify attempt (not under the failed-identification limits:
 * a code has a guess limit of its own). */
static void test_handoff_rules(void **state) {
  (void)state;
  assert_int_equal(flow_event_allowed_states(FLOW_EV_HANDOFF),
                   (1u << AWAIT_ID) | (1u << AWAIT_SEC));
  assert_int_equal(flow_event_counter(FLOW_EV_HANDOFF), FLOW_COUNTER_IDENTIFY);
  assert_int_equal(flow_event_counter(FLOW_EV_IDENTIFIER),
                   FLOW_COUNTER_IDENTIFIER);
  assert_string_equal(flow_method_name(FLOW_METHOD_LINKED), "linked");
  assert_string_equal(flow_method_name(FLOW_METHOD_HANDOFF), "handoff");
  flow_method m;
  assert_true(flow_method_parse("handoff", &m));
  assert_int_equal(m, FLOW_METHOD_HANDOFF);
  assert_string_equal(flow_link_verdict_name(FLOW_LINK_IN_PROGRESS),
                      "in_progress");
  assert_string_equal(flow_link_verdict_name(FLOW_LINK_NOT_ACCEPTED),
                      "not_accepted");
  assert_string_equal(flow_link_verdict_name(FLOW_LINK_OTHER_NUMBER),
                      "other_number");
  assert_string_equal(flow_link_verdict_name((flow_link_verdict)99), "");
}

/* An identification or verification made in the session is an original
 * proof: its time becomes context_ms. */
static void test_original_proof_time(void **state) {
  (void)state;
  flow_session loaded;
  make_loaded(F_ASK_ID, 1, &loaded);
  flow_crm_request req = {.kind = FLOW_CRM_LOOKUP};
  flow_crm_result one = {.ok = true,
                         .match_count = 1,
                         .customer_id = "100234",
                         .customer_name = "Ana"};
  flow_step out;
  flow_complete(&verify_on, &loaded, &req, &one, NOW + 5, &out);
  assert_int_equal(out.session.context_ms, NOW + 5);
  flow_session asked = out.session;
  flow_crm_request vreq = {.kind = FLOW_CRM_VERIFY};
  flow_crm_result yes = {.ok = true, .verified = true};
  flow_complete(&verify_on, &asked, &vreq, &yes, NOW + 99, &out);
  assert_int_equal(out.session.context_ms, NOW + 99);
  flow_crm_result no = {.ok = true, .verified = false};
  flow_complete(&verify_on, &asked, &vreq, &no, NOW + 150, &out);
  assert_int_equal(out.session.context_ms, NOW + 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_with_link),
      cmocka_unit_test(test_handoff_events),
      cmocka_unit_test(test_handoff_rules),
      cmocka_unit_test(test_locked_handoff_is_not_verified),
      cmocka_unit_test(test_original_proof_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
