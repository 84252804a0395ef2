// manifest_test.cc - parse_manifests and the YAML/JSON conversion.
#include <gtest/gtest.h>

#include <fstream>

#include "controller/api/kubevirt_api.h"
#include "controller/api/utf8.h"
#include "controller/api/yaml_json.h"
#include "hal/host.hpp"

namespace hal::controller {
namespace {

using nlohmann::json;

std::string error_of(const std::string &text) {
  try {
    parse_manifests(text);
  } catch (const Error &e) {
    EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
    return e.what();
  }
  ADD_FAILURE() << "no error for: " << text;
  return {};
}

TEST(ParseManifests, MultiDocumentYamlSkipsEmptyDocuments) {
  auto objects = parse_manifests("---\nkind: A\n---\n---\n# only a comment\n---\nkind: B\n");
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[0]["kind"], "A");
  EXPECT_EQ(objects[1]["kind"], "B");
}

TEST(ParseManifests, ScalarsFollowTheYaml12CoreSchema) {
  auto o = parse_manifests(
      "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: \"1\"\ng: 64M\nh: yes\ni: 0x10\nj: 'true'\n"
      "k: |\n  line\n")[0];
  EXPECT_EQ(o["a"], 1);
  EXPECT_EQ(o["b"], -2);
  EXPECT_DOUBLE_EQ(o["c"].get<double>(), 1.5);
  EXPECT_EQ(o["d"], true);
  EXPECT_TRUE(o["e"].is_null());
  EXPECT_EQ(o["f"], "1");
  EXPECT_EQ(o["g"], "64M");
  EXPECT_EQ(o["h"], "yes");
  EXPECT_EQ(o["i"], 16);
  EXPECT_EQ(o["j"], "true");
  EXPECT_EQ(o["k"], "line\n");
}

TEST(ParseManifests, AnchorsAndAliasesExpand) {
  auto o = parse_manifests("base: &b {x: 1}\ncopy: *b\n")[0];
  EXPECT_EQ(o["copy"], json({{"x", 1}}));
}

TEST(ParseManifests, AliasesThatMultiplyTextAreBounded) {
  // 1 MiB aliased 100 times: a 1 MiB manifest that would take 100 MiB.
  std::string text = "a: &x \"" + std::string(1 << 20, 'x') + "\"\nb: [";
  for (int i = 0; i < 100; ++i) text += i == 0 ? "*x" : ", *x";
  EXPECT_NE(
      error_of(text + "]\n").find("document 1 (line 2): document expands to more than 64 MiB"),
      std::string::npos)
      << error_of(text + "]\n").substr(0, 200);
  text = "a: &x \"" + std::string(1 << 20, 'x') + "\"\nb: [*x, *x]\n";
  EXPECT_EQ(parse_manifests(text)[0]["b"][1].get<std::string>().size(), 1u << 20);
}

TEST(ParseManifests, JsonObjectAndArray) {
  auto a = parse_manifests(R"({"kind": "A", "n": 1})");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["n"], 1);
  auto b = parse_manifests(R"(  [{"kind": "A"}, {"kind": "B"}])");
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[1]["kind"], "B");
}

TEST(ParseManifests, ListsAreFlattened) {
  auto objects = parse_manifests(
      "apiVersion: v1\nkind: List\nitems:\n- kind: A\n- kind: VirtualMachineList\n  items:\n"
      "  - kind: B\n---\nkind: C\n");
  ASSERT_EQ(objects.size(), 3u);
  EXPECT_EQ(objects[0]["kind"], "A");
  EXPECT_EQ(objects[1]["kind"], "B");
  EXPECT_EQ(objects[2]["kind"], "C");
  EXPECT_NE(error_of("kind: List\n").find("items"), std::string::npos);
}

TEST(ParseManifests, YamlSyntaxErrorNamesDocumentAndLine) {
  std::string msg = error_of("kind: A\n---\nkind: B\nmetadata:\n  name: [unclosed\n");
  EXPECT_NE(msg.find("document 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line "), std::string::npos) << msg;
  EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
}

TEST(ParseManifests, DuplicateKeysAreRejectedWithLine) {
  std::string msg = error_of("kind: A\nspec:\n  x: 1\n  x: 2\n");
  EXPECT_NE(msg.find("document 1 (line 4)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("duplicate key \"x\""), std::string::npos) << msg;
}

TEST(ParseManifests, NonObjectDocumentsAreRejected) {
  EXPECT_NE(error_of("kind: A\n---\n- 1\n- 2\n").find("document 2"), std::string::npos);
  EXPECT_NE(error_of("just text\n").find("must be an object"), std::string::npos);
}

TEST(ParseManifests, JsonSyntaxErrorNamesLine) {
  std::string msg = error_of("{\n  \"kind\": \"A\",\n  oops\n}");
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("JSON syntax error"), std::string::npos) << msg;
}

TEST(ParseManifests, JsonNumberOverflowAndDeepNestingAreErrors) {
  // Found by hal_controller_api_fuzzer: out_of_range.406 escaped parse_manifests.
  std::string msg = error_of("{\n  \"kind\": \"A\", \"n\": 20E222222}");
  EXPECT_NE(msg.find("document 1 (line 1): JSON error:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("number overflow"), std::string::npos) << msg;
  msg = error_of(std::string(129, '[') + std::string(129, ']'));
  EXPECT_NE(msg.find("nesting deeper than 128 levels"), std::string::npos) << msg;
  std::string nested = "{}";  // 128 levels are accepted
  for (int level = 1; level < 128; ++level) nested = "{\"a\": " + nested + "}";
  EXPECT_EQ(parse_manifests(nested).size(), 1u);
  EXPECT_NE(error_of("{\"a\": " + nested + "}").find("nesting deeper than 128 levels"),
            std::string::npos);
}

TEST(ParseManifests, AliasBombIsBounded) {
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    text += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) text += std::string(i ? ", *" : "*") + prev;
    text += "]\n";
    prev = c;
  }
  EXPECT_NE(error_of(text).find("more than 1000000 nodes"), std::string::npos);
}

