// Links for dataplane tests that run inside their own network namespaces:
// the veths, TUNs and link states that stand for "somebody else's link" when
// wgate must leave a name alone. Shared by the kernel and userspace backend
// tests; made with libmnl and ioctls directly, independent of the code under
// test.
#pragma once

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace wgate::testing {

// Sends one rtnetlink request and waits for its ACK; "" or what failed.
inline std::string rtnl_request(nlmsghdr* nlh) {
  mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
  if (nl == nullptr) return std::string("mnl_socket_open: ") + std::strerror(errno);
  std::string err;
  if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
    err = std::string("mnl_socket_bind: ") + std::strerror(errno);
  } else if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
    err = std::string("mnl_socket_sendto: ") + std::strerror(errno);
  } else {
    char buf[MNL_SOCKET_BUFFER_SIZE];
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
    if (n < 0 || mnl_cb_run(buf, static_cast<size_t>(n), nlh->nlmsg_seq, mnl_socket_get_portid(nl), nullptr,
                            nullptr) < 0) {
      err = std::string("rtnetlink: ") + std::strerror(errno);
    }
  }
  mnl_socket_close(nl);
  return err;
}

// What `ip link add <a> type veth peer name <b>` does.
inline std::string add_veth(const std::string& a, const std::string& b) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = RTM_NEWLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  nlh->nlmsg_seq = 1;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, a.c_str());
  nlattr* linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  auto* peer_ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  peer_ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_strz(nlh, IFLA_IFNAME, b.c_str());
  mnl_attr_nest_end(nlh, peer);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, linkinfo);
  std::string err = rtnl_request(nlh);
  return err.empty() ? "" : "add veth " + a + ": " + err;
}

// A TUN device as another program makes it: persistent (`ip tuntap add`,
// nobody attached) or held open by that program (`fd` receives it).
inline std::string add_tun(const std::string& name, bool persistent, int* fd) {
  int tun = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tun < 0) return std::string("open /dev/net/tun: ") + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (::ioctl(tun, TUNSETIFF, &ifr) != 0 || (persistent && ::ioctl(tun, TUNSETPERSIST, 1) != 0)) {
    std::string err = "TUN " + name + ": " + std::strerror(errno);
    ::close(tun);
    return err;
  }
  if (persistent) {
    ::close(tun);
  } else {
    *fd = tun;
  }
  return "";
}

// Index and flags of a link, to see that nothing changed. Index 0: absent.
struct LinkSnapshot {
  unsigned index = 0;
  short flags = 0;
  bool operator==(const LinkSnapshot&) const = default;
  std::string describe() const { return "index " + std::to_string(index) + " flags " + std::to_string(flags); }
};

inline LinkSnapshot snapshot(const std::string& name) {
  LinkSnapshot s;
  s.index = ::if_nametoindex(name.c_str());
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (sock >= 0 && ::ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) s.flags = ifr.ifr_flags;
  if (sock >= 0) ::close(sock);
  return s;
}

inline std::string set_up(const std::string& name) {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  std::string err;
  if (sock < 0 || ::ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) {
    err = "SIOCGIFFLAGS " + name + ": " + std::strerror(errno);
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) err = "SIOCSIFFLAGS " + name + ": " + std::strerror(errno);
  }
  if (sock >= 0) ::close(sock);
  return err;
}

}  // namespace wgate::testing
