// The SSO service functions against a real SQLite store and a fake
// identity provider (the real provider is exercised by the e2e lab).
#include "service/sso.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>

#include "core/secrets.h"
#include "service/service.h"
#include "store/interface_keys.h"

namespace wgate {
namespace {

using ::testing::HasSubstr;
using service::DeviceLoginPoll;
using service::DevicePollAnswer;
using service::VerifiedIdentity;

const Actor kRoot{"cli:root"};

class FakeIdp : public service::IdentityProvider {
 public:
  std::string issuer() const override { return "https://idp.test"; }
  Result<std::string> authorization_url(const std::string& state, const std::string& nonce,
                                        const std::string& challenge) override {
    last_nonce = nonce;
    last_challenge = challenge;
    return "https://idp.test/auth?state=" + state;
  }
  Result<VerifiedIdentity> complete_code_login(const std::string& code, const std::string& verifier,
                                               const std::string& nonce) override {
    if (code != "good-code") return make_error("invalid_grant: bad code");
    if (pkce_challenge_s256(verifier) != last_challenge) return make_error("PKCE verifier does not match");
    if (nonce != last_nonce) return make_error("nonce mismatch");
    return identity;
  }
  Result<service::DeviceAuthorization> start_device_login() override {
    return service::DeviceAuthorization{"dev-code", "ABCD-EFGH", "https://idp.test/device",
                                        "https://idp.test/device?user_code=ABCD-EFGH", 600, 5};
  }
  Result<DevicePollAnswer> poll_device_login(const std::string& device_code) override {
    if (device_code != "dev-code") return make_error("unknown device code");
    if (polls.empty()) return make_error("no scripted answer");
    DevicePollAnswer a = polls.front();
    polls.pop_front();
    return a;
  }
  Result<service::CheckAnswer> check(const std::string& refresh_token, const std::string& subject) override {
    checked.push_back(refresh_token);
    if (subject != "sub-alice") return make_error("checked the wrong person: " + subject);
    if (provider_down) return make_error("connection refused");
    return check_answer;
  }
  Result<service::LogoutNotice> validate_logout_token(const std::string& token) override {
    if (token != "valid-logout") return make_error("bad signature");
    return logout;
  }

  VerifiedIdentity identity{"https://idp.test", "sub-alice", "alice", "alice@example.com", {"/eng/dev"}, "sid-1",
                            "rt-1"};
  std::deque<DevicePollAnswer> polls;
  service::CheckAnswer check_answer{true, {"/eng/dev"}, "", ""};
  bool provider_down = false;
  std::vector<std::string> checked;
  service::LogoutNotice logout{"sub-alice", "", "jti-1", 5000};
  std::string last_nonce, last_challenge;
};

std::string config_text(const std::string& dir, const std::string& extra = "") {
  return R"(
[server]
endpoint = "vpn.example.com"
store = ")" + dir + R"(/wgate.db"
state_dir = ")" + dir + R"(/state"
[pool]
ipv4 = "10.100.0.0/24"
per_user = 4
[networks]
vpc-a = ["10.1.0.0/16"]
vpc-b = ["10.2.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wgs-dev"
port = 51820
table = 1001
key_ttl = "12h"
[groups.ops]
networks = ["vpc-a", "vpc-b"]
interface = "wgs-ops"
port = 51821
table = 1002
[oidc]
issuer = "https://idp.test"
client_id = "wgate"
check_interval = "5m"
[oidc.group_map]
"/eng/dev" = ["dev"]
"/eng/ops" = ["ops"]
"/eng/all" = ["dev", "ops"]
[web]
public_url = "https://vpn.example.com"
)" + extra;
}

class SsoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wgate-sso-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    load();
    ASSERT_TRUE(service::initialize(config_).ok());
    store_ = std::move(open_sqlite_store(config_.server.store_path)).value();
    for (const char* iface : {"wgs-dev", "wgs-ops"}) {
      ASSERT_TRUE(InterfaceKeys(config_.server.state_dir).create_or_adopt(iface, std::nullopt).ok());
    }
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void load(const std::string& extra = "") {
    auto c = parse_config(config_text(dir_, extra), "sso-test.toml");
    ASSERT_TRUE(c.ok()) << c.error().message;
    config_ = *c;
  }
  Result<service::SessionStart> browser_login(UnixTime now = 1000) {
    auto start = service::begin_browser_login(*store_, config_, idp_, "/self", now);
    if (!start) return start.error();
    return service::complete_browser_login(*store_, config_, idp_, start->state, start->state, "good-code", now + 5);
  }
  std::vector<std::string> groups_of(const std::string& user) {
    std::vector<std::string> out;
    auto people = service::list_people(*store_, config_);  // kept alive for the loop
    for (const auto& p : *people) {
      if (p.user.name == user) out = p.groups;
    }
    return out;
  }
  std::vector<std::string> audit_actions() {
    std::vector<std::string> out;
    auto log = store_->audit_log(1000);
    for (const auto& r : *log) out.push_back(r.action);
    return out;
  }

