// The service layer against a real SQLite store in a temporary directory.
#include "service/service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "core/ipam.h"
#include "service/json.h"
#include "store/interface_keys.h"

namespace wgate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const Actor kRoot{"cli:root"};

IpAddress ip(const char* text) { return *IpAddress::parse(text); }
Prefix pfx(const char* text) { return *Prefix::parse(text); }

struct KeyPair {
  WgKey private_key;
  WgKey public_key;
};
KeyPair key_pair() {
  WgKey p = *WgKey::generate_private();
  return {p, *p.public_key()};
}

std::string config_text(const std::string& dir, const std::string& pool_lines) {
  return R"(
[server]
endpoint = "vpn.example.com"
store = ")" + dir + R"(/db/wgate.db"
state_dir = ")" + dir + R"(/state"

[pool]
)" + pool_lines + R"(

[networks]
vpc-a = ["10.1.0.0/16"]
vpc-b = ["10.2.0.0/16"]

[groups.dev]
networks = ["vpc-a"]
interface = "wgt-dev"
port = 51820
table = 1001
key_ttl = "12h"

[groups.ops]
networks = ["vpc-a", "vpc-b"]
interface = "wgt-ops"
port = 51821
table = 1002
)";
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A WireGuard backend that only reports devices set up by the test.
class FakeWg : public WgBackend {
 public:
  std::map<std::string, WgDeviceState> devices;
  std::map<std::string, std::string> broken;  // device name -> error from get_device

  const char* kind() const override { return "fake"; }
  Result<bool> device_exists(const std::string& name) override {
    return devices.count(name) > 0 || broken.count(name) > 0;
  }
  Result<bool> ensure_device(const std::string&) override { return make_error("status must not create devices"); }
  Result<Readiness> prepare_device(const std::string&) override {
    return make_error("status must not create devices");
  }
  Status remove_device(const std::string&) override { return make_error("status must not remove devices"); }
  Result<WgDeviceState> get_device(const std::string& name) override {
    if (auto b = broken.find(name); b != broken.end()) return make_error(b->second);
    return devices.at(name);
  }
  Status set_device(const WgDeviceUpdate&) override { return make_error("status must not change devices"); }
};

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wgate-service-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    load("ipv4 = \"10.100.0.0/24\"\nper_user = 4");
    auto init = service::initialize(config_);
    ASSERT_TRUE(init.ok()) << init.error().message;
    auto s = open_sqlite_store(config_.server.store_path);
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // (Re)loads the config with other [pool] lines.
  void load(const std::string& pool_lines) {
    auto c = parse_config(config_text(dir_, pool_lines), "service-test.toml");
    ASSERT_TRUE(c.ok()) << c.error().message;
    config_ = *c;
  }

  service::PersonView add_user(const std::string& name, std::vector<std::string> groups, UnixTime now = 100) {
    auto p = service::add_user(*store_, config_, {name, name + "@example.com", std::move(groups)}, now, kRoot);
    EXPECT_TRUE(p.ok()) << p.error().message;
    return p.ok() ? *p : service::PersonView{};
  }

  Result<service::KeyView> add_key(const std::string& user, const WgKey& public_key, const std::string& device,
                                   std::optional<std::string> group = std::nullopt, UnixTime now = 200,
                                   std::optional<std::string> ttl = std::nullopt) {
    service::AddKeyRequest r;
    r.user = user;
    r.public_key = public_key.to_base64();
    r.device = device;
    r.group = std::move(group);
    r.ttl = std::move(ttl);
    return service::add_key(*store_, config_, r, now, kRoot);
  }

  // The gateway's interface key, as the daemon creates it.
  WgKey make_interface_key(const std::string& interface) {
    auto k = InterfaceKeys(config_.server.state_dir).create_or_adopt(interface, std::nullopt);
    EXPECT_TRUE(k.ok()) << k.error().message;
    return k.ok() ? *k.value().public_key() : WgKey();
  }

  size_t audit_count() { return store_->audit_log(10000)->size(); }

  std::string dir_;
  Config config_;
  std::unique_ptr<Store> store_;
};

// --- setup ---------------------------------------------------------------------

