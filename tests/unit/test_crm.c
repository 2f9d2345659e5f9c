/* crm: request building and answer mapping, as tables of rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crm.h"

#define BASE "http://127.0.0.1:8081/api"

typedef struct {
  flow_crm_kind kind;
  flow_identifier_type type;
  const char *value; /* lookup_value or customer_id */
  const char *answer;
  bool ok;
  const char *method;
  const char *url;
  const char *body; /* NULL: no body */
} build_row;

static const build_row build_rows[] = {
    {FLOW_CRM_LOOKUP, FLOW_ID_PHONE, "+13175550116", NULL, true, "GET",
     BASE "/customers?phone=%2B13175550116", NULL},
    {FLOW_CRM_LOOKUP, FLOW_ID_CUSTOMER_ID, "100234", NULL, true, "GET",
     BASE "/customers?customerId=100234", NULL},
    {FLOW_CRM_LOOKUP, FLOW_ID_ACCOUNT_NUMBER, "12 34/56&x=1", NULL, true, "GET",
     BASE "/customers?accountNumber=12%2034%2F56%26x%3D1", NULL},
    {FLOW_CRM_LOOKUP, FLOW_ID_TRACKING_NUMBER, "a-b.c_d~e", NULL, true, "GET",
     BASE "/customers?trackingNumber=a-b.c_d~e", NULL},
    {FLOW_CRM_LOOKUP, FLOW_ID_PHONE, "", NULL, false, NULL, NULL, NULL},
    {FLOW_CRM_LOOKUP, FLOW_ID_PHONE, "\r\nHost: evil", NULL, true, "GET",
     BASE "/customers?phone=%0D%0AHost%3A%20evil", NULL},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "100234", "1234", true, "POST",
     BASE "/customers/100234/verify", "{\"answer\":\"1234\"}"},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "a/../b?c#d", "1234", true, "POST",
     BASE "/customers/a%2F..%2Fb%3Fc%23d/verify", "{\"answer\":\"1234\"}"},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "Jos\xc3\xa9", "1234", true, "POST",
     BASE "/customers/Jos%C3%A9/verify", "{\"answer\":\"1234\"}"},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", "12\"3\\4", true, "POST",
     BASE "/customers/1/verify", "{\"answer\":\"12\\\"3\\\\4\"}"},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", "\n\x01\x7f", true, "POST",
     BASE "/customers/1/verify", "{\"answer\":\"\\u000a\\u0001\\u007f\"}"},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", "\xea\xb9\x80", true, "POST",
     BASE "/customers/1/verify", "{\"answer\":\"\xea\xb9\x80\"}"},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", "", true, "POST",
     BASE "/customers/1/verify", "{\"answer\":\"\"}"},
    /* Invalid UTF-8 (a lone continuation byte, an overlong '/', a
     * surrogate) cannot be a JSON string. */
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", "12\x80", false, NULL, NULL, NULL},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", "\xc0\xaf", false, NULL, NULL, NULL},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", "\xed\xa0\x80", false, NULL, NULL,
     NULL},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", "\xe2\x82", false, NULL, NULL, NULL},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", NULL, false, NULL, NULL, NULL},
    {FLOW_CRM_VERIFY, FLOW_ID_PHONE, "", "1234", false, NULL, NULL, NULL},
    {FLOW_CRM_NONE, FLOW_ID_PHONE, "1", "1234", false, NULL, NULL, NULL},
};

static void fill_request(flow_crm_kind kind, flow_identifier_type type,
                         const char *value, flow_crm_request *req) {
  memset(req, 0, sizeof *req);
  req->kind = kind;
  req->lookup_type = type;
  if (kind == FLOW_CRM_LOOKUP)
    snprintf(req->lookup_value, sizeof req->lookup_value, "%s", value);
  else
    snprintf(req->customer_id, sizeof req->customer_id, "%s", value);
}

