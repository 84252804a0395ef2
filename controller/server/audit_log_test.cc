// audit_log_test.cc - the audit log: the JSON line's fields (RFC 3339 UTC time with
// milliseconds, caller, request, result), an owner-only file appended to (also when it existed
// wider), whole lines from concurrent writers, its default place, and a clear error for a file
// that cannot be opened.
#include "controller/server/audit_log.h"

#include <grpcpp/support/status.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "testing/temp_dir.h"

namespace hal::controller {
namespace {

using nlohmann::json;

AuditRecord record(const std::string &name) {
  AuditRecord r;
  r.user = "bob";
  r.groups = {"devs", "qa"};
  r.call = "Apply";
  r.verb = "create";
  r.group = "kubevirt.io";
  r.resource = "virtualmachines";
  r.ns = "prod";
  r.name = name;
  r.decision = "denied";
  r.code = grpc::StatusCode::PERMISSION_DENIED;
  r.message = "user \"bob\" (groups devs, qa) cannot create virtualmachines";
  return r;
}

std::vector<json> lines_of(const std::string &path) {
  std::ifstream in(path);
  std::vector<json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line));
  return lines;
}

TEST(AuditLine, HasEveryFieldInOrder) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1767323045007));
  EXPECT_EQ(audit_line(record("web"), time),
            R"({"time":"2026-01-02T03:04:05.007Z","user":"bob","groups":["devs","qa"],)"
            R"("call":"Apply","verb":"create","apiGroup":"kubevirt.io",)"
            R"("resource":"virtualmachines","namespace":"prod","name":"web",)"
            R"("result":{"decision":"denied","code":"PERMISSION_DENIED",)"
            R"("message":"user \"bob\" (groups devs, qa) cannot create virtualmachines"}})");
  AuditRecord dry = record("web");
  dry.dry_run = true;
  dry.message = "bad \xff byte";
  json parsed = json::parse(audit_line(dry, time));
  EXPECT_EQ(parsed["dryRun"], true);
  EXPECT_EQ(parsed["result"]["message"], "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(grpc_code_name(0), "OK");
  EXPECT_EQ(grpc_code_name(16), "UNAUTHENTICATED");
  EXPECT_EQ(grpc_code_name(99), "CODE_99");
}

TEST(AuditLog, AppendsOwnerOnlyLines) {
  hal::testing::TempDir dir;
  const std::string path = (dir.path() / "audit.log").string();
  {
    std::ofstream old(path);
    old << R"({"earlier":true})"
        << "\n";
  }
  ::chmod(path.c_str(), 0644);
  {
    AuditLog log(path);
    log.append(record("a"));
    log.append(record("b"));
  }
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto lines = lines_of(path);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["name"], "a");
  EXPECT_EQ(lines[2]["name"], "b");
  EXPECT_EQ(lines[2]["result"]["code"], "PERMISSION_DENIED");
  EXPECT_TRUE(std::regex_match(lines[2]["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << lines[2]["time"];
  // A new file is created 0600 too.
  const std::string fresh = (dir.path() / "fresh.log").string();
  AuditLog log(fresh);
  log.append(record("c"));
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(AuditLog, ConcurrentWritersLeaveWholeLines) {
  hal::testing::TempDir dir;
  const std::string path = (dir.path() / "audit.log").string();
  {
    AuditLog log(path);
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 250; ++i)
          log.append(record("vm-" + std::to_string(t) + "-" + std::to_string(i)));
      });
    }
    for (auto &writer : writers) writer.join();
  }
  EXPECT_EQ(lines_of(path).size(), 1000u);  // Each line parses as JSON.
}

TEST(AuditLog, DefaultPathIsNextToTheSqliteStore) {
  EXPECT_EQ(default_audit_log_path("sqlite:/var/lib/hal/controller.db"), "/var/lib/hal/audit.log");
  EXPECT_EQ(default_audit_log_path("sqlite:controller.db"), "audit.log");
  EXPECT_EQ(default_audit_log_path("memory"), "");
}

TEST(AuditLog, UnopenableFileIsNamed) {
  hal::testing::TempDir dir;
  const std::string path = (dir.path() / "missing" / "audit.log").string();
  try {
    AuditLog log(path);
    FAIL() << "opened " << path;
  } catch (const std::runtime_error &e) {
    EXPECT_NE(std::string(e.what()).find("cannot open the audit log " + path), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace hal::controller
