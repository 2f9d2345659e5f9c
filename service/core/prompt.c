/*
 * prompt: built-in prompt sets, per-line overrides and the template
 * renderer (see prompt.h for the syntax and the lookup order).
 *
 * Rendering never fails for a known promptId: an unknown placeholder is
 * spoken as written (config rejects those up front), an unclosed [[ is
 * literal text, and output that does not fit is cut at the last whole
 * UTF-8 character so text-to-speech never receives a broken sequence.
 */
#include "prompt.h"

#include <stdio.h>
#include <string.h>

/* Every promptId flow_view_of() can produce, in the order the built-in
 * tables below use. */
enum {
  P_ASK_IDENTIFIER,
  P_ASK_IDENTIFIER_RETRY,
  P_ASK_SECURITY,
  P_ASK_SECURITY_RETRY,
  P_WELCOME_VERIFIED,
  P_WELCOME_IDENTIFIED,
  P_OPTED_OUT,
  P_TRANSFER_TO_AGENT,
  P_TRANSFER_LOCKED,
  P_TRANSFER_CRM_UNAVAILABLE,
  /* One-time codes (SPEC §9): the code went to the phone ending in
   * {phoneLast2}; star asks for a new one. */
  P_ASK_OTP,
  P_ASK_OTP_RETRY,
  P_ASK_OTP_RESENT,
  P_ASK_OTP_EXPIRED,
  P_ASK_OTP_RESEND_FAILED,
  PROMPT_COUNT
};

static const char *const ids[PROMPT_COUNT + 1] = {
    [P_ASK_IDENTIFIER] = "ask_identifier",
    [P_ASK_IDENTIFIER_RETRY] = "ask_identifier_retry",
    [P_ASK_SECURITY] = "ask_security",
    [P_ASK_SECURITY_RETRY] = "ask_security_retry",
    [P_WELCOME_VERIFIED] = "welcome_verified",
    [P_WELCOME_IDENTIFIED] = "welcome_identified",
    [P_OPTED_OUT] = "opted_out",
    [P_TRANSFER_TO_AGENT] = "transfer_to_agent",
    [P_TRANSFER_LOCKED] = "transfer_locked",
    [P_TRANSFER_CRM_UNAVAILABLE] = "transfer_crm_unavailable",
    [P_ASK_OTP] = "ask_otp",
    [P_ASK_OTP_RETRY] = "ask_otp_retry",
    [P_ASK_OTP_RESENT] = "ask_otp_resent",
    [P_ASK_OTP_EXPIRED] = "ask_otp_expired",
    [P_ASK_OTP_RESEND_FAILED] = "ask_otp_resend_failed",
    [PROMPT_COUNT] = NULL,
};

#define ID_TYPE_COUNT 4 /* flow_identifier_type values */

typedef struct {
  const char *language;
  const char *text[PROMPT_COUNT];
  const char *identifier_names[ID_TYPE_COUNT]; /* by flow_identifier_type */
} prompt_set;