static void test_build_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof build_rows / sizeof build_rows[0]; i++) {
    const build_row *r = &build_rows[i];
    flow_crm_request req;
    fill_request(r->kind, r->type, r->value, &req);
    crm_http_request http;
    memset(&http, 0x5a, sizeof http);
    bool ok = crm_build_request(BASE, &req, r->answer, &http);
    if (ok != r->ok)
      fail_msg("row %zu: ok=%d, expected %d", i, ok, r->ok);
    if (!ok) {
      /* Nothing allocated, and free is still safe. */
      assert_null(http.url);
      assert_null(http.body);
      crm_http_request_free(&http);
      continue;
    }
    assert_string_equal(http.method, r->method);
    if (strcmp(http.url, r->url) != 0)
      fail_msg("row %zu: url %s, expected %s", i, http.url, r->url);
    if (r->body) {
      assert_non_null(http.body);
      assert_int_equal(http.body_len, strlen(r->body));
      if (strcmp(http.body, r->body) != 0)
        fail_msg("row %zu: body %s, expected %s", i, http.body, r->body);
    } else {
      assert_null(http.body);
      assert_int_equal(http.body_len, 0);
    }
    crm_http_request_free(&http);
    assert_null(http.url);
    assert_null(http.body);
  }
}

/* A value that fills its field exactly, and one whose field has no
 * terminator: the first is used in full, the second refused. */
static void test_build_field_bounds(void **state) {
  (void)state;
  flow_crm_request req;
  memset(&req, 0, sizeof req);
  req.kind = FLOW_CRM_LOOKUP;
  req.lookup_type = FLOW_ID_ACCOUNT_NUMBER;
  memset(req.lookup_value, '+', sizeof req.lookup_value - 1);
  crm_http_request http;
  assert_true(crm_build_request(BASE, &req, NULL, &http));
  const char *q = strstr(http.url, "accountNumber=");
  assert_non_null(q);
  assert_int_equal(strlen(q + strlen("accountNumber=")),
                   3 * (sizeof req.lookup_value - 1));
  crm_http_request_free(&http);

  memset(req.lookup_value, '1', sizeof req.lookup_value);
  assert_false(crm_build_request(BASE, &req, NULL, &http));

  req.kind = FLOW_CRM_VERIFY;
  memset(req.customer_id, '7', sizeof req.customer_id);
  assert_false(crm_build_request(BASE, &req, "1234", &http));
  assert_false(crm_build_request(NULL, &req, "1234", &http));
}

static void test_lookup_params(void **state) {
  (void)state;
  assert_string_equal(crm_lookup_param(FLOW_ID_PHONE), "phone");
  assert_string_equal(crm_lookup_param(FLOW_ID_CUSTOMER_ID), "customerId");
  assert_string_equal(crm_lookup_param(FLOW_ID_ACCOUNT_NUMBER),
                      "accountNumber");
  assert_string_equal(crm_lookup_param(FLOW_ID_TRACKING_NUMBER),
                      "trackingNumber");
}

typedef struct {
  flow_crm_kind kind;
  long status;
  const char *body; /* NULL: no body at all */
  bool ok;
  int matches;
  const char *id;
  const char *name;
  bool verified;
  bool locked;
} parse_row;

#define LOOKUP FLOW_CRM_LOOKUP
#define VERIFY FLOW_CRM_VERIFY

