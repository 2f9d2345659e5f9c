#include "config_lines.h"

#include <stdio.h>
#include <string.h>

#include "config_error.h"
#include "config_json.h"
#include "config_value.h"
#include "prompt.h"
#include "request.h"

/* Defaults for a service line, used for every line and for the "default"
 * line that exists when the file names none. */
static const config_service_line line_defaults = {
    .name = "default",
    .policy =
        {
            .ani_lookup = true,
            .verification = true,
            .identifier_type = FLOW_ID_CUSTOMER_ID,
            .max_identify_attempts = 3,
            .max_verify_attempts = 3,
            .identifier_min_digits = 0,
            .identifier_max_digits = 0,
            .default_country_code = "1",
            .context_reuse_seconds = 900,
            .handoff = true,
        },
    .default_language = "en-US",
    .prompts = NULL,
};

/* Applied to a service line's flow_policy. */
static const config_num_field line_nums[] = {
    {"maxIdentifyAttempts", CONFIG_NUM_INT,
     offsetof(flow_policy, max_identify_attempts), 1, 10},
    {"maxVerifyAttempts", CONFIG_NUM_INT,
     offsetof(flow_policy, max_verify_attempts), 1, 10},
    {"identifierMinDigits", CONFIG_NUM_INT,
     offsetof(flow_policy, identifier_min_digits), 0, FLOW_VALUE_MAX},
    {"identifierMaxDigits", CONFIG_NUM_INT,
     offsetof(flow_policy, identifier_max_digits), 0, FLOW_VALUE_MAX},
};

void config_lines_default(config *cfg) {
  cfg->service_lines[0] = line_defaults;
  cfg->service_line_count = 1;
}

static bool line_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > FLOW_NAME_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!config_is_name_char(name[i]))
      return false;
  return true;
}

/* defaultCountryCode: 1..3 digits, not starting with 0. */
static bool set_country_code(const char *path, const char *cc, flow_policy *p,
                             char *err, size_t err_len) {
  size_t n = strlen(cc);
  if (n == 0 || n > 3 || strspn(cc, "0123456789") != n || cc[0] == '0')
    return config_error(err, err_len,
                        "%s.defaultCountryCode: must be 1..3 digits not "
                        "starting with 0, e.g. \"1\" or \"34\"",
                        path);
  memcpy(p->default_country_code, cc, n + 1);
  return true;
}

/* The string keys of a service line, checked after the integers. */
static bool load_line_strings(const json_t *obj, const char *path,
                              config_service_line *line, char *err,
                              size_t err_len) {
  flow_policy *p = &line->policy;
  const char *type = NULL, *language = NULL, *cc = NULL;
  if (!config_read_bool(obj, path, "aniLookup", &p->ani_lookup, err, err_len) ||
      !config_read_bool(obj, path, "askWhenCrmDown", &p->ask_when_crm_down, err,
                        err_len) ||
      !config_read_bool(obj, path, "verification", &p->verification, err,
                        err_len) ||
      !config_read_bool(obj, path, "greetBeforeVerification",
                        &p->greet_before_verification, err, err_len) ||
      !config_read_str(obj, path, "identifierType", &type, err, err_len) ||
      !config_read_str(obj, path, "defaultLanguage", &language, err, err_len) ||
      !config_read_str(obj, path, "defaultCountryCode", &cc, err, err_len))
    return false;
  if (type && !flow_identifier_type_parse(type, &p->identifier_type))
    return config_error(err, err_len,
                        "%s.identifierType: must be customer_id, "
                        "account_number, tracking_number or phone",
                        path);
  if (language && !prompt_canonical_language(language, line->default_language,
                                             sizeof line->default_language))
    return config_error(err, err_len,
                        "%s.defaultLanguage: must be a language tag such as "
                        "en-US, es-ES or ko",
                        path);
  return !cc || set_country_code(path, cc, p, err, err_len);
}

/* Digit bounds as the flow will apply them (0 = the type's default) must
 * leave at least one length acceptable. */
