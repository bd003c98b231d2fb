#include "notify/alerts.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace wgate::notify {
namespace {

constexpr int64_t kHour = 3600;
constexpr int64_t kDay = 24 * kHour;
constexpr UnixTime kT0 = 1'800'000'000;  // 2027-01-15T08:00:00Z

AlertPolicy policy() {
  AlertPolicy p;
  p.never_activated_after = kDay;
  p.expiry_reminder_lead = 2 * kDay;
  p.in_use_window = kHour;
  p.expired_catch_up = 7 * kDay;
  return p;
}

// alice (1, dev) with device laptop (10); bob (2, dev) with device phone (20).
State base_state() {
  State s;
  s.users = {User{1, "alice", "alice@example.com", false, kT0 - 100 * kDay},
             User{2, "bob", "bob@example.com", false, kT0 - 100 * kDay}};
  s.memberships = {Membership{1, "dev"}, Membership{2, "dev"}};
  s.devices = {Device{10, 1, "laptop", 0, kT0 - 50 * kDay, std::nullopt},
               Device{20, 2, "phone", 0, kT0 - 50 * kDay, std::nullopt}};
  return s;
}

Key key(int64_t id, int64_t user, int64_t device, UnixTime created, UnixTime expires = 0,
        std::optional<UnixTime> handshake = std::nullopt) {
  Key k;
  k.id = id;
  k.user_id = user;
  k.device_id = device;
  k.group = "dev";
  k.created_at = created;
  k.expires_at = expires;
  k.last_handshake_at = handshake;
  return k;
}

std::vector<std::string> dedup_keys(const std::vector<Alert>& alerts) {
  std::vector<std::string> out;
  for (const auto& a : alerts) out.push_back(a.dedup_key);
  return out;
}

std::vector<std::string> due(const State& s, UnixTime now, const AlertPolicy& p = policy()) {
  return dedup_keys(alerts_due(s, p, now));
}

using Keys = std::vector<std::string>;

// --- never_activated ---------------------------------------------------------

TEST(NeverActivated, DueExactlyAfterTheConfiguredTimeNotBefore) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0)};
  EXPECT_EQ(due(s, kT0 + kDay - 1), Keys{});
  EXPECT_EQ(due(s, kT0 + kDay), Keys{"never_activated:7"});
  EXPECT_EQ(due(s, kT0 + 30 * kDay), Keys{"never_activated:7"});  // stays due; the outbox sends it once
}

TEST(NeverActivated, NotForAKeyThatHandshaked) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0, 0, kT0 + 5)};
  EXPECT_EQ(due(s, kT0 + 2 * kDay), Keys{});
}

TEST(NeverActivated, NotForARevokedKey) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0)};
  s.keys[0].revoked_at = kT0 + 10;
  EXPECT_EQ(due(s, kT0 + 2 * kDay), Keys{});
}

TEST(NeverActivated, NotForADisabledUser) {
  State s = base_state();
  s.users[0].disabled = true;
  s.keys = {key(7, 1, 10, kT0)};
  EXPECT_EQ(due(s, kT0 + 2 * kDay), Keys{});
}

TEST(NeverActivated, NotForAnExpiredKey) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0, kT0 + 3 * kDay)};
  AlertPolicy p = policy();
  p.expiry_reminder_lead = 0;
  EXPECT_EQ(due(s, kT0 + 3 * kDay - 1, p), Keys{"never_activated:7"});
  EXPECT_EQ(due(s, kT0 + 3 * kDay, p), Keys{});
}

TEST(NeverActivated, NotWhenTheKeyExpiresBeforeTheCheck) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0, kT0 + kDay)};  // expires exactly when the check would fire
  EXPECT_EQ(due(s, kT0 + kDay - 1), Keys{});
  EXPECT_EQ(due(s, kT0 + kDay), Keys{});
}

TEST(NeverActivated, NotForASupersededKey) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0), key(8, 1, 10, kT0 + kHour, 0, kT0 + 2 * kHour)};  // renewed, and used
  EXPECT_EQ(due(s, kT0 + 5 * kDay), Keys{});
}

TEST(NeverActivated, ARevokedRenewalDoesNotSupersede) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0), key(8, 1, 10, kT0 + kHour)};
  s.keys[1].revoked_at = kT0 + 2 * kHour;
  EXPECT_EQ(due(s, kT0 + 5 * kDay), Keys{"never_activated:7"});
}

TEST(NeverActivated, SameCreationTimeTheHigherIdIsNewer) {
  State s = base_state();
  s.keys = {key(8, 1, 10, kT0), key(7, 1, 10, kT0)};
  EXPECT_EQ(due(s, kT0 + kDay), Keys{"never_activated:8"});
}

