// log.cc - the HAL sink (text or JSON lines) and the registry of HAL loggers.
#include "core/log/log.h"

#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace hal {
namespace {

// ISO-8601 UTC with milliseconds: 2026-11-22T21:49:39.123Z.
std::string iso_timestamp(spdlog::log_clock::time_point tp) {
  const auto since = tp.time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  const std::time_t t = secs.count();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

// Formats each record itself, so JSON escaping is exact and no pattern flags are needed.
class HalSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  void set_format(LogFormat f) {
    std::lock_guard<std::mutex> lock(mutex_);
    format_ = f;
  }
  LogFormat format() {
    std::lock_guard<std::mutex> lock(mutex_);
    return format_;
  }
  void set_writer(std::function<void(std::string_view)> w) {
    std::lock_guard<std::mutex> lock(mutex_);
    writer_ = std::move(w);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg &msg) override {
    const std::string_view level_name(spdlog::level::to_string_view(msg.level).data(),
                                      spdlog::level::to_string_view(msg.level).size());
    const std::string_view component(msg.logger_name.data(), msg.logger_name.size());
    const std::string_view text(msg.payload.data(), msg.payload.size());
    std::string line;
    if (format_ == LogFormat::kJson) {
      const nlohmann::json record = {{"ts", iso_timestamp(msg.time)},
                                     {"level", level_name},
                                     {"component", component},
                                     {"msg", text}};
      line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = iso_timestamp(msg.time) + " " + std::string(level_name) + " [" +
             std::string(component) + "] " + std::string(text);
    }
    if (writer_) {
      writer_(line);
    } else {
      line += '\n';
      std::fwrite(line.data(), 1, line.size(), stderr);
    }
  }
  void flush_() override { std::fflush(stderr); }

 private:
  LogFormat format_ = LogFormat::kText;
  std::function<void(std::string_view)> writer_;
};

// Every HAL logger, the shared sink and the current level.
struct Registry {
  std::mutex mu;
  std::shared_ptr<HalSink> sink = std::make_shared<HalSink>();
  spdlog::level::level_enum level = spdlog::level::info;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;

  std::shared_ptr<spdlog::logger> get(const std::string &name) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = loggers.find(name);
    if (it != loggers.end()) return it->second;
    auto logger = std::make_shared<spdlog::logger>(name, sink);
    logger->set_level(level);
    logger->flush_on(spdlog::level::warn);
    if (!spdlog::get(name)) {
      try {
        spdlog::register_logger(logger);
      } catch (const spdlog::spdlog_ex &) {
        // Registered concurrently by someone else: ours still works, just unregistered.
      }
    }
    loggers.emplace(name, logger);
    return logger;
  }
};

Registry &registry() {
  static Registry *r = [] {
    auto *created = new Registry();  // never destroyed: logging may happen during exit
    if (const char *env = std::getenv("HAL_LOG_LEVEL")) {
      if (auto l = parse_log_level(env)) created->level = *l;
    }
    if (const char *env = std::getenv("HAL_LOG_FORMAT")) {
      if (auto f = parse_log_format(env)) created->sink->set_format(*f);
    }
    return created;
  }();
  return *r;
}

}  // namespace

std::shared_ptr<spdlog::logger> log() {
  return registry().get("hal");
}

std::shared_ptr<spdlog::logger> log(std::string_view component) {
  if (component.empty()) return log();
  return registry().get("hal." + std::string(component));
}

void set_log_format(LogFormat format) {
  registry().sink->set_format(format);
}

LogFormat log_format() {
  return registry().sink->format();
}

void set_log_level(spdlog::level::level_enum level) {
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.level = level;
  for (auto &[name, logger] : r.loggers) logger->set_level(level);
}

std::optional<LogFormat> parse_log_format(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  using spdlog::level::level_enum;
  static const std::map<std::string_view, level_enum> kLevels = {
      {"trace", level_enum::trace}, {"debug", level_enum::debug},       {"info", level_enum::info},
      {"warn", level_enum::warn},   {"warning", level_enum::warn},      {"error", level_enum::err},
      {"err", level_enum::err},     {"critical", level_enum::critical}, {"off", level_enum::off}};
  auto it = kLevels.find(text);
  if (it == kLevels.end()) return std::nullopt;
  return it->second;
}

void configure_logging_from_env() {
  if (const char *env = std::getenv("HAL_LOG_LEVEL")) {
    if (auto l = parse_log_level(env)) set_log_level(*l);
  }
  if (const char *env = std::getenv("HAL_LOG_FORMAT")) {
    if (auto f = parse_log_format(env)) set_log_format(*f);
  }
}

void set_log_writer(std::function<void(std::string_view line)> writer) {
  registry().sink->set_writer(std::move(writer));
}

}  // namespace hal
