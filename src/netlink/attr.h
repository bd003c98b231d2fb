// Netlink attributes: one bounds-checked builder and one validating walker,
// shared by rtnetlink (rtnl.cpp), generic netlink (wg_genl.cpp) and the
// socket's reply reading (socket.cpp).
//
// Wire format (netlink(7)): a message is an nlmsghdr (16 bytes), a fixed
// family header (ifinfomsg, rtmsg, genlmsghdr, ...) padded to 4 bytes, then
// attributes. An attribute is an nlattr {u16 nla_len, u16 nla_type}, where
// nla_len counts the 4-byte header and the payload without padding, followed
// by the payload padded with zeros to a multiple of 4. A nest's payload is
// itself a stream of attributes; nla_len being 16 bits, no attribute or nest
// exceeds 65535 bytes. The last attribute of a stream may lack its padding.
//
// Pure byte handling: no sockets, no allocation beyond the message itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "util/result.h"

namespace wgate::netlink {

inline constexpr size_t kAttrHeaderSize = 4;       // sizeof(nlattr)
inline constexpr size_t kMaxAttrSize = 0xffff;     // nla_len is 16 bits
inline constexpr size_t kMessageHeaderSize = 16;   // sizeof(nlmsghdr)

// n rounded up to the 4-byte alignment of headers and attributes.
constexpr size_t attr_align(size_t n) { return (n + 3) & ~size_t{3}; }

// ---- building --------------------------------------------------------------

// Builds one netlink message: the nlmsghdr (type, flags, seq; pid 0, which the
// kernel fills in), then family headers and attributes in the order put.
//
// Every put is checked before anything is written: the message must stay
// within `max_size` bytes, an attribute within kMaxAttrSize, and every open
// nest within kMaxAttrSize. A put that does not fit returns false (nest_start:
// nullopt) and leaves the message as it was, so a caller can stop, cancel a
// nest, or continue in a new message. Padding is always zero.
//
// Nests are closed innermost first; ending or cancelling a nest also ends or
// drops the nests opened inside it that are still open. Not thread-safe.
class MessageBuilder {
 public:
  // A nest started by nest_start, to pass to nest_end or nest_cancel.
  struct Nest {
    size_t offset;
  };

  // The nlmsghdr is always written; when `max_size` is smaller than it,
  // fits() is false and every put fails.
  MessageBuilder(uint16_t type, uint16_t flags, uint32_t seq, size_t max_size);

  // False when even the nlmsghdr exceeds max_size.
  bool fits() const { return buf_.size() <= max_; }
  // Bytes so far (the nlmsg_len finish() writes).
  size_t size() const { return buf_.size(); }

  // A fixed family header (ifinfomsg, rtmsg, genlmsghdr...), copied as is and
  // zero padded to 4 bytes. Put it before any attribute.
  template <class T>
  bool put_header(const T& header) {
    static_assert(std::is_trivially_copyable_v<T>);
    return put_header_bytes(&header, sizeof(T));
  }
  bool put_header_bytes(const void* data, size_t len);

  // An attribute with `len` payload bytes from `data`.
  bool put(uint16_t type, const void* data, size_t len);
  bool put(uint16_t type, std::span<const uint8_t> data) { return put(type, data.data(), data.size()); }
  bool put_u8(uint16_t type, uint8_t v) { return put(type, &v, sizeof(v)); }
  bool put_u16(uint16_t type, uint16_t v) { return put(type, &v, sizeof(v)); }
  bool put_u32(uint16_t type, uint32_t v) { return put(type, &v, sizeof(v)); }
  // `s` and a terminating NUL (NLA_NUL_STRING). `s` must hold no NUL itself.
  bool put_strz(uint16_t type, std::string_view s);

  // Opens a nest of `type`; the kernel's strict validation wants
  // NLA_F_NESTED, which is added. Its length is written by nest_end.
  std::optional<Nest> nest_start(uint16_t type);
  void nest_end(Nest nest);
  // Drops the nest and everything put after it.
  void nest_cancel(Nest nest);

  // The finished message, with nlmsg_len set.
  std::vector<uint8_t> finish() &&;

 private:
  // Whether `n` more bytes keep the message and every open nest in bounds.
  bool room_for(size_t n) const;
  // Appends an attribute header and `len` zeroed payload bytes (padded);
  // returns the payload, or nullptr (nothing written) when it does not fit.
  uint8_t* append_attr(uint16_t type, size_t len);

  std::vector<uint8_t> buf_;
  size_t max_;
  std::vector<size_t> open_nests_;  // offsets, outermost first
};

// ---- walking ---------------------------------------------------------------

// One attribute as found in a stream. `data` points into the walked bytes.
struct Attr {
  uint16_t type = 0;              // without NLA_F_NESTED / NLA_F_NET_BYTEORDER
  std::span<const uint8_t> data;  // the payload, without padding
  std::string_view where;         // the stream it came from, for errors
};

// Walks a stream of attributes (what follows a message's family header, or a
// nest's payload), validating each attribute before handing it out: its
// header must be whole, its nla_len at least the header and within the bytes
// left. Attributes start at 4-byte aligned offsets; only the last one may
// miss (some of) its padding. Unknown types are handed out like any other.
class AttrWalker {
 public:
  // `where` names the stream in errors ("RTM_NEWROUTE", "peer", ...); both
  // it and `bytes` must outlive the walker and the attributes it returns.
  AttrWalker(std::span<const uint8_t> bytes, std::string_view where) : bytes_(bytes), where_(where) {}

  // The next attribute, or nullopt at the end of the stream. An Error names
  // what is wrong with the next attribute (a truncated header, a length
  // below the header, a length beyond the bytes left); the walker then stays
  // at that attribute.
  Result<std::optional<Attr>> next();

 private:
  std::span<const uint8_t> bytes_;
  std::string_view where_;
  size_t off_ = 0;
};

// Calls fn(const Attr&) -> Status for each attribute of `bytes`; stops at the
// first malformed attribute or the first error fn returns, and returns it.
template <class Fn>
Status for_each_attr(std::span<const uint8_t> bytes, std::string_view where, Fn&& fn) {
  AttrWalker walker(bytes, where);
  for (;;) {
    auto next = walker.next();
    if (!next.ok()) return next.error();
    if (!next->has_value()) return ok_status();
    WGATE_TRY(fn(**next));
  }
}

// ---- reading payloads --------------------------------------------------------
// Each names the attribute (`name`, e.g. "RTA_TABLE") and its stream in errors:
// "RTM_NEWROUTE: RTA_TABLE has 2 bytes, want 4".

// The payload must be exactly `len` bytes.
Status want_len(const Attr& a, size_t len, std::string_view name);

// A fixed-size value (u8/u16/u32/u64, a struct) in host byte order, copied
// from possibly unaligned bytes; the payload must be exactly sizeof(T).
template <class T>
Result<T> read_fixed(const Attr& a, std::string_view name) {
  static_assert(std::is_trivially_copyable_v<T>);
  WGATE_TRY(want_len(a, sizeof(T), name));
  T v;
  std::memcpy(&v, a.data.data(), sizeof(T));
  return v;
}

// An interface name (NLA_NUL_STRING): the NUL must be inside the payload, and
// the name 1 .. IFNAMSIZ-1 characters long.
Result<std::string> read_ifname(const Attr& a, std::string_view name);

}  // namespace wgate::netlink
