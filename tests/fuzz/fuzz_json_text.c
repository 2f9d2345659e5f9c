/* Fuzz the JSON string writer against jansson. Invariants: a string is
 * accepted exactly when jansson accepts it (well-formed UTF-8), and then
 * written byte for byte as json_dumps writes it; the text parses back to
 * the same string. Also renders a session answer whose customer name is
 * the input: refused exactly when the name is refused, else valid JSON
 * with 17 keys. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "session_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *in = malloc(size + 1);
  if (!in)
    return 0;
  memcpy(in, data, size);
  in[size] = '\0';
  size_t n = strlen(in); /* up to the first NUL, as a C string ends */
  json_t *str = json_stringn(in, n);
  buf b;
  buf_init(&b, 6 * size + 16, BUF_PLAIN);
  bool ok = json_text_string(&b, in);
  if (ok != (str != NULL))
    abort();
  if (str) {
    char *theirs = json_dumps(str, JSON_ENCODE_ANY);
    json_t *back = json_loadb(buf_str(&b), buf_len(&b), JSON_DECODE_ANY, NULL);
    if (!theirs || strcmp(theirs, buf_str(&b)) != 0 || !json_equal(back, str))
      abort();
    free(theirs);
    json_decref(back);
  }
  buf_free(&b);

  flow_session s = {0};
  memcpy(s.conversation_id, "c-1", 4);
  memcpy(s.service_line, "retail", 7);
  memcpy(s.language, "en-US", 6);
  size_t name = n < FLOW_CUSTOMER_NAME_MAX ? n : FLOW_CUSTOMER_NAME_MAX;
  memcpy(s.customer_name, in, name);
  s.state = FLOW_STATE_COMPLETED;
  s.verified = s.identified = true;
  static const flow_policy policy = {.max_identify_attempts = 3,
                                     .max_verify_attempts = 3};
  session_json_line line = {.policy = &policy};
  json_t *name_str = json_stringn(s.customer_name, name);
  buf_init(&b, SESSION_JSON_MAX, BUF_PLAIN);
  ok = session_json_render(&b, &s, &line);
  if (ok != (name_str != NULL))
    abort();
  if (ok) {
    json_t *j =
        json_loadb(buf_str(&b), buf_len(&b), JSON_REJECT_DUPLICATES, NULL);
    if (!j || json_object_size(j) != 17 ||
        !json_equal(json_object_get(j, "customerName"), name_str))
      abort();
    json_decref(j);
  }
  json_decref(name_str);
  json_decref(str);
  buf_free(&b);
  free(in);
  return 0;
}