/* en-US first: it is the last resort of every lookup. */
static const prompt_set builtin[] = {
    {
        "en-US",
        {
            [P_ASK_IDENTIFIER] = "Please enter your {identifierName}, "
                                 "followed by the pound key.",
            [P_ASK_IDENTIFIER_RETRY] =
                "Sorry, we couldn't match that. Please enter your "
                "{identifierName} again, followed by the pound key.",
            [P_ASK_SECURITY] = "[[Hello {firstName}. ]]To verify your "
                               "identity, please enter your security PIN, "
                               "followed by the pound key.",
            [P_ASK_SECURITY_RETRY] =
                "Sorry, that didn't match our records. Please enter your "
                "security PIN again, followed by the pound key.",
            [P_WELCOME_VERIFIED] =
                "Thank you[[, {firstName}]]. Your identity has been verified.",
            [P_WELCOME_IDENTIFIED] =
                "Thank you[[, {firstName}]]. We've found your details.",
            [P_OPTED_OUT] = "No problem. Let's continue.",
            [P_TRANSFER_TO_AGENT] =
                "Sorry, we weren't able to confirm your details. Please hold "
                "while we transfer you to an agent.",
            [P_TRANSFER_LOCKED] =
                "For your security, we can't complete verification on this "
                "call. Please hold while we transfer you to an agent.",
            [P_TRANSFER_CRM_UNAVAILABLE] =
                "Sorry, we can't check your details right now. Please hold "
                "while we transfer you to an agent.",
            [P_ASK_OTP] =
                "We've sent a code by text message to the phone ending in "
                "{phoneLast2}. Please enter the code, followed by the pound "
                "key. For a new code, press star. The code works for a few "
                "minutes; if it expires, press star and we'll send a new "
                "one.",
            [P_ASK_OTP_RETRY] = "Sorry, that code didn't match. Please enter "
                                "it again, followed by the pound key, or "
                                "press star for a new code.",
            [P_ASK_OTP_RESENT] =
                "We've sent a new code to the phone ending in {phoneLast2}. "
                "Please enter it, followed by the pound key.",
            [P_ASK_OTP_EXPIRED] =
                "That code has expired or can no longer be used. Press star "
                "and we'll send a new one to the phone ending in "
                "{phoneLast2}.",
            [P_ASK_OTP_RESEND_FAILED] =
                "Sorry, we couldn't send a new code. Please enter the code "
                "we sent earlier, followed by the pound key.",
        },
        {"customer number", "account number", "tracking number",
         "phone number"},
    },
    {
        "es-ES",
        {
            [P_ASK_IDENTIFIER] = "Por favor, introduzca su {identifierName} "
                                 "seguido de la tecla almohadilla.",
            [P_ASK_IDENTIFIER_RETRY] =
                "Lo sentimos, no hemos podido encontrarlo. Por favor, "
                "introduzca de nuevo su {identifierName} seguido de la tecla "
                "almohadilla.",
            [P_ASK_SECURITY] = "[[Hola, {firstName}. ]]Para verificar su "
                               "identidad, introduzca su PIN de seguridad "
                               "seguido de la tecla almohadilla.",
            [P_ASK_SECURITY_RETRY] =
                "Lo sentimos, el PIN no es correcto. Por favor, introdúzcalo "
                "de nuevo seguido de la tecla almohadilla.",
            [P_WELCOME_VERIFIED] =
                "Gracias[[, {firstName}]]. Hemos verificado su identidad.",
            [P_WELCOME_IDENTIFIED] =
                "Gracias[[, {firstName}]]. Hemos encontrado sus datos.",
            [P_OPTED_OUT] = "De acuerdo. Continuamos.",
            [P_TRANSFER_TO_AGENT] =
                "Lo sentimos, no hemos podido confirmar sus datos. Por favor, "
                "espere mientras le pasamos con un agente.",
            [P_TRANSFER_LOCKED] =
                "Por su seguridad, no podemos completar la verificación en "
                "esta llamada. Por favor, espere mientras le pasamos con un "
                "agente.",
            [P_TRANSFER_CRM_UNAVAILABLE] =
                "Lo sentimos, en este momento no podemos comprobar sus datos. "
                "Por favor, espere mientras le pasamos con un agente.",
            [P_ASK_OTP] =
                "Le hemos enviado un código por SMS al teléfono terminado en "
                "{phoneLast2}. Introduzca el código seguido de la tecla "
                "almohadilla. Para recibir un código nuevo, pulse asterisco. "
                "El código caduca en unos minutos; si caduca, pulse asterisco "
                "y le enviaremos otro.",
            [P_ASK_OTP_RETRY] =
                "Lo sentimos, el código no es correcto. Introdúzcalo de nuevo "
                "seguido de la tecla almohadilla, o pulse asterisco para "
                "recibir uno nuevo.",
            [P_ASK_OTP_RESENT] =
                "Le hemos enviado un código nuevo al teléfono terminado en "
                "{phoneLast2}. Introdúzcalo seguido de la tecla almohadilla.",
            [P_ASK_OTP_EXPIRED] =
                "El código ha caducado o ya no es válido. Pulse asterisco y le "
                "enviaremos uno nuevo al teléfono terminado en {phoneLast2}.",
            [P_ASK_OTP_RESEND_FAILED] =
                "Lo sentimos, no hemos podido enviar un código nuevo. "
                "Introduzca el código que le enviamos antes seguido de la "
                "tecla almohadilla.",
        },
        {"número de cliente", "número de cuenta", "número de seguimiento",
         "número de teléfono"},
    },
    {
        /* Korean greets with the full name and 고객님 ("[name] 고객님"):
         * the first word of a Korean name is the family name. Every
         * identifier name ends in a vowel, so the object particle is 를. */
        "ko-KR",
        {
            [P_ASK_IDENTIFIER] =
                "{identifierName}를 입력하신 후 우물 정자를 눌러 주세요.",
            [P_ASK_IDENTIFIER_RETRY] =
                "죄송합니다. 일치하는 정보를 찾지 못했습니다. "
                "{identifierName}를 다시 입력하신 후 우물 정자를 눌러 주세요.",
            [P_ASK_SECURITY] = "[[{customerName} 고객님, 안녕하세요. ]]본인 "
                               "확인을 위해 보안 비밀번호를 입력하신 후 우물 "
                               "정자를 눌러 주세요.",
            [P_ASK_SECURITY_RETRY] =
                "죄송합니다. 비밀번호가 일치하지 않습니다. 다시 입력하신 후 "
                "우물 정자를 눌러 주세요.",
            [P_WELCOME_VERIFIED] = "[[{customerName} 고객님, ]]본인 확인이 "
                                   "완료되었습니다. 감사합니다.",
            [P_WELCOME_IDENTIFIED] = "[[{customerName} 고객님, ]]고객 정보가 "
                                     "확인되었습니다. 감사합니다.",
            [P_OPTED_OUT] = "알겠습니다. 계속 진행하겠습니다.",
            [P_TRANSFER_TO_AGENT] =
                "죄송합니다. 고객님의 정보를 확인하지 못했습니다. 상담원에게 "
                "연결해 드리겠습니다. 잠시만 기다려 주세요.",
            [P_TRANSFER_LOCKED] =
                "고객님의 정보 보호를 위해 이 통화에서는 본인 확인을 진행할 "
                "수 없습니다. 상담원에게 연결해 드리겠습니다. 잠시만 기다려 "
                "주세요.",
            [P_TRANSFER_CRM_UNAVAILABLE] =
                "죄송합니다. 지금은 고객님의 정보를 확인할 수 없습니다. "
                "상담원에게 연결해 드리겠습니다. 잠시만 기다려 주세요.",
            [P_ASK_OTP] =
                "끝자리가 {phoneLast2}인 휴대전화로 인증 번호를 문자로 "
                "보내 드렸습니다. 인증 번호를 입력하신 후 우물 정자를 눌러 "
                "주세요. 새 번호를 받으시려면 별표를 눌러 주세요. 인증 번호는 "
                "몇 분 동안만 유효하며, 만료되면 별표를 눌러 새 번호를 받으실 "
                "수 "
                "있습니다.",
            [P_ASK_OTP_RETRY] = "죄송합니다. 인증 번호가 일치하지 않습니다. "
                                "다시 입력하신 후 우물 정자를 누르시거나, 새 "
                                "번호를 받으시려면 별표를 눌러 주세요.",
            [P_ASK_OTP_RESENT] =
                "끝자리가 {phoneLast2}인 휴대전화로 새 인증 번호를 보내 "
                "드렸습니다. 입력하신 후 우물 정자를 눌러 주세요.",
            [P_ASK_OTP_EXPIRED] =
                "인증 번호가 만료되었거나 더 이상 사용할 수 없습니다. 별표를 "
                "누르시면 끝자리가 {phoneLast2}인 휴대전화로 새 번호를 보내 "
                "드립니다.",
            [P_ASK_OTP_RESEND_FAILED] =
                "죄송합니다. 새 인증 번호를 보내지 못했습니다. 앞서 보내 드린 "
                "인증 번호를 입력하신 후 우물 정자를 눌러 주세요.",
        },
        {"고객 번호", "계좌 번호", "운송장 번호", "전화번호"},
    },
};
#define BUILTIN_COUNT (sizeof builtin / sizeof builtin[0])

