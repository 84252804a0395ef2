// plugin_fixture.cc - the cloud-hypervisor plugin test fixture (see plugin_fixture.h).
#include "backends/cloud-hypervisor/tests/plugin_fixture.h"

#include <signal.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "backends/cloud-hypervisor/tests/real_binary.h"
#include "hal/host.hpp"
#include "hal/names.h"
#include "testing/plugin_under_test.h"

namespace hal::cloud_hypervisor::testing {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {
struct Err {
  hal_error e{};
  Err() { e.struct_size = sizeof e; }
};
}  // namespace

std::string file_text(const fs::path &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void Recorder::callback(void *user, const hal_event *event) {
  auto *self = static_cast<Recorder *>(user);
  RecordedEvent e;
  e.type = event->type;
  e.vm_id = event->vm_id;
  e.state = event->state;
  if (event->detail_json != nullptr) e.detail = json::parse(event->detail_json, nullptr, false);
  if (self->hook) e.observed = self->hook(*event);
  std::lock_guard<std::mutex> lock(self->mutex_);
  self->events_.push_back(std::move(e));
  self->cv_.notify_all();
}

std::optional<RecordedEvent> Recorder::wait_for(
    const std::string &vm_id, const std::function<bool(const RecordedEvent &)> &pred,
    std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  std::optional<RecordedEvent> found;
  cv_.wait_for(lock, timeout, [&] {
    for (const RecordedEvent &e : events_) {
      if (e.vm_id == vm_id && pred(e)) {
        found = e;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::vector<hal_vm_state> Recorder::states(const std::string &vm_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<hal_vm_state> out;
  for (const RecordedEvent &e : events_) {
    if (e.vm_id == vm_id && e.type == HAL_EVENT_STATE_CHANGED) out.push_back(e.state);
  }
  return out;
}

std::string Recorder::describe(const std::string &vm_id) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const RecordedEvent &e : events_) {
    if (e.vm_id != vm_id) continue;
    out += "  type " + std::to_string(e.type) + " state " + hal_vm_state_name(e.state) + " " +
           (e.detail.is_discarded() ? std::string() : e.detail.dump()) + "\n";
  }
  return out;
}

void ChPluginTest::SetUp() {
  table_ = &hal::testing::plugin_under_test(HAL_CH_PLUGIN).table();
  binary_ = HAL_CH_EMULATOR;
  tmp_ = std::make_unique<hal::testing::TempDir>("hal-ch-plugin-");
  emulate_release("");
}

void ChPluginTest::TearDown() {
  for (hal_vm *vm : vms_) table_->vm_release(vm);
  vms_.clear();
  for (hal_backend *backend : backends_) {
    Err err;
    table_->close(backend, HAL_CLOSE_STOP_VMS, &err.e);
  }
  backends_.clear();
  // Safety net: kill every VMM whose pidfile is under this test's dirs (and whose command line
  // names them, so a recycled pid is never hit).
  std::error_code ec;
  for (const auto &entry : fs::recursive_directory_iterator(tmp_->path(), ec)) {
    if (entry.path().filename() != "cloud-hypervisor.pid") continue;
    const int pid = std::atoi(file_text(entry.path()).c_str());
    if (pid > 0 && file_text("/proc/" + std::to_string(pid) + "/cmdline").find(tmp_->str()) !=
                       std::string::npos) {
      ::kill(pid, SIGKILL);
    }
  }
  tmp_.reset();
  emulate_release("");
}

void ChPluginTest::emulate_release(const std::string &release) {
  if (release.empty()) {
    ::unsetenv("HAL_CH_EMULATOR_VERSION");
  } else {
    ::setenv("HAL_CH_EMULATOR_VERSION", release.c_str(), 1);
  }
}

hal_backend *ChPluginTest::open(const std::string &name, Recorder &events, std::string *error) {
  json config = {{"binary", binary_}, {"stateDir", state_root(name).string()}};
  hal_backend *backend = nullptr;
  Err err;
  hal_status status =
      table_->open(config.dump().c_str(), &Recorder::callback, &events, 0, &backend, &err.e);
  if (status != HAL_OK) {
    if (error != nullptr) *error = std::string(hal::status_name(status)) + ": " + err.e.message;
    return nullptr;
  }
  backends_.push_back(backend);
  return backend;
}

bool ChPluginTest::use_real_binary(std::string *why) {
  auto found = real_binary(why);
  if (!found) return false;
  binary_ = found->binary;
  guest_dir_ = found->guest_dir;
  return true;
}

json ChPluginTest::spec(const std::string &name) const {
  if (real()) {
    return {{"apiVersion", "hal.dev/v1"},
            {"name", name},
            {"cpu", {{"vcpus", 1}}},
            {"memory", {{"size", "256Mi"}}},
            {"boot",
             {{"kernel", guest_dir_ + "/vmlinuz"},
              {"initrd", guest_dir_ + "/initrd.img"},
              {"cmdline", "console=ttyS0 quiet"}}},
            {"console", {{"serial", true}}}};
  }
  return {{"apiVersion", "hal.dev/v1"},
          {"name", name},
          {"cpu", {{"vcpus", 1}}},
          {"memory", {{"size", "64Mi"}}},
          {"boot", {{"kernel", "/proc/self/exe"}, {"cmdline", "console=ttyS0"}}},
          {"console", {{"serial", true}}}};
}

hal_vm *ChPluginTest::start(hal_backend *backend, const json &spec_doc) {
  hal_vm *vm = nullptr;
  Err err;
  EXPECT_EQ(table_->vm_create(backend, spec_doc.dump().c_str(), 0, &vm, &err.e), HAL_OK)
      << err.e.message;
  if (vm == nullptr) return nullptr;
  keep(vm);
  EXPECT_EQ(table_->vm_start(vm, 0, &err.e), HAL_OK) << err.e.message;
  return vm;
}

hal_vm_state ChPluginTest::state(hal_vm *vm) const {
  hal_vm_state state = HAL_VM_STATE_UNKNOWN;
  Err err;
  EXPECT_EQ(table_->vm_get_state(vm, 0, &state, &err.e), HAL_OK) << err.e.message;
  return state;
}

json ChPluginTest::progress(hal_vm *vm) const {
  char *out = nullptr;
  Err err;
  EXPECT_EQ(table_->migration_get_progress(vm, 0, &out, &err.e), HAL_OK) << err.e.message;
  if (out == nullptr) return json();
  json doc = json::parse(out, nullptr, false);
  table_->free_string(out);
  return doc;
}

hal_vm *ChPluginTest::keep(hal_vm *vm) {
  if (vm != nullptr) vms_.push_back(vm);
  return vm;
}

}  // namespace hal::cloud_hypervisor::testing
