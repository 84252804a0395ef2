// run_report.h - the final JSON report of a run (suite, plugin, host, backend, run, clauses,
// profiles, verdict; README.md, "Reading the report") and the summary lines printed after it.
#ifndef HAL_CONFORMANCE_RUN_REPORT_H
#define HAL_CONFORMANCE_RUN_REPORT_H

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "report.h"
#include "suite.h"

namespace hal::conformance {

/** How the run went, beyond its clause results: the report's "run" part. */
struct RunFacts {
  std::string started_at;             ///< When the clauses started (now_iso8601).
  int64_t duration_ms = 0;            ///< How long they took.
  bool certify = false;               ///< A --certify run.
  std::vector<std::string> profiles;  ///< The selected profiles.
  bool isolated = true;               ///< Each clause ran in a process of its own.
};

/** The current time, UTC, as the report gives it ("2026-01-31T12:00:00Z"). */
std::string now_iso8601();

/** The JSON report of a run of the plugin at `plugin_path`: `facts` are the probe's (identity,
 *  ABI), `open_error` why opening the backend failed (null when it did not), `s` the configs,
 *  spec template, capabilities, host info and run id, `run` how the run went (with GoogleTest's
 *  filter), `results` the clause results, from which come the profiles' verdicts and the
 *  overall one. The suite's version and git revision, the plugin's sha256 and the host's facts
 *  are read here. */
nlohmann::json build_report(const std::string &plugin_path, const nlohmann::json &facts,
                            const nlohmann::json &open_error, const Suite &s, const RunFacts &run,
                            const std::vector<ClauseResult> &results);

/** Prints the summary of `report` on stdout: the suite's version, `plugin_name` and the start of
 *  its sha256, each profile's verdict with its failed and not verified clauses, the verdict. */
void print_summary(const nlohmann::json &report, const std::string &plugin_name);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_RUN_REPORT_H
