/*
 * crm_config: the connector keys of the "crm" section, as a table of
 * (section JSON, expected error) rows; every refusal names its key and
 * never quotes a secret, and a refused profile is wiped. Then the shipped
 * connector examples load (with their secrets from a fake environment) and
 * build the requests they document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "crm.h"
#include "crm_config.h"

#define SECRET "s3cr3t-value"

/* The resolver crm_config_load is given: two env names, nothing else. */
static bool fake_secret(void *user, const char *kind, const char *name,
                        char *out, size_t out_len) {
  (void)user;
  if (strcmp(kind, "env") != 0)
    return false;
  const char *v = strcmp(name, "SECRET") == 0 ? SECRET
                  : strcmp(name, "ID") == 0   ? "client-id"
                                              : NULL;
  if (!v || strlen(v) >= out_len)
    return false;
  snprintf(out, out_len, "%s", v);
  return true;
}

static crm_profile profile; /* large: keep it off the stack */

/* Load `text` (the "crm" section) over the defaults. */
static bool load(const char *text, char *err, size_t err_len) {
  json_error_t jerr;
  json_t *crm = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  if (!crm)
    fail_msg("bad test JSON %s: %s", text, jerr.text);
  crm_profile_default(&profile);
  err[0] = '\0';
  bool ok = crm_config_load(crm, &profile, fake_secret, NULL, err, err_len);
  json_decref(crm);
  return ok;
}

typedef struct {
  const char *json;
  const char *error; /* NULL: accepted; else the start of the message */
} row;

#define OAUTH2                                                                 \
  "\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"https://login.example.com/"    \
  "token\",\"clientId\":\"${env:ID}\",\"clientSecret\":\"${env:SECRET}\"}"

