// vmm_migration.cc - the emulated VMM's live migration endpoints (see vmm.h), as each release
// behaves: vm.send-migration answers when the migration is over up to v52.0 and as soon as it has
// started from v53.0 on (a worker thread then carries it and reports the outcome only as events);
// vm/migration-started, -finished and -failed exist from v52.0 on; the source resumes a VM it
// paused when the migration fails, and exits once the VM lives elsewhere. vm.receive-migration
// blocks until the VM arrived, in every release.
#include <unistd.h>

#include <thread>

#include "backends/cloud-hypervisor/emulator/migration_wire.h"
#include "backends/cloud-hypervisor/emulator/vmm.h"

namespace hal::ch_emulator {
using nlohmann::json;
using namespace std::chrono_literals;

namespace {
ApiResponse migration_error(const std::string &action, const std::string &why) {
  return api_error(500, action, {why});
}
}  // namespace

ApiResponse Vmm::send_migration(const json &request) {
  OutgoingMigration job;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string refused = "Error dispatching the migration worker";
    if (migrating_) return migration_error(refused, "There is already an ongoing migration");
    if (!has_vm_locked()) {
      return migration_error(refused, vm_error::kNotRunning);
    }
    if (config_.value("platform", json::object()).value("tdx", false)) {
      return migration_error(refused, "TDX VMs cannot be migrated");
    }
    migrating_ = true;
    info_snapshot_ = info_locked();
    job.config = config_;
    job.memory = memory_bytes(config_);
    job.was_paused = state_ == State::kPaused;
    job.destination = request["destination_url"];
    job.deadline = std::chrono::steady_clock::now() +
                   std::chrono::seconds(request.value("timeout_s", uint64_t{3600}));
  }
  if (!send_migration_is_async(release_)) return run_send(job);
  // v53.0 on: answered now; the outcome is in the events.
  if (migration_worker_.joinable()) migration_worker_.join();
  migration_worker_ = std::thread([this, job] { run_send(job); });
  return kNoContent;
}

ApiResponse Vmm::run_send(const OutgoingMigration &job) {
  const bool events = has_migration_events(release_);
  if (events) emit("vm", "migration-started");
  bool paused_here = false;
  try {
    Socket socket = connect_url(job.destination);
    set_io_timeout(socket, 30s);
    write_line(socket, json({{"magic", "hal-ch-emulator-migration/1"},
                             {"config", job.config},
                             {"memory_bytes", job.memory}})
                           .dump());
    send_pass(socket, job.memory);  // pass 1: all memory while the guest runs
    if (std::chrono::steady_clock::now() > job.deadline) {
      throw std::runtime_error("Timeout reached: migration didn't converge in time");
    }
    send_pass(socket, job.memory / 16);  // pass 2: pages dirtied meanwhile
    GuestState g;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!job.was_paused && guest_) {
        emit("vm", "pausing");
        guest_->set_paused(true);
        state_ = State::kPaused;
        paused_here = true;
        emit("vm", "paused");
      }
      g = guest_ ? guest_->state() : GuestState{};
    }
    send_pass(socket, std::min<uint64_t>(job.memory, 256u << 10));  // stop-and-copy
    write_line(socket, json({{"boot_id", g.boot_id},
                             {"heartbeat", g.heartbeat},
                             {"uptime_ms", g.uptime_ms},
                             {"paused", job.was_paused}})
                           .dump());
    char ack = 0;
    read_exact(socket, &ack, 1);
    if (ack != 'K') throw std::runtime_error("destination refused the VM");
  } catch (const std::exception &e) {
    if (events) emit("vm", "migration-failed");
    std::lock_guard<std::mutex> lock(mutex_);
    migrating_ = false;
    info_snapshot_ = nullptr;
    if (paused_here && guest_) {
      emit("vm", "resuming");
      guest_->set_paused(false);
      state_ = State::kRunning;
      emit("vm", "resumed");
    }
    return migration_error("Error sending migration", e.what());
  }
  if (events) emit("vm", "migration-finished");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    migrating_ = false;
    info_snapshot_ = nullptr;
    stop_guest_locked();
    // Up to v52.0 the VMM still owns the VM when it exits and shuts it down first.
    if (!send_migration_is_async(release_)) emit("vm", "shutdown");
    state_ = State::kNone;
    config_ = nullptr;
  }
  // The source VMM exits once its VM lives elsewhere.
  emit("vm", "deleted");
  emit("vmm", "shutdown");
  exit_();
  return kNoContent;
}

ApiResponse Vmm::receive_migration(const json &request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (has_vm_locked()) {
      return migration_error("Error receiving migration",
                             "Can't receive a migration when a VM is already created");
    }
    if (migrating_) {
      return migration_error("Error receiving migration", "There is already an ongoing migration");
    }
    migrating_ = true;
  }
  auto fail = [&](const std::string &why) {
    std::lock_guard<std::mutex> lock(mutex_);
    migrating_ = false;
    stop_guest_locked();
    state_ = State::kNone;
    config_ = nullptr;
    emit("vm", "migration-receive-failed");
    return migration_error("Error receiving migration", why);
  };
  const std::string url = request["receiver_url"];
  try {
    Socket listener = listen_url(url);
    emit("vm", "migration-receive-ready");
    Socket socket = accept_connection(listener, abort_fd_, std::chrono::seconds(3600));
    if (url.rfind("unix:", 0) == 0) ::unlink(url.c_str() + 5);
    emit("vm", "migration-receive-started");
    set_io_timeout(socket, 30s);
    json header = json::parse(read_line(socket), nullptr, false);
    if (header.is_discarded() || header.value("magic", "") != "hal-ch-emulator-migration/1") {
      throw std::runtime_error("migration protocol: bad header");
    }
    json config = header["config"];
    std::vector<std::string> errors = schema_errors("VmConfig", config);
    for (auto &e : validation_errors(config, context_)) errors.push_back(e);
    for (auto &e : boot_errors(config, context_)) errors.push_back(e);
    if (!errors.empty()) throw std::runtime_error("incoming VM config invalid: " + errors.front());
    {
      // The config's console devices are made when it arrives (a leftover socket file at its
      // path fails the migration, as upstream).
      std::lock_guard<std::mutex> lock(mutex_);
      config_ = config;
      if (auto error = open_console_locked()) {
        throw std::runtime_error("Error creating console devices: " + *error);
      }
    }
    uint64_t received = receive_pass(socket);
    if (received != header.value("memory_bytes", uint64_t{0})) {
      throw std::runtime_error("migration protocol: short memory copy");
    }
    receive_pass(socket);
    receive_pass(socket);
    json state = json::parse(read_line(socket), nullptr, false);
    if (state.is_discarded()) throw std::runtime_error("migration protocol: bad state");
    GuestState g{state.value("boot_id", ""), state.value("heartbeat", uint64_t{0}),
                 state.value("uptime_ms", uint64_t{0})};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      config_ = config;
      start_guest_locked(&g);
      const bool paused = state.value("paused", false);
      guest_->set_paused(paused);
      state_ = paused ? State::kPaused : State::kRunning;
      migrating_ = false;
    }
    write_all(socket, "K", 1);
  } catch (const std::exception &e) {
    return fail(e.what());
  }
  emit("vm", "migration-receive-finished");
  return kNoContent;
}

}  // namespace hal::ch_emulator