TEST(NeverActivated, RenewalOfAnotherDeviceDoesNotSupersede) {
  State s = base_state();
  s.devices.push_back(Device{11, 1, "phone", 1, kT0 - kDay, std::nullopt});
  s.keys = {key(7, 1, 10, kT0), key(8, 1, 11, kT0 + kHour, 0, kT0 + kHour)};
  EXPECT_EQ(due(s, kT0 + 2 * kDay), Keys{"never_activated:7"});
}

TEST(NeverActivated, NotForARemovedDeviceOrAMissingUser) {
  State s = base_state();
  s.devices[0].removed_at = kT0 + 1;
  s.keys = {key(7, 1, 10, kT0)};
  EXPECT_EQ(due(s, kT0 + 2 * kDay), Keys{});

  State t = base_state();
  t.devices.erase(t.devices.begin());  // the store lists current devices only
  t.keys = {key(7, 1, 10, kT0)};
  EXPECT_EQ(due(t, kT0 + 2 * kDay), Keys{});

  State u = base_state();
  u.keys = {key(7, 99, 10, kT0)};  // no such user
  EXPECT_EQ(due(u, kT0 + 2 * kDay), Keys{});
}

TEST(NeverActivated, NotWhenTheDeviceBelongsToSomeoneElse) {
  State s = base_state();
  s.keys = {key(7, 1, 20, kT0)};  // device 20 is bob's
  EXPECT_EQ(due(s, kT0 + 2 * kDay), Keys{});
}

TEST(NeverActivated, NotWhenTheOwnerLeftTheKeysGroup) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0)};
  s.keys[0].group = "ops";  // alice is in dev only
  EXPECT_EQ(due(s, kT0 + 2 * kDay), Keys{});
}

TEST(NeverActivated, SwitchedOffByZero) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0)};
  AlertPolicy p = policy();
  p.never_activated_after = 0;
  EXPECT_EQ(due(s, kT0 + 10 * kDay, p), Keys{});
}

// --- expiry_reminder ---------------------------------------------------------

TEST(ExpiryReminder, DueFromTheLeadUntilExpiry) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp, kT0 + 10)};
  EXPECT_EQ(due(s, exp - 2 * kDay - 1), Keys{});
  EXPECT_EQ(due(s, exp - 2 * kDay), Keys{"expiry_reminder:7@" + std::to_string(exp)});
  EXPECT_EQ(due(s, exp - 1), Keys{"expiry_reminder:7@" + std::to_string(exp)});
  EXPECT_EQ(due(s, exp), Keys{});  // expired: too late for a reminder
}

TEST(ExpiryReminder, NotForKeysWithoutExpiry) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0, 0, kT0 + 10)};
  EXPECT_EQ(due(s, kT0 + 1000 * kDay), Keys{});
}

TEST(ExpiryReminder, NotForKeysWhoseWholeLifeIsWithinTheLead) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0, kT0 + 12 * kHour, kT0 + 10)};  // a short-lived SSO key
  EXPECT_EQ(due(s, kT0), Keys{});
  EXPECT_EQ(due(s, kT0 + 11 * kHour), Keys{});
  // Boundary: created exactly at expiry - lead: no reminder; a second
  // earlier: a reminder.
  s.keys = {key(7, 1, 10, kT0, kT0 + 2 * kDay, kT0 + 10)};
  EXPECT_EQ(due(s, kT0 + kDay), Keys{});
  s.keys = {key(7, 1, 10, kT0 - 1, kT0 + 2 * kDay, kT0 + 10)};
  EXPECT_EQ(due(s, kT0 + kDay), Keys{"expiry_reminder:7@" + std::to_string(kT0 + 2 * kDay)});
}

TEST(ExpiryReminder, NotForRevokedKeysDisabledUsersOrSupersededKeys) {
  const UnixTime exp = kT0 + 30 * kDay;
  const UnixTime at = exp - kDay;
  State revoked = base_state();
  revoked.keys = {key(7, 1, 10, kT0, exp, kT0 + 10)};
  revoked.keys[0].revoked_at = kT0 + 20;
  EXPECT_EQ(due(revoked, at), Keys{});

  State disabled = base_state();
  disabled.users[0].disabled = true;
  disabled.keys = {key(7, 1, 10, kT0, exp, kT0 + 10)};
  EXPECT_EQ(due(disabled, at), Keys{});

  State renewed = base_state();
  renewed.keys = {key(7, 1, 10, kT0, exp, kT0 + 10), key(8, 1, 10, at - kHour, exp + 30 * kDay)};
  EXPECT_EQ(due(renewed, at), Keys{});
}

