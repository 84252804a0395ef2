// state_journal.cc - append, tombstone, load and compaction of the mock's state journal.
#include "state_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "hal/plugin.hpp"

namespace hal::mock {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Rewrite the journal when it is this many times its live content (and at least kMinCompact).
constexpr size_t kCompactFactor = 4;
constexpr size_t kMinCompact = 1 << 20;

std::string system_error(const std::string &what, const std::string &path) {
  return what + " " + path + ": " + std::strerror(errno);
}

bool write_all(int fd, const std::string &text) {
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

StateJournal::StateJournal(const std::string &dir)
    : path_((fs::path(dir) / "vms.journal").string()) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw plugin::Failure(HAL_INVALID_ARGUMENT,
                          "config.stateDir: cannot create '" + dir + "': " + ec.message());
  std::ifstream in(path_);
  std::string line;
  while (std::getline(in, line)) {
    json entry = json::parse(line, nullptr, false);
    if (entry.is_discarded() || !entry.is_object()) continue;  // torn or foreign line
    if (entry.contains("erased") && entry["erased"].is_string()) {
      loaded_.erase(entry["erased"].get<std::string>());
      live_.erase(entry["erased"].get<std::string>());
      continue;
    }
    const json *spec = entry.contains("spec") ? &entry["spec"] : nullptr;
    if (spec == nullptr || !spec->is_object() || !spec->contains("name") ||
        !(*spec)["name"].is_string())
      continue;
    std::string id = (*spec)["name"].get<std::string>();
    loaded_[id] = std::move(entry);
    live_[id] = line + "\n";
  }
  std::lock_guard lock(mutex_);
  for (const auto &[id, text] : live_) live_bytes_ += text.size();
  compact();  // Start from a file holding just the live documents.
}

StateJournal::~StateJournal() {
  if (fd_ >= 0) ::close(fd_);
}

void StateJournal::write(const std::string &id, std::string document) {
  std::string line = std::move(document);
  line += '\n';
  std::lock_guard lock(mutex_);
  append(line);
  std::string &live = live_[id];
  live_bytes_ = live_bytes_ - live.size() + line.size();
  live = std::move(line);
  if (file_bytes_ > kMinCompact && file_bytes_ > kCompactFactor * live_bytes_) compact();
}

std::map<std::string, json> StateJournal::take_loaded() {
  std::map<std::string, json> loaded = std::move(loaded_);
  loaded_.clear();
  return loaded;
}

void StateJournal::erase(const std::string &id) {
  std::lock_guard lock(mutex_);
  auto it = live_.find(id);
  if (it == live_.end()) return;
  live_bytes_ -= it->second.size();
  live_.erase(it);
  try {
    append(json{{"erased", id}}.dump() + "\n");
  } catch (const plugin::Failure &) {
    // The VM is gone from memory; at worst it reappears Stopped after a restart.
  }
}

void StateJournal::append(const std::string &line) {
  if (!write_all(fd_, line))
    throw plugin::Failure(HAL_INTERNAL, system_error("cannot append to", path_));
  file_bytes_ += line.size();
}

void StateJournal::compact() {
  const std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw plugin::Failure(HAL_INTERNAL, system_error("cannot create", tmp));
  std::string all;
  all.reserve(live_bytes_);
  for (const auto &[id, line] : live_) all += line;
  bool ok = write_all(fd, all) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw plugin::Failure(HAL_INTERNAL, system_error("cannot rewrite", path_));
  }
  int journal = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (journal < 0) throw plugin::Failure(HAL_INTERNAL, system_error("cannot open", path_));
  if (fd_ >= 0) ::close(fd_);
  fd_ = journal;
  file_bytes_ = all.size();
}

}  // namespace hal::mock