  std::string dir_;
  Config config_;
  std::unique_ptr<Store> store_;
  FakeIdp idp_;
};

TEST_F(SsoTest, BrowserLoginCreatesThePersonWithMappedGroupsAndASession) {
  auto session = browser_login();
  ASSERT_TRUE(session.ok()) << session.error().message;
  EXPECT_TRUE(session->login.created);
  EXPECT_EQ(session->login.user.name, "alice");
  EXPECT_EQ(groups_of("alice"), std::vector<std::string>{"dev"});
  EXPECT_EQ(session->return_to, "/self");
  EXPECT_EQ(session->token.size(), 43u);
  // Only the hash is stored; the token finds the session.
  auto found = service::session_of(*store_, session->token, 1010);
  ASSERT_TRUE(found.ok()) << found.error().message;
  EXPECT_EQ(found->id_hash, sha256_hex(session->token));
  EXPECT_EQ(found->refresh_token, "rt-1");
  EXPECT_EQ(found->expires_at, 1005 + config_.web.session_ttl_seconds);
  EXPECT_THAT(audit_actions(), ::testing::IsSupersetOf({"user.add", "identity.link", "membership.add", "session.start",
                                                        "login.success"}));
}

// The admin API's right comes from the login's IdP groups ([web]
// admin_groups), stored with the session: a login without them has none.
TEST_F(SsoTest, AdminRightIsFixedAtLoginFromIdpGroups) {
  config_.web.admin_groups = {"/wgate-admins"};
  auto plain = browser_login();
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  auto found = service::session_of(*store_, plain->token, 1010);
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->admin);
  idp_.identity.groups = {"/eng/dev", "/wgate-admins"};
  auto admin = browser_login(2000);
  ASSERT_TRUE(admin.ok()) << admin.error().message;
  auto found_admin = service::session_of(*store_, admin->token, 2010);
  ASSERT_TRUE(found_admin.ok());
  EXPECT_TRUE(found_admin->admin);
}

