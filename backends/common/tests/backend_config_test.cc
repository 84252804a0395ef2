// backend_config_test.cc - reading a backend's open() configuration: defaults, typed values,
// and errors that name the backend, the key and the problem.
#include "backends/common/backend_config.h"

#include <gtest/gtest.h>

#include "hal/plugin.hpp"

namespace hal::backend_common {
namespace {

// The INVALID_ARGUMENT message of `fn`, or "" when it does not throw one.
template <class Fn>
std::string invalid_argument(Fn &&fn) {
  try {
    fn();
  } catch (const hal::plugin::Failure &failure) {
    EXPECT_EQ(failure.status, HAL_INVALID_ARGUMENT);
    return failure.what();
  }
  return "";
}

TEST(ConfigReader, AbsentKeysGiveTheFallbacks) {
  for (const char *text : {"", "{}"}) {
    ConfigReader reader("hv", text);
    EXPECT_EQ(reader.string("stateDir"), "");
    EXPECT_EQ(reader.string("binary", "hv-bin"), "hv-bin");
    EXPECT_EQ(reader.one_of("mode", "auto", {"auto", "fast"}), "auto");
    EXPECT_TRUE(reader.boolean("verbose", true));
    reader.refuse_unknown();
  }
}

TEST(ConfigReader, PresentKeysGiveTheirValues) {
  ConfigReader reader("hv", R"({"binary":"/opt/hv","mode":"fast","verbose":false})");
  EXPECT_EQ(reader.string("binary", "hv-bin"), "/opt/hv");
  EXPECT_EQ(reader.one_of("mode", "auto", {"auto", "fast"}), "fast");
  EXPECT_FALSE(reader.boolean("verbose", true));
  reader.refuse_unknown();
}

TEST(ConfigReader, ADocumentThatIsNoObjectIsRefused) {
  for (const char *text : {"[]", "\"x\"", "{", "3"}) {
    EXPECT_EQ(invalid_argument([&] { ConfigReader("hv", text); }), "hv config: not a JSON object")
        << text;
  }
}

TEST(ConfigReader, WrongTypesNameTheKey) {
  EXPECT_EQ(invalid_argument([] { ConfigReader("hv", R"({"binary":3})").string("binary"); }),
            "hv config.binary: must be a non-empty string");
  EXPECT_EQ(invalid_argument([] { ConfigReader("hv", R"({"binary":""})").string("binary"); }),
            "hv config.binary: must be a non-empty string");
  EXPECT_EQ(
      invalid_argument([] { ConfigReader("hv", R"({"verbose":"yes"})").boolean("verbose", 0); }),
      "hv config.verbose: must be a boolean");
}

TEST(ConfigReader, AChoiceOutsideTheListNamesTheChoices) {
  EXPECT_EQ(invalid_argument([] {
              ConfigReader("kvm-qemu", R"({"accelerator":"xen"})")
                  .one_of("accelerator", "auto", {"auto", "kvm", "tcg"});
            }),
            "kvm-qemu config.accelerator: must be auto, kvm or tcg, not 'xen'");
  EXPECT_EQ(invalid_argument([] {
              ConfigReader("hv", R"({"mode":"slow"})").one_of("mode", "a", {"a", "b"});
            }),
            "hv config.mode: must be a or b, not 'slow'");
  EXPECT_EQ(invalid_argument([] {
              ConfigReader("hv", R"({"mode":""})").one_of("mode", "a", {"a", "b"});
            }),
            "hv config.mode: must be a non-empty string");
}

TEST(ConfigReader, UnknownKeysAreRefusedListingTheKnownOnesInTheOrderAsked) {
  ConfigReader reader("hv", R"({"stateDir":"/s","stateDri":"/t"})");
  EXPECT_EQ(reader.string("stateDir"), "/s");
  EXPECT_TRUE(reader.boolean("verbose", true));
  EXPECT_EQ(reader.string("binary", "b"), "b");
  EXPECT_EQ(reader.string("stateDir"), "/s");  // asking twice lists it once
  EXPECT_EQ(invalid_argument([&] { reader.refuse_unknown(); }),
            "hv config.stateDri: unknown field (known: stateDir, verbose, binary)");
}

}  // namespace
}  // namespace hal::backend_common
