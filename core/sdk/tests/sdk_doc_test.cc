// sdk_doc_test.cc - hal_sdk_doc_*: parsing configurations, typed getters, setters by pointer
// with a sticky first failure, validation against every HAL schema, and emit's ownership rules.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "hal/sdk.h"

namespace {

hal_error make_error() {
  hal_error error{};
  error.struct_size = sizeof error;
  return error;
}

// A document parsed from text (asserting success); the caller frees it.
hal_sdk_doc *doc_of(const std::string &json) {
  hal_sdk_doc *doc = nullptr;
  hal_error error = make_error();
  EXPECT_EQ(hal_sdk_doc_parse(json.c_str(), &doc, &error), HAL_OK) << error.message;
  return doc;
}

// Validates `json` against `schema`, answering the status and the message.
std::pair<hal_status, std::string> check(const std::string &json, hal_sdk_schema schema) {
  hal_sdk_doc *doc = doc_of(json);
  hal_error error = make_error();
  hal_status status = hal_sdk_doc_validate(doc, schema, &error);
  hal_sdk_doc_free(doc);
  return {status, status == HAL_OK ? std::string() : std::string(error.message)};
}

struct SchemaCase {
  hal_sdk_schema schema;
  const char *valid;
  const char *invalid;
  const char *field;  // must appear in the message about `invalid`
};

const SchemaCase kCases[] = {
    {HAL_SDK_SCHEMA_CAPABILITIES,
     R"({"abiVersion":"1.0","hypervisor":"toy","accelerator":"none","operations":{"vm_pause":true},)"
     R"("features":{"tdx":false}})",
     R"({"abiVersion":"1.0","hypervisor":"toy","accelerator":"none","operations":{"vm_pause":"yes"},)"
     R"("features":{"tdx":false}})",
     "capabilities.operations.vm_pause"},
    {HAL_SDK_SCHEMA_HOST_INFO,
     R"({"cpus":1,"memory":1073741824,"numaNodes":[{"id":0,"cpus":[0],"memory":1073741824}],)"
     R"("pciDevices":[],"tdx":{"supported":false,"reason":"none"},"accelerator":"none"})",
     R"({"cpus":1,"memory":1073741824,"numaNodes":[{"id":0,"cpus":[0],"memory":"1Gi"}],)"
     R"("pciDevices":[],"tdx":{"supported":false,"reason":"none"},"accelerator":"none"})",
     "hostInfo.numaNodes[0].memory"},
    {HAL_SDK_SCHEMA_VM_INFO, R"({"id":"vm-1","state":"Running"})",
     R"({"id":"vm-1","state":"Sleeping"})", "info.state"},
    {HAL_SDK_SCHEMA_MIGRATION_PROGRESS, R"({"status":"active","transferredBytes":10})",
     R"({"status":"active","transferredBytes":-1})", "progress.transferredBytes"},
    {HAL_SDK_SCHEMA_MIGRATION_PARAMS, R"({"uri":"tcp:127.0.0.1:4444"})", R"({"uri":7})",
     "params.uri"},
    {HAL_SDK_SCHEMA_VM_SPEC,
     R"({"apiVersion":"hal.dev/v1","name":"vm-1","cpu":{"vcpus":1},"memory":{"size":"1Gi"}})",
     R"({"apiVersion":"hal.dev/v1","name":"vm-1","cpu":{"vcpus":1},"memory":{"size":"1 Gi"}})",
     "spec.memory.size"},
};

TEST(SdkDoc, EverySchemaAcceptsAGoodDocumentAndRejectsABadOneNamingTheField) {
  for (const SchemaCase &c : kCases) {
    auto [good, good_message] = check(c.valid, c.schema);
    EXPECT_EQ(good, HAL_OK) << "schema " << c.schema << ": " << good_message;
    auto [bad, bad_message] = check(c.invalid, c.schema);
    EXPECT_EQ(bad, HAL_INVALID_ARGUMENT) << "schema " << c.schema << " accepted " << c.invalid;
    EXPECT_NE(bad_message.find(c.field), std::string::npos)
        << "schema " << c.schema << ": " << bad_message;
  }
}

TEST(SdkDoc, VmInfoSpecGetsTheCrossFieldRules) {
  auto [status, message] = check(
      R"({"id":"vm-1","state":"Stopped","spec":{"apiVersion":"hal.dev/v1","name":"vm-1",)"
      R"("memory":{"size":"1Gi"},"cpu":{"vcpus":2,"topology":{"sockets":1,"cores":1,"threads":1}}}})",
      HAL_SDK_SCHEMA_VM_INFO);
  EXPECT_EQ(status, HAL_INVALID_ARGUMENT);
  EXPECT_NE(message.find("cpu.topology"), std::string::npos) << message;
}

TEST(SdkDoc, UnknownSchemaIsRefusedAndNoneOnlyChecksTheBuild) {
  hal_sdk_doc *doc = hal_sdk_doc_new();
  ASSERT_NE(doc, nullptr);
  hal_error error = make_error();
  EXPECT_EQ(hal_sdk_doc_validate(doc, static_cast<hal_sdk_schema>(99), &error),
            HAL_INVALID_ARGUMENT);
  EXPECT_NE(std::string(error.message).find("99"), std::string::npos) << error.message;
  EXPECT_EQ(hal_sdk_doc_validate(doc, HAL_SDK_SCHEMA_NONE, &error), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_validate(nullptr, HAL_SDK_SCHEMA_NONE, &error), HAL_INVALID_ARGUMENT);
  hal_sdk_doc_free(doc);
}

TEST(SdkDoc, ParseAcceptsOnlyObjects) {
  hal_error error = make_error();
  for (const char *text : {"{\"instance\": ", "[1]", "42", ""}) {
    hal_sdk_doc *doc = reinterpret_cast<hal_sdk_doc *>(&error);  // must be reset to NULL
    EXPECT_EQ(hal_sdk_doc_parse(text, &doc, &error), HAL_INVALID_ARGUMENT) << text;
    EXPECT_EQ(doc, nullptr) << text;
    EXPECT_GT(std::string(error.message).size(), 0u) << text;
  }
  hal_sdk_doc *doc = nullptr;
  EXPECT_EQ(hal_sdk_doc_parse(nullptr, &doc, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_parse("{}", nullptr, &error), HAL_INVALID_ARGUMENT);
}

TEST(SdkDoc, GettersAnswerByTypeAndPresence) {
  hal_sdk_doc *doc =
      doc_of(R"({"s":"text","i":-5,"u":18446744073709551615,"b":true,"q":"2Mi","n":4096,"f":1.5,)"
             R"("list":[1,2,3],"a/b":{"~":"escaped"}})");
  const char *s = nullptr;
  int64_t i = 0;
  int b = 0;
  uint64_t bytes = 0;
  size_t size = 0;
  EXPECT_EQ(hal_sdk_doc_get_string(doc, "/s", &s), HAL_OK);
  EXPECT_STREQ(s, "text");
  EXPECT_EQ(hal_sdk_doc_get_string(doc, "/a~1b/~0", &s), HAL_OK);
  EXPECT_STREQ(s, "escaped");
  EXPECT_EQ(hal_sdk_doc_get_int64(doc, "/i", &i), HAL_OK);
  EXPECT_EQ(i, -5);
  EXPECT_EQ(hal_sdk_doc_get_int64(doc, "/u", &i), HAL_INVALID_ARGUMENT) << "does not fit";
  EXPECT_EQ(hal_sdk_doc_get_int64(doc, "/f", &i), HAL_INVALID_ARGUMENT) << "not an integer";
  EXPECT_EQ(hal_sdk_doc_get_int64(doc, "/s", &i), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_get_bool(doc, "/b", &b), HAL_OK);
  EXPECT_EQ(b, 1);
  EXPECT_EQ(hal_sdk_doc_get_bool(doc, "/i", &b), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_get_bytes(doc, "/q", &bytes), HAL_OK);
  EXPECT_EQ(bytes, 2u << 20);
  EXPECT_EQ(hal_sdk_doc_get_bytes(doc, "/n", &bytes), HAL_OK);
  EXPECT_EQ(bytes, 4096u);
  EXPECT_EQ(hal_sdk_doc_get_bytes(doc, "/s", &bytes), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_get_bytes(doc, "/i", &bytes), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_get_size(doc, "/list", &size), HAL_OK);
  EXPECT_EQ(size, 3u);
  EXPECT_EQ(hal_sdk_doc_get_size(doc, "", &size), HAL_OK);
  EXPECT_EQ(size, 9u);
  EXPECT_EQ(hal_sdk_doc_get_size(doc, "/s", &size), HAL_INVALID_ARGUMENT);
  i = 77;
  EXPECT_EQ(hal_sdk_doc_get_int64(doc, "/missing", &i), HAL_NOT_FOUND);
  EXPECT_EQ(hal_sdk_doc_get_int64(doc, "/list/3", &i), HAL_NOT_FOUND);
  EXPECT_EQ(i, 77) << "a failed getter wrote its output";
  EXPECT_EQ(hal_sdk_doc_get_int64(doc, "list", &i), HAL_INVALID_ARGUMENT) << "malformed pointer";
  EXPECT_EQ(hal_sdk_doc_get_int64(doc, "/i", nullptr), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_get_int64(nullptr, "/i", &i), HAL_INVALID_ARGUMENT);
  hal_sdk_doc_free(doc);
}

TEST(SdkDoc, SettersBuildWhatTheDumpShows) {
  hal_sdk_doc *doc = hal_sdk_doc_new();
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(hal_sdk_doc_set_string(doc, "/vms/-/id", "a"), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_set_string(doc, "/vms/0/state", "Running"), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_set_int64(doc, "/n", -3), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_set_uint64(doc, "/memory", 18446744073709551615ull), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_set_bool(doc, "/tdx/supported", 7), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_set_null(doc, "/nothing"), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_set_json(doc, "/list", "[1,{\"x\":2}]"), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_set_string(doc, "/list/1/x", "replaced"), HAL_OK);
  char *text = hal_sdk_doc_dump(doc);
  ASSERT_NE(text, nullptr);
  EXPECT_EQ(nlohmann::json::parse(text),
            nlohmann::json::parse(R"({"vms":[{"id":"a","state":"Running"}],"n":-3,)"
                                  R"("memory":18446744073709551615,"tdx":{"supported":true},)"
                                  R"("nothing":null,"list":[1,{"x":"replaced"}]})"));
  free(text);  // SDK strings are malloc()ed: free() is as good as hal_sdk_string_free()
  EXPECT_EQ(hal_sdk_doc_set_json(doc, "", R"({"replaced":true})"), HAL_OK);
  text = hal_sdk_doc_dump(doc);
  EXPECT_STREQ(text, R"({"replaced":true})");
  hal_sdk_string_free(text);
  hal_sdk_doc_free(doc);
}

TEST(SdkDoc, AFailedSetterSticksUntilValidate) {
  hal_sdk_doc *doc = hal_sdk_doc_new();
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(hal_sdk_doc_set_string(doc, "/status", "active"), HAL_OK);
  EXPECT_EQ(hal_sdk_doc_set_int64(doc, "/status/deeper", 1), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_set_int64(doc, "no-slash", 1), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_set_int64(doc, "", 1), HAL_INVALID_ARGUMENT) << "root must be an object";
  EXPECT_EQ(hal_sdk_doc_set_json(doc, "/x", "{"), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_set_string(doc, "/x", nullptr), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(hal_sdk_doc_set_int64(nullptr, "/x", 1), HAL_INVALID_ARGUMENT);
  hal_error error = make_error();
  EXPECT_EQ(hal_sdk_doc_validate(doc, HAL_SDK_SCHEMA_MIGRATION_PROGRESS, &error),
            HAL_INVALID_ARGUMENT);
  EXPECT_NE(std::string(error.message).find("/status/deeper"), std::string::npos)
      << "the first failure is reported: " << error.message;
  hal_sdk_doc_free(doc);
}

TEST(SdkDoc, EmitValidatesDumpsAndAlwaysFrees) {
  hal_error error = make_error();
  char *out = reinterpret_cast<char *>(&error);  // must be reset
  hal_sdk_doc *doc = hal_sdk_doc_new();
  hal_sdk_doc_set_string(doc, "/status", "completed");
  hal_sdk_doc_set_uint64(doc, "/transferredBytes", 42);
  ASSERT_EQ(hal_sdk_doc_emit(doc, HAL_SDK_SCHEMA_MIGRATION_PROGRESS, &out, &error), HAL_OK)
      << error.message;
  EXPECT_STREQ(out, R"({"status":"completed","transferredBytes":42})");
  hal_sdk_string_free(out);

  doc = hal_sdk_doc_new();
  hal_sdk_doc_set_string(doc, "/status", "finished");
  out = reinterpret_cast<char *>(&error);
  EXPECT_EQ(hal_sdk_doc_emit(doc, HAL_SDK_SCHEMA_MIGRATION_PROGRESS, &out, &error), HAL_INTERNAL)
      << "a plugin that builds a bad document has a bug";
  EXPECT_EQ(out, nullptr);
  EXPECT_NE(std::string(error.message).find("progress.status"), std::string::npos) << error.message;

  out = reinterpret_cast<char *>(&error);
  EXPECT_EQ(hal_sdk_doc_emit(nullptr, HAL_SDK_SCHEMA_NONE, &out, &error), HAL_RESOURCE_EXHAUSTED)
      << "hal_sdk_doc_new() answered NULL";
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(hal_sdk_doc_emit(hal_sdk_doc_new(), HAL_SDK_SCHEMA_NONE, nullptr, &error),
            HAL_INVALID_ARGUMENT);
}

}  // namespace
