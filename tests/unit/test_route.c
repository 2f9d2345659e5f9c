/* route: every endpoint, every refusal, and hostile path forms, one row
 * per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

typedef struct {
  const char *method;
  const char *path;
  route_match_status status;
  route_id id;
  const char *conversation_id; /* expected decoded id, or NULL */
  const char *allow;           /* expected Allow for 405, or NULL */
} route_row;

static const route_row rows[] = {
    {"POST", "/v1/sessions", ROUTE_MATCH_OK, ROUTE_SESSIONS_CREATE, "", NULL},
    {"GET", "/v1/sessions", ROUTE_MATCH_METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND,
     NULL, "POST"},
    {"GET", "/v1/sessions/abc-123", ROUTE_MATCH_OK, ROUTE_SESSION_GET,
     "abc-123", NULL},
    {"DELETE", "/v1/sessions/abc-123", ROUTE_MATCH_OK, ROUTE_SESSION_DELETE,
     "abc-123", NULL},
    {"PUT", "/v1/sessions/abc", ROUTE_MATCH_METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND,
     NULL, "GET, DELETE"},
    {"POST", "/v1/sessions/c1/identifier", ROUTE_MATCH_OK,
     ROUTE_SESSION_IDENTIFIER, "c1", NULL},
    {"POST", "/v1/sessions/c1/security", ROUTE_MATCH_OK, ROUTE_SESSION_SECURITY,
     "c1", NULL},
    {"POST", "/v1/sessions/c1/opt-out", ROUTE_MATCH_OK, ROUTE_SESSION_OPT_OUT,
     "c1", NULL},
    {"GET", "/v1/sessions/c1/security", ROUTE_MATCH_METHOD_NOT_ALLOWED,
     ROUTE_NOT_FOUND, NULL, "POST"},
    {"POST", "/v1/sessions/c1/handoff", ROUTE_MATCH_OK, ROUTE_SESSION_HANDOFF,
     "c1", NULL},
    {"GET", "/v1/sessions/c1/handoff", ROUTE_MATCH_METHOD_NOT_ALLOWED,
     ROUTE_NOT_FOUND, NULL, "POST"},
    {"POST", "/v1/handoffs", ROUTE_MATCH_OK, ROUTE_HANDOFFS_CREATE, "", NULL},
    {"GET", "/v1/handoffs", ROUTE_MATCH_METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND,
     NULL, "POST"},
    {"POST", "/v1/handoffs/x", ROUTE_MATCH_NOT_FOUND, ROUTE_NOT_FOUND, NULL,
     NULL},
    {"GET", "/healthz", ROUTE_MATCH_OK, ROUTE_HEALTHZ, "", NULL},
    {"GET", "/readyz", ROUTE_MATCH_OK, ROUTE_READYZ, "", NULL},
    {"GET", "/metrics", ROUTE_MATCH_OK, ROUTE_METRICS, "", NULL},
    {"POST", "/healthz", ROUTE_MATCH_METHOD_NOT_ALLOWED, ROUTE_NOT_FOUND, NULL,
     "GET"},
    /* Scheduled reports: the {name} segment is checked like an id. */
    {"POST", "/v1/reports/schedules/daily-summary/run", ROUTE_MATCH_OK,
     ROUTE_REPORT_SCHEDULE_RUN, "daily-summary", NULL},
    {"GET", "/v1/reports/schedules/daily/run", ROUTE_MATCH_METHOD_NOT_ALLOWED,
     ROUTE_NOT_FOUND, NULL, "POST"},
    {"POST", "/v1/reports/schedules/a%2Fb/run", ROUTE_MATCH_BAD_ID,
     ROUTE_REPORT_SCHEDULE_RUN, NULL, NULL},
    {"POST", "/v1/reports/schedules/a/b/run", ROUTE_MATCH_NOT_FOUND,
     ROUTE_NOT_FOUND, NULL, NULL},
    {"POST", "/v1/reports/schedules//run", ROUTE_MATCH_NOT_FOUND,
     ROUTE_NOT_FOUND, NULL, NULL},
    {"GET", "/v1/reports/deliveries", ROUTE_MATCH_OK, ROUTE_REPORT_DELIVERIES,
     "", NULL},
    {"POST", "/v1/reports/deliveries", ROUTE_MATCH_METHOD_NOT_ALLOWED,
     ROUTE_NOT_FOUND, NULL, "GET"},
    /* A Genesys conversation id (UUID) and the other allowed characters. */
    {"GET", "/v1/sessions/6fa2b3c4-1d2e-4f50-9a8b-0c1d2e3f4a5b", ROUTE_MATCH_OK,
     ROUTE_SESSION_GET, "6fa2b3c4-1d2e-4f50-9a8b-0c1d2e3f4a5b", NULL},
    {"GET", "/v1/sessions/a.b_c:d", ROUTE_MATCH_OK, ROUTE_SESSION_GET,
     "a.b_c:d", NULL},
    /* Percent-decoding of allowed characters. */
    {"GET", "/v1/sessions/abc%2D1", ROUTE_MATCH_OK, ROUTE_SESSION_GET, "abc-1",
     NULL},
    /* Unknown paths. */
    {"GET", "/", ROUTE_MATCH_NOT_FOUND, ROUTE_NOT_FOUND, NULL, NULL},
    {"GET", "/v1", ROUTE_MATCH_NOT_FOUND, ROUTE_NOT_FOUND, NULL, NULL},
    {"GET", "/v1/sessions/", ROUTE_MATCH_NOT_FOUND, ROUTE_NOT_FOUND, NULL,
     NULL},
    {"POST", "/v1/sessions/c1/identifier/", ROUTE_MATCH_NOT_FOUND,
     ROUTE_NOT_FOUND, NULL, NULL},
    {"POST", "/v1/sessions/c1/unknown", ROUTE_MATCH_NOT_FOUND, ROUTE_NOT_FOUND,
     NULL, NULL},
    {"GET", "/v1/sessions/a/b", ROUTE_MATCH_NOT_FOUND, ROUTE_NOT_FOUND, NULL,
     NULL},
    {"GET", "/healthz/", ROUTE_MATCH_NOT_FOUND, ROUTE_NOT_FOUND, NULL, NULL},
    {"GET", "/v1/sessions//identifier", ROUTE_MATCH_NOT_FOUND, ROUTE_NOT_FOUND,
     NULL, NULL},
    /* Hostile ids: traversal, encoded separators, NUL, bad escapes. */
    {"GET", "/v1/sessions/..", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"GET", "/v1/sessions/.", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"GET", "/v1/sessions/%2e%2e", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"GET", "/v1/sessions/a%2Fb", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"GET", "/v1/sessions/a%00b", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"GET", "/v1/sessions/a%zz", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"GET", "/v1/sessions/a%2", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"GET", "/v1/sessions/a%", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"GET", "/v1/sessions/caf%C3%A9", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET,
     NULL, NULL},
    {"GET", "/v1/sessions/a%20b", ROUTE_MATCH_BAD_ID, ROUTE_SESSION_GET, NULL,
     NULL},
    {"POST", "/v1/sessions/a'b/security", ROUTE_MATCH_BAD_ID,
     ROUTE_SESSION_SECURITY, NULL, NULL},
};

