// object_limits_test.cc - check_object_limits: annotations in total (metadata and a
// VirtualMachine's template) and the whole object, each refused with its path and the limit.
#include "controller/api/object_limits.h"

#include <gtest/gtest.h>

namespace hal::controller {
namespace {

using nlohmann::json;

json with_annotations(size_t value_bytes, const char *where = "/metadata/annotations") {
  json object = {{"kind", "VirtualMachine"}, {"metadata", {{"name", "a"}}}};
  object[json::json_pointer(where)] = {{"big", std::string(value_bytes, 'x')}};
  return object;
}

TEST(ObjectLimits, AnnotationsUpTo256KiBInTotalAreAllowed) {
  ObjectLimits limits;
  EXPECT_TRUE(check_object_limits(with_annotations(256 * 1024 - 3), 0, limits).empty());
  auto errors = check_object_limits(with_annotations(256 * 1024 - 2), 0, limits);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "metadata.annotations");
  EXPECT_NE(errors[0].message.find("262145 bytes"), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].message.find("256 KiB"), std::string::npos) << errors[0].message;
}

TEST(ObjectLimits, TemplateAnnotationsCountOnTheirOwn) {
  auto errors = check_object_limits(
      with_annotations(300 * 1024, "/spec/template/metadata/annotations"), 0, ObjectLimits{});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.template.metadata.annotations");
}

TEST(ObjectLimits, TheWholeObjectIsBoundedAndTheLimitIsConfigurable) {
  ObjectLimits limits;
  EXPECT_TRUE(check_object_limits(json::object(), 1536 * 1024, limits).empty());
  auto errors = check_object_limits(json::object(), 1536 * 1024 + 1, limits);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "");
  EXPECT_NE(errors[0].message.find("1.5 MiB"), std::string::npos) << errors[0].message;
  limits.annotations_bytes = 10;
  EXPECT_EQ(check_object_limits(with_annotations(8), 0, limits).size(), 1u);
}

TEST(ObjectLimits, ByteCountsReadAsUnits) {
  EXPECT_EQ(format_bytes(300), "300 bytes");
  EXPECT_EQ(format_bytes(256 * 1024), "256 KiB");
  EXPECT_EQ(format_bytes(4 * 1024 * 1024), "4 MiB");
}

TEST(ObjectLimits, LabelsAreValidatedAsKubernetesDoes) {
  // The label checks are validate_object's: keys a qualified name, values at most 63.
  json vm =
      json::parse(R"({"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachineInstanceMigration",
      "metadata": {"name": "m", "labels": {"ok": "v"}}, "spec": {"vmiName": "a"}})");
  EXPECT_TRUE(validate_object(vm).empty());
  vm["metadata"]["labels"]["long"] = std::string(64, 'v');
  vm["metadata"]["labels"]["bad key!"] = "v";
  EXPECT_EQ(validate_object(vm).size(), 2u);
}

}  // namespace
}  // namespace hal::controller