// ...and follows the provider's groups at each periodic check: taken out
// of the admin group, the session loses the right (and is audited), put
// back, it gets it again.
TEST_F(SsoTest, AdminRightFollowsTheIdpGroupsAtThePeriodicCheck) {
  config_.web.admin_groups = {"/wgate-admins"};
  idp_.identity.groups = {"/eng/dev", "/wgate-admins"};
  auto login = browser_login();
  ASSERT_TRUE(login.ok()) << login.error().message;
  ASSERT_TRUE(service::session_of(*store_, login->token, 1010)->admin);
  idp_.check_answer = service::CheckAnswer{true, {"/eng/dev"}, "rt-2", ""};
  auto dropped = service::check_sessions(*store_, config_, idp_, 1005 + config_.oidc.check_interval_seconds);
  ASSERT_TRUE(dropped.ok()) << dropped.error().message;
  EXPECT_EQ(dropped->admin_changed, 1);
  EXPECT_FALSE(service::session_of(*store_, login->token, 1010)->admin);
  idp_.check_answer = service::CheckAnswer{true, {"/eng/dev", "/wgate-admins"}, "rt-3", ""};
  auto back = service::check_sessions(*store_, config_, idp_, 1005 + 3 * config_.oidc.check_interval_seconds);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->admin_changed, 1);
  EXPECT_TRUE(service::session_of(*store_, login->token, 1010)->admin);
  // Unchanged: nothing written.
  auto same = service::check_sessions(*store_, config_, idp_, 1005 + 5 * config_.oidc.check_interval_seconds);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->admin_changed, 0);
  EXPECT_THAT(audit_actions(), ::testing::IsSupersetOf({"session.admin_revoked", "session.admin_granted"}));
}

TEST_F(SsoTest, GroupsFollowTheIdpAtEveryLogin) {
  ASSERT_TRUE(browser_login().ok());
  idp_.identity.groups = {"/eng/ops", "/not/mapped"};
  auto again = browser_login(2000);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->login.created);
  EXPECT_EQ(again->login.groups_added, std::vector<std::string>{"ops"});
  EXPECT_EQ(again->login.groups_removed, std::vector<std::string>{"dev"});
  EXPECT_EQ(groups_of("alice"), std::vector<std::string>{"ops"});
}

TEST_F(SsoTest, CallbacksThatDoNotBelongToThisBrowserOrWereUsedAreRefusedAndAudited) {
  auto start = service::begin_browser_login(*store_, config_, idp_, "/", 1000);
  ASSERT_TRUE(start.ok());
  auto forged = service::complete_browser_login(*store_, config_, idp_, start->state, "another-browser", "good-code", 1001);
  ASSERT_FALSE(forged.ok());
  EXPECT_THAT(forged.error().message, HasSubstr("state mismatch"));
  auto ok = service::complete_browser_login(*store_, config_, idp_, start->state, start->state, "good-code", 1002);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  auto replay = service::complete_browser_login(*store_, config_, idp_, start->state, start->state, "good-code", 1003);
  ASSERT_FALSE(replay.ok());
  EXPECT_THAT(replay.error().message, HasSubstr("unknown, used or expired"));
  // A reload of the callback after the login: the state cookie is gone.
  auto reload = service::complete_browser_login(*store_, config_, idp_, start->state, "", "good-code", 1003);
  ASSERT_FALSE(reload.ok());
  EXPECT_THAT(reload.error().message, HasSubstr("no login is in progress in this browser"));
  auto bad_code_start = service::begin_browser_login(*store_, config_, idp_, "/", 1004);
  auto bad_code = service::complete_browser_login(*store_, config_, idp_, bad_code_start->state,
                                                  bad_code_start->state, "stolen-code", 1005);
  ASSERT_FALSE(bad_code.ok());
  EXPECT_THAT(bad_code.error().message, HasSubstr("invalid_grant"));
  auto expired_start = service::begin_browser_login(*store_, config_, idp_, "/", 1006);
  auto late = service::complete_browser_login(*store_, config_, idp_, expired_start->state, expired_start->state,
                                              "good-code", 1006 + 601);
  ASSERT_FALSE(late.ok());
  int failures = 0;
  for (const auto& a : audit_actions()) failures += a == "login.failure";
  EXPECT_EQ(failures, 5);  // forged, replayed, reloaded, bad code, late
}

TEST_F(SsoTest, OnlyALocalPathIsReturnedTo) {
  for (const char* evil : {"https://evil.example/", "//evil.example/x", "javascript:alert(1)"}) {
    auto start = service::begin_browser_login(*store_, config_, idp_, evil, 1000);
    auto done = service::complete_browser_login(*store_, config_, idp_, start->state, start->state, "good-code", 1001);
    ASSERT_TRUE(done.ok());
    EXPECT_EQ(done->return_to, "/") << evil;
  }
}

