// net.ipv4.ip_forward through /proc/sys. The sysctl is per network namespace,
// and /proc/sys/net resolves against the namespace of the calling thread.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "util/fd.h"
#include "dataplane/firewall.h"

namespace wgate {
namespace {

constexpr const char* kIpForwardPath = "/proc/sys/net/ipv4/ip_forward";


}  // namespace

Result<bool> ipv4_forwarding_enabled() {
  UniqueFd fd(::open(kIpForwardPath, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return errno_error(errno, std::string("opening ") + kIpForwardPath);
  char buf[16];
  ssize_t n;
  do {
    n = ::read(fd.get(), buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno_error(errno, std::string("reading ") + kIpForwardPath);
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text == "0") return false;
  if (text == "1") return true;
  return make_error(std::string("unexpected content in ") + kIpForwardPath + ": \"" + text + "\"");
}

Status set_ipv4_forwarding(bool enabled) {
  UniqueFd fd(::open(kIpForwardPath, O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return errno_error(errno, std::string("opening ") + kIpForwardPath);
  const char* value = enabled ? "1\n" : "0\n";
  ssize_t n;
  do {
    n = ::write(fd.get(), value, 2);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno_error(errno, std::string("writing ") + kIpForwardPath);
  if (n != 2) return make_error(std::string("short write to ") + kIpForwardPath);
  return ok_status();
}

namespace {

class ProcForwarding : public Forwarding {
 public:
  Result<bool> ipv4_enabled() override { return ipv4_forwarding_enabled(); }
  Status enable_ipv4() override { return set_ipv4_forwarding(true); }
};

}  // namespace

std::unique_ptr<Forwarding> make_proc_forwarding() { return std::make_unique<ProcForwarding>(); }

}  // namespace wgate