static const row rows[] = {
    /* accepted */
    {"{}", NULL},
    {"{" OAUTH2 "}", NULL},
    {"{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"{baseUrl}/oauth/token\","
     "\"clientId\":\"a\",\"clientSecret\":\"${env:SECRET}\",\"scope\":\"api\","
     "\"refreshMarginMs\":0}}",
     NULL},
    {"{\"auth\":{\"type\":\"bearer\",\"token\":\"${env:SECRET}\"}}", NULL},
    {"{\"auth\":{\"type\":\"basic\",\"username\":\"u\",\"password\":\"p\"}}",
     NULL},
    {"{\"budgetMs\":3000}", NULL},
    {"{\"timeoutMs\":5000}", NULL},
    {"{\"timeoutMs\":1000,\"budgetMs\":1000}", NULL},
    {"{\"tls\":{\"verify\":false}}", NULL},
    {"{\"tls\":{\"caFile\":\"/ca.pem\",\"clientCert\":\"/c.pem\"}}", NULL},
    {"{\"tls\":{\"clientCert\":\"/c.pem\",\"clientKey\":\"/k.pem\"}}", NULL},
    {"{\"proxy\":\"http://proxy.internal:3128\"}", NULL},
    {"{\"operations\":{\"lookupPhone\":{\"url\":\"{baseUrl}/q?q=P='{value|"
     "soql}'\",\"headers\":[\"X-Key: ${env:SECRET}\"],\"response\":{\"list\":"
     "\"/records\",\"id\":\"/Id\",\"givenName\":\"/F\",\"familyName\":\"/L\"},"
     "\"status\":{\"ok\":[200],\"noMatch\":[404]}}}}",
     NULL},
    {"{\"operations\":{\"verify\":{\"method\":\"PUT\",\"url\":\"https://v."
     "example.com/{customerId}\",\"body\":\"{\\\"a\\\":\\\"{answer}\\\"}\","
     "\"status\":{\"ok\":[200,201],\"wrongAnswer\":[403]}}}}",
     NULL},

    /* auth */
    {"{\"auth\":{\"type\":\"digest\"}}",
     "crm.auth.type: must be none, bearer, basic or oauth2"},
    {"{\"auth\":{\"type\":\"headers\"}}", "crm.auth.type:"},
    {"{\"auth\":{\"type\":1}}", "crm.auth.type: must be a string"},
    {"{\"auth\":{\"type\":\"oauth2\",\"clientId\":\"a\",\"clientSecret\":"
     "\"b\"}}",
     "crm.auth.tokenUrl: required for oauth2"},
    {"{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"ftp://x/t\",\"clientId\":"
     "\"a\",\"clientSecret\":\"b\"}}",
     "crm.auth.tokenUrl:"},
    {"{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"{baseUrl}/t?{value}\","
     "\"clientId\":\"a\",\"clientSecret\":\"b\"}}",
     "crm.auth.tokenUrl:"},
    {"{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"https://x/t\","
     "\"clientSecret\":\"b\"}}",
     "crm.auth.clientId: required for oauth2"},
    {"{\"auth\":{\"type\":\"oauth2\",\"tokenUrl\":\"https://x/t\","
     "\"clientId\":\"a\"}}",
     "crm.auth.clientSecret: required for oauth2"},
    {"{\"auth\":{\"type\":\"bearer\"}}", "crm.auth.token: required"},
    {"{\"auth\":{\"type\":\"basic\",\"username\":\"a:b\"}}",
     "crm.auth.username:"},
    {"{\"auth\":{\"type\":\"none\",\"bogus\":1}}",
     "crm.auth.bogus: unknown key"},
    {"{\"auth\":{\"type\":\"bearer\",\"token\":\"${env:MISSING}\"}}",
     "crm.auth.token: secret ${env:MISSING} is not available"},
    {"{\"auth\":{\"type\":\"bearer\",\"token\":\"${env:SECRET\"}}",
     "crm.auth.token: a ${env:...} reference is not closed"},
    {"{\"auth\":{\"refreshMarginMs\":-1}}",
     "crm.auth.refreshMarginMs: must be an integer 0..600000"},
    {"{" OAUTH2 ",\"operations\":{\"verify\":{\"status\":{\"ok\":[200],"
     "\"wrongAnswer\":[401]}}}}",
     "crm.operations.verify.status.wrongAnswer: 401 cannot mean"},
    {"{\"auth\":{\"type\":\"bearer\",\"token\":\"t\"},\"operations\":{"
     "\"lookupPhone\":{\"headers\":[\"authorization: Bearer x\"]}}}",
     "crm.operations.lookupPhone.headers[0]: Authorization is set by "
     "crm.auth"},
    {"{\"auth\":{\"type\":\"bearer\",\"token\":\"t\"},\"headers\":[\"A: 1\","
     "\"Authorization: Basic x\"]}",
     "crm.headers[1]: Authorization is set by crm.auth"},

    {"{\"headers\":[\"X-Api-Key: ${env:SECRET}\"]}",
     "crm.headers[0]: ${env:}/${file:} are not resolved here"},

    /* operations */
    {"{\"operations\":{\"lookupFax\":{}}}",
     "crm.operations.lookupFax: unknown key"},
    {"{\"operations\":[]}", "crm.operations: must be an object"},
    {"{\"operations\":{\"lookupPhone\":{\"urll\":\"x\"}}}",
     "crm.operations.lookupPhone.urll: unknown key"},
    {"{\"operations\":{\"lookupPhone\":{\"method\":\"DELETE\"}}}",
     "crm.operations.lookupPhone.method: must be GET, POST, PUT or PATCH"},
    {"{\"operations\":{\"lookupPhone\":{\"body\":\"{value}\"}}}",
     "crm.operations.lookupPhone.body: a GET sends no body"},
    {"{\"operations\":{\"lookupPhone\":{\"url\":\"ftp://x/{value}\"}}}",
     "crm.operations.lookupPhone.url: must start with {baseUrl}"},
    {"{\"operations\":{\"lookupPhone\":{\"url\":\"{baseUrl}/a b\"}}}",
     "crm.operations.lookupPhone.url: must start with"},
    {"{\"operations\":{\"lookupPhone\":{\"url\":\"{baseUrl}/c?x={answer}\"}}"
     "}",
     "crm.operations.lookupPhone.url: unknown placeholder {answer}"},
    /* The answer goes in the verify body only, never a URL or header. */
    {"{\"operations\":{\"verify\":{\"url\":"
     "\"{baseUrl}/v/{customerId}?pin={answer}\"}}}",
     "crm.operations.verify.url: {answer} may only be used in the body"},
    {"{\"operations\":{\"verify\":{\"url\":"
     "\"{baseUrl}/v/{answer|path}\"}}}",
     "crm.operations.verify.url: {answer} may only be used in the body"},
    {"{\"operations\":{\"verify\":{\"headers\":[\"X-Pin: {answer}\"]}}}",
     "crm.operations.verify.headers[0]: {answer} may only be used in the "
     "body"},
    {"{\"operations\":{\"verify\":{\"body\":\"{\\\"v\\\":\\\"{value}\\\"}\"}}"
     "}",
     "crm.operations.verify.body: unknown placeholder {value}"},
    {"{\"operations\":{\"lookupPhone\":{\"url\":\"{baseUrl}/q?q=P='{value}'"
     "\"}}}",
     "crm.operations.lookupPhone.url: {value} is inside a '...' literal"},
    {"{\"operations\":{\"lookupPhone\":{\"url\":\"{baseUrl}/{value|upper}\"}"
     "}}",
     "crm.operations.lookupPhone.url: unknown filter"},
    {"{\"operations\":{\"lookupPhone\":{\"headers\":[\"X-A\"]}}}",
     "crm.operations.lookupPhone.headers[0]: must be \"Name: value\""},
    {"{\"operations\":{\"lookupPhone\":{\"headers\":[\"A: 1\",2]}}}",
     "crm.operations.lookupPhone.headers[1]: must be a string"},
    {"{\"operations\":{\"lookupPhone\":{\"headers\":[\"X: {answer}\"]}}}",
     "crm.operations.lookupPhone.headers[0]: unknown placeholder {answer}"},
    {"{\"operations\":{\"lookupPhone\":{\"headers\":\"X: 1\"}}}",
     "crm.operations.lookupPhone.headers: must be an array"},
    /* response pointers */
    {"{\"operations\":{\"lookupPhone\":{\"response\":{\"id\":\"Id\"}}}}",
     "crm.operations.lookupPhone.response.id: must be a JSON Pointer"},
    {"{\"operations\":{\"lookupPhone\":{\"response\":{\"list\":\"/a~2\"}}}}",
     "crm.operations.lookupPhone.response.list: must be a JSON Pointer"},
    {"{\"operations\":{\"verify\":{\"response\":{\"verified\":true}}}}",
     "crm.operations.verify.response.verified: must be a JSON Pointer"},
    {"{\"operations\":{\"verify\":{\"response\":{\"ok\":\"/ok\"}}}}",
     "crm.operations.verify.response.ok: unknown key"},
    /* status lists */
    {"{\"operations\":{\"lookupPhone\":{\"status\":{\"ok\":\"200\"}}}}",
     "crm.operations.lookupPhone.status.ok: must be an array"},
    {"{\"operations\":{\"lookupPhone\":{\"status\":{\"ok\":[200,99]}}}}",
     "crm.operations.lookupPhone.status.ok[1]: must be an HTTP status"},
    {"{\"operations\":{\"lookupPhone\":{\"status\":{\"ok\":[200.0]}}}}",
     "crm.operations.lookupPhone.status.ok[0]: must be an HTTP status"},
    {"{\"operations\":{\"lookupPhone\":{\"status\":{\"ok\":[200,201,202,203,"
     "204,205,206,207,208]}}}}",
     "crm.operations.lookupPhone.status.ok: must be an array of at most 8"},
    {"{\"operations\":{\"lookupPhone\":{\"status\":{\"ok\":[]}}}}",
     "crm.operations.lookupPhone.status.ok: must hold at least one status"},
    {"{\"operations\":{\"lookupPhone\":{\"status\":{\"ok\":[200,404],"
     "\"noMatch\":[404]}}}}",
     "crm.operations.lookupPhone.status: 404 is in both ok and noMatch"},
    {"{\"operations\":{\"verify\":{\"status\":{\"ok\":[200],"
     "\"wrongAnswer\":[200]}}}}",
     "crm.operations.verify.status: 200 is in both ok and wrongAnswer"},
    {"{\"operations\":{\"lookupPhone\":{\"status\":{\"wrongAnswer\":[403]}}}}",
     "crm.operations.lookupPhone.status: wrongAnswer applies to verify only"},
    {"{\"operations\":{\"verify\":{\"status\":{\"noMatch\":[404]}}}}",
     "crm.operations.verify.status: noMatch applies to lookups only"},
    {"{\"operations\":{\"verify\":{\"status\":{\"bad\":[404]}}}}",
     "crm.operations.verify.status.bad: unknown key"},

    /* transport and resilience */
    {"{\"budgetMs\":2999}",
     "crm.budgetMs: must be at least crm.timeoutMs (3000)"},
    {"{\"timeoutMs\":5000,\"budgetMs\":4000}",
     "crm.budgetMs: must be at least crm.timeoutMs (5000)"},
    {"{\"budgetMs\":100}", "crm.budgetMs: must be an integer 200..60000"},
    {"{\"budgetMs\":\"4000\"}", "crm.budgetMs: must be an integer"},
    {"{\"lookupRetries\":3}", "crm.lookupRetries: must be an integer 0..2"},
    {"{\"breaker\":{\"failures\":-1}}",
     "crm.breaker.failures: must be an integer 0..1000"},
    {"{\"breaker\":{\"openMs\":1}}",
     "crm.breaker.openMs: must be an integer 100..600000"},
    {"{\"breaker\":{\"x\":1}}", "crm.breaker.x: unknown key"},
    {"{\"tls\":{\"verify\":\"yes\"}}", "crm.tls.verify: must be true or false"},
    {"{\"tls\":{\"clientKey\":\"/k.pem\"}}",
     "crm.tls.clientKey: needs crm.tls.clientCert"},
    {"{\"tls\":{\"caFile\":1}}", "crm.tls.caFile: must be a string"},
    {"{\"tls\":{\"ca\":\"/ca.pem\"}}", "crm.tls.ca: unknown key"},
    {"{\"proxy\":\"socks5://127.0.0.1:1080\"}",
     "crm.proxy: must be an http:// or https:// URL"},
    {"{\"proxy\":\"http://a b:3128\"}", "crm.proxy:"},
};