TEST_F(ServiceTest, InitializeCreatesStoreAndStateDirectoryPrivately) {
  store_.reset();
  std::filesystem::remove_all(dir_);
  ASSERT_TRUE(std::filesystem::create_directory(dir_));
  load("ipv4 = \"10.100.0.0/24\"");

  // Nothing exists yet: the other commands refuse and create nothing.
  auto before = open_sqlite_store(config_.server.store_path);
  ASSERT_FALSE(before.ok());
  EXPECT_THAT(before.error().message, HasSubstr("wgate init"));
  EXPECT_THAT(files_in(dir_), IsEmpty());

  auto report = service::initialize(config_);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_TRUE(report->created_store);
  EXPECT_EQ(report->store_path, dir_ + "/db/wgate.db");
  EXPECT_EQ(report->state_dir, dir_ + "/state");
  struct stat st {};
  ASSERT_EQ(stat(report->store_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(stat((dir_ + "/db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(stat(report->state_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_THAT(files_in(report->state_dir), IsEmpty());  // no interface key: only the daemon makes those

  // Then the store opens, and a second init keeps what is there.
  auto s = open_sqlite_store(config_.server.store_path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  store_ = std::move(s).value();
  add_user("alice", {"dev"});
  auto again = service::initialize(config_);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(again->created_store);
  EXPECT_EQ(store_->list_users()->size(), 1u);
}

TEST_F(ServiceTest, AddressPlanComesFromTheConfig) {
  load("ipv4 = \"10.100.0.0/23\"\nper_user = 8");
  AddressPlan plan = service::address_plan(config_);
  EXPECT_EQ(plan.pool, pfx("10.100.0.0/23"));
  EXPECT_EQ(plan.per_user, 8u);
}

// --- people --------------------------------------------------------------------

TEST_F(ServiceTest, AddUserLeasesABlockAndJoinsGroups) {
  auto alice = add_user("alice", {"ops", "dev"});
  EXPECT_EQ(alice.user.name, "alice");
  EXPECT_EQ(alice.user.email, "alice@example.com");
  EXPECT_EQ(alice.block, pfx("10.100.0.4/30"));
  EXPECT_THAT(alice.groups, ElementsAre("dev", "ops"));
  EXPECT_THAT(alice.devices, IsEmpty());
  auto bob = add_user("bob", {});
  EXPECT_EQ(bob.block, pfx("10.100.0.8/30"));
  EXPECT_THAT(bob.groups, IsEmpty());
}

TEST_F(ServiceTest, AddUserRejectsBadInputAndStoresNothing) {
  auto unknown = service::add_user(*store_, config_, {"x", "", {"dev", "nope"}}, 100, kRoot);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no group 'nope' in the config (groups: dev, ops)");
  auto twice = service::add_user(*store_, config_, {"x", "", {"dev", "dev"}}, 100, kRoot);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "group 'dev' is given twice");
  auto bad_name = service::add_user(*store_, config_, {"x y", "", {"dev"}}, 100, kRoot);
  ASSERT_FALSE(bad_name.ok());
  EXPECT_THAT(bad_name.error().message, HasSubstr("not a valid user name"));
  auto bad_email = service::add_user(*store_, config_, {"x", "a\tb", {"dev"}}, 100, kRoot);
  ASSERT_FALSE(bad_email.ok());
  EXPECT_THAT(bad_email.error().message, HasSubstr("email"));

  EXPECT_TRUE(store_->list_users()->empty());
  EXPECT_TRUE(store_->list_memberships()->empty());
  EXPECT_TRUE(store_->current_leases()->empty());
  EXPECT_EQ(audit_count(), 0u);

  add_user("x", {"dev"});
  auto dup = service::add_user(*store_, config_, {"x", "", {"ops"}}, 100, kRoot);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().message, "user 'x' already exists");
  EXPECT_EQ(store_->list_memberships()->size(), 1u);
}

TEST_F(ServiceTest, PoolExhaustionNamesThePool) {
  load("ipv4 = \"10.100.0.0/28\"\nper_user = 4");  // .4/30 and .8/30
  add_user("a", {});
  add_user("b", {});
  auto c = service::add_user(*store_, config_, {"c", "", {"dev"}}, 100, kRoot);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "cannot add user 'c': address pool 10.100.0.0/28 is exhausted (2 blocks of 4 addresses, all leased)");
  EXPECT_EQ(store_->list_users()->size(), 2u);
}

TEST_F(ServiceTest, DisableAndEnable) {
  add_user("alice", {"dev"});
  ASSERT_TRUE(add_key("alice", key_pair().public_key, "laptop").ok());
  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "alice", true, 300, kRoot).ok());
  auto people = service::list_people(*store_, config_);
  ASSERT_TRUE(people.ok());
  ASSERT_EQ(people->size(), 1u);
  EXPECT_TRUE((*people)[0].user.disabled);
  EXPECT_FALSE((*people)[0].block);
  ASSERT_EQ((*people)[0].devices.size(), 1u);
  EXPECT_FALSE((*people)[0].devices[0].address);  // no block, no address

  auto twice = service::set_user_disabled(*store_, config_, "alice", true, 310, kRoot);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "user 'alice' is already disabled");

  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "alice", false, 400, kRoot).ok());
  people = service::list_people(*store_, config_);
  ASSERT_TRUE(people.ok());
  EXPECT_EQ((*people)[0].block, pfx("10.100.0.4/30"));
  EXPECT_EQ((*people)[0].devices[0].address, ip("10.100.0.4"));
  auto nobody = service::set_user_disabled(*store_, config_, "zed", true, 500, kRoot);
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.error().message, "no user 'zed'");
}

TEST_F(ServiceTest, Memberships) {
  add_user("alice", {"dev"});
  auto unknown = service::add_membership(*store_, config_, "alice", "nope", 200, kRoot);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.error().message, HasSubstr("no group 'nope' in the config"));
  ASSERT_TRUE(service::add_membership(*store_, config_, "alice", "ops", 200, kRoot).ok());
  auto twice = service::add_membership(*store_, config_, "alice", "ops", 210, kRoot);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message, "user 'alice' is already in group 'ops'");
  ASSERT_TRUE(service::remove_membership(*store_, config_, "alice", "dev", 220, kRoot).ok());
  auto people = service::list_people(*store_, config_);
  ASSERT_TRUE(people.ok());
  EXPECT_THAT((*people)[0].groups, ElementsAre("ops"));

  // A group retired from the config can still be cleaned up.
  ASSERT_TRUE(store_->add_membership("alice", "retired", kRoot, 230).ok());
  EXPECT_TRUE(service::remove_membership(*store_, config_, "alice", "retired", 240, kRoot).ok());
  auto not_member = service::remove_membership(*store_, config_, "alice", "dev", 250, kRoot);
  ASSERT_FALSE(not_member.ok());
  EXPECT_EQ(not_member.error().message, "user 'alice' is not in group 'dev'");
}

