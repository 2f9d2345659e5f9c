#include "prompt.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Every promptId flow_view_of() can produce, in one order shared by the
 * built-in tables below. */
static const char *const ids[] = {"ask_identifier",
                                  "ask_identifier_retry",
                                  "ask_security",
                                  "ask_security_retry",
                                  "welcome_verified",
                                  "welcome_identified",
                                  "opted_out",
                                  "transfer_to_agent",
                                  "transfer_locked",
                                  "transfer_crm_unavailable",
                                  NULL};
#define PROMPT_COUNT 10

typedef struct {
  const char *language;
  const char *text[PROMPT_COUNT];
  const char *identifier_names[4]; /* by flow_identifier_type */
} prompt_set;

static const prompt_set builtin[] = {
    {"en-US",
     {"Please enter your {identifierName}, followed by the hash key.",
      "Sorry, we couldn't find that. Please enter your {identifierName} "
      "again.",
      "[[Hello {firstName}. ]]To confirm it's you, please enter your "
      "security PIN.",
      "Sorry, that didn't match. Please enter your security PIN again.",
      "Thank you[[, {firstName}]]. You're verified.",
      "Thank you[[, {firstName}]]. We've found your details.",
      "No problem. Let's continue.",
      "Sorry, we couldn't confirm your details. Please hold while we "
      "transfer you to an agent.",
      "For your security, please hold while we transfer you to an agent.",
      "We can't check your details right now. Please hold while we transfer "
      "you to an agent."},
     {"customer number", "account number", "tracking number", "phone number"}},
    {"es-ES",
     {"Por favor, introduzca su {identifierName} seguido de la tecla "
      "almohadilla.",
      "Lo sentimos, no lo hemos encontrado. Por favor, introduzca de nuevo "
      "su {identifierName}.",
      "[[Hola, {firstName}. ]]Para confirmar su identidad, introduzca su "
      "PIN de seguridad.",
      "Lo sentimos, no coincide. Por favor, introduzca de nuevo su PIN de "
      "seguridad.",
      "Gracias[[, {firstName}]]. Su identidad ha sido verificada.",
      "Gracias[[, {firstName}]]. Hemos encontrado sus datos.",
      "De acuerdo. Continuamos.",
      "Lo sentimos, no hemos podido confirmar sus datos. Le pasamos con un "
      "agente, por favor espere.",
      "Por su seguridad, le pasamos con un agente. Por favor, espere.",
      "En este momento no podemos comprobar sus datos. Le pasamos con un "
      "agente, por favor espere."},
     {"número de cliente", "número de cuenta", "número de seguimiento",
      "número de teléfono"}},
    {"ko-KR",
     {"{identifierName}를 입력하신 후 우물 정자를 눌러 주세요.",
      "죄송합니다. 확인되지 않았습니다. {identifierName}를 다시 입력해 "
      "주세요.",
      "[[{customerName}님, 안녕하세요. ]]본인 확인을 위해 보안 "
      "비밀번호를 입력해 주세요.",
      "비밀번호가 일치하지 않습니다. 보안 비밀번호를 다시 입력해 주세요.",
      "감사합니다[[, {customerName}님]]. 본인 확인이 완료되었습니다.",
      "감사합니다[[, {customerName}님]]. 고객님의 정보를 확인했습니다.",
      "알겠습니다. 계속 진행하겠습니다.",
      "죄송합니다. 고객님의 정보를 확인하지 못했습니다. 상담원에게 "
      "연결해 드리겠습니다. 잠시만 기다려 주세요.",
      "고객님의 보안을 위해 상담원에게 연결해 드리겠습니다. 잠시만 "
      "기다려 주세요.",
      "지금은 고객님의 정보를 확인할 수 없습니다. 상담원에게 연결해 "
      "드리겠습니다. 잠시만 기다려 주세요."},
     {"고객 번호", "계좌 번호", "운송장 번호", "전화번호"}},
};
#define BUILTIN_COUNT (sizeof builtin / sizeof builtin[0])

