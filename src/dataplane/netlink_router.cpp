#include "dataplane/netlink_router.h"

#include <linux/rtnetlink.h>
#include <net/if.h>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/plan_text.h"
#include "netlink/rtnl.h"
#include "netlink/socket.h"

namespace wgate {
namespace {

using netlink::RtnlMessage;

// Rewrites a failed request as "<doing>: <strerror>" so the kernel's errno,
// not the transport's generic wording, reaches the operator.
Error fail(const Error& e, const std::string& doing) {
  if (e.sys_errno != 0) return errno_error(e.sys_errno, doing);
  return e.with_context(doing);
}

bool is_absent(int err) { return err == ESRCH || err == ENOENT || err == ENODEV; }

class NetlinkRouter final : public Router {
 public:
  explicit NetlinkRouter(netlink::MnlSocket sock) : sock_(std::move(sock)) {}

  Result<std::optional<int>> link_index(const std::string& name) override {
    WGATE_ASSIGN_OR_RETURN(RtnlMessage msg, RtnlMessage::get_link(name));
    std::optional<int> index;
    Status st = send(msg, [&](const nlmsghdr* nlh) -> Status {
      WGATE_ASSIGN_OR_RETURN(netlink::LinkInfo info, netlink::parse_link_message(nlh));
      index = info.index;
      return ok_status();
    });
    if (!st.ok()) {
      if (st.error().sys_errno == ENODEV) return std::optional<int>();
      return fail(st.error(), "looking up link " + name);
    }
    return index;
  }

  Result<std::optional<LinkState>> link(const std::string& name) override {
    WGATE_ASSIGN_OR_RETURN(RtnlMessage msg, RtnlMessage::get_link(name));
    std::optional<LinkState> state;
    Status st = send(msg, [&](const nlmsghdr* nlh) -> Status {
      WGATE_ASSIGN_OR_RETURN(netlink::LinkInfo info, netlink::parse_link_message(nlh));
      state = LinkState{info.index, (info.flags & IFF_UP) != 0, info.kind};
      return ok_status();
    });
    if (!st.ok()) {
      if (st.error().sys_errno == ENODEV) return std::optional<LinkState>();
      return fail(st.error(), "looking up link " + name);
    }
    return state;
  }

  Status set_link_up(const std::string& name) override {
    WGATE_ASSIGN_OR_RETURN(RtnlMessage msg, RtnlMessage::set_link_up(name));
    Status st = send(msg, nullptr);
    if (!st.ok()) return fail(st.error(), "setting link " + name + " up");
    return ok_status();
  }

  Status create_wireguard_link(const std::string& name) override {
    WGATE_ASSIGN_OR_RETURN(RtnlMessage msg, RtnlMessage::new_wireguard_link(name));
    Status st = send(msg, nullptr);
    if (st.ok()) return ok_status();
    const std::string doing = "creating wireguard link " + name;
    if (st.error().sys_errno == EOPNOTSUPP) {
      // What the kernel says when no "wireguard" link kind is registered.
      return Error{doing + ": the kernel has no wireguard support (module not available); use the userspace backend",
                   EOPNOTSUPP};
    }
    return fail(st.error(), doing);
  }

  Status delete_link(const std::string& name) override {
    WGATE_ASSIGN_OR_RETURN(RtnlMessage msg, RtnlMessage::delete_link(name));
    Status st = send(msg, nullptr);
    if (st.ok() || st.error().sys_errno == ENODEV) return ok_status();
    return fail(st.error(), "deleting link " + name);
  }

  Result<std::vector<Route>> list_routes() override {
    // Route replies carry ifindexes; map them with one link dump first.
    std::map<int, std::string> names;
    Status st = dump([] { return RtnlMessage::dump_links(); },
                     [&](const nlmsghdr* nlh) -> Status {
                       WGATE_ASSIGN_OR_RETURN(netlink::LinkInfo info, netlink::parse_link_message(nlh));
                       names[info.index] = info.name;
                       return ok_status();
                     },
                     [&] { names.clear(); });
    if (!st.ok()) return fail(st.error(), "listing links");

    auto resolve = [&](int ifindex) -> std::optional<std::string> {
      auto it = names.find(ifindex);
      if (it == names.end()) return std::nullopt;
      return it->second;
    };
    std::vector<Route> routes;
    st = dump([] { return RtnlMessage::dump_routes(); },
              [&](const nlmsghdr* nlh) -> Status {
                WGATE_ASSIGN_OR_RETURN(auto route, netlink::parse_route_message(nlh, resolve));
                if (route) routes.push_back(std::move(*route));
                return ok_status();
              },
              [&] { routes.clear(); });
    if (!st.ok()) return fail(st.error(), "listing routes");
    return routes;
  }