TEST_F(ServiceTest, ListPeopleAndGroups) {
  add_user("bob", {"dev"});
  add_user("alice", {"ops", "dev"});
  ASSERT_TRUE(add_key("alice", key_pair().public_key, "laptop", "dev").ok());
  ASSERT_TRUE(add_key("alice", key_pair().public_key, "phone", "ops").ok());

  auto people = service::list_people(*store_, config_);
  ASSERT_TRUE(people.ok());
  ASSERT_EQ(people->size(), 2u);
  const auto& alice = (*people)[0];  // by name
  EXPECT_EQ(alice.user.name, "alice");
  EXPECT_EQ(alice.block, pfx("10.100.0.8/30"));
  ASSERT_EQ(alice.devices.size(), 2u);
  EXPECT_EQ(alice.devices[0].device.name, "laptop");
  EXPECT_EQ(alice.devices[0].address, ip("10.100.0.8"));
  EXPECT_EQ(alice.devices[1].device.name, "phone");
  EXPECT_EQ(alice.devices[1].address, ip("10.100.0.9"));
  EXPECT_EQ((*people)[1].user.name, "bob");
  EXPECT_THAT((*people)[1].devices, IsEmpty());

  auto json = service::to_json(alice);
  EXPECT_EQ(json["block"], "10.100.0.8/30");
  EXPECT_EQ(json["devices"][1]["address"], "10.100.0.9");

  auto groups = service::list_groups(*store_, config_);
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[0].name, "dev");
  EXPECT_EQ((*groups)[0].interface, "wgt-dev");
  EXPECT_EQ((*groups)[0].port, 51820);
  EXPECT_EQ((*groups)[0].table, 1001u);
  EXPECT_THAT((*groups)[0].members, ElementsAre("alice", "bob"));
  EXPECT_THAT((*groups)[1].networks, ElementsAre("vpc-a", "vpc-b"));
  EXPECT_THAT((*groups)[1].members, ElementsAre("alice"));
}

TEST_F(ServiceTest, RelocateLeasesFollowsTheConfig) {
  load("ipv4 = \"10.100.0.0/24\"\nper_user = 1");
  add_user("alice", {"dev"});  // .1
  add_user("bob", {"dev"});    // .2
  EXPECT_TRUE(service::relocate_leases(*store_, config_, 150, kRoot)->empty());

  load("ipv4 = \"10.100.0.0/24\"\nper_user = 4");
  auto moves = service::relocate_leases(*store_, config_, 200, kRoot);
  ASSERT_TRUE(moves.ok()) << moves.error().message;
  ASSERT_EQ(moves->size(), 2u);
  EXPECT_EQ((*moves)[0].user, "alice");
  EXPECT_EQ((*moves)[0].to, pfx("10.100.0.4/30"));
  EXPECT_EQ(service::to_json((*moves)[1]),
            nlohmann::json({{"user", "bob"}, {"from", "10.100.0.2/32"}, {"to", "10.100.0.8/30"}}));
  auto people = service::list_people(*store_, config_);
  ASSERT_TRUE(people.ok());
  for (const auto& p : *people) EXPECT_TRUE(p.block && block_fits(*p.block, config_.user_pool(), 4));
  EXPECT_TRUE(service::relocate_leases(*store_, config_, 300, kRoot)->empty());
}

// --- devices and keys --------------------------------------------------------

TEST_F(ServiceTest, AddKeyDefaultsToTheOnlyGroupTheGroupsTtlAndTheDefaultDevice) {
  add_user("alice", {"dev"});
  const KeyPair kp = key_pair();
  service::AddKeyRequest r;
  r.user = "alice";
  r.public_key = kp.public_key.to_base64();
  auto k = service::add_key(*store_, config_, r, 1000, kRoot);
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(k->key.group, "dev");
  EXPECT_EQ(k->key.expires_at, 1000 + 12 * 3600);  // the group's key_ttl
  EXPECT_EQ(k->user, "alice");
  EXPECT_EQ(k->device, "default");
  EXPECT_EQ(k->address, ip("10.100.0.4"));
  EXPECT_EQ(k->state, KeyState::never_used);
  EXPECT_EQ(k->key.public_key, kp.public_key);

  auto json = service::to_json(*k);
  EXPECT_EQ(json["device"], "default");
  EXPECT_EQ(json["address"], "10.100.0.4");
  EXPECT_EQ(json["state"], "never-used");
  EXPECT_EQ(json["active"], true);
}

