// clause_test.cc - a clause as a GoogleTest test, in this process or in a clause process of its
// own (see clause_test.h).
#include "clause_test.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "suite.h"

namespace hal::conformance {
namespace {

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

/** Removes, in a process of its own, the VMs a clause process that did not complete left; its
 *  files are those of the clause process at `base` with ".cleanup" added. */
void clean_up_after(const std::filesystem::path &base) {
  const ClauseFiles files = clause_files_at(base.string() + ".cleanup", ".json");
  IsolatedResult cleaned = run_clause_process(
      clause_process_argv({"--clean-up", "--clause-result", files.result.string(), "--call-trace",
                           files.trace.string()}),
      files, runner().limits);
  if (!cleaned.completed)
    std::cerr << "hal-conformance: clean-up failed: " << cleaned.message << "\n";
}

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
    const std::filesystem::path base = runner().dir / clause_->id;
    const ClauseFiles files = clause_files_at(base, ".result.json");
    IsolatedResult result = run_clause_process(
        clause_process_argv({"--clause-process", clause_->id, "--clause-result",
                             files.result.string(), "--call-trace", files.trace.string()}),
        files, runner().limits);
    if (!result.completed) clean_up_after(base);
    if (result.result == "skip" || result.result == "needs-guest") GTEST_SKIP() << result.message;
    if (result.result != "pass") ADD_FAILURE() << result.message;
  }

  const Clause *clause_;
};

}  // namespace

ClauseRunner &runner() {
  static ClauseRunner instance;
  return instance;
}

bool run_clauses_isolated(std::vector<std::string> base_argv, const IsolationLimits &limits) {
  ClauseRunner &r = runner();
  r.isolated = true;
  r.base_argv = std::move(base_argv);
  r.limits = limits;
  char dir_template[] = "/tmp/hal-conformance-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) {
    std::cerr << "hal-conformance: cannot create a temporary directory\n";
    return false;
  }
  r.dir = dir_template;
  return true;
}

void remove_clause_files() {
  std::filesystem::remove_all(runner().dir);
}

ClauseFiles clause_files_at(const std::filesystem::path &base, const std::string &result_suffix) {
  return ClauseFiles{base.string() + result_suffix, base.string() + ".trace",
                     base.string() + ".log"};
}

std::vector<std::string> clause_process_argv(std::initializer_list<std::string> args) {
  std::vector<std::string> argv = runner().base_argv;
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::vector<const Clause *> register_clause_tests(const std::vector<std::string> &profiles,
                                                  const std::string &only_clause) {
  std::vector<const Clause *> selected;
  for (const auto &c : clauses()) {
    if (!only_clause.empty()
            ? c.id != only_clause
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
  return selected;
}

bool init_googletest(const std::string &argv0, const std::vector<std::string> &args,
                     const std::string &junit_path) {
  std::vector<std::string> gtest_args = {argv0};
  for (const auto &e : args) gtest_args.push_back(e);
  if (!junit_path.empty()) gtest_args.push_back("--gtest_output=xml:" + junit_path);
  std::vector<char *> gtest_argv;
  for (auto &a : gtest_args) gtest_argv.push_back(a.data());
  int gtest_argc = static_cast<int>(gtest_argv.size());
  gtest_argv.push_back(nullptr);  // argv[argc] must be NULL: GoogleTest shifts the array in place
  ::testing::InitGoogleTest(&gtest_argc, gtest_argv.data());
  if (gtest_argc > 1) {
    std::cerr << "hal-conformance: unknown argument " << gtest_argv[1] << "\n";
    return false;
  }
  return true;
}

}  // namespace hal::conformance
