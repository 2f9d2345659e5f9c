/*
 * config_lines: the "serviceLines" section of the config file: each
 * line's flow policy, default language and prompt overrides.
 */
#ifndef AUTHFLOW_CONFIG_LINES_H
#define AUTHFLOW_CONFIG_LINES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Make the one built-in line, "default", with the default policy (what a
 * configuration without serviceLines has). */
void config_lines_default(config *cfg);

/* Read root["serviceLines"], when present, in place of the built-in line.
 * Every line that was started counts in cfg->service_line_count, so
 * config_free() releases its prompts even when this fails. */
bool config_lines_load(const json_t *root, config *cfg, char *err,
                       size_t err_len);

#endif
