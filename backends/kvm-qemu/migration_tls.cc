// migration_tls.cc - the QMP objects of a TLS migration and the staged copy of its files (see
// migration_tls.h).
#include "backends/kvm-qemu/migration_tls.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include "hal/plugin.hpp"

namespace hal::kvm_qemu {

using hal::plugin::Failure;

namespace {

// Writes `content` to a new file `path` with mode 0400.
void write_new_file(const std::filesystem::path &path, const std::string &content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), path.string());
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      throw std::system_error(error, std::generic_category(), path.string());
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

}  // namespace

nlohmann::json qmp_tls_creds_object(bool source, const std::string &staged_dir) {
  return {{"qom-type", "tls-creds-x509"},
          {"id", kMigrationTlsCredsId},
          {"endpoint", source ? "client" : "server"},
          {"dir", staged_dir},
          {"verify-peer", true}};
}

nlohmann::json qmp_tls_authz_object(const std::vector<std::string> &peer_subjects) {
  nlohmann::json rules = nlohmann::json::array();
  for (const std::string &subject : peer_subjects)
    rules.push_back({{"match", subject}, {"policy", "allow"}, {"format", "glob"}});
  return {{"qom-type", "authz-list"},
          {"id", kMigrationTlsAuthzId},
          {"policy", "deny"},
          {"rules", rules}};
}

StagedTlsDir::StagedTlsDir(const MigrationTls &tls, bool source,
                           const std::filesystem::path &parent, const std::string &owner) {
  // Read everything first: a missing file is the caller's mistake, named as such.
  std::vector<std::pair<std::string, std::string>> files;
  for (const std::string &name : tls_files_for(source)) {
    const std::filesystem::path from = std::filesystem::path(tls.dir) / name;
    std::ifstream in(from, std::ios::binary);
    if (!in)
      throw Failure(HAL_INVALID_ARGUMENT, "migration params.tls.dir: cannot read " + from.string() +
                                              ": " + std::strerror(errno));
    std::ostringstream content;
    content << in.rdbuf();
    files.emplace_back(name, content.str());
  }
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  if (!owner.empty()) {
    struct passwd entry {};
    struct passwd *found = nullptr;
    std::vector<char> buffer(16384);
    if (::getpwnam_r(owner.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr)
      throw Failure(HAL_UNAVAILABLE, "migration TLS: no user '" + owner + "' on this host");
    uid = found->pw_uid;
    gid = found->pw_gid;
  }
  std::string pattern = (parent / "hal-migration-tls-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)  // mode 0700
    throw Failure(HAL_UNAVAILABLE, "migration TLS: cannot create a directory in " +
                                       parent.string() + ": " + std::strerror(errno));
  path_ = pattern;
  try {
    for (const auto &[name, content] : files) {
      const std::filesystem::path to = path_ / name;
      write_new_file(to, content);
      if (!owner.empty() && ::lchown(to.c_str(), uid, gid) != 0)
        throw std::system_error(errno, std::generic_category(), "chown " + to.string());
    }
    if (!owner.empty() && ::chown(path_.c_str(), uid, gid) != 0)
      throw std::system_error(errno, std::generic_category(), "chown " + path_.string());
  } catch (const std::exception &e) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    throw Failure(HAL_UNAVAILABLE, std::string("migration TLS: ") + e.what());
  }
}

StagedTlsDir::~StagedTlsDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace hal::kvm_qemu
