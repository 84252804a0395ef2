// QmpClient unit tests against a scripted fake QMP server (no QEMU needed).
#include "backends/kvm-qemu/qmp_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "backends/kvm-qemu/tests/fake_qmp_server.h"

namespace hal::kvm_qemu {
namespace {

using json = nlohmann::json;
using testing::FakeQmpConnection;
using testing::FakeQmpServer;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

QmpClient::Options FastOptions() {
  QmpClient::Options o;
  o.connect_timeout = 3s;
  return o;
}

// Replies to every command with {"echo": <command>, "args": <arguments>} until EOF.
void EchoLoop(FakeQmpConnection &c) {
  while (auto cmd = c.ReadMessage()) {
    c.Send({{"return", {{"echo", (*cmd)["execute"]}, {"args", cmd->value("arguments", json())}}},
            {"id", (*cmd)["id"]}});
  }
}

TEST(QmpClient, HandshakeAndExecute) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    EchoLoop(c);
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  EXPECT_EQ(client->qemu_version(), "7.2.0");
  EXPECT_EQ(client->greeting()["capabilities"], json::array({"oob"}));
  json r = client->execute("query-status", {{"x", 1}});
  EXPECT_EQ(r["echo"], "query-status");
  EXPECT_EQ(r["args"]["x"], 1);
  EXPECT_TRUE(client->connected());
}

TEST(QmpClient, OutOfOrderRepliesMatchedById) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    std::vector<json> cmds;
    for (int i = 0; i < 3; ++i) {
      auto cmd = c.ReadMessage();
      ASSERT_TRUE(cmd);
      cmds.push_back(*cmd);
    }
    for (auto it = cmds.rbegin(); it != cmds.rend(); ++it) {
      c.Send({{"return", (*it)["arguments"]["n"]}, {"id", (*it)["id"]}});
    }
    EchoLoop(c);
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  std::vector<std::future<json>> results;
  for (int i = 0; i < 3; ++i) {
    results.push_back(std::async(std::launch::async, [&, i] {
      return client->execute("cmd", {{"n", i}});
    }));
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(results[i].get(), i);
}

TEST(QmpClient, ErrorReplyCarriesClassAndDesc) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    auto cmd = c.ReadMessage();
    ASSERT_TRUE(cmd);
    c.Send(
        {{"error", {{"class", "CommandNotFound"}, {"desc", "The command nope has not been found"}}},
         {"id", (*cmd)["id"]}});
    EchoLoop(c);
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  try {
    client->execute("nope");
    FAIL() << "expected QmpCommandError";
  } catch (const QmpCommandError &e) {
    EXPECT_EQ(e.error_class(), "CommandNotFound");
    EXPECT_EQ(e.desc(), "The command nope has not been found");
    EXPECT_THAT(e.what(), HasSubstr("nope"));
  }
  EXPECT_EQ(client->execute("still-works")["echo"], "still-works");
}

TEST(QmpClient, GarbageFailsPendingAndLaterCommands) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    ASSERT_TRUE(c.ReadMessage());
    c.SendRaw("\x01\x02garbage{{{\r\n");
    c.ReadMessage(2000);  // wait for the client to hang up
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  try {
    client->execute("query-status", nullptr, 5s);
    FAIL() << "expected QmpConnectionError";
  } catch (const QmpConnectionError &e) {
    EXPECT_THAT(e.what(), HasSubstr("malformed"));
  }
  EXPECT_FALSE(client->connected());
  EXPECT_THAT(client->close_reason(), HasSubstr("malformed"));
  EXPECT_THROW(client->execute("query-status"), QmpConnectionError);
}

TEST(QmpClient, ReplyForUnknownIdIsIgnored) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    auto cmd = c.ReadMessage();
    ASSERT_TRUE(cmd);
    c.Send({{"return", "bogus"}, {"id", "not-ours"}});
    c.Send({{"return", "bogus"}});  // no id at all
    c.Send({{"return", "real"}, {"id", (*cmd)["id"]}});
    EchoLoop(c);
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  EXPECT_EQ(client->execute("x"), "real");
  EXPECT_EQ(client->unmatched_replies(), 2u);
}

TEST(QmpClient, EarlyCloseBeforeGreetingFailsConnect) {
  FakeQmpServer server([](FakeQmpConnection &c) { c.close(); });
  try {
    QmpClient::connect(server.path(), FastOptions());
    FAIL() << "expected QmpConnectionError";
  } catch (const QmpConnectionError &e) {
    EXPECT_THAT(e.what(), HasSubstr("closed"));
  }
}

