/* request: body parsing and field validation, one row per case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "request.h"

typedef struct {
  request_kind kind;
  const char *body;
  request_status status;
  const char *message_has; /* substring the error message must contain */
} request_row;

static const request_row rows[] = {
    {REQUEST_START,
     "{\"conversationId\":\"c1\",\"serviceLine\":\"banking\",\"ani\":\"tel:+"
     "1\"}",
     REQUEST_OK, NULL},
    {REQUEST_START, "{\"conversationId\":\"c1\"}", REQUEST_INVALID_REQUEST,
     "serviceLine is required"},
    {REQUEST_START, "{\"serviceLine\":\"b\"}", REQUEST_INVALID_REQUEST,
     "conversationId is required"},
    {REQUEST_START, "{\"conversationId\":42,\"serviceLine\":\"b\"}",
     REQUEST_INVALID_REQUEST, "conversationId must be a string"},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"ani\":3}",
     REQUEST_INVALID_REQUEST, "ani must be a string"},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"language\":[]}",
     REQUEST_INVALID_REQUEST, "language must be a string"},
    /* Unfilled Genesys inputs and null are absent. */
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"${input.serviceLine}\"}",
     REQUEST_INVALID_REQUEST, "serviceLine is required"},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"ani\":\"${input.ani}\","
     "\"language\":null}",
     REQUEST_OK, NULL},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"x\":[1]}", REQUEST_OK,
     NULL},
    {REQUEST_START, "[]", REQUEST_INVALID_REQUEST, "JSON object"},
    {REQUEST_START, "\"text\"", REQUEST_INVALID_REQUEST, "JSON object"},
    {REQUEST_START, "null", REQUEST_INVALID_REQUEST, "JSON object"},
    {REQUEST_START, "42", REQUEST_INVALID_REQUEST, "JSON object"},
    {REQUEST_START, "{", REQUEST_INVALID_JSON, "not valid JSON"},
    {REQUEST_START, "", REQUEST_INVALID_JSON, "empty"},
    {REQUEST_START,
     "{\"conversationId\":\"a\",\"conversationId\":\"b\",\"serviceLine\":"
     "\"s\"}",
     REQUEST_INVALID_JSON, "duplicate"},
    {REQUEST_START, "{\"conversationId\":\"a\\u0000b\",\"serviceLine\":\"s\"}",
     REQUEST_INVALID_JSON, "not allowed"},
    {REQUEST_START, "{\"conversationId\":\"\xff\",\"serviceLine\":\"s\"}",
     REQUEST_INVALID_JSON, NULL},
    {REQUEST_IDENTIFIER, "{\"identifier\":\"12345678\"}", REQUEST_OK, NULL},
    {REQUEST_IDENTIFIER, "{\"identifier\":\"\"}", REQUEST_OK, NULL},
    {REQUEST_IDENTIFIER, "{\"identifier\":12345678}", REQUEST_INVALID_REQUEST,
     "identifier must be a string"},
    {REQUEST_IDENTIFIER, "{}", REQUEST_INVALID_REQUEST,
     "identifier is required"},
    {REQUEST_IDENTIFIER,
     "{\"identifier\":\"1\",\"identifierType\":\"account_number\"}", REQUEST_OK,
     NULL},
    {REQUEST_IDENTIFIER, "{\"identifier\":\"1\",\"identifierType\":\"ssn\"}",
     REQUEST_INVALID_REQUEST, "identifierType"},
    {REQUEST_IDENTIFIER,
     "{\"identifier\":\"1\",\"identifierType\":\"${input.identifierType}\"}",
     REQUEST_OK, NULL},
    {REQUEST_SECURITY, "{\"answer\":\"1234\"}", REQUEST_OK, NULL},
    {REQUEST_SECURITY, "{\"answer\":1234}", REQUEST_INVALID_REQUEST,
     "answer must be a string"},
    {REQUEST_SECURITY, "{\"answer\":\"1\",\"answer\":\"2\"}",
     REQUEST_INVALID_JSON, "duplicate"},
    {REQUEST_SECURITY, "{}", REQUEST_INVALID_REQUEST, "answer is required"},
    {REQUEST_OPT_OUT, "", REQUEST_OK, NULL},
    {REQUEST_OPT_OUT, "{}", REQUEST_OK, NULL},
    {REQUEST_OPT_OUT, "{\"reason\":\"no card\"}", REQUEST_OK, NULL},
    {REQUEST_OPT_OUT, "nope", REQUEST_INVALID_JSON, NULL},
    /* Context across channels: channel and linkedConversationId. */
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"channel\":"
     "\"web_chat2\",\"linkedConversationId\":\"c0\"}",
     REQUEST_OK, NULL},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"channel\":"
     "\"Voice\"}",
     REQUEST_INVALID_REQUEST, "channel must be 1..32"},
    /* "" is how the kit's silent form sends an unset input: absent. */
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"channel\":\"\","
     "\"linkedConversationId\":\"\"}",
     REQUEST_OK, NULL},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"channel\":"
     "\"abcdefghijklmnopqrstuvwxyz0123456\"}",
     REQUEST_INVALID_REQUEST, "channel must be"},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"channel\":"
     "\"abcdefghijklmnopqrstuvwxyz012345\"}",
     REQUEST_OK, NULL},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"channel\":7}",
     REQUEST_INVALID_REQUEST, "channel must be a string"},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\","
     "\"linkedConversationId\":[]}",
     REQUEST_INVALID_REQUEST, "linkedConversationId must be a string"},
    {REQUEST_START,
     "{\"conversationId\":\"c\",\"serviceLine\":\"b\",\"channel\":"
     "\"${input.channel}\",\"linkedConversationId\":\"${input.link}\"}",
     REQUEST_OK, NULL},
    /* Handoff redemption and creation. */
    {REQUEST_HANDOFF, "{\"code\":\"0123456789\"}", REQUEST_OK, NULL},
    {REQUEST_HANDOFF, "{}", REQUEST_INVALID_REQUEST, "code is required"},
    {REQUEST_HANDOFF, "{\"code\":123}", REQUEST_INVALID_REQUEST,
     "code must be a string"},
    {REQUEST_HANDOFF_CREATE, "{\"customerId\":\"100234\",\"verified\":true}",
     REQUEST_OK, NULL},
    {REQUEST_HANDOFF_CREATE,
     "{\"customerId\":\"100234\",\"customerName\":\"Ana\",\"verified\":"
     "false,\"serviceLine\":\"retail\",\"channel\":\"app\",\"phone\":"
     "\"+13175550116\"}",
     REQUEST_OK, NULL},
    {REQUEST_HANDOFF_CREATE, "{\"verified\":true}", REQUEST_INVALID_REQUEST,
     "customerId is required"},
    {REQUEST_HANDOFF_CREATE, "{\"customerId\":\"1\"}", REQUEST_INVALID_REQUEST,
     "verified is required"},
    {REQUEST_HANDOFF_CREATE, "{\"customerId\":\"1\",\"verified\":\"yes\"}",
     REQUEST_INVALID_REQUEST, "verified must be true or false"},
    {REQUEST_HANDOFF_CREATE, "{\"customerId\":\"\",\"verified\":true}",
     REQUEST_INVALID_REQUEST, "customerId must be 1..64 bytes"},
    {REQUEST_HANDOFF_CREATE, "{\"customerId\":\"1\\n2\",\"verified\":true}",
     REQUEST_INVALID_REQUEST, "customerId must not contain control"},
    {REQUEST_HANDOFF_CREATE,
     "{\"customerId\":\"1\",\"verified\":true,\"channel\":\"App\"}",
     REQUEST_INVALID_REQUEST, "channel must be"},
    {REQUEST_HANDOFF_CREATE,
     "{\"customerId\":\"1\",\"verified\":true,\"channel\":\"\"}",
     REQUEST_INVALID_REQUEST, "channel must be"},
    {REQUEST_HANDOFF_CREATE,
     "{\"customerId\":\"1\",\"verified\":true,\"phone\":5}",
     REQUEST_INVALID_REQUEST, "phone must be a string"},
};