static const parse_row parse_rows[] = {
    /* Lookups. */
    {LOOKUP, 200,
     "{\"customers\":[{\"id\":\"100234\",\"name\":\"Ana Garc\\u00eda\"}]}",
     true, 1, "100234",
     "Ana Garc\xc3\xad"
     "a",
     false, false},
    {LOOKUP, 200,
     "{\"customers\":[{\"id\":100234,\"name\":"
     "\"\xea\xb9\x80\xeb\xaf\xbc\xec\xa4\x80\"}]}",
     true, 1, "100234", "\xea\xb9\x80\xeb\xaf\xbc\xec\xa4\x80", false, false},
    {LOOKUP, 200, "{\"customers\":[{\"id\":-7}]}", true, 1, "-7", "", false,
     false},
    {LOOKUP, 200, "{\"customers\":[{\"id\":\"9\",\"name\":null}]}", true, 1,
     "9", "", false, false},
    {LOOKUP, 200, "{\"customers\":[]}", true, 0, "", "", false, false},
    {LOOKUP, 200,
     " {\"customers\":[{\"id\":\"1\",\"name\":\"A\"},{\"id\":\"2\",\"name\":"
     "\"B\"},{\"id\":3}],\"total\":3} ",
     true, 3, "1", "A", false, false},
    {LOOKUP, 200,
     "{\"customers\":[{\"id\":\"a/b c\",\"name\":\"x\",\"extra\":[1]}]}", true,
     1, "a/b c", "x", false, false},
    /* Lookup failures. */
    {LOOKUP, 500, "{\"customers\":[{\"id\":\"1\"}]}", false, 0, "", "", false,
     false},
    {LOOKUP, 404, "{\"customers\":[]}", false, 0, "", "", false, false},
    {LOOKUP, 0, NULL, false, 0, "", "", false, false},
    {LOOKUP, 200, NULL, false, 0, "", "", false, false},
    {LOOKUP, 200, "", false, 0, "", "", false, false},
    {LOOKUP, 200, "<html>this is not JSON", false, 0, "", "", false, false},
    {LOOKUP, 200, "{\"customers\":[{\"id\":\"1\"}", false, 0, "", "", false,
     false},
    {LOOKUP, 200, "{\"customers\":[]} trailing", false, 0, "", "", false,
     false},
    {LOOKUP, 200, "{}", false, 0, "", "", false, false},
    {LOOKUP, 200, "[]", false, 0, "", "", false, false},
    {LOOKUP, 200, "{\"customers\":{}}", false, 0, "", "", false, false},
    {LOOKUP, 200, "{\"customers\":null}", false, 0, "", "", false, false},
    {LOOKUP, 200, "{\"customers\":[{\"name\":\"no id\"}]}", false, 0, "", "",
     false, false},
    {LOOKUP, 200, "{\"customers\":[{\"id\":\"\"}]}", false, 0, "", "", false,
     false},
    {LOOKUP, 200, "{\"customers\":[{\"id\":1.5}]}", false, 0, "", "", false,
     false},
    {LOOKUP, 200, "{\"customers\":[{\"id\":true}]}", false, 0, "", "", false,
     false},
    {LOOKUP, 200, "{\"customers\":[{\"id\":\"1\",\"name\":5}]}", false, 0, "",
     "", false, false},
    {LOOKUP, 200, "{\"customers\":[\"1\"]}", false, 0, "", "", false, false},
    /* A later entry without a usable id spoils the whole answer. */
    {LOOKUP, 200, "{\"customers\":[{\"id\":\"1\"},{\"id\":null}]}", false, 0,
     "", "", false, false},
    {LOOKUP, 200, "{\"customers\":[{\"id\":\"1\\u0000\"}]}", false, 0, "", "",
     false, false},
    {LOOKUP, 200, "{\"customers\":[],\"customers\":[{\"id\":\"1\"}]}", false, 0,
     "", "", false, false},
    /* Verifications. */
    {VERIFY, 200, "{\"verified\":true}", true, 0, "", "", true, false},
    {VERIFY, 200, "{\"verified\":false}", true, 0, "", "", false, false},
    {VERIFY, 200, "{\"verified\":false,\"locked\":true}", true, 0, "", "",
     false, true},
    {VERIFY, 200, "{\"verified\":true,\"locked\":false}", true, 0, "", "", true,
     false},
    {VERIFY, 200, "{\"verified\":\"true\"}", false, 0, "", "", false, false},
    {VERIFY, 200, "{\"verified\":1}", false, 0, "", "", false, false},
    {VERIFY, 200, "{\"verified\":null}", false, 0, "", "", false, false},
    {VERIFY, 200, "{\"verified\":true,\"locked\":\"yes\"}", false, 0, "", "",
     false, false},
    {VERIFY, 200, "{}", false, 0, "", "", false, false},
    {VERIFY, 200, "{\"verified\":false,\"verified\":true}", false, 0, "", "",
     false, false},
    {VERIFY, 200, "{\"verified\":tru", false, 0, "", "", false, false},
    {VERIFY, 503, "{\"verified\":true}", false, 0, "", "", false, false},
    {VERIFY, 201, "{\"verified\":true}", false, 0, "", "", false, false},
    {VERIFY, 404, "{\"error\":\"no such customer\"}", false, 0, "", "", false,
     false},
    {VERIFY, 0, NULL, false, 0, "", "", false, false},
};