TEST(ExpiryReminder, AlsoForANeverUsedKey) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp)};
  EXPECT_EQ(due(s, exp - kDay), (Keys{"never_activated:7", "expiry_reminder:7@" + std::to_string(exp)}));
}

TEST(ExpiryReminder, SwitchedOffByZero) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0, kT0 + 30 * kDay, kT0 + 10)};
  AlertPolicy p = policy();
  p.expiry_reminder_lead = 0;
  EXPECT_EQ(due(s, kT0 + 30 * kDay - 1, p), Keys{});
}

// --- expired_in_use ----------------------------------------------------------

TEST(ExpiredInUse, DueAtExpiryWhenTheLastHandshakeWasWithinTheWindow) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  const std::string k = "expired_in_use:7@" + std::to_string(exp);
  s.keys = {key(7, 1, 10, kT0, exp, exp - kHour)};  // exactly at the window's start: in use
  EXPECT_EQ(due(s, exp - 1), Keys{"expiry_reminder:7@" + std::to_string(exp)});
  EXPECT_EQ(due(s, exp), Keys{k});
  s.keys = {key(7, 1, 10, kT0, exp, exp - kHour - 1)};  // a second earlier: not in use
  EXPECT_EQ(due(s, exp), Keys{});
  s.keys = {key(7, 1, 10, kT0, exp, exp - 1)};
  EXPECT_EQ(due(s, exp), Keys{k});
  s.keys = {key(7, 1, 10, kT0, exp, exp + 5)};  // a handshake stamped after expiry (clock skew) counts
  EXPECT_EQ(due(s, exp), Keys{k});
}

TEST(ExpiredInUse, NotForANeverUsedKey) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp)};
  EXPECT_EQ(due(s, exp), Keys{});
}

TEST(ExpiredInUse, OnlyUntilTheCatchUpWindowEnds) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp, exp - 60)};
  EXPECT_EQ(due(s, exp + 7 * kDay - 1), Keys{"expired_in_use:7@" + std::to_string(exp)});
  EXPECT_EQ(due(s, exp + 7 * kDay), Keys{});
}

TEST(ExpiredInUse, NotWhenTheDeviceWasRenewed) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp, exp - 60), key(8, 1, 10, exp + 60, exp + 60 * kDay)};
  EXPECT_EQ(due(s, exp + kHour), Keys{});
  // Renewed before expiry, and the renewal expired too: the old key is still
  // superseded; the renewal has alerts of its own.
  s.keys = {key(7, 1, 10, kT0, exp, exp - 60), key(8, 1, 10, exp - kDay, exp + kDay)};
  EXPECT_EQ(due(s, exp + 2 * kDay), Keys{});
}

TEST(ExpiredInUse, NotForRevokedKeysOrDisabledUsers) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp, exp - 60)};
  s.keys[0].revoked_at = exp + 10;  // revoked after it expired
  EXPECT_EQ(due(s, exp + kHour), Keys{});
  s.keys[0].revoked_at.reset();
  s.users[0].disabled = true;
  EXPECT_EQ(due(s, exp + kHour), Keys{});
}

TEST(ExpiredInUse, SwitchedOffByZero) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp, exp - 60)};
  AlertPolicy p = policy();
  p.in_use_window = 0;
  EXPECT_EQ(due(s, exp, p), Keys{});
  p = policy();
  p.expired_catch_up = 0;
  EXPECT_EQ(due(s, exp, p), Keys{});
}

// --- the alerts themselves ---------------------------------------------------

TEST(Alerts, CarryPersonDeviceKeyTimesAndReadableText) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp, exp - 60)};
  auto alerts = alerts_due(s, policy(), exp + 5);
  ASSERT_EQ(alerts.size(), 1u);
  const Alert& a = alerts[0];
  EXPECT_EQ(a.kind, AlertKind::expired_in_use);
  EXPECT_EQ(a.key_id, 7);
  EXPECT_EQ(a.user_id, 1);
  EXPECT_EQ(a.device_id, 10);
  EXPECT_EQ(a.user_name, "alice");
  EXPECT_EQ(a.user_email, "alice@example.com");
  EXPECT_EQ(a.device_name, "laptop");
  EXPECT_EQ(a.group, "dev");
  EXPECT_EQ(a.due_at, exp);  // when it happened, not when it was noticed
  EXPECT_EQ(a.subject, "wgate: key 7 of alice/laptop expired while in use: log in again");
  EXPECT_NE(a.text.find("2027-02-14T08:00:00Z"), std::string::npos) << a.text;  // the expiry
  EXPECT_NE(a.text.find("log in again"), std::string::npos) << a.text;
  EXPECT_EQ(a.details["person"], "alice");
  EXPECT_EQ(a.details["device"], "laptop");
  EXPECT_EQ(a.details["key_id"], 7);
  EXPECT_EQ(a.details["kind"], "expired_in_use");
  EXPECT_EQ(a.details["expires_at"], exp);
  EXPECT_EQ(a.details["last_handshake_at"], exp - 60);
  EXPECT_EQ(a.details["created_at"], kT0);
  EXPECT_EQ(a.details["due_at"], exp);
}

