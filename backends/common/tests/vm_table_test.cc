// vm_table_test.cc - the VM table and handle class over a stand-in controller: defining under a
// name (ALREADY_EXISTS, the state dir and its spec), lookup (NOT_FOUND), vm_list, forgetting
// deleted VMs, rollback of a failed setup, re-adoption from a state root, close and handles.
#include "backends/common/vm_table.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "testing/temp_dir.h"

namespace hal::backend_common {
namespace {
namespace fs = std::filesystem;
using hal::plugin::Failure;

// A controller that only keeps a state and counts what was asked of it.
class FakeController {
 public:
  explicit FakeController(std::string id) : id_(std::move(id)) {}

  const std::string &id() const { return id_; }
  hal_vm_state state() const {
    if (deleted_) throw Failure(HAL_NOT_FOUND, "VM '" + id_ + "' was deleted");
    return state_;
  }
  bool deleted() const { return deleted_; }
  std::string info() const { return nlohmann::json({{"id", id_}}).dump(); }
  void start(uint32_t /*flags*/) {
    if (fail_start) throw Failure(HAL_UNAVAILABLE, "the hypervisor did not start");
    state_ = HAL_VM_STATE_RUNNING;
  }
  void force_stop() {
    ++force_stops;
    state_ = HAL_VM_STATE_STOPPED;
  }
  void remove() {
    if (state_ != HAL_VM_STATE_STOPPED) throw Failure(HAL_FAILED_PRECONDITION, "stop it first");
    deleted_ = true;
  }
  void restore_from_disk() { state_ = HAL_VM_STATE_PAUSED; }
  void detach() { ++detaches; }
  void pause() { state_ = HAL_VM_STATE_PAUSED; }

  bool fail_start = false;
  int force_stops = 0;
  int detaches = 0;

 private:
  std::string id_;
  hal_vm_state state_ = HAL_VM_STATE_STOPPED;
  bool deleted_ = false;
};
static_assert(VmControllerType<FakeController>);

// A backend's final handle class: the optional entry it declares is the only one in its table.
class FakeVm final : public VmHandle<FakeController> {
 public:
  using VmHandle::VmHandle;
  void pause() override { vm().pause(); }
};

class FakeBackend : public hal::plugin::Backend {};
using Entries = hal::plugin::detail::Implements<FakeBackend, FakeVm>;
static_assert(Entries::pause && !Entries::resume && !Entries::reset && !Entries::console,
              "a VmHandle-derived class has exactly the optional entries it declares");

const ProcessFileNames kNames{"hv.pid", "hv.log"};

class VmTableTest : public ::testing::Test {
 protected:
  StateDir dir_of(const std::string &name) const { return StateDir(tmp_.path() / name, kNames); }
  std::shared_ptr<FakeController> define(const std::string &name) {
    return table_.define(name, dir_of(name), {{"name", name}},
                         [&] { return std::make_shared<FakeController>(name); });
  }
  // The status `fn` fails with (HAL_OK when it does not), its message in `message`.
  template <class Fn>
  hal_status status_of(Fn &&fn, std::string *message = nullptr) {
    try {
      fn();
    } catch (const Failure &failure) {
      if (message != nullptr) *message = failure.what();
      return failure.status;
    }
    return HAL_OK;
  }

