// Firewall over libnftables: applies render_nft_ruleset() in one transaction
// and observes the kernel's table through nft's JSON listing.
#include <nftables/libnftables.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/firewall.h"
#include "dataplane/nftables_ruleset.h"

namespace wgate {
namespace {

using nlohmann::json;

// Move-only owner of a libnftables context with output and errors buffered,
// so that listings can be parsed and errors returned as values.
class NftContext {
 public:
  static Result<NftContext> create() {
    nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (ctx == nullptr) return make_error("nft_ctx_new failed");
    NftContext owner(ctx);
    if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
      return make_error("nft: cannot buffer output");
    }
    return owner;
  }
  NftContext(NftContext&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}
  NftContext& operator=(NftContext&& other) noexcept {
    if (this != &other) {
      reset();
      ctx_ = std::exchange(other.ctx_, nullptr);
    }
    return *this;
  }
  NftContext(const NftContext&) = delete;
  NftContext& operator=(const NftContext&) = delete;
  ~NftContext() { reset(); }

  // Runs `commands` (one transaction) and returns what nft printed; with
  // `json_output` listings come out as JSON.
  Result<std::string> run(const std::string& commands, bool json_output) {
    unsigned int flags = nft_ctx_output_get_flags(ctx_);
    if (json_output) {
      flags |= NFT_CTX_OUTPUT_JSON;
    } else {
      flags &= ~static_cast<unsigned int>(NFT_CTX_OUTPUT_JSON);
    }
    nft_ctx_output_set_flags(ctx_, flags);
    int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
    // Reading a buffer also rewinds it, so each run starts clean.
    std::string output = nft_ctx_get_output_buffer(ctx_);
    std::string errors = nft_ctx_get_error_buffer(ctx_);
    if (rc != 0) {
      while (!errors.empty() && (errors.back() == '\n' || errors.back() == ' ')) errors.pop_back();
      return make_error("nft: " + (errors.empty() ? std::string("command failed") : errors));
    }
    return output;
  }

 private:
  explicit NftContext(nft_ctx* ctx) : ctx_(ctx) {}
  void reset() {
    if (ctx_ != nullptr) nft_ctx_free(ctx_);
    ctx_ = nullptr;
  }
  nft_ctx* ctx_ = nullptr;
};

Result<json> run_json(NftContext& nft, const std::string& command) {
  WGATE_ASSIGN_OR_RETURN(std::string text, nft.run(command, true));
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("nftables") || !doc["nftables"].is_array()) {
    return make_error("nft: unexpected JSON listing for \"" + command + "\"");
  }
  return doc["nftables"];
}

std::string str_field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// One element of an address set as a prefix; nullopt for anything wgate
// never writes (ranges, concatenations...), which makes the set differ.
std::optional<Prefix> element_prefix(const json& elem) {
  if (elem.is_object() && elem.contains("elem")) {  // element with extras
    const json& inner = elem["elem"];
    return inner.contains("val") ? element_prefix(inner["val"]) : std::nullopt;
  }
  if (elem.is_string()) {
    auto p = Prefix::parse(elem.get<std::string>());
    return p.ok() ? std::optional<Prefix>(*p) : std::nullopt;
  }
  if (elem.is_object() && elem.contains("prefix")) {
    const json& pfx = elem["prefix"];
    if (!pfx.contains("addr") || !pfx["addr"].is_string() || !pfx.contains("len") ||
        !pfx["len"].is_number_integer()) {
      return std::nullopt;
    }
    auto p = Prefix::parse(pfx["addr"].get<std::string>() + "/" +
                           std::to_string(pfx["len"].get<int>()));
    return p.ok() ? std::optional<Prefix>(*p) : std::nullopt;
  }
  return std::nullopt;
}

// An observed set matches when its type, flags and elements are what the
// spec renders.
bool set_matches(const json& set, const std::string& type, bool interval,
                 const std::vector<std::string>* names, const std::vector<Prefix>* prefixes) {
  if (str_field(set, "type") != type) return false;
  bool has_interval = false;
  if (auto it = set.find("flags"); it != set.end()) {
    if (!it->is_array()) return false;
    for (const json& f : *it) {
      if (f == "interval") {
        has_interval = true;
      } else {
        return false;
      }
    }
  }
  if (has_interval != interval) return false;
  json elems = set.contains("elem") ? set["elem"] : json::array();
  if (!elems.is_array()) return false;
  if (names != nullptr) {
    std::vector<std::string> seen;
    for (const json& e : elems) {
      if (!e.is_string()) return false;
      seen.push_back(e.get<std::string>());
    }
    std::sort(seen.begin(), seen.end());
    return seen == *names;
  }
  std::vector<Prefix> seen;
  for (const json& e : elems) {
    auto p = element_prefix(e);
    if (!p) return false;
    seen.push_back(*p);
  }
  std::sort(seen.begin(), seen.end());
  return seen == *prefixes;
}

