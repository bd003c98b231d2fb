// wgate flows, wgate traffic: what the eBPF filter recorded.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "core/time_text.h"
#include "service/json.h"

namespace wgate::cli {
namespace {

struct FlowsOptions {
  std::string user, destination, since, until, verdict, cursor;
  size_t limit = 50;
};

std::string endpoint(const IpAddress& address, uint16_t port, bool with_port) {
  return with_port ? address.to_string() + ":" + std::to_string(port) : address.to_string();
}

void print_flow(const FlowRecord& f) {
  const bool ports = f.protocol == 6 || f.protocol == 17;
  std::string what = service::flow_protocol_name(f.protocol);
  if (f.protocol == 1) {
    what += " type " + std::to_string(f.destination_port >> 8) + " code " + std::to_string(f.destination_port & 0xff);
  }
  const std::string who = f.user_id ? f.user + "/" + (f.device.empty() ? "?" : f.device) : "(unknown)";
  std::cout << format_utc(f.at) << "  " << std::left << std::setw(5) << (f.allowed ? "allow" : "deny") << "  "
            << std::setw(18) << who << " " << std::setw(21) << endpoint(f.source, f.source_port, ports) << " -> "
            << std::setw(21) << endpoint(f.destination, f.destination_port, ports) << " " << std::setw(16) << what
            << " " << std::setw(11) << f.reason << " " << f.interface << "\n";
}

std::string counters_text(const TrafficCounters& c) {
  std::ostringstream out;
  out << "pass " << c.pass_packets << " packets " << c.pass_bytes << " bytes, drop " << c.drop_packets
      << " packets " << c.drop_bytes << " bytes";
  return out.str();
}

}  // namespace

void register_flow_commands(CLI::App& app, Context& ctx) {
  auto& o = ctx.options<FlowsOptions>();
  auto* flows = app.add_subcommand(
      "flows", "Flows the eBPF filter saw (first packet of each allowed flow, denied packets), newest first, with "
               "the person and device that held the source address then");
  flows->add_option("--user", o.user, "Only this person's flows (\"\" for sources nobody held)");
  flows->add_option("--dst", o.destination, "Only flows to this address or CIDR prefix");
  flows->add_option("--since", o.since, "Not before: Unix seconds or RFC 3339 (2026-11-23T07:00:00Z)");
  flows->add_option("--until", o.until, "Not after: Unix seconds or RFC 3339");
  flows->add_option("--verdict", o.verdict, "allow or deny");
  flows->add_option("--limit", o.limit, "How many flows per page (1..1000, default 50)");
  flows->add_option("--cursor", o.cursor, "Continue after a previous page (the cursor it printed)");
  flows->callback([&ctx, &o, flows] {
    const UnixTime now = ctx.now();
    service::FlowListRequest request;
    if (flows->count("--user")) request.user = o.user;
    if (flows->count("--dst")) request.destination = o.destination;
    if (flows->count("--since")) request.since = get_or_fail(parse_time(o.since, now));
    if (flows->count("--until")) request.until = get_or_fail(parse_time(o.until, now));
    if (flows->count("--verdict")) request.verdict = o.verdict;
    if (flows->count("--cursor")) request.cursor = o.cursor;
    request.limit = o.limit;
    auto page = get_or_fail(service::list_flows(ctx.store(), request));
    ctx.emit(service::to_json(page), [&] {
      if (page.flows.empty()) std::cout << "no flows\n";
      for (const auto& f : page.flows) print_flow(f);
      if (page.next_cursor) std::cout << "more: add --cursor " << *page.next_cursor << "\n";
    });
  });

  auto* traffic = app.add_subcommand(
      "traffic", "Packets and bytes the eBPF filter passed and dropped, per person and device, since counting began");
  traffic->callback([&ctx] {
    auto views = get_or_fail(service::traffic(ctx.store()));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : views) arr.push_back(service::to_json(v));
    ctx.emit(arr, [&] {
      if (views.empty()) std::cout << "no traffic recorded\n";
      for (const auto& v : views) {
        std::cout << (v.user.empty() ? std::string("(unknown sources)") : v.user) << ": " << counters_text(v.total)
                  << "\n";
        for (const auto& d : v.devices) {
          if (v.user.empty()) continue;
          std::cout << "  " << (d.device.empty() ? std::string("?") : d.device) << ": " << counters_text(d.counters)
                    << "\n";
        }
      }
    });
  });
}

}  // namespace wgate::cli
