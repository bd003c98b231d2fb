// The daemon's snapshot -> exposition mapping, fed with hand-made passes.
#include "metrics/daemon_metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>

namespace wgate::metrics {
namespace {

WgKey key_of(uint8_t n) {
  std::array<uint8_t, WgKey::kSize> b{};
  b[0] = n;
  return WgKey(b);
}

constexpr UnixTime kNow = 1'764'561'600;

// One group "dev" on wg-dev with alice's laptop (key 1) and bob's phone
// (key 2), both observed; a foreign peer (key 9) is on the device too.
struct Fixture {
  State state;
  Plan plan;
  ReconcileReport report;

  Fixture() {
    state.users = {{1, "alice", "", false, 0}, {2, "bob \"the\" builder", "", false, 0}};
    Key k1;
    k1.id = 1;
    k1.user_id = 1;
    k1.device_id = 1;
    k1.public_key = key_of(1);
    k1.last_handshake_at = kNow - 5;
    Key k2;
    k2.id = 2;
    k2.user_id = 2;
    k2.device_id = 2;
    k2.public_key = key_of(2);
    Key revoked = k1;
    revoked.id = 3;
    revoked.public_key = key_of(3);
    revoked.revoked_at = kNow - 100;
    Key expired = k1;
    expired.id = 4;
    expired.public_key = key_of(4);
    expired.expires_at = kNow - 1;
    Key older = k2;  // bob's phone renewed: key 2 is newer, this one superseded
    older.id = 5;
    older.public_key = key_of(5);
    older.created_at = -1;
    state.keys = {k1, k2, revoked, expired, older};

    PlannedInterface dev;
    dev.name = "wg-dev";
    dev.group = "dev";
    dev.peers = {{key_of(1), Prefix{}, 1, "alice", "laptop"}, {key_of(2), Prefix{}, 2, "bob \"the\" builder", "phone\n2"}};
    PlannedInterface ops;
    ops.name = "wg-ops";
    ops.group = "ops";
    plan.interfaces = {dev, ops};

    WgDeviceState d;
    d.name = "wg-dev";
    d.peers = {peer(1, 100, 200, kNow - 5), peer(2, 0, 0, 0), peer(9, 7, 7, kNow)};
    report.devices["wg-dev"] = d;  // wg-ops did not answer
  }

  static WgPeerState peer(uint8_t n, uint64_t rx, uint64_t tx, int64_t hs) {
    WgPeerState p;
    p.public_key = key_of(n);
    p.rx_bytes = rx;
    p.tx_bytes = tx;
    p.last_handshake_sec = hs;
    return p;
  }