static void test_request_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    request_body req;
    request_status st =
        request_parse(rows[i].kind, rows[i].body, strlen(rows[i].body), &req);
    if (st != rows[i].status)
      fail_msg("row %zu (%s): status %d, message '%s'", i, rows[i].body,
               (int)st, req.message);
    if (rows[i].message_has && !strstr(req.message, rows[i].message_has))
      fail_msg("row %zu: message '%s' lacks '%s'", i, req.message,
               rows[i].message_has);
    request_free(&req);
    request_free(&req); /* idempotent */
  }
}

static void test_request_values(void **state) {
  (void)state;
  const char *body = "{\"conversationId\":\"c1\",\"serviceLine\":\"banking\","
                     "\"ani\":\"sip:+13175550116@host\",\"language\":\"es\"}";
  request_body req;
  assert_int_equal(request_parse(REQUEST_START, body, strlen(body), &req),
                   REQUEST_OK);
  assert_string_equal(req.conversation_id, "c1");
  assert_string_equal(req.service_line, "banking");
  assert_string_equal(req.ani, "sip:+13175550116@host");
  assert_string_equal(req.language, "es");
  request_free(&req);

  const char *id = "{\"identifier\":\"42\",\"identifierType\":\"phone\"}";
  assert_int_equal(request_parse(REQUEST_IDENTIFIER, id, strlen(id), &req),
                   REQUEST_OK);
  assert_true(req.has_identifier_type);
  assert_int_equal(req.identifier_type, FLOW_ID_PHONE);
  request_free(&req);

  /* The body need not be NUL-terminated: only len bytes are read. */
  const char *padded = "{\"answer\":\"9876\"}garbage";
  assert_int_equal(request_parse(REQUEST_SECURITY, padded, 17, &req),
                   REQUEST_OK);
  assert_string_equal(req.answer, "9876");
  request_free(&req);
  assert_null(req.answer);

  const char *code = "{\"code\":\"0123456789\"}";
  assert_int_equal(request_parse(REQUEST_HANDOFF, code, strlen(code), &req),
                   REQUEST_OK);
  assert_string_equal(req.code, "0123456789");
  request_free(&req);
  assert_null(req.code);

  const char *unset = "{\"conversationId\":\"c\",\"serviceLine\":\"b\","
                      "\"channel\":\"\",\"linkedConversationId\":\"\"}";
  assert_int_equal(request_parse(REQUEST_START, unset, strlen(unset), &req),
                   REQUEST_OK);
  assert_null(req.channel);
  assert_null(req.linked_conversation_id);
  request_free(&req);

  const char *create = "{\"customerId\":\"7\",\"verified\":true,"
                       "\"channel\":\"app\"}";
  assert_int_equal(
      request_parse(REQUEST_HANDOFF_CREATE, create, strlen(create), &req),
      REQUEST_OK);
  assert_string_equal(req.customer_id, "7");
  assert_true(req.verified);
  assert_string_equal(req.channel, "app");
  assert_null(req.customer_name);
  request_free(&req);
}

static void test_unfilled_template(void **state) {
  (void)state;
  assert_true(request_is_unfilled_template("${input.ani}"));
  assert_true(request_is_unfilled_template("$!{input.ani}"));
  assert_true(request_is_unfilled_template("${}"));
  assert_false(request_is_unfilled_template("$1234"));
  assert_false(request_is_unfilled_template("${input.ani"));
  assert_false(request_is_unfilled_template("tel:+13175550116"));
  assert_false(request_is_unfilled_template(""));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_table),
      cmocka_unit_test(test_request_values),
      cmocka_unit_test(test_unfilled_template),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
