// event_stream_test.cc - NodeAgent.WatchEvents through a real channel: events arrive in order
// with increasing sequence numbers, an action's answer carries the sequence its state reflects,
// a new watcher replays since a sequence, and a reader that never reads neither blocks the
// backends nor the other watchers (it is dropped instead).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "controller/node/node_agent.h"
#include "controller/node/tests/test_support.h"

namespace hal::node::testing {
namespace {

using namespace std::chrono_literals;

// Collects a WatchEvents stream on a thread.
class Watcher {
 public:
  Watcher(v1::NodeAgent::Stub &stub, uint64_t since) {
    v1::WatchEventsRequest request;
    request.set_since_sequence(since);
    reader_ = stub.WatchEvents(&context_, request);
    // Initial metadata arrives once the server subscribed: events after this are ours.
    reader_->WaitForInitialMetadata();
    thread_ = std::thread([this] {
      v1::NodeEvent event;
      while (reader_->Read(&event)) {
        std::lock_guard lock(mu_);
        events_.push_back(event);
      }
      std::lock_guard lock(mu_);
      status_ = reader_->Finish();
      done_ = true;
    });
  }
  ~Watcher() {
    context_.TryCancel();
    thread_.join();
  }
  std::vector<v1::NodeEvent> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<v1::NodeEvent>> reader_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<v1::NodeEvent> events_;
  grpc::Status status_;
  bool done_ = false;
};

class EventStreamTest : public ::testing::Test {
 protected:
  void start(NodeAgentOptions options) {
    agent_ = std::make_unique<NodeAgent>(std::move(options));
    agent_->start();
    stub_ = node_stub(agent_->address());
  }
  void rpc(const std::string &name, const std::string &vm) {
    v1::VmRef ref;
    ref.set_vm_id(vm);
    v1::VmStatus out;
    grpc::Status status;
    if (name == "start") status = stub_->StartVm(deadline_context().get(), ref, &out);
    if (name == "pause") status = stub_->PauseVm(deadline_context().get(), ref, &out);
    if (name == "resume") status = stub_->ResumeVm(deadline_context().get(), ref, &out);
    if (name == "stop") {
      v1::StopVmRequest stop;
      stop.set_vm_id(vm);
      stop.set_force(true);
      status = stub_->StopVm(deadline_context().get(), stop, &out);
    }
    if (name == "create") {
      v1::CreateVmRequest create;
      create.set_backend("mock");
      create.set_spec_json(mock_spec(vm).dump());
      status = stub_->CreateVm(deadline_context().get(), create, &out);
    }
    ASSERT_TRUE(status.ok()) << name << " " << vm << ": " << status.error_message();
  }

  TempDir dir_;
  std::unique_ptr<NodeAgent> agent_;
  std::unique_ptr<v1::NodeAgent::Stub> stub_;
};

TEST_F(EventStreamTest, EventsArriveInOrderWithIncreasingSequences) {
  start(mock_agent_options("ev", dir_.path()));
  Watcher watcher(*stub_, 0);
  rpc("create", "e1");
  for (const char *op : {"start", "pause", "resume", "stop"}) rpc(op, "e1");
  // start: Starting, Running; pause: Paused; resume: Running; stop: Stopped.
  ASSERT_TRUE(wait_until([&] { return watcher.count() >= 5; })) << watcher.count();
  std::vector<std::string> states;
  uint64_t previous = 0;
  for (const v1::NodeEvent &event : watcher.events()) {
    EXPECT_GT(event.sequence(), previous);
    previous = event.sequence();
    EXPECT_EQ(event.vm_id(), "e1");
    EXPECT_GT(event.timestamp_unix_ns(), 0);
    if (event.type() == "state-changed") states.push_back(event.state());
  }
  EXPECT_EQ(states,
            (std::vector<std::string>{"Starting", "Running", "Paused", "Running", "Stopped"}));
  EXPECT_EQ(previous, agent_->last_event_sequence());
}

TEST_F(EventStreamTest, AnActionsAnswerReflectsTheEventsTheActionPublished) {
  start(mock_agent_options("ev", dir_.path()));
  Watcher watcher(*stub_, 0);
  v1::CreateVmRequest create;
  create.set_backend("mock");
  create.set_spec_json(mock_spec("e1").dump());
  create.set_start(true);
  v1::VmStatus created;
  ASSERT_TRUE(stub_->CreateVm(deadline_context().get(), create, &created).ok());
  EXPECT_EQ(created.state(), "Running");
  // Starting and Running were published before the answer: its sequence covers both, so a
  // watcher holding the answer can skip them as already reflected.
  ASSERT_TRUE(wait_until([&] { return watcher.count() >= 2; })) << watcher.count();
  EXPECT_EQ(created.event_sequence(), watcher.events().at(1).sequence());
  EXPECT_EQ(created.event_sequence(), agent_->last_event_sequence());

  v1::VmRef ref;
  ref.set_vm_id("e1");
  v1::VmStatus paused;
  ASSERT_TRUE(stub_->PauseVm(deadline_context().get(), ref, &paused).ok());
  EXPECT_EQ(paused.state(), "Paused");
  EXPECT_EQ(paused.event_sequence(), created.event_sequence() + 1);
  // A read is not an action: it carries no sequence.
  v1::VmStatus got;
  ASSERT_TRUE(stub_->GetVm(deadline_context().get(), ref, &got).ok());
  EXPECT_EQ(got.event_sequence(), 0u);
}

TEST_F(EventStreamTest, ReplaySinceASequence) {
  start(mock_agent_options("replay", dir_.path()));
  rpc("create", "r1");
  rpc("start", "r1");
  rpc("pause", "r1");
  ASSERT_TRUE(wait_until([&] { return agent_->last_event_sequence() >= 3; }));
  const uint64_t last = agent_->last_event_sequence();
  Watcher from_one(*stub_, 1);
  rpc("resume", "r1");
  ASSERT_TRUE(wait_until([&] { return from_one.count() >= last; }));
  std::vector<v1::NodeEvent> events = from_one.events();
  ASSERT_GE(events.size(), last);
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].sequence(), i + 2);
  EXPECT_EQ(events.back().state(), "Running");
}

