/*
 * session_json: the session answer of SPEC §3 (every POST step and GET of
 * a session, status 200) rendered as compact JSON text straight into a
 * core/buf.h buffer, without a jansson tree.
 *
 * The answer is one flat object of exactly these 17 keys, in this order,
 * every key always present and never null:
 *   conversationId, serviceLine, language, state, nextAction, authStatus
 *   (strings), identified, verified (booleans), identificationMethod,
 *   outcome, lastResult (strings), attemptsRemaining (integer), promptId,
 *   promptText, customerId, customerName (strings), verificationMethods (a
 *   list of "answer" and "otp": the methods the caller passed, SPEC §9).
 * The text is what json_dumps(JSON_COMPACT) wrote for the same object (see
 * json_text.h for the string escapes), with no trailing newline.
 */
#ifndef AUTHFLOW_SESSION_JSON_H
#define AUTHFLOW_SESSION_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "flow.h"

/* Most bytes an answer may take: every string escaped at its worst (six
 * bytes per byte) still fits far below it. */
#define SESSION_JSON_MAX ((size_t)64 * 1024)

/* Where the answer's prompt comes from: the session's service line, or
 * none (a line no longer configured: built-in prompts, one attempt each). */
typedef struct {
  const flow_policy *policy;    /* NULL: no line */
  const json_t *prompts;        /* the line's overrides, or NULL */
  const char *default_language; /* the line's, or NULL for en-US */
} session_json_line;

/*
 * What the answer says beyond the stored session: the view (next action,
 * auth status, attempts left, prompt ID) under the line's policy, and the
 * prompt text rendered into text[len] in the session's language.
 */
void session_json_view(const flow_session *s, const session_json_line *line,
                       flow_view *view, char *text, size_t len);

/*
 * Append the answer for `s` to `out`. The prompt is rendered in the
 * session's language from the line's prompts; the customer's name is
 * spoken in it only when flow_view_of allows (customerName is always
 * filled, for the agent's screen). False when a field is not well-formed
 * UTF-8 or the buffer failed (buf_state tells which): the text in `out`
 * is then not an answer and must not be sent.
 */
bool session_json_render(buf *out, const flow_session *s,
                         const session_json_line *line);

#endif
