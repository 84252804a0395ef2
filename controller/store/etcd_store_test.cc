// etcd_store_test.cc - the etcd store against real etcd members on loopback (testing/
// etcd_cluster.h): the Store conformance suite (store_conformance.h) under a fresh key prefix
// each; a restart of etcd keeps every object and the revision; a watch resumes across a member's
// restart without losing or repeating a change; a 3-member cluster keeps the store working
// (writes, reads, a watch) while the member in use is killed; mutual TLS (etcd's
// --client-cert-auth) admits our certificate and refuses a client without one; a SQLite store
// imported into etcd (copy_store); writes conditioned on a guard key; URL parsing.
// Skipped, saying so, when etcd is not installed (Debian package etcd-server).
#include "controller/store/etcd_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "controller/pki/pki.h"
#include "controller/store/copy_store.h"
#include "controller/store/etcd_layout.h"
#include "controller/store/etcd_watch.h"
#include "controller/store/store_conformance.h"
#include "testing/etcd_cluster.h"

namespace hal::controller {
namespace {

using hal::testing::EtcdCluster;
using nlohmann::json;
using namespace std::chrono_literals;

StoreKey vm(const std::string &name) {
  return StoreKey{"VirtualMachine", "default", name};
}

// Why etcd tests cannot run here ("" when they can).
std::string etcd_missing() {
  return EtcdCluster::binary() ? ""
                               : "etcd is not installed (Debian package etcd-server): skipping "
                                 "the etcd store tests";
}

// One single-member cluster for the conformance suite of this process (each store gets its own
// key prefix), stopped at exit.
EtcdCluster &shared_cluster() {
  static EtcdCluster cluster;
  return cluster;
}

std::atomic<int> prefixes{0};

// A store on `cluster` under a new prefix, with a short retry budget (tests wait for failures).
std::unique_ptr<EtcdStore> open_on(const EtcdCluster &cluster, std::chrono::milliseconds budget,
                                   const std::string &prefix = "") {
  EtcdStoreOptions options = parse_etcd_url(cluster.url());
  options.prefix = prefix.empty() ? "/test-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(++prefixes) + "/"
                                  : prefix;
  options.client.retry_budget = budget;
  return std::make_unique<EtcdStore>(options);
}

INSTANTIATE_TEST_SUITE_P(Etcd, StoreConformance,
                         ::testing::Values(StoreBackend{
                             "Etcd", etcd_missing,
                             [](const std::string &, size_t) -> std::unique_ptr<Store> {
                               return open_on(shared_cluster(), 30s);
                             },
                             [](Store &store, int64_t revision) {
                               dynamic_cast<EtcdStore &>(store).compact(revision);
                             },
                             false}),
                         backend_name);

class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = etcd_missing();
    if (!why.empty()) {
      GTEST_SKIP() << why;
    }
  }
};

TEST(EtcdUrl, ParsesEndpointsAndPrefix) {
  auto one = parse_etcd_url("etcd://127.0.0.1:2379");
  EXPECT_EQ(one.client.endpoints, std::vector<std::string>{"127.0.0.1:2379"});
  EXPECT_EQ(one.prefix, "/hal/");
  auto three = parse_etcd_url("etcd://a:1,b.example:2,[::1]:3/tenant/x/");
  EXPECT_EQ(three.client.endpoints, (std::vector<std::string>{"a:1", "b.example:2", "[::1]:3"}));
  EXPECT_EQ(three.prefix, "/tenant/x/");
  EXPECT_THROW(parse_etcd_url("etcd://a:1,"), std::invalid_argument);
  EXPECT_THROW(parse_etcd_url("etcd://a:x"), std::invalid_argument);
  EXPECT_THROW(parse_etcd_url("http://a:1"), std::invalid_argument);
}

TEST(EtcdUnreachable, IsAnIoErrorNamingTheEndpoints) {
  EtcdStoreOptions options = parse_etcd_url("etcd://127.0.0.1:1");
  options.client.retry_budget = 500ms;
  try {
    EtcdStore store(options);
    FAIL() << "opened a store on a closed port";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
}

// Close the store, restart etcd (kill -9: nothing is flushed on the way out), open it again:
// the same objects, versions and revision, and the revision goes on from there.
TEST_F(EtcdStoreTest, RestartKeepsObjectsAndRevision) {
  EtcdCluster cluster;
  int64_t revision = 0;
  {
    auto store = open_on(cluster, 30s, "/hal/");
    store->create(vm("a"), json{{"spec", {{"running", true}}}});
    store->create(StoreKey{"Node", "", "n1"}, json{{"status", {{"pool", "mock"}}}});
    store->create(vm("gone"), json::object());
    store->remove(vm("gone"));
    revision = store->revision();
    EXPECT_EQ(revision, 4);  // a new cluster: store revisions from 1, as SQLite's
  }
  cluster.kill(0);
  cluster.start(0);
  auto store = open_store(cluster.url());  // the default prefix, /hal/
  EXPECT_EQ(store->revision(), revision);
  auto a = store->get(vm("a"));
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->object["spec"]["running"], true);
  EXPECT_EQ(a->version, 1);
  EXPECT_EQ(a->object["metadata"]["resourceVersion"], "1");
  EXPECT_TRUE(store->get(StoreKey{"Node", "", "n1"}).has_value());
  EXPECT_FALSE(store->get(vm("gone")).has_value());
  auto b = store->create(vm("b"), json::object());
  EXPECT_EQ(b.version, revision + 1);
  EXPECT_THROW(store->update(a->key, json::object(), a->version + 100), StoreError);
}

