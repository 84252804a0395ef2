// main.cc - hal-conformance: runs the clauses of the selected profiles as GoogleTest tests against
// a backend plugin, each clause in a process of its own (isolation.h) unless --in-process, and
// writes the JSON / JUnit / HTML reports. The same binary is the clause process (--clause-process)
// and the probe that loads the plugin once for the report (--probe-result). Exit 0 only when every
// selected profile passes; 1 when one does not; 2 for a usage or load error.
//
// This file is only the sequence of modes: list the clauses, render saved reports (--html-from),
// clean up after a clause process (--clean-up), probe the plugin (--probe-result), run one clause
// (--clause-process), or run them all, as the supervisor or --in-process. The command line is
// options.h's, a clause as a test clause_test.h's, the probe probe.h's, the report run_report.h's.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "call_trace.h"
#include "clause.h"
#include "clause_test.h"
#include "core/plugin/plugin.h"
#include "file_io.h"
#include "isolation.h"
#include "options.h"
#include "probe.h"
#include "report.h"
#include "run_report.h"
#include "suite.h"

namespace hal::conformance {
namespace {

int run(int argc, char **argv) {
  Options o;
  if (std::optional<int> exit_status = parse_options(argc, argv, o)) return *exit_status;
  if (o.list) {
    std::cout << (o.markdown ? clauses_markdown() : clauses_text());
    return 0;
  }
  if (!o.html_from.empty()) {
    std::vector<nlohmann::json> reports;
    for (const auto &p : o.html_from) reports.push_back(read_json_file(p));
    write_file(o.html_path, render_html(reports));
    return 0;
  }

  const bool supervisor = o.supervisor();
  std::unique_ptr<CallTraceWriter> trace_writer;
  if (!o.call_trace.empty()) {
    trace_writer = std::make_unique<CallTraceWriter>(o.call_trace);
    set_plugin_call_observer(trace_writer.get());
  }

  Suite &s = suite();
  try {
    configure_suite(o, s);
    if (!supervisor) s.plugin = Plugin::load(o.plugin_path);
  } catch (const std::exception &e) {
    std::cerr << "hal-conformance: " << e.what() << "\n";
    return 2;
  }

  if (o.clean_up) {
    const int removed = remove_run_vms();
    write_file(o.clause_result, result_json({"pass", "removed " + std::to_string(removed) +
                                                         " VM(s) of run " + s.run_id})
                                    .dump());
    return 0;
  }

  ProbeFacts probe;
  if (supervisor) {
    // The plugin is loaded and opened only in processes of their own.
    if (!run_clauses_isolated(child_process_args(o, s.run_id), isolation_limits(o))) return 2;
    probe = probe_in_own_process(s);
  } else {
    probe = probe_here(s);
    if (!o.probe_result.empty()) {
      write_probe_result(o.probe_result, probe);
      return 0;
    }
    runner().clause_process = !o.clause_process.empty();
  }

  std::optional<std::vector<std::string>> selection = selected_profiles(o, s);
  if (!selection) return 2;
  const std::vector<std::string> &profiles = *selection;

  const std::vector<const Clause *> selected = register_clause_tests(profiles, o.clause_process);
  if (!init_googletest(argv[0], o.gtest_args, o.junit_path)) return 2;

  auto *collector = new ResultCollector(selected);
  ::testing::UnitTest::GetInstance()->listeners().Append(collector);
  std::string started = now_iso8601();
  auto t0 = std::chrono::steady_clock::now();
  int gtest_rc = RUN_ALL_TESTS();
  (void)gtest_rc;  // the verdicts come from the clause results
  if (!o.clause_process.empty()) {
    auto results = collector->results();
    IsolatedResult result{"fail", "clause " + o.clause_process + " is not in the catalogue"};
    if (!results.empty()) result = {results.front().result, results.front().message};
    write_file(o.clause_result, result_json(result).dump());
    return 0;
  }
  if (supervisor) remove_clause_files();
  auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();

  const nlohmann::json report = build_report(
      o.plugin_path, probe.facts, probe.open_error, s,
      RunFacts{started, elapsed, o.certify, profiles, supervisor}, collector->results());
  try {
    if (!o.report_path.empty()) write_file(o.report_path, report.dump(2) + "\n");
    if (!o.html_path.empty()) write_file(o.html_path, render_html({report}));
  } catch (const std::exception &e) {
    std::cerr << "hal-conformance: " << e.what() << "\n";
    return 2;
  }

  print_summary(report, probe.facts.value("name", std::string("(not loaded)")));
  return report["verdict"] == "pass" ? 0 : 1;
}

}  // namespace
}  // namespace hal::conformance

int main(int argc, char **argv) {
  try {
    return hal::conformance::run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "hal-conformance: " << e.what() << "\n";
    return 2;
  }
}
