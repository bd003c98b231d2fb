// Service: flow records and traffic counters of the eBPF filter.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include "bpf/filter_abi.h"
#include "service/attribution.h"
#include "service/service.h"

namespace wgate::service {
namespace {

// The cursor is the id of the last row of a page: ids only grow, so "older
// than this id" is a stable position however many rows arrive meanwhile. The
// prefix keeps it opaque to callers and lets its form change later.
constexpr std::string_view kCursorPrefix = "f1.";

std::string encode_cursor(int64_t id) { return std::string(kCursorPrefix) + std::to_string(id); }

Result<int64_t> decode_cursor(const std::string& cursor) {
  const Error bad = make_error("cursor '" + cursor +
                               "' is not one a flow listing handed out (pass the next_cursor of the previous page)");
  if (cursor.size() <= kCursorPrefix.size() || cursor.compare(0, kCursorPrefix.size(), kCursorPrefix) != 0) {
    return bad;
  }
  const char* begin = cursor.data() + kCursorPrefix.size();
  const char* end = cursor.data() + cursor.size();
  if (*begin == '0') return bad;  // one spelling per id
  int64_t id = 0;
  auto [ptr, ec] = std::from_chars(begin, end, id);
  if (ec != std::errc() || ptr != end || id <= 0) return bad;
  return id;
}

Result<Prefix> parse_destination(const std::string& text) {
  if (text.find('/') != std::string::npos) {
    auto prefix = Prefix::parse(text);
    if (!prefix) return prefix.error().with_context("destination");
    return *prefix;
  }
  auto address = IpAddress::parse(text);
  if (!address) return address.error().with_context("destination (an address or a CIDR prefix)");
  return Prefix::parse(address->to_string() + "/" + std::to_string(address->bit_width()));
}

UnixTime event_time(const FlowEvent& e, UnixTime now) {
  if (e.time == std::chrono::system_clock::time_point{}) return now;
  return std::chrono::duration_cast<std::chrono::seconds>(e.time.time_since_epoch()).count();
}

std::string device_names(const WhoisAnswer& answer) {
  std::string out;
  for (const auto& d : answer.devices) out += (out.empty() ? "" : ",") + d.name;
  return out;
}

bool any_below(const TrafficCounters& a, const TrafficCounters& b) {
  return a.pass_packets < b.pass_packets || a.pass_bytes < b.pass_bytes || a.drop_packets < b.drop_packets ||
         a.drop_bytes < b.drop_bytes;
}

bool is_zero(const TrafficCounters& c) {
  return c.pass_packets == 0 && c.pass_bytes == 0 && c.drop_packets == 0 && c.drop_bytes == 0;
}

void add_to(TrafficCounters& sum, const TrafficCounters& c) {
  sum.pass_packets += c.pass_packets;
  sum.pass_bytes += c.pass_bytes;
  sum.drop_packets += c.drop_packets;
  sum.drop_bytes += c.drop_bytes;
}

// Lease histories by address (what Store::lease_history answers), from one
// read of every lease per call: a batch of flows from 1,000 sources costs
// one query, not 1,000. Leases are indexed by block, and an address is
// looked up once per block size in use (one or two), not against every
// lease.
class HistoryCache {
 public:
  explicit HistoryCache(Store& store) : store_(store) {}
  Result<const std::vector<Lease>*> get(const IpAddress& address) {
    if (!indexed_) {
      WGATE_ASSIGN_OR_RETURN(auto all, store_.all_leases());
      for (auto& l : all) {
        lengths_.insert(l.block.length());
        by_block_[l.block].push_back(std::move(l));
      }
      indexed_ = true;
    }
    auto it = cache_.find(address);
    if (it == cache_.end()) {
      std::vector<Lease> history;
      for (int length : lengths_) {
        if (length > address.bit_width()) continue;
        auto held = by_block_.find(Prefix(address, length));
        if (held == by_block_.end()) continue;
        history.insert(history.end(), held->second.begin(), held->second.end());
      }
      // The store's order (Store::lease_history): oldest first.
      std::sort(history.begin(), history.end(),
                [](const Lease& a, const Lease& b) { return std::tie(a.from, a.id) < std::tie(b.from, b.id); });
      it = cache_.emplace(address, std::move(history)).first;
    }
    return &it->second;
  }

