// send_outcome.cc - the outgoing migration's verdict (see send_outcome.h).
#include "backends/cloud-hypervisor/send_outcome.h"

namespace hal::cloud_hypervisor {

SendDecision decide_send(ChVersion release, const SendSignals &signals) {
  auto failed = [](std::string why) { return SendDecision{SendVerdict::kFailed, std::move(why)}; };
  if (signals.event < 0) {
    return failed("cloud-hypervisor reported vm/migration-failed" +
                  (signals.reply_error.empty() ? std::string() : ": " + signals.reply_error));
  }
  if (signals.event > 0) return {SendVerdict::kCompleted, ""};
  if (signals.reply_status > 0 && (signals.reply_status < 200 || signals.reply_status >= 300)) {
    return failed(signals.reply_error);
  }
  if (signals.reply_status > 0 && !send_migration_is_async(release)) {
    return {SendVerdict::kCompleted, ""};
  }
  if (signals.exited) {
    if (signals.exited_cleanly) return {SendVerdict::kCompleted, ""};
    return failed("cloud-hypervisor " + signals.exit_how + " during the migration");
  }
  if (signals.reply_status < 0 && !has_migration_events(release)) {
    return failed(signals.reply_error);
  }
  return {SendVerdict::kPending, ""};
}

}  // namespace hal::cloud_hypervisor
