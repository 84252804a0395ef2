// options.h - hal-conformance's command line: every option in one struct, parsed with CLI11,
// checked (--certify refuses whatever would narrow the fixed clause set), and the defaults that
// follow from it (the migration target's config, the run id, the profiles to run).
#ifndef HAL_CONFORMANCE_OPTIONS_H
#define HAL_CONFORMANCE_OPTIONS_H

#include <optional>
#include <string>
#include <vector>

#include "isolation.h"
#include "suite.h"

namespace hal::conformance {

/** The command line of hal-conformance (README.md, "Running it"). */
struct Options {
  std::string plugin_path;             ///< --plugin: the backend .so under test.
  std::string config_path;             ///< --config: the backend's open() config ("" = {}).
  std::string target_config_path;      ///< --target-config ("" = derived from --config).
  std::string template_path;           ///< --spec-template ("" = none).
  std::string profiles_text;           ///< --profile as given ("" = the declared profiles).
  std::string report_path;             ///< --report: the JSON report ("" = none).
  std::string junit_path;              ///< --junit: GoogleTest's XML ("" = none).
  std::string html_path;               ///< --html: the HTML report ("" = none).
  std::vector<std::string> html_from;  ///< --html-from: saved reports to render into --html.
  bool certify = false;                ///< --certify: the fixed full clause set.
  bool list = false;                   ///< --list-clauses: print the catalogue.
  bool markdown = false;               ///< --markdown: the catalogue as CLAUSES.md.
  int wait_seconds = 30;               ///< --wait-seconds: longest wait for a state or event.
  bool in_process = false;             ///< --in-process: no clause processes.
  int call_timeout = 120;              ///< --call-timeout-seconds: one plugin call.
  int clause_timeout = 900;            ///< --clause-timeout-seconds: one clause.
  std::string clause_process;          ///< (internal) --clause-process: run this clause only.
  std::string clause_result;           ///< (internal) --clause-result: where a child's result goes.
  std::string call_trace;              ///< (internal) --call-trace: where plugin calls are traced.
  std::string probe_result;            ///< (internal) --probe-result: load, open, write the facts.
  std::string run_id;                  ///< (internal) --run-id: the run's VM name tag.
  bool clean_up = false;               ///< (internal) --clean-up: remove the VMs of --run-id.
  /** The arguments CLI11 left (e.g. --gtest_filter), for GoogleTest. */
  std::vector<std::string> gtest_args;

  /** True for the supervisor: the process that runs every clause, and the probe, in a process
   *  of its own and never loads the plugin itself. */
  bool supervisor() const {
    return !in_process && clause_process.empty() && probe_result.empty() && !clean_up;
  }
};

/** Parses the command line into `options`. Answers an exit status when it ends the run: 0 after
 *  --help, 2 after a usage error (a bad option, --html-from without --html, no --plugin, or
 *  --certify with --profile, a GoogleTest filter, repeat or shuffle, GTEST_FILTER or
 *  --in-process), said on stderr; else nothing. --plugin and --certify are not checked with
 *  --list-clauses, nor with --html-from. */
std::optional<int> parse_options(int argc, char **argv, Options &options);

/** Sets `s` up from `options`: the wait, the run id (a random tag without --run-id), the config,
 *  the spec template and the migration target's config read from their files. Without
 *  --target-config the target's config is the config with "stateDir" suffixed "-target" when it
 *  has one, else "instance" (default "default") suffixed "-target". Throws std::runtime_error
 *  naming a file that cannot be read or is not a JSON object. */
void configure_suite(const Options &options, Suite &s);

/** The arguments every clause, probe and clean-up process of this run starts with: this
 *  executable, the plugin, the wait, `run_id` and the configs (as absolute paths). */
std::vector<std::string> child_process_args(const Options &options, const std::string &run_id);

/** The deadlines of --call-timeout-seconds and --clause-timeout-seconds. */
IsolationLimits isolation_limits(const Options &options);

/** The profiles to run: --profile's, else those the backend declares (lifecycle and tdx always,
 *  migration with features.liveMigration, numa with features.numa). Answers nothing, having said
 *  so on stderr, when --profile names an unknown profile. */
std::optional<std::vector<std::string>> selected_profiles(const Options &options, const Suite &s);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_OPTIONS_H
