// main.cc - hal-conformance: runs the clauses of the selected profiles as GoogleTest tests against
// a backend plugin, each clause in a process of its own (isolation.h) unless --in-process, and
// writes the JSON / JUnit / HTML reports. The same binary is the clause process (--clause-process)
// and the probe that loads the plugin once for the report (--probe-result). Exit 0 only when every
// selected profile passes; 1 when one does not; 2 for a usage or load error.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "call_trace.h"
#include "clause.h"
#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"
#include "file_io.h"
#include "host_facts.h"
#include "isolation.h"
#include "options.h"
#include "report.h"
#include "sha256.h"
#include "suite.h"

#ifndef HAL_CONFORMANCE_VERSION
#define HAL_CONFORMANCE_VERSION "0.0.0"
#endif
#ifndef HAL_GIT_REVISION
#define HAL_GIT_REVISION "unknown"
#endif

namespace hal::conformance {
namespace {

/** How the clauses of this process run. */
struct ClauseRunner {
  /** Run each clause in a clause process (the supervisor's side) instead of in this one. */
  bool isolated = false;
  /** This is a clause process: check for threads left behind after the clause. */
  bool clause_process = false;
  /** The clause process's arguments, without the clause's own. */
  std::vector<std::string> base_argv;
  /** Where clause processes keep their files. */
  std::filesystem::path dir;
  /** Their deadlines. */
  IsolationLimits limits;
};

ClauseRunner &runner() {
  static ClauseRunner instance;
  return instance;
}

/** Fails the running clause when the plugin left more threads running than there were before it,
 *  once every backend it opened is closed (allowing them two seconds to end). */
void check_no_thread_left(std::size_t before) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (thread_count() > before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const std::size_t after = thread_count();
  if (after > before) {
    ADD_FAILURE() << (after - before)
                  << " thread(s) the plugin started still run after every backend of the clause "
                     "was closed (a leaked thread)";
  }
}

void clean_up_after(const std::filesystem::path &base);

/** One clause as a GoogleTest test. */
class ClauseTest : public ::testing::Test {
 public:
  explicit ClauseTest(const Clause *clause) : clause_(clause) {}
  void TestBody() override {
    RecordProperty("clause", clause_->id);
    RecordProperty("level", std::string(level_name(clause_->level)));
    RecordProperty("profile", clause_->profile);
    RecordProperty("title", clause_->title);
    if (runner().isolated) return run_isolated();
    if (!clause_->capability.empty() && !suite().declares(clause_->capability)) {
      GTEST_SKIP() << "optional capability " << clause_->capability
                   << " is declared absent by the backend";
    }
    const std::size_t threads = thread_count();
    clause_->body();
    if (runner().clause_process) check_no_thread_left(threads);
  }

 private:
  void run_isolated() {
    const ClauseRunner &r = runner();
    const std::filesystem::path base = r.dir / clause_->id;
    ClauseFiles files{base.string() + ".result.json", base.string() + ".trace",
                      base.string() + ".log"};
    std::vector<std::string> argv = r.base_argv;
    for (const std::string &arg :
         {std::string("--clause-process"), clause_->id, std::string("--clause-result"),
          files.result.string(), std::string("--call-trace"), files.trace.string()})
      argv.push_back(arg);
    IsolatedResult result = run_clause_process(argv, files, r.limits);
    if (!result.completed) clean_up_after(base);
    if (result.result == "skip" || result.result == "needs-guest") GTEST_SKIP() << result.message;
    if (result.result != "pass") ADD_FAILURE() << result.message;
  }

  const Clause *clause_;
};

/** Removes, in a process of its own, the VMs a clause process that did not complete left. */
void clean_up_after(const std::filesystem::path &base) {
  const ClauseRunner &r = runner();
  const ClauseFiles files{base.string() + ".cleanup.json", base.string() + ".cleanup.trace",
                          base.string() + ".cleanup.log"};
  std::vector<std::string> argv = r.base_argv;
  for (const std::string &arg :
       {std::string("--clean-up"), std::string("--clause-result"), files.result.string(),
        std::string("--call-trace"), files.trace.string()})
    argv.push_back(arg);
  IsolatedResult cleaned = run_clause_process(argv, files, r.limits);
  if (!cleaned.completed)
    std::cerr << "hal-conformance: clean-up failed: " << cleaned.message << "\n";
}

/** What the probe learns of the plugin for the report: identity, ABI, capabilities, host. */
nlohmann::json plugin_facts(const Suite &s) {
  return {{"name", s.plugin->name()},
          {"identity", s.plugin->identity()},
          {"abi",
           {{"offered", version_string(s.plugin->offered_version())},
            {"negotiated", version_string(s.plugin->negotiated_version())},
            {"tableSize", s.plugin->table_size()}}},
          {"capabilities", s.capabilities},
          {"hostInfo", s.host_info}};
}

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

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

