// probe.h - what the report needs to know of the plugin (name, identity, ABI, capabilities, host
// info) and whether it opens: learned by a probe process that loads and opens it once (the
// supervisor never loads the plugin itself), or in this process when it has loaded the plugin.
#ifndef HAL_CONFORMANCE_PROBE_H
#define HAL_CONFORMANCE_PROBE_H

#include <nlohmann/json.hpp>
#include <string>

#include "suite.h"

namespace hal::conformance {

/** What the probe learned. */
struct ProbeFacts {
  /** {"name","identity","abi":{"offered","negotiated","tableSize"},"capabilities","hostInfo"}
   *  and "openError" when opening failed; empty when the probe process failed. */
  nlohmann::json facts = nlohmann::json::object();
  /** Why loading or opening the plugin failed; null when it did not. */
  nlohmann::json open_error;
};

/** Supervisor: runs the probe in a process of its own (the clause runner's, clause_test.h, which
 *  must be set up) and sets `s`'s capabilities and host info from its facts. A failure to load or
 *  open the plugin is said on stderr; the clauses will then fail on their own. */
ProbeFacts probe_in_own_process(Suite &s);

/** With `s.plugin` loaded: opens a backend once, sets `s`'s capabilities and host info, and
 *  answers the facts. A failure to open is said on stderr and recorded in the facts. */
ProbeFacts probe_here(Suite &s);

/** The probe process's side: writes `probe`'s facts as a passing result to `path`. */
void write_probe_result(const std::string &path, const ProbeFacts &probe);

}  // namespace hal::conformance

#endif  // HAL_CONFORMANCE_PROBE_H
