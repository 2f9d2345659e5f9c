/* config: defaults, file layer bounds (one row per key), environment layer,
 * Redis URLs, error messages that name the key, and the shipped example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "crm_config.h"

/* ---------------------------------------------------------------------
 * A fake environment: NULL-terminated name/value pairs set per test.
 * ------------------------------------------------------------------- */

static const char *const *fake_env;

static char *fake_getenv(const char *name) {
  for (size_t i = 0; fake_env && fake_env[i]; i += 2)
    if (strcmp(fake_env[i], name) == 0)
      return (char *)fake_env[i + 1];
  return NULL;
}

static config cfg; /* large: keep it off the stack */

static bool load_text(const char *json, char *err, size_t err_len) {
  err[0] = '\0';
  return config_load_text(json, strlen(json), &cfg, err, err_len);
}

/* Write `text` to a fresh file in /tmp; the caller unlinks `path`. */
static void write_temp(const char *text, char *path, size_t path_len) {
  snprintf(path, path_len, "/tmp/authflow-test-config-XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  close(fd);
}

/* ---------------------------------------------------------------------
 * Defaults.
 * ------------------------------------------------------------------- */

static void defaults_without_file(void **state) {
  (void)state;
  static const char *const env[] = {NULL};
  fake_env = env;
  char err[CONFIG_ERR_MAX] = "";
  assert_true(config_load(NULL, fake_getenv, &cfg, err, sizeof err));
  assert_int_equal(cfg.port, 8080);
  assert_string_equal(cfg.bind_address, "0.0.0.0");
  assert_int_equal(cfg.threads, 0);
  assert_int_equal(cfg.max_body_bytes, 16384);
  assert_int_equal(cfg.connection_timeout_seconds, 15);
  assert_int_equal(cfg.max_connections, 4096);
  assert_int_equal(cfg.api_key_count, 0);
  assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/0");
  assert_string_equal(cfg.redis_host, "127.0.0.1");
  assert_int_equal(cfg.redis_port, 6379);
  assert_string_equal(cfg.redis_password, "");
  assert_int_equal(cfg.redis_db, 0);
  assert_string_equal(cfg.key_prefix, "authflow:");
  assert_int_equal(cfg.session_ttl_seconds, 3600);
  assert_int_equal(cfg.redis_connect_timeout_ms, 200);
  assert_int_equal(cfg.redis_command_timeout_ms, 500);
  assert_int_equal(cfg.lockout_max_failures, 5);
  assert_int_equal(cfg.lockout_window_seconds, 900);
  assert_int_equal(cfg.lockout_failure_memory_seconds, 86400);
  assert_string_equal(cfg.crm_base_url, "http://127.0.0.1:8081");
  assert_int_equal(cfg.crm_connect_timeout_ms, 1000);
  assert_int_equal(cfg.crm_timeout_ms, 3000);
  assert_int_equal(cfg.crm_max_connections, 1024);
  assert_int_equal(cfg.crm_header_count, 0);
  assert_int_equal(cfg.log_level, CONFIG_LOG_INFO);

  assert_int_equal(cfg.service_line_count, 1);
  const config_service_line *line = config_find_service_line(&cfg, "default");
  assert_non_null(line);
  assert_true(line->policy.ani_lookup);
  assert_true(line->policy.verification);
  assert_int_equal(line->policy.identifier_type, FLOW_ID_CUSTOMER_ID);
  assert_int_equal(line->policy.max_identify_attempts, 3);
  assert_int_equal(line->policy.max_verify_attempts, 3);
  assert_int_equal(line->policy.identifier_min_digits, 0);
  assert_int_equal(line->policy.identifier_max_digits, 0);
  assert_string_equal(line->policy.default_country_code, "1");
  assert_string_equal(line->default_language, "en-US");
  assert_null(line->prompts);
  assert_null(config_find_service_line(&cfg, "other"));
  assert_null(config_find_service_line(&cfg, NULL));
  config_free(&cfg);
}

/* An empty object is the defaults too; naming lines drops "default". */
static void service_lines_replace_default(void **state) {
  (void)state;
  char err[CONFIG_ERR_MAX];
  assert_true(load_text("{}", err, sizeof err));
  assert_int_equal(cfg.service_line_count, 1);
  assert_string_equal(cfg.service_lines[0].name, "default");
  config_free(&cfg);

  assert_true(load_text("{\"serviceLines\":{\"b\":{},\"a\":{\"aniLookup\":"
                        "false,\"identifierType\":\"phone\","
                        "\"defaultLanguage\":\"ko\"}}}",
                        err, sizeof err));
  assert_int_equal(cfg.service_line_count, 2);
  assert_null(config_find_service_line(&cfg, "default"));
  /* File order is kept (metrics and logs list lines in it). */
  assert_string_equal(cfg.service_lines[0].name, "b");
  const config_service_line *a = config_find_service_line(&cfg, "a");
  assert_non_null(a);
  assert_false(a->policy.ani_lookup);
  assert_true(a->policy.verification);
  assert_int_equal(a->policy.identifier_type, FLOW_ID_PHONE);
  assert_string_equal(a->default_language, "ko-KR");
  config_free(&cfg);
}

/* ---------------------------------------------------------------------
 * File layer: one row per case. `message_has` must appear in the error
 * (NULL for rows that must load).
 * ------------------------------------------------------------------- */

typedef struct {
  const char *json;
  const char *message_has;
} file_row;

#define LINE(body) "{\"serviceLines\":{\"retail\":{" body "}}}"

static const file_row file_rows[] = {
    /* server */
    {"{\"server\":{\"port\":0}}", NULL},
    {"{\"server\":{\"port\":65535}}", NULL},
    {"{\"server\":{\"port\":-1}}", "server.port: must be an integer 0..65535"},
    {"{\"server\":{\"port\":65536}}", "server.port: must be an integer"},
    {"{\"server\":{\"port\":\"8080\"}}", "server.port: must be an integer"},
    {"{\"server\":{\"port\":8080.0}}", "server.port: must be an integer"},
    {"{\"server\":{\"threads\":-1}}",
     "server.threads: must be an integer 0..64"},
    {"{\"server\":{\"threads\":0}}", NULL},
    {"{\"server\":{\"threads\":65}}", "server.threads:"},
    {"{\"server\":{\"threads\":64}}", NULL},
    {"{\"server\":{\"maxBodyBytes\":1023}}",
     "server.maxBodyBytes: must be an integer 1024..1048576"},
    {"{\"server\":{\"maxBodyBytes\":1048577}}", "server.maxBodyBytes:"},
    {"{\"server\":{\"maxBodyBytes\":1048576}}", NULL},
    {"{\"server\":{\"connectionTimeoutSeconds\":0}}",
     "server.connectionTimeoutSeconds: must be an integer 1..600"},
    {"{\"server\":{\"connectionTimeoutSeconds\":601}}",
     "server.connectionTimeoutSeconds:"},
    {"{\"server\":{\"maxConnections\":15}}",
     "server.maxConnections: must be an integer 16..100000"},
    {"{\"server\":{\"maxConnections\":100001}}", "server.maxConnections:"},
    {"{\"server\":{\"bindAddress\":\"::\"}}", NULL},
    {"{\"server\":{\"bindAddress\":\"127.0.0.1\"}}", NULL},
    {"{\"server\":{\"bindAddress\":\"localhost\"}}",
     "server.bindAddress: must be an IPv4 or IPv6 address"},
    {"{\"server\":{\"bindAddress\":\"\"}}", "server.bindAddress:"},
    {"{\"server\":{\"bindAddress\":1}}",
     "server.bindAddress: must be a string"},
    {"{\"server\":[]}", "server: must be an object"},
    {"{\"server\":{\"prot\":8080}}", "server.prot: unknown key"},
    /* reporting: timeZone (its syntax; main checks the zone database),
     * redisUrl, exportMaxRows up to 10,000,000 */
    {"{\"reporting\":{\"timeZone\":\"Asia/Kolkata\"}}", NULL},
    {"{\"reporting\":{\"timeZone\":\"America/Argentina/Buenos_Aires\"}}", NULL},
    {"{\"reporting\":{\"timeZone\":\"Etc/GMT+5\"}}", NULL},
    {"{\"reporting\":{\"timeZone\":\"../etc/passwd\"}}",
     "reporting.timeZone: must be an IANA time zone name"},
    {"{\"reporting\":{\"timeZone\":\"\"}}", "reporting.timeZone:"},
    {"{\"reporting\":{\"timeZone\":\"/etc/localtime\"}}",
     "reporting.timeZone:"},
    {"{\"reporting\":{\"timeZone\":3}}",
     "reporting.timeZone: must be a string"},
    {"{\"reporting\":{\"redisUrl\":\"redis://10.0.0.2:6380/1\"}}", NULL},
    {"{\"reporting\":{\"redisUrl\":\"http://x\"}}", "reporting.redisUrl:"},
    {"{\"reporting\":{\"redisUrl\":\"sentinel:replica\"}}",
     "reporting.redisUrl: sentinel:replica needs redis.sentinels"},
    {"{\"redis\":{\"sentinels\":[\"10.0.0.1\"],\"masterName\":\"m\"},"
     "\"reporting\":{\"redisUrl\":\"sentinel:replica\"}}",
     NULL},
    {"{\"reporting\":{\"exportMaxRows\":1000000}}", NULL},
    {"{\"reporting\":{\"exportMaxRows\":10000001}}",
     "reporting.exportMaxRows:"},
    /* apiKeys */
    {"{\"apiKeys\":[\"abcdefgh\"]}", NULL},
    {"{\"apiKeys\":[]}", NULL},
    {"{\"apiKeys\":\"abcdefgh\"}", "apiKeys: must be an array of strings"},
    {"{\"apiKeys\":[\"abcdefgh\",7]}", "apiKeys[1]: must be a string"},
    {"{\"apiKeys\":[\"short\"]}", "apiKeys[0]: must be 8..256 printable"},
    {"{\"apiKeys\":[\"with space1\"]}", "apiKeys[0]: must be 8..256"},
    {"{\"apiKeys\":[\"with,comma\"]}", "apiKeys[0]: must be 8..256"},
    {"{\"apiKeys\":[\"tab\\tinside\"]}", "apiKeys[0]: must be 8..256"},
    {"{\"apiKeys\":[\"caf\xc3\xa9-key-1\"]}", "apiKeys[0]: must be 8..256"},
    /* reportKeys: the same rules as apiKeys */
    {"{\"reportKeys\":[\"abcdefgh\"]}", NULL},
    {"{\"reportKeys\":[]}", NULL},
    {"{\"reportKeys\":\"abcdefgh\"}",
     "reportKeys: must be an array of strings"},
    {"{\"reportKeys\":[\"abcdefgh\",7]}", "reportKeys[1]: must be a string"},
    {"{\"reportKeys\":[\"short\"]}", "reportKeys[0]: must be 8..256 printable"},
    {"{\"reportKeys\":[\"with,comma\"]}", "reportKeys[0]: must be 8..256"},
    {"{\"reportKeys\":[\"caf\xc3\xa9-key-1\"]}",
     "reportKeys[0]: must be 8..256"},
    /* redis */
    {"{\"redis\":{\"url\":\"redis://:pw@h:6380/3\"}}", NULL},
    {"{\"redis\":{\"url\":\"http://h\"}}",
     "redis.url: must start with redis://"},
    {"{\"redis\":{\"url\":\"redis://h:0\"}}", "redis.url: port must be"},
    {"{\"redis\":{\"url\":5}}", "redis.url: must be a string"},
    {"{\"redis\":{\"keyPrefix\":\"\"}}", "redis.keyPrefix: must be 1..63"},
    {"{\"redis\":{\"keyPrefix\":\"a b\"}}", "redis.keyPrefix: must be 1..63"},
    {"{\"redis\":{\"keyPrefix\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaa\"}}",
     "redis.keyPrefix: must be 1..63"},
    {"{\"redis\":{\"keyPrefix\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaa\"}}",
     NULL},
    {"{\"redis\":{\"sessionTtlSeconds\":59}}",
     "redis.sessionTtlSeconds: must be an integer 60..86400"},
    {"{\"redis\":{\"sessionTtlSeconds\":86401}}", "redis.sessionTtlSeconds:"},
    {"{\"redis\":{\"sessionTtlSeconds\":\"1h\"}}",
     "redis.sessionTtlSeconds: must be an integer"},
    {"{\"redis\":{\"connectTimeoutMs\":9}}",
     "redis.connectTimeoutMs: must be an integer 10..5000"},
    {"{\"redis\":{\"connectTimeoutMs\":5001}}", "redis.connectTimeoutMs:"},
    {"{\"redis\":{\"commandTimeoutMs\":9}}",
     "redis.commandTimeoutMs: must be an integer 10..5000"},
    {"{\"redis\":{\"commandTimeoutMs\":5001}}", "redis.commandTimeoutMs:"},
    {"{\"redis\":{\"password\":\"x\"}}", "redis.password: unknown key"},
    /* lockout */
    {"{\"lockout\":{\"maxFailures\":0}}",
     "lockout.maxFailures: must be an integer 1..100"},
    {"{\"lockout\":{\"maxFailures\":101}}", "lockout.maxFailures:"},
    {"{\"lockout\":{\"windowSeconds\":59}}",
     "lockout.windowSeconds: must be an integer 60..86400"},
    {"{\"lockout\":{\"windowSeconds\":86401}}", "lockout.windowSeconds:"},
    {"{\"lockout\":{\"windowSecs\":900}}", "lockout.windowSecs: unknown key"},
    {"{\"lockout\":null}", "lockout: must be an object"},
    /* crm */
    {"{\"crm\":{\"baseUrl\":\"https://crm.example.com/api/\"}}", NULL},
    {"{\"crm\":{\"baseUrl\":\"ftp://crm\"}}",
     "crm.baseUrl: must be an http:// or https:// URL"},
    {"{\"crm\":{\"baseUrl\":\"http://\"}}", "crm.baseUrl: must be an http://"},
    {"{\"crm\":{\"baseUrl\":\"http:///path\"}}", "crm.baseUrl:"},
    {"{\"crm\":{\"baseUrl\":\"http://a b\"}}", "crm.baseUrl:"},
    {"{\"crm\":{\"baseUrl\":\"http://crm/?x=1\"}}", "crm.baseUrl:"},
    {"{\"crm\":{\"baseUrl\":true}}", "crm.baseUrl: must be a string"},
    {"{\"crm\":{\"connectTimeoutMs\":49}}",
     "crm.connectTimeoutMs: must be an integer 50..10000"},
    {"{\"crm\":{\"connectTimeoutMs\":10001}}", "crm.connectTimeoutMs:"},
    {"{\"crm\":{\"timeoutMs\":99}}",
     "crm.timeoutMs: must be an integer 100..30000"},
    {"{\"crm\":{\"timeoutMs\":30001}}", "crm.timeoutMs:"},
    {"{\"crm\":{\"maxConnections\":0}}",
     "crm.maxConnections: must be an integer 1..16384"},
    {"{\"crm\":{\"maxConnections\":16385}}", "crm.maxConnections:"},
    {"{\"crm\":{\"headers\":[\"X-Env: prod\",\"Authorization: Bearer t\"]}}",
     NULL},
    {"{\"crm\":{\"headers\":\"X-Env: prod\"}}",
     "crm.headers: must be an array of strings"},
    {"{\"crm\":{\"headers\":[1]}}", "crm.headers[0]: must be a string"},
    {"{\"crm\":{\"headers\":[\"X-Env prod\"]}}",
     "crm.headers[0]: must be \"Name: value\""},
    {"{\"crm\":{\"headers\":[\": v\"]}}", "crm.headers[0]:"},
    {"{\"crm\":{\"headers\":[\"X Env: v\"]}}", "crm.headers[0]:"},
    {"{\"crm\":{\"headers\":[\"A: ok\",\"X: a\\r\\nEvil: 1\"]}}",
     "crm.headers[1]:"},
    {"{\"crm\":{\"headers\":[\"X: a\\nb\"]}}", "crm.headers[0]:"},
    {"{\"crm\":{\"headers\":[\"A:1\",\"A:2\",\"A:3\",\"A:4\",\"A:5\",\"A:6\","
     "\"A:7\",\"A:8\",\"A:9\",\"A:10\",\"A:11\",\"A:12\",\"A:13\",\"A:14\","
     "\"A:15\",\"A:16\",\"A:17\"]}}",
     "crm.headers: at most 16 headers"},
    {"{\"crm\":{\"url\":\"http://x\"}}", "crm.url: unknown key"},
    /* log */
    {"{\"log\":{\"level\":\"warn\"}}", NULL},
    {"{\"log\":{\"level\":\"verbose\"}}",
     "log.level: must be debug, info, warn or error"},
    {"{\"log\":{\"level\":\"INFO\"}}", "log.level:"},
    {"{\"log\":{\"level\":1}}", "log.level: must be a string"},
    {"{\"log\":{\"format\":\"json\"}}", "log.format: unknown key"},
    /* root */
    {"{\"sever\":{}}", "sever: unknown key"},
    {"[]", "must be a JSON object"},
    {"{\"serviceLines\":{}}", "serviceLines: must be an object with at least"},
    {"{\"serviceLines\":[]}", "serviceLines: must be an object"},
    /* service lines */
    {LINE(""), NULL},
    {"{\"serviceLines\":{\"bad name\":{}}}",
     "serviceLines.bad name: a service line name must be"},
    {"{\"serviceLines\":{\"a/b\":{}}}", "serviceLines.a/b:"},
    {"{\"serviceLines\":{\"\":{}}}", "serviceLines.: a service line name"},
    {"{\"serviceLines\":{\"a.b-c_9\":{}}}", NULL},
    {"{\"serviceLines\":{\"retail\":1}}", "serviceLines.retail: must be an "
                                          "object"},
    {"{\"serviceLines\":{\"a\":{},\"a\":{}}}", "duplicate"},
    {LINE("\"aniLookup\":1"), "serviceLines.retail.aniLookup: must be true or "
                              "false"},
    {LINE("\"verification\":\"no\""),
     "serviceLines.retail.verification: must be true or false"},
    {LINE("\"identifierType\":\"ssn\""),
     "serviceLines.retail.identifierType: must be customer_id"},
    {LINE("\"identifierType\":3"),
     "serviceLines.retail.identifierType: must be a string"},
    {LINE("\"maxIdentifyAttempts\":0"),
     "serviceLines.retail.maxIdentifyAttempts: must be an integer 1..10"},
    {LINE("\"maxIdentifyAttempts\":11"),
     "serviceLines.retail.maxIdentifyAttempts:"},
    {LINE("\"maxVerifyAttempts\":0"),
     "serviceLines.retail.maxVerifyAttempts: must be an integer 1..10"},
    {LINE("\"maxVerifyAttempts\":11"),
     "serviceLines.retail.maxVerifyAttempts:"},
    {LINE("\"maxVerifyAttempts\":10,\"maxIdentifyAttempts\":1"), NULL},
    {LINE("\"defaultLanguage\":\"english\""),
     "serviceLines.retail.defaultLanguage: must be a language tag"},
    {LINE("\"defaultLanguage\":\"\""), "serviceLines.retail.defaultLanguage:"},
    {LINE("\"defaultLanguage\":\"es_es\""), NULL},
    {LINE("\"identifierMinDigits\":-1"),
     "serviceLines.retail.identifierMinDigits: must be an integer 0..64"},
    {LINE("\"identifierMaxDigits\":65"),
     "serviceLines.retail.identifierMaxDigits: must be an integer 0..64"},
    {LINE("\"identifierMinDigits\":9,\"identifierMaxDigits\":8"),
     "serviceLines.retail.identifierMinDigits: must not exceed "
     "identifierMaxDigits"},
    {LINE("\"identifierMinDigits\":8,\"identifierMaxDigits\":8"), NULL},
    /* customer_id defaults to 4..12 digits: one bound alone must fit. */
    {LINE("\"identifierMinDigits\":13"),
     "serviceLines.retail.identifierMinDigits: leaves no valid length"},
    {LINE("\"identifierMaxDigits\":3"),
     "serviceLines.retail.identifierMaxDigits: leaves no valid length"},
    {LINE("\"defaultCountryCode\":\"\""),
     "serviceLines.retail.defaultCountryCode: must be 1..3 digits"},
    {LINE("\"defaultCountryCode\":\"1234\""),
     "serviceLines.retail.defaultCountryCode:"},
    {LINE("\"defaultCountryCode\":\"+1\""),
     "serviceLines.retail.defaultCountryCode:"},
    {LINE("\"defaultCountryCode\":\"01\""),
     "serviceLines.retail.defaultCountryCode:"},
    {LINE("\"defaultCountryCode\":1"),
     "serviceLines.retail.defaultCountryCode: must be a string"},
    {LINE("\"defaultCountryCode\":\"852\""), NULL},
    {LINE("\"maxAttempts\":3"), "serviceLines.retail.maxAttempts: unknown key"},
    /* prompts */
    {LINE("\"prompts\":{\"en-US\":{\"ask_identifier\":\"Enter it.\"}}"), NULL},
    {LINE("\"prompts\":{\"en-US\":{\"ask_pin\":\"x\"}}"),
     "serviceLines.retail.prompts.en-US.ask_pin: unknown promptId"},
    {LINE("\"prompts\":{\"en-US\":{\"ask_identifier\":1}}"),
     "serviceLines.retail.prompts.en-US.ask_identifier: must be a string"},
    {LINE("\"prompts\":{\"en-US\":{\"ask_identifier\":\"[[a [[b]] ]]\"}}"),
     "serviceLines.retail.prompts.en-US.ask_identifier:"},
    {LINE("\"prompts\":{\"en-us\":{}}"), "serviceLines.retail.prompts.en-us:"},
    {LINE("\"prompts\":[]"), "serviceLines.retail.prompts: must be an object"},
    {LINE("\"prompts\":null"), "serviceLines.retail.prompts:"},
    /* JSON errors */
    {"", "invalid JSON at line"},
    {"{\"server\":{\"port\":8080,}}", "invalid JSON at line 1"},
    {"{}x", "invalid JSON"},
};

static void file_layer_rows(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof file_rows / sizeof file_rows[0]; i++) {
    const file_row *r = &file_rows[i];
    char err[CONFIG_ERR_MAX];
    bool ok = load_text(r->json, err, sizeof err);
    if (ok != (r->message_has == NULL) ||
        (r->message_has && !strstr(err, r->message_has)))
      fail_msg("row %zu %s: ok=%d err='%s', wanted '%s'", i, r->json, ok, err,
               r->message_has ? r->message_has : "(success)");
    if (ok) {
      assert_true(cfg.service_line_count >= 1);
      config_free(&cfg);
    } else {
      /* A refusal leaves nothing allocated. */
      assert_int_equal(cfg.service_line_count, 0);
    }
  }
}