  DaemonPass pass(PassKind kind, double seconds = 0.002) {
    DaemonPass p;
    p.kind = kind;
    p.took = std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
    p.wall = kNow;
    p.state = std::make_shared<const State>(state);
    p.plan = std::make_shared<const Plan>(plan);
    if (kind == PassKind::full) p.observed = std::make_shared<const std::map<std::string, WgDeviceState>>(report.devices);
    p.errors = report.errors;
    return p;
  }
};

std::string text_of(const DaemonMetrics& m) {
  auto t = render_snapshot(*m.snapshot());
  EXPECT_TRUE(t.ok()) << t.error().message;
  return t.ok() ? *t : "";
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(DaemonMetrics, BeforeAnyPassItIsNotReadyAndShowsNoDevices) {
  DaemonMetrics m("1.2.3");
  auto s = m.snapshot();
  ASSERT_NE(s, nullptr);
  EXPECT_FALSE(s->ready);
  EXPECT_EQ(s->not_ready, "no full reconcile pass yet");
  std::string t = text_of(m);
  EXPECT_TRUE(has_line(t, "wgate_build_info{version=\"1.2.3\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_keys{state=\"active\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "wgate_ready 0")) << t;
  EXPECT_EQ(t.find("wgate_device_receive_bytes_total{"), std::string::npos);
}

TEST(DaemonMetrics, HandshakeInitiationsByResult) {
  DaemonMetrics m("0.1.0");
  std::string t = text_of(m);
  EXPECT_TRUE(has_line(t, "wgate_handshake_initiations_total{result=\"unknown_key\"} 0")) << t;
  // From another thread, between passes: visible at the next scrape.
  std::thread counter([&] {
    for (int i = 0; i < 3; ++i) m.count_initiation(KnockResult::unknown_key);
    m.count_initiation(KnockResult::expired_key);
    m.count_initiation(KnockResult::replayed);
  });
  counter.join();
  t = text_of(m);
  EXPECT_TRUE(has_line(t, "wgate_handshake_initiations_total{result=\"unknown_key\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "wgate_handshake_initiations_total{result=\"expired_key\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_handshake_initiations_total{result=\"valid\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "wgate_handshake_initiations_total{result=\"replayed\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_handshake_initiations_total{result=\"stale_timestamp\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "# TYPE wgate_handshake_initiations_total counter")) << t;
}

TEST(DaemonMetrics, CaptureCountersAddUpAcrossCaptures) {
  DaemonMetrics m("0.1.0");
  EXPECT_TRUE(has_line(text_of(m), "wgate_handshake_capture_total{outcome=\"global_limited\"} 0"));
  m.add_capture_counters({5, 1, 0, 0});
  m.add_capture_counters({2, 0, 7, 1});  // a restarted capture reports from zero: deltas add
  std::string t = text_of(m);
  EXPECT_TRUE(has_line(t, "wgate_handshake_capture_total{outcome=\"copied\"} 7")) << t;
  EXPECT_TRUE(has_line(t, "wgate_handshake_capture_total{outcome=\"source_limited\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_handshake_capture_total{outcome=\"global_limited\"} 7")) << t;
  EXPECT_TRUE(has_line(t, "wgate_handshake_capture_total{outcome=\"ring_full\"} 1")) << t;
}

TEST(DaemonMetrics, FilterEventLossesByVerdictAndReason) {
  DaemonMetrics m("0.1.0");
  std::string t = text_of(m);
  // No filter reported yet (none loaded): the family is left out.
  EXPECT_EQ(t.find("wgate_flow_events_lost_total"), std::string::npos) << t;
  FilterEventLosses l;
  l.flow_rate_limited = 7;
  l.deny_ring_full = 2;
  m.record_filter_event_losses(l);
  t = text_of(m);
  EXPECT_TRUE(has_line(t, "# TYPE wgate_flow_events_lost_total counter")) << t;
  EXPECT_TRUE(has_line(t, "wgate_flow_events_lost_total{verdict=\"allowed\",reason=\"rate_limited\"} 7")) << t;
  EXPECT_TRUE(has_line(t, "wgate_flow_events_lost_total{verdict=\"allowed\",reason=\"ring_full\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "wgate_flow_events_lost_total{verdict=\"denied\",reason=\"rate_limited\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "wgate_flow_events_lost_total{verdict=\"denied\",reason=\"ring_full\"} 2")) << t;
  l.flow_ring_full = 5;
  m.record_filter_event_losses(l);
  t = text_of(m);
  EXPECT_TRUE(has_line(t, "wgate_flow_events_lost_total{verdict=\"allowed\",reason=\"ring_full\"} 5")) << t;
}

TEST(DaemonMetrics, FullPassExposesDevicesInterfacesAndKeys) {
  Fixture f;
  DaemonMetrics m("0.1.0");
  m.record(f.pass(PassKind::full, 0.003));
  std::string t = text_of(m);
  EXPECT_TRUE(has_line(t, "wgate_device_receive_bytes_total{person=\"alice\",device=\"laptop\",group=\"dev\","
                          "interface=\"wg-dev\",key=\"1\"} 100")) << t;
  EXPECT_TRUE(has_line(t, "wgate_device_transmit_bytes_total{person=\"alice\",device=\"laptop\",group=\"dev\","
                          "interface=\"wg-dev\",key=\"1\"} 200")) << t;
  EXPECT_TRUE(has_line(t, "wgate_device_last_handshake_seconds{person=\"alice\",device=\"laptop\",group=\"dev\","
                          "interface=\"wg-dev\",key=\"1\"} " + std::to_string(kNow - 5))) << t;
  // Label values escaped; never a handshake: 0.
  EXPECT_TRUE(has_line(t, "wgate_device_last_handshake_seconds{person=\"bob \\\"the\\\" builder\",device=\"phone\\n2\","
                          "group=\"dev\",interface=\"wg-dev\",key=\"2\"} 0")) << t;
  // The foreign peer (not planned) gets no series, and no public key appears.
  EXPECT_EQ(t.find("key=\"9\""), std::string::npos) << t;
  EXPECT_EQ(t.find(key_of(1).to_base64()), std::string::npos) << t;
  EXPECT_TRUE(has_line(t, "wgate_interface_up{interface=\"wg-dev\",group=\"dev\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_interface_up{interface=\"wg-ops\",group=\"ops\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "wgate_interface_peers{interface=\"wg-dev\"} 3")) << t;
  EXPECT_TRUE(has_line(t, "wgate_interface_peers{interface=\"wg-ops\"} 0")) << t;
  // The states `key list` gives: 1 active, 2 never used, 3 revoked, 4 expired, 5 superseded.
  for (const char* st : {"active", "never_used", "expired", "revoked", "superseded"}) {
    EXPECT_TRUE(has_line(t, std::string("wgate_keys{state=\"") + st + "\"} 1")) << st << "\n" << t;
  }
  EXPECT_TRUE(has_line(t, "wgate_reconcile_passes_total{kind=\"full\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_reconcile_passes_total{kind=\"incremental\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "wgate_reconcile_duration_seconds_bucket{le=\"0.0025\"} 0")) << t;
  EXPECT_TRUE(has_line(t, "wgate_reconcile_duration_seconds_bucket{le=\"0.005\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_reconcile_duration_seconds_bucket{le=\"+Inf\"} 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_reconcile_duration_seconds_count 1")) << t;
  EXPECT_TRUE(has_line(t, "wgate_reconcile_last_duration_seconds 0.003")) << t;
  EXPECT_TRUE(has_line(t, "wgate_ready 1")) << t;
  EXPECT_TRUE(m.snapshot()->ready);
}

TEST(DaemonMetrics, RemovedPeerLosesItsSeriesAtTheNextPass) {
  Fixture f;
  DaemonMetrics m("0.1.0");
  m.record(f.pass(PassKind::full));
  ASSERT_EQ(series_of(*m.snapshot()).devices.size(), 2u);
  // Bob's key revoked: the incremental pass's plan no longer has it; the
  // observation (from the full pass) still does.
  f.plan.interfaces[0].peers.pop_back();
  m.record(f.pass(PassKind::incremental));
  auto s = series_of(*m.snapshot());
  ASSERT_EQ(s.devices.size(), 1u);
  EXPECT_EQ(s.devices[0].person, "alice");
  EXPECT_EQ(text_of(m).find("builder"), std::string::npos);
}

TEST(DaemonMetrics, CountersOnlyGrow) {
  Fixture f;
  DaemonMetrics m("0.1.0");
  auto before = m.snapshot();
  f.report.errors = {"wg-ops: no such device"};
  m.record(f.pass(PassKind::full));
  f.report.errors.clear();
  m.record(f.pass(PassKind::incremental));
  DaemonPass failed;
  failed.store_error = "database is locked";
  m.record(failed);
  m.record(f.pass(PassKind::incremental));
  auto after = m.snapshot();
  // A published snapshot is immutable: the first one is unchanged.
  EXPECT_EQ(before->full_passes + before->incremental_passes + before->reconcile_errors, 0u);
  EXPECT_EQ(after->full_passes, 1u);
  EXPECT_EQ(after->incremental_passes, 2u);
  EXPECT_EQ(after->reconcile_errors, 2u);  // one object failure, one failed store read
  EXPECT_EQ(after->reconcile_duration.count, 3u);
}

TEST(DaemonMetrics, ReadinessFollowsFullPassesAndTheStore) {
  Fixture f;
  DaemonMetrics m("0.1.0");
  m.record(f.pass(PassKind::incremental));
  EXPECT_FALSE(m.snapshot()->ready);  // an incremental pass observes nothing
  f.report.errors = {"wg-ops: no such device"};
  m.record(f.pass(PassKind::full));
  EXPECT_FALSE(m.snapshot()->ready);
  EXPECT_NE(m.snapshot()->not_ready.find("wg-ops: no such device"), std::string::npos) << m.snapshot()->not_ready;
  f.report.errors.clear();
  m.record(f.pass(PassKind::full));
  EXPECT_TRUE(m.snapshot()->ready);
  DaemonPass failed;
  failed.store_error = "disk I/O error";
  m.record(failed);
  EXPECT_FALSE(m.snapshot()->ready);
  EXPECT_EQ(m.snapshot()->not_ready, "store: disk I/O error");
  // The series of the last good pass stay while the store is unreadable.
  EXPECT_EQ(series_of(*m.snapshot()).devices.size(), 2u);
  m.record(f.pass(PassKind::incremental));
  EXPECT_TRUE(m.snapshot()->ready);
}

TEST(DaemonMetrics, TheWholeScrapeIsValid) {
  Fixture f;
  DaemonMetrics m("0.1.0");
  m.record(f.pass(PassKind::full));
  std::string t = text_of(m);
  // Every family has HELP before TYPE before its samples, and the text ends
  // with a newline (what promtool checks in the e2e test).
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t.back(), '\n');
  for (const auto& fam : to_families(*m.snapshot())) {
    auto help = t.find("# HELP " + fam.name + " ");
    auto type = t.find("# TYPE " + fam.name + " ");
    ASSERT_NE(help, std::string::npos) << fam.name;
    EXPECT_LT(help, type) << fam.name;
  }
}

// 10,000 devices: one series each per family, nothing else grows. Prints
// what a pass's record() (on the loop's thread) and a scrape's render (on
// the HTTP thread) take; no bound asserted: this runs under sanitizers on
// shared machines.
TEST(DaemonMetrics, TenThousandDevices) {
  State state;
  Plan plan;
  ReconcileReport report;
  PlannedInterface dev;
  dev.name = "wg-dev";
  dev.group = "dev";
  WgDeviceState observed;
  observed.name = "wg-dev";
  for (int i = 0; i < 10000; ++i) {
    std::array<uint8_t, WgKey::kSize> b{};
    b[0] = static_cast<uint8_t>(i >> 8);
    b[1] = static_cast<uint8_t>(i);
    Key k;
    k.id = i + 1;
    k.user_id = i + 1;
    k.device_id = i + 1;
    k.public_key = WgKey(b);
    state.keys.push_back(k);
    dev.peers.push_back({WgKey(b), Prefix{}, i + 1, "person" + std::to_string(i), "laptop"});
    observed.peers.push_back(Fixture::peer(0, 1000, 2000, kNow));
    observed.peers.back().public_key = WgKey(b);
  }
  plan.interfaces = {dev};
  report.devices["wg-dev"] = observed;
  DaemonPass pass;
  pass.wall = kNow;
  pass.state = std::make_shared<const State>(std::move(state));
  pass.plan = std::make_shared<const Plan>(std::move(plan));
  pass.observed = std::make_shared<const std::map<std::string, WgDeviceState>>(std::move(report.devices));
  DaemonMetrics m("0.1.0");
  auto t0 = std::chrono::steady_clock::now();
  m.record(pass);
  auto t1 = std::chrono::steady_clock::now();
  auto text = render_snapshot(*m.snapshot());
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(series_of(*m.snapshot()).devices.size(), 10000u);
  std::size_t lines = 0;
  for (char c : *text) lines += c == '\n';
  // 3 device families x 10,000, the rest fixed (HELP/TYPE, interfaces, keys, histogram).
  EXPECT_LT(lines, 30000u + 100u);
  EXPECT_GT(lines, 30000u);
  using ms = std::chrono::duration<double, std::milli>;
  std::printf("10,000 devices: record %.1f ms, render %.1f ms, %zu bytes\n", ms(t1 - t0).count(), ms(t2 - t1).count(),
              text->size());
}

}  // namespace
}  // namespace wgate::metrics
