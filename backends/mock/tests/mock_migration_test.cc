// mock_migration_test.cc - live migration between two mock instances through the C ABI:
// success (guest continues, no reboot), monotonic progress, cancel, injected failure/stall,
// parameter errors, and a target in another process.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "mock_harness.h"
#include "testing/child_process.h"

namespace hal::mock::test {
namespace {

using ::testing::HasSubstr;

/** A source and a target backend, each its own instance. */
struct Pair {
  explicit Pair(const json &source_extra = json::object(),
                const json &target_extra = json::object()) {
    json s = {{"instance", Instance("-src")}};
    s.merge_patch(source_extra);
    json t = {{"instance", Instance("-dst")}};
    t.merge_patch(target_extra);
    source = std::make_unique<Backend>(s);
    target = std::make_unique<Backend>(t);
  }
  std::unique_ptr<Backend> source, target;
};

/** prepare_incoming on `b`: returns the endpoint uri. */
std::string Prepare(hal_backend *b, const json &spec, Vm &vm, const json &params = nullptr) {
  char *endpoint = nullptr;
  hal_error error = Err();
  std::string p = params.is_null() ? "" : params.dump();
  hal_status s =
      T().migration_prepare_incoming(b, spec.dump().c_str(), params.is_null() ? nullptr : p.c_str(),
                                     0, vm.out(), &endpoint, &error);
  EXPECT_EQ(s, HAL_OK) << error.message;
  if (s != HAL_OK) return "";
  return json::parse(Take(endpoint))["uri"];
}

Result Send(const Vm &vm, const json &params) {
  hal_error error = Err();
  hal_status s = T().migration_send(vm.get(), params.dump().c_str(), 0, &error);
  return {s, error.message};
}

bool WaitState(const Vm &vm, hal_vm_state want, int ms = 10000) {
  for (int i = 0; i < ms / 5; ++i) {
    if (vm.State() == want) return true;
    Sleep(5);
  }
  return false;
}

std::string WaitFinished(const Vm &vm, int ms = 10000) {
  for (int i = 0; i < ms / 5; ++i) {
    std::string status = vm.Progress()["status"];
    if (status == "completed" || status == "failed" || status == "cancelled") return status;
    Sleep(5);
  }
  return "timeout";
}

TEST(MockMigration, SucceedsAndGuestContinuesWithoutReboot) {
  Pair p;
  json spec = Spec("mig", {{"memory", {{"size", "1Gi"}}}});
  Vm src;
  ASSERT_EQ(Create(p.source->b, spec, src, HAL_CREATE_START).status, HAL_OK);
  ASSERT_EQ(Call(T().vm_reboot, src).status, HAL_OK);  // bootCount 2
  Sleep(50);
  int64_t heartbeat = src.Info()["guest"]["heartbeat"];
  ASSERT_GT(heartbeat, 0);
  EXPECT_EQ(src.Progress()["status"], "none");

  Vm dst;
  std::string uri = Prepare(p.target->b, spec, dst);
  ASSERT_THAT(uri, HasSubstr("tcp:127.0.0.1:"));
  EXPECT_EQ(dst.State(), HAL_VM_STATE_INCOMING);

  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Send(src, {{"uri", uri}, {"maxDowntimeMs", 100}}).status, HAL_OK);
  EXPECT_EQ(Send(src, {{"uri", uri}}).status, HAL_FAILED_PRECONDITION);  // one at a time
  uint64_t last = 0;
  bool saw_active = false;
  std::string status;
  while ((status = src.Progress()["status"]) != "completed") {
    ASSERT_NE(status, "failed") << src.Progress().dump();
    json progress = src.Progress();
    uint64_t transferred = progress["transferredBytes"];
    EXPECT_GE(transferred, last);  // monotonic
    EXPECT_EQ(progress["totalBytes"], 1ull << 30);
    EXPECT_EQ(
        progress["transferredBytes"].get<uint64_t>() + progress["remainingBytes"].get<uint64_t>(),
        1ull << 30);
    saw_active |= progress["status"] == "active";
    last = transferred;
    ASSERT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
    Sleep(10);
  }
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(saw_active);
  EXPECT_LT(took, std::chrono::seconds(5));  // ~300 ms for 1 GiB at the default rate
  EXPECT_EQ(src.State(), HAL_VM_STATE_MIGRATED);
  ASSERT_TRUE(WaitState(dst, HAL_VM_STATE_RUNNING));
  json final_progress = src.Progress();
  EXPECT_EQ(final_progress["remainingBytes"], 0);
  EXPECT_TRUE(final_progress["downtimeMs"].is_number());
  EXPECT_EQ(WaitFinished(dst), "completed");