/* Accepted values land in the right fields. */
static void file_values_applied(void **state) {
  (void)state;
  char err[CONFIG_ERR_MAX];
  static const char json[] =
      "{\"server\":{\"port\":0,\"bindAddress\":\"::1\",\"threads\":8,"
      "\"maxBodyBytes\":2048,\"connectionTimeoutSeconds\":30,"
      "\"maxConnections\":100},"
      "\"apiKeys\":[\"key-one-123\",\"key-two-456\"],"
      "\"redis\":{\"url\":\"redis://:s3cret@redis.local:6380/2\","
      "\"keyPrefix\":\"af:\",\"sessionTtlSeconds\":600,"
      "\"connectTimeoutMs\":50,\"commandTimeoutMs\":100},"
      "\"lockout\":{\"maxFailures\":3,\"windowSeconds\":3600},"
      "\"crm\":{\"baseUrl\":\"https://crm.example.com/v1//\","
      "\"connectTimeoutMs\":500,\"timeoutMs\":2000,\"maxConnections\":8,"
      "\"headers\":[\"X-Env: prod\"]},"
      "\"log\":{\"level\":\"debug\"},"
      "\"serviceLines\":{\"parcels\":{\"aniLookup\":false,\"verification\":"
      "false,\"identifierType\":\"tracking_number\",\"maxIdentifyAttempts\":"
      "5,\"maxVerifyAttempts\":1,\"defaultLanguage\":\"ES\","
      "\"identifierMinDigits\":10,\"identifierMaxDigits\":22,"
      "\"defaultCountryCode\":\"34\"}}}";
  assert_true(load_text(json, err, sizeof err));
  assert_int_equal(cfg.port, 0);
  assert_string_equal(cfg.bind_address, "::1");
  assert_int_equal(cfg.threads, 8);
  assert_int_equal(cfg.max_body_bytes, 2048);
  assert_int_equal(cfg.connection_timeout_seconds, 30);
  assert_int_equal(cfg.max_connections, 100);
  assert_int_equal(cfg.api_key_count, 2);
  assert_string_equal(cfg.api_keys[0], "key-one-123");
  assert_string_equal(cfg.api_keys[1], "key-two-456");
  assert_string_equal(cfg.redis_host, "redis.local");
  assert_int_equal(cfg.redis_port, 6380);
  assert_string_equal(cfg.redis_password, "s3cret");
  assert_int_equal(cfg.redis_db, 2);
  assert_string_equal(cfg.key_prefix, "af:");
  assert_int_equal(cfg.session_ttl_seconds, 600);
  assert_int_equal(cfg.redis_connect_timeout_ms, 50);
  assert_int_equal(cfg.redis_command_timeout_ms, 100);
  assert_int_equal(cfg.lockout_max_failures, 3);
  assert_int_equal(cfg.lockout_window_seconds, 3600);
  assert_string_equal(cfg.crm_base_url, "https://crm.example.com/v1");
  assert_int_equal(cfg.crm_connect_timeout_ms, 500);
  assert_int_equal(cfg.crm_timeout_ms, 2000);
  assert_int_equal(cfg.crm_max_connections, 8);
  assert_int_equal(cfg.crm_header_count, 1);
  assert_string_equal(cfg.crm_headers[0], "X-Env: prod");
  assert_int_equal(cfg.log_level, CONFIG_LOG_DEBUG);
  assert_int_equal(cfg.service_line_count, 1);
  const config_service_line *l = config_find_service_line(&cfg, "parcels");
  assert_non_null(l);
  assert_false(l->policy.ani_lookup);
  assert_false(l->policy.verification);
  assert_int_equal(l->policy.identifier_type, FLOW_ID_TRACKING_NUMBER);
  assert_int_equal(l->policy.max_identify_attempts, 5);
  assert_int_equal(l->policy.max_verify_attempts, 1);
  assert_string_equal(l->default_language, "es-ES");
  assert_int_equal(l->policy.identifier_min_digits, 10);
  assert_int_equal(l->policy.identifier_max_digits, 22);
  assert_string_equal(l->policy.default_country_code, "34");
  config_free(&cfg);
  /* Freed secrets are wiped. */
  assert_int_equal(cfg.api_key_count, 0);
  assert_string_equal(cfg.api_keys[0], "");
  assert_string_equal(cfg.redis_password, "");
}