// Collects `count` events from `watch`, failing on a gap or a repeat of a revision.
std::vector<std::shared_ptr<const WatchEvent>> collect(Watch &watch, size_t count,
                                                       std::chrono::seconds timeout) {
  std::vector<std::shared_ptr<const WatchEvent>> events;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (events.size() < count && std::chrono::steady_clock::now() < deadline) {
    auto event = watch.next(200ms);
    if (!event) continue;
    if (!events.empty()) {
      EXPECT_GT(event->revision, events.back()->revision);
    }
    events.push_back(event);
  }
  return events;
}

// A watch's stream breaks when its member dies; it comes back on the same revision.
TEST_F(EtcdStoreTest, WatchResumesAcrossMemberRestart) {
  EtcdCluster cluster;
  auto store = open_on(cluster, 30s);
  const int64_t start = store->revision();
  auto watch = store->watch(WatchFilter{"VirtualMachine", "", ""}, start);
  for (int i = 0; i < 3; ++i) store->put(vm("before-" + std::to_string(i)), json{{"i", i}});
  auto first = collect(*watch, 3, 10s);
  ASSERT_EQ(first.size(), 3u);
  cluster.kill(0);
  std::this_thread::sleep_for(300ms);  // the watch sees its stream fail
  cluster.start(0);
  for (int i = 0; i < 3; ++i) store->put(vm("after-" + std::to_string(i)), json{{"i", i}});
  auto second = collect(*watch, 3, 20s);
  ASSERT_EQ(second.size(), 3u) << cluster.logs_tail();
  EXPECT_GT(second[0]->revision, first.back()->revision);
  EXPECT_EQ(second[0]->object.key.name, "after-0");
  EXPECT_EQ(second[2]->revision, store->revision());
  EXPECT_EQ(watch->next(100ms), nullptr);  // nothing repeated
  EXPECT_FALSE(watch->closed());
  auto *etcd_watch = dynamic_cast<etcd::EtcdWatch *>(watch.get());
  ASSERT_NE(etcd_watch, nullptr);
  EXPECT_GE(etcd_watch->reconnects(), 1);
  // A new watch from a revision before the restart replays exactly what followed it.
  auto replay = store->watch(WatchFilter{"VirtualMachine", "", ""}, first.back()->revision);
  auto replayed = collect(*replay, 3, 10s);
  ASSERT_EQ(replayed.size(), 3u);
  EXPECT_EQ(replayed[0]->revision, second[0]->revision);
}

// Three members; the one the store talks to is killed while a writer commits: every write lands
// once, reads and the watch go on through the other members.
TEST_F(EtcdStoreTest, ThreeMembersSurviveTheMemberInUseDying) {
  hal::testing::EtcdClusterOptions options;
  options.members = 3;
  EtcdCluster cluster(options);
  auto store = open_on(cluster, 30s);
  auto watch = store->watch(WatchFilter{"VirtualMachine", "", ""}, store->revision());
  constexpr int kWrites = 60;
  std::atomic<int> written{0};
  std::string error;
  std::thread writer([&] {
    try {
      for (int i = 0; i < kWrites; ++i) {
        store->create(vm("vm-" + std::to_string(i)), json{{"i", i}});
        ++written;
        std::this_thread::sleep_for(10ms);
      }
    } catch (const std::exception &e) {
      error = e.what();
    }
  });
  while (written < kWrites / 3 && error.empty()) std::this_thread::sleep_for(5ms);
  const auto killed_at = std::chrono::steady_clock::now();
  cluster.kill(0);  // the first endpoint: where the store's calls and watch go
  writer.join();
  ASSERT_EQ(error, "") << cluster.logs_tail();
  std::printf("[          ] %d writes through the loss of member 0 in %.2f s\n", kWrites,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count());
  EXPECT_EQ(store->list("VirtualMachine", "", nullptr).size(), static_cast<size_t>(kWrites));
  auto events = collect(*watch, kWrites, 30s);
  ASSERT_EQ(events.size(), static_cast<size_t>(kWrites));
  std::set<std::string> names;
  for (const auto &event : events) {
    EXPECT_EQ(event->type, WatchType::kAdded);
    names.insert(event->object.key.name);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(kWrites));  // each once
  EXPECT_EQ(watch->next(100ms), nullptr);
  // A store opened now, with the dead member first in its list, works too.
  auto late = open_store(cluster.url(store->options().prefix));
  EXPECT_EQ(late->list("VirtualMachine", "").size(), static_cast<size_t>(kWrites));
  late->put(vm("late"), json::object());
  EXPECT_TRUE(store->get(vm("late")).has_value());
}

