// json_pointer_test.cc - RFC 6901 parsing, lookup and slot creation used by the SDK documents.
#include "core/sdk/json_pointer.h"

#include <gtest/gtest.h>

namespace hal::sdk {
namespace {

using nlohmann::json;

TEST(JsonPointer, SplitsAndUnescapes) {
  EXPECT_EQ(split_pointer(""), std::vector<std::string>{});
  EXPECT_EQ(split_pointer("/a~1b/c~0d/0"), (std::vector<std::string>{"a/b", "c~d", "0"}));
  EXPECT_EQ(split_pointer("/"), std::vector<std::string>{""});
  EXPECT_FALSE(split_pointer("a/b"));
  EXPECT_FALSE(split_pointer("/a~2"));
  EXPECT_FALSE(split_pointer("/a~"));
}

TEST(JsonPointer, FindsWithoutCreating) {
  json doc = {{"a", {{"b", json::array({1, 2})}}}};
  EXPECT_EQ(*find_value(doc, {"a", "b", "1"}), 2);
  EXPECT_EQ(find_value(doc, {"a", "b", "2"}), nullptr);
  EXPECT_EQ(find_value(doc, {"a", "b", "-"}), nullptr);
  EXPECT_EQ(find_value(doc, {"a", "b", "01"}), nullptr);
  EXPECT_EQ(find_value(doc, {"a", "x"}), nullptr);
  EXPECT_EQ(find_value(doc, {"a", "b", "0", "deeper"}), nullptr);
  EXPECT_EQ(doc, (json{{"a", {{"b", json::array({1, 2})}}}}));
}

TEST(JsonPointer, CreatesParentsByTheNextToken) {
  json doc = json::object();
  std::string error;
  *make_slot(doc, {"vms", "-", "id"}, &error) = "a";
  *make_slot(doc, {"vms", "1", "id"}, &error) = "b";
  *make_slot(doc, {"vms", "0", "state"}, &error) = "Running";
  *make_slot(doc, {"tdx", "supported"}, &error) = false;
  EXPECT_EQ(doc, json::parse(R"({"vms":[{"id":"a","state":"Running"},{"id":"b"}],)"
                             R"("tdx":{"supported":false}})"));
}

TEST(JsonPointer, RefusesImpossibleSlots) {
  json doc = {{"list", json::array({1})}, {"n", 3}};
  std::string error;
  EXPECT_EQ(make_slot(doc, {"list", "5"}, &error), nullptr);
  EXPECT_NE(error.find("past the end"), std::string::npos) << error;
  EXPECT_EQ(make_slot(doc, {"list", "key"}, &error), nullptr);
  EXPECT_NE(error.find("is an array"), std::string::npos) << error;
  EXPECT_EQ(make_slot(doc, {"n", "x"}, &error), nullptr);
  EXPECT_NE(error.find("'/n' is number"), std::string::npos) << error;
}

}  // namespace
}  // namespace hal::sdk
