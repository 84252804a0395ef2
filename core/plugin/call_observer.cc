// call_observer.cc - the process-wide plugin call observer.
#include "core/plugin/call_observer.h"

#include <atomic>

namespace hal {
namespace {

std::atomic<PluginCallObserver *> installed{nullptr};
std::atomic<uint64_t> next_id{1};

}  // namespace

void set_plugin_call_observer(PluginCallObserver *observer) noexcept {
  installed.store(observer, std::memory_order_release);
}

PluginCallScope::PluginCallScope(std::string_view entry) noexcept
    : observer_(installed.load(std::memory_order_acquire)) {
  if (observer_ == nullptr) return;
  id_ = next_id.fetch_add(1, std::memory_order_relaxed);
  observer_->call_started(entry, id_);
}

PluginCallScope::~PluginCallScope() {
  if (observer_ != nullptr) observer_->call_ended(id_);
}

}  // namespace hal
