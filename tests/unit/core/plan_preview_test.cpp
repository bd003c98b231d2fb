// preview_plan_change: what a new config would change, from two plans.
#include "core/plan_preview.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../test_support.h"
#include "core/compile.h"

namespace wgate {
namespace {

using ::testing::ElementsAre;

const std::string kBase = R"(
[pool]
ipv4 = "10.100.0.0/24"
[networks]
vpc-a = ["10.1.0.0/16"]
vpc-b = ["10.2.0.0/16"]
[groups.dev]
networks = ["vpc-a"]
interface = "wg-dev"
port = 51820
table = 1001
[groups.ops]
networks = ["vpc-a", "vpc-b"]
interface = "wg-ops"
port = PORT
table = 1002
)";

Config config(const std::string& port, const std::string& policies) {
  std::string text = kBase;
  text.replace(text.find("PORT"), 4, port);
  auto c = parse_config(text + policies, "t.toml");
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : Config{};
}

// alice (dev and ops) with a laptop on dev.
State state(const std::string& group) {
  State s;
  s.users.push_back(User{1, "alice", "", false, 0});
  s.current_leases.push_back(Lease{1, 1, testing::pfx("10.100.0.4/30"), 0, std::nullopt});
  s.memberships = {Membership{1, "dev"}, Membership{1, "ops"}};
  s.devices.push_back(Device{10, 1, "laptop", 0, 0, std::nullopt});
  Key k;
  k.id = 1;
  k.user_id = 1;
  k.device_id = 10;
  k.group = group;
  std::array<uint8_t, 32> b{};
  b.fill(7);
  k.public_key = WgKey(b);
  k.created_at = 1;
  s.keys.push_back(k);
  return s;
}

TEST(PlanPreview, TheSameConfigChangesNothing) {
  const Config c = config("51821", "");
  const Plan p = compile(c, state("dev"), 100);
  EXPECT_TRUE(preview_plan_change(p, p).empty());
}

TEST(PlanPreview, APolicyShowsTheFilterRulesAndWhoLosesWhat) {
  const State s = state("dev");
  const Plan before = compile(config("51821", ""), s, 100);
  const Plan after = compile(
      config("51822", "[[policy]]\ngroup = \"dev\"\nto = \"vpc-a\"\nallow = [\"tcp/22\"]\n"), s, 100);
  const PlanPreview d = preview_plan_change(before, after);
  EXPECT_THAT(d.filter_rules_added, ElementsAre("group dev: 10.1.0.0/16 tcp/22"));
  EXPECT_THAT(d.filter_rules_removed, ElementsAre("group dev: 10.1.0.0/16 all"));
  EXPECT_THAT(d.access_gained.at("alice"), ElementsAre("10.1.0.0/16 tcp/22"));
  EXPECT_THAT(d.access_lost.at("alice"), ElementsAre("10.1.0.0/16 all"));
  EXPECT_THAT(d.interfaces_changed,
              ElementsAre("wg-ops (group ops, port 51821, table 1002) -> wg-ops (group ops, port 51822, table 1002)"));
  EXPECT_TRUE(d.peers_moved.empty());
  EXPECT_TRUE(d.routes_added.empty());
}

TEST(PlanPreview, APeerOnAnotherInterfaceIsAMove) {
  const Config c = config("51821", "");
  const PlanPreview d = preview_plan_change(compile(c, state("dev"), 100), compile(c, state("ops"), 100));
  EXPECT_THAT(d.peers_moved, ElementsAre("alice/laptop: wg-dev -> wg-ops"));
  EXPECT_TRUE(d.peers_added.empty());
  EXPECT_TRUE(d.peers_removed.empty());
  EXPECT_THAT(d.access_gained.at("alice"), ElementsAre("10.2.0.0/16 all"));
  EXPECT_THAT(d.routes_added, ElementsAre("10.100.0.4/32 dev wg-ops table main"));
}

}  // namespace
}  // namespace wgate
