/*
 * crm_template and crm_map: escaping by position, secret references and
 * masking, JSON Pointers, response mapping and status semantics.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crm_map.h"
#include "crm_template.h"

static void test_render_positions(void **state) {
  (void)state;
  crm_template_var vars[] = {{"baseUrl", "http://h/api", true},
                             {"value", "a b/..?&=+#\r\n", false},
                             {"dots", "..", false}};
  size_t len = 0;
  char *u = crm_template_render("{baseUrl}/c/{dots}/{value}?q={value}&d={dots}",
                                CRM_TPL_URL, vars, 3, &len);
  assert_non_null(u);
  assert_string_equal(u, "http://h/api/c/%2E%2E/a%20b%2F..%3F%26%3D%2B%23%0D%0A"
                         "?q=a%20b%2F..%3F%26%3D%2B%23%0D%0A&d=..");
  assert_int_equal(len, strlen(u));
  free(u);
  char *b =
      crm_template_render("{\"q\":\"{value}\"}", CRM_TPL_BODY, vars, 3, &len);
  assert_non_null(b);
  assert_string_equal(b, "{\"q\":\"a b/..?&=+#\\u000d\\u000a\"}");
  free(b);
  /* A header refuses control characters; unknown placeholders fail. */
  assert_null(crm_template_render("X: {value}", CRM_TPL_HEADER, vars, 3, &len));
  assert_null(crm_template_render("{nope}", CRM_TPL_URL, vars, 3, &len));
  crm_template_var bad[] = {{"value", "\xc0\xaf", false}};
  assert_null(crm_template_render("\"{value}\"", CRM_TPL_BODY, bad, 1, &len));
}

static void test_check(void **state) {
  (void)state;
  const char *allowed[] = {"baseUrl", "value"};
  char err[128];
  assert_true(crm_template_check("{baseUrl}/x?{value}{ {\"a\"}", allowed, 2,
                                 err, sizeof err));
  assert_false(
      crm_template_check("{baseUrl}/{answer}", allowed, 2, err, sizeof err));
  assert_non_null(strstr(err, "{answer}"));
}

static bool fake(void *user, const char *kind, const char *name, char *out,
                 size_t out_len) {
  (void)user;
  if (strcmp(kind, "env") == 0 && strcmp(name, "TOKEN") == 0) {
    snprintf(out, out_len, "s3cr3t");
    return true;
  }
  if (strcmp(kind, "env") == 0 && strcmp(name, "CRLF") == 0) {
    snprintf(out, out_len, "a\r\nX: y");
    return true;
  }
  return false;
}

static void test_secrets_and_mask(void **state) {
  (void)state;
  char out[64], err[128];
  bool had = false;
  assert_true(crm_template_resolve_secrets("Bearer ${env:TOKEN}!", out,
                                           sizeof out, fake, NULL, &had, err,
                                           sizeof err));
  assert_true(had);
  assert_string_equal(out, "Bearer s3cr3t!");
  assert_false(crm_template_resolve_secrets("${env:MISSING}", out, sizeof out,
                                            fake, NULL, &had, err, sizeof err));
  assert_null(strstr(err, "s3cr3t"));
  assert_false(crm_template_resolve_secrets("${env:CRLF}", out, sizeof out,
                                            fake, NULL, &had, err, sizeof err));
  assert_false(crm_template_resolve_secrets("${env:TOKEN}", out, sizeof out,
                                            NULL, NULL, &had, err, sizeof err));
  assert_false(crm_template_resolve_secrets("${file:}", out, sizeof out, fake,
                                            NULL, &had, err, sizeof err));
  const char *secrets[] = {"s3cr3t"};
  crm_template_mask("a s3cr3t b s3cr3t", secrets, 1, out, sizeof out);
  assert_string_equal(out, "a *** b ***");
}

/* SOQL injection: a ' in the value must not end the '...' literal, neither
 * in a URL query (where the CRM percent-decodes first) nor in a JSON body
 * (where it JSON-decodes first). */