static void test_parse_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof parse_rows / sizeof parse_rows[0]; i++) {
    const parse_row *r = &parse_rows[i];
    flow_crm_request req;
    fill_request(r->kind, FLOW_ID_PHONE, "+13175550116", &req);
    if (r->kind == FLOW_CRM_VERIFY)
      strcpy(req.customer_id, "100234");
    flow_crm_result res;
    memset(&res, 0xa5, sizeof res);
    crm_parse_response(&req, r->status, r->body, r->body ? strlen(r->body) : 0,
                       &res);
    if (res.ok != r->ok)
      fail_msg("row %zu (%s): ok=%d, expected %d", i,
               r->body ? r->body : "(null)", res.ok, r->ok);
    assert_int_equal(res.match_count, r->matches);
    if (strcmp(res.customer_id, r->id) != 0 ||
        strcmp(res.customer_name, r->name) != 0)
      fail_msg("row %zu: id '%s' name '%s'", i, res.customer_id,
               res.customer_name);
    assert_int_equal(res.verified, r->verified);
    assert_int_equal(res.locked, r->locked);
  }
}

/* The body is a slice, not a C string: bytes past body_len are not read. */
static void test_parse_unterminated(void **state) {
  (void)state;
  static const char text[] = "{\"verified\":true}GARBAGE";
  flow_crm_request req;
  fill_request(FLOW_CRM_VERIFY, FLOW_ID_PHONE, "1", &req);
  flow_crm_result res;
  crm_parse_response(&req, 200, text, strlen("{\"verified\":true}"), &res);
  assert_true(res.ok);
  assert_true(res.verified);
  crm_parse_response(&req, 200, text, strlen(text), &res);
  assert_false(res.ok);
}

/* Ids and names exactly at their limits fit; one byte more is a CRM
 * error, never a truncated id. */
static void test_parse_limits(void **state) {
  (void)state;
  char id[FLOW_CUSTOMER_ID_MAX + 2], name[FLOW_CUSTOMER_NAME_MAX + 2];
  char body[512];
  flow_crm_request req;
  fill_request(FLOW_CRM_LOOKUP, FLOW_ID_PHONE, "+1", &req);
  flow_crm_result res;
  for (int extra = 0; extra <= 1; extra++) {
    memset(id, 'i', sizeof id);
    id[FLOW_CUSTOMER_ID_MAX + extra] = '\0';
    memset(name, 'n', sizeof name);
    name[FLOW_CUSTOMER_NAME_MAX] = '\0';
    snprintf(body, sizeof body,
             "{\"customers\":[{\"id\":\"%s\",\"name\":\"%s\"}]}", id, name);
    crm_parse_response(&req, 200, body, strlen(body), &res);
    assert_int_equal(res.ok, extra == 0);
    if (res.ok) {
      assert_string_equal(res.customer_id, id);
      assert_string_equal(res.customer_name, name);
    }
    memset(id, 'i', sizeof id);
    id[FLOW_CUSTOMER_ID_MAX] = '\0';
    memset(name, 'n', sizeof name);
    name[FLOW_CUSTOMER_NAME_MAX + extra] = '\0';
    snprintf(body, sizeof body,
             "{\"customers\":[{\"id\":\"%s\",\"name\":\"%s\"}]}", id, name);
    crm_parse_response(&req, 200, body, strlen(body), &res);
    assert_int_equal(res.ok, extra == 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_build_table),
      cmocka_unit_test(test_build_field_bounds),
      cmocka_unit_test(test_lookup_params),
      cmocka_unit_test(test_parse_table),
      cmocka_unit_test(test_parse_unterminated),
      cmocka_unit_test(test_parse_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