TEST(ParseManifests, MalformedInputThatStallsTheYamlParserIsAnError) {
  // Found by hal_controller_api_fuzzer: yaml-cpp reported empty documents forever.
  std::ifstream in(HAL_API_TESTDATA_DIR "/fuzz-endless-documents.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  std::string msg = error_of(text);
  EXPECT_NE(msg.find("YAML syntax error"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(line "), std::string::npos) << msg;
}

TEST(ParseManifests, TextThatIsNotUtf8IsRefusedWithItsLine) {
  // Found by hal_controller_api_fuzzer: such a string passed parsing and threw from
  // nlohmann::json::dump in validation.
  std::string msg = error_of("kind: A\nmetadata:\n  name: \"x\xFFy\"\n");
  EXPECT_NE(msg.find("document 1 (line 3): invalid UTF-8 byte 0xFF at byte 28"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("must be UTF-8"), std::string::npos) << msg;
  EXPECT_NE(error_of("{\"kind\": \"\xC0\xAF\"}").find("0xC0"), std::string::npos);
}

TEST(ParseManifests, BadBytesAreNamedByDocumentAndLine) {
  // A UTF-16 file (with its byte order mark), raw FF FE, an overlong '/', a UTF-16 surrogate.
  EXPECT_NE(error_of(std::string("\xFF\xFEk\0i\0n\0d\0", 10))
                .find("document 1 (line 1): invalid UTF-8 byte 0xFF at byte 0"),
            std::string::npos);
  EXPECT_NE(error_of("\xFF\xFE").find("UTF-16 byte order mark"), std::string::npos);
  const std::string two = "kind: A\n---\nkind: B\nmetadata:\n  name: \"\xC0\xAF\"\n";
  EXPECT_NE(error_of(two).find("document 2 (line 5): invalid UTF-8 byte 0xC0"), std::string::npos)
      << error_of(two);
  const std::string led = "---\nkind: A\n---\n# c\nkind: B\n---\nkind: \"\xED\xA0\x80\"\n";
  EXPECT_NE(error_of(led).find("document 3 (line 7): invalid UTF-8 byte 0xED"), std::string::npos)
      << error_of(led);
}

TEST(ParseManifests, EscapesThatDecodeToNonUtf8AreRefused) {
  // parse_manifests checks the raw text; yaml-cpp refuses escapes that are not code points.
  for (const char *escape : {"\\ud800", "\\U00110000"}) {
    std::string msg = error_of(std::string("kind: A\nmetadata:\n  name: \"") + escape + "\"\n");
    EXPECT_NE(msg.find("document 1 (line 3): YAML syntax error: invalid unicode"),
              std::string::npos)
        << msg;
  }
  std::string msg = error_of("kind: A\nmetadata:\n  name: !%FF x\n");
  EXPECT_NE(msg.find("document 1 (line 3)"), std::string::npos) << msg;
}

TEST(ParseManifests, MultiByteUtf8IsKept) {
  auto objects =
      parse_manifests("kind: A\nmetadata:\n  annotations:\n    note: \"caf\u00e9 \U0001F600\"\n");
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0]["metadata"]["annotations"]["note"], "caf\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(InvalidUtf8Offset, FollowsRfc3629) {
  EXPECT_EQ(invalid_utf8_offset(""), std::nullopt);
  EXPECT_EQ(invalid_utf8_offset("a\xC3\xA9\xE2\x82\xAC\xF4\x8F\xBF\xBF"), std::nullopt);
  EXPECT_EQ(invalid_utf8_offset("ab\x80"), 2u);            // lone continuation byte
  EXPECT_EQ(invalid_utf8_offset("a\xC1\x81"), 1u);         // overlong 2-byte form
  EXPECT_EQ(invalid_utf8_offset("\xE0\x9F\xBF"), 0u);      // overlong 3-byte form
  EXPECT_EQ(invalid_utf8_offset("\xED\xA0\x80"), 0u);      // UTF-16 surrogate
  EXPECT_EQ(invalid_utf8_offset("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(invalid_utf8_offset("x\xE2\x82"), 1u);         // truncated at the end
  EXPECT_EQ(invalid_utf8_offset("\xFF"), 0u);
  EXPECT_EQ(describe_invalid_utf8("ab\x80", 2), "invalid UTF-8 byte 0x80 at byte 2");
}

TEST(JsonToYaml, RoundTripsTypesAndAmbiguousStrings) {
  json value = {{"name", "t"},
                {"n", 3},
                {"f", 1.5},
                {"b", false},
                {"nul", nullptr},
                {"s1", "true"},
                {"s2", "1"},
                {"s3", "yes"},
                {"s4", "a: b"},
                {"empty", json::object()},
                {"list", json::array({1, "x"})},
                {"nested", {{"k/v", "multi\nline\n"}}},
                {"blank", ""}};
  std::string yaml = json_to_yaml(value);
  auto back = parse_manifests(yaml);
  ASSERT_EQ(back.size(), 1u) << yaml;
  EXPECT_EQ(back[0], value) << yaml;
}

}  // namespace
}  // namespace hal::controller