TEST(QmpClient, CloseWhileCommandPendingFailsIt) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    ASSERT_TRUE(c.ReadMessage());
    c.close();
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  try {
    client->execute("query-status", nullptr, 10s);
    FAIL() << "expected QmpConnectionError";
  } catch (const QmpConnectionError &e) {
    EXPECT_THAT(e.what(), HasSubstr("connection closed by the QMP server"));
  }
}

TEST(QmpClient, SlowReplyTimesOutAndLateReplyIsDropped) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    auto slow = c.ReadMessage();
    ASSERT_TRUE(slow);
    std::this_thread::sleep_for(400ms);
    c.Send({{"return", "late"}, {"id", (*slow)["id"]}});
    EchoLoop(c);
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(client->execute("slow", nullptr, 100ms), QmpTimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 350ms);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(client->execute("fast")["echo"], "fast");
  EXPECT_EQ(client->unmatched_replies(), 1u);
  EXPECT_TRUE(client->connected());
}

TEST(QmpClient, OversizedReplyFailsConnection) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    auto cmd = c.ReadMessage();
    ASSERT_TRUE(cmd);
    c.Send({{"return", std::string(10000, 'x')}, {"id", (*cmd)["id"]}});
    c.ReadMessage(2000);
  });
  auto options = FastOptions();
  options.max_message_bytes = 4096;
  auto client = QmpClient::connect(server.path(), options);
  try {
    client->execute("big");
    FAIL() << "expected QmpConnectionError";
  } catch (const QmpConnectionError &e) {
    EXPECT_THAT(e.what(), HasSubstr("larger than 4096"));
  }
}

TEST(QmpClient, NoGreetingTimesOut) {
  FakeQmpServer server([](FakeQmpConnection &c) { c.ReadMessage(2000); });
  auto options = FastOptions();
  options.connect_timeout = 200ms;
  EXPECT_THROW(QmpClient::connect(server.path(), options), QmpTimeoutError);
}

TEST(QmpClient, ConnectToMissingSocketFails) {
  auto options = FastOptions();
  options.connect_timeout = 100ms;
  EXPECT_THROW(QmpClient::connect("/nonexistent/hal/qmp.sock", options), QmpConnectionError);
}

TEST(QmpClient, EventsDeliveredToSubscribersAndCallbackMayExecute) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    auto go = c.ReadMessage();  // "go": emit events after the subscriptions exist
    ASSERT_TRUE(go);
    c.Send({{"return", json::object()}, {"id", (*go)["id"]}});
    c.Send({{"event", "STOP"}, {"timestamp", {{"seconds", 1}, {"microseconds", 0}}}});
    c.Send({{"event", "RESUME"}, {"data", {{"k", "v"}}}});
    EchoLoop(c);
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  std::promise<json> stop_seen;
  std::atomic<int> all_count{0};
  std::promise<QmpEvent> resume_seen;
  client->subscribe("STOP", [&](const QmpEvent &e) {
    stop_seen.set_value(client->execute("from-callback", {{"event", e.name}}));
  });
  client->subscribe("", [&](const QmpEvent &) { ++all_count; });
  client->subscribe("RESUME", [&](const QmpEvent &e) { resume_seen.set_value(e); });
  client->execute("go");
  auto stop_future = stop_seen.get_future();
  ASSERT_EQ(stop_future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(stop_future.get()["args"]["event"], "STOP");
  auto resume_future = resume_seen.get_future();
  ASSERT_EQ(resume_future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(resume_future.get().data["k"], "v");
  for (int i = 0; i < 100 && all_count < 2; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(all_count, 2);
}

TEST(QmpClient, ManyThreadsConcurrently) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    EchoLoop(c);
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  constexpr int kThreads = 8, kPerThread = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        json r = client->execute("c", {{"t", t}, {"i", i}});
        if (r["args"]["t"] == t && r["args"]["i"] == i) ++ok;
      }
    });
  }
  for (auto &th : threads) th.join();
  EXPECT_EQ(ok, kThreads * kPerThread);
}

TEST(QmpClient, ClientCloseFailsPendingAndIsIdempotent) {
  FakeQmpServer server([](FakeQmpConnection &c) {
    ASSERT_TRUE(c.Handshake());
    c.ReadMessage(3000);  // never replies
    c.ReadMessage(3000);
  });
  auto client = QmpClient::connect(server.path(), FastOptions());
  auto pending =
      std::async(std::launch::async, [&] { return client->execute("hang", nullptr, 10s); });
  std::this_thread::sleep_for(100ms);
  client->close();
  client->close();
  EXPECT_THROW(pending.get(), QmpConnectionError);
  EXPECT_THROW(client->execute("after"), QmpConnectionError);
  EXPECT_EQ(client->close_reason(), "closed by the client");
}

}  // namespace
}  // namespace hal::kvm_qemu
