// bench_filter: ns per packet through wgate's tc filter (bpf/filter.bpf.c)
// under BPF_PROG_TEST_RUN, at 10, 1,000 and 10,000 people with 32 rules
// each, against the anchor: the same test run of a tc program that only
// returns TC_ACT_OK ("pass everything"), measured in the same run. The
// ratio filter / anchor is printed per size; flat across sizes is the goal.
//
// Each person has one device and their own ruleset (no sharing, the worst
// case for the trie's size): 32 rules over 8 /16s, 16 /24s inside them and 8
// /32s, TCP port ranges and UDP ports, so prefixes nest and the merged
// entries carry several ranges. The packets are 256 different allowed and
// denied ones (random person, a destination in one of their rules or beside
// them, a port in or out of a range); each runs --repeat times in one test
// run and the kernel reports the mean ns per run. Also printed: the time
// apply() takes to write the policy (both buffers, from empty).
//
// Needs root (loads BPF). Uses no network interface and touches no
// namespace: BPF_PROG_TEST_RUN runs the program on an skb built from bytes.
// Asserts nothing about speed.
//
// Usage: bench_filter [--repeat N] [--sizes 10,1000,10000]
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench_util.h"
#include "dataplane/bpf_filter.h"
#include "util/fd.h"

namespace {

using namespace wgate;
using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

// An Ethernet frame (what the tc test run takes) with an IPv4 TCP SYN.
Bytes tcp_frame(const IpAddress& src, const IpAddress& dst, uint16_t sport, uint16_t dport) {
  Bytes b(14 + 20 + 20, 0);
  put16(b, 12, 0x0800);
  b[14] = 0x45;
  put16(b, 16, 40);
  b[22] = 64;
  b[23] = IPPROTO_TCP;
  std::memcpy(&b[26], src.bytes(), 4);
  std::memcpy(&b[30], dst.bytes(), 4);
  put16(b, 34, sport);
  put16(b, 36, dport);
  b[46] = 5 << 4;
  b[47] = 0x02;
  return b;
}

// The person's i-th rule set: 8 /16s in 10.<8 bits>.0.0, 16 /24s inside
// them, 8 /32s inside those.
std::vector<bpf::FilterRule> rules_of(uint32_t person, std::mt19937& rng) {
  std::vector<bpf::FilterRule> rules;
  auto rnd = [&](uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng); };
  std::vector<uint32_t> nets;
  for (int k = 0; k < 8; ++k) {
    uint32_t net = (10u << 24) | ((person * 8 + static_cast<uint32_t>(k)) % 256) << 16;
    nets.push_back(net);
    uint16_t lo = static_cast<uint16_t>(1000 + 100 * k);
    rules.push_back({Prefix(IpAddress::v4(net), 16), IPPROTO_TCP, lo, static_cast<uint16_t>(lo + 9)});
  }
  std::vector<uint32_t> subnets;
  for (int k = 0; k < 16; ++k) {
    uint32_t sub = nets[static_cast<size_t>(k % 8)] | (rnd(256) << 8);
    subnets.push_back(sub);
    uint16_t port = static_cast<uint16_t>(k % 2 ? 443 : 5432 + k);
    rules.push_back({Prefix(IpAddress::v4(sub), 24), static_cast<uint8_t>(k % 3 ? IPPROTO_TCP : IPPROTO_UDP), port,
                     port});
  }
  for (int k = 0; k < 8; ++k)
    rules.push_back({Prefix(IpAddress::v4(subnets[static_cast<size_t>(k)] | rnd(256)), 32), IPPROTO_TCP, 22, 22});
  return rules;
}

struct Measured {
  double filter_ns = 0;
  double anchor_ns = 0;
  double apply_ms = 0;
  size_t entries = 0;
  int allowed = 0;
};

