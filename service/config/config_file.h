/*
 * config_file: the file layer of the configuration (SPEC §5): a JSON
 * object whose sections are read over what cfg holds (the defaults).
 * Unknown keys are refused; the first bad value stops the load with
 * "<full.key.path>: <reason>" in err. jansson's own parse error is cut
 * before its " near '<token>'" part, which can quote a secret.
 */
#ifndef AUTHFLOW_CONFIG_FILE_H
#define AUTHFLOW_CONFIG_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Read the file at `path` into cfg; errors end with " (in <path>)" or
 * start with the path. ${env:NAME} and ${file:/path} secrets in "crm" are
 * resolved through getenv_fn and the file system. On failure cfg may be
 * partly filled (prompts owned by it): the caller config_free()s it. */
bool config_file_load(const char *path, char *(*getenv_fn)(const char *),
                      config *cfg, char *err, size_t err_len);

/* The same from text in memory; ${...} secrets are refused. */
bool config_file_load_text(const char *json_text, size_t len, config *cfg,
                           char *err, size_t err_len);

#endif