  testing::TempDir tmp_;
  VmTable<FakeController> table_;
};

TEST_F(VmTableTest, DefineMakesThePrivateStateDirWithTheSpec) {
  std::shared_ptr<FakeController> vm = define("vm1");
  ASSERT_NE(vm, nullptr);
  EXPECT_EQ(table_.size(), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(dir_of("vm1").dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir_of("vm1").spec_file()).value_or("null")),
            nlohmann::json({{"name", "vm1"}}));
}

TEST_F(VmTableTest, TheVmIsFoundUnderItsNameEvenWhenMakeMovesFromIt) {
  // The backends pass their spec's name and build the controller from that spec, moved.
  std::string spec_name = "vm1";
  table_.define(spec_name, dir_of("vm1"), {},
                [&] { return std::make_shared<FakeController>(std::move(spec_name)); });
  EXPECT_EQ(table_.lookup<FakeVm>("vm1")->state(), HAL_VM_STATE_STOPPED);
  EXPECT_EQ(nlohmann::json::parse(table_.list_json())["vms"][0]["id"], "vm1");
}

TEST_F(VmTableTest, ANameTakenInTheTableOrOnDiskIsAlreadyExists) {
  define("vm1");
  std::string message;
  EXPECT_EQ(status_of([&] { define("vm1"); }, &message), HAL_ALREADY_EXISTS);
  EXPECT_EQ(message, "VM 'vm1' already exists");
  fs::create_directories(dir_of("left-over").dir());
  EXPECT_EQ(status_of([&] { define("left-over"); }, &message), HAL_ALREADY_EXISTS);
  EXPECT_EQ(message, "VM 'left-over': state directory " + dir_of("left-over").dir().string() +
                         " already exists");
  EXPECT_EQ(table_.size(), 1u);
}

// Issue 25: an id is a path component under the state root; none may leave it.
TEST_F(VmTableTest, AnIdThatCouldLeaveTheStateRootIsInvalidArgument) {
  for (const std::string name : {"..", "../escape", "a/b", ".hidden", "UPPER", ""}) {
    std::string message;
    EXPECT_EQ(status_of(
                  [&] {
                    table_.define(name, StateDir(tmp_.path() / "sub" / name, kNames), {},
                                  [&] { return std::make_shared<FakeController>(name); });
                  },
                  &message),
              HAL_INVALID_ARGUMENT)
        << "'" << name << "'";
    EXPECT_EQ(message.rfind("name: VM id '" + name + "' ", 0), 0u) << message;
  }
  EXPECT_FALSE(fs::exists(tmp_.path() / "escape"));
  EXPECT_FALSE(fs::exists(tmp_.path() / "sub"));
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(VmTableTest, AStateDirThatCannotBeMadeIsPermissionDeniedAndLeavesNothing) {
  write_file_atomic(tmp_.path() / "file", "");
  const StateDir dir(tmp_.path() / "file" / "vm1", kNames);
  bool made = false;
  std::string message;
  EXPECT_EQ(status_of(
                [&] {
                  table_.define("vm1", dir, {}, [&] {
                    made = true;
                    return std::make_shared<FakeController>("vm1");
                  });
                },
                &message),
            HAL_PERMISSION_DENIED);
  EXPECT_EQ(message.rfind("cannot create the VM state dir: ", 0), 0u) << message;
  EXPECT_FALSE(made);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(VmTableTest, LookupGivesCountedHandlesForwardingToTheController) {
  std::shared_ptr<FakeController> vm = define("vm1");
  std::string message;
  EXPECT_EQ(status_of([&] { table_.lookup<FakeVm>("nope"); }, &message), HAL_NOT_FOUND);
  EXPECT_EQ(message, "VM 'nope' not found");
  std::unique_ptr<hal::plugin::Vm> a = table_.lookup<FakeVm>("vm1");
  std::unique_ptr<hal::plugin::Vm> b = table_.handle<FakeVm>(vm);
  EXPECT_EQ(table_.handles(), 2);
  a->start(0);
  EXPECT_EQ(b->state(), HAL_VM_STATE_RUNNING);
  a->pause();
  EXPECT_EQ(vm->state(), HAL_VM_STATE_PAUSED);
  EXPECT_EQ(nlohmann::json::parse(b->info())["id"], "vm1");
  b->force_stop();
  EXPECT_EQ(vm->force_stops, 1);
  a.reset();
  b.reset();
  EXPECT_EQ(table_.handles(), 0);
}

TEST_F(VmTableTest, DeletingThroughAHandleForgetsTheVm) {
  define("vm1");
  define("vm2");
  std::unique_ptr<hal::plugin::Vm> handle = table_.lookup<FakeVm>("vm1");
  handle->start(0);
  EXPECT_EQ(status_of([&] { handle->remove(0); }), HAL_FAILED_PRECONDITION);
  EXPECT_EQ(table_.size(), 2u);  // a refused delete keeps it
  handle->force_stop();
  handle->remove(HAL_DELETE_STORAGE);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(status_of([&] { handle->state(); }), HAL_NOT_FOUND);
  EXPECT_EQ(status_of([&] { table_.lookup<FakeVm>("vm1"); }), HAL_NOT_FOUND);
  table_.forget("vm2");  // not deleted: stays
  EXPECT_EQ(table_.size(), 1u);
}

TEST_F(VmTableTest, ListHasEveryVmButTheDeletedInIdOrder) {
  define("b");
  define("a")->pause();
  std::shared_ptr<FakeController> c = define("c");
  c->remove();  // deleted, not yet forgotten
  EXPECT_EQ(nlohmann::json::parse(table_.list_json()),
            nlohmann::json::parse(
                R"({"vms":[{"id":"a","state":"Paused"},{"id":"b","state":"Stopped"}]})"));
}

TEST_F(VmTableTest, AFailedSetupRemovesTheVmAndPassesTheErrorOn) {
  std::shared_ptr<FakeController> vm = define("vm1");
  vm->fail_start = true;
  std::string message;
  EXPECT_EQ(
      status_of([&] { table_.handle_after<FakeVm>(vm, [](FakeController &v) { v.start(0); }); },
                &message),
      HAL_UNAVAILABLE);
  EXPECT_EQ(message, "the hypervisor did not start");
  EXPECT_TRUE(vm->deleted());
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(table_.handles(), 0);
  std::unique_ptr<hal::plugin::Vm> handle =
      table_.handle_after<FakeVm>(define("vm2"), [](FakeController &v) { v.start(0); });
  EXPECT_EQ(handle->state(), HAL_VM_STATE_RUNNING);
}

TEST_F(VmTableTest, AdoptStoredRestoresEachVmKeptUnderTheRoot) {
  for (const char *name : {"vm1", "vm2"}) {
    define(name);
  }
  const nlohmann::json valid = {
      {"apiVersion", "hal.dev/v1"}, {"cpu", {{"vcpus", 1}}}, {"memory", {{"size", "1Gi"}}}};
  for (const char *name : {"vm1", "vm2"}) {
    nlohmann::json spec = valid;
    spec["name"] = name;
    write_file_atomic(dir_of(name).spec_file(), spec.dump());
  }
  VmTable<FakeController> reopened;
  std::vector<std::string> made;
  reopened.adopt_stored(tmp_.path(), [&](StoredVm &&stored) {
    made.push_back(stored.spec.spec.name);
    EXPECT_EQ(stored.dir, dir_of(stored.spec.spec.name).dir());
    return std::make_shared<FakeController>(stored.spec.spec.name);
  });
  std::sort(made.begin(), made.end());
  EXPECT_EQ(made, (std::vector<std::string>{"vm1", "vm2"}));
  EXPECT_EQ(nlohmann::json::parse(reopened.list_json()),
            nlohmann::json::parse(
                R"({"vms":[{"id":"vm1","state":"Paused"},{"id":"vm2","state":"Paused"}]})"));
}

TEST_F(VmTableTest, CloseRefusesWhileHandlesLiveThenDetachesEveryVm) {
  std::shared_ptr<FakeController> vm = define("vm1");
  std::unique_ptr<hal::plugin::Vm> handle = table_.lookup<FakeVm>("vm1");
  std::string message;
  EXPECT_EQ(status_of([&] { table_.close(0); }, &message), HAL_FAILED_PRECONDITION);
  EXPECT_EQ(message, "close: 1 VM handle(s) still unreleased");
  EXPECT_EQ(table_.size(), 1u);
  handle.reset();
  vm->start(0);
  table_.close(0);
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(vm->detaches, 1);
  EXPECT_EQ(vm->force_stops, 0);  // left running for the next open()
  EXPECT_EQ(vm->state(), HAL_VM_STATE_RUNNING);
}

TEST_F(VmTableTest, CloseWithStopVmsForceStopsFirst) {
  std::shared_ptr<FakeController> vm = define("vm1");
  vm->start(0);
  table_.close(HAL_CLOSE_STOP_VMS);
  EXPECT_EQ(vm->force_stops, 1);
  EXPECT_EQ(vm->detaches, 1);
  EXPECT_EQ(vm->state(), HAL_VM_STATE_STOPPED);
}

TEST_F(VmTableTest, DestroyingTheTableDetachesWhatItStillHolds) {
  std::shared_ptr<FakeController> vm;
  {
    VmTable<FakeController> table;
    vm = std::make_shared<FakeController>("vm1");
    table.add(vm);
    table.add(std::make_shared<FakeController>("vm1"));  // the first of an id stays
    EXPECT_EQ(table.size(), 1u);
  }
  EXPECT_EQ(vm->detaches, 1);
}

// A backend over the table: define() takes the spec's name; "fail-start" VMs cannot start.
class TableBackend final : public VmTableBackend<FakeController, FakeVm> {
 public:
  explicit TableBackend(fs::path root) : root_(std::move(root)) {}
  std::string capabilities() override { return "{}"; }
  std::string host_info() override { return "{}"; }
  std::unique_ptr<hal::plugin::Vm> prepare_incoming(std::string_view spec_json,
                                                    std::string_view /*params_json*/,
                                                    std::string &out_endpoint_json) override {
    return define_incoming(spec_json, [&](FakeController &vm) {
      if (vm.id() == "fail-incoming") throw Failure(HAL_UNAVAILABLE, "no listener");
      out_endpoint_json = R"({"uri":"tcp:127.0.0.1:1"})";
    });
  }
  size_t size() { return vms().size(); }

 private:
  std::shared_ptr<FakeController> define(std::string_view spec_json, bool validate_only) override {
    const nlohmann::json doc = nlohmann::json::parse(spec_json);
    const std::string name = doc.at("name");
    if (validate_only) return nullptr;
    return vms().define(name, StateDir(root_ / name, kNames), doc, [&] {
      auto vm = std::make_shared<FakeController>(name);
      vm->fail_start = name == "fail-start";
      return vm;
    });
  }

  fs::path root_;
};
using TableBackendEntries = hal::plugin::detail::Implements<TableBackend, FakeVm>;
static_assert(TableBackendEntries::prepare_incoming && !TableBackendEntries::restore);

TEST_F(VmTableTest, TableBackendCreatesLooksUpListsAndCloses) {
  TableBackend backend(tmp_.path());
  EXPECT_EQ(backend.create_vm(R"({"name":"vm1"})", HAL_CREATE_VALIDATE_ONLY), nullptr);
  EXPECT_EQ(backend.size(), 0u);
  std::unique_ptr<hal::plugin::Vm> created = backend.create_vm(R"({"name":"vm1"})", 0);
  EXPECT_EQ(created->state(), HAL_VM_STATE_STOPPED);
  std::unique_ptr<hal::plugin::Vm> started =
      backend.create_vm(R"({"name":"vm2"})", HAL_CREATE_START);
  EXPECT_EQ(started->state(), HAL_VM_STATE_RUNNING);
  EXPECT_EQ(backend.lookup_vm("vm2")->state(), HAL_VM_STATE_RUNNING);
  EXPECT_EQ(status_of([&] { backend.lookup_vm("vm3"); }), HAL_NOT_FOUND);
  EXPECT_EQ(nlohmann::json::parse(backend.list_vms())["vms"].size(), 2u);
  EXPECT_EQ(status_of([&] { backend.close(0); }), HAL_FAILED_PRECONDITION);
  created.reset();
  started.reset();
  backend.close(HAL_CLOSE_STOP_VMS);
  EXPECT_EQ(backend.size(), 0u);
}

TEST_F(VmTableTest, TableBackendRemovesAVmWhoseStartOrIncomingSetupFailed) {
  TableBackend backend(tmp_.path());
  EXPECT_EQ(status_of([&] { backend.create_vm(R"({"name":"fail-start"})", HAL_CREATE_START); }),
            HAL_UNAVAILABLE);
  EXPECT_EQ(status_of([&] { backend.lookup_vm("fail-start"); }), HAL_NOT_FOUND);
  std::string endpoint;
  EXPECT_EQ(
      status_of([&] { backend.prepare_incoming(R"({"name":"fail-incoming"})", "", endpoint); }),
      HAL_UNAVAILABLE);
  EXPECT_EQ(backend.size(), 0u);
  std::string message;
  EXPECT_EQ(status_of(
                [&] {
                  backend.prepare_incoming(R"({"name":"t","launchSecurity":{"type":"tdx"}})", "",
                                           endpoint);
                },
                &message),
            HAL_UNSUPPORTED);
  EXPECT_FALSE(fs::exists(tmp_.path() / "t"));
  std::unique_ptr<hal::plugin::Vm> target =
      backend.prepare_incoming(R"({"name":"target"})", "", endpoint);
  EXPECT_EQ(endpoint, R"({"uri":"tcp:127.0.0.1:1"})");
  EXPECT_EQ(backend.size(), 1u);
}

}  // namespace
}  // namespace hal::backend_common
