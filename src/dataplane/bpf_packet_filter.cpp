// The tc eBPF filter as the reconciler's PacketFilter (built into wgate_bpf
// only when the kernel's BTF is there: src/bpf/CMakeLists.txt).
#include <net/if.h>

#include <chrono>
#include <map>
#include <optional>

#include "dataplane/bpf_filter.h"
#include "dataplane/packet_filter.h"

namespace wgate {
namespace {

class BpfPacketFilter final : public PacketFilter {
 public:
  explicit BpfPacketFilter(BpfFilter filter) : filter_(std::move(filter)) {}

  Status apply(const bpf::FilterPlan& plan) override {
    // The loader writes only differences, but compiling a plan of 10,000
    // devices costs milliseconds: skip it when nothing changed.
    if (applied_ && *applied_ == plan) return ok_status();
    applied_.reset();
    WGATE_TRY(filter_.apply(plan));
    applied_ = plan;
    return ok_status();
  }

  Status attach(const std::string& interface, bool verify) override {
    const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
    if (ifindex == 0) return errno_error(errno, "attaching the filter: interface " + interface);
    auto it = attached_.find(interface);
    if (it != attached_.end() && it->second != ifindex) {
      (void)filter_.detach(it->second);  // the old link is gone with its filter
      attached_.erase(it);
      it = attached_.end();
    }
    if (it != attached_.end() && verify) {
      WGATE_ASSIGN_OR_RETURN(bool there, filter_.attached(ifindex));
      if (!there) {
        (void)filter_.detach(ifindex);  // forget it, so attach() writes it again
        attached_.erase(it);
        it = attached_.end();
      }
    }
    if (it != attached_.end()) return ok_status();
    if (auto st = filter_.attach(ifindex); !st) return st.error().with_context(interface);
    attached_[interface] = ifindex;
    return ok_status();
  }

  Status detach(const std::string& interface) override {
    auto it = attached_.find(interface);
    if (it == attached_.end()) return ok_status();
    Status st = filter_.detach(it->second);
    attached_.erase(it);
    return st;
  }

  void leave_attached() override {
    filter_.leave_attached();
    attached_.clear();
  }

  Result<std::vector<FlowEvent>> drain_events() override { return filter_.drain_events(); }
  Result<std::map<IpAddress, SourceCounters>> counters() const override { return filter_.counters(); }
  Result<FilterEventLosses> event_losses() const override { return filter_.event_losses(); }
  uint64_t epoch() const override { return epoch_; }

 private:
  BpfFilter filter_;
  std::optional<bpf::FilterPlan> applied_;
  // The load time: the program's counter maps start empty with each load.
  uint64_t epoch_ = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  std::map<std::string, int> attached_;  // interface -> ifindex it was attached to
};

}  // namespace

Result<std::unique_ptr<PacketFilter>> load_packet_filter() {
  WGATE_ASSIGN_OR_RETURN(BpfFilter filter, BpfFilter::load());
  return std::unique_ptr<PacketFilter>(std::make_unique<BpfPacketFilter>(std::move(filter)));
}

}  // namespace wgate
