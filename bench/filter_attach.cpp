// bench_filter_attach: puts wgate's tc eBPF filter (BpfFilter, the daemon's
// code path) with a given policy on tc ingress of one interface, for
// run_filter_compare.sh, and holds it there until stdin closes (then the
// destructor detaches it). The policy file has one rule a line:
// "<device address> <destination prefix> <port lo> <port hi>" (TCP); each
// device is its own person with its own ruleset.
//
// Usage: bench_filter_attach <policy file> <interface>
#include <net/if.h>
#include <netinet/in.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "dataplane/bpf_filter.h"

using namespace wgate;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <policy file> <interface>\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "bench_filter_attach: cannot read %s\n", argv[1]);
    return 1;
  }
  bpf::FilterPlan plan;
  std::map<std::string, uint32_t> ids;
  std::string line;
  size_t rules = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string src, dst;
    unsigned lo = 0, hi = 0;
    if (!(ls >> src >> dst >> lo >> hi)) continue;
    auto addr = IpAddress::parse(src);
    auto net = Prefix::parse(dst);
    if (!addr || !net) {
      std::fprintf(stderr, "bench_filter_attach: bad line: %s\n", line.c_str());
      return 1;
    }
    auto [it, fresh] = ids.try_emplace(src, static_cast<uint32_t>(ids.size() + 1));
    if (fresh) plan.devices[*addr] = it->second;
    plan.rulesets[it->second].push_back(
        {*net, IPPROTO_TCP, static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)});
    ++rules;
  }
  BpfFilterOptions opts;
  opts.max_devices = static_cast<uint32_t>(ids.size() + 16);
  opts.max_rule_entries = static_cast<uint32_t>(rules + 16);
  auto filter = BpfFilter::load(opts);
  if (!filter.ok()) {
    std::fprintf(stderr, "bench_filter_attach: %s\n", filter.error().message.c_str());
    return 1;
  }
  if (Status st = filter->apply(plan); !st.ok()) {
    std::fprintf(stderr, "bench_filter_attach: apply: %s\n", st.error().message.c_str());
    return 1;
  }
  int ifindex = static_cast<int>(if_nametoindex(argv[2]));
  if (ifindex == 0) {
    std::fprintf(stderr, "bench_filter_attach: no interface %s\n", argv[2]);
    return 1;
  }
  if (Status st = filter->attach(ifindex); !st.ok()) {
    std::fprintf(stderr, "bench_filter_attach: attach: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("attached %zu devices, %zu rules\n", ids.size(), rules);
  std::fflush(stdout);
  while (std::getchar() != EOF) {
  }
  return 0;
}
