/* Fuzz template rendering, secret resolution and JSON Pointers: the input
 * is "template\0value\0pointer\0json". A rendered URL must hold no byte
 * outside printable ASCII, a rendered body no raw control character
 * coming from the value; pointer lookups must not crash. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crm_map.h"
#include "crm_template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fake_secret(void *user, const char *kind, const char *name,
                        char *out, size_t out_len) {
  (void)user;
  (void)kind;
  if (strlen(name) >= out_len)
    return false;
  strcpy(out, name);
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size + 4);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  memset(copy + size, 0, 4);
  const char *tmpl = copy;
  const char *value = tmpl + strlen(tmpl) + 1;
  if (value > copy + size)
    value = copy + size;
  const char *pointer = value + strlen(value) + 1;
  if (pointer > copy + size)
    pointer = copy + size;
  const char *json = pointer + strlen(pointer) + 1;
  if (json > copy + size)
    json = copy + size;

  crm_template_var vars[] = {{"value", value, false},
                             {"baseUrl", "http://127.0.0.1", true}};
  size_t len = 0;
  char *url = crm_template_render(tmpl, CRM_TPL_URL, vars, 2, &len);
  if (url) {
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)url[i] <= 0x20 && !strchr(tmpl, url[i]))
        abort();
    free(url);
  }
  /* A value alone in a body renders to no raw control characters. */
  char *body = crm_template_render("{value}", CRM_TPL_BODY, vars, 2, &len);
  if (body) {
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)body[i] < 0x20)
        abort();
    free(body);
  }
  char *hdr = crm_template_render(tmpl, CRM_TPL_HEADER, vars, 2, &len);
  free(hdr);
  /* |soql: a value inside '...' cannot end the literal early: between the
   * template's quotes every quote is escaped (a backslash escapes the
   * character after it, a backslash included). */
  char *lit =
      crm_template_render("'{value|soql}'", CRM_TPL_HEADER, vars, 2, &len);
  if (lit) {
    size_t i = 1;
    while (i + 1 < len) {
      if (lit[i] == '\\')
        i += 2;
      else if (lit[i] == '\'')
        abort();
      else
        i++;
    }
    /* The template's closing quote is the literal's end, unescaped. */
    if (len < 2 || i != len - 1 || lit[len - 1] != '\'')
      abort();
    free(lit);
  }
  char out[256], err[128];
  if (crm_template_resolve_secrets(tmpl, out, sizeof out, fake_secret, NULL,
                                   NULL, err, sizeof err) &&
      strlen(out) >= sizeof out)
    abort();
  const char *secrets[] = {value};
  crm_template_mask(tmpl, secrets, 1, out, sizeof out);

  json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
  if (root) {
    const json_t *v = crm_pointer_get(root, pointer);
    if (v && !crm_pointer_valid(pointer))
      abort();
    json_decref(root);
  }
  free(copy);
  return 0;
}
