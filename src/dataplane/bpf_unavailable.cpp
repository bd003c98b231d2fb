// load_packet_filter() of a build without the eBPF filter (no kernel BTF at
// build time: src/bpf/CMakeLists.txt adds this file instead of the loader).
#include "dataplane/packet_filter.h"

namespace wgate {

Result<std::unique_ptr<PacketFilter>> load_packet_filter() {
  return make_error("this wgate was built without the eBPF filter (no kernel BTF at build time)");
}

}  // namespace wgate
