// QMP wire framing: line splitting and message classification (see qmp_framing.h).
#include "backends/kvm-qemu/qmp_framing.h"

namespace hal::kvm_qemu {

bool QmpLineFramer::Feed(std::string_view bytes,
                         const std::function<void(std::string_view)> &on_line) {
  if (failed_) return false;
  while (!bytes.empty()) {
    std::size_t nl = bytes.find('\n');
    std::string_view chunk = nl == std::string_view::npos ? bytes : bytes.substr(0, nl);
    if (buffer_.size() + chunk.size() > max_line_) {
      failed_ = true;
      buffer_.clear();
      return false;
    }
    if (nl == std::string_view::npos) {
      buffer_.append(chunk);
      return true;
    }
    bytes.remove_prefix(nl + 1);
    std::string_view line;
    if (buffer_.empty()) {
      line = chunk;  // fast path: whole line inside this read, no copy
    } else {
      buffer_.append(chunk);
      line = buffer_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) on_line(line);
    buffer_.clear();
  }
  return true;
}

namespace {

std::optional<QmpMessage> Fail(std::string *error, std::string message) {
  if (error) *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<QmpMessage> ParseQmpMessage(std::string_view line, std::string *error) {
  nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(error, "malformed JSON");
  if (!j.is_object()) return Fail(error, "QMP message is not a JSON object");
  QmpMessage msg;
  if (auto it = j.find("id"); it != j.end() && it->is_string()) msg.id = it->get<std::string>();
  if (auto it = j.find("return"); it != j.end()) {
    msg.kind = QmpMessage::Kind::kReturn;
    msg.payload = std::move(*it);
    return msg;
  }
  if (auto it = j.find("error"); it != j.end()) {
    if (!it->is_object()) return Fail(error, "QMP \"error\" is not an object");
    msg.kind = QmpMessage::Kind::kError;
    auto cls = it->find("class");
    auto desc = it->find("desc");
    msg.error_class = cls != it->end() && cls->is_string() ? cls->get<std::string>() : "";
    msg.error_desc = desc != it->end() && desc->is_string() ? desc->get<std::string>() : "";
    return msg;
  }
  if (auto it = j.find("event"); it != j.end()) {
    if (!it->is_string()) return Fail(error, "QMP \"event\" is not a string");
    msg.kind = QmpMessage::Kind::kEvent;
    msg.event = it->get<std::string>();
    if (auto d = j.find("data"); d != j.end()) msg.payload = std::move(*d);
    if (auto t = j.find("timestamp"); t != j.end()) msg.timestamp = std::move(*t);
    return msg;
  }
  if (auto it = j.find("QMP"); it != j.end()) {
    if (!it->is_object()) return Fail(error, "QMP greeting is not an object");
    msg.kind = QmpMessage::Kind::kGreeting;
    msg.payload = std::move(*it);
    return msg;
  }
  return Fail(error, "unknown QMP message (no return/error/event/QMP member)");
}

std::string QmpCommandId(std::uint64_t n) {
  static constexpr char kDigits[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  char buffer[16];
  char *end = buffer + sizeof buffer;
  char *p = end;
  do {
    *--p = kDigits[n % 62];
    n /= 62;
  } while (n != 0);
  return std::string(p, end);
}

std::string EncodeQmpCommand(std::string_view command, const nlohmann::json &args,
                             std::string_view id) {
  if (args.is_null()) {
    // Common case, without building a JSON object (same bytes as the general path below:
    // nlohmann::json sorts keys, so "execute" comes before "id").
    std::string out = "{\"execute\":";
    out += nlohmann::json(command).dump();
    out += ",\"id\":";
    out += nlohmann::json(id).dump();
    out += "}\n";
    return out;
  }
  nlohmann::json j = {{"execute", command}, {"id", id}};
  if (!args.is_null()) j["arguments"] = args;
  std::string out = j.dump();
  out.push_back('\n');
  return out;
}

}  // namespace hal::kvm_qemu
