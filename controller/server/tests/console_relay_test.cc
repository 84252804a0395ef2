// console_relay_test.cc - the console relay on its own, in one process: a client, the relay as a
// Controller service's Console, and a fake node agent. Bytes go both ways and the node's status
// reaches the client; the node's call ends when the client goes; a client that stops reading is
// cut off after the stall limit while the node's output stays held back (bounded, not buffered);
// a node that never attaches, too many sessions and oversized messages are refused by name.
#include "controller/server/console_relay.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace hal::controller {
namespace {

using namespace std::chrono_literals;

// A node whose consoles answer by vm_id: "absent" is not there; "silent" never attaches;
// "flood" writes 16 KiB blocks as fast as it may; anything else echoes "echo: DATA".
class FakeNode final : public v1::NodeAgent::Service {
 public:
  grpc::Status Console(
      grpc::ServerContext *context,
      grpc::ServerReaderWriter<v1::ConsoleChunk, v1::ConsoleChunk> *stream) override {
    v1::ConsoleChunk chunk;
    if (!stream->Read(&chunk)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no vm_id");
    const std::string vm_id = chunk.vm_id();
    struct Ended {
      FakeNode &node;
      grpc::ServerContext *context;
      ~Ended() {
        node.cancelled = context->IsCancelled();
        node.ended = true;
      }
    } ended{*this, context};
    if (vm_id == "absent")
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "VM 'absent' is not on this node");
    if (vm_id == "silent") {
      while (!context->IsCancelled()) std::this_thread::sleep_for(20ms);
      return grpc::Status::OK;
    }
    stream->Write(v1::ConsoleChunk());  // Attached.
    if (vm_id == "flood") {
      v1::ConsoleChunk block;
      block.set_data(std::string(16384, 'x'));
      while (stream->Write(block)) written += block.data().size();
      return grpc::Status::OK;
    }
    while (stream->Read(&chunk)) {
      v1::ConsoleChunk reply;
      reply.set_data("echo: " + chunk.data());
      if (!stream->Write(reply)) break;
    }
    return grpc::Status::OK;
  }

  std::atomic<std::size_t> written{0};
  std::atomic<bool> cancelled{false};
  std::atomic<bool> ended{false};
};

// The relay as the Controller service's Console.
class RelayService final : public v1::Controller::CallbackService {
 public:
  RelayService(ConsoleResolver resolve, ConsoleRelayLimits limits)
      : relay(std::move(resolve), limits) {}
  grpc::ServerBidiReactor<v1::ConsoleInput, v1::ConsoleOutput> *Console(
      grpc::CallbackServerContext *context) override {
    return relay.open(context);
  }
  ConsoleRelay relay;
};

using ClientStream = grpc::ClientReaderWriter<v1::ConsoleInput, v1::ConsoleOutput>;

class ConsoleRelayTest : public ::testing::Test {
 protected:
  // Serves the fake node and the relay with `limits` on one port.
  void start(ConsoleRelayLimits limits = {}) {
    service_ = std::make_unique<RelayService>(
        [this](const grpc::CallbackServerContext &, const v1::ConsoleInput &first,
               ConsoleTarget &target) {
          if (first.name() == "forbidden")
            return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "user 'x' may not");
          target = ConsoleTarget{"node-a", node_channel_, first.name(),
                                 first.namespace_() + "/" + first.name(), "user 'tester'"};
          return grpc::Status::OK;
        },
        limits);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&node_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    const std::string address = "127.0.0.1:" + std::to_string(port);
    // As the controller's channels to nodes are (node_connection.cc): no BDP probing, so a
    // stream's receive window stays at gRPC's initial 64 KiB.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    node_channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
    stub_ =
        v1::Controller::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + 2s);
    service_.reset();
  }

  // Opens a session to VM `name` on `context`; its first message is written (unless the server
  // may have refused the session already, `may_be_refused`).
  std::unique_ptr<ClientStream> open(grpc::ClientContext &context, const std::string &name,
                                     const std::string &data = "", bool may_be_refused = false) {
    context.set_deadline(std::chrono::system_clock::now() + 20s);
    auto stream = stub_->Console(&context);
    v1::ConsoleInput first;
    first.set_namespace_("default");
    first.set_name(name);
    first.set_data(data);
    const bool written = stream->Write(first);
    if (!may_be_refused) {
      EXPECT_TRUE(written);
    }
    return stream;
  }
  // Reads to the end and finishes.
  static grpc::Status drain(ClientStream &stream) {
    v1::ConsoleOutput output;
    while (stream.Read(&output)) {
    }
    return stream.Finish();
  }
  bool wait_until(const std::function<bool()> &condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  FakeNode node_;
  std::unique_ptr<RelayService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> node_channel_;
  std::unique_ptr<v1::Controller::Stub> stub_;
};