TEST_F(ServiceTest, AddKeyTtlAndGroupChoices) {
  add_user("alice", {"dev", "ops"});
  // Two groups: the request must say which.
  auto which = add_key("alice", key_pair().public_key, "laptop");
  ASSERT_FALSE(which.ok());
  EXPECT_EQ(which.error().message, "user 'alice' is in 2 groups; say which the key connects to (--group)");
  // ops has no key_ttl: no expiry, unless the request gives one.
  auto ops = add_key("alice", key_pair().public_key, "laptop", "ops", 1000);
  ASSERT_TRUE(ops.ok()) << ops.error().message;
  EXPECT_EQ(ops->key.expires_at, 0);
  auto ttl = add_key("alice", key_pair().public_key, "phone", "ops", 1000, "90m");
  ASSERT_TRUE(ttl.ok()) << ttl.error().message;
  EXPECT_EQ(ttl->key.expires_at, 1000 + 90 * 60);
  auto dev = add_key("alice", key_pair().public_key, "tablet", "dev", 1000, "7d");
  ASSERT_TRUE(dev.ok()) << dev.error().message;
  EXPECT_EQ(dev->key.expires_at, 1000 + 7 * 86400);  // --ttl wins over the group's

  add_user("nogroup", {});
  auto none = add_key("nogroup", key_pair().public_key, "laptop");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "user 'nogroup' is in 0 groups; say which the key connects to (--group)");
}

TEST_F(ServiceTest, AddKeyRejectsBadInputAndStoresNothing) {
  add_user("alice", {"dev"});
  add_user("bob", {"ops"});
  const WgKey good = key_pair().public_key;
  service::AddKeyRequest bad_text;
  bad_text.user = "alice";
  for (const char* text : {"abc=", "", "not base64 at all!", "AAAA"}) {
    bad_text.public_key = text;
    auto r = service::add_key(*store_, config_, bad_text, 200, kRoot);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_THAT(r.error().message, HasSubstr("public key"));
  }
  auto unknown_group = add_key("alice", good, "laptop", "nope");
  ASSERT_FALSE(unknown_group.ok());
  EXPECT_EQ(unknown_group.error().message, "no group 'nope' in the config");
  auto not_member = add_key("alice", good, "laptop", "ops");
  ASSERT_FALSE(not_member.ok());
  EXPECT_EQ(not_member.error().message, "user 'alice' is not a member of group 'ops'");
  for (const char* ttl : {"soon", "-1h", "12x", "99999d"}) {
    auto bad_ttl = add_key("alice", good, "laptop", "dev", 200, std::string(ttl));
    ASSERT_FALSE(bad_ttl.ok()) << ttl;
    EXPECT_THAT(bad_ttl.error().message, HasSubstr("ttl: '" + std::string(ttl) + "' is not a duration"));
  }
  auto no_user = add_key("zed", good, "laptop", "dev");
  ASSERT_FALSE(no_user.ok());
  EXPECT_EQ(no_user.error().message, "no user 'zed'");
  auto bad_device = add_key("alice", good, "my laptop", "dev");
  ASSERT_FALSE(bad_device.ok());
  EXPECT_THAT(bad_device.error().message, HasSubstr("not a valid device name"));

  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "alice", true, 300, kRoot).ok());
  auto disabled = add_key("alice", good, "laptop", "dev", 310);
  ASSERT_FALSE(disabled.ok());
  EXPECT_EQ(disabled.error().message, "user 'alice' is disabled");
  auto disabled_default_group = add_key("alice", good, "laptop", std::nullopt, 310);
  ASSERT_FALSE(disabled_default_group.ok());

  EXPECT_TRUE(store_->list_keys()->empty());
  EXPECT_TRUE(store_->list_devices(true)->empty());
  // Only the user adds and the disable were audited.
  EXPECT_EQ(audit_count(), 3u);
}

TEST_F(ServiceTest, DevicesKeepTheirAddressAcrossKeys) {
  add_user("alice", {"dev", "ops"});
  auto laptop = add_key("alice", key_pair().public_key, "laptop", "dev");
  auto phone = add_key("alice", key_pair().public_key, "phone", "ops");
  ASSERT_TRUE(laptop.ok() && phone.ok());
  EXPECT_EQ(laptop->address, ip("10.100.0.4"));
  EXPECT_EQ(phone->address, ip("10.100.0.5"));
  ASSERT_TRUE(service::revoke_key(*store_, laptop->key.id, 300, kRoot).ok());
  auto renewed = add_key("alice", key_pair().public_key, "laptop", "dev", 310);
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed->address, ip("10.100.0.4"));
  EXPECT_EQ(renewed->key.device_id, laptop->key.device_id);
}

TEST_F(ServiceTest, SlotExhaustionSaysWhatToDo) {
  load("ipv4 = \"10.100.0.0/24\"\nper_user = 2");
  add_user("alice", {"dev"});
  ASSERT_TRUE(add_key("alice", key_pair().public_key, "laptop").ok());
  ASSERT_TRUE(add_key("alice", key_pair().public_key, "phone").ok());
  auto third = add_key("alice", key_pair().public_key, "tablet");
  ASSERT_FALSE(third.ok());
  EXPECT_THAT(third.error().message, HasSubstr("wgate device remove alice <device>"));
  ASSERT_TRUE(service::remove_device(*store_, "alice", "phone", 300, kRoot).ok());
  auto tablet = add_key("alice", key_pair().public_key, "tablet", std::nullopt, 310);
  ASSERT_TRUE(tablet.ok()) << tablet.error().message;
  EXPECT_EQ(tablet->address, ip("10.100.0.3"));  // the phone's old slot (block 10.100.0.2/31)
}