static bool check_line_digits(const char *path, const flow_policy *p, char *err,
                              size_t err_len) {
  int min, max;
  flow_identifier_default_lengths(p->identifier_type, &min, &max);
  if (p->identifier_min_digits > 0)
    min = p->identifier_min_digits;
  if (p->identifier_max_digits > 0)
    max = p->identifier_max_digits;
  if (min <= max)
    return true;
  if (p->identifier_min_digits > 0 && p->identifier_max_digits > 0)
    return config_error(
        err, err_len,
        "%s.identifierMinDigits: must not exceed identifierMaxDigits", path);
  return config_error(
      err, err_len,
      "%s.%s: leaves no valid length (%s defaults to %d..%d digits)", path,
      p->identifier_min_digits > 0 ? "identifierMinDigits"
                                   : "identifierMaxDigits",
      flow_identifier_type_name(p->identifier_type), min, max);
}

/* A line's "prompts" overrides, checked and copied (owned by the line). */
static bool load_line_prompts(const json_t *obj, const char *path,
                              config_service_line *line, char *err,
                              size_t err_len) {
  const json_t *prompts = json_object_get(obj, "prompts");
  if (!prompts)
    return true;
  char prefix[FLOW_NAME_MAX + 24];
  snprintf(prefix, sizeof prefix, "%s.prompts", path);
  if (!prompt_check_overrides(prompts, prefix, err, err_len))
    return false;
  line->prompts = json_deep_copy(prompts);
  if (!line->prompts)
    return config_error(err, err_len, "%s: out of memory", prefix);
  return true;
}

/* serviceLines.<name>.context, applied to the line's flow_policy. */
static const config_num_field context_nums[] = {
    {"reuseSeconds", CONFIG_NUM_INT,
     offsetof(flow_policy, context_reuse_seconds), 0, 86400},
};

/* One list of context.acceptFrom: an array of at most `max` names, each
 * accepted by ok() (`what` says what one must be), copied into rows of
 * `stride` bytes at `dst`. Present means restricted (an empty list accepts
 * nothing). */
typedef struct {
  const char *key, *what;
  bool (*ok)(const char *);
  size_t max, stride;
  char *dst;
  int *count;
  bool *restricted;
} accept_list;

static bool read_accept_list(const json_t *from, const char *where,
                             const accept_list *l, char *err, size_t err_len) {
  const json_t *a = json_object_get(from, l->key);
  if (!a)
    return true;
  if (!json_is_array(a) || json_array_size(a) > l->max)
    return config_error(err, err_len,
                        "%s.%s: must be an array of at most %zu names", where,
                        l->key, l->max);
  size_t i;
  const json_t *v;
  json_array_foreach(a, i, v) {
    const char *name = json_string_value(v);
    if (!name || strlen(name) >= l->stride || !l->ok(name))
      return config_error(err, err_len, "%s.%s[%zu]: must be %s", where, l->key,
                          i, l->what);
    memcpy(l->dst + i * l->stride, name, strlen(name) + 1);
  }
  *l->count = (int)json_array_size(a);
  *l->restricted = true;
  return true;
}

/* serviceLines.<name>.context.acceptFrom: {"serviceLines": [...],
 * "channels": [...]}, the lines and channels whose sessions this line
 * takes a link from. The line names are checked against the configured
 * lines once all are read (check_accept_lines). */
static bool load_accept_from(const json_t *c, const char *where,
                             flow_link_accept *acc, char *err, size_t err_len) {
  static const char *const keys[] = {"serviceLines", "channels", NULL};
  const json_t *from = json_object_get(c, "acceptFrom");
  if (!from)
    return true;
  char at[FLOW_NAME_MAX + 48];
  snprintf(at, sizeof at, "%s.acceptFrom", where);
  if (!json_is_object(from))
    return config_error(err, err_len, "%s: must be an object", at);
  const accept_list lists[] = {
      {"serviceLines", "a service line name", line_name_ok,
       FLOW_ACCEPT_LINES_MAX, sizeof acc->lines[0], acc->lines[0],
       &acc->line_count, &acc->lines_restricted},
      {"channels", "a channel name (1..32 of a-z 0-9 _)", request_channel_ok,
       FLOW_ACCEPT_CHANNELS_MAX, sizeof acc->channels[0], acc->channels[0],
       &acc->channel_count, &acc->channels_restricted},
  };
  return config_only_known_keys(from, at, NULL, 0, keys, err, err_len) &&
         read_accept_list(from, at, &lists[0], err, err_len) &&
         read_accept_list(from, at, &lists[1], err, err_len);
}