static void too_many_api_keys(void **state) {
  (void)state;
  static const char *const lists[] = {"apiKeys", "reportKeys"};
  for (size_t l = 0; l < 2; l++) {
    char json[2048], want[64];
    snprintf(json, sizeof json, "{\"%s\":[", lists[l]);
    for (int i = 0; i <= CONFIG_MAX_API_KEYS; i++) {
      char key[32];
      snprintf(key, sizeof key, "%s\"key-%04d\"", i ? "," : "", i);
      strcat(json, key);
    }
    strcat(json, "]}");
    char err[CONFIG_ERR_MAX];
    assert_false(load_text(json, err, sizeof err));
    snprintf(want, sizeof want, "%s: at most 32 keys", lists[l]);
    assert_non_null(strstr(err, want));
  }
}

/* apiKeys and reportKeys fill their own lists. */
static void report_keys_apart(void **state) {
  (void)state;
  char err[CONFIG_ERR_MAX];
  assert_true(load_text("{\"apiKeys\":[\"api-key-1\"],"
                        "\"reportKeys\":[\"report-key-1\",\"report-key-2\"]}",
                        err, sizeof err));
  assert_int_equal(cfg.api_key_count, 1);
  assert_string_equal(cfg.api_keys[0], "api-key-1");
  assert_int_equal(cfg.report_key_count, 2);
  assert_string_equal(cfg.report_keys[0], "report-key-1");
  assert_string_equal(cfg.report_keys[1], "report-key-2");
  config_free(&cfg);
  assert_int_equal(cfg.report_key_count, 0);
  assert_string_equal(cfg.report_keys[1], "");
}

