// probe.cc - learning the plugin's facts for the report, in a probe process or in this one (see
// probe.h).
#include "probe.h"

#include <fstream>
#include <iostream>

#include "clause_test.h"
#include "core/plugin/backend.h"
#include "core/plugin/plugin.h"
#include "file_io.h"
#include "isolation.h"

namespace hal::conformance {
namespace {

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

}  // namespace

ProbeFacts probe_in_own_process(Suite &s) {
  ProbeFacts out;
  const ClauseFiles files = clause_files_at(runner().dir / "probe", ".json");
  IsolatedResult probe =
      run_clause_process(clause_process_argv({"--probe-result", files.result.string(),
                                              "--call-trace", files.trace.string()}),
                         files, runner().limits);
  if (probe.result == "pass") {
    std::ifstream in(files.result);
    const nlohmann::json written = nlohmann::json::parse(in, nullptr, false);
    if (written.is_object() && written.contains("facts") && written["facts"].is_object()) {
      out.facts = written["facts"];
    }
    s.capabilities = out.facts.value("capabilities", nlohmann::json());
    s.host_info = out.facts.value("hostInfo", nlohmann::json());
    if (out.facts.contains("openError")) out.open_error = out.facts["openError"];
  } else {
    out.open_error = "loading or opening the plugin failed: " + probe.message;
  }
  if (!out.open_error.is_null())
    std::cerr << "hal-conformance: " << out.open_error.get<std::string>() << "\n";
  return out;
}

ProbeFacts probe_here(Suite &s) {
  ProbeFacts out;
  try {
    Backend backend = s.open();
    s.capabilities = backend.capabilities();
    s.host_info = backend.host_info();
  } catch (const std::exception &e) {
    // Every clause will fail on its own; record why up front.
    out.open_error = e.what();
    std::cerr << "hal-conformance: opening the backend failed: " << e.what() << "\n";
  }
  out.facts = plugin_facts(s);
  if (!out.open_error.is_null()) out.facts["openError"] = out.open_error;
  return out;
}

void write_probe_result(const std::string &path, const ProbeFacts &probe) {
  nlohmann::json result = result_json(IsolatedResult{"pass", ""});
  result["facts"] = probe.facts;
  write_file(path, result.dump());
}

}  // namespace hal::conformance
