// report.h - results of a conformance run: per-clause outcomes collected from GoogleTest, profile
// verdicts (pass / partial / fail), and the JSON and HTML renderings of the report.
#ifndef HAL_CONFORMANCE_REPORT_H
#define HAL_CONFORMANCE_REPORT_H

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "clause.h"

namespace hal::conformance {

/** The message prefix of a clause that could not run for want of a guest console; the report
 *  lists such clauses as "needs-guest" rather than passing them. */
inline constexpr const char *kNeedsGuest = "needs a guest: ";

/** The outcome of one clause. */
struct ClauseResult {
  const Clause *clause = nullptr;  ///< The clause.
  std::string result = "notrun";   ///< "pass"|"fail"|"skip"|"needs-guest"|"notrun".
  std::string message;             ///< Failure messages or the skip reason.
  int64_t duration_ms = 0;         ///< How long the test ran.
};

/** Collects clause outcomes as GoogleTest finishes each test. */
class ResultCollector : public ::testing::EmptyTestEventListener {
 public:
  /** Expects results for `selected` (clauses of the selected profiles). */
  explicit ResultCollector(const std::vector<const Clause *> &selected);
  void OnTestEnd(const ::testing::TestInfo &info) override;
  /** The results in clause order. */
  std::vector<ClauseResult> results() const;

 private:
  mutable std::mutex mu_;
  std::vector<ClauseResult> results_;
};

/** Verdict of one profile from its clause results: "fail" (a MUST failed), "partial" (only
 *  SHOULD/MAY failed), "incomplete" (nothing failed but some clauses did not run), "pass". A
 * needs-guest clause does not fail its profile; the report lists it as not verified. */
std::string profile_verdict(const std::vector<ClauseResult> &results, const std::string &profile);

/** Builds the "clauses" and "profiles" parts of the JSON report and its overall "verdict". */
nlohmann::json results_json(const std::vector<ClauseResult> &results,
                            const std::vector<std::string> &profiles);

/** Renders a JSON report (as written by hal-conformance) as a standalone HTML page: a header
 *  with the plugin and host facts, verdicts per profile, and a clauses x results matrix. Several
 *  reports become several result columns (e.g. one per backend). */
std::string render_html(const std::vector<nlohmann::json> &reports);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_REPORT_H
