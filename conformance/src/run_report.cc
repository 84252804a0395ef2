// run_report.cc - the final JSON report and the summary lines (see run_report.h).
#include "run_report.h"

#include <gtest/gtest.h>

#include <ctime>
#include <iostream>

#include "host_facts.h"
#include "sha256.h"

#ifndef HAL_CONFORMANCE_VERSION
#define HAL_CONFORMANCE_VERSION "0.0.0"
#endif
#ifndef HAL_GIT_REVISION
#define HAL_GIT_REVISION "unknown"
#endif

namespace hal::conformance {

std::string now_iso8601() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

nlohmann::json build_report(const std::string &plugin_path, const nlohmann::json &facts,
                            const nlohmann::json &open_error, const Suite &s, const RunFacts &run,
                            const std::vector<ClauseResult> &results) {
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
  report["run"] = {{"startedAt", run.started_at},
                   {"durationMs", run.duration_ms},
                   {"certify", run.certify},
                   {"profiles", run.profiles},
                   {"filter", filter},
                   {"runId", s.run_id},
                   {"isolation", run.isolated ? "process per clause" : "in process"}};
  nlohmann::json summary = results_json(results, run.profiles);
  report["clauses"] = summary["clauses"];
  report["profiles"] = summary["profiles"];
  report["verdict"] = summary["verdict"];
  return report;
}

void print_summary(const nlohmann::json &report, const std::string &plugin_name) {
  std::cout << "\nhal-conformance " << HAL_CONFORMANCE_VERSION << ": plugin " << plugin_name
            << " (sha256 " << report["plugin"]["sha256"].get<std::string>().substr(0, 16)
            << "...)\n";
  for (const auto &p : report["run"]["profiles"]) {
    const auto &pj = report["profiles"][p.get<std::string>()];
    std::cout << "  profile " << p.get<std::string>() << ": " << pj["verdict"].get<std::string>();
    if (!pj["failedClauses"].empty()) std::cout << "  failed: " << pj["failedClauses"].dump();
    if (!pj["needsGuestClauses"].empty()) {
      std::cout << "  not verified, needs a guest console: " << pj["needsGuestClauses"].dump();
    }
    std::cout << "\n";
  }
  std::cout << "  verdict: " << report["verdict"].get<std::string>()
            << (report["run"]["certify"].get<bool>() ? " (certification run)" : "") << "\n";
}

}  // namespace hal::conformance