TEST_F(ServiceTest, RevokeRemoveAndListKeys) {
  add_user("alice", {"dev"});
  add_user("bob", {"dev"});
  auto a1 = add_key("alice", key_pair().public_key, "laptop");
  auto a2 = add_key("alice", key_pair().public_key, "phone");
  auto b1 = add_key("bob", key_pair().public_key, "laptop");
  ASSERT_TRUE(a1.ok() && a2.ok() && b1.ok());

  ASSERT_TRUE(service::revoke_key(*store_, a1->key.id, 300, kRoot).ok());
  auto twice = service::revoke_key(*store_, a1->key.id, 310, kRoot);
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.error().message, HasSubstr("already revoked"));
  auto unknown = service::revoke_key(*store_, 999, 310, kRoot);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "no key 999");

  ASSERT_TRUE(service::remove_device(*store_, "alice", "phone", 400, kRoot).ok());
  auto gone = service::remove_device(*store_, "alice", "phone", 410, kRoot);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().message, "user 'alice' has no device 'phone'");

  auto all = service::list_keys(*store_, config_, {}, 500);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].state, KeyState::revoked);
  EXPECT_EQ((*all)[0].address, ip("10.100.0.4"));  // the laptop still holds its slot
  EXPECT_EQ((*all)[1].state, KeyState::revoked);   // revoked with its device
  EXPECT_EQ((*all)[1].device, "phone");
  EXPECT_FALSE((*all)[1].address);                 // a removed device has no address
  EXPECT_EQ((*all)[2].user, "bob");
  EXPECT_EQ((*all)[2].state, KeyState::never_used);
  EXPECT_EQ((*all)[2].address, ip("10.100.0.8"));

  auto bobs = service::list_keys(*store_, config_, {std::string("bob")}, 500);
  ASSERT_TRUE(bobs.ok());
  ASSERT_EQ(bobs->size(), 1u);
  EXPECT_EQ((*bobs)[0].key.id, b1->key.id);
  // Expiry is judged at the time asked about.
  auto later = service::list_keys(*store_, config_, {std::string("bob")}, 200 + 12 * 3600);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ((*later)[0].state, KeyState::expired);
}

// --- client configs ------------------------------------------------------------

TEST_F(ServiceTest, ClientConfigNeedsTheInterfaceKeyAndNeverCreatesIt) {
  add_user("alice", {"dev"});
  auto k = add_key("alice", key_pair().public_key, "laptop");
  ASSERT_TRUE(k.ok());
  auto c = service::client_config(*store_, config_, k->key.id, std::nullopt, 300);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error().message, HasSubstr("interface wgt-dev has no key yet"));
  EXPECT_THAT(c.error().message, HasSubstr("wgate server"));
  EXPECT_FALSE(std::filesystem::exists(config_.server.state_dir + "/wgt-dev.key"));
  EXPECT_THAT(files_in(config_.server.state_dir), IsEmpty());

  // Not even when the state directory is missing altogether.
  std::filesystem::remove_all(config_.server.state_dir);
  auto no_dir = service::client_config(*store_, config_, k->key.id, std::nullopt, 300);
  ASSERT_FALSE(no_dir.ok());
  EXPECT_THAT(no_dir.error().message, HasSubstr("has no key yet"));
  EXPECT_FALSE(std::filesystem::exists(config_.server.state_dir));
}

TEST_F(ServiceTest, ClientConfigForEachDevice) {
  add_user("alice", {"dev", "ops"});
  const KeyPair laptop = key_pair();
  auto k1 = add_key("alice", laptop.public_key, "laptop", "dev", 200);
  auto k2 = add_key("alice", key_pair().public_key, "phone", "ops", 200);
  ASSERT_TRUE(k1.ok() && k2.ok());
  const WgKey dev_gateway = make_interface_key("wgt-dev");
  const WgKey ops_gateway = make_interface_key("wgt-ops");
  std::ifstream before_file(config_.server.state_dir + "/wgt-dev.key");
  std::string before((std::istreambuf_iterator<char>(before_file)), std::istreambuf_iterator<char>());

  auto c = service::client_config(*store_, config_, k1->key.id, std::nullopt, 300);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->group, "dev");
  EXPECT_EQ(c->key.device, "laptop");
  EXPECT_THAT(c->text, HasSubstr("# wgate: key " + std::to_string(k1->key.id) + " of alice, device laptop, group dev"));
  EXPECT_THAT(c->text, HasSubstr("# PrivateKey = <the private key of " + laptop.public_key.to_base64()));
  EXPECT_THAT(c->text, HasSubstr("\nAddress = 10.100.0.4/32\n"));
  EXPECT_THAT(c->text, HasSubstr("\nPublicKey = " + dev_gateway.to_base64() + "\n"));
  EXPECT_THAT(c->text, HasSubstr("\nEndpoint = vpn.example.com:51820\n"));
  EXPECT_THAT(c->text, HasSubstr("\nAllowedIPs = 10.1.0.0/16\n"));
  EXPECT_THAT(c->text, Not(HasSubstr("\nPrivateKey")));

  auto phone = service::client_config(*store_, config_, k2->key.id, std::nullopt, 300);
  ASSERT_TRUE(phone.ok()) << phone.error().message;
  EXPECT_THAT(phone->text, HasSubstr("\nAddress = 10.100.0.5/32\n"));
  EXPECT_THAT(phone->text, HasSubstr("\nPublicKey = " + ops_gateway.to_base64() + "\n"));
  EXPECT_THAT(phone->text, HasSubstr("\nAllowedIPs = 10.1.0.0/16, 10.2.0.0/16\n"));
  auto json = service::to_json(*phone);
  EXPECT_EQ(json["address"], "10.100.0.5");
  EXPECT_EQ(json["device"], "phone");

  // The user's own private key is filled in (trailing newline as in a file).
  auto filled = service::client_config(*store_, config_, k1->key.id, laptop.private_key.to_base64() + "\n", 300);
  ASSERT_TRUE(filled.ok()) << filled.error().message;
  EXPECT_THAT(filled->text, HasSubstr("\nPrivateKey = " + laptop.private_key.to_base64() + "\n"));

  // The gateway key was read, not rewritten.
  std::ifstream after_file(config_.server.state_dir + "/wgt-dev.key");
  std::string after((std::istreambuf_iterator<char>(after_file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, before);
}

TEST_F(ServiceTest, ClientConfigRefusesAPrivateKeyThatIsNotTheKeys) {
  add_user("alice", {"dev"});
  auto k = add_key("alice", key_pair().public_key, "laptop");
  ASSERT_TRUE(k.ok());
  make_interface_key("wgt-dev");
  auto other = service::client_config(*store_, config_, k->key.id, key_pair().private_key.to_base64(), 300);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().message,
            "the private key given is not the private half of key " + std::to_string(k->key.id));
  EXPECT_THAT(other.error().message, Not(HasSubstr("=")));  // no key material in errors
  auto garbage = service::client_config(*store_, config_, k->key.id, std::string("not a key"), 300);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().message, "private key: not a base64 WireGuard key");
}

