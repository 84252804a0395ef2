// event_poller.cc - the completion-queue thread shared by the node connections' event streams.
#include "controller/server/event_poller.h"

namespace hal::controller {

EventPoller::EventPoller() {
  thread_ = std::thread([this] {
    void *tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) static_cast<Tag *>(tag)->handler(ok);
  });
}

EventPoller::~EventPoller() {
  queue_.Shutdown();
  thread_.join();
}

}  // namespace hal::controller
