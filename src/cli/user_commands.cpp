// wgate user add|list|disable|enable, wgate group add-member|remove-member|list
#include <iostream>
#include <map>

#include "cli/commands.h"

namespace wgate::cli {
namespace {

void require_group(Context& ctx, const std::string& group) {
  if (!ctx.config().find_group(group)) {
    std::string known;
    for (const auto& g : ctx.config().groups) known += (known.empty() ? "" : ", ") + g.name;
    throw CommandError{"no group '" + group + "' in the config (groups: " + known + ")"};
  }
}

// user name -> current address, groups
struct UserView {
  std::map<int64_t, std::string> address;
  std::map<int64_t, std::vector<std::string>> groups;
};

UserView load_view(Context& ctx) {
  UserView v;
  for (const auto& l : get_or_fail(ctx.store().current_leases())) v.address[l.user_id] = l.address.to_string();
  for (const auto& m : get_or_fail(ctx.store().list_memberships())) v.groups[m.user_id].push_back(m.group);
  return v;
}

nlohmann::json user_json(const User& u, const UserView& v) {
  return {{"id", u.id},
          {"name", u.name},
          {"email", u.email},
          {"disabled", u.disabled},
          {"address", v.address.count(u.id) ? nlohmann::json(v.address.at(u.id)) : nlohmann::json(nullptr)},
          {"groups", v.groups.count(u.id) ? v.groups.at(u.id) : std::vector<std::string>{}},
          {"created_at", u.created_at}};
}

}  // namespace

void register_user_commands(CLI::App& app, Context& ctx) {
  auto* user = app.add_subcommand("user", "Manage users")->require_subcommand(1);

  auto* add = user->add_subcommand("add", "Add a user and lease them a stable address");
  struct AddOptions {
    std::string name, email;
    std::vector<std::string> groups;
  };
  auto& add_opts = ctx.options<AddOptions>();
  auto& name = add_opts.name;
  auto& email = add_opts.email;
  auto& groups = add_opts.groups;
  add->add_option("name", name, "User name")->required();
  add->add_option("--email", email, "E-mail address");
  add->add_option("--group", groups, "Group to join (repeatable)");
  add->callback([&ctx, &name, &email, &groups] {
    for (const auto& g : groups) require_group(ctx, g);
    User u = get_or_fail(ctx.store().add_user(name, email, ctx.config().user_pool(), ctx.now(), ctx.actor()));
    for (const auto& g : groups) check(ctx.store().add_membership(name, g, ctx.actor(), ctx.now()));
    UserView v = load_view(ctx);
    ctx.emit(user_json(u, v), [&] {
      std::cout << "added user " << u.name << " with address " << v.address[u.id] << "\n";
    });
  });

  auto* list = user->add_subcommand("list", "List users");
  list->callback([&ctx] {
    auto users = get_or_fail(ctx.store().list_users());
    UserView v = load_view(ctx);
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& u : users) arr.push_back(user_json(u, v));
    ctx.emit(arr, [&] {
      std::printf("%-6s %-20s %-16s %-9s %s\n", "ID", "NAME", "ADDRESS", "STATE", "GROUPS");
      for (const auto& u : users) {
        std::string gs;
        for (const auto& g : v.groups[u.id]) gs += (gs.empty() ? "" : ",") + g;
        std::printf("%-6lld %-20s %-16s %-9s %s\n", static_cast<long long>(u.id), u.name.c_str(),
                    v.address.count(u.id) ? v.address[u.id].c_str() : "-", u.disabled ? "disabled" : "active",
                    gs.c_str());
      }
    });
  });

  for (bool disable : {true, false}) {
    auto* cmd = user->add_subcommand(disable ? "disable" : "enable",
                                     disable ? "Disable a user: their peers are removed and the address released"
                                             : "Enable a user again (they get their old address back if free)");
    auto& target = ctx.options<std::string>();
    cmd->add_option("name", target, "User name")->required();
    cmd->callback([&ctx, &target, disable] {
      check(ctx.store().set_user_disabled(target, disable, ctx.config().user_pool(), ctx.now(), ctx.actor()));
      ctx.emit({{"name", target}, {"disabled", disable}}, [&] {
        std::cout << (disable ? "disabled " : "enabled ") << target << "\n";
      });
    });
  }

  auto* group = app.add_subcommand("group", "Manage group membership")->require_subcommand(1);
  for (bool adding : {true, false}) {
    auto* cmd = group->add_subcommand(adding ? "add-member" : "remove-member",
                                      adding ? "Add a user to a group" : "Remove a user from a group");
    auto& who = ctx.options<std::string>();
    auto& which = ctx.options<std::string>();
    cmd->add_option("user", who, "User name")->required();
    cmd->add_option("group", which, "Group name")->required();
    cmd->callback([&ctx, &who, &which, adding] {
      require_group(ctx, which);
      if (adding) {
        check(ctx.store().add_membership(who, which, ctx.actor(), ctx.now()));
      } else {
        check(ctx.store().remove_membership(who, which, ctx.actor(), ctx.now()));
      }
      ctx.emit({{"user", who}, {"group", which}, {"member", adding}}, [&] {
        std::cout << (adding ? "added " : "removed ") << who << (adding ? " to " : " from ") << which
                  << "\n";
      });
    });
  }
  auto* glist = group->add_subcommand("list", "List groups with their networks and members");
  glist->callback([&ctx] {
    auto users = get_or_fail(ctx.store().list_users());
    std::map<int64_t, std::string> names;
    for (const auto& u : users) names[u.id] = u.name;
    std::map<std::string, std::vector<std::string>> members;
    for (const auto& m : get_or_fail(ctx.store().list_memberships())) members[m.group].push_back(names[m.user_id]);
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& g : ctx.config().groups) {
      arr.push_back({{"name", g.name},
                     {"interface", g.interface},
                     {"port", g.port},
                     {"table", g.table},
                     {"networks", g.networks},
                     {"members", members[g.name]}});
    }
    ctx.emit(arr, [&] {
      for (const auto& g : arr) {
        std::cout << g["name"].get<std::string>() << ": interface " << g["interface"].get<std::string>() << ", port "
                  << g["port"] << ", table " << g["table"] << ", networks " << g["networks"].dump() << ", members "
                  << g["members"].dump() << "\n";
      }
    });
  });
}

}  // namespace wgate::cli