TEST_F(ServiceTest, ClientConfigOnlyForUsableKeysWithAnAddress) {
  add_user("alice", {"dev"});
  add_user("bob", {"dev"});
  make_interface_key("wgt-dev");
  auto revoked = add_key("alice", key_pair().public_key, "laptop");
  auto expiring = add_key("alice", key_pair().public_key, "phone", "dev", 200, "1h");
  auto bobs = add_key("bob", key_pair().public_key, "laptop");
  ASSERT_TRUE(revoked.ok() && expiring.ok() && bobs.ok());
  ASSERT_TRUE(service::revoke_key(*store_, revoked->key.id, 250, kRoot).ok());

  auto r = service::client_config(*store_, config_, revoked->key.id, std::nullopt, 300);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "key " + std::to_string(revoked->key.id) + " is revoked");
  auto e = service::client_config(*store_, config_, expiring->key.id, std::nullopt, 200 + 3600);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message, "key " + std::to_string(expiring->key.id) + " is expired");
  auto missing = service::client_config(*store_, config_, 999, std::nullopt, 300);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "no key 999");

  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "bob", true, 300, kRoot).ok());
  auto disabled = service::client_config(*store_, config_, bobs->key.id, std::nullopt, 310);
  ASSERT_FALSE(disabled.ok());
  EXPECT_THAT(disabled.error().message, HasSubstr("holds no address"));
}

// --- lookups -------------------------------------------------------------------

TEST_F(ServiceTest, WhoisNamesPersonAndDeviceNowAndInThePast) {
  add_user("alice", {"dev"}, 100);                                          // 10.100.0.4/30
  auto laptop = add_key("alice", key_pair().public_key, "laptop", "dev", 200);  // slot 0: .4
  auto phone = add_key("alice", key_pair().public_key, "phone", "dev", 210);    // slot 1: .5
  ASSERT_TRUE(laptop.ok() && phone.ok());
  ASSERT_TRUE(service::remove_device(*store_, "alice", "laptop", 300, kRoot).ok());
  auto tablet = add_key("alice", key_pair().public_key, "tablet", "dev", 400);  // slot 0 again
  ASSERT_TRUE(tablet.ok());

  auto now = service::whois(*store_, config_, "10.100.0.4", 500);
  ASSERT_TRUE(now.ok()) << now.error().message;
  ASSERT_TRUE(now->user);
  EXPECT_EQ(now->user->name, "alice");
  EXPECT_EQ(now->block, pfx("10.100.0.4/30"));
  ASSERT_EQ(now->devices.size(), 1u);
  EXPECT_EQ(now->devices[0].name, "tablet");
  ASSERT_EQ(now->keys.size(), 1u);
  EXPECT_EQ(now->keys[0].id, tablet->key.id);

  // Before the laptop was removed, its slot was the laptop's.
  auto past = service::whois(*store_, config_, "10.100.0.4", 250);
  ASSERT_TRUE(past.ok());
  ASSERT_TRUE(past->user);
  EXPECT_EQ(past->user->name, "alice");
  ASSERT_EQ(past->devices.size(), 1u);
  EXPECT_EQ(past->devices[0].name, "laptop");
  ASSERT_EQ(past->keys.size(), 1u);
  EXPECT_EQ(past->keys[0].id, laptop->key.id);  // valid then, revoked since
  auto json = service::to_json(*past);
  EXPECT_EQ(json["user"], "alice");
  EXPECT_EQ(json["device"], "laptop");
  EXPECT_EQ(json["block"], "10.100.0.4/30");

  // Between removal and reuse the slot was empty: the person, no device.
  auto between = service::whois(*store_, config_, "10.100.0.4", 350);
  ASSERT_TRUE(between.ok());
  ASSERT_TRUE(between->user);
  EXPECT_TRUE(between->devices.empty());
  EXPECT_THAT(between->keys, IsEmpty());

  // Another slot of the same block: another device.
  auto other = service::whois(*store_, config_, "10.100.0.5", 500);
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->devices.size(), 1u);
  EXPECT_EQ(other->devices[0].name, "phone");
  // Before the block was leased, and outside any block: nobody.
  auto before = service::whois(*store_, config_, "10.100.0.4", 50);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(before->user);
  ASSERT_EQ(before->history.size(), 1u);  // the history is there all the same
  EXPECT_EQ(before->history[0].user, "alice");
  auto nobody = service::whois(*store_, config_, "10.100.0.40", 500);
  ASSERT_TRUE(nobody.ok());
  EXPECT_FALSE(nobody->user);
  EXPECT_THAT(nobody->history, IsEmpty());

  auto bad = service::whois(*store_, config_, "10.100.0.300", 500);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("address"));
}

