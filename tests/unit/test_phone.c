/*
 * phone: ANI normalisation and masking, one row per ANI shape Genesys and
 * carriers send.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "phone.h"

typedef struct {
  const char *raw;
  const char *cc;   /* default country code */
  const char *want; /* E.164, or NULL for "no ANI" */
} normalise_row;

static const normalise_row normalise_rows[] = {
    /* URI and decoration forms. */
    {"tel:+13175550116", "1", "+13175550116"},
    {"tel: +1 317 555 0116", "1", "+13175550116"},
    {"TEL:+13175550116", "1", "+13175550116"},
    {"sip:+13175550116@host", "1", "+13175550116"},
    {"SIP:+13175550116@host", "34", "+13175550116"},
    {"sip:+13175550116@10.0.0.1;user=phone", "1", "+13175550116"},
    {"<sip:+13175550116@host>", "1", "+13175550116"},
    {"\"Ana\" <sip:+13175550116@host;user=phone>", "1", "+13175550116"},
    {"sips:+13175550116@host", "1", "+13175550116"},
    {"Sips:+13175550116@host:5061", "1", "+13175550116"},
    {"tel:+13175550116;ext=12", "1", "+13175550116"},
    {"+13175550116", "1", "+13175550116"},
    {"  +13175550116  ", "1", "+13175550116"},
    {"+1-317-555-0116", "1", "+13175550116"},
    {"+1 (317) 555-0116", "1", "+13175550116"},
    {"+1.317.555.0116", "1", "+13175550116"},
    /* National forms, completed with the line's country code. */
    {"3175550116", "1", "+13175550116"},
    {"13175550116", "1", "+13175550116"},
    {"(317) 555-0116", "1", "+13175550116"},
    {"0034912345678", "1", "+34912345678"},
    {"0034912345678", "82", "+34912345678"},
    {"01012345678", "82", "+821012345678"},
    {"010-1234-5678", "82", "+821012345678"},
    {"912345678", "34", "+34912345678"},
    {"sip:912345678@pbx", "34", "+34912345678"},
    {"+34912345678", "82", "+34912345678"},
    /* National numbers cannot be completed without a country code. */
    {"3175550116", "", NULL},
    {"3175550116", NULL, NULL},
    {"3175550116", "x1", NULL},
    {"+13175550116", NULL, "+13175550116"},
    /* No ANI. */
    {NULL, "1", NULL},
    {"", "1", NULL},
    {"   ", "1", NULL},
    {"anonymous", "1", NULL},
    {"Anonymous", "1", NULL},
    {"ANONYMOUS", "1", NULL},
    {"sip:anonymous@anonymous.invalid", "1", NULL},
    {"\"Anonymous\" <sip:anonymous@anonymous.invalid>", "1", NULL},
    {"tel:", "1", NULL},
    {"sip:", "1", NULL},
    {"restricted", "1", NULL},
    {"Private", "1", NULL},
    {"unavailable", "1", NULL},
    {"unknown", "1", NULL},
    {"withheld", "1", NULL},
    /* Not a number. */
    {"sip:alice@example.com", "1", NULL},
    {"tel:+1317555011A", "1", NULL},
    {"+1317+5550116", "1", NULL},
    {"++13175550116", "1", NULL},
    {"${input.ani}", "1", NULL},
    {"1234567", "", NULL},           /* 7 digits with no country code */
    {"+1234567", "1", NULL},         /* 7 digits: too short */
    {"+12345678", "1", "+12345678"}, /* 8 digits: shortest accepted */
    {"+123456789012345", "1", "+123456789012345"}, /* 15: longest */
    {"+1234567890123456", "1", NULL},              /* 16: too long */
    {"00", "1", NULL},
    {"+0123456789", "1", NULL}, /* no country code starts with 0 */
    {"1234567890123456789012345678901234567890123456789012345678901234567890",
     "1", NULL},
};

static void test_normalise(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof normalise_rows / sizeof normalise_rows[0];
       i++) {
    const normalise_row *r = &normalise_rows[i];
    char out[PHONE_E164_MAX + 1];
    memset(out, 'x', sizeof out);
    print_message("  [%zu] %s (cc %s)\n", i, r->raw ? r->raw : "(null)",
                  r->cc ? r->cc : "(null)");
    bool ok = phone_normalise(r->raw, r->cc, out, sizeof out);
    assert_int_equal(ok, r->want != NULL);
    assert_string_equal(out, r->want ? r->want : "");
  }
}

/* An output buffer smaller than the contract's is refused, not overrun. */
static void test_normalise_small_buffer(void **state) {
  (void)state;
  char out[PHONE_E164_MAX];
  assert_false(phone_normalise("+13175550116", "1", out, sizeof out));
  assert_string_equal(out, "");
  assert_false(phone_normalise("+13175550116", "1", out, 0));
}

typedef struct {
  const char *value;
  size_t out_len;
  const char *want;
} mask_row;

static const mask_row mask_rows[] = {
    {"+13175550116", 32, "********0116"},
    {"100234", 32, "**0234"},
    {"12345", 32, "*2345"},
    {"1234", 32, "****"},
    {"12", 32, "**"},
    {"", 32, ""},
    {NULL, 32, ""},
    /* Too long for the output: leading stars go, the last 4 stay. */
    {"+13175550116", 8, "***0116"},
    {"+13175550116", 5, "0116"},
    /* No room for the last 4: nothing of the value is shown. */
    {"+13175550116", 4, "***"},
    {"+13175550116", 1, ""},
};

static void test_mask(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof mask_rows / sizeof mask_rows[0]; i++) {
    const mask_row *r = &mask_rows[i];
    char out[32];
    memset(out, 'x', sizeof out);
    phone_mask(r->value, out, r->out_len);
    print_message("  [%zu] %s/%zu\n", i, r->value ? r->value : "(null)",
                  r->out_len);
    assert_string_equal(out, r->want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_normalise),
      cmocka_unit_test(test_normalise_small_buffer),
      cmocka_unit_test(test_mask),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
