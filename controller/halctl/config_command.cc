// config_command.cc - `halctl config` (see config_command.h).
#include "controller/halctl/config_command.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "controller/halctl/config.h"
#include "controller/halctl/output.h"

namespace hal::halctl {

namespace {

std::string contexts_table(const Config &config) {
  std::vector<std::vector<std::string>> rows = {
      {"CURRENT", "NAME", "CLUSTER", "USER", "NAMESPACE"}};
  for (const auto &[name, context] : config.contexts) {
    rows.push_back({name == config.current_context ? "*" : "", name, context.cluster, context.user,
                    context.ns.empty() ? "default" : context.ns});
  }
  return render_table(rows);
}

}  // namespace

int run_config_command(const std::string &config_flag, const std::string &action,
                       const std::string &name, Io &io) {
  const bool takes_name = action == "use-context";
  if (action != "view" && action != "get-contexts" && action != "current-context" && !takes_name) {
    io.err << "error: unknown config action \"" << action
           << "\" (view, get-contexts, current-context, use-context NAME)\n";
    return 2;
  }
  if (takes_name && name.empty()) {
    io.err << "error: config " << action << " needs a context NAME\n";
    return 2;
  }
  const auto path = config_file_path(config_flag);
  if (path.empty()) {
    io.err << "error: no configuration file (--config, $HALCONFIG or ~/.hal/config)\n";
    return 1;
  }
  try {
    const Config config = load_config(path);
    if (action == "view") {
      std::ifstream file(path);
      std::stringstream text;
      text << file.rdbuf();
      io.out << text.str();
    } else if (action == "get-contexts") {
      io.out << contexts_table(config);
    } else if (action == "current-context") {
      if (config.current_context.empty()) {
        io.err << "error: " << path.string() << " has no current-context\n";
        return 1;
      }
      io.out << config.current_context << "\n";
    } else {
      use_context(config, name);
      io.out << "Switched to context \"" << name << "\".\n";
    }
  } catch (const ConfigError &e) {
    io.err << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace hal::halctl