/* Every connector key (crm_config_keys) is accepted by the "crm" section's
 * unknown-key check: a bad value there is refused for its value, never
 * as an unknown key. */
static void crm_connector_keys_known(void **state) {
  (void)state;
  for (size_t i = 0; crm_config_keys[i]; i++) {
    char json[128], err[CONFIG_ERR_MAX], unknown[96];
    snprintf(json, sizeof json, "{\"crm\":{\"%s\":[[]]}}", crm_config_keys[i]);
    snprintf(unknown, sizeof unknown, "crm.%s: unknown key",
             crm_config_keys[i]);
    assert_false(load_text(json, err, sizeof err));
    if (strstr(err, unknown) || !strstr(err, crm_config_keys[i]))
      fail_msg("%s: err='%s'", crm_config_keys[i], err);
  }
}

/* Prompt overrides are copied (the parsed document is gone afterwards). */
static void prompts_kept(void **state) {
  (void)state;
  char err[CONFIG_ERR_MAX];
  assert_true(load_text(
      LINE("\"prompts\":{\"es-ES\":{\"ask_security\":\"[[Hola, {firstName}. "
           "]]Su PIN, por favor.\"},\"en-US\":{\"opted_out\":\"OK.\"}}"),
      err, sizeof err));
  const config_service_line *l = config_find_service_line(&cfg, "retail");
  assert_non_null(l);
  assert_non_null(l->prompts);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(l->prompts, "es-ES"),
                                        "ask_security")),
      "[[Hola, {firstName}. ]]Su PIN, por favor.");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(l->prompts, "en-US"), "opted_out")),
                      "OK.");
  config_free(&cfg);
  assert_int_equal(cfg.service_line_count, 0);
  config_free(&cfg); /* twice is harmless */

  /* A later line failing releases the earlier line's prompts (ASan). */
  assert_false(load_text("{\"serviceLines\":{\"a\":{\"prompts\":{\"en-US\":{"
                         "\"opted_out\":\"OK.\"}}},\"b\":{\"aniLookup\":0}}}",
                         err, sizeof err));
  assert_non_null(strstr(err, "serviceLines.b.aniLookup"));
}