const char *const *prompt_ids(void) {
  return ids;
}

static int id_index(const char *prompt_id) {
  for (int i = 0; ids[i]; i++)
    if (strcmp(ids[i], prompt_id) == 0)
      return i;
  return -1;
}

static const prompt_set *builtin_set(const char *language) {
  for (size_t i = 0; i < BUILTIN_COUNT; i++)
    if (strcmp(builtin[i].language, language) == 0)
      return &builtin[i];
  return NULL;
}

bool prompt_language_builtin(const char *language) {
  return language && builtin_set(language) != NULL;
}

bool prompt_canonical_language(const char *tag, char *out, size_t out_len) {
  if (out_len > 0)
    out[0] = '\0';
  if (!tag)
    return false;
  size_t n = strlen(tag);
  if (!((n == 2) || (n == 5 && (tag[2] == '-' || tag[2] == '_'))))
    return false;
  for (size_t i = 0; i < n; i++)
    if (i != 2 && !isalpha((unsigned char)tag[i]))
      return false;
  if (out_len < 6)
    return false;
  char lang[3] = {(char)tolower((unsigned char)tag[0]),
                  (char)tolower((unsigned char)tag[1]), '\0'};
  if (n == 5) {
    snprintf(out, out_len, "%s-%c%c", lang, toupper((unsigned char)tag[3]),
             toupper((unsigned char)tag[4]));
    return true;
  }
  /* A bare language picks its built-in region, else stays bare. */
  for (size_t i = 0; i < BUILTIN_COUNT; i++)
    if (strncmp(builtin[i].language, lang, 2) == 0) {
      snprintf(out, out_len, "%s", builtin[i].language);
      return true;
    }
  snprintf(out, out_len, "%s", lang);
  return true;
}

/* ---------------------------------------------------------------------
 * Template rendering.
 * ------------------------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap; /* cap excludes the NUL */
} text_out;

/* Append without splitting a UTF-8 sequence: stop at the last whole
 * character that fits. */
