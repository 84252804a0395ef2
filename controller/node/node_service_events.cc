// node_service_events.cc - NodeAgent.WatchEvents: replays buffered events after since_sequence,
// then streams new ones. The stream handler pulls from its own bounded queue in the EventHub,
// so a slow reader only ever blocks this handler; when it falls a full queue behind the hub
// drops it and the stream ends with RESOURCE_EXHAUSTED (the reader re-lists and watches again).
#include "controller/node/node_service.h"
#include "controller/node/wire.h"
#include "core/log/log.h"

namespace hal::node {

grpc::Status NodeAgentService::WatchEvents(grpc::ServerContext *context,
                                           const v1::WatchEventsRequest *request,
                                           grpc::ServerWriter<v1::NodeEvent> *writer) {
  if (grpc::Status denied = controller_only(*context, "WatchEvents"); !denied.ok()) return denied;
  std::shared_ptr<EventHub::Reader> reader;
  try {
    reader = ctx_.events->subscribe(request->since_sequence());
  } catch (...) {
    return current_exception_status("WatchEvents");
  }
  grpc::Status result = grpc::Status::OK;
  // Tell the client the stream is established before any event flows (so a watcher can rely
  // on seeing every event published after its call returned its initial metadata).
  writer->SendInitialMetadata();
  while (true) {
    // New events, a drop and the hub's close wake the reader at once; only a client's cancel
    // is polled for, once a second (an idle agent then wakes rarely, which counts with 100).
    std::optional<v1::NodeEvent> event = reader->next(std::chrono::seconds(1));
    if (event) {
      // Events queued together (a create and a start, say) leave in one write: each but the
      // last is only buffered.
      grpc::WriteOptions options;
      if (reader->pending()) options.set_buffer_hint();
      if (!writer->Write(*event, options)) {
        result = grpc::Status(grpc::StatusCode::CANCELLED, "WatchEvents: stream closed");
        break;
      }
      continue;
    }
    if (context->IsCancelled()) {  // Checked when idle: a failed Write reports it while busy.
      result = grpc::Status(grpc::StatusCode::CANCELLED, "WatchEvents: cancelled by the client");
      break;
    }
    if (reader->dropped()) {
      hal::log("node")->warn("WatchEvents: dropped a reader that fell behind");
      result = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            "WatchEvents: reader fell too far behind and was dropped; list the "
                            "VMs again and watch from the last sequence seen");
      break;
    }
    if (reader->closed() || ctx_.stopping->load()) {
      result = grpc::Status(grpc::StatusCode::UNAVAILABLE, "WatchEvents: node agent stopping");
      break;
    }
  }
  ctx_.events->unsubscribe(reader);
  return result;
}

}  // namespace hal::node