TEST_F(SsoTest, APersonAnAdminDisabledCannotLogIn) {
  ASSERT_TRUE(browser_login().ok());
  ASSERT_TRUE(service::set_user_disabled(*store_, config_, "alice", true, 1500, kRoot).ok());
  auto refused = browser_login(2000);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("disabled"));
}

TEST_F(SsoTest, AnIdpAccountNeverTakesOverAnUnrelatedWgateUser) {
  ASSERT_TRUE(service::add_user(*store_, config_, {"alice", "someone-else@example.com", {"ops"}}, 500, kRoot).ok());
  auto session = browser_login();
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->login.user.name, "alice-2");
  EXPECT_EQ(groups_of("alice"), std::vector<std::string>{"ops"});
  // Same name and same e-mail, no identity yet: the same person, linked.
  idp_.identity = VerifiedIdentity{"https://idp.test", "sub-bob", "bob", "bob@example.com", {"/eng/dev"}, "", ""};
  ASSERT_TRUE(service::add_user(*store_, config_, {"bob", "bob@example.com", {}}, 600, kRoot).ok());
  auto bob = browser_login(1100);
  ASSERT_TRUE(bob.ok());
  EXPECT_EQ(bob->login.user.name, "bob");
  EXPECT_FALSE(bob->login.created);
}

TEST_F(SsoTest, DeviceLoginKeepsThePaceAndIsSingleUse) {
  auto start = service::begin_device_login(*store_, config_, idp_, "laptop", 1000);
  ASSERT_TRUE(start.ok()) << start.error().message;
  EXPECT_EQ(start->user_code, "ABCD-EFGH");
  EXPECT_EQ(start->interval, 5);
  // Polling faster than agreed: slow_down, and the interval grows.
  auto early = service::poll_device_login(*store_, config_, idp_, start->handle, 1002);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->state, DeviceLoginPoll::State::slow_down);
  EXPECT_EQ(early->interval, 10);
  idp_.polls = {DevicePollAnswer{DevicePollAnswer::State::pending, std::nullopt},
                DevicePollAnswer{DevicePollAnswer::State::slow_down, std::nullopt},
                DevicePollAnswer{DevicePollAnswer::State::done, idp_.identity}};
  auto pending = service::poll_device_login(*store_, config_, idp_, start->handle, 1012);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->state, DeviceLoginPoll::State::pending);
  auto slow = service::poll_device_login(*store_, config_, idp_, start->handle, 1022);
  ASSERT_TRUE(slow.ok());
  EXPECT_EQ(slow->state, DeviceLoginPoll::State::slow_down);
  EXPECT_EQ(slow->interval, 15);
  auto done = service::poll_device_login(*store_, config_, idp_, start->handle, 1037);
  ASSERT_TRUE(done.ok()) << done.error().message;
  ASSERT_EQ(done->state, DeviceLoginPoll::State::done);
  ASSERT_TRUE(done->session);
  EXPECT_EQ(done->session->session.kind, WebSession::Kind::cli);
  EXPECT_EQ(done->session->return_to, "laptop");
  auto again = service::poll_device_login(*store_, config_, idp_, start->handle, 1060);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state, DeviceLoginPoll::State::expired);
}

TEST_F(SsoTest, ADeniedDeviceLoginIsAudited) {
  auto start = service::begin_device_login(*store_, config_, idp_, "laptop", 1000);
  idp_.polls = {DevicePollAnswer{DevicePollAnswer::State::denied, std::nullopt}};
  auto denied = service::poll_device_login(*store_, config_, idp_, start->handle, 1010);
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->state, DeviceLoginPoll::State::denied);
  EXPECT_THAT(audit_actions(), ::testing::Contains("login.failure"));
  EXPECT_FALSE(service::begin_device_login(*store_, config_, idp_, "bad name", 1000).ok());
}

