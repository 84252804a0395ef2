// main.cc - hal-conformance: runs the clauses of the selected profiles as GoogleTest tests against
// a backend plugin, each clause in a process of its own (isolation.h) unless --in-process, and
// writes the JSON / JUnit / HTML reports. The same binary is the clause process (--clause-process)
// and the probe that loads the plugin once for the report (--probe-result). Exit 0 only when every
// selected profile passes; 1 when one does not; 2 for a usage or load error.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "call_trace.h"
#include "clause.h"
#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"
#include "host_facts.h"
#include "isolation.h"
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

nlohmann::json read_json_file(const std::string &path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw std::runtime_error(path + ": not a JSON object");
  }
  return j;
}

void write_file(const std::string &path, const std::string &text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

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

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

int run(int argc, char **argv) {
  CLI::App app{"hal-conformance: certifies a HAL backend plugin against the conformance profiles"};
  app.allow_extras();
  std::string plugin_path, config_path, target_config_path, template_path, profiles_text;
  std::string report_path, junit_path, html_path;
  std::vector<std::string> html_from;
  bool certify = false, list = false, markdown = false;
  int wait_seconds = 30;
  app.add_option("--plugin", plugin_path, "backend plugin (.so) to test");
  app.add_option("--config", config_path, "backend configuration (JSON file) for open()");
  app.add_option("--target-config", target_config_path,
                 "configuration of the migration target instance (default: --config with "
                 "\"stateDir\", else \"instance\", suffixed -target)");
  app.add_option("--spec-template", template_path,
                 "JSON merged under every VM spec the suite creates (e.g. boot.kernel)");
  app.add_option("--profile", profiles_text,
                 "comma-separated profiles: lifecycle,migration,tdx,numa (default: all the "
                 "backend declares)");
  app.add_option("--report", report_path, "write the JSON report here");
  app.add_option("--junit", junit_path, "write JUnit XML here");
  app.add_option("--html", html_path, "write the HTML report here");
  app.add_option("--html-from", html_from,
                 "render these JSON reports (one result column each) into --html and exit");
  app.add_flag("--certify", certify,
               "run the fixed full set for the backend's declared profiles (no filters)");
  app.add_flag("--list-clauses", list, "print the clause catalogue and exit");
  app.add_flag("--markdown", markdown, "with --list-clauses: Markdown (CLAUSES.md)");
  app.add_option("--wait-seconds", wait_seconds, "longest wait for a state change or event")
      ->check(CLI::PositiveNumber);
  bool in_process = false;
  int call_timeout = 120, clause_timeout = 900;
  std::string clause_process, clause_result, call_trace, probe_result, run_id;
  bool clean_up = false;
  app.add_flag("--in-process", in_process,
               "run the clauses in this process (for a debugger): a crash or hang of the plugin "
               "then ends the run without reports");
  app.add_option("--call-timeout-seconds", call_timeout,
                 "longest a plugin call may run before its clause fails (default 120)")
      ->check(CLI::PositiveNumber);
  app.add_option("--clause-timeout-seconds", clause_timeout,
                 "longest a clause may run before it fails (default 900)")
      ->check(CLI::PositiveNumber);
  app.add_option("--clause-process", clause_process, "(internal) run this clause and exit")
      ->group("");
  app.add_option("--clause-result", clause_result, "(internal) where the clause's result goes")
      ->group("");
  app.add_option("--call-trace", call_trace, "(internal) where plugin calls are traced")->group("");
  app.add_option("--probe-result", probe_result, "(internal) load and open, write the facts")
      ->group("");
  app.add_option("--run-id", run_id, "(internal) the run's VM name tag")->group("");
  app.add_flag("--clean-up", clean_up, "(internal) remove the VMs of --run-id and exit")->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (list) {
    std::cout << (markdown ? clauses_markdown() : clauses_text());
    return 0;
  }
  if (!html_from.empty()) {
    if (html_path.empty()) {
      std::cerr << "hal-conformance: --html-from needs --html OUT\n";
      return 2;
    }
    std::vector<nlohmann::json> reports;
    for (const auto &p : html_from) reports.push_back(read_json_file(p));
    write_file(html_path, render_html(reports));
    return 0;
  }
  if (plugin_path.empty()) {
    std::cerr << "hal-conformance: --plugin is required\n" << app.help();
    return 2;
  }

  // GoogleTest gets the remaining arguments (e.g. --gtest_filter), except under --certify.
  std::vector<std::string> extras = app.remaining();
  if (certify) {
    for (const auto &e : extras) {
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
    if (!profiles_text.empty()) {
      std::cerr << "hal-conformance: --certify selects the backend's declared profiles; "
                   "--profile is not allowed\n";
      return 2;
    }
    if (in_process) {
      std::cerr << "hal-conformance: --certify runs every clause in its own process; "
                   "--in-process is not allowed\n";
      return 2;
    }
  }
  const bool supervisor =
      !in_process && clause_process.empty() && probe_result.empty() && !clean_up;
  std::unique_ptr<CallTraceWriter> trace_writer;
  if (!call_trace.empty()) {
    trace_writer = std::make_unique<CallTraceWriter>(call_trace);
    set_plugin_call_observer(trace_writer.get());
  }

  Suite &s = suite();
  s.wait = std::chrono::seconds(wait_seconds);
  s.run_id = run_id.empty() ? random_tag() : run_id;
  try {
    if (!config_path.empty()) s.config = read_json_file(config_path);
    if (!template_path.empty()) s.spec_template = read_json_file(template_path);
    if (!target_config_path.empty()) {
      s.target_config = read_json_file(target_config_path);
    } else {
      // Same config, another instance: a different stateDir when there is one, else "instance".
      s.target_config = s.config;
      if (s.config.contains("stateDir") && s.config["stateDir"].is_string()) {
        s.target_config["stateDir"] = s.config["stateDir"].get<std::string>() + "-target";
      } else {
        s.target_config["instance"] =
            s.config.value("instance", std::string("default")) + "-target";
      }
    }
    if (!supervisor) s.plugin = Plugin::load(plugin_path);
  } catch (const std::exception &e) {
    std::cerr << "hal-conformance: " << e.what() << "\n";
    return 2;
  }

  // The clause processes' arguments: this run's inputs and deadlines.
  std::vector<std::string> base_argv = {std::filesystem::read_symlink("/proc/self/exe").string(),
                                        "--plugin",
                                        plugin_path,
                                        "--wait-seconds",
                                        std::to_string(wait_seconds),
                                        "--run-id",
                                        s.run_id};
  for (const auto &[flag, path] :
       {std::pair<const char *, const std::string &>{"--config", config_path},
        {"--target-config", target_config_path},
        {"--spec-template", template_path}}) {
    if (!path.empty()) {
      base_argv.push_back(flag);
      base_argv.push_back(std::filesystem::absolute(path).string());
    }
  }

  if (clean_up) {
    const int removed = remove_run_vms();
    write_file(clause_result, result_json({"pass", "removed " + std::to_string(removed) +
                                                       " VM(s) of run " + s.run_id})
                                  .dump());
    return 0;
  }

  nlohmann::json open_error, facts;
  if (supervisor) {
    // The plugin is loaded and opened only in processes of their own.
    ClauseRunner &r = runner();
    r.isolated = true;
    r.base_argv = base_argv;
    r.limits.call_timeout = std::chrono::seconds(call_timeout);
    r.limits.clause_timeout = std::chrono::seconds(clause_timeout);
    char dir_template[] = "/tmp/hal-conformance-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) {
      std::cerr << "hal-conformance: cannot create a temporary directory\n";
      return 2;
    }
    r.dir = dir_template;
    std::vector<std::string> argv = base_argv;
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
    if (!probe_result.empty()) {
      nlohmann::json probe = result_json(IsolatedResult{"pass", ""});
      probe["facts"] = facts;
      write_file(probe_result, probe.dump());
      return 0;
    }
    runner().clause_process = !clause_process.empty();
  }

  std::vector<std::string> profiles =
      profiles_text.empty() ? declared_profiles(s) : split_profiles(profiles_text);
  for (const auto &p : profiles) {
    if (std::find(all_profiles().begin(), all_profiles().end(), p) == all_profiles().end()) {
      std::cerr << "hal-conformance: unknown profile '" << p
                << "' (lifecycle, migration, tdx, numa)\n";
      return 2;
    }
  }

  std::vector<const Clause *> selected;
  for (const auto &c : clauses()) {
    if (!clause_process.empty()
            ? c.id != clause_process
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
  for (const auto &e : extras) gtest_args.push_back(e);
  if (!junit_path.empty()) gtest_args.push_back("--gtest_output=xml:" + junit_path);
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
  if (!clause_process.empty()) {
    auto results = collector->results();
    IsolatedResult result{"fail", "clause " + clause_process + " is not in the catalogue"};
    if (!results.empty()) result = {results.front().result, results.front().message};
    write_file(clause_result, result_json(result).dump());
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
    digest = sha256_file(plugin_path);
  } catch (const std::exception &e) {
    digest = std::string("error: ") + e.what();
  }
  report["plugin"] = {{"path", plugin_path},
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
                   {"certify", certify},
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
    if (!report_path.empty()) write_file(report_path, report.dump(2) + "\n");
    if (!html_path.empty()) write_file(html_path, render_html({report}));
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
            << (certify ? " (certification run)" : "") << "\n";
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