TEST_F(ServiceTest, WhoisAcrossPeopleWhenABlockIsReused) {
  load("ipv4 = \"10.100.0.0/28\"\nper_user = 4");
  add_user("alice", {"dev"}, 100);  // .4/30
  add_user("bob", {"dev"}, 110);    // .8/30
  ASSERT_TRUE(add_key("alice", key_pair().public_key, "laptop", "dev", 120).ok());
  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "alice", true, 200, kRoot).ok());
  add_user("carol", {"dev"}, 300);  // alice's block: the only free one
  ASSERT_TRUE(add_key("carol", key_pair().public_key, "phone", "dev", 310).ok());

  auto then = service::whois(*store_, config_, "10.100.0.4", 150);
  ASSERT_TRUE(then.ok());
  ASSERT_TRUE(then->user); ASSERT_EQ(then->devices.size(), 1u);
  EXPECT_EQ(then->user->name, "alice");
  EXPECT_EQ(then->devices[0].name, "laptop");
  auto now = service::whois(*store_, config_, "10.100.0.4", 400);
  ASSERT_TRUE(now.ok());
  ASSERT_TRUE(now->user); ASSERT_EQ(now->devices.size(), 1u);
  EXPECT_EQ(now->user->name, "carol");
  EXPECT_EQ(now->devices[0].name, "phone");
  ASSERT_EQ(now->history.size(), 2u);
  EXPECT_EQ(now->history[0].user, "alice");
  EXPECT_EQ(now->history[0].until, std::optional<UnixTime>(200));
  EXPECT_EQ(now->history[1].user, "carol");
}

TEST_F(ServiceTest, PlanHasAPeerPerDeviceAtItsAddress) {
  add_user("alice", {"dev", "ops"});
  auto laptop = add_key("alice", key_pair().public_key, "laptop", "dev");
  auto phone = add_key("alice", key_pair().public_key, "phone", "ops");
  ASSERT_TRUE(laptop.ok() && phone.ok());
  auto plan = service::plan(*store_, config_, 300);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->interfaces.size(), 2u);
  const PlannedInterface& dev = plan->interfaces[0];
  EXPECT_EQ(dev.name, "wgt-dev");
  ASSERT_EQ(dev.peers.size(), 1u);
  EXPECT_EQ(dev.peers[0].public_key, laptop->key.public_key);
  EXPECT_EQ(dev.peers[0].allowed_ip, pfx("10.100.0.4/32"));
  EXPECT_EQ(dev.peers[0].device, "laptop");
  EXPECT_EQ(dev.peers[0].user, "alice");
  ASSERT_EQ(plan->interfaces[1].peers.size(), 1u);
  EXPECT_EQ(plan->interfaces[1].peers[0].allowed_ip, pfx("10.100.0.5/32"));
  EXPECT_THAT(plan->warnings, IsEmpty());
  // A removed device's peer is gone from the plan.
  ASSERT_TRUE(service::remove_device(*store_, "alice", "phone", 400, kRoot).ok());
  plan = service::plan(*store_, config_, 500);
  ASSERT_TRUE(plan.ok());
  EXPECT_THAT(plan->interfaces[1].peers, IsEmpty());
}

TEST_F(ServiceTest, AuditLogShowsEveryChangeWithItsActor) {
  add_user("alice", {"dev"});
  auto k = add_key("alice", key_pair().public_key, "laptop");
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(service::revoke_key(*store_, k->key.id, 300, Actor{"cli:bob"}).ok());
  auto log = service::audit_log(*store_, 10);
  ASSERT_TRUE(log.ok());
  std::vector<std::string> actions;
  for (const auto& r : *log) actions.push_back(r.action);
  EXPECT_THAT(actions, ElementsAre("user.add", "key.add", "key.revoke"));
  EXPECT_EQ(log->back().actor, "cli:bob");
  EXPECT_EQ(service::to_json(log->back())["action"], "key.revoke");
  auto tail = service::audit_log(*store_, 1);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].action, "key.revoke");
}