static void test_quoting_filters(void **state) {
  (void)state;
  crm_template_var vars[] = {
      {"baseUrl", "https://sf.example.com", true},
      {"value", "x' OR Name != '", false},
      {"nasty", "a\\'\"\n\r\t\b\f+&", false},
      {"ctl", "a\x01", false},
  };
  size_t len = 0;
  char *u = crm_template_render(
      "{baseUrl}/q?q=SELECT+Id+FROM+Contact+WHERE+Phone='{value|soql}'",
      CRM_TPL_URL, vars, 4, &len);
  assert_non_null(u);
  assert_string_equal(u, "https://sf.example.com/q?q=SELECT+Id+FROM+Contact+"
                         "WHERE+Phone='x%5C%27%20OR%20Name%20%21%3D%20%5C%27'");
  assert_int_equal(len, strlen(u));
  free(u);
  /* Every escape sequence SOQL knows, then JSON escaping on top: the
   * JSON string decodes to W='a\\\'\"\n\r\t\b\f+&'. */
  char *b = crm_template_render("{\"q\":\"W='{nasty|soql}'\"}", CRM_TPL_BODY,
                                vars, 4, &len);
  assert_non_null(b);
  assert_string_equal(b, "{\"q\":\"W='a\\\\\\\\\\\\'\\\\\\\"\\\\n\\\\r\\\\t"
                         "\\\\b\\\\f+&'\"}");
  free(b);
  char *h =
      crm_template_render("X: '{value|odata}'", CRM_TPL_HEADER, vars, 4, &len);
  assert_non_null(h);
  assert_string_equal(h, "X: 'x'' OR Name != '''");
  free(h);
  /* Other control characters and unknown filters are refused. */
  assert_null(crm_template_render("'{ctl|soql}'", CRM_TPL_URL, vars, 4, &len));
  assert_null(crm_template_render("'{ctl|odata}'", CRM_TPL_URL, vars, 4, &len));
  assert_null(crm_template_render("{value|sql}", CRM_TPL_URL, vars, 4, &len));
  /* An empty value renders as empty. */
  crm_template_var empty[] = {{"value", "", false}};
  char *e = crm_template_render("'{value|soql}'", CRM_TPL_URL, empty, 1, &len);
  assert_non_null(e);
  assert_string_equal(e, "''");
  free(e);
}

static void test_check_quoting(void **state) {
  (void)state;
  const char *allowed[] = {"baseUrl", "value"};
  char err[256];
  assert_true(crm_template_check("{baseUrl}/q?q=WHERE+P='{value|soql}'",
                                 allowed, 2, err, sizeof err));
  assert_true(crm_template_check("{baseUrl}/q?$filter=P+eq+'{value|odata}'",
                                 allowed, 2, err, sizeof err));
  /* Quoted without a filter: refused, naming the fix. */
  assert_false(crm_template_check("{baseUrl}/q?q=WHERE+P='{value}'", allowed, 2,
                                  err, sizeof err));
  assert_non_null(strstr(err, "{value|soql}"));
  assert_false(crm_template_check("{baseUrl}/q?q=WHERE+P=%27{value}%27",
                                  allowed, 2, err, sizeof err));
  assert_false(crm_template_check("{\"q\":\"P='{value}'\"}", allowed, 2, err,
                                  sizeof err));
  assert_false(
      crm_template_check("{baseUrl}/{value|sql}", allowed, 2, err, sizeof err));
  assert_non_null(strstr(err, "unknown filter"));
  assert_false(
      crm_template_check("{answer|soql}", allowed, 2, err, sizeof err));
  assert_non_null(strstr(err, "unknown placeholder {answer|soql}"));
  /* "{a|}" and "{a|1}" are not placeholders: literal text. */
  assert_true(crm_template_check("{a|} {a|1}", allowed, 2, err, sizeof err));
}

/* A secret that does not fit the destination is an error, never silently
 * dropped (it used to be skipped, leaving "ab" as the value). */
static void test_secret_too_long(void **state) {
  (void)state;
  char out[16], err[128];
  bool had = true;
  assert_false(crm_template_resolve_secrets("ab${env:TOKEN}", out, 8, fake,
                                            NULL, &had, err, sizeof err));
  assert_non_null(strstr(err, "too long"));
  assert_string_equal(out, "");
  /* Exactly fitting (6 + NUL in 7) is fine. */
  assert_true(crm_template_resolve_secrets("${env:TOKEN}", out, 7, fake, NULL,
                                           &had, err, sizeof err));
  assert_string_equal(out, "s3cr3t");
  assert_false(crm_template_resolve_secrets("${env:TOKEN}", out, 6, fake, NULL,
                                            &had, err, sizeof err));
}

