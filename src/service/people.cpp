// Service: people, groups, leases, setup.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "core/ipam.h"
#include "service/service.h"
#include "store/private_dir.h"

namespace wgate::service {
namespace {

Status require_group(const Config& config, const std::string& group) {
  if (config.find_group(group)) return ok_status();
  std::string known;
  for (const auto& g : config.groups) known += (known.empty() ? "" : ", ") + g.name;
  return make_error("no group '" + group + "' in the config (groups: " + known + ")");
}

}  // namespace

AddressPlan address_plan(const Config& config) { return AddressPlan{config.user_pool(), config.per_user}; }

Result<InitReport> initialize(const Config& config) {
  InitReport report;
  report.store_path = config.server.store_path;
  report.state_dir = config.server.state_dir;
  WGATE_TRY(make_private_dirs(config.server.state_dir));
  const auto slash = config.server.store_path.rfind('/');
  if (slash != std::string::npos && slash > 0) WGATE_TRY(make_private_dirs(config.server.store_path.substr(0, slash)));
  struct stat st {};
  report.created_store = ::stat(config.server.store_path.c_str(), &st) != 0;
  WGATE_ASSIGN_OR_RETURN(auto store, open_sqlite_store(config.server.store_path, StoreOpen::create));
  (void)store;
  return report;
}

Result<PersonView> add_user(Store& store, const Config& config, const AddUserRequest& request, UnixTime now,
                            const Actor& actor) {
  std::set<std::string> seen;
  for (const auto& g : request.groups) {
    WGATE_TRY(require_group(config, g));
    if (!seen.insert(g).second) return make_error("group '" + g + "' is given twice");
  }
  NewUser user{request.name, request.email, request.groups};
  WGATE_ASSIGN_OR_RETURN(User added, store.add_user(user, address_plan(config), now, actor));
  WGATE_ASSIGN_OR_RETURN(auto people, list_people(store, config));
  for (auto& p : people) {
    if (p.user.id == added.id) return std::move(p);
  }
  return make_error("user '" + added.name + "' vanished right after being added");
}

Status set_user_disabled(Store& store, const Config& config, const std::string& user, bool disabled, UnixTime now,
                         const Actor& actor) {
  return store.set_user_disabled(user, disabled, address_plan(config), now, actor);
}

Status add_membership(Store& store, const Config& config, const std::string& user, const std::string& group,
                      UnixTime now, const Actor& actor) {
  WGATE_TRY(require_group(config, group));
  return store.add_membership(user, group, actor, now);
}

Status remove_membership(Store& store, const Config& config, const std::string& user, const std::string& group,
                         UnixTime now, const Actor& actor) {
  // A group removed from the config may still have members to clean up.
  (void)config;
  return store.remove_membership(user, group, actor, now);
}

Result<std::vector<PersonView>> list_people(Store& store, const Config& config) {
  (void)config;
  WGATE_ASSIGN_OR_RETURN(State state, store.snapshot());
  std::map<int64_t, PersonView> by_id;
  for (const auto& u : state.users) by_id[u.id].user = u;
  for (const auto& l : state.current_leases) {
    if (by_id.count(l.user_id)) by_id[l.user_id].block = l.block;
  }
  for (const auto& m : state.memberships) {
    if (by_id.count(m.user_id)) by_id[m.user_id].groups.push_back(m.group);
  }
  for (const auto& d : state.devices) {
    auto it = by_id.find(d.user_id);
    if (it == by_id.end()) continue;
    DeviceView view{d, std::nullopt};
    if (it->second.block) view.address = device_address(*it->second.block, d.slot);
    it->second.devices.push_back(view);
  }
  std::vector<PersonView> out;
  for (auto& [id, p] : by_id) {
    std::sort(p.groups.begin(), p.groups.end());
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const PersonView& a, const PersonView& b) { return a.user.name < b.user.name; });
  return out;
}

Result<std::vector<GroupView>> list_groups(Store& store, const Config& config) {
  WGATE_ASSIGN_OR_RETURN(auto users, store.list_users());
  std::map<int64_t, std::string> names;
  for (const auto& u : users) names[u.id] = u.name;
  WGATE_ASSIGN_OR_RETURN(auto memberships, store.list_memberships());
  std::map<std::string, std::vector<std::string>> members;
  for (const auto& m : memberships) members[m.group].push_back(names[m.user_id]);
  std::vector<GroupView> out;
  for (const auto& g : config.groups) {
    GroupView v{g.name, g.interface, g.port, g.table, g.networks, members[g.name]};
    std::sort(v.members.begin(), v.members.end());
    out.push_back(std::move(v));
  }
  return out;
}

Result<std::vector<LeaseMove>> relocate_leases(Store& store, const Config& config, UnixTime now, const Actor& actor) {
  return store.relocate_leases(address_plan(config), now, actor);
}

}  // namespace wgate::service
