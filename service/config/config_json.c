#include "config_json.h"

#include <string.h>

#include "config_error.h"

bool config_read_nums(const json_t *obj, const char *path,
                      const config_num_field *nums, size_t n, void *base,
                      char *err, size_t err_len) {
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_object_get(obj, nums[i].key);
    if (!v)
      continue;
    if (!json_is_integer(v) || json_integer_value(v) < nums[i].min ||
        json_integer_value(v) > nums[i].max)
      return config_error(err, err_len, "%s.%s: must be an integer %ld..%ld",
                          path, nums[i].key, nums[i].min, nums[i].max);
    long value = (long)json_integer_value(v);
    char *field = (char *)base + nums[i].offset;
    switch (nums[i].kind) {
    case CONFIG_NUM_INT:
      *(int *)field = (int)value;
      break;
    case CONFIG_NUM_LONG:
      *(long *)field = value;
      break;
    case CONFIG_NUM_SIZE:
      *(size_t *)field = (size_t)value;
      break;
    }
  }
  return true;
}

bool config_only_known_keys(const json_t *obj, const char *path,
                            const config_num_field *nums, size_t n,
                            const char *const *others, char *err,
                            size_t err_len) {
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool known = false;
    for (size_t i = 0; i < n && !known; i++)
      known = strcmp(key, nums[i].key) == 0;
    for (size_t i = 0; others && others[i] && !known; i++)
      known = strcmp(key, others[i]) == 0;
    if (!known)
      return config_error(err, err_len, "%s%s%s: unknown key", path,
                          *path ? "." : "", key);
  }
  return true;
}

bool config_read_str(const json_t *obj, const char *path, const char *key,
                     const char **out, char *err, size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_string(v))
    return config_error(err, err_len, "%s.%s: must be a string", path, key);
  *out = json_string_value(v);
  return true;
}

bool config_read_bool(const json_t *obj, const char *path, const char *key,
                      bool *out, char *err, size_t err_len) {
  const json_t *v = json_object_get(obj, key);
  if (!v)
    return true;
  if (!json_is_boolean(v))
    return config_error(err, err_len, "%s.%s: must be true or false", path,
                        key);
  *out = json_is_true(v);
  return true;
}

const json_t *config_section(const json_t *root, const char *name,
                             const config_num_field *nums, size_t n,
                             const char *const *others, bool *ok, char *err,
                             size_t err_len) {
  const json_t *v = json_object_get(root, name);
  if (!v)
    return NULL;
  if (!json_is_object(v)) {
    *ok = config_error(err, err_len, "%s: must be an object", name);
    return NULL;
  }
  if (!config_only_known_keys(v, name, nums, n, others, err, err_len)) {
    *ok = false;
    return NULL;
  }
  return v;
}