TEST_F(ServiceTest, StatusNamesTheOwnerOfEachPeer) {
  add_user("alice", {"dev"});
  auto k = add_key("alice", key_pair().public_key, "laptop");
  ASSERT_TRUE(k.ok());
  FakeWg wg;
  WgDeviceState dev;
  dev.name = "wgt-dev";
  dev.public_key = key_pair().public_key;
  dev.listen_port = 51820;
  WgPeerState known;
  known.public_key = k->key.public_key;
  known.allowed_ips = {pfx("10.100.0.4/32")};
  known.last_handshake_sec = 250;
  known.rx_bytes = 10;
  WgPeerState stranger;
  stranger.public_key = key_pair().public_key;
  dev.peers = {known, stranger};
  wg.devices["wgt-dev"] = dev;
  wg.broken["wgt-ops"] = "socket gone";

  auto s = service::status(*store_, config_, wg);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->backend, "fake");
  ASSERT_EQ(s->interfaces.size(), 2u);
  const auto& d = s->interfaces[0];
  EXPECT_EQ(d.name, "wgt-dev");
  EXPECT_EQ(d.group, "dev");
  EXPECT_TRUE(d.up);
  EXPECT_EQ(d.listen_port, 51820);
  ASSERT_EQ(d.peers.size(), 2u);
  EXPECT_EQ(d.peers[0].key_id, std::optional<int64_t>(k->key.id));
  EXPECT_EQ(d.peers[0].user, "alice");
  EXPECT_EQ(d.peers[0].device, "laptop");
  EXPECT_FALSE(d.peers[1].key_id);
  EXPECT_EQ(d.peers[1].user, "");
  EXPECT_FALSE(s->interfaces[1].up);
  EXPECT_EQ(s->interfaces[1].error, "socket gone");
  auto json = service::to_json(*s);
  EXPECT_EQ(json["interfaces"][0]["peers"][0]["device"], "laptop");
  EXPECT_FALSE(json["interfaces"][1]["up"]);
}

}  // namespace
}  // namespace wgate

namespace wgate {
namespace {

TEST_F(ServiceTest, ANewKeyOfADeviceSupersedesTheOlderOneWhichGetsNoConfig) {
  add_user("alice", {"dev", "ops"});
  make_interface_key("wgt-dev");
  make_interface_key("wgt-ops");
  auto old_key = add_key("alice", key_pair().public_key, "laptop", "dev", 200);
  auto new_key = add_key("alice", key_pair().public_key, "laptop", "ops", 300);
  ASSERT_TRUE(old_key.ok() && new_key.ok());
  auto keys = service::list_keys(*store_, config_, {}, 400);
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].state, KeyState::superseded);
  EXPECT_EQ((*keys)[1].state, KeyState::never_used);
  EXPECT_EQ(service::to_json((*keys)[0])["state"], "superseded");
  auto config = service::client_config(*store_, config_, old_key->key.id, std::nullopt, 400);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.error().message, HasSubstr("superseded"));
  EXPECT_TRUE(service::client_config(*store_, config_, new_key->key.id, std::nullopt, 400).ok());
}

TEST_F(ServiceTest, NoConfigForAKeyOfAGroupThePersonLeft) {
  add_user("alice", {"dev"});
  make_interface_key("wgt-dev");
  auto key = add_key("alice", key_pair().public_key, "laptop", "dev", 200);
  ASSERT_TRUE(key.ok());
  ASSERT_TRUE(service::remove_membership(*store_, config_, "alice", "dev", 250, kRoot).ok());
  auto config = service::client_config(*store_, config_, key->key.id, std::nullopt, 300);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.error().message, HasSubstr("no longer a member of group 'dev'"));
}

TEST_F(ServiceTest, ListingTheKeysOfAnUnknownUserIsAnError) {
  service::KeyFilter filter;
  filter.user = "nobody";
  auto keys = service::list_keys(*store_, config_, filter, 100);
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(keys.error().message, HasSubstr("no user 'nobody'"));
}

TEST_F(ServiceTest, AnEmptyFileIsNotTakenForAStore) {
  const std::string path = dir_ + "/empty.db";
  { std::ofstream touch(path); }
  auto s = open_sqlite_store(path);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.error().message, HasSubstr("is empty"));
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
}

// The metrics count keys from the daemon's snapshot; the states must be the
// ones `key list` shows.
TEST_F(ServiceTest, CountKeyStatesAgreesWithListKeys) {
  add_user("alice", {"dev", "ops"});
  add_user("bob", {"dev"});
  auto old_key = add_key("alice", key_pair().public_key, "laptop", "dev", 200);
  auto new_key = add_key("alice", key_pair().public_key, "laptop", "ops", 300);
  auto revoked = add_key("bob", key_pair().public_key, "laptop", "dev", 200);
  auto short_lived = add_key("bob", key_pair().public_key, "phone", "dev", 200, std::string("60s"));
  auto used = add_key("bob", key_pair().public_key, "tablet", "dev", 200);
  ASSERT_TRUE(old_key.ok() && new_key.ok() && revoked.ok() && short_lived.ok() && used.ok());
  ASSERT_TRUE(service::revoke_key(*store_, revoked->key.id, 300, kRoot).ok());
  ASSERT_TRUE(store_->record_handshakes({{used->key.id, 350}}).ok());

  auto listed = service::list_keys(*store_, config_, {}, 400);
  ASSERT_TRUE(listed.ok());
  std::map<KeyState, std::size_t> want;
  for (const auto& k : *listed) ++want[k.state];
  auto snapshot = store_->snapshot();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(service::count_key_states(snapshot->keys, 400), want);
  EXPECT_EQ(want, (std::map<KeyState, std::size_t>{{KeyState::revoked, 1},
                                                    {KeyState::expired, 1},
                                                    {KeyState::never_used, 1},
                                                    {KeyState::active, 1},
                                                    {KeyState::superseded, 1}}));
}

}  // namespace
}  // namespace wgate
