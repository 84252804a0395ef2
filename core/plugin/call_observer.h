// call_observer.h - an optional, process-wide watcher of calls into plugins: every call through
// guarded_call tells it which entry starts and when it returns. The conformance suite's clause
// processes install one so their supervisor can name the entry a crash or a hang happened in.
#ifndef HAL_CORE_PLUGIN_CALL_OBSERVER_H
#define HAL_CORE_PLUGIN_CALL_OBSERVER_H

#include <cstdint>
#include <string_view>

namespace hal {

/** Told of each call into a plugin. Called on the calling thread; must not throw or block. */
class PluginCallObserver {
 public:
  virtual ~PluginCallObserver() = default;
  /** Entry `entry` (e.g. "vm_start") is being called; `id` identifies this call. */
  virtual void call_started(std::string_view entry, uint64_t id) noexcept = 0;
  /** The call `id` returned. */
  virtual void call_ended(uint64_t id) noexcept = 0;
};

/** Installs `observer` for every later call (nullptr removes it); it must outlive its use. */
void set_plugin_call_observer(PluginCallObserver *observer) noexcept;

/** Reports one call to the installed observer, if any, for the life of the object. */
class PluginCallScope {
 public:
  /** A call to `entry` starts. */
  explicit PluginCallScope(std::string_view entry) noexcept;
  /** The call returned (or threw). */
  ~PluginCallScope();
  PluginCallScope(const PluginCallScope &) = delete;
  PluginCallScope &operator=(const PluginCallScope &) = delete;

 private:
  PluginCallObserver *observer_;
  uint64_t id_ = 0;
};

}  // namespace hal

#endif  // HAL_CORE_PLUGIN_CALL_OBSERVER_H