static void test_pointer(void **state) {
  (void)state;
  json_t *root = json_loads(
      "{\"a/b\":{\"~k\":[10,{\"x\":true}]},\"\":1,\"r\":[{\"Id\":7}]}", 0,
      NULL);
  assert_non_null(root);
  assert_ptr_equal(crm_pointer_get(root, ""), root);
  assert_int_equal(json_integer_value(crm_pointer_get(root, "/a~1b/~0k/0")),
                   10);
  assert_true(json_is_true(crm_pointer_get(root, "/a~1b/~0k/1/x")));
  assert_int_equal(json_integer_value(crm_pointer_get(root, "/")), 1);
  assert_null(crm_pointer_get(root, "/a~1b/~0k/01"));
  assert_null(crm_pointer_get(root, "/a~1b/~0k/-"));
  assert_null(crm_pointer_get(root, "/nope/x"));
  assert_null(crm_pointer_get(root, "r"));
  assert_false(crm_pointer_valid("/a~2"));
  assert_true(crm_pointer_valid("/a~0~1"));
  json_decref(root);
}

static void test_map_custom(void **state) {
  (void)state;
  crm_mapping m;
  crm_map_default(&m);
  strcpy(m.list, "/records");
  strcpy(m.id, "/Id");
  m.name[0] = '\0';
  strcpy(m.given_name, "/First");
  strcpy(m.family_name, "/Last");
  m.no_match_status[0] = 404;
  m.no_match_count = 1;
  flow_crm_result r;
  const char *two = "{\"records\":[{\"Id\":1234567,\"First\":\"Ana\","
                    "\"Last\":\"Garc\xc3\xad"
                    "a\"},{\"Id\":\"x\"}]}";
  crm_map_response(&m, false, 200, two, strlen(two), &r);
  assert_true(r.ok);
  assert_int_equal(r.match_count, 2);
  assert_string_equal(r.customer_id, "1234567");
  assert_string_equal(r.customer_name, "Ana Garc\xc3\xad"
                                       "a");
  /* A single object is one match. */
  strcpy(m.list, "/customer");
  const char *one = "{\"customer\":{\"Id\":9,\"Last\":\"Lee\"}}";
  crm_map_response(&m, false, 200, one, strlen(one), &r);
  assert_true(r.ok);
  assert_int_equal(r.match_count, 1);
  assert_string_equal(r.customer_name, "Lee");
  /* 404 means no match; 500 and garbage are errors. */
  crm_map_response(&m, false, 404, "nope", 4, &r);
  assert_true(r.ok);
  assert_int_equal(r.match_count, 0);
  crm_map_response(&m, false, 500, one, strlen(one), &r);
  assert_false(r.ok);
  crm_map_response(&m, false, 200, "<html>", 6, &r);
  assert_false(r.ok);
  assert_string_equal(r.customer_id, "");
}

static void test_map_verify_status(void **state) {
  (void)state;
  crm_mapping m;
  crm_map_default(&m);
  strcpy(m.verified, "/result/ok");
  m.wrong_answer_status[0] = 403;
  m.wrong_answer_status[1] = 422;
  m.wrong_answer_count = 2;
  flow_crm_result r;
  const char *yes = "{\"result\":{\"ok\":true},\"locked\":false}";
  crm_map_response(&m, true, 200, yes, strlen(yes), &r);
  assert_true(r.ok);
  assert_true(r.verified);
  crm_map_response(&m, true, 422, NULL, 0, &r);
  assert_true(r.ok);
  assert_false(r.verified);
  crm_map_response(&m, true, 401, NULL, 0, &r);
  assert_false(r.ok);
  crm_map_response(&m, true, 0, yes, strlen(yes), &r);
  assert_false(r.ok);
  const char *locked = "{\"result\":{\"ok\":false},\"locked\":true}";
  crm_map_response(&m, true, 200, locked, strlen(locked), &r);
  assert_true(r.ok);
  assert_true(r.locked);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_render_positions),
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_secrets_and_mask),
      cmocka_unit_test(test_quoting_filters),
      cmocka_unit_test(test_check_quoting),
      cmocka_unit_test(test_secret_too_long),
      cmocka_unit_test(test_pointer),
      cmocka_unit_test(test_map_custom),
      cmocka_unit_test(test_map_verify_status),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
