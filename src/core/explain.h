// explain(): "can this person (or device) reach that address, and why not",
// answered from the compiled Plan and the state it was compiled from. Pure:
// no I/O, no clock. It walks the steps a packet from the device meets on the
// gateway, in order, and names the first that stops it:
//   1. person    - known and enabled;
//   2. key       - the device's peer in the plan (its newest active key),
//                  or why there is none (no key, expired, revoked, not a
//                  member of the key's group, no address);
//   3. table     - the group's routing table: a `throw` route for each of
//                  the group's networks, `blackhole default` for the rest;
//   4. firewall  - the nftables guard: the interface may forward only into
//                  its group's networks;
//   5. L4 rules  - the eBPF filter's per-person port rules ([[policy]],
//                  core/policy.h): the rule that allows it ("policy #2
//                  (group dev -> db: tcp/5432)", "group dev has no
//                  policies"), or "no rule allows tcp/5432 to 10.1.2.3".
// Traffic to the gateway's own addresses is not routed by the group table,
// and the eBPF filter leaves it to the nftables input guard
// (server.allow_to_gateway); compile() does not know those addresses, so
// the answer (table and l4-rules steps) says which gateway services are
// open instead of guessing.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/cidr.h"
#include "core/config.h"
#include "core/model.h"
#include "core/plan.h"
#include "util/result.h"

namespace wgate {

struct ExplainQuery {
  std::string person;                     // a person's name, or
  std::optional<IpAddress> device;        // a device address (exactly one of the two)
  IpAddress destination;
  std::optional<std::string> protocol;    // "tcp", "udp" or "icmp"
  std::optional<uint16_t> port;           // tcp/udp only
  // Whether this build has the eBPF filter; without it port rules are not
  // enforced, and the answer says so.
  bool filter_built = true;
};

struct ExplainStep {
  std::string name;    // person | key | table | firewall | l4-rules
  bool passed = false;
  std::string detail;  // what decided it, in words
};

struct DeviceExplanation {
  std::string device;
  std::optional<IpAddress> address;
  std::optional<int64_t> key_id;
  std::string group;       // of the key that would carry the traffic
  std::string interface;
  bool allowed = false;
  std::vector<ExplainStep> steps;  // in order, up to and including the deciding one
  std::string deciding;            // the step that decided (the first failed, or the last)
  std::string rule;                // the L4 rule that allowed it ("policy #2 (...)"), when one did
};

struct Explanation {
  std::string person;
  IpAddress destination;
  std::optional<std::string> protocol;
  std::optional<uint16_t> port;
  std::vector<DeviceExplanation> devices;  // by device name
  bool allowed = false;                    // from at least one device
  std::string summary;                     // one line
};

// Errors: both or neither of person/device given, an unknown person, an
// address that is no person's device, a port without tcp/udp, IPv6.
Result<Explanation> explain(const Config& config, const State& state, const Plan& plan, const ExplainQuery& query,
                            UnixTime now);

// "tcp/5432", "udp/53", "icmp", "tcp" -> protocol and optional port.
Result<std::pair<std::string, std::optional<uint16_t>>> parse_protocol_port(std::string_view text);

}  // namespace wgate