static void put(text_out *o, const char *s, size_t n) {
  size_t room = o->cap - o->len;
  if (n > room) {
    n = room;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
      n--;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
  o->p[o->len] = '\0';
}

/* Value of placeholder `name` (length n), or NULL if unknown. Numeric
 * values are written into `scratch`. */
static const char *placeholder(const char *name, size_t n, const prompt_vars *v,
                               const prompt_set *names, char *scratch,
                               size_t scratch_len) {
  if (n == 12 && memcmp(name, "customerName", 12) == 0)
    return v->customer_name ? v->customer_name : "";
  if (n == 9 && memcmp(name, "firstName", 9) == 0) {
    const char *full = v->customer_name ? v->customer_name : "";
    size_t w = strcspn(full, " ");
    if (w >= scratch_len)
      w = scratch_len - 1;
    memcpy(scratch, full, w);
    scratch[w] = '\0';
    return scratch;
  }
  if (n == 14 && memcmp(name, "identifierName", 14) == 0) {
    unsigned t =
        (unsigned)v->identifier_type < 4 ? (unsigned)v->identifier_type : 0;
    return names->identifier_names[t];
  }
  if (n == 17 && memcmp(name, "attemptsRemaining", 17) == 0) {
    snprintf(scratch, scratch_len, "%d", v->attempts_remaining);
    return scratch;
  }
  return NULL;
}

/*
 * Render [s, e) into o. Inside an optional section (`optional`), return
 * false as soon as a placeholder is empty so the caller can drop it.
 */
static bool render_span(const char *s, const char *e, const prompt_vars *v,
                        const prompt_set *names, bool optional, text_out *o) {
  for (const char *p = s; p < e;) {
    if (!optional && p + 1 < e && p[0] == '[' && p[1] == '[') {
      const char *close = NULL;
      for (const char *q = p + 2; q + 1 < e; q++)
        if (q[0] == ']' && q[1] == ']') {
          close = q;
          break;
        }
      if (close) {
        text_out trial = *o;
        size_t mark = o->len;
        if (!render_span(p + 2, close, v, names, true, &trial)) {
          o->len = mark; /* drop the whole section */
          o->p[mark] = '\0';
        } else {
          *o = trial;
        }
        p = close + 2;
        continue;
      }
    }
    if (*p == '{') {
      const char *close = memchr(p, '}', (size_t)(e - p));
      char scratch[FLOW_CUSTOMER_NAME_MAX + 1];
      const char *value = close ? placeholder(p + 1, (size_t)(close - p - 1), v,
                                              names, scratch, sizeof scratch)
                                : NULL;
      if (value) {
        if (optional && *value == '\0')
          return false;
        put(o, value, strlen(value));
        p = close + 1;
        continue;
      }
    }
    put(o, p, 1);
    p++;
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

bool prompt_render(const json_t *overrides, const char *language,
                   const char *fallback_language, const char *prompt_id,
                   const prompt_vars *vars, char *out, size_t out_len) {
  if (out_len == 0)
    return false;
  out[0] = '\0';
  int idx = prompt_id ? id_index(prompt_id) : -1;
  if (idx < 0)
    return false;
  const char *candidates[2] = {language, fallback_language};
  const char *tmpl = NULL;
  const prompt_set *names = NULL;
  for (int i = 0; i < 2 && !tmpl; i++) {
    const char *lang = candidates[i];
    if (!lang)
      continue;
    tmpl = override_text(overrides, lang, prompt_id);
    names = builtin_set(lang);
    if (!tmpl && names)
      tmpl = names->text[idx];
  }
  if (!tmpl)
    tmpl = builtin[0].text[idx];
  if (!names)
    names = &builtin[0]; /* identifier names for unknown languages */
  text_out o = {.p = out, .len = 0, .cap = out_len - 1};
  render_span(tmpl, tmpl + strlen(tmpl), vars, names, false, &o);
  return true;
}

/* Sections must be balanced and not nested. */
static bool template_ok(const char *t) {
  bool open = false;
  for (const char *p = t; *p; p++) {
    if (p[0] == '[' && p[1] == '[') {
      if (open)
        return false;
      open = true;
      p++;
    } else if (p[0] == ']' && p[1] == ']') {
      if (!open)
        return false;
      open = false;
      p++;
    }
  }
  return !open;
}

bool prompt_check_overrides(const json_t *overrides, const char *key_prefix,
                            char *err, size_t err_len) {
  if (!json_is_object(overrides)) {
    snprintf(err, err_len, "%s: must be an object of languages", key_prefix);
    return false;
  }
  const char *lang;
  json_t *texts;
  json_object_foreach((json_t *)overrides, lang, texts) {
    char canon[FLOW_LANGUAGE_MAX + 1];
    if (!prompt_canonical_language(lang, canon, sizeof canon) ||
        strcmp(canon, lang) != 0) {
      snprintf(err, err_len, "%s.%s: language must be written like en-US",
               key_prefix, lang);
      return false;
    }
    if (!json_is_object(texts)) {
      snprintf(err, err_len, "%s.%s: must be an object of promptIds",
               key_prefix, lang);
      return false;
    }
    const char *id;
    json_t *text;
    json_object_foreach(texts, id, text) {
      if (id_index(id) < 0) {
        snprintf(err, err_len, "%s.%s.%s: unknown promptId", key_prefix, lang,
                 id);
        return false;
      }
      if (!json_is_string(text)) {
        snprintf(err, err_len, "%s.%s.%s: must be a string", key_prefix, lang,
                 id);
        return false;
      }
      if (json_string_length(text) >= PROMPT_TEXT_MAX ||
          !template_ok(json_string_value(text))) {
        snprintf(err, err_len,
                 "%s.%s.%s: too long, or [[ ]] sections unbalanced or nested",
                 key_prefix, lang, id);
        return false;
      }
    }
  }
  return true;
}
