// log.h - HAL's structured logging on spdlog: one shared "hal" logger (plus per-component
// children "hal.<component>") writing text or JSON lines {"ts","level","component","msg"}.
// The level comes from HAL_LOG_LEVEL (trace|debug|info|warn|error|critical|off, default info),
// the format from HAL_LOG_FORMAT (text|json, default text); both can be changed at run time.
#ifndef HAL_CORE_LOG_LOG_H
#define HAL_CORE_LOG_LOG_H

#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

namespace hal {

/** Output format of every HAL logger. */
enum class LogFormat { kText, kJson };

/** The shared logger named "hal" (created on first use, registered with spdlog). */
std::shared_ptr<spdlog::logger> log();

/** A logger for one component ("spec" -> "hal.spec"), sharing the sink, format and level. */
std::shared_ptr<spdlog::logger> log(std::string_view component);

/** Switches every HAL logger between text and JSON-lines output. */
void set_log_format(LogFormat format);

/** The current output format. */
LogFormat log_format();

/** Sets the level of every HAL logger (present and future). */
void set_log_level(spdlog::level::level_enum level);

/** Parses "text"/"json" (case-sensitive); nullopt otherwise. */
std::optional<LogFormat> parse_log_format(std::string_view text);

/** Parses trace|debug|info|warn|warning|error|err|critical|off; nullopt otherwise. */
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);

/** Re-reads HAL_LOG_LEVEL and HAL_LOG_FORMAT (done automatically on first use); unset or
 *  unrecognised values leave the current setting. */
void configure_logging_from_env();

/** Redirects formatted lines (without the newline) to `writer`; nullptr restores stderr.
 *  The writer is called under the sink's lock, one line at a time. */
void set_log_writer(std::function<void(std::string_view line)> writer);

}  // namespace hal

#endif  // HAL_CORE_LOG_LOG_H