TEST_F(EventStreamTest, ReplayBeyondTheBufferIsOutOfRange) {
  NodeAgentOptions options = mock_agent_options("small", dir_.path());
  options.event_replay_capacity = 2;
  start(options);
  rpc("create", "o1");
  rpc("start", "o1");
  rpc("pause", "o1");
  rpc("resume", "o1");
  ASSERT_TRUE(wait_until([&] { return agent_->last_event_sequence() >= 4; }));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  v1::WatchEventsRequest request;
  request.set_since_sequence(1);  // event 2 has left the 2-event buffer (3 and 4 are kept)
  auto reader = stub_->WatchEvents(&context, request);
  v1::NodeEvent event;
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_NE(status.error_message().find("since_sequence"), std::string::npos);
}

TEST_F(EventStreamTest, ABrokenReaderDoesNotBlockBackendsOrOtherWatchers) {
  NodeAgentOptions options = mock_agent_options("slow", dir_.path());
  // Small enough that the stuck reader overflows it many times over (1,800 events), big enough
  // that the healthy watcher does not fall that far behind on a loaded machine.
  options.event_queue_capacity = 256;
  start(options);
  rpc("create", "b1");

  // A reader that never reads, on a channel with a small flow-control window (no BDP growth) so
  // the transport stops accepting its events early.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  auto stuck_stub = v1::NodeAgent::NewStub(
      grpc::CreateCustomChannel(agent_->address(), grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext stuck_context;
  stuck_context.set_deadline(std::chrono::system_clock::now() + 90s);
  v1::WatchEventsRequest request;
  auto stuck = stuck_stub->WatchEvents(&stuck_context, request);
  stuck->WaitForInitialMetadata();
  Watcher healthy(*stub_, 0);

  // Far more events (each carrying a large detail would be better, but many suffice) than the
  // reader's queue plus the transport's flow-control window.
  constexpr int kCycles = 600;
  auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < kCycles; ++i) {
    rpc("start", "b1");
    rpc("stop", "b1");
  }
  auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_LT(took, 60s);
  const uint64_t total = agent_->last_event_sequence();
  EXPECT_GE(total, static_cast<uint64_t>(3 * kCycles));
  ASSERT_TRUE(wait_until([&] { return healthy.count() >= total; }, 20s))
      << healthy.count() << " of " << total;

  // The stuck reader was dropped: draining it ends with RESOURCE_EXHAUSTED before it saw
  // everything.
  v1::NodeEvent event;
  uint64_t seen = 0;
  while (stuck->Read(&event)) ++seen;
  grpc::Status status = stuck->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_LT(seen, total);
}

TEST_F(EventStreamTest, StopEndsOpenStreams) {
  start(mock_agent_options("stopping", dir_.path()));
  grpc::ClientContext context;
  v1::WatchEventsRequest request;
  auto reader = stub_->WatchEvents(&context, request);
  reader->WaitForInitialMetadata();
  auto begin = std::chrono::steady_clock::now();
  agent_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 5s);
  v1::NodeEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_FALSE(reader->Finish().ok());
}

}  // namespace
}  // namespace hal::node::testing