 private:
  Store& store_;
  bool indexed_ = false;
  std::set<int> lengths_;
  std::map<Prefix, std::vector<Lease>> by_block_;
  std::map<IpAddress, std::vector<Lease>> cache_;
};

}  // namespace

std::string flow_reason_name(uint8_t reason) {
  switch (reason) {
    case WGATE_REASON_RULE: return "rule";
    case WGATE_REASON_NO_DEVICE: return "no-device";
    case WGATE_REASON_NO_RULE: return "no-rule";
    case WGATE_REASON_PROTO_PORT: return "proto-port";
    case WGATE_REASON_MALFORMED: return "malformed";
    case WGATE_REASON_FRAGMENT: return "fragment";
    case WGATE_REASON_ICMP_ERROR: return "icmp-error";
    case WGATE_REASON_NOT_IPV4: return "not-ipv4";
    case WGATE_REASON_FRAGMENT_OK: return "fragment-ok";
    case WGATE_REASON_TO_GATEWAY: return "to-gateway";
    default: return "reason-" + std::to_string(reason);
  }
}

std::string flow_protocol_name(uint8_t protocol) {
  switch (protocol) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    default: return std::to_string(protocol);
  }
}

Result<FlowRecordReport> record_flows(Store& store, const Config& config,
                                      const std::vector<FlowObservation>& observations, UnixTime now) {
  (void)config;
  FlowRecordReport report;
  if (observations.empty()) return report;
  WGATE_ASSIGN_OR_RETURN(auto context, load_attribution_context(store));
  HistoryCache histories(store);
  std::vector<FlowRecord> records;
  records.reserve(std::min(observations.size(), kFlowsPerTransaction));
  auto flush = [&]() -> Status {
    WGATE_TRY(store.add_flows(records));
    report.recorded += records.size();
    records.clear();
    return ok_status();
  };
  for (const auto& o : observations) {
    const FlowEvent& e = o.event;
    FlowRecord r;
    r.at = event_time(e, now);
    r.source = e.src;
    r.destination = e.dst;
    r.protocol = e.proto;
    r.source_port = e.sport;
    r.destination_port = e.dport;
    r.allowed = e.allowed;
    r.reason = flow_reason_name(e.reason);
    r.interface = o.interface;
    WGATE_ASSIGN_OR_RETURN(const std::vector<Lease>* history, histories.get(e.src));
    const WhoisAnswer who = attribute(e.src, r.at, *history, context);
    if (who.user) {
      r.user_id = who.user->id;
      r.user = who.user->name;
      r.device = device_names(who);
    } else {
      ++report.unknown_sources;
    }
    records.push_back(std::move(r));
    if (records.size() == kFlowsPerTransaction) {
      if (Status st = flush(); !st) {
        if (report.recorded == 0) return st.error();
        report.partial_failure = st.error();
        return report;
      }
    }
  }
  if (Status st = flush(); !st) {
    if (report.recorded == 0) return st.error();
    report.partial_failure = st.error();
  }
  return report;
}

TrafficCounters traffic_increase(const std::optional<TrafficBaseline>& before, uint64_t epoch,
                                 const TrafficCounters& now_seen) {
  // A restarted counter set (other filter, or an evicted and re-created LRU
  // entry) counts from zero: all it holds is new. What it counted between
  // the last sample and its restart is lost; it is never subtracted.
  if (!before || before->epoch != epoch || any_below(now_seen, before->seen)) return now_seen;
  return TrafficCounters{now_seen.pass_packets - before->seen.pass_packets,
                         now_seen.pass_bytes - before->seen.pass_bytes,
                         now_seen.drop_packets - before->seen.drop_packets,
                         now_seen.drop_bytes - before->seen.drop_bytes};
}

