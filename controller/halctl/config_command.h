// config_command.h - `halctl config`: look at and switch the contexts of halctl's configuration
// file without a server (view, get-contexts, current-context, use-context), like kubectl config.
#ifndef HAL_CONTROLLER_HALCTL_CONFIG_COMMAND_H
#define HAL_CONTROLLER_HALCTL_CONFIG_COMMAND_H

#include <string>

#include "controller/halctl/halctl.h"

namespace hal::halctl {

/** Runs `halctl config ACTION [NAME]` on the file `config_flag` (--config) names, else
 *  $HALCONFIG, else ~/.hal/config. Returns 0, 1 (missing or broken file, unknown context) or
 *  2 (unknown action, missing NAME). */
int run_config_command(const std::string &config_flag, const std::string &action,
                       const std::string &name, Io &io);

}  // namespace hal::halctl

#endif  // HAL_CONTROLLER_HALCTL_CONFIG_COMMAND_H
