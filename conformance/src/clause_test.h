// clause_test.h - how a clause runs as a GoogleTest test: in this process (--in-process, or in a
// clause process, which then checks that the plugin left no thread running), or, in the
// supervisor, in a clause process of its own (isolation.h), followed by a clean-up process when
// that one did not complete.
#ifndef HAL_CONFORMANCE_CLAUSE_TEST_H
#define HAL_CONFORMANCE_CLAUSE_TEST_H

#include <filesystem>
#include <initializer_list>
#include <string>
#include <vector>

#include "clause.h"
#include "isolation.h"

namespace hal::conformance {

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

/** The process-wide clause runner. */
ClauseRunner &runner();

/** Makes this process the supervisor: every clause then runs in a process started with
 *  `base_argv` (child_process_args) under `limits`, keeping its files in a new temporary
 *  directory. Answers false, having said so on stderr, when that directory cannot be created. */
bool run_clauses_isolated(std::vector<std::string> base_argv, const IsolationLimits &limits);

/** Removes the supervisor's temporary directory and the clause processes' files in it. */
void remove_clause_files();

/** The files of a child process at `base` (a path without suffix): its result at `base` +
 *  `result_suffix`, its call trace at `base`.trace and its output at `base`.log. */
ClauseFiles clause_files_at(const std::filesystem::path &base, const std::string &result_suffix);

/** A child process's command line: the runner's base_argv followed by `args`. */
std::vector<std::string> clause_process_argv(std::initializer_list<std::string> args);

/** Registers one GoogleTest test per clause (test suite = profile, name = id with '_'): the
 *  clause `only_clause` when it is not empty (a clause process), else every clause of
 *  `profiles`. Answers the registered clauses in catalogue order. */
std::vector<const Clause *> register_clause_tests(const std::vector<std::string> &profiles,
                                                  const std::string &only_clause);

/** Initialises GoogleTest with `args` (e.g. --gtest_filter) after `argv0`, and its JUnit output
 *  to `junit_path` unless empty. Answers false, having said so on stderr, when GoogleTest leaves
 *  an argument it does not know. */
bool init_googletest(const std::string &argv0, const std::vector<std::string> &args,
                     const std::string &junit_path);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_CLAUSE_TEST_H
