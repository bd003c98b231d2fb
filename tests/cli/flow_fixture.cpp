// Records flow events and counter samples into a store through the service
// layer (service::record_flows / record_traffic), as the daemon's filter hook
// does, so that cli_test.sh can check how `wgate flows` and `wgate traffic`
// print them without root or an eBPF filter. Test-only; not installed.
//
// Usage: wgate_flow_fixture CONFIG < lines
//   flow SRC DST UNIX_TIME PROTO SPORT DPORT allow|deny INTERFACE
//   traffic EPOCH UNIX_TIME ADDRESS PASS_PACKETS PASS_BYTES DROP_PACKETS DROP_BYTES
#include <chrono>
#include <iostream>
#include <sstream>
#include <string>

#include "service/service.h"

namespace {

int fail(const std::string& why) {
  std::cerr << "wgate_flow_fixture: " << why << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace wgate;
  if (argc != 2) return fail("usage: wgate_flow_fixture CONFIG < lines");
  auto config = load_config(argv[1]);
  if (!config) return fail(config.error().message);
  auto store = open_sqlite_store(config->server.store_path);
  if (!store) return fail(store.error().message);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string kind;
    in >> kind;
    if (kind == "flow") {
      std::string src, dst, verdict, interface;
      int64_t at = 0;
      unsigned proto = 0, sport = 0, dport = 0;
      in >> src >> dst >> at >> proto >> sport >> dport >> verdict >> interface;
      auto s = IpAddress::parse(src);
      auto d = IpAddress::parse(dst);
      if (!in || !s || !d) return fail("bad line: " + line);
      service::FlowObservation o;
      o.event.src = *s;
      o.event.dst = *d;
      o.event.time = std::chrono::system_clock::time_point(std::chrono::seconds(at));
      o.event.proto = static_cast<uint8_t>(proto);
      o.event.sport = static_cast<uint16_t>(sport);
      o.event.dport = static_cast<uint16_t>(dport);
      o.event.allowed = verdict == "allow";
      o.event.reason = o.event.allowed ? 0 : 2;  // rule / no-rule
      o.interface = interface;
      auto r = service::record_flows(**store, *config, {o}, at);
      if (!r) return fail(r.error().message);
    } else if (kind == "traffic") {
      uint64_t epoch = 0;
      int64_t at = 0;
      std::string address;
      SourceCounters c;
      in >> epoch >> at >> address >> c.pass_packets >> c.pass_bytes >> c.drop_packets >> c.drop_bytes;
      auto a = IpAddress::parse(address);
      if (!in || !a) return fail("bad line: " + line);
      auto s = service::record_traffic(**store, *config, {epoch, {{*a, c}}}, at);
      if (!s) return fail(s.error().message);
    } else if (!kind.empty()) {
      return fail("unknown line: " + line);
    }
  }
  return 0;
}
