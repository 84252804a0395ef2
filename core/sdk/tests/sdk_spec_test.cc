// sdk_spec_test.cc - hal_sdk_spec_*: specs are parsed and validated as the host does, errors name
// the field at fault, quantities and defaults are resolved, and the getters answer by pointer.
#include <gtest/gtest.h>

#include <string>

#include "hal/sdk.h"

namespace {

hal_error make_error() {
  hal_error error{};
  error.struct_size = sizeof error;
  return error;
}

constexpr const char *kSpec =
    R"({"apiVersion":"hal.dev/v1","name":"vm-1","cpu":{"vcpus":2},)"
    R"("memory":{"size":"1536Mi"},"boot":{"kernel":"/boot/vmlinuz"},)"
    R"("numa":{"nodes":[{"id":0,"vcpus":[0],"memory":"512Mi"},{"id":1,"vcpus":[1],"memory":"1Gi"}]}})";

// Parses `json`, expecting INVALID_ARGUMENT, and returns the message.
std::string parse_error(const std::string &json) {
  hal_error error = make_error();
  hal_sdk_spec *spec = reinterpret_cast<hal_sdk_spec *>(&error);  // must be reset to NULL
  EXPECT_EQ(hal_sdk_spec_parse(json.c_str(), &spec, &error), HAL_INVALID_ARGUMENT) << json;
  EXPECT_EQ(spec, nullptr);
  return error.message;
}

TEST(SdkSpec, ParsesAValidSpecAndResolvesQuantities) {
  hal_error error = make_error();
  hal_sdk_spec *spec = nullptr;
  ASSERT_EQ(hal_sdk_spec_parse(kSpec, &spec, &error), HAL_OK) << error.message;
  EXPECT_STREQ(hal_sdk_spec_name(spec), "vm-1");
  EXPECT_EQ(hal_sdk_spec_vcpus(spec), 2u);
  EXPECT_EQ(hal_sdk_spec_memory_bytes(spec), 1536ull << 20);
  uint64_t bytes = 0;
  EXPECT_EQ(hal_sdk_doc_get_bytes(hal_sdk_spec_doc(spec), "/numa/nodes/1/memory", &bytes), HAL_OK);
  EXPECT_EQ(bytes, 1ull << 30);
  const char *kernel = nullptr;
  EXPECT_EQ(hal_sdk_doc_get_string(hal_sdk_spec_doc(spec), "/boot/kernel", &kernel), HAL_OK);
  EXPECT_STREQ(kernel, "/boot/vmlinuz");
  const char *type = "unchanged";
  EXPECT_EQ(hal_sdk_doc_get_string(hal_sdk_spec_doc(spec), "/launchSecurity/type", &type),
            HAL_NOT_FOUND);
  EXPECT_STREQ(type, "unchanged");
  size_t nodes = 0;
  EXPECT_EQ(hal_sdk_doc_get_size(hal_sdk_spec_doc(spec), "/numa/nodes", &nodes), HAL_OK);
  EXPECT_EQ(nodes, 2u);
  hal_sdk_spec_free(spec);
}

TEST(SdkSpec, EffectiveJsonHasTheDefaults) {
  hal_sdk_spec *spec = nullptr;
  ASSERT_EQ(hal_sdk_spec_parse(kSpec, &spec, nullptr), HAL_OK);
  char *text = hal_sdk_spec_effective_json(spec);
  ASSERT_NE(text, nullptr);
  std::string json = text;
  hal_sdk_string_free(text);
  EXPECT_NE(json.find(R"("maxDowntimeMs":300)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("size":"1536Mi")"), std::string::npos) << json;
  // The effective spec is itself a valid spec.
  hal_sdk_spec *again = nullptr;
  hal_error error = make_error();
  EXPECT_EQ(hal_sdk_spec_parse(json.c_str(), &again, &error), HAL_OK) << error.message;
  hal_sdk_spec_free(again);
  hal_sdk_spec_free(spec);
}

TEST(SdkSpec, SchemaErrorsNameTheField) {
  std::string message = parse_error(
      R"({"apiVersion":"hal.dev/v1","name":"vm-1","cpu":{"vcpus":0},"memory":{"size":"1Gi"}})");
  EXPECT_NE(message.find("spec.cpu.vcpus"), std::string::npos) << message;
  message = parse_error(
      R"({"apiVersion":"hal.dev/v1","name":"vm-1","cpu":{"vcpus":1},"memory":{"size":"lots"}})");
  EXPECT_NE(message.find("spec.memory.size"), std::string::npos) << message;
  message = parse_error(R"({"apiVersion":"hal.dev/v1","name":"vm-1","memory":{"size":"1Gi"}})");
  EXPECT_NE(message.find("cpu"), std::string::npos) << message;
  message = parse_error(
      R"({"apiVersion":"hal.dev/v1","name":"vm-1","cpu":{"vcpus":1},"memory":{"size":"1Gi"},)"
      R"("colour":"blue"})");
  EXPECT_NE(message.find("colour"), std::string::npos) << message;
}

TEST(SdkSpec, CrossFieldRulesApply) {
  // Schema-valid, but the topology product (1*1*1) is not cpu.vcpus (2).
  std::string message =
      parse_error(R"({"apiVersion":"hal.dev/v1","name":"vm-1","memory":{"size":"1Gi"},)"
                  R"("cpu":{"vcpus":2,"topology":{"sockets":1,"cores":1,"threads":1}}})");
  EXPECT_NE(message.find("spec.cpu.topology"), std::string::npos) << message;
}

TEST(SdkSpec, MalformedJsonAndNonObjectsAreRejected) {
  EXPECT_NE(parse_error(R"({"apiVersion": "hal.dev/v1", "name": )").find("invalid JSON at byte"),
            std::string::npos);
  EXPECT_FALSE(parse_error("[1, 2, 3]").empty());
  EXPECT_FALSE(parse_error("").empty());
  EXPECT_NE(parse_error(std::string(100, '[') + std::string(100, ']')).find("deeper"),
            std::string::npos);
}

TEST(SdkSpec, NullArgumentsAreInvalid) {
  hal_sdk_spec *spec = nullptr;
  hal_error error = make_error();
  EXPECT_EQ(hal_sdk_spec_parse(nullptr, &spec, &error), HAL_INVALID_ARGUMENT);
  EXPECT_GT(std::string(error.message).size(), 0u);
  EXPECT_EQ(hal_sdk_spec_parse(kSpec, nullptr, nullptr), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_spec_name(nullptr), nullptr);
  EXPECT_EQ(hal_sdk_spec_doc(nullptr), nullptr);
  hal_sdk_spec_free(nullptr);
}

TEST(SdkSpec, ErrorBufferTooSmallForItsSizeIsLeftAlone) {
  hal_error error{};
  error.struct_size = 8;  // a caller that knows an older, shorter hal_error
  error.message[0] = 'x';
  hal_sdk_spec *spec = nullptr;
  EXPECT_EQ(hal_sdk_spec_parse("[]", &spec, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(error.message[0], 'x');
}

TEST(SdkCommon, FailFormatsAndTruncates) {
  hal_error error = make_error();
  EXPECT_EQ(hal_sdk_fail(&error, HAL_NOT_FOUND, "no VM '%s'", "a"), HAL_NOT_FOUND);
  EXPECT_STREQ(error.message, "no VM 'a'");
  std::string long_text(2000, 'y');
  EXPECT_EQ(hal_sdk_fail(&error, HAL_INTERNAL, "%s", long_text.c_str()), HAL_INTERNAL);
  EXPECT_EQ(std::string(error.message).size(), size_t{HAL_ERROR_MESSAGE_SIZE - 1});
  EXPECT_EQ(hal_sdk_fail(nullptr, HAL_UNAVAILABLE, "ignored"), HAL_UNAVAILABLE);
  EXPECT_EQ(HAL_VERSION_MAJOR(hal_sdk_version()), HAL_SDK_VERSION_MAJOR);
  char *copy = hal_sdk_string_dup("text");
  EXPECT_STREQ(copy, "text");
  hal_sdk_string_free(copy);
  EXPECT_EQ(hal_sdk_string_dup(nullptr), nullptr);
}

}  // namespace
