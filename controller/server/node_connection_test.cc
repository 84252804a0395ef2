// node_connection_test.cc - NodeConnection's event stream against an in-process fake NodeAgent:
// events in order, a broken stream resumed from the last sequence after a pause, a throwing
// callback, and stop_events() while a stream is open or while it pauses; graceful stops sent
// without waiting, answered or cancelled.
#include "controller/server/node_connection.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace hal::controller {
namespace {

using namespace std::chrono_literals;

// A NodeAgent whose WatchEvents runs `script` for each call (its index, the request, a writer)
// and records each call's since_sequence; its StopVm runs `stop`.
class FakeAgent : public v1::NodeAgent::Service {
 public:
  using Script = std::function<grpc::Status(int call, grpc::ServerContext *context,
                                            grpc::ServerWriter<v1::NodeEvent> *writer)>;
  using StopScript =
      std::function<grpc::Status(grpc::ServerContext *context, const v1::StopVmRequest *request)>;
  explicit FakeAgent(Script script, StopScript stop = nullptr)
      : script_(std::move(script)), stop_(std::move(stop)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeAgent() override { server_->Shutdown(std::chrono::system_clock::now() + 2s); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<uint64_t> sinces() {
    std::lock_guard lock(mutex_);
    return sinces_;
  }

  grpc::Status WatchEvents(grpc::ServerContext *context, const v1::WatchEventsRequest *request,
                           grpc::ServerWriter<v1::NodeEvent> *writer) override {
    int call;
    {
      std::lock_guard lock(mutex_);
      call = static_cast<int>(sinces_.size());
      sinces_.push_back(request->since_sequence());
    }
    return script_(call, context, writer);
  }

  grpc::Status StopVm(grpc::ServerContext *context, const v1::StopVmRequest *request,
                      v1::VmStatus *) override {
    return stop_ ? stop_(context, request) : grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
  }

 private:
  Script script_;
  StopScript stop_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mutex_;
  std::vector<uint64_t> sinces_;
};

v1::NodeEvent event(uint64_t sequence) {
  v1::NodeEvent e;
  e.set_sequence(sequence);
  e.set_vm_id("vm-" + std::to_string(sequence));
  e.set_type("state-changed");
  return e;
}

// Holds the call open until the client cancels it.
grpc::Status wait_for_cancel(grpc::ServerContext *context) {
  while (!context->IsCancelled()) std::this_thread::sleep_for(5ms);
  return grpc::Status::CANCELLED;
}

// Sequences received by a NodeConnection's callback.
class Received {
 public:
  void add(uint64_t sequence) {
    std::lock_guard lock(mutex_);
    sequences_.push_back(sequence);
    cv_.notify_all();
  }
  bool wait_for(size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return sequences_.size() >= count; });
  }
  std::vector<uint64_t> get() {
    std::lock_guard lock(mutex_);
    return sequences_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<uint64_t> sequences_;
};

TEST(NodeConnectionTest, ABrokenStreamIsReopenedFromTheLastSequenceReceived) {
  FakeAgent agent(
      [](int call, grpc::ServerContext *context, grpc::ServerWriter<v1::NodeEvent> *writer) {
        if (call == 0) {
          writer->Write(event(1));
          writer->Write(event(2));
          return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "reader fell behind");
        }
        writer->Write(event(3));
        return wait_for_cancel(context);
      });
  Received received;
  NodeConnection connection("node-a", agent.address(),
                            [&](const v1::NodeEvent &e) { received.add(e.sequence()); });
  connection.start_events();
  ASSERT_TRUE(received.wait_for(3));
  EXPECT_EQ(received.get(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(agent.sinces(), (std::vector<uint64_t>{0, 2}));
  EXPECT_EQ(connection.last_sequence(), 3u);
  connection.stop_events();  // Returns: the open call is cancelled.
  EXPECT_EQ(agent.sinces().size(), 2u);
}

TEST(NodeConnectionTest, AThrowingCallbackDoesNotEndTheStream) {
  FakeAgent agent([](int, grpc::ServerContext *context, grpc::ServerWriter<v1::NodeEvent> *writer) {
    writer->Write(event(1));
    writer->Write(event(2));
    return wait_for_cancel(context);
  });
  Received received;
  NodeConnection connection("node-a", agent.address(), [&](const v1::NodeEvent &e) {
    received.add(e.sequence());
    if (e.sequence() == 1) throw std::runtime_error("handler failed");
  });
  connection.start_events();
  ASSERT_TRUE(received.wait_for(2));
  EXPECT_EQ(received.get(), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(agent.sinces().size(), 1u);  // The same call delivered both.
}

TEST(NodeConnectionTest, StopDuringThePauseOpensNoNewStream) {
  FakeAgent agent([](int, grpc::ServerContext *, grpc::ServerWriter<v1::NodeEvent> *) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "node agent stopping");
  });
  NodeConnection connection("node-a", agent.address(), [](const v1::NodeEvent &) {});
  connection.start_events();
  for (int i = 0; i < 500 && agent.sinces().empty(); ++i) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(agent.sinces().size(), 1u);
  connection.stop_events();
  const size_t calls = agent.sinces().size();
  std::this_thread::sleep_for(500ms);  // More than the pause before a reopening.
  EXPECT_EQ(agent.sinces().size(), calls);
}

TEST(NodeConnectionTest, StartAfterStopResumesFromTheLastSequence) {
  FakeAgent agent(
      [](int call, grpc::ServerContext *context, grpc::ServerWriter<v1::NodeEvent> *writer) {
        writer->Write(event(static_cast<uint64_t>(call) + 5));
        return wait_for_cancel(context);
      });
  Received received;
  NodeConnection connection("node-a", agent.address(),
                            [&](const v1::NodeEvent &e) { received.add(e.sequence()); });
  connection.start_events();
  ASSERT_TRUE(received.wait_for(1));
  connection.stop_events();
  connection.start_events();
  ASSERT_TRUE(received.wait_for(2));
  EXPECT_EQ(agent.sinces(), (std::vector<uint64_t>{0, 5}));
  EXPECT_EQ(received.get(), (std::vector<uint64_t>{5, 6}));
}

TEST(NodeConnectionTest, AnUnreachableNodeIsRetriedAndStopReturns) {
  // Nothing listens on this port: every call fails, and each failure pauses before the next.
  NodeConnection connection("node-a", "127.0.0.1:1", [](const v1::NodeEvent &) {});
  connection.start_events();
  std::this_thread::sleep_for(450ms);
  const auto before = std::chrono::steady_clock::now();
  connection.stop_events();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);  // No hang on a failing node.
}

// A stream script that only waits for the client to cancel.
grpc::Status idle_stream(int, grpc::ServerContext *context, grpc::ServerWriter<v1::NodeEvent> *) {
  return wait_for_cancel(context);
}

TEST(NodeConnectionTest, AGracefulStopReturnsAtOnceAndItsAnswerArrivesLater) {
  std::promise<std::string> request_seen;
  FakeAgent agent(idle_stream, [&](grpc::ServerContext *, const v1::StopVmRequest *request) {
    request_seen.set_value(request->vm_id() + "/" + std::to_string(request->timeout_ms()) + "/" +
                           (request->force() ? "force" : "graceful"));
    std::this_thread::sleep_for(300ms);  // The guest takes its time.
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "guest refused");
  });
  NodeConnection connection("node-a", agent.address(), [](const v1::NodeEvent &) {});
  std::promise<grpc::Status> answered;
  const auto before = std::chrono::steady_clock::now();
  connection.stop_vm_async("vm-1", 7s, 5s,
                           [&](const grpc::Status &status) { answered.set_value(status); });
  EXPECT_LT(std::chrono::steady_clock::now() - before, 200ms);  // Did not wait for the node.
  auto seen = request_seen.get_future();
  ASSERT_EQ(seen.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(seen.get(), "vm-1/7000/graceful");
  auto answer = answered.get_future();
  ASSERT_EQ(answer.wait_for(5s), std::future_status::ready);
  const grpc::Status status = answer.get();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "guest refused");
}

TEST(NodeConnectionTest, CancelStopsEndsPendingStopsAndRunsTheirCallbacks) {
  std::atomic<int> started{0};
  FakeAgent agent(idle_stream, [&](grpc::ServerContext *context, const v1::StopVmRequest *) {
    ++started;
    return wait_for_cancel(context);  // A guest that never powers off within the test.
  });
  NodeConnection connection("node-a", agent.address(), [](const v1::NodeEvent &) {});
  std::mutex mutex;
  std::vector<grpc::StatusCode> codes;
  for (const char *vm : {"vm-1", "vm-2", "vm-3"}) {
    connection.stop_vm_async(vm, 30s, 5s, [&](const grpc::Status &status) {
      std::lock_guard lock(mutex);
      codes.push_back(status.error_code());
    });
  }
  for (int i = 0; i < 1000 && started < 3; ++i) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(started.load(), 3);
  const auto before = std::chrono::steady_clock::now();
  connection.cancel_stops();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
  std::lock_guard lock(mutex);
  EXPECT_EQ(codes, std::vector<grpc::StatusCode>(3, grpc::StatusCode::CANCELLED));
}

}  // namespace
}  // namespace hal::controller
