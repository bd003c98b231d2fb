// Firewall over libnftables: applies render_nft_ruleset() in one transaction
// and checks the kernel's table against what that transaction produced.
//
// Why a recorded listing and not a check against the plan: a table can look
// right in every field a checker thinks of (names, comments, element lists)
// and still do nothing (`flags dormant`) or something else (a rule edited
// but keeping its comment). Comparing the whole listing leaves nothing out
// that nft can show: table flags and comment, chain types, hooks,
// priorities and policies, set definitions and elements, and every
// expression of every rule. Rendering the expected listing ourselves would
// mean re-implementing nft's printer (payload dependencies, set element
// syntax, priority names), so the reference is what nft itself lists right
// after our own transaction. The text listing is used, not JSON: nftables
// 1.0.6 prints a dormant table's flags in JSON as an unrelated string and
// leaves the table comment out.
//
// Ruleset generations make the recording exact: the kernel bumps the
// namespace's nftables generation by one on every committed transaction, so
// "generation before apply + 1 == generation after listing" proves that the
// listing shows our transaction and nothing else. An unchanged generation
// later proves nothing was committed since, which lets in_sync() skip the
// listing on the daemon's periodic pass.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/firewall.h"
#include "dataplane/nftables_ruleset.h"
#include "netlink/socket.h"

namespace wgate {
namespace {

// Move-only owner of a libnftables context with output and errors buffered,
// so that listings can be read and errors returned as values.
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

  // Runs `commands` (one transaction) with exactly `output_flags`
  // (NFT_CTX_OUTPUT_*) and returns what nft printed.
  Result<std::string> run(const std::string& commands, unsigned int output_flags = 0) {
    nft_ctx_output_set_flags(ctx_, output_flags);
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

const std::string kTableRef = std::string(kNftFamily) + " " + kNftTable;

// Lists table names rather than the table itself so that "absent" is not
// inferred from an error message. Text, not JSON: see the file comment.
Result<bool> table_exists(NftContext& nft) {
  WGATE_ASSIGN_OR_RETURN(std::string names, nft.run(std::string("list tables ") + kNftFamily));
  const std::string line = "table " + kTableRef;
  for (size_t at = names.find(line); at != std::string::npos; at = names.find(line, at + 1)) {
    const size_t end = at + line.size();
    if ((at == 0 || names[at - 1] == '\n') && (end == names.size() || names[end] == '\n')) return true;
  }
  return false;
}

// The table as nft lists it, without handles (off by default) and without
// counter values (stateless): what must not change while the table is ours.
// nullopt when there is no table.
Result<std::optional<std::string>> list_table(NftContext& nft) {
  auto listing = nft.run("list table " + kTableRef, NFT_CTX_OUTPUT_STATELESS);
  if (listing.ok()) return std::optional<std::string>(std::move(*listing));
  WGATE_ASSIGN_OR_RETURN(bool exists, table_exists(nft));
  if (!exists) return std::optional<std::string>();
  return listing.error();
}

// The nftables ruleset generation of the caller's network namespace
// (NFT_MSG_GETGEN).
Result<uint32_t> ruleset_generation() {
  WGATE_ASSIGN_OR_RETURN(netlink::MnlSocket sock, netlink::MnlSocket::open(NETLINK_NETFILTER));
  alignas(nlmsghdr) uint8_t buf[MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg))] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = sock.next_seq();
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  std::optional<uint32_t> generation;
  WGATE_TRY(sock.request(nlh, [&](const nlmsghdr* reply) -> Status {
    if (NFNL_MSG_TYPE(reply->nlmsg_type) != NFT_MSG_NEWGEN) return ok_status();
    mnl_attr_parse(
        reply, sizeof(nfgenmsg),
        [](const nlattr* attr, void* out) -> int {
          if (mnl_attr_get_type(attr) == NFTA_GEN_ID && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
            *static_cast<std::optional<uint32_t>*>(out) = ntohl(mnl_attr_get_u32(attr));
          }
          return MNL_CB_OK;
        },
        &generation);
    return ok_status();
  }));
  if (!generation) return make_error("netlink: NFT_MSG_GETGEN reply without a generation");
  return *generation;
}

// The generation a single commit after `g` produces (the kernel skips 0).
uint32_t next_generation(uint32_t g) { return g + 1 == 0 ? 1 : g + 1; }

// Identifies the caller's network namespace, so that a record made in one
// namespace is never taken for another's (generations are per namespace).
Result<uint64_t> network_namespace_id() {
  struct stat st {};
  if (stat("/proc/thread-self/ns/net", &st) != 0) return errno_error(errno, "identifying network namespace");
  return static_cast<uint64_t>(st.st_ino);
}

class NftablesFirewall final : public Firewall {
 public:
  // A fresh libnftables context per operation: no cache outlives a call,
  // and each call acts on the caller's current network namespace.
  Result<bool> in_sync(const FirewallPlan& plan) override {
    auto r = observe(plan);
    if (!r.ok()) return r.error().with_context("observing firewall");
    return r;
  }