static void test_rows(void **state) {
  (void)state;
  char err[512];
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    const row *r = &rows[i];
    bool ok = load(r->json, err, sizeof err);
    if (!r->error && !ok)
      fail_msg("row %zu %s: refused: %s", i, r->json, err);
    if (r->error && ok)
      fail_msg("row %zu %s: accepted, expected \"%s\"", i, r->json, r->error);
    if (r->error && strncmp(err, r->error, strlen(r->error)) != 0)
      fail_msg("row %zu %s:\n  got      \"%s\"\n  expected \"%s...\"", i,
               r->json, err, r->error);
    if (strstr(err, SECRET))
      fail_msg("row %zu: the error quotes a secret: %s", i, err);
    if (!ok) {
      /* A refused profile holds nothing: no secret survives it. */
      assert_int_equal(profile.secret_count, 0);
      assert_string_equal(profile.auth.token, "");
      assert_string_equal(profile.auth.client_secret, "");
    }
  }
}

/* What accepted rows put into the profile. */
static void test_accepted_values(void **state) {
  (void)state;
  char err[512];
  assert_true(load("{" OAUTH2 "}", err, sizeof err));
  assert_int_equal(profile.auth.kind, CRM_AUTH_OAUTH2);
  assert_string_equal(profile.auth.client_id, "client-id");
  assert_string_equal(profile.auth.client_secret, SECRET);
  assert_int_equal(profile.auth.refresh_margin_ms, 30000);
  /* Every resolved secret is remembered for masking. */
  bool masked = false;
  for (size_t i = 0; i < profile.secret_count; i++)
    masked = masked || strcmp(profile.secrets[i], SECRET) == 0;
  assert_true(masked);

  /* The default budget never cuts a longer timeoutMs short. */
  assert_true(load("{\"timeoutMs\":5000}", err, sizeof err));
  assert_int_equal(profile.budget_ms, 5000);
  assert_true(load("{}", err, sizeof err));
  assert_int_equal(profile.budget_ms, 4000);
  assert_true(profile.tls_verify);
  assert_int_equal(profile.lookup_retries, 1);
  assert_int_equal(profile.breaker_failures, 5);

  /* givenName/familyName replace the default name pointer. */
  assert_true(load("{\"operations\":{\"lookupPhone\":{\"response\":{"
                   "\"givenName\":\"/F\"}}}}",
                   err, sizeof err));
  assert_string_equal(profile.ops[CRM_OP_LOOKUP_PHONE].map.name, "");
  assert_string_equal(profile.ops[CRM_OP_LOOKUP_PHONE].map.given_name, "/F");
  /* Operations not configured keep the reference API. */
  assert_string_equal(profile.ops[CRM_OP_LOOKUP_CUSTOMER_ID].url,
                      "{baseUrl}/customers?customerId={value}");
}

