// config_command.cc - `halctl config` (see config_command.h).
#include "controller/halctl/config_command.h"

#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "controller/halctl/config.h"

namespace hal::halctl {

namespace {

void print_contexts(const Config &config, std::ostream &out) {
  size_t width = 4;
  for (const auto &[name, context] : config.contexts) width = std::max(width, name.size());
  auto row = [&](const std::string &current, const std::string &name, const std::string &cluster,
                 const std::string &user, const std::string &ns) {
    out << std::left << std::setw(8) << current << std::setw(static_cast<int>(width) + 2) << name
        << std::setw(20) << cluster << std::setw(20) << user << ns << "\n";
  };
  row("CURRENT", "NAME", "CLUSTER", "USER", "NAMESPACE");
  for (const auto &[name, context] : config.contexts) {
    row(name == config.current_context ? "*" : "", name, context.cluster, context.user,
        context.ns.empty() ? "default" : context.ns);
  }
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
      print_contexts(config, io.out);
    } else if (action == "current-context") {
      if (config.current_context.empty()) {
        io.err << "error: " << path.string() << " has no current-context\n";
        return 1;
      }
      io.out << config.current_context << "\n";
    } else {
      use_context(path, name);
      io.out << "Switched to context \"" << name << "\".\n";
    }
  } catch (const ConfigError &e) {
    io.err << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace hal::halctl
