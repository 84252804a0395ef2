// host_test.cc - tests of the header-only host helpers in include/hal/host.hpp.
#include "hal/host.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace {

TEST(PluginHostHelpers, StatusNames) {
  EXPECT_EQ(hal::status_name(HAL_OK), "OK");
  EXPECT_EQ(hal::status_name(HAL_INVALID_ARGUMENT), "INVALID_ARGUMENT");
  EXPECT_EQ(hal::status_name(HAL_UNSUPPORTED), "UNSUPPORTED");
  EXPECT_EQ(hal::status_name(HAL_UNAUTHENTICATED), "UNAUTHENTICATED");
  EXPECT_EQ(hal::status_name(999), "UNKNOWN_STATUS");
}

TEST(PluginHostHelpers, ErrorBufferIsInitialised) {
  hal::ErrorBuffer err;
  EXPECT_EQ(err.raw().struct_size, sizeof(hal_error));
  EXPECT_EQ(err.message(), "");
  err.set(std::string(2000, 'x'));
  EXPECT_EQ(err.message().size(), HAL_ERROR_MESSAGE_SIZE - 1u);
}

TEST(PluginHostHelpers, CheckThrowsWithStatusAndMessage) {
  hal::ErrorBuffer err;
  EXPECT_NO_THROW(hal::check(HAL_OK, err, "vm_start"));
  err.set("spec.name: required");
  try {
    hal::check(HAL_INVALID_ARGUMENT, err, "vm_create demo");
    FAIL() << "no throw";
  } catch (const hal::Error &e) {
    EXPECT_EQ(e.status(), HAL_INVALID_ARGUMENT);
    EXPECT_STREQ(e.what(), "vm_create demo: spec.name: required");
  }
  hal::ErrorBuffer empty;
  try {
    hal::check(HAL_UNAVAILABLE, empty, "open");
    FAIL() << "no throw";
  } catch (const hal::Error &e) {
    EXPECT_STREQ(e.what(), "open: UNAVAILABLE");
  }
}

TEST(PluginHostHelpers, CheckToleratesUnterminatedMessage) {
  hal_error raw;
  raw.struct_size = sizeof(raw);
  std::memset(raw.message, 'y', sizeof(raw.message));  // a buggy plugin forgot the NUL
  try {
    hal::check(HAL_INTERNAL, raw, "x");
  } catch (const hal::Error &e) {
    EXPECT_EQ(std::string(e.what()).size(), 3u + HAL_ERROR_MESSAGE_SIZE);
  }
}

int g_frees = 0;
void counting_free(char *p) {
  ++g_frees;
  std::free(p);
}

TEST(PluginHostHelpers, OwnedStringFreesThroughPlugin) {
  g_frees = 0;
  {
    hal::OwnedString s(&counting_free);
    *s.out() = strdup("hello");
    EXPECT_EQ(s.view(), "hello");
    hal::OwnedString moved = std::move(s);
    EXPECT_FALSE(s);
    EXPECT_EQ(moved.str(), "hello");
    *moved.out() = strdup("again");  // out() frees the previous string
    EXPECT_EQ(g_frees, 1);
  }
  EXPECT_EQ(g_frees, 2);
}

}  // namespace