// Moving an installation from its SQLite file to etcd: every object arrives, CAS works on it.
TEST_F(EtcdStoreTest, ImportsASqliteStore) {
  hal::testing::TempDir dir("hal-etcd-import-");
  auto sqlite = open_store("sqlite:" + dir.str() + "/controller.db");
  for (int i = 0; i < 150; ++i) sqlite->create(vm("vm-" + std::to_string(i)), json{{"i", i}});
  sqlite->create(StoreKey{"Node", "", "n1"}, json{{"status", {{"pool", "mock"}}}});
  auto etcd = open_on(shared_cluster(), 30s);
  EXPECT_EQ(copy_store(*sqlite, *etcd), 151u);
  auto vms = etcd->list("VirtualMachine", "default", nullptr);
  ASSERT_EQ(vms.size(), 150u);
  auto one = etcd->get(vm("vm-42"));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->object["i"], 42);
  EXPECT_NO_THROW(etcd->update(vm("vm-42"), json{{"i", 43}}, one->version));
  EXPECT_THROW(copy_store(*sqlite, *etcd), StoreError);
}

// The hook leader election builds on: writes conditioned on a key created under a lease (here
// an object of another prefix standing in for the leader key) fail once that key is gone or
// was created again (a new term), and nothing of them lands.
TEST_F(EtcdStoreTest, WriteGuardFailsWritesOnceTheGuardKeyIsGone) {
  auto store = open_on(shared_cluster(), 30s);
  auto election = open_on(shared_cluster(), 30s);
  const StoreKey leader{"Leader", "", "controller"};
  auto term = election->create(leader, json{{"holder", "a"}});
  const std::string key = etcd::encode_key(election->options().prefix, leader);
  store->set_write_guard(WriteGuard{key, etcd::etcd_revision(term.version), "leadership"});
  store->put(vm("a"), json{{"n", 1}});
  election->remove(leader);
  election->create(leader, json{{"holder", "b"}});  // another term
  try {
    store->put(vm("a"), json{{"n", 2}});
    FAIL() << "a write landed after the guard key was created again";
  } catch (const StoreError &e) {
    EXPECT_EQ(e.code(), StoreErrorCode::kConflict);
    EXPECT_EQ(std::string(e.what()).rfind("leadership", 0), 0u) << e.what();
  }
  EXPECT_EQ(store->get(vm("a"))->object["n"], 1);
  store->set_write_guard(std::nullopt);
  store->put(vm("a"), json{{"n", 3}});
  EXPECT_EQ(store->get(vm("a"))->object["n"], 3);
}

// Writes `pem` to `path` and returns the path.
std::string write_pem(const std::string &path, const std::string &pem) {
  std::ofstream(path) << pem;
  return path;
}

TEST_F(EtcdStoreTest, MutualTlsAdmitsOurCertificateOnly) {
  hal::testing::TempDir pki_dir("hal-etcd-pki-");
  const std::string dir = pki_dir.str();
  auto ca = pki::create_ca("etcd test CA", std::chrono::hours(1));
  pki::CertificateRequest server;
  server.common_name = "etcd";
  server.ip_addresses = {"127.0.0.1"};
  server.server_auth = true;
  server.client_auth = true;  // members use it to talk to each other too
  auto serving = pki::issue(ca, server);
  auto client = pki::issue(ca, pki::controller_request());
  hal::testing::EtcdClusterOptions options;
  options.cert_file = write_pem(dir + "/server.crt", serving.certificate_pem);
  options.key_file = write_pem(dir + "/server.key", serving.key_pem);
  options.client_ca_file = write_pem(dir + "/ca.crt", ca.certificate_pem);
  EtcdCluster cluster(options);

  StoreOptions tls{dir + "/ca.crt", write_pem(dir + "/client.crt", client.certificate_pem),
                   write_pem(dir + "/client.key", client.key_pem)};
  auto store = open_store(cluster.url(), tls);
  store->put(vm("a"), json{{"n", 1}});
  EXPECT_EQ(store->get(vm("a"))->object["n"], 1);

  EtcdStoreOptions no_client_cert = parse_etcd_url(cluster.url());
  no_client_cert.client.ca_file = dir + "/ca.crt";
  no_client_cert.client.retry_budget = 2s;
  EXPECT_THROW(EtcdStore{no_client_cert}, StoreError);
  EtcdStoreOptions plaintext = parse_etcd_url(cluster.url());
  plaintext.client.retry_budget = 2s;
  EXPECT_THROW(EtcdStore{plaintext}, StoreError);
}

}  // namespace
}  // namespace hal::controller