  Status apply(const FirewallPlan& plan) override {
    WGATE_TRY(validate_firewall_plan(plan));
    applied_.reset();
    auto st = replace_and_record(plan);
    if (!st.ok()) return st.error().with_context("applying firewall");
    return ok_status();
  }

  Status remove() override {
    applied_.reset();
    WGATE_ASSIGN_OR_RETURN(NftContext nft, NftContext::create());
    // nftables 1.0.6 has no `destroy`: add-then-delete succeeds either way.
    auto r = nft.run("table " + kTableRef + "\ndelete table " + kTableRef + "\n");
    if (!r.ok()) return r.error().with_context("removing firewall");
    return ok_status();
  }

 private:
  // What our last successful apply() left in the kernel.
  struct Applied {
    FirewallPlan plan;        // as given to apply()
    std::string fingerprint;  // of `plan`
    uint64_t netns = 0;
    std::string listing;      // list_table() right after our transaction
    uint32_t generation = 0;  // a generation at which the table was exactly `listing`
  };

  // Whether `plan` renders the table recorded in applied_: equal plans do
  // without rendering (the periodic pass passes the same plan each time);
  // plans equal only up to order and duplicates compare fingerprints.
  bool recorded_plan(const FirewallPlan& plan) const {
    return applied_ && (plan == applied_->plan || nft_ruleset_spec(plan).fingerprint == applied_->fingerprint);
  }

  Result<bool> observe(const FirewallPlan& plan) {
    // The generation is read first even when the answer is known, so that a
    // kernel that cannot be observed is an error, never a guessed "false".
    WGATE_ASSIGN_OR_RETURN(uint32_t before, ruleset_generation());
    WGATE_ASSIGN_OR_RETURN(uint64_t netns, network_namespace_id());
    // Nothing recorded for this plan (first pass after a start, or the plan
    // changed): out of sync, and the caller's apply() records it.
    if (!recorded_plan(plan) || applied_->netns != netns) return false;
    if (before == applied_->generation) return true;  // nothing committed since
    WGATE_ASSIGN_OR_RETURN(NftContext nft, NftContext::create());
    WGATE_ASSIGN_OR_RETURN(std::optional<std::string> listing, list_table(nft));
    WGATE_ASSIGN_OR_RETURN(uint32_t after, ruleset_generation());
    if (!listing || *listing != applied_->listing) return false;
    // Someone else's commit (another table): ours is unchanged at `after`
    // if nothing was committed while we listed.
    if (after == before) applied_->generation = after;
    return true;
  }

  Status replace_and_record(const FirewallPlan& plan) {
    const std::string ruleset = render_nft_ruleset(plan);
    std::string fingerprint = nft_ruleset_spec(plan).fingerprint;
    WGATE_ASSIGN_OR_RETURN(uint64_t netns, network_namespace_id());
    WGATE_ASSIGN_OR_RETURN(NftContext nft, NftContext::create());
    // Create-if-missing, delete, define: one transaction whether or not the
    // table exists, so the kernel never sees a half-built firewall.
    const std::string commands = "table " + kTableRef + "\ndelete table " + kTableRef + "\n" + ruleset;
    // Another process's commit between our transaction and our listing
    // makes the listing unprovable; replacing again is harmless (atomic).
    constexpr int kAttempts = 3;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      WGATE_ASSIGN_OR_RETURN(uint32_t before, ruleset_generation());
      WGATE_TRY(nft.run(commands));
      WGATE_ASSIGN_OR_RETURN(std::optional<std::string> listing, list_table(nft));
      WGATE_ASSIGN_OR_RETURN(uint32_t after, ruleset_generation());
      if (after == next_generation(before)) {
        if (!listing) return make_error("the table vanished right after it was applied");
        applied_ = Applied{plan, std::move(fingerprint), netns, std::move(*listing), after};
        return ok_status();
      }
    }
    return make_error("the table is in place, but other nftables transactions landed between ours and its listing " +
                      std::to_string(kAttempts) + " times, so it could not be recorded as ours");
  }

  std::optional<Applied> applied_;
};

}  // namespace

std::unique_ptr<Firewall> make_nftables_firewall() { return std::make_unique<NftablesFirewall>(); }

}  // namespace wgate
