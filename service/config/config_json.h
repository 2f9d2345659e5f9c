/*
 * config_json: the JSON readers of the config file layer.
 *
 * Integer keys are described by tables (key, type, offset, bounds) so a
 * key's range is written down exactly once; a section's keys are checked
 * against its table and a list of its other keys, since unknown keys are
 * almost always typos. Every reader stops at the first bad value with
 * "<path>.<key>: <reason>" in err. Borrowed jansson values only: nothing
 * here allocates.
 */
#ifndef AUTHFLOW_CONFIG_JSON_H
#define AUTHFLOW_CONFIG_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CONFIG_COUNT(a) (sizeof(a) / sizeof((a)[0]))

typedef enum {
  CONFIG_NUM_INT,
  CONFIG_NUM_LONG,
  CONFIG_NUM_SIZE
} config_num_kind;

/* One integer key: stored as `kind` at `offset` in the struct the table is
 * applied to, accepted in min..max. */
typedef struct {
  const char *key;
  config_num_kind kind;
  size_t offset;
  long min, max;
} config_num_field;

/* Read every key of `nums` present in `obj` into `base`. A missing key
 * keeps its current value; a non-integer or out-of-range one is an error
 * naming `path`.key. */
bool config_read_nums(const json_t *obj, const char *path,
                      const config_num_field *nums, size_t n, void *base,
                      char *err, size_t err_len);

/* Refuse any key of `obj` that is neither in `nums` nor in `others`
 * (NULL-terminated, may be NULL). `path` "" means the root. */
bool config_only_known_keys(const json_t *obj, const char *path,
                            const config_num_field *nums, size_t n,
                            const char *const *others, char *err,
                            size_t err_len);

/* A string key: *out is the borrowed value, or left as is when absent. */
bool config_read_str(const json_t *obj, const char *path, const char *key,
                     const char **out, char *err, size_t err_len);

/* A boolean key: *out left as is when absent. */
bool config_read_bool(const json_t *obj, const char *path, const char *key,
                      bool *out, char *err, size_t err_len);

/* The object `root[name]` with only the keys of `nums` and `others`, or
 * NULL when absent (*ok stays true) or invalid (*ok becomes false and err
 * says why). */
const json_t *config_section(const json_t *root, const char *name,
                             const config_num_field *nums, size_t n,
                             const char *const *others, bool *ok, char *err,
                             size_t err_len);

#endif