TEST(Alerts, NeverActivatedTextSaysWhatToDo) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0)};
  auto alerts = alerts_due(s, policy(), kT0 + 2 * kDay);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].subject, "wgate: key 7 of alice/laptop was never activated");
  EXPECT_NE(alerts[0].text.find("wgate key revoke 7"), std::string::npos);
  EXPECT_NE(alerts[0].text.find("1d after registration"), std::string::npos) << alerts[0].text;
  EXPECT_TRUE(alerts[0].details["expires_at"].is_null());
  EXPECT_TRUE(alerts[0].details["last_handshake_at"].is_null());
  EXPECT_EQ(alerts[0].due_at, kT0 + kDay);
}

TEST(Alerts, SortedByDueTimeThenDedupKeyAcrossPeople) {
  State s = base_state();
  s.keys = {key(9, 2, 20, kT0 - kHour), key(7, 1, 10, kT0)};
  EXPECT_EQ(due(s, kT0 + 2 * kDay), (Keys{"never_activated:9", "never_activated:7"}));
}

TEST(Alerts, DedupKeyIsStableAcrossCalls) {
  State s = base_state();
  s.keys = {key(7, 1, 10, kT0)};
  EXPECT_EQ(due(s, kT0 + kDay), due(s, kT0 + 9 * kDay));
  EXPECT_EQ(alerts_due(s, policy(), kT0 + kDay)[0].text, alerts_due(s, policy(), kT0 + 9 * kDay)[0].text);
}

TEST(Alerts, JsonRoundTrip) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0, exp, exp - 60)};
  const Alert a = alerts_due(s, policy(), exp)[0];
  auto back = alert_from_json(nlohmann::json::parse(alert_to_json(a).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(alert_to_json(*back), alert_to_json(a));
  EXPECT_EQ(back->last_handshake_at, a.last_handshake_at);

  nlohmann::json j = alert_to_json(a);
  j.erase("dedup_key");
  auto bad = alert_from_json(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("dedup_key"), std::string::npos);
  j = alert_to_json(a);
  j["kind"] = "nonsense";
  EXPECT_FALSE(alert_from_json(j).ok());
  j = alert_to_json(a);
  j["key_id"] = "7";
  EXPECT_FALSE(alert_from_json(j).ok());
}

// --- next_alert_after ----------------------------------------------------------

TEST(NextAlertAfter, TheNearestRuleMomentOfAnyEligibleKey) {
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0), key(9, 2, 20, kT0 - 10 * kDay, exp, kT0 - kDay)};
  EXPECT_EQ(next_alert_after(s, policy(), kT0), kT0 + kDay);             // 7's never-activated check
  EXPECT_EQ(next_alert_after(s, policy(), kT0 + kDay), exp - 2 * kDay);  // 9's reminder
  // 9's last handshake is long before its expiry: expiry raises nothing.
  EXPECT_EQ(next_alert_after(s, policy(), exp - 2 * kDay), std::nullopt);
  s.keys[1].last_handshake_at = exp - 10;
  EXPECT_EQ(next_alert_after(s, policy(), exp - 2 * kDay), exp);
  s.keys[1].revoked_at = kT0;
  EXPECT_EQ(next_alert_after(s, policy(), exp - 2 * kDay), std::nullopt);
}

TEST(NextAlertAfter, AgreesWithAlertsDue) {
  // At each moment next_alert_after names, alerts_due has something new;
  // a second before, it had not.
  State s = base_state();
  const UnixTime exp = kT0 + 30 * kDay;
  s.keys = {key(7, 1, 10, kT0), key(9, 2, 20, kT0 - 10 * kDay, exp, exp - 100)};
  UnixTime now = kT0 - kDay;
  int steps = 0;
  while (auto next = next_alert_after(s, policy(), now)) {
    ASSERT_LT(++steps, 10);
    auto before = due(s, *next - 1);
    auto at = due(s, *next);
    EXPECT_NE(before, at) << *next;
    now = *next;
  }
  EXPECT_EQ(steps, 3);  // 7 never activated, 9's reminder, 9 expired in use
}

}  // namespace
}  // namespace wgate::notify
