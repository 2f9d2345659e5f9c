/* Fuzz the prompt template renderer: the input splits at the first NUL
 * byte into a template and a customer name. Templates go through the same
 * check config applies before rendering. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 2);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  text[size + 1] = '\0';
  const char *name = text + strlen(text) + 1;
  if (name > text + size)
    name = "";
  json_t *overrides = json_pack("{s:{s:s}}", "en-US", "ask_security", text);
  char err[256];
  if (overrides &&
      prompt_check_overrides(overrides, "prompts", err, sizeof err)) {
    char out[PROMPT_TEXT_MAX];
    prompt_vars vars = {.customer_name = name,
                        .identifier_type = FLOW_ID_ACCOUNT_NUMBER,
                        .attempts_remaining = 2};
    if (!prompt_render(overrides, "en-US", "en-US", "ask_security", &vars, out,
                       sizeof out))
      abort();
    if (strlen(out) >= sizeof out)
      abort();
  }
  /* Built-in prompts with an arbitrary name, in every language. */
  static const char *const langs[] = {"en-US", "es-ES", "ko-KR"};
  for (size_t l = 0; l < 3; l++) {
    char out[64]; /* small: exercises truncation */
    prompt_vars vars = {.customer_name = text,
                        .identifier_type = FLOW_ID_PHONE,
                        .attempts_remaining = 1};
    (void)prompt_render(NULL, langs[l], "en-US", "ask_security", &vars, out,
                        sizeof out);
  }
  json_decref(overrides);
  free(text);
  return 0;
}
