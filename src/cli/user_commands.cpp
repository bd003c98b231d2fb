// wgate user add|list|disable|enable, wgate group add-member|remove-member|list
#include <iostream>

#include "cli/commands.h"
#include "service/json.h"

namespace wgate::cli {
namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

}  // namespace

void register_user_commands(CLI::App& app, Context& ctx) {
  auto* user = app.add_subcommand("user", "Manage users")->require_subcommand(1);

  auto& add_req = ctx.options<service::AddUserRequest>();
  auto* add = user->add_subcommand("add", "Add a user and lease them a stable address block");
  add->add_option("name", add_req.name, "User name")->required();
  add->add_option("--email", add_req.email, "E-mail address");
  add->add_option("--group", add_req.groups, "Group to join (repeatable)");
  add->callback([&ctx, &add_req] {
    auto person = get_or_fail(service::add_user(ctx.store(), ctx.config(), add_req, ctx.now(), ctx.actor()));
    nlohmann::json j = service::to_json(person);
    // The first device address, for scripts that expect one address.
    j["address"] = person.block ? nlohmann::json(person.block->address().to_string()) : nlohmann::json(nullptr);
    ctx.emit(j, [&] {
      std::cout << "added user " << person.user.name << " with address block "
                << (person.block ? person.block->to_string() : "-") << "\n";
    });
  });

  auto* list = user->add_subcommand("list", "List users with their address blocks, groups and devices");
  list->callback([&ctx] {
    auto people = get_or_fail(service::list_people(ctx.store(), ctx.config()));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& p : people) arr.push_back(service::to_json(p));
    ctx.emit(arr, [&] {
      std::printf("%-6s %-20s %-18s %-9s %-20s %s\n", "ID", "NAME", "BLOCK", "STATE", "GROUPS", "DEVICES");
      for (const auto& p : people) {
        std::string devices;
        for (const auto& d : p.devices) {
          devices += (devices.empty() ? "" : ",") + d.device.name + "=" + (d.address ? d.address->to_string() : "-");
        }
        std::printf("%-6lld %-20s %-18s %-9s %-20s %s\n", static_cast<long long>(p.user.id), p.user.name.c_str(),
                    p.block ? p.block->to_string().c_str() : "-", p.user.disabled ? "disabled" : "active",
                    join(p.groups).c_str(), devices.c_str());
      }
    });
  });

  for (bool disable : {true, false}) {
    auto* cmd = user->add_subcommand(disable ? "disable" : "enable",
                                     disable ? "Disable a user: their peers are removed and the block released"
                                             : "Enable a user again (they get their old block back if free)");
    auto& target = ctx.options<std::string>();
    cmd->add_option("name", target, "User name")->required();
    cmd->callback([&ctx, &target, disable] {
      check(service::set_user_disabled(ctx.store(), ctx.config(), target, disable, ctx.now(), ctx.actor()));
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
      if (adding) {
        check(service::add_membership(ctx.store(), ctx.config(), who, which, ctx.now(), ctx.actor()));
      } else {
        check(service::remove_membership(ctx.store(), ctx.config(), who, which, ctx.now(), ctx.actor()));
      }
      ctx.emit({{"user", who}, {"group", which}, {"member", adding}}, [&] {
        std::cout << (adding ? "added " : "removed ") << who << (adding ? " to " : " from ") << which << "\n";
      });
    });
  }
  auto* glist = group->add_subcommand("list", "List groups with their networks and members");
  glist->callback([&ctx] {
    auto groups = get_or_fail(service::list_groups(ctx.store(), ctx.config()));
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& g : groups) arr.push_back(service::to_json(g));
    ctx.emit(arr, [&] {
      for (const auto& g : groups) {
        std::cout << g.name << ": interface " << g.interface << ", port " << g.port << ", table " << g.table
                  << ", networks [" << join(g.networks) << "], members [" << join(g.members) << "]\n";
      }
    });
  });
}

}  // namespace wgate::cli
