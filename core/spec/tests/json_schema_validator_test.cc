// json_schema_validator_test.cc - keyword behaviour of the compact JSON-Schema validator.
#include "core/spec/json_schema_validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace hal {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;

std::vector<FieldError> check(const json &schema, const json &instance) {
  return JsonSchemaValidator(schema).validate(instance, "doc");
}

TEST(JsonSchemaValidator, TypeAndRequired) {
  const json schema = json::parse(R"({"type":"object","required":["a"],
      "properties":{"a":{"type":"integer"},"b":{"type":["string","null"]}}})");
  EXPECT_TRUE(check(schema, {{"a", 1}, {"b", nullptr}}).empty());
  EXPECT_THAT(check(schema, json::object()), ElementsAre(FieldError{"doc.a", "is required"}));
  EXPECT_THAT(check(schema, {{"a", 1.5}}),
              ElementsAre(FieldError{"doc.a", "must be integer, got number"}));
  EXPECT_THAT(check(schema, {{"a", 1}, {"b", 2}}),
              ElementsAre(FieldError{"doc.b", "must be string or null, got integer"}));
  EXPECT_THAT(check(schema, json::array()),
              ElementsAre(FieldError{"doc", "must be object, got array"}));
}

TEST(JsonSchemaValidator, AdditionalProperties) {
  const json closed = json::parse(R"({"properties":{"a":{}},"additionalProperties":false})");
  EXPECT_THAT(check(closed, {{"a", 1}, {"zz", 2}}),
              ElementsAre(FieldError{"doc", "unknown field \"zz\""}));
  const json map = json::parse(R"({"additionalProperties":{"type":"boolean"}})");
  EXPECT_THAT(check(map, {{"x", true}, {"odd key", 1}}),
              ElementsAre(FieldError{"doc[\"odd key\"]", "must be boolean, got integer"}));
}

TEST(JsonSchemaValidator, NumbersStringsEnums) {
  const json schema = json::parse(R"({"properties":{
      "n":{"minimum":1,"maximum":10},"x":{"exclusiveMinimum":0},
      "s":{"minLength":2,"maxLength":3,"pattern":"^[a-z]+$"},
      "p":{"pattern":"^a","errorMessage":"must start with a"},
      "e":{"enum":["x","y"]},"c":{"const":"k"}}})");
  EXPECT_TRUE(check(schema, {{"n", 10}, {"x", 0.5}, {"s", "ab"}, {"e", "y"}, {"c", "k"}}).empty());
  EXPECT_THAT(check(schema, {{"n", 0}}), ElementsAre(FieldError{"doc.n", "must be >= 1"}));
  EXPECT_THAT(check(schema, {{"n", 11}}), ElementsAre(FieldError{"doc.n", "must be <= 10"}));
  EXPECT_THAT(check(schema, {{"x", 0}}), ElementsAre(FieldError{"doc.x", "must be > 0"}));
  EXPECT_THAT(check(schema, {{"s", "a"}}),
              ElementsAre(FieldError{"doc.s", "must be at least 2 characters"}));
  EXPECT_THAT(check(schema, {{"s", "abcd"}}),
              ElementsAre(FieldError{"doc.s", "must be at most 3 characters"}));
  EXPECT_THAT(check(schema, {{"s", "A1"}}),
              ElementsAre(FieldError{"doc.s", "must match the pattern ^[a-z]+$"}));
  EXPECT_THAT(check(schema, {{"p", "b"}}), ElementsAre(FieldError{"doc.p", "must start with a"}));
  EXPECT_THAT(check(schema, {{"e", "z"}}),
              ElementsAre(FieldError{"doc.e", "must be one of \"x\", \"y\", got \"z\""}));
  EXPECT_THAT(check(schema, {{"c", 1}}), ElementsAre(FieldError{"doc.c", "must be \"k\""}));
}

TEST(JsonSchemaValidator, HugeUnsignedAgainstMaximum) {
  const json schema = json::parse(R"({"maximum":4096})");
  EXPECT_EQ(check(schema, json(UINT64_MAX)).size(), 1u);
  EXPECT_EQ(check(schema, json(INT64_MIN)).size(), 0u);
}