static void free_zeroed(void **state) {
  (void)state;
  static config zero;
  config_free(&zero);
  config_free(&zero);
  assert_int_equal(zero.service_line_count, 0);
}

/* ---------------------------------------------------------------------
 * Files and the environment.
 * ------------------------------------------------------------------- */

static void file_errors_name_path_and_line(void **state) {
  (void)state;
  static const char *const env[] = {NULL};
  fake_env = env;
  char path[64], err[CONFIG_ERR_MAX];
  write_temp("{\n  \"server\": {\n    \"port\": 8080,\n  }\n}\n", path,
             sizeof path);
  assert_false(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, path));
  assert_non_null(strstr(err, "invalid JSON at line 4"));
  unlink(path);

  /* A malformed file must not have its content quoted back: the token
   * near the error could be a key or a password. */
  write_temp("{\"apiKeys\": [s3cretKeyValue]}", path, sizeof path);
  assert_false(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "invalid JSON at line 1"));
  assert_null(strstr(err, "s3cret"));
  unlink(path);
  assert_false(
      config_load_text("{\"x\": s3cretKeyValue}", 21, &cfg, err, sizeof err));
  assert_null(strstr(err, "s3cret"));

  write_temp("{\"server\": {\"prot\": 8080}}", path, sizeof path);
  assert_false(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "server.prot: unknown key"));
  assert_non_null(strstr(err, path));
  unlink(path);

  assert_false(config_load("/nonexistent/authflow.json", fake_getenv, &cfg, err,
                           sizeof err));
  assert_non_null(strstr(err, "/nonexistent/authflow.json: cannot open"));

  assert_false(config_load("/tmp", fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "/tmp: is a directory"));
}

