// event_log.cc - the thread-safe event recorder of the tests (see event_log.h).
#include "testing/event_log.h"

#include "hal/names.h"

namespace hal::testing {

EventLog::EventLog(Backend &backend) : backend_(&backend) {
  subscription_ = backend.on_event([this](const Event &event) { record(event); });
}

EventLog::~EventLog() {
  if (backend_ == nullptr) return;
  try {
    backend_->unsubscribe(subscription_);
    backend_->drain_events();
  } catch (...) {  // the backend may already be closed
  }
}

void EventLog::callback(void *log, const hal_event *event) {
  Event recorded;
  recorded.type = event->type;
  recorded.vm_id = event->vm_id != nullptr ? event->vm_id : "";
  recorded.state = event->state;
  recorded.timestamp_ns = event->timestamp_ns;
  if (event->detail_json != nullptr) {
    recorded.detail = nlohmann::json::parse(event->detail_json, nullptr, false);
    if (recorded.detail.is_discarded()) recorded.detail = nullptr;
  }
  static_cast<EventLog *>(log)->record(std::move(recorded));
}

void EventLog::record(Event event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  cv_.notify_all();
}

std::vector<Event> EventLog::events(const std::string &vm_id) const {
  std::lock_guard lock(mutex_);
  std::vector<Event> out;
  for (const Event &e : events_) {
    if (vm_id.empty() || e.vm_id == vm_id) out.push_back(e);
  }
  return out;
}

std::vector<hal_vm_state> EventLog::states(const std::string &vm_id) const {
  std::vector<hal_vm_state> out;
  for (const Event &e : events(vm_id)) {
    if (e.type == HAL_EVENT_STATE_CHANGED) out.push_back(e.state);
  }
  return out;
}

size_t EventLog::count(const std::string &vm_id) const {
  return events(vm_id).size();
}

std::optional<Event> EventLog::wait_for(const std::function<bool(const Event &)> &pred,
                                        std::chrono::milliseconds timeout, size_t from) {
  std::unique_lock lock(mutex_);
  size_t seen = from;
  std::optional<Event> found;
  cv_.wait_for(lock, timeout, [&] {
    for (; seen < events_.size(); ++seen) {
      if (pred(events_[seen])) {
        found = events_[seen];
        return true;
      }
    }
    return false;
  });
  return found;
}

bool EventLog::wait_until(const std::function<bool(const std::vector<Event> &)> &pred,
                          std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return pred(events_); });
}

bool EventLog::wait_state_event(const std::string &vm_id, hal_vm_state state,
                                std::chrono::milliseconds timeout) {
  return wait_for(
             [&](const Event &e) {
               return e.type == HAL_EVENT_STATE_CHANGED && e.vm_id == vm_id && e.state == state;
             },
             timeout)
      .has_value();
}

void EventLog::clear() {
  std::lock_guard lock(mutex_);
  events_.clear();
}

std::string EventLog::describe(const std::string &vm_id) const {
  std::string out;
  for (const Event &e : events(vm_id)) {
    out += std::string("[") + hal_event_type_name(e.type) + " " + hal_vm_state_name(e.state) + "]";
  }
  return out.empty() ? "(no events)" : out;
}

}  // namespace hal::testing
