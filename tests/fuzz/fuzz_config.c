/* Fuzz the config loader's file layer. A refusal must name a reason; an
 * accepted config must satisfy its own bounds. */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static config cfg;
  char err[CONFIG_ERR_MAX];
  err[0] = '\0';
  if (config_load_text((const char *)data, size, &cfg, err, sizeof err)) {
    if (cfg.service_line_count == 0 ||
        cfg.service_line_count > CONFIG_MAX_SERVICE_LINES)
      abort();
    for (size_t i = 0; i < cfg.service_line_count; i++)
      if (cfg.service_lines[i].policy.max_identify_attempts < 1 ||
          cfg.service_lines[i].policy.max_verify_attempts < 1)
        abort();
    /* reporting.schedules: each one complete and in range. */
    if (cfg.reporting.count > CONFIG_MAX_SCHEDULES ||
        (cfg.reporting.count > 0 && !cfg.reporting.smtp.url[0]))
      abort();
    for (size_t i = 0; i < cfg.reporting.count; i++)
      if (cfg.reporting.list[i].at_minute < 0 ||
          cfg.reporting.list[i].at_minute > 1439 ||
          cfg.reporting.list[i].to_count < 1 ||
          cfg.reporting.list[i].to_count > CONFIG_SCHEDULE_TO_MAX ||
          !cfg.reporting.list[i].name[0])
        abort();
    config_free(&cfg);
  } else if (err[0] == '\0') {
    abort();
  }
  return 0;
}