  Status add_route(const Route& route) override {
    const std::string doing = "adding route " + route_to_string(route);
    int oif = 0;
    if (route.type == RouteType::unicast) {
      if (route.device.empty()) return make_error(doing + ": a unicast route needs a device");
      WGATE_ASSIGN_OR_RETURN(auto index, link_index(route.device));
      if (!index) return Error{doing + ": no such device " + route.device, ENODEV};
      oif = *index;
    }
    auto msg = RtnlMessage::new_route(route, oif);
    if (!msg.ok()) return msg.error().with_context(doing);
    return send_add(std::move(*msg), route, [this] { return list_routes(); }, doing);
  }

  Status delete_route(const Route& route) override {
    const std::string doing = "deleting route " + route_to_string(route);
    int oif = 0;
    if (route.type == RouteType::unicast && !route.device.empty()) {
      WGATE_ASSIGN_OR_RETURN(auto index, link_index(route.device));
      // The kernel drops a link's routes with the link: nothing left to do.
      if (!index) return ok_status();
      oif = *index;
    }
    auto msg = RtnlMessage::delete_route(route, oif);
    if (!msg.ok()) return msg.error().with_context(doing);
    Status st = send(*msg, nullptr);
    if (st.ok() || is_absent(st.error().sys_errno)) return ok_status();
    return fail(st.error(), doing);
  }

  Result<std::vector<Rule>> list_rules() override {
    std::vector<Rule> rules;
    Status st = dump([] { return RtnlMessage::dump_rules(); },
                     [&](const nlmsghdr* nlh) -> Status {
                       WGATE_ASSIGN_OR_RETURN(auto rule, netlink::parse_rule_message(nlh));
                       if (rule) rules.push_back(std::move(*rule));
                       return ok_status();
                     },
                     [&] { rules.clear(); });
    if (!st.ok()) return fail(st.error(), "listing rules");
    return rules;
  }

  Status add_rule(const Rule& rule) override {
    const std::string doing = "adding rule " + rule_to_string(rule);
    auto msg = RtnlMessage::new_rule(rule);
    if (!msg.ok()) return msg.error().with_context(doing);
    return send_add(std::move(*msg), rule, [this] { return list_rules(); }, doing);
  }

  Status delete_rule(const Rule& rule) override {
    const std::string doing = "deleting rule " + rule_to_string(rule);
    auto msg = RtnlMessage::delete_rule(rule);
    if (!msg.ok()) return msg.error().with_context(doing);
    Status st = send(*msg, nullptr);
    if (st.ok() || is_absent(st.error().sys_errno)) return ok_status();
    return fail(st.error(), doing);
  }

 private:
  // Sends an add request for `item` (a Route or Rule). EEXIST only says the
  // key (table, destination / priority, selector) is taken; it counts as
  // success only if what sits there is exactly `item`.
  template <class T, class ListExisting>
  Status send_add(RtnlMessage msg, const T& item, ListExisting list_existing, const std::string& doing) {
    Status st = send(std::move(msg), nullptr);
    if (st.ok()) return ok_status();
    if (st.error().sys_errno == EEXIST) {
      auto existing = list_existing();
      if (existing.ok() && std::find(existing->begin(), existing->end(), item) != existing->end()) {
        return ok_status();
      }
    }
    return fail(st.error(), doing);
  }

  Status send(RtnlMessage msg, const netlink::MessageHandler& on_message) {
    msg.set_seq(sock_.next_seq());
    return sock_.request(msg.header(), on_message);
  }

  Status dump(RtnlMessage (*build)(), const netlink::MessageHandler& on_message, const std::function<void()>& restart) {
    return sock_.dump(
        [&] {
          RtnlMessage msg = build();
          msg.set_seq(sock_.next_seq());
          return msg.bytes();
        },
        on_message, restart);
  }

  netlink::MnlSocket sock_;
};

}  // namespace

Result<std::unique_ptr<Router>> make_netlink_router() {
  auto sock = netlink::MnlSocket::open(NETLINK_ROUTE);
  if (!sock.ok()) return sock.error().with_context("opening rtnetlink");
  return std::unique_ptr<Router>(std::make_unique<NetlinkRouter>(std::move(sock).value()));
}

}  // namespace wgate
