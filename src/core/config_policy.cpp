#include "core/config_policy.h"

#include <algorithm>

#include "core/names.h"
#include "core/plan_text.h"
#include "core/policy.h"

namespace wgate {
namespace {

using namespace config_toml;

// The network `to` names, or the first one (among `candidates`, else all)
// with a prefix holding the CIDR `to`; fills network and destinations.
bool resolve_destination(const Config& cfg, const std::vector<std::string>* candidates, PolicyConfig& policy,
                         const std::string& where, Problems& problems) {
  if (const NetworkConfig* net = cfg.find_network(policy.to)) {
    policy.network = net->name;
    policy.destinations = net->prefixes;
    return true;
  }
  auto cidr = Prefix::parse(policy.to);
  if (!cidr) {
    problems.add(where, "'" + policy.to + "' is neither a network name from [networks] nor a CIDR (" +
                            cidr.error().message + ")");
    return false;
  }
  if (!cidr->address().is_v4()) {
    problems.add(where, "'" + policy.to + "' is IPv6, which is not supported yet");
    return false;
  }
  for (const auto& net : cfg.networks) {
    if (candidates && std::find(candidates->begin(), candidates->end(), net.name) == candidates->end()) continue;
    for (const auto& p : net.prefixes) {
      if (p.contains(*cidr)) {
        policy.network = net.name;
        policy.destinations = {*cidr};
        return true;
      }
    }
  }
  problems.add(where, "'" + policy.to + "' lies in no " +
                          (candidates ? "network of the group (groups." + policy.group + ".networks)"
                                      : std::string("network of [networks]")) +
                          ": a policy can only narrow what a group routes");
  return false;
}

void load_policy(const toml::table& t, size_t number, Config& cfg, Problems& problems) {
  const std::string where = "policy[" + std::to_string(number - 1) + "]";
  reject_unknown_keys(t, where, {"group", "person", "to", "allow"}, problems);
  PolicyConfig policy;
  policy.number = number;
  policy.group = get_string(t, "group", where, problems).value_or("");
  policy.person = get_string(t, "person", where, problems).value_or("");
  bool ok = true;
  const GroupConfig* group = nullptr;
  if (policy.group.empty() == policy.person.empty()) {
    problems.add(where, "needs exactly one of group = \"<group>\" or person = \"<name>\"");
    ok = false;
  } else if (!policy.group.empty()) {
    group = cfg.find_group(policy.group);
    if (!group) {
      problems.add(where + ".group", "unknown group '" + policy.group + "'");
      ok = false;
    }
  } else if (auto st = check_user_name(policy.person); !st) {
    problems.add(where + ".person", st.error().message);
    ok = false;
  }

  policy.to = get_string(t, "to", where, problems).value_or("");
  if (policy.to.empty()) {
    if (!t.get("to")) problems.add(where + ".to", "required: a network name from [networks] or a CIDR inside one");
    ok = false;
  } else if (!policy.group.empty() && !group) {
    ok = false;  // reported above; the destination cannot be checked against it
  } else if (!resolve_destination(cfg, group ? &group->networks : nullptr, policy, where + ".to", problems)) {
    ok = false;
  } else if (group && std::find(group->networks.begin(), group->networks.end(), policy.network) == group->networks.end()) {
    problems.add(where + ".to", "group '" + group->name + "' does not route network '" + policy.network +
                                    "' (add it to groups." + group->name + ".networks)");
    ok = false;
  }

  const toml::node* allow = t.get("allow");
  const toml::array* arr = allow ? allow->as_array() : nullptr;
  if (!arr || arr->empty()) {
    problems.add(where + ".allow", "required: a non-empty list like [\"tcp/22\", \"udp/53\", \"icmp\"]");
    ok = false;
  } else {
    for (size_t i = 0; i < arr->size(); ++i) {
      const std::string item_key = where + ".allow[" + std::to_string(i) + "]";
      auto text = arr->get(i)->value<std::string>();
      if (!text) {
        problems.add(item_key, "must be a string like \"tcp/22\"");
        ok = false;
        continue;
      }
      auto service = parse_gateway_service(*text);
      if (!service) {
        problems.add(item_key, service.error().message);
        ok = false;
        continue;
      }
      policy.allow.push_back(*service);
    }
  }
  if (ok) cfg.policies.push_back(std::move(policy));
}

}  // namespace

std::string PolicyConfig::describe() const {
  std::string out = "policy #" + std::to_string(number) + " (" + (group.empty() ? "person " + person : "group " + group) +
                    " -> " + to + ": ";
  for (size_t i = 0; i < allow.size(); ++i) out += (i ? ", " : "") + gateway_service_to_string(allow[i]);
  return out + ")";
}

void load_policies(const toml::table& root, Config& cfg, Problems& problems) {
  const toml::node* node = root.get("policy");
  if (!node) return;
  const toml::array* arr = node->as_array();
  if (!arr) return problems.add("policy", "must be an array of tables: write each as [[policy]]");
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table* t = arr->get(i)->as_table();
    if (!t) {
      problems.add("policy[" + std::to_string(i) + "]", "must be a table ([[policy]])");
      continue;
    }
    load_policy(*t, i + 1, cfg, problems);
  }
  // A group's own policies must fit the filter, or the group could not be
  // enforced at all; found here, `check-config` and a reload refuse it
  // instead of the daemon failing every pass. (A person's policies add to
  // each of their groups' at compile(), which falls back to the group's
  // rules with a warning when the sum does not fit.)
  for (const auto& group : cfg.groups) {
    DeviceRules rules = rules_for(cfg, group.name, "");
    if (!rules.group_has_policies) continue;
    if (auto fits = filter_can_hold(rules.rules); !fits)
      problems.add("policy", "the policies of group '" + group.name + "' do not fit the filter: " +
                                 fits.error().message + "; merge them into fewer ranges");
  }
}

}  // namespace wgate
