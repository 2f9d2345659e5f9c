/* sentinel: address parsing table, and a lookup that finds no sentinel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sentinel.h"

typedef struct {
  const char *text;
  bool ok;
  const char *host;
  int port;
} addr_row;

static const addr_row rows[] = {
    {"127.0.0.1:26379", true, "127.0.0.1", 26379},
    {"sentinel-0.redis:5000", true, "sentinel-0.redis", 5000},
    {"redis-sentinel", true, "redis-sentinel", 26379},
    {"[::1]:26380", true, "::1", 26380},
    {"[::1]", true, "::1", 26379},
    {"host:0", false, NULL, 0},
    {"host:65536", false, NULL, 0},
    {"host:", false, NULL, 0},
    {"host:12x", false, NULL, 0},
    {":26379", false, NULL, 0},
    {"", false, NULL, 0},
    {"[::1", false, NULL, 0},
    {"[::1]x", false, NULL, 0},
};

static void test_parse_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    sentinel_addr a;
    char err[128] = "";
    bool ok = sentinel_parse_addr(rows[i].text, &a, err, sizeof err);
    if (ok != rows[i].ok)
      fail_msg("row %zu '%s': ok=%d err=%s", i, rows[i].text, ok, err);
    if (ok) {
      assert_string_equal(a.host, rows[i].host);
      assert_int_equal(a.port, rows[i].port);
    } else {
      assert_true(strlen(err) > 0);
    }
  }
}

/* Nothing listens on port 1: the lookup fails fast with a reason. */
static void test_no_sentinel_answers(void **state) {
  (void)state;
  sentinel_addr s[2];
  char err[128];
  assert_true(sentinel_parse_addr("127.0.0.1:1", &s[0], err, sizeof err));
  assert_true(sentinel_parse_addr("127.0.0.1:2", &s[1], err, sizeof err));
  char host[64];
  int port = 0;
  assert_false(sentinel_find_master(s, 2, "mymaster", 200, host, sizeof host,
                                    &port, err, sizeof err));
  assert_non_null(strstr(err, "127.0.0.1:2"));
  assert_false(sentinel_find_master(s, 0, "mymaster", 200, host, sizeof host,
                                    &port, err, sizeof err));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_table),
      cmocka_unit_test(test_no_sentinel_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