/* crm_config checks budgetMs against config.c's default timeoutMs when the
 * section sets none: the two must agree. */
static void test_default_timeout_agrees(void **state) {
  (void)state;
  static config cfg;
  char err[CONFIG_ERR_MAX];
  assert_true(config_load_text("{}", 2, &cfg, err, sizeof err));
  assert_int_equal(cfg.crm_timeout_ms, CRM_CONFIG_DEFAULT_TIMEOUT_MS);
  config_free(&cfg);
}

/* ---- the shipped examples ---- */

static const char *const *fake_env;

static char *fake_getenv(const char *name) {
  for (size_t i = 0; fake_env && fake_env[i]; i += 2)
    if (strcmp(fake_env[i], name) == 0)
      return (char *)fake_env[i + 1];
  return NULL;
}

/* The source tree: AUTHFLOW_SOURCE_DIR, else derived from __FILE__. */
static void source_path(const char *rel, char *out, size_t out_len) {
  const char *dir = getenv("AUTHFLOW_SOURCE_DIR");
  if (dir && *dir) {
    snprintf(out, out_len, "%s/%s", dir, rel);
    return;
  }
  static const char suffix[] = "tests/unit/test_crm_config.c";
  const char *file = __FILE__;
  size_t n = strlen(file), s = sizeof suffix - 1;
  if (n > s && strcmp(file + n - s, suffix) == 0)
    snprintf(out, out_len, "%.*s%s", (int)(n - s), file, rel);
  else
    snprintf(out, out_len, "%s", rel);
}