Status record_traffic(Store& store, const Config& config, const TrafficSample& sample, UnixTime now) {
  (void)config;
  if (sample.counters.empty()) return ok_status();
  WGATE_ASSIGN_OR_RETURN(auto stored, store.traffic_baselines());
  std::map<IpAddress, TrafficBaseline> baselines;
  for (auto& b : stored) baselines.emplace(b.address, std::move(b));

  std::optional<AttributionContext> context;  // read only when something moved
  HistoryCache histories(store);
  std::map<std::pair<std::string, std::string>, TrafficCounters> increments;
  TrafficUpdate update;
  for (const auto& [address, c] : sample.counters) {
    const TrafficCounters seen{c.pass_packets, c.pass_bytes, c.drop_packets, c.drop_bytes};
    std::optional<TrafficBaseline> before;
    if (auto it = baselines.find(address); it != baselines.end()) before = it->second;
    const TrafficCounters increase = traffic_increase(before, sample.epoch, seen);
    update.baselines.push_back(TrafficBaseline{address, sample.epoch, seen, now});
    if (is_zero(increase)) continue;
    if (!context) {
      WGATE_ASSIGN_OR_RETURN(context, load_attribution_context(store));
    }
    WGATE_ASSIGN_OR_RETURN(const std::vector<Lease>* history, histories.get(address));
    const WhoisAnswer who = attribute(address, now, *history, *context);
    auto key = who.user ? std::make_pair(who.user->name, device_names(who)) : std::make_pair(std::string(), std::string());
    add_to(increments[key], increase);
  }
  for (const auto& [key, counters] : increments) {
    update.increments.push_back(TrafficTotal{key.first, key.second, counters, now});
  }
  return store.record_traffic(update, now);
}

Result<FlowPage> list_flows(Store& store, const FlowListRequest& request) {
  if (request.limit == 0 || request.limit > kMaxFlowPage) {
    return make_error("limit " + std::to_string(request.limit) + " is outside 1 .. " + std::to_string(kMaxFlowPage));
  }
  FlowQuery query;
  query.limit = request.limit + 1;  // one more tells whether another page follows
  if (request.user && !request.user->empty()) {
    WGATE_ASSIGN_OR_RETURN(auto user, store.find_user(*request.user));
    if (!user) return make_error("no user '" + *request.user + "'");
  }
  query.user = request.user;
  if (request.destination) {
    WGATE_ASSIGN_OR_RETURN(query.destination, parse_destination(*request.destination));
  }
  if (request.since && request.until && *request.since > *request.until) {
    return make_error("since (" + std::to_string(*request.since) + ") is after until (" +
                      std::to_string(*request.until) + ")");
  }
  query.since = request.since;
  query.until = request.until;
  if (request.verdict) {
    if (*request.verdict == "allow") {
      query.allowed = true;
    } else if (*request.verdict == "deny") {
      query.allowed = false;
    } else {
      return make_error("verdict '" + *request.verdict + "' is neither allow nor deny");
    }
  }
  if (request.cursor) {
    WGATE_ASSIGN_OR_RETURN(query.before_id, decode_cursor(*request.cursor));
  }

  FlowPage page;
  WGATE_ASSIGN_OR_RETURN(page.flows, store.list_flows(query));
  if (page.flows.size() > request.limit) {
    page.flows.resize(request.limit);
    page.next_cursor = encode_cursor(page.flows.back().id);
  }
  return page;
}

Result<PruneReport> prune_flows(Store& store, const Config& config, UnixTime now, size_t batch, size_t max_batches) {
  PruneReport report;
  if (batch == 0) return make_error("prune_flows: batch must be at least 1");
  const UnixTime older_than = now - config.flows.retention_seconds;
  const auto keep = static_cast<uint64_t>(std::max<int64_t>(config.flows.max_records, 0));
  for (size_t i = 0; i < max_batches; ++i) {
    WGATE_ASSIGN_OR_RETURN(size_t deleted, store.prune_flows(older_than, keep, batch));
    report.deleted += deleted;
    if (deleted < batch) return report;
  }
  // The last batch was full: there may be more (the next call goes on).
  report.more = max_batches > 0;
  return report;
}

Result<std::vector<TrafficView>> traffic(Store& store) {
  WGATE_ASSIGN_OR_RETURN(auto totals, store.traffic_totals());
  std::map<std::string, TrafficView> by_user;
  for (auto& t : totals) {
    TrafficView& v = by_user[t.user];
    v.user = t.user;
    add_to(v.total, t.counters);
    v.updated_at = std::max(v.updated_at, t.updated_at);
    v.devices.push_back(std::move(t));
  }
  std::vector<TrafficView> out;
  // People by name; addresses nobody held last.
  for (auto& [name, v] : by_user) {
    if (!name.empty()) out.push_back(std::move(v));
  }
  if (auto it = by_user.find(""); it != by_user.end()) out.push_back(std::move(it->second));
  return out;
}

}  // namespace wgate::service
