// event_stream.cc - incremental event-monitor parser and formatter (see event_stream.h).
#include "backends/cloud-hypervisor/event_stream.h"

#include <nlohmann/json.hpp>

namespace hal::cloud_hypervisor {
namespace {
constexpr size_t kMaxObject = 1 << 20;  // an event larger than this is garbage

bool to_event(const nlohmann::json &doc, ChEvent &out) {
  if (!doc.is_object()) return false;
  if (!doc.contains("source") || !doc["source"].is_string()) return false;
  if (!doc.contains("event") || !doc["event"].is_string()) return false;
  out.source = doc["source"].get<std::string>();
  out.event = doc["event"].get<std::string>();
  if (doc.contains("timestamp") && doc["timestamp"].is_object()) {
    const auto &ts = doc["timestamp"];
    uint64_t secs =
        ts.contains("secs") && ts["secs"].is_number_unsigned() ? ts["secs"].get<uint64_t>() : 0;
    uint64_t nanos =
        ts.contains("nanos") && ts["nanos"].is_number_unsigned() ? ts["nanos"].get<uint64_t>() : 0;
    if (secs < 1'000'000'000'000ull && nanos < 1'000'000'000ull) {
      out.since_start_ns = secs * 1'000'000'000ull + nanos;
    }
  }
  if (doc.contains("properties") && doc["properties"].is_object()) {
    for (const auto &item : doc["properties"].items()) {
      if (item.value().is_string()) out.properties[item.key()] = item.value().get<std::string>();
    }
  }
  return true;
}
}  // namespace

std::vector<ChEvent> EventStreamParser::feed(std::string_view bytes) {
  std::vector<ChEvent> events;
  pending_.append(bytes);
  size_t start = 0;
  // Skip anything before the first '{' when not inside an object.
  for (size_t i = scan_; i < pending_.size(); ++i) {
    char c = pending_[i];
    if (depth_ == 0) {
      if (c == '{') {
        start = i;
        depth_ = 1;
        in_string_ = escape_ = false;
      } else {
        start = i + 1;
      }
      continue;
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{') {
      ++depth_;
    } else if (c == '}') {
      if (--depth_ == 0) {
        nlohmann::json doc = nlohmann::json::parse(
            std::string_view(pending_).substr(start, i + 1 - start), nullptr, false);
        ChEvent event;
        if (!doc.is_discarded() && to_event(doc, event)) {
          events.push_back(std::move(event));
        } else {
          ++skipped_;
        }
        start = i + 1;
      }
    }
    if (depth_ > 0 && i + 1 - start > kMaxObject) {
      // Runaway object: drop it and resynchronise on the next '{'.
      ++skipped_;
      depth_ = 0;
      in_string_ = escape_ = false;
      start = i + 1;
    }
  }
  if (depth_ == 0) {
    pending_.clear();
    scan_ = 0;
  } else {
    pending_.erase(0, start);
    scan_ = pending_.size();
  }
  return events;
}

std::string format_event(const ChEvent &event) {
  nlohmann::ordered_json doc;
  doc["timestamp"] = {{"secs", event.since_start_ns / 1'000'000'000ull},
                      {"nanos", event.since_start_ns % 1'000'000'000ull}};
  doc["source"] = event.source;
  doc["event"] = event.event;
  if (event.properties.empty()) {
    doc["properties"] = nullptr;
  } else {
    nlohmann::ordered_json props = nlohmann::ordered_json::object();
    for (const auto &[k, v] : event.properties) props[k] = v;
    doc["properties"] = props;
  }
  return doc.dump(2) + "\n";
}

}  // namespace hal::cloud_hypervisor
