/*
 * prompt: voice prompts per language and promptId (pure, no I/O).
 *
 * Built-in sets: en-US, es-ES, ko-KR, with every promptId flow_view_of() can
 * produce. A service line may override any text per language in config as
 * a JSON object {"<language>": {"<promptId>": "<text>"}}.
 *
 * Template syntax:
 *   {customerName}   full name as the CRM gave it ("" if unknown)
 *   {firstName}      first word of the name
 *   {identifierName} spoken name of the identifier type in that language
 *   {attemptsRemaining}
 *   {phoneLast2}     last two digits of the phone on file a one-time code
 *                    went to ("" when none)
 *   [[ ... ]]        an optional section: rendered only when every
 *                    placeholder inside it is non-empty, so
 *                    "[[Hello {firstName}. ]]Please enter your PIN."
 *                    reads well with or without a name.
 * Unknown placeholders are left as they are. There is no nesting.
 */
#ifndef AUTHFLOW_PROMPT_H
#define AUTHFLOW_PROMPT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "flow.h"

#define PROMPT_TEXT_MAX 1024

typedef struct {
  const char *customer_name; /* may be "" */
  flow_identifier_type identifier_type;
  int attempts_remaining;
  const char *phone_last2; /* may be NULL or "" */
} prompt_vars;

/* True when `language` has a built-in set (exact match, e.g. "es-ES"). */
bool prompt_language_builtin(const char *language);

/*
 * Canonicalise a language tag: "en-us" / "EN_us" -> "en-US", "es" -> "es-ES",
 * "ko" -> "ko-KR". Returns false for anything that is not a tag of the form
 * ll or ll-CC (ll letters, CC letters). `out` holds FLOW_LANGUAGE_MAX+1.
 */
bool prompt_canonical_language(const char *tag, char *out, size_t out_len);

/*
 * Render the text for `prompt_id` in `language` into `out`.
 * Lookup order: overrides[language][prompt_id], built-in[language][prompt_id],
 * then the same two for `fallback_language`, then built-in en-US.
 * `overrides` may be NULL (borrowed, not kept). Always NUL-terminates; text
 * longer than out_len is truncated on a UTF-8 boundary. Returns false only
 * when prompt_id is unknown everywhere (out is then "").
 */
bool prompt_render(const json_t *overrides, const char *language,
                   const char *fallback_language, const char *prompt_id,
                   const prompt_vars *vars, char *out, size_t out_len);

/* Validate an overrides object from config: languages map to objects of
 * string values whose keys are known promptIds and whose templates are
 * well formed (balanced [[ ]]). On failure writes e.g.
 * "prompts.en-US.ask_pin: unknown promptId" into err. */
bool prompt_check_overrides(const json_t *overrides, const char *key_prefix,
                            char *err, size_t err_len);

/* NULL-terminated list of every promptId (static). */
const char *const *prompt_ids(void);

#endif
