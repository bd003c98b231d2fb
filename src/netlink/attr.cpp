#include "netlink/attr.h"

#include <linux/netlink.h>
#include <net/if.h>

#include <string>

namespace wgate::netlink {

static_assert(sizeof(nlattr) == kAttrHeaderSize);
static_assert(sizeof(nlmsghdr) == kMessageHeaderSize);

// ---- building --------------------------------------------------------------

MessageBuilder::MessageBuilder(uint16_t type, uint16_t flags, uint32_t seq, size_t max_size)
    : buf_(sizeof(nlmsghdr), 0), max_(max_size) {
  nlmsghdr nlh{};
  nlh.nlmsg_type = type;
  nlh.nlmsg_flags = flags;
  nlh.nlmsg_seq = seq;
  std::memcpy(buf_.data(), &nlh, sizeof(nlh));
}

bool MessageBuilder::room_for(size_t n) const {
  const size_t end = buf_.size() + n;
  if (n > max_ || end > max_ || end > UINT32_MAX) return false;
  // The outermost open nest contains all the others.
  return open_nests_.empty() || end - open_nests_.front() <= kMaxAttrSize;
}

bool MessageBuilder::put_header_bytes(const void* data, size_t len) {
  if (!room_for(attr_align(len))) return false;
  const size_t at = buf_.size();
  buf_.resize(at + attr_align(len), 0);
  std::memcpy(buf_.data() + at, data, len);
  return true;
}

uint8_t* MessageBuilder::append_attr(uint16_t type, size_t len) {
  if (len > kMaxAttrSize - kAttrHeaderSize || !room_for(attr_align(kAttrHeaderSize + len))) return nullptr;
  const size_t at = buf_.size();
  buf_.resize(at + attr_align(kAttrHeaderSize + len), 0);
  nlattr hdr{static_cast<uint16_t>(kAttrHeaderSize + len), type};
  std::memcpy(buf_.data() + at, &hdr, sizeof(hdr));
  return buf_.data() + at + kAttrHeaderSize;
}

bool MessageBuilder::put(uint16_t type, const void* data, size_t len) {
  uint8_t* payload = append_attr(type, len);
  if (!payload) return false;
  if (len > 0) std::memcpy(payload, data, len);
  return true;
}

bool MessageBuilder::put_strz(uint16_t type, std::string_view s) {
  uint8_t* payload = append_attr(type, s.size() + 1);  // the NUL is already zero
  if (!payload) return false;
  if (!s.empty()) std::memcpy(payload, s.data(), s.size());
  return true;
}

std::optional<MessageBuilder::Nest> MessageBuilder::nest_start(uint16_t type) {
  if (!room_for(kAttrHeaderSize)) return std::nullopt;
  const size_t at = buf_.size();
  buf_.resize(at + kAttrHeaderSize, 0);
  nlattr hdr{static_cast<uint16_t>(kAttrHeaderSize), static_cast<uint16_t>(type | NLA_F_NESTED)};
  std::memcpy(buf_.data() + at, &hdr, sizeof(hdr));
  open_nests_.push_back(at);
  return Nest{at};
}

void MessageBuilder::nest_end(Nest nest) {
  // Inner nests still open end here too, innermost first, each up to the
  // current end (its padding included, as the kernel counts it).
  while (!open_nests_.empty() && open_nests_.back() >= nest.offset) {
    const size_t at = open_nests_.back();
    open_nests_.pop_back();
    // room_for kept every open nest within kMaxAttrSize.
    const auto len = static_cast<uint16_t>(buf_.size() - at);
    std::memcpy(buf_.data() + at, &len, sizeof(len));
  }
}

void MessageBuilder::nest_cancel(Nest nest) {
  while (!open_nests_.empty() && open_nests_.back() >= nest.offset) open_nests_.pop_back();
  if (nest.offset >= sizeof(nlmsghdr) && nest.offset <= buf_.size()) buf_.resize(nest.offset);
}

std::vector<uint8_t> MessageBuilder::finish() && {
  const auto len = static_cast<uint32_t>(buf_.size());
  std::memcpy(buf_.data(), &len, sizeof(len));
  return std::move(buf_);
}

// ---- walking ---------------------------------------------------------------

Result<std::optional<Attr>> AttrWalker::next() {
  if (off_ >= bytes_.size()) return std::optional<Attr>();
  const size_t left = bytes_.size() - off_;
  auto fail = [&](const std::string& what) { return make_error(std::string(where_) + ": " + what); };
  if (left < kAttrHeaderSize) {
    return fail(std::to_string(left) + " trailing bytes, too short for an attribute header (truncated)");
  }
  nlattr hdr;
  std::memcpy(&hdr, bytes_.data() + off_, sizeof(hdr));
  const auto type = static_cast<uint16_t>(hdr.nla_type & NLA_TYPE_MASK);
  if (hdr.nla_len < kAttrHeaderSize) {
    return fail("attribute " + std::to_string(type) + " has length " + std::to_string(hdr.nla_len) + ", less than its " +
                std::to_string(kAttrHeaderSize) + "-byte header");
  }
  if (hdr.nla_len > left) {
    return fail("attribute " + std::to_string(type) + " has length " + std::to_string(hdr.nla_len) + " but " +
                std::to_string(left) + " bytes remain (it overruns its container)");
  }
  Attr a{type, bytes_.subspan(off_ + kAttrHeaderSize, hdr.nla_len - kAttrHeaderSize), where_};
  // May step past the end: the last attribute's padding is optional.
  off_ += attr_align(hdr.nla_len);
  return std::optional<Attr>(a);
}

// ---- reading payloads --------------------------------------------------------

Status want_len(const Attr& a, size_t len, std::string_view name) {
  if (a.data.size() == len) return ok_status();
  return make_error(std::string(a.where) + ": " + std::string(name) + " has " + std::to_string(a.data.size()) +
                    " bytes, want " + std::to_string(len));
}

Result<std::string> read_ifname(const Attr& a, std::string_view name) {
  const auto* begin = reinterpret_cast<const char*>(a.data.data());
  const void* nul = a.data.empty() ? nullptr : std::memchr(begin, '\0', a.data.size());
  if (!nul) return make_error(std::string(a.where) + ": " + std::string(name) + " is not NUL-terminated");
  const size_t len = static_cast<const char*>(nul) - begin;
  if (len == 0 || len >= IFNAMSIZ) {
    return make_error(std::string(a.where) + ": " + std::string(name) + " has invalid interface name length " +
                      std::to_string(len));
  }
  return std::string(begin, len);
}

}  // namespace wgate::netlink