TEST_F(SsoTest, KeysFromALoginFollowThePolicyAndCarryEverythingTheClientNeeds) {
  auto session = browser_login();
  ASSERT_TRUE(session.ok());
  auto pub = WgKey::generate_private()->public_key()->to_base64();
  service::IssueKeyRequest req;
  req.public_key = pub;
  req.device = "laptop";
  auto issued = service::issue_key(*store_, config_, session->session, req, 2000);
  ASSERT_TRUE(issued.ok()) << issued.error().message;
  EXPECT_EQ(issued->group, "dev");
  EXPECT_EQ(issued->key.key.expires_at, 2000 + 12 * 3600);  // the group's key_ttl
  EXPECT_EQ(issued->key.key.source, "web");
  ASSERT_TRUE(issued->key.address);
  EXPECT_EQ(issued->key.address->to_string(), "10.100.0.4");
  EXPECT_EQ(issued->endpoint, "vpn.example.com:51820");
  EXPECT_EQ(issued->allowed_ips, std::vector<std::string>{"10.1.0.0/16"});
  EXPECT_THAT(issued->client_config, HasSubstr("Address = 10.100.0.4/32"));
  EXPECT_THAT(issued->client_config, HasSubstr("# PrivateKey"));
  // A shorter TTL may be asked for, never a longer one.
  req.public_key = WgKey::generate_private()->public_key()->to_base64();
  req.device = "phone";
  req.ttl = "1h";
  auto shorter = service::issue_key(*store_, config_, session->session, req, 2000);
  ASSERT_TRUE(shorter.ok()) << shorter.error().message;
  EXPECT_EQ(shorter->key.key.expires_at, 2000 + 3600);
  req.public_key = WgKey::generate_private()->public_key()->to_base64();
  req.device = "tablet";
  req.ttl = "30d";
  auto longer = service::issue_key(*store_, config_, session->session, req, 2000);
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ(longer->key.key.expires_at, 2000 + 12 * 3600);
  // Not the person's group: refused.
  req.group = "ops";
  EXPECT_THAT(service::issue_key(*store_, config_, session->session, req, 2000).error().message,
              HasSubstr("not in group 'ops'"));
}

TEST_F(SsoTest, KeyExpiryAtAFixedTimeOfDay) {
  load("[keys]\nexpire_at = \"03:00\"\ntime_zone = \"UTC\"\nmax_ttl = \"7d\"\ndefault_ttl = \"2d\"\n");
  const GroupConfig& ops = *config_.find_group("ops");  // no key_ttl: default_ttl applies
  // 2026-11-30 10:00 UTC -> the next day 03:00 (earlier than 2 days).
  auto at = service::key_expiry(config_, ops, std::nullopt, 1796032800);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, 1796094000);
  // 02:30 UTC: at least an hour of use, so not 03:00 the same day.
  auto late = service::key_expiry(config_, ops, std::nullopt, 1796092200);
  EXPECT_EQ(*late, 1796094000 + 86400);
  // A requested short TTL still wins.
  auto short_ttl = service::key_expiry(config_, ops, std::string("2h"), 1796032800);
  EXPECT_EQ(*short_ttl, 1796032800 + 7200);
  EXPECT_FALSE(service::key_expiry(config_, ops, std::string("4s"), 1796032800).ok());
}

TEST_F(SsoTest, LiveKeysPerPersonAreLimited) {
  load("[keys]\nmax_live_per_user = 2\n");
  auto session = browser_login();
  service::IssueKeyRequest req;
  for (int i = 0; i < 2; ++i) {
    req.public_key = WgKey::generate_private()->public_key()->to_base64();
    req.device = "d" + std::to_string(i);
    ASSERT_TRUE(service::issue_key(*store_, config_, session->session, req, 2000).ok());
  }
  req.public_key = WgKey::generate_private()->public_key()->to_base64();
  req.device = "d3";
  auto third = service::issue_key(*store_, config_, session->session, req, 2000);
  ASSERT_FALSE(third.ok());
  EXPECT_THAT(third.error().message, HasSubstr("max_live_per_user"));
}

