#include "dataplane/bpf_percpu.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>

namespace wgate {

Result<std::vector<uint64_t>> sum_percpu_counters(int map_fd, uint32_t slots, const std::string& what) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return errno_error(-ncpu, "counting CPUs to read " + what);
  std::vector<uint64_t> sums(slots, 0);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(ncpu));
  for (uint32_t slot = 0; slot < slots; ++slot) {
    if (bpf_map_lookup_elem(map_fd, &slot, per_cpu.data())) return errno_error(errno, "reading " + what);
    for (uint64_t n : per_cpu) sums[slot] += n;
  }
  return sums;
}

}  // namespace wgate