  nlohmann::json open_error, facts;
  if (supervisor) {
    // The plugin is loaded and opened only in processes of their own.
    ClauseRunner &r = runner();
    r.isolated = true;
    r.base_argv = child_process_args(o, s.run_id);
    r.limits = isolation_limits(o);
    char dir_template[] = "/tmp/hal-conformance-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      std::cerr << "hal-conformance: cannot create a temporary directory\n";
      return 2;
    }
    r.dir = dir_template;
    std::vector<std::string> argv = r.base_argv;
    for (const std::string &arg : {std::string("--probe-result"), (r.dir / "probe.json").string(),
                                   std::string("--call-trace"), (r.dir / "probe.trace").string()})
      argv.push_back(arg);
    IsolatedResult probe = run_clause_process(
        argv, ClauseFiles{r.dir / "probe.json", r.dir / "probe.trace", r.dir / "probe.log"},
        r.limits);
    if (probe.result == "pass") {
      std::ifstream in(r.dir / "probe.json");
      facts = nlohmann::json::parse(in, nullptr, false).value("facts", nlohmann::json::object());
      s.capabilities = facts.value("capabilities", nlohmann::json());
      s.host_info = facts.value("hostInfo", nlohmann::json());
      if (facts.contains("openError")) open_error = facts["openError"];
    } else {
      open_error = "loading or opening the plugin failed: " + probe.message;
    }
    if (!open_error.is_null())
      std::cerr << "hal-conformance: " << open_error.get<std::string>() << "\n";
  } else {
    try {
      Backend backend = s.open();
      s.capabilities = backend.capabilities();
      s.host_info = backend.host_info();
    } catch (const std::exception &e) {
      // Every clause will fail on its own; record why up front.
      open_error = e.what();
      std::cerr << "hal-conformance: opening the backend failed: " << e.what() << "\n";
    }
    facts = plugin_facts(s);
    if (!open_error.is_null()) facts["openError"] = open_error;
    if (!o.probe_result.empty()) {
      nlohmann::json probe = result_json(IsolatedResult{"pass", ""});
      probe["facts"] = facts;
      write_file(o.probe_result, probe.dump());
      return 0;
    }
    runner().clause_process = !o.clause_process.empty();
  }

  std::optional<std::vector<std::string>> selection = selected_profiles(o, s);
  if (!selection) return 2;
  const std::vector<std::string> &profiles = *selection;

  std::vector<const Clause *> selected;
  for (const auto &c : clauses()) {
    if (!o.clause_process.empty()
            ? c.id != o.clause_process
            : std::find(profiles.begin(), profiles.end(), c.profile) == profiles.end())
      continue;
    selected.push_back(&c);
    std::string name = c.id;
    for (char &ch : name) {
      if (ch == '-') ch = '_';
    }
    ::testing::RegisterTest(
        c.profile.c_str(), name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
        [clause = &c]() -> ::testing::Test * { return new ClauseTest(clause); });
  }

  std::vector<std::string> gtest_args = {argv[0]};
  for (const auto &e : o.gtest_args) gtest_args.push_back(e);
  if (!o.junit_path.empty()) gtest_args.push_back("--gtest_output=xml:" + o.junit_path);
  std::vector<char *> gtest_argv;
  for (auto &a : gtest_args) gtest_argv.push_back(a.data());
  int gtest_argc = static_cast<int>(gtest_argv.size());
  gtest_argv.push_back(nullptr);  // argv[argc] must be NULL: GoogleTest shifts the array in place
  ::testing::InitGoogleTest(&gtest_argc, gtest_argv.data());
  if (gtest_argc > 1) {
    std::cerr << "hal-conformance: unknown argument " << gtest_argv[1] << "\n";
    return 2;
  }

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
  if (supervisor) std::filesystem::remove_all(runner().dir);
  auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();

  HostFacts host = read_host_facts();
  nlohmann::json report;
  report["suite"] = {{"name", "hal-conformance"},
                     {"version", HAL_CONFORMANCE_VERSION},
                     {"gitRevision", HAL_GIT_REVISION}};
  std::string digest;
  try {
    digest = sha256_file(o.plugin_path);
  } catch (const std::exception &e) {
    digest = std::string("error: ") + e.what();
  }
  report["plugin"] = {{"path", o.plugin_path},
                      {"sha256", digest},
                      {"identity", facts.value("identity", nlohmann::json())},
                      {"abi", facts.value("abi", nlohmann::json())}};
  report["host"] = host.to_json();
  report["backend"] = {{"config", s.config},
                       {"targetConfig", s.target_config},
                       {"specTemplate", s.spec_template},
                       {"capabilities", s.capabilities},
                       {"hostInfo", s.host_info}};
  if (!open_error.is_null()) report["backend"]["openError"] = open_error;
  std::string filter = ::testing::GTEST_FLAG(filter);
  report["run"] = {{"startedAt", started},
                   {"durationMs", elapsed},
                   {"certify", o.certify},
                   {"profiles", profiles},
                   {"filter", filter},
                   {"runId", s.run_id},
                   {"isolation", supervisor ? "process per clause" : "in process"}};
  auto results = collector->results();
  nlohmann::json summary = results_json(results, profiles);
  report["clauses"] = summary["clauses"];
  report["profiles"] = summary["profiles"];
  report["verdict"] = summary["verdict"];

  try {
    if (!o.report_path.empty()) write_file(o.report_path, report.dump(2) + "\n");
    if (!o.html_path.empty()) write_file(o.html_path, render_html({report}));
  } catch (const std::exception &e) {
    std::cerr << "hal-conformance: " << e.what() << "\n";
    return 2;
  }

  std::cout << "\nhal-conformance " << HAL_CONFORMANCE_VERSION << ": plugin "
            << facts.value("name", std::string("(not loaded)")) << " (sha256 "
            << digest.substr(0, 16) << "...)\n";
  for (const auto &p : profiles) {
    const auto &pj = report["profiles"][p];
    std::cout << "  profile " << p << ": " << pj["verdict"].get<std::string>();
    if (!pj["failedClauses"].empty()) std::cout << "  failed: " << pj["failedClauses"].dump();
    if (!pj["needsGuestClauses"].empty()) {
      std::cout << "  not verified, needs a guest console: " << pj["needsGuestClauses"].dump();
    }
    std::cout << "\n";
  }
  std::cout << "  verdict: " << report["verdict"].get<std::string>()
            << (o.certify ? " (certification run)" : "") << "\n";
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
