// cli.h - hal-node's command line (CLI11) turned into NodeAgentOptions:
//   hal-node --name N (--pool-file F --pool P | --backend NAME [--backend-config JSON] [--pool P])
//            [--listen 127.0.0.1:PORT] [--controller 127.0.0.1:PORT] [--state-dir DIR]
//            [--plugin-path DIR]... [--label K=V]... [--heartbeat-interval-ms MS]
#ifndef HAL_CONTROLLER_NODE_CLI_H
#define HAL_CONTROLLER_NODE_CLI_H

#include <optional>
#include <string>
#include <vector>

#include "controller/node/agent_options.h"

namespace hal::node {

/** What parsing the command line gave: options to run with, or an exit code (help printed,
 *  or a usage error reported on stderr). */
struct CliResult {
  std::optional<NodeAgentOptions> options;  ///< Set when the agent should run.
  int exit_code = 0;                        ///< When options is empty: 0 for --help, else 2.
  std::string error;                        ///< The usage error (also printed), if any.
};

/** Parses `args` (args[0] is the program name). Reads the NodePool file when given. */
CliResult parse_command_line(const std::vector<std::string> &args);

}  // namespace hal::node

#endif  // HAL_CONTROLLER_NODE_CLI_H