static config cfg;

static void test_salesforce_example(void **state) {
  (void)state;
  char path[4096], err[CONFIG_ERR_MAX];
  source_path("deploy/config/crm-salesforce.example.json", path, sizeof path);
  /* Without its secrets in the environment it names the missing one. */
  static const char *const none[] = {NULL};
  fake_env = none;
  assert_false(config_load(path, fake_getenv, &cfg, err, sizeof err));
  assert_non_null(strstr(err, "crm.auth.clientId: secret ${env:SF_CLIENT_ID} "
                              "is not available"));

  static const char *const env[] = {"SF_CLIENT_ID", "3MVG9-id",
                                    "SF_CLIENT_SECRET", SECRET, NULL};
  fake_env = env;
  if (!config_load(path, fake_getenv, &cfg, err, sizeof err))
    fail_msg("%s", err);
  const crm_profile *p = &cfg.crm;
  assert_int_equal(p->auth.kind, CRM_AUTH_OAUTH2);
  assert_string_equal(p->auth.token_url, "{baseUrl}/services/oauth2/token");
  assert_string_equal(p->auth.client_secret, SECRET);
  assert_int_equal(p->budget_ms, 4000);
  const crm_mapping *m = &p->ops[CRM_OP_LOOKUP_PHONE].map;
  assert_string_equal(m->list, "/records");
  assert_string_equal(m->id, "/Id");
  assert_string_equal(m->name, "");
  assert_string_equal(m->given_name, "/FirstName");
  assert_string_equal(m->family_name, "/LastName");

  /* The lookup it builds: the value query-escaped and SOQL-quoted, so a '
   * in it stays inside the literal. */
  flow_crm_request req = {.kind = FLOW_CRM_LOOKUP,
                          .lookup_type = FLOW_ID_PHONE};
  snprintf(req.lookup_value, sizeof req.lookup_value, "+13175550116");
  crm_http_request http;
  assert_true(
      crm_build(p, "https://acme.my.salesforce.com", &req, NULL, &http));
  assert_string_equal(http.method, "GET");
  assert_string_equal(http.url,
                      "https://acme.my.salesforce.com/services/data/v59.0/"
                      "query?q=SELECT+Id,FirstName,LastName+FROM+Contact+"
                      "WHERE+Phone='%2B13175550116'");
  crm_http_request_free(&http);
  snprintf(req.lookup_value, sizeof req.lookup_value, "1' OR Id != '");
  req.lookup_type = FLOW_ID_CUSTOMER_ID;
  assert_true(
      crm_build(p, "https://acme.my.salesforce.com", &req, NULL, &http));
  assert_non_null(strstr(http.url,
                         "WHERE+Customer_Number__c='1%5C%27%20OR%20Id%20%21%3D"
                         "%20%5C%27'"));
  crm_http_request_free(&http);

  /* The verify: a JSON body, the answer JSON-escaped. */
  flow_crm_request v = {.kind = FLOW_CRM_VERIFY};
  snprintf(v.customer_id, sizeof v.customer_id, "003Dn00000AnaG1IAJ");
  assert_true(
      crm_build(p, "https://acme.my.salesforce.com", &v, "1234", &http));
  assert_string_equal(http.method, "POST");
  assert_string_equal(http.url, "https://acme.my.salesforce.com/services/"
                                "apexrest/authflow/v1/verify");
  assert_string_equal(http.body, "{\"contactId\":\"003Dn00000AnaG1IAJ\","
                                 "\"answer\":\"1234\"}");
  /* OAuth2's Authorization is added by crm_client, not here. */
  for (size_t i = 0; i < http.header_count; i++)
    assert_null(strstr(http.headers[i], "Authorization"));
  crm_http_request_free(&http);

  /* Mapped as Salesforce answers a query. */
  const char *answer = "{\"totalSize\":1,\"done\":true,\"records\":[{"
                       "\"attributes\":{\"type\":\"Contact\"},\"Id\":"
                       "\"003Dn00000AnaG1IAJ\",\"FirstName\":\"Ana\","
                       "\"LastName\":\"Garc\xc3\xad"
                       "a\"}]}";
  flow_crm_result r;
  crm_map(p, &req, 200, answer, strlen(answer), &r);
  assert_true(r.ok);
  assert_int_equal(r.match_count, 1);
  assert_string_equal(r.customer_id, "003Dn00000AnaG1IAJ");
  assert_string_equal(r.customer_name, "Ana Garc\xc3\xad"
                                       "a");
  const char *none_found = "{\"totalSize\":0,\"done\":true,\"records\":[]}";
  crm_map(p, &req, 200, none_found, strlen(none_found), &r);
  assert_true(r.ok);
  assert_int_equal(r.match_count, 0);
  crm_map(p, &v, 200, "{\"verified\":true}", 17, &r);
  assert_true(r.ok);
  assert_true(r.verified);
  config_free(&cfg);
}

static void test_numeric_example(void **state) {
  (void)state;
  char path[4096], err[CONFIG_ERR_MAX];
  source_path("deploy/config/crm-404-numeric.example.json", path, sizeof path);
  static const char *const env[] = {"CRM_TOKEN", SECRET, NULL};
  fake_env = env;
  if (!config_load(path, fake_getenv, &cfg, err, sizeof err))
    fail_msg("%s", err);
  assert_int_equal(cfg.crm.auth.kind, CRM_AUTH_BEARER);
  assert_string_equal(cfg.crm.auth.token, SECRET);
  assert_int_equal(cfg.crm.ops[CRM_OP_VERIFY].map.wrong_answer_count, 2);
  config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows),
      cmocka_unit_test(test_accepted_values),
      cmocka_unit_test(test_default_timeout_agrees),
      cmocka_unit_test(test_salesforce_example),
      cmocka_unit_test(test_numeric_example),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
