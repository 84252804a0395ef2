// mock_store.cc - VM records, the sharded store, its process-wide registry and persistence.
#include "mock_store.h"

#include <chrono>
#include <filesystem>
#include <map>

#include "hal/names.h"
#include "hal/plugin.hpp"

namespace hal::mock {

using nlohmann::json;
namespace fs = std::filesystem;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char *state_name(hal_vm_state state) {
  return hal_vm_state_name(state);
}

hal_vm_state state_from_name(const std::string &name) {
  return hal_vm_state_from_name(name.c_str());
}

json MigrationJob::progress() {
  std::lock_guard lock(mu);
  json doc = {{"status", status},
              {"transferredBytes", transferred_bytes},
              {"remainingBytes", total_bytes - std::min(total_bytes, transferred_bytes)},
              {"totalBytes", total_bytes},
              {"dirtyRateBytesPerSec", dirty_rate},
              {"expectedDowntimeMs", expected_downtime_ms}};
  if (downtime_ms >= 0) doc["downtimeMs"] = downtime_ms;
  if (!error.empty()) doc["error"] = error;
  return doc;
}

void MigrationJob::finish(const std::string &final_status, const std::string &why) {
  {
    std::lock_guard lock(mu);
    if (finished) return;
    status = final_status;
    error = why;
    finished = true;
  }
  cv.notify_all();
}

json VmRecord::guest() const {
  int64_t run = run_ms();
  return {{"bootCount", boot_count}, {"heartbeat", run / 10}, {"uptimeMs", run - boot_at_run_ms}};
}

std::shared_ptr<Store> Store::attach(const Config &config) {
  static std::mutex registry_mu;
  static std::map<std::string, std::shared_ptr<Store>> instances;  // live for the process
  static std::map<std::string, std::weak_ptr<Store>> directories;  // live while opened
  std::lock_guard lock(registry_mu);
  if (config.state_dir.empty()) {
    auto &store = instances[config.instance];
    if (!store) store = std::make_shared<Store>();
    return store;
  }
  std::string key = fs::absolute(config.state_dir).lexically_normal().string();
  if (auto existing = directories[key].lock()) return existing;
  auto store = std::make_shared<Store>();
  store->dir_ = key;
  store->load();
  directories[key] = store;
  return store;
}

void Store::load() {
  journal_ = std::make_unique<StateJournal>(dir_);
  for (auto &[id, doc] : journal_->take_loaded()) {
    auto record = std::make_shared<VmRecord>();
    record->id = id;
    record->spec = doc["spec"].dump();
    record->memory_bytes = doc.value("memoryBytes", uint64_t{0});
    record->tdx = doc.value("tdx", false);
    record->state = state_from_name(doc.value("state", "Stopped"));
    // No hypervisor survives for a half-done transition: settle it.
    if (record->state == HAL_VM_STATE_INCOMING || record->state == HAL_VM_STATE_STARTING ||
        record->state == HAL_VM_STATE_UNKNOWN)
      record->state = HAL_VM_STATE_STOPPED;
    record->boot_count = doc.value("bootCount", uint64_t{0});
    record->run_accum_ms = doc.value("runAccumMs", int64_t{0});
    record->run_since_ms = doc.value("runSinceMs", int64_t{0});
    record->boot_at_run_ms = doc.value("bootAtRunMs", int64_t{0});
    insert(record);
  }
}

std::shared_ptr<VmRecord> Store::find(const std::string &id) {
  Shard &s = shard(id);
  std::shared_lock lock(s.mu);
  auto it = s.vms.find(id);
  return it == s.vms.end() ? nullptr : it->second;
}

bool Store::insert(const std::shared_ptr<VmRecord> &record) {
  Shard &s = shard(record->id);
  std::unique_lock lock(s.mu);
  if (!s.vms.emplace(record->id, record).second) return false;
  count_.fetch_add(1);
  return true;
}

void Store::erase(const std::string &id) {
  Shard &s = shard(id);
  {
    std::unique_lock lock(s.mu);
    if (s.vms.erase(id) == 0) return;
    count_.fetch_sub(1);
  }
  if (journal_) journal_->erase(id);
}

std::vector<std::shared_ptr<VmRecord>> Store::all() {
  std::vector<std::shared_ptr<VmRecord>> out;
  out.reserve(size());
  for (Shard &s : shards_) {
    std::shared_lock lock(s.mu);
    for (const auto &[id, record] : s.vms) out.push_back(record);
  }
  return out;
}

void Store::persist(const VmRecord &record) {
  if (!journal_ || record.deleted) return;
  // record.spec is already compact JSON text: spliced in, not parsed and printed again.
  std::string document = json{{"state", state_name(record.state)},
                              {"memoryBytes", record.memory_bytes},
                              {"tdx", record.tdx},
                              {"bootCount", record.boot_count},
                              {"runAccumMs", record.run_accum_ms},
                              {"runSinceMs", record.run_since_ms},
                              {"bootAtRunMs", record.boot_at_run_ms}}
                             .dump();
  document.insert(1, "\"spec\":" + record.spec + ",");
  journal_->write(record.id, std::move(document));
}

}  // namespace hal::mock