static void env_overrides_file(void **state) {
  (void)state;
  char path[64], err[CONFIG_ERR_MAX];
  write_temp("{\"server\":{\"port\":9000},\"apiKeys\":[\"file-key-1\"],"
             "\"redis\":{\"url\":\"redis://file-host:6379/1\"},"
             "\"crm\":{\"baseUrl\":\"http://file-crm\"},"
             "\"log\":{\"level\":\"error\"}}",
             path, sizeof path);
  /* AUTHFLOW_CONFIG names the file when no path is given. */
  const char *const env[] = {"AUTHFLOW_CONFIG",
                             path,
                             "AUTHFLOW_PORT",
                             "9100",
                             "AUTHFLOW_REDIS_URL",
                             "redis://user:p%40ss@[::1]:6390/4",
                             "AUTHFLOW_CRM_URL",
                             "https://env-crm.example.com/base/",
                             "AUTHFLOW_API_KEYS",
                             " env-key-one ,, env-key-two,",
                             "AUTHFLOW_LOG_LEVEL",
                             "debug",
                             NULL};
  fake_env = env;
  assert_true(config_load(NULL, fake_getenv, &cfg, err, sizeof err));
  assert_int_equal(cfg.port, 9100);
  assert_string_equal(cfg.redis_host, "::1");
  assert_int_equal(cfg.redis_port, 6390);
  assert_string_equal(cfg.redis_password, "p@ss");
  assert_int_equal(cfg.redis_db, 4);
  assert_string_equal(cfg.crm_base_url, "https://env-crm.example.com/base");
  assert_int_equal(cfg.log_level, CONFIG_LOG_DEBUG);
  /* The environment's keys replace the file's. */
  assert_int_equal(cfg.api_key_count, 2);
  assert_string_equal(cfg.api_keys[0], "env-key-one");
  assert_string_equal(cfg.api_keys[1], "env-key-two");
  config_free(&cfg);

  /* Empty variables count as unset: the file's values stay. */
  const char *const empty[] = {"AUTHFLOW_PORT",
                               "",
                               "AUTHFLOW_API_KEYS",
                               "",
                               "AUTHFLOW_REDIS_URL",
                               "",
                               NULL};
  fake_env = empty;
  assert_true(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_int_equal(cfg.port, 9000);
  assert_int_equal(cfg.api_key_count, 1);
  assert_string_equal(cfg.api_keys[0], "file-key-1");
  assert_string_equal(cfg.redis_host, "file-host");
  assert_int_equal(cfg.redis_db, 1);
  assert_string_equal(cfg.crm_base_url, "http://file-crm");
  assert_int_equal(cfg.log_level, CONFIG_LOG_ERROR);
  config_free(&cfg);

  /* An explicit path wins over AUTHFLOW_CONFIG. */
  const char *const other[] = {"AUTHFLOW_CONFIG", "/nonexistent.json", NULL};
  fake_env = other;
  assert_true(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_int_equal(cfg.port, 9000);
  config_free(&cfg);
  assert_false(config_load(NULL, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent.json"));
  unlink(path);
}

typedef struct {
  const char *name, *value;
  const char *message_has; /* NULL: must load */
} env_row;

static const env_row env_rows[] = {
    {"AUTHFLOW_PORT", "0", NULL},
    {"AUTHFLOW_PORT", "65535", NULL},
    {"AUTHFLOW_PORT", "65536", "AUTHFLOW_PORT: must be an integer 0..65535"},
    {"AUTHFLOW_PORT", "-1", "AUTHFLOW_PORT:"},
    {"AUTHFLOW_PORT", "80a", "AUTHFLOW_PORT:"},
    {"AUTHFLOW_PORT", " 80", "AUTHFLOW_PORT:"},
    {"AUTHFLOW_PORT", "+80", "AUTHFLOW_PORT:"},
    {"AUTHFLOW_PORT", "0000080", "AUTHFLOW_PORT:"},
    {"AUTHFLOW_REDIS_URL", "redis://h", NULL},
    {"AUTHFLOW_REDIS_URL", "localhost:6379", "AUTHFLOW_REDIS_URL: must start"},
    {"AUTHFLOW_REDIS_URL", "redis://h/16", NULL},
    {"AUTHFLOW_REDIS_URL", "redis://h/256", "AUTHFLOW_REDIS_URL: database"},
    {"AUTHFLOW_CRM_URL", "http://crm:8081", NULL},
    {"AUTHFLOW_CRM_URL", "crm:8081", "AUTHFLOW_CRM_URL: must be an http://"},
    {"AUTHFLOW_LOG_LEVEL", "error", NULL},
    {"AUTHFLOW_LOG_LEVEL", "trace", "AUTHFLOW_LOG_LEVEL: must be debug"},
    {"AUTHFLOW_API_KEYS", "abcdefgh", NULL},
    {"AUTHFLOW_API_KEYS", "abcdefgh,short",
     "AUTHFLOW_API_KEYS: must be 8..256 printable"},
    {"AUTHFLOW_API_KEYS", "abcd efgh", "AUTHFLOW_API_KEYS: must be 8..256"},
    {"AUTHFLOW_API_KEYS", " , ,", "AUTHFLOW_API_KEYS: holds no key"},
};

static void env_layer_rows(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof env_rows / sizeof env_rows[0]; i++) {
    const env_row *r = &env_rows[i];
    const char *const env[] = {r->name, r->value, NULL};
    fake_env = env;
    char err[CONFIG_ERR_MAX] = "";
    bool ok = config_load(NULL, fake_getenv, &cfg, err, sizeof err);
    if (ok != (r->message_has == NULL) ||
        (r->message_has && !strstr(err, r->message_has)))
      fail_msg("row %zu %s=%s: ok=%d err='%s', wanted '%s'", i, r->name,
               r->value, ok, err,
               r->message_has ? r->message_has : "(success)");
    /* An API key is a secret: the message never repeats it. */
    if (!ok && strcmp(r->name, "AUTHFLOW_API_KEYS") == 0)
      assert_null(strstr(err, "abcdefgh"));
    config_free(&cfg);
  }
}

static void env_api_key_limit(void **state) {
  (void)state;
  char keys[1024] = "";
  for (int i = 0; i <= CONFIG_MAX_API_KEYS; i++) {
    char key[32];
    snprintf(key, sizeof key, "%skey-%04d", i ? "," : "", i);
    strcat(keys, key);
  }
  const char *const env[] = {"AUTHFLOW_API_KEYS", keys, NULL};
  fake_env = env;
  char err[CONFIG_ERR_MAX];
  assert_false(config_load(NULL, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "AUTHFLOW_API_KEYS: at most 32 keys"));
}

/* ---------------------------------------------------------------------
 * Redis URLs.
 * ------------------------------------------------------------------- */

typedef struct {
  const char *url;
  bool ok;
  const char *host;
  int port;
  const char *password;
  int db;
  const char *message_has;
} redis_row;

static const redis_row redis_rows[] = {
    {"redis://127.0.0.1:6379/0", true, "127.0.0.1", 6379, "", 0, NULL},
    {"redis://localhost", true, "localhost", 6379, "", 0, NULL},
    {"redis://localhost/", true, "localhost", 6379, "", 0, NULL},
    {"redis://redis.svc.cluster.local:7000", true, "redis.svc.cluster.local",
     7000, "", 0, NULL},
    {"redis://h/15", true, "h", 6379, "", 15, NULL},
    {"redis://h:1/255", true, "h", 1, "", 255, NULL},
    {"redis://:secret@h:6380/2", true, "h", 6380, "secret", 2, NULL},
    {"redis://default:secret@h", true, "h", 6379, "secret", 0, NULL},
    {"redis://secret@h", true, "h", 6379, "secret", 0, NULL},
    {"redis://:pa:ss@h", true, "h", 6379, "pa:ss", 0, NULL},
    {"redis://:p%40ss%2Fw%3a@h", true, "h", 6379, "p@ss/w:", 0, NULL},
    {"redis://:a@b@h", true, "h", 6379, "a@b", 0, NULL},
    {"redis://:@h", true, "h", 6379, "", 0, NULL},
    {"redis://[::1]", true, "::1", 6379, "", 0, NULL},
    {"redis://[::1]:6390/3", true, "::1", 6390, "", 3, NULL},
    {"redis://:pw@[fe80::1]:7/1", true, "fe80::1", 7, "pw", 1, NULL},
    /* refused */
    {"", false, NULL, 0, NULL, 0, "must start with redis://"},
    {"rediss://h", false, NULL, 0, NULL, 0, "must start with redis://"},
    {"http://h", false, NULL, 0, NULL, 0, "must start with redis://"},
    {"redis://", false, NULL, 0, NULL, 0, "missing or too long host"},
    {"redis://:6379", false, NULL, 0, NULL, 0, "missing or too long host"},
    {"redis://:pw@", false, NULL, 0, NULL, 0, "missing or too long host"},
    {"redis://h:", false, NULL, 0, NULL, 0, "port must be 1..65535"},
    {"redis://h:0", false, NULL, 0, NULL, 0, "port must be 1..65535"},
    {"redis://h:65536", false, NULL, 0, NULL, 0, "port must be 1..65535"},
    {"redis://h:-1", false, NULL, 0, NULL, 0, "port must be"},
    {"redis://h:+80", false, NULL, 0, NULL, 0, "port must be"},
    {"redis://h:80x", false, NULL, 0, NULL, 0, "port must be"},
    {"redis://h/256", false, NULL, 0, NULL, 0, "database must be 0..255"},
    {"redis://h/-1", false, NULL, 0, NULL, 0, "database must be"},
    {"redis://h/db", false, NULL, 0, NULL, 0, "database must be"},
    {"redis://h/1/2", false, NULL, 0, NULL, 0, "database must be"},
    {"redis://h/0?timeout=1", false, NULL, 0, NULL, 0, "database must be"},
    {"redis://h?x=1", false, NULL, 0, NULL, 0, "bad character in the host"},
    {"redis://h st", false, NULL, 0, NULL, 0, "bad character in the host"},
    {"redis://[::1", false, NULL, 0, NULL, 0, "missing ']'"},
    {"redis://[::1]x", false, NULL, 0, NULL, 0, "unexpected text"},
    {"redis://[zz::1]", false, NULL, 0, NULL, 0, "bad IPv6 address"},
    {"redis://[]", false, NULL, 0, NULL, 0, "missing or too long host"},
    {"redis://:p%4@h", false, NULL, 0, NULL, 0, "badly %-encoded"},
    {"redis://:p%zz@h", false, NULL, 0, NULL, 0, "badly %-encoded"},
    {"redis://:p%00@h", false, NULL, 0, NULL, 0, "badly %-encoded"},
    {"redis://:1234567@h", true, "h", 6379, "1234567", 0, NULL},
    {"redis://:p+q%2b@h", true, "h", 6379, "p+q+", 0, NULL},
    {"redis://:%41%61@h", true, "h", 6379, "Aa", 0, NULL},
    {"redis://:p%@h", false, NULL, 0, NULL, 0, "badly %-encoded"},
    {"redis://:p%2@h", false, NULL, 0, NULL, 0, "badly %-encoded"},
    {"redis://:p%g0@h", false, NULL, 0, NULL, 0, "badly %-encoded"},
    {"redis://:%00p@h", false, NULL, 0, NULL, 0, "badly %-encoded"},
    {"redis://:12345678@h", false, NULL, 0, NULL, 0, "password too long"},
    {"redis://:0123456789@h", false, NULL, 0, NULL, 0, "password too long"},
};

static void redis_url_rows(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof redis_rows / sizeof redis_rows[0]; i++) {
    const redis_row *r = &redis_rows[i];
    char host[64] = "", password[8] = "", err[128] = "";
    int port = -1, db = -1;
    /* password[8] keeps the last row's 10-character password too long. */
    bool ok = config_parse_redis_url(r->url, host, sizeof host, &port, password,
                                     sizeof password, &db, err, sizeof err);
    if (ok != r->ok)
      fail_msg("row %zu %s: ok=%d err='%s'", i, r->url, ok, err);
    if (ok) {
      if (strcmp(host, r->host) != 0 || port != r->port ||
          strcmp(password, r->password) != 0 || db != r->db)
        fail_msg("row %zu %s: got host=%s port=%d password=%s db=%d", i, r->url,
                 host, port, password, db);
    } else if (!strstr(err, r->message_has)) {
      fail_msg("row %zu %s: err='%s', wanted '%s'", i, r->url, err,
               r->message_has);
    }
  }
}

/* ---------------------------------------------------------------------
 * The shipped example.
 * ------------------------------------------------------------------- */

/* The source tree: AUTHFLOW_SOURCE_DIR, else derived from __FILE__
 * (".../tests/unit/test_config.c"), else the working directory. */
static void source_path(const char *rel, char *out, size_t out_len) {
  const char *dir = getenv("AUTHFLOW_SOURCE_DIR");
  if (dir && *dir) {
    snprintf(out, out_len, "%s/%s", dir, rel);
    return;
  }
  static const char suffix[] = "tests/unit/test_config.c";
  const char *file = __FILE__;
  size_t n = strlen(file), s = sizeof suffix - 1;
  if (n >= s && strcmp(file + n - s, suffix) == 0 && n > s)
    snprintf(out, out_len, "%.*s%s", (int)(n - s), file, rel);
  else
    snprintf(out, out_len, "%s", rel);
}

/* --check-config's warning: the step's worst case against the Genesys
 * data action timeout, Sentinel's failover wait included. */
static void timeout_warning(void **state) {
  (void)state;
  char err[512], w[512];
  assert_true(load_text("{}", err, sizeof err));
  /* 4000 + 2 x (200 + 500) = 5400 < 8000 */
  assert_int_equal(config_step_worst_case_ms(&cfg), 5400);
  assert_false(config_timeout_warning(&cfg, w, sizeof w));
  config_free(&cfg);
  assert_true(load_text("{\"crm\":{\"timeoutMs\":7000,\"budgetMs\":7000}}", err,
                        sizeof err));
  assert_true(config_timeout_warning(&cfg, w, sizeof w));
  assert_non_null(strstr(w, "crm.budgetMs 7000"));
  assert_non_null(strstr(w, "genesys.dataActionTimeoutSeconds"));
  config_free(&cfg);
  assert_true(load_text("{\"crm\":{\"timeoutMs\":7000,\"budgetMs\":7000},"
                        "\"genesys\":{\"dataActionTimeoutSeconds\":9}}",
                        err, sizeof err));
  assert_false(config_timeout_warning(&cfg, w, sizeof w));
  config_free(&cfg);
  assert_true(load_text("{\"redis\":{\"sentinels\":[\"10.0.0.1:26379\"],"
                        "\"masterName\":\"m\"}}",
                        err, sizeof err));
  assert_int_equal(config_step_worst_case_ms(&cfg), 5400 + 5000);
  assert_true(config_timeout_warning(&cfg, w, sizeof w));
  assert_non_null(strstr(w, "redis.failoverWaitMs 5000"));
  config_free(&cfg);
  assert_false(load_text("{\"genesys\":{\"dataActionTimeoutSeconds\":61}}", err,
                         sizeof err));
  assert_non_null(strstr(err, "genesys.dataActionTimeoutSeconds"));
  assert_false(load_text("{\"serviceLines\":{\"a\":{\"askWhenCrmDown\":1}}}",
                         err, sizeof err));
  assert_non_null(strstr(err, "askWhenCrmDown"));
  assert_true(load_text("{\"serviceLines\":{\"a\":{\"askWhenCrmDown\":true}},"
                        "\"reporting\":{\"exportMaxRows\":100}}",
                        err, sizeof err));
  assert_true(cfg.service_lines[0].policy.ask_when_crm_down);
  assert_int_equal(cfg.report_export_max_rows, 100);
  assert_string_equal(cfg.report_time_zone, "UTC"); /* the default */
  config_free(&cfg);
  assert_true(load_text("{\"reporting\":{\"timeZone\":\"Asia/Seoul\","
                        "\"redisUrl\":\"redis://:pw@10.0.0.2:6380/2\"}}",
                        err, sizeof err));
  assert_string_equal(cfg.report_time_zone, "Asia/Seoul");
  assert_string_equal(cfg.report_redis_host, "10.0.0.2");
  assert_int_equal(cfg.report_redis_port, 6380);
  assert_int_equal(cfg.report_redis_db, 2);
  assert_string_equal(cfg.report_redis_password, "pw");
  config_free(&cfg);
  assert_string_equal(cfg.report_redis_password, ""); /* wiped */
}

static void example_file_loads(void **state) {
  (void)state;
  static const char *const env[] = {NULL};
  fake_env = env;
  char path[4096], err[CONFIG_ERR_MAX] = "";
  source_path("deploy/config/authflow.example.json", path, sizeof path);
  if (!config_load(path, fake_getenv, &cfg, err, sizeof err))
    fail_msg("%s", err);
  assert_int_equal(cfg.service_line_count, 3);

  const config_service_line *retail =
      config_find_service_line(&cfg, "retail_banking");
  assert_non_null(retail);
  assert_true(retail->policy.ani_lookup);
  assert_true(retail->policy.verification);
  assert_int_equal(retail->policy.identifier_type, FLOW_ID_ACCOUNT_NUMBER);
  assert_non_null(json_object_get(retail->prompts, "es-ES"));
  assert_non_null(json_object_get(retail->prompts, "ko-KR"));

  const config_service_line *parcel =
      config_find_service_line(&cfg, "parcel_tracking");
  assert_non_null(parcel);
  assert_false(parcel->policy.ani_lookup);
  assert_false(parcel->policy.verification);
  assert_int_equal(parcel->policy.identifier_type, FLOW_ID_TRACKING_NUMBER);

  const config_service_line *card =
      config_find_service_line(&cfg, "card_services");
  assert_non_null(card);
  assert_true(card->policy.verification);
  assert_int_equal(card->policy.identifier_type, FLOW_ID_CUSTOMER_ID);
  assert_int_equal(card->policy.max_verify_attempts, 2);
  /* The example ships no secrets: keys come from AUTHFLOW_API_KEYS. */
  assert_int_equal(cfg.api_key_count, 0);
  assert_string_equal(cfg.redis_password, "");
  config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(defaults_without_file),
      cmocka_unit_test(service_lines_replace_default),
      cmocka_unit_test(file_layer_rows),
      cmocka_unit_test(file_values_applied),
      cmocka_unit_test(too_many_api_keys),
      cmocka_unit_test(report_keys_apart),
      cmocka_unit_test(crm_connector_keys_known),
      cmocka_unit_test(prompts_kept),
      cmocka_unit_test(free_zeroed),
      cmocka_unit_test(file_errors_name_path_and_line),
      cmocka_unit_test(env_overrides_file),
      cmocka_unit_test(env_layer_rows),
      cmocka_unit_test(env_api_key_limit),
      cmocka_unit_test(redis_url_rows),
      cmocka_unit_test(timeout_warning),
      cmocka_unit_test(example_file_loads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