/* Every acceptFrom.serviceLines entry names a configured line. */
static bool check_accept_lines(const config *cfg, char *err, size_t err_len) {
  for (size_t i = 0; i < cfg->service_line_count; i++) {
    const flow_link_accept *a = &cfg->service_lines[i].policy.accept_from;
    for (int k = 0; k < a->line_count; k++)
      if (!config_find_service_line(cfg, a->lines[k]))
        return config_error(err, err_len,
                            "serviceLines.%s.context.acceptFrom.serviceLines["
                            "%d]: \"%s\" is not a configured service line",
                            cfg->service_lines[i].name, k, a->lines[k]);
  }
  return true;
}

/* serviceLines.<name>.context: {"reuseSeconds", "handoff", "acceptFrom"}
 * (SPEC §7). */
static bool load_line_context(const json_t *obj, const char *path,
                              flow_policy *p, char *err, size_t err_len) {
  static const char *const others[] = {"handoff", "acceptFrom", NULL};
  const json_t *c = json_object_get(obj, "context");
  if (!c)
    return true;
  char where[FLOW_NAME_MAX + 32];
  snprintf(where, sizeof where, "%s.context", path);
  if (!json_is_object(c))
    return config_error(err, err_len, "%s: must be an object", where);
  return config_only_known_keys(c, where, context_nums,
                                CONFIG_COUNT(context_nums), others, err,
                                err_len) &&
         config_read_nums(c, where, context_nums, CONFIG_COUNT(context_nums), p,
                          err, err_len) &&
         config_read_bool(c, where, "handoff", &p->handoff, err, err_len) &&
         load_accept_from(c, where, &p->accept_from, err, err_len);
}

/* Fill *line from serviceLines.<name>. On failure line->prompts is NULL,
 * since the copy is the last thing made. */
static bool load_line(const char *name, const json_t *obj,
                      config_service_line *line, char *err, size_t err_len) {
  static const char *const others[] = {"aniLookup",
                                       "askWhenCrmDown",
                                       "verification",
                                       "greetBeforeVerification",
                                       "identifierType",
                                       "defaultLanguage",
                                       "defaultCountryCode",
                                       "prompts",
                                       "context",
                                       NULL};
  char path[FLOW_NAME_MAX + 16];
  *line = line_defaults;
  if (!line_name_ok(name))
    return config_error(err, err_len,
                        "serviceLines.%.*s: a service line name must be 1..%d "
                        "of A-Z a-z 0-9 _ . -",
                        FLOW_NAME_MAX, name, FLOW_NAME_MAX);
  snprintf(path, sizeof path, "serviceLines.%s", name);
  memcpy(line->name, name, strlen(name) + 1);
  if (!json_is_object(obj))
    return config_error(err, err_len, "%s: must be an object", path);
  return config_only_known_keys(obj, path, line_nums, CONFIG_COUNT(line_nums),
                                others, err, err_len) &&
         config_read_nums(obj, path, line_nums, CONFIG_COUNT(line_nums),
                          &line->policy, err, err_len) &&
         load_line_strings(obj, path, line, err, err_len) &&
         load_line_context(obj, path, &line->policy, err, err_len) &&
         check_line_digits(path, &line->policy, err, err_len) &&
         load_line_prompts(obj, path, line, err, err_len);
}

bool config_lines_load(const json_t *root, config *cfg, char *err,
                       size_t err_len) {
  const json_t *lines = json_object_get(root, "serviceLines");
  if (!lines)
    return true;
  if (!json_is_object(lines) || json_object_size(lines) == 0)
    return config_error(
        err, err_len, "serviceLines: must be an object with at least one line");
  if (json_object_size(lines) > CONFIG_MAX_SERVICE_LINES)
    return config_error(err, err_len, "serviceLines: at most %d lines",
                        CONFIG_MAX_SERVICE_LINES);
  /* The file's lines replace the built-in "default" one. */
  cfg->service_line_count = 0;
  const char *name;
  const json_t *obj;
  json_object_foreach((json_t *)lines, name, obj) {
    config_service_line *line = &cfg->service_lines[cfg->service_line_count];
    bool ok = load_line(name, obj, line, err, err_len);
    cfg->service_line_count++; /* so config_free releases its prompts */
    if (!ok)
      return false;
  }
  return check_accept_lines(cfg, err, err_len);
}
