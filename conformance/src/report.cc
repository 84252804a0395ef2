// report.cc - clause results, verdicts and the HTML rendering (see report.h).
#include "report.h"

#include <set>
#include <sstream>

namespace hal::conformance {

ResultCollector::ResultCollector(const std::vector<const Clause *> &selected) {
  for (const Clause *c : selected) results_.push_back(ClauseResult{c, "notrun", "", 0});
}

void ResultCollector::OnTestEnd(const ::testing::TestInfo &info) {
  const ::testing::TestResult *r = info.result();
  std::string id = info.name();
  for (char &c : id) {
    if (c == '_') c = '-';
  }
  std::lock_guard lock(mu_);
  for (auto &res : results_) {
    if (res.clause->id != id || res.clause->profile != info.test_suite_name()) continue;
    res.duration_ms = r->elapsed_time();
    std::string message;
    for (int i = 0; i < r->total_part_count(); ++i) {
      const auto &part = r->GetTestPartResult(i);
      if (part.failed() || part.skipped()) {
        if (!message.empty()) message += "\n";
        std::string text = part.message();
        if (part.failed() && part.file_name() != nullptr) {
          std::string file = part.file_name();
          file = file.substr(file.find_last_of('/') + 1);
          text = file + ":" + std::to_string(part.line_number()) + ": " + text;
        }
        message += text;
      }
    }
    res.message = message;
    res.result = r->Failed()                          ? "fail"
                 : !r->Skipped()                      ? "pass"
                 : message.rfind(kNeedsGuest, 0) == 0 ? "needs-guest"
                                                      : "skip";
  }
}

std::vector<ClauseResult> ResultCollector::results() const {
  std::lock_guard lock(mu_);
  return results_;
}

std::string profile_verdict(const std::vector<ClauseResult> &results, const std::string &profile) {
  bool must_failed = false, other_failed = false, not_run = false;
  for (const auto &r : results) {
    if (r.clause->profile != profile) continue;
    if (r.result == "fail") {
      (r.clause->level == Level::MUST ? must_failed : other_failed) = true;
    } else if (r.result == "notrun") {
      not_run = true;
    }
  }
  if (must_failed) return "fail";
  if (other_failed) return "partial";
  if (not_run) return "incomplete";
  return "pass";
}

nlohmann::json results_json(const std::vector<ClauseResult> &results,
                            const std::vector<std::string> &profiles) {
  nlohmann::json out;
  out["clauses"] = nlohmann::json::array();
  for (const auto &r : results) {
    out["clauses"].push_back({{"id", r.clause->id},
                              {"profile", r.clause->profile},
                              {"level", level_name(r.clause->level)},
                              {"capability", r.clause->capability},
                              {"title", r.clause->title},
                              {"result", r.result},
                              {"message", r.message},
                              {"durationMs", r.duration_ms}});
  }
  out["profiles"] = nlohmann::json::object();
  bool all_pass = !profiles.empty();
  for (const auto &p : profiles) {
    nlohmann::json counts = {
        {"pass", 0}, {"fail", 0}, {"skip", 0}, {"needs-guest", 0}, {"notrun", 0}};
    nlohmann::json failed = nlohmann::json::array(), needs_guest = nlohmann::json::array();
    for (const auto &r : results) {
      if (r.clause->profile != p) continue;
      counts[r.result] = counts[r.result].get<int>() + 1;
      if (r.result == "fail") failed.push_back(r.clause->id);
      if (r.result == "needs-guest") needs_guest.push_back(r.clause->id);
    }
    std::string verdict = profile_verdict(results, p);
    all_pass = all_pass && verdict == "pass";
    out["profiles"][p] = {{"verdict", verdict},
                          {"counts", counts},
                          {"failedClauses", failed},
                          {"needsGuestClauses", needs_guest}};
  }
  out["verdict"] = all_pass ? "pass" : "fail";
  return out;
}

namespace {

std::string esc(const std::string &text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string column_name(const nlohmann::json &report) {
  const auto &plugin = report.value("plugin", nlohmann::json::object());
  const auto &identity = plugin.value("identity", nlohmann::json::object());
  return identity.value("name", "?") + " " + identity.value("version", "");
}

}  // namespace

std::string render_html(const std::vector<nlohmann::json> &reports) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>HAL conformance report"
       "</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
       "td,th{border:1px solid #ccc;padding:3px 8px;vertical-align:top;font-size:13px}"
       ".pass{background:#c8f7c5}.fail{background:#f7c5c5}.skip{background:#eee}"
       ".notrun{background:#fff;color:#999}.needs-guest{background:#f7ecc5}.partial{background:#"
       "f7ecc5}"
       ".incomplete{background:#eee}pre{margin:0;white-space:pre-wrap;max-width:60em}"
       "</style></head><body>\n<h1>HAL conformance report</h1>\n";
  for (const auto &report : reports) {
    const auto plugin = report.value("plugin", nlohmann::json::object());
    const auto suite = report.value("suite", nlohmann::json::object());
    h << "<h2>" << esc(column_name(report)) << " &mdash; <span class=\""
      << esc(report.value("verdict", "")) << "\">" << esc(report.value("verdict", ""))
      << "</span></h2>\n<table>";
    auto row = [&](const std::string &k, const std::string &v) {
      h << "<tr><th>" << esc(k) << "</th><td>" << esc(v) << "</td></tr>";
    };
    row("plugin", plugin.value("path", ""));
    row("sha256", plugin.value("sha256", ""));
    row("identity", plugin.value("identity", nlohmann::json::object()).dump());
    row("ABI", plugin.value("abi", nlohmann::json::object()).dump());
    row("suite", suite.value("version", "") + " (" + suite.value("gitRevision", "") + ")");
    row("host", report.value("host", nlohmann::json::object()).dump());
    row("certify",
        report.value("run", nlohmann::json::object()).value("certify", false) ? "yes" : "no");
    h << "</table>\n<h3>Profiles</h3><table><tr><th>profile</th><th>verdict</th>"
         "<th>pass</th><th>fail</th><th>skip</th><th>needs a guest</th><th>not run</th></tr>";
    const nlohmann::json profiles = report.value("profiles", nlohmann::json::object());
    for (const auto &[name, p] : profiles.items()) {
      const auto counts = p.value("counts", nlohmann::json::object());
      std::string v = p.value("verdict", "");
      h << "<tr><td>" << esc(name) << "</td><td class=\"" << esc(v) << "\">" << esc(v) << "</td>";
      for (const char *k : {"pass", "fail", "skip", "needs-guest", "notrun"}) {
        h << "<td>" << counts.value(k, 0) << "</td>";
      }
      h << "</tr>";
    }
    h << "</table>\n";
  }
  // The matrix: one row per clause, one result column per report.
  std::vector<nlohmann::json> rows;
  std::set<std::string> seen;
  std::vector<nlohmann::json> clause_lists;
  for (const auto &report : reports) {
    clause_lists.push_back(report.contains("clauses") ? report["clauses"]
                                                      : nlohmann::json::array());
    for (const auto &c : clause_lists.back()) {
      if (seen.insert(c.value("id", "")).second) rows.push_back(c);
    }
  }
  h << "<h3>Clauses &times; results</h3>\n<table><tr><th>clause</th><th>profile</th>"
       "<th>level</th><th>requirement</th>";
  for (const auto &report : reports) h << "<th>" << esc(column_name(report)) << "</th>";
  h << "</tr>\n";
  for (const auto &c : rows) {
    std::string id = c.value("id", "");
    h << "<tr><td>" << esc(id) << "</td><td>" << esc(c.value("profile", "")) << "</td><td>"
      << esc(c.value("level", "")) << "</td><td>" << esc(c.value("title", "")) << "</td>";
    for (const auto &list : clause_lists) {
      std::string result = "notrun", message;
      for (const auto &r : list) {
        if (r.value("id", "") == id) {
          result = r.value("result", "notrun");
          message = r.value("message", "");
        }
      }
      h << "<td class=\"" << esc(result) << "\"><b>" << esc(result) << "</b>";
      if (!message.empty()) h << "<pre>" << esc(message) << "</pre>";
      h << "</td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n</body></html>\n";
  return h.str();
}

}  // namespace hal::conformance