bool rule_matches(const json& rule, const std::string& comment) {
  if (str_field(rule, "chain") != kNftChain || str_field(rule, "comment") != comment) return false;
  auto it = rule.find("expr");
  if (it == rule.end() || !it->is_array() || it->size() < 2) return false;
  // The verdict must still be the counted drop wgate wrote.
  const json& exprs = *it;
  return exprs.back().contains("drop") && exprs[exprs.size() - 2].contains("counter");
}

// Compares the observed `table inet wgate` listing with the spec: the exact
// set of objects, set contents, the base chain's hook, and each rule's
// fingerprinted comment in order. A deleted table, a flushed chain, an edited
// set or a stale plan all read as out of sync.
bool table_matches(const json& objects, const NftRulesetSpec& spec) {
  std::map<std::string, const json*> sets;
  std::vector<const json*> chains;
  std::vector<const json*> rules;
  for (const json& obj : objects) {
    if (!obj.is_object() || obj.size() != 1) return false;
    const std::string kind = obj.begin().key();
    const json& body = obj.begin().value();
    if (kind == "metainfo" || kind == "table") continue;
    if (kind == "set") {
      sets[str_field(body, "name")] = &body;
    } else if (kind == "chain") {
      chains.push_back(&body);
    } else if (kind == "rule") {
      rules.push_back(&body);
    } else {
      return false;  // maps, counters, flowtables...: not ours
    }
  }

  if (sets.size() != 5 || chains.size() != 1) return false;
  auto has = [&](const char* name) { return sets.count(name) == 1; };
  if (!has("ifaces") || !has("protected4") || !has("protected6") || !has("pools4") ||
      !has("pools6")) {
    return false;
  }
  if (!set_matches(*sets["ifaces"], "ifname", false, &spec.interfaces, nullptr) ||
      !set_matches(*sets["protected4"], "ipv4_addr", true, nullptr, &spec.protected4) ||
      !set_matches(*sets["protected6"], "ipv6_addr", true, nullptr, &spec.protected6) ||
      !set_matches(*sets["pools4"], "ipv4_addr", true, nullptr, &spec.pools4) ||
      !set_matches(*sets["pools6"], "ipv6_addr", true, nullptr, &spec.pools6)) {
    return false;
  }

  const json& chain = *chains.front();
  if (str_field(chain, "name") != kNftChain || str_field(chain, "type") != "filter" ||
      str_field(chain, "hook") != "forward" || str_field(chain, "policy") != "accept" ||
      !chain.contains("prio") || chain["prio"] != 0) {
    return false;
  }

  if (rules.size() != spec.rule_comments.size()) return false;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (!rule_matches(*rules[i], spec.rule_comments[i])) return false;
  }
  return true;
}

class NftablesFirewall final : public Firewall {
 public:
  // A fresh context per operation: no cache outlives a call, and each call
  // acts on the caller's current network namespace.
  Result<bool> in_sync(const FirewallPlan& plan) override {
    WGATE_ASSIGN_OR_RETURN(NftContext nft, NftContext::create());
    WGATE_ASSIGN_OR_RETURN(bool exists, table_exists(nft));
    if (!exists) return false;
    auto listing = run_json(nft, std::string("list table ") + kNftFamily + " " + kNftTable);
    if (!listing.ok()) return listing.error().with_context("observing firewall");
    return table_matches(*listing, nft_ruleset_spec(plan));
  }

  Status apply(const FirewallPlan& plan) override {
    WGATE_TRY(validate_firewall_plan(plan));
    WGATE_ASSIGN_OR_RETURN(NftContext nft, NftContext::create());
    // Create-if-missing, delete, define: one transaction whether or not the
    // table exists, so the kernel never sees a half-built firewall.
    std::string commands = std::string("table ") + kNftFamily + " " + kNftTable + "\n" +
                           "delete table " + kNftFamily + " " + kNftTable + "\n" +
                           render_nft_ruleset(plan);
    auto r = nft.run(commands, false);
    if (!r.ok()) return r.error().with_context("applying firewall");
    return ok_status();
  }

  Status remove() override {
    WGATE_ASSIGN_OR_RETURN(NftContext nft, NftContext::create());
    // nftables 1.0.6 has no `destroy`: add-then-delete succeeds either way.
    std::string commands = std::string("table ") + kNftFamily + " " + kNftTable + "\n" +
                           "delete table " + kNftFamily + " " + kNftTable + "\n";
    auto r = nft.run(commands, false);
    if (!r.ok()) return r.error().with_context("removing firewall");
    return ok_status();
  }

 private:
  // Lists table names rather than the table itself so that "absent" is not
  // inferred from an error message.
  static Result<bool> table_exists(NftContext& nft) {
    auto listing = run_json(nft, std::string("list tables ") + kNftFamily);
    if (!listing.ok()) return listing.error().with_context("observing firewall");
    for (const json& obj : *listing) {
      if (obj.is_object() && obj.contains("table") &&
          str_field(obj["table"], "name") == kNftTable) {
        return true;
      }
    }
    return false;
  }
};

}  // namespace

std::unique_ptr<Firewall> make_nftables_firewall() { return std::make_unique<NftablesFirewall>(); }

}  // namespace wgate