TEST_F(ConsoleRelayTest, RelaysBothWaysAndEndsWithTheNode) {
  start();
  grpc::ClientContext context;
  auto stream = open(context, "vm-1");
  v1::ConsoleOutput output;
  ASSERT_TRUE(stream->Read(&output));
  EXPECT_EQ(output.data(), "");  // Attached.
  v1::ConsoleInput input;
  input.set_data("uname -a\n");
  ASSERT_TRUE(stream->Write(input));
  ASSERT_TRUE(stream->Read(&output));
  EXPECT_EQ(output.data(), "echo: uname -a\n");
  stream->WritesDone();  // The node ends its side when told; its OK is the call's.
  grpc::Status status = drain(*stream);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(wait_until([&] { return service_->relay.sessions() == 0; }, 5s));
  EXPECT_FALSE(node_.cancelled);
}

TEST_F(ConsoleRelayTest, RefusalsReachTheClientAsTheyWere) {
  start();
  grpc::ClientContext absent_context, forbidden_context;
  auto absent = open(absent_context, "absent");
  grpc::Status status = drain(*absent);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "VM 'absent' is not on this node");
  auto forbidden = open(forbidden_context, "forbidden");
  status = drain(*forbidden);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(status.error_message(), "user 'x' may not");
  // A first message without a name.
  grpc::ClientContext unnamed_context;
  auto unnamed = stub_->Console(&unnamed_context);
  unnamed->WritesDone();
  status = drain(*unnamed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ConsoleRelayTest, TheNodesCallEndsWhenTheClientGoes) {
  start();
  grpc::ClientContext context;
  auto stream = open(context, "vm-1");
  v1::ConsoleOutput output;
  ASSERT_TRUE(stream->Read(&output));
  context.TryCancel();
  drain(*stream);
  EXPECT_TRUE(wait_until([&] { return node_.ended.load(); }, 5s));
  EXPECT_TRUE(node_.cancelled);
  EXPECT_TRUE(wait_until([&] { return service_->relay.sessions() == 0; }, 5s));
}

TEST_F(ConsoleRelayTest, AClientThatStopsReadingHoldsTheNodeBackThenIsCutOff) {
  ConsoleRelayLimits limits;
  limits.stall = 2s;
  limits.tick = 50ms;
  start(limits);
  grpc::ClientContext context;
  auto stream = open(context, "flood");
  v1::ConsoleOutput output;
  ASSERT_TRUE(stream->Read(&output));
  // The client reads nothing more: the node's writes stop once the windows on the way are full
  // (gRPC flow control), the relay holding one message, not the flood.
  std::this_thread::sleep_for(1s);
  const std::size_t held = node_.written;
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(node_.written, held) << "the node's output is still being taken";
  std::cerr << "node output taken while the client read nothing: " << held << " bytes\n";
  EXPECT_LT(held, std::size_t{32} << 20);
  // After the stall limit the session ends, and with it the node's call.
  EXPECT_TRUE(wait_until([&] { return node_.ended.load(); }, 10s));
  EXPECT_TRUE(node_.cancelled);
  EXPECT_NE(drain(*stream).error_code(), grpc::StatusCode::OK);
  EXPECT_TRUE(wait_until([&] { return service_->relay.sessions() == 0; }, 5s));
}

TEST_F(ConsoleRelayTest, ANodeThatNeverAttachesIsNamed) {
  ConsoleRelayLimits limits;
  limits.attach = 500ms;
  limits.tick = 50ms;
  start(limits);
  grpc::ClientContext context;
  auto stream = open(context, "silent");
  grpc::Status status = drain(*stream);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(status.error_message(),
            "node node-a did not open the console of VM 'silent' within 500 ms");
  EXPECT_TRUE(wait_until([&] { return node_.ended.load(); }, 5s));
}

TEST_F(ConsoleRelayTest, SessionsAndMessagesAreBounded) {
  ConsoleRelayLimits limits;
  limits.max_sessions = 1;
  start(limits);
  grpc::ClientContext first_context, second_context;
  auto first = open(first_context, "vm-1");
  v1::ConsoleOutput output;
  ASSERT_TRUE(first->Read(&output));
  auto second = open(second_context, "vm-2", "", true);
  grpc::Status status = drain(*second);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(), "too many console sessions (1); try again later");
  v1::ConsoleInput big;
  big.set_data(std::string(70000, 'y'));
  first->Write(big);
  status = drain(*first);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "data: a Console message may carry at most 65536 bytes, not 70000");
}

}  // namespace
}  // namespace hal::controller