static void test_route_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const route_row *r = &rows[i];
    route_match m;
    route_match_status st = route_parse(r->method, r->path, &m);
    if (st != r->status || (st == ROUTE_MATCH_OK && m.id != r->id))
      fail_msg("row %zu: %s %s gave status %d id %d", i, r->method, r->path,
               (int)st, (int)m.id);
    if (r->conversation_id)
      assert_string_equal(m.conversation_id, r->conversation_id);
    if (st == ROUTE_MATCH_BAD_ID) {
      assert_non_null(m.id_error);
      assert_string_equal(m.conversation_id, "");
    }
    if (r->allow)
      assert_string_equal(m.allow, r->allow);
  }
}

/* Ids at and past the limit, raw and percent-encoded. */
static void test_route_id_length(void **state) {
  (void)state;
  char path[1024], id[300];
  route_match m;
  memset(id, 'a', 128);
  id[128] = '\0';
  snprintf(path, sizeof path, "/v1/sessions/%s", id);
  assert_int_equal(route_parse("GET", path, &m), ROUTE_MATCH_OK);
  assert_int_equal(strlen(m.conversation_id), 128);

  memset(id, 'a', 129);
  id[129] = '\0';
  snprintf(path, sizeof path, "/v1/sessions/%s", id);
  assert_int_equal(route_parse("GET", path, &m), ROUTE_MATCH_BAD_ID);

  /* 128 decoded characters written as 384 encoded ones are fine; 129 are
   * not. */
  char *p = path + snprintf(path, sizeof path, "/v1/sessions/");
  for (int i = 0; i < 129; i++)
    p += snprintf(p, 4, "%%%02X", 'b');
  assert_int_equal(route_parse("GET", path, &m), ROUTE_MATCH_BAD_ID);
  path[strlen(path) - 3] = '\0';
  assert_int_equal(route_parse("GET", path, &m), ROUTE_MATCH_OK);
  assert_int_equal(strlen(m.conversation_id), 128);
}

static void test_route_templates(void **state) {
  (void)state;
  assert_string_equal(route_template(ROUTE_SESSION_SECURITY),
                      "/v1/sessions/{id}/security");
  assert_string_equal(route_template(ROUTE_NOT_FOUND), "other");
  /* Every (template, method) pair is unique: metrics label by both. */
  assert_string_equal(route_id_method(ROUTE_SESSION_GET), "GET");
  assert_string_equal(route_id_method(ROUTE_SESSION_DELETE), "DELETE");
  assert_string_equal(route_id_method(ROUTE_SESSIONS_CREATE), "POST");
  assert_string_equal(route_id_method(ROUTE_NOT_FOUND), "other");
  for (int a = 1; a < ROUTE_COUNT; a++)
    for (int b = a + 1; b < ROUTE_COUNT; b++)
      assert_false(strcmp(route_template((route_id)a),
                          route_template((route_id)b)) == 0 &&
                   strcmp(route_id_method((route_id)a),
                          route_id_method((route_id)b)) == 0);
  route_match m;
  route_parse("GET", "/nope", &m);
  assert_string_equal(m.template_path, "other");
  assert_int_equal(route_parse(NULL, "/healthz", &m), ROUTE_MATCH_NOT_FOUND);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_route_table),
      cmocka_unit_test(test_route_id_length),
      cmocka_unit_test(test_route_templates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
