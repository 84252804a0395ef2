// main.cc - hal-conformance: loads a backend plugin, runs the clauses of the selected profiles as
// GoogleTest tests, and writes the JSON / JUnit / HTML reports. Exit 0 only when every selected
// profile passes; 1 when one does not; 2 for a usage or load error.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "clause.h"
#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"
#include "host_facts.h"
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

/** One clause as a GoogleTest test. */
class ClauseTest : public ::testing::Test {
 public:
  explicit ClauseTest(const Clause *clause) : clause_(clause) {}
  void TestBody() override {
    RecordProperty("clause", clause_->id);
    RecordProperty("level", std::string(level_name(clause_->level)));
    RecordProperty("profile", clause_->profile);
    RecordProperty("title", clause_->title);
    if (!clause_->capability.empty() && !suite().declares(clause_->capability)) {
      GTEST_SKIP() << "optional capability " << clause_->capability
                   << " is declared absent by the backend";
    }
    clause_->body();
  }

 private:
  const Clause *clause_;
};

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
  }

  Suite &s = suite();
  s.wait = std::chrono::seconds(wait_seconds);
  s.run_id = random_tag();
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
    s.plugin = Plugin::load(plugin_path);
  } catch (const std::exception &e) {
    std::cerr << "hal-conformance: " << e.what() << "\n";
    return 2;
  }

  nlohmann::json open_error;
  try {
    Backend backend = s.open();
    s.capabilities = backend.capabilities();
    s.host_info = backend.host_info();
  } catch (const std::exception &e) {
    // Every clause will fail on its own; record why up front.
    open_error = e.what();
    std::cerr << "hal-conformance: opening the backend failed: " << e.what() << "\n";
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
    if (std::find(profiles.begin(), profiles.end(), c.profile) == profiles.end()) continue;
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
  auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();

  HostFacts facts = read_host_facts();
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
                      {"identity", s.plugin->identity()},
                      {"abi",
                       {{"offered", version_string(s.plugin->offered_version())},
                        {"negotiated", version_string(s.plugin->negotiated_version())},
                        {"tableSize", s.plugin->table_size()}}}};
  report["host"] = facts.to_json();
  report["backend"] = {{"config", s.config},
                       {"targetConfig", s.target_config},
                       {"specTemplate", s.spec_template},
                       {"capabilities", s.capabilities},
                       {"hostInfo", s.host_info}};
  if (!open_error.is_null()) report["backend"]["openError"] = open_error;
  std::string filter = ::testing::GTEST_FLAG(filter);
  report["run"] = {{"startedAt", started}, {"durationMs", elapsed}, {"certify", certify},
                   {"profiles", profiles}, {"filter", filter},      {"runId", s.run_id}};
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

  std::cout << "\nhal-conformance " << HAL_CONFORMANCE_VERSION << ": plugin " << s.plugin->name()
            << " (sha256 " << digest.substr(0, 16) << "...)\n";
  for (const auto &p : profiles) {
    const auto &pj = report["profiles"][p];
    std::cout << "  profile " << p << ": " << pj["verdict"].get<std::string>();
    if (!pj["failedClauses"].empty()) std::cout << "  failed: " << pj["failedClauses"].dump();
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