TEST(JsonSchemaValidator, Arrays) {
  const json schema = json::parse(
      R"({"type":"array","minItems":1,"maxItems":3,"uniqueItems":true,"items":{"type":"integer"}})");
  EXPECT_TRUE(check(schema, {1, 2}).empty());
  EXPECT_THAT(check(schema, json::array()), ElementsAre(FieldError{"doc", "must not be empty"}));
  EXPECT_THAT(check(schema, {1, 2, 3, 4}),
              ElementsAre(FieldError{"doc", "must have at most 3 items"}));
  EXPECT_THAT(check(schema, {1, "a"}),
              ElementsAre(FieldError{"doc[1]", "must be integer, got string"}));
  EXPECT_THAT(check(schema, {1, 2, 1}),
              ElementsAre(FieldError{"doc[2]", "duplicate value 1 (same as [0])"}));
}

TEST(JsonSchemaValidator, RefsAndCombinators) {
  const json schema = json::parse(R"({"$defs":{"pos":{"type":"integer","minimum":1}},
      "properties":{"a":{"$ref":"#/$defs/pos"},"b":{"$ref":"#/$defs/missing"},
      "c":{"anyOf":[{"type":"string"},{"type":"integer","minimum":5}]},
      "d":{"oneOf":[{"type":"integer"},{"minimum":0}]},
      "o":{"$ref":"other.json#/$defs/x"}}})");
  const json other = json::parse(R"({"$defs":{"x":{"type":"boolean"}}})");
  JsonSchemaValidator v(schema, [&](std::string_view name) -> const json * {
    return name == "other.json" ? &other : nullptr;
  });
  EXPECT_TRUE(v.validate({{"a", 1}, {"c", "s"}, {"d", -1}, {"o", true}}, "doc").empty());
  EXPECT_THAT(v.validate({{"a", 0}}, "doc"), ElementsAre(FieldError{"doc.a", "must be >= 1"}));
  EXPECT_THAT(
      v.validate({{"b", 0}}, "doc"),
      ElementsAre(FieldError{"doc.b", "schema reference #/$defs/missing cannot be resolved"}));
  EXPECT_THAT(v.validate({{"c", 2}}, "doc"), ElementsAre(FieldError{"doc.c", "must be >= 5"}));
  EXPECT_THAT(v.validate({{"d", 3}}, "doc"),
              ElementsAre(FieldError{"doc.d", "matches more than one allowed form"}));
  EXPECT_THAT(v.validate({{"o", 1}}, "doc"),
              ElementsAre(FieldError{"doc.o", "must be boolean, got integer"}));
}

TEST(JsonSchemaValidator, ReferencesAreResolvedOnceAndSharedByThreads) {
  const json schema = json::parse(R"({"properties":{"o":{"$ref":"other.json#/$defs/x"},
      "p":{"$ref":"other.json#/$defs/x"},"m":{"$ref":"other.json#/$defs/missing"}}})");
  const json other = json::parse(R"({"$defs":{"x":{"type":"boolean"}}})");
  std::atomic<int> lookups{0};
  JsonSchemaValidator v(schema, [&](std::string_view name) -> const json * {
    ++lookups;
    return name == "other.json" ? &other : nullptr;
  });
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (!v.validate({{"o", true}, {"p", false}}, "doc").empty()) ++wrong;
        if (v.validate({{"o", 1}}, "doc") !=
            std::vector<FieldError>{{"doc.o", "must be boolean, got integer"}})
          ++wrong;
      }
    });
  }
  for (auto &thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  // Two references, each resolved at most once per racing thread, never once per validation.
  EXPECT_GE(lookups.load(), 2);
  EXPECT_LE(lookups.load(), 8);
  // An unresolvable reference is reported every time.
  for (int i = 0; i < 2; ++i) {
    EXPECT_THAT(v.validate({{"m", 1}}, "doc"),
                ElementsAre(FieldError{"doc.m",
                                       "schema reference other.json#/$defs/missing cannot be "
                                       "resolved"}));
  }
}

TEST(JsonSchemaValidator, SelfReferenceIsBounded) {
  const json schema = json::parse(R"({"$ref":"#"})");
  const auto errors = check(schema, 1);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "schema reference nesting too deep at #");
}

TEST(JsonSchemaValidator, ErrorCap) {
  const json schema = json::parse(R"({"items":{"type":"string"}})");
  EXPECT_EQ(JsonSchemaValidator(schema).validate(json(std::vector<int>(500, 1)), "d", 10).size(),
            10u);
}

}  // namespace
}  // namespace hal
