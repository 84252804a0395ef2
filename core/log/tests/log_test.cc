// log_test.cc - HAL logging: shared logger, component names, JSON lines, levels, parsing.
#include "core/log/log.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hal {
namespace {

// Captures log lines for one test and restores defaults afterwards.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    set_log_writer([this](std::string_view line) { lines.emplace_back(line); });
    set_log_level(spdlog::level::info);
  }
  void TearDown() override {
    set_log_writer(nullptr);
    set_log_format(LogFormat::kText);
    set_log_level(spdlog::level::info);
  }
  std::vector<std::string> lines;
};

TEST_F(LogTest, SharedLoggerIsRegistered) {
  EXPECT_EQ(log(), log());
  EXPECT_EQ(log()->name(), "hal");
  EXPECT_EQ(spdlog::get("hal"), log());
  EXPECT_EQ(log("spec")->name(), "hal.spec");
}

TEST_F(LogTest, JsonLines) {
  set_log_format(LogFormat::kJson);
  log("host")->info("found {} nodes, \"quoted\"\nnext", 2);
  ASSERT_EQ(lines.size(), 1u);
  const auto record = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(record["level"], "info");
  EXPECT_EQ(record["component"], "hal.host");
  EXPECT_EQ(record["msg"], "found 2 nodes, \"quoted\"\nnext");
  const std::string ts = record["ts"];
  ASSERT_EQ(ts.size(), 24u) << ts;
  EXPECT_EQ(ts[10], 'T');
  EXPECT_EQ(ts.back(), 'Z');
}

TEST_F(LogTest, TextFormat) {
  log()->warn("disk {} missing", "root");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" warning [hal] disk root missing"), std::string::npos) << lines[0];
}

TEST_F(LogTest, LevelFilters) {
  log("x")->debug("hidden");
  set_log_level(spdlog::level::debug);
  log("x")->debug("shown");
  log("y")->trace("hidden too");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("shown"), std::string::npos);
}

TEST_F(LogTest, EnvironmentConfiguresLevelAndFormat) {
  ::setenv("HAL_LOG_LEVEL", "error", 1);
  ::setenv("HAL_LOG_FORMAT", "json", 1);
  configure_logging_from_env();
  ::unsetenv("HAL_LOG_LEVEL");
  ::unsetenv("HAL_LOG_FORMAT");
  log()->warn("dropped");
  log()->error("kept");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "kept");
  EXPECT_EQ(log_format(), LogFormat::kJson);
}

TEST(LogParse, LevelsAndFormats) {
  EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("error"), spdlog::level::err);
  EXPECT_EQ(parse_log_level("off"), spdlog::level::off);
  EXPECT_EQ(parse_log_level("loud"), std::nullopt);
  EXPECT_EQ(parse_log_format("json"), LogFormat::kJson);
  EXPECT_EQ(parse_log_format("xml"), std::nullopt);
}

}  // namespace
}  // namespace hal