// Mean ns per run of `frames` through `prog_fd`, each `repeat` times.
double ns_per_packet(int prog_fd, const std::vector<Bytes>& frames, int repeat, int* passed) {
  double total = 0;
  for (const auto& f : frames) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f.data(), .data_size_in = static_cast<uint32_t>(f.size()),
                .repeat = repeat);
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
      std::perror("BPF_PROG_TEST_RUN");
      std::exit(1);
    }
    total += opts.duration;
    if (passed && opts.retval == 0) ++*passed;
  }
  return total / static_cast<double>(frames.size());
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 20000;
  std::vector<uint32_t> sizes = {10, 1000, 10000};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      repeat = std::stoi(argv[++i]);
    } else if (a == "--sizes" && i + 1 < argc) {
      sizes.clear();
      std::string s = argv[++i];
      for (size_t p = 0; p < s.size();) {
        size_t q = s.find(',', p);
        sizes.push_back(static_cast<uint32_t>(std::stoul(s.substr(p, q - p))));
        p = q == std::string::npos ? s.size() : q + 1;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--repeat N] [--sizes 10,1000,10000]\n", argv[0]);
      return 2;
    }
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bench_filter: needs root (loads BPF programs)\n");
    return 1;
  }

  // The anchor: r0 = TC_ACT_OK; exit.
  const bpf_insn pass_all[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  UniqueFd anchor(bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "wgate_anchor", "GPL", pass_all, 2, nullptr));
  if (!anchor.valid()) {
    std::perror("loading the anchor program");
    return 1;
  }

  std::printf("%8s %6s %9s %10s %12s %12s %7s %9s\n", "people", "rules", "entries", "apply_ms", "filter_ns",
              "anchor_ns", "ratio", "allowed");
  for (uint32_t people : sizes) {
    std::mt19937 rng(people);
    bpf::FilterPlan plan;
    for (uint32_t i = 0; i < people; ++i) {
      IpAddress dev = IpAddress::v4((100u << 24) | (64u << 16) | (i + 2));  // 100.64.0.0/10
      plan.devices[dev] = i + 1;
      plan.rulesets[i + 1] = rules_of(i, rng);
    }
    BpfFilterOptions opts;
    opts.max_devices = people + 16;
    opts.max_rule_entries = people * 32 + 16;
    auto filter = BpfFilter::load(opts);
    if (!filter.ok()) {
      std::fprintf(stderr, "bench_filter: %s\n", filter.error().message.c_str());
      return 1;
    }
    auto t0 = bench::Clock::now();
    Status st = filter->apply(plan);
    double apply_ms = bench::ms_between(t0, bench::Clock::now());
    if (!st.ok()) {
      std::fprintf(stderr, "bench_filter: apply: %s\n", st.error().message.c_str());
      return 1;
    }
    auto maps = bpf::compile_filter_plan(plan);

    // 256 packets: random person, a destination inside one of their rules
    // (allowed or not, by port) or next to it.
    std::vector<Bytes> frames;
    auto rnd = [&](uint32_t n) { return std::uniform_int_distribution<uint32_t>(0, n - 1)(rng); };
    for (int k = 0; k < 256; ++k) {
      uint32_t i = rnd(people);
      const auto& rules = plan.rulesets[i + 1];
      const auto& r = rules[rnd(static_cast<uint32_t>(rules.size()))];
      IpAddress dst = r.dst.nth(rnd(static_cast<uint32_t>(std::min<uint64_t>(r.dst.size(), 65536))));
      uint16_t port = rnd(2) ? r.port_lo : static_cast<uint16_t>(r.port_hi + 1);
      frames.push_back(tcp_frame(IpAddress::v4((100u << 24) | (64u << 16) | (i + 2)), dst,
                                 static_cast<uint16_t>(30000 + k), port));
    }
    // Warm both (first runs fill the flow table and the caches).
    ns_per_packet(filter->program_fd(), frames, 10, nullptr);
    ns_per_packet(anchor.get(), frames, 10, nullptr);
    Measured res;
    res.apply_ms = apply_ms;
    res.entries = maps.ok() ? maps->rules.size() : 0;
    res.filter_ns = ns_per_packet(filter->program_fd(), frames, repeat, &res.allowed);
    res.anchor_ns = ns_per_packet(anchor.get(), frames, repeat, nullptr);
    std::printf("%8u %6u %9zu %10.1f %12.1f %12.1f %7.2f %5d/256\n", people, 32u, res.entries, res.apply_ms,
                res.filter_ns, res.anchor_ns, res.filter_ns / res.anchor_ns, res.allowed);
    std::fflush(stdout);
  }
  return 0;
}