TEST_F(SsoTest, BackChannelLogoutTakesEveryKeyAndRefusesReplays) {
  auto session = browser_login();
  service::IssueKeyRequest req;
  req.public_key = WgKey::generate_private()->public_key()->to_base64();
  ASSERT_TRUE(service::issue_key(*store_, config_, session->session, req, 2000).ok());
  auto forged = service::backchannel_logout(*store_, config_, idp_, "forged", 2100);
  ASSERT_FALSE(forged.ok());
  auto names = service::backchannel_logout(*store_, config_, idp_, "valid-logout", 2100);
  ASSERT_TRUE(names.ok()) << names.error().message;
  EXPECT_EQ(*names, std::vector<std::string>{"alice"});
  auto keys = service::list_keys(*store_, config_, {}, 2101);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].state, KeyState::revoked);
  EXPECT_FALSE(service::session_of(*store_, session->token, 2101).ok());
  auto replay = service::backchannel_logout(*store_, config_, idp_, "valid-logout", 2102);
  ASSERT_FALSE(replay.ok());
  EXPECT_THAT(replay.error().message, HasSubstr("replay"));
  EXPECT_THAT(audit_actions(), ::testing::IsSupersetOf({"user.deprovision", "logout.refused"}));
}

TEST_F(SsoTest, BackChannelLogoutBySidOnly) {
  auto session = browser_login();
  idp_.logout = service::LogoutNotice{"", "sid-1", "jti-2", 5000};
  auto names = service::backchannel_logout(*store_, config_, idp_, "valid-logout", 2100);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"alice"});
}

TEST_F(SsoTest, ThePeriodicCheckDeprovisionsMovesAndSurvivesAnOutage) {
  auto session = browser_login();
  service::IssueKeyRequest req;
  req.public_key = WgKey::generate_private()->public_key()->to_base64();
  ASSERT_TRUE(service::issue_key(*store_, config_, session->session, req, 2000).ok());
  // Not due yet.
  auto early = service::check_sessions(*store_, config_, idp_, 1100);
  EXPECT_EQ(early->checked, 0);
  // The provider is down: nobody loses access, and it is retried soon.
  idp_.provider_down = true;
  auto down = service::check_sessions(*store_, config_, idp_, 1400);
  EXPECT_EQ(down->errors, 1);
  EXPECT_EQ(down->deprovisioned, 0);
  EXPECT_TRUE(service::session_of(*store_, session->token, 1400).ok());
  // Moved to ops at the IdP: moved here at the next check.
  idp_.provider_down = false;
  idp_.check_answer = service::CheckAnswer{true, {"/eng/ops"}, "rt-2", ""};
  auto moved = service::check_sessions(*store_, config_, idp_, 1470);
  EXPECT_EQ(moved->groups_changed, 1);
  EXPECT_EQ(groups_of("alice"), std::vector<std::string>{"ops"});
  EXPECT_EQ(store_->find_session(sha256_hex(session->token))->value().refresh_token, "rt-2");
  // Disabled at the IdP: every key goes.
  idp_.check_answer = service::CheckAnswer{false, {}, "", "invalid_grant"};
  auto gone = service::check_sessions(*store_, config_, idp_, 1470 + 300);
  EXPECT_EQ(gone->deprovisioned, 1);
  auto keys = service::list_keys(*store_, config_, {}, 2000);
  EXPECT_EQ((*keys)[0].state, KeyState::revoked);
  EXPECT_EQ(idp_.checked, (std::vector<std::string>{"rt-1", "rt-1", "rt-2"}));
}

}  // namespace
}  // namespace wgate