const char *const *prompt_ids(void) {
  return ids;
}

static int id_index(const char *prompt_id) {
  if (!prompt_id)
    return -1;
  for (int i = 0; ids[i]; i++)
    if (strcmp(ids[i], prompt_id) == 0)
      return i;
  return -1;
}

static const prompt_set *builtin_set(const char *language) {
  if (!language)
    return NULL;
  for (size_t i = 0; i < BUILTIN_COUNT; i++)
    if (strcmp(builtin[i].language, language) == 0)
      return &builtin[i];
  return NULL;
}

bool prompt_language_builtin(const char *language) {
  return builtin_set(language) != NULL;
}

static bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static char lower(char c) {
  return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static char upper(char c) {
  return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/*
 * "ll" or "ll-CC" / "ll_CC" in any case -> "ll-CC". A bare language takes
 * the region of its built-in set ("es" -> "es-ES") and otherwise stays
 * bare ("fr").
 */
bool prompt_canonical_language(const char *tag, char *out, size_t out_len) {
  if (out_len > 0)
    out[0] = '\0';
  if (!tag || out_len < 6)
    return false;
  size_t n = strlen(tag);
  if (n != 2 && !(n == 5 && (tag[2] == '-' || tag[2] == '_')))
    return false;
  for (size_t i = 0; i < n; i++)
    if (i != 2 && !is_alpha(tag[i]))
      return false;
  char canon[6] = {lower(tag[0]), lower(tag[1]), '\0', '\0', '\0', '\0'};
  if (n == 5) {
    canon[2] = '-';
    canon[3] = upper(tag[3]);
    canon[4] = upper(tag[4]);
  } else {
    for (size_t i = 0; i < BUILTIN_COUNT; i++)
      if (strncmp(builtin[i].language, canon, 2) == 0) {
        memcpy(canon, builtin[i].language, sizeof canon);
        break;
      }
  }
  memcpy(out, canon, sizeof canon);
  return true;
}

/* ---------------------------------------------------------------------
 * Template rendering.
 * ------------------------------------------------------------------- */

/* Output text with a fixed capacity. Once something has been cut, nothing
 * more is appended, so the text never has a hole in the middle. */
typedef struct {
  char *p;
  size_t len, cap; /* cap excludes the NUL */
  bool full;
} text_out;

static bool utf8_continuation(char c) {
  return ((unsigned char)c & 0xC0) == 0x80;
}

/* Append n bytes of s. If they do not fit, append the longest prefix that
 * ends on a UTF-8 character boundary and mark the text full. */
static void put(text_out *o, const char *s, size_t n) {
  if (o->full)
    return;
  size_t room = o->cap - o->len;
  if (n > room) {
    n = room;
    while (n > 0 && utf8_continuation(s[n]))
      n--;
    o->full = true;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = '\0';
}

typedef struct {
  const prompt_vars *vars;
  const prompt_set *names; /* identifier names in the prompt's language */
  char number[16];         /* {attemptsRemaining} as text */
} render_ctx;

static const char *const placeholder_names[] = {
    "customerName", "firstName", "identifierName", "attemptsRemaining",
    "phoneLast2"};
#define PLACEHOLDER_COUNT                                                      \
  (sizeof placeholder_names / sizeof placeholder_names[0])

static int placeholder_index(const char *name, size_t n) {
  for (size_t i = 0; i < PLACEHOLDER_COUNT; i++)
    if (strlen(placeholder_names[i]) == n &&
        memcmp(placeholder_names[i], name, n) == 0)
      return (int)i;
  return -1;
}

/* The customer's name without surrounding blanks, as [*v, *v + *n). */
static void trimmed_name(const char *name, const char **v, size_t *n) {
  if (!name)
    name = "";
  while (*name == ' ' || *name == '\t')
    name++;
  size_t len = strlen(name);
  while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
    len--;
  *v = name;
  *n = len;
}

/* The value of placeholder `index` as [*v, *v + *n). The value may point
 * into ctx->number. */
static void placeholder_value(render_ctx *ctx, int index, const char **v,
                              size_t *n) {
  const prompt_vars *vars = ctx->vars;
  switch (index) {
  case 0: /* customerName */
    trimmed_name(vars->customer_name, v, n);
    return;
  case 1: /* firstName: the first blank-separated word */
  {
    trimmed_name(vars->customer_name, v, n);
    size_t word = strcspn(*v, " \t");
    if (word < *n)
      *n = word;
    return;
  }
  case 2: { /* identifierName */
    unsigned t = (unsigned)vars->identifier_type;
    *v = ctx->names->identifier_names[t < ID_TYPE_COUNT ? t : 0];
    *n = strlen(*v);
    return;
  }
  case 4: /* phoneLast2: the last two digits of the phone on file */
    *v = vars->phone_last2 ? vars->phone_last2 : "";
    *n = strlen(*v);
    return;
  default: /* attemptsRemaining */
    snprintf(ctx->number, sizeof ctx->number, "%d", vars->attempts_remaining);
    *v = ctx->number;
    *n = strlen(*v);
    return;
  }
}

/* Where the "]]" closing a section opened just before `s` is, or NULL. */
static const char *section_end(const char *s, const char *e) {
  for (const char *q = s; q + 1 < e; q++)
    if (q[0] == ']' && q[1] == ']')
      return q;
  return NULL;
}

/*
 * Render [s, e) into o. Outside a section, "[[ ... ]]" is rendered on a
 * trial copy of o and kept only if it succeeds. Inside a section
 * (`optional`), return false as soon as a placeholder is empty; the
 * caller then drops the whole section.
 */
static bool render_span(render_ctx *ctx, const char *s, const char *e,
                        bool optional, text_out *o) {
  const char *p = s;
  while (p < e) {
    if (!optional && p + 1 < e && p[0] == '[' && p[1] == '[') {
      const char *close = section_end(p + 2, e);
      if (close) {
        text_out trial = *o;
        if (render_span(ctx, p + 2, close, true, &trial))
          *o = trial;
        else
          o->p[o->len] = '\0'; /* drop what the trial wrote */
        p = close + 2;
        continue;
      }
    }
    if (*p == '{') {
      const char *close = memchr(p, '}', (size_t)(e - p));
      int index =
          close ? placeholder_index(p + 1, (size_t)(close - p - 1)) : -1;
      if (index >= 0) {
        const char *v;
        size_t n;
        placeholder_value(ctx, index, &v, &n);
        if (optional && n == 0)
          return false;
        put(o, v, n);
        p = close + 1;
        continue;
      }
    }
    /* Literal text up to the next possible placeholder or section; a '{'
     * or '[' that starts neither is itself literal. */
    const char *q = p + 1;
    while (q < e && *q != '{' && *q != '[')
      q++;
    put(o, p, (size_t)(q - p));
    p = q;
  }
  return true;
}

/* The override text for language/prompt, or NULL. */
static const char *override_text(const json_t *overrides, const char *language,
                                 const char *prompt_id) {
  if (!overrides || !language)
    return NULL;
  const json_t *lang = json_object_get(overrides, language);
  return json_string_value(json_object_get(lang, prompt_id));
}

/* Pick the template per prompt.h's lookup order. Never NULL for a known
 * promptId: built-in en-US has them all. */
static const char *find_template(const json_t *overrides, const char *language,
                                 const char *fallback_language, int index) {
  const char *candidates[2] = {language, fallback_language};
  for (size_t i = 0; i < 2; i++) {
    const char *t = override_text(overrides, candidates[i], ids[index]);
    if (t)
      return t;
    const prompt_set *set = builtin_set(candidates[i]);
    if (set)
      return set->text[index];
  }
  return builtin[0].text[index];
}

bool prompt_render(const json_t *overrides, const char *language,
                   const char *fallback_language, const char *prompt_id,
                   const prompt_vars *vars, char *out, size_t out_len) {
  if (out_len == 0)
    return false;
  out[0] = '\0';
  int index = id_index(prompt_id);
  if (index < 0)
    return false;
  static const prompt_vars no_vars = {.customer_name = ""};
  render_ctx ctx = {.vars = vars ? vars : &no_vars};
  /* Identifier names follow the caller's language when it has a built-in
   * set, else the line's fallback language, else English. */
  ctx.names = builtin_set(language);
  if (!ctx.names)
    ctx.names = builtin_set(fallback_language);
  if (!ctx.names)
    ctx.names = &builtin[0];
  const char *tmpl =
      find_template(overrides, language, fallback_language, index);
  text_out o = {.p = out, .len = 0, .cap = out_len - 1, .full = false};
  render_span(&ctx, tmpl, tmpl + strlen(tmpl), false, &o);
  return true;
}

/* ---------------------------------------------------------------------
 * Override validation.
 * ------------------------------------------------------------------- */

/*
 * Check a template's syntax; on failure write the reason into `why`.
 * Sections must be balanced and not nested, and every '{' must open a
 * known placeholder, so a typo such as {firstname} is caught at load time
 * instead of being read out to callers.
 */
static bool template_ok(const char *t, char *why, size_t why_len) {
  bool open = false;
  for (const char *p = t; *p; p++) {
    if (p[0] == '[' && p[1] == '[') {
      if (open) {
        snprintf(why, why_len, "nested [[ ]] sections");
        return false;
      }
      open = true;
      p++;
    } else if (p[0] == ']' && p[1] == ']') {
      if (!open) {
        snprintf(why, why_len, "]] without [[");
        return false;
      }
      open = false;
      p++;
    } else if (*p == '{') {
      const char *close = strchr(p, '}');
      if (!close) {
        snprintf(why, why_len, "{ without }");
        return false;
      }
      if (placeholder_index(p + 1, (size_t)(close - p - 1)) < 0) {
        snprintf(
            why, why_len,
            "unknown placeholder %.*s (known: {customerName}, "
            "{firstName}, {identifierName}, {attemptsRemaining}, {phoneLast2})",
            (int)(close - p + 1 > 40 ? 40 : close - p + 1), p);
        return false;
      }
      p = close;
    }
  }
  if (open) {
    snprintf(why, why_len, "[[ without ]]");
    return false;
  }
  return true;
}

/* Write "<prefix>[.<lang>[.<id>]]: <reason>" into err (if any). */
static bool reject(char *err, size_t err_len, const char *prefix,
                   const char *lang, const char *id, const char *reason) {
  if (err && err_len > 0)
    snprintf(err, err_len, "%s%s%s%s%s: %s", prefix, lang ? "." : "",
             lang ? lang : "", id ? "." : "", id ? id : "", reason);
  return false;
}

/* One language's object of promptId -> template. */
static bool check_language(const json_t *texts, const char *prefix,
                           const char *lang, char *err, size_t err_len) {
  if (!json_is_object(texts))
    return reject(err, err_len, prefix, lang, NULL,
                  "must be an object of promptId to text");
  const char *id;
  json_t *text;
  json_object_foreach((json_t *)texts, id, text) {
    if (id_index(id) < 0)
      return reject(err, err_len, prefix, lang, id, "unknown promptId");
    if (!json_is_string(text))
      return reject(err, err_len, prefix, lang, id, "must be a string");
    char why[160];
    if (json_string_length(text) >= PROMPT_TEXT_MAX) {
      snprintf(why, sizeof why, "longer than %d bytes", PROMPT_TEXT_MAX - 1);
      return reject(err, err_len, prefix, lang, id, why);
    }
    if (!template_ok(json_string_value(text), why, sizeof why))
      return reject(err, err_len, prefix, lang, id, why);
  }
  return true;
}

bool prompt_check_overrides(const json_t *overrides, const char *key_prefix,
                            char *err, size_t err_len) {
  const char *prefix = key_prefix ? key_prefix : "prompts";
  if (!json_is_object(overrides))
    return reject(err, err_len, prefix, NULL, NULL,
                  "must be an object of languages");
  const char *lang;
  json_t *texts;
  json_object_foreach((json_t *)overrides, lang, texts) {
    char canon[FLOW_LANGUAGE_MAX + 1];
    if (!prompt_canonical_language(lang, canon, sizeof canon) ||
        strcmp(canon, lang) != 0)
      return reject(err, err_len, prefix, lang, NULL,
                    "language must be written like en-US");
    if (!check_language(texts, prefix, lang, err, err_len))
      return false;
  }
  return true;
}
