// options.cc - hal-conformance's command line and the defaults that follow from it (see
// options.h).
#include "options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>

#include "clause.h"
#include "file_io.h"

namespace hal::conformance {
namespace {

std::vector<std::string> split_profiles(const std::string &text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

/** Profiles a backend declares: lifecycle and tdx always (tdx has negative clauses for every
 *  backend), migration with features.liveMigration, numa with features.numa. */
std::vector<std::string> declared_profiles(const Suite &s) {
  std::vector<std::string> out = {"lifecycle"};
  if (s.declares_feature("liveMigration")) out.push_back("migration");
  out.push_back("tdx");
  if (s.declares_feature("numa")) out.push_back("numa");
  return out;
}

std::string random_tag() {
  std::random_device rd;
  std::mt19937 gen(rd() ^ static_cast<unsigned>(std::time(nullptr)));
  const char *alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string tag;
  for (int i = 0; i < 6; ++i) tag += alphabet[gen() % 36];
  return tag;
}

}  // namespace

std::optional<int> parse_options(int argc, char **argv, Options &o) {
  CLI::App app{"hal-conformance: certifies a HAL backend plugin against the conformance profiles"};
  app.allow_extras();
  app.add_option("--plugin", o.plugin_path, "backend plugin (.so) to test");
  app.add_option("--config", o.config_path, "backend configuration (JSON file) for open()");
  app.add_option("--target-config", o.target_config_path,
                 "configuration of the migration target instance (default: --config with "
                 "\"stateDir\", else \"instance\", suffixed -target)");
  app.add_option("--spec-template", o.template_path,
                 "JSON merged under every VM spec the suite creates (e.g. boot.kernel)");
  app.add_option("--profile", o.profiles_text,
                 "comma-separated profiles: lifecycle,migration,tdx,numa (default: all the "
                 "backend declares)");
  app.add_option("--report", o.report_path, "write the JSON report here");
  app.add_option("--junit", o.junit_path, "write JUnit XML here");
  app.add_option("--html", o.html_path, "write the HTML report here");
  app.add_option("--html-from", o.html_from,
                 "render these JSON reports (one result column each) into --html and exit");
  app.add_flag("--certify", o.certify,
               "run the fixed full set for the backend's declared profiles (no filters)");
  app.add_flag("--list-clauses", o.list, "print the clause catalogue and exit");
  app.add_flag("--markdown", o.markdown, "with --list-clauses: Markdown (CLAUSES.md)");
  app.add_option("--wait-seconds", o.wait_seconds, "longest wait for a state change or event")
      ->check(CLI::PositiveNumber);
  app.add_flag("--in-process", o.in_process,
               "run the clauses in this process (for a debugger): a crash or hang of the plugin "
               "then ends the run without reports");
  app.add_option("--call-timeout-seconds", o.call_timeout,
                 "longest a plugin call may run before its clause fails (default 120)")
      ->check(CLI::PositiveNumber);
  app.add_option("--clause-timeout-seconds", o.clause_timeout,
                 "longest a clause may run before it fails (default 900)")
      ->check(CLI::PositiveNumber);
  app.add_option("--clause-process", o.clause_process, "(internal) run this clause and exit")
      ->group("");
  app.add_option("--clause-result", o.clause_result, "(internal) where the clause's result goes")
      ->group("");
  app.add_option("--call-trace", o.call_trace, "(internal) where plugin calls are traced")
      ->group("");
  app.add_option("--probe-result", o.probe_result, "(internal) load and open, write the facts")
      ->group("");
  app.add_option("--run-id", o.run_id, "(internal) the run's VM name tag")->group("");
  app.add_flag("--clean-up", o.clean_up, "(internal) remove the VMs of --run-id and exit")
      ->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (o.list) return std::nullopt;
  if (!o.html_from.empty()) {
    if (o.html_path.empty()) {
      std::cerr << "hal-conformance: --html-from needs --html OUT\n";
      return 2;
    }
    return std::nullopt;
  }
  if (o.plugin_path.empty()) {
    std::cerr << "hal-conformance: --plugin is required\n" << app.help();
    return 2;
  }

  // GoogleTest gets the remaining arguments (e.g. --gtest_filter), except under --certify.
  o.gtest_args = app.remaining();
  if (o.certify) {
    for (const auto &e : o.gtest_args) {
      if (e.rfind("--gtest_filter", 0) == 0 || e.rfind("--gtest_also_run_disabled", 0) == 0 ||
          e.rfind("--gtest_repeat", 0) == 0 || e.rfind("--gtest_shuffle", 0) == 0) {
        std::cerr << "hal-conformance: --certify runs the fixed full set; " << e
                  << " is not allowed\n";
        return 2;
      }
    }
    if (std::getenv("GTEST_FILTER") != nullptr) {
      std::cerr << "hal-conformance: --certify runs the fixed full set; unset GTEST_FILTER\n";
      return 2;
    }
    if (!o.profiles_text.empty()) {
      std::cerr << "hal-conformance: --certify selects the backend's declared profiles; "
                   "--profile is not allowed\n";
      return 2;
    }
    if (o.in_process) {
      std::cerr << "hal-conformance: --certify runs every clause in its own process; "
                   "--in-process is not allowed\n";
      return 2;
    }
  }
  return std::nullopt;
}

void configure_suite(const Options &o, Suite &s) {
  s.wait = std::chrono::seconds(o.wait_seconds);
  s.run_id = o.run_id.empty() ? random_tag() : o.run_id;
  if (!o.config_path.empty()) s.config = read_json_file(o.config_path);
  if (!o.template_path.empty()) s.spec_template = read_json_file(o.template_path);
  if (!o.target_config_path.empty()) {
    s.target_config = read_json_file(o.target_config_path);
  } else {
    // Same config, another instance: a different stateDir when there is one, else "instance".
    s.target_config = s.config;
    if (s.config.contains("stateDir") && s.config["stateDir"].is_string()) {
      s.target_config["stateDir"] = s.config["stateDir"].get<std::string>() + "-target";
    } else {
      s.target_config["instance"] = s.config.value("instance", std::string("default")) + "-target";
    }
  }
}

std::vector<std::string> child_process_args(const Options &o, const std::string &run_id) {
  std::vector<std::string> args = {std::filesystem::read_symlink("/proc/self/exe").string(),
                                   "--plugin",
                                   o.plugin_path,
                                   "--wait-seconds",
                                   std::to_string(o.wait_seconds),
                                   "--run-id",
                                   run_id};
  for (const auto &[flag, path] :
       {std::pair<const char *, const std::string &>{"--config", o.config_path},
        {"--target-config", o.target_config_path},
        {"--spec-template", o.template_path}}) {
    if (!path.empty()) {
      args.push_back(flag);
      args.push_back(std::filesystem::absolute(path).string());
    }
  }
  return args;
}

IsolationLimits isolation_limits(const Options &o) {
  IsolationLimits limits;
  limits.call_timeout = std::chrono::seconds(o.call_timeout);
  limits.clause_timeout = std::chrono::seconds(o.clause_timeout);
  return limits;
}

std::optional<std::vector<std::string>> selected_profiles(const Options &o, const Suite &s) {
  std::vector<std::string> profiles =
      o.profiles_text.empty() ? declared_profiles(s) : split_profiles(o.profiles_text);
  for (const auto &p : profiles) {
    if (std::find(all_profiles().begin(), all_profiles().end(), p) == all_profiles().end()) {
      std::cerr << "hal-conformance: unknown profile '" << p
                << "' (lifecycle, migration, tdx, numa)\n";
      return std::nullopt;
    }
  }
  return profiles;
}

}  // namespace hal::conformance