  json guest = dst.Info()["guest"];
  EXPECT_EQ(guest["bootCount"], 2);  // no reboot on the target
  EXPECT_GE(guest["heartbeat"].get<int64_t>(), heartbeat);
  Sleep(30);
  EXPECT_GT(dst.Info()["guest"]["heartbeat"].get<int64_t>(), guest["heartbeat"].get<int64_t>());

  // Events: progress on the source, then MIGRATED and FINISHED; RUNNING on the target.
  auto events = p.source->events.events();
  int progress_events = 0;
  for (const auto &e : events) progress_events += e.type == HAL_EVENT_MIGRATION_PROGRESS;
  EXPECT_GT(progress_events, 0);
  EXPECT_EQ(events.back().type, HAL_EVENT_MIGRATION_FINISHED);
  EXPECT_EQ(events.back().detail["status"], "completed");
  EXPECT_EQ(p.source->events.states("mig").back(), HAL_VM_STATE_MIGRATED);
  EXPECT_EQ(p.target->events.states("mig"),
            (std::vector<hal_vm_state>{HAL_VM_STATE_INCOMING, HAL_VM_STATE_RUNNING}));

  // The source may now be deleted; the target runs on.
  EXPECT_EQ(Call(T().vm_start, src).status, HAL_FAILED_PRECONDITION);
  EXPECT_EQ(Call(T().vm_delete, src).status, HAL_OK);
  EXPECT_EQ(Call(T().vm_force_stop, dst).status, HAL_OK);
}

TEST(MockMigration, CancelLeavesSourceRunningAndStopsTarget) {
  Pair p(json{{"migration", {{"bandwidthMiBps", 256}}}});
  json spec = Spec("cancel-me", {{"memory", {{"size", "1Gi"}}}});
  Vm src, dst;
  ASSERT_EQ(Create(p.source->b, spec, src, HAL_CREATE_START).status, HAL_OK);
  std::string uri = Prepare(p.target->b, spec, dst);
  ASSERT_EQ(Send(src, {{"uri", uri}}).status, HAL_OK);
  Sleep(200);
  EXPECT_EQ(src.Progress()["status"], "active");
  Result r = Call(T().migration_cancel, src);
  ASSERT_EQ(r.status, HAL_OK) << r.message;
  EXPECT_EQ(src.Progress()["status"], "cancelled");
  EXPECT_EQ(src.State(), HAL_VM_STATE_RUNNING);
  EXPECT_EQ(Call(T().migration_cancel, src).status, HAL_FAILED_PRECONDITION);
  ASSERT_TRUE(WaitState(dst, HAL_VM_STATE_STOPPED));
  EXPECT_NE(WaitFinished(dst), "completed");
  EXPECT_EQ(Call(T().vm_delete, dst).status, HAL_OK);
  // The guest keeps running on the source.
  int64_t h = src.Info()["guest"]["heartbeat"];
  Sleep(30);
  EXPECT_GT(src.Info()["guest"]["heartbeat"].get<int64_t>(), h);
}

TEST(MockMigration, InjectedFailure) {
  Pair p(json{{"faults", {{"migration", "fail"}}}});
  json spec = Spec("flaky", {{"memory", {{"size", "512Mi"}}}});
  Vm src, dst;
  ASSERT_EQ(Create(p.source->b, spec, src, HAL_CREATE_START).status, HAL_OK);
  ASSERT_EQ(Send(src, {{"uri", Prepare(p.target->b, spec, dst)}}).status, HAL_OK);
  EXPECT_EQ(WaitFinished(src), "failed");
  EXPECT_THAT(src.Progress()["error"].get<std::string>(), HasSubstr("faults.migration"));
  EXPECT_EQ(src.State(), HAL_VM_STATE_RUNNING);
  ASSERT_TRUE(WaitState(dst, HAL_VM_STATE_STOPPED));
  EXPECT_EQ(p.source->events.events().back().type, HAL_EVENT_MIGRATION_FINISHED);
}

TEST(MockMigration, StallTimesOutOrCancels) {
  Pair p(json{{"faults", {{"migration", "stall"}}}});
  json spec = Spec("stuck", {{"memory", {{"size", "512Mi"}}}});
  Vm src, dst;
  ASSERT_EQ(Create(p.source->b, spec, src, HAL_CREATE_START).status, HAL_OK);
  ASSERT_EQ(Send(src, {{"uri", Prepare(p.target->b, spec, dst)}, {"timeoutMs", 400}}).status,
            HAL_OK);
  Sleep(250);
  uint64_t a = src.Progress()["transferredBytes"];
  Sleep(60);
  EXPECT_EQ(src.Progress()["transferredBytes"], a);  // stalled
  EXPECT_LT(a, 512ull << 20);
  EXPECT_EQ(WaitFinished(src), "failed");
  EXPECT_THAT(src.Progress()["error"].get<std::string>(), HasSubstr("timed out"));
  EXPECT_EQ(src.State(), HAL_VM_STATE_RUNNING);
  ASSERT_TRUE(WaitState(dst, HAL_VM_STATE_STOPPED));

  // A stalled migration can be cancelled too.
  Vm dst2;
  json spec2 = Spec("stuck", {{"memory", {{"size", "512Mi"}}}});
  ASSERT_EQ(Call(T().vm_delete, dst).status, HAL_OK);
  ASSERT_EQ(Send(src, {{"uri", Prepare(p.target->b, spec2, dst2)}}).status, HAL_OK);
  Sleep(150);
  EXPECT_EQ(Call(T().migration_cancel, src).status, HAL_OK);
  EXPECT_EQ(src.Progress()["status"], "cancelled");
  EXPECT_EQ(src.State(), HAL_VM_STATE_RUNNING);
}

TEST(MockMigration, ParameterAndStateErrors) {
  Pair p;
  Vm src;
  ASSERT_EQ(Create(p.source->b, Spec("params"), src).status, HAL_OK);
  EXPECT_EQ(Send(src, {{"uri", "tcp:127.0.0.1:1"}}).status, HAL_FAILED_PRECONDITION);  // stopped
  ASSERT_EQ(Call(T().vm_start, src).status, HAL_OK);
  Result r = Send(src, {{"uri", "tcp:127.0.0.1:1"}, {"turbo", true}});
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("params.turbo"));
  r = Send(src, json::object());
  EXPECT_EQ(r.status, HAL_INVALID_ARGUMENT);
  EXPECT_THAT(r.message, HasSubstr("params.uri"));
  EXPECT_EQ(Send(src, {{"uri", "carrier-pigeon"}}).status, HAL_INVALID_ARGUMENT);
  r = Send(src, {{"uri", "tcp:127.0.0.1:1"}, {"postCopy", true}});
  EXPECT_EQ(r.status, HAL_UNSUPPORTED);
  EXPECT_THAT(r.message, HasSubstr("postCopy"));
  hal_error error = Err();
  EXPECT_EQ(T().migration_send(src.get(), nullptr, 0, &error), HAL_INVALID_ARGUMENT);
  EXPECT_EQ(T().migration_send(src.get(), "{\"uri\":\"tcp:127.0.0.1:1\"}", 1, &error),
            HAL_INVALID_ARGUMENT);
  // Nobody listens on port 1: the migration fails in the background, the VM runs on.
  ASSERT_EQ(Send(src, {{"uri", "tcp:127.0.0.1:1"}}).status, HAL_OK);
  EXPECT_EQ(WaitFinished(src), "failed");
  EXPECT_EQ(src.State(), HAL_VM_STATE_RUNNING);
  // prepare_incoming: name taken, bad params.
  Vm dst;
  char *endpoint = nullptr;
  EXPECT_EQ(T().migration_prepare_incoming(p.source->b, Spec("params").dump().c_str(), nullptr, 0,
                                           dst.out(), &endpoint, &error),
            HAL_ALREADY_EXISTS);
  EXPECT_EQ(T().migration_prepare_incoming(p.target->b, Spec("params").dump().c_str(), "[", 0,
                                           dst.out(), &endpoint, &error),
            HAL_INVALID_ARGUMENT);
  EXPECT_EQ(endpoint, nullptr);
}

