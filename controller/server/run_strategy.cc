// run_strategy.cc - runStrategy decisions and VM printable status.
#include "controller/server/run_strategy.h"

#include <chrono>

#include "controller/server/object_util.h"

namespace hal::controller {
namespace {

std::string phase_of(const nlohmann::json *vmi) {
  if (vmi == nullptr) return "";
  return str_at(*vmi, nlohmann::json::json_pointer("/status/phase"));
}

int64_t retry_after_ms(const nlohmann::json &vm) {
  try {
    return vm.at("status").at("startFailure").value("retryAfterUnixMs", int64_t{0});
  } catch (const nlohmann::json::exception &) {
    return 0;
  }
}

}  // namespace

int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool vmi_final(const nlohmann::json &vmi) {
  std::string phase = phase_of(&vmi);
  return phase == "Succeeded" || phase == "Failed";
}

RunDecision decide_run(const nlohmann::json &vm, const nlohmann::json *vmi, int64_t now_ms) {
  RunDecision decision;
  const std::string strategy = run_strategy(vm);
  const std::string phase = phase_of(vmi);
  const bool final = vmi != nullptr && vmi_final(*vmi);
  const std::string vmi_uid =
      vmi != nullptr ? str_at(*vmi, nlohmann::json::json_pointer("/metadata/uid")) : "";

  const nlohmann::json *requests = nullptr;
  if (vm.contains("status") && vm["status"].contains("stateChangeRequests") &&
      vm["status"]["stateChangeRequests"].is_array() &&
      !vm["status"]["stateChangeRequests"].empty()) {
    requests = &vm["status"]["stateChangeRequests"];
  }
  if (requests != nullptr) {
    const auto &request = requests->front();
    const std::string action = request.value("action", "");
    std::string uid;
    if (request.contains("uid") && request["uid"].is_string()) uid = request["uid"];
    if (action == "Stop") {
      if (vmi != nullptr && (uid.empty() || uid == vmi_uid)) {
        decision.action = RunDecision::Action::kStop;
        return decision;
      }
      decision.pop_request = true;  // The VMI it names is gone.
      return decision;
    }
    if (action == "Start") {
      if (vmi == nullptr) {
        decision.action = RunDecision::Action::kCreate;
        decision.pop_request = true;
        return decision;
      }
      if (final) {
        decision.action = RunDecision::Action::kStop;
        return decision;
      }
      decision.pop_request = true;  // Already running.
      return decision;
    }
    decision.pop_request = true;  // Unknown action: drop it.
    return decision;
  }

  auto create_with_backoff = [&] {
    decision.action = retry_after_ms(vm) > now_ms ? RunDecision::Action::kWaitBackoff
                                                  : RunDecision::Action::kCreate;
  };
  if (strategy == "Always") {
    if (vmi == nullptr) {
      create_with_backoff();
    } else if (final) {
      decision.action = RunDecision::Action::kStop;
      decision.failure_restart = phase == "Failed";
    }
  } else if (strategy == "RerunOnFailure") {
    if (vmi == nullptr) {
      create_with_backoff();
    } else if (phase == "Failed") {
      decision.action = RunDecision::Action::kStop;
      decision.failure_restart = true;
    }
  } else if (strategy == "Once") {
    bool started = false;
    try {
      started = vm.at("status").at("hal").value("started", false);
    } catch (const nlohmann::json::exception &) {
    }
    if (vmi == nullptr && !started) decision.action = RunDecision::Action::kCreate;
  } else if (strategy == "Halted") {
    if (vmi != nullptr) decision.action = RunDecision::Action::kStop;
  }
  // Manual: only stateChangeRequests act.
  return decision;
}

bool sync_vm_status(nlohmann::json &vm, const nlohmann::json *vmi, int64_t now_ms) {
  nlohmann::json before = vm.contains("status") ? vm["status"] : nlohmann::json::object();
  nlohmann::json &status = vm["status"];
  if (!status.is_object()) status = nlohmann::json::object();
  const std::string strategy = run_strategy(vm);
  const std::string phase = phase_of(vmi);
  const bool deleting_vmi = vmi != nullptr && vmi->contains("metadata") &&
                            (*vmi)["metadata"].contains("deletionTimestamp");
  const bool vm_deleting = vm.contains("metadata") && vm["metadata"].contains("deletionTimestamp");
  const nlohmann::json empty = nlohmann::json::array();
  const nlohmann::json &vmi_conditions =
      vmi != nullptr && vmi->contains("status") && (*vmi)["status"].contains("conditions")
          ? (*vmi)["status"]["conditions"]
          : empty;
  const nlohmann::json *scheduled = find_condition(vmi_conditions, "PodScheduled");
  const nlohmann::json *paused = find_condition(vmi_conditions, "Paused");
  const bool is_paused = paused != nullptr && paused->value("status", "") == "True";
  bool migrating = false;
  if (vmi != nullptr && vmi->contains("status") && (*vmi)["status"].contains("migrationState")) {
    const auto &state = (*vmi)["status"]["migrationState"];
    migrating = !state.value("completed", false) && !state.value("failed", false);
  }
  const bool backoff = retry_after_ms(vm) > now_ms;
  const bool ready = phase == "Running" && !deleting_vmi && !is_paused;

  std::string printable;
  if (vm_deleting) {
    printable = "Terminating";
  } else if (vmi == nullptr) {
    printable = backoff && (strategy == "Always" || strategy == "RerunOnFailure")
                    ? "CrashLoopBackOff"
                    : "Stopped";
  } else if (deleting_vmi) {
    printable = "Stopping";
  } else if (phase == "Running") {
    printable = is_paused ? "Paused" : migrating ? "Migrating" : "Running";
  } else if (phase == "Succeeded" || phase == "Failed") {
    printable = backoff ? "CrashLoopBackOff" : "Stopped";
  } else if (scheduled != nullptr && scheduled->value("status", "") == "False" &&
             scheduled->value("reason", "") == "Unschedulable") {
    printable = "ErrorUnschedulable";
  } else {
    printable = "Starting";
  }
  status["printableStatus"] = printable;
  status["ready"] = ready;
  status["created"] = vmi != nullptr;
  status["runStrategy"] = strategy;
  auto &conditions = status["conditions"];
  set_condition(conditions, "Ready", ready, ready ? "VMIReady" : "VMINotReady",
                ready            ? ""
                : vmi == nullptr ? "VMI does not exist"
                                 : "VMI phase " + phase);
  if (is_paused) {
    set_condition(conditions, "Paused", true, "PausedByUser", "VMI was paused by user");
  } else {
    remove_condition(conditions, "Paused");
  }
  if (scheduled != nullptr && scheduled->value("status", "") == "False") {
    set_condition(conditions, "PodScheduled", false, scheduled->value("reason", ""),
                  scheduled->value("message", ""));
  } else {
    remove_condition(conditions, "PodScheduled");
  }
  const nlohmann::json *failure = find_condition(vmi_conditions, "Failure");
  if (failure != nullptr && failure->value("status", "") == "True") {
    set_condition(conditions, "Failure", true, failure->value("reason", ""),
                  failure->value("message", ""));
  } else {
    remove_condition(conditions, "Failure");
  }
  return status != before;
}

}  // namespace hal::controller
