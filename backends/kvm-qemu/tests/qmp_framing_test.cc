// Unit tests for the QMP line framer and message parser.
#include "backends/kvm-qemu/qmp_framing.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace hal::kvm_qemu {
namespace {

std::vector<std::string> FeedAll(QmpLineFramer &f, const std::vector<std::string> &chunks,
                                 bool *ok = nullptr) {
  std::vector<std::string> lines;
  bool all_ok = true;
  for (const auto &c : chunks) {
    all_ok = f.Feed(c, [&](std::string_view l) { lines.emplace_back(l); }) && all_ok;
  }
  if (ok) *ok = all_ok;
  return lines;
}

TEST(QmpLineFramer, SplitsLinesAcrossChunksAndStripsCr) {
  QmpLineFramer f(100);
  auto lines = FeedAll(f, {"{\"a\":1}\r\n{\"b\"", ":2}\r", "\n\r\n\n{\"c\":3}\n{\"d"});
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"}));
  EXPECT_EQ(f.buffered(), 3u);
}

TEST(QmpLineFramer, RejectsOversizedLine) {
  QmpLineFramer f(8);
  bool ok = true;
  auto lines = FeedAll(f, {"12345678\n", "1234", "56789"}, &ok);
  EXPECT_FALSE(ok);
  EXPECT_TRUE(f.failed());
  EXPECT_EQ(lines, (std::vector<std::string>{"12345678"}));
  EXPECT_FALSE(f.Feed("x\n", [](std::string_view) {}));
}

TEST(ParseQmpMessage, ClassifiesMessages) {
  auto r = ParseQmpMessage(R"({"return": {"status": "paused"}, "id": "hal-1"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, QmpMessage::Kind::kReturn);
  EXPECT_EQ(r->id, "hal-1");
  EXPECT_EQ(r->payload["status"], "paused");

  auto e = ParseQmpMessage(R"({"error": {"class": "CommandNotFound", "desc": "no"}, "id": "x"})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, QmpMessage::Kind::kError);
  EXPECT_EQ(e->error_class, "CommandNotFound");
  EXPECT_EQ(e->error_desc, "no");

  auto ev = ParseQmpMessage(R"({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"})");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->kind, QmpMessage::Kind::kEvent);
  EXPECT_EQ(ev->event, "STOP");
  EXPECT_TRUE(ev->payload.is_null());
  EXPECT_EQ(ev->timestamp["seconds"], 1);

  auto g = ParseQmpMessage(R"({"QMP": {"version": {}, "capabilities": []}})");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->kind, QmpMessage::Kind::kGreeting);

  auto numeric_id = ParseQmpMessage(R"({"return": {}, "id": 7})");
  ASSERT_TRUE(numeric_id);
  EXPECT_FALSE(numeric_id->id);
}

TEST(ParseQmpMessage, RejectsGarbage) {
  std::string err;
  EXPECT_FALSE(ParseQmpMessage("not json", &err));
  EXPECT_EQ(err, "malformed JSON");
  EXPECT_FALSE(ParseQmpMessage("[1,2]", &err));
  EXPECT_FALSE(ParseQmpMessage(R"({"foo": 1})", &err));
  EXPECT_FALSE(ParseQmpMessage(R"({"error": "x"})", &err));
  EXPECT_FALSE(ParseQmpMessage(R"({"event": 5})", &err));
  EXPECT_FALSE(ParseQmpMessage(std::string("{\"return\":\"\xff\"}"), &err));
}

TEST(EncodeQmpCommand, EncodesWithAndWithoutArguments) {
  EXPECT_EQ(EncodeQmpCommand("query-status", nullptr, "hal-1"),
            "{\"execute\":\"query-status\",\"id\":\"hal-1\"}\n");
  EXPECT_EQ(EncodeQmpCommand("stop", {{"a", 1}}, "i"),
            "{\"arguments\":{\"a\":1},\"execute\":\"stop\",\"id\":\"i\"}\n");
}

}  // namespace
}  // namespace hal::kvm_qemu

namespace hal::kvm_qemu {

TEST(QmpCommandId, IsShortBase62AndDistinct) {
  EXPECT_EQ(QmpCommandId(0), "0");
  EXPECT_EQ(QmpCommandId(61), "Z");
  EXPECT_EQ(QmpCommandId(62), "10");
  std::set<std::string> ids;
  for (std::uint64_t n = 0; n < 10000; ++n) ids.insert(QmpCommandId(n));
  EXPECT_EQ(ids.size(), 10000u);
}

}  // namespace hal::kvm_qemu