TEST(MockMigration, IncomingTimesOutWithoutSource) {
  Pair p;
  Vm dst;
  std::string uri = Prepare(p.target->b, Spec("lonely"), dst, {{"timeoutMs", 100}});
  ASSERT_FALSE(uri.empty());
  ASSERT_TRUE(WaitState(dst, HAL_VM_STATE_STOPPED));
  EXPECT_EQ(WaitFinished(dst), "failed");
}

TEST(MockMigration, CloseCancelsRunningMigrations) {
  Pair p(json{{"migration", {{"bandwidthMiBps", 64}}}});
  json spec = Spec("closing", {{"memory", {{"size", "1Gi"}}}});
  {
    Vm src, dst;
    ASSERT_EQ(Create(p.source->b, spec, src, HAL_CREATE_START).status, HAL_OK);
    ASSERT_EQ(Send(src, {{"uri", Prepare(p.target->b, spec, dst)}}).status, HAL_OK);
    Sleep(50);
  }
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(p.source->Close(), HAL_OK);
  ASSERT_EQ(p.target->Close(), HAL_OK);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

// ---- a target in another process ------------------------------------------------------------

/** Runs as the child: opens a target, writes the uri to $HAL_MOCK_CHILD_OUT, waits for RUNNING,
 *  then writes the guest info and exits. */
TEST(MockMigrationChild, Target) {
  const char *out_path = std::getenv("HAL_MOCK_CHILD_OUT");
  if (out_path == nullptr) GTEST_SKIP() << "only run as the child of CrossProcess";
  Backend be(json{{"instance", "child-target"}});
  Vm dst;
  std::string uri = Prepare(be.b, Spec("xproc", {{"memory", {{"size", "512Mi"}}}}), dst);
  {
    std::ofstream(std::string(out_path) + ".tmp") << uri;
    std::rename((std::string(out_path) + ".tmp").c_str(), out_path);
  }
  ASSERT_TRUE(WaitState(dst, HAL_VM_STATE_RUNNING, 20000));
  std::ofstream(std::string(out_path) + ".info.tmp") << dst.Info()["guest"].dump();
  std::rename((std::string(out_path) + ".info.tmp").c_str(),
              (std::string(out_path) + ".info").c_str());
  ASSERT_EQ(Call(T().vm_force_stop, dst).status, HAL_OK);
}

std::string ReadWhenPresent(const std::string &path, int ms) {
  for (int i = 0; i < ms / 10; ++i) {
    std::ifstream in(path);
    if (in) return std::string(std::istreambuf_iterator<char>(in), {});
    Sleep(10);
  }
  return "";
}

TEST(MockMigration, CrossProcess) {
  std::string out = ::testing::TempDir() + "hal-mock-xproc-" + std::to_string(::getpid());
  std::remove(out.c_str());
  std::remove((out + ".info").c_str());
  std::string self = std::filesystem::read_symlink("/proc/self/exe");
  hal::testing::ChildOptions options;  // the child's environment: only its output path
  options.env = {{"HAL_MOCK_CHILD_OUT", out}};
  options.inherit_environment = false;
  hal::testing::ChildProcess child({self, "--gtest_filter=MockMigrationChild.Target"}, options);
  std::string uri = ReadWhenPresent(out, 10000);
  if (uri.empty()) {
    child.kill_hard();
    FAIL() << "child did not publish its endpoint";
  }
  Backend be(json{{"instance", Instance()}});
  Vm src;
  ASSERT_EQ(
      Create(be.b, Spec("xproc", {{"memory", {{"size", "512Mi"}}}}), src, HAL_CREATE_START).status,
      HAL_OK);
  ASSERT_EQ(Call(T().vm_reboot, src).status, HAL_OK);
  ASSERT_EQ(Send(src, {{"uri", uri}}).status, HAL_OK);
  EXPECT_EQ(WaitFinished(src), "completed");
  EXPECT_EQ(src.State(), HAL_VM_STATE_MIGRATED);
  std::string info = ReadWhenPresent(out + ".info", 10000);
  const int status = child.wait(std::chrono::seconds(60)).value_or(-1);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_FALSE(info.empty());
  EXPECT_EQ(json::parse(info)["bootCount"], 2);
  std::remove(out.c_str());
  std::remove((out + ".info").c_str());
}

}  // namespace
}  // namespace hal::mock::test
